# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify


def container(**kw):
    base = {"name": "app", "image": "img:1", "ready": True, "restart_count": 0, "state": "running", "reason": None,
            "last_terminated": None, "limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}, "usage": None}
    base.update(kw)
    return base


def pod(name="p1", phase="Running", ready=True, containers=None, conditions=None, revision_hash="h1"):
    return {"name": name, "phase": phase, "ready": ready, "containers": containers or [container()],
            "conditions": conditions or {}, "events": [], "revision_hash": revision_hash}


@pytest.mark.parametrize(
    "value,expected",
    [("250m", 0.25), ("1Gi", 2 ** 30), ("12345n", 12345e-9), ("2", 2.0), ("1.5k", 1500.0), ("128Mi", 128 * 2 ** 20), (None, None), ("bogus", None)],
)
def test_parse_quantity(value, expected):
    assert classify.parse_quantity(value) == (pytest.approx(expected) if expected else expected)


@pytest.mark.parametrize(
    "ctr,expected",
    [
        (container(ready=False, state="waiting", reason="CrashLoopBackOff", restart_count=5, last_terminated={"reason": "Error", "exit_code": 1}), "crashloop"),
        (container(ready=False, state="waiting", reason="CrashLoopBackOff", restart_count=3, last_terminated={"reason": "OOMKilled", "exit_code": 137}), "oom"),
        (container(ready=False, state="waiting", reason="ImagePullBackOff"), "image_pull"),
        (container(ready=False, state="waiting", reason="ErrImagePull"), "image_pull"),
        (container(ready=False, state="waiting", reason="CreateContainerConfigError", message='secret "db" not found'), "config_error"),
        (container(usage={"cpu": "480m", "memory": "100Mi"}), "resource_exhaustion"),
        (container(usage={"cpu": "10m", "memory": "500Mi"}), "resource_exhaustion"),
        (container(usage={"cpu": "10m", "memory": "100Mi"}), "healthy"),
        (container(), "healthy"),
    ],
)
def test_classify_pod_by_container_state(ctr, expected):
    ready = expected in ("healthy", "resource_exhaustion")
    assert classify.classify_pod(pod(ready=ready, containers=[ctr]))[0] == expected


def test_unschedulable_and_not_ready():
    pending = pod(phase="Pending", ready=False, containers=[container(ready=False, state="waiting", reason="ContainerCreating")],
                  conditions={"PodScheduled": {"status": "False", "reason": "Unschedulable", "message": "0/4 nodes are available"}})
    cls, evidence = classify.classify_pod(pending)
    assert cls == "unschedulable" and "0/4 nodes are available" in evidence[0]
    unready = pod(ready=False, containers=[container(ready=False)], conditions={"Ready": {"status": "False", "message": "Readiness probe failed: HTTP 503"}})
    cls, evidence = classify.classify_pod(unready)
    assert cls == "not_ready" and "Readiness probe failed" in evidence[0]


def test_most_specific_failure_wins():
    ctrs = [container(name="a", ready=False, state="waiting", reason="CrashLoopBackOff", restart_count=2, last_terminated={"reason": "Error", "exit_code": 1}),
            container(name="b", ready=False, state="waiting", reason="ImagePullBackOff")]
    assert classify.classify_pod(pod(ready=False, containers=ctrs))[0] == "image_pull"


def workload(desired=2, ready=2, rollout=None, kind="Deployment", name="api-gateway"):
    return {"kind": kind, "name": name, "desired": desired, "ready": ready, "rollout": rollout or {}}


CRASHED = container(ready=False, state="waiting", reason="CrashLoopBackOff", restart_count=4, last_terminated={"reason": "Error", "exit_code": 1})


def test_transient_crash_on_one_replica_plans_delete():
    w = workload(ready=1)
    w.update(classify.classify_workload(w, [pod("a", ready=False, containers=[CRASHED]), pod("b")]))
    assert w["classification"] == "crashloop" and w["affected_pods"] == ["a"] and not w["all_replicas_affected"]
    plan = classify.plan_remediation(w)
    assert plan["action"] == "delete_pod" and plan["pods"] == ["a"]


def test_every_replica_crashing_without_rollout_escalates():
    w = workload(ready=0)
    w.update(classify.classify_workload(w, [pod("a", ready=False, containers=[CRASHED]), pod("b", ready=False, containers=[CRASHED])]))
    assert w["all_replicas_affected"] and not w["bad_rollout"]
    plan = classify.plan_remediation(w)
    assert plan["action"] == "escalate" and "persistent" in plan["reason"]


def test_single_replica_crash_gets_one_delete():
    w = workload(desired=1, ready=0, kind="StatefulSet", name="redis")
    w.update(classify.classify_workload(w, [pod("redis-0", ready=False, containers=[CRASHED])]))
    assert classify.plan_remediation(w)["action"] == "delete_pod"


def test_recent_bad_rollout_plans_rollback():
    rollout = {"recent": True, "revision": 3, "previous_revision": 2, "current_hash": "new", "age_seconds": 120}
    w = workload(ready=2, rollout=rollout)
    pull = container(ready=False, state="waiting", reason="ImagePullBackOff", image="img:broken")
    pods = [pod("old-a", revision_hash="old"), pod("old-b", revision_hash="old"), pod("new-a", ready=False, containers=[pull], revision_hash="new")]
    w.update(classify.classify_workload(w, pods))
    assert w["classification"] == "image_pull" and w["bad_rollout"]
    assert classify.plan_remediation(w)["action"] == "rollback"


def test_old_rollout_is_not_blamed():
    rollout = {"recent": False, "revision": 3, "previous_revision": 2, "current_hash": "new"}
    w = workload(ready=0, rollout=rollout)
    pods = [pod("a", ready=False, containers=[CRASHED], revision_hash="new"), pod("b", ready=False, containers=[CRASHED], revision_hash="new")]
    w.update(classify.classify_workload(w, pods))
    assert not w["bad_rollout"] and classify.plan_remediation(w)["action"] == "escalate"


def test_resource_exhaustion_scales_up_to_the_maximum():
    hot = container(usage={"cpu": "495m", "memory": "300Mi"})
    w = workload(desired=2, ready=2)
    w.update(classify.classify_workload(w, [pod("a", containers=[hot]), pod("b", containers=[hot])]))
    assert w["classification"] == "resource_exhaustion"
    assert classify.plan_remediation(w, max_replicas=5, scale_step=2)["replicas"] == 4
    w["desired"] = 5
    assert classify.plan_remediation(w, max_replicas=5)["action"] == "escalate"


def test_unschedulable_escalates_instead_of_scaling():
    pending = pod("c", phase="Pending", ready=False, containers=[container(ready=False, state="waiting", reason="ContainerCreating")],
                  conditions={"PodScheduled": {"status": "False", "reason": "Unschedulable"}})
    w = workload(desired=3, ready=2)
    w.update(classify.classify_workload(w, [pod("a"), pod("b"), pending]))
    assert w["classification"] == "unschedulable"
    assert classify.plan_remediation(w)["action"] == "escalate"


def test_missing_pods_are_unknown_and_zero_replicas_on_purpose_are_healthy():
    w = workload(desired=2, ready=0)
    assert classify.classify_workload(w, [])["classification"] == "unknown"
    w = workload(desired=0, ready=0)
    assert classify.classify_workload(w, [])["classification"] == "healthy"


def test_healthy_workload_needs_nothing():
    w = workload()
    w.update(classify.classify_workload(w, [pod("a"), pod("b")]))
    assert w["classification"] == "healthy" and classify.plan_remediation(w)["action"] == "none"


def test_one_crashed_pod_of_a_working_new_revision_is_transient():
    rollout = {"recent": True, "revision": 3, "previous_revision": 2, "current_hash": "new", "age_seconds": 120}
    w = workload(ready=1, rollout=rollout)
    pods = [pod("a", ready=False, containers=[CRASHED], revision_hash="new"), pod("b", revision_hash="new")]
    w.update(classify.classify_workload(w, pods))
    assert not w["bad_rollout"]
    assert classify.plan_remediation(w)["action"] == "delete_pod"


@pytest.mark.parametrize("value, ok", [(0.9, True), (1, True), (0.01, True), (0, False), (-0.5, False), (1.5, False), (90, False)])
def test_usage_threshold_is_a_share_of_the_limit(value, ok):
    problem = classify.usage_threshold_problem(value)
    assert (problem is None) is ok
    if not ok:
        assert "above 0 and at most 1" in problem


# --- the whole namespace: plans, action results, outcome --------------------------


def _plan(name, action, reason=None):
    return {"workload": name, "kind": "Deployment", "classification": "crashloop", "action": action,
            "pods": [], "replicas": None, "reason": reason or "%s %s" % (action, name)}


def _result(plan, failed=False, exhausted=False, msg="done"):
    return {"item": plan, "failed": failed, "budget_exhausted": exhausted, "msg": msg, "verified": not failed}


def test_plan_namespace_plans_only_the_unhealthy():
    healthy = workload()
    healthy.update(classification="healthy")
    sick = workload(name="n8n")
    sick.update(classify.classify_workload(sick, [pod("a", ready=False, containers=[CRASHED]), pod("b")]))
    plans = classify.plan_namespace([healthy, sick])
    assert [p["workload"] for p in plans] == ["n8n"] and plans[0]["action"] == "delete_pod"


def test_action_results_keep_every_action_and_skip_skipped():
    a, b, c = _plan("a", "delete_pod"), _plan("b", "scale"), _plan("c", "rollback")
    results = [_result(a), _result(b, failed=True, msg="timed out"), _result(c, exhausted=True), {"item": a, "skipped": True}]
    summary = classify.action_results(results)
    assert [(s["service"], s["ok"]) for s in summary] == [("a", True), ("b", False), ("c", False)]
    assert summary[2]["budget_exhausted"]


@pytest.mark.parametrize("failed, exhausted, escalate_plan, unhealthy, health, status", [
    (False, False, False, [], [], "resolved"),
    (True, False, False, [], [], "escalated"),
    (False, True, False, [], [], "escalated"),
    (False, False, True, [], [], "escalated"),
    (False, False, False, ["a"], [], "escalated"),
    (False, False, False, [], ["api-gateway"], "escalated"),
])
def test_outcome_escalates_on_any_reason_and_resolves_otherwise(failed, exhausted, escalate_plan, unhealthy, health, status):
    plans = [_plan("a", "delete_pod")] + ([_plan("z", "escalate", "every replica of z is failing")] if escalate_plan else [])
    actions = classify.action_results([_result(plans[0], failed=failed, exhausted=exhausted)])
    outcome = classify.judge_outcome(plans, actions, {"unhealthy": unhealthy, "health_failed": health})
    assert outcome["status"] == status
    assert outcome["escalate"] == (status == "escalated")
    assert bool(outcome["reasons"]) == outcome["escalate"]


def test_outcome_in_check_mode_is_a_plan_and_still_names_what_would_escalate():
    plans = [_plan("z", "escalate", "persistent")]
    outcome = classify.judge_outcome(plans, [], None, check_mode=True)
    assert outcome["status"] == "planned" and outcome["escalate"] and outcome["reasons"] == ["persistent"]


def test_continuing_a_healed_incident_resolves_it():
    outcome = classify.judge_outcome([], [], {"unhealthy": [], "health_failed": []})
    assert outcome["status"] == "resolved" and outcome["resolution"] == "service found healthy"
