# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""API objects shaped exactly as the Kubernetes API returns them, for the pure joining code.

Recorded from the drill cluster and trimmed; only fields the code reads are kept.
"""

from __future__ import annotations

import copy

NOW = 1800000000.0  # 2027-01-15T08:00:00Z


def ts(seconds_ago):
    import datetime

    return datetime.datetime.fromtimestamp(NOW - seconds_ago, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(name, replicas=2, ready=2, revision=1, uid=None, updated=None, available=None, generation=1, strategy="RollingUpdate"):
    return {
        "metadata": {"name": name, "uid": uid or "uid-" + name, "generation": generation,
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "strategy": {"type": strategy},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                              "spec": {"containers": [{"name": name, "image": "ghcr.io/ai-orchestrator/%s:1.4.2" % name}]}}},
        "status": {"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready,
                   "availableReplicas": ready if available is None else available,
                   "updatedReplicas": replicas if updated is None else updated,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]},
    }


def replicaset(dep, revision, hash_, age=3600):
    name = dep["metadata"]["name"]
    return {
        "metadata": {"name": "%s-%s" % (name, hash_), "uid": "uid-rs-%s-%s" % (name, hash_), "creationTimestamp": ts(age),
                     "labels": {"app.kubernetes.io/name": name, "pod-template-hash": hash_},
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                     "ownerReferences": [{"kind": "Deployment", "name": name, "uid": dep["metadata"]["uid"]}]},
        "spec": {"template": copy.deepcopy(dep["spec"]["template"])},
    }


def pod(rs, suffix, ready=True, phase="Running", waiting=None, last=None, restarts=0, node="kwok-node-0",
        limits=None, requests=None, scheduled=True, age=600):
    name = rs["metadata"]["name"] + "-" + suffix
    cname = rs["metadata"]["labels"]["app.kubernetes.io/name"]
    state = {"waiting": {"reason": waiting, "message": "back-off 40s restarting failed container"}} if waiting else {"running": {"startedAt": ts(60)}}
    status = {"name": cname, "ready": ready, "restartCount": restarts, "image": "ghcr.io/ai-orchestrator/%s:1.4.2" % cname, "state": state}
    if last:
        status["lastState"] = {"terminated": {"reason": last[0], "exitCode": last[1], "finishedAt": ts(30)}}
    conditions = [{"type": "PodScheduled", "status": "True"}]
    if not scheduled:
        conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                       "message": "0/4 nodes are available: 4 Insufficient cpu."}]
    else:
        conditions.append({"type": "Ready", "status": "True" if ready else "False",
                           "reason": None if ready else "ContainersNotReady"})
    return {
        "metadata": {"name": name, "creationTimestamp": ts(age),
                     "labels": dict(rs["metadata"]["labels"]),
                     "ownerReferences": [{"kind": "ReplicaSet", "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"]}]},
        "spec": {"nodeName": node if scheduled else None,
                 "containers": [{"name": cname, "image": "ghcr.io/ai-orchestrator/%s:1.4.2" % cname,
                                 "resources": {"limits": limits or {"cpu": "500m", "memory": "512Mi"},
                                               "requests": requests or {"cpu": "100m", "memory": "128Mi"}}}]},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": [] if not scheduled else [status]},
    }


def event(pod_name, reason, message, kind="Pod"):
    return {"type": "Warning", "reason": reason, "message": message, "count": 3,
            "lastTimestamp": ts(10), "involvedObject": {"kind": kind, "name": pod_name}}


def node(name, ready=True, pressure=()):
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    conditions += [{"type": t, "status": "True"} for t in pressure]
    return {"metadata": {"name": name}, "spec": {},
            "status": {"conditions": conditions, "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}
