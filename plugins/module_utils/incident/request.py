# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operator's request to a scenario playbook, checked before anything is read or changed.

Every scenario takes the same common inputs (namespace, service, severity,
incident_id); this is their one set of rules, used by the playbooks through the
``incident_request`` filter.
"""

from __future__ import annotations

import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.alert import alert_scope, validate_alert
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import validate_incident_id
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import validate_severity

DEFAULT_NAMESPACE = "ai-orchestrator"
# A namespace is a DNS-1123 label; a Deployment or StatefulSet name a DNS-1123 subdomain.
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


def _text(value):
    return "" if value is None else value


def validate_request(request):
    """The normalized request: namespace, service, severity, incident_id ('' when not given), alert.

    ``alert`` (the alert that started the run, or None) is checked as untrusted input; its
    ``namespace`` and ``service`` labels fill in what the operator did not say (the
    service only with ``scope`` service, the default), and a contradiction between the
    two is refused rather than guessed.

    Raises InvalidInput (SeverityError, IncidentError for the parts they own)
    with a message that says what was expected.
    """
    if not isinstance(request, dict):
        raise InvalidInput("the request must be a dict of namespace, service, severity and incident_id")
    alert = validate_alert(request.get("alert"))
    alert_namespace, alert_service = alert_scope(alert)
    given_namespace, given_service = _text(request.get("namespace")), _text(request.get("service"))
    for name, given, labelled in (("namespace", given_namespace, alert_namespace), ("service", given_service, alert_service)):
        if given and labelled and given != labelled:
            raise InvalidInput("%s %r contradicts the alert, which is about %s %r" % (name, given, name, labelled))
    scope = _text(request.get("scope")) or "service"
    if scope not in ("service", "namespace"):
        raise InvalidInput("scope %r: expected service (the alert's service, the default) or namespace (every service)" % (scope,))
    namespace = given_namespace or alert_namespace or DEFAULT_NAMESPACE
    # scope=namespace: one run for the whole namespace's outage (Event-Driven Ansible sends one
    # run per group of alerts), so the alert's service label does not narrow the run.
    service = given_service or (alert_service if scope == "service" else "")
    severity = _text(request.get("severity"))
    incident_id = _text(request.get("incident_id"))
    for name, value in (("namespace", namespace), ("service", service), ("severity", severity), ("incident_id", incident_id)):
        if not isinstance(value, str):
            raise InvalidInput("%s must be a string, not %r" % (name, value))
    if len(namespace) > 63 or not _LABEL.match(namespace):
        raise InvalidInput("namespace %r is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)" % namespace)
    if service and (len(service) > 253 or not _SUBDOMAIN.match(service)):
        raise InvalidInput("service %r is not a Kubernetes workload name (lower-case letters, digits, '-' and '.')" % service)
    return {
        "namespace": namespace,
        "service": service,
        "severity": validate_severity(severity) if severity else "",
        "incident_id": validate_incident_id(incident_id) if incident_id else "",
        "alert": alert,
    }
