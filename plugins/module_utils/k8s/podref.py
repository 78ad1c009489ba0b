# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which pod (and container) a ``pod`` option means, as ``kubectl exec``/``port-forward`` read it.

``pod`` is a pod name (``postgres-0``, ``pod/postgres-0``) or a workload: ``statefulset/NAME``
(``sts/``) or ``deployment/NAME`` (``deploy/``), meaning a Ready pod that workload owns (by
ownerReferences): a StatefulSet's lowest Ready ordinal (the primary, by convention, is
``-0``), a Deployment's oldest Ready pod. Used by the port-forward (module_utils/k8s/
portforward.py) and pod exec (module_utils/k8s/podexec.py).
"""

from __future__ import annotations

import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    InvalidInput,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl

# The prefixes kubectl accepts for these kinds.
KINDS = {
    "pod": "Pod", "pods": "Pod", "po": "Pod",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class PodUnavailable(ClusterError):
    """The pod exists but cannot take an exec or a port-forward (not running, no Ready pod)."""


def parse_ref(ref):
    """(kind, name) of a pod reference; InvalidInput for anything else."""
    text = (ref or "").strip()
    kind, name = "Pod", text
    if "/" in text:
        prefix, name = text.split("/", 1)
        kind = KINDS.get(prefix.lower())
        if kind is None:
            raise InvalidInput("pod %r: the kind must be pod/, statefulset/ or deployment/ (or a bare pod name)" % ref)
    if not _NAME.match(name) or len(name) > 253:
        raise InvalidInput("pod %r is not a valid pod, statefulset/NAME or deployment/NAME reference" % ref)
    return kind, name


def _phase_problem(pod):
    """Why a pod cannot take an exec or port-forward, or None."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "is being deleted"
    phase = status.get("phase") or "Unknown"
    if phase != "Running":
        return "is %s, not Running" % phase
    return None


def _state(pod):
    """'postgres-0 (Running, not Ready)' for messages."""
    status = pod.get("status") or {}
    waiting = [((c.get("state") or {}).get("waiting") or {}).get("reason") for c in status.get("containerStatuses") or []]
    detail = ", ".join([status.get("phase") or "Unknown"] + [w for w in waiting if w]
                       + ([] if wl.pod_ready(pod) else ["not Ready"]))
    return "%s (%s)" % ((pod.get("metadata") or {}).get("name"), detail)


def _ordinal(pod):
    match = re.search(r"-(\d+)$", (pod.get("metadata") or {}).get("name") or "")
    return int(match.group(1)) if match else 1 << 30


def pick_pod(kind, workload, pods):
    """The Ready pod of a workload to use: StatefulSet lowest ordinal, Deployment oldest."""
    ready = [p for p in pods if wl.pod_ready(p) and _phase_problem(p) is None]
    if kind == "StatefulSet":
        ready.sort(key=_ordinal)
    else:
        ready.sort(key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "", p["metadata"]["name"]))
    return ready[0] if ready else None


def choose_container(pod, container=None):
    """The container to use: the one named (it must exist), else the pod's default container
    (annotation kubectl.kubernetes.io/default-container), else its first."""
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    pod_name = (pod.get("metadata") or {}).get("name")
    if container:
        if container not in names:
            raise NotFound("container %r is not in pod %s; its containers: %s"
                           % (container, pod_name, ", ".join(names) or "none"))
        return container
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(wl.DEFAULT_CONTAINER_ANNOTATION)
    if default in names:
        return default
    if not names:
        raise PodUnavailable("pod %s has no containers" % pod_name)
    return names[0]


def resolve_pod(client, namespace, ref, container=None):
    """(pod name, container name) for a ``pod`` option in ``namespace``.

    Raises InvalidInput for a malformed reference, NotFound when the pod or workload (or
    the container) does not exist, PodUnavailable when the pod is not Running or the
    workload has no Ready pod, ClusterError for anything the API refuses (a 403 names the
    permission that is missing).
    """
    kind, name = parse_ref(ref)
    if kind == "Pod":
        try:
            pod = client.get(wl.api_path("Pod", namespace, name))
        except NotFound:
            raise NotFound("pod %r not found in namespace %r" % (name, namespace))
        problem = _phase_problem(pod)
        if problem:
            raise PodUnavailable("pod %s/%s %s" % (namespace, name, problem))
        return name, choose_container(pod, container)
    try:
        obj = client.get(wl.api_path(kind, namespace, name))
    except NotFound:
        raise NotFound("%s %r not found in namespace %r" % (kind, name, namespace))
    selector = wl.selector_string((obj.get("spec") or {}).get("selector"))
    pods = client.list(wl.api_path("Pod", namespace), labelSelector=selector)
    replicasets = client.list(wl.api_path("ReplicaSet", namespace), labelSelector=selector) if kind == "Deployment" else ()
    owned = wl.pods_of(kind, obj, pods, replicasets)
    pod = pick_pod(kind, obj, owned)
    if pod is None:
        states = ", ".join(_state(p) for p in sorted(owned, key=_ordinal)) or "none"
        raise PodUnavailable("%s/%s in namespace %r has no Ready pod; its pods: %s" % (kind.lower(), name, namespace, states))
    return pod["metadata"]["name"], choose_container(pod, container)
