# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the evidence of runbook 2 (high error rate) and 3 (high response time) means, as Jinja filters.

Documented in ``error_rate_assessment.yml`` and its siblings beside this file; the logic
lives in module_utils/symptoms/assess.py.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common import logpatterns
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.symptoms import assess


def _run(name, function, *args):
    try:
        return function(*args)
    except (IncidentResponseError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.%s: %s" % (name, exc)) from exc


def error_rate_assessment(evidence, policy=None, threshold=assess.ERROR_RATIO, major_ratio=assess.MAJOR_FAILURE_RATIO):
    """One verdict per service over the 5xx threshold: cause, runbook step, owner."""
    return _run("error_rate_assessment", assess.error_rate, evidence, policy or None, threshold, major_ratio)


def response_time_assessment(evidence, policy=None, threshold=assess.P95_SECONDS, slow_statement_ms=assess.SLOW_STATEMENT_MS,
                             hit_rate_min=assess.HIT_RATE_MIN):
    """One verdict per service over the p95 latency threshold: cause, runbook step, owner."""
    return _run("response_time_assessment", assess.response_time, evidence, policy or None, threshold, slow_statement_ms,
                hit_rate_min)


def symptom_outcome(assessment, actions=None, verification=None, check_mode=False):
    """Per service restored, escalated or planned, after the remediation."""
    return _run("symptom_outcome", assess.outcome, assessment, actions, verification, bool(check_mode))


def symptom_services(assessment, prefix, outcome=None):
    """The incident's services of the scenario: <prefix>:<service> -> status and reason."""
    return _run("symptom_services", assess.incident_services, assessment, prefix, outcome)


def symptom_log_targets(assessment, report, max_pods=3):
    """The affected workloads' pods (ready first, at most max_pods each) whose logs to read."""
    return _run("symptom_log_targets", assess.log_targets, assessment, report, max_pods)


def symptom_log_patterns(results, match=None, top=10):
    """{workload: error patterns} of the registered results of a k8s_log loop over symptom_log_targets."""
    lines = _run("symptom_log_patterns", assess.log_lines_by_workload, results)
    try:
        return dict((workload, logpatterns.log_patterns(text, match or logpatterns.DEFAULT_MATCH, int(top)))
                    for workload, text in lines.items())
    except (re.error, ValueError, TypeError) as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.symptom_log_patterns: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"error_rate_assessment": error_rate_assessment, "response_time_assessment": response_time_assessment,
                "symptom_outcome": symptom_outcome, "symptom_services": symptom_services,
                "symptom_log_targets": symptom_log_targets, "symptom_log_patterns": symptom_log_patterns}
