# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Classification and decision filters; the logic lives in module_utils/k8s/classify.py and incident/severity.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify

PREFIX = "ai_orchestrator.incident_response."


def _need(name, value, kind):
    if not isinstance(value, kind):
        raise AnsibleFilterError("%s%s: expected a %s, got %s" % (PREFIX, name, kind.__name__, type(value).__name__))


def _policy(name, policy):
    """The effective incident policy from the operator's ``incident_policy`` (None or {}: the runbook's)."""
    try:
        return severity.effective_policy(policy)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("%s%s: %s" % (PREFIX, name, exc)) from exc


def classify_pod(pod, usage_threshold=0.9):
    """Classification of one pod summary from workload_health_info."""
    _need("classify_pod", pod, dict)
    return classify.classify_pod(pod, float(usage_threshold))[0]


def classify_workload(workload, pods, usage_threshold=0.9):
    """Classify a workload summary from its pods' summaries (re-run on saved reports)."""
    _need("classify_workload", workload, dict)
    _need("classify_workload", pods, list)
    return classify.classify_workload(workload, pods, float(usage_threshold))


def _bound(name, limits_bound, pods):
    """The limits bound as given (None when not), checked; a bound needs the diagnosis's pod summaries."""
    if not limits_bound:
        return None
    _need(name, limits_bound, dict)
    try:
        classify.limits_bound_spec(limits_bound)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("%s%s: %s" % (PREFIX, name, exc)) from exc
    if pods is None:
        raise AnsibleFilterError("%s%s: limits_bound needs pods, the pod summaries of the diagnosis (workload_health_info's pods), "
                                 "to read the containers' limits and usage" % (PREFIX, name))
    _need(name, pods, list)
    return limits_bound


def remediation_plan(workload, max_replicas=10, scale_step=1, policy=None, limits_bound=None, pods=None):
    """The runbook's action for one diagnosed workload: none, delete_pod, scale, rollback, raise_limits (with a bound) or escalate."""
    _need("remediation_plan", workload, dict)
    if "classification" not in workload:
        raise AnsibleFilterError(PREFIX + "remediation_plan: the workload has no classification; pass an entry of workload_health_info's workloads")
    bound = _bound("remediation_plan", limits_bound, pods)
    if bound is None:
        return classify.plan_remediation(workload, int(max_replicas), int(scale_step), _policy("remediation_plan", policy))
    return classify.plan_remediation(workload, int(max_replicas), int(scale_step), _policy("remediation_plan", policy), bound, pods)


def remediation_plans(report, max_replicas=10, scale_step=1, policy=None, limits_bound=None):
    """Plans for every unhealthy workload of a workload_health_info result."""
    _need("remediation_plans", report, dict)
    if "workloads" not in report:
        raise AnsibleFilterError(PREFIX + "remediation_plans: pass the result of workload_health_info (it has no workloads)")
    bound = _bound("remediation_plans", limits_bound, report.get("pods") or [])
    if bound is None:
        return classify.plan_namespace(report["workloads"], int(max_replicas), int(scale_step), report.get("others"),
                                       _policy("remediation_plans", policy))
    return classify.plan_namespace(report["workloads"], int(max_replicas), int(scale_step), report.get("others"),
                                   _policy("remediation_plans", policy), bound, report.get("pods") or [])


def remediation_results(results):
    """One line per action from a looped workload_remediation task's results."""
    _need("remediation_results", results, list)
    return classify.action_results(results)


def remediation_outcome(plans, actions, verification=None, check_mode=False, policy=None):
    """Resolve or escalate, with the reasons, from the plans, the actions and the verification."""
    _need("remediation_outcome", plans, list)
    _need("remediation_outcome", actions, list)
    return classify.judge_outcome(plans, actions, verification, bool(check_mode), _policy("remediation_outcome", policy))


def derive_severity(workloads, major_workloads=None, policy=None, signals=None, peers=None):
    """Severity (P0..P3), rule and reason for a list of diagnosed workloads.

    ``major_workloads`` (kept for playbooks written before the policy) replaces the
    policy's ``major_services``; ``signals`` are signal names (or ``{signal, detail}``);
    ``peers`` the readiness of workloads not diagnosed (kind, name, desired, ready).
    """
    _need("derive_severity", workloads, list)
    effective = _policy("derive_severity", policy)
    if major_workloads:
        majors = [major_workloads] if isinstance(major_workloads, str) else list(major_workloads)
        effective = _policy("derive_severity", dict(effective, major_services=majors))
    try:
        return severity.derive_severity(workloads, effective, signals or (), peers)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("%sderive_severity: %s" % (PREFIX, exc)) from exc


class FilterModule(object):
    def filters(self):
        return {
            "classify_pod": classify_pod,
            "classify_workload": classify_workload,
            "remediation_plan": remediation_plan,
            "remediation_plans": remediation_plans,
            "remediation_results": remediation_results,
            "remediation_outcome": remediation_outcome,
            "derive_severity": derive_severity,
        }
