# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cache scenario's inputs and what a cache diagnosis means, as Jinja filters.

Documented in ``cache_assessment.yml`` and ``cache_request.yml`` beside this file; the
logic lives in module_utils/redis/assess.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import assess as cache


def cache_assessment(health, policy=None, request=None):
    """Status, signal, severity, flush scope, warm-up and escalation of one redis_health_info result."""
    try:
        return cache.assess(health, policy or None, request or {})
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.cache_assessment: %s" % exc) from exc


def cache_request(request):
    """The cache scenario's inputs (flush, force, warmup, patterns), checked and normalized."""
    try:
        return cache.validate_cache_request(request)
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.cache_request: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"cache_assessment": cache_assessment, "cache_request": cache_request}
