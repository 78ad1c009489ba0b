# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill data plane against the runbook: its literal commands run through the
podbin wrappers on real PostgreSQL 15 and Redis 7, and the HTTP stand-ins fail the
way each failure mode promises."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import time
import urllib.error
import urllib.request

import psycopg2
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import dataplane as dp
import drill

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
    assert run["json"] == payload and run["status"] == 403  # Langflow's API wants its key
    assert run["headers"]["Content-Type"] == "application/json"
    assert [r["path"] for r in dp.requests_for("n8n")] == ["/healthz"]
    dp.reset()
    assert dp.requests_for("langflow") == []


# --- Engine APIs: keys, workflows, executions, traces -----------------------------------------

ENGINE_API = {"langflow": "/api/v1/flows/", "n8n": "/api/v1/workflows?limit=1", "langsmith": "/api/v1/sessions?limit=1"}
REJECTED = {"langflow": 403, "n8n": 401, "langsmith": 401}


def failures(engine: str) -> float:
    """workflow_executions_total{engine, status="failure"} as the gateway exposes it now."""
    with urllib.request.urlopen(dp.url("gateway", "/metrics"), timeout=5) as resp:
        text = resp.read().decode()
    match = re.search(r'^workflow_executions_total\{engine="%s",status="failure"\} (\S+)$' % engine, text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("service", ["langflow", "n8n", "langsmith"])
def test_engine_api_wants_the_key_in_the_products_header(stand_ins, service):
    path = ENGINE_API[service]
    assert dp.engine_api(service, "GET", path).status == 200
    assert dp.engine_api(service, "GET", path, key=None).status == REJECTED[service]
    assert dp.engine_api(service, "GET", path, key="not-the-key").status == REJECTED[service]
    assert dp.http("GET", dp.url(service)).status == 200  # health stays open, as in the products
    assert stat.S_IMODE(os.stat(dp.run_dir() / "secrets" / f"{service}_api_key").st_mode) == 0o600


def test_rotated_key_rejects_the_platforms_clients_until_restored(stand_ins):
    rotated = "rotated-" + secrets.token_hex(8)
    dp.set_api_key("langflow", rotated)
    assert dp.engine_api("langflow", "GET", "/api/v1/flows/", key=rotated).status == 200
    assert dp.engine_api("langflow", "GET", "/api/v1/flows/").status == 403
    assert dp.http("GET", dp.url("control", "/keys")).body["langflow"]["rotated"] is True
    # The gateway keeps the configured key: its executions on Langflow now fail.
    before = failures("langflow")
    run = dp.run_workflow(1)
    assert (run["engine"], run["status"]) == ("langflow", "failure")
    assert run["error"] == "HTTP 403: Invalid or missing API key"
    assert failures("langflow") >= before + 1
    assert dp.set_api_key("langflow", None)["rotated"] is False
    assert dp.engine_api("langflow", "GET", "/api/v1/flows/").status == 200
    assert dp.run_workflow(1)["status"] == "success"


def test_n8n_workflows_shaped_like_the_public_api(stand_ins):
    first = dp.engine_api("n8n", "GET", "/api/v1/workflows?limit=5").body
    assert len(first["data"]) == 5 and first["nextCursor"]
    rest = dp.engine_api("n8n", "GET", f"/api/v1/workflows?limit=5&cursor={first['nextCursor']}").body
    assert len(rest["data"]) == 3 and rest["nextCursor"] is None
    by_name = {w["name"]: w for w in first["data"] + rest["data"]}
    triage = by_name["n8n-support-triage"]
    assert {"id", "name", "active", "nodes", "connections", "settings", "versionId", "tags", "updatedAt"} <= set(triage)
    assert [t["name"] for t in triage["tags"]] == ["owner:team-support"]
    assert by_name["n8n-slack-digest"]["tags"] == [] and by_name["n8n-legacy-import"]["active"] is False
    assert triage["nodes"][0]["type"] == "n8n-nodes-base.webhook"
    one = dp.engine_api("n8n", "GET", f"/api/v1/workflows/{triage['id']}").body
    assert one == triage
    tagged = dp.engine_api("n8n", "GET", "/api/v1/workflows?tags=owner:team-data").body["data"]
    assert {w["name"] for w in tagged} == {"n8n-nightly-report", "n8n-legacy-import"}
    assert dp.engine_api("n8n", "GET", "/api/v1/workflows/nope").status == 404
    history = dp.workflow("n8n", triage["id"])["history"]
    assert history[-1]["version"] == triage["versionId"] and len(history) == 2
    types = dp.http("GET", dp.url("n8n", "/types/nodes.json")).body  # open, as the editor loads it
    assert {"n8n-nodes-base.webhook", "@n8n/n8n-nodes-langchain.openAi"} <= {t["name"] for t in types}


def test_langflow_flows_shaped_like_the_api(stand_ins):
    flows = dp.engine_api("langflow", "GET", "/api/v1/flows/").body
    assert len(flows) == 8
    flow = next(f for f in flows if f["name"] == "langflow-invoice-extract")
    assert flow["tags"] == ["owner:team-payments"]
    assert {"nodes", "edges"} <= set(flow["data"]) and flow["data"]["nodes"][0]["data"]["type"] == "ChatInput"
    assert dp.engine_api("langflow", "GET", f"/api/v1/flows/{flow['id']}").body == flow
    page = dp.engine_api("langflow", "GET", "/api/v1/flows/?get_all=false&page=2&size=3").body
    assert (page["total"], page["pages"], len(page["items"])) == (8, 3, 3)
    components = dp.engine_api("langflow", "GET", "/api/v1/all").body
    assert "ChatInput" in components["inputs"] and "OpenAIModel" in components["models"]


def test_a_broken_n8n_workflow_fails_on_its_node_until_repaired(stand_ins):
    broken = dp.break_workflow("n8n", "n8n-support-triage")
    assert broken["broken"] == {"how": "node_type", "node": "OpenAI"}
    before = failures("n8n")
    run = dp.run_workflow(broken["orchestrator_id"])
    assert (run["status"], run["error"]) == ("failure", "HTTP 500: Error in workflow")
    assert failures("n8n") >= before + 1
    listed = dp.engine_api("n8n", "GET", f"/api/v1/executions?status=error&workflowId={broken['id']}&limit=1").body
    (execution,) = listed["data"]
    assert execution["status"] == "error" and "data" not in execution
    full = dp.engine_api("n8n", "GET", f"/api/v1/executions/{execution['id']}?includeData=true").body
    error = full["data"]["resultData"]["error"]
    assert error["node"]["name"] == "OpenAI" and error["node"]["type"] == "n8n-nodes-community.openAi"
    assert error["message"] == "Unrecognized node type: n8n-nodes-community.openAi"
    # The engine traced it in LangSmith.
    traces = dp.engine_api("langsmith", "POST", "/api/v1/runs/query",
                           {"error": True, "filter": 'eq(name, "n8n-support-triage")', "limit": 5}).body["runs"]
    assert traces and traces[0]["extra"]["metadata"]["failed_node"] == "OpenAI"
    history = dp.workflow("n8n", broken["id"])["history"]
    assert history[-1]["note"] == "edited OpenAI"

    repaired = dp.repair_workflow("n8n", broken["id"])
    assert repaired["repaired"] is True and repaired["broken"] is None
    assert dp.run_workflow(broken["orchestrator_id"])["status"] == "success"
    assert dp.repair_workflow("n8n", broken["id"])["repaired"] is False
    current = dp.engine_api("n8n", "GET", f"/api/v1/workflows/{broken['id']}").body
    assert current["nodes"] == dp.workflow("n8n", broken["id"])["workflow"]["nodes"]
    assert all(n["type"] != "n8n-nodes-community.openAi" for n in current["nodes"])


@pytest.mark.parametrize("how", ["remove_node", "credentials", "parameter"])
def test_each_break_fails_a_langflow_flow_on_a_component(stand_ins, how):
    broken = dp.break_workflow("langflow", "langflow-doc-summarizer", how=how)
    resp = dp.engine_api("langflow", "POST", f"/api/v1/run/{broken['id']}", {"input_value": "hi"})
    assert resp.status == 500
    transactions = dp.engine_api("langflow", "GET",
                                 f"/api/v1/monitor/transactions?flow_id={broken['id']}&size=5").body["items"]
    assert transactions[0]["status"] == "error" and transactions[0]["error"] == resp.body["detail"]
    builds = dp.engine_api("langflow", "GET", f"/api/v1/monitor/builds?flow_id={broken['id']}").body
    assert any(not b["valid"] for runs in builds["vertex_builds"].values() for b in runs)
    expected = {"credentials": "api_key is required", "parameter": "has been deprecated",
                "remove_node": "which does not exist"}[how]
    assert expected in resp.body["detail"]
    dp.repair_workflow("langflow", broken["id"])
    assert dp.engine_api("langflow", "POST", f"/api/v1/run/{broken['id']}", {"input_value": "hi"}).status == 200


def test_reset_restores_keys_and_workflows(dataplane):  # noqa: F811
    shipped = dp.workflow("n8n", "n8n-rag-answer")["workflow"]
    dp.break_workflow("n8n", "n8n-rag-answer", how="remove_node")
    dp.set_api_key("n8n", "rotated")
    assert dp.engine_api("n8n", "POST", f"/api/v1/workflows/{shipped['id']}/deactivate").status == 401
    dp.reset()
    assert dp.http("GET", dp.url("control", "/keys")).body["n8n"]["rotated"] is False
    assert dp.engine_api("n8n", "GET", f"/api/v1/workflows/{shipped['id']}").body == shipped


def test_control_api_rejects_bad_workflow_and_key_calls(stand_ins):
    assert dp.http("POST", dp.url("control", "/workflows/n8n/nope/break"), {}).status == 404
    assert dp.http("POST", dp.url("control", "/workflows/langsmith/x/break"), {}).status == 404
    bad = dp.http("POST", dp.url("control", "/workflows/n8n/n8n-rag-answer/break"), {"how": "sideways"})
    assert bad.status == 400 and "how must be one of" in bad.body["error"]
    assert dp.http("PUT", dp.url("control", "/keys/gateway"), {"api_key": "x"}).status == 404
    assert dp.http("PUT", dp.url("control", "/keys/n8n"), {"api_key": ""}).status == 400
    assert dp.workflow("n8n", "n8n-rag-answer")["broken"] is None


# --- The pod link (drill/load/load_controller.py) ---------------------------------------------


def test_fixture_engines_are_linked_to_their_stand_ins(drill_env):
    for name in ("langflow", "n8n"):
        annotations = drill.apps().read_namespaced_deployment(name, drill.NAMESPACE).metadata.annotations or {}
        assert annotations.get("drill.incident-response.io/standin") == name


def test_an_engine_without_ready_pods_is_down_for_http_clients(drill_env, stand_ins):
    """A Deployment of its own (namespace link-<hex>) annotated for langsmith: scaled to 0 the
    stand-in goes down, scaled back it is ok again; a mode set by hand is left alone."""
    namespace = "link-" + secrets.token_hex(4)
    labels = {"app.kubernetes.io/name": "langsmith"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "langsmith", "labels": labels,
                               "annotations": {"drill.incident-response.io/standin": "langsmith"}},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                               {"name": "langsmith", "image": "registry.drill.local/langsmith:0.8.12"}]}}}}
    drill.kubectl("create", "namespace", namespace, namespace=None)
    try:
        drill.kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps(deployment))
        drill.wait_for(lambda: drill.workload_ready("langsmith", 1, namespace=namespace), 60,
                       message=f"{namespace}/langsmith ready")
        assert dp.modes()["langsmith"]["mode"] == "ok"
        start = time.monotonic()
        drill.kubectl("scale", "deployment/langsmith", "--replicas=0", namespace=namespace)
        drill.wait_for(lambda: dp.modes()["langsmith"]["mode"] == "down", 20, interval=0.25,
                       message="the pod link to put langsmith down")
        print(f"no ready pod -> stand-in down in {time.monotonic() - start:.1f}s")
        assert dp.modes()["langsmith"]["by"] == "pod-link"
        with pytest.raises(urllib.error.URLError):
            dp.http("GET", dp.url("langsmith"))
        drill.kubectl("scale", "deployment/langsmith", "--replicas=1", namespace=namespace)
        drill.wait_for(lambda: dp.modes()["langsmith"]["mode"] == "ok", 30, interval=0.25,
                       message="the pod link to bring langsmith back")
        assert dp.http("GET", dp.url("langsmith")).status == 200
        # A mode set by someone else is not the link's to undo.
        dp.set_mode("langsmith", "down")
        time.sleep(2.5)  # one poll of the load controller (--interval 2)
        assert dp.modes()["langsmith"]["mode"] == "down"
    finally:
        # Unlinked first: pods going before their Deployment must not take langsmith down again.
        drill.kubectl("annotate", "deployment/langsmith", "drill.incident-response.io/standin-",
                      namespace=namespace, check=False)
        drill.kubectl("delete", "namespace", namespace, "--wait=false", namespace=None, check=False)
