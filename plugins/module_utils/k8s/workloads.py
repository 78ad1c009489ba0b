# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the collection knows about Kubernetes workloads, in one place.

Reading code (diagnosis) and acting code (remediation) both use this layer:
API paths of every resource, label selectors, which pods and ReplicaSets a
workload owns (by ownerReferences, never by labels alone), a Deployment's
revisions, when a workload counts as settled, and the "not found; these exist"
message for a wrong name.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError, NotFound

# kind -> (API prefix, resource, namespaced)
RESOURCES = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Node": ("/api/v1", "nodes", False),
    "Pod": ("/api/v1", "pods", True),
    "Event": ("/api/v1", "events", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers", True),
    "PodMetrics": ("/apis/metrics.k8s.io/v1beta1", "pods", True),
    "NodeMetrics": ("/apis/metrics.k8s.io/v1beta1", "nodes", False),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
}

# The kinds the runbook acts on, in the order a bare name is looked up.
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

# Annotations and labels that say a GitOps controller owns the object: a scale or a
# rollback made here would be reverted, or fight its self-heal.
GITOPS_MARKERS = (
    ("annotation", "argocd.argoproj.io/tracking-id", "Argo CD"),
    ("label", "argocd.argoproj.io/instance", "Argo CD"),
    ("label", "kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("label", "helm.toolkit.fluxcd.io/name", "Flux"),
)


def api_path(kind, namespace=None, name=None, sub=None):
    """REST path of a collection (no name) or of one object, optionally a subresource."""
    prefix, resource, namespaced = RESOURCES[kind]
    path = prefix
    if namespaced:
        if not namespace:
            raise ValueError("%s is namespaced: a namespace is needed" % kind)
        path += "/namespaces/" + quote(namespace)
    path += "/" + resource
    if name:
        path += "/" + quote(name)
    if sub:
        path += "/" + sub
    return path


def selector_string(selector):
    """A LabelSelector (matchLabels and matchExpressions) as a labelSelector query value."""
    selector = selector or {}
    terms = ["%s=%s" % kv for kv in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), sorted(expr.get("values") or [])
        if op == "In":
            terms.append("%s in (%s)" % (key, ",".join(values)))
        elif op == "NotIn":
            terms.append("%s notin (%s)" % (key, ",".join(values)))
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append("!" + key)
    return ",".join(terms)


def uid(obj):
    return (obj.get("metadata") or {}).get("uid")


def owner_uids(obj):
    """UIDs of the controllers that own an object."""
    return set(ref.get("uid") for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid"))


def owned_by(children, owner):
    """The children (pods, ReplicaSets) whose ownerReferences name the owner."""
    owner_uid = uid(owner)
    return [c for c in children if owner_uid and owner_uid in owner_uids(c)]


def revision(obj):
    """A Deployment's or ReplicaSet's revision number (0 when unset)."""
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION) or 0)
    except ValueError:
        return 0


def revisions(deployment, replicasets):
    """{revision: ReplicaSet} of the ReplicaSets a Deployment owns."""
    return dict((revision(rs), rs) for rs in owned_by(replicasets, deployment))


def pods_of(kind, obj, pods, replicasets=()):
    """The pods a workload owns: Pod -> StatefulSet, or Pod -> ReplicaSet -> Deployment."""
    if kind == "StatefulSet":
        return owned_by(pods, obj)
    rs_uids = set(uid(rs) for rs in owned_by(replicasets, obj))
    return [p for p in pods if owner_uids(p) & rs_uids]


# workload_remediation's record of what it did to a workload (module_utils/k8s/remediation.py).
HISTORY_ANNOTATION = "incident-response.ai-orchestrator.io/remediation-history"


def last_remediation(obj):
    """The newest entry of the workload's remediation history ({at, action, incident, reason}), or None."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(HISTORY_ANNOTATION)
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return None
    return entries[-1] if isinstance(entries, list) and entries and isinstance(entries[-1], dict) else None


def gitops_manager(obj):
    """'Argo CD' or 'Flux' with the marker that says so, or None."""
    meta = obj.get("metadata") or {}
    where = {"annotation": meta.get("annotations") or {}, "label": meta.get("labels") or {}}
    for place, key, manager in GITOPS_MARKERS:
        if key in where[place]:
            return {"manager": manager, "marker": "%s %s=%s" % (place, key, where[place][key])}
    return None


def controller_of(pod, replicaset_owners):
    """The controller that owns a pod: {kind, name}, or None for a bare pod.

    ``replicaset_owners`` maps a ReplicaSet uid to its owner (a Deployment, or an Argo
    Rollout); a ReplicaSet nobody owns is the controller itself.
    """
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if not ref.get("controller", True):
            continue
        if ref.get("kind") == "ReplicaSet":
            return replicaset_owners.get(ref.get("uid")) or {"kind": "ReplicaSet", "name": ref.get("name")}
        return {"kind": ref.get("kind"), "name": ref.get("name")}
    return None


def config_references(template):
    """ConfigMaps and Secrets a pod template reads (env, envFrom, volumes): {(kind, name)}."""
    spec = (template or {}).get("spec") or {}
    refs = set()
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for env in c.get("env") or []:
            source = env.get("valueFrom") or {}
            if source.get("configMapKeyRef"):
                refs.add(("ConfigMap", source["configMapKeyRef"].get("name")))
            if source.get("secretKeyRef"):
                refs.add(("Secret", source["secretKeyRef"].get("name")))
        for env_from in c.get("envFrom") or []:
            if env_from.get("configMapRef"):
                refs.add(("ConfigMap", env_from["configMapRef"].get("name")))
            if env_from.get("secretRef"):
                refs.add(("Secret", env_from["secretRef"].get("name")))
    for volume in spec.get("volumes") or []:
        if volume.get("configMap"):
            refs.add(("ConfigMap", volume["configMap"].get("name")))
        if volume.get("secret"):
            refs.add(("Secret", volume["secret"].get("secretName")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                refs.add(("ConfigMap", source["configMap"].get("name")))
            if source.get("secret"):
                refs.add(("Secret", source["secret"].get("name")))
    return set(r for r in refs if r[1])


def desired_replicas(obj):
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else replicas


def settled(kind, obj):
    """True when the controller has caught up and every desired replica is ready and current.

    The one readiness rule for Deployments and StatefulSets, used to wait after an
    action and to call a rollout complete.
    """
    status, meta = obj.get("status") or {}, obj.get("metadata") or {}
    desired = desired_replicas(obj)
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False
    if kind == "StatefulSet" and status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return False
    return (
        status.get("readyReplicas", 0) >= desired
        and status.get("updatedReplicas", 0) >= desired
        and status.get("replicas", 0) == desired
        and (kind == "StatefulSet" or status.get("availableReplicas", 0) >= desired)
    )


def pod_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def ensure_namespace(client, namespace):
    """Fail clearly when the namespace does not exist.

    A least-privilege identity may not read namespaces; a 403 here is not an
    error, the later list calls say what is missing.
    """
    try:
        client.get(api_path("Namespace", name=namespace))
    except NotFound:
        raise NotFound("namespace %r does not exist in the cluster at %s" % (namespace, client.host))
    except ClusterError as exc:
        if exc.status != 403:
            raise


def not_found(client, namespace, name, kind=None):
    """NotFound for a workload name, listing the Deployments and StatefulSets that do exist."""
    ensure_namespace(client, namespace)
    names = sorted(o["metadata"]["name"] for k in WORKLOAD_KINDS for o in client.list(api_path(k, namespace)))
    return NotFound(
        "%s %r not found in namespace %r; Deployments and StatefulSets there: %s"
        % (kind or "service", name, namespace, ", ".join(names) or "none")
    )


def find(client, namespace, name, kind=None):
    """(object, kind) of a workload by name; Deployment first when the kind is not given."""
    for k in [kind] if kind else WORKLOAD_KINDS:
        try:
            return client.get(api_path(k, namespace, name)), k
        except NotFound:
            continue
    raise not_found(client, namespace, name, kind)


class Workloads(object):
    """The workloads of one namespace, read and written through one client."""

    def __init__(self, client, namespace, clock=time):
        self.client = client
        self.namespace = namespace
        self.clock = clock

    def path(self, kind, name=None, sub=None):
        return api_path(kind, self.namespace, name, sub)

    def find(self, name, kind=None):
        return find(self.client, self.namespace, name, kind)

    def get(self, kind, name):
        return self.client.get(self.path(kind, name))

    def list(self, kind, **query):
        return self.client.list(self.path(kind), **query)

    def replicasets(self, obj):
        """ReplicaSets owned by a Deployment."""
        selector = selector_string((obj.get("spec") or {}).get("selector"))
        return owned_by(self.list("ReplicaSet", labelSelector=selector), obj)

    def pods(self, kind, obj):
        """Pods the workload owns; the selector narrows the list, ownerReferences decide."""
        selector = selector_string((obj.get("spec") or {}).get("selector"))
        pods = self.list("Pod", labelSelector=selector)
        replicasets = self.replicasets(obj) if kind == "Deployment" else ()
        return pods_of(kind, obj, pods, replicasets)
