# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runbook's severity table, escalation chain and contacts as data.

Source: incident-response runbook, sections "Incident Classification",
"Escalation Procedures" and "Communication Procedures". Everything that decides
who is paged, when, and how often updates go out reads these values, so a change
of policy is a change of this file (and its unit test) only.
"""

from __future__ import annotations

import copy

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import SeverityError

SEVERITIES = ("P0", "P1", "P2", "P3")

ESCALATION_CHAIN = (
    "Primary on-call",
    "Secondary on-call",
    "Team lead",
    "Engineering manager",
    "CTO",
)

CONTACTS = {
    "slack": "#incident-response",
    "pagerduty": "ai-orchestrator-oncall",
    "email": "oncall@ai-orchestrator.com",
}

STATUS_PAGE = "status.ai-orchestrator.com"

_POLICY = {
    "P0": {
        "severity": "P0",
        "name": "Critical",
        "summary": "Complete Service Outage",
        "definition": "Complete platform unavailability or data loss",
        "examples": ["All services down", "Database corruption", "Security breach"],
        "response_time_minutes": 5,
        "escalation": "Immediate to on-call engineer and management",
        # 0: management is paged together with the on-call engineer.
        "escalate_after_minutes": 0,
        # "management": the first management step of the chain.
        "escalate_to": "Engineering manager",
        "business_hours_only": False,
        "update_interval_minutes": 30,
        "customer_email": True,
        "statuspage": True,
    },
    "P1": {
        "severity": "P1",
        "name": "High",
        "summary": "Major Feature Unavailable",
        "definition": "Major functionality unavailable affecting multiple users",
        "examples": [
            "Workflow execution failures",
            "Authentication service down",
            "API gateway failures",
        ],
        "response_time_minutes": 15,
        "escalation": "On-call engineer, escalate to team lead if not resolved in 1 hour",
        "escalate_after_minutes": 60,
        "escalate_to": "Team lead",
        "business_hours_only": False,
        "update_interval_minutes": 30,
        "customer_email": True,
        "statuspage": True,
    },
    "P2": {
        "severity": "P2",
        "name": "Medium",
        "summary": "Degraded Performance",
        "definition": "Performance degradation or minor feature issues",
        "examples": [
            "Slow response times",
            "Intermittent failures",
            "Non-critical service degradation",
        ],
        "response_time_minutes": 60,
        "escalation": "Assigned to on-call engineer, escalate if not resolved in 4 hours",
        "escalate_after_minutes": 240,
        "escalate_to": "Team lead",
        "business_hours_only": False,
        "update_interval_minutes": 60,
        "customer_email": False,
        "statuspage": True,
    },
    "P3": {
        "severity": "P3",
        "name": "Low",
        "summary": "Minor Issues",
        "definition": "Minor issues with workarounds available",
        "examples": ["UI glitches", "Documentation issues", "Non-critical monitoring alerts"],
        "response_time_minutes": 240,
        "escalation": "Standard business hours support",
        # No timer: escalated during business hours if needed.
        "escalate_after_minutes": None,
        "escalate_to": None,
        "business_hours_only": True,
        "update_interval_minutes": None,
        "customer_email": False,
        "statuspage": False,
    },
}


def validate_severity(value):
    """Return the canonical severity (``'p1'`` -> ``'P1'``) or raise SeverityError."""
    if isinstance(value, str):
        candidate = value.strip().upper()
        if candidate in SEVERITIES:
            return candidate
    raise SeverityError(
        "invalid severity %r: expected one of %s (P0 critical outage, P1 major feature "
        "unavailable, P2 degraded performance, P3 minor issue)" % (value, ", ".join(SEVERITIES))
    )


def severity_policy(value):
    """Return a fresh copy of the policy dict of a severity, plus the chain and contacts."""
    severity = validate_severity(value)
    policy = copy.deepcopy(_POLICY[severity])
    # Customers are emailed only when several of them are affected.
    policy["customer_email_when"] = "multiple customers affected" if policy["customer_email"] else None
    policy["statuspage_url"] = STATUS_PAGE if policy["statuspage"] else None
    policy["escalation_chain"] = list(ESCALATION_CHAIN)
    policy["contacts"] = dict(CONTACTS)
    return policy


def all_policies():
    """Return the whole table, ``{'P0': {...}, ...}``."""
    return {severity: severity_policy(severity) for severity in SEVERITIES}


# Workloads whose loss makes a major feature unavailable (runbook P1 examples:
# workflow execution failures, authentication service down, API gateway failures).
MAJOR_WORKLOADS = ("api-gateway", "auth-service", "workflow-service", "execution-service", "postgres", "redis")


def derive_severity(workloads, major_workloads=MAJOR_WORKLOADS):
    """The runbook's severity for a diagnosed namespace, with the reason.

    P0: no workload has a ready replica (complete outage). P1: a major workload
    has none. P2: something is degraded but every workload still serves. P3:
    nothing is degraded.
    """
    active = [w for w in workloads if (w.get("desired") or 0) > 0]
    down = [w["name"] for w in active if not w.get("ready")]
    degraded = [w["name"] for w in workloads if w.get("classification") not in (None, "healthy")]
    if active and len(down) == len(active):
        return {"severity": "P0", "reason": "all services down: no workload has a ready replica"}
    major_down = [n for n in down if n in major_workloads]
    if major_down:
        return {"severity": "P1", "reason": "major feature unavailable: %s has no ready replica" % ", ".join(sorted(major_down))}
    if down or degraded:
        return {"severity": "P2", "reason": "degraded: %s" % ", ".join(sorted(set(down + degraded)))}
    return {"severity": "P3", "reason": "no degradation found"}
