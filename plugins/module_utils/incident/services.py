# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each affected service's place in the namespace's incident.

One incident covers an outage of a (cluster, namespace); several runs (one per service,
or one for the namespace) record into it. Each run reports only the services it
answered for: those it acted on (it held their lease), those it only escalated, and,
when it verified them healthy, services of the incident no other run is holding.
"""

from __future__ import annotations


def split_by_lease(plans, leases):
    """``(mine, held)``: plans this run may carry out, and the services another run holds.

    ``leases``: results of service_lease per service, ``{service: {acquired, held_by}}``.
    ``held`` lists every service whose lease was not acquired, ``{workload, held_by}`` plus
    the fields of its plan when there is one; ``mine`` the plans of the other services.
    """
    by_service = dict((p.get("workload"), p) for p in plans)
    held = [dict(by_service.get(name) or {}, workload=name, held_by=lease.get("held_by") or {})
            for name, lease in sorted(leases.items()) if not lease.get("acquired")]
    names = set(h["workload"] for h in held)
    return [p for p in plans if p.get("workload") not in names], held


def services_down(plans, run=None):
    """``{service: {status: down, action, reason, run}}`` for the plans this run answers for."""
    return dict((p["workload"], {"status": "down", "action": p.get("action"), "reason": p.get("reason"), "run": run})
                for p in plans if p.get("workload"))


def service_outcomes(plans, actions=None, verification=None, recorded=None, scope_service="", run=None):
    """``{service: {status: restored|escalated, reason, action, run}}`` after a run.

    ``plans``: the plans this run answered for (not those another run holds);
    ``actions``: remediation_results() of this run; ``verification``: what was read
    after the actions (``unhealthy`` names); ``recorded``: the incident's services so
    far; ``scope_service``: '' for a namespace-wide run.
    """
    verification = verification or {}
    unhealthy = set(verification.get("unhealthy") or [])
    failed = set(a.get("service") for a in actions or [] if not a.get("ok"))
    result = {}
    for plan in plans:
        name = plan.get("workload")
        if not name:
            continue
        bad = name in unhealthy or name in failed or plan.get("action") == "escalate"
        result[name] = {
            "status": "escalated" if bad else "restored",
            "action": plan.get("action"),
            "reason": plan.get("reason") if bad else "healthy after %s" % plan.get("action"),
            "run": run,
        }
    # Services recorded by earlier runs that this run's verification found healthy.
    for name, entry in (recorded or {}).items():
        if name in result or entry.get("status") == "restored":
            continue
        if scope_service and name != scope_service:
            continue
        if name not in unhealthy:
            result[name] = {"status": "restored", "action": None, "reason": "found healthy", "run": run}
    return result
