# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PromQL of each alert's evidence and recovery check, as a Jinja filter.

Documented in ``alert_queries.yml`` beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.prometheus import promql


def alert_queries(alert, namespace, services=None, cluster="", window=""):
    """``{evidence, recovery, rate_window}`` for ``alert`` in ``namespace`` (see promql.alert_queries)."""
    try:
        return promql.alert_queries(alert, namespace, services or [], cluster or "", window or "")
    except IncidentResponseError as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.alert_queries: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"alert_queries": alert_queries}
