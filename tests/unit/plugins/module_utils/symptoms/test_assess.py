# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""symptoms.assess: one cause and one runbook step per service (runbook 2 high error rate, 3 high response time)."""

from __future__ import annotations

import copy
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.symptoms import assess

# What workload_remediation knows (its action choices).
REMEDIATION_ACTIONS = ("delete_pod", "scale", "rollout_restart", "rollback", "raise_limits", "set_image")
SERVICES = ("api-gateway", "langflow", "n8n", "langsmith")


# -- evidence builders -------------------------------------------------------------------------------------------


def rollout(revision=4, previous=3, recent=True, state="complete", age=600):
    return {"state": state, "revision": revision, "previous_revision": previous, "current_hash": "abc", "age_seconds": age,
            "recent": recent, "message": None}


def workload(name, kind="Deployment", roll=None, gitops=None):
    return {"kind": kind, "name": name, "desired": 2, "current": 2, "ready": 2, "available": 2, "updated": 2,
            "images": ["registry.local/%s:2.4.1" % name], "strategy": "RollingUpdate",
            "rollout": roll if roll is not None else rollout(recent=False), "hpa": None, "gitops": gitops, "events": [],
            "replicaset_events": []}


def container(name, role="main", usage=None, limits=None):
    return {"name": name, "role": role, "image": "registry.local/%s:2.4.1" % name, "ready": True, "restart_count": 0,
            "state": "running", "reason": None, "exit_code": None, "message": None, "last_terminated": None,
            "requests": {}, "limits": limits or {}, "usage": usage}


def pod(name, owner, kind="Deployment", ready=True, containers=None):
    return {"name": name, "uid": "uid-" + name, "workload": {"kind": kind, "name": owner}, "phase": "Running", "ready": ready,
            "node": "node-1", "restarts": 0, "deleting": False, "conditions": {},
            "containers": containers if containers is not None else [container("proxy", "sidecar"), container(owner)],
            "init_containers": [], "events": []}


def report(workloads=(), pods=()):
    return {"namespace": "ai-orchestrator", "workloads": list(workloads), "pods": list(pods)}


def series(name, values, **labels):
    return {name: [{"labels": dict({"service": s}, **labels), "value": v} for s, v in values.items()]}


def metrics(**named):
    out = {}
    for name, values in named.items():
        if isinstance(values, dict):
            out.update(series(name, values))
        else:
            out[name] = values
    return {"series": out}


def plan(name, action="none", classification="healthy", reason="fine", kind="Deployment", owner="development", **extra):
    return dict({"workload": name, "kind": kind, "action": action, "classification": classification, "reason": reason,
                 "owner": owner, "proposed": None, "pods": [], "replicas": None}, **extra)


def engine(name, status="up", credentials="accepted", latency_ms=40, kind="engine"):
    return {"name": name, "kind": kind, "status": status, "credentials": credentials,
            "credentials_status": 401 if credentials == "rejected" else 200, "latency_ms": latency_ms,
            "error": "connection refused" if status == "down" else None, "http_status": None if status == "down" else 200}


GATEWAY = workload("api-gateway")
GATEWAY_PODS = [pod("api-gateway-7d9-a", "api-gateway", containers=[container("istio-proxy", "sidecar"), container("gateway")]),
                pod("api-gateway-7d9-b", "api-gateway", containers=[container("istio-proxy", "sidecar"), container("gateway")])]


def errors(ratios=None, **extra):
    """High Error Rate evidence: the gateway failing 30% by default, nothing else wrong."""
    evidence = {"service": "", "alert_service": "api-gateway",
                "metrics": metrics(error_ratio=ratios if ratios is not None else {"api-gateway": 0.3, "langflow": 0.001}),
                "report": report([GATEWAY, workload("langflow")], GATEWAY_PODS),
                "plans": [plan("api-gateway"), plan("langflow")], "database": {"status": "healthy", "reason": None},
                "engines": [engine("langflow"), engine("n8n")], "logs": {}, "before_rollout": {}, "hotfix": None,
                "service_workloads": {}}
    evidence.update(extra)
    return evidence


def latency(p95=None, **extra):
    """High Response Time evidence: the gateway at 3.5 s p95 by default, nothing else wrong."""
    evidence = {"service": "", "alert_service": "api-gateway",
                "metrics": metrics(p95_seconds=p95 if p95 is not None else {"api-gateway": 3.5, "langflow": 0.2}),
                "report": report([GATEWAY, workload("langflow")], GATEWAY_PODS),
                "plans": [plan("api-gateway"), plan("langflow")], "cache": {"status": "healthy", "reason": None},
                "database": {"status": "healthy"}, "slow_statements": [], "engines": [engine("langflow"), engine("n8n")],
                "traces": {}, "service_workloads": {}}
    evidence.update(extra)
    return evidence


def only(result, service="api-gateway"):
    assert [v["service"] for v in result["services"]] == [service], result["services"]
    return result["services"][0]


# -- High Error Rate ---------------------------------------------------------------------------------------------


def test_error_rate_causes_in_their_order_of_precedence():
    """Every cause present at once; removing the winner each time reveals the next one in the documented order."""
    evidence = errors(
        plans=[plan("api-gateway", "delete_pod", "crashloop", "api-gateway-7d9-a crashloops; delete it", pods=["api-gateway-7d9-a"])],
        database={"status": "unavailable", "reason": "connection refused"},
        engines=[engine("n8n", "down")],
        hotfix={"revision": 2},
        report=report([workload("api-gateway", roll=rollout())], GATEWAY_PODS),
        logs={"api-gateway": [{"pattern": "ERROR NullPointer in WorkflowSerializer", "count": 12, "sample": "x"}]})
    removals = [("plans", []), ("database", {"status": "healthy"}), ("engines", [engine("n8n")]), ("hotfix", None),
                ("report", report([GATEWAY], GATEWAY_PODS))]
    seen = []
    for key, value in removals + [(None, None)]:
        seen.append(only(assess.error_rate(evidence))["cause"])
        if key:
            evidence = dict(evidence, **{key: value})
    assert seen == ["workload", "database", "dependency", "hotfix", "rollout", "application"]


def test_an_unhealthy_workload_gets_service_downs_plan():
    fix = plan("api-gateway", "delete_pod", "crashloop", "api-gateway-7d9-a crashloops", owner="development", pods=["api-gateway-7d9-a"])
    result = assess.error_rate(errors(plans=[fix], database={"status": "unavailable", "reason": "refused"}))
    v = only(result)
    assert v["cause"] == "workload" and v["action"] == "remediate" and v["plan"] == fix and result["plans"] == [fix]
    assert "30.0%" in v["reason"] and "crashloops" in v["reason"] and not result["escalate"]


def test_a_workload_plan_to_escalate_is_escalated_without_a_plan():
    blocked = plan("api-gateway", "escalate", "node_failure", "node-1 is NotReady", owner="infrastructure")
    result = assess.error_rate(errors(plans=[blocked]))
    v = only(result)
    assert v["cause"] == "workload" and v["action"] == "escalate" and v["plan"] is None and result["plans"] == []
    assert result["escalate"] and result["owners"] == ["infrastructure"] and "NotReady" in v["reason"]


def test_a_plan_of_a_same_named_workload_of_another_kind_does_not_count():
    other = plan("api-gateway", "delete_pod", "crashloop", kind="StatefulSet")
    assert only(assess.error_rate(errors(plans=[other])))["cause"] == "application"


def test_a_failing_database_is_escalated_to_its_owners_and_is_p1():
    result = assess.error_rate(errors({"langflow": 0.2}, database={"status": "unavailable", "reason": "connection refused"}))
    v = only(result, "langflow")
    assert v["cause"] == "database" and v["action"] == "escalate" and v["owner"] == "database" and v["plan"] is None
    assert "connection refused" in v["reason"]
    assert result["signal"] == "major_feature_failing" and result["severity"] == "P1"
    assert result["context"]["database"] == "connection refused"


def test_a_critical_database_counts_a_degraded_one_does_not():
    assert only(assess.error_rate(errors(database={"status": "critical", "reason": "connections exhausted"})))["cause"] == "database"
    assert only(assess.error_rate(errors(database={"status": "degraded", "reason": "slow"})))["cause"] == "application"


@pytest.mark.parametrize("engines, owner, words", [
    ([engine("n8n", "down")], "infrastructure", "n8n does not answer (connection refused)"),
    ([engine("n8n", credentials="rejected")], "infrastructure", "n8n rejects the configured credentials (HTTP 401)"),
])
def test_a_failing_dependency_is_reported_and_nothing_restarts(engines, owner, words):
    result = assess.error_rate(errors(engines=engines))
    v = only(result)
    assert v["cause"] == "dependency" and v["action"] == "escalate" and v["plan"] is None and result["plans"] == []
    assert words in v["reason"] and v["owner"] == owner


def test_credentials_and_connectivity_owners_follow_the_policy():
    policy = {"owners": {"engine_credentials": "development", "engine_connectivity": "database"}}
    rejected = assess.error_rate(errors(engines=[engine("n8n", credentials="rejected")]), policy)
    assert only(rejected)["owner"] == "development"
    both = assess.error_rate(errors(engines=[engine("n8n", credentials="rejected"), engine("langflow", "down")]), policy)
    assert only(both)["owner"] == "database"


def test_a_slow_engine_or_the_gateway_itself_is_no_error_cause():
    slow = engine("n8n", latency_ms=9000)
    gateway = engine("api-gateway", "down", kind="gateway")
    assert only(assess.error_rate(errors(engines=[slow, gateway])))["cause"] == "application"


def test_a_recent_rollout_the_errors_started_with_is_rolled_back():
    evidence = errors(report=report([workload("api-gateway", roll=rollout(revision=7, previous=6, age=900))], GATEWAY_PODS),
                      before_rollout={"api-gateway": 0.001})
    result = assess.error_rate(evidence)
    v = only(result)
    assert v["cause"] == "rollout" and v["action"] == "remediate" and result["plans"] == [v["plan"]]
    assert v["plan"]["action"] == "rollback" and v["plan"]["workload"] == "api-gateway" and v["plan"]["kind"] == "Deployment"
    assert "revision" not in v["plan"]  # the previous revision: workload_remediation's default
    assert v["plan"]["force"] is True  # the rollout is healthy to Kubernetes: the errors are the evidence
    assert "revision 7 of api-gateway rolled out 15 min ago" in v["reason"] and "(0.1% before it)" in v["reason"]


def test_a_rollout_is_not_blamed_when_the_errors_were_already_there():
    evidence = errors(report=report([workload("api-gateway", roll=rollout(revision=7))], GATEWAY_PODS), before_rollout={"api-gateway": 0.2})
    result = assess.error_rate(evidence)
    v = only(result)
    assert v["cause"] == "application" and v["action"] == "escalate" and result["plans"] == []
    assert "already at 20.0% before the rollout to revision 7" in v["reason"]


def test_a_ratio_exactly_at_the_threshold_before_the_rollout_still_blames_it():
    evidence = errors(report=report([workload("api-gateway", roll=rollout())], GATEWAY_PODS), before_rollout={"api-gateway": 0.05})
    assert only(assess.error_rate(evidence))["cause"] == "rollout"


@pytest.mark.parametrize("roll", [
    rollout(recent=False), rollout(previous=None), rollout(state="stalled"), rollout(state="paused"),
])
def test_no_rollout_to_blame_when_it_is_old_first_or_not_done(roll):
    evidence = errors(report=report([workload("api-gateway", roll=roll)], GATEWAY_PODS))
    assert only(assess.error_rate(evidence))["cause"] == "application"


def test_a_gitops_managed_rollout_is_escalated_with_the_proposal():
    argo = {"manager": "Argo CD", "marker": "annotation argocd.argoproj.io/tracking-id=x"}
    evidence = errors(report=report([workload("api-gateway", roll=rollout(revision=5), gitops=argo)], GATEWAY_PODS))
    result = assess.error_rate(evidence)
    v = only(result)
    assert v["cause"] == "rollout" and v["action"] == "escalate" and v["plan"] is None and result["plans"] == []
    assert "managed by Argo CD: roll back in git" in v["reason"] and "revision 5" in v["reason"] and result["escalate"]


def test_a_statefulset_rollout_is_escalated_with_the_proposal():
    sts = workload("langflow", kind="StatefulSet", roll=rollout(revision="langflow-6c9", previous="langflow-5b8", state="progressing", age=None))
    evidence = errors({"langflow": 0.4}, report=report([sts], [pod("langflow-0", "langflow", kind="StatefulSet")]))
    v = only(assess.error_rate(evidence), "langflow")
    assert v["cause"] == "rollout" and v["action"] == "escalate" and v["plan"] is None
    assert "a StatefulSet rollback is a human decision" in v["reason"] and "langflow-6c9" in v["reason"]


def test_a_hotfix_image_goes_to_the_main_container():
    result = assess.error_rate(errors(hotfix={"image": "registry.local/api-gateway:2.4.2"}))
    v = only(result)
    assert v["cause"] == "hotfix" and v["action"] == "remediate" and result["plans"] == [v["plan"]]
    assert v["plan"]["action"] == "set_image" and v["plan"]["images"] == {"gateway": "registry.local/api-gateway:2.4.2"}
    assert v["plan"]["workload"] == "api-gateway" and v["plan"]["kind"] == "Deployment"
    assert "gateway=registry.local/api-gateway:2.4.2" in v["reason"] and result["notes"] == []


def test_a_hotfix_image_for_a_named_container_or_several():
    named = only(assess.error_rate(errors(hotfix={"image": "proxy:1.2", "container": "istio-proxy"})))
    assert named["plan"]["images"] == {"istio-proxy": "proxy:1.2"}
    several = only(assess.error_rate(errors(hotfix={"image": {"gateway": "gw:2", "istio-proxy": "proxy:2"}})))
    assert several["plan"]["images"] == {"gateway": "gw:2", "istio-proxy": "proxy:2"}


def test_a_hotfix_image_without_a_container_to_put_it_in_is_refused():
    with pytest.raises(InvalidInput, match="hotfix.container"):
        assess.error_rate(errors(hotfix={"image": "gw:2"}, report=report([GATEWAY], [])))


def test_a_hotfix_of_a_statefulset_or_a_gitops_workload_is_escalated_with_the_proposal():
    """workload_remediation refuses set_image and rollback on a StatefulSet; GitOps would revert a kubectl change."""
    sts = workload("langflow", kind="StatefulSet")
    evidence = errors({"langflow": 0.4}, hotfix={"image": "langflow:1.2"},
                      report=report([sts], [pod("langflow-0", "langflow", kind="StatefulSet")]))
    result = assess.error_rate(evidence)
    v = only(result, "langflow")
    assert v["cause"] == "hotfix" and v["action"] == "escalate" and v["plan"] is None and result["plans"] == []
    assert "langflow=langflow:1.2" in v["reason"] and "StatefulSet" in v["reason"] and result["notes"] == []
    flux = {"manager": "Flux", "marker": "label kustomize.toolkit.fluxcd.io/name=platform"}
    managed = assess.error_rate(errors(hotfix={"revision": 2}, report=report([workload("api-gateway", gitops=flux)], GATEWAY_PODS)))
    v = only(managed)
    assert v["action"] == "escalate" and "revision 2" in v["reason"] and "managed by Flux: roll it out in git" in v["reason"]


def test_a_hotfix_revision_is_a_rollback_to_that_revision():
    v = only(assess.error_rate(errors(hotfix={"revision": "3"})))
    assert v["cause"] == "hotfix" and v["plan"]["action"] == "rollback" and v["plan"]["revision"] == 3
    assert "images" not in v["plan"] and "revision 3" in v["reason"]


def test_a_hotfix_beats_a_recent_rollout():
    evidence = errors(hotfix={"revision": 2}, report=report([workload("api-gateway", roll=rollout())], GATEWAY_PODS))
    assert only(assess.error_rate(evidence))["plan"]["revision"] == 2


@pytest.mark.parametrize("hotfix, words", [
    ({"image": "gw:2", "revision": 3}, "not both"),
    ({"revision": "three"}, "revision number"),
    ({"revision": -1}, "positive"),
    ({"image": ["gw:2"]}, "image reference"),
    ("gw:2", "must be a dict"),
])
def test_a_bad_hotfix_is_refused(hotfix, words):
    with pytest.raises(InvalidInput, match=words):
        assess.error_rate(errors(hotfix=hotfix))


def test_a_hotfix_that_does_not_address_the_cause_is_not_applied_and_says_so():
    result = assess.error_rate(errors(hotfix={"image": "gw:2"}, database={"status": "unavailable", "reason": "down"}))
    assert only(result)["cause"] == "database" and result["plans"] == []
    assert result["notes"] == ["the hotfix was not applied: the errors have another cause (database)"]
    healthy = assess.error_rate(errors({"api-gateway": 0.01}, hotfix={"image": "gw:2"}))
    assert healthy["notes"] == ["the hotfix was not applied: no affected service"]


def test_application_errors_are_escalated_with_the_patterns_and_failing_routes():
    routes = [{"labels": {"service": "api-gateway", "route": "/api/v1/workflows/%d" % i, "method": "GET", "code": "500", "job": "x"},
               "value": i / 100.0} for i in range(8)]
    routes.append({"labels": {"service": "langflow", "route": "/other", "method": "GET", "code": "500"}, "value": 0.9})
    patterns = [{"pattern": "ERROR request failed route=<path> status=<n>", "count": 40 - i, "sample": "s%d" % i} for i in range(7)]
    evidence = errors(metrics={"series": dict(series("error_ratio", {"api-gateway": 0.3}), errors_by_route=routes)},
                      logs={"api-gateway": patterns})
    v = only(assess.error_rate(evidence))
    assert v["cause"] == "application" and v["owner"] == "development" and v["action"] == "escalate"
    assert [r["value"] for r in v["routes"]] == [0.07, 0.06, 0.05, 0.04, 0.03]
    assert set(v["routes"][0]) == {"route", "method", "code", "value"}
    assert v["patterns"] == patterns[:5]
    assert "40x ERROR request failed" in v["reason"] and "38x" in v["reason"] and "37x" not in v["reason"]


def test_application_errors_without_log_lines_say_so():
    assert "(no error lines in its pods' logs)" in only(assess.error_rate(errors()))["reason"]


@pytest.mark.parametrize("ratio, service, signal, severity", [
    (0.5, "api-gateway", "major_feature_failing", "P1"),
    (0.9, "api-gateway", "major_feature_failing", "P1"),
    (0.49, "api-gateway", "high_error_rate", "P2"),
    (0.9, "langflow", "high_error_rate", "P2"),
])
def test_severity_is_p1_for_a_major_service_failing_most_requests(ratio, service, signal, severity):
    result = assess.error_rate(errors({service: ratio}))
    assert result["status"] == "degraded" and result["signal"] == signal and result["severity"] == severity


def test_a_major_service_is_known_by_its_workload_name_too():
    """major_services names workloads; a service served by a major workload under another name is major."""
    evidence = errors({"gateway": 0.8}, service_workloads={"gateway": "api-gateway"})
    result = assess.error_rate(evidence)
    assert only(result, "gateway")["workload"] == "api-gateway" and result["severity"] == "P1"


def test_a_failing_database_is_p1_whatever_the_cause_each_service_gets():
    """A workload plan wins over the database as the cause, but the database still fails: a major feature."""
    fix = plan("api-gateway", "delete_pod", "crashloop", pods=["api-gateway-7d9-a"])
    result = assess.error_rate(errors(plans=[fix], database={"status": "unavailable", "reason": "refused"}))
    assert only(result)["cause"] == "workload" and result["severity"] == "P1"


def test_severity_and_major_ratio_follow_the_policy_and_arguments():
    policy = {"signals": {"high_error_rate": "P3", "major_feature_failing": "P0"}}
    assert assess.error_rate(errors({"langflow": 0.3}), policy)["severity"] == "P3"
    assert assess.error_rate(errors({"api-gateway": 0.3}), policy, major_ratio=0.25)["severity"] == "P0"
    assert assess.error_rate(errors({"api-gateway": 0.6}), {"major_services": ["n8n"]})["severity"] == "P2"


def test_services_under_the_threshold_are_healthy():
    result = assess.error_rate(errors({"api-gateway": 0.05, "langflow": 0.2, "n8n": 0.0}))
    assert [v["service"] for v in result["services"]] == ["langflow"]
    healthy = assess.error_rate(errors({"api-gateway": 0.01, "langflow": 0.05}))
    assert healthy["status"] == "healthy" and healthy["signal"] is None and healthy["severity"] is None
    assert healthy["services"] == [] and healthy["plans"] == [] and not healthy["escalate"]
    assert healthy["reason"] == "every service answers under 5% 5xx"


def test_the_threshold_is_an_argument():
    assert assess.error_rate(errors({"api-gateway": 0.03}), None, 0.02)["status"] == "degraded"
    assert assess.error_rate(errors({"api-gateway": 0.3}), None, "0.5")["status"] == "healthy"


def test_the_highest_value_of_a_service_counts():
    evidence = errors(metrics={"series": {"error_ratio": [
        {"labels": {"service": "api-gateway", "instance": "a"}, "value": 0.01},
        {"labels": {"service": "api-gateway", "instance": "b"}, "value": 0.2},
        {"labels": {"service": "api-gateway", "instance": "c"}, "value": 0.02},
        {"labels": {}, "value": 0.9}, {"labels": {"service": "n8n"}, "value": None}, "junk"]}})
    assert only(assess.error_rate(evidence))["error_ratio"] == 0.2


def test_without_metrics_the_alerts_service_is_assessed():
    result = assess.error_rate(errors(metrics={}, alert_service="api-gateway"))
    v = only(result)
    assert v["error_ratio"] is None and "answers too many of requests with 5xx" in v["reason"]
    assert result["severity"] == "P2"
    assert assess.error_rate(errors(metrics=None, alert_service=""))["status"] == "healthy"
    scoped = assess.error_rate(errors(metrics={}, service="langflow", alert_service="langflow"))
    assert only(scoped, "langflow")["cause"] == "application"


def test_metrics_read_without_a_series_mean_no_5xx_at_all():
    """The 5xx ratio query returns nothing while no service answers 5xx: that is healthy, not unreadable."""
    answered = {"available": True, "reason": "", "series": {"error_ratio": [], "errors_by_route": []}}
    assert assess.error_rate(errors(metrics=answered))["status"] == "healthy"
    assert assess.error_rate(errors(metrics=answered, service="api-gateway"))["status"] == "healthy"
    assert assess.response_time(latency(metrics=dict(answered, series={"p95_seconds": []})))["status"] == "healthy"
    failed = {"available": False, "reason": "Prometheus timed out", "series": {}}
    assert only(assess.error_rate(errors(metrics=failed)))["error_ratio"] is None
    assert only(assess.error_rate(errors(metrics=failed, service="api-gateway")))["error_ratio"] is None
    assert only(assess.response_time(latency(metrics=failed)))["p95_seconds"] is None


def test_a_scope_assesses_that_service_only():
    evidence = errors({"api-gateway": 0.3, "langflow": 0.4}, service="langflow")
    assert only(assess.error_rate(evidence), "langflow")["error_ratio"] == 0.4
    assert assess.error_rate(errors({"api-gateway": 0.3, "langflow": 0.01}, service="langflow"))["status"] == "healthy"


def test_a_service_is_matched_to_its_workload_by_the_mapping():
    evidence = errors({"gateway": 0.3}, service_workloads={"gateway": "api-gateway"},
                      plans=[plan("api-gateway", "scale", "resource_exhaustion", replicas=4)])
    v = only(assess.error_rate(evidence), "gateway")
    assert v["workload"] == "api-gateway" and v["kind"] == "Deployment" and v["cause"] == "workload"


def test_a_service_without_a_workload_is_still_assessed():
    v = only(assess.error_rate(errors({"langsmith": 0.3}, hotfix={"image": "x:1"})), "langsmith")
    assert v["workload"] is None and v["kind"] is None and v["cause"] == "application"


@pytest.mark.parametrize("field, value, words", [
    ("report", [], "report must be a dict"),
    ("plans", {}, "plans must be a list"),
    ("engines", "n8n", "engines must be a list"),
    ("metrics", [], "metrics must be a dict"),
    ("before_rollout", [], "before_rollout must be a dict"),
    ("service_workloads", ["x"], "service_workloads must be a dict"),
])
def test_bad_evidence_is_refused(field, value, words):
    with pytest.raises(InvalidInput, match=words):
        assess.error_rate(errors(**{field: value}))
    with pytest.raises(InvalidInput, match="evidence must be a dict"):
        assess.error_rate([])


def test_the_evidence_is_not_changed():
    evidence = errors(hotfix={"image": "gw:2"}, plans=[plan("api-gateway", "delete_pod", "crashloop")])
    before = copy.deepcopy(evidence)
    assess.error_rate(evidence)
    assess.response_time(latency())
    assert evidence == before


# -- High Response Time ------------------------------------------------------------------------------------------


def test_response_time_causes_in_their_order_of_precedence():
    evidence = latency(
        plans=[plan("api-gateway", "scale", "resource_exhaustion", "cpu at 98% of its limit", replicas=4)],
        cache={"status": "cold", "reason": "3 critical keys missing", "owner": "database"},
        slow_statements=[{"query": "SELECT * FROM orchestrator.workflow_executions", "calls": 40, "mean_ms": 2500.0}],
        engines=[engine("n8n", latency_ms=5000)])
    removals = [("plans", []), ("cache", {"status": "healthy"}), ("slow_statements", []), ("engines", [engine("n8n")])]
    seen = []
    for key, value in removals + [(None, None)]:
        v = only(assess.response_time(evidence))
        seen.append((v["cause"], v["action"]))
        if key:
            evidence = dict(evidence, **{key: value})
    assert seen == [("workload", "remediate"), ("cache", "warmup"), ("database", "escalate"), ("dependency", "escalate"),
                    ("application", "escalate")]


def test_resource_exhaustion_scales_within_service_downs_plan():
    fix = plan("api-gateway", "scale", "resource_exhaustion", "cpu at 98%", replicas=4)
    result = assess.response_time(latency(plans=[fix]))
    v = only(result)
    assert v["plan"] == fix and result["plans"] == [fix] and not result["warmup"] and not result["escalate"]
    assert result["signal"] == "slow_responses" and result["severity"] == "P2"


def test_a_cold_cache_is_warmed_up_never_flushed():
    result = assess.response_time(latency(cache={"status": "cold", "reason": "critical keys missing: config:flags"}))
    v = only(result)
    assert v["cause"] == "cache" and v["action"] == "warmup" and v["plan"] is None
    assert result["warmup"] and not result["escalate"] and result["plans"] == [] and result["owners"] == []
    assert "warm the cache up (no flush)" in v["reason"] and v["owner"] == "database"


@pytest.mark.parametrize("status", ["corrupted", "unavailable"])
def test_a_corrupted_or_unreachable_cache_is_escalated_never_flushed(status):
    result = assess.response_time(latency(cache={"status": status, "reason": "cache " + status, "owner": "cache-team"}))
    v = only(result)
    assert v["cause"] == "cache" and v["action"] == "escalate" and v["plan"] is None and not result["warmup"]
    assert "a flush needs a person running the cache runbook" in v["reason"] and result["owners"] == ["cache-team"]
    assert "flush" not in str(result["plans"])


def test_slow_statements_are_reported_with_their_statistics():
    statements = [{"query": "SELECT e.* FROM orchestrator.workflow_executions e WHERE pg_sleep(2.5) IS NOT NULL", "calls": 120,
                   "mean_ms": 2512.3, "total_ms": 301476.0},
                  {"query": "SELECT 1", "calls": 9000, "mean_ms": 0.02},
                  {"query": "UPDATE x", "calls": 3, "mean_ms": 1000}]
    result = assess.response_time(latency(slow_statements=statements))
    v = only(result)
    assert v["cause"] == "database" and v["action"] == "escalate" and v["owner"] == "database" and result["plans"] == []
    assert v["slow_statements"] == [statements[0], statements[2]] and result["context"]["slow_statements"] == v["slow_statements"]
    assert "2512 ms mean over 120 calls: SELECT e.* FROM orchestrator.workflow_executions" in v["reason"]
    assert "SELECT 1" not in v["reason"]


def test_the_slow_statement_bound_is_an_argument():
    statements = [{"query": "SELECT 2", "calls": 5, "mean_ms": 300}]
    assert only(assess.response_time(latency(slow_statements=statements)))["cause"] == "application"
    assert only(assess.response_time(latency(slow_statements=statements), None, 2.0, 250))["cause"] == "database"


def test_a_critical_database_explains_latency():
    v = only(assess.response_time(latency(database={"status": "critical", "reason": "connections at 98%"})))
    assert v["cause"] == "database" and "the database fails: connections at 98%" in v["reason"] and v["slow_statements"] == []


@pytest.mark.parametrize("engines, words", [
    ([engine("n8n", latency_ms=2000)], "n8n answers in 2000 ms"),
    ([engine("n8n", "down")], "n8n does not answer"),
    ([engine("langflow", credentials="rejected")], "langflow rejects"),
])
def test_a_slow_or_failing_dependency_is_reported(engines, words):
    v = only(assess.response_time(latency(engines=engines)))
    assert v["cause"] == "dependency" and v["action"] == "escalate" and words in v["reason"] and v["owner"] == "infrastructure"


def test_unexplained_latency_goes_to_development_with_resources_routes_and_traces():
    pods = [pod("api-gateway-7d9-a", "api-gateway", containers=[
                container("gateway", usage={"cpu": "450m", "memory": "200Mi"}, limits={"cpu": "500m", "memory": "1Gi"}),
                container("istio-proxy", "sidecar", usage={"cpu": "10m"}, limits={"cpu": "100m"})]),
            pod("api-gateway-7d9-b", "api-gateway", containers=[
                container("gateway", usage={"cpu": "100m", "memory": "600Mi"}, limits={"cpu": "500m", "memory": "1Gi"})]),
            pod("langflow-1", "langflow", containers=[container("langflow", usage={"cpu": "990m"}, limits={"cpu": "1"})])]
    routes = [{"labels": {"service": "api-gateway", "route": "/api/v1/workflows", "method": "GET"}, "value": 3.21234}]
    p99 = [dict(routes[0], value=8.5), {"labels": {"service": "api-gateway", "route": "/health", "method": "GET"}, "value": 0.01}]
    traces = {"api-gateway": {"operations": [{"name": "GET /api/v1/workflows", "p95_ms": 3100}, {"name": "GET /health", "p95_ms": 2}]}}
    evidence = latency(report=report([GATEWAY, workload("langflow")], pods), traces=traces,
                       metrics={"series": dict(series("p95_seconds", {"api-gateway": 3.5}), p95_by_route=routes, p99_by_route=p99)})
    v = only(assess.response_time(evidence))
    assert v["cause"] == "application" and v["owner"] == "development"
    assert v["resources"]["cpu"]["ratio"] == 0.9 and v["resources"]["cpu"]["pod"] == "api-gateway-7d9-a"
    assert v["resources"]["memory"]["pod"] == "api-gateway-7d9-b" and v["resources"]["memory"]["container"] == "gateway"
    # The slowest routes by p95, with the other percentiles the metrics have (none for p50 here).
    assert v["routes"] == [{"route": "/api/v1/workflows", "method": "GET", "p95": 3.2123, "p50": None, "p99": 8.5}]
    assert v["traces"] == traces["api-gateway"]["operations"]
    assert "api-gateway's p95 latency is 3.50 s" in v["reason"] and "cpu 90% of its limit (gateway)" in v["reason"]
    assert "GET /api/v1/workflows p95 3100 ms" in v["reason"]


def test_response_time_healthy_and_without_metrics():
    healthy = assess.response_time(latency({"api-gateway": 2.0, "langflow": 0.1}))
    assert healthy["status"] == "healthy" and healthy["severity"] is None and healthy["services"] == []
    assert healthy["reason"] == "every service answers with a p95 under 2 s" and not healthy["warmup"]
    v = only(assess.response_time(latency(metrics={})))
    assert v["p95_seconds"] is None and "over the threshold" in v["reason"]
    assert [s["service"] for s in assess.response_time(latency({"a": 5, "b": 1.9, "c": 2.5}))["services"]] == ["a", "c"]


# -- outcome -----------------------------------------------------------------------------------------------------


def _mixed():
    """api-gateway rolled back, langflow escalated (database), both over the threshold."""
    evidence = errors({"api-gateway": 0.3, "langflow": 0.2},
                      report=report([workload("api-gateway", roll=rollout()), workload("langflow")], GATEWAY_PODS))
    result = assess.error_rate(evidence)
    assert [v["cause"] for v in result["services"]] == ["rollout", "application"]
    return result


def ok(name, msg="rolled back api-gateway to revision 3", good=True):
    return {"service": name, "kind": "Deployment", "action": "rollback", "ok": good, "msg": msg}


def test_outcome_restores_a_fixed_service_and_escalates_the_rest():
    result = assess.outcome(_mixed(), [ok("api-gateway")], {"unhealthy": [], "metrics": {"verified": True, "status": "under 5%"}})
    assert result["services"] == {"api-gateway": "restored", "langflow": "escalated"}
    assert result["status"] == "escalated" and result["escalate"] and result["owners"] == ["development"]
    assert "api-gateway: rolled back api-gateway to revision 3" in result["resolution"] and result["metrics"] == "under 5%"
    assert len(result["reasons"]) == 1 and result["reasons"][0].startswith("langflow answers 20.0%")


def test_outcome_resolves_when_everything_was_fixed_and_verified():
    assessment = assess.error_rate(errors(hotfix={"revision": 3}))
    result = assess.outcome(assessment, [ok("api-gateway")], {"metrics": {"verified": True, "status": "0.1%"}})
    assert result["status"] == "resolved" and not result["escalate"] and result["services"] == {"api-gateway": "restored"}
    assert result["root_cause"] == assessment["reason"] and result["reasons"] == []


@pytest.mark.parametrize("actions, verification, words", [
    ([ok("api-gateway", "rollout stalled", good=False)], {}, "rollback on api-gateway did not succeed: rollout stalled"),
    ([], {}, "did not succeed: not carried out"),
    ([ok("langflow")], {}, "not carried out"),
    ([ok("api-gateway")], {"unhealthy": ["api-gateway"]}, "api-gateway is still unhealthy"),
    ([ok("api-gateway")], {"metrics": {"verified": False, "status": "still 28% 5xx"}}, "api-gateway: still 28% 5xx"),
])
def test_outcome_escalates_a_fix_that_failed_or_did_not_help(actions, verification, words):
    assessment = assess.error_rate(errors(hotfix={"revision": 3}))
    result = assess.outcome(assessment, actions, verification)
    assert result["services"] == {"api-gateway": "escalated"} and result["status"] == "escalated" and result["escalate"]
    assert any(words in r for r in result["reasons"]), result["reasons"]
    assert result["resolution"].startswith("escalated: ")


def test_outcome_without_readable_metrics_trusts_the_readiness_and_says_so():
    assessment = assess.error_rate(errors(hotfix={"revision": 3}))
    result = assess.outcome(assessment, [ok("api-gateway")], {"unhealthy": [], "metrics": {"verified": None}})
    assert result["status"] == "resolved" and result["metrics"] == "not verified"
    assert assess.outcome(assessment, [ok("api-gateway")])["metrics"] == "not verified"


def test_outcome_of_a_warm_up():
    assessment = assess.response_time(latency(cache={"status": "cold", "reason": "keys missing"}))
    assert assess.outcome(assessment, [], {"warmed": True, "metrics": {"verified": True}})["services"] == {"api-gateway": "restored"}
    cold = assess.outcome(assessment, [], {"warmed": False})
    assert cold["services"] == {"api-gateway": "escalated"} and "did not bring the critical keys back" in cold["reasons"][0]
    assert cold["owners"] == ["database"]
    still_slow = assess.outcome(assessment, [], {"warmed": True, "metrics": {"verified": False, "status": "p95 3.1 s"}})
    assert still_slow["status"] == "escalated" and "api-gateway: p95 3.1 s" in still_slow["reasons"]


def test_outcome_in_check_mode_plans_and_escalates_nothing():
    result = assess.outcome(_mixed(), [], {}, True)
    assert result["status"] == "planned" and not result["escalate"]
    assert result["services"] == {"api-gateway": "planned", "langflow": "escalated"}


def test_outcome_of_a_healthy_assessment_has_nothing_to_do():
    result = assess.outcome(assess.error_rate(errors({"api-gateway": 0.01})), [], {})
    assert result == dict(result, status="resolved", services={}, escalate=False, resolution="nothing to do")


def test_outcome_refuses_what_is_not_an_assessment():
    with pytest.raises(InvalidInput, match="expects the result"):
        assess.outcome({"engines": []})
    with pytest.raises(InvalidInput, match="actions must be a list"):
        assess.outcome(_mixed(), {"x": 1})


# -- incident services -------------------------------------------------------------------------------------------


def test_incident_services_are_prefixed_down_before_and_the_outcome_after():
    assessment = _mixed()
    before = assess.incident_services(assessment, "errors")
    assert set(before) == {"errors:api-gateway", "errors:langflow"}
    assert all(entry["status"] == "down" and entry["reason"] for entry in before.values())
    outcome = assess.outcome(assessment, [ok("api-gateway")], {"metrics": {"verified": True}})
    after = assess.incident_services(assessment, "latency", outcome)
    assert after == {"latency:api-gateway": {"status": "restored", "reason": assessment["services"][0]["reason"]},
                     "latency:langflow": {"status": "escalated", "reason": assessment["services"][1]["reason"]}}
    assert assess.incident_services(assess.error_rate(errors({"api-gateway": 0.01})), "errors") == {}


def test_incident_services_refuse_another_prefix():
    with pytest.raises(InvalidInput, match="prefix must be errors or latency"):
        assess.incident_services(_mixed(), "engine")
    with pytest.raises(InvalidInput, match="expects the result"):
        assess.incident_services(None, "errors")


# -- logs --------------------------------------------------------------------------------------------------------


def test_log_targets_take_ready_pods_first_up_to_the_cap_with_the_main_container():
    pods = [pod("api-gateway-%d" % i, "api-gateway", ready=i % 2 == 0,
                containers=[container("istio-proxy", "sidecar"), container("gateway")]) for i in range(6)]
    pods += [pod("api-gateway-0x", "api-gateway", kind="StatefulSet"), pod("langflow-1", "langflow"),
             pod("langflow-0", "langflow", ready=False), pod("n8n-1", "n8n")]
    assessment = assess.error_rate(errors({"api-gateway": 0.3, "langflow": 0.3}, report=report([GATEWAY, workload("langflow")], pods)))
    targets = assess.log_targets(assessment, report([], pods), 3)
    assert targets == [{"workload": "api-gateway", "pod": "api-gateway-0", "container": "gateway"},
                       {"workload": "api-gateway", "pod": "api-gateway-2", "container": "gateway"},
                       {"workload": "api-gateway", "pod": "api-gateway-4", "container": "gateway"},
                       {"workload": "langflow", "pod": "langflow-1", "container": "langflow"},
                       {"workload": "langflow", "pod": "langflow-0", "container": "langflow"}]
    assert len(assess.log_targets(assessment, report([], pods), "1")) == 2


def test_log_targets_skip_services_without_a_workload_or_pods():
    assessment = assess.error_rate(errors({"langsmith": 0.3, "api-gateway": 0.3}, report=report([GATEWAY], [])))
    assert assess.log_targets(assessment, report([], [])) == []
    assert assess.log_targets(assessment, None) == []
    with pytest.raises(InvalidInput, match="scenario assessment"):
        assess.log_targets([], {})


def test_log_lines_are_joined_by_workload_and_failed_reads_skipped():
    results = [{"item": {"workload": "api-gateway", "pod": "a"}, "log_lines": ["e1", "e2"]},
               {"item": {"workload": "api-gateway", "pod": "b"}, "log_lines": ["e3"]},
               {"item": {"workload": "api-gateway", "pod": "c"}, "failed": True, "msg": "pod gone", "log_lines": ["nope"]},
               {"item": {"workload": "langflow", "pod": "d"}, "skipped": True},
               {"item": {"workload": "langflow", "pod": "e"}},
               {"item": {}, "log_lines": ["orphan"]}, "junk"]
    assert assess.log_lines_by_workload(results) == {"api-gateway": ["e1", "e2", "e3"], "langflow": []}
    assert assess.log_lines_by_workload(None) == {}


# -- invariants over random evidence -----------------------------------------------------------------------------


def _random_error_evidence(rng):
    names = rng.sample(SERVICES, rng.randint(0, len(SERVICES)))
    ratios = dict((s, rng.choice([0.0, 0.01, 0.05, 0.051, 0.2, 0.5, 0.9, 1.0])) for s in names)
    workloads, pods, plans = [], [], []
    for s in SERVICES:
        if s == "langsmith" or rng.random() < 0.1:
            continue
        kind = rng.choice(["Deployment", "Deployment", "StatefulSet"])
        gitops = {"manager": "Flux", "marker": "label kustomize.toolkit.fluxcd.io/name=x"} if rng.random() < 0.2 else None
        roll = rollout(recent=rng.random() < 0.6, previous=rng.choice([None, 3]), state=rng.choice(["complete", "progressing", "stalled"]))
        workloads.append(workload(s, kind, roll, gitops))
        pods.extend(pod("%s-%d" % (s, i), s, kind, rng.random() < 0.7) for i in range(rng.randint(0, 4)))
        if rng.random() < 0.4:
            plans.append(plan(s, rng.choice(["none", "delete_pod", "scale", "rollback", "raise_limits", "rollout_restart", "escalate"]),
                              kind=kind, owner=rng.choice(["development", "infrastructure", None])))
    hotfix = rng.choice([None, None, {"revision": rng.randint(1, 9)}, {"image": "x:%d" % rng.randint(1, 9), "container": "c"}])
    engines = [engine(e, "down" if rng.random() < 0.1 else "up", "rejected" if rng.random() < 0.1 else "accepted",
                      3000 if rng.random() < 0.1 else 10) for e in ("langflow", "n8n")]
    read = metrics(error_ratio=ratios) if ratios or rng.random() < 0.5 else {}
    if read and rng.random() < 0.5:
        read["available"] = rng.random() < 0.8
    return {"service": rng.choice(["", "", ""] + list(SERVICES)), "alert_service": rng.choice(["", "api-gateway"]),
            "metrics": read,
            "report": report(workloads, pods), "plans": plans,
            "database": rng.choice([{"status": "healthy"}] * 4 + [{"status": "unavailable", "reason": "refused"}, {"status": "degraded"}]),
            "engines": engines, "logs": {}, "before_rollout": dict((s, rng.choice([0.0, 0.04, 0.3])) for s in names if rng.random() < 0.5),
            "hotfix": hotfix, "service_workloads": {}}


def _random_latency_evidence(rng):
    evidence = _random_error_evidence(rng)
    values = dict((s, v * 10) for s, v in assess._by_service(evidence["metrics"], "error_ratio").items())
    evidence = dict(evidence, metrics=dict(metrics(p95_seconds=values), available=rng.random() < 0.5) if values else {},
                    cache={"status": rng.choice(["healthy", "healthy", None, "cold", "corrupted", "unavailable"]), "reason": "r"},
                    slow_statements=[{"query": "SELECT %d" % i, "calls": 3, "mean_ms": rng.choice([5, 999.9, 1000, 4000])}
                                     for i in range(rng.choice([0, 0, 1, 2]))],
                    database=rng.choice([{"status": "healthy"}] * 4 + [{"status": "critical", "reason": "full"}]), traces={})
    for key in ("logs", "before_rollout", "hotfix"):
        evidence.pop(key)
    return evidence


def _check_invariants(result, values, threshold, scenario_actions, evidence):
    assert result["status"] in ("healthy", "degraded")
    assert (result["status"] == "degraded") == bool(result["services"])
    if result["services"]:
        assert result["severity"] in ("P1", "P2") and result["signal"]
    else:
        assert result["severity"] is None and result["signal"] is None and result["plans"] == []
    served = [v["service"] for v in result["services"]]
    assert len(served) == len(set(served))
    if not values:
        assert served in ([], [evidence["service"] or evidence["alert_service"]])
    for v in result["services"]:
        assert v["action"] in scenario_actions and v["cause"] != "healthy"
        # healthy services never appear: with metrics, every assessed service is over the threshold
        if values:
            assert values.get(v["service"], 0) > threshold
        if evidence["service"]:
            assert v["service"] == evidence["service"]
        if v["action"] == "remediate":
            assert v["plan"] and v["plan"]["action"] in REMEDIATION_ACTIONS and v["plan"]["workload"] == v["workload"]
            assert v["plan"] in result["plans"]
            if v["cause"] in ("hotfix", "rollout"):
                # what workload_remediation refuses (StatefulSet) or GitOps reverts is never planned
                managed = next(w for w in evidence["report"]["workloads"] if w["name"] == v["workload"])
                assert v["kind"] == "Deployment" and not managed["gitops"]
        else:
            assert v["plan"] is None
        if v["action"] == "escalate":
            assert v["owner"] is None or v["owner"] in result["owners"]
    assert result["escalate"] == any(v["action"] == "escalate" for v in result["services"])
    assert len(result["plans"]) == sum(1 for v in result["services"] if v["action"] == "remediate")
    assert result["reasons"] == [v["reason"] for v in result["services"]]


def test_invariants_over_random_evidence():
    for i in range(200):
        seed = 1200 + i
        rng = random.Random(seed)
        evidence = _random_error_evidence(rng)
        try:
            result = assess.error_rate(copy.deepcopy(evidence))
            _check_invariants(result, assess._by_service(evidence["metrics"], "error_ratio"), 0.05, ("remediate", "escalate"), evidence)
            if any(v["cause"] == "database" for v in result["services"]):
                assert result["severity"] == "P1"
            if evidence["hotfix"] and not any(v["cause"] == "hotfix" for v in result["services"]):
                assert result["notes"] and "hotfix was not applied" in result["notes"][0]
            check = assess.outcome(result, [], {}, True)
            assert check["status"] == "planned" and not check["escalate"]
            after = assess.outcome(result, [{"service": p["workload"], "ok": True, "msg": "done"} for p in result["plans"]],
                                   {"metrics": {"verified": True}})
            assert set(after["services"]) == set(v["service"] for v in result["services"])
            assert after["escalate"] == result["escalate"]
            assert set(assess.incident_services(result, "errors", after)) == set("errors:" + s for s in after["services"])

            rng = random.Random(seed)
            lat = _random_latency_evidence(rng)
            result = assess.response_time(copy.deepcopy(lat))
            _check_invariants(result, assess._by_service(lat["metrics"], "p95_seconds"), 2.0, ("remediate", "escalate", "warmup"), lat)
            assert result["warmup"] == any(v["action"] == "warmup" for v in result["services"])
            assert result["severity"] in (None, "P2")
            for v in result["services"]:
                assert v["action"] != "warmup" or lat["cache"]["status"] == "cold"
                assert "flush" not in str(v["plan"])
        except AssertionError as exc:
            raise AssertionError("seed %d: %s" % (seed, exc)) from exc


def test_a_low_hit_rate_with_every_critical_key_present_is_warmed_never_flushed():
    cache = {"status": "healthy", "hit_rate": 0.2, "owner": "database", "reason": "the cache is healthy"}
    evidence = latency(report=report([GATEWAY], []), cache=cache,
                       metrics={"series": series("p95_seconds", {"api-gateway": 3.5})})
    v = only(assess.response_time(evidence))
    assert v["cause"] == "cache" and v["action"] == "warmup" and "hit rate is 20%" in v["reason"]
    # At or over the minimum it is not the cache.
    warm = only(assess.response_time(dict(evidence, cache=dict(cache, hit_rate=0.5))))
    assert warm["cause"] == "application"


def test_only_the_platform_databases_slow_statements_count_when_it_is_named():
    # pg_stat_statements covers the whole server: another database's slow statement is not the gateway's.
    theirs = {"query": "UPDATE items SET v = $1 WHERE id = $2", "database": None, "calls": 2, "mean_ms": 6405.2}
    ours = {"query": "SELECT e.id FROM executions e, pg_sleep($1)", "database": "orchestrator", "calls": 9, "mean_ms": 2500.0}
    only_theirs = only(assess.response_time(latency(slow_statements=[theirs], database_name="orchestrator")))
    assert only_theirs["cause"] == "application"
    both = only(assess.response_time(latency(slow_statements=[theirs, ours], database_name="orchestrator")))
    assert both["cause"] == "database" and both["slow_statements"] == [ours]
    # Unnamed: every database's count.
    assert only(assess.response_time(latency(slow_statements=[theirs])))["slow_statements"] == [theirs]
