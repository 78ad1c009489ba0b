# SPDX-License-Identifier: GPL-3.0-or-later
"""Drills of playbooks/db_recovery.yml against the drill's real PostgreSQL.

Each drill works in a scratch database of its own (`-e database=t_...`), never in
`orchestrator`; backups go through the drill pod's `/backups` (pg_dump and pg_restore run
in postgres-0 through the API server, as the runbook's `kubectl exec` does). What the
operator sees is checked: the run's result and message, the database's data, the incident
record and its timeline.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2
import pytest

import drill
import pg
from playbook import incidents, module, playbook, recap

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]


def run(tmp_path: Path, *args: str, check: bool = False):
    extra = ["--check"] if check else []
    return playbook("db_recovery.yml", "-e", "incident_dir=%s" % tmp_path, *extra, *args, timeout=300)


def backup_of(database: str) -> dict:
    """A backup taken the way the role takes them (in the pod, with a manifest)."""
    result = module("postgresql_backup", database=database, **pg.drill_params(login_db=database),
                    tools_via="exec", pod="postgres-0", pod_namespace="ai-orchestrator", backup_dir="/backups",
                    kubeconfig=drill.kubeconfig())
    assert not result["failed"], result
    return result["backup"]


def test_a_healthy_database_opens_nothing_and_changes_nothing(tmp_path):
    with pg.seeded_db("dbok", rows=50) as database:
        for _ in range(2):
            result = run(tmp_path, "-e", "database=%s" % database)
            assert result.returncode == 0, result.stdout[-3000:]
            assert recap(result)["changed"] == 0
        assert incidents(tmp_path) == []


def test_a_dropped_table_is_restored_from_backup_with_counts_verified_and_the_old_database_kept(tmp_path):
    # (A truncated table: test_postgres_backup_restore.py, through the module.)
    with pg.seeded_db("dbrestore", rows=300, workflows=40) as database:
        before = pg.row_counts(database)
        backup = backup_of(database)
        pg.query("DROP TABLE executions", dbname=database)
        assert "public.executions" not in pg.row_counts(database)

        # Without a confirmation: the plan (backup time, writes after it), nothing changed, no incident.
        plan = run(tmp_path, "-e", "database=%s" % database, "-e", "backup=%s" % backup["id"])
        assert plan.returncode == 0, plan.stdout[-3000:]
        assert "confirm=%s" % backup["id"] in plan.stdout
        assert backup["id"] in plan.stdout and "will not be in the restored data" in plan.stdout
        assert "public.executions" not in pg.row_counts(database) and incidents(tmp_path) == []

        # A confirmation naming another backup changes nothing either.
        wrong = run(tmp_path, "-e", "database=%s" % database, "-e", "backup=%s" % backup["id"], "-e", "confirm=other-backup")
        assert wrong.returncode != 0 and "does not name this backup" in wrong.stdout
        assert "public.executions" not in pg.row_counts(database)

        restored = run(tmp_path, "-e", "database=%s" % database, "-e", "backup=%s" % backup["id"], "-e", "confirm=%s" % backup["id"])
        assert restored.returncode == 0, restored.stdout[-5000:]
        assert pg.row_counts(database) == before
        kept = [name for (name,) in pg.query("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                             (database + "_pre_restore_%",))]
        assert len(kept) == 1, "the previous database is renamed and kept"
        # Kept with connections disallowed (nothing writes to it by mistake); a DBA allows them to copy rows.
        pg.query('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % kept[0])
        assert "public.executions" not in pg.row_counts(kept[0]), "the kept database is the one that was replaced"

        (record,) = incidents(tmp_path)
        assert record["severity"] == "P0", "a restore is data loss or corruption: P0 by the runbook"
        assert record["status"] == "resolved"
        types = [e["type"] for e in record["_events"]]
        for expected in ("incident_opened", "root_cause_identified", "fix_implemented", "service_restored", "incident_resolved"):
            assert expected in types, types
        assert (record["_dir"] / "artifacts" / "database" / "restore.json").exists() or any(
            record["_dir"].rglob("restore.json"))

        # The same command again changes nothing: the database already holds that backup.
        again = run(tmp_path, "-e", "database=%s" % database, "-e", "backup=%s" % backup["id"], "-e", "confirm=%s" % backup["id"])
        assert again.returncode == 0, again.stdout[-3000:]
        assert recap(again)["changed"] == 0
        assert len([n for (n,) in pg.query("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (database + "_pre_restore_%",))]) == 1
        for name in kept:
            pg.drop_database(name)


def test_check_mode_with_a_confirmed_backup_shows_the_plan_and_changes_nothing(tmp_path):
    with pg.seeded_db("dbcheck", rows=100) as database:
        backup = backup_of(database)
        pg.query("DELETE FROM executions WHERE id % 2 = 0", dbname=database)
        before = pg.row_counts(database)
        result = run(tmp_path, "-e", "database=%s" % database, "-e", "backup=%s" % backup["id"],
                     "-e", "confirm=%s" % backup["id"], check=True)
        assert result.returncode == 0, result.stdout[-3000:]
        assert "Check mode: nothing was changed" in result.stdout and backup["id"] in result.stdout
        assert pg.row_counts(database) == before
        assert pg.query("SELECT count(*) FROM pg_database WHERE datname LIKE %s", (database + "%",))[0][0] == 1
        assert incidents(tmp_path) == []


def test_postgresql_down_fails_early_with_a_clear_message_and_escalates(tmp_path):
    started = time.monotonic()
    result = run(tmp_path, "-e", '{"postgres_connection": {"login_host": "127.0.0.1", "login_port": %d, '
                 '"login_user": "postgres", "connect_timeout": 2}}' % pg.free_port())
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    assert "PostgreSQL does not answer" in result.stdout and "escalated to the database owners" in result.stdout
    (record,) = incidents(tmp_path)
    assert record["severity"] == "P1" and record["status"] == "escalated"
    assert any(e["type"] == "escalated" or e["type"] == "escalation" for e in record["_events"]), [e["type"] for e in record["_events"]]


def test_wrong_credentials_fail_early_escalate_and_never_show_the_password(tmp_path):
    planted = "Wr0ng-pa55-%d" % time.time_ns()
    result = run(tmp_path, "-e", '{"postgres_connection": {"login_host": "127.0.0.1", "login_port": %d, '
                 '"login_user": "postgres", "login_password": "%s"}}' % (pg.drill_port(), planted))
    assert result.returncode != 0
    assert "refused the automation's credentials" in result.stdout
    assert planted not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert planted not in path.read_text(errors="replace"), path
    (record,) = incidents(tmp_path)
    assert record["status"] == "escalated"


def test_an_unknown_database_is_bad_input_no_incident_nothing_changed(tmp_path):
    result = run(tmp_path, "-e", "database=t_no_such_database")
    assert result.returncode != 0 and "does not exist" in result.stdout
    assert incidents(tmp_path) == []


def _app_connection(database: str, role: str, password: str, application_name: str):
    """A session of an application role (not a superuser), idle in a transaction."""
    conn = psycopg2.connect(host="127.0.0.1", port=pg.drill_port(), user=role, password=password, dbname=database,
                            application_name=application_name, connect_timeout=5)
    conn.cursor().execute("SELECT 1")
    return conn


def test_connection_exhaustion_is_detected_and_relieved_within_the_guardrails(tmp_path):
    role, password = "t_leaky_%x" % time.time_ns(), "pw-%x" % time.time_ns()
    pg.query("CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, password))
    with pg.scratch_db("dbrelief") as database, pg.scratch_db("dbother") as other:
        holders, bystander = [], None
        try:
            max_connections = int(pg.query("SHOW max_connections")[0][0])
            in_use = pg.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0][0]
            # An application leaking sessions idle in a transaction until connections are at 60 % or more.
            for _ in range(max(6, int(max_connections * 0.6) - in_use)):
                holders.append(_app_connection(database, role, password, "leaky-app"))
            # Another database's session idle in a transaction: not this incident's to end.
            bystander = _app_connection(other, role, password, "billing-app")
            time.sleep(10.5)  # the relief module ends nothing idle for less than 10 s
            result = run(tmp_path, "-e", "database=%s" % database, "-e", "db_recovery_relief_usage_percent=50",
                         "-e", "db_recovery_relief_idle_seconds=10", "-e", "db_recovery_relief_max_terminate=200")
            assert result.returncode == 0, result.stdout[-5000:]
            alive = [c for c in holders if _alive(c)]
            assert alive == [], "every leaky idle-in-transaction session was ended:\n" + result.stdout[-5000:]
            assert _alive(bystander), "another database's session is never ended"
            (record,) = incidents(tmp_path)
            assert record["severity"] == "P1", "exhausted connections: the database is unavailable (P1)"
            assert record["status"] == "resolved", [e["message"] for e in record["_events"] if e["type"] != "task"]
            assert any(e["type"] == "fix_implemented" and "idle in a transaction" in e["message"] for e in record["_events"])
        finally:
            for conn in holders + ([bystander] if bystander else []):
                conn.close()
    pg.query("DROP ROLE IF EXISTS %s" % role)


def _alive(conn) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except psycopg2.Error:
        return False


def test_a_slow_statement_is_found_and_reported_with_its_statistics(tmp_path):
    with pg.scratch_db("dbslow") as database:
        marker = "slow_drill_%d" % time.time_ns()
        pg.query("CREATE EXTENSION pg_stat_statements", dbname=database)
        # pg_stat_statements replaces constants with $n but keeps comments: the marker is a comment.
        pg.query("/* %s */ SELECT pg_sleep(1.3)" % marker, dbname=database)
        result = run(tmp_path, "-e", "database=%s" % database, "-e", "db_recovery_slow_statement_ms=1000")
        assert result.returncode == 0, result.stdout[-4000:]
        (line,) = [line for line in result.stdout.splitlines() if marker in line]
        assert "slow statement:" in line and "ms mean" in line and "1 calls" in line
        # pg_stat_statements adds up since its last reset: reported, not an incident on its own.
        assert incidents(tmp_path) == []
