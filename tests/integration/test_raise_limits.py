# SPDX-License-Identifier: GPL-3.0-or-later
"""raise_limits on the drill cluster: diagnosis -> remediation_plans with a limits bound -> workload_remediation.

Works in a namespace of its own (limits-<hex>), created and deleted here; the platform
fixture is not touched. kwok reports usage from drill/kwok/usage.yaml: the usage label
(drill.incident-response.io/usage=high) and the oomkilled fault put usage at 92-98% of
whatever the limit is, so a raised limit is exhausted again at once. A workload whose
absolute use is known - kwok's own kwok.x-k8s.io/usage-memory pod annotation, which wins
over the expressions - is what a raise can relieve: 480Mi is 94% of 512Mi and 62% of 768Mi.
The oomkilled fault is a label, not a use of memory: pods that carry it are OOM-killed
whatever their limit, which is how a raise that is not enough looks.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

import drill
from playbook import module

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"
BOUND = {"memory": "1Gi", "cpu": "2"}
LIMITS_MAX = {"memory": "1Gi", "cpu": "2"}


# kwok's own usage annotations: what the worker really uses, whatever its limits.
WORKER_USAGE = {"kwok.x-k8s.io/usage-memory": "480Mi", "kwok.x-k8s.io/usage-cpu": "40m"}


@pytest.fixture(scope="module")
def ns(drill_env):
    """The namespace, with the worker Deployment started at once: metrics-server samples it while the OOM test runs."""
    name = "limits-" + secrets.token_hex(4)
    drill.kubectl("create", "namespace", name, namespace=None)
    deploy(name, "worker", annotations=WORKER_USAGE, wait=False)
    yield name
    drill.kubectl("delete", "namespace", name, "--wait=false", namespace=None, check=False)


@pytest.fixture(scope="module")
def filters():
    """The collection's filter plugin, imported in this process (what the playbook's Jinja calls)."""
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader([os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(Path.home() / ".cache/aio-collections")])
    from ansible_collections.ai_orchestrator.incident_response.plugins.filter import classify

    return classify


def deploy(ns, name, replicas=2, memory="512Mi", annotations=None, labels=None, wait=True):
    """A Deployment whose one container has limits cpu 500m / memory ``memory``; ``wait``: for its rollout."""
    pod_labels = dict({"app.kubernetes.io/name": name}, **(labels or {}))
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": dict(annotations or {})},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                    "name": name, "image": "ghcr.io/ai-orchestrator/%s:1.0.0" % name,
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": memory}},
                }]},
            },
        },
    }
    drill.kubectl("apply", "-f", "-", input=json.dumps(manifest), namespace=ns)
    if wait:
        drill.kubectl("rollout", "status", "deployment/" + name, "--timeout=90s", namespace=ns, timeout=120)


def diagnose(ns, service):
    report = module("workload_health_info", kubeconfig=drill.kubeconfig(), namespace=ns, service=service, log_lines=5)
    assert not report["failed"], report.get("msg")
    return report


def remediate(ns, check=False, **args):
    return module("workload_remediation", check=check, kubeconfig=drill.kubeconfig(), namespace=ns, **args)


def template_limits(ns, name):
    dep = drill.kubectl_json("get", "deployment", name, namespace=ns)
    return dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]


def history(ns, name):
    annotations = drill.kubectl_json("get", "deployment", name, namespace=ns)["metadata"].get("annotations") or {}
    return json.loads(annotations.get(HISTORY) or "[]")


@pytest.mark.long  # make test: the raise itself, rolled out and verified on fresh metrics, below
def test_a_raise_that_does_not_stop_the_oom_kills_fails_fast(ns, filters):
    """drill's oomkilled fault is a label: the new pods are killed again, and the module says the fault is not transient."""
    deploy(ns, "leaky", labels={drill.FAULT_LABEL: "oomkilled"}, wait=False)

    def killed(pod):
        status = drill.container_status(pod)
        last = status and ((status.last_state and status.last_state.terminated) or (status.state and status.state.terminated))
        return bool(last) and last.reason == "OOMKilled"

    def every_pod_killed():
        pods = drill.pods("leaky", namespace=ns)
        return len(pods) == 2 and all(killed(p) for p in pods)

    drill.wait_for(every_pod_killed, timeout=60, message="both leaky pods OOM-killed")
    report = diagnose(ns, "leaky")
    [workload] = report["workloads"]
    assert workload["classification"] == "oom" and workload["all_replicas_affected"], workload["evidence"]
    [plan] = filters.remediation_plans(report, 10, 1, None, BOUND)
    assert (plan["action"], plan["limits"]) == ("raise_limits", {"leaky": {"memory": "768Mi"}}), plan

    result = remediate(ns, service="leaky", action="raise_limits", limits=plan["limits"], limits_max=LIMITS_MAX,
                       incident_id="incident-limits-2", wait_timeout=90)
    assert result["failed"] and result["verified"] is False, result
    assert "Deployment/leaky: new pod leaky-" in result["msg"] and "the fault is not transient" in result["msg"]
    assert template_limits(ns, "leaky")["memory"] == "768Mi"  # the raise was made, and counts against the budget
    assert [e["action"] for e in history(ns, "leaky")] == ["raise_limits"]


def test_a_raised_memory_limit_relieves_exhaustion_at_the_maximum_replicas(ns, filters):
    drill.kubectl("rollout", "status", "deployment/worker", "--timeout=90s", namespace=ns, timeout=120)
    pods = [p.metadata.name for p in drill.pods("worker", namespace=ns)]
    drill.wait_for(lambda: all(drill.pod_metrics(ns).get(p, {}).get("memory", 0) >= 400 * 2 ** 20 for p in pods), timeout=120,
                   message="metrics of the worker pods")
    report = diagnose(ns, "worker")
    [workload] = report["workloads"]
    assert workload["classification"] == "resource_exhaustion", workload["evidence"]

    # At its maximum replicas: without a bound the runbook escalates, with one it raises the exhausted memory.
    [escalate] = filters.remediation_plans(report, 2, 1)
    assert escalate["action"] == "escalate" and "the configured maximum" in escalate["reason"]
    [plan] = filters.remediation_plans(report, 2, 1, None, BOUND)
    assert plan["action"] == "raise_limits", plan
    assert (plan["limits"], plan["previous_limits"]) == ({"worker": {"memory": "768Mi"}}, {"worker": {"memory": "512Mi"}})

    args = dict(service="worker", action="raise_limits", limits=plan["limits"], limits_max=LIMITS_MAX, incident_id="incident-limits-1",
                reason=plan["reason"], metrics_timeout=150, wait_timeout=120)
    dry = remediate(ns, check=True, **args)
    assert not dry["failed"] and dry["changed"] and dry["verified"] is None, dry.get("msg")
    assert dry["steps"] == ["would raise the limits of Deployment/worker: container worker memory 512Mi -> 768Mi (dry run)"]
    assert template_limits(ns, "worker")["memory"] == "512Mi" and history(ns, "worker") == []

    done = remediate(ns, **args)
    assert not done["failed"] and done["changed"] and done["verified"] is True, done.get("msg")
    assert done["limits_before"] == {"worker": {"memory": "512Mi"}} and done["limits_after"] == {"worker": {"memory": "768Mi"}}
    # Judged on metrics sampled after the pods with the new limit were ready: 480Mi of 768Mi.
    assert done["usage"]["fresh"] is True and done["usage"]["saturated"] == [], done["usage"]
    assert template_limits(ns, "worker") == {"cpu": "500m", "memory": "768Mi"}
    assert all(p.spec.containers[0].resources.limits["memory"] == "768Mi" for p in drill.ready_pods("worker", namespace=ns))
    [entry] = history(ns, "worker")
    assert (entry["action"], entry["incident"], entry["limits"]) == ("raise_limits", "incident-limits-1", {"worker": {"memory": "768Mi"}})

    again = remediate(ns, **args)
    assert not again["failed"] and not again["changed"], again.get("msg")
    assert again["steps"] == ["skipped Deployment/worker: every limit already has the value asked for"]
    lower = remediate(ns, **dict(args, limits={"worker": {"memory": "512Mi"}}))
    assert lower["failed"] and "refusing to lower the memory limit of container worker of Deployment/worker" in lower["msg"]
    assert len(history(ns, "worker")) == 1
