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

import math
import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
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


# Resources whose limits raise_limits may raise, and how much by default.
LIMIT_RESOURCES = ("cpu", "memory")
DEFAULT_LIMITS_FACTOR = 1.5


def format_quantity(resource, value):
    """A quantity the API server keeps as written, rounded up (a raise never ends below its target):
    memory in whole Mi (Gi when whole), CPU in whole millicores (cores when whole)."""
    if resource == "memory":
        mebibytes = int(math.ceil(round(value / 2 ** 20, 6)))
        return "%dGi" % (mebibytes // 1024) if mebibytes % 1024 == 0 else "%dMi" % mebibytes
    millicores = int(math.ceil(round(value * 1000, 6)))
    return "%d" % (millicores // 1000) if millicores % 1000 == 0 else "%dm" % millicores


def quantity_problem(value):
    """Why a limit value is unusable (not a Kubernetes quantity above 0), or None."""
    parsed = parse_quantity(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    if parsed is None or parsed <= 0:
        return "must be a Kubernetes quantity above 0 (memory 768Mi or 4Gi, cpu 750m or 2), not %r" % (value,)
    return None


def limits_bound_spec(bound):
    """The operator's ``limits_bound``, checked: {"cpu": (value, text) or None, "memory": ..., "factor", "usage_threshold"}.

    ``memory`` / ``cpu``: the highest limit raise_limits may propose for that resource (a
    resource without a bound is never raised); ``factor`` (1.5): how much one raise
    multiplies the limit by, above 1; ``usage_threshold`` (0.9): the share of a limit
    that counts as exhausted, as given to workload_health_info.
    """
    if not isinstance(bound, dict):
        raise InvalidInput("limits_bound must be a dict (memory, cpu, factor), not %s" % type(bound).__name__)
    unknown = sorted(set(bound) - set(LIMIT_RESOURCES + ("factor", "usage_threshold")))
    if unknown:
        raise InvalidInput("limits_bound: unknown key(s) %s; it takes memory, cpu, factor and usage_threshold" % ", ".join(unknown))
    spec = {}
    for resource in LIMIT_RESOURCES:
        text = bound.get(resource)
        if text is None or text == "":
            spec[resource] = None
            continue
        problem = quantity_problem(text)
        if problem:
            raise InvalidInput("limits_bound.%s %s" % (resource, problem))
        spec[resource] = (parse_quantity(text), str(text))
    factor = bound.get("factor")
    try:
        factor = DEFAULT_LIMITS_FACTOR if factor is None or factor == "" else float(factor)
    except (TypeError, ValueError):
        raise InvalidInput("limits_bound.factor must be a number above 1 (1.5 = +50%%), not %r" % (bound.get("factor"),))
    if not factor > 1 or math.isinf(factor):
        raise InvalidInput("limits_bound.factor must be a number above 1 (1.5 = +50%%), not %r" % (bound.get("factor"),))
    threshold = bound.get("usage_threshold")
    try:
        threshold = 0.9 if threshold is None or threshold == "" else float(threshold)
    except (TypeError, ValueError):
        raise InvalidInput("limits_bound.usage_threshold must be a number, not %r" % (bound.get("usage_threshold"),))
    problem = usage_threshold_problem(threshold)
    if problem:
        raise InvalidInput("limits_bound." + problem)
    spec.update(factor=factor, usage_threshold=threshold)
    return spec


def raised_limit(resource, current, spec):
    """(new limit text, None) for one raise of a current limit text, or (None, why not)."""
    bound = spec.get(resource)
    if bound is None:
        return None, "limits_bound has no %s bound" % resource
    value = parse_quantity(current)
    if value is None:
        return None, "there is no %s limit to raise" % resource
    if value >= bound[0]:
        return None, "%s limit %s is already at or above the bound %s" % (resource, current, bound[1])
    text = format_quantity(resource, value * spec["factor"])
    return (bound[1] if parse_quantity(text) >= bound[0] else text), None


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


def plan_remediation(workload, max_replicas=10, scale_step=1, policy=None, limits_bound=None, pods=None):
    """Choose the runbook's action for one diagnosed workload.

    ``workload`` is an entry of ``workload_health_info``'s ``workloads``. Returns
    a dict with ``workload``, ``kind``, ``classification``, ``action`` (none,
    delete_pod, scale, rollback, escalate), ``pods`` (for delete_pod), ``replicas``
    (for scale), ``owner`` (development, infrastructure or database: who gets it
    when automation cannot fix it), ``proposed`` (the action a GitOps-managed
    workload would have had) and ``reason``. Owners come from ``policy`` (the
    operator's ``incident_policy``; None: the runbook's).

    ``limits_bound`` (see limits_bound_spec; None or empty: never) allows the action
    ``raise_limits`` where the runbook would otherwise escalate: every replica OOM-killed
    (memory times the factor), or resource exhaustion that more replicas cannot relieve
    (StatefulSet, HPA, the maximum replicas, only a sidecar at its limit). It needs
    ``pods``, the pod summaries of the diagnosis (its ``pods``), for the containers'
    limits and usage. With a bound every plan also has ``limits`` ({container: {cpu?,
    memory?}}, the proposed limits) and ``previous_limits`` (the limits they replace),
    both None unless the action is raise_limits.
    """
    policy = effective_policy(policy)
    bound = limits_bound_spec(limits_bound) if limits_bound else None
    cls = workload.get("classification")
    kind = workload.get("kind", "Deployment")
    name = "%s/%s" % (kind, workload.get("name"))
    plan = {"workload": workload.get("name"), "kind": kind, "classification": cls, "action": "none", "pods": [], "replicas": None,
            "owner": owner_for(kind, cls, policy), "proposed": None}
    if bound:
        plan.update(limits=None, previous_limits=None)
    if cls == "healthy":
        return dict(plan, reason="%s is healthy" % name)
    raising = {"bound": bound, "pods": _pods_of(workload, pods)} if bound else None
    decided = dict(plan, **_decide(workload, name, kind, cls, max_replicas, scale_step, policy, raising))
    gitops = workload.get("gitops")
    if gitops and decided["action"] in ACTIONS:
        # A change here would be reverted by the GitOps controller, or fight its self-heal.
        return dict(decided, action="escalate", proposed=decided["action"], pods=[], replicas=None,
                    reason="%s is managed by %s (%s): not changed here, where it would be reverted; proposed in git: %s"
                    % (name, gitops["manager"], gitops["marker"], decided["reason"]),
                    **({"limits": None, "previous_limits": None} if bound else {}))
    return decided


def _pods_of(workload, pods):
    """The summaries among ``pods`` of this workload's pods, or None when none are given."""
    if pods is None:
        return None
    names = set(workload.get("pods") or []) | set(workload.get("affected_pods") or [])
    return [p for p in pods if isinstance(p, dict) and p.get("name") in names]


def _decide(workload, name, kind, cls, max_replicas, scale_step, policy, raising=None):
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
        return _decide_capacity(workload, name, kind, max_replicas, scale_step, policy, raising)
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
        persistent = None
        if cls == "oom" and raising and workload.get("all_replicas_affected"):
            persistent = _raise_for_oom(workload, name, raising)
            if persistent.get("action") == "raise_limits":
                return persistent
        if affected and (not workload.get("all_replicas_affected") or single):
            candidates = [p for p in affected if p not in young]
            if not candidates:
                return {"action": "none", "reason": "%s: %s on %s, still within the startup allowance; not evicted"
                        % (name, cls, ", ".join(affected))}
            return {"action": "delete_pod", "pods": candidates,
                    "reason": "%s: %s on %s; delete so the controller replaces %s%s"
                    % (name, cls, ", ".join(candidates), "it" if len(candidates) == 1 else "them", _not_raised(persistent))}
        changes = ", ".join("%s %s%s" % (c["kind"], c["name"], " changed at " + c["changed_at"] if c.get("changed_at") else " is missing")
                            for c in workload.get("config_changes") or [])
        return {"action": "escalate",
                "reason": "every replica of %s is failing (%s) and no recent rollout explains it: a persistent fault; deleting pods "
                "would not help. %s; escalate to the %s owners%s"
                % (name, cls, ("Configuration changed since its pods started: " + changes) if changes
                   else "Check recent deployments and configuration changes", owner_for(kind, cls, policy), _not_raised(persistent))}
    return {"action": "escalate", "reason": "%s is %s: %s" % (name, cls, RUNBOOK_ACTIONS.get(cls, RUNBOOK_ACTIONS["unknown"]))}


def _not_raised(attempt):
    """The tail of a reason that says why limits were not raised, when raising was tried."""
    return "; limits not raised: %s" % attempt["why"] if attempt else ""


def _decide_capacity(workload, name, kind, max_replicas, scale_step, policy, raising=None):
    """Scale only where another replica adds capacity; with a limits bound, raise the limits where it does not."""
    blocked = _scale_blocked(workload, name, kind, max_replicas, scale_step, policy)
    if blocked.get("action") == "scale" or not raising:
        return blocked
    attempt = _raise_for_exhaustion(workload, name, raising)
    if attempt.get("action") == "raise_limits":
        # The sidecar's owner keeps what a raise cannot fix.
        return dict(attempt, **({"owner": blocked["owner"]} if "owner" in blocked else {}))
    return dict(blocked, reason=blocked["reason"] + _not_raised(attempt))


def _scale_blocked(workload, name, kind, max_replicas, scale_step, policy):
    """The scale plan, or the escalation that says why another replica would not help."""
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


# --- raise_limits: where more replicas cannot help, with the operator's bound ---------


def _oom_killed(container):
    last = container.get("last_terminated") or {}
    return last.get("reason") == "OOMKilled" or (container.get("state") == "terminated" and container.get("reason") == "OOMKilled")


def _all_containers(pod):
    return (pod.get("init_containers") or []) + (pod.get("containers") or [])


def _current_limits(pods, containers):
    """{container: {resource: limit text}}: the highest limit each container has in these pods."""
    current = {}
    for pod in pods:
        for c in _all_containers(pod):
            if c.get("name") not in containers:
                continue
            for resource, text in (c.get("limits") or {}).items():
                known = current.setdefault(c["name"], {}).get(resource)
                if resource in LIMIT_RESOURCES and (known is None or (parse_quantity(text) or 0) > (parse_quantity(known) or 0)):
                    current[c["name"]][resource] = text
    return current


def _raise(name, wanted, pods, bound, why):
    """The raise_limits plan for {container: [resources]}, or {"why": ...} when one of them cannot be raised.

    Every resource that needs it must be raisable: half a fix leaves the fault, spends the
    budget and fails its verification.
    """
    current = _current_limits(pods, wanted)
    limits, previous, problems, changes = {}, {}, [], []
    for container in sorted(wanted):
        for resource in sorted(wanted[container]):
            before = (current.get(container) or {}).get(resource)
            after, problem = raised_limit(resource, before, bound)
            if problem:
                problems.append("container %s: %s" % (container, problem))
                continue
            limits.setdefault(container, {})[resource] = after
            previous.setdefault(container, {})[resource] = before
            changes.append("%s %s %s -> %s" % (container, resource, before, after))
    if problems:
        return {"why": "; ".join(problems)}
    bounds = ", ".join("%s %s" % (r, bound[r][1]) for r in LIMIT_RESOURCES if any(r in wanted[c] for c in wanted))
    return {"action": "raise_limits", "limits": limits, "previous_limits": previous,
            "reason": "%s: %s; raise the limits (x%s, bound %s): %s" % (name, why, ("%g" % bound["factor"]), bounds, ", ".join(changes))}


def _rollout_refusal(workload):
    """Why new limits (a template change, so a rollout) must not be rolled out automatically, or None.

    workload_remediation refuses the same (and a partitioned StatefulSet rollout, which the summary does not show).
    """
    strategy = workload.get("strategy")
    if workload.get("kind", "Deployment") == "Deployment" and strategy == "Recreate":
        return "its Recreate strategy would stop every replica at once to roll new limits out"
    if workload.get("kind") == "StatefulSet" and strategy == "OnDelete":
        return "its OnDelete update strategy would not roll new limits out"
    return None


def _raise_for_oom(workload, name, raising):
    """Every replica OOM-killed and no rollout to blame: raise the memory of the containers killed."""
    pods = raising["pods"]
    if _rollout_refusal(workload):
        return {"why": _rollout_refusal(workload)}
    if pods is None:
        return {"why": "no pod summaries were given to read the containers' limits from"}
    names = set(workload.get("pods") or [])
    if not pods or not names <= set(p["name"] for p in pods):
        return {"why": "the pod summaries do not cover every pod of %s" % name}
    if not all(any(_oom_killed(c) for c in _all_containers(p)) for p in pods):
        return {"why": "not every replica was OOM-killed"}
    killed = sorted(set(c["name"] for p in pods for c in _all_containers(p) if _oom_killed(c)))
    why = "every replica OOM-killed (container%s %s) and no recent rollout explains it" % ("s" if len(killed) > 1 else "", ", ".join(killed))
    return _raise(name, dict((c, ["memory"]) for c in killed), pods, raising["bound"], why)


def _raise_for_exhaustion(workload, name, raising):
    """The exhausted resources of the exhausted containers (sidecars only when nothing else is)."""
    pods = raising["pods"]
    if _rollout_refusal(workload):
        return {"why": _rollout_refusal(workload)}
    if pods is None:
        return {"why": "no pod summaries were given to read the containers' limits and usage from"}
    threshold = raising["bound"]["usage_threshold"]
    affected = set(workload.get("affected_pods") or [])
    hot = {}
    for pod in pods:
        if pod["name"] not in affected:
            continue
        for c in pod.get("containers") or []:
            for resource, ratio in usage_ratios(c).items():
                if ratio >= threshold:
                    hot.setdefault((c.get("role") or "main", c["name"]), set()).add(resource)
    if not hot:
        return {"why": "no container is at %d%% of a limit in the pod summaries" % int(threshold * 100)}
    mains = dict((n, r) for (role, n), r in hot.items() if role not in ("sidecar", "native_sidecar"))
    wanted = mains or dict((n, r) for (role, n), r in hot.items())
    which = "container" if mains else "sidecar"
    why = "more replicas would not relieve it; %s%s %s at the limit" % (which, "s" if len(wanted) > 1 else "", ", ".join(sorted(wanted)))
    return _raise(name, wanted, pods, raising["bound"], why)


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


def plan_namespace(workloads, max_replicas=10, scale_step=1, others=None, policy=None, limits_bound=None, pods=None):
    """One plan per unhealthy workload of a diagnosis (healthy ones need none), then the reported others.

    ``limits_bound`` and ``pods`` (the diagnosis's pod summaries): see plan_remediation.
    """
    policy = effective_policy(policy)
    if limits_bound:
        limits_bound_spec(limits_bound)  # a bad bound fails even when no plan would use it
    plans = [plan_remediation(w, max_replicas, scale_step, policy, limits_bound, pods) for w in workloads if w.get("classification") != "healthy"]
    others = plan_others(others, policy)
    if limits_bound:
        others = [dict(p, limits=None, previous_limits=None) for p in others]
    return plans + others


ACTIONS = ("delete_pod", "scale", "rollback", "raise_limits")


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
