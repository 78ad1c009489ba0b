# SPDX-License-Identifier: GPL-3.0-or-later
"""postgresql_health_info through `ansible localhost -m`, against real sessions.

On the drill PostgreSQL, in scratch databases: a session holding a row lock idle in its
transaction and another waiting for it, a session idle in a transaction whose last statement
carries a password, a slow statement recorded by pg_stat_statements, a database without the
extension and a role without privileges. On private servers (tests/integration/pg.py):
pg_stat_statements not preloaded, a primary with a streaming standby, a paused replay and an
inactive replication slot.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

import psycopg2
import pytest

import drill
import pg
from playbook import module

pytestmark = [pytest.mark.drill]

SECRET = "s3cr3t-" + secrets.token_hex(4)


def health(params, **options) -> dict:
    return module("postgresql_health_info", **params, **options)


def connect(dbname, application, server=None, **kwargs):
    conn = pg.admin(dbname, server) if server else psycopg2.connect(
        host="127.0.0.1", port=pg.drill_port(), user=kwargs.pop("user", "postgres"),
        password=kwargs.pop("password", None) or pg.drill_password(), dbname=dbname, connect_timeout=5,
        application_name=application)
    conn.autocommit = True
    return conn


class Scene:
    """Sessions in a scratch database of the drill PostgreSQL, and the module's report of them."""

    def __init__(self, db):
        self.db = db
        self.conns = []
        self.waiter_thread = None

    def open(self, application):
        conn = connect(self.db, application)
        self.conns.append(conn)
        return conn

    def close(self):
        # Rolling back the blocker lets the waiter finish before its connection closes.
        for conn in self.conns:
            if not conn.closed and not conn.autocommit:
                conn.rollback()
        if self.waiter_thread:
            self.waiter_thread.join(10)
        for conn in self.conns:
            conn.close()


@pytest.fixture(scope="module")
def scene(drill_env):
    with pg.scratch_db("health") as db:
        setup = connect(db, "pytest-setup")
        with setup.cursor() as cur:
            cur.execute("CREATE EXTENSION pg_stat_statements")
            cur.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
            cur.execute("INSERT INTO items SELECT n, 'v' || n FROM generate_series(1, 3) n")
            # A slow statement, alone under this database's id in pg_stat_statements.
            cur.execute("/* t_health_slow */ SELECT pg_sleep(1.2)")
        setup.close()
        s = Scene(db)
        try:
            blocker = s.open("t-blocker")
            blocker.autocommit = False
            blocker.cursor().execute("UPDATE items SET v = 'held' WHERE id = 1")
            idle = s.open("t-idle")
            idle.autocommit = False
            idle.cursor().execute("SELECT 1 AS one /* connect with password=%s */, '%s'" % (SECRET, "x" * 200))
            waiter = s.open("t-waiter")
            s.blocker_pid, s.idle_pid, s.waiter_pid = (c.get_backend_pid() for c in (blocker, idle, waiter))
            # Blocks on the row lock until the blocker rolls back (at teardown).
            s.waiter_thread = threading.Thread(
                target=lambda: waiter.cursor().execute("UPDATE items SET v = 'waited' WHERE id = 1"), daemon=True)
            s.waiter_thread.start()
            time.sleep(1.5)
            s.result = health(pg.drill_params(login_db=db), idle_in_transaction_seconds=1, long_transaction_seconds=1,
                              query_max_chars=80, top=100)
            yield s
        finally:
            s.close()


def by_pid(rows, pid):
    found = [r for r in rows if r["pid"] == pid]
    assert found, "pid %s not in %s" % (pid, json.dumps(rows)[:2000])
    return found[0]


def test_blocked_session_names_its_blocker(scene):
    r = scene.result
    assert not r["failed"] and r["changed"] is False, r
    waiting = by_pid(r["waiting"], scene.waiter_pid)
    assert waiting["blocked_by"] == [scene.blocker_pid]
    assert waiting["wait_event_type"] == "Lock" and waiting["application"] == "t-waiter"
    assert waiting["query"] == "UPDATE items SET v = 'waited' WHERE id = 1"
    (blocker,) = waiting["blockers"]
    assert (blocker["pid"], blocker["application"], blocker["state"], blocker["waiting"]) == (
        scene.blocker_pid, "t-blocker", "idle in transaction", False)
    assert blocker["xact_age_seconds"] >= 1
    root = by_pid(r["blocking"], scene.blocker_pid)
    assert root["blocks"] == 1
    finding = next(f for f in r["findings"] if f["check"] == "blocked_sessions")
    assert finding["severity"] == "warning" and "pid %d" % scene.blocker_pid in finding["message"]
    assert r["healthy"] is False


def test_idle_and_long_transactions_with_redacted_truncated_queries(scene):
    r = scene.result
    idle = by_pid(r["idle_in_transaction"], scene.idle_pid)
    assert idle["state"] == "idle in transaction" and idle["database"] == scene.db and idle["age_seconds"] >= 1
    assert idle["client"] == "127.0.0.1" and idle["user"] == "postgres"
    assert idle["query"].startswith("SELECT 1 AS one /* connect with password=[REDACTED] */")
    assert len(idle["query"]) == 80 + len("...") and idle["query"].endswith("...")
    assert SECRET not in json.dumps(r)
    by_pid(r["idle_in_transaction"], scene.blocker_pid)
    assert scene.waiter_pid not in [s["pid"] for s in r["idle_in_transaction"]]
    # The waiter's transaction is as old as its wait: all three are long transactions.
    for pid in (scene.blocker_pid, scene.idle_pid, scene.waiter_pid):
        assert by_pid(r["long_transactions"], pid)["age_seconds"] >= 1
    checks = {f["check"]: f for f in r["findings"]}
    assert checks["idle_in_transaction"]["severity"] == "warning"
    assert checks["long_transactions"]["severity"] == "warning"


def test_connections_server_and_sizes(scene):
    r = scene.result
    c = r["connections"]
    assert c["by_database"][scene.db] >= 3 and c["by_state"]["idle in transaction"] >= 2
    assert c["client_limit"] == c["max_connections"] - c["superuser_reserved_connections"] - c["reserved_connections"]
    assert c["total"] == sum(c["by_state"].values()) and c["usage_percent"] == round(100.0 * c["total"] / c["client_limit"], 1)
    assert {"application": "t-blocker", "sessions": 1} in c["by_application"]
    s = r["server"]
    assert (s["database"], s["user"], s["superuser"], s["in_recovery"]) == (scene.db, "postgres", True, False)
    assert s["version_num"] >= 150000 and s["data_directory"] and s["uptime_seconds"] > 0
    assert r["recovery"] == {"in_recovery": False, "paused": False}
    assert r["database_sizes"][scene.db]["bytes"] > 1_000_000 and r["database_sizes"][scene.db]["pretty"].endswith("kB")
    assert scene.db in r["cache_hit_ratio"]
    assert r["replication"]["role"] == "primary" and r["replication"]["current_lsn"]
    assert r["unavailable"] == {}


def test_slow_statement_from_pg_stat_statements(scene):
    r = scene.result
    assert r["pg_stat_statements"]["available"] is True and r["pg_stat_statements"]["reason"] is None
    assert r["pg_stat_statements"]["preloaded"] is True
    mine = [s for s in r["slow_statements"] if s["database"] == scene.db]
    assert mine, "no statement of %s among the top 100: %s" % (scene.db, r["slow_statements"])
    assert mine[0]["query"] == "/* t_health_slow */ SELECT pg_sleep($1)"
    assert mine[0]["calls"] == 1 and 1200 <= mine[0]["mean_ms"] < 3000
    finding = next(f for f in r["findings"] if f["check"] == "slow_statements")
    assert finding["severity"] == "warning"


def test_extension_missing_and_missing_privileges_are_reported_not_fatal(drill_env):
    role, password = "t_health_np_%s" % secrets.token_hex(3), secrets.token_urlsafe(12)
    with pg.scratch_db("healthnp") as db:
        pg.query("CREATE ROLE %s LOGIN PASSWORD %%s" % role, (password,))
        try:
            # Without the extension, as a superuser.
            bare = health(pg.drill_params(login_db=db))
            assert not bare["failed"], bare
            assert bare["pg_stat_statements"]["available"] is False
            assert bare["pg_stat_statements"]["reason"] == (
                "extension not installed in database %s (CREATE EXTENSION pg_stat_statements)" % db)
            assert bare["slow_statements"] == [] and bare["unavailable"]["slow_statements"] == bare["pg_stat_statements"]["reason"]
            assert "slow_statements" not in [f["check"] for f in bare["findings"]]
            # A role without pg_monitor, in a database where it may not call pg_blocking_pids()
            # nor read pg_stat_statements.
            pg.query("CREATE EXTENSION pg_stat_statements; "
                     "REVOKE SELECT ON pg_stat_statements FROM PUBLIC; "
                     "REVOKE EXECUTE ON FUNCTION pg_blocking_pids(integer) FROM PUBLIC", dbname=db)
            limited = health(pg.drill_params(login_db=db, login_user=role, login_password=password))
            assert not limited["failed"], limited
            assert limited["server"]["superuser"] is False and limited["server"]["reads_all_stats"] is False
            assert limited["server"]["data_directory"] is None
            assert "pg_blocking_pids" in limited["unavailable"]["waiting"] and limited["waiting"] == []
            assert limited["pg_stat_statements"]["available"] is False
            assert limited["pg_stat_statements"]["reason"].startswith("no privilege: grant pg_read_all_stats")
            warning = next(f for f in limited["findings"] if f["check"] == "waiting")
            assert warning["severity"] == "warning" and warning["message"].startswith("could not check waiting:")
            assert limited["connections"]["total"] >= 0 and limited["replication"]["role"] == "primary"
            assert limited["healthy"] is False
        finally:
            pg.query("DROP ROLE IF EXISTS %s" % role)


def test_through_a_port_forward_to_the_pod_in_check_mode(drill_env):
    params = {"connect_via": "port_forward", "pod": "statefulset/postgres", "pod_namespace": drill.NAMESPACE,
              "kubeconfig": drill.kubeconfig(), "login_user": "postgres", "login_password": pg.drill_password(),
              "login_db": "orchestrator"}
    r = module("postgresql_health_info", check=True, **params)
    assert not r["failed"] and r["changed"] is False, r
    assert r["server"]["database"] == "orchestrator" and r["server"]["version_num"] >= 150000
    assert r["connections"]["client_limit"] > 0 and r["unavailable"] == {}


def test_wrong_password_fails_with_auth_and_no_password(drill_env):
    result = health(pg.drill_params(login_password="not-" + SECRET))
    assert result["failed"] and result["error_kind"] == "auth"
    assert SECRET not in json.dumps(result)


# --- private servers ------------------------------------------------------------------------


def test_pg_stat_statements_not_preloaded(tmp_path):
    with pg.PrivateServer(tmp_path, conf={"shared_preload_libraries": ""}) as srv:
        srv.query("CREATE EXTENSION pg_stat_statements")
        r = health(srv.params)
        assert not r["failed"], r
        assert r["pg_stat_statements"]["available"] is False and r["pg_stat_statements"]["preloaded"] is False
        assert r["pg_stat_statements"]["reason"] == "not in shared_preload_libraries (add it and restart PostgreSQL)"


# Long tier: make test refuses a restore on a standby (test_postgres_backup_restore.py); the replication and
# recovery sections of the diagnosis are unit-tested on both kinds of server.
@pytest.mark.long
def test_standby_replication_recovery_and_slots(tmp_path):
    with pg.PrivateServer(tmp_path, name="primary") as primary:
        with primary.standby(tmp_path) as standby:
            primary.query("CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
            primary.wait_replayed(standby)
            on_standby = health(standby.params, replication_lag_seconds=30)
            assert not on_standby["failed"], on_standby
            rep = on_standby["replication"]
            assert rep["role"] == "standby" and rep["wal_receiver"]["status"] == "streaming"
            assert rep["wal_receiver"]["sender_port"] == primary.port and rep["replay_lag_bytes"] == 0
            assert on_standby["recovery"] == {"in_recovery": True, "paused": False}
            assert on_standby["server"]["in_recovery"] is True
            assert {"check": "replication", "severity": "ok"}.items() <= next(
                f for f in on_standby["findings"] if f["check"] == "replication").items()

            primary.query("SELECT pg_create_physical_replication_slot('t_forgotten')")
            on_primary = health(primary.params)
            (replica,) = on_primary["replication"]["replicas"]
            assert replica["state"] == "streaming" and replica["client"] == "127.0.0.1"
            (slot,) = on_primary["replication"]["slots"]
            assert (slot["slot_name"], slot["active"]) == ("t_forgotten", False)
            finding = next(f for f in on_primary["findings"] if f["check"] == "replication")
            assert finding["severity"] == "warning" and "replication slot t_forgotten is inactive" in finding["message"]

            standby.query("SELECT pg_wal_replay_pause()")
            paused = health(standby.params)
            assert paused["recovery"] == {"in_recovery": True, "paused": True}
            assert next(f for f in paused["findings"] if f["check"] == "recovery")["severity"] == "warning"
            assert paused["healthy"] is False
