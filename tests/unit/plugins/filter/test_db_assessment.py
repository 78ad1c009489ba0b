# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""db_assessment: what a database diagnosis means for the incident."""

from __future__ import annotations

import random

import pytest
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import database as dflt

HEALTHY = {"changed": False, "healthy": True, "connections": {"usage_percent": 12.0},
           "findings": [{"check": "connections", "severity": "ok", "message": "6 of 50 connections"}],
           "idle_in_transaction": []}


def finding(severity, message="something", check="x"):
    return {"check": check, "severity": severity, "message": message}


def health(usage=10.0, findings=(), idle=()):
    return {"changed": False, "connections": {"usage_percent": usage}, "findings": list(findings),
            "idle_in_transaction": [{"pid": 100 + i, "idle_seconds": s} for i, s in enumerate(idle)]}


def test_healthy_database_opens_nothing():
    result = dflt.db_assessment(HEALTHY)
    assert result["status"] == "healthy" and result["signal"] is None and result["severity"] is None
    assert not result["relieve"] and not result["escalate"] and result["owner"] == "database"


@pytest.mark.parametrize("kind", ["unreachable", "auth", "not_found", "too_many_connections", "timeout"])
def test_failed_diagnosis_is_unavailable_p1_and_escalated_to_the_database_owners(kind):
    result = dflt.db_assessment({"failed": True, "error_kind": kind, "msg": "cannot connect to PostgreSQL x"})
    assert result["status"] == "unavailable" and result["signal"] == "database_unavailable"
    assert result["severity"] == "P1" and result["escalate"] and result["owner"] == "database"
    assert "cannot connect to PostgreSQL x" in result["reason"] and result["error_kind"] == kind


def test_exhaustion_with_old_idle_sessions_is_relieved_not_escalated():
    result = dflt.db_assessment(health(usage=96.0, idle=[30, 400, 900]), {}, 80, 300)
    assert result["status"] == "critical" and result["relieve"] and not result["escalate"]
    assert result["signal"] == "database_unavailable" and result["severity"] == "P1"


def test_exhaustion_with_nothing_to_relieve_is_escalated_with_the_reason():
    result = dflt.db_assessment(health(usage=90.0, idle=[30]), {}, 80, 300)
    assert not result["relieve"] and result["escalate"]
    assert result["reason"].startswith("connections at 90% of the client limit (exhausted from 80%), and no session idle")


def test_warnings_are_slow_responses_p2_for_the_database_owners():
    result = dflt.db_assessment(health(findings=[finding("warning", "2 sessions blocked", "blocked_sessions")]))
    assert result["status"] == "degraded" and result["signal"] == "slow_responses" and result["severity"] == "P2"
    assert result["findings"] == ["2 sessions blocked"] and result["escalate"] and not result["relieve"]


def test_slow_statements_alone_are_reported_not_acted_on():
    # pg_stat_statements adds up since its last reset: old slow statements prove nothing now.
    result = dflt.db_assessment(health(findings=[finding("warning", "3 slow statements", "slow_statements")]))
    assert result["status"] == "healthy" and result["notes"] == ["3 slow statements"] and not result["escalate"]


def test_a_restore_is_data_loss_p0_whatever_the_diagnosis():
    assert dflt.db_assessment(HEALTHY, restore=True)["severity"] == "P0"
    assert dflt.db_assessment({"failed": True, "error_kind": "auth", "msg": "no"}, restore=True)["signal"] == "data_loss"


def test_the_operators_policy_moves_the_severity():
    policy = {"signals": {"database_unavailable": "P0"}, "owners": {"database": "infrastructure"}}
    result = dflt.db_assessment({"failed": True, "error_kind": "unreachable", "msg": "x"}, policy)
    assert result["severity"] == "P0" and result["owner"] == "infrastructure"


def test_invariants_over_random_diagnoses():
    rng = random.Random(10)
    for unused1 in range(500):
        usage = rng.choice([None, rng.uniform(0, 100)])
        findings = [finding(rng.choice(["ok", "warning", "critical"])) for unused2 in range(rng.randint(0, 4))]
        idle = [rng.randint(0, 1000) for unused3 in range(rng.randint(0, 3))]
        threshold = rng.randint(1, 100)
        result = dflt.db_assessment(health(usage, findings, idle), {}, threshold, 300)
        exhausted = usage is not None and usage >= threshold
        # Relief only under exhaustion and only when there is an old idle session to end.
        assert result["relieve"] == (exhausted and any(s >= 300 for s in idle))
        # Never both: relief is the fix, escalation is for what relief cannot fix.
        assert not (result["relieve"] and result["escalate"])
        # Whatever is wrong is either relieved or escalated, never dropped.
        assert (result["status"] == "healthy") != (result["relieve"] or result["escalate"])
        # Healthy means no signal, no severity, nothing to do.
        if result["status"] == "healthy":
            assert result["signal"] is None and not result["relieve"] and not result["escalate"]
        else:
            assert result["severity"] in ("P1", "P2")


def test_bad_input_names_the_filter():
    with pytest.raises(AnsibleFilterError, match="ai_orchestrator.incident_response.db_assessment: .*relief_usage_percent"):
        dflt.db_assessment(HEALTHY, {}, 150)
    with pytest.raises(AnsibleFilterError, match="registered result"):
        dflt.db_assessment("nope")


def test_through_ansible_templating_by_fqcn():
    out = Templar(loader=DataLoader(), variables={"h": HEALTHY}).template(
        trust_as_template("{{ h | ai_orchestrator.incident_response.db_assessment({}, 80, 300, false) }}"))
    assert out["status"] == "healthy"


@pytest.mark.parametrize("request_, message", [
    ({"database": "x" * 64}, "at most 63 bytes"),
    ({"database": "bad\x00name"}, "printable"),
    ({"database": 5}, "database must be a string"),
    ({"backup": "../etc/passwd"}, "expected latest, an absolute path or a backup id"),
    ({"backup": "b; rm -rf /"}, "expected latest"),
    ({"confirm": "orchestrator-20261127T010203Z"}, "give the backup too"),
    ({"backup": "latest", "confirm": "yes please"}, "not a backup id"),
])
def test_db_request_refuses_bad_input_saying_what_to_fix(request_, message):
    with pytest.raises(AnsibleFilterError, match="db_request: .*" + message):
        dflt.db_request(request_)


def test_db_request_normalizes():
    assert dflt.db_request({}) == {"database": "orchestrator", "backup": "", "confirm": ""}
    assert dflt.db_request({"database": "shop", "backup": " latest ", "confirm": "latest.dump@0123456789ab"}) == {
        "database": "shop", "backup": "latest", "confirm": "latest.dump@0123456789ab"}
    assert dflt.db_request({"backup": "/backups/latest.dump"})["backup"] == "/backups/latest.dump"


def test_session_findings_count_only_the_database_of_the_incident():
    other = {"changed": False, "connections": {"usage_percent": 10.0},
             "findings": [finding("warning", "2 sessions idle in transaction", "idle_in_transaction")],
             "idle_in_transaction": [{"pid": 7, "database": "billing", "age_seconds": 900, "user": "b"},
                                     {"pid": 8, "database": "billing", "age_seconds": 800, "user": "b"}]}
    assert dflt.db_assessment(other, database="orchestrator")["status"] == "healthy"
    own = dict(other, idle_in_transaction=other["idle_in_transaction"] + [
        {"pid": 9, "database": "orchestrator", "age_seconds": 700, "user": "app", "application": "api"}])
    result = dflt.db_assessment(own, database="orchestrator")
    assert result["status"] == "degraded"
    assert result["findings"] == ["1 session(s) of orchestrator idle in a transaction; oldest: pid 9, user app, application api, 700s"]
    # Exhaustion is server-wide, but only this database's sessions are relief candidates.
    exhausted = dict(other, connections={"usage_percent": 97.0})
    assert not dflt.db_assessment(exhausted, {}, 80, 300, False, "orchestrator")["relieve"]
    assert dflt.db_assessment(exhausted, {}, 80, 300, False, "billing")["relieve"]
