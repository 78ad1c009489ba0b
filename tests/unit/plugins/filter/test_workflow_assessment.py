# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""workflow_assessment: one cause and one runbook step per engine (runbook 4)."""

from __future__ import annotations

import random

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import workflows as wflt

PLATFORM = [{"name": "langflow", "workload": "langflow"}, {"name": "n8n", "workload": "n8n"},
            {"name": "langsmith", "workload": ""}]


def engine(name, status="up", credentials="accepted", error=None):
    return {"name": name, "status": status, "credentials": credentials, "credentials_status": 401 if credentials == "rejected" else 200,
            "error": error, "http_status": None if status == "down" else 200}


def plan(workload, action="none", classification="healthy", reason="fine", **extra):
    return dict({"workload": workload, "kind": "Deployment", "action": action, "classification": classification,
                 "reason": reason, "owner": "development", "proposed": None, "pods": [], "replicas": None}, **extra)


def report(name, failing=()):
    return {"item": {"name": name}, "failing_workflows": list(failing)}


def wf(wid, valid=True, breaking=(), owner="team-a"):
    return {"id": wid, "name": "wf-%s" % wid, "failures": 3, "last_error": "node X failed", "owner": owner, "owner_source": "engine",
            "validation": {"valid": valid, "errors": [] if valid else [
                {"check": "unknown_node_type", "node": "X", "message": "node 'X' has unknown type 'n8n-nodes-base.gone'"}]},
            "changes": {"breaking": [{"change": "node_removed", "node": "n", "message": b} for b in breaking]}}


def verdict(result, name):
    return next(v for v in result["engines"] if v["name"] == name)


def test_all_healthy_opens_nothing():
    result = wflt.workflow_assessment([engine("langflow"), engine("n8n")], [plan("langflow"), plan("n8n")], [], None, [], PLATFORM)
    assert result["status"] == "healthy" and result["signal"] is None and result["plans"] == [] and not result["escalate"]


def test_a_down_engine_with_a_crashed_single_pod_gets_its_workload_plan():
    fix = plan("n8n", "delete_pod", "crashloop", "n8n-0 crashloops; delete", pods=["n8n-abc"])
    result = wflt.workflow_assessment([engine("n8n", "down", error="connection refused")], [fix], [], None, [], PLATFORM)
    v = verdict(result, "n8n")
    assert v["cause"] == "connectivity" and v["action"] == "remediate" and result["plans"] == [fix]
    assert result["severity"] == "P1" and result["signal"] == "workflow_execution_failures"
    assert "connection refused" in v["reason"]


def test_every_replica_failing_without_a_rollout_means_restart_the_engine_workload():
    persistent = plan("langflow", "escalate", "crashloop", "every replica of Deployment/langflow is failing (crashloop) and no recent rollout explains it")
    result = wflt.workflow_assessment([engine("langflow", "down")], [persistent], [], None, [], PLATFORM)
    assert [p["action"] for p in result["plans"]] == ["rollout_restart"]
    assert result["plans"][0]["workload"] == "langflow" and "runbook 4" in result["plans"][0]["reason"]


@pytest.mark.parametrize("blocking", [
    plan("langflow", "escalate", "node_failure", "node gone"),
    plan("langflow", "escalate", "image_pull", "cannot pull"),
    plan("langflow", "escalate", "crashloop", "the recent rollout of StatefulSet/langflow fails", kind="StatefulSet"),
    plan("langflow", "escalate", "crashloop", "managed by Argo CD", proposed="delete_pod"),
])
def test_no_restart_where_a_restart_cannot_help_or_would_be_reverted(blocking):
    result = wflt.workflow_assessment([engine("langflow", "down")], [blocking], [], None, [], PLATFORM)
    assert result["plans"] == [] and verdict(result, "langflow")["action"] == "escalate"


def test_ready_pods_and_a_silent_engine_go_to_infrastructure_not_a_restart():
    result = wflt.workflow_assessment([engine("langflow", "down")], [plan("langflow")], [], None, [], PLATFORM)
    v = verdict(result, "langflow")
    assert v["action"] == "escalate" and v["owner"] == "infrastructure" and result["plans"] == []


def test_an_external_engine_down_is_escalated():
    result = wflt.workflow_assessment([engine("langsmith", "down")], [], [], None, [], PLATFORM)
    assert verdict(result, "langsmith")["action"] == "escalate" and "outside the cluster" in result["reason"]


def test_rejected_credentials_are_reported_as_such_and_nothing_restarts():
    result = wflt.workflow_assessment([engine("n8n", credentials="rejected")], [plan("n8n", "delete_pod", "crashloop")], [], None, [], PLATFORM)
    v = verdict(result, "n8n")
    assert v["cause"] == "credentials" and v["action"] == "escalate" and result["plans"] == []
    assert "credentials" in v["reason"] and "401" in v["reason"] and v["owner"] == "infrastructure"


def test_failing_definitions_are_named_with_their_owners():
    reports = [report("n8n", [wf("7", valid=False, owner="team-payments"), wf("8")])]
    result = wflt.workflow_assessment([engine("n8n")], [plan("n8n")], reports, None, [], PLATFORM)
    v = verdict(result, "n8n")
    assert v["cause"] == "definitions" and v["action"] == "escalate"
    assert result["workflow_owners"] == [{"engine": "n8n", "id": "7", "name": "wf-7", "owner": "team-payments", "owner_source": "engine"}]
    assert "team-payments" in v["reason"] and "unknown type" in v["reason"]


def test_breaking_changes_count_as_definition_problems():
    reports = [report("langflow", [wf("a", breaking=["node 'HTTP' removed"])])]
    result = wflt.workflow_assessment([engine("langflow")], [], reports, None, [], PLATFORM)
    assert verdict(result, "langflow")["cause"] == "definitions" and "removed" in result["reason"]


def test_metrics_alone_escalate_to_development_and_queues_are_noted():
    metrics = {"series": {"failure_ratio": [{"labels": {"engine": "n8n"}, "value": 0.4}],
                          "queue_depth": [{"labels": {"engine": "n8n"}, "value": 250}]}}
    result = wflt.workflow_assessment([engine("n8n")], [], [], metrics, [{"key": "queue:x", "length": 500}], PLATFORM)
    v = verdict(result, "n8n")
    assert v["cause"] == "failure_rate" and v["failure_ratio"] == 0.4 and v["owner"] == "development"
    assert any("250" in n for n in result["notes"]) and any("queue:x" in n for n in result["notes"])


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        wflt.workflow_assessment({"engines": []})


def test_invariants_over_random_evidence():
    rng = random.Random(4)
    actions = ["none", "delete_pod", "scale", "rollback", "escalate", "raise_limits"]
    classes = ["healthy", "crashloop", "oom", "not_ready", "node_failure", "image_pull", "resource_exhaustion"]
    for _i in range(500):
        engines, plans, reports = [], [], []
        for entry in PLATFORM:
            engines.append(engine(entry["name"], rng.choice(["up", "down", "degraded"]), rng.choice(["accepted", "rejected", "not_checked"])))
            if entry["workload"] and rng.random() < 0.8:
                plans.append(plan(entry["workload"], rng.choice(actions), rng.choice(classes)))
            if rng.random() < 0.5:
                reports.append(report(entry["name"], [wf(str(j), valid=rng.random() < 0.5) for j in range(rng.randint(0, 3))]))
        result = wflt.workflow_assessment(engines, plans, reports, None, [], PLATFORM)
        # Only engines with a workload are ever acted on, at most one plan each, never on rejected credentials alone.
        acted = [p["workload"] for p in result["plans"]]
        assert len(acted) == len(set(acted)) and set(acted) <= {"langflow", "n8n"}
        for v in result["engines"]:
            if v["cause"] == "credentials":
                assert v["plan"] is None and v["action"] == "escalate"
            if v["action"] == "remediate":
                assert v["plan"] and v["plan"]["action"] in ("delete_pod", "scale", "rollback", "raise_limits", "rollout_restart")
            if v["status"] == "down":
                assert v["cause"] == "connectivity"
        # Failing means P1; healthy means no signal.
        assert (result["status"] == "failing") == (result["severity"] == "P1")
        assert result["escalate"] == any(v["action"] == "escalate" for v in result["engines"])


def test_outcome_restores_an_engine_whose_fix_worked_and_escalates_the_rest():
    fix = plan("n8n", "delete_pod", "crashloop", "delete", pods=["n8n-1"])
    verdict_ = wflt.workflow_assessment([engine("n8n", "down"), engine("langflow", credentials="rejected")], [fix], [], None, [], PLATFORM)
    ok = [{"service": "n8n", "ok": True, "msg": "deleted n8n-1", "action": "delete_pod", "kind": "Deployment"}]
    result = wflt.workflow_outcome(verdict_, ok, {"down": [], "unhealthy": [], "metrics": {"verified": True}})
    assert result["engines"] == {"n8n": "restored", "langflow": "escalated"} and result["status"] == "escalated"
    assert result["owners"] == ["infrastructure"] and "deleted n8n-1" in result["resolution"]


def test_outcome_escalates_when_the_engine_still_does_not_answer_or_the_metric_stays_high():
    fix = plan("n8n", "delete_pod", "crashloop", "delete", pods=["n8n-1"])
    verdict_ = wflt.workflow_assessment([engine("n8n", "down")], [fix], [], None, [], PLATFORM)
    ok = [{"service": "n8n", "ok": True, "msg": "deleted", "action": "delete_pod", "kind": "Deployment"}]
    assert wflt.workflow_outcome(verdict_, ok, {"down": ["n8n"]})["engines"] == {"n8n": "escalated"}
    high = wflt.workflow_outcome(verdict_, ok, {"metrics": {"verified": False, "status": "still 40% failing"}})
    assert high["status"] == "escalated" and "still 40% failing" in high["reasons"][0]
    resolved = wflt.workflow_outcome(verdict_, ok, {"metrics": {"verified": True}})
    assert resolved["status"] == "resolved" and not resolved["escalate"]
    assert wflt.workflow_outcome(verdict_, [], {}, True)["status"] == "planned"


def test_services_name_each_failing_engine_and_take_the_outcome():
    verdict_ = wflt.workflow_assessment([engine("n8n", "down"), engine("langflow")], [plan("n8n", "delete_pod", "crashloop", 'quote " in reason')],
                                        [], None, [], PLATFORM)
    assert list(wflt.workflow_services(verdict_)) == ["engine:n8n"]
    assert wflt.workflow_services(verdict_)["engine:n8n"]["status"] == "down"
    after = wflt.workflow_services(verdict_, {"engines": {"n8n": "restored"}})
    assert after["engine:n8n"]["status"] == "restored" and 'quote "' in after["engine:n8n"]["reason"]


def test_a_gateway_degraded_by_a_down_engine_is_not_a_cause_of_its_own():
    gateway = dict(engine("api-gateway", "degraded"), kind="gateway")
    result = wflt.workflow_assessment([engine("n8n", "down"), gateway], [plan("n8n", "delete_pod", "crashloop", pods=["x"])], [], None, [],
                                      PLATFORM + [{"name": "api-gateway", "workload": "api-gateway"}])
    assert verdict(result, "api-gateway")["cause"] == "healthy" and not result["escalate"]
    assert any("degraded while n8n is down" in n for n in result["notes"])
    alone = wflt.workflow_assessment([gateway], [], [], None, [], PLATFORM)
    assert verdict(alone, "api-gateway")["cause"] == "degraded"


def test_a_workflow_that_runs_again_is_not_failing():
    recovered = dict(wf("9", valid=False), recovered=True)
    result = wflt.workflow_assessment([engine("n8n")], [plan("n8n")], [report("n8n", [recovered])], None, [], PLATFORM)
    assert result["status"] == "healthy" and result["workflow_owners"] == []
