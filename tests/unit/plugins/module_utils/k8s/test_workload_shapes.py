# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Workload shapes seen in real clusters, end to end through the playbook's path.

Each test builds raw API objects as the Kubernetes API returns them (pods with
ownerReferences carrying uids, init containers and native sidecars with their
initContainerStatuses, nodes with conditions and taints, autoscaling/v2 HPAs,
PartialObjectMetadata ConfigMaps and Secrets with managedFields, Warning events on
ReplicaSets), runs them through ``diagnosis.build_report`` and then
``classify.plan_namespace`` exactly as ``playbooks/service_down.yml`` does, and
asserts what an on-call SRE relies on: which pods are touched, which are not,
who is paged and why.

Every diagnosis also goes through ``assert_sane``: invariants that must hold for
any namespace (one plan per unhealthy workload, a pod is deleted only by the plan
of the workload that owns it, a failed node is never "fixed" pod by pod, ...).
"""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NS = "ai-orchestrator"
MAIN = "__main__"  # key of a pod state's statuses: the pod's first container, whatever its name
REVISION = "deployment.kubernetes.io/revision"
LIMITS = {"cpu": "500m", "memory": "512Mi"}
REQUESTS = {"cpu": "100m", "memory": "128Mi"}
SUFFIXES = ("x7k2p", "m4n8q", "c9v3b", "h2j6w", "t5r1z", "b8d4k")
HOUR, DAY = 3600, 86400


# --- container specs and statuses ---------------------------------------------------


def image(name, tag="1.4.2"):
    return "ghcr.io/ai-orchestrator/%s:%s" % (name, tag)


def ctr(name, img=None, limits=(), requests=(), **extra):
    """A container of a pod spec, with resources as written in the manifests.

    ``limits`` / ``requests`` default to LIMITS / REQUESTS; None leaves them out.
    """
    limits = LIMITS if limits == () else limits
    requests = REQUESTS if requests == () else requests
    resources = {}
    if requests:
        resources["requests"] = dict(requests)
    if limits:
        resources["limits"] = dict(limits)
    spec = {"name": name, "image": img or image(name), "imagePullPolicy": "IfNotPresent", "resources": resources,
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    spec.update(extra)
    return spec


def terminated(reason, exit_code, ago):
    return {"terminated": {"reason": reason, "exitCode": exit_code, "startedAt": f.ts(ago + 40), "finishedAt": f.ts(ago),
                           "containerID": "containerd://%064x" % (ago + exit_code)}}


def up(started=3000, restarts=0, last=None, ready=True):
    status = {"state": {"running": {"startedAt": f.ts(started)}}, "ready": ready, "started": True, "restartCount": restarts}
    if last:
        status["lastState"] = last
    return status


def crashing(restarts=6, reason="Error", exit_code=1, ago=45):
    return {"state": {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": "back-off 2m40s restarting failed container"}},
            "lastState": terminated(reason, exit_code, ago), "ready": False, "started": False, "restartCount": restarts}


def waiting(reason, message=None, img=None):
    status = {"state": {"waiting": dict({"reason": reason}, **({"message": message} if message else {}))},
              "ready": False, "started": False, "restartCount": 0}
    if img:
        status["image"] = img
    return status


def pulling(reason="ImagePullBackOff", img=None):
    return waiting(reason, 'Back-off pulling image "%s"' % (img or "the image"), img)


def exited(reason, exit_code, ago=5, restarts=0, ready=False):
    """A container whose current state is terminated (Init:Error, a finished Job, a completed init container)."""
    return {"state": terminated(reason, exit_code, ago), "ready": ready, "started": False, "restartCount": restarts}


COMPLETED = exited("Completed", 0, ago=3500, ready=True)  # a finished init container reports ready: true


def _full_status(spec, status):
    status = copy.deepcopy(status)
    status["name"] = spec["name"]
    status.setdefault("image", spec["image"])
    started = "waiting" not in status["state"]
    status["imageID"] = (status["image"].rsplit(":", 1)[0] + "@sha256:" + "3f" * 32) if started else ""
    if "running" in status["state"]:
        status["containerID"] = "containerd://%064x" % sum(ord(ch) for ch in spec["name"])
    return status


# --- pods ---------------------------------------------------------------------------


def owner_ref(kind, name, uid, api_version="apps/v1"):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}


def make_pod(name, owner, containers, statuses=None, init=(), init_statuses=None, node="node-a", age=HOUR, labels=None,
             annotations=None, phase=None, ready=None, restart_policy="Always", generate_name=None):
    """A pod as GET /api/v1/namespaces/NS/pods returns it.

    ``statuses`` / ``init_statuses`` map container names (or MAIN) to a status without
    name and image; containers left out are up (init containers: completed). ``ready``
    overrides the pod's Ready condition (the node controller sets it False on a lost node
    while the container statuses still say ready).
    """
    statuses = statuses or {}
    init_statuses = init_statuses or {}
    main_statuses = []
    for i, spec in enumerate(containers):
        status = statuses.get(spec["name"]) or (statuses.get(MAIN) if i == 0 else None) or up()
        main_statuses.append(_full_status(spec, status))
    init_status_list = []
    for spec in init:
        native = spec.get("restartPolicy") == "Always"
        init_status_list.append(_full_status(spec, init_statuses.get(spec["name"]) or (up() if native else COMPLETED)))
    sidecars = [st for spec, st in zip(init, init_status_list) if spec.get("restartPolicy") == "Always"]
    initialized = all(st["state"].get("terminated", {}).get("exitCode") == 0
                      for spec, st in zip(init, init_status_list) if spec.get("restartPolicy") != "Always")
    containers_ready = initialized and all(st["ready"] for st in main_statuses + sidecars)
    pod_ready = containers_ready if ready is None else ready
    unready = [st["name"] for st in main_statuses + sidecars if not st["ready"]]

    def condition(kind, status, reason=None, message=None):
        cond = {"type": kind, "status": "True" if status else "False", "lastProbeTime": None, "lastTransitionTime": f.ts(min(age, 300))}
        if not status and reason:
            cond["reason"] = reason
        if not status and message:
            cond["message"] = message
        return cond

    not_ready_msg = "containers with unready status: [%s]" % " ".join(unready) if unready else None
    conditions = [
        condition("PodReadyToStartContainers", True),
        condition("Initialized", initialized, "ContainersNotInitialized",
                  "containers with incomplete status: [%s]" % " ".join(s["name"] for s in init_status_list if not s["ready"])),
        condition("Ready", pod_ready, "ContainersNotReady" if unready else None, not_ready_msg),
        condition("ContainersReady", containers_ready, "ContainersNotReady", not_ready_msg),
        condition("PodScheduled", True),
    ]
    meta = {"name": name, "namespace": NS, "uid": "pod-uid-" + name, "resourceVersion": "48213%d" % (len(name) % 10),
            "creationTimestamp": f.ts(age), "labels": dict(labels or {})}
    if generate_name:
        meta["generateName"] = generate_name
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner:
        meta["ownerReferences"] = [owner]
    spec = {"nodeName": node, "restartPolicy": restart_policy, "serviceAccountName": "default", "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30, "containers": copy.deepcopy(list(containers)),
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}
    # The kubelet's getPhase: Pending while initialising or while a container waits without ever having run.
    never_ran = any("waiting" in st["state"] and not (st.get("lastState") or {}).get("terminated") for st in main_statuses)
    status = {"phase": phase or ("Running" if initialized and not never_ran else "Pending"), "conditions": conditions, "hostIP": "10.0.1.%d" % len(node),
              "podIP": "10.244.1.%d" % len(name), "qosClass": "Burstable", "startTime": f.ts(age), "containerStatuses": main_statuses}
    if init:
        spec["initContainers"] = copy.deepcopy(list(init))
        status["initContainerStatuses"] = init_status_list
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _pod_is_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])


# --- workloads ------------------------------------------------------------------------


def _template(name, containers, init=(), volumes=None, pod_labels=None, pod_annotations=None):
    spec = {"containers": copy.deepcopy(list(containers)), "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
    if init:
        spec["initContainers"] = copy.deepcopy(list(init))
    if volumes:
        spec["volumes"] = copy.deepcopy(volumes)
    meta = {"labels": dict(pod_labels or {"app.kubernetes.io/name": name})}
    if pod_annotations:
        meta["annotations"] = dict(pod_annotations)
    return {"metadata": meta, "spec": spec}


def _workload_status(pods, generation, extra=None):
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = sum(1 for p in live if _pod_is_ready(p))
    counts = {"replicas": len(live), "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": len(live)}
    status = {"observedGeneration": generation}
    status.update((k, v) for k, v in counts.items() if v)  # the API omits zero counts
    status.update(extra or {})
    return status


def deployment(name, containers=None, replicas=3, revision=1, init=(), volumes=None, annotations=None, labels=None,
               pod_labels=None, pod_annotations=None, strategy="RollingUpdate"):
    pod_labels = pod_labels or {"app.kubernetes.io/name": name}
    meta_labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ai-orchestrator"}
    meta_labels.update(labels or {})
    meta_annotations = {REVISION: str(revision)}
    meta_annotations.update(annotations or {})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "uid": "dep-uid-" + name, "generation": revision, "resourceVersion": "77120",
                     "creationTimestamp": f.ts(30 * DAY), "labels": meta_labels, "annotations": meta_annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(pod_labels)}, "revisionHistoryLimit": 10,
                 "progressDeadlineSeconds": 600,
                 "strategy": {"type": strategy} if strategy == "Recreate"
                 else {"type": strategy, "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": _template(name, containers or [ctr(name)], init, volumes, pod_labels, pod_annotations)},
    }


def replicaset(dep, revision, pod_hash, age=DAY, containers=None):
    name = dep["metadata"]["name"]
    template = copy.deepcopy(dep["spec"]["template"])
    if containers:
        template["spec"]["containers"] = copy.deepcopy(containers)
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "%s-%s" % (name, pod_hash), "namespace": NS, "uid": "rs-uid-%s-%s" % (name, pod_hash),
                     "creationTimestamp": f.ts(age), "labels": dict(template["metadata"]["labels"]),
                     "annotations": {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": str(dep["spec"]["replicas"])},
                     "ownerReferences": [owner_ref("Deployment", name, dep["metadata"]["uid"])]},
        "spec": {"replicas": dep["spec"]["replicas"], "selector": {"matchLabels": dict(template["metadata"]["labels"])},
                 "template": template},
    }


def rs_pods(rs, states, first=0):
    """One pod of the ReplicaSet per state (keyword arguments of make_pod)."""
    template = rs["spec"]["template"]
    pods = []
    for i, state in enumerate(states):
        state = dict(state)
        name = "%s-%s" % (rs["metadata"]["name"], SUFFIXES[first + i])
        pods.append(make_pod(name, owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
                             state.pop("containers", template["spec"]["containers"]), init=template["spec"].get("initContainers", ()),
                             labels=template["metadata"]["labels"], annotations=template["metadata"].get("annotations"),
                             generate_name=rs["metadata"]["name"] + "-", **state))
    return pods


def deployment_app(name, states, replicas=None, pod_hash="7d4b9c8f6", rs_age=DAY, **dep_kw):
    """A settled Deployment with one ReplicaSet and one pod per state: {"deployments", "replicasets", "pods"}."""
    dep = deployment(name, replicas=len(states) if replicas is None else replicas, **dep_kw)
    rs = replicaset(dep, int(dep["metadata"]["annotations"][REVISION]), pod_hash, age=rs_age)
    pods = rs_pods(rs, states)
    dep["status"] = _workload_status(pods, dep["metadata"]["generation"])
    return {"deployments": [dep], "replicasets": [rs], "pods": pods}


def statefulset_app(name, states, replicas=None, containers=None):
    revision = "%s-5d8f7b9c4d" % name
    pod_labels = {"app.kubernetes.io/name": name}
    template = _template(name, containers or [ctr(name, "docker.io/bitnami/postgresql:16.4.0")], pod_labels=pod_labels)
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS, "uid": "sts-uid-" + name, "generation": 3, "creationTimestamp": f.ts(90 * DAY),
                     "labels": dict(pod_labels)},
        "spec": {"replicas": len(states) if replicas is None else replicas, "serviceName": name, "podManagementPolicy": "OrderedReady",
                 "selector": {"matchLabels": dict(pod_labels)}, "template": template,
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
    }
    pods = []
    for i, state in enumerate(states):
        pod_name = "%s-%d" % (name, i)
        labels = dict(pod_labels, **{"controller-revision-hash": revision, "apps.kubernetes.io/pod-index": str(i),
                                     "statefulset.kubernetes.io/pod-name": pod_name})
        pods.append(make_pod(pod_name, owner_ref("StatefulSet", name, sts["metadata"]["uid"]), template["spec"]["containers"],
                             labels=labels, generate_name=name + "-", **state))
    sts["status"] = _workload_status(pods, 3, {"currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
                                               "currentReplicas": len(pods)})
    return {"statefulsets": [sts], "pods": pods}


# --- cluster-scoped and auxiliary objects -----------------------------------------------


def node(name, ready="True", taints=()):
    reasons = {"True": ("KubeletReady", "kubelet is posting ready status"),
               "False": ("KubeletNotReady", "PLEG is not healthy: pleg was last seen active 3m12s ago"),
               "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status.")}
    fine = {"MemoryPressure": "KubeletHasSufficientMemory", "DiskPressure": "KubeletHasNoDiskPressure", "PIDPressure": "KubeletHasSufficientPID"}
    conditions = [{"type": t, "status": "Unknown" if ready == "Unknown" else "False", "lastHeartbeatTime": f.ts(400),
                   "reason": "NodeStatusUnknown" if ready == "Unknown" else fine[t]}
                  for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    conditions.append({"type": "Ready", "status": ready, "lastHeartbeatTime": f.ts(400 if ready == "Unknown" else 10),
                       "reason": reasons[ready][0], "message": reasons[ready][1]})
    spec = {"podCIDR": "10.244.%d.0/24" % len(name), "providerID": "kwok://" + name}
    if taints:
        spec["taints"] = [dict(t, timeAdded=f.ts(360)) for t in taints]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": "node-uid-" + name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {"conditions": conditions, "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}


UNREACHABLE = ({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
               {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"})
NOT_READY = ({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},)


def hpa(target, minimum, maximum, current, desired=None):
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target + "-hpa", "namespace": NS, "uid": "hpa-uid-" + target, "creationTimestamp": f.ts(10 * DAY)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                 "minReplicas": minimum, "maxReplicas": maximum,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        "status": {"currentReplicas": current, "desiredReplicas": current if desired is None else desired, "lastScaleTime": f.ts(900),
                   "currentMetrics": [{"type": "Resource",
                                       "resource": {"name": "cpu", "current": {"averageUtilization": 96, "averageValue": "480m"}}}],
                   "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                                  {"type": "ScalingLimited", "status": "True" if current >= maximum else "False",
                                   "reason": "TooManyReplicas" if current >= maximum else "DesiredWithinRange"}]},
    }


def partial_metadata(name, created_ago, writes, data=None):
    """A ConfigMap or Secret as a metadata-only list returns it (PartialObjectMetadata).

    ``writes``: (manager, seconds ago, fieldsV1) per managedFields entry. ``data`` is added
    only to model a server that ignored the metadata-only Accept header.
    """
    obj = {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
           "metadata": {"name": name, "namespace": NS, "uid": "cfg-uid-" + name, "resourceVersion": "9911",
                        "creationTimestamp": f.ts(created_ago),
                        "managedFields": [{"manager": manager, "operation": "Apply" if manager == "argocd-controller" else "Update",
                                           "apiVersion": "v1", "time": f.ts(ago), "fieldsType": "FieldsV1", "fieldsV1": fields}
                                          for manager, ago, fields in writes]}}
    if data is not None:
        obj["data"] = dict(data)
    return obj


def warning(kind, name, reason, message, count=3, ago=20, uid=None, api_version="v1"):
    """A core/v1 Warning Event as the field-selected list returns it."""
    return {"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": reason, "message": message, "count": count,
            "metadata": {"name": "%s.17f3a9%04x" % (name, len(message)), "namespace": NS, "creationTimestamp": f.ts(ago + 600)},
            "involvedObject": {"apiVersion": api_version, "kind": kind, "name": name, "namespace": NS, "uid": uid or "uid-" + name},
            "source": {"component": "replicaset-controller" if kind == "ReplicaSet" else "kubelet"},
            "firstTimestamp": f.ts(ago + 600), "lastTimestamp": f.ts(ago)}


def pod_metrics(usage):
    """metrics.k8s.io PodMetrics list: {pod name: {container: {"cpu", "memory"}}}."""
    return {"items": [{"metadata": {"name": pod_name, "namespace": NS, "creationTimestamp": f.ts(0)}, "timestamp": f.ts(12),
                       "window": "15.009s", "containers": [{"name": c, "usage": u} for c, u in sorted(per_container.items())]}
                      for pod_name, per_container in sorted(usage.items())], "error": None}


def raw_namespace(*parts, nodes=None, hpas=(), configmaps=(), secrets=(), events=(), metrics=None, extra_pods=(),
                  extra_replicasets=()):
    """The dict ``diagnosis.fetch`` returns, from workload parts ({"deployments", "replicasets", "pods", ...})."""
    raw = {"deployments": [], "statefulsets": [], "replicasets": list(extra_replicasets), "pods": [], "events": list(events),
           "nodes": {"items": [node("node-a"), node("node-b"), node("node-c")], "error": None} if nodes is None else nodes,
           "hpas": {"items": list(hpas), "error": None},
           "configmaps": {"items": list(configmaps), "error": None},
           "secrets": {"items": list(secrets), "error": None},
           "pod_metrics": metrics or {"items": [], "error": None},
           "node_metrics": {"items": [], "error": None}}
    for part in parts:
        for key, items in part.items():
            raw[key] = raw[key] + items
    raw["pods"] += list(extra_pods)
    return raw


# --- the path the playbook takes, and what must hold for any namespace ----------------------


def assert_sane(report, plans):
    json.dumps(report)  # the module returns it as JSON
    json.dumps(plans)
    workloads = dict(((w["kind"], w["name"]), w) for w in report["workloads"])
    unhealthy = sorted(k for k, w in workloads.items() if w["classification"] != "healthy")
    assert sorted((p["kind"], p["workload"]) for p in plans if (p["kind"], p["workload"]) in workloads) == unhealthy
    owned = [n for w in report["workloads"] for n in w["pods"]]
    assert len(owned) == len(set(owned)), "a pod belongs to one workload at most"
    deleting = set(p["name"] for p in report["pods"] if p["deleting"])
    for plan in plans:
        w = workloads.get((plan["kind"], plan["workload"]))
        if w is None:
            assert plan["action"] in ("none", "escalate"), "pods of other controllers are reported, never acted on"
            continue
        if plan["action"] == "delete_pod":
            assert plan["pods"] and set(plan["pods"]) <= set(w["affected_pods"]) <= set(w["pods"])
            assert not set(plan["pods"]) & deleting
        else:
            assert plan["pods"] == []
        if plan["action"] == "scale":
            assert plan["kind"] == "Deployment" and not w["hpa"] and plan["replicas"] > w["desired"]
        if plan["classification"] == "node_failure":
            assert plan["action"] == "escalate" and plan["owner"] == "infrastructure"
        if w.get("gitops"):
            assert plan["action"] in ("none", "escalate")


def diagnose(raw, **kw):
    report = diagnosis.build_report(raw, NS, f.NOW, **kw)
    plans = classify.plan_namespace(report["workloads"], others=report["others"])
    assert_sane(report, plans)
    return report, plans


def workload(report, name):
    return next(w for w in report["workloads"] if w["name"] == name)


def plan_for(plans, name):
    matching = [p for p in plans if p["workload"] == name]
    assert len(matching) == 1, "expected one plan for %s, got %r" % (name, plans)
    return matching[0]


def pod_summary(report, name):
    return next(p for p in report["pods"] if p["name"] == name)


OK = {}


# --- 1. StatefulSet -------------------------------------------------------------------------------


def test_crashed_statefulset_pod_is_deleted_alone_and_goes_to_the_database_owners():
    raw = raw_namespace(statefulset_app("postgres", [OK, {"statuses": {MAIN: crashing()}, "node": "node-b"}, OK]))
    report, plans = diagnose(raw)
    w = workload(report, "postgres")
    assert w["kind"] == "StatefulSet" and w["classification"] == "crashloop"
    assert w["affected_pods"] == ["postgres-1"] and w["pods"] == ["postgres-0", "postgres-1", "postgres-2"]
    plan = plan_for(plans, "postgres")
    assert (plan["action"], plan["pods"], plan["owner"]) == ("delete_pod", ["postgres-1"], "database")
    assert len(plans) == 1


# --- 2. several failing pods ---------------------------------------------------------------------------


def test_two_of_four_crashing_replicas_get_one_plan_naming_both():
    app = deployment_app("api-gateway", [OK, {"statuses": {MAIN: crashing()}}, OK, {"statuses": {MAIN: crashing(restarts=9)}}])
    report, plans = diagnose(raw_namespace(app))
    crashed = sorted(p["metadata"]["name"] for i, p in enumerate(app["pods"]) if i in (1, 3))
    assert plans == [plan_for(plans, "api-gateway")]
    assert plans[0]["action"] == "delete_pod" and plans[0]["pods"] == crashed
    assert workload(report, "api-gateway")["healthy_pods"] == sorted(p["metadata"]["name"] for i, p in enumerate(app["pods"]) if i in (0, 2))


def test_three_broken_workloads_get_three_plans_each_touching_only_its_own_pod():
    readiness_failing = {"statuses": {MAIN: up(ready=False)}}
    apps = [deployment_app("api-gateway", [OK, {"statuses": {MAIN: crashing()}}]),
            deployment_app("n8n", [{"statuses": {MAIN: crashing(reason="OOMKilled", exit_code=137)}}, OK]),
            deployment_app("ollama", [OK, readiness_failing])]
    report, plans = diagnose(raw_namespace(*apps))
    assert sorted(p["workload"] for p in plans) == ["api-gateway", "n8n", "ollama"]
    expected = {"api-gateway": "crashloop", "n8n": "oom", "ollama": "not_ready"}
    for app in apps:
        name = app["deployments"][0]["metadata"]["name"]
        plan = plan_for(plans, name)
        broken = [p["metadata"]["name"] for p in app["pods"] if not _pod_is_ready(p)]
        assert (plan["classification"], plan["action"], plan["pods"]) == (expected[name], "delete_pod", broken)


# --- 3. scale only where it adds capacity --------------------------------------------------------------


def hot(app, container, usage):
    return pod_metrics(dict((p["metadata"]["name"], {container: usage}) for p in app["pods"]))


def test_exhausted_statefulset_escalates_and_is_never_scaled():
    app = statefulset_app("postgres", [OK, OK, OK])
    raw = raw_namespace(app, metrics=hot(app, "postgres", {"cpu": "210m", "memory": "501Mi"}))
    report, plans = diagnose(raw)
    assert workload(report, "postgres")["classification"] == "resource_exhaustion"
    plan = plan_for(plans, "postgres")
    assert plan["action"] == "escalate" and plan["replicas"] is None
    assert "StatefulSet" in plan["reason"] and "not scaled" in plan["reason"]


@pytest.mark.parametrize("current, maximum, state", [(6, 6, "at its maximum"), (3, 10, "below its maximum")])
def test_exhausted_deployment_under_an_hpa_escalates_naming_it(current, maximum, state):
    app = deployment_app("api-gateway", [OK] * current)
    raw = raw_namespace(app, hpas=[hpa("api-gateway", 2, maximum, current)],
                        metrics=hot(app, "api-gateway", {"cpu": "487312960n", "memory": "210Mi"}))
    report, plans = diagnose(raw)
    w = workload(report, "api-gateway")
    assert w["classification"] == "resource_exhaustion" and w["hpa"]["name"] == "api-gateway-hpa"
    assert w["hpa"]["at_max"] is (current >= maximum)
    plan = plan_for(plans, "api-gateway")
    assert plan["action"] == "escalate" and plan["replicas"] is None
    assert "api-gateway-hpa" in plan["reason"] and state in plan["reason"]


def test_high_usage_without_a_limit_is_reported_never_judged_exhausted():
    app = deployment_app("ollama", [OK, OK], containers=[ctr("ollama", limits=None, requests={"cpu": "100m", "memory": "128Mi"})])
    report, plans = diagnose(raw_namespace(app, metrics=hot(app, "ollama", {"cpu": "1850m", "memory": "6Gi"})))
    assert workload(report, "ollama")["classification"] == "healthy" and plans == []
    for p in app["pods"]:
        summary = pod_summary(report, p["metadata"]["name"])
        assert summary["classification"] == "healthy" and summary["containers"][0]["limits"] == {}
        cls, evidence = classify.classify_pod(summary)
        assert cls != "resource_exhaustion"
        assert any("no cpu or memory limit" in e and "never judged exhausted" in e for e in evidence)


SIDECAR_APP = [ctr("api-gateway"), ctr("istio-proxy", "docker.io/istio/proxyv2:1.22.3", limits={"cpu": "200m", "memory": "256Mi"})]
NATIVE_SIDECAR = ctr("log-shipper", "cr.fluentbit.io/fluent/fluent-bit:3.1.4", limits={"cpu": "100m", "memory": "128Mi"},
                     restartPolicy="Always")


@pytest.mark.parametrize("containers, init, hot_container, action", [
    (SIDECAR_APP, (), "api-gateway", "scale"),
    (SIDECAR_APP, (), "istio-proxy", "escalate"),
    # the sidecar listed first; kubectl's default-container annotation names the main one
    (SIDECAR_APP[::-1], (), "api-gateway", "scale"),
    (SIDECAR_APP[::-1], (), "istio-proxy", "escalate"),
    ([ctr("api-gateway")], (NATIVE_SIDECAR,), "log-shipper", "escalate"),
    ([ctr("api-gateway")], (NATIVE_SIDECAR,), "api-gateway", "scale"),
], ids=["main", "sidecar", "main-listed-second", "sidecar-listed-first", "native-sidecar", "main-beside-native-sidecar"])
def test_scale_only_when_the_main_container_is_at_its_limit(containers, init, hot_container, action):
    app = deployment_app("api-gateway", [OK, OK], containers=containers, init=init,
                         pod_annotations={"kubectl.kubernetes.io/default-container": "api-gateway"})
    limit = next(c for c in list(containers) + list(init) if c["name"] == hot_container)["resources"]["limits"]["cpu"]
    usage = {"cpu": "%dm" % (classify.parse_quantity(limit) * 1000 * 0.97), "memory": "20Mi"}
    report, plans = diagnose(raw_namespace(app, metrics=hot(app, hot_container, usage)))
    w = workload(report, "api-gateway")
    assert w["classification"] == "resource_exhaustion"
    plan = plan_for(plans, "api-gateway")
    assert plan["action"] == action
    if action == "scale":
        assert plan["replicas"] == 3 and w["exhausted_roles"] == ["main"]
    else:
        assert plan["replicas"] is None and "sidecar" in plan["reason"]
        assert any("only its sidecar is at the limit" in e for e in w["evidence"])


# --- 4. image pulls --------------------------------------------------------------------------------------


def test_image_pull_failing_on_one_of_three_pods_is_node_or_registry_local():
    img = image("api-gateway")
    app = deployment_app("api-gateway", [OK, OK, {"statuses": {MAIN: pulling(img=img)}, "node": "node-c"}])
    bad = app["pods"][2]["metadata"]["name"]
    events = [warning("Pod", bad, "Failed", 'Failed to pull image "%s": dial tcp 140.82.121.34:443: i/o timeout' % img,
                      uid=app["pods"][2]["metadata"]["uid"])]
    report, plans = diagnose(raw_namespace(app, events=events))
    w = workload(report, "api-gateway")
    assert w["classification"] == "image_pull" and w["image_pull_local"] and not w["bad_rollout"]
    plan = plan_for(plans, "api-gateway")
    assert (plan["action"], plan["pods"], plan["owner"]) == ("delete_pod", [bad], "infrastructure")
    assert "node- or registry-local" in plan["reason"]
    assert any("node- or registry-local" in e for e in w["evidence"])
    assert any("i/o timeout" in e for e in w["evidence"])


def test_a_statefulset_replacement_does_not_inherit_its_predecessors_events_or_metrics():
    """postgres-0's replacement has the same name: the old pod's BackOff events (other uid) and a metrics
    sample taken before it existed are not its own."""
    sts = statefulset_app("postgres", [OK])
    pod = sts["pods"][0]
    pod["metadata"]["creationTimestamp"] = f.ts(5)
    old = warning("Pod", "postgres-0", "BackOff", "Back-off restarting failed container postgres", uid="uid-the-old-postgres-0")
    mine = warning("Pod", "postgres-0", "Unhealthy", "Readiness probe failed: connection refused", uid=pod["metadata"]["uid"])
    stale = pod_metrics({"postgres-0": {"postgres": {"cpu": "490m", "memory": "500Mi"}}})
    report, plans = diagnose(raw_namespace(sts, events=[old, mine], metrics=stale))
    summary = next(p for p in report["pods"] if p["name"] == "postgres-0")
    assert [e["reason"] for e in summary["events"]] == ["Unhealthy"]
    assert all(c["usage"] is None for c in summary["containers"])
    assert summary["classification"] == "healthy" and not [p for p in plans if p["workload"] == "postgres"]


def test_image_pull_failing_everywhere_without_a_recent_rollout_escalates():
    app = deployment_app("api-gateway", [{"statuses": {MAIN: pulling("ErrImagePull")}}, {"statuses": {MAIN: pulling()}}])
    report, plans = diagnose(raw_namespace(app))
    w = workload(report, "api-gateway")
    assert w["classification"] == "image_pull" and not w["image_pull_local"] and not w["rollout"]["recent"]
    plan = plan_for(plans, "api-gateway")
    assert plan["action"] == "escalate" and plan["owner"] == "development"


@pytest.mark.parametrize("old_states, strategy", [([OK, OK], "RollingUpdate"), ([], "Recreate")])
def test_image_pull_after_a_recent_rollout_rolls_back(old_states, strategy):
    new_image = image("api-gateway", "1.5.0")
    dep = deployment("api-gateway", [ctr("api-gateway", new_image)], replicas=2, revision=2, strategy=strategy)
    old = replicaset(dep, 1, "5f6c7d8b9", age=7 * DAY, containers=[ctr("api-gateway")])
    new = replicaset(dep, 2, "84b9d7c6f", age=300)
    pods = rs_pods(old, old_states) + rs_pods(new, [{"statuses": {MAIN: pulling(img=new_image)}, "age": 300}] * (1 if old_states else 2),
                                              first=len(old_states))
    dep["status"] = _workload_status(pods, 2, {"updatedReplicas": len(pods) - len(old_states)})
    report, plans = diagnose(raw_namespace({"deployments": [dep], "replicasets": [old, new], "pods": pods}))
    w = workload(report, "api-gateway")
    assert w["classification"] == "image_pull" and w["rollout"]["recent"] and w["rollout"]["previous_revision"] == 1
    assert w["bad_rollout"] and not w["image_pull_local"]
    plan = plan_for(plans, "api-gateway")
    assert plan["action"] == "rollback" and "roll back" in plan["reason"]


def test_image_pull_local_also_for_short_docker_hub_names():
    spec_image = "n8nio/n8n:1.64.0"
    running = up()
    running["image"] = "docker.io/" + spec_image  # what containerd reports for a running container
    app = deployment_app("n8n", [{"statuses": {MAIN: running}}, {"statuses": {MAIN: running}},
                                 {"statuses": {MAIN: pulling(img=spec_image)}, "node": "node-c"}],
                         containers=[ctr("n8n", spec_image)])
    report, plans = diagnose(raw_namespace(app))
    plan = plan_for(plans, "n8n")
    assert workload(report, "n8n")["image_pull_local"]
    assert (plan["action"], plan["pods"]) == ("delete_pod", [app["pods"][2]["metadata"]["name"]])


# --- 5. no false faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("restarts, finished_ago, expected", [
    (1, HOUR, "healthy"),       # one OOM kill an hour ago, ready since
    (1, 120, "healthy"),        # one recent kill is not yet a pattern
    (4, 2 * HOUR, "healthy"),   # killed often, but not lately
    (2, 540, "oom"),            # killed again within 10 minutes
    (3, 240, "oom"),
])
def test_oom_kill_on_a_ready_container_is_a_fault_only_when_recurring(restarts, finished_ago, expected):
    recovered = up(started=finished_ago - 5, restarts=restarts, last=terminated("OOMKilled", 137, finished_ago))
    app = deployment_app("n8n", [OK, {"statuses": {MAIN: recovered}}, OK])
    report, plans = diagnose(raw_namespace(app))
    pod = pod_summary(report, app["pods"][1]["metadata"]["name"])
    assert pod["ready"] and pod["containers"][0]["last_terminated"]["reason"] == "OOMKilled"
    assert pod["classification"] == expected and workload(report, "n8n")["classification"] == expected
    if expected == "healthy":
        assert plans == []
        assert any("not recurring" in e for e in classify.classify_pod(pod)[1])
    else:
        assert plan_for(plans, "n8n")["pods"] == [pod["name"]]


def test_deployment_scaled_to_zero_is_healthy_and_needs_no_plan():
    last = deployment_app("ollama", [{"statuses": {MAIN: crashing()}}], replicas=0)
    last["pods"][0]["metadata"]["deletionTimestamp"] = f.ts(-30)  # the last replica, still terminating
    last["pods"][0]["metadata"]["deletionGracePeriodSeconds"] = 30
    last["deployments"][0]["status"] = {"observedGeneration": 1}
    report, plans = diagnose(raw_namespace(last))
    w = workload(report, "ollama")
    assert (w["desired"], w["classification"], w["pods"]) == (0, "healthy", [])
    assert plans == [] and report["unhealthy"] == []


STARTUP_PROBE = {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "failureThreshold": 30, "periodSeconds": 10,
                 "timeoutSeconds": 1, "successThreshold": 1}


@pytest.mark.parametrize("age, expected", [(90, "healthy"), (299, "healthy"), (900, "not_ready")])
def test_pod_not_ready_within_its_startup_probe_budget_is_starting(age, expected):
    app = deployment_app("ollama", [OK, OK, {"statuses": {MAIN: up(started=age - 3, ready=False)}, "age": age}],
                         containers=[ctr("ollama", startupProbe=STARTUP_PROBE)])
    report, plans = diagnose(raw_namespace(app))
    pod = pod_summary(report, app["pods"][2]["metadata"]["name"])
    assert pod["startup_allowance_seconds"] == 300 and not pod["ready"]
    assert pod["classification"] == expected and workload(report, "ollama")["classification"] == expected
    if expected == "healthy":
        assert plans == []
        assert any("is starting" in e for e in classify.classify_pod(pod)[1])


def test_crash_looping_pod_within_its_startup_allowance_is_not_evicted():
    app = deployment_app("ollama", [OK, OK, {"statuses": {MAIN: crashing(restarts=2, ago=10)}, "age": 60}],
                         containers=[ctr("ollama", startupProbe=STARTUP_PROBE)])
    report, plans = diagnose(raw_namespace(app))
    young = app["pods"][2]["metadata"]["name"]
    w = workload(report, "ollama")
    assert w["classification"] == "crashloop" and w["young_pods"] == [young]
    plan = plan_for(plans, "ollama")
    assert plan["action"] == "none" and plan["pods"] == [] and "not evicted" in plan["reason"]


@pytest.mark.parametrize("ready, taints, says", [
    ("Unknown", UNREACHABLE, "unreachable"),
    ("Unknown", (), "unreachable"),
    ("False", NOT_READY, "NotReady"),
    ("True", UNREACHABLE[1:], "tainted unreachable"),
], ids=["unknown-tainted", "unknown-just-lost", "not-ready", "stale-ready-but-tainted"])
def test_pods_on_a_failed_node_are_a_node_problem_not_pod_faults(ready, taints, says):
    on_b = {"node": "node-b", "ready": False}  # the node controller marks its pods not Ready; container statuses are stale
    app = deployment_app("api-gateway", [OK, on_b, dict(on_b, statuses={MAIN: crashing()})])
    ds_pod = make_pod("node-exporter-q8w2e", owner_ref("DaemonSet", "node-exporter", "ds-uid-node-exporter"), [ctr("node-exporter")],
                      node="node-b", ready=False, labels={"app.kubernetes.io/name": "node-exporter"})
    nodes = {"items": [node("node-a"), node("node-b", ready, taints)], "error": None}
    report, plans = diagnose(raw_namespace(app, nodes=nodes, extra_pods=[ds_pod]))
    w = workload(report, "api-gateway")
    assert w["classification"] == "node_failure" and w["failed_nodes"] == ["node-b"]
    assert sorted(w["affected_pods"]) == sorted(p["metadata"]["name"] for p in app["pods"][1:])
    plan = plan_for(plans, "api-gateway")
    assert (plan["action"], plan["owner"]) == ("escalate", "infrastructure")
    assert "node-b" in plan["reason"]
    assert any(says in e for e in w["evidence"])
    assert not [p for p in plans if p["action"] == "delete_pod"]
    ds = plan_for(plans, "node-exporter")
    assert (ds["kind"], ds["classification"], ds["action"], ds["owner"]) == ("DaemonSet", "node_failure", "escalate", "infrastructure")


def test_without_node_access_a_pod_not_ready_while_its_containers_are_is_a_node_failure():
    lost = deployment_app("api-gateway", [OK, {"node": "node-b", "ready": False}])
    probe_failing = deployment_app("n8n", [OK, {"statuses": {MAIN: up(ready=False)}, "node": "node-b"}])
    forbidden = ('nodes is forbidden: User "system:serviceaccount:ai-orchestrator:incident-bot" cannot list resource "nodes" '
                 'in API group "" at the cluster scope (403)')
    report, plans = diagnose(raw_namespace(lost, probe_failing, nodes={"items": [], "error": forbidden}))
    assert "403" in report["nodes_error"] and report["nodes"] == []
    w = workload(report, "api-gateway")
    assert w["classification"] == "node_failure" and w["failed_nodes"] == ["node-b"]
    plan = plan_for(plans, "api-gateway")
    assert plan["action"] == "escalate" and plan["owner"] == "infrastructure" and "node-b" in plan["reason"]
    assert any("stopped reporting" in e for e in w["evidence"])
    # a readiness probe that fails is the pod's own problem, even on the same node
    assert workload(report, "n8n")["classification"] == "not_ready"


# --- 6. init containers and native sidecars ------------------------------------------------------------------


MIGRATE = ctr("migrate", image("n8n-migrate", "1.64.0"), limits={"cpu": "200m", "memory": "256Mi"})


def init_blocked(init_status):
    return {"init_statuses": {"migrate": init_status}, "statuses": {MAIN: waiting("PodInitializing")}}


def test_init_container_in_crash_loop_is_a_crashloop_naming_it():
    app = deployment_app("n8n", [init_blocked(crashing(restarts=5))] * 2, init=(MIGRATE,))
    report, plans = diagnose(raw_namespace(app))
    pod = pod_summary(report, app["pods"][0]["metadata"]["name"])
    assert pod["phase"] == "Pending" and pod["conditions"]["Initialized"]["status"] == "False"
    assert [c["role"] for c in pod["init_containers"]] == ["init"]
    w = workload(report, "n8n")
    assert w["classification"] == "crashloop" and w["all_replicas_affected"]
    assert any("init container migrate" in e and "CrashLoopBackOff" in e for e in w["evidence"])
    plan = plan_for(plans, "n8n")
    assert plan["action"] == "escalate" and plan["owner"] == "development"


@pytest.mark.parametrize("restarts", [0, 3])
def test_init_container_that_exited_with_an_error_is_a_crashloop(restarts):
    app = deployment_app("n8n", [OK, OK, init_blocked(exited("Error", 1, restarts=restarts))], init=(MIGRATE,))
    report, plans = diagnose(raw_namespace(app))
    bad = app["pods"][2]["metadata"]["name"]
    pod = pod_summary(report, bad)
    assert pod["classification"] == "crashloop" and pod["init_containers"][0]["last_terminated"]["exit_code"] == 1
    assert any("init container migrate" in e for e in workload(report, "n8n")["evidence"])
    plan = plan_for(plans, "n8n")
    assert (plan["action"], plan["pods"]) == ("delete_pod", [bad])


def test_init_container_image_pull_is_an_image_pull():
    app = deployment_app("n8n", [init_blocked(pulling(img=MIGRATE["image"]))] * 2, init=(MIGRATE,))
    report, plans = diagnose(raw_namespace(app))
    w = workload(report, "n8n")
    assert w["classification"] == "image_pull"
    assert any("init container migrate" in e and "ImagePullBackOff" in e for e in w["evidence"])
    assert plan_for(plans, "n8n")["action"] == "escalate"


def test_init_image_pull_on_one_pod_while_others_ran_it_is_local():
    app = deployment_app("n8n", [OK, OK, dict(init_blocked(pulling(img=MIGRATE["image"])), node="node-c")], init=(MIGRATE,))
    report, plans = diagnose(raw_namespace(app))
    plan = plan_for(plans, "n8n")
    assert workload(report, "n8n")["image_pull_local"]
    assert (plan["action"], plan["pods"], plan["owner"]) == ("delete_pod", [app["pods"][2]["metadata"]["name"]], "infrastructure")


def test_native_sidecar_is_a_container_and_its_crash_counts():
    app = deployment_app("api-gateway", [OK, {"init_statuses": {"log-shipper": crashing(restarts=4)}}, OK], init=(NATIVE_SIDECAR,))
    report, plans = diagnose(raw_namespace(app))
    bad = app["pods"][1]["metadata"]["name"]
    pod = pod_summary(report, bad)
    assert [(c["name"], c["role"]) for c in pod["containers"]] == [("api-gateway", "main"), ("log-shipper", "native_sidecar")]
    assert pod["init_containers"] == [] and pod["restarts"] == 4 and not pod["ready"]
    healthy = pod_summary(report, app["pods"][0]["metadata"]["name"])
    assert healthy["classification"] == "healthy" and healthy["containers"][1]["role"] == "native_sidecar"
    w = workload(report, "api-gateway")
    assert w["classification"] == "crashloop" and w["affected_pods"] == [bad]
    assert any("sidecar (native) container log-shipper" in e for e in w["evidence"])
    assert plan_for(plans, "api-gateway")["pods"] == [bad]


# --- 7. ownership ---------------------------------------------------------------------------------------------


def test_pods_are_assigned_by_owner_uid_never_by_shared_labels():
    shared = {"app": "shared", "app.kubernetes.io/name": "shared"}
    a = deployment_app("shared-a", [OK, OK], pod_labels=shared, pod_hash="6b7c8d9f5")
    b = deployment_app("shared-b", [OK, {"statuses": {MAIN: crashing()}}], pod_labels=shared, pod_hash="6b7c8d9f5")
    # a pod left from an earlier shared-a: its ReplicaSet has the same name but another uid
    stale_rs = copy.deepcopy(a["replicasets"][0])
    stale_rs["metadata"]["uid"] = "rs-uid-deleted-long-ago"
    orphan = rs_pods(stale_rs, [{"statuses": {MAIN: crashing()}}], first=4)[0]
    b["pods"].reverse()  # list order says nothing either
    report, plans = diagnose(raw_namespace(b, a, extra_pods=[orphan]))
    wa, wb = workload(report, "shared-a"), workload(report, "shared-b")
    b_pods = set(p["metadata"]["name"] for p in b["pods"])
    assert wa["classification"] == "healthy" and set(wa["pods"]) == set(p["metadata"]["name"] for p in a["pods"])
    assert not b_pods & set(wa["pods"] + wa["affected_pods"]) and orphan["metadata"]["name"] not in wa["pods"]
    assert wb["classification"] == "crashloop" and set(wb["pods"]) == b_pods
    assert [p["workload"] for p in plans if p["kind"] == "Deployment"] == ["shared-b"]
    assert plan_for(plans, "shared-b")["pods"] == [n for n in wb["affected_pods"] if n in b_pods]
    for name in b_pods:
        assert pod_summary(report, name)["workload"] == {"kind": "Deployment", "name": "shared-b"}
    assert [(o["kind"], o["pods"]) for o in report["others"]] == [("ReplicaSet", [orphan["metadata"]["name"]])]


# --- 8. hands off -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("marker, manager", [
    ({"annotations": {"argocd.argoproj.io/tracking-id": "platform:apps/Deployment:ai-orchestrator/api-gateway"}}, "Argo CD"),
    ({"labels": {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}, "Flux"),
])
def test_gitops_managed_deployment_is_escalated_with_the_proposed_action(marker, manager):
    app = deployment_app("api-gateway", [OK, {"statuses": {MAIN: crashing()}}, OK], **marker)
    report, plans = diagnose(raw_namespace(app))
    assert workload(report, "api-gateway")["gitops"]["manager"] == manager
    plan = plan_for(plans, "api-gateway")
    assert (plan["action"], plan["proposed"], plan["pods"]) == ("escalate", "delete_pod", [])
    assert manager in plan["reason"] and app["pods"][1]["metadata"]["name"] in plan["reason"]


def test_daemonset_pod_crashing_is_reported_not_acted_on():
    ds_pod = make_pod("node-exporter-q8w2e", owner_ref("DaemonSet", "node-exporter", "ds-uid-node-exporter"), [ctr("node-exporter")],
                      statuses={MAIN: crashing()}, labels={"app.kubernetes.io/name": "node-exporter"})
    report, plans = diagnose(raw_namespace(deployment_app("api-gateway", [OK, OK]), extra_pods=[ds_pod]))
    assert report["others"] == [{"kind": "DaemonSet", "name": "node-exporter", "pods": ["node-exporter-q8w2e"],
                                 "classification": "crashloop", "evidence": report["others"][0]["evidence"]}]
    plan = plan_for(plans, "node-exporter")
    assert plan["action"] == "escalate" and "not acted on" in plan["reason"] and plan["pods"] == ["node-exporter-q8w2e"]


def job_pod(name, job, status, phase):
    return make_pod(name, owner_ref("Job", job, "job-uid-" + job, "batch/v1"), [ctr("report", image("report-builder"))],
                    statuses={MAIN: status}, phase=phase, ready=False, restart_policy="Never",
                    labels={"batch.kubernetes.io/job-name": job, "job-name": job})


def test_failed_job_pod_is_reported_only_and_a_succeeded_one_not_at_all():
    failed = job_pod("report-28941120-vq7lz", "report-28941120", exited("Error", 1, ago=600), "Failed")
    done = job_pod("report-28941060-k2m9d", "report-28941060", exited("Completed", 0, ago=4000), "Succeeded")
    report, plans = diagnose(raw_namespace(deployment_app("api-gateway", [OK]), extra_pods=[failed, done]))
    assert [(o["kind"], o["name"], o["pods"]) for o in report["others"]] == [("Job", "report-28941120", ["report-28941120-vq7lz"])]
    plan = plan_for(plans, "report-28941120")
    assert plan["action"] == "none" and "reported only" in plan["reason"]
    assert pod_summary(report, "report-28941060-k2m9d")["classification"] == "healthy"


def test_bare_pod_crashing_is_reported_as_a_pod():
    bare = make_pod("debug-shell", None, [ctr("debug-shell", "docker.io/nicolaka/netshoot:v0.13")], statuses={MAIN: crashing()})
    report, plans = diagnose(raw_namespace(deployment_app("api-gateway", [OK]), extra_pods=[bare]))
    assert [(o["kind"], o["name"], o["pods"]) for o in report["others"]] == [("Pod", "debug-shell", ["debug-shell"])]
    assert pod_summary(report, "debug-shell")["workload"] is None
    assert plan_for(plans, "debug-shell")["action"] == "escalate"


def test_pod_of_an_argo_rollout_is_reported_as_the_rollout():
    rollout_rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": "checkout-6f7d8c9b5", "namespace": NS, "uid": "rs-uid-checkout-6f7d8c9b5", "creationTimestamp": f.ts(DAY),
                               "labels": {"app.kubernetes.io/name": "checkout", "rollouts-pod-template-hash": "6f7d8c9b5"},
                               "annotations": {"rollout.argoproj.io/revision": "4"},
                               "ownerReferences": [owner_ref("Rollout", "checkout", "ro-uid-checkout", "argoproj.io/v1alpha1")]},
                  "spec": {"replicas": 2, "template": _template("checkout", [ctr("checkout")])}}
    rollout_rs["spec"]["template"]["metadata"]["labels"]["rollouts-pod-template-hash"] = "6f7d8c9b5"
    pods = rs_pods(rollout_rs, [OK, {"statuses": {MAIN: crashing()}}])
    report, plans = diagnose(raw_namespace(deployment_app("api-gateway", [OK]), extra_pods=pods, extra_replicasets=[rollout_rs]))
    assert [(o["kind"], o["name"], o["pods"]) for o in report["others"]] == [("Rollout", "checkout", [pods[1]["metadata"]["name"]])]
    assert pod_summary(report, pods[0]["metadata"]["name"])["workload"] == {"kind": "Rollout", "name": "checkout"}
    plan = plan_for(plans, "checkout")
    assert plan["kind"] == "Rollout" and plan["action"] == "escalate" and "not acted on" in plan["reason"]


# --- 9. configuration changes ------------------------------------------------------------------------------------


CONFIGURED = [ctr("api-gateway", envFrom=[{"configMapRef": {"name": "app-config"}}],
                  volumeMounts=[{"name": "db-creds", "mountPath": "/etc/db", "readOnly": True}])]
CREDS_VOLUME = [{"name": "db-creds", "secret": {"secretName": "db-creds", "defaultMode": 420}}]
DATA_KEYS = {"f:data": {".": {}, "f:LOG_LEVEL": {}, "f:FEATURE_FLAGS": {}}}


@pytest.mark.parametrize("with_data", [False, True], ids=["metadata-only", "server-sent-data"])
def test_config_changes_name_only_what_changed_since_the_rollout_and_no_values(with_data):
    app = deployment_app("api-gateway", [{"statuses": {MAIN: crashing()}, "age": 5400}] * 2, rs_age=2 * HOUR,
                         containers=CONFIGURED, volumes=CREDS_VOLUME)
    app_config = partial_metadata("app-config", 30 * DAY, [("kubectl-client-side-apply", 30 * DAY, DATA_KEYS),
                                                           ("argocd-controller", 600, {"f:data": {"f:FEATURE_FLAGS": {}}})],
                                  data={"FEATURE_FLAGS": "checkout-v2=on;zz-value-marker-1"} if with_data else None)
    db_creds = partial_metadata("db-creds", 30 * DAY, [("kubectl-client-side-apply", DAY, {"f:data": {"f:password": {}}})],
                                data={"password": "enotLXZhbHVlLW1hcmtlci0y"} if with_data else None)
    unrelated = partial_metadata("kube-root-ca.crt", 90 * DAY, [("kube-controller-manager", 300, {"f:data": {"f:ca.crt": {}}})])
    report, plans = diagnose(raw_namespace(app, configmaps=[app_config, unrelated], secrets=[db_creds]))
    w = workload(report, "api-gateway")
    assert w["classification"] == "crashloop" and report["config_error"] is None
    assert w["config_changes"] == [{"kind": "ConfigMap", "name": "app-config", "changed_at": f.ts(600),
                                    "note": "changed after the running pods started"}]
    assert any("ConfigMap app-config" in e and f.ts(600) in e for e in w["evidence"])
    assert not any("db-creds" in e or "kube-root-ca.crt" in e for e in w["evidence"])
    text = json.dumps([report, plans])
    assert "zz-value-marker-1" not in text and "enotLXZhbHVlLW1hcmtlci0y" not in text


def test_a_metadata_only_write_is_not_a_config_change():
    app = deployment_app("api-gateway", [{"statuses": {MAIN: crashing()}, "age": 5400}] * 2, rs_age=2 * HOUR,
                         containers=CONFIGURED, volumes=CREDS_VOLUME)
    app_config = partial_metadata("app-config", 30 * DAY, [("kubectl-client-side-apply", 30 * DAY, DATA_KEYS),
                                                           ("kubectl-label", 300, {"f:metadata": {"f:labels": {"f:team": {}}}})])
    db_creds = partial_metadata("db-creds", 30 * DAY, [("kubectl-client-side-apply", 30 * DAY, {"f:data": {"f:password": {}}})])
    report, plans = diagnose(raw_namespace(app, configmaps=[app_config], secrets=[db_creds]))
    assert workload(report, "api-gateway")["config_changes"] == []


# --- 10. the controller cannot create pods -------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [0, 2])
def test_failed_create_on_the_replicaset_escalates_to_infrastructure(existing):
    app = deployment_app("checkout", [OK] * existing, replicas=3)
    rs = app["replicasets"][0]
    message = ('Error creating: pods "%s-%s" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=500m, '
               'used: limits.cpu=4, limited: limits.cpu=4' % (rs["metadata"]["name"], SUFFIXES[5]))
    app["deployments"][0]["status"]["conditions"] = [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message},
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]
    events = [warning("ReplicaSet", rs["metadata"]["name"], "FailedCreate", message, count=14, uid=rs["metadata"]["uid"],
                      api_version="apps/v1")]
    report, plans = diagnose(raw_namespace(app, events=events))
    w = workload(report, "checkout")
    assert w["classification"] == "create_failed" and w["replicaset_events"][0]["reason"] == "FailedCreate"
    assert any("exceeded quota" in e for e in w["evidence"])
    plan = plan_for(plans, "checkout")
    assert (plan["action"], plan["owner"]) == ("escalate", "infrastructure")


# --- stuck pods that never get past Pending ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [
    {"statuses": {MAIN: waiting("ContainerCreating")}},
    {"init_statuses": {"migrate": up(started=1190, ready=False)}, "statuses": {MAIN: waiting("PodInitializing")}},
], ids=["container-creating", "init-never-finishes"])
def test_pod_stuck_pending_past_its_allowance_is_not_healthy(state):
    app = deployment_app("n8n", [OK, OK, dict(state, age=1200)], init=(MIGRATE,), volumes=CREDS_VOLUME)
    stuck = app["pods"][2]["metadata"]["name"]
    events = [warning("Pod", stuck, "FailedMount", 'MountVolume.SetUp failed for volume "db-creds" : secret "db-creds" not found',
                      count=9)]
    report, plans = diagnose(raw_namespace(app, events=events))
    assert pod_summary(report, stuck)["phase"] == "Pending"
    assert workload(report, "n8n")["classification"] != "healthy"
    assert plan_for(plans, "n8n")["action"] != "none"


# --- the outcome: who is paged ----------------------------------------------------------------------------------------


def test_outcome_pages_the_database_and_development_owners():
    report, plans = diagnose(raw_namespace(
        statefulset_app("postgres", [{"statuses": {MAIN: crashing()}}] * 3),
        deployment_app("api-gateway", [OK, {"statuses": {MAIN: crashing()}}, OK])))
    db, api = plan_for(plans, "postgres"), plan_for(plans, "api-gateway")
    assert (db["action"], db["owner"]) == ("escalate", "database")
    assert (api["action"], api["owner"]) == ("delete_pod", "development")
    actions = classify.action_results([{"item": api, "failed": True, "msg": "pod not replaced within 120s", "verified": False}])
    outcome = classify.judge_outcome(plans, actions, {"unhealthy": ["api-gateway", "postgres"], "health_failed": []})
    assert outcome["status"] == "escalated"
    assert outcome["owners"] == ["database", "development"]
    assert db["reason"] in outcome["escalations"] and any("pod not replaced" in r for r in outcome["failed_actions"])
