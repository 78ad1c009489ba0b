# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of remediation: guardrails, budget, readiness; the API parts run against the drill cluster."""
from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import remediation as rem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import GuardrailError
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f


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
    budget = rem.budget(dep, max_actions=3, window_minutes=60, now=f.NOW)
    assert budget["used"] == 2 and not budget["exhausted"]
    assert rem.budget(dep, max_actions=2, window_minutes=60, now=f.NOW)["exhausted"]


def test_history_is_bounded_and_survives_garbage():
    dep = f.deployment("x")
    dep["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = "not json"
    assert rem.history(dep) == []
    dep["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = json.dumps([{"at": f.ts(i)} for i in range(40)])
    patch = rem.history_patch(dep, {"at": f.ts(0), "action": "scale"})
    kept = json.loads(patch["metadata"]["annotations"][rem.HISTORY_ANNOTATION])
    assert len(kept) == rem.HISTORY_KEEP and kept[-1]["action"] == "scale"


def test_pod_failure_reads_kubelet_states():
    dep = f.deployment("x")
    rs = f.replicaset(dep, 1, "h")
    assert rem.pod_failure(f.pod(rs, "a")) is None
    assert rem.pod_failure(f.pod(rs, "b", ready=False, waiting="CrashLoopBackOff")).startswith("CrashLoopBackOff")
    assert rem.pod_failure(f.pod(rs, "c", ready=False, last=("OOMKilled", 137))) == "OOMKilled (exit 137)"


def test_restart_is_refused_for_recreate_and_skipped_within_interval():
    ws = wl.Workloads(client=None, namespace="ns", clock=Clock())
    with pytest.raises(GuardrailError, match="Recreate"):
        rem.plan_restart(ws, "Deployment", f.deployment("x", strategy="Recreate"), 10)
    dep = f.deployment("x")
    dep["spec"]["template"]["metadata"]["annotations"] = {rem.RESTARTED_AT: f.ts(120)}
    assert "within min_restart_interval=10m" in rem.plan_restart(ws, "Deployment", dep, 10)["skip"]
    assert rem.plan_restart(ws, "Deployment", dep, 1)["skip"] is None


def _ready_at(pod, seconds_ago):
    for condition in pod["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["lastTransitionTime"] = f.ts(seconds_ago)
    return pod


def _sample(pod, seconds_ago, cpu, memory, window="9.99s"):
    return {"metadata": {"name": pod["metadata"]["name"]}, "timestamp": f.ts(seconds_ago), "window": window,
            "containers": [{"name": pod["spec"]["containers"][0]["name"], "usage": {"cpu": cpu, "memory": memory}}]}


@pytest.mark.parametrize("text, seconds", [("9.99s", 9.99), ("1m0s", 60.0), ("1m30.5s", 90.5), ("250ms", 0.25), ("", 0.0), (None, 0.0)])
def test_metrics_windows_are_go_durations(text, seconds):
    assert rem.duration_seconds(text) == pytest.approx(seconds)


def test_ready_since_is_the_last_ready_transition():
    rs = f.replicaset(f.deployment("x"), 1, "h")
    pods = [_ready_at(f.pod(rs, "a"), 300), _ready_at(f.pod(rs, "b"), 40), _ready_at(f.pod(rs, "c", ready=False), 5)]
    assert rem.ready_since(pods) == f.NOW - 40
    assert rem.ready_since([f.pod(rs, "d")]) is None


def test_usage_is_judged_only_on_samples_taken_after_the_scale():
    """A sample whose window began before the new replicas were ready still shows the old load."""
    rs = f.replicaset(f.deployment("x"), 1, "h")
    old, new = _ready_at(f.pod(rs, "a"), 600), _ready_at(f.pod(rs, "b"), 30)
    since = rem.ready_since([old, new])
    hot = [_sample(old, 25, "480m", "100Mi"), _sample(new, 5, "50m", "100Mi")]
    assert rem.usage_after([old, new], hot, since, 0.9) == ([old["metadata"]["name"]], [])
    fresh_hot = [_sample(old, 5, "480m", "100Mi"), _sample(new, 5, "50m", "500Mi")]
    stale, saturated = rem.usage_after([old, new], fresh_hot, since, 0.9)
    assert stale == []
    assert saturated == ["pod x-h-a container x: cpu at 96% of its limit", "pod x-h-b container x: memory at 97% of its limit"]
    calm = [_sample(old, 5, "100m", "100Mi"), _sample(new, 5, "100m", "100Mi")]
    assert rem.usage_after([old, new], calm, since, 0.9) == ([], [])
    assert rem.usage_after([old, new], calm[:1], since, 0.9) == ([new["metadata"]["name"]], [])
