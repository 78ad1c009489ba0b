# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runbook's remediation actions, with their guardrails and verification.

Every action: plans first (what check mode reports), refuses what could take a
workload down, acts, records itself in the workload's remediation history
annotation (so a later run, on any control node, sees the budget), then waits
until the workload is healthy again and reports what it saw.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from urllib.parse import quote

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils import diagnosis
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.classify import (
    CRASH_REASONS,
    CONFIG_ERROR_REASONS,
    IMAGE_PULL_REASONS,
    usage_ratios,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.errors import (
    ClusterError,
    GuardrailError,
    NotFound,
    VerificationFailed,
)

HISTORY_ANNOTATION = "incident-response.ai-orchestrator.io/remediation-history"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HISTORY_KEEP = 20
FAILING_REASONS = CRASH_REASONS | CONFIG_ERROR_REASONS | IMAGE_PULL_REASONS
PLURAL = {"Deployment": "deployments", "StatefulSet": "statefulsets"}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Workloads(object):
    """Reads and writes Deployments/StatefulSets of one namespace."""

    def __init__(self, client, namespace, clock=time):
        self.client = client
        self.namespace = namespace
        self.clock = clock

    def path(self, kind, name=None, sub=None):
        path = "/apis/apps/v1/namespaces/%s/%s" % (quote(self.namespace), PLURAL[kind])
        if name:
            path += "/" + quote(name)
        if sub:
            path += "/" + sub
        return path

    def find(self, name, kind=None):
        """The workload object and its kind; NotFound names what exists instead."""
        for k in ([kind] if kind else ["Deployment", "StatefulSet"]):
            try:
                return self.client.get(self.path(k, name)), k
            except NotFound:
                continue
        self.client.ensure_namespace(self.namespace)
        names = sorted(o["metadata"]["name"] for k in PLURAL for o in self.client.list(self.path(k)))
        raise NotFound(
            "%s %r not found in namespace %r; workloads there: %s"
            % (kind or "workload", name, self.namespace, ", ".join(names) or "none")
        )

    def pods(self, obj):
        selector = diagnosis.selector_string(obj["spec"].get("selector"))
        return self.client.list("/api/v1/namespaces/%s/pods" % quote(self.namespace), labelSelector=selector)

    # --- remediation history and budget ----------------------------------

    @staticmethod
    def history(obj):
        raw = (obj["metadata"].get("annotations") or {}).get(HISTORY_ANNOTATION)
        try:
            entries = json.loads(raw) if raw else []
        except ValueError:
            entries = []
        return entries if isinstance(entries, list) else []

    def budget(self, obj, max_actions, window_minutes):
        cutoff = self.clock.time() - window_minutes * 60
        recent = [e for e in self.history(obj) if (diagnosis.parse_time(e.get("at")) or 0) >= cutoff]
        return {
            "used": len(recent),
            "max_actions": max_actions,
            "window_minutes": window_minutes,
            "exhausted": len(recent) >= max_actions,
            "recent": recent,
        }

    def history_patch(self, obj, entry):
        entries = (self.history(obj) + [entry])[-HISTORY_KEEP:]
        return {"metadata": {"annotations": {HISTORY_ANNOTATION: json.dumps(entries, separators=(",", ":"))}}}

    def record(self, kind, obj, entry):
        self.client.patch(self.path(kind, obj["metadata"]["name"]), self.history_patch(obj, entry))


def pod_failure(pod):
    """Why a pod is visibly failing (waiting reason or OOM), or None."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FAILING_REASONS:
            return "%s (%s)" % (waiting["reason"], (waiting.get("message") or "")[:200])
        last = (status.get("lastState") or {}).get("terminated") or {}
        if last.get("reason") == "OOMKilled":
            return "OOMKilled (exit %s)" % last.get("exitCode")
    return None


def pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def workload_settled(kind, obj):
    """True when the controller has caught up and every desired replica is ready and current."""
    spec, status, meta = obj["spec"], obj.get("status") or {}, obj["metadata"]
    desired = spec.get("replicas", 1)
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


def wait_healthy(workloads, kind, name, timeout, started_after=None, gone=(), interval=1.0):
    """Poll until the workload is settled and the pods in ``gone`` no longer exist.

    Fails fast, before the timeout, when a pod created by this action shows a
    failure (CrashLoopBackOff, ImagePullBackOff, OOMKilled...): waiting longer
    would not change the verdict.
    """
    deadline = workloads.clock.time() + timeout
    last = "not checked"
    while True:
        obj = workloads.client.get(workloads.path(kind, name))
        pods = workloads.pods(obj)
        names = set(p["metadata"]["name"] for p in pods)
        lingering = sorted(names.intersection(gone))
        for pod in pods:
            created = diagnosis.parse_time(pod["metadata"].get("creationTimestamp")) or 0
            if started_after is not None and created >= started_after - 1 and pod["metadata"]["name"] not in gone:
                failure = pod_failure(pod)
                if failure:
                    raise VerificationFailed(
                        "%s/%s: new pod %s is failing: %s; the fault is not transient"
                        % (kind, name, pod["metadata"]["name"], failure)
                    )
        status = obj.get("status") or {}
        last = "%d/%d ready, %d updated%s" % (
            status.get("readyReplicas", 0),
            obj["spec"].get("replicas", 1),
            status.get("updatedReplicas", 0),
            ", waiting for %s to go" % ", ".join(lingering) if lingering else "",
        )
        if workload_settled(kind, obj) and not lingering:
            return {
                "verified": True,
                "ready": status.get("readyReplicas", 0),
                "desired": obj["spec"].get("replicas", 1),
                "state": last,
                "pods": pods,  # as settled; the usage check after a scale judges these
            }
        if workloads.clock.time() >= deadline:
            raise VerificationFailed("%s/%s did not become healthy within %ds: %s" % (kind, name, timeout, last))
        workloads.clock.sleep(interval)


# --- the actions ------------------------------------------------------------
# Each returns a plan dict; ``apply`` performs it. Guardrails raise GuardrailError.


def plan_delete_pods(workloads, kind, obj, pod_names):
    pods = dict((p["metadata"]["name"], p) for p in workloads.pods(obj))
    if not pod_names:
        raise GuardrailError("delete_pod needs the names of the pods to delete (option pods)")
    unknown = [n for n in pod_names if n not in pods]
    if unknown:
        raise NotFound(
            "pods %s do not belong to %s/%s; its pods: %s"
            % (", ".join(unknown), kind, obj["metadata"]["name"], ", ".join(sorted(pods)) or "none")
        )
    ready = [n for n, p in pods.items() if pod_ready(p)]
    ready_after = [n for n in ready if n not in pod_names]
    if ready and not ready_after:
        # Deleting every ready pod at once is an outage we would cause.
        raise GuardrailError(
            "refusing to delete %s: they are the last ready pods of %s/%s; delete crashed pods only, or fewer at once"
            % (", ".join(sorted(set(ready) & set(pod_names))), kind, obj["metadata"]["name"])
        )
    return {"pods": list(pod_names), "ready_before": len(ready)}


def apply_delete_pods(workloads, kind, obj, plan, wait, timeout, check_mode, history_entry):
    """Evict one pod at a time (the eviction API honours PodDisruptionBudgets)."""
    steps = []
    result = None
    for name in plan["pods"]:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": workloads.namespace}}
        if check_mode:
            # A server-side dry run checks the PodDisruptionBudget without evicting.
            body["deleteOptions"] = {"dryRun": ["All"]}
        started = workloads.clock.time()
        try:
            workloads.client.post("/api/v1/namespaces/%s/pods/%s/eviction" % (quote(workloads.namespace), quote(name)), body)
        except ClusterError as exc:
            if exc.status == 429:
                raise GuardrailError("eviction of pod %s refused by its PodDisruptionBudget: %s" % (name, exc))
            if "more than one PodDisruptionBudget" in str(exc):
                raise GuardrailError("eviction of pod %s refused: more than one PodDisruptionBudget selects it; fix the budgets first" % name)
            raise
        steps.append("evicted pod %s%s" % (name, " (dry run)" if check_mode else ""))
        if not check_mode and name == plan["pods"][0]:
            # Recorded before waiting, so a failed verification still counts against the budget.
            workloads.record(kind, obj, dict(history_entry, pods=plan["pods"]))
        if wait and not check_mode:
            result = wait_healthy(workloads, kind, obj["metadata"]["name"], timeout, started_after=started, gone=(name,))
            steps.append("%s/%s healthy again: %s" % (kind, obj["metadata"]["name"], result["state"]))
    return steps, result


def plan_scale(kind, obj, replicas, scale_by, max_replicas, allow_scale_down):
    current = obj["spec"].get("replicas", 1)
    target = replicas if replicas is not None else current + (scale_by or 1)
    if target < 1:
        raise GuardrailError("refusing to scale %s/%s to %d replicas: that takes the service down" % (kind, obj["metadata"]["name"], target))
    if target > max_replicas:
        raise GuardrailError(
            "%s/%s: %d replicas is above max_replicas=%d; raise max_replicas if the capacity is really there"
            % (kind, obj["metadata"]["name"], target, max_replicas)
        )
    if target < current and not allow_scale_down:
        raise GuardrailError(
            "refusing to scale %s/%s down from %d to %d without allow_scale_down=true" % (kind, obj["metadata"]["name"], current, target)
        )
    return {"from": current, "to": target}


def apply_scale(workloads, kind, obj, plan, wait, timeout, check_mode, history_entry, metrics_timeout=0, usage_threshold=0.9):
    """Scale, record, wait for the replicas; then, with metrics_timeout, check that fresh usage fell."""
    name = obj["metadata"]["name"]
    if check_mode:
        return ["would scale %s/%s from %d to %d replicas" % (kind, name, plan["from"], plan["to"])], None
    workloads.client.patch(workloads.path(kind, name, "scale"), {"spec": {"replicas": plan["to"]}})
    workloads.record(kind, obj, dict(history_entry, replicas=plan["to"]))
    steps = ["scaled %s/%s from %d to %d replicas" % (kind, name, plan["from"], plan["to"])]
    result = None
    if wait:
        result = wait_healthy(workloads, kind, name, timeout, started_after=workloads.clock.time())
        steps.append("%s/%s healthy: %s" % (kind, name, result["state"]))
        if metrics_timeout > 0:
            result["usage"] = wait_fresh_usage(workloads, obj, result["pods"], metrics_timeout, usage_threshold)
            steps.append("%s/%s usage: %s" % (kind, name, result["usage"]["summary"]))
            if result["usage"]["saturated"]:
                raise VerificationFailed(
                    "%s/%s scaled to %d replicas, all ready, but metrics sampled since still show %s; "
                    "this step was not enough" % (kind, name, plan["to"], "; ".join(result["usage"]["saturated"]))
                )
    return steps, result


# --- usage after a scale ---------------------------------------------------
# Pod metrics lag: metrics-server samples every --metric-resolution and averages CPU
# over a window. A sample taken before the new replicas were ready still shows the
# old load, so only samples whose window starts after that moment can judge a scale.

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_seconds(text):
    """Seconds in a Go duration string as the metrics API writes it (\"9.99s\", \"1m0s\")."""
    return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text or ""))


def ready_since(pods):
    """Cluster time (epoch seconds) at which the last of these pods became Ready, or None."""
    times = [
        diagnosis.parse_time(c.get("lastTransitionTime"))
        for p in pods
        for c in (p.get("status") or {}).get("conditions") or []
        if c.get("type") == "Ready" and c.get("status") == "True"
    ]
    times = [t for t in times if t]
    return max(times) if times else None


def usage_after(pods, metrics, since, usage_threshold):
    """(stale pods, saturation evidence) for these pods, judged only on samples whose window starts at or after since."""
    samples = dict((m["metadata"]["name"], m) for m in metrics)
    stale, saturated = [], []
    for pod in pods:
        name = pod["metadata"]["name"]
        sample = samples.get(name)
        start = None
        if sample:
            start = (diagnosis.parse_time(sample.get("timestamp")) or 0) - duration_seconds(sample.get("window"))
        if sample is None or (since is not None and start < since):
            stale.append(name)
            continue
        resources = dict((c["name"], c.get("resources") or {}) for c in pod["spec"].get("containers") or [])
        for container in sample.get("containers") or []:
            bounds = resources.get(container["name"], {})
            ratios = usage_ratios({"usage": container.get("usage"), "limits": bounds.get("limits"), "requests": bounds.get("requests")})
            for resource, ratio in sorted(ratios.items()):
                if ratio >= usage_threshold:
                    saturated.append("pod %s container %s: %s at %d%% of its limit" % (name, container["name"], resource, int(ratio * 100)))
    return stale, saturated


def wait_fresh_usage(workloads, obj, pods, timeout, usage_threshold, interval=2.0):
    """Wait for metrics of these settled pods sampled after they became ready; report whether usage fell below the threshold.

    Never fails on missing metrics: without the metrics API, readiness is the only check, and the result says so.
    """
    since = ready_since(pods)
    path = "/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods" % quote(workloads.namespace)
    selector = diagnosis.selector_string(obj["spec"].get("selector"))
    deadline = workloads.clock.time() + timeout
    while True:
        try:
            metrics = workloads.client.list(path, labelSelector=selector)
        except ClusterError as exc:
            return {"fresh": False, "saturated": [], "summary": "metrics unavailable (%s); readiness is the only check" % exc}
        stale, saturated = usage_after(pods, metrics, since, usage_threshold)
        if not stale:
            summary = "; ".join(saturated) or (
                "every pod below %d%% of its limits in metrics sampled since the new replicas were ready" % int(usage_threshold * 100)
            )
            return {"fresh": True, "saturated": saturated, "summary": summary}
        if workloads.clock.time() >= deadline:
            return {
                "fresh": False,
                "saturated": [],
                "summary": "no metrics sampled after the new replicas were ready within %ds (waiting for %s); usage not judged"
                % (timeout, ", ".join(stale)),
            }
        workloads.clock.sleep(interval)


def restarted_at_text(obj):
    annotations = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(RESTARTED_AT)


def restarted_at(obj):
    return diagnosis.parse_time(restarted_at_text(obj))


def plan_restart(workloads, kind, obj, min_interval_minutes):
    name = obj["metadata"]["name"]
    if kind == "Deployment" and (obj["spec"].get("strategy") or {}).get("type") == "Recreate":
        raise GuardrailError("refusing to restart %s/%s: its Recreate strategy stops every replica at once" % (kind, name))
    last = restarted_at(obj)
    if last and workloads.clock.time() - last < min_interval_minutes * 60:
        return {"skip": "restarted %ds ago, within min_restart_interval=%dm" % (workloads.clock.time() - last, min_interval_minutes)}
    return {"skip": None, "previous": last}


def apply_restart(workloads, targets, wait, timeout, check_mode, history_entry):
    """Patch the restartedAt annotation (what `kubectl rollout restart` does) on each target, then wait for all."""
    steps = []
    stamp = rfc3339(utcnow())
    started = workloads.clock.time()
    for kind, obj, plan in targets:
        name = obj["metadata"]["name"]
        if plan["skip"]:
            steps.append("skipped %s/%s: %s" % (kind, name, plan["skip"]))
            continue
        if check_mode:
            steps.append("would restart %s/%s (restartedAt=%s)" % (kind, name, stamp))
            continue
        body = workloads.history_patch(obj, history_entry)
        body["spec"] = {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}
        workloads.client.patch(workloads.path(kind, name), body, patch_type="strategic")
        steps.append("restarted %s/%s" % (kind, name))
    results = {}
    if wait and not check_mode:
        for kind, obj, plan in targets:
            if not plan["skip"]:
                name = obj["metadata"]["name"]
                results[name] = wait_healthy(workloads, kind, name, timeout, started_after=started)
                steps.append("%s/%s healthy: %s" % (kind, name, results[name]["state"]))
    return steps, results


def plan_rollback(workloads, kind, obj, to_revision, force):
    name = obj["metadata"]["name"]
    if kind != "Deployment":
        raise GuardrailError(
            "rollback of %s/%s is not automated: StatefulSet revisions can carry data migrations; "
            "use kubectl rollout undo after checking them" % (kind, name)
        )
    owned = [
        rs
        for rs in workloads.client.list(
            "/apis/apps/v1/namespaces/%s/replicasets" % quote(workloads.namespace),
            labelSelector=diagnosis.selector_string(obj["spec"].get("selector")),
        )
        if any(o.get("uid") == obj["metadata"].get("uid") for o in rs["metadata"].get("ownerReferences") or [])
    ]
    by_rev = dict((int((rs["metadata"].get("annotations") or {}).get(diagnosis.REVISION_ANNOTATION) or 0), rs) for rs in owned)
    current = int((obj["metadata"].get("annotations") or {}).get(diagnosis.REVISION_ANNOTATION) or 0)
    if to_revision is None:
        older = [r for r in by_rev if r < current]
        if not older:
            raise GuardrailError("%s/%s has no previous revision to roll back to (current revision %d)" % (kind, name, current))
        to_revision = max(older)
    if to_revision not in by_rev:
        raise NotFound("%s/%s has no revision %d; revisions: %s" % (kind, name, to_revision, ", ".join(str(r) for r in sorted(by_rev))))
    if to_revision == current:
        return {"skip": "revision %d is already the current one" % current}
    if workload_settled(kind, obj) and not force:
        return {"skip": "current revision %d is healthy and fully rolled out; pass force=true to roll back anyway" % current}
    template = json.loads(json.dumps(by_rev[to_revision]["spec"]["template"]))
    (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return {
        "skip": None,
        "from_revision": current,
        "to_revision": to_revision,
        "template": template,
        "images_before": _images(obj["spec"]["template"]),
        "images_after": _images(template),
    }


def _images(template):
    return [c.get("image") for c in template["spec"].get("containers") or []]


def apply_rollback(workloads, kind, obj, plan, wait, timeout, check_mode, history_entry):
    name = obj["metadata"]["name"]
    if plan["skip"]:
        return ["skipped rollback of %s/%s: %s" % (kind, name, plan["skip"])], None
    what = "%s/%s from revision %d to %d (images %s -> %s)" % (
        kind, name, plan["from_revision"], plan["to_revision"], ", ".join(plan["images_before"]), ", ".join(plan["images_after"]),
    )
    if check_mode:
        return ["would roll back " + what], None
    started = workloads.clock.time()
    patch = [
        {"op": "replace", "path": "/spec/template", "value": plan["template"]},
    ]
    workloads.client.patch(workloads.path(kind, name), patch, patch_type="json")
    workloads.record(kind, workloads.client.get(workloads.path(kind, name)), history_entry)
    steps = ["rolled back " + what]
    result = None
    if wait:
        result = wait_healthy(workloads, kind, name, timeout, started_after=started)
        steps.append("%s/%s healthy: %s" % (kind, name, result["state"]))
    return steps, result
