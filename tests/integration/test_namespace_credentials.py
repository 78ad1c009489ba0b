# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials of real teams: a ServiceAccount with rights in its own namespace only.

Against the drill's real API server (RBAC authorization, TokenRequest tokens): the team's
identity diagnoses its namespace (nodes unreadable: reported, not fatal), evicts a crashed
pod and sees it replaced; a read in another namespace and a restart its Role does not allow
fail with the missing permission named, and nothing changes.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

import drill
import rbac
from playbook import module

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"
APP = "web"
REPLICAS = 2
BOT = "incident-bot"
NO_PATCH = "incident-bot-no-patch"


def _workload(namespace: str) -> list[dict]:
    labels = {"app.kubernetes.io/name": APP}
    container = {"name": APP, "image": "ghcr.io/ai-orchestrator/%s:1.0.0" % APP, "imagePullPolicy": "IfNotPresent",
                 "envFrom": [{"configMapRef": {"name": "web-config"}}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 1, "periodSeconds": 5},
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": namespace}, "data": {"MODE": "prod"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": namespace, "labels": labels},
         "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}},
    ]


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A namespace team-<hex> with a Deployment, the team's identity (BOT) and one without patch on deployments."""
    namespace = "team-" + secrets.token_hex(4)
    started = time.monotonic()
    rbac.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"drill.incident-response.io/team": "true"}}}])
    try:
        rbac.apply(_workload(namespace)
                   + rbac.service_account(namespace, BOT, rbac.NAMESPACE_ROLE_RULES)
                   + rbac.service_account(namespace, NO_PATCH, rbac.without(rbac.NAMESPACE_ROLE_RULES, "apps", "deployments", "patch")))
        drill.wait_for(lambda: drill.workload_ready(APP, REPLICAS, namespace=namespace), 120,
                       message="deployment/%s in %s to be ready" % (APP, namespace))
        folder = tmp_path_factory.mktemp("team-kubeconfigs")
        yield {"namespace": namespace, "kubeconfig": rbac.kubeconfig(folder, namespace, BOT),
               "no_patch": rbac.kubeconfig(folder, namespace, NO_PATCH), "setup_seconds": time.monotonic() - started}
    finally:
        drill.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", namespace=None, check=False)


def diagnose(kubeconfig: str, namespace: str, **args) -> dict:
    return module("workload_health_info", kubeconfig=kubeconfig, namespace=namespace, **args)


def remediate(kubeconfig: str, namespace: str, check: bool = False, **args) -> dict:
    return module("workload_remediation", check=check, kubeconfig=kubeconfig, namespace=namespace, **args)


def crashlooping_pod(namespace: str) -> str:
    """A pod of APP with the crashloop fault (drill/fault.sh pod: returns once it is no longer Ready)."""
    faulty = [p for p in drill.pods(APP, namespace) if (p.metadata.labels or {}).get(drill.FAULT_LABEL)]
    if not faulty:
        drill.fault_sh("pod", "deployment/" + APP, "crashloop", namespace=namespace, timeout=120)
        faulty = [p for p in drill.pods(APP, namespace) if (p.metadata.labels or {}).get(drill.FAULT_LABEL)]
    return faulty[0].metadata.name


def test_the_drill_api_server_authorizes_with_rbac(team):
    """The premise: the token is the team's, and RBAC confines it to its namespace."""
    kubeconfig, namespace = team["kubeconfig"], team["namespace"]
    assert rbac.can_i(kubeconfig, namespace, "list", "pods")
    assert rbac.can_i(kubeconfig, namespace, "create", "pods/eviction")
    assert not rbac.can_i(kubeconfig, None, "list", "nodes")
    assert not rbac.can_i(kubeconfig, drill.NAMESPACE, "list", "pods")
    assert not rbac.can_i(team["no_patch"], namespace, "patch", "deployments")


def test_namespace_rights_diagnose_the_namespace_and_report_what_they_cannot_read(team):
    kubeconfig, namespace = team["kubeconfig"], team["namespace"]
    pod = crashlooping_pod(namespace)
    # The pod must outgrow its startup allowance to count as crashed, not starting.
    report = diagnose(kubeconfig, namespace, min_startup_seconds=0)
    assert not report["failed"], report.get("msg")
    # Nodes are cluster-scoped: not readable, reported with the permission that is missing.
    assert report["nodes"] == []
    assert report["nodes_error"].startswith(
        'permission denied (403 Forbidden): this identity may not list nodes (API group "", cluster-scoped); '
        'grant it the rule {apiGroups: [""], resources: ["nodes"], verbs: ["list"]} in a ClusterRole bound by a ClusterRoleBinding')
    assert 'User "system:serviceaccount:%s:%s" cannot list resource "nodes"' % (namespace, BOT) in report["nodes_error"]
    # Everything the Role grants is read: HPAs, ConfigMaps, pod metrics; Secrets (not granted) are named.
    assert report["hpa_error"] is None
    assert report["config_error"].startswith('permission denied (403 Forbidden): this identity may not list secrets (API group "", '
                                             'namespace "%s")' % namespace)
    assert report["metrics_error"] is None and report["metrics_available"] is True
    # The diagnosis itself is complete.
    (web,) = report["workloads"]
    assert (web["kind"], web["name"], web["desired"]) == ("Deployment", APP, REPLICAS)
    assert web["classification"] == "crashloop", web
    assert pod in web["affected_pods"]
    assert report["summary"]["pods"] == REPLICAS
    crashed = next(p for p in report["pods"] if p["name"] == pod)
    assert crashed["node"] and crashed["node_problem"] is None
    # pods/log is granted: no log read was refused.
    logs = [c.get("logs") or {} for c in crashed["containers"]]
    assert not [v for entry in logs for k, v in entry.items() if k.endswith("_error") and "403" in v], logs


def test_namespace_rights_evict_a_crashed_pod_and_verify_the_replacement(team):
    kubeconfig, namespace = team["kubeconfig"], team["namespace"]
    pod = crashlooping_pod(namespace)
    uid = drill.read_pod(pod, namespace).metadata.uid
    result = remediate(kubeconfig, namespace, action="delete_pod", service=APP, pods=[pod], wait_timeout=120,
                       incident_id="incident-team-credentials", reason="crashloop")
    assert not result["failed"], result.get("msg")
    assert result["changed"] and result["verified"] is True, result
    assert "evicted pod %s" % pod in result["steps"]
    assert drill.pod_gone(pod, namespace) or drill.read_pod(pod, namespace).metadata.uid != uid
    assert drill.workload_ready(APP, REPLICAS, namespace=namespace)
    history = json.loads(drill.kubectl_json("get", "deployment", APP, namespace=namespace)["metadata"]["annotations"][HISTORY])
    assert history[-1]["action"] == "delete_pod" and history[-1]["pods"] == [pod]


def test_a_read_in_another_namespace_names_the_verb_resource_and_namespace(team):
    kubeconfig = team["kubeconfig"]
    other = drill.NAMESPACE
    result = diagnose(kubeconfig, other, metrics=False)
    assert result["failed"]
    assert result["msg"].startswith('permission denied (403 Forbidden): this identity may not list pods (API group "", namespace "%s"); '
                                    'grant it the rule {apiGroups: [""], resources: ["pods"], verbs: ["list"]} in a Role in namespace "%s"'
                                    % (other, other)), result["msg"]
    result = remediate(kubeconfig, other, action="rollout_restart", service="api-gateway")
    assert result["failed"]
    assert result["msg"].startswith('permission denied (403 Forbidden): this identity may not get deployments (API group "apps", '
                                    'namespace "%s", name "api-gateway")' % other), result["msg"]


def test_a_restart_the_role_does_not_allow_fails_naming_patch_deployments_and_changes_nothing(team):
    namespace = team["namespace"]
    before = drill.kubectl_json("get", "deployment", APP, namespace=namespace)
    pods_before = sorted(p.metadata.uid for p in drill.pods(APP, namespace))
    # Check mode: the server refuses the dry run; the plan says what it could not prove.
    planned = remediate(team["no_patch"], namespace, check=True, action="rollout_restart", service=APP, min_restart_interval=0)
    assert not planned["failed"], planned.get("msg")
    assert "not proven" in planned["msg"] and "may not patch deployments" in " ".join(planned["unproven"])
    result = remediate(team["no_patch"], namespace, action="rollout_restart", service=APP, min_restart_interval=0)
    assert result["failed"]
    assert result["msg"].startswith('permission denied (403 Forbidden): this identity may not patch deployments (API group "apps", '
                                    'namespace "%s", name "%s"); grant it the rule {apiGroups: ["apps"], resources: ["deployments"], '
                                    'verbs: ["patch"]} in a Role in namespace "%s"' % (namespace, APP, namespace)), result["msg"]
    after = drill.kubectl_json("get", "deployment", APP, namespace=namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"] and after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert sorted(p.metadata.uid for p in drill.pods(APP, namespace)) == pods_before
