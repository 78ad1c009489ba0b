# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Incident ids, channel names, the incident policy and severity precedence as Jinja filters.

Each filter is documented in the ``<filter>.yml`` file beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    incident_channel as _incident_channel,
    new_incident_id,
    to_utc,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import (
    effective_policy,
    resolve_severity,
    severity_policy as _severity_policy,
    validate_severity as _validate_severity,
)

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.request import validate_request

_FQCN = "ai_orchestrator.incident_response.%s"


def _fail(name, exc):
    return AnsibleFilterError("%s: %s" % (_FQCN % name, exc))


def incident_id(value):
    """``incident-YYYY-MM-DD-HHMMSS`` from a datetime or an ISO-8601 string (UTC)."""
    try:
        return new_incident_id(to_utc(value))
    except IncidentResponseError as exc:
        raise _fail("incident_id", exc) from exc


def incident_channel(value):
    """``#incident-YYYY-MM-DD-HHMMSS`` from an incident id."""
    try:
        return _incident_channel(value)
    except IncidentResponseError as exc:
        raise _fail("incident_channel", exc) from exc


def severity_policy(value, policy=None):
    """The policy for a severity (response time, escalation, updates, contacts), from ``incident_policy``."""
    try:
        return _severity_policy(value, policy)
    except IncidentResponseError as exc:
        raise _fail("severity_policy", exc) from exc


def incident_policy(value):
    """The effective incident policy: the operator's ``incident_policy`` deep-merged over the runbook's, checked."""
    try:
        return effective_policy(value)
    except IncidentResponseError as exc:
        raise _fail("incident_policy", exc) from exc


def incident_severity(derived, requested=None, alert=None, current=None, policy=None):
    """The incident's severity: requested wins, else the more severe of alert and derived, never below a continued one."""
    try:
        return resolve_severity(derived, requested, alert, current, policy)
    except IncidentResponseError as exc:
        raise _fail("incident_severity", exc) from exc


def validate_severity(value):
    """The canonical severity (``p1`` -> ``P1``); fails on anything but P0..P3."""
    try:
        return _validate_severity(value)
    except IncidentResponseError as exc:
        raise _fail("validate_severity", exc) from exc


def incident_request(value):
    """The scenario's common inputs (namespace, service, severity, incident_id), checked and normalized."""
    try:
        return validate_request(value)
    except IncidentResponseError as exc:
        raise _fail("incident_request", exc) from exc


class FilterModule:
    def filters(self):
        return {
            "incident_id": incident_id,
            "incident_request": incident_request,
            "incident_channel": incident_channel,
            "incident_policy": incident_policy,
            "incident_severity": incident_severity,
            "severity_policy": severity_policy,
            "validate_severity": validate_severity,
        }
