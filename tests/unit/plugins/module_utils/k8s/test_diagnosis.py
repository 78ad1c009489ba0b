# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f


def platform(extra_pods=(), events=(), dep_kw=None):
    dep = f.deployment("api-gateway", **(dep_kw or {}))
    rs = f.replicaset(dep, 1, "abc")
    pods = [f.pod(rs, "x1"), f.pod(rs, "x2")] + [p(rs) for p in extra_pods]
    return {"deployments": [dep], "statefulsets": [], "replicasets": [rs], "pods": pods, "events": list(events),
            "nodes": [f.node("kwok-node-0"), f.node("kwok-node-1", pressure=("MemoryPressure",))],
            "pod_metrics": {"items": [], "error": "metrics unavailable: 404"}, "node_metrics": {"items": [], "error": None}}


def test_healthy_namespace_report():
    report = diagnosis.build_report(platform(), "ai-orchestrator", f.NOW)
    w = report["workloads"][0]
    assert w["classification"] == "healthy" and w["pods"] == ["api-gateway-abc-x1", "api-gateway-abc-x2"]
    assert w["rollout"]["state"] == "complete" and w["rollout"]["revision"] == 1
    assert report["unhealthy"] == [] and report["severity"]["severity"] == "P3"
    assert report["metrics_available"] is False and "404" in report["metrics_error"]
    assert report["nodes"][1]["pressure"] == ["MemoryPressure"]


def test_crashed_pod_is_joined_with_its_events_and_owner():
    def crashed(rs):
        return f.pod(rs, "x3", ready=False, waiting="CrashLoopBackOff", last=("Error", 1), restarts=6)

    raw = platform([crashed], [f.event("api-gateway-abc-x3", "BackOff", "Back-off restarting failed container api-gateway")],
                   dep_kw={"replicas": 3, "ready": 2})
    report = diagnosis.build_report(raw, "ai-orchestrator", f.NOW)
    w = report["workloads"][0]
    assert w["classification"] == "crashloop" and w["affected_pods"] == ["api-gateway-abc-x3"]
    bad = report["pods"][0]
    assert bad["name"] == "api-gateway-abc-x3" and bad["classification"] == "crashloop"
    assert bad["workload"] == {"kind": "Deployment", "name": "api-gateway"} and bad["restarts"] == 6
    assert bad["events"][0]["reason"] == "BackOff"
    assert bad["containers"][0]["last_terminated"] == {"reason": "Error", "exit_code": 1, "finished_at": f.ts(30), "age_seconds": 30}
    assert any("BackOff" in e for e in w["evidence"])


def test_recent_rollout_detected_from_replicasets():
    dep = f.deployment("api-gateway", revision=2, updated=1)
    old, new = f.replicaset(dep, 1, "old", age=86400), f.replicaset(dep, 2, "new", age=90)
    raw = {"deployments": [dep], "statefulsets": [], "replicasets": [old, new],
           "pods": [f.pod(old, "a"), f.pod(old, "b"), f.pod(new, "c", ready=False, waiting="ImagePullBackOff")],
           "events": [], "nodes": [], "pod_metrics": {"items": []}, "node_metrics": {"items": []}}
    w = diagnosis.build_report(raw, "ns", f.NOW)["workloads"][0]
    assert w["rollout"]["recent"] and w["rollout"]["previous_revision"] == 1 and w["rollout"]["current_hash"] == "new"
    assert w["classification"] == "image_pull" and w["bad_rollout"]


def test_usage_from_metrics_is_matched_per_container():
    raw = platform()
    raw["pod_metrics"] = {"items": [{"metadata": {"name": "api-gateway-abc-x1"},
                                     "containers": [{"name": "api-gateway", "usage": {"cpu": "490m", "memory": "200Mi"}}]}], "error": None}
    report = diagnosis.build_report(raw, "ns", f.NOW)
    assert report["metrics_available"] is True
    assert report["workloads"][0]["classification"] == "resource_exhaustion"


def test_pods_are_bounded_unhealthy_first():
    def crashed(rs):
        return f.pod(rs, "zz", ready=False, waiting="CrashLoopBackOff", last=("Error", 1), restarts=2)

    report = diagnosis.build_report(platform([crashed]), "ns", f.NOW, max_pods=1)
    assert [p["name"] for p in report["pods"]] == ["api-gateway-abc-zz"]
    assert report["summary"]["pods"] == 3 and report["summary"]["pods_reported"] == 1


def test_terminating_pods_do_not_count_against_the_workload():
    def deleting(rs):
        p = f.pod(rs, "old", ready=False, waiting="CrashLoopBackOff", last=("Error", 1), restarts=2)
        p["metadata"]["deletionTimestamp"] = f.ts(1)
        return p
    report = diagnosis.build_report(platform([deleting]), "ns", f.NOW)
    assert report["workloads"][0]["classification"] == "healthy"
