# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read a namespace's state in a fixed number of API calls and join it in memory.

The number of requests does not grow with the number of pods: one list per
resource type (paged), then logs only for unhealthy containers, bounded by
``max_log_containers``. The pure joining and summarising functions are separate
from the I/O so that unit tests can feed them recorded API objects.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import age_seconds, epoch, rfc3339_epoch
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import derive_severity
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl

PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def fetch(client, namespace, service=None, metrics=True):
    """Every list the diagnosis needs, in parallel. Returns a dict of raw items.

    With ``service`` only that workload is diagnosed (NotFound names the ones that
    exist), and only the pods and ReplicaSets it owns are kept. The namespace's other
    Deployments and StatefulSets are kept as ``peers``: severity is judged on the
    namespace, and their readiness (in the same two lists that find the service) is
    all it needs.
    """
    wl.ensure_namespace(client, namespace)
    raw = {}
    target = None
    pod_selector = None
    if service:
        target, kind, raw["peers"] = _find_with_peers(client, namespace, service)
        raw["deployments"] = [target] if kind == "Deployment" else []
        raw["statefulsets"] = [target] if kind == "StatefulSet" else []
        pod_selector = wl.selector_string(target["spec"].get("selector"))
    calls = {
        "pods": lambda: client.list(wl.api_path("Pod", namespace), labelSelector=pod_selector),
        "replicasets": lambda: client.list(wl.api_path("ReplicaSet", namespace), labelSelector=pod_selector),
        "events": lambda: client.list(wl.api_path("Event", namespace), fieldSelector="type=Warning"),
        # What a namespace-scoped identity may not read is reported, not fatal.
        "nodes": lambda: _optional(client, wl.api_path("Node")),
        "hpas": lambda: _optional(client, wl.api_path("HorizontalPodAutoscaler", namespace)),
        # Names and times only: which ConfigMaps and Secrets changed, never their values.
        "configmaps": lambda: _optional(client, wl.api_path("ConfigMap", namespace), metadata_only=True),
        "secrets": lambda: _optional(client, wl.api_path("Secret", namespace), metadata_only=True),
    }
    if not service:
        calls["deployments"] = lambda: client.list(wl.api_path("Deployment", namespace))
        calls["statefulsets"] = lambda: client.list(wl.api_path("StatefulSet", namespace))
    if metrics:
        calls["pod_metrics"] = lambda: _metrics(client, wl.api_path("PodMetrics", namespace), pod_selector)
        calls["node_metrics"] = lambda: _metrics(client, wl.api_path("NodeMetrics"), None)
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = dict((key, pool.submit(fn)) for key, fn in calls.items())
        for key, future in futures.items():
            raw[key] = future.result()
    if target is not None:
        # Labels narrow the lists; ownership decides. A pod of another workload that
        # shares the labels is not this service's.
        raw["replicasets"] = wl.owned_by(raw["replicasets"], target) if kind == "Deployment" else []
        raw["pods"] = wl.pods_of(kind, target, raw["pods"], raw["replicasets"])
    return raw


def _find_with_peers(client, namespace, service):
    """(object, kind, peers) of a service: the two workload lists name it and its peers.

    Deployment first, as ``workloads.find``; ``peers`` are the other Deployments and
    StatefulSets as ``{"kind": [objects]}``.
    """
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [(k, pool.submit(client.list, wl.api_path(k, namespace))) for k in ("Deployment", "StatefulSet")]
        listed = [(k, future.result()) for k, future in futures]
    for kind, items in listed:
        for obj in items:
            if obj["metadata"]["name"] == service:
                peers = dict((k, [o for o in objs if o is not obj]) for k, objs in listed)
                return obj, kind, peers
    raise wl.not_found(client, namespace, service)


def peer_readiness(peers):
    """Readiness of the workloads a scoped run did not diagnose (kind, name, desired, ready)."""
    return [{"kind": kind, "name": obj["metadata"]["name"], "desired": (obj.get("spec") or {}).get("replicas", 1),
             "ready": (obj.get("status") or {}).get("readyReplicas", 0)}
            for kind in ("Deployment", "StatefulSet") for obj in (peers or {}).get(kind) or []]


def _optional(client, path, **query):
    """A list the diagnosis can do without: {"items", "error"}; 403 and 404 become the error."""
    try:
        return {"items": client.list(path, **query), "error": None}
    except ClusterError as exc:
        if exc.status not in (403, 404):
            raise
        return {"items": [], "error": str(exc)}


def _metrics(client, path, selector):
    """Metrics API items, or the reason it does not answer (a probe does not fail)."""
    try:
        return {"items": client.list(path, labelSelector=selector), "error": None}
    except ClusterError as exc:
        return {"items": [], "error": "metrics unavailable: %s" % exc}


def summarize_container(spec, status, usage, role, now):
    state = status.get("state") or {}
    kind = next(iter(state), "waiting")
    detail = state.get(kind) or {}
    last = (status.get("lastState") or {}).get("terminated")
    if role == "init" and kind == "terminated" and detail.get("exitCode") not in (None, 0):
        # Init:Error: the failed run is the current state, not the last one.
        last = last or detail
    resources = spec.get("resources") or {}
    return {
        "name": spec.get("name") or status.get("name"),
        "role": role,
        "image": status.get("image") or spec.get("image"),
        "ready": bool(status.get("ready")) or (role == "init" and kind == "terminated" and detail.get("exitCode") == 0),
        "restart_count": status.get("restartCount", 0),
        "state": kind,
        "reason": detail.get("reason"),
        "exit_code": detail.get("exitCode"),
        "message": (detail.get("message") or "")[:300] or None,
        "last_terminated": None
        if not last
        else {
            "reason": last.get("reason"),
            "exit_code": last.get("exitCode"),
            "finished_at": last.get("finishedAt"),
            "age_seconds": age_seconds(last.get("finishedAt"), now),
        },
        "requests": resources.get("requests") or {},
        "limits": resources.get("limits") or {},
        "usage": usage,
    }


def startup_allowance(spec, minimum):
    """Seconds a new pod may take before not being ready is a fault.

    Its containers' startupProbe budget (initialDelaySeconds + failureThreshold x
    periodSeconds), else their readiness initialDelaySeconds, never less than ``minimum``.
    """
    allowance = minimum
    for c in spec.get("containers") or []:
        probe = c.get("startupProbe")
        if probe:
            budget = probe.get("initialDelaySeconds", 0) + probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10)
        else:
            budget = (c.get("readinessProbe") or {}).get("initialDelaySeconds", 0)
        allowance = max(allowance, budget)
    return allowance


def _roles(spec, annotations):
    """(init containers, containers) of a pod spec, each as (container spec, role).

    The main container is the one kubectl defaults to (its annotation), else the first;
    other containers are sidecars; init containers with restartPolicy Always are native
    sidecars and count as containers.
    """
    regular = spec.get("containers") or []
    main = annotations.get(wl.DEFAULT_CONTAINER_ANNOTATION) or (regular[0]["name"] if regular else None)
    init, native = [], []
    for c in spec.get("initContainers") or []:
        (native if c.get("restartPolicy") == "Always" else init).append((c, "native_sidecar" if c.get("restartPolicy") == "Always" else "init"))
    return init, [(c, "main" if c["name"] == main else "sidecar") for c in regular] + native


def node_problem(pod_status, spec, node):
    """Why the pod's node is to blame, or None.

    With the node readable: it is not Ready, or carries the unreachable taint. Without
    it: the pod is not Ready while every container still reports ready - only the node
    controller writes that, once the kubelet has stopped reporting.
    """
    node_name = spec.get("nodeName")
    if not node_name:
        return None
    if node is not None:
        if not node["ready"]:
            return "node %s is %s" % (node_name, node.get("ready_status") or "not Ready")
        if node.get("unreachable"):
            return "node %s is tainted unreachable" % node_name
        return None
    conditions = dict((c["type"], c.get("status")) for c in pod_status.get("conditions") or [])
    statuses = pod_status.get("containerStatuses") or []
    if conditions.get("Ready") in ("False", "Unknown") and statuses and all(st.get("ready") for st in statuses):
        return "node %s stopped reporting: the pod is not Ready while its containers still report ready" % node_name
    return None


def summarize_pod(pod, owner, events, usage_by_container, now, max_events=10, node=None, nodes_known=True, min_startup_seconds=30):
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    statuses = dict((st["name"], st) for st in status.get("containerStatuses") or [])
    statuses.update((st["name"], st) for st in status.get("initContainerStatuses") or [])
    init, regular = _roles(spec, meta.get("annotations") or {})

    def summary(c, role):
        return summarize_container(c, statuses.get(c["name"], {"name": c["name"]}), usage_by_container.get(c["name"]), role, now)

    containers = [summary(c, role) for c, role in regular]
    init_containers = [summary(c, role) for c, role in init]
    conditions = dict(
        (c["type"], {"status": c.get("status"), "reason": c.get("reason"), "message": (c.get("message") or "")[:300] or None})
        for c in status.get("conditions") or []
    )
    labels = meta.get("labels") or {}
    return {
        "name": meta["name"],
        "uid": meta.get("uid"),
        "workload": owner,
        "revision_hash": labels.get("pod-template-hash") or labels.get("controller-revision-hash"),
        "phase": status.get("phase"),
        "ready": (conditions.get("Ready") or {}).get("status") == "True",
        "node": spec.get("nodeName"),
        # Without node read rights the pods' own status tells; with them, only a listed node does.
        "node_problem": node_problem(status, spec, node) if node is not None or not nodes_known else None,
        "age_seconds": age_seconds(meta.get("creationTimestamp"), now),
        "startup_allowance_seconds": startup_allowance(spec, min_startup_seconds),
        "restarts": sum(c["restart_count"] for c in containers + init_containers),
        "deleting": bool(meta.get("deletionTimestamp")),
        "conditions": conditions,
        "containers": containers,
        "init_containers": init_containers,
        "events": events[:max_events],
    }


def _events_by_object(events):
    """Warning events grouped by (kind, name), newest first."""
    grouped = {}
    for ev in events:
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        grouped.setdefault((obj.get("kind"), obj.get("name")), []).append(
            {
                "uid": obj.get("uid"),
                "reason": ev.get("reason"),
                "message": (ev.get("message") or ev.get("note") or "")[:300],
                "count": ev.get("count") or 1,
                "last_seen": ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp"),
            }
        )
    for items in grouped.values():
        items.sort(key=lambda e: e["last_seen"] or "", reverse=True)
    return grouped


# A StatefulSet's replacement pod has the old pod's name: events and metrics, both keyed by
# name, must be matched to this pod by its uid and by the time the sample was taken.


def own_events(events, pod):
    """The pod's events: those of another pod that had the same name (a different uid) are not its."""
    pod_uid = pod["metadata"].get("uid")
    return [e for e in events or [] if not (pod_uid and e.get("uid") and e["uid"] != pod_uid)]


def pod_usage(sample, pod):
    """{container: usage} from a PodMetrics sample, unless its window began before this pod existed."""
    if not sample:
        return {}
    created = epoch(pod["metadata"].get("creationTimestamp"))
    window = duration_seconds(sample.get("window"))
    taken = epoch(sample.get("timestamp"))
    if created and taken and taken - window < created:
        return {}
    return dict((c["name"], c.get("usage")) for c in sample.get("containers") or [])


def duration_seconds(text):
    """Seconds in a Go duration string as the metrics API writes it ("9.99s", "1m0s")."""
    return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text or ""))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _last_remediation(obj, now):
    """The newest remediation workload_remediation recorded on the workload, with its age."""
    entry = wl.last_remediation(obj)
    if not entry:
        return None
    return dict(entry, age_seconds=age_seconds(entry.get("at"), now))


def _deployment_rollout(dep, replicasets, now, recent_seconds):
    by_revision = wl.revisions(dep, replicasets)
    revision = wl.revision(dep)
    current = by_revision.get(revision)
    previous = max([r for r in by_revision if 0 < r < revision] or [0])
    status = dep.get("status") or {}
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {})
    if dep["spec"].get("paused"):
        state = "paused"
    elif progressing.get("reason") == "ProgressDeadlineExceeded":
        state = "stalled"
    elif wl.settled("Deployment", dep):
        state = "complete"
    else:
        state = "progressing"
    age = age_seconds(current["metadata"].get("creationTimestamp"), now) if current else None
    return {
        "state": state,
        "revision": revision,
        "previous_revision": previous or None,
        "current_hash": ((current or {}).get("metadata", {}).get("labels") or {}).get("pod-template-hash"),
        "age_seconds": age,
        "recent": bool(previous and age is not None and age <= recent_seconds),
        "message": progressing.get("message"),
    }


def _statefulset_rollout(sts):
    status = sts.get("status") or {}
    current, update = status.get("currentRevision"), status.get("updateRevision")
    desired = sts["spec"].get("replicas", 1)
    done = (not update or current == update) and status.get("updatedReplicas", desired) >= desired
    return {
        "state": "complete" if done and status.get("readyReplicas", 0) >= desired else "progressing",
        "revision": update,
        "previous_revision": current if current != update else None,
        "current_hash": update,
        "age_seconds": None,
        "recent": bool(update and current and current != update),
        "message": None,
    }


def _items(raw, key):
    """(items, error) of a raw list that may be plain or optional ({"items", "error"})."""
    value = raw.get(key)
    if isinstance(value, dict):
        return value.get("items") or [], value.get("error")
    return value or [], None


DATA_FIELDS = ("f:data", "f:binaryData", "f:stringData", "f:immutable")


def _changed_at(obj):
    """When what a pod reads was last written: the newest managedFields entry that touched the data
    (a label or annotation edit changes nothing a pod sees), else the object's creation."""
    times = [epoch(m.get("time")) for m in (obj.get("metadata") or {}).get("managedFields") or []
             if any(key in (m.get("fieldsV1") or {}) for key in DATA_FIELDS)]
    times = [t for t in times if t] + [epoch((obj.get("metadata") or {}).get("creationTimestamp")) or 0]
    return max(times)


def config_changes(template, since, config_objects, unreadable=()):
    """ConfigMaps and Secrets the template reads that changed after ``since`` (epoch): names and times only.

    Kinds in ``unreadable`` (this identity may not list them) are left out, not reported missing.
    """
    changed = []
    for kind, name in sorted(wl.config_references(template)):
        if kind in unreadable:
            continue
        obj = config_objects.get((kind, name))
        if obj is None:
            changed.append({"kind": kind, "name": name, "changed_at": None, "note": "referenced but not found"})
            continue
        at = _changed_at(obj)
        if since is not None and at > since:
            changed.append({"kind": kind, "name": name, "changed_at": rfc3339_epoch(at), "note": "changed after the running pods started"})
    return changed


def _hpa_summary(hpa):
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    maximum, current = spec.get("maxReplicas"), status.get("currentReplicas", 0)
    return {
        "name": hpa["metadata"]["name"],
        "min": spec.get("minReplicas", 1),
        "max": maximum,
        "current": current,
        "desired": status.get("desiredReplicas", 0),
        "at_max": bool(maximum) and max(current, status.get("desiredReplicas", 0)) >= maximum,
    }


def build_report(raw, namespace, now, usage_threshold=0.9, recent_rollout_minutes=30, max_pods=200, max_events=10, min_startup_seconds=30,
                 policy=None):
    """Join raw API lists into the module's report (no I/O).

    ``policy`` is the operator's ``incident_policy`` (None: the runbook's); the severity is
    judged on the namespace: the diagnosed workloads and, in a scoped run, ``raw["peers"]``.
    """
    events = _events_by_object(raw.get("events") or [])
    pod_metrics = raw.get("pod_metrics") or {"items": [], "error": "metrics not requested"}
    samples = dict((m["metadata"]["name"], m) for m in pod_metrics["items"])
    node_items, nodes_error = _items(raw, "nodes")
    hpa_items, hpa_error = _items(raw, "hpas")
    config_objects = {}
    config_errors = []
    # A kind this identity may not list (Secrets, often) leaves the other's changes to report.
    unreadable = []
    for kind, key in (("ConfigMap", "configmaps"), ("Secret", "secrets")):
        items, error = _items(raw, key)
        config_errors += [error] if error else []
        unreadable += [kind] if error else []
        config_objects.update(((kind, o["metadata"]["name"]), o) for o in items)
    node_usage = dict((m["metadata"]["name"], m.get("usage") or {}) for m in (raw.get("node_metrics") or {}).get("items") or [])
    nodes = [summarize_node(n, node_usage.get(n["metadata"]["name"])) for n in node_items]
    nodes_by_name = dict((n["name"], n) for n in nodes)
    nodes_known = nodes_error is None
    hpa_by_target = dict(
        (((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind", "") + "/" + ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name", ""),
         _hpa_summary(h))
        for h in hpa_items
    )
    replicasets = raw.get("replicasets") or []
    # Pod -> ReplicaSet -> Deployment (or Argo Rollout), by uid (ownerReferences), never by labels.
    rs_owner = {}
    rs_events = {}
    for rs in replicasets:
        for ref in rs["metadata"].get("ownerReferences") or []:
            if ref.get("kind") in ("Deployment", "Rollout"):
                rs_owner[rs["metadata"].get("uid")] = {"kind": ref["kind"], "name": ref["name"]}
                rs_events.setdefault(ref["name"], []).extend(events.get(("ReplicaSet", rs["metadata"]["name"])) or [])
    workloads = []
    objects = {}
    for kind, key in (("Deployment", "deployments"), ("StatefulSet", "statefulsets")):
        for obj in raw.get(key) or []:
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            name = obj["metadata"]["name"]
            rollout = _deployment_rollout(obj, replicasets, now, recent_rollout_minutes * 60) if kind == "Deployment" else _statefulset_rollout(obj)
            objects[(kind, name)] = obj
            workloads.append(
                {
                    "kind": kind,
                    "name": name,
                    "desired": spec.get("replicas", 1),
                    "current": status.get("replicas", 0),
                    "ready": status.get("readyReplicas", 0),
                    "available": status.get("availableReplicas", 0),
                    "updated": status.get("updatedReplicas", 0),
                    "images": [c.get("image") for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []],
                    "strategy": (spec.get("strategy") or spec.get("updateStrategy") or {}).get("type"),
                    "rollout": rollout,
                    "hpa": hpa_by_target.get("%s/%s" % (kind, name)),
                    "gitops": wl.gitops_manager(obj),
                    "last_remediation": _last_remediation(obj, now),
                    "events": (events.get((kind, name)) or [])[:max_events],
                    "replicaset_events": (rs_events.get(name) or [])[:max_events] if kind == "Deployment" else [],
                }
            )
    pods = []
    by_controller = {}
    for pod in raw.get("pods") or []:
        owner = wl.controller_of(pod, rs_owner)
        node_name = (pod.get("spec") or {}).get("nodeName")
        summary = summarize_pod(
            pod, owner, own_events(events.get(("Pod", pod["metadata"]["name"])), pod), pod_usage(samples.get(pod["metadata"]["name"]), pod),
            now, max_events,
            node=nodes_by_name.get(node_name), nodes_known=nodes_known, min_startup_seconds=min_startup_seconds,
        )
        pods.append(summary)
        key = (owner["kind"], owner["name"]) if owner else ("Pod", summary["name"])
        by_controller.setdefault(key, []).append(summary)
    for w in workloads:
        members = by_controller.pop((w["kind"], w["name"]), [])
        # A pod being deleted no longer counts against its workload.
        live = [p for p in members if not p["deleting"]]
        verdict = classify.classify_workload(w, live, usage_threshold)
        w.update(verdict)
        w["pods"] = sorted(p["name"] for p in live)
        for p in members:
            p["classification"] = verdict["pod_classifications"].get(p["name"], "healthy")
        w.pop("pod_classifications")
        if w["classification"] != "healthy":
            obj = objects[(w["kind"], w["name"])]
            # Since the current rollout; for a StatefulSet (no ReplicaSet age) since its oldest running pod.
            ages = [p["age_seconds"] for p in live if p["age_seconds"] is not None]
            if w["kind"] == "Deployment" and w["rollout"].get("age_seconds") is not None:
                since = now - w["rollout"]["age_seconds"]
            else:
                since = now - max(ages) if ages else None
            w["config_changes"] = config_changes((obj.get("spec") or {}).get("template"), since, config_objects, unreadable)
            w["evidence"] += ["%s %s %s" % (c["kind"], c["name"], c["note"] + (" at " + c["changed_at"] if c["changed_at"] else ""))
                              for c in w["config_changes"]]
        else:
            w["config_changes"] = []
    # Pods of anything else (DaemonSets, Jobs, Argo Rollouts, bare pods) are reported, never acted on.
    others = []
    for (kind, name), members in sorted(by_controller.items()):
        live = [p for p in members if not p["deleting"]]
        classes = dict((p["name"], classify.classify_pod(p, usage_threshold)) for p in live)
        for p in members:
            p["classification"] = classes[p["name"]][0] if p["name"] in classes else "healthy"
        bad = sorted(n for n, verdict in classes.items() if verdict[0] != "healthy")
        if bad:
            others.append({
                "kind": kind, "name": name, "pods": bad,
                "classification": next((c for c in classify.PRIORITY if any(classes[n][0] == c for n in bad)), "unknown"),
                "evidence": [e for n in bad for e in classes[n][1]][:20],
            })
    unhealthy = [w for w in workloads if w["classification"] != "healthy"]
    # Unhealthy pods first, so the bound never hides the evidence.
    pods.sort(key=lambda p: (p["classification"] == "healthy", p["name"]))
    counts = {}
    for w in workloads:
        counts[w["classification"]] = counts.get(w["classification"], 0) + 1
    return {
        "namespace": namespace,
        "metrics_available": not pod_metrics.get("error"),
        "metrics_error": pod_metrics.get("error"),
        "nodes_error": nodes_error,
        "hpa_error": hpa_error,
        "config_error": "; ".join(config_errors) or None,
        "workloads": workloads,
        "unhealthy": [w["name"] for w in unhealthy],
        "others": others,
        "pods": pods[:max_pods],
        "nodes": nodes,
        "severity": derive_severity(workloads, policy, peers=peer_readiness(raw.get("peers"))),
        "summary": {
            "workloads": len(workloads),
            "unhealthy_workloads": len(unhealthy),
            "pods": len(pods),
            "pods_ready": sum(1 for p in pods if p["ready"]),
            "pods_reported": min(len(pods), max_pods),
            "classifications": counts,
            "nodes_not_ready": sum(1 for n in nodes if not n["ready"]),
        },
    }


def summarize_node(node, usage):
    status = node.get("status") or {}
    conditions = dict((c["type"], c.get("status")) for c in status.get("conditions") or [])
    allocatable = status.get("allocatable") or {}
    ratios = {}
    for resource in ("cpu", "memory"):
        used = classify.parse_quantity((usage or {}).get(resource))
        total = classify.parse_quantity(allocatable.get(resource))
        if used is not None and total:
            ratios[resource] = round(used / total, 3)
    taints = (node.get("spec") or {}).get("taints") or []
    return {
        "name": node["metadata"]["name"],
        "ready": conditions.get("Ready") == "True",
        "ready_status": {"True": "Ready", "False": "NotReady", "Unknown": "unreachable (Ready Unknown)"}.get(conditions.get("Ready"), "not reporting"),
        "unreachable": any(t.get("key") == "node.kubernetes.io/unreachable" for t in taints),
        "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
        "pressure": sorted(t for t in PRESSURE_CONDITIONS if conditions.get(t) == "True"),
        "allocatable": {"cpu": allocatable.get("cpu"), "memory": allocatable.get("memory"), "pods": allocatable.get("pods")},
        "usage": usage,
        "usage_ratio": ratios,
    }


def collect_logs(client, namespace, report, log_lines=100, max_containers=10):
    """Attach current and previous logs of unhealthy containers (init containers too), bounded."""
    budget = max_containers
    for pod in report["pods"]:
        if pod["classification"] in ("healthy", "node_failure"):
            continue
        for c in pod.get("init_containers", []) + pod["containers"]:
            # A container that never started (image pull, unschedulable) has no logs.
            if c["ready"] or budget <= 0 or not (c["restart_count"] or c["last_terminated"] or c["state"] != "waiting"):
                continue
            budget -= 1
            logs = {}
            wanted = [("current", False)]
            if c["restart_count"] > 0 or c["last_terminated"]:
                wanted.append(("previous", True))
            for key, previous in wanted:
                try:
                    text = client.log(namespace, pod["name"], c["name"], tail_lines=log_lines, previous=previous)
                    logs[key] = text.splitlines()[-log_lines:]
                except ClusterError as exc:
                    # A 403 names the permission and the rule to grant: kept whole.
                    logs[key + "_error"] = str(exc) if exc.status == 403 else str(exc)[:300]
            c["logs"] = logs
    report["summary"]["log_containers"] = max_containers - budget
    return report
