# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The database scenario's inputs, and what a database diagnosis means for the incident, as Jinja filters.

Documented in ``db_assessment.yml`` and ``db_request.yml`` beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import assess


def db_assessment(health, policy=None, relief_usage_percent=80, idle_seconds=300, restore=False, database=None):
    """Status, signal, severity, relief and escalation of one postgresql_health_info result."""
    try:
        return assess.assess(health, policy or None, relief_usage_percent, idle_seconds, bool(restore), database or None)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.db_assessment: %s" % exc) from exc


def db_request(request):
    """The database scenario's inputs (database, backup, confirm), checked and normalized."""
    try:
        return assess.validate_db_request(request)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.db_request: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"db_assessment": db_assessment, "db_request": db_request}
