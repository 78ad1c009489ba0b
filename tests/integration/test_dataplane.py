# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill data plane against the runbook: its literal commands run through the
podbin wrappers on real PostgreSQL 15 and Redis 7, and the HTTP stand-ins fail the
way each failure mode promises."""

from __future__ import annotations

import os
import stat
import subprocess
import urllib.error

import psycopg2
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import dataplane as dp

pytestmark = [pytest.mark.drill, pytest.mark.xdist_group("dataplane")]

SERVICES = ["langflow", "n8n", "langsmith", "gateway"]
CRITICAL_KEYS = {"config:engines": "hash", "config:rate_limits": "hash",
                 "config:feature_flags": "string", "workflows:active": "set",
                 "cache:warmed_at": "string"}


@pytest.fixture
def stand_ins(dataplane):  # noqa: F811
    """Every HTTP stand-in starts and ends the test in mode ok with an empty recording."""
    dp.reset()
    yield
    dp.reset()


def counts() -> tuple[int, int]:
    return dp.pg_query("SELECT (SELECT count(*) FROM workflows), (SELECT count(*) FROM executions)")[0]


# --- PostgreSQL -----------------------------------------------------------------------


def test_runbook_psql_commands_run_on_the_drill_server(dataplane):  # noqa: F811
    activity = dp.pod_exec('psql -U postgres -c "SELECT * FROM pg_stat_activity;"')
    assert activity.returncode == 0, activity.stderr
    assert "backend_type" in activity.stdout and "client backend" in activity.stdout

    count = dp.pod_exec('psql -U postgres -d orchestrator -c "SELECT COUNT(*) FROM workflows;"')
    assert count.returncode == 0, count.stderr
    assert count.stdout.split()[:3] == ["count", "-------", "24"]


def test_seeded_orchestrator_database(dataplane):  # noqa: F811
    assert counts() == (24, 360)
    by_engine = dict(dp.pg_query(
        "SELECT w.engine, count(*) FROM executions e JOIN workflows w ON w.id = e.workflow_id GROUP BY 1"))
    assert set(by_engine) == {"langflow", "n8n", "langsmith"}
    statuses = {s for (s,) in dp.pg_query("SELECT DISTINCT status FROM executions")}
    assert {"succeeded", "failed", "timeout", "running", "queued"} <= statuses
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        dp.pg_query("INSERT INTO executions (workflow_id, status, started_at) VALUES (9999, 'queued', now())")


def test_pg_stat_statements_lists_slow_queries(dataplane):  # noqa: F811
    # PostgreSQL 13 renamed mean_time to mean_exec_time: the runbook's query as written fails.
    literal = dp.pod_exec('psql -U postgres -d orchestrator -c "SELECT query, mean_time, calls '
                          'FROM pg_stat_statements ORDER BY mean_time DESC LIMIT 10;"')
    assert literal.returncode != 0
    assert 'column "mean_time" does not exist' in literal.stderr

    dp.pg_query("SELECT count(*) FROM executions WHERE status = 'failed'")
    fixed = dp.pod_exec('psql -U postgres -d orchestrator -At -0 -F "|" -c "SELECT query, mean_exec_time, calls '
                        'FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10;"')
    assert fixed.returncode == 0, fixed.stderr
    rows = [record.rsplit("|", 2) for record in fixed.stdout.split("\0") if record]
    assert len(rows) == 10
    assert all(float(mean) >= 0 and int(calls) >= 1 for _query, mean, calls in rows)


def test_runbook_pg_restore_recovers_an_emptied_database(dataplane):  # noqa: F811
    dp.pg_query("DROP DATABASE orchestrator WITH (FORCE)", dbname="postgres", autocommit=True)
    dp.pg_query("CREATE DATABASE orchestrator", dbname="postgres", autocommit=True)
    try:
        restore = dp.pod_exec("pg_restore -U postgres -d orchestrator /backups/latest.dump")
        assert restore.returncode == 0, restore.stderr
        assert counts() == (24, 360)
    finally:
        if restore_needed():
            clean_restore()


def restore_needed() -> bool:
    try:
        return counts() != (24, 360)
    except psycopg2.Error:
        return True


def clean_restore() -> subprocess.CompletedProcess:
    return dp.pod_exec("pg_restore -U postgres -d orchestrator --clean --if-exists /backups/latest.dump")


def test_pg_restore_brings_back_a_deleted_row(dataplane):  # noqa: F811
    name = dp.pg_query("SELECT name FROM workflows WHERE id = 5")[0][0]
    dp.pg_query("DELETE FROM workflows WHERE id = 5")  # cascades to its executions
    try:
        assert dp.pg_query("SELECT name FROM workflows WHERE id = 5") == []

        # Into a live database the runbook's command only reports conflicts: the
        # tables exist, so COPY of the whole table fails and the row stays lost.
        literal = dp.pod_exec("pg_restore -U postgres -d orchestrator /backups/latest.dump")
        assert literal.returncode == 1
        assert "already exists" in literal.stderr
        assert dp.pg_query("SELECT name FROM workflows WHERE id = 5") == []

        restore = clean_restore()
        assert restore.returncode == 0, restore.stderr
        assert dp.pg_query("SELECT name FROM workflows WHERE id = 5") == [(name,)]
        assert counts() == (24, 360)
    finally:
        if restore_needed():
            clean_restore()


def test_postgres_refuses_wrong_password_and_listens_on_loopback_only(dataplane):  # noqa: F811
    with pytest.raises(psycopg2.OperationalError, match='password authentication failed for user "postgres"'):
        dp.pg_connect(password="not-the-password")
    settings = dict(dp.pg_query(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('listen_addresses', 'port', 'shared_preload_libraries', 'password_encryption')"))
    assert settings == {"listen_addresses": "127.0.0.1", "port": dp.drill_env()["DRILL_PG_PORT"],
                        "shared_preload_libraries": "pg_stat_statements",
                        "password_encryption": "scram-sha-256"}
    methods = {m for (m,) in dp.pg_query("SELECT auth_method FROM pg_hba_file_rules")}
    assert methods == {"scram-sha-256"}


def test_postgres_runs_unprivileged_and_secrets_are_private(dataplane):  # noqa: F811
    pid = (dp.run_dir() / "postgres" / "data" / "postmaster.pid").read_text().split()[0]
    uid = next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Uid:"))
    assert uid != "0"
    for name in ("postgres_password", "redis_password"):
        mode = os.stat(dp.run_dir() / "secrets" / name).st_mode
        assert stat.S_IMODE(mode) == 0o600


# --- Redis ----------------------------------------------------------------------------


def test_runbook_redis_cli_info(dataplane):  # noqa: F811
    info = dp.pod_exec("redis-cli info")
    assert info.returncode == 0, info.stderr
    assert "redis_version:7." in info.stdout
    assert f"tcp_port:{dp.drill_env()['DRILL_REDIS_PORT']}" in info.stdout


def test_redis_requires_the_password(dataplane):  # noqa: F811
    port = int(dp.drill_env()["DRILL_REDIS_PORT"])
    no_retry = Retry(NoBackoff(), 0)  # redis-py retries auth errors with backoff by default
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="not-the-password", retry=no_retry).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, retry=no_retry).get("config:engines")


def test_flushall_then_gateway_warmup_restores_critical_keys(dataplane, stand_ins):  # noqa: F811
    r = dp.redis_client()
    flush = dp.pod_exec("redis-cli FLUSHALL")
    assert flush.returncode == 0 and flush.stdout.strip() == "OK"
    assert r.dbsize() == 0

    warmup = dp.http("POST", dp.url("gateway", "/admin/cache/warmup"))
    assert warmup.status == 200, warmup.body
    assert sorted(warmup.body["keys_written"]) == sorted(CRITICAL_KEYS)
    assert {k: r.type(k) for k in CRITICAL_KEYS} == CRITICAL_KEYS
    assert '"url": "http://langflow-service:7860"' in r.hget("config:engines", "langflow")
    active = {int(i) for i in r.smembers("workflows:active")}
    assert active == {i for (i,) in dp.pg_query("SELECT id FROM workflows WHERE active")}


# --- HTTP stand-ins ---------------------------------------------------------------------


@pytest.mark.parametrize("service, body", [
    ("langflow", {"status": "ok"}), ("n8n", {"status": "ok"}), ("langsmith", {"ok": True})])
def test_engine_health_in_mode_ok(stand_ins, service, body):
    resp = dp.http("GET", dp.url(service))
    assert (resp.status, resp.body) == (200, body)


def test_engine_info_endpoints(stand_ins):
    assert dp.http("GET", dp.url("langflow", "/api/v1/version")).body["package"] == "Langflow"
    assert dp.http("GET", dp.url("n8n", "/healthz/readiness")).body == {"status": "ok"}
    info = dp.http("GET", dp.url("langsmith", "/info")).body
    assert {"version", "license_expiration_time", "batch_ingest_config"} <= set(info)


def test_gateway_health_lists_dependency_checks(stand_ins):
    resp = dp.http("GET", dp.url("gateway"))
    assert resp.status == 200
    assert resp.body["status"] == "healthy"
    assert {name: c["status"] for name, c in resp.body["checks"].items()} == {
        "postgres": "up", "redis": "up", "langflow": "up", "n8n": "up", "langsmith": "up"}


def test_gateway_health_degrades_when_an_engine_fails(stand_ins):
    dp.set_mode("n8n", "down")
    dp.set_mode("langflow", "error")
    resp = dp.http("GET", dp.url("gateway"))
    assert resp.status == 200 and resp.body["status"] == "degraded"
    assert resp.body["checks"]["n8n"]["status"] == "down"
    assert "refused" in resp.body["checks"]["n8n"]["error"]
    assert resp.body["checks"]["langflow"]["error"] == "HTTP 503"
    assert resp.body["checks"]["postgres"]["status"] == "up"


@pytest.mark.parametrize("service", SERVICES)
def test_mode_down_refuses_connections_and_ok_recovers(stand_ins, service):
    assert dp.set_mode(service, "down")["listening"] is False
    with pytest.raises(urllib.error.URLError) as excinfo:
        dp.http("GET", dp.url(service))
    assert isinstance(excinfo.value.reason, ConnectionRefusedError)
    dp.set_mode(service, "ok")
    assert dp.http("GET", dp.url(service)).status == 200


@pytest.mark.parametrize("service", SERVICES)
def test_mode_slow_delays_responses(stand_ins, service):
    dp.set_mode(service, "slow", delay=1.0)
    resp = dp.http("GET", dp.url(service))
    assert resp.status == 200 and resp.elapsed >= 1.0
    dp.set_mode(service, "ok")
    assert dp.http("GET", dp.url(service)).elapsed < 1.0


@pytest.mark.parametrize("service", SERVICES)
def test_mode_error_returns_5xx_with_json(stand_ins, service):
    dp.set_mode(service, "error")
    resp = dp.http("GET", dp.url(service))
    assert resp.status == 503 and "error" in resp.body
    dp.set_mode(service, "error", status=500)
    assert dp.http("GET", dp.url(service)).status == 500
    dp.set_mode(service, "ok")
    assert dp.http("GET", dp.url(service)).status == 200


@pytest.mark.parametrize("service", SERVICES)
def test_mode_flaky_fails_the_given_fraction(stand_ins, service):
    dp.set_mode(service, "flaky", fraction=0.25)
    statuses = [dp.http("GET", dp.url(service)).status for _i in range(20)]
    assert statuses.count(500) == 5 and statuses.count(200) == 15


def test_control_api_rejects_bad_input(stand_ins):
    bad = dp.http("PUT", dp.url("control", "/modes/langflow"), {"mode": "sideways"})
    assert bad.status == 400 and "mode must be one of" in bad.body["error"]
    assert dp.http("PUT", dp.url("control", "/modes/langflow"), {"mode": "flaky", "fraction": 2}).status == 400
    assert dp.http("PUT", dp.url("control", "/modes/jenkins"), {"mode": "ok"}).status == 404
    assert {s: m["mode"] for s, m in dp.modes().items()} == dict.fromkeys(SERVICES, "ok")


def test_requests_are_recorded(stand_ins):
    payload = {"text": "incident-2025-01-01-000000 opened", "severity": "P1"}
    dp.http("POST", dp.url("langflow", "/api/v1/run/support-triage"), payload)
    dp.http("GET", dp.url("gateway"))  # probes every engine's health endpoint
    (run,) = [r for r in dp.requests_for("langflow") if r["method"] == "POST"]
    assert run["path"] == "/api/v1/run/support-triage"
    assert run["json"] == payload and run["status"] == 404
    assert run["headers"]["Content-Type"] == "application/json"
    assert [r["path"] for r in dp.requests_for("n8n")] == ["/healthz"]
    dp.reset()
    assert dp.requests_for("langflow") == []
