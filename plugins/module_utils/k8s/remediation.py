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

import json

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    GuardrailError,
    InvalidInput,
    NotFound,
    VerificationFailed,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import epoch, rfc3339_epoch
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.diagnosis import duration_seconds
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.classify import (
    CONFIG_ERROR_REASONS,
    CRASH_REASONS,
    IMAGE_PULL_REASONS,
    LIMIT_RESOURCES,
    parse_quantity,
    quantity_problem,
    usage_ratios,
)

HISTORY_ANNOTATION = wl.HISTORY_ANNOTATION
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
HISTORY_KEEP = 20
# Conditional history writes retried after a 409 Conflict (each retry reads and checks again).
CLAIM_TRIES = 5
FAILING_REASONS = CRASH_REASONS | CONFIG_ERROR_REASONS | IMAGE_PULL_REASONS


# --- remediation history and budget -------------------------------------------
# The history lives in an annotation on the workload, so every run on every
# control node sees the same budget.
#
# Two runs that read the budget at the same moment must not both spend its last
# action: the history entry is written before the action (a claim), as a patch that
# carries the resourceVersion of the object whose budget was checked. The API server
# refuses it with 409 Conflict when the object changed since; the run then reads the
# workload again, checks the budget again and, when it is still there, claims again.
# A claim whose action never happened (refused by the API server) is taken back.


class BudgetExhausted(GuardrailError):
    """The budget was used up when the run came to spend it (another run spent it first)."""

    def __init__(self, kind, obj, budget):
        self.kind, self.obj, self.budget = kind, obj, budget
        super(BudgetExhausted, self).__init__(budget_message(kind, obj["metadata"]["name"], budget))


def budget_message(kind, name, budget):
    return "remediation budget of %s/%s used up (%d actions in %d minutes): not acting; escalate" % (
        kind, name, budget["used"], budget["window_minutes"])


def history(obj):
    raw = (obj["metadata"].get("annotations") or {}).get(HISTORY_ANNOTATION)
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        entries = []
    return entries if isinstance(entries, list) else []


def budget(obj, max_actions, window_minutes, now):
    """Actions recorded on the workload within the window, against the allowance."""
    cutoff = now - window_minutes * 60
    recent = [e for e in history(obj) if (epoch(e.get("at")) or 0) >= cutoff]
    return {
        "used": len(recent),
        "max_actions": max_actions,
        "window_minutes": window_minutes,
        "exhausted": len(recent) >= max_actions,
        "recent": recent,
    }


def history_patch(obj, entry, conditional=False):
    """The patch that appends the entry; ``conditional`` adds the resourceVersion read (409 when it changed)."""
    entries = (history(obj) + [entry])[-HISTORY_KEEP:]
    body = {"metadata": {"annotations": {HISTORY_ANNOTATION: json.dumps(entries, separators=(",", ":"))}}}
    version = obj["metadata"].get("resourceVersion")
    if conditional and version:
        body["metadata"]["resourceVersion"] = version
    return body


def claim(ws, kind, obj, entry, limits=None, prepare=None, patch_type="merge"):
    """Record the entry in the workload's history, conditional on the object whose budget was checked.

    ``limits`` is (max_actions, window_minutes): the budget is checked on every read and
    BudgetExhausted raised when it is used up. ``prepare(obj)`` returns more of the same
    patch (a restart's template annotation, merged in) or None when, on this read, there
    is nothing to do any more (nothing is written then). On 409 Conflict the workload is
    read again and everything checked again, at most CLAIM_TRIES times.

    Returns (the object as last read, the server's answer or None when nothing was written).
    A dry-run client sends the claim as a server-side dry run.
    """
    name = obj["metadata"]["name"]
    for attempt in range(CLAIM_TRIES):
        if attempt:
            obj = ws.get(kind, name)
        if limits:
            state = budget(obj, limits[0], limits[1], ws.clock.time())
            if state["exhausted"]:
                raise BudgetExhausted(kind, obj, state)
        extra = prepare(obj) if prepare else {}
        if extra is None:
            return obj, None
        body = history_patch(obj, entry, conditional=True)
        for key, value in extra.items():
            body[key] = value
        try:
            return obj, ws.client.patch(ws.path(kind, name), body, patch_type=patch_type)
        except ClusterError as exc:
            if exc.status != 409:
                raise
    raise ClusterError("%s/%s changed under this run %d times in a row while recording the action; nothing was done, try again"
                       % (kind, name, CLAIM_TRIES), status=409)


def unclaim(ws, kind, name, entry):
    """Take back a claim whose action never happened, so it does not use the budget (best effort, conditional too)."""
    if ws.client.dry_run:
        return
    for _attempt in range(CLAIM_TRIES):
        try:
            obj = ws.get(kind, name)
            entries = history(obj)
            stored = json.loads(json.dumps(entry))
            if stored not in entries:
                return
            del entries[len(entries) - 1 - entries[::-1].index(stored)]
            text = json.dumps(entries, separators=(",", ":")) if entries else None
            body = {"metadata": {"annotations": {HISTORY_ANNOTATION: text}}}
            if obj["metadata"].get("resourceVersion"):
                body["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
            ws.client.patch(ws.path(kind, name), body)
            return
        except ClusterError as exc:
            if exc.status != 409:
                return


def record(ws, kind, obj, entry, limits=None):
    """Append the entry to the workload's history, conditional on obj's resourceVersion (a dry run in check mode)."""
    return claim(ws, kind, obj, entry, limits)[0]


def history_entry(action, now, incident_id=None, reason=None):
    """One remediation-history entry, stamped with ``now`` (epoch seconds of the run's clock)."""
    return {"at": rfc3339_epoch(now), "action": action, "incident": incident_id, "reason": (reason or "")[:200] or None}


def check_numbers(**values):
    """Numbers that come in are checked before the cluster is touched."""
    for name, (value, minimum) in sorted(values.items()):
        if value is not None and value < minimum:
            raise InvalidInput("%s must be at least %s, not %s" % (name, minimum, value))


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


def progress_deadline_exceeded(kind, obj):
    """The Deployment controller's verdict that the current rollout stalled (its message), or None.

    Only once the controller has observed the current generation: an older verdict is about an older template.
    """
    if kind != "Deployment":
        return None
    status, meta = obj.get("status") or {}, obj.get("metadata") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("status") == "False" and condition.get("reason") == "ProgressDeadlineExceeded":
            return (condition.get("message") or "ProgressDeadlineExceeded")[:200]
    return None


def wait_healthy(ws, kind, name, timeout, started_after=None, gone=(), interval=1.0):
    """Poll until the workload is settled and the pods in ``gone`` no longer exist.

    Fails fast, before the timeout, when a pod created by this action shows a
    failure (CrashLoopBackOff, ImagePullBackOff, OOMKilled...): waiting longer
    would not change the verdict.
    """
    deadline = ws.clock.time() + timeout
    while True:
        obj = ws.get(kind, name)
        pods = ws.pods(kind, obj)
        names = set(p["metadata"]["name"] for p in pods)
        lingering = sorted(names.intersection(gone))
        for pod in pods:
            created = epoch(pod["metadata"].get("creationTimestamp")) or 0
            if started_after is not None and created >= started_after - 1 and pod["metadata"]["name"] not in gone:
                failure = pod_failure(pod)
                if failure:
                    raise VerificationFailed(
                        "%s/%s: new pod %s is failing: %s; the fault is not transient"
                        % (kind, name, pod["metadata"]["name"], failure)
                    )
        status = obj.get("status") or {}
        state = "%d/%d ready, %d updated%s" % (
            status.get("readyReplicas", 0),
            wl.desired_replicas(obj),
            status.get("updatedReplicas", 0),
            ", waiting for %s to go" % ", ".join(lingering) if lingering else "",
        )
        if wl.settled(kind, obj) and not lingering:
            return {
                "verified": True,
                "ready": status.get("readyReplicas", 0),
                "desired": wl.desired_replicas(obj),
                "state": state,
                "pods": pods,  # as settled; the usage check after a scale judges these
                "revision": wl.revision(obj) if kind == "Deployment" else None,
            }
        stalled = progress_deadline_exceeded(kind, obj)
        if stalled:
            raise VerificationFailed("%s/%s: the rollout exceeded its progress deadline (%s): %s" % (kind, name, stalled, state))
        if ws.clock.time() >= deadline:
            raise VerificationFailed("%s/%s did not become healthy within %ds: %s" % (kind, name, timeout, state))
        ws.clock.sleep(interval)


# --- the actions ------------------------------------------------------------
# Each has a plan_* (guardrails; raises GuardrailError; what check mode shows) and an
# apply_* that writes through the client. A dry-run client (check mode) sends every
# write as a server-side dry run and nothing waits: the plan is proven, not carried out.


def plan_delete_pods(ws, kind, obj, pod_names):
    pods = dict((p["metadata"]["name"], p) for p in ws.pods(kind, obj))
    if not pod_names:
        raise GuardrailError("delete_pod needs the names of the pods to delete (option pods)")
    unknown = [n for n in pod_names if n not in pods]
    if unknown:
        raise NotFound(
            "pods %s do not belong to %s/%s; its pods: %s"
            % (", ".join(unknown), kind, obj["metadata"]["name"], ", ".join(sorted(pods)) or "none")
        )
    if len(set(pod_names)) != len(pod_names):
        raise GuardrailError("pods lists %s more than once" % ", ".join(sorted(n for n in set(pod_names) if pod_names.count(n) > 1)))
    ready = [n for n, p in pods.items() if wl.pod_ready(p)]
    ready_after = [n for n in ready if n not in pod_names]
    if ready and not ready_after:
        # Deleting every ready pod at once is an outage we would cause.
        raise GuardrailError(
            "refusing to delete %s: they are the last ready pods of %s/%s; delete crashed pods only, or fewer at once"
            % (", ".join(sorted(set(ready) & set(pod_names))), kind, obj["metadata"]["name"])
        )
    # The pods as read now (all of the workload's), so the first eviction needs no second read.
    return {"pods": list(pod_names), "ready_before": len(ready), "objects": pods}


def evict(ws, pod_name):
    """One eviction through the eviction API, so PodDisruptionBudgets hold."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod_name, "namespace": ws.namespace}}
    try:
        ws.client.post(ws.path("Pod", pod_name, "eviction"), body)
    except ClusterError as exc:
        # A 429 is a PodDisruptionBudget refusal unless the API server was throttling
        # (the client already retried those).
        if exc.status == 429 and not getattr(exc, "throttled", False):
            raise GuardrailError("eviction of pod %s refused by its PodDisruptionBudget: %s" % (pod_name, exc))
        if "more than one PodDisruptionBudget" in str(exc):
            raise GuardrailError("eviction of pod %s refused: more than one PodDisruptionBudget selects it; fix the budgets first" % pod_name)
        raise


def wait_replaced(ws, kind, name, old, ready_others, timeout, started_after, interval=1.0):
    """Poll until the evicted pod (by uid: a StatefulSet's replacement keeps its name) is gone
    and its replacement is Ready, so one more pod than the others that were ready is Ready.

    Only this pod is waited for, so several failing pods are replaced one at a time even
    while the next ones still fail. A new pod that fails fails the wait at once: the fault
    is not transient.
    """
    deadline = ws.clock.time() + timeout
    old_uid = old["metadata"].get("uid")
    while True:
        obj = ws.get(kind, name)
        pods = ws.pods(kind, obj)
        lingering = [p for p in pods if p["metadata"].get("uid") == old_uid]
        for pod in pods:
            created = epoch(pod["metadata"].get("creationTimestamp")) or 0
            if pod["metadata"].get("uid") != old_uid and created >= started_after - 1:
                failure = pod_failure(pod)
                if failure:
                    raise VerificationFailed("%s/%s: new pod %s is failing: %s; the fault is not transient"
                                             % (kind, name, pod["metadata"]["name"], failure))
        ready = sum(1 for p in pods if wl.pod_ready(p) and p["metadata"].get("uid") != old_uid)
        waiting = ", waiting for %s (uid %s) to go" % (old["metadata"]["name"], old_uid) if lingering else ""
        state = "%d/%d pods ready%s" % (ready, wl.desired_replicas(obj), waiting)
        # The controller's count too, so whoever reads the workload next sees it healthy.
        counted = (obj.get("status") or {}).get("readyReplicas", 0)
        if not lingering and ready >= ready_others + 1 and counted >= min(ready_others + 1, wl.desired_replicas(obj)):
            return {"verified": True, "ready": ready, "desired": wl.desired_replicas(obj), "state": state, "pods": pods}
        if ws.clock.time() >= deadline:
            raise VerificationFailed("%s/%s: the replacement of pod %s was not Ready within %ds: %s"
                                     % (kind, name, old["metadata"]["name"], timeout, state))
        ws.clock.sleep(interval)


def apply_delete_pods(ws, kind, obj, plan, wait, timeout, entry, limits=None):
    """Claim the budget, then evict the pods one at a time, each once its predecessor's replacement is Ready.

    The claim is taken back when no pod was evicted (refused, or all already gone).
    """
    name = obj["metadata"]["name"]
    entry = dict(entry, pods=plan["pods"])
    # Recorded before acting, so a failed verification still counts against the budget
    # and a concurrent run sees the budget spent.
    obj = claim(ws, kind, obj, entry, limits)[0]
    evicted = []
    try:
        steps, result = _evict_all(ws, kind, obj, plan, wait, timeout, evicted)
    except Exception:
        if not evicted:
            unclaim(ws, kind, name, entry)
        raise
    if not evicted:
        unclaim(ws, kind, name, entry)
    return steps, result


def _evict_all(ws, kind, obj, plan, wait, timeout, evicted):
    """The evictions and waits of apply_delete_pods; ``evicted`` collects the pods evicted so far."""
    dry_run = ws.client.dry_run
    name = obj["metadata"]["name"]
    steps = []
    result = None
    for index, pod_name in enumerate(plan["pods"]):
        current = dict((p["metadata"]["name"], p) for p in ws.pods(kind, obj)) if index else plan["objects"]
        pod = current.get(pod_name)
        if pod is None or pod["metadata"].get("uid") != plan["objects"][pod_name]["metadata"].get("uid"):
            steps.append("pod %s is already gone; its controller replaced it" % pod_name)
            continue
        ready_others = sum(1 for n, p in current.items() if n != pod_name and wl.pod_ready(p))
        if not dry_run and not ready_others and any(wl.pod_ready(p) for n, p in current.items() if n == pod_name):
            # The last ready pod: evicting it is an outage we would cause.
            raise GuardrailError("refusing to evict %s: it is the last ready pod of %s/%s" % (pod_name, kind, name))
        started = ws.clock.time()
        try:
            evict(ws, pod_name)
        except NotFound:
            steps.append("pod %s is already gone; its controller replaced it" % pod_name)
            continue
        evicted.append(pod_name)
        steps.append("evicted pod %s%s" % (pod_name, " (dry run)" if dry_run else ""))
        if wait and not dry_run:
            result = wait_replaced(ws, kind, name, pod, ready_others, timeout, started)
            steps.append("%s/%s: %s replaced, %s" % (kind, name, pod_name, result["state"]))
    return steps, result


def plan_scale(kind, obj, replicas, scale_by, max_replicas, allow_scale_down):
    current = wl.desired_replicas(obj)
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


def apply_scale(ws, kind, obj, plan, wait, timeout, entry, metrics_timeout=0, usage_threshold=0.9, limits=None):
    """Claim the budget, scale, wait for the replicas; then, with metrics_timeout, check that fresh usage fell."""
    name = obj["metadata"]["name"]
    entry = dict(entry, replicas=plan["to"])
    claim(ws, kind, obj, entry, limits)
    try:
        ws.client.patch(ws.path(kind, name, "scale"), {"spec": {"replicas": plan["to"]}})
    except Exception:
        unclaim(ws, kind, name, entry)
        raise
    if ws.client.dry_run:
        return ["would scale %s/%s from %d to %d replicas (dry run)" % (kind, name, plan["from"], plan["to"])], None
    steps = ["scaled %s/%s from %d to %d replicas" % (kind, name, plan["from"], plan["to"])]
    result = None
    if wait:
        result = wait_healthy(ws, kind, name, timeout, started_after=ws.clock.time())
        steps.append("%s/%s healthy: %s" % (kind, name, result["state"]))
        if metrics_timeout > 0:
            result["usage"] = wait_fresh_usage(ws, obj, result["pods"], metrics_timeout, usage_threshold)
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

def ready_since(pods):
    """Cluster time (epoch seconds) at which the last of these pods became Ready, or None."""
    times = [
        epoch(c.get("lastTransitionTime"))
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
            start = (epoch(sample.get("timestamp")) or 0) - duration_seconds(sample.get("window"))
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


def wait_fresh_usage(ws, obj, pods, timeout, usage_threshold, interval=2.0):
    """Wait for metrics of these settled pods sampled after they became ready; report whether usage fell below the threshold.

    Never fails on missing metrics: without the metrics API, readiness is the only check, and the result says so.
    """
    since = ready_since(pods)
    selector = wl.selector_string(obj["spec"].get("selector"))
    deadline = ws.clock.time() + timeout
    while True:
        try:
            metrics = ws.list("PodMetrics", labelSelector=selector)
        except ClusterError as exc:
            return {"fresh": False, "saturated": [], "summary": "metrics unavailable (%s); readiness is the only check" % exc}
        stale, saturated = usage_after(pods, metrics, since, usage_threshold)
        if not stale:
            summary = "; ".join(saturated) or (
                "every pod below %d%% of its limits in metrics sampled since the new replicas were ready" % int(usage_threshold * 100)
            )
            return {"fresh": True, "saturated": saturated, "summary": summary}
        if ws.clock.time() >= deadline:
            return {
                "fresh": False,
                "saturated": [],
                "summary": "no metrics sampled after the new replicas were ready within %ds (waiting for %s); usage not judged"
                % (timeout, ", ".join(stale)),
            }
        ws.clock.sleep(interval)


def restarted_at_text(obj):
    annotations = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(RESTARTED_AT)


def plan_restart(ws, kind, obj, min_interval_minutes, skip_recreate=False):
    """Restart plan; a Recreate Deployment is refused, or skipped (with the reason) in a namespace-wide restart."""
    name = obj["metadata"]["name"]
    if kind == "Deployment" and (obj["spec"].get("strategy") or {}).get("type") == "Recreate":
        why = "its Recreate strategy stops every replica at once; restart it by hand when an outage is acceptable"
        if skip_recreate:
            return {"skip": why}
        raise GuardrailError("refusing to restart %s/%s: %s" % (kind, name, why))
    last = epoch(restarted_at_text(obj))
    if last and ws.clock.time() - last < min_interval_minutes * 60:
        return {"skip": "restarted %ds ago, within min_restart_interval=%dm" % (ws.clock.time() - last, min_interval_minutes)}
    return {"skip": None, "previous": last}


def apply_restart(ws, targets, wait, timeout, entry, limits=None, replan=None, skip_exhausted=False):
    """Patch the restartedAt annotation (what `kubectl rollout restart` does) on each target, then wait for all.

    The restart and its history entry are one patch, conditional on the resourceVersion of
    the object whose budget and restart interval were checked. On a conflict the target
    is read again, ``replan(kind, obj)`` (plan_restart) and its budget checked again.
    With ``skip_exhausted`` (a namespace-wide restart) a target whose budget is used up
    is skipped with the reason; otherwise BudgetExhausted is raised. Plans are updated
    in place, so the caller sees the skips.
    """
    dry_run = ws.client.dry_run
    steps = []
    stamp = rfc3339_epoch(ws.clock.time())
    started = ws.clock.time()
    for kind, obj, plan in targets:
        name = obj["metadata"]["name"]
        if not plan["skip"]:
            _restart_one(ws, kind, obj, plan, entry, stamp, limits, replan, skip_exhausted)
        if plan["skip"]:
            steps.append("skipped %s/%s: %s" % (kind, name, plan["skip"]))
            continue
        steps.append(("would restart %s/%s (restartedAt=%s, dry run)" % (kind, name, stamp)) if dry_run else "restarted %s/%s" % (kind, name))
    results = {}
    if wait and not dry_run:
        for kind, obj, plan in targets:
            if not plan["skip"]:
                name = obj["metadata"]["name"]
                results[name] = wait_healthy(ws, kind, name, timeout, started_after=started)
                steps.append("%s/%s healthy: %s" % (kind, name, results[name]["state"]))
    return steps, results


def _restart_one(ws, kind, obj, plan, entry, stamp, limits, replan, skip_exhausted):
    first = obj

    def prepare(current):
        if current is not first and replan:
            plan.clear()
            plan.update(replan(kind, current))
        if plan["skip"]:
            return None
        return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}

    try:
        claim(ws, kind, obj, entry, limits, prepare, patch_type="strategic")
    except BudgetExhausted as exc:
        if not skip_exhausted:
            raise
        plan.clear()
        plan.update(skip="remediation budget used up (%d actions in %d minutes); escalate" % (exc.budget["used"], exc.budget["window_minutes"]),
                    budget_exhausted=True)


def plan_rollback(ws, kind, obj, to_revision, force):
    name = obj["metadata"]["name"]
    if kind != "Deployment":
        raise GuardrailError(
            "rollback of %s/%s is not automated: StatefulSet revisions can carry data migrations; "
            "use kubectl rollout undo after checking them" % (kind, name)
        )
    by_rev = wl.revisions(obj, ws.replicasets(obj))
    current = wl.revision(obj)
    if to_revision is None:
        older = [r for r in by_rev if r < current]
        if not older:
            raise GuardrailError("%s/%s has no previous revision to roll back to (current revision %d)" % (kind, name, current))
        to_revision = max(older)
    asked = to_revision
    if to_revision not in by_rev:
        # Rolled back to before: Kubernetes numbered its ReplicaSet anew and keeps the old number in its history.
        to_revision = next((r for r in sorted(by_rev) if asked in revision_history(by_rev[r])), asked)
    if to_revision != asked and to_revision == current:
        return {"skip": "revision %d is already the current one (numbered %d since it was rolled back to)" % (asked, current), "current": True}
    if to_revision not in by_rev:
        raise NotFound("%s/%s has no revision %d; revisions: %s" % (kind, name, to_revision, ", ".join(str(r) for r in sorted(by_rev))))
    if to_revision == current:
        return {"skip": "revision %d is already the current one" % current, "current": True}
    if wl.settled(kind, obj) and not force:
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


def revision_history(replicaset):
    """The earlier revision numbers of a ReplicaSet the Deployment controller reused (a rollback), as ints."""
    text = (((replicaset or {}).get("metadata") or {}).get("annotations") or {}).get(REVISION_HISTORY_ANNOTATION) or ""
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def _images(template):
    return [c.get("image") for c in template["spec"].get("containers") or []]


def container_images(template):
    """{container: image} of a pod template's containers and init containers."""
    spec = template.get("spec") or {}
    return dict((c["name"], c.get("image")) for field in ("initContainers", "containers") for c in spec.get(field) or [])


def verify_current(ws, kind, obj, wait, timeout):
    """Nothing to change, but the current revision may still be rolling out: with ``wait``, wait until it is healthy.

    Returns (step or None, wait result or None). Not in check mode (nothing waits there). Any
    pod already failing fails the wait at once: its rollout will not heal by waiting.
    """
    name = obj["metadata"]["name"]
    if not wait or ws.client.dry_run or wl.settled(kind, obj):
        return None, None
    result = wait_healthy(ws, kind, name, timeout, started_after=0)
    return "%s/%s healthy: %s" % (kind, name, result["state"]), result


def apply_rollback(ws, kind, obj, plan, wait, timeout, entry, limits=None, gone=()):
    """Claim the budget, put back the older pod template (what `kubectl rollout undo` does), wait.

    ``gone``: pods (of the revision rolled back from) that must be gone before the rollback counts as healthy.
    When the revision asked for is already the current one but still rolling out, waits for it (nothing is written).
    """
    name = obj["metadata"]["name"]
    if plan["skip"]:
        steps = ["skipped rollback of %s/%s: %s" % (kind, name, plan["skip"])]
        step, result = verify_current(ws, kind, obj, wait, timeout) if plan.get("current") else (None, None)
        return steps + ([step] if step else []), result
    what = "%s/%s from revision %d to %d (images %s -> %s)" % (
        kind, name, plan["from_revision"], plan["to_revision"], ", ".join(plan["images_before"]), ", ".join(plan["images_after"]),
    )
    started = ws.clock.time()
    claim(ws, kind, obj, entry, limits)
    try:
        ws.client.patch(ws.path(kind, name), [{"op": "replace", "path": "/spec/template", "value": plan["template"]}], patch_type="json")
    except Exception:
        unclaim(ws, kind, name, entry)
        raise
    if ws.client.dry_run:
        return ["would roll back %s (dry run)" % what], None
    steps = ["rolled back " + what]
    result = None
    if wait:
        result = wait_healthy(ws, kind, name, timeout, started_after=started, gone=gone)
        steps.append("%s/%s healthy: %s" % (kind, name, result["state"]))
    return steps, result


# --- raise_limits -----------------------------------------------------------
# A container's resources.limits live in the pod template: changing them is a rollout,
# so the pods are replaced as a rolling update would replace them. The limits and the
# history entry go in one strategic merge patch (containers merge by name), conditional
# on the resourceVersion of the object whose limits and budget were checked.


def check_limits(limits, limits_max):
    """``limits`` ({container: {cpu?, memory?}}) and ``limits_max`` ({resource: quantity}) checked before the cluster is touched."""
    if not isinstance(limits, dict) or not limits:
        raise InvalidInput("action raise_limits needs limits: {container: {memory: 768Mi, cpu: 750m}}")
    for container, wanted in sorted(limits.items()):
        if not isinstance(wanted, dict) or not wanted:
            raise InvalidInput("limits.%s must be a dict of resource -> quantity (memory, cpu), not %r" % (container, wanted))
        unknown = sorted(set(wanted) - set(LIMIT_RESOURCES))
        if unknown:
            raise InvalidInput("limits.%s: unknown resource(s) %s; only %s limits are raised" % (container, ", ".join(unknown), " and ".join(LIMIT_RESOURCES)))
        for resource, value in sorted(wanted.items()):
            problem = quantity_problem(value)
            if problem:
                raise InvalidInput("limits.%s.%s %s" % (container, resource, problem))
    unknown = sorted(set(limits_max or {}) - set(LIMIT_RESOURCES))
    if unknown:
        raise InvalidInput("limits_max: unknown resource(s) %s; it takes %s" % (", ".join(unknown), " and ".join(LIMIT_RESOURCES)))
    for resource, value in sorted((limits_max or {}).items()):
        problem = quantity_problem(value)
        if problem:
            raise InvalidInput("limits_max.%s %s" % (resource, problem))


def _rollout_refusal(kind, obj):
    """Why a template change of this workload must not be made here, or None."""
    spec = obj.get("spec") or {}
    if kind == "Deployment" and (spec.get("strategy") or {}).get("type") == "Recreate":
        return "its Recreate strategy stops every replica at once; change the limits by hand when an outage is acceptable"
    if kind == "StatefulSet":
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return "its OnDelete update strategy does not roll a template change out; the pods would keep the old limits"
        partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
        if partition > 0:
            return "a partitioned rollout (partition %d) is in progress; pods below it would keep the old limits" % partition
    return None


def plan_raise_limits(kind, obj, limits, limits_max):
    """What raise_limits would change: the pod template's limits before and after, and the patch.

    Refused (GuardrailError) when a value is above ``limits_max`` (or the resource has no
    maximum there), lower than the current limit, sets a limit where there is none (that
    lowers it from unbounded), would fall below the container's request, or when the
    workload's update strategy would not roll the change out safely. ``skip`` says why there
    is nothing to do when every limit already has the value asked for.
    """
    name = obj["metadata"]["name"]
    what = "%s/%s" % (kind, name)
    refusal = _rollout_refusal(kind, obj)
    if refusal:
        raise GuardrailError("refusing to change the limits of %s: %s" % (what, refusal))
    pod_spec = (obj["spec"].get("template") or {}).get("spec") or {}
    found = dict((c["name"], (c, field)) for field in ("containers", "initContainers") for c in pod_spec.get(field) or [])
    unknown = sorted(c for c in limits if c not in found)
    if unknown:
        raise NotFound("container(s) %s not in the pod template of %s; its containers: %s"
                       % (", ".join(unknown), what, ", ".join(sorted(found)) or "none"))
    before, after, changes, patch = {}, {}, [], {}
    for container in sorted(limits):
        spec, field = found[container]
        resources = spec.get("resources") or {}
        current, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for resource in sorted(limits[container]):
            text = str(limits[container][resource])
            value = parse_quantity(text)
            where = "container %s of %s" % (container, what)
            maximum = (limits_max or {}).get(resource)
            if maximum is None:
                raise GuardrailError("refusing to raise the %s limit of %s: limits_max has no %s maximum" % (resource, where, resource))
            if value > parse_quantity(maximum):
                raise GuardrailError("refusing to raise the %s limit of %s to %s: above limits_max.%s=%s" % (resource, where, text, resource, maximum))
            old = current.get(resource)
            if old is None:
                raise GuardrailError("refusing to set a %s limit of %s: it has none, so %s would lower it from unbounded" % (resource, where, text))
            if value < parse_quantity(old):
                raise GuardrailError("refusing to lower the %s limit of %s from %s to %s: raise_limits only raises" % (resource, where, old, text))
            request = parse_quantity(requests.get(resource))
            if request is not None and request > value:
                raise GuardrailError("refusing to set the %s limit of %s to %s: below its request %s" % (resource, where, text, requests[resource]))
            before.setdefault(container, {})[resource] = old
            if value == parse_quantity(old):
                after.setdefault(container, {})[resource] = old
                continue
            after.setdefault(container, {})[resource] = text
            changes.append("container %s %s %s -> %s" % (container, resource, old, text))
            entries = patch.setdefault(field, {})
            entries.setdefault(container, {"name": container, "resources": {"limits": {}}})["resources"]["limits"][resource] = text
    body = {"spec": {"template": {"spec": dict((field, [entries[c] for c in sorted(entries)]) for field, entries in patch.items())}}}
    return {
        "skip": None if changes else "every limit already has the value asked for",
        "limits_before": before,
        "limits_after": after,
        "changes": changes,
        "patch": body if changes else None,
    }


def _replanning(first, plan, replan):
    """claim()'s ``prepare``: the plan's patch, planned again (``replan``) when the object changed
    since ``first`` was read (a conflict retry); None when the new plan skips."""
    def prepare(current):
        if current is not first and replan:
            plan.clear()
            plan.update(replan(current))
        return None if plan["skip"] else plan["patch"]
    return prepare


def apply_raise_limits(ws, kind, obj, plan, wait, timeout, entry, limits=None, replan=None, metrics_timeout=0, usage_threshold=0.9):
    """Write the new limits and the history entry in one conditional patch (a rollout), wait, then judge fresh usage.

    On a conflict the workload is read again and ``replan(obj)`` (plan_raise_limits) and its
    budget are checked again; the plan is updated in place. ``limits`` is the budget
    (max_actions, window_minutes). With ``metrics_timeout``, usage still at or above
    ``usage_threshold`` in metrics sampled after the new pods were ready fails the
    verification: the new limits were not enough.
    """
    name = obj["metadata"]["name"]
    if plan["skip"]:
        return ["skipped %s/%s: %s" % (kind, name, plan["skip"])], None
    prepare = _replanning(obj, plan, replan)
    entry = dict(entry, limits=plan["limits_after"])
    started = ws.clock.time()
    answer = claim(ws, kind, obj, entry, limits, prepare, patch_type="strategic")[1]
    if answer is None:
        return ["skipped %s/%s: %s" % (kind, name, plan["skip"])], None
    what = "%s/%s: %s" % (kind, name, ", ".join(plan["changes"]))
    if ws.client.dry_run:
        return ["would raise the limits of %s (dry run)" % what], None
    steps = ["raised the limits of " + what]
    result = None
    if wait:
        result = wait_healthy(ws, kind, name, timeout, started_after=started)
        steps.append("%s/%s healthy: %s" % (kind, name, result["state"]))
        if metrics_timeout > 0:
            result["usage"] = wait_fresh_usage(ws, obj, result["pods"], metrics_timeout, usage_threshold)
            steps.append("%s/%s usage: %s" % (kind, name, result["usage"]["summary"]))
            if result["usage"]["saturated"]:
                raise VerificationFailed(
                    "%s/%s: limits raised (%s), all pods ready, but metrics sampled since still show %s; "
                    "the new limits were not enough" % (kind, name, ", ".join(plan["changes"]), "; ".join(result["usage"]["saturated"]))
                )
    return steps, result


# --- set_image (a hotfix) ----------------------------------------------------
# A new image is a new pod template: a rollout. The images and the history entry go in
# one strategic merge patch (containers merge by name), conditional on the
# resourceVersion of the object whose images and budget were checked. When the new
# revision does not become healthy, the template it replaced is put back as
# action=rollback puts one back, and the module fails naming both revisions.


class RolledBack(VerificationFailed):
    """The new revision did not become healthy; ``details`` (rolled_back, revisions, steps) go into the module's failure."""

    def __init__(self, message, details):
        self.details = details
        super(RolledBack, self).__init__(message)


def check_images(images):
    """``images`` ({container: image}) checked before the cluster is touched."""
    if not isinstance(images, dict) or not images:
        raise InvalidInput("action set_image needs images: {container: image}, e.g. {api-gateway: ghcr.io/ai-orchestrator/api-gateway:2.4.2}")
    for container, image in sorted(images.items(), key=lambda item: str(item[0])):
        if not isinstance(container, str) or not container.strip():
            raise InvalidInput("images: container names must be non-empty strings, not %r" % (container,))
        if not isinstance(image, str) or not image or any(ch.isspace() for ch in image):
            raise InvalidInput("images.%s must be an image reference (a non-empty string without whitespace), not %r" % (container, image))


def _images_text(images):
    return ", ".join("%s=%s" % (c, images[c]) for c in sorted(images))


def plan_set_image(kind, obj, images):
    """What set_image would change: the images before and after, the patch, and the template it replaces.

    Refused (GuardrailError) for a StatefulSet (not rolled back automatically, as for action=rollback) and a
    Deployment with the Recreate strategy; NotFound names the containers when one is not in the pod template.
    ``skip`` says why there is nothing to do when every container already has its image.
    """
    name = obj["metadata"]["name"]
    what = "%s/%s" % (kind, name)
    if kind != "Deployment":
        raise GuardrailError(
            "set_image of %s is not automated: a StatefulSet is not rolled back automatically when the new image fails "
            "and its revisions can carry data migrations; use kubectl set image after checking them" % what
        )
    if (obj["spec"].get("strategy") or {}).get("type") == "Recreate":
        raise GuardrailError("refusing to set the image of %s: its Recreate strategy stops every replica at once; "
                             "change it by hand when an outage is acceptable" % what)
    template = obj["spec"].get("template") or {}
    pod_spec = template.get("spec") or {}
    found = dict((c["name"], field) for field in ("containers", "initContainers") for c in pod_spec.get(field) or [])
    unknown = sorted(c for c in images if c not in found)
    if unknown:
        raise NotFound("container(s) %s not in the pod template of %s; its containers: %s"
                       % (", ".join(unknown), what, ", ".join(sorted(found)) or "none"))
    current = container_images(template)
    before = dict((c, current[c]) for c in images)
    after = dict(images)
    changes, patch = [], {}
    for container in sorted(images):
        if before[container] == after[container]:
            continue
        changes.append("container %s %s -> %s" % (container, before[container], after[container]))
        patch.setdefault(found[container], []).append({"name": container, "image": after[container]})
    skip = None
    if not changes:
        skip = "%s already runs %s" % (what, _images_text(after))
        if not wl.settled(kind, obj):
            skip += " (its rollout is not complete)"
    return {
        "skip": skip,
        "images_before": before,
        "images_after": after,
        "changes": changes,
        "previous_revision": wl.revision(obj),
        "patch": {"spec": {"template": {"spec": patch}}} if changes else None,
        "template": json.loads(json.dumps(template)),
    }


def apply_set_image(ws, kind, obj, plan, wait, timeout, entry, limits=None, replan=None):
    """Write the images and the history entry in one conditional patch (a rollout), wait; roll back when unhealthy.

    On a conflict the workload is read again and ``replan(obj)`` (plan_set_image) and its budget
    are checked again; the plan is updated in place. With ``wait``, a new revision that does not
    become healthy within ``timeout`` (or whose new pods fail) is rolled back to the template it
    replaced by apply_rollback - recorded in the history as a rollback, outside the budget: a
    broken revision is never left in place for want of budget - and RolledBack is raised.
    Returns (steps, wait result or None).
    """
    name = obj["metadata"]["name"]
    prepare = _replanning(obj, plan, replan)
    started = ws.clock.time()
    if not plan["skip"]:
        obj = claim(ws, kind, obj, dict(entry, images=plan["images_after"]), limits, prepare, patch_type="strategic")[0]
    if plan["skip"]:
        step, result = verify_current(ws, kind, obj, wait, timeout)
        return ["skipped %s/%s: %s" % (kind, name, plan["skip"])] + ([step] if step else []), result
    what = "%s/%s (revision %d): %s" % (kind, name, plan["previous_revision"], ", ".join(plan["changes"]))
    if ws.client.dry_run:
        return ["would set the image of %s (dry run)" % what], None
    steps = ["set the image of " + what]
    if not wait:
        return steps, None
    try:
        result = wait_healthy(ws, kind, name, timeout, started_after=started)
    except VerificationFailed as exc:
        raise _roll_back_hotfix(ws, kind, name, plan, timeout, entry, steps, started, exc)
    steps.append("%s/%s healthy at revision %s: %s" % (kind, name, result["revision"], result["state"]))
    return steps, result


def _roll_back_hotfix(ws, kind, name, plan, timeout, entry, steps, started, failure):
    """Put back the template the new images replaced (apply_rollback), wait; the RolledBack to raise."""
    current = ws.get(kind, name)
    new_revision = wl.revision(current)
    previous = plan["previous_revision"]
    if new_revision == previous:
        new_revision = None  # the controller had not numbered the new revision yet
    new_text = "new revision %s" % new_revision if new_revision else "the new revision"
    details = {"changed": True, "rolled_back": False, "previous_revision": previous, "revision": new_revision,
               "images_before": plan["images_before"], "images_after": plan["images_after"], "steps": list(steps)}
    headline = "set_image on %s/%s: %s (%s) did not become healthy: %s" % (kind, name, new_text, _images_text(plan["images_after"]), failure)
    # The pods of the new revision (of its ReplicaSet; those created since the patch when it has no number yet)
    # must be gone before the old one counts as healthy again.
    new_sets = set(wl.uid(rs) for rs in ws.replicasets(current) if new_revision and wl.revision(rs) == new_revision)
    gone = [p["metadata"]["name"] for p in ws.pods(kind, current)
            if (wl.owner_uids(p) & new_sets if new_sets else (epoch(p["metadata"].get("creationTimestamp")) or 0) >= started - 1)]
    rollback = {
        "skip": None,
        "from_revision": new_revision or previous,
        "to_revision": previous,
        "template": plan["template"],
        "images_before": _images(current["spec"]["template"]),
        "images_after": _images(plan["template"]),
    }
    entry = dict(entry, action="rollback", reason=("automatic rollback: %s not healthy" % new_text)[:200], to_revision=previous)
    try:
        rb_steps, rb_result = apply_rollback(ws, kind, current, rollback, True, timeout, entry, limits=None, gone=gone)
    except VerificationFailed as exc:
        details.update(rolled_back=True, revision=wl.revision(ws.get(kind, name)) or None)
        details["steps"].append("rolled back %s/%s to the template of revision %d" % (kind, name, previous))
        return RolledBack("%s; rolled back automatically to revision %d (%s), which did not become healthy either: %s; escalate"
                          % (headline, previous, _images_text(plan["images_before"]), exc), details)
    except ClusterError as exc:  # the API server refused the rollback: say how to do it by hand
        return RolledBack("%s; the automatic rollback to revision %d failed: %s; roll back by hand: kubectl rollout undo deployment/%s "
                          "--to-revision=%d -n %s" % (headline, previous, exc, name, previous, ws.namespace), details)
    details.update(rolled_back=True, revision=rb_result["revision"], steps=details["steps"] + rb_steps)
    return RolledBack("%s; rolled back automatically to revision %d (%s), healthy again as revision %s: %s"
                      % (headline, previous, _images_text(plan["images_before"]), rb_result["revision"], rb_result["state"]), details)
