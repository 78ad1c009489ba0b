# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the evidence of runbook 4 (workflow execution failures) means, as a Jinja filter.

Documented in ``workflow_assessment.yml`` beside this file; the logic lives in
module_utils/workflows/assess.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import assess as workflows


def workflow_assessment(engines, plans=None, reports=None, metrics=None, queues=None, platform_engines=None, policy=None,
                        failure_ratio=workflows.DEFAULT_FAILURE_RATIO, queue_depth=workflows.DEFAULT_QUEUE_DEPTH):
    """One verdict per engine (cause, action, owner) and the workflow scenario's decision."""
    try:
        return workflows.assess(engines, plans, reports, metrics, queues, platform_engines, policy or None,
                                float(failure_ratio), int(queue_depth))
    except (IncidentResponseError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.workflow_assessment: %s" % exc) from exc


def workflow_outcome(assessment, actions=None, verification=None, check_mode=False):
    """Per engine restored, escalated or planned, with the reasons and the owners, after the remediation."""
    try:
        return workflows.outcome(assessment, actions, verification, bool(check_mode))
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.workflow_outcome: %s" % exc) from exc


def workflow_services(assessment, outcome=None):
    """The incident's services of the workflow scenario: engine:<name> -> status and reason."""
    try:
        return workflows.incident_services(assessment, outcome)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.workflow_services: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"workflow_assessment": workflow_assessment, "workflow_outcome": workflow_outcome,
                "workflow_services": workflow_services}
