# SPDX-License-Identifier: GPL-3.0-or-later
"""drill-workloads, the drill's second namespace (drill/fixture-workloads/): the kinds of
workloads production runs, and the drill faults that break them as a real kubelet or
controller reports it - one container of a pod, an init container, a native sidecar, a node
that stops reporting, a ResourceQuota that stops a ReplicaSet. Each test leaves the namespace
as shipped (drill/fault.sh reset-workloads) and proves it."""

from __future__ import annotations

import json
import re

import pytest

import drill
from drill import WORKLOADS_NAMESPACE as NS, pod_condition, status_of, wait_for

pytestmark = [pytest.mark.drill, pytest.mark.xdist_group("workloads"), pytest.mark.usefixtures("drill_env")]

NODES = set(drill.PLATFORM_NODES) | {drill.FAULT_NODE}


def kubectl(*args: str, check: bool = True):
    return drill.kubectl(*args, check=check, namespace=NS)


@pytest.fixture(scope="module", autouse=True)
def intact_at_start(drill_env):
    if drill.workloads_intact():
        drill.reset_workloads()
    wait_for(lambda: not drill.workloads_intact(), 120, message="drill-workloads to be intact before the tests")


@pytest.fixture(autouse=True)
def restored():
    """Every test ends with drill-workloads as shipped."""
    yield
    drill.reset_workloads()
    assert drill.workloads_intact() == []


def ready_pod(app: str):
    ready = wait_for(lambda: drill.ready_pods(app, NS), 60, message=f"a ready {app} pod")
    return sorted(ready, key=lambda p: p.metadata.name)[0]


def read(name: str):
    return drill.read_pod(name, NS)


def new_pod(app: str, old: set[str]):
    return wait_for(lambda: [p for p in drill.pods(app, NS) if p.metadata.name not in old], 30,
                    message=f"a new {app} pod")[0].metadata.name


def pods_line(name: str) -> list[str]:
    """The pod's line of `kubectl get pods`: NAME READY STATUS RESTARTS..."""
    out = kubectl("get", "pods").stdout
    return next(line.split() for line in out.splitlines() if line.startswith(name + " "))


def events(pod: str, reason: str) -> list:
    return drill.events(pod, NS, reason)


def waiting(pod, container: str) -> str | None:
    st = status_of(pod, container)
    return st.state.waiting.reason if st and st.state.waiting else None


def wait_restarts(pod: str, container: str, count: int, reason: str = "CrashLoopBackOff"):
    """Until the container has restarted `count` times and waits in `reason` again."""
    def done():
        p = read(pod)
        st = status_of(p, container)
        return st and st.restart_count >= count and waiting(p, container) == reason and p
    return wait_for(done, 60, interval=0.3, message=f"{pod}/{container} to restart {count} times")


def ready_endpoints(service: str) -> dict[str, bool]:
    slices = json.loads(kubectl("get", "endpointslices", "-l", f"kubernetes.io/service-name={service}",
                                "-o", "json").stdout)["items"]
    return {e["targetRef"]["name"]: e["conditions"].get("ready") for s in slices for e in s.get("endpoints") or []}


# --- the fixture ----------------------------------------------------------------------------


def test_fixture_has_the_workload_kinds_production_runs():
    apps = drill.apps()
    web = apps.read_namespaced_deployment("web", NS)
    assert [c.name for c in web.spec.template.spec.containers] == ["app", "proxy"]
    assert all(c.resources.limits and c.resources.requests for c in web.spec.template.spec.containers)
    worker = apps.read_namespaced_deployment("worker", NS).spec.template.spec
    assert [(c.name, c.restart_policy) for c in worker.init_containers] == [("log-shipper", "Always"), ("migrate", None)]
    api = apps.read_namespaced_deployment("api-expr", NS).spec.selector
    assert api.match_labels is None and {e.key for e in api.match_expressions} == {"app", "tier"}
    assert apps.read_namespaced_deployment("idle", NS).spec.replicas == 0
    assert apps.read_namespaced_deployment("batch-api", NS).spec.strategy.type == "Recreate"
    gitops = apps.read_namespaced_deployment("gitops-app", NS).metadata
    assert gitops.annotations["argocd.argoproj.io/tracking-id"] == "drill:apps/Deployment:drill-workloads/gitops-app"
    assert "app.kubernetes.io/instance" in gitops.labels
    assert apps.read_namespaced_deployment("flux-app", NS).metadata.labels["kustomize.toolkit.fluxcd.io/name"]
    no_limits = apps.read_namespaced_deployment("no-limits", NS).spec.template.spec.containers[0].resources
    assert no_limits.requests and not no_limits.limits
    db = apps.read_namespaced_stateful_set("db", NS).spec
    assert db.replicas == 3 and db.service_name == "db"
    assert drill.core().read_namespaced_service("db", NS).spec.cluster_ip == "None"
    pdbs = {p["metadata"]["name"]: p["spec"] for p in drill.kubectl_json("get", "pdb", namespace=NS)["items"]}
    assert pdbs["web"]["minAvailable"] == 2 and pdbs["db"]["maxUnavailable"] == 1

    # shared-a and shared-b: one shared label, different selectors; Service shared spans both.
    a, b = (apps.read_namespaced_deployment(n, NS) for n in ("shared-a", "shared-b"))
    assert a.spec.selector.match_labels != b.spec.selector.match_labels
    assert a.spec.template.metadata.labels["team"] == b.spec.template.metadata.labels["team"] == "shared"
    assert {n.split("-")[1] for n in ready_endpoints("shared")} == {"a", "b"}

    # `kubectl get pods`: sidecars counted, the Job's pod Completed, every pod on the drill's nodes.
    out = kubectl("get", "pods", "-o", "wide").stdout
    for name, want in (("web-", "2/2"), ("worker-", "2/2"), ("db-0", "1/1"), ("node-agent-", "1/1")):
        assert re.search(rf"^{name}\S*\s+{want}\s+Running\s", out, re.M), out
    assert re.search(r"^nightly-report-\S+\s+0/1\s+Completed\s", out, re.M), out
    for pod in drill.pods(namespace=NS):
        assert pod.spec.node_name in NODES, (pod.metadata.name, pod.spec.node_name)
    on_fault_node = {p.metadata.labels["app.kubernetes.io/name"] for p in drill.pods(namespace=NS)
                     if p.spec.node_name == drill.FAULT_NODE}
    assert on_fault_node == {"cache", "node-agent"}
    ds = apps.read_namespaced_daemon_set("node-agent", NS).status
    assert ds.number_ready == len(NODES)
    assert read("debug-shell").metadata.owner_references is None
    cron = drill.kubectl_json("get", "cronjob", "cleanup", namespace=NS)
    assert cron["spec"]["suspend"] is True
    job = drill.kubectl_json("get", "job", "nightly-report", namespace=NS)
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])

    # frontend's HPA is valid and reads CPU from metrics-server (kwok's usage).
    def hpa_metrics():
        hpa = drill.kubectl_json("get", "hpa", "frontend", namespace=NS)
        st = hpa["status"]
        active = any(c["type"] == "ScalingActive" and c["status"] == "True" for c in st.get("conditions", []))
        current = [m["resource"]["current"].get("averageUtilization") for m in st.get("currentMetrics") or []
                   if m.get("type") == "Resource"]
        return active and current and current[0] is not None and (hpa, current[0])
    hpa, utilization = wait_for(hpa_metrics, 90, interval=2, message="frontend's HPA to show current CPU")
    assert 0 < utilization < 80 and hpa["status"]["desiredReplicas"] == 2
    assert re.search(r"^frontend\s+Deployment/frontend\s+cpu: \d+%/80%\s+2\s+3\s+2\s",
                     kubectl("get", "hpa").stdout, re.M)


# --- container-scoped faults ----------------------------------------------------------------


def test_crashloop_of_one_container_leaves_the_other_running():
    """web's proxy crashes; its app keeps running and ready; the pod leaves the Service."""
    name = ready_pod("web").metadata.name
    drill.inject_container_fault(name, "crashloop", "proxy")
    pod = wait_restarts(name, "proxy", 2)
    proxy, app = status_of(pod, "proxy"), status_of(pod, "app")
    assert proxy.ready is False and proxy.started is False
    assert proxy.last_state.terminated.reason == "Error" and proxy.last_state.terminated.exit_code == 1
    assert proxy.state.waiting.message.startswith("back-off ") and "restarting failed container=proxy pod=" in proxy.state.waiting.message
    assert app.ready is True and app.state.running and app.restart_count == 0
    assert pod.status.phase == "Running"
    ready = pod_condition(pod, "Ready")
    assert ready.status == "False" and ready.reason == "ContainersNotReady"
    assert ready.message == "containers with unready status: [proxy]"
    assert pod_condition(pod, "Initialized").status == "True"
    line = pods_line(name)
    assert line[1] == "1/2" and line[2] in ("CrashLoopBackOff", "Running"), line
    backoff = events(name, "BackOff")[-1]
    assert backoff.type == "Warning" and backoff.source.component == "kubelet"
    assert backoff.involved_object.field_path == "spec.containers{proxy}"
    assert backoff.message.startswith(f"Back-off restarting failed container proxy in pod {name}_{NS}(")
    # Logs: the crashed container's previous instance; the other container's own.
    assert "Application startup failed. Exiting." in kubectl("logs", name, "-c", "proxy", "--previous").stdout
    assert "INFO ready" in kubectl("logs", name, "-c", "app").stdout
    assert kubectl("logs", name, "-c", "app", "--previous", check=False).returncode != 0
    wait_for(lambda: ready_endpoints("web").get(name) is False, 30, message=f"{name} to be a not-ready endpoint")
    assert len(drill.ready_pods("web", NS)) == 3


def test_oomkilled_container_in_the_pod_template():
    """Every new web pod's app is OOMKilled (137); the rollout stalls, the old pods serve."""
    old = {p.metadata.name for p in drill.pods("web", NS)}
    drill.inject_workload_container_fault("web", "oomkilled", "app")
    name = new_pod("web", old)
    pod = wait_restarts(name, "app", 1)
    app = status_of(pod, "app")
    assert app.last_state.terminated.reason == "OOMKilled" and app.last_state.terminated.exit_code == 137
    assert status_of(pod, "proxy").ready is True
    assert pod_condition(pod, "Ready").message == "containers with unready status: [app]"
    assert len([p for p in drill.ready_pods("web", NS) if p.metadata.name in old]) >= 3
    assert "memory usage high" in kubectl("logs", name, "-c", "app", "--previous").stdout


def test_native_sidecar_crashloop():
    """worker's log-shipper (an init container with restartPolicy Always) crashes after the pod
    started: the pod stays initialized and Running, but not Ready - a sidecar's readiness
    counts into the pod's (KEP-753)."""
    name = ready_pod("worker").metadata.name
    drill.inject_container_fault(name, "crashloop", "log-shipper")
    pod = wait_restarts(name, "log-shipper", 2)
    sidecar = status_of(pod, "log-shipper")
    assert sidecar in pod.status.init_container_statuses
    assert sidecar.ready is False and sidecar.started is False
    assert sidecar.last_state.terminated.exit_code == 1
    assert status_of(pod, "worker").ready is True and status_of(pod, "worker").state.running
    assert status_of(pod, "migrate").state.terminated.reason == "Completed"
    assert pod.status.phase == "Running"
    assert pod_condition(pod, "Initialized").status == "True"
    assert pod_condition(pod, "Ready").message == "containers with unready status: [log-shipper]"
    assert pods_line(name)[1] == "1/2"
    assert events(name, "BackOff")[-1].involved_object.field_path == "spec.initContainers{log-shipper}"
    assert "Traceback" in kubectl("logs", name, "-c", "log-shipper", "--previous").stdout


def test_notready_of_one_container():
    name = ready_pod("web").metadata.name
    drill.inject_container_fault(name, "notready", "app")

    def unready():
        p = read(name)
        return pod_condition(p, "Ready").status == "False" and p
    pod = wait_for(unready, 30, message=f"{name} not ready")
    app = status_of(pod, "app")
    assert app.state.running and app.started is True and app.ready is False
    assert status_of(pod, "proxy").ready is True
    assert pod_condition(pod, "ContainersReady").message == "containers with unready status: [app]"
    assert pods_line(name)[1:3] == ["1/2", "Running"]
    unhealthy = wait_for(lambda: events(name, "Unhealthy"), 15, message="an Unhealthy event")[-1]
    assert unhealthy.message == "Readiness probe failed: HTTP probe failed with statuscode: 503"
    assert unhealthy.involved_object.field_path == "spec.containers{app}"


def test_imagepull_of_one_container():
    """A new web pod whose app image cannot be pulled: Pending, the proxy running."""
    old = {p.metadata.name for p in drill.pods("web", NS)}
    drill.inject_workload_container_fault("web", "imagepull", "app")
    name = new_pod("web", old)
    seen = set()

    def both():
        p = read(name)
        seen.add(waiting(p, "app"))
        return {"ErrImagePull", "ImagePullBackOff"} <= seen and p
    pod = wait_for(both, 40, interval=0.3, message=f"{name} to show ErrImagePull and ImagePullBackOff")
    assert pod.status.phase == "Pending"
    assert status_of(pod, "proxy").ready is True and status_of(pod, "app").restart_count == 0
    assert pods_line(name)[1] == "1/2"
    failed = [e for e in events(name, "Failed") if e.message.startswith("Failed to pull image")]
    assert failed[-1].message.startswith('Failed to pull image "ghcr.io/drill-shop/web:1.8.2": rpc error')
    assert failed[-1].involved_object.field_path == "spec.containers{app}"


# --- init container faults ------------------------------------------------------------------


def test_init_crashloop():
    """worker's migration fails in every new pod: Init:CrashLoopBackOff, Pending."""
    old = {p.metadata.name for p in drill.pods("worker", NS)}
    drill.inject_workload_container_fault("worker", "init-crashloop")
    name = new_pod("worker", old)
    pod = wait_restarts(name, "migrate", 2)
    migrate = status_of(pod, "migrate")
    assert migrate.last_state.terminated.reason == "Error" and migrate.last_state.terminated.exit_code == 1
    assert migrate.ready is False
    assert pod.status.phase == "Pending"
    initialized = pod_condition(pod, "Initialized")
    assert initialized.status == "False" and initialized.reason == "ContainersNotInitialized"
    assert initialized.message == "containers with incomplete status: [migrate]"
    assert pod_condition(pod, "Ready").message == "containers with unready status: [worker]"
    assert status_of(pod, "log-shipper").state.running and status_of(pod, "log-shipper").ready is True
    assert waiting(pod, "worker") == "PodInitializing"
    line = pods_line(name)
    assert line[1:3] == ["1/2", "Init:CrashLoopBackOff"], line
    assert int(line[3]) >= 2
    backoff = events(name, "BackOff")[-1]
    assert backoff.involved_object.field_path == "spec.initContainers{migrate}"
    assert backoff.message.startswith(f"Back-off restarting failed container migrate in pod {name}_")
    for previous in ((), ("--previous",)):
        logs = kubectl("logs", name, "-c", "migrate", *previous).stdout
        assert "Dirty database version 43" in logs
    # The rollout stalls; the old pods keep working.
    assert {p.metadata.name for p in drill.ready_pods("worker", NS)} == old


def test_init_error():
    old = {p.metadata.name for p in drill.pods("worker", NS)}
    drill.inject_workload_container_fault("worker", "init-error", "migrate")
    name = new_pod("worker", old)
    wait_for(lambda: pods_line(name)[2] == "Init:Error", 30, interval=0.3, message=f"{name} in Init:Error")
    pod = read(name)
    migrate = status_of(pod, "migrate")
    assert migrate.state.terminated.reason == "Error" and migrate.state.terminated.exit_code == 1
    assert migrate.restart_count == 0 and migrate.last_state.terminated is None
    assert pod.status.phase == "Pending" and pod_condition(pod, "Initialized").status == "False"
    assert "migration failed" in kubectl("logs", name, "-c", "migrate").stdout
    assert kubectl("logs", name, "-c", "migrate", "--previous", check=False).returncode != 0
    # It stays so: no kwok default stage turns it Running.
    version = pod.metadata.resource_version
    with pytest.raises(AssertionError):
        wait_for(lambda: read(name).metadata.resource_version != version, 4, message="no further change")


def test_init_imagepull():
    old = {p.metadata.name for p in drill.pods("worker", NS)}
    drill.inject_workload_container_fault("worker", "init-imagepull")
    name = new_pod("worker", old)
    seen = set()

    def both():
        seen.add(pods_line(name)[2])
        return {"Init:ErrImagePull", "Init:ImagePullBackOff"} <= seen
    wait_for(both, 40, interval=0.3, message=f"{name} to show Init:ErrImagePull and Init:ImagePullBackOff")
    pod = read(name)
    assert pod.status.phase == "Pending" and status_of(pod, "migrate").restart_count == 0
    assert waiting(pod, "worker") == "PodInitializing"
    failed = [e for e in events(name, "Failed") if e.message.startswith("Failed to pull image")]
    assert failed[-1].involved_object.field_path == "spec.initContainers{migrate}"
    assert failed[-1].message.startswith('Failed to pull image "ghcr.io/drill-shop/worker:2.3.0": ')
    assert events(name, "BackOff")[-1].message == 'Back-off pulling image "ghcr.io/drill-shop/worker:2.3.0"'


# --- node and controller faults -------------------------------------------------------------


# Long tier: the workloads_hands_off molecule drill (make test) stops a node the same way and checks that
# its pods are escalated as a node problem, which fails when the fault does not show.
@pytest.mark.long
def test_node_stops_reporting():
    """aio-worker-5's kubelet stops: the real node lifecycle controller marks the node
    Unknown, taints it unreachable and its pods not Ready; the containers still say ready."""
    drill.place("batch-api", drill.FAULT_NODE)
    batch = drill.ready_pods("batch-api", NS)[0].metadata.name
    assert read(batch).spec.node_name == drill.FAULT_NODE
    message = drill.node_fault(drill.FAULT_NODE, "notready")
    assert message.startswith(f"node/{drill.FAULT_NODE} heartbeat stopped")

    node = drill.core().read_node(drill.FAULT_NODE)
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert ready.status == "Unknown" and ready.reason == "NodeStatusUnknown"
    assert ready.message == "Kubelet stopped posting node status."
    def taints():
        return {(t.key, t.effect) for t in drill.core().read_node(drill.FAULT_NODE).spec.taints or []}
    unreachable = {("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}
    wait_for(lambda: taints() >= unreachable, 30, message="the unreachable taints")
    assert re.search(rf"^{drill.FAULT_NODE}\s+NotReady\s", drill.kubectl("get", "nodes", namespace=None).stdout, re.M)

    for name in ("cache-0", batch):
        pod = wait_for(lambda: pod_condition(read(name), "Ready").status == "False" and read(name), 30,
                       message=f"{name} not Ready")
        assert all(s.ready for s in pod.status.container_statuses), name
        assert pod.status.phase == "Running"
        assert pods_line(name)[1:3] == ["1/1", "Running"]
        note = wait_for(lambda: events(name, "NodeNotReady"), 15, message=f"NodeNotReady on {name}")[-1]
        assert note.type == "Warning" and note.message == "Node is not ready"
    wait_for(lambda: ready_endpoints("cache").get("cache-0") is False, 30, message="cache-0 out of its Service")

    assert drill.node_fault(drill.FAULT_NODE, "ready") == f"node/{drill.FAULT_NODE} heartbeat resumed: Ready"
    wait_for(lambda: not any(t.key.startswith("node.kubernetes.io/")
                             for t in drill.core().read_node(drill.FAULT_NODE).spec.taints or []), 30,
             message="the taints to go")
    wait_for(lambda: drill.is_ready(read("cache-0")) and drill.is_ready(read(batch)), 30,
             message="the node's pods Ready again")


def test_quota_stops_the_replicaset():
    """A ResourceQuota at its limit: web's ReplicaSet cannot replace a deleted pod."""
    drill.quota("web")
    rs = next(r for r in drill.apps().list_namespaced_replica_set(NS, label_selector="app.kubernetes.io/name=web").items
              if r.spec.replicas)
    failed = drill.core().list_namespaced_event(
        NS, field_selector=f"involvedObject.name={rs.metadata.name},reason=FailedCreate").items
    for event in failed:
        assert event.type == "Warning" and event.involved_object.kind == "ReplicaSet"
        assert event.source.component == "replicaset-controller"
        # Repeats are aggregated by the event recorder: "(combined from similar events): ..."
        assert re.search(rf'Error creating: pods "{rs.metadata.name}-\w+" is forbidden: exceeded quota: pod-quota, '
                         r"requested: pods=1, used: pods=\d+, limited: pods=\d+$", event.message), event.message
    dep = drill.apps().read_namespaced_deployment("web", NS)
    assert dep.status.ready_replicas == 3

    def replica_failure():
        dep = drill.apps().read_namespaced_deployment("web", NS)
        return next((c for c in dep.status.conditions or [] if c.type == "ReplicaFailure"), None)
    cond = wait_for(replica_failure, 30, message="the Deployment's ReplicaFailure condition")
    assert cond.status == "True" and cond.reason == "FailedCreate"
    drill.unquota()
    wait_for(lambda: drill.workload_ready("web", 4, namespace=NS), 60, message="web back to 4 ready pods")


def test_fault_sh_checks_the_container():
    for args, error in ((("template", "worker", "crashloop", "migrate"), "regular init container"),
                        (("template", "web", "init-crashloop"), "no regular init container"),
                        (("template", "web", "crashloop", "nginx"), "no container 'nginx'")):
        with pytest.raises(AssertionError, match=error):
            drill.fault_sh(*args, namespace=NS)
