# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection relief without a server: who is protected, the cap, the usage gate, check mode,
and sessions that end or move on between the choice and the signal.

tests/integration/test_postgres_relief.py runs the same against real sessions.
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import Redactor
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import relief as rl
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.diagnosis import CONNECTIONS_SQL

T0 = datetime.datetime(2026, 11, 27, 23, 0, tzinfo=datetime.timezone.utc)


def options(**over):
    base = {"idle_in_transaction_seconds": 300, "max_terminate": 10, "database": None, "only_when_usage_percent": 0,
            "protected_applications": [], "protected_roles": [], "query_max_chars": 300}
    base.update(over)
    return base


def row(pid, application="svc", user="app", idle=600.0, backend_type="client backend", superuser=False, own=False,
        state="idle in transaction", query="SELECT 1"):
    return {"pid": pid, "user": user, "database": "orchestrator", "application": application, "client": "10.0.0.9",
            "backend_type": backend_type, "state": state, "wait_event_type": "Client", "wait_event": "ClientRead",
            "xact_age_seconds": idle + 1, "query_age_seconds": idle, "state_age_seconds": idle, "query": query,
            "backend_start": T0, "xact_start": T0 + datetime.timedelta(seconds=pid), "superuser": superuser, "own": own}


def connections(total, max_connections=20):
    return [{"max_connections": max_connections, "superuser_reserved_connections": 3, "reserved_connections": 0,
             "groups": [{"database": "orchestrator", "application": "svc", "state": "idle in transaction",
                         "sessions": total}] if total else []}]


class FakeSession(object):
    """Candidates and connection counts as given; TERMINATE_SQL answered per pid by `outcomes`."""

    def __init__(self, candidates, outcomes=None, before=17, after=None):
        self.candidates = candidates
        self.outcomes = outcomes or {}
        self.counts = [connections(before)] + ([connections(after)] if after is not None else [])
        self.signalled = []
        self.candidate_args = None

    def query(self, sql, args=None):
        if sql == CONNECTIONS_SQL:
            return self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        if sql == rl.CANDIDATES_SQL:
            self.candidate_args = args
            return [dict(r) for r in self.candidates]
        if sql == rl.TERMINATE_SQL:
            self.signalled.append(args)
            outcome = self.outcomes.get(args["pid"], {"present": True, "signalled": True})
            if isinstance(outcome, Exception):
                raise outcome
            return [outcome]
        raise AssertionError("unexpected statement: %s" % sql)

    def one(self, sql, args=None):
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def scalar(self, sql, args=None):
        assert sql == rl.REMAINING_SQL
        return 0


# --- options -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("over, message", [
    ({"idle_in_transaction_seconds": 9}, "idle_in_transaction_seconds must be at least 10, got 9"),
    ({"max_terminate": 0}, "max_terminate must be at least 1, got 0"),
    ({"only_when_usage_percent": 101}, "only_when_usage_percent must be between 0 and 100, got 101"),
    ({"only_when_usage_percent": -1}, "only_when_usage_percent must be between 0 and 100, got -1"),
    ({"protected_applications": ["etl-("]}, "invalid protected_applications pattern 'etl-\\('"),
    ({"protected_applications": [""]}, "protected_applications entries must be non-empty"),
])
def test_unusable_options(over, message):
    with pytest.raises(InvalidInput, match=message):
        rl.check_options(options(**over))


# --- who is protected ------------------------------------------------------------------------------


@pytest.mark.parametrize("session, reason", [
    (row(1, own=True), "the module's own session"),
    (row(2, backend_type="walsender", application="standby1"), "WAL sender (replication or a base backup running)"),
    (row(3, backend_type="autovacuum worker", application=""), "not a client backend (autovacuum worker)"),
    (row(4, backend_type="background worker"), "not a client backend (background worker)"),
    (row(5, application="pg_dump"), "a backup or restore is running (pg_dump)"),
    (row(6, application="pg_restore"), "a backup or restore is running (pg_restore)"),
    (row(7, application="pg_basebackup"), "a backup or restore is running (pg_basebackup)"),
    (row(8, application="pg_dumpall"), "a backup or restore is running (pg_dumpall)"),
    (row(9, user="postgres", superuser=True, application="psql"), "superuser session (role postgres)"),
    (row(10, user="replicator"), "protected role replicator (protected_roles)"),
    (row(11, application="ai_orchestrator.incident_response"),
     "protected application ai_orchestrator.incident_response (matches ai_orchestrator.*)"),
    (row(12, application="Patroni"), "protected application Patroni (matches patroni.*)"),
    (row(13, application="nightly-report"), "protected application nightly-report (matches nightly-.*)"),
    (row(14, application="pgbackrest archive-push"), "protected application pgbackrest archive-push (matches pgbackrest.*)"),
    (row(15, application="my-nightly-report"), None),
    (row(16, application="psql"), None),
    (row(17, application=""), None),
])
def test_protection(session, reason):
    checked = rl.check_options(options(protected_applications=["nightly-.*"], protected_roles=["replicator"]))
    assert rl.protection(session, checked) == reason


# --- choosing ----------------------------------------------------------------------------------------


def test_cap_takes_the_longest_idle_first_and_spares_the_rest_with_the_reason():
    rows = [row(1, idle=900), row(2, user="postgres", superuser=True, idle=800), row(3, idle=700), row(4, idle=600)]
    chosen, spared, allowed, reason = rl.plan(rows, rl.check_options(options(max_terminate=2)), usage_percent=50.0)
    assert [r["pid"] for r in chosen] == [1, 3] and allowed is True and reason is None
    assert [(r["pid"], why) for r, why in spared] == [
        (2, "superuser session (role postgres)"), (4, "over the max_terminate limit of 2 sessions for one run")]


def test_usage_gate_ends_nothing_below_the_threshold():
    rows = [row(1), row(2, application="pg_dump")]
    chosen, spared, allowed, reason = rl.plan(rows, rl.check_options(options(only_when_usage_percent=90)), 85.0)
    assert chosen == [] and allowed is False
    assert reason == "connection usage 85.0 % is below only_when_usage_percent 90 %: nothing is ended"
    assert [(r["pid"], why) for r, why in spared] == [(1, reason), (2, "a backup or restore is running (pg_dump)")]
    chosen, unused1, allowed, unused2 = rl.plan(rows, rl.check_options(options(only_when_usage_percent=90)), 90.0)
    assert [r["pid"] for r in chosen] == [1] and allowed is True


# --- running -----------------------------------------------------------------------------------------


def test_check_mode_signals_nothing():
    session = FakeSession([row(1), row(2, application="pg_dump")])
    result = rl.relieve(session, options(database="orchestrator", idle_in_transaction_seconds=60), check_mode=True)
    assert session.signalled == [] and session.candidate_args == {"seconds": 60, "database": "orchestrator"}
    assert result["changed"] is False and result["terminated"] == [] and result["connections_after"] is None
    assert [w["pid"] for w in result["would_terminate"]] == [1]
    assert result["spared"][0]["pid"] == 2 and result["spared"][0]["reason"].startswith("a backup or restore")
    assert result["connections_before"]["total"] == 17 and result["connections_before"]["usage_percent"] == 100.0


def test_real_run_signals_with_the_identity_of_the_session():
    session = FakeSession([row(1, query="UPDATE t SET secret_token = 'abc123xyz' WHERE id = 1"), row(2)], after=15)
    result = rl.relieve(session, options(), redactor=Redactor())
    assert [a["pid"] for a in session.signalled] == [1, 2]
    assert session.signalled[0] == {"pid": 1, "backend_start": T0, "xact_start": T0 + datetime.timedelta(seconds=1)}
    assert result["changed"] is True and [t["pid"] for t in result["terminated"]] == [1, 2]
    entry = result["terminated"][0]
    assert entry == {"pid": 1, "user": "app", "database": "orchestrator", "application": "svc", "client": "10.0.0.9",
                     "backend_type": "client backend", "state": "idle in transaction", "idle_seconds": 600.0,
                     "xact_age_seconds": 601.0, "query": "UPDATE t SET secret_token = '[REDACTED]' WHERE id = 1"}
    assert result["connections_after"]["total"] == 15


def test_sessions_that_moved_on_or_ended_are_gone_not_errors():
    outcomes = {1: {"present": True, "signalled": None}, 2: {"present": False, "signalled": None},
                3: {"present": True, "signalled": False}}
    result = rl.relieve(FakeSession([row(1), row(2), row(3)], outcomes=outcomes), options())
    assert result["changed"] is False and result["terminated"] == [] and result["refused"] == []
    assert [(g["pid"], g["reason"]) for g in result["gone"]] == [
        (1, "no longer idle in the same transaction"), (2, "ended by itself"), (3, "ended by itself")]


def test_refused_sessions_are_listed_and_the_others_still_ended():
    denied = PostgresError("x: must be a member of the role whose process is being terminated or member of "
                           "pg_signal_backend", kind="permission", sqlstate="42501")
    result = rl.relieve(FakeSession([row(1), row(2)], outcomes={1: denied}), options())
    assert [t["pid"] for t in result["terminated"]] == [2] and result["changed"] is True
    assert [(r["pid"], r["reason"]) for r in result["refused"]] == [(1, str(denied))]


def test_lost_connection_fails():
    lost = PostgresError("server closed the connection unexpectedly", kind="unreachable")
    with pytest.raises(PostgresError):
        rl.relieve(FakeSession([row(1)], outcomes={1: lost}), options())


def test_nothing_to_do_is_unchanged_with_the_same_counts():
    result = rl.relieve(FakeSession([]), options())
    assert result["changed"] is False and result["would_terminate"] == [] and result["spared"] == []
    assert result["connections_after"] == result["connections_before"]
