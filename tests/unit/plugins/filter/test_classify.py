# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import classify as flt


def test_filters_are_registered():
    assert set(flt.FilterModule().filters()) == {
        "classify_pod", "classify_workload", "remediation_plan", "remediation_plans", "remediation_results", "remediation_outcome",
        "derive_severity",
    }


def test_remediation_plan_requires_a_diagnosed_workload():
    with pytest.raises(AnsibleFilterError, match="ai_orchestrator.incident_response.remediation_plan"):
        flt.remediation_plan({"name": "x"})


def test_wrong_input_type_names_the_filter():
    with pytest.raises(AnsibleFilterError, match="classify_workload: expected a list"):
        flt.classify_workload({"name": "x"}, "not a list")


def test_string_arguments_from_jinja_are_accepted():
    w = {"kind": "Deployment", "name": "a", "desired": 2, "ready": 2, "classification": "resource_exhaustion"}
    assert flt.remediation_plan(w, "4", "2")["replicas"] == 4


# --- limits_bound ----------------------------------------------------------------


def _oom_report():
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
    from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f
    from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import test_workload_shapes as shapes

    killed = {"statuses": {shapes.MAIN: shapes.crashing(reason="OOMKilled", exit_code=137)}}
    app = shapes.statefulset_app("redis", [killed], containers=[shapes.ctr("redis", "redis:7.0", limits={"memory": "512Mi"})])
    return diagnosis.build_report(shapes.raw_namespace(app), shapes.NS, f.NOW)


def test_remediation_plans_raise_limits_with_a_bound_from_the_report_pods():
    report = _oom_report()
    [plain] = flt.remediation_plans(report, "10", "1")
    assert plain["action"] == "delete_pod" and "limits" not in plain
    [plan] = flt.remediation_plans(report, "10", "1", None, {"memory": "4Gi", "factor": "2"})
    assert (plan["action"], plan["limits"], plan["previous_limits"]) == ("raise_limits", {"redis": {"memory": "1Gi"}}, {"redis": {"memory": "512Mi"}})
    assert flt.remediation_plans(report, 10, 1, None, {}) == [plain]


def test_remediation_plan_with_a_bound_needs_the_pods():
    report = _oom_report()
    workload = report["workloads"][0]
    with pytest.raises(AnsibleFilterError, match="remediation_plan: limits_bound needs pods, the pod summaries of the diagnosis"):
        flt.remediation_plan(workload, limits_bound={"memory": "4Gi"})
    assert flt.remediation_plan(workload, limits_bound={"memory": "4Gi"}, pods=report["pods"])["action"] == "raise_limits"
    assert flt.remediation_plan(workload, limits_bound=None, pods=report["pods"]) == flt.remediation_plan(workload)


@pytest.mark.parametrize("bound, message", [
    ({"memory": "big"}, "remediation_plans: limits_bound.memory must be a Kubernetes quantity"),
    ({"memory": "4Gi", "factor": 0.5}, "remediation_plans: limits_bound.factor must be a number above 1"),
    ("4Gi", "remediation_plans: expected a dict, got str"),
])
def test_an_unusable_bound_names_the_filter(bound, message):
    with pytest.raises(AnsibleFilterError, match="ai_orchestrator.incident_response." + message):
        flt.remediation_plans(_oom_report(), limits_bound=bound)
