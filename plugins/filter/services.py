# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which services a run answers for inside the namespace's incident, as Jinja filters.

Each filter is documented in the ``<filter>.yml`` file beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import services


def _need(name, value, kind):
    if not isinstance(value, kind):
        raise AnsibleFilterError("ai_orchestrator.incident_response.%s: expected a %s, got %s" % (name, kind.__name__, type(value).__name__))


def lease_split(plans, leases):
    """``{mine: [...], held: [...]}``: the plans this run acts on and those another run holds."""
    _need("lease_split", plans, list)
    if isinstance(leases, list):
        # The results of a service_lease loop, each with its item (the service).
        leases = dict((r.get("item"), r) for r in leases if isinstance(r, dict) and not r.get("skipped"))
    _need("lease_split", leases, dict)
    mine, held = services.split_by_lease(plans, leases)
    return {"mine": mine, "held": held}


def services_down(plans, run=None):
    """``{service: {status: down, action, reason, run}}`` for the plans a run answers for."""
    _need("services_down", plans, list)
    return services.services_down(plans, run)


def service_outcomes(plans, actions=None, verification=None, recorded=None, scope_service="", run=None):
    """``{service: {status: restored|escalated, ...}}`` after a run."""
    _need("service_outcomes", plans, list)
    return services.service_outcomes(plans, actions, verification, recorded, scope_service, run)


class FilterModule:
    def filters(self):
        return {
            "lease_split": lease_split,
            "services_down": services_down,
            "service_outcomes": service_outcomes,
        }
