# SPDX-License-Identifier: GPL-3.0-or-later
"""Test helpers for the drill cluster (drill/cluster.sh, drill/env.sh).

Settings come from drill/versions.env and drill/drill.env exactly as the scripts read
them; `kubectl()` runs the drill's own kubectl (the cluster's release, not whatever is
on PATH) against $DRILL_KUBECONFIG; `client()` is a kubernetes Python client for the
same cluster. Faults are put on by drill/fault.sh, the one place that writes them: the
label drill.incident-response.io/fault on a pod (transient) or in a workload's pod
template (persistent), drill.incident-response.io/usage=high on a pod.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, TypeVar

REPO = Path(__file__).resolve().parents[2]
DRILL = REPO / "drill"
NAMESPACE = "ai-orchestrator"
FAULT_LABEL = "drill.incident-response.io/fault"
USAGE_LABEL = "drill.incident-response.io/usage"
FAULTS = ("crashloop", "oomkilled", "imagepull", "notready")
# The fixture's workloads and their replicas (drill/fixture/).
DEPLOYMENTS = {"api-gateway": 2, "auth-service": 2, "workflow-service": 2,
               "execution-service": 2, "langflow": 2, "n8n": 1}
STATEFULSETS = {"postgres": 1, "redis": 1}

T = TypeVar("T")


@lru_cache(maxsize=1)
def env() -> dict[str, str]:
    """DRILL_* and *_VERSION settings as drill/cluster.sh sees them (bash expands the files)."""
    script = 'set -a; source "$1"; source "$2"; env -0'
    out = subprocess.run(["bash", "-c", script, "-", str(DRILL / "versions.env"), str(DRILL / "drill.env")],
                         check=True, capture_output=True).stdout.decode()
    pairs = (v.split("=", 1) for v in out.split("\0") if "=" in v)
    return {k: v for k, v in pairs if k.startswith("DRILL_") or k.endswith("_VERSION")}


def kubeconfig() -> str:
    return env()["DRILL_KUBECONFIG"]


def kubectl_path() -> Path:
    e = env()
    return Path(e["DRILL_CACHE"]) / "bin" / f"kubernetes-{e['KUBE_VERSION']}" / "kubectl"


def kubectl(*args: str, check: bool = True, timeout: float = 60, input: str | None = None,
            namespace: str | None = NAMESPACE) -> subprocess.CompletedProcess:
    """Run the drill's kubectl; `namespace=None` for cluster-scoped commands."""
    cmd = [str(kubectl_path()), "--kubeconfig", kubeconfig()]
    if namespace:
        cmd += ["-n", namespace]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def kubectl_json(*args: str, **kwargs) -> dict:
    return json.loads(kubectl(*args, "-o", "json", **kwargs).stdout)


@lru_cache(maxsize=1)
def client():
    """A kubernetes.client.ApiClient for the drill cluster."""
    from kubernetes import config

    return config.new_client_from_config(config_file=kubeconfig())


def core():
    from kubernetes import client as k8s

    return k8s.CoreV1Api(client())


def apps():
    from kubernetes import client as k8s

    return k8s.AppsV1Api(client())


def custom():
    from kubernetes import client as k8s

    return k8s.CustomObjectsApi(client())


def wait_for(predicate: Callable[[], T], timeout: float = 60, interval: float = 0.5,
             message: str = "condition") -> T:
    """Poll until predicate() returns something truthy and return it; AssertionError on timeout.
    Exceptions inside predicate count as "not yet" (the last one is reported)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling, report at the end
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")
        time.sleep(interval)


# --- pods and workloads ------------------------------------------------------------------


def pods(app: str | None = None, namespace: str = NAMESPACE) -> list:
    """Pods (V1Pod) of one app (label app.kubernetes.io/name), not being deleted."""
    selector = f"app.kubernetes.io/name={app}" if app else None
    items = core().list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in items if p.metadata.deletion_timestamp is None]


def is_ready(pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def ready_pods(app: str, namespace: str = NAMESPACE) -> list:
    return [p for p in pods(app, namespace) if is_ready(p)]


def container_status(pod, index: int = 0):
    statuses = pod.status.container_statuses or []
    return statuses[index] if len(statuses) > index else None


def read_pod(name: str, namespace: str = NAMESPACE):
    return core().read_namespaced_pod(name, namespace)


def pod_gone(name: str, namespace: str = NAMESPACE) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        read_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def events(pod_name: str, namespace: str = NAMESPACE, reason: str | None = None) -> list:
    """Events about one pod (core/v1), oldest first."""
    selector = f"involvedObject.kind=Pod,involvedObject.name={pod_name}"
    if reason:
        selector += f",reason={reason}"
    items = core().list_namespaced_event(namespace, field_selector=selector).items
    return sorted(items, key=lambda e: (e.last_timestamp or e.event_time or e.metadata.creation_timestamp))


def workload_ready(name: str, replicas: int | None = None, kind: str = "deployment",
                   namespace: str = NAMESPACE) -> bool:
    """Every replica updated, ready and available, and no surplus pods left over."""
    api = apps()
    obj = (api.read_namespaced_deployment(name, namespace) if kind == "deployment"
           else api.read_namespaced_stateful_set(name, namespace))
    want = obj.spec.replicas if replicas is None else replicas
    st = obj.status
    if obj.spec.replicas != want or (st.observed_generation or 0) < obj.metadata.generation:
        return False
    if (st.ready_replicas or 0) != want or (st.updated_replicas or 0) != want:
        return False
    if kind == "deployment" and ((st.replicas or 0) != want or (st.available_replicas or 0) != want):
        return False
    return len(pods(name, namespace)) == want


def wait_workload_ready(name: str, replicas: int | None = None, kind: str = "deployment",
                        timeout: float = 90) -> None:
    wait_for(lambda: workload_ready(name, replicas, kind), timeout,
             message=f"{kind}/{name} to have {replicas if replicas is not None else 'all'} ready replicas")


def _deployment_problems(dep, replicas: int, namespace: str, drill_labels: tuple) -> list[str]:
    """How a fixture Deployment differs from as shipped: replicas, a drill label in its template, readiness."""
    name = dep.metadata.name
    problems = []
    if dep.spec.replicas != replicas:
        problems.append(f"deployment/{name} has {dep.spec.replicas} replicas, fixture {replicas}")
    if set(drill_labels) & set(dep.spec.template.metadata.labels or {}):
        problems.append(f"deployment/{name} template carries a drill label")
    if not workload_ready(name, namespace=namespace):
        problems.append(f"deployment/{name} is not ready")
    return problems


def fixture_intact() -> list[str]:
    """What differs from the fixture as applied: replicas, images, fault labels, unready pods."""
    problems = []
    for name, replicas in DEPLOYMENTS.items():
        dep = apps().read_namespaced_deployment(name, NAMESPACE)
        problems += _deployment_problems(dep, replicas, NAMESPACE, (FAULT_LABEL, USAGE_LABEL, "drill.incident-response.io/http-fault"))
        if any("unpullable" in c.image for c in dep.spec.template.spec.containers):
            problems.append(f"deployment/{name} has an unpullable image")
    for name, replicas in STATEFULSETS.items():
        if not workload_ready(name, replicas, kind="statefulset"):
            problems.append(f"statefulset/{name} is not ready with {replicas} replica(s)")
    for pod in pods():
        labels = pod.metadata.labels or {}
        if FAULT_LABEL in labels or USAGE_LABEL in labels:
            problems.append(f"pod/{pod.metadata.name} carries a drill label")
    return problems


# --- faults --------------------------------------------------------------------------------


def fault_sh(*args: str, namespace: str = NAMESPACE, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run drill/fault.sh (same kubectl, kubeconfig and settings as kubectl() here) in `namespace`."""
    proc = subprocess.run(["bash", str(DRILL / "fault.sh"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DRILL_NAMESPACE": namespace}, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"drill/fault.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _workload(name: str, kind: str) -> str:
    """KIND/NAME for fault.sh: "deployment", anything else a StatefulSet (as the callers mean it)."""
    return f"{'deployment' if kind == 'deployment' else 'statefulset'}/{name}"


def inject_pod_fault(pod: str, fault: str, namespace: str = NAMESPACE) -> None:
    """Transient fault: label one pod; deleting the pod heals it."""
    assert fault in FAULTS, fault
    fault_sh("label", pod, fault, namespace=namespace)


def clear_pod_fault(pod: str, namespace: str = NAMESPACE, wait: bool = True) -> None:
    """Heal a transient fault the runbook's way: delete the pod, let its controller replace it."""
    core().delete_namespaced_pod(pod, namespace, grace_period_seconds=0)
    if wait:
        wait_for(lambda: pod_gone(pod, namespace), 30, message=f"pod/{pod} to be deleted")


def inject_workload_fault(name: str, fault: str, kind: str = "deployment", namespace: str = NAMESPACE) -> None:
    """Persistent fault: label the pod template, so every new pod fails the same way."""
    assert fault in FAULTS, fault
    fault_sh("template", _workload(name, kind), fault, namespace=namespace)


def clear_workload_fault(name: str, kind: str = "deployment", namespace: str = NAMESPACE,
                         wait: bool = True) -> None:
    """Remove the template label (a new rollout replaces the failing pods; fault.sh deletes a
    StatefulSet's faulty pods, which it would not replace by itself)."""
    fault_sh("untemplate", _workload(name, kind), namespace=namespace)
    if wait:
        wait_workload_ready(name, kind=kind)


def set_usage(pod: str, level: str | None, namespace: str = NAMESPACE) -> None:
    """drill.incident-response.io/usage=high on a pod (None removes the label)."""
    assert level in ("high", None), level
    fault_sh("label" if level else "unlabel", pod, "usage-high", namespace=namespace)


def pod_metrics(namespace: str = NAMESPACE) -> dict[str, dict]:
    """metrics.k8s.io usage per pod: {pod: {"cpu": millicores, "memory": bytes}}."""
    data = custom().list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")
    result = {}
    for item in data["items"]:
        cpu = sum(quantity(c["usage"]["cpu"]) for c in item["containers"]) * 1000
        mem = sum(quantity(c["usage"]["memory"]) for c in item["containers"])
        result[item["metadata"]["name"]] = {"cpu": cpu, "memory": mem}
    return result


def quantity(value: str) -> float:
    """A Kubernetes quantity as a float (cores for CPU, bytes for memory)."""
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(value))


def dataplane_up() -> bool:
    """Whether helper B's data plane (real PostgreSQL/Redis behind the exec wrappers) answers."""
    script = DRILL / "dataplane.sh"
    if not script.exists():
        return False
    return subprocess.run(["bash", str(script), "status"], capture_output=True, timeout=60, check=False).returncode == 0


# --- drill-workloads (drill/fixture-workloads/) --------------------------------------------
# A second namespace with the kinds of workloads production runs; drill/fault.sh breaks them
# (container-scoped and init container faults, a node that stops reporting, a ResourceQuota)
# and `drill/fault.sh reset-workloads` puts it back as shipped.

WORKLOADS_NAMESPACE = "drill-workloads"
CONTAINER_LABEL = "drill.incident-response.io/fault-container"
INIT_FAULTS = ("init-crashloop", "init-error", "init-imagepull")
# The node the node fault is meant for: tainted, only drill-workloads' cache and node-agent
# (and workloads moved there with `fault.sh place`) run on it.
FAULT_NODE = "aio-worker-5"
PLATFORM_NODES = ("aio-worker-1", "aio-worker-2", "aio-worker-3", "aio-worker-4")
WORKLOADS_DEPLOYMENTS = {"web": 4, "worker": 2, "api-expr": 2, "idle": 0, "frontend": 2, "batch-api": 1,
                         "shared-a": 1, "shared-b": 1, "gitops-app": 2, "flux-app": 2, "no-limits": 1}
WORKLOADS_STATEFULSETS = {"db": 3, "cache": 1}


def workloads_intact() -> list[str]:
    """What differs in drill-workloads from drill/fixture-workloads as applied: replicas, drill
    labels, pod templates moved to other nodes, unready pods, a faulty node, a quota."""
    ns = WORKLOADS_NAMESPACE
    problems = []
    for name, replicas in WORKLOADS_DEPLOYMENTS.items():
        dep = apps().read_namespaced_deployment(name, ns)
        problems += _deployment_problems(dep, replicas, ns, (FAULT_LABEL, USAGE_LABEL, CONTAINER_LABEL))
        if dep.spec.template.spec.node_selector != {"kubernetes.io/os": "linux"}:
            problems.append(f"deployment/{name} template has node selector {dep.spec.template.spec.node_selector}")
    for name, replicas in WORKLOADS_STATEFULSETS.items():
        labels = apps().read_namespaced_stateful_set(name, ns).spec.template.metadata.labels or {}
        if FAULT_LABEL in labels or CONTAINER_LABEL in labels:
            problems.append(f"statefulset/{name} template carries a drill label")
        if not workload_ready(name, replicas, kind="statefulset", namespace=ns):
            problems.append(f"statefulset/{name} is not ready with {replicas} replica(s)")
    ds = apps().read_namespaced_daemon_set("node-agent", ns).status
    if not (ds.desired_number_scheduled == ds.number_ready == ds.updated_number_scheduled
            == len(PLATFORM_NODES) + 1):
        problems.append(f"daemonset/node-agent has {ds.number_ready}/{ds.desired_number_scheduled} ready")
    for pod in pods(namespace=ns):
        labels = pod.metadata.labels or {}
        if FAULT_LABEL in labels or USAGE_LABEL in labels:
            problems.append(f"pod/{pod.metadata.name} carries a drill label")
        if "batch.kubernetes.io/job-name" in labels:
            if pod.status.phase != "Succeeded":
                problems.append(f"pod/{pod.metadata.name} of the Job is {pod.status.phase}")
        elif not is_ready(pod):
            problems.append(f"pod/{pod.metadata.name} is not ready")
    node = core().read_node(FAULT_NODE)
    if not any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
        problems.append(f"node/{FAULT_NODE} is not Ready")
    if any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or []):
        problems.append(f"node/{FAULT_NODE} is tainted {[t.key for t in node.spec.taints]}")
    if core().list_namespaced_resource_quota(ns).items:
        problems.append("a ResourceQuota is left in drill-workloads")
    return problems


def reset_workloads(timeout: float = 240) -> None:
    """drill/fault.sh reset-workloads: nodes back, quota gone, drill-workloads as shipped, ready."""
    fault_sh("reset-workloads", namespace=WORKLOADS_NAMESPACE, timeout=timeout)


def inject_container_fault(pod: str, fault: str, container: str | None = None,
                           namespace: str = WORKLOADS_NAMESPACE) -> None:
    """Transient fault on one pod, limited to `container` (label fault-container) when given."""
    assert fault in FAULTS + INIT_FAULTS, fault
    fault_sh("label", pod, fault, *([container] if container else []), namespace=namespace)


def inject_workload_container_fault(name: str, fault: str, container: str | None = None, kind: str = "deployment",
                                    namespace: str = WORKLOADS_NAMESPACE) -> None:
    """Persistent fault in the pod template, limited to `container` when given."""
    assert fault in FAULTS + INIT_FAULTS, fault
    fault_sh("template", _workload(name, kind), fault, *([container] if container else []), namespace=namespace)


def node_fault(node: str, state: str) -> str:
    """drill/fault.sh node NODE notready|ready; returns its message (notready waits for Unknown)."""
    assert state in ("notready", "ready"), state
    return fault_sh("node", node, state, timeout=150).stdout.strip()


def place(name: str, node: str, kind: str = "deployment", namespace: str = WORKLOADS_NAMESPACE) -> None:
    """Run a workload's pods on `node` (tolerating the reserved node's taint); waits for the rollout."""
    fault_sh("place", _workload(name, kind), node, namespace=namespace, timeout=150)


def quota(name: str, kind: str = "deployment", namespace: str = WORKLOADS_NAMESPACE) -> None:
    """A ResourceQuota one pod below the namespace's count and one pod of the workload deleted:
    returns once its controller has reported FailedCreate."""
    fault_sh("quota", _workload(name, kind), namespace=namespace)


def unquota(namespace: str = WORKLOADS_NAMESPACE) -> None:
    fault_sh("unquota", namespace=namespace)


def status_of(pod, container: str):
    """The status of a container or init container by name (None when not reported)."""
    statuses = (pod.status.container_statuses or []) + (pod.status.init_container_statuses or [])
    return next((s for s in statuses if s.name == container), None)


def pod_condition(pod, kind: str):
    """The pod condition of that type (V1PodCondition) or None."""
    return next((c for c in pod.status.conditions or [] if c.type == kind), None)


# --- causes of High Error Rate / High Response Time (drill/fault.sh release, load) ------------
HTTP_FAULT_LABEL = "drill.incident-response.io/http-fault"
SERVES_ANNOTATION = "drill.incident-response.io/serves"


def release(workload: str, how: str, fraction: float | None = None, namespace: str = NAMESPACE) -> str:
    """A bad release of Deployment `workload` (drill/fault.sh release): a new revision with a new
    image tag whose pods carry http-fault=errors|slow; returns once the rollout completed (its
    pods Ready). Its stand-in answers `fraction` (default 0.3) of its API requests with 500
    (errors) or in 3 s (slow). `kubectl rollout undo` heals it. Returns fault.sh's line."""
    assert how in ("errors", "slow"), how
    args = ["release", workload, how] + ([] if fraction is None else [str(fraction)])
    return fault_sh(*args, namespace=namespace, timeout=180).stdout.strip()
