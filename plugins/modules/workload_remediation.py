#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workload_remediation
short_description: Carry out the runbook's remediation actions on a workload, with guardrails
version_added: 0.1.0
description:
  - The actions of the runbook's "Service Down" and "Service Recovery" sections, on a Deployment
    or StatefulSet - delete a crashed pod, scale, rolling restart, roll back to the previous revision - and,
    where more replicas cannot help, raise a container's CPU or memory limit within a given maximum.
  - The hotfix of the "High Error Rate" and "High Response Time" sections - deploy a fixed image
    (O(action=set_image)), rolled back automatically when the new revision does not become healthy, or roll back
    to a known good revision (O(action=rollback) with O(to_revision)).
  - Each action is planned first (check mode reports exactly that plan), refused when it could take the
    service down, recorded in the workload's remediation history, then verified - the module waits
    until the workload is healthy again and fails, with what it saw, when it does not.
  - A remediation budget per workload (O(budget_max_actions) in O(budget_window_minutes)) stops
    automation from looping on a fault it cannot fix; the history lives in an annotation on the
    workload, so separate runs and control nodes see it.
  - The action is recorded in that history before it is carried out, by a write conditional on the
    workload's C(resourceVersion) as read when the budget was checked. Of runs acting on one workload at the
    same moment, only as many as the budget allows act; the others read the workload again, find the budget
    used up and report RV(budget_exhausted). An entry whose action the API server refused is taken back.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description:
      - Every write (eviction, scale, restart, rollback, limits and the history annotation) goes to the API server
        as a server-side dry run, so check mode proves permissions, admission and PodDisruptionBudgets too.
        Nothing waits.
      - When the server refuses the dry run itself (no permission, an admission webhook with side effects),
        the plan is still returned and RV(unproven) says what could not be proven.
  diff_mode:
    support: full
    description: Replicas, images, restart annotation, pods and container limits before and after.
options:
  namespace:
    description: Namespace of the workload. The module fails when it does not exist.
    type: str
    required: true
  action:
    description:
      - C(delete_pod) evicts the pods in O(pods) one at a time through the eviction API, so
        PodDisruptionBudgets hold, waiting for each replacement to be ready.
      - C(scale) sets the replicas through the scale subresource (O(replicas) or current plus O(scale_by)).
      - C(rollout_restart) sets the C(kubectl.kubernetes.io/restartedAt) pod-template annotation, as
        C(kubectl rollout restart) does, on O(service) or, with O(all_deployments), every Deployment.
      - C(rollback) puts back the pod template of the previous (or O(to_revision)) ReplicaSet, as
        C(kubectl rollout undo) does. Deployments only. When that revision is already the current one, nothing is
        written; with O(wait), a rollout of it still in progress is waited for.
      - C(set_image) sets the images in O(images) on the named containers of the pod template (init containers
        too) by a strategic merge patch, as C(kubectl set image) does - a rollout. Deployments only, and not one with the
        C(Recreate) strategy. With O(wait), a new revision that is not healthy within O(wait_timeout), or whose new pods
        fail, is rolled back at once to the template it replaced (as C(rollback) does, recorded in the history as a
        rollback but not refused for the budget), and the module fails naming both revisions, with RV(rolled_back).
        Containers that already run the image asked for are left alone; when all do, nothing is written.
      - C(raise_limits) sets the C(resources.limits) in O(limits) on the named containers of the pod template
        (init containers and native sidecars too) by a strategic merge patch - a rollout that replaces every pod.
        Only raises, never above O(limits_max); requests are left as they are. Refused for a Deployment with the
        C(Recreate) strategy and a StatefulSet whose update strategy is C(OnDelete) or partitioned.
    type: str
    required: true
    choices: [delete_pod, scale, rollout_restart, rollback, raise_limits, set_image]
  service:
    description:
      - Name of the service's Deployment or StatefulSet. Required unless O(all_deployments) is true.
      - The module fails, naming the Deployments and StatefulSets that exist, when there is no such workload.
      - Called O(workload) before 0.2.0; that name still works as an alias.
    type: str
    aliases: [workload]
  kind:
    description: Kind of O(service); found by looking when not set (Deployment first).
    type: str
    choices: [Deployment, StatefulSet]
  pods:
    description: Pods to delete with O(action=delete_pod); each must belong to O(service) by its ownerReferences.
    type: list
    elements: str
    default: []
  replicas:
    description: Target replicas for O(action=scale).
    type: int
  scale_by:
    description: Replicas to add for O(action=scale) when O(replicas) is not set.
    type: int
    default: 1
  max_replicas:
    description: Upper bound for O(action=scale); a larger target is refused.
    type: int
    default: 10
  allow_scale_down:
    description: Allow O(action=scale) to lower the replicas (never below 1).
    type: bool
    default: false
  all_deployments:
    description: With O(action=rollout_restart), restart every Deployment of the namespace (the runbook's Service Recovery).
    type: bool
    default: false
  min_restart_interval:
    description:
      - Minutes within which a workload restarted before is not restarted again. Makes a repeated
        run idempotent and stops restart storms. C(0) always restarts.
    type: int
    default: 10
  to_revision:
    description:
      - Revision for O(action=rollback); the one before the current when not set.
      - Kubernetes gives a revision rolled back to the next number and keeps its old one in the ReplicaSet's
        C(deployment.kubernetes.io/revision-history) annotation; a second run with the same O(to_revision) finds it
        there and changes nothing.
    type: int
  force:
    description: Roll back even when the current revision is healthy and fully rolled out.
    type: bool
    default: false
  limits:
    description:
      - New limits for O(action=raise_limits) - a dict of container names of O(service)'s pod template, each with
        C(cpu) and/or C(memory) quantities (see the examples). The C(limits) of a
        P(ai_orchestrator.incident_response.remediation_plans#filter) plan.
      - A value equal to the current limit changes nothing; a lower one, or one for a resource without a limit, is refused.
    type: dict
    version_added: 0.3.0
  images:
    description:
      - New images for O(action=set_image) - a dict of container names of O(service)'s pod template (init containers
        too), each with an image reference (a non-empty string without whitespace, e.g. C(ghcr.io/org/app:2.4.2) or
        one with a C(@sha256:) digest).
      - Ignored by the other actions; given with another action, the module fails.
    type: dict
    version_added: 0.3.0
  limits_max:
    description:
      - The highest limit O(action=raise_limits) may set, per resource (C(cpu), C(memory)); a value above it is refused,
        and so is raising a resource that has no maximum here.
      - Ignored by the other actions.
    type: dict
    version_added: 0.3.0
  wait:
    description:
      - Wait until the workload is healthy after the action and verify it.
      - With O(action=set_image), also what triggers the automatic rollback; without it the new revision is not judged.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait per workload before the action counts as failed.
    type: int
    default: 300
  metrics_timeout:
    description:
      - With O(action=scale) or O(action=raise_limits) and O(wait), seconds to wait, once the new replicas (or the
        pods with the new limits) are ready, for pod metrics sampled after that moment (metrics-server lags by its
        resolution and averaging window). Fresh usage still at or above O(usage_threshold) fails the verification -
        the step was not enough.
      - Must not be negative. Without the metrics API the scale is verified by readiness alone, and RV(usage) says so. C(0) skips the check.
    type: int
    default: 180
  usage_threshold:
    description:
      - Share of a container's limit (request when it has no limit) that counts as exhausted,
        as in M(ai_orchestrator.incident_response.workload_health_info). Above 0 and at most 1.
    type: float
    default: 0.9
  budget_max_actions:
    description: Actions allowed per workload within O(budget_window_minutes); beyond it the module acts no more and reports RV(budget_exhausted).
    type: int
    default: 3
  budget_window_minutes:
    description: Length of the remediation-budget window.
    type: int
    default: 60
  incident_id:
    description: Incident the action belongs to; recorded in the workload's remediation history.
    type: str
  reason:
    description: Why the action is taken; recorded in the workload's remediation history.
    type: str
notes:
  - The history annotation is C(incident-response.ai-orchestrator.io/remediation-history) on the
    workload's metadata; changing metadata does not start a rollout.
seealso:
  - module: ai_orchestrator.incident_response.workload_health_info
"""

EXAMPLES = r"""
- name: Delete a crashed pod (runbook 1, "If pod is crashed")
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    service: api-gateway
    action: delete_pod
    pods: [api-gateway-7d9c6f8b5-x2k4q]
    incident_id: incident-2026-11-26-031500

- name: Scale up on resource exhaustion, never beyond 8 replicas
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    service: execution-service
    action: scale
    scale_by: 2
    max_replicas: 8
    # metrics-server at its default 60 s resolution: allow time for samples taken after the scale
    metrics_timeout: 300

- name: Raise the memory limit of a StatefulSet whose pods are OOM-killed, never above 4Gi
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    service: redis
    kind: StatefulSet
    action: raise_limits
    limits:
      redis: {memory: 768Mi}
    limits_max: {memory: 4Gi, cpu: "4"}
    incident_id: incident-2026-11-26-031500

- name: Roll back a bad rollout
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    service: workflow-service
    action: rollback

- name: Hotfix - deploy the fixed image; rolled back automatically when it is not healthy within 5 minutes
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    service: api-gateway
    action: set_image
    images:
      api-gateway: ghcr.io/ai-orchestrator/api-gateway:2.4.2
    wait_timeout: 300
    incident_id: incident-2026-11-26-031500
    reason: NullPointer in WorkflowSerializer.serialize since 2.4.1-drill.3
  register: hotfix
  # On failure hotfix.rolled_back says whether the previous revision was put back.

- name: Hotfix - go back to a known good revision (a second run changes nothing)
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    service: api-gateway
    action: rollback
    to_revision: 3
    force: true

- name: Rolling restart of all services (Service Recovery)
  ai_orchestrator.incident_response.workload_remediation:
    namespace: ai-orchestrator
    action: rollout_restart
    all_deployments: true
    wait_timeout: 600
"""

RETURN = r"""
action:
  description: The action asked for.
  returned: always
  type: str
  sample: delete_pod
workloads:
  description: The workloads acted on (or that would be).
  returned: always
  type: list
  elements: str
  sample: [Deployment/api-gateway]
steps:
  description: What was done, or in check mode what would be, in order.
  returned: always
  type: list
  elements: str
  sample: ["evicted pod api-gateway-7d9c6f8b5-x2k4q", "Deployment/api-gateway healthy again: 2/2 ready, 2 updated"]
verified:
  description: True when the module waited and every workload it changed became healthy. Null when nothing was verified.
  returned: always
  type: bool
  sample: true
usage:
  description:
    - Resource use after a verified O(action=scale) or O(action=raise_limits), judged on metrics sampled after the new
      replicas (or the pods with the new limits) were ready.
  returned: when O(action=scale) or O(action=raise_limits) waited and O(metrics_timeout) is above 0
  type: dict
  contains:
    fresh:
      description: Whether metrics that recent arrived (false when the metrics API does not answer or O(metrics_timeout) passed).
      type: bool
    saturated:
      description: Containers still at or above O(usage_threshold) of a limit.
      type: list
      elements: str
    summary:
      description: One line for the timeline.
      type: str
  sample: {fresh: true, saturated: [], summary: "every pod below 90% of its limits in metrics sampled since the new replicas were ready"}
budget:
  description: Remediation budget of the workload before this action.
  returned: when a single workload is targeted
  type: dict
  contains:
    used:
      description: Actions recorded within the window.
      type: int
    max_actions:
      description: Actions allowed within the window.
      type: int
    window_minutes:
      description: Window length.
      type: int
    exhausted:
      description: Whether the budget was already used up.
      type: bool
  sample: {used: 1, max_actions: 3, window_minutes: 60, exhausted: false}
unproven:
  description: In check mode, the writes whose server-side dry run the API server refused, with its reason.
  returned: always
  type: list
  elements: str
  sample: ["PATCH /apis/apps/v1/namespaces/ai-orchestrator/deployments/n8n/scale: permission denied (403 Forbidden) ..."]
budget_exhausted:
  description:
    - True when the module did not act because the budget was used up (possibly by another run acting at the
      same moment); escalate instead.
    - With O(all_deployments), true when at least one Deployment was skipped for its budget (RV(plan) and
      RV(steps) name it and the reason); the others were restarted.
  returned: always
  type: bool
  sample: false
limits_before:
  description: With O(action=raise_limits), the pod template's limits of the containers and resources in O(limits) before the action.
  returned: when O(action=raise_limits)
  type: dict
  sample: {redis: {memory: 512Mi}}
limits_after:
  description: With O(action=raise_limits), the same limits after the action (in check mode, as they would be).
  returned: when O(action=raise_limits)
  type: dict
  sample: {redis: {memory: 768Mi}}
images_before:
  description:
    - With O(action=set_image), the images of the containers in O(images) before the action.
    - With O(action=rollback), the images of every container of the pod template before the action.
  returned: when O(action=set_image) or O(action=rollback) acted or planned (not with RV(budget_exhausted)); also in the failure of an automatic rollback
  type: dict
  sample: {api-gateway: ghcr.io/ai-orchestrator/api-gateway:2.4.1-drill.3}
images_after:
  description: The same images after the action (in check mode, as they would be; after an automatic rollback, those that were asked for).
  returned: when O(action=set_image) or O(action=rollback) acted or planned (not with RV(budget_exhausted)); also in the failure of an automatic rollback
  type: dict
  sample: {api-gateway: ghcr.io/ai-orchestrator/api-gateway:2.4.2}
previous_revision:
  description: The Deployment's revision (C(deployment.kubernetes.io/revision)) before the action.
  returned: when O(action=set_image) or O(action=rollback); also in the failure of an automatic rollback
  type: int
  sample: 3
revision:
  description:
    - The Deployment's revision when the module finished - the new one after a verified rollout; after a rollback the number
      Kubernetes gave the revision put back (the next one); the current one when nothing changed or in check mode.
    - Null when the module did not wait for the controller to number the new revision (O(wait=false)).
  returned: when O(action=set_image) or O(action=rollback); also in the failure of an automatic rollback
  type: int
  sample: 4
rolled_back:
  description:
    - True when this run put an older pod template back - O(action=rollback) that changed something (not in check mode), or
      the automatic rollback of an O(action=set_image) whose new revision was not healthy (the module then fails).
  returned: when O(action=set_image) or O(action=rollback); also in the failure of an automatic rollback
  type: bool
  sample: false
plan:
  description: The computed plan (replicas from/to, revisions and images, pods, limits and their changes).
  returned: always
  type: dict
  sample: {from: 2, to: 3}
msg:
  description: One-line outcome.
  returned: always
  type: str
  sample: "delete_pod on Deployment/api-gateway: verified healthy"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
    VerificationFailed,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import remediation as rem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.classify import usage_threshold_problem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeClient,
    cluster_argument_spec,
)


def argspec():
    spec = cluster_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        action=dict(type="str", required=True, choices=["delete_pod", "scale", "rollout_restart", "rollback", "raise_limits", "set_image"]),
        service=dict(type="str", aliases=["workload"]),
        kind=dict(type="str", choices=["Deployment", "StatefulSet"]),
        pods=dict(type="list", elements="str", default=[]),
        replicas=dict(type="int"),
        scale_by=dict(type="int", default=1),
        max_replicas=dict(type="int", default=10),
        allow_scale_down=dict(type="bool", default=False),
        all_deployments=dict(type="bool", default=False),
        min_restart_interval=dict(type="int", default=10),
        to_revision=dict(type="int"),
        force=dict(type="bool", default=False),
        limits=dict(type="dict"),
        images=dict(type="dict"),
        limits_max=dict(type="dict"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        metrics_timeout=dict(type="int", default=180),
        usage_threshold=dict(type="float", default=0.9),
        budget_max_actions=dict(type="int", default=3),
        budget_window_minutes=dict(type="int", default=60),
        incident_id=dict(type="str"),
        reason=dict(type="str"),
    )
    return spec


def validate(params):
    """Every number and combination checked before the cluster is touched."""
    problem = usage_threshold_problem(params["usage_threshold"])
    if problem:
        raise InvalidInput(problem)
    rem.check_numbers(
        wait_timeout=(params["wait_timeout"], 1),
        metrics_timeout=(params["metrics_timeout"], 0),
        scale_by=(params["scale_by"], 1),
        max_replicas=(params["max_replicas"], 1),
        min_restart_interval=(params["min_restart_interval"], 0),
        budget_max_actions=(params["budget_max_actions"], 1),
        budget_window_minutes=(params["budget_window_minutes"], 1),
        request_timeout=(params.get("request_timeout"), 1),
    )
    action = params["action"]
    if params["all_deployments"] and (action != "rollout_restart" or params["service"]):
        raise InvalidInput("all_deployments=true goes only with action=rollout_restart and no service")
    if not params["all_deployments"] and not params["service"]:
        raise InvalidInput("action %s needs service (or all_deployments=true for rollout_restart)" % action)
    if action == "raise_limits":
        rem.check_limits(params["limits"], params["limits_max"])
    elif params["limits"]:
        raise InvalidInput("limits goes only with action=raise_limits")
    if action == "set_image":
        rem.check_images(params["images"])
    elif params["images"]:
        raise InvalidInput("images goes only with action=set_image")


def run(client, params, clock=None):
    """Plan, guard, act and verify; returns the module result (without exiting).

    Check mode is the client's: a dry-run client sends every write as a server-side dry run.
    """
    validate(params)
    ws = wl.Workloads(client, params["namespace"], **({"clock": clock} if clock else {}))
    action = params["action"]
    entry = rem.history_entry(action, ws.clock.time(), params["incident_id"], params["reason"])
    result = {"action": action, "workloads": [], "steps": [], "verified": None, "budget_exhausted": False, "plan": {}}

    if params["all_deployments"]:
        wl.ensure_namespace(client, params["namespace"])
        targets = [(o, "Deployment") for o in ws.list("Deployment")]
    else:
        targets = [ws.find(params["service"], params["kind"])]

    limits = (params["budget_max_actions"], params["budget_window_minutes"])
    if len(targets) == 1:
        obj, kind = targets[0]
        budget = rem.budget(obj, limits[0], limits[1], ws.clock.time())
        if budget["exhausted"]:
            return exhausted(result, kind, obj, budget)
        result["budget"] = public_budget(budget)
    try:
        return act(ws, client, params, targets, entry, limits, result)
    except rem.BudgetExhausted as exc:
        # Another run spent the budget between our read and our write (its claim won the race).
        return exhausted(result, exc.kind, exc.obj, exc.budget)


def public_budget(budget):
    return dict((k, v) for k, v in budget.items() if k != "recent")


def exhausted(result, kind, obj, budget):
    """The result of a run that does not act because the workload's budget is used up."""
    result.update(
        budget=public_budget(budget),
        workloads=["%s/%s" % (kind, obj["metadata"]["name"])],
        budget_exhausted=True,
        msg=rem.budget_message(kind, obj["metadata"]["name"], budget),
    )
    if result["action"] in ("set_image", "rollback"):
        result.update(revisions(wl.revision(obj), None, False, False), rolled_back=False)
    return dict(result, changed=False)


def act(ws, client, params, targets, entry, limits, result):
    """Apply the action to the targets; every budget-consuming write is conditional (see remediation.claim)."""
    action = params["action"]
    check_mode = client.dry_run

    before, after = {}, {}
    verified = []
    wait, timeout = params["wait"], params["wait_timeout"]
    if action == "rollout_restart":
        def replan(kind, obj):
            return rem.plan_restart(ws, kind, obj, params["min_restart_interval"], skip_recreate=params["all_deployments"])

        plans = [(kind, obj, replan(kind, obj)) for obj, kind in targets]
        steps, waited = rem.apply_restart(ws, plans, wait, timeout, entry, limits, replan, skip_exhausted=params["all_deployments"])
        result["budget_exhausted"] = any(p.get("budget_exhausted") for k, o, p in plans)
        changed_targets = [(k, o) for k, o, p in plans if not p["skip"]]
        for k, o, p in plans:
            result["workloads"].append("%s/%s" % (k, o["metadata"]["name"]))
            result["plan"][o["metadata"]["name"]] = p["skip"] or "restart"
        for k, o in changed_targets:
            before[o["metadata"]["name"]] = {"restartedAt": rem.restarted_at_text(o)}
            after[o["metadata"]["name"]] = {"restartedAt": "now"}
        verified = [w["verified"] for w in waited.values()]
        changed = bool(changed_targets)
    else:
        obj, kind = targets[0]
        name = obj["metadata"]["name"]
        result["workloads"].append("%s/%s" % (kind, name))
        if action == "delete_pod":
            plan = rem.plan_delete_pods(ws, kind, obj, params["pods"])
            steps, waited = rem.apply_delete_pods(ws, kind, obj, plan, wait, timeout, entry, limits)
            before, after = {"pods": plan["pods"]}, {"pods": "replaced"}
            changed = True
            plan = dict((k, v) for k, v in plan.items() if k != "objects")
        elif action == "scale":
            plan = rem.plan_scale(kind, obj, params["replicas"], params["scale_by"], params["max_replicas"], params["allow_scale_down"])
            changed = plan["from"] != plan["to"]
            if changed:
                steps, waited = rem.apply_scale(ws, kind, obj, plan, wait, timeout, entry, params["metrics_timeout"], params["usage_threshold"],
                                                limits)
            else:
                steps, waited = ["%s/%s already has %d replicas" % (kind, name, plan["to"])], None
            before, after = {"replicas": plan["from"]}, {"replicas": plan["to"]}
        elif action == "raise_limits":
            def replan(current):
                return rem.plan_raise_limits(kind, current, params["limits"], params["limits_max"])

            plan = replan(obj)
            steps, waited = rem.apply_raise_limits(ws, kind, obj, plan, wait, timeout, entry, limits, replan,
                                                   params["metrics_timeout"], params["usage_threshold"])
            changed = not plan["skip"]
            if changed:
                before, after = {"limits": plan["limits_before"]}, {"limits": plan["limits_after"]}
            result.update(limits_before=plan["limits_before"], limits_after=plan["limits_after"])
            plan = dict((k, v) for k, v in plan.items() if k != "patch")
        elif action == "set_image":
            def replan(current):
                return rem.plan_set_image(kind, current, params["images"])

            plan = replan(obj)
            steps, waited = rem.apply_set_image(ws, kind, obj, plan, wait, timeout, entry, limits, replan)
            changed = not plan["skip"]
            if changed:
                before = {"revision": plan["previous_revision"], "images": plan["images_before"]}
                after = {"revision": waited["revision"] if waited else None, "images": plan["images_after"]}
            result.update(revisions(plan["previous_revision"], waited, changed, check_mode),
                          images_before=plan["images_before"], images_after=plan["images_after"], rolled_back=False)
            plan = dict((k, v) for k, v in plan.items() if k not in ("patch", "template"))
        else:
            plan = rem.plan_rollback(ws, kind, obj, params["to_revision"], params["force"])
            steps, waited = rem.apply_rollback(ws, kind, obj, plan, wait, timeout, entry, limits)
            changed = not plan["skip"]
            current_images = rem.container_images(obj["spec"]["template"])
            if changed:
                before = {"revision": plan["from_revision"], "images": plan["images_before"]}
                after = {"revision": plan["to_revision"], "images": plan["images_after"]}
            result.update(revisions(wl.revision(obj), waited, changed, check_mode), images_before=current_images,
                          images_after=rem.container_images(plan["template"]) if changed else current_images,
                          rolled_back=changed and not check_mode)
            plan = dict((k, v) for k, v in plan.items() if k not in ("template", "current"))
        result["plan"] = plan
        if waited and "usage" in waited:
            result["usage"] = waited["usage"]
        verified = [waited["verified"]] if waited else []
    result["steps"] = steps
    result["unproven"] = list(client.unproven)
    result["verified"] = all(verified) if verified else None
    result["diff"] = {"before": before, "after": after}
    if check_mode:
        outcome = "planned (check mode, server-side dry run%s)" % (
            "; not proven: %s" % "; ".join(client.unproven) if client.unproven else " passed"
        )
    else:
        outcome = "verified healthy" if result["verified"] else ("done, not verified" if changed else "nothing to do")
    result["msg"] = "%s on %s: %s" % (action, ", ".join(result["workloads"]) or "no service", outcome)
    return dict(result, changed=changed)


def revisions(previous, waited, changed, check_mode):
    """previous_revision and revision of a set_image or rollback result (see RETURN)."""
    if waited and waited.get("revision"):
        revision = waited["revision"]
    elif not changed or check_mode:
        revision = previous
    else:
        revision = None  # not waited for: the controller numbers the new revision
    return {"previous_revision": previous, "revision": revision}


def main():
    module = AnsibleModule(
        argument_spec=argspec(),
        supports_check_mode=True,
        required_if=[("action", "delete_pod", ("service", "pods")), ("action", "raise_limits", ("service", "limits", "limits_max")),
                     ("action", "set_image", ("service", "images"))],
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        validate(module.params)
        client = KubeClient.from_params(module.params, dry_run=module.check_mode)
        result = run(client, module.params)
    except VerificationFailed as exc:
        # A set_image rolled back automatically says so (rolled_back, revisions, steps).
        module.fail_json(msg=str(exc), verified=False, action=module.params["action"], **getattr(exc, "details", {}))
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
