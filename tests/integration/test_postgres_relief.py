# SPDX-License-Identifier: GPL-3.0-or-later
"""postgresql_connection_relief through `ansible localhost -m`, against real sessions.

On the drill PostgreSQL, limited to a scratch database (option `database`, so no other
test's session is ever a candidate): sessions idle in a transaction for more than the
smallest threshold (10 s), of an ordinary role, beside protected ones - a superuser, pg_dump,
this collection, an operator's application, a protected role - and one idle for too short a
time. On a private server with max_connections=20: every ordinary slot taken, the health module
(as a superuser) reports the exhaustion, relief frees slots and a new client gets in.
"""

from __future__ import annotations

import json
import secrets
import time

import psycopg2
import pytest

import pg
from playbook import module

pytestmark = [pytest.mark.drill]

THRESHOLD = 10
SECRET = "pw-" + secrets.token_hex(5)


def relief(params, check=False, **options) -> dict:
    return module("postgresql_connection_relief", check=check, **params, **options)


def alive(conn, server=None) -> bool:
    """Whether the connection's backend still runs (asked from another session: a statement in
    the connection itself would restart its idle time)."""
    return bool(pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (conn.get_backend_pid(),), server=server))


def idle_in_transaction(conn, sql="SELECT 1"):
    """Leave the connection idle in an open transaction after `sql`."""
    conn.autocommit = False
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
        except psycopg2.Error:
            pass  # an aborted transaction stays open too
    return conn


@pytest.fixture
def roles(drill_env):
    names = {"app": "t_relief_app_%s" % secrets.token_hex(3), "prot": "t_relief_prot_%s" % secrets.token_hex(3)}
    password = secrets.token_urlsafe(12)
    for name in names.values():
        pg.query("CREATE ROLE %s LOGIN PASSWORD %%s" % name, (password,))
    try:
        yield names, password
    finally:
        for name in names.values():
            pg.query("DROP ROLE IF EXISTS %s" % name)


def test_relief_ends_old_unprotected_sessions_up_to_the_cap(roles):
    (names, password) = roles
    with pg.scratch_db("relief") as db:
        conns = []

        def session(application, role="app"):
            conn = psycopg2.connect(host="127.0.0.1", port=pg.drill_port(), dbname=db, connect_timeout=5,
                                    user="postgres" if role == "postgres" else names[role],
                                    password=pg.drill_password() if role == "postgres" else password,
                                    application_name=application)
            conns.append(conn)
            return conn

        try:
            e1 = idle_in_transaction(session("t-e1"))
            time.sleep(0.05)
            e2 = idle_in_transaction(session("t-e2"), "SELECT 2 /* password=%s */" % SECRET)
            time.sleep(0.05)
            e3 = idle_in_transaction(session("t-e3"), "SELECT 1/0")  # idle in transaction (aborted)
            protected = {
                idle_in_transaction(session("t-su", role="postgres")): "superuser session (role postgres)",
                idle_in_transaction(session("pg_dump")): "a backup or restore is running (pg_dump)",
                idle_in_transaction(session("ai_orchestrator.incident_response")):
                    "protected application ai_orchestrator.incident_response (matches ai_orchestrator.*)",
                idle_in_transaction(session("nightly-report")): "protected application nightly-report (matches nightly-.*)",
                idle_in_transaction(session("t-prot", role="prot")): "protected role %s (protected_roles)" % names["prot"],
            }
            # In a transaction as old as the others, but its last statement is always recent
            # (relief_now): the threshold is on the time idle, not the transaction's age.
            young = idle_in_transaction(session("t-young"))
            time.sleep(THRESHOLD + 0.5)
            every = [e1, e2, e3, young] + list(protected)
            pids = {c.get_backend_pid(): c for c in every}
            base = dict(pg.drill_params(login_db=db), database=db, idle_in_transaction_seconds=THRESHOLD,
                        protected_applications=["nightly-.*"], protected_roles=[names["prot"]])

            def relief_now(check=False, **over):
                young.cursor().execute("SELECT 1")
                return relief(base, check=check, **over)

            # Below the usage threshold: nothing is ended, and every candidate says why.
            waiting = relief_now(only_when_usage_percent=100, max_terminate=2)
            assert not waiting["failed"] and waiting["changed"] is False and waiting["allowed"] is False, waiting
            assert waiting["reason"].startswith("connection usage ") and waiting["would_terminate"] == []
            reasons = {s["pid"]: s["reason"] for s in waiting["spared"]}
            assert {reasons[c.get_backend_pid()] for c in (e1, e2, e3)} == {waiting["reason"]}

            # Check mode: the two longest idle, nothing ended.
            plan = relief_now(check=True, max_terminate=2)
            assert not plan["failed"] and plan["changed"] is False and plan["terminated"] == [], plan
            assert [w["pid"] for w in plan["would_terminate"]] == [e1.get_backend_pid(), e2.get_backend_pid()]
            assert plan["connections_after"] is None
            reasons = {s["pid"]: s["reason"] for s in plan["spared"]}
            assert reasons[e3.get_backend_pid()] == "over the max_terminate limit of 2 sessions for one run"
            for conn, reason in protected.items():
                assert reasons[conn.get_backend_pid()] == reason
            assert young.get_backend_pid() not in reasons
            assert set(reasons) | {w["pid"] for w in plan["would_terminate"]} <= set(pids)
            assert all(alive(c) for c in every)

            # For real: the same two.
            first = relief_now(max_terminate=2)
            assert not first["failed"] and first["changed"] is True, first
            ended = first["terminated"]
            assert [t["pid"] for t in ended] == [e1.get_backend_pid(), e2.get_backend_pid()]
            assert ended[0]["application"] == "t-e1" and ended[0]["user"] == names["app"] and ended[0]["database"] == db
            assert ended[0]["idle_seconds"] >= THRESHOLD and ended[0]["state"] == "idle in transaction"
            assert ended[1]["query"] == "SELECT 2 /* password=[REDACTED] */" and SECRET not in json.dumps(first)
            assert first["connections_after"]["by_database"][db] == first["connections_before"]["by_database"][db] - 2
            assert not alive(e1) and not alive(e2)
            assert all(alive(c) for c in [e3, young] + list(protected))

            # The one over the cap, in the aborted transaction.
            second = relief_now()
            assert second["changed"] is True and [t["pid"] for t in second["terminated"]] == [e3.get_backend_pid()]
            assert second["terminated"][0]["state"] == "idle in transaction (aborted)"
            assert not alive(e3)

            # Nothing more to do.
            third = relief_now()
            assert third["changed"] is False and third["terminated"] == [] and third["would_terminate"] == []
            assert {s["pid"] for s in third["spared"]} == {c.get_backend_pid() for c in protected}
            assert all(alive(c) for c in [young] + list(protected))
        finally:
            for conn in conns:
                conn.close()


# Long tier: the playbook drill (test_db_recovery.py) relieves exhaustion on the drill's server in make test.
@pytest.mark.long
def test_exhausted_connections_reported_critical_then_relieved(tmp_path):
    with pg.PrivateServer(tmp_path, conf={"max_connections": 20, "superuser_reserved_connections": 3}) as srv:
        password = secrets.token_urlsafe(12)
        srv.query("CREATE ROLE app LOGIN PASSWORD %s", (password,))
        app = dict(srv.params, login_user="app", login_password=password)

        def client(application):
            return psycopg2.connect(host=srv.host, port=srv.port, user="app", password=password, dbname="postgres",
                                    connect_timeout=5, application_name=application)

        conns = [idle_in_transaction(client("leaky-worker")) for _ in range(17)]
        try:
            with pytest.raises(psycopg2.OperationalError, match="reserved"):
                client("one-more").close()
            refused = module("postgresql_health_info", **app)
            assert refused["failed"] and refused["error_kind"] == "too_many_connections", refused

            time.sleep(THRESHOLD + 0.5)
            report = module("postgresql_health_info", **srv.params)
            assert not report["failed"], report
            c = report["connections"]
            assert (c["client_limit"], c["total"], c["available"], c["usage_percent"]) == (17, 17, 0, 100.0)
            assert c["by_state"] == {"idle in transaction": 17}
            assert c["by_application"] == [{"application": "leaky-worker", "sessions": 17}]
            finding = next(f for f in report["findings"] if f["check"] == "connections")
            assert finding["severity"] == "critical" and finding["message"].startswith("17 of 17 connections")
            assert report["healthy"] is False

            freed = module("postgresql_connection_relief", **srv.params, idle_in_transaction_seconds=THRESHOLD,
                           only_when_usage_percent=90)
            assert not freed["failed"] and freed["changed"] is True and freed["allowed"] is True, freed
            assert len(freed["terminated"]) == 10 and len(freed["spared"]) == 7
            assert freed["connections_before"]["usage_percent"] == 100.0
            assert freed["connections_after"]["total"] == 7 and freed["connections_after"]["available"] == 10
            client("one-more").close()
            assert sum(alive(c, srv) for c in conns) == 7
        finally:
            for conn in conns:
                conn.close()
