# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident policy (defaults, overrides, validation), derive_severity's rules and the precedence."""

from __future__ import annotations

import itertools
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput, SeverityError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify

# --- the policy ------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, {}, "", []])
def test_empty_policy_is_the_runbooks(empty):
    policy = sev.effective_policy(empty)
    assert policy == sev.effective_policy(sev.DEFAULT_POLICY)
    assert policy["major_services"] == list(sev.MAJOR_WORKLOADS)
    assert policy["severities"]["P1"]["response_time_minutes"] == 15
    assert policy["owners"]["default"] == "development" and policy["statefulset_owners"]["crashloop"] == "database"


def test_an_effective_policy_merges_onto_itself_unchanged():
    policy = sev.effective_policy({"major_services": ["n8n"], "severities": {"P1": {"response_time_minutes": 10}}})
    assert sev.effective_policy(policy) == policy


def test_overrides_are_deep_merged_and_lists_replaced():
    policy = sev.effective_policy({
        "severities": {"P1": {"response_time_minutes": 10}},
        "major_services": ["n8n"],
        "owners": {"oom": "infrastructure"},
        "signals": {"slow_responses": "p1"},
        "alert_signals": {"ServiceDown": None, "KafkaLag": "intermittent_failures"},
        "alert_severities": {"Critical": "P0"},
    })
    assert policy["severities"]["P1"]["response_time_minutes"] == 10
    assert policy["severities"]["P1"]["escalate_after_minutes"] == 60
    assert policy["major_services"] == ["n8n"]
    assert policy["owners"]["oom"] == "infrastructure" and policy["owners"]["crashloop"] == "development"
    assert policy["signals"]["slow_responses"] == "P1" and policy["signals"]["security_alert"] == "P0"
    assert policy["alert_signals"]["ServiceDown"] is None and policy["alert_signals"]["KafkaLag"] == "intermittent_failures"
    assert policy["alert_severities"]["critical"] == "P0"


def test_defaults_are_not_changed_by_a_merge():
    sev.effective_policy({"major_services": ["x"], "severities": {"P0": {"examples": ["x"]}}})["owners"]["oom"] = "database"
    assert sev.DEFAULT_POLICY["major_services"] == list(sev.MAJOR_WORKLOADS)
    assert sev.DEFAULT_POLICY["severities"]["P0"]["examples"][0] == "All services down"
    assert sev.DEFAULT_POLICY["owners"]["oom"] == "development"


@pytest.mark.parametrize("overrides, error, where", [
    ({"owner": {}}, InvalidInput, "incident_policy.owner: unknown policy key"),
    ({"owners": {"crashlop": "development"}}, InvalidInput, "incident_policy.owners.crashlop: unknown failure class"),
    ({"statefulset_owners": {"bogus": "database"}}, InvalidInput, "incident_policy.statefulset_owners.bogus"),
    ({"owners": {"oom": "ops"}}, InvalidInput, "incident_policy.owners.oom: unknown owner 'ops'"),
    ({"severities": {"P5": {}}}, SeverityError, "incident_policy.severities.P5"),
    ({"severities": {"p1": {}}}, SeverityError, "write the severity as P1"),
    ({"severities": {"P1": {"respond_in": 5}}}, InvalidInput, "incident_policy.severities.P1.respond_in: unknown field"),
    ({"severities": {"P1": {"response_time_minutes": 0}}}, InvalidInput, "response_time_minutes: must be at least 1"),
    ({"severities": {"P1": {"response_time_minutes": "15"}}}, InvalidInput, "response_time_minutes: expected int"),
    ({"severities": {"P1": {"customer_email": "yes"}}}, InvalidInput, "P1.customer_email: expected bool"),
    ({"severities": {"P1": {"escalate_to": "Boss"}}}, InvalidInput, "not a step of the escalation chain"),
    ({"severities": {"P0": {"page": ["Primary on-call", "VP"]}}}, InvalidInput, "P0.page: 'VP' is not a step of the escalation chain"),
    ({"severities": {"P2": {"assign": "Intern"}}}, InvalidInput, "P2.assign: 'Intern' is not a step"),
    ({"severities": {"P3": {"support_queue": "yes"}}}, InvalidInput, "P3.support_queue: expected bool"),
    ({"business_hours": {"timezone": "Mars/Olympus"}}, InvalidInput, "business_hours.timezone: unknown time zone"),
    ({"business_hours": {"days": ["Mon", "Funday"]}}, InvalidInput, "business_hours.days: expected a list of week days"),
    ({"business_hours": {"start": "9"}}, InvalidInput, "business_hours.start: expected HH:MM"),
    ({"business_hours": {"start": "18:00"}}, InvalidInput, "start 18:00 must be before end 17:00"),
    ({"business_hours": {"tz": "UTC"}}, InvalidInput, "business_hours.tz: unknown business hours setting"),
    ({"severities": {"P2": {"severity": "P1"}}}, InvalidInput, "incident_policy.severities.P2.severity: must be P2"),
    ({"signals": {"data_loss": "P9"}}, SeverityError, "incident_policy.signals.data_loss"),
    ({"signals": {"dataloss": "P0"}}, InvalidInput, "incident_policy.signals.dataloss: unknown signal"),
    ({"alert_signals": {"X": "nope"}}, InvalidInput, "incident_policy.alert_signals.X: unknown signal 'nope'"),
    ({"alert_severities": {"page": "urgent"}}, SeverityError, "incident_policy.alert_severities.page"),
    ({"major_services": "api-gateway"}, InvalidInput, "incident_policy.major_services: expected a list"),
    ({"escalation_chain": []}, InvalidInput, "incident_policy.escalation_chain: must not be empty"),
    ({"teams": ["development"]}, InvalidInput, "unknown owner 'infrastructure'"),
    ({"owners": "development"}, InvalidInput, "incident_policy.owners: expected a mapping"),
    (["major_services"], InvalidInput, "incident_policy: expected a mapping"),
])
def test_bad_overrides_name_the_key(overrides, error, where):
    with pytest.raises(error) as err:
        sev.effective_policy(overrides)
    assert where in str(err.value)


def test_a_new_team_can_own_a_class():
    policy = sev.effective_policy({"teams": ["development", "infrastructure", "database", "platform"], "owners": {"oom": "platform"}})
    assert classify.owner_for("Deployment", "oom", policy) == "platform"


def test_every_classification_has_an_owner():
    assert set(classify.CLASSIFICATIONS) <= set(sev.DEFAULT_POLICY["owners"])
    assert set(sev.DEFAULT_POLICY["statefulset_owners"]) <= set(classify.CLASSIFICATIONS)
    assert all(signal in sev.DEFAULT_POLICY["signals"] for signal in sev.DEFAULT_POLICY["alert_signals"].values())


def test_severity_policy_reads_the_operators_policy():
    policy = {"severities": {"P2": {"update_interval_minutes": 45}}, "contacts": {"slack": "#sre"}, "status_page": "status.example"}
    p2 = sev.severity_policy("p2", policy)
    assert p2["update_interval_minutes"] == 45 and p2["contacts"]["slack"] == "#sre" and p2["statuspage_url"] is None
    assert sev.severity_policy("P1", policy)["statuspage_url"] == "status.example"
    assert p2["contacts"]["email"] == "oncall@ai-orchestrator.com"
    assert sev.all_policies(policy)["P2"] == p2 and sev.severity_policy("P2")["update_interval_minutes"] == 60


# --- derive_severity ---------------------------------------------------------------------


def w(name, ready, desired=2, classification=None, kind="Deployment"):
    return {"kind": kind, "name": name, "desired": desired, "ready": ready,
            "classification": classification or ("healthy" if ready == desired else "crashloop")}


@pytest.mark.parametrize("workloads, severity, rule", [
    ([w("api-gateway", 0), w("n8n", 0)], "P0", "all_services_down"),
    ([w("api-gateway", 0), w("n8n", 2)], "P1", "major_service_down"),
    ([w("api-gateway", 2), w("n8n", 0)], "P2", "service_down"),
    ([w("api-gateway", 1), w("n8n", 2)], "P2", "service_degraded"),
    ([w("api-gateway", 2), w("n8n", 2)], "P3", "no_degradation"),
    ([w("api-gateway", 0, desired=0, classification="healthy")], "P3", "no_degradation"),
    ([], "P3", "no_degradation"),
])
def test_derive_severity_rules(workloads, severity, rule):
    result = sev.derive_severity(workloads)
    assert (result["severity"], result["rule"]) == (severity, rule)
    assert result["reason"].startswith(severity + " ")


def test_the_reason_names_the_rule_and_the_services():
    result = sev.derive_severity([w("auth-service", 0), w("n8n", 2)])
    assert result["reason"] == "P1 major service down: auth-service has no ready replica"
    assert [s["signal"] for s in result["signals"]] == ["major_service_down"]
    result = sev.derive_severity([w("api-gateway", 0), w("n8n", 1)])
    assert [s["signal"] for s in result["signals"]] == ["major_service_down", "service_degraded"]
    assert result["degraded"] == ["n8n (crashloop)"] and result["down"] == ["api-gateway"]


@pytest.mark.parametrize("signal, severity", [
    ("data_loss", "P0"), ("database_corruption", "P0"), ("security_alert", "P0"),
    ("workflow_execution_failures", "P1"), ("authentication_down", "P1"), ("gateway_down", "P1"),
    ("slow_responses", "P2"), ("intermittent_failures", "P2"), ("minor_issue", "P3"),
])
def test_signals_raise_the_severity(signal, severity):
    result = sev.derive_severity([w("api-gateway", 2)], signals=[signal])
    assert result["severity"] == severity
    if severity != "P3":
        assert result["rule"] == signal and signal.replace("_", " ") in result["reason"]


def test_a_signal_never_lowers_and_observed_wins_a_tie():
    result = sev.derive_severity([w("api-gateway", 0)], signals=[{"signal": "gateway_down", "detail": "502 from the ingress"}])
    assert result["severity"] == "P0" and result["rule"] == "all_services_down"
    assert result["signals"][-1] == {"signal": "gateway_down", "severity": "P1", "detail": "502 from the ingress", "source": "given"}


def test_unknown_signal_lists_the_known_ones():
    with pytest.raises(InvalidInput, match="unknown signal 'slow'.*slow_responses"):
        sev.derive_severity([], signals=["slow"])


def test_the_policy_decides_what_is_major_and_what_a_signal_means():
    workloads = [w("n8n", 0), w("api-gateway", 2)]
    assert sev.derive_severity(workloads)["severity"] == "P2"
    assert sev.derive_severity(workloads, {"major_services": ["n8n"]})["severity"] == "P1"
    assert sev.derive_severity(workloads, {"signals": {"service_down": "P3"}})["severity"] == "P3"


def test_peers_count_for_readiness_only():
    scoped = sev.derive_severity([w("n8n", 0)], peers=[{"kind": "Deployment", "name": "api-gateway", "desired": 2, "ready": 1}])
    assert scoped["severity"] == "P2" and scoped["workloads_judged"] == 2 and scoped["degraded"] == []
    assert sev.derive_severity([w("n8n", 0)])["severity"] == "P0"


# --- alert severity -----------------------------------------------------------------------


@pytest.mark.parametrize("label, expected", [
    ("P0", "P0"), ("p2", "P2"), ("critical", "P1"), ("CRITICAL", "P1"), ("error", "P2"), ("warning", "P2"), ("info", "P3"),
    ("none", None), ("urgent", None), ("", None), (None, None),
])
def test_alert_severity_labels(label, expected):
    said = sev.alert_severity({"name": "SomethingElse", "labels": {"severity": label}})
    assert said["severity"] == expected
    if label == "urgent":
        assert any("severity=urgent" in note for note in said["ignored"])


def test_alert_name_and_label_the_more_severe_counts():
    said = sev.alert_severity({"name": "SecurityAlert", "labels": {"severity": "warning"}})
    assert said["severity"] == "P0" and said["signal"] == "security_alert" and said["ignored"] == []
    said = sev.alert_severity({"labels": {"alertname": "HighErrorRate", "severity": "critical"}})
    assert said["severity"] == "P1" and said["signal"] == "high_error_rate"
    assert sev.alert_severity({"name": "ServiceDown"}, {"alert_signals": {"ServiceDown": None}})["severity"] is None


def test_no_alert_says_nothing():
    assert sev.alert_severity(None)["severity"] is None and sev.alert_severity({})["ignored"] == []
    with pytest.raises(InvalidInput):
        sev.alert_severity("ServiceDown")


# --- precedence ---------------------------------------------------------------------------


def derived(level, reason="because"):
    return {"severity": level, "reason": reason}


def test_derived_alone():
    r = sev.resolve_severity(derived("P2"))
    assert (r["severity"], r["source"], r["raised_from"], r["lowered_from"], r["kept"], r["lowered"]) == ("P2", "derived", None, None, False, False)
    assert r["reason"] == "P2 as derived: derived P2 (because)"
    assert sev.resolve_severity("p3")["severity"] == "P3"


def test_alert_above_derived_wins_and_a_tie_is_derived():
    r = sev.resolve_severity(derived("P3"), alert={"name": "HighResponseTime", "labels": {"severity": "critical"}})
    assert (r["severity"], r["source"], r["alert"]) == ("P1", "alert", "P1")
    assert r["reason"].startswith("P1 from the alert: derived P3")
    assert sev.resolve_severity(derived("P1"), alert={"labels": {"severity": "critical"}})["source"] == "derived"
    assert sev.resolve_severity(derived("P0"), alert={"labels": {"severity": "info"}})["severity"] == "P0"


def test_requested_wins():
    r = sev.resolve_severity(derived("P0"), requested="p2", alert={"labels": {"severity": "P1"}})
    assert (r["severity"], r["source"], r["lowered"]) == ("P2", "requested", False)
    assert "derived P0" in r["reason"] and "alert" in r["reason"]


def test_requested_below_current_lowers_and_says_so():
    r = sev.resolve_severity(derived("P1"), requested="P3", current="P1")
    assert (r["severity"], r["source"], r["lowered"], r["lowered_from"]) == ("P3", "requested", True, "P1")
    assert r["reason"].startswith("requested P3 lowers the incident from P1")


def test_requested_above_current_raises():
    r = sev.resolve_severity(derived("P2"), requested="P0", current="P1")
    assert (r["severity"], r["raised_from"], r["lowered"]) == ("P0", "P1", False)


def test_continuing_never_goes_below_current():
    r = sev.resolve_severity({"severity": "P2"}, current="P1")
    assert (r["severity"], r["source"], r["kept"]) == ("P1", "current", True)
    assert r["reason"] == "kept P1: derived P2"


def test_continuing_is_raised_by_worse_evidence():
    r = sev.resolve_severity(derived("P0"), current="P2")
    assert (r["severity"], r["source"], r["raised_from"], r["kept"]) == ("P0", "derived", "P2", False)
    assert r["reason"].startswith("raised from P2: derived P0")
    r = sev.resolve_severity(derived("P2"), current="P2")
    assert (r["severity"], r["kept"], r["raised_from"]) == ("P2", False, None)


def test_nothing_but_current_keeps_it_and_nothing_at_all_fails():
    r = sev.resolve_severity("", current="P1")
    assert (r["severity"], r["source"], r["kept"]) == ("P1", "current", True)
    with pytest.raises(InvalidInput, match="no severity to decide from"):
        sev.resolve_severity(None)


def test_unknown_alert_labels_are_reported_not_fatal():
    r = sev.resolve_severity(derived("P2"), alert={"name": "Mystery", "labels": {"severity": "page-me"}})
    assert r["severity"] == "P2" and r["alert"] is None and len(r["ignored"]) == 2


@pytest.mark.parametrize("field, value", [("requested", "P7"), ("current", "high")])
def test_bad_requested_or_current_fails(field, value):
    with pytest.raises(SeverityError):
        sev.resolve_severity(derived("P2"), **{field: value})


LEVELS = ("", "P0", "P1", "P2", "P3")
LABELS = (None, "P0", "P1", "P2", "P3", "critical", "warning", "info", "bogus")


@pytest.mark.parametrize("seed", range(5))
def test_precedence_properties(seed):
    rnd = random.Random(seed)
    for dummy in range(400):
        d, req, cur, label = rnd.choice(LEVELS[1:]), rnd.choice(LEVELS), rnd.choice(LEVELS), rnd.choice(LABELS)
        name = rnd.choice((None, "SecurityAlert", "ServiceDown", "Other"))
        alert = {"name": name, "labels": {"severity": label}} if (name or label) else None
        r = sev.resolve_severity(derived(d), req, alert, cur)
        case = (d, req, cur, alert, r)
        if req:
            assert r["severity"] == req and r["source"] == "requested", case
            assert r["lowered"] == bool(cur and sev.rank(req) > sev.rank(cur)), case
        else:
            assert not r["lowered"], case
            # Never below the continued incident, nor below the evidence.
            if cur:
                assert sev.rank(r["severity"]) <= sev.rank(cur), case
            assert sev.rank(r["severity"]) <= sev.rank(d), case
            if r["alert"]:
                assert sev.rank(r["severity"]) <= sev.rank(r["alert"]), case
        if r["lowered"]:
            assert r["lowered_from"] == cur and "lowers" in r["reason"], case
        assert r["kept"] == (r["source"] == "current"), case
        assert r["raised_from"] in (None, cur) and (r["raised_from"] is None or sev.rank(r["severity"]) < sev.rank(cur)), case


def test_every_combination_is_decided():
    for d, req, cur in itertools.product(LEVELS[1:], LEVELS, LEVELS):
        assert sev.resolve_severity(d, req, None, cur)["severity"] in sev.SEVERITIES
