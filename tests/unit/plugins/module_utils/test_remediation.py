# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of remediation: guardrails, budget, readiness; the API parts run against the drill cluster."""
from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils import remediation as rem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.errors import GuardrailError
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils import fixtures_k8s as f


class Clock(object):
    def __init__(self, now=f.NOW):
        self.now = now

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_scale_plan_bounds():
    dep = f.deployment("x", replicas=2)
    assert rem.plan_scale("Deployment", dep, None, 2, 10, False) == {"from": 2, "to": 4}
    assert rem.plan_scale("Deployment", dep, 2, 1, 10, False) == {"from": 2, "to": 2}
    with pytest.raises(GuardrailError, match="takes the service down"):
        rem.plan_scale("Deployment", dep, 0, 1, 10, True)
    with pytest.raises(GuardrailError, match="above max_replicas=3"):
        rem.plan_scale("Deployment", dep, None, 2, 3, False)
    with pytest.raises(GuardrailError, match="allow_scale_down"):
        rem.plan_scale("Deployment", dep, 1, 1, 10, False)
    assert rem.plan_scale("Deployment", dep, 1, 1, 10, True) == {"from": 2, "to": 1}


def test_budget_counts_only_the_window():
    dep = f.deployment("x")
    entries = [{"at": f.ts(7200), "action": "scale"}, {"at": f.ts(600), "action": "delete_pod"}, {"at": f.ts(60), "action": "scale"}]
    dep["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = json.dumps(entries)
    ws = rem.Workloads(client=None, namespace="ns", clock=Clock())
    budget = ws.budget(dep, max_actions=3, window_minutes=60)
    assert budget["used"] == 2 and not budget["exhausted"]
    assert ws.budget(dep, max_actions=2, window_minutes=60)["exhausted"]


def test_history_is_bounded_and_survives_garbage():
    dep = f.deployment("x")
    dep["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = "not json"
    ws = rem.Workloads(client=None, namespace="ns", clock=Clock())
    assert ws.history(dep) == []
    dep["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = json.dumps([{"at": f.ts(i)} for i in range(40)])
    patch = ws.history_patch(dep, {"at": f.ts(0), "action": "scale"})
    kept = json.loads(patch["metadata"]["annotations"][rem.HISTORY_ANNOTATION])
    assert len(kept) == rem.HISTORY_KEEP and kept[-1]["action"] == "scale"


def test_pod_failure_reads_kubelet_states():
    dep = f.deployment("x")
    rs = f.replicaset(dep, 1, "h")
    assert rem.pod_failure(f.pod(rs, "a")) is None
    assert rem.pod_failure(f.pod(rs, "b", ready=False, waiting="CrashLoopBackOff")).startswith("CrashLoopBackOff")
    assert rem.pod_failure(f.pod(rs, "c", ready=False, last=("OOMKilled", 137))) == "OOMKilled (exit 137)"


def test_settled_needs_ready_updated_and_observed():
    dep = f.deployment("x", replicas=2, ready=2)
    assert rem.workload_settled("Deployment", dep)
    dep["metadata"]["generation"] = 2
    assert not rem.workload_settled("Deployment", dep)
    dep = f.deployment("x", replicas=2, ready=1)
    assert not rem.workload_settled("Deployment", dep)
    dep = f.deployment("x", replicas=2, ready=2, updated=1)
    assert not rem.workload_settled("Deployment", dep)


def test_restart_is_refused_for_recreate_and_skipped_within_interval():
    ws = rem.Workloads(client=None, namespace="ns", clock=Clock())
    with pytest.raises(GuardrailError, match="Recreate"):
        rem.plan_restart(ws, "Deployment", f.deployment("x", strategy="Recreate"), 10)
    dep = f.deployment("x")
    dep["spec"]["template"]["metadata"]["annotations"] = {rem.RESTARTED_AT: f.ts(120)}
    assert "within min_restart_interval=10m" in rem.plan_restart(ws, "Deployment", dep, 10)["skip"]
    assert rem.plan_restart(ws, "Deployment", dep, 1)["skip"] is None
