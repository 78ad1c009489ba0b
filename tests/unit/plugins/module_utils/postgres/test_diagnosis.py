# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health diagnosis without a server: a fake session answers each section's statement.

What a real server answers is covered by tests/integration/test_postgres_health.py; here the
version-dependent SQL, the reasons given when pg_stat_statements cannot be read, sections
that survive a refusal, and the thresholds of the findings.
"""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import Redactor
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import diagnosis as dg
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError


class FakeSession(object):
    """Answers statements by their text: {sql: rows | PostgresError | callable(args)}; records what ran."""

    def __init__(self, answers, version=150018):
        self.answers = answers
        self.server_version_num = version
        self.kwargs = {"user": "monitor"}
        self.ran = []

    def query(self, sql, args=None):
        self.ran.append(sql)
        for key, answer in self.answers.items():
            if sql == key or (key.startswith("~") and key[1:] in sql):
                if isinstance(answer, Exception):
                    raise answer
                return answer(args) if callable(answer) else [dict(r) for r in answer]
        raise AssertionError("unexpected statement: %s" % sql)

    def one(self, sql, args=None):
        rows = self.query(sql, args)
        return rows[0] if rows else None


SERVER_ROW = {"version": "15.18", "version_num": 150018, "version_full": "PostgreSQL 15.18", "in_recovery": False,
              "replay_paused": None, "uptime_seconds": 100.04, "started_at": None, "data_directory": "/data",
              "database": "orchestrator", "user": "monitor", "superuser": False, "reads_all_stats": True}


def connections_row(groups, max_connections=50, su_reserved=3, reserved=0):
    return {"max_connections": max_connections, "superuser_reserved_connections": su_reserved,
            "reserved_connections": reserved, "groups": groups}


STATUS_OK = {"version": "1.10", "schema": "public", "preload": "pg_stat_statements", "database": "orchestrator",
             "reads_all_stats": True}


def answers(**overrides):
    base = {
        dg.SERVER_SQL: [SERVER_ROW],
        dg.CONNECTIONS_SQL: [connections_row([{"database": "orchestrator", "application": "app", "state": "idle",
                                               "sessions": 4}])],
        dg.WAITING_SQL: [],
        dg.LONG_TRANSACTIONS_SQL: [],
        dg.IDLE_IN_TRANSACTION_SQL: [],
        dg.STATEMENTS_STATUS_SQL: [STATUS_OK],
        "~pg_stat_statements s": [],
        dg.CACHE_SQL: [{"database": "orchestrator", "blks_hit": 990, "blks_read": 10}],
        dg.SIZES_SQL: [{"database": "orchestrator", "bytes": 8289639}],
        dg.PRIMARY_REPLICATION_SQL: [{"replicas": [], "slots": [], "current_lsn": "0/1"}],
    }
    base.update(overrides)
    return base


def finding(result, check):
    return [f for f in result["findings"] if f["check"] == check]


# --- SQL by server version ------------------------------------------------------------------------


def test_statements_sql_uses_exec_time_columns_from_13():
    sql = dg.statements_sql(130000, '"public"')
    assert "s.mean_exec_time::float8 AS mean_ms" in sql and "s.total_exec_time::float8 AS total_ms" in sql
    assert "s.max_exec_time" in sql and "ORDER BY s.mean_exec_time DESC" in sql
    assert 'FROM "public".pg_stat_statements s' in sql


def test_statements_sql_uses_time_columns_before_13():
    sql = dg.statements_sql(120015, '"stats"')
    assert "s.mean_time::float8 AS mean_ms" in sql and "s.total_time::float8 AS total_ms" in sql
    assert "s.max_time::float8" in sql and "ORDER BY s.mean_time DESC" in sql
    assert "exec_time" not in sql and 'FROM "stats".pg_stat_statements s' in sql


@pytest.mark.parametrize("version, column", [(150018, "mean_exec_time"), (120015, "mean_time")])
def test_the_session_version_picks_the_statement(version, column):
    row = {"queryid": 1, "database": "orchestrator", "user": "app", "calls": 3, "mean_ms": 1500.12345,
           "total_ms": 4500.0, "max_ms": 2000.0, "rows": 3, "query": "SELECT pg_sleep($1)"}
    session = FakeSession(answers(**{"~pg_stat_statements s": [row]}), version=version)
    status, statements = dg.statements_section(session, dg.check_options({}), Redactor())
    assert status["available"] is True and status["reason"] is None
    assert statements == [dict(row, mean_ms=1500.123)]
    assert "ORDER BY s.%s DESC" % column in session.ran[-1]


def test_standby_replication_reads_received_lsn_before_13():
    row = {"receive_lsn": "0/5", "replay_lsn": "0/5", "replay_lag_bytes": 0.0, "replay_lag_seconds": 0.0,
           "last_replay_at": None, "wal_receiver": {"status": "streaming", "last_message_age_seconds": 0.123}}
    for version, column in ((150018, "r.flushed_lsn::text"), (120015, "r.received_lsn::text")):
        session = FakeSession({"~pg_last_wal_receive_lsn": [row]}, version=version)
        rep = dg.replication_section(session, dg.check_options({}), None, in_recovery=True)
        assert column in session.ran[-1]
        assert rep["role"] == "standby" and rep["wal_receiver"]["last_message_age_seconds"] == 0.1


# --- pg_stat_statements: why not -----------------------------------------------------------------


def statements_status(status_row=None, failure=None, version=150018):
    over = {dg.STATEMENTS_STATUS_SQL: [dict(STATUS_OK, **(status_row or {}))]}
    if failure is not None:
        over["~pg_stat_statements s"] = failure
    session = FakeSession(answers(**over), version=version)
    status, statements = dg.statements_section(session, dg.check_options({}), Redactor())
    return status, statements, session


def test_extension_not_installed():
    status, statements, session = statements_status({"version": None, "schema": None})
    assert status["available"] is False and statements == []
    assert status["reason"] == "extension not installed in database orchestrator (CREATE EXTENSION pg_stat_statements)"
    assert not any("pg_stat_statements s" in sql for sql in session.ran)


def test_extension_not_installed_and_not_preloaded():
    status, unused1, unused2 = statements_status({"version": None, "schema": None, "preload": "auto_explain"})
    assert status["reason"] == ("extension not installed in database orchestrator (CREATE EXTENSION pg_stat_statements)"
                                "; it is not in shared_preload_libraries either (add it and restart PostgreSQL)")


def test_not_preloaded_when_the_setting_is_readable():
    status, unused1, session = statements_status({"preload": ""})
    assert status["reason"] == "not in shared_preload_libraries (add it and restart PostgreSQL)"
    assert status["preloaded"] is False and len(session.ran) == 1


def test_not_preloaded_found_by_the_error_when_the_setting_is_hidden():
    error = PostgresError("u@h:5432/db: pg_stat_statements must be loaded via shared_preload_libraries",
                          kind="server", sqlstate="55000")
    status, unused1, unused2 = statements_status({"preload": None}, failure=error)
    assert status["preloaded"] is None and status["available"] is False
    assert status["reason"] == "not in shared_preload_libraries (add it and restart PostgreSQL)"


def test_no_privilege_on_the_view():
    error = PostgresError("u@h:5432/db: permission denied for view pg_stat_statements", kind="permission",
                          sqlstate="42501")
    status, unused1, unused2 = statements_status(failure=error)
    assert status["reason"] == "no privilege: grant pg_read_all_stats (or SELECT on public.pg_stat_statements) to monitor"


def test_other_roles_hidden_is_said_but_available():
    status, unused1, unused2 = statements_status({"reads_all_stats": False})
    assert status["available"] is True and status["all_roles_visible"] is False
    assert status["reason"].startswith("no privilege to see other roles' statements")


def test_lost_connection_is_not_a_reason():
    error = PostgresError("server closed the connection unexpectedly", kind="unreachable")
    with pytest.raises(PostgresError):
        statements_status(failure=error)


@pytest.mark.parametrize("preload, expected", [
    ("pg_stat_statements", True), ("auto_explain, pg_stat_statements", True),
    ('"$libdir/pg_stat_statements"', True), ("auto_explain", False), ("", False), (None, None),
])
def test_preload_list(preload, expected):
    assert dg._preloaded(preload) is expected


# --- query texts ------------------------------------------------------------------------------------


def test_query_text_is_redacted_collapsed_and_cut():
    text = "SELECT *\n  FROM users\n WHERE password = 'hunter2-secret' AND note = '%s'" % ("x" * 100)
    shown = dg.query_text(text, 60, Redactor())
    assert "hunter2" not in shown and shown.startswith("SELECT * FROM users WHERE password = '[REDACTED]'")
    assert len(shown) == 63 and shown.endswith("...")
    assert dg.query_text("SELECT 1", 60, Redactor()) == "SELECT 1"
    assert dg.query_text(None, 60, Redactor()) is None


def test_secret_cut_in_half_by_the_limit_is_still_redacted():
    shown = dg.query_text("SELECT 1 /* password=abcdefghijklmnop */", 28, Redactor())
    assert "abcdef" not in shown and shown.startswith("SELECT 1 /* password=[REDAC")


# --- connections ------------------------------------------------------------------------------------


def test_connection_summary_counts_against_the_ordinary_slots():
    groups = [
        {"database": "orchestrator", "application": "workflow-service", "state": "idle", "sessions": 30},
        {"database": "orchestrator", "application": "workflow-service", "state": "active", "sessions": 5},
        {"database": "orchestrator", "application": "", "state": "idle in transaction", "sessions": 2},
        {"database": "postgres", "application": "psql", "state": None, "sessions": 1},
    ]
    summary = dg.connection_summary(connections_row(groups, max_connections=50, su_reserved=3, reserved=2))
    assert summary["client_limit"] == 45 and summary["total"] == 38 and summary["available"] == 7
    assert summary["usage_percent"] == 84.4
    assert summary["by_state"] == {"idle": 30, "active": 5, "idle in transaction": 2, "unknown": 1}
    assert summary["by_database"] == {"orchestrator": 37, "postgres": 1}
    assert summary["by_application"] == [{"application": "workflow-service", "sessions": 35},
                                         {"application": "", "sessions": 2}, {"application": "psql", "sessions": 1}]


@pytest.mark.parametrize("sessions, severity", [(37, "ok"), (38, "warning"), (44, "warning"), (45, "critical"),
                                                (48, "critical")])
def test_connection_usage_thresholds(sessions, severity):
    # 47 ordinary slots: 38 is 80.9 %, 45 is 95.7 %.
    row = connections_row([{"database": "db", "application": "a", "state": "idle", "sessions": sessions}])
    result = dg.collect(FakeSession(answers(**{dg.CONNECTIONS_SQL: [row]})), {"top": 1})
    (f,) = finding(result, "connections")
    assert f["severity"] == severity
    assert f["message"].startswith("%d of 47 connections ordinary roles may use are in use" % sessions)
    assert result["healthy"] is (severity == "ok")


def test_by_application_keeps_the_top():
    groups = [{"database": "db", "application": "app%d" % n, "state": "idle", "sessions": n} for n in range(1, 6)]
    result = dg.collect(FakeSession(answers(**{dg.CONNECTIONS_SQL: [connections_row(groups)]})), {"top": 2})
    assert result["connections"]["by_application"] == [{"application": "app5", "sessions": 5},
                                                       {"application": "app4", "sessions": 4}]


# --- locks ------------------------------------------------------------------------------------------


def blocker(pid, waiting=False, state="idle in transaction"):
    return {"pid": pid, "user": "ops", "database": "db", "application": "psql", "client": "local",
            "backend_type": "client backend", "state": state, "waiting": waiting, "xact_age_seconds": 600.04,
            "state_age_seconds": 599.0, "query": "UPDATE t SET v = 1 WHERE id = 1"}


def waiting_row(pid, blocked_by, blockers, total=2):
    return {"pid": pid, "user": "app", "database": "db", "application": "svc", "client": "10.0.0.7",
            "backend_type": "client backend", "state": "active", "wait_event_type": "Lock", "wait_event": "transactionid",
            "xact_age_seconds": 5.0, "query_age_seconds": 4.96, "state_age_seconds": 4.96,
            "query": "UPDATE t SET v = 2 WHERE id = 1", "blocked_by": blocked_by, "blockers": blockers, "total": total}


def test_chain_reports_the_head_of_the_queue():
    # 100 (idle in transaction) blocks 200, which blocks 300.
    rows = [waiting_row(200, [100], [blocker(100)]), waiting_row(300, [200], [blocker(200, waiting=True, state="active")])]
    result = dg.collect(FakeSession(answers(**{dg.WAITING_SQL: rows})))
    assert [w["pid"] for w in result["waiting"]] == [200, 300]
    assert result["waiting"][0]["age_seconds"] == 5.0 and result["waiting"][0]["blocked_by"] == [100]
    (root,) = result["blocking"]
    assert root["pid"] == 100 and root["blocks"] == 1 and root["xact_age_seconds"] == 600.0
    (f,) = finding(result, "blocked_sessions")
    assert f["severity"] == "warning"
    assert f["message"] == ("2 sessions waiting for a lock; blocked by pid 100, user ops, application psql, "
                            "database db (idle in transaction, transaction open 600.0 s)")


# --- sections that cannot be read ------------------------------------------------------------------


def test_a_refused_section_is_reported_and_the_rest_still_runs():
    denied = PostgresError("monitor@db:5432/orchestrator: permission denied for function pg_blocking_pids",
                           kind="permission", sqlstate="42501")
    timeout = PostgresError("monitor@db:5432/orchestrator: canceling statement due to statement timeout",
                            kind="timeout", sqlstate="57014")
    session = FakeSession(answers(**{dg.WAITING_SQL: denied, dg.SIZES_SQL: timeout}))
    result = dg.collect(session)
    assert result["unavailable"] == {"waiting": str(denied), "blocking": str(denied), "database_sizes": str(timeout)}
    assert result["waiting"] == [] and result["blocking"] == [] and result["database_sizes"] is None
    assert result["connections"]["total"] == 4 and result["cache_hit_ratio"] == {"orchestrator": 0.99}
    assert "blocked_sessions" not in [f["check"] for f in result["findings"]]
    (f,) = finding(result, "waiting")
    assert f["severity"] == "warning" and f["message"] == "could not check waiting: " + str(denied)
    assert result["healthy"] is False


def test_server_unreadable_leaves_replication_unknown():
    denied = PostgresError("x: permission denied for function pg_postmaster_start_time", kind="permission")
    result = dg.collect(FakeSession(answers(**{dg.SERVER_SQL: denied})))
    assert result["server"] is None and result["recovery"] is None and result["replication"] is None
    assert result["unavailable"]["replication"].startswith("the server's recovery state could not be read")
    assert finding(result, "replication")[0]["severity"] == "warning"


def test_lost_connection_fails_the_diagnosis():
    lost = PostgresError("server closed the connection unexpectedly", kind="unreachable")
    with pytest.raises(PostgresError) as caught:
        dg.collect(FakeSession(answers(**{dg.LONG_TRANSACTIONS_SQL: lost})))
    assert caught.value.kind == "unreachable"


# --- other findings -----------------------------------------------------------------------------------


def session_row(pid, age, state="idle in transaction", total=1):
    return {"pid": pid, "user": "app", "database": "db", "application": "svc", "client": "local",
            "backend_type": "client backend", "state": state, "wait_event_type": "Client", "wait_event": "ClientRead",
            "xact_age_seconds": age + 1, "query_age_seconds": age, "state_age_seconds": age, "query": "SELECT 1",
            "total": total}


def test_long_and_idle_transactions_count_all_not_only_the_listed():
    result = dg.collect(FakeSession(answers(**{
        dg.IDLE_IN_TRANSACTION_SQL: [session_row(7, 900.0, total=12)],
        dg.LONG_TRANSACTIONS_SQL: [session_row(7, 900.0, total=3)]})), {"max_sessions": 1})
    assert result["idle_in_transaction"][0]["age_seconds"] == 900.0
    assert result["long_transactions"][0]["age_seconds"] == 901.0
    assert finding(result, "idle_in_transaction")[0]["message"].startswith(
        "12 sessions idle in transaction longer than 60 s; oldest: pid 7")
    assert finding(result, "long_transactions")[0]["message"].startswith(
        "3 sessions with a transaction open longer than 300 s")


def test_slow_statement_threshold():
    rows = [{"queryid": 1, "database": "db", "user": "app", "calls": 10, "mean_ms": 999.0, "total_ms": 9990.0,
             "max_ms": 1200.0, "rows": 10, "query": "SELECT 1"}]
    ok = dg.collect(FakeSession(answers(**{"~pg_stat_statements s": rows})))
    assert finding(ok, "slow_statements")[0]["severity"] == "ok"
    slow = dg.collect(FakeSession(answers(**{"~pg_stat_statements s": rows})), {"slow_statement_ms": 900})
    assert finding(slow, "slow_statements")[0]["severity"] == "warning"


def test_cache_hit_ratio_judged_only_with_enough_requests():
    rows = [{"database": "busy", "blks_hit": 80000, "blks_read": 20000},
            {"database": "quiet", "blks_hit": 10, "blks_read": 90},
            {"database": "fresh", "blks_hit": 0, "blks_read": 0}]
    result = dg.collect(FakeSession(answers(**{dg.CACHE_SQL: rows})))
    assert result["cache_hit_ratio"] == {"busy": 0.8, "quiet": 0.1, "fresh": None}
    (f,) = finding(result, "cache_hit_ratio")
    assert f["severity"] == "warning" and f["message"] == "cache hit ratio below 0.90: busy 0.800"


def test_replication_findings_on_a_primary():
    replicas = [{"pid": 1, "application": "standby1", "state": "streaming", "replay_lag_seconds": 75.04,
                 "replay_lag_bytes": 4096.0, "write_lag_seconds": None, "flush_lag_seconds": None},
                {"pid": 2, "application": "standby2", "state": "catchup", "replay_lag_seconds": None}]
    slots = [{"slot_name": "old", "slot_type": "physical", "active": False, "retained_bytes": 3 * 1024 ** 3}]
    result = dg.collect(FakeSession(answers(**{dg.PRIMARY_REPLICATION_SQL: [
        {"replicas": replicas, "slots": slots, "current_lsn": "0/9"}]})))
    assert result["replication"]["replicas"][0]["replay_lag_seconds"] == 75.0
    (f,) = finding(result, "replication")
    assert f["severity"] == "warning"
    assert f["message"] == ("replica standby1 replays 75.0 s behind (4096.0 bytes); replica standby2 is catchup, not "
                            "streaming; replication slot old is inactive and retains 3072 MB of WAL")


def test_standby_not_streaming_and_paused():
    server = dict(SERVER_ROW, in_recovery=True, replay_paused=True)
    standby = {"receive_lsn": None, "replay_lsn": "0/5", "replay_lag_bytes": None, "replay_lag_seconds": 30.0,
               "last_replay_at": None, "wal_receiver": None}
    result = dg.collect(FakeSession(answers(**{dg.SERVER_SQL: [server], "~pg_last_wal_receive_lsn": [standby]})))
    assert result["recovery"] == {"in_recovery": True, "paused": True}
    assert result["replication"]["role"] == "standby"
    assert finding(result, "recovery")[0]["severity"] == "warning"
    assert finding(result, "replication")[0]["message"] == (
        "this standby is not streaming from a primary (WAL receiver not running)")


def test_healthy_server():
    result = dg.collect(FakeSession(answers()))
    assert result["healthy"] is True and result["unavailable"] == {}
    assert [f["check"] for f in result["findings"]] == ["connections", "blocked_sessions", "long_transactions",
                                                        "idle_in_transaction", "slow_statements", "cache_hit_ratio",
                                                        "replication"]
    assert result["server"]["uptime_seconds"] == 100.0 and result["database_sizes"] == {
        "orchestrator": {"bytes": 8289639, "pretty": "8095 kB"}}


@pytest.mark.parametrize("value, text", [(0, "0 bytes"), (10239, "10239 bytes"), (10240, "10 kB"),
                                         (8289639, "8095 kB"), (3 * 1024 ** 3, "3072 MB"), (None, None)])
def test_pretty_bytes_like_pg_size_pretty(value, text):
    assert dg.pretty_bytes(value) == text


@pytest.mark.parametrize("name, value", [("query_max_chars", 19), ("top", 0), ("max_sessions", 0),
                                         ("long_transaction_seconds", -1), ("slow_statement_ms", -5)])
def test_options_below_their_minimum(name, value):
    with pytest.raises(InvalidInput, match="%s must be at least" % name):
        dg.check_options({name: value})
