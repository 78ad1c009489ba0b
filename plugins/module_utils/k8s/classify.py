# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure functions that turn observed state into the runbook's decisions.

Nothing here talks to a server: the diagnosis module feeds it what it read, the
filter plugin exposes it to playbooks, and unit tests call it directly.

Inputs are the normalised pod and workload summaries that
``workload_health_info`` returns (see its RETURN documentation).
"""

from __future__ import annotations

import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import ago

CLASSIFICATIONS = (
    "healthy",
    "crashloop",
    "oom",
    "image_pull",
    "config_error",
    "unschedulable",
    "not_ready",
    "resource_exhaustion",
    "unknown",
)

# Most specific first: when pods of one workload fail in several ways the
# workload takes the first that applies.
PRIORITY = ("image_pull", "config_error", "oom", "crashloop", "unschedulable", "not_ready", "resource_exhaustion")

IMAGE_PULL_REASONS = frozenset(("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"))
CONFIG_ERROR_REASONS = frozenset(("CreateContainerConfigError", "CreateContainerError", "RunContainerError", "ContainerCannotRun"))
CRASH_REASONS = frozenset(("CrashLoopBackOff",))

# What the runbook says to do for each class (section "1. Service Down Alert").
RUNBOOK_ACTIONS = {
    "healthy": "Nothing to do.",
    "crashloop": "Delete the crashed pod and let its controller start a new one (runbook 1, 'If pod is crashed'); "
    "if every replica crashes, check recent deployments and configuration changes and escalate to the development team.",
    "oom": "Delete the OOM-killed pod once; if it is OOM-killed again, raise the memory limit or fix the leak and "
    "escalate to the development team.",
    "image_pull": "Roll back the rollout that introduced the image (runbook 1, 'Check recent deployments'); "
    "without a recent rollout, check the image name and registry credentials and escalate.",
    "config_error": "Review configuration changes (ConfigMaps, Secrets, env); roll back a recent rollout, else escalate.",
    "unschedulable": "No node fits the pod: free or add capacity, or lower the request; scaling up would add pending pods. Escalate.",
    "not_ready": "Check the readiness probe and the pod's dependencies; delete a stuck pod, escalate when every replica is affected.",
    "resource_exhaustion": "Scale up the deployment (runbook 1, 'If resource exhaustion').",
    "unknown": "Collect evidence and escalate to the development team (runbook 1, 'If persistent issues').",
}

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}


def parse_quantity(value):
    """Kubernetes quantity ('250m', '1Gi', '12345n') as a float; None when unset or unparsable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def usage_threshold_problem(value):
    """Why a usage threshold is unusable, or None: it is a share of a limit, above 0 and at most 1."""
    if not 0 < value <= 1:
        return "usage_threshold must be a share of the limit, above 0 and at most 1 (0.9 = 90%%), not %s" % value
    return None


def usage_ratios(container):
    """Usage against limits (requests when there is no limit) per resource."""
    usage = container.get("usage") or {}
    ratios = {}
    for resource in ("cpu", "memory"):
        used = parse_quantity(usage.get(resource))
        bound = parse_quantity((container.get("limits") or {}).get(resource)) or parse_quantity(
            (container.get("requests") or {}).get(resource)
        )
        if used is not None and bound:
            ratios[resource] = round(used / bound, 3)
    return ratios


def classify_pod(pod, usage_threshold=0.9):
    """Return (classification, evidence) for one pod summary."""
    name = pod.get("name", "?")
    evidence = []
    found = set()
    scheduled = (pod.get("conditions") or {}).get("PodScheduled") or {}
    if pod.get("phase") == "Pending" and scheduled.get("status") == "False":
        found.add("unschedulable")
        evidence.append("pod %s is Pending: %s %s" % (name, scheduled.get("reason") or "not scheduled", scheduled.get("message") or ""))
    for c in pod.get("containers") or []:
        where = "pod %s container %s" % (name, c.get("name"))
        reason = c.get("reason") or ""
        last = c.get("last_terminated") or {}
        if c.get("state") == "waiting" and reason in IMAGE_PULL_REASONS:
            found.add("image_pull")
            evidence.append("%s: waiting %s for image %s" % (where, reason, c.get("image")))
        elif c.get("state") == "waiting" and reason in CONFIG_ERROR_REASONS:
            found.add("config_error")
            evidence.append("%s: waiting %s: %s" % (where, reason, c.get("message") or ""))
        if last.get("reason") == "OOMKilled" or (c.get("state") == "terminated" and reason == "OOMKilled"):
            found.add("oom")
            evidence.append("%s: last terminated OOMKilled (exit %s), %d restarts" % (where, last.get("exit_code", 137), c.get("restart_count", 0)))
        elif reason in CRASH_REASONS or (last.get("exit_code") not in (None, 0) and c.get("restart_count", 0) > 0 and not c.get("ready")):
            found.add("crashloop")
            evidence.append(
                "%s: %s, last terminated %s (exit %s), %d restarts"
                % (where, reason or c.get("state"), last.get("reason"), last.get("exit_code"), c.get("restart_count", 0))
            )
        ratios = usage_ratios(c)
        for resource, ratio in sorted(ratios.items()):
            if ratio >= usage_threshold:
                found.add("resource_exhaustion")
                evidence.append("%s: %s usage at %d%% of its limit" % (where, resource, int(ratio * 100)))
    if not found and pod.get("phase") == "Running" and not pod.get("ready"):
        found.add("not_ready")
        ready = (pod.get("conditions") or {}).get("Ready") or {}
        evidence.append("pod %s is Running but not Ready: %s" % (name, ready.get("message") or ready.get("reason") or "readiness probe failing"))
    for event in pod.get("events") or []:
        evidence.append("pod %s event %s: %s" % (name, event.get("reason"), event.get("message")))
    for cls in PRIORITY:
        if cls in found:
            return cls, evidence
    if pod.get("phase") in ("Failed", "Unknown"):
        return "unknown", evidence + ["pod %s phase %s" % (name, pod.get("phase"))]
    return "healthy", evidence


def classify_workload(workload, pods, usage_threshold=0.9):
    """Classify one Deployment/StatefulSet from its summary and its pods' summaries.

    Returns a dict: classification, evidence, affected_pods, healthy_pods,
    pod_classifications (pod name -> class), all_replicas_affected, bad_rollout,
    recommended_action.
    """
    per_pod = {}
    evidence = []
    for pod in pods:
        cls, ev = classify_pod(pod, usage_threshold)
        per_pod[pod["name"]] = cls
        if cls != "healthy":
            evidence.extend(ev)
    affected = sorted(n for n, c in per_pod.items() if c != "healthy")
    classes = set(per_pod[n] for n in affected)
    desired = workload.get("desired") or 0
    ready = workload.get("ready") or 0
    classification = next((c for c in PRIORITY if c in classes), None)
    if classification is None:
        if desired == 0:
            classification = "unknown"
            evidence.append("%s %s is scaled to zero replicas" % (workload.get("kind"), workload.get("name")))
        elif ready < desired:
            # Too few pods and none of them visibly failing: the controller is not creating them.
            classification = "unknown" if len(pods) < desired else "not_ready"
            evidence.append("%s %s has %d of %d replicas ready" % (workload.get("kind"), workload.get("name"), ready, desired))
        else:
            classification = "healthy"
    rollout = workload.get("rollout") or {}
    new_revision = rollout.get("current_hash")
    new_pods = [p["name"] for p in pods if new_revision and p.get("revision_hash") == new_revision]
    failing_new = [n for n in new_pods if n in affected]
    # The rollout is to blame only when none of its pods works: one crashed pod
    # among healthy ones of the same revision is a transient fault.
    bad_rollout = bool(
        rollout.get("recent")
        and rollout.get("previous_revision")
        and failing_new
        and len(failing_new) == len(new_pods)
        and classification in ("image_pull", "config_error", "crashloop", "oom", "not_ready")
    )
    if bad_rollout:
        evidence.append(
            "revision %s rolled out %s ago fails on %s; revision %s was running before"
            % (rollout.get("revision"), ago(rollout.get("age_seconds")), ", ".join(failing_new), rollout.get("previous_revision"))
        )
    healthy_pods = sorted(n for n, c in per_pod.items() if c == "healthy")
    return {
        "classification": classification,
        "evidence": evidence[:50],
        "affected_pods": affected,
        "healthy_pods": healthy_pods,
        "pod_classifications": per_pod,
        "all_replicas_affected": bool(affected) and not healthy_pods,
        "bad_rollout": bad_rollout,
        "recommended_action": RUNBOOK_ACTIONS[classification],
    }


def plan_remediation(workload, max_replicas=10, scale_step=1):
    """Choose the runbook's action for one diagnosed workload.

    ``workload`` is an entry of ``workload_health_info``'s ``workloads``. Returns
    a dict with ``workload``, ``kind``, ``classification``, ``action`` (none,
    delete_pod, scale, rollback, escalate), ``pods`` (for delete_pod), ``replicas``
    (for scale) and ``reason``.
    """
    cls = workload.get("classification")
    name = "%s/%s" % (workload.get("kind", "Deployment"), workload.get("name"))
    plan = {"workload": workload.get("name"), "kind": workload.get("kind"), "classification": cls, "action": "none", "pods": [], "replicas": None}
    if cls == "healthy":
        return dict(plan, reason="%s is healthy" % name)
    if workload.get("bad_rollout"):
        if workload.get("kind") == "Deployment":
            return dict(plan, action="rollback", reason="the recent rollout of %s fails (%s); roll back to the previous revision" % (name, cls))
        return dict(plan, action="escalate", reason="the recent rollout of %s fails (%s); StatefulSet rollbacks are a human decision" % (name, cls))
    if cls == "resource_exhaustion":
        current = workload.get("desired") or 0
        target = min(current + max(scale_step, 1), max_replicas)
        if target <= current:
            return dict(plan, action="escalate", reason="%s is exhausted at %d replicas, the configured maximum" % (name, current))
        return dict(plan, action="scale", replicas=target, reason="%s is resource exhausted; scale from %d to %d replicas" % (name, current, target))
    if cls in ("crashloop", "oom", "not_ready"):
        affected = workload.get("affected_pods") or []
        single = (workload.get("desired") or 0) <= 1
        if affected and (not workload.get("all_replicas_affected") or single):
            reason = "%s: %s on %s; delete so the controller replaces it" % (name, cls, ", ".join(affected))
            return dict(plan, action="delete_pod", pods=affected, reason=reason)
        return dict(
            plan,
            action="escalate",
            reason="every replica of %s is failing (%s) and no recent rollout explains it: a persistent fault; "
            "deleting pods would not help. Check recent deployments and configuration changes; escalate to the development team" % (name, cls),
        )
    return dict(plan, action="escalate", reason="%s is %s: %s" % (name, cls, RUNBOOK_ACTIONS.get(cls, RUNBOOK_ACTIONS["unknown"])))


def plan_namespace(workloads, max_replicas=10, scale_step=1):
    """One plan per unhealthy workload of a diagnosis (healthy ones need none)."""
    return [plan_remediation(w, max_replicas, scale_step) for w in workloads if w.get("classification") != "healthy"]


ACTIONS = ("delete_pod", "scale", "rollback")


def action_results(results):
    """One line per action from the results of a looped workload_remediation task.

    ``results`` is the ``results`` list of the registered loop (each has ``item``,
    the plan). A failed, refused or budget-stopped action is not ok.
    """
    summary = []
    for res in results or []:
        plan = res.get("item") or {}
        if res.get("skipped"):
            continue
        exhausted = bool(res.get("budget_exhausted"))
        summary.append({
            "service": plan.get("workload"),
            "kind": plan.get("kind"),
            "action": plan.get("action"),
            "ok": not res.get("failed") and not exhausted,
            "budget_exhausted": exhausted,
            "verified": res.get("verified"),
            "msg": res.get("msg") or "",
            "steps": res.get("steps") or [],
            "unproven": res.get("unproven") or [],
        })
    return summary


def judge_outcome(plans, actions, verification=None, check_mode=False):
    """Resolve or escalate a Service Down run, and say why.

    ``plans``: plan_namespace() of the diagnosis; ``actions``: action_results();
    ``verification``: ``{"unhealthy": [names], "health_failed": [names]}`` read after
    the actions (None in check mode, where nothing is verified). Escalate when an
    action failed or was stopped by its budget, a plan is to escalate, a service is
    still unhealthy or a health endpoint fails; otherwise resolved.
    """
    failed = ["%s %s/%s: %s" % (a["action"], a["kind"], a["service"], a["msg"]) for a in actions if not a["ok"]]
    escalations = [p["reason"] for p in plans if p.get("action") == "escalate"]
    verification = verification or {}
    still_down = sorted(verification.get("unhealthy") or [])
    health_failed = sorted(verification.get("health_failed") or [])
    reasons = failed + escalations
    if still_down:
        reasons.append("still down: " + ", ".join(still_down))
    if health_failed:
        reasons.append("health check failing: " + ", ".join(health_failed))
    if check_mode:
        status = "planned"
    else:
        status = "escalated" if reasons else "resolved"
    return {
        "status": status,
        "escalate": bool(reasons),
        "reasons": reasons,
        "failed_actions": failed,
        "escalations": escalations,
        "still_down": still_down,
        "health_failed": health_failed,
        "unproven": [u for a in actions for u in a.get("unproven") or []],
        "root_cause": "; ".join(p["reason"] for p in plans),
        "resolution": ", ".join(p["action"] for p in plans) or "service found healthy",
    }
