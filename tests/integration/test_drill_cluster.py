# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill cluster against the runbook: every seed command of the runbook, run both
with kubectl and with the kubernetes Python client, and every drill fault (drill/fault.sh)
looking as a real kubelet reports it, transient (label on a pod) and persistent (label
in the pod template). Each test leaves the fixture as it found it."""

from __future__ import annotations

import json
import re

import pytest
from kubernetes.stream import stream

import drill
from drill import FAULT_LABEL, NAMESPACE, kubectl, wait_for

pytestmark = [pytest.mark.drill, pytest.mark.xdist_group("drill-cluster"), pytest.mark.usefixtures("drill_env")]

NODES = {"aio-worker-1", "aio-worker-2", "aio-worker-3", "aio-worker-4"}


@pytest.fixture(scope="module", autouse=True)
def fixture_restored(drill_env):
    """Start from the intact fixture and prove every test restored it."""
    wait_for(lambda: not drill.fixture_intact(), 120, message="the fixture to be intact before the tests")
    yield
    wait_for(lambda: not drill.fixture_intact(), 120,
             message=f"the fixture to be restored: {drill.fixture_intact()}")


def one_pod(app: str):
    ready = wait_for(lambda: drill.ready_pods(app), 60, message=f"a ready {app} pod")
    return sorted(ready, key=lambda p: p.metadata.name)[0]


def waiting_reason(pod) -> str | None:
    status = drill.container_status(pod)
    return status.state.waiting.reason if status and status.state.waiting else None


def condition(pod, kind: str) -> str | None:
    return next((c.status for c in pod.status.conditions or [] if c.type == kind), None)


def new_pods(app: str, old: set[str]) -> list:
    return [p for p in drill.pods(app) if p.metadata.name not in old]


# --- cluster and fixture -----------------------------------------------------------------


def test_nodes_are_kwok_fake_nodes_with_real_capacity():
    out = kubectl("get", "nodes", "-o", "wide", namespace=None).stdout
    for node in NODES:
        assert re.search(rf"^{node}\s+Ready\s+worker\s+\S+\s+v1\.35\.4\s", out, re.M), out
    nodes = {n.metadata.name: n for n in drill.core().list_node().items}
    assert NODES <= set(nodes)
    for name in NODES:
        node = nodes[name]
        assert node.status.allocatable["cpu"] == "7910m"
        assert node.status.capacity["pods"] == "110"
        assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"
        assert condition(node, "Ready") == "True"


def test_get_pods_shows_the_platform_running():
    """kubectl get pods -n ai-orchestrator"""
    out = kubectl("get", "pods").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    apps = set(drill.DEPLOYMENTS) | set(drill.STATEFULSETS)
    for app in apps:
        assert any(line.startswith(app) for line in lines[1:]), f"no {app} pod in:\n{out}"
    for line in lines[1:]:
        name, ready, status = line.split()[:3]
        assert ready == "1/1" and status == "Running", line
    assert "postgres-0" in out and "redis-0" in out

    pods = drill.pods()
    assert len(pods) == sum(drill.DEPLOYMENTS.values()) + sum(drill.STATEFULSETS.values())
    for pod in pods:
        assert drill.is_ready(pod), pod.metadata.name
        assert pod.spec.node_name in NODES
        assert pod.status.pod_ip and pod.status.host_ip
        assert pod.metadata.labels["app.kubernetes.io/part-of"] == "ai-orchestrator"


def test_services_and_pdbs_match_the_platform():
    ports = {s.metadata.name: [(p.port, p.target_port) for p in s.spec.ports]
             for s in drill.core().list_namespaced_service(NAMESPACE).items}
    assert ports["langflow-service"] == [(7860, "http")]
    assert ports["n8n-service"] == [(5678, "http")]
    assert ports["api-gateway"] == [(80, "http")]
    assert ports["postgres"] == [(5432, "postgres")]
    assert ports["redis"] == [(6379, "redis")]
    out = kubectl("get", "pdb").stdout
    for name, replicas in drill.DEPLOYMENTS.items():
        assert (name in out) == (replicas == 2), out
    # The gateway's endpoints are its two ready pods (the real endpoint controller).
    slices = kubectl_json_items("endpointslices", "-l", "kubernetes.io/service-name=api-gateway")
    addresses = [e for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready")]
    assert len(addresses) == 2
    assert {e["targetRef"]["name"] for e in addresses} == {p.metadata.name for p in drill.pods("api-gateway")}


def kubectl_json_items(*args: str) -> list[dict]:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)["items"]


def test_describe_pod():
    """kubectl describe pod <pod-name> -n ai-orchestrator"""
    pod = one_pod("api-gateway")
    name = pod.metadata.name
    out = kubectl("describe", "pod", name).stdout
    assert re.search(r"^Status:\s+Running$", out, re.M), out
    assert re.search(rf"^Node:\s+{pod.spec.node_name}/", out, re.M), out
    assert re.search(r"^\s+Ready\s+True\s*$", out, re.M), out
    assert re.search(r"Readiness:\s+http-get http://:http/ready", out), out
    assert re.search(rf"Scheduled\s.*default-scheduler\s+Successfully assigned {NAMESPACE}/{name} to", out), out

    scheduled = drill.events(name, reason="Scheduled")
    assert scheduled, "no Scheduled event"
    assert "default-scheduler" in (scheduled[-1].source.component, scheduled[-1].reporting_component)
    assert f"Successfully assigned {NAMESPACE}/{name} to {pod.spec.node_name}" in scheduled[-1].message


def test_logs_tail():
    """kubectl logs <pod-name> -n ai-orchestrator --tail=100"""
    pod = one_pod("api-gateway").metadata.name
    out = kubectl("logs", pod, "--tail=100").stdout
    assert '"msg":"starting","service":"api-gateway"' in out
    assert '"msg":"listening","addr":":8080"' in out
    assert len(kubectl("logs", pod, "--tail=2").stdout.splitlines()) == 2

    text = drill.core().read_namespaced_pod_log(pod, NAMESPACE, tail_lines=100)
    assert text == out
    postgres = drill.core().read_namespaced_pod_log("postgres-0", NAMESPACE, tail_lines=100)
    assert "database system is ready to accept connections" in postgres
    # A container that never restarted has no previous instance.
    assert kubectl("logs", pod, "--previous", check=False).returncode != 0


def test_top_pods_and_nodes():
    """kubectl top pods -n ai-orchestrator; kubectl top nodes"""
    top = wait_for(lambda: (p := kubectl("top", "pods", check=False)).returncode == 0 and p.stdout, 90,
                   message="kubectl top pods to answer")
    assert top.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    # metrics-server reports a pod from its second scrape (10 s apart): the long-lived ones.
    wait_for(lambda: {"postgres-0"} <= set(drill.pod_metrics()), 60, message="metrics for postgres-0")
    nodes = wait_for(lambda: (p := kubectl("top", "nodes", namespace=None, check=False)).returncode == 0
                     and p.stdout, 60, message="kubectl top nodes to answer")
    assert nodes.splitlines()[0].split()[:3] == ["NAME", "CPU(cores)", "CPU(%)"]
    assert NODES <= {line.split()[0] for line in nodes.splitlines()[1:]}

    # Healthy pods use a modest share of their requests.
    usage = drill.pod_metrics()["postgres-0"]
    assert 0 < usage["cpu"] <= 0.5 * 500, usage  # requests: 500m CPU, 1Gi memory
    assert 0.2 * 2**30 <= usage["memory"] <= 0.7 * 2**30, usage
    node_metrics = drill.custom().list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
    assert NODES <= {n["metadata"]["name"] for n in node_metrics}


# --- remediation commands ------------------------------------------------------------------


def test_delete_pod_is_replaced_and_ready():
    """kubectl delete pod <pod-name> -n ai-orchestrator  # Wait for automatic restart"""
    for use_kubectl in (True, False):
        victim = one_pod("auth-service").metadata.name
        if use_kubectl:
            kubectl("delete", "pod", victim, "--wait=false")
        else:
            drill.core().delete_namespaced_pod(victim, NAMESPACE)
        wait_for(lambda: drill.pod_gone(victim), 30, message=f"{victim} to go")
        drill.wait_workload_ready("auth-service", 2, timeout=60)
        assert victim not in {p.metadata.name for p in drill.pods("auth-service")}


def test_scale_deployment():
    """kubectl scale deployment <deployment-name> --replicas=<new-count> -n ai-orchestrator"""
    try:
        out = kubectl("scale", "deployment", "workflow-service", "--replicas=4").stdout
        assert "deployment.apps/workflow-service scaled" in out
        drill.wait_workload_ready("workflow-service", 4, timeout=60)
        assert len({p.spec.node_name for p in drill.ready_pods("workflow-service")}) == 4  # spread by anti-affinity
        drill.apps().patch_namespaced_deployment_scale("workflow-service", NAMESPACE, {"spec": {"replicas": 3}})
        drill.wait_workload_ready("workflow-service", 3, timeout=60)
    finally:
        drill.apps().patch_namespaced_deployment_scale("workflow-service", NAMESPACE, {"spec": {"replicas": 2}})
        drill.wait_workload_ready("workflow-service", 2, timeout=60)


def test_rollout_restart():
    """kubectl rollout restart deployment -n ai-orchestrator (every deployment)"""
    before = {app: {p.metadata.name for p in drill.pods(app)} for app in drill.DEPLOYMENTS}
    out = kubectl("rollout", "restart", "deployment").stdout
    for app in drill.DEPLOYMENTS:
        assert f"deployment.apps/{app} restarted" in out
    for app, replicas in drill.DEPLOYMENTS.items():
        drill.wait_workload_ready(app, replicas, timeout=120)
        now = {p.metadata.name for p in drill.pods(app)}
        assert not now & before[app], f"{app}: old pods {now & before[app]} still there"
    status = kubectl("rollout", "status", "deployment/api-gateway", "--timeout=30s").stdout
    assert "successfully rolled out" in status

    # The same through the API, as `kubectl rollout restart statefulset/redis` does it.
    old_uid = drill.read_pod("redis-0").metadata.uid
    drill.apps().patch_namespaced_stateful_set("redis", NAMESPACE, {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}})
    wait_for(lambda: drill.read_pod("redis-0").metadata.uid != old_uid, 60, message="redis-0 to be recreated")
    drill.wait_workload_ready("redis", 1, kind="statefulset", timeout=60)


# --- exec into the data stores ------------------------------------------------------------


@pytest.fixture
def dataplane_present():
    # The data plane is part of the drill environment: its absence is a failure, not a skip.
    assert drill.dataplane_up(), "the drill data plane (drill/dataplane.sh: PostgreSQL, Redis) is not running"


def exec_client(pod: str, command: list[str]) -> str:
    return stream(drill.core().connect_get_namespaced_pod_exec, pod, NAMESPACE, command=command,
                  stderr=True, stdin=False, stdout=True, tty=False, _request_timeout=60)


@pytest.mark.usefixtures("dataplane_present")
def test_exec_psql_pg_stat_activity():
    """kubectl exec -it <postgres-pod> -- psql -U postgres -c "SELECT * FROM pg_stat_activity;" """
    out = kubectl("exec", "postgres-0", "--", "psql", "-U", "postgres", "-c",
                  "SELECT * FROM pg_stat_activity;").stdout
    assert "backend_type" in out and "client backend" in out, out
    out = exec_client("postgres-0", ["psql", "-U", "postgres", "-d", "orchestrator", "-At", "-c",
                                     "SELECT current_database(), current_user"])
    assert out.strip() == "orchestrator|postgres", out


@pytest.mark.usefixtures("dataplane_present")
def test_exec_redis_cli_info():
    """kubectl exec -it <redis-pod> -- redis-cli info"""
    out = kubectl("exec", "redis-0", "--", "redis-cli", "info").stdout
    assert "redis_version:" in out and "# Keyspace" in out, out
    assert exec_client("redis-0", ["redis-cli", "ping"]).strip() == "PONG"


# --- drill faults ----------------------------------------------------------------------


def assert_crashing(pod_name: str, app: str, reason: str, exit_code: int) -> None:
    """Waiting CrashLoopBackOff after a terminated run, restarts rising, not Ready, BackOff events."""
    def crashed():
        pod = drill.read_pod(pod_name)
        status = drill.container_status(pod)
        last = status.last_state.terminated if status else None
        return waiting_reason(pod) == "CrashLoopBackOff" and last and last.reason == reason and pod

    pod = wait_for(crashed, 30, message=f"{pod_name} in CrashLoopBackOff after {reason}")
    status = drill.container_status(pod)
    assert status.last_state.terminated.exit_code == exit_code
    assert status.ready is False and status.restart_count >= 1
    assert pod.status.phase == "Running"
    assert condition(pod, "Ready") == "False" and condition(pod, "ContainersReady") == "False"
    assert status.state.waiting.message.startswith(f"back-off 10s restarting failed container={app} pod={pod_name}_") \
        or status.state.waiting.message.startswith("back-off ")
    first = status.restart_count
    wait_for(lambda: drill.container_status(drill.read_pod(pod_name)).restart_count > first, 40,
             message=f"the restart count of {pod_name} to rise above {first}")
    backoff = drill.events(pod_name, reason="BackOff")
    assert backoff and backoff[-1].type == "Warning"
    assert backoff[-1].message == f"Back-off restarting failed container {app} in pod {pod_name}_{NAMESPACE}({pod.metadata.uid})"
    assert backoff[-1].source.component == "kubelet" and backoff[-1].source.host == pod.spec.node_name
    line = next(line for line in kubectl("get", "pod", pod_name).stdout.splitlines()[1:])
    assert line.split()[1:3] == ["0/1", "CrashLoopBackOff"], line


def test_crashloop_transient_fault():
    pod = one_pod("workflow-service").metadata.name
    kubectl("label", "pod", pod, f"{FAULT_LABEL}=crashloop")
    try:
        assert_crashing(pod, "workflow-service", "Error", 1)
        described = kubectl("describe", "pod", pod).stdout
        assert re.search(r"State:\s+Waiting\s+Reason:\s+CrashLoopBackOff", described), described
        assert re.search(r"Last State:\s+Terminated\s+Reason:\s+Error\s+Exit Code:\s+1", described), described
        for args in (["--tail=100"], ["--previous"]):
            logs = kubectl("logs", pod, *args).stdout.rstrip().splitlines()
            assert any("Traceback (most recent call last):" in line for line in logs), logs
            assert "error" in logs[-1].lower(), logs[-1]
        previous = drill.core().read_namespaced_pod_log(pod, NAMESPACE, previous=True)
        assert "InvalidPasswordError" in previous
    finally:
        kubectl("delete", "pod", pod, "--wait=false")
    # Transient: the replacement carries no label and comes up Ready.
    drill.wait_workload_ready("workflow-service", 2, timeout=60)
    assert all(FAULT_LABEL not in (p.metadata.labels or {}) for p in drill.pods("workflow-service"))


def test_crashloop_persistent_fault():
    app = "execution-service"
    old = {p.metadata.name for p in drill.pods(app)}
    drill.inject_workload_fault(app, "crashloop")
    try:
        failing = wait_for(lambda: new_pods(app, old), 30, message="a pod of the new revision")[0].metadata.name
        assert_crashing(failing, app, "Error", 1)
        # The rollout stalls: the old pods keep serving.
        assert len([p for p in drill.ready_pods(app) if p.metadata.name in old]) == 2
        # Deleting the failing pod does not help: its replacement fails the same way.
        drill.clear_pod_fault(failing)
        replacement = wait_for(lambda: list(new_pods(app, old | {failing})), 30,
                               message="the replacement pod")[0].metadata.name
        wait_for(lambda: waiting_reason(drill.read_pod(replacement)) == "CrashLoopBackOff", 30,
                 message=f"{replacement} to crash too")
    finally:
        drill.clear_workload_fault(app)


def test_oomkilled_transient_fault():
    app = "auth-service"
    pod = one_pod(app)
    name = pod.metadata.name
    drill.inject_pod_fault(name, "oomkilled")
    try:
        assert_crashing(name, app, "OOMKilled", 137)
        described = kubectl("describe", "pod", name).stdout
        assert re.search(r"Last State:\s+Terminated\s+Reason:\s+OOMKilled\s+Exit Code:\s+137", described), described
        assert "memory usage high" in kubectl("logs", name, "--previous").stdout
        limit = drill.quantity(pod.spec.containers[0].resources.limits["memory"])
        wait_for(lambda: drill.pod_metrics()[name]["memory"] >= 0.9 * limit, 45,
                 message=f"{name} memory near its limit")
    finally:
        drill.clear_pod_fault(name)
    drill.wait_workload_ready(app, 2, timeout=60)


def test_oomkilled_persistent_fault():
    app = "langflow"
    old = {p.metadata.name for p in drill.pods(app)}
    kubectl("patch", "deployment", app, "--type=merge", "-p",
            json.dumps({"spec": {"template": {"metadata": {"labels": {FAULT_LABEL: "oomkilled"}}}}}))
    try:
        failing = wait_for(lambda: new_pods(app, old), 30, message="a pod of the new revision")[0].metadata.name
        assert_crashing(failing, app, "OOMKilled", 137)
        assert len(drill.ready_pods(app)) == 2
    finally:
        kubectl("patch", "deployment", app, "--type=json", "-p",
                json.dumps([{"op": "remove", "path": "/spec/template/metadata/labels/"
                             + FAULT_LABEL.replace("/", "~1")}]))
        drill.wait_workload_ready(app, 2, timeout=90)


def assert_image_pull_failing(pod_name: str, image: str) -> None:
    """ErrImagePull then ImagePullBackOff, Pending, no lastState, not Ready, kubelet events."""
    seen = set()

    def both():
        pod = drill.read_pod(pod_name)
        seen.add(waiting_reason(pod))
        return {"ErrImagePull", "ImagePullBackOff"} <= seen and pod

    pod = wait_for(both, 40, interval=0.3, message=f"{pod_name} to show ErrImagePull and ImagePullBackOff")
    status = drill.container_status(pod)
    assert pod.status.phase == "Pending"
    assert status.last_state.terminated is None and status.last_state.running is None
    assert status.ready is False and status.restart_count == 0
    assert condition(pod, "Ready") == "False"
    failed = [e.message for e in drill.events(pod_name, reason="Failed")]
    assert any(m.startswith(f'Failed to pull image "{image}": ') for m in failed), failed
    assert "Error: ErrImagePull" in failed
    backoff = drill.events(pod_name, reason="BackOff")
    assert backoff and backoff[-1].message == f'Back-off pulling image "{image}"'
    assert backoff[-1].source.component == "kubelet"


def test_imagepull_transient_fault():
    pod = one_pod("api-gateway")
    name, image = pod.metadata.name, pod.spec.containers[0].image
    kubectl("label", "pod", name, f"{FAULT_LABEL}=imagepull")
    try:
        assert_image_pull_failing(name, image)
        assert re.search(rf"^{name}\s+0/1\s+(ErrImagePull|ImagePullBackOff)\s",
                         kubectl("get", "pods").stdout, re.M)
    finally:
        kubectl("delete", "pod", name, "--wait=false")
    drill.wait_workload_ready("api-gateway", 2, timeout=60)


def test_imagepull_persistent_fault():
    app = "auth-service"
    old = {p.metadata.name for p in drill.pods(app)}
    drill.inject_workload_fault(app, "imagepull")
    try:
        failing = wait_for(lambda: new_pods(app, old), 30, message="a pod of the new revision")[0]
        assert_image_pull_failing(failing.metadata.name, failing.spec.containers[0].image)
        assert len(drill.ready_pods(app)) == 2
    finally:
        drill.clear_workload_fault(app)


def test_rollout_to_unpullable_image_stalls_and_rolls_back():
    """A bad deploy: the new pods cannot pull their image; `kubectl rollout undo` recovers."""
    app = "api-gateway"
    image = "ghcr.io/ai-orchestrator/api-gateway:2.5.0-unpullable"
    old = {p.metadata.name for p in drill.pods(app)}
    kubectl("set", "image", f"deployment/{app}", f"{app}={image}")
    try:
        failing = wait_for(lambda: new_pods(app, old), 30, message="a pod of the new revision")[0].metadata.name
        assert_image_pull_failing(failing, image)
        pulled = [e.message for e in drill.events(failing, reason="Failed") if e.message.startswith("Failed to pull")]
        assert pulled[-1].endswith(f"failed to resolve reference \"{image}\": {image}: not found"), pulled
        stalled = kubectl("rollout", "status", f"deployment/{app}", "--timeout=3s", check=False)
        assert stalled.returncode != 0
        assert {p.metadata.name for p in drill.ready_pods(app)} == old  # old pods keep serving
    finally:
        kubectl("rollout", "undo", f"deployment/{app}")
    drill.wait_workload_ready(app, 2, timeout=90)
    dep = drill.apps().read_namespaced_deployment(app, NAMESPACE)
    assert dep.spec.template.spec.containers[0].image == "ghcr.io/ai-orchestrator/api-gateway:2.4.1"

    # The other convention, through the API: a registry host that does not resolve.
    app, image = "n8n", "unpullable.invalid/n8nio/n8n:1.73.0"
    old = {p.metadata.name for p in drill.pods(app)}
    original = drill.apps().read_namespaced_deployment(app, NAMESPACE).spec.template.spec.containers[0].image
    patch = {"spec": {"template": {"spec": {"containers": [{"name": app, "image": image}]}}}}
    drill.apps().patch_namespaced_deployment(app, NAMESPACE, patch)
    try:
        failing = wait_for(lambda: new_pods(app, old), 30, message="a pod of the new revision")[0].metadata.name
        assert_image_pull_failing(failing, image)
        pulled = [e.message for e in drill.events(failing, reason="Failed") if e.message.startswith("Failed to pull")]
        assert pulled[-1].endswith("dial tcp: lookup unpullable.invalid: no such host"), pulled
        errors = wait_for(lambda: (st := drill.container_status(drill.read_pod(failing)).state.waiting)
                          and st.reason == "ErrImagePull" and st.message, 30, interval=0.3,
                          message="the ErrImagePull message")
        assert errors.startswith("rpc error: code = Unknown desc = failed to pull and unpack image"), errors
    finally:
        patch["spec"]["template"]["spec"]["containers"][0]["image"] = original
        drill.apps().patch_namespaced_deployment(app, NAMESPACE, patch)
    drill.wait_workload_ready(app, 1, timeout=90)


def assert_not_ready(pod_name: str, message: str) -> None:
    def unready():
        pod = drill.read_pod(pod_name)
        return condition(pod, "Ready") == "False" and drill.container_status(pod) and pod

    pod = wait_for(unready, 30, message=f"{pod_name} to be Running but not Ready")
    status = drill.container_status(pod)
    assert pod.status.phase == "Running"
    assert status.state.running is not None and status.started is True and status.ready is False
    assert condition(pod, "ContainersReady") == "False"
    unhealthy = wait_for(lambda: drill.events(pod_name, reason="Unhealthy"), 10, message="an Unhealthy event")
    assert unhealthy[-1].type == "Warning" and unhealthy[-1].message == message
    assert unhealthy[-1].source.component == "kubelet"


def test_notready_transient_fault():
    app = "api-gateway"
    name = one_pod(app).metadata.name
    drill.inject_pod_fault(name, "notready")
    try:
        assert_not_ready(name, "Readiness probe failed: HTTP probe failed with statuscode: 503")
        assert re.search(rf"^{name}\s+0/1\s+Running\s", kubectl("get", "pods").stdout, re.M)

        # Out of the Service: the endpoint controller marks it not ready.
        def endpoint_unready():
            slices = kubectl_json_items("endpointslices", "-l", f"kubernetes.io/service-name={app}")
            ends = {e["targetRef"]["name"]: e["conditions"].get("ready") for s in slices for e in s["endpoints"] or []}
            return ends.get(name) is False
        wait_for(endpoint_unready, 30, message=f"{name} to be a not-ready endpoint")
    finally:
        drill.clear_pod_fault(name)
    drill.wait_workload_ready(app, 2, timeout=60)


def test_notready_persistent_fault_on_statefulset():
    old_uid = drill.read_pod("redis-0").metadata.uid
    drill.inject_workload_fault("redis", "notready", kind="statefulset")
    try:
        wait_for(lambda: drill.read_pod("redis-0").metadata.uid != old_uid, 60, message="redis-0 to be recreated")
        assert_not_ready("redis-0", "Readiness probe failed: Could not connect to Redis at 127.0.0.1:6379: Connection refused")
    finally:
        drill.clear_workload_fault("redis", kind="statefulset")


def test_failed_scheduling_when_nothing_fits():
    manifest = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "drill-capacity-check", "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/name": "drill-capacity-check"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                 "resources": {"requests": {"cpu": "64", "memory": "1Gi"}}}]},
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:
        events = wait_for(lambda: drill.events("drill-capacity-check", reason="FailedScheduling"), 30,
                          message="a FailedScheduling event")
        assert events[-1].type == "Warning"
        # Other nodes (e.g. a benchmark's tainted ones) may add reasons; the fixture's four lack CPU.
        assert re.match(r"0/\d+ nodes are available: .*\b4 Insufficient cpu\.", events[-1].message), events[-1].message
        pod = drill.read_pod("drill-capacity-check")
        assert pod.status.phase == "Pending" and not pod.spec.node_name
        scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
        assert scheduled.status == "False" and scheduled.reason == "Unschedulable"
        assert "FailedScheduling" in kubectl("describe", "pod", "drill-capacity-check").stdout
    finally:
        drill.core().delete_namespaced_pod("drill-capacity-check", NAMESPACE, grace_period_seconds=0)
    wait_for(lambda: drill.pod_gone("drill-capacity-check"), 30, message="the capacity check pod to go")


def test_high_resource_usage():
    pod = one_pod("api-gateway")
    name = pod.metadata.name
    limits = pod.spec.containers[0].resources.limits
    cpu_limit, mem_limit = drill.quantity(limits["cpu"]) * 1000, drill.quantity(limits["memory"])
    kubectl("label", "pod", name, f"{drill.USAGE_LABEL}=high")
    try:
        def hot():
            usage = drill.pod_metrics()[name]
            return usage["cpu"] >= 0.85 * cpu_limit and usage["memory"] >= 0.85 * mem_limit and usage
        usage = wait_for(hot, 60, interval=2, message=f"{name} CPU and memory near their limits")
        assert usage["cpu"] <= 1.05 * cpu_limit
        line = next(line for line in kubectl("top", "pods").stdout.splitlines() if line.startswith(name))
        assert int(line.split()[1].rstrip("m")) >= 0.85 * cpu_limit, line
    finally:
        kubectl("label", "pod", name, f"{drill.USAGE_LABEL}-")
