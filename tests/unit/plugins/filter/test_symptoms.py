# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The High Error Rate / High Response Time filters: what a playbook gets from them."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import symptoms as sflt

FILTERS = ("error_rate_assessment", "response_time_assessment", "symptom_outcome", "symptom_services", "symptom_log_targets",
           "symptom_log_patterns")


def pod(name, owner, ready=True):
    return {"name": name, "workload": {"kind": "Deployment", "name": owner}, "ready": ready,
            "containers": [{"name": "istio-proxy", "role": "sidecar"}, {"name": "gateway", "role": "main"}]}


REPORT = {"workloads": [{"kind": "Deployment", "name": "api-gateway", "rollout": {}, "gitops": None}],
          "pods": [pod("api-gateway-b", "api-gateway", ready=False), pod("api-gateway-a", "api-gateway")]}


def evidence(ratio=0.3, **extra):
    return dict({"service": "", "alert_service": "api-gateway", "report": REPORT, "plans": [],
                 "metrics": {"available": True, "series": {"error_ratio": [{"labels": {"service": "api-gateway"}, "value": ratio}]}}},
                **extra)


def test_every_filter_is_exposed_and_documented_beside_it():
    filters = sflt.FilterModule().filters()
    assert sorted(filters) == sorted(FILTERS)
    here = os.path.dirname(sflt.__file__)
    for name in FILTERS:
        with open(os.path.join(here, name + ".yml")) as handle:
            doc = yaml.safe_load(handle)
        assert doc["DOCUMENTATION"]["name"] == name and "_value" in doc["RETURN"] and doc["EXAMPLES"]


def test_error_rate_assessment_with_the_runbook_policy_by_default():
    for policy in (None, {}, ""):
        result = sflt.error_rate_assessment(evidence(0.6), policy)
        assert result["severity"] == "P1" and result["services"][0]["cause"] == "application"
    assert sflt.error_rate_assessment(evidence(0.3), None, 0.5)["status"] == "healthy"
    assert sflt.error_rate_assessment(evidence(0.3), None, 0.05, 0.25)["severity"] == "P1"


def test_response_time_assessment_positional_arguments():
    lat = evidence(metrics={"series": {"p95_seconds": [{"labels": {"service": "api-gateway"}, "value": 2.5}]}},
                   slow_statements=[{"query": "SELECT 1", "calls": 2, "mean_ms": 600}])
    assert sflt.response_time_assessment(lat)["services"][0]["cause"] == "application"
    assert sflt.response_time_assessment(lat, {}, 2.0, 500)["services"][0]["cause"] == "database"
    assert sflt.response_time_assessment(lat, {}, 3)["status"] == "healthy"


@pytest.mark.parametrize("call, words", [
    (lambda: sflt.error_rate_assessment([]), "error_rate_assessment: evidence must be a dict"),
    (lambda: sflt.error_rate_assessment(evidence(hotfix={"image": "a:1", "revision": 2})), "not both"),
    (lambda: sflt.error_rate_assessment(evidence(), None, "lots"), "error_rate_assessment"),
    (lambda: sflt.response_time_assessment(evidence(cache=[])), "response_time_assessment: cache must be a dict"),
    (lambda: sflt.error_rate_assessment(evidence(), {"owners": {"database": "nobody"}}), "unknown owner"),
    (lambda: sflt.symptom_outcome({"status": "healthy"}), "symptom_outcome expects"),
    (lambda: sflt.symptom_services(sflt.error_rate_assessment(evidence()), "down"), "prefix must be errors or latency"),
    (lambda: sflt.symptom_log_targets(sflt.error_rate_assessment(evidence()), REPORT, "many"), "symptom_log_targets"),
    (lambda: sflt.symptom_log_patterns({"results": []}), "symptom_log_patterns: results must be a list"),
    (lambda: sflt.symptom_log_patterns([{"item": {"workload": "w"}, "log_lines": ["x"]}], "("), "symptom_log_patterns"),
])
def test_bad_input_fails_the_task_with_the_filters_name(call, words):
    with pytest.raises(AnsibleFilterError, match=words) as caught:
        call()
    assert "ai_orchestrator.incident_response." in str(caught.value)


def test_outcome_and_services_through_the_filters():
    assessment = sflt.error_rate_assessment(evidence(hotfix={"image": "gw:2"}))
    plan = assessment["plans"][0]
    assert plan["action"] == "set_image" and plan["images"] == {"gateway": "gw:2"}
    assert sflt.symptom_services(assessment, "errors") == {"errors:api-gateway": {"status": "down", "reason": assessment["reason"]}}
    planned = sflt.symptom_outcome(assessment, [], {}, "yes")
    assert planned["status"] == "planned" and planned["services"] == {"api-gateway": "planned"}
    done = sflt.symptom_outcome(assessment, [{"service": "api-gateway", "ok": True, "msg": "rolled out gw:2"}],
                                {"unhealthy": [], "metrics": {"verified": True, "status": "0.2% 5xx"}})
    assert done["status"] == "resolved" and done["resolution"] == "api-gateway: rolled out gw:2"
    assert sflt.symptom_services(assessment, "errors", done)["errors:api-gateway"]["status"] == "restored"


def test_log_targets_ready_first_with_the_main_container():
    assessment = sflt.error_rate_assessment(evidence())
    assert sflt.symptom_log_targets(assessment, REPORT) == [
        {"workload": "api-gateway", "pod": "api-gateway-a", "container": "gateway"},
        {"workload": "api-gateway", "pod": "api-gateway-b", "container": "gateway"}]
    assert sflt.symptom_log_targets(assessment, REPORT, 1) == [{"workload": "api-gateway", "pod": "api-gateway-a", "container": "gateway"}]


def line(i, status=500):
    return ('2026-11-28T03:00:%02dZ [error    ] request failed  route=/api/v1/workflows method=GET status=%d request_id=%08x '
            'error="NullPointer in WorkflowSerializer.serialize (build 2.4.1-drill.3)"' % (i, status, 0xabc000 + i))


def test_log_patterns_are_grouped_per_workload_and_failed_reads_skipped():
    results = [
        {"item": {"workload": "api-gateway", "pod": "api-gateway-a", "container": "gateway"},
         "log_lines": [line(1), "2026-11-28T03:00:02Z [info     ] request ok route=/health", line(3)]},
        {"item": {"workload": "api-gateway", "pod": "api-gateway-b", "container": "gateway"}, "log_lines": [line(4), line(5, 503)]},
        {"item": {"workload": "api-gateway", "pod": "api-gateway-c", "container": "gateway"}, "failed": True,
         "msg": "pods api-gateway-c not found", "log_lines": [line(9)] * 50},
        {"item": {"workload": "langflow", "pod": "langflow-0", "container": "langflow"}, "skipped": True},
        {"item": {"workload": "n8n", "pod": "n8n-0", "container": "n8n"}, "log_lines": ["INFO all good"]},
    ]
    patterns = sflt.symptom_log_patterns(results)
    assert set(patterns) == {"api-gateway", "n8n"} and patterns["n8n"] == []
    gateway = patterns["api-gateway"]
    assert [p["count"] for p in gateway] == [4]  # status 500 and 503 are the same pattern: numbers masked
    assert "request_id=<hex>" in gateway[0]["pattern"] and "<time>" in gateway[0]["pattern"]
    assert gateway[0]["sample"] == line(5, 503)
    only_503 = sflt.symptom_log_patterns(results, r"status=503", 1)
    assert [p["count"] for p in only_503["api-gateway"]] == [1]
    assert sflt.symptom_log_patterns([]) == {}
