# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The policy and precedence filters, directly and through Ansible's templating by FQCN."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError, AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import classify as cflt
from ansible_collections.ai_orchestrator.incident_response.plugins.filter import incident as iflt

FQCN = "ai_orchestrator.incident_response."
WORKLOADS = [{"kind": "Deployment", "name": "n8n", "desired": 1, "ready": 0, "classification": "crashloop"},
             {"kind": "Deployment", "name": "api-gateway", "desired": 2, "ready": 2, "classification": "healthy"}]


def render(expression, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def test_incident_policy_filter_merges_and_names_itself_on_error():
    assert iflt.incident_policy(None)["major_services"][0] == "api-gateway"
    assert iflt.incident_policy({"major_services": ["n8n"]})["major_services"] == ["n8n"]
    with pytest.raises(AnsibleFilterError, match=FQCN + "incident_policy: incident_policy.owners.crashlop: unknown failure class"):
        iflt.incident_policy({"owners": {"crashlop": "development"}})


def test_severity_policy_filter_takes_the_policy():
    assert iflt.severity_policy("P1", {"severities": {"P1": {"response_time_minutes": 10}}})["response_time_minutes"] == 10
    with pytest.raises(AnsibleFilterError, match=FQCN + "severity_policy: incident_policy.bogus"):
        iflt.severity_policy("P1", {"bogus": 1})


def test_incident_severity_filter():
    r = iflt.incident_severity({"severity": "P2", "reason": "x"}, "", {"name": "ServiceDown", "labels": {}}, "P1")
    assert (r["severity"], r["source"], r["kept"]) == ("P1", "current", True)
    with pytest.raises(AnsibleFilterError, match=FQCN + "incident_severity: invalid severity 'P7'"):
        iflt.incident_severity("P2", "P7")


def test_incident_severity_through_the_template_engine():
    decided = render("{{ derived | ai_orchestrator.incident_response.incident_severity(requested=req, current=cur, alert=alert,"
                     " policy=policy) }}",
                     derived={"severity": "P2", "reason": "degraded"}, req="P3", cur="P1",
                     alert={"name": "HighErrorRate", "labels": {"severity": "warning"}}, policy={})
    assert decided["severity"] == "P3" and decided["lowered"] is True and decided["lowered_from"] == "P1"
    with pytest.raises(AnsibleError, match=FQCN + "incident_severity"):
        render("{{ 'P2' | ai_orchestrator.incident_response.incident_severity('urgent') }}")


def test_derive_severity_filter_policy_signals_and_peers():
    assert cflt.derive_severity(WORKLOADS)["severity"] == "P2"
    assert cflt.derive_severity(WORKLOADS, ["n8n"])["severity"] == "P1"
    assert cflt.derive_severity(WORKLOADS, "n8n")["severity"] == "P1"
    assert cflt.derive_severity(WORKLOADS, policy={"major_services": ["n8n"]})["rule"] == "major_service_down"
    assert cflt.derive_severity(WORKLOADS, signals=["security_alert"])["severity"] == "P0"
    assert cflt.derive_severity(WORKLOADS[:1])["severity"] == "P0"
    assert cflt.derive_severity(WORKLOADS[:1], peers=[dict(WORKLOADS[1])])["severity"] == "P2"
    with pytest.raises(AnsibleFilterError, match=FQCN + "derive_severity: unknown signal"):
        cflt.derive_severity(WORKLOADS, signals=["nope"])
    with pytest.raises(AnsibleFilterError, match=FQCN + "derive_severity: incident_policy.major"):
        cflt.derive_severity(WORKLOADS, policy={"major": []})


def test_plan_and_outcome_filters_take_the_policy():
    report = {"workloads": [dict(WORKLOADS[0], affected_pods=["n8n-a"], all_replicas_affected=True)], "others": []}
    policy = {"owners": {"crashloop": "infrastructure"}}
    assert cflt.remediation_plans(report)[0]["owner"] == "development"
    plans = cflt.remediation_plans(report, 10, 1, policy)
    assert plans[0]["owner"] == "infrastructure"
    assert cflt.remediation_plan(report["workloads"][0], policy=policy)["owner"] == "infrastructure"
    outcome = cflt.remediation_outcome([], [], {"unhealthy": ["n8n"]}, False, {"owners": {"default": "database"}})
    assert outcome["owners"] == ["database"]
    with pytest.raises(AnsibleFilterError, match=FQCN + "remediation_plans: incident_policy.owners.oom: unknown owner"):
        cflt.remediation_plans(report, policy={"owners": {"oom": "nobody"}})
