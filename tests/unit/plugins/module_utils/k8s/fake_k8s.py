# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""An in-memory Kubernetes API and an injected clock, for the remediation actions.

``FakeClient`` duck-types ``KubeClient`` as far as the remediation code uses it
(host, dry_run, unproven, requests, clock; get, list, patch, post). Objects are
stored by their API path. Every write is recorded, dry run or not; a dry-run
write changes nothing (the real client's refused-dry-run logic is tested in
test_client.py against ``KubeClient.request`` itself, not re-implemented here).

Time passes only when the code under test sleeps on the ``Clock``; each sleep then
runs ``FakeClient.reconcile``, a tiny stand-in for the controllers a remediation
relies on. It does only what the tests need, instantly: the kubelet finishing an
eviction, the ReplicaSet/StatefulSet controllers replacing pods, the Deployment
controller rolling out a new template, status catching up, metrics-server sampling.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import NotFound
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import epoch, rfc3339
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NAMESPACE = "ai-orchestrator"
HASH_LABEL = "pod-template-hash"

# What the pods the controllers create do: become Ready, crash-loop, or stay unready
# without a visible reason (a readiness probe that never passes).
POD_STATES = {
    "ready": dict(ready=True),
    "crash": dict(ready=False, waiting="CrashLoopBackOff", restarts=3),
    "pending": dict(ready=False),
    "oom": dict(ready=False, waiting="CrashLoopBackOff", last=("OOMKilled", 137), restarts=3),
}


def no_real_sleep(seconds):
    raise AssertionError("time.sleep(%s) called: waiting must go through the injected clock" % seconds)


def injected_clock(monkeypatch):
    """A fake Clock, with time.sleep made to fail: every wait must go through the clock."""
    monkeypatch.setattr(time, "sleep", no_real_sleep)
    return Clock()


class Clock(object):
    """Time that passes only when the code sleeps; every sleep lets the fake cluster act."""

    def __init__(self, now=f.NOW):
        self.now = now
        self.slept = []
        self.callbacks = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
        for callback in list(self.callbacks):
            callback()

    def utc_now(self):
        return datetime.datetime.fromtimestamp(self.now, datetime.timezone.utc)


class FakeClient(object):
    host = "https://fake-apiserver.test:6443"

    def __init__(self, clock=None, dry_run=False, namespace=NAMESPACE):
        self.clock = clock or Clock()
        self.clock.callbacks.append(self.reconcile)
        self.dry_run = dry_run
        self.namespace = namespace
        self.unproven = []
        self.requests = 0
        self.writes = []  # (method, path, body, dry_run) of every write, in order
        self.errors = {}  # (method, path) -> exception that request raises
        self.objects = {}  # API path -> object
        self.new_pods = "ready"  # a key of POD_STATES: how the pods the controllers create turn out
        self.metrics_usage = None  # when set, metrics-server samples every running pod with this usage at each reconcile
        self._serial = itertools.count(1)
        self.add("Namespace", {"metadata": {"name": namespace}})

    # --- seeding and reading the store (tests) ---------------------------------

    def path(self, kind, name=None, sub=None):
        return wl.api_path(kind, self.namespace, name, sub)

    def add(self, kind, *objs):
        for obj in objs:
            obj = copy.deepcopy(obj)
            obj["metadata"].setdefault("uid", "uid-" + obj["metadata"]["name"])
            self.objects[self.path(kind, obj["metadata"]["name"])] = obj
        return self

    def obj(self, kind, name):
        """The stored object itself (not a copy), or None."""
        return self.objects.get(self.path(kind, name))

    def of_kind(self, kind, owner=None):
        """Stored objects of a kind (not copies), optionally only those the owner owns."""
        found = [o for p, o in sorted(self.objects.items()) if p.rsplit("/", 1)[0] == self.path(kind)]
        return wl.owned_by(found, owner) if owner is not None else found

    # --- the API the code under test uses ----------------------------------------

    def _request(self, method, path, body=None):
        self.requests += 1
        if method != "GET":
            self.writes.append((method, path, copy.deepcopy(body), self.dry_run))
        error = self.errors.get((method, path))
        if error is not None:
            raise error

    def get(self, path, **query):
        self._request("GET", path)
        if path not in self.objects:
            raise NotFound("GET %s: not found" % path)
        return copy.deepcopy(self.objects[path])

    def list(self, path, page_size=1000, metadata_only=False, **query):
        self._request("GET", path)
        selector = query.get("labelSelector")
        return [copy.deepcopy(o) for p, o in sorted(self.objects.items()) if p.rsplit("/", 1)[0] == path and _matches(o, selector)]

    def patch(self, path, body, patch_type="merge"):
        self._request("PATCH", path, body)
        scale = path.endswith("/scale")
        target = path[: -len("/scale")] if scale else path
        if target not in self.objects:
            raise NotFound("PATCH %s: not found" % path)
        obj = copy.deepcopy(self.objects[target])
        if scale:
            obj["spec"]["replicas"] = body["spec"]["replicas"]
        elif patch_type == "json":
            _json_patch(obj, body)
        else:
            # A strategic merge patch is a merge patch for maps; the lists the actions send (containers,
            # initContainers) merge by their key, name, as the API server merges them.
            _merge(obj, body, by_name=patch_type == "strategic")
        if obj.get("spec") != self.objects[target].get("spec"):
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        if not self.dry_run:
            self.objects[target] = obj
        return copy.deepcopy(obj)

    def post(self, path, body):
        self._request("POST", path, body)
        if not path.endswith("/eviction"):
            raise NotImplementedError("the fake API knows only evictions, not POST %s" % path)
        pod_path = path[: -len("/eviction")]
        if pod_path not in self.objects:
            raise NotFound("POST %s: not found" % path)
        if not self.dry_run:
            # Deletion is graceful: the pod stays, terminating, until the next reconcile.
            self.objects[pod_path]["metadata"]["deletionTimestamp"] = rfc3339(self.clock.utc_now())
        return {"kind": "Status", "status": "Success"}

    # --- the controllers -------------------------------------------------------------

    def reconcile(self):
        """One instant pass of every controller (see the module docstring)."""
        for pod in self.of_kind("Pod"):
            if pod["metadata"].get("deletionTimestamp"):
                self._delete("Pod", pod)
        for dep in self.of_kind("Deployment"):
            self._deployment(dep)
        for sts in self.of_kind("StatefulSet"):
            self._statefulset(sts)
        if self.metrics_usage is not None:
            self._sample_metrics()

    def _deployment(self, dep):
        replicasets = self.of_kind("ReplicaSet", owner=dep)
        top = max([wl.revision(rs) for rs in replicasets] or [0])
        current = next((rs for rs in replicasets if _template(rs) == _template(dep)), None)
        if current is None:
            current = self._new_replicaset(dep, top + 1)
        elif wl.revision(current) < top:
            # A rollback: the Deployment controller reuses the old ReplicaSet under the next revision.
            current["metadata"]["annotations"][wl.REVISION_ANNOTATION] = str(top + 1)
        dep["metadata"]["annotations"][wl.REVISION_ANNOTATION] = current["metadata"]["annotations"][wl.REVISION_ANNOTATION]
        # The rollout is instant (no maxSurge/maxUnavailable): the pods of older ReplicaSets go at once.
        pods = wl.pods_of("Deployment", dep, self.of_kind("Pod"), self.of_kind("ReplicaSet", owner=dep))
        for pod in pods:
            if wl.uid(current) not in wl.owner_uids(pod):
                self._delete("Pod", pod)
        mine = [p for p in pods if wl.uid(current) in wl.owner_uids(p)]
        desired = wl.desired_replicas(dep)
        # Scale down removes unready pods first, then the newest, as the ReplicaSet controller does.
        doomed = sorted(mine, key=lambda p: (wl.pod_ready(p), -(epoch(p["metadata"].get("creationTimestamp")) or 0)))
        for pod in doomed[: max(0, len(mine) - desired)]:
            self._delete("Pod", pod)
        for _missing in range(desired - len(mine)):
            self._new_pod("ReplicaSet", current, "n%d" % next(self._serial))
        live = [p for p in self.of_kind("Pod") if wl.uid(current) in wl.owner_uids(p)]
        ready = len([p for p in live if wl.pod_ready(p)])
        dep["status"].update(observedGeneration=dep["metadata"].get("generation", 1), replicas=len(live),
                             readyReplicas=ready, availableReplicas=ready, updatedReplicas=len(live))

    def _statefulset(self, sts):
        # Template changes are not rolled out: no test restarts a StatefulSet.
        name, desired = sts["metadata"]["name"], wl.desired_replicas(sts)
        pods = dict((p["metadata"]["name"], p) for p in self.of_kind("Pod", owner=sts))
        for pod_name, pod in pods.items():
            if int(pod_name.rsplit("-", 1)[1]) >= desired:
                self._delete("Pod", pod)
        for ordinal in range(desired):
            if "%s-%d" % (name, ordinal) not in pods:
                # A StatefulSet pod comes back under the same name, with a new uid.
                self._new_pod("StatefulSet", sts, str(ordinal))
        live = self.of_kind("Pod", owner=sts)
        ready = len([p for p in live if wl.pod_ready(p)])
        sts["status"].update(observedGeneration=sts["metadata"].get("generation", 1), replicas=len(live),
                             readyReplicas=ready, currentReplicas=len(live), updatedReplicas=len(live))

    def _new_replicaset(self, dep, revision):
        hash_ = "rev%d" % revision
        rs = f.replicaset(dep, revision, hash_, age=f.NOW - self.clock.now)
        rs["spec"]["template"]["metadata"].setdefault("labels", {})[HASH_LABEL] = hash_
        self.add("ReplicaSet", rs)
        return self.obj("ReplicaSet", rs["metadata"]["name"])

    def _new_pod(self, owner_kind, owner, suffix):
        """A pod as f.pod builds it, created now, owned by the owner, in the state new_pods says."""
        # f.pod takes the labels from its owner: a ReplicaSet's own, a StatefulSet's pod template's.
        labels = owner["spec"]["template"]["metadata"]["labels"] if owner_kind == "StatefulSet" else owner["metadata"]["labels"]
        shim = {"metadata": {"name": owner["metadata"]["name"], "uid": wl.uid(owner), "labels": labels}}
        pod = f.pod(shim, suffix, age=f.NOW - self.clock.now, **POD_STATES[self.new_pods])
        # A template that sets resources gives them to its pods (f.pod's defaults otherwise).
        for container, spec in zip(pod["spec"]["containers"], owner["spec"]["template"]["spec"].get("containers") or []):
            if spec.get("resources"):
                container["resources"] = copy.deepcopy(spec["resources"])
        pod["metadata"]["uid"] = "uid-%s-%d" % (pod["metadata"]["name"], next(self._serial))
        pod["metadata"]["ownerReferences"][0]["kind"] = owner_kind
        for condition in pod["status"]["conditions"]:
            condition["lastTransitionTime"] = rfc3339(self.clock.utc_now())
        self.add("Pod", pod)

    def _delete(self, kind, obj):
        self.objects.pop(self.path(kind, obj["metadata"]["name"]), None)
        self.objects.pop(self.path("PodMetrics", obj["metadata"]["name"]), None)

    def _sample_metrics(self):
        """metrics-server: one sample per running pod, taken now, over a 10 s window."""
        for pod in self.of_kind("Pod"):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            self.add("PodMetrics", {
                "metadata": {"name": pod["metadata"]["name"], "labels": dict(pod["metadata"].get("labels") or {})},
                "timestamp": rfc3339(self.clock.utc_now()),
                "window": "10s",
                "containers": [{"name": c["name"], "usage": dict(self.metrics_usage)} for c in pod["spec"]["containers"]],
            })


def _matches(obj, selector):
    """Equality-based labelSelector (k=v,k2=v2), the form the code sends for matchLabels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in [t for t in (selector or "").split(",") if t]:
        if "=" not in term or "!" in term or " " in term:
            raise NotImplementedError("the fake API reads only k=v label selectors, not %r" % selector)
        key, value = term.split("=", 1)
        if labels.get(key) != value:
            return False
    return True


def _template(obj):
    """A pod template without the ReplicaSet's pod-template-hash label, to compare templates."""
    template = copy.deepcopy(obj["spec"]["template"])
    (template.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


def _merge(target, patch, by_name=False):
    """RFC 7386 merge patch: maps merge, null deletes, anything else replaces.

    ``by_name`` (strategic merge): a list of maps with a name merges each entry into the
    target's entry of that name (appended when there is none).
    """
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            if not isinstance(target.get(key), dict):
                target[key] = {}
            _merge(target[key], value, by_name)
        elif by_name and isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            entries = target.setdefault(key, [])
            for item in value:
                match = next((e for e in entries if e.get("name") == item["name"]), None)
                if match is None:
                    entries.append(copy.deepcopy(item))
                else:
                    _merge(match, item, by_name)
        else:
            target[key] = copy.deepcopy(value)


def _json_patch(target, operations):
    """RFC 6902, only the add/replace operations the actions send."""
    for op in operations:
        if op["op"] not in ("add", "replace"):
            raise NotImplementedError("the fake API applies only add/replace JSON patches, not %r" % op)
        *parents, last = op["path"].lstrip("/").split("/")
        node = target
        for key in parents:
            node = node[key]
        node[last] = copy.deepcopy(op["value"])
