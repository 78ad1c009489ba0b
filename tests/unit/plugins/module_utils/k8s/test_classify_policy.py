# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Owners come from the incident policy; without one, from the runbook's defaults."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify


@pytest.mark.parametrize("kind, cls, owner", [
    ("Deployment", "crashloop", "development"),
    ("StatefulSet", "crashloop", "database"),
    ("StatefulSet", "node_failure", "infrastructure"),
    ("Deployment", "resource_exhaustion", "infrastructure"),
    ("DaemonSet", "image_pull", "development"),
    ("Deployment", "something_new", "development"),
])
def test_default_owners_are_todays(kind, cls, owner):
    assert classify.owner_for(kind, cls) == owner
    assert classify.OWNERS.get(cls, "development") == owner or kind == "StatefulSet"


def test_owners_follow_the_policy():
    policy = {"owners": {"crashloop": "infrastructure", "default": "infrastructure"}, "statefulset_owners": {"crashloop": "development"}}
    assert classify.owner_for("Deployment", "crashloop", policy) == "infrastructure"
    assert classify.owner_for("StatefulSet", "crashloop", policy) == "development"
    assert classify.owner_for("Deployment", "something_new", policy) == "infrastructure"
    with pytest.raises(InvalidInput, match="incident_policy.owners.crashlop"):
        classify.owner_for("Deployment", "crashloop", {"owners": {"crashlop": "development"}})


def crashed(kind="Deployment", **extra):
    return dict({"kind": kind, "name": "svc", "desired": 2, "ready": 0, "classification": "crashloop", "affected_pods": ["svc-a", "svc-b"],
                 "all_replicas_affected": True}, **extra)


def test_plans_and_outcome_route_to_the_policys_owners():
    policy = {"owners": {"crashloop": "infrastructure"}}
    assert classify.plan_namespace([crashed()])[0]["owner"] == "development"
    plans = classify.plan_namespace([crashed()], policy=policy)
    assert plans[0]["action"] == "escalate" and plans[0]["owner"] == "infrastructure"
    assert "escalate to the infrastructure owners" in plans[0]["reason"]
    others = classify.plan_others([{"kind": "DaemonSet", "name": "agent", "classification": "crashloop", "pods": ["agent-x"]}], policy)
    assert others[0]["owner"] == "infrastructure"


def test_situations_have_owners_in_the_policy():
    local = crashed(classification="image_pull", image_pull_local=True, all_replicas_affected=False)
    assert classify.plan_remediation(local)["owner"] == "infrastructure"
    assert classify.plan_remediation(local, policy={"owners": {"image_pull_local": "development"}})["owner"] == "development"
    node = crashed(classification="node_failure", failed_nodes=["n1"])
    assert classify.plan_remediation(node, policy={"owners": {"node_failure": "database"}})["owner"] == "database"


def test_outcome_without_plans_goes_to_the_default_owner():
    verification = {"unhealthy": ["svc"], "health_failed": []}
    assert classify.judge_outcome([], [], verification)["owners"] == ["development"]
    assert classify.judge_outcome([], [], verification, policy={"owners": {"default": "infrastructure"}})["owners"] == ["infrastructure"]


def test_ready_pods_with_the_metric_still_over_its_threshold_are_not_restored():
    plans = [{"workload": "svc", "action": "delete_pod", "reason": "crashed", "owner": "development"}]
    actions = [{"action": "delete_pod", "kind": "Deployment", "service": "svc", "ok": True, "msg": "deleted"}]
    ready = {"unhealthy": [], "health_failed": []}
    over = dict(ready, metrics={"verified": False, "status": "still over the threshold after 90 s"})
    outcome = classify.judge_outcome(plans, actions, over)
    assert outcome["status"] == "escalated" and outcome["reasons"] == ["metrics: still over the threshold after 90 s"]
    assert outcome["owners"] == ["development"]
    # Not verified (no Prometheus, or it failed) leaves the readiness verdict standing.
    for metrics in ({"verified": None, "status": "not verified: Prometheus at x is unreachable"}, {"verified": True}):
        assert classify.judge_outcome(plans, actions, dict(ready, metrics=metrics))["status"] == "resolved"
