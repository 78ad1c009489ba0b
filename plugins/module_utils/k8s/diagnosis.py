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

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import age_seconds
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import derive_severity
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl

PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def fetch(client, namespace, service=None, metrics=True):
    """Every list the diagnosis needs, in parallel. Returns a dict of raw items.

    With ``service`` only that workload is read (NotFound names the ones that
    exist), and only the pods and ReplicaSets it owns are kept.
    """
    wl.ensure_namespace(client, namespace)
    raw = {}
    target = None
    pod_selector = None
    if service:
        target, kind = wl.find(client, namespace, service)
        raw["deployments"] = [target] if kind == "Deployment" else []
        raw["statefulsets"] = [target] if kind == "StatefulSet" else []
        pod_selector = wl.selector_string(target["spec"].get("selector"))
    calls = {
        "pods": lambda: client.list(wl.api_path("Pod", namespace), labelSelector=pod_selector),
        "replicasets": lambda: client.list(wl.api_path("ReplicaSet", namespace), labelSelector=pod_selector),
        "events": lambda: client.list(wl.api_path("Event", namespace), fieldSelector="type=Warning"),
        "nodes": lambda: client.list(wl.api_path("Node")),
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


def _metrics(client, path, selector):
    """Metrics API items, or the reason it does not answer (a probe does not fail)."""
    try:
        return {"items": client.list(path, labelSelector=selector), "error": None}
    except ClusterError as exc:
        return {"items": [], "error": "metrics unavailable: %s" % exc}


def summarize_container(spec, status, usage):
    state = status.get("state") or {}
    kind = next(iter(state), "waiting")
    detail = state.get(kind) or {}
    last = (status.get("lastState") or {}).get("terminated")
    resources = spec.get("resources") or {}
    return {
        "name": spec.get("name") or status.get("name"),
        "image": status.get("image") or spec.get("image"),
        "ready": bool(status.get("ready")),
        "restart_count": status.get("restartCount", 0),
        "state": kind,
        "reason": detail.get("reason"),
        "message": (detail.get("message") or "")[:300] or None,
        "last_terminated": None
        if not last
        else {"reason": last.get("reason"), "exit_code": last.get("exitCode"), "finished_at": last.get("finishedAt")},
        "requests": resources.get("requests") or {},
        "limits": resources.get("limits") or {},
        "usage": usage,
    }


def summarize_pod(pod, owner, events, usage_by_container, now, max_events=10):
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    statuses = dict((s["name"], s) for s in status.get("containerStatuses") or [])
    containers = [
        summarize_container(c, statuses.get(c["name"], {"name": c["name"]}), usage_by_container.get(c["name"]))
        for c in spec.get("containers") or []
    ]
    conditions = dict(
        (c["type"], {"status": c.get("status"), "reason": c.get("reason"), "message": (c.get("message") or "")[:300] or None})
        for c in status.get("conditions") or []
    )
    labels = meta.get("labels") or {}
    return {
        "name": meta["name"],
        "workload": owner,
        "revision_hash": labels.get("pod-template-hash") or labels.get("controller-revision-hash"),
        "phase": status.get("phase"),
        "ready": (conditions.get("Ready") or {}).get("status") == "True",
        "node": spec.get("nodeName"),
        "age_seconds": age_seconds(meta.get("creationTimestamp"), now),
        "restarts": sum(c["restart_count"] for c in containers),
        "deleting": bool(meta.get("deletionTimestamp")),
        "conditions": conditions,
        "containers": containers,
        "events": events[:max_events],
    }


def _events_by_object(events):
    """Warning events grouped by (kind, name), newest first."""
    grouped = {}
    for ev in events:
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        grouped.setdefault((obj.get("kind"), obj.get("name")), []).append(
            {
                "reason": ev.get("reason"),
                "message": (ev.get("message") or ev.get("note") or "")[:300],
                "count": ev.get("count") or 1,
                "last_seen": ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp"),
            }
        )
    for items in grouped.values():
        items.sort(key=lambda e: e["last_seen"] or "", reverse=True)
    return grouped


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


def build_report(raw, namespace, now, usage_threshold=0.9, recent_rollout_minutes=30, max_pods=200, max_events=10):
    """Join raw API lists into the module's report (no I/O)."""
    events = _events_by_object(raw.get("events") or [])
    pod_metrics = raw.get("pod_metrics") or {"items": [], "error": "metrics not requested"}
    usage = dict(
        (m["metadata"]["name"], dict((c["name"], c.get("usage")) for c in m.get("containers") or []))
        for m in pod_metrics["items"]
    )
    # Pod -> ReplicaSet -> Deployment, by uid (ownerReferences), never by labels.
    rs_owner = {}
    for rs in raw.get("replicasets") or []:
        for ref in rs["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                rs_owner[rs["metadata"].get("uid")] = ref["name"]
    workloads = []
    for kind, key in (("Deployment", "deployments"), ("StatefulSet", "statefulsets")):
        for obj in raw.get(key) or []:
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            rollout = (
                _deployment_rollout(obj, raw.get("replicasets") or [], now, recent_rollout_minutes * 60)
                if kind == "Deployment"
                else _statefulset_rollout(obj)
            )
            workloads.append(
                {
                    "kind": kind,
                    "name": obj["metadata"]["name"],
                    "desired": spec.get("replicas", 1),
                    "current": status.get("replicas", 0),
                    "ready": status.get("readyReplicas", 0),
                    "available": status.get("availableReplicas", 0),
                    "updated": status.get("updatedReplicas", 0),
                    "images": [c.get("image") for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []],
                    "strategy": (spec.get("strategy") or spec.get("updateStrategy") or {}).get("type"),
                    "rollout": rollout,
                    "events": (events.get((kind, obj["metadata"]["name"])) or [])[:max_events],
                }
            )
    pods = []
    by_workload = dict(((w["kind"], w["name"]), []) for w in workloads)
    for pod in raw.get("pods") or []:
        owner = None
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet" and ref.get("uid") in rs_owner:
                owner = {"kind": "Deployment", "name": rs_owner[ref["uid"]]}
            elif ref.get("kind") == "StatefulSet":
                owner = {"kind": "StatefulSet", "name": ref["name"]}
        summary = summarize_pod(pod, owner, events.get(("Pod", pod["metadata"]["name"])) or [], usage.get(pod["metadata"]["name"], {}), now, max_events)
        pods.append(summary)
        if owner and (owner["kind"], owner["name"]) in by_workload:
            by_workload[(owner["kind"], owner["name"])].append(summary)
    for w in workloads:
        members = by_workload[(w["kind"], w["name"])]
        # A pod being deleted no longer counts against its workload.
        live = [p for p in members if not p["deleting"]]
        verdict = classify.classify_workload(w, live, usage_threshold)
        w.update(verdict)
        w["pods"] = sorted(p["name"] for p in live)
        for p in members:
            p["classification"] = verdict["pod_classifications"].get(p["name"], "healthy")
        w.pop("pod_classifications")
    for p in pods:
        p.setdefault("classification", classify.classify_pod(p, usage_threshold)[0])
    node_usage = dict((m["metadata"]["name"], m.get("usage") or {}) for m in (raw.get("node_metrics") or {}).get("items") or [])
    nodes = [summarize_node(n, node_usage.get(n["metadata"]["name"])) for n in raw.get("nodes") or []]
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
        "workloads": workloads,
        "unhealthy": [w["name"] for w in unhealthy],
        "pods": pods[:max_pods],
        "nodes": nodes,
        "severity": derive_severity(workloads),
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
    return {
        "name": node["metadata"]["name"],
        "ready": conditions.get("Ready") == "True",
        "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
        "pressure": sorted(t for t in PRESSURE_CONDITIONS if conditions.get(t) == "True"),
        "allocatable": {"cpu": allocatable.get("cpu"), "memory": allocatable.get("memory"), "pods": allocatable.get("pods")},
        "usage": usage,
        "usage_ratio": ratios,
    }


def collect_logs(client, namespace, report, log_lines=100, max_containers=10):
    """Attach current and previous logs of unhealthy containers, bounded."""
    budget = max_containers
    for pod in report["pods"]:
        if pod["classification"] == "healthy" or pod["phase"] == "Pending":
            continue
        for c in pod["containers"]:
            if c["ready"] or budget <= 0:
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
                    logs[key + "_error"] = str(exc)[:300]
            c["logs"] = logs
    report["summary"]["log_containers"] = max_containers - budget
    return report
