# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which services a run answers for: leases split the plans, outcomes go back into the incident."""

from __future__ import annotations

import random

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import services as flt
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import services

PLANS = [
    {"workload": "web", "action": "delete_pod", "reason": "crashloop on web-1"},
    {"workload": "db", "action": "escalate", "reason": "every replica failing"},
    {"workload": "worker", "action": "scale", "reason": "cpu at the limit"},
]


def test_a_held_service_is_left_to_its_holder_and_escalations_need_no_lease():
    leases = {"web": {"acquired": False, "held_by": {"holder": "awx-job-42", "incident_id": "incident-2026-11-27-031500"}},
              "worker": {"acquired": True, "held_by": {"holder": "me"}}}
    mine, held = services.split_by_lease(PLANS, leases)
    assert [p["workload"] for p in mine] == ["db", "worker"]
    assert held == [dict(PLANS[0], held_by=leases["web"]["held_by"])]


def test_lease_split_takes_the_results_of_a_lease_loop():
    results = [{"item": "web", "acquired": False, "held_by": {"holder": "x"}}, {"item": "worker", "acquired": True},
               {"item": "skipped-one", "skipped": True}]
    split = flt.lease_split(PLANS, results)
    assert [p["workload"] for p in split["mine"]] == ["db", "worker"]
    assert [h["workload"] for h in split["held"]] == ["web"]
    with pytest.raises(AnsibleFilterError, match="lease_split"):
        flt.lease_split("web", {})


def test_held_services_without_a_plan_are_listed_too():
    dummy, held = services.split_by_lease([], {"api": {"acquired": False, "held_by": {"holder": "h"}}})
    assert held == [{"workload": "api", "held_by": {"holder": "h"}}]


def test_outcomes_escalate_what_failed_or_is_still_down_and_restore_the_rest():
    actions = [{"service": "worker", "ok": False, "action": "scale", "msg": "budget used up"}]
    got = services.service_outcomes(PLANS, actions, {"unhealthy": ["db"]}, run="r1")
    assert {n: e["status"] for n, e in got.items()} == {"web": "restored", "db": "escalated", "worker": "escalated"}
    assert got["web"]["run"] == "r1" and got["web"]["reason"] == "healthy after delete_pod"


def test_recorded_services_found_healthy_are_restored_only_within_the_scope():
    recorded = {"web": {"status": "escalated"}, "api": {"status": "down"}, "old": {"status": "restored"}}
    whole = services.service_outcomes([], [], {"unhealthy": []}, recorded, "")
    assert whole == {"web": {"status": "restored", "action": None, "reason": "found healthy", "run": None},
                     "api": {"status": "restored", "action": None, "reason": "found healthy", "run": None}}
    scoped = services.service_outcomes([], [], {"unhealthy": []}, recorded, "api")
    assert list(scoped) == ["api"]
    still = services.service_outcomes([], [], {"unhealthy": ["web"]}, recorded, "")
    assert "web" not in still


def test_random_runs_never_report_a_held_service_and_cover_every_plan():
    """Invariant over random plans and leases: mine and held partition the services, outcomes cover mine."""
    rng = random.Random(11)
    names = ["s%d" % n for n in range(8)]
    for dummy in range(300):
        plans = [{"workload": n, "action": rng.choice(["delete_pod", "scale", "rollback", "escalate", "none"])}
                 for n in rng.sample(names, rng.randint(0, 6))]
        leases = dict((p["workload"], {"acquired": rng.random() < 0.6, "held_by": {"holder": "other"}})
                      for p in plans if p["action"] not in ("escalate", "none"))
        mine, held = services.split_by_lease(plans, leases)
        held_names = set(h["workload"] for h in held)
        assert held_names.isdisjoint(p["workload"] for p in mine)
        assert held_names | set(p["workload"] for p in mine) == set(p["workload"] for p in plans)
        assert all(not leases[n]["acquired"] for n in held_names)
        outcomes = services.service_outcomes(mine, [], {"unhealthy": rng.sample(names, 2)})
        assert set(outcomes) == set(p["workload"] for p in mine)
        assert held_names.isdisjoint(outcomes)
