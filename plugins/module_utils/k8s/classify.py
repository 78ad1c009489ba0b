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
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import DEFAULT_POLICY, effective_policy

CLASSIFICATIONS = (
    "healthy",
    "node_failure",
    "create_failed",
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
# A dead node explains everything its pods show, so it comes first.
PRIORITY = ("node_failure", "image_pull", "config_error", "oom", "crashloop", "unschedulable", "create_failed", "not_ready", "resource_exhaustion")

# Who gets what automation could not fix, by failure class (the owner the notifications route to):
# the incident policy's ``owners`` and ``statefulset_owners`` (module_utils/incident/severity.py),
# which an operator changes through ``incident_policy``. These are the runbook's defaults, for reading.
# StatefulSets hold the platform's data (PostgreSQL, Redis): their application faults go to the database owners.
OWNERS = dict((cls, DEFAULT_POLICY["owners"][cls]) for cls in CLASSIFICATIONS)
DATA_OWNER_CLASSES = tuple(DEFAULT_POLICY["statefulset_owners"])

# An OOM kill counts as a fault again only when the container keeps being killed:
# restarted at least this often, the last time within this many seconds.
RECURRING_RESTARTS = 2
RECURRING_WINDOW_SECONDS = 600

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
    "node_failure": "The node is not Ready or unreachable: its pods cannot be fixed one by one. Report the node and escalate "
    "to the infrastructure owner.",
    "create_failed": "The controller cannot create pods (quota, admission webhook, policy): the events name the reason. Escalate.",
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
    """Usage against limits per resource. A resource without a limit has no ratio: it can
    grow into the node, so it is never exhausted (and never a reason to scale)."""
    usage = container.get("usage") or {}
    ratios = {}
    for resource in ("cpu", "memory"):
        used = parse_quantity(usage.get(resource))
        bound = parse_quantity((container.get("limits") or {}).get(resource))
        if used is not None and bound:
            ratios[resource] = round(used / bound, 3)
    return ratios


def image_key(ref):
    """An image reference as the runtime and the spec may both write it: the container runtime reports
    ``docker.io/library/nginx:1.25`` for the spec's ``nginx:1.25``."""
    ref = (ref or "").strip()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    if ref.startswith("library/"):
        ref = ref[len("library/"):]
    name = ref.split("@", 1)[0]
    if ":" not in name.rsplit("/", 1)[-1]:
        ref = name + ":latest" + ref[len(name):]
    return ref


def owner_for(kind, classification, policy=None):
    """The team that owns a failure (development, infrastructure or database by default).

    ``classification`` is a failure class or a situation of the policy's ``owners``
    (``image_pull_local``, ``sidecar_exhaustion``); ``policy`` the operator's
    ``incident_policy`` (None: the runbook's).
    """
    policy = effective_policy(policy)
    if kind == "StatefulSet" and classification in policy["statefulset_owners"]:
        return policy["statefulset_owners"][classification]
    return policy["owners"].get(classification, policy["owners"]["default"])


def _container_findings(pod_name, c, usage_threshold):
    """(classes, evidence) for one container summary (init containers too)."""
    found, evidence = set(), []
    role = c.get("role") or "main"
    label = {"init": "init container", "native_sidecar": "sidecar (native) container", "sidecar": "sidecar container"}.get(role, "container")
    where = "pod %s %s %s" % (pod_name, label, c.get("name"))
    reason = c.get("reason") or ""
    last = c.get("last_terminated") or {}
    restarts = c.get("restart_count", 0)
    if c.get("state") == "waiting" and reason in IMAGE_PULL_REASONS:
        found.add("image_pull")
        evidence.append("%s: waiting %s for image %s" % (where, reason, c.get("image")))
    elif c.get("state") == "waiting" and reason in CONFIG_ERROR_REASONS:
        found.add("config_error")
        evidence.append("%s: waiting %s: %s" % (where, reason, c.get("message") or ""))
    oom_now = c.get("state") == "terminated" and reason == "OOMKilled"
    if last.get("reason") == "OOMKilled" or oom_now:
        recurring = restarts >= RECURRING_RESTARTS and (last.get("age_seconds") is None or last["age_seconds"] <= RECURRING_WINDOW_SECONDS)
        if oom_now or not c.get("ready") or recurring:
            found.add("oom")
            evidence.append("%s: last terminated OOMKilled (exit %s), %d restarts" % (where, last.get("exit_code", 137), restarts))
        else:
            # Ready again after an old OOM kill: evidence, not a fault, unless it recurs.
            evidence.append("%s: ready; an earlier OOM kill (%s ago, %d restarts) is not recurring"
                            % (where, ago(last.get("age_seconds")), restarts))
    elif reason in CRASH_REASONS or (last.get("exit_code") not in (None, 0) and (restarts > 0 or role == "init") and not c.get("ready")):
        found.add("crashloop")
        values = (where, reason or c.get("state"), last.get("reason"), last.get("exit_code"), restarts)
        evidence.append("%s: %s, last terminated %s (exit %s), %d restarts" % values)
    if c.get("usage") and role != "init":
        ratios = usage_ratios(c)
        for resource, ratio in sorted(ratios.items()):
            if ratio >= usage_threshold:
                found.add("resource_exhaustion")
                evidence.append("%s: %s usage at %d%% of its limit" % (where, resource, int(ratio * 100)))
        unbounded = sorted(r for r in ("cpu", "memory") if (c.get("usage") or {}).get(r) and not (c.get("limits") or {}).get(r))
        if unbounded:
            evidence.append("%s: no %s limit, so its use is reported, never judged exhausted" % (where, " or ".join(unbounded)))
    return found, evidence


def classify_pod(pod, usage_threshold=0.9):
    """Return (classification, evidence) for one pod summary."""
    name = pod.get("name", "?")
    evidence = []
    found = set()
    if pod.get("node_problem"):
        found.add("node_failure")
        evidence.append("pod %s on a failed node: %s" % (name, pod["node_problem"]))
    scheduled = (pod.get("conditions") or {}).get("PodScheduled") or {}
    if pod.get("phase") == "Pending" and scheduled.get("status") == "False":
        found.add("unschedulable")
        evidence.append("pod %s is Pending: %s %s" % (name, scheduled.get("reason") or "not scheduled", scheduled.get("message") or ""))
    hot = []
    for c in (pod.get("init_containers") or []) + (pod.get("containers") or []):
        classes, ev = _container_findings(name, c, usage_threshold)
        found |= classes
        evidence += ev
        if "resource_exhaustion" in classes:
            hot.append(c.get("role") or "main")
    if hot and all(role in ("sidecar", "native_sidecar") for role in hot):
        evidence.append("pod %s: only its sidecar is at the limit, the main container is not" % name)
    if not found and pod.get("phase") in ("Running", "Pending") and not pod.get("ready"):
        age, allowance = pod.get("age_seconds"), pod.get("startup_allowance_seconds")
        if age is not None and allowance is not None and age < allowance:
            evidence.append("pod %s is starting (%ds old, within its %ds startup allowance)" % (name, age, allowance))
            return "healthy", evidence
        ready = (pod.get("conditions") or {}).get("Ready") or {}
        if pod.get("phase") == "Running":
            found.add("not_ready")
            evidence.append("pod %s is Running but not Ready: %s" % (name, ready.get("message") or ready.get("reason") or "readiness probe failing"))
        else:
            # Stuck in Pending past its allowance: a volume that cannot mount (a missing Secret or
            # ConfigMap) is configuration; anything else (an init container that never ends) is not ready.
            mount = [e for e in pod.get("events") or [] if e.get("reason") in ("FailedMount", "FailedAttachVolume")]
            found.add("config_error" if mount else "not_ready")
            waiting = ", ".join("%s %s" % (c.get("name"), c.get("reason") or c.get("state"))
                                for c in (pod.get("init_containers") or []) + (pod.get("containers") or []) if not c.get("ready"))
            evidence.append("pod %s is still Pending after %ss (allowance %ss): %s" % (name, age, allowance, waiting or ready.get("reason") or "not started"))
    for event in pod.get("events") or []:
        evidence.append("pod %s event %s: %s" % (name, event.get("reason"), event.get("message")))
    for cls in PRIORITY:
        if cls in found:
            return cls, evidence
    if pod.get("phase") in ("Failed", "Unknown"):
        return "unknown", evidence + ["pod %s phase %s" % (name, pod.get("phase"))]
    return "healthy", evidence


def exhausted_roles(pods, names, usage_threshold):
    """Roles (main, sidecar, native_sidecar) of the containers at the limit in the named pods."""
    roles = set()
    for p in pods:
        if p["name"] in names:
            for c in p.get("containers") or []:
                if any(r >= usage_threshold for r in usage_ratios(c).values()):
                    roles.add(c.get("role") or "main")
    return roles


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
    kind_name = "%s %s" % (workload.get("kind"), workload.get("name"))
    failed_create = [e for e in workload.get("replicaset_events") or [] if e.get("reason") == "FailedCreate"]
    if classification is None:
        if desired == 0:
            # Scaled to zero on purpose: nothing is supposed to run.
            classification = "healthy"
        elif failed_create and len(pods) < desired:
            classification = "create_failed"
            evidence.append("%s has %d of %d pods: its ReplicaSet cannot create them" % (kind_name, len(pods), desired))
            evidence += ["ReplicaSet event FailedCreate: %s" % e.get("message") for e in failed_create[:3]]
        elif ready < desired and len(pods) < desired:
            # Too few pods and none of them visibly failing: the controller is not creating them.
            classification = "unknown"
            evidence.append("%s has %d of %d replicas ready" % (kind_name, ready, desired))
        else:
            # Every pod is ready (the controller's readyReplicas can lag its pods by a moment),
            # or the ones that are not are still within their startup allowance.
            classification = "healthy"
    young = sorted(p["name"] for p in pods if p["name"] in affected and p.get("age_seconds") is not None
                   and p.get("startup_allowance_seconds") is not None and p["age_seconds"] < p["startup_allowance_seconds"])
    # An image that some pods run fine is not a bad image: the others hit a node or registry problem.
    pulling = [p for p in pods if per_pod.get(p["name"]) == "image_pull"]
    # A container that runs (or ran to completion, for init containers) proves its image can be pulled,
    # whatever else is wrong with its pod.
    running_images = set(image_key(c.get("image")) for p in pods if per_pod.get(p["name"]) != "image_pull"
                         for c in (p.get("containers") or []) + (p.get("init_containers") or [])
                         if c.get("state") in ("running", "terminated") and c.get("reason") not in IMAGE_PULL_REASONS)
    image_pull_local = bool(pulling) and all(
        image_key(c.get("image")) in running_images for p in pulling for c in (p.get("containers") or []) + (p.get("init_containers") or [])
        if c.get("reason") in IMAGE_PULL_REASONS)
    if classification == "image_pull" and image_pull_local:
        evidence.append("%s: other pods run the same images, so the pull failures on %s are node- or registry-local"
                        % (kind_name, ", ".join(p["name"] for p in pulling)))
    nodes = sorted(set(p.get("node") for p in pods if per_pod.get(p["name"]) == "node_failure" and p.get("node")))
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
        "young_pods": young,
        "failed_nodes": nodes,
        "image_pull_local": image_pull_local,
        "exhausted_roles": sorted(exhausted_roles(pods, affected, usage_threshold)) if classification == "resource_exhaustion" else [],
        "pod_classifications": per_pod,
        "all_replicas_affected": bool(affected) and not healthy_pods,
        "bad_rollout": bad_rollout,
        "recommended_action": RUNBOOK_ACTIONS[classification],
    }


def plan_remediation(workload, max_replicas=10, scale_step=1, policy=None):
    """Choose the runbook's action for one diagnosed workload.

    ``workload`` is an entry of ``workload_health_info``'s ``workloads``. Returns
    a dict with ``workload``, ``kind``, ``classification``, ``action`` (none,
    delete_pod, scale, rollback, escalate), ``pods`` (for delete_pod), ``replicas``
    (for scale), ``owner`` (development, infrastructure or database: who gets it
    when automation cannot fix it), ``proposed`` (the action a GitOps-managed
    workload would have had) and ``reason``. Owners come from ``policy`` (the
    operator's ``incident_policy``; None: the runbook's).
    """
    policy = effective_policy(policy)
    cls = workload.get("classification")
    kind = workload.get("kind", "Deployment")
    name = "%s/%s" % (kind, workload.get("name"))
    plan = {"workload": workload.get("name"), "kind": kind, "classification": cls, "action": "none", "pods": [], "replicas": None,
            "owner": owner_for(kind, cls, policy), "proposed": None}
    if cls == "healthy":
        return dict(plan, reason="%s is healthy" % name)
    decided = dict(plan, **_decide(workload, name, kind, cls, max_replicas, scale_step, policy))
    gitops = workload.get("gitops")
    if gitops and decided["action"] in ACTIONS:
        # A change here would be reverted by the GitOps controller, or fight its self-heal.
        return dict(decided, action="escalate", proposed=decided["action"], pods=[], replicas=None,
                    reason="%s is managed by %s (%s): not changed here, where it would be reverted; proposed in git: %s"
                    % (name, gitops["manager"], gitops["marker"], decided["reason"]))
    return decided


def _decide(workload, name, kind, cls, max_replicas, scale_step, policy):
    """The runbook's step for an unhealthy workload: the plan fields that differ from 'none'."""
    affected = workload.get("affected_pods") or []
    young = set(workload.get("young_pods") or [])
    if cls == "node_failure":
        return {"action": "escalate", "owner": owner_for(kind, "node_failure", policy),
                "reason": "%s has pods on failed node(s) %s: a node problem, not the pods'; not evicting them one by one"
                % (name, ", ".join(workload.get("failed_nodes") or []) or "?")}
    if workload.get("bad_rollout"):
        if kind == "Deployment":
            return {"action": "rollback", "reason": "the recent rollout of %s fails (%s); roll back to the previous revision" % (name, cls)}
        return {"action": "escalate", "reason": "the recent rollout of %s fails (%s); StatefulSet rollbacks are a human decision" % (name, cls)}
    if cls == "resource_exhaustion":
        return _decide_capacity(workload, name, kind, max_replicas, scale_step, policy)
    if cls == "image_pull" and workload.get("image_pull_local"):
        candidates = [p for p in affected if p not in young]
        if candidates:
            return {"action": "delete_pod", "pods": candidates, "owner": owner_for(kind, "image_pull_local", policy),
                    "reason": "%s: image pull fails on %s while other pods run the same image (node- or registry-local); "
                    "replace those pods, they may land on a node that can pull" % (name, ", ".join(candidates))}
    if cls == "image_pull":
        return {"action": "escalate",
                "reason": "no pod of %s can pull its image and no recent rollout explains it: check the image name, tag and registry "
                "credentials (%s)" % (name, ", ".join(workload.get("images") or []))}
    if cls in ("crashloop", "oom", "not_ready"):
        single = (workload.get("desired") or 0) <= 1
        if affected and (not workload.get("all_replicas_affected") or single):
            candidates = [p for p in affected if p not in young]
            if not candidates:
                return {"action": "none", "reason": "%s: %s on %s, still within the startup allowance; not evicted"
                        % (name, cls, ", ".join(affected))}
            return {"action": "delete_pod", "pods": candidates,
                    "reason": "%s: %s on %s; delete so the controller replaces %s"
                    % (name, cls, ", ".join(candidates), "it" if len(candidates) == 1 else "them")}
        changes = ", ".join("%s %s%s" % (c["kind"], c["name"], " changed at " + c["changed_at"] if c.get("changed_at") else " is missing")
                            for c in workload.get("config_changes") or [])
        return {"action": "escalate",
                "reason": "every replica of %s is failing (%s) and no recent rollout explains it: a persistent fault; deleting pods "
                "would not help. %s; escalate to the %s owners"
                % (name, cls, ("Configuration changed since its pods started: " + changes) if changes
                   else "Check recent deployments and configuration changes", owner_for(kind, cls, policy))}
    return {"action": "escalate", "reason": "%s is %s: %s" % (name, cls, RUNBOOK_ACTIONS.get(cls, RUNBOOK_ACTIONS["unknown"]))}


def _decide_capacity(workload, name, kind, max_replicas, scale_step, policy):
    """Scale only where another replica adds capacity."""
    hpa = workload.get("hpa")
    if kind == "StatefulSet":
        return {"action": "escalate", "reason": "%s is resource exhausted; not scaled: another replica of a StatefulSet is an empty copy, "
                "not capacity. Raise its limits or move load" % name}
    if hpa:
        state = "at its maximum" if hpa.get("at_max") else "below its maximum"
        return {"action": "escalate", "reason": "%s is resource exhausted; HorizontalPodAutoscaler %s manages its replicas (min %s, max %s, "
                "current %s, %s): not scaled here; raise the HPA's maximum or the limits"
                % (name, hpa["name"], hpa.get("min"), hpa.get("max"), hpa.get("current"), state)}
    roles = workload.get("exhausted_roles") or []
    if roles and all(r in ("sidecar", "native_sidecar") for r in roles):
        return {"action": "escalate", "owner": owner_for(kind, "sidecar_exhaustion", policy),
                "reason": "%s: only its sidecar container is at its limit; more replicas bring more of the same sidecar. Raise the sidecar's limit"
                % name}
    current = workload.get("desired") or 0
    target = min(current + max(scale_step, 1), max_replicas)
    if target <= current:
        return {"action": "escalate", "reason": "%s is exhausted at %d replicas, the configured maximum" % (name, current)}
    return {"action": "scale", "replicas": target, "reason": "%s is resource exhausted; scale from %d to %d replicas" % (name, current, target)}


def plan_others(others, policy=None):
    """Plans for unhealthy pods of anything but Deployments and StatefulSets: reported, never acted on."""
    policy = effective_policy(policy)
    plans = []
    for other in others or []:
        base = {"workload": other["name"], "kind": other["kind"], "classification": other["classification"], "pods": other["pods"],
                "replicas": None, "owner": owner_for(other["kind"], other["classification"], policy), "proposed": None}
        what = "%s/%s is %s on %s" % (other["kind"], other["name"], other["classification"], ", ".join(other["pods"]))
        if other["kind"] in ("Job", "CronJob"):
            plans.append(dict(base, action="none", reason="%s; reported only: jobs are not part of Service Down" % what))
        else:
            plans.append(dict(base, action="escalate", reason="%s; not acted on: DaemonSets, Jobs, CronJobs, bare pods and Argo Rollouts "
                              "are reported, never changed" % what))
    return plans


def plan_namespace(workloads, max_replicas=10, scale_step=1, others=None, policy=None):
    """One plan per unhealthy workload of a diagnosis (healthy ones need none), then the reported others."""
    policy = effective_policy(policy)
    plans = [plan_remediation(w, max_replicas, scale_step, policy) for w in workloads if w.get("classification") != "healthy"]
    return plans + plan_others(others, policy)


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


def judge_outcome(plans, actions, verification=None, check_mode=False, policy=None):
    """Resolve or escalate a Service Down run, and say why.

    ``plans``: plan_namespace() of the diagnosis; ``actions``: action_results();
    ``verification``: ``{"unhealthy": [names], "health_failed": [names]}`` read after
    the actions (None in check mode, where nothing is verified). Escalate when an
    action failed or was stopped by its budget, a plan is to escalate, a service is
    still unhealthy, a health endpoint fails or the alert's metric is still over its
    threshold (``verification["metrics"]["verified"]`` false); otherwise resolved. A plan without an
    owner goes to ``policy``'s default owner (the operator's ``incident_policy``).
    """
    fallback = effective_policy(policy)["owners"]["default"]
    failed = ["%s %s/%s: %s" % (a["action"], a["kind"], a["service"], a["msg"]) for a in actions if not a["ok"]]
    escalations = [p["reason"] for p in plans if p.get("action") == "escalate"]
    verification = verification or {}
    still_down = sorted(verification.get("unhealthy") or [])
    health_failed = sorted(verification.get("health_failed") or [])
    reasons = failed + escalations
    if still_down:
        details = verification.get("details") or {}
        reasons.append("still down: " + "; ".join(
            "%s (%s)" % (n, "; ".join((details.get(n) or [])[:2])) if details.get(n) else n for n in still_down))
        reasons += [p["reason"] for p in plans if p.get("action") == "none" and p.get("workload") in still_down]
    failed_services = set(a["service"] for a in actions if not a["ok"])
    owners = sorted(set(
        [p.get("owner") or fallback for p in plans if p.get("action") == "escalate"]
        + [p.get("owner") or fallback for p in plans if p.get("workload") in failed_services or p.get("workload") in still_down]
        + ([fallback] if (still_down or health_failed) and not plans else [])
    ))
    if health_failed:
        reasons.append("health check failing: " + ", ".join(health_failed))
    # Kubernetes says ready but the alert's metric is still over its threshold: not restored.
    metrics = verification.get("metrics") or {}
    if metrics.get("verified") is False:
        reasons.append("metrics: %s" % metrics.get("status"))
        owners = sorted(set(owners + [p.get("owner") or fallback for p in plans] + ([] if plans else [fallback])))
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
        "owners": owners,
        "unproven": [u for a in actions for u in a.get("unproven") or []],
        "root_cause": "; ".join(p["reason"] for p in plans),
        "resolution": ", ".join(p["action"] for p in plans) or "service found healthy",
    }
