# SPDX-License-Identifier: GPL-3.0-or-later
"""workload_remediation and the Service Recovery playbook against the drill cluster."""

from __future__ import annotations

import json

import pytest

import drill
from playbook import kubeconfig_with_token, module, playbook, recap, reset

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
NS = "ai-orchestrator"
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"


@pytest.fixture(autouse=True)
def fresh_platform():
    reset()
    yield
    reset()


def remediate(check=False, **args):
    return module("workload_remediation", check=check, kubeconfig=drill.kubeconfig(), namespace=NS, **args)


def replicas(name):
    return drill.kubectl_json("get", "deployment", name)["spec"]["replicas"]


def test_unknown_workload_names_what_exists():
    result = remediate(action="scale", workload="no-such", replicas=2)
    assert result["failed"] and "service 'no-such' not found in namespace 'ai-orchestrator'" in result["msg"]
    assert "api-gateway" in result["msg"]


def test_deleting_every_ready_pod_is_refused():
    pods = [p.metadata.name for p in drill.ready_pods("api-gateway")]
    result = remediate(action="delete_pod", workload="api-gateway", pods=pods)
    assert result["failed"] and "last ready pods" in result["msg"]
    assert sorted(p.metadata.name for p in drill.ready_pods("api-gateway")) == sorted(pods)


def test_pod_disruption_budget_holds():
    drill.kubectl("patch", "pdb", "langflow", "--type=merge", "-p", '{"spec":{"minAvailable":2}}')
    try:
        drill.wait_for(lambda: drill.kubectl_json("get", "pdb", "langflow")["status"].get("disruptionsAllowed") == 0)
        pod = drill.ready_pods("langflow")[0].metadata.name
        result = remediate(action="delete_pod", workload="langflow", pods=[pod])
        assert result["failed"] and "refused by its PodDisruptionBudget" in result["msg"]
        assert not drill.pod_gone(pod)
    finally:
        drill.kubectl("patch", "pdb", "langflow", "--type=merge", "-p", '{"spec":{"minAvailable":1}}')


@pytest.mark.parametrize(
    "args,message",
    [
        ({"replicas": 0}, "takes the service down"),
        ({"replicas": 11}, "above max_replicas=10"),
        ({"replicas": 1}, "without allow_scale_down=true"),
        ({"replicas": 3, "usage_threshold": 0}, "usage_threshold must be a share of the limit"),
        ({"replicas": 3, "metrics_timeout": -1}, "metrics_timeout must be at least 0, not -1"),
        ({"replicas": 3, "wait_timeout": 0}, "wait_timeout must be at least 1, not 0"),
        ({"scale_by": 0}, "scale_by must be at least 1, not 0"),
    ],
)
def test_scale_guardrails(args, message):
    result = remediate(action="scale", workload="langflow", **args)
    assert result["failed"] and message in result["msg"]
    assert replicas("langflow") == 2


def test_scale_check_mode_plans_without_changing():
    result = remediate(check=True, action="scale", workload="langflow", scale_by=2)
    assert result["changed"] and result["plan"] == {"from": 2, "to": 4}
    assert result["steps"] == ["would scale Deployment/langflow from 2 to 4 replicas (dry run)"]
    assert replicas("langflow") == 2


def test_scale_waits_for_ready_and_budget_stops_a_loop():
    first = remediate(action="scale", workload="langflow", scale_by=1, budget_max_actions=1, incident_id="incident-2026-11-26-031500")
    assert first["usage"]["fresh"] is True and first["usage"]["saturated"] == [], first["usage"]
    assert first["changed"] and first["verified"] is True
    assert drill.workload_ready("langflow", 3)
    history = json.loads(drill.kubectl_json("get", "deployment", "langflow")["metadata"]["annotations"][HISTORY])
    assert history[-1]["action"] == "scale" and history[-1]["incident"] == "incident-2026-11-26-031500"
    second = remediate(action="scale", workload="langflow", scale_by=1, budget_max_actions=1)
    assert not second["changed"] and second["budget_exhausted"] and "budget" in second["msg"]
    assert replicas("langflow") == 3


# Long tier: the service_down_exhaustion drill proves the scale-up judged on fresh metrics in the fast tier.
@pytest.mark.long
def test_scale_is_judged_on_fresh_metrics_and_a_step_too_small_fails():
    """Load that needs 4 replicas: 2 -> 3 stays saturated in metrics sampled after the scale; 3 -> 4 relieves it."""
    drill.kubectl("annotate", "deployment", "execution-service", "drill.incident-response.io/load-replicas=4", "--overwrite")
    pods = [p.metadata.name for p in drill.pods("execution-service")]
    drill.wait_for(lambda: all(drill.pod_metrics().get(p, {}).get("cpu", 0) > 1500 for p in pods), timeout=90)

    small = remediate(action="scale", workload="execution-service", scale_by=1, metrics_timeout=120)
    assert small["failed"] and "scaled to 3 replicas, all ready, but metrics sampled since still show" in small["msg"]
    assert "this step was not enough" in small["msg"]
    history = json.loads(drill.kubectl_json("get", "deployment", "execution-service")["metadata"]["annotations"][HISTORY])
    assert [e["replicas"] for e in history] == [3], "a scale that failed verification still counts against the budget"

    enough = remediate(action="scale", workload="execution-service", scale_by=1, metrics_timeout=120)
    assert enough["changed"] and enough["verified"] is True, enough
    assert enough["usage"]["fresh"] is True and enough["usage"]["saturated"] == []
    assert drill.workload_ready("execution-service", 4)


def test_rollout_restart_replaces_pods_once_per_interval():
    before = {p.metadata.name for p in drill.pods("auth-service")}
    first = remediate(action="rollout_restart", workload="auth-service", min_restart_interval=0)
    assert first["changed"] and first["verified"] is True
    after = {p.metadata.name for p in drill.ready_pods("auth-service")}
    assert len(after) == 2 and not before & after
    second = remediate(action="rollout_restart", workload="auth-service")
    assert not second["changed"] and "within min_restart_interval" in second["steps"][0]


def test_rollback_refuses_healthy_revisions_and_statefulsets():
    # A previous revision to go back to, whatever ran before (a new cluster has only one).
    drill.kubectl("rollout", "restart", "deployment/api-gateway")
    drill.kubectl("rollout", "status", "deployment/api-gateway", "--timeout=120s", timeout=150)
    result = remediate(action="rollback", workload="api-gateway")
    assert not result.get("failed") and not result["changed"]
    result = remediate(action="rollback", workload="postgres")
    assert result["failed"] and "not automated" in result["msg"]


def test_service_recovery_restarts_everything_then_is_idempotent(tmp_path):
    first = playbook("service_recovery.yml", "-e", "incident_dir=%s" % tmp_path, "-e", "service_recovery_min_restart_interval=0")
    assert first.returncode == 0, first.stdout[-4000:]
    assert recap(first)["changed"] >= 1
    for dep in drill.kubectl_json("get", "deployments")["items"]:
        assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"].get("annotations", {}), dep["metadata"]["name"]
        assert dep["status"].get("readyReplicas") == dep["spec"]["replicas"]
    second = playbook("service_recovery.yml", "-e", "incident_dir=%s" % tmp_path)
    assert second.returncode == 0 and recap(second)["changed"] == 0, second.stdout[-3000:]


def test_service_recovery_check_mode_changes_nothing(tmp_path):
    before = {p.metadata.name for p in drill.pods()}
    result = playbook("service_recovery.yml", "--check", "-e", "incident_dir=%s" % tmp_path, "-e", "service_recovery_min_restart_interval=0")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "would restart Deployment/api-gateway" in result.stdout
    assert {p.metadata.name for p in drill.pods()} == before


def test_check_mode_says_what_the_dry_run_could_not_prove(tmp_path):
    """A read-only identity: --check still plans, names each write the server refused to dry-run, and changes nothing."""
    drill.kubectl("create", "serviceaccount", "read-only", namespace=NS, check=False)
    drill.kubectl("create", "role", "read-only", "--verb=get,list,watch",
                  "--resource=pods,pods/log,deployments,replicasets,statefulsets,events", namespace=NS, check=False)
    drill.kubectl("create", "rolebinding", "read-only", "--role=read-only", "--serviceaccount=%s:read-only" % NS, namespace=NS, check=False)
    token = drill.kubectl("create", "token", "read-only", namespace=NS).stdout.strip()
    kubeconfig = kubeconfig_with_token(tmp_path, token)
    pod = drill.ready_pods("api-gateway")[0].metadata
    result = module("workload_remediation", check=True, kubeconfig=kubeconfig, namespace=NS,
                    action="delete_pod", service="api-gateway", pods=[pod.name])
    assert not result["failed"], result["msg"]
    assert "not proven" in result["msg"]
    refused = " ".join(result["unproven"])
    assert "/pods/%s/eviction" % pod.name in refused and "403" in refused
    assert "/deployments/api-gateway" in refused  # the history annotation's patch
    assert drill.read_pod(pod.name).metadata.uid == pod.uid
    assert HISTORY not in (drill.kubectl_json("get", "deployment", "api-gateway")["metadata"].get("annotations") or {})


def test_check_mode_dry_runs_every_write_and_changes_nothing():
    """Scale and rollback in check mode go to the API server as dry runs; the object is unchanged."""
    before = drill.kubectl_json("get", "deployment", "execution-service")
    result = remediate(check=True, action="scale", service="execution-service", replicas=before["spec"]["replicas"] + 1)
    assert not result["failed"] and result["unproven"] == [] and "server-side dry run passed" in result["msg"]
    after = drill.kubectl_json("get", "deployment", "execution-service")
    assert after["spec"]["replicas"] == before["spec"]["replicas"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
