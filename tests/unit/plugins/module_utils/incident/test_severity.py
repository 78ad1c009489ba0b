# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The severity table must say what the runbook says, value by value."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev

# Runbook "Incident Classification", "Escalation Timeline", "Communication Procedures".
EXPECTED = {
    #     response, escalate_after, escalate_to, updates, customer_email, statuspage
    "P0": (5, 0, "Engineering manager", 30, True, True),
    "P1": (15, 60, "Team lead", 30, True, True),
    "P2": (60, 240, "Team lead", 60, False, False),
    "P3": (240, None, None, None, False, False),
}

# Who hears of it (issue: P0 pages on-call and management at once, P1 pages on-call, P2 assigns
# on-call, P3 goes to business-hours support): page, assign, incident channel, on-call mail, support queue.
NOTIFIED = {
    "P0": (["Primary on-call", "Engineering manager"], None, True, True, False),
    "P1": (["Primary on-call"], None, True, True, False),
    "P2": ([], "Primary on-call", True, False, False),
    "P3": ([], None, False, False, True),
}


@pytest.mark.parametrize("level", sev.SEVERITIES)
def test_notification_table_matches_the_runbook(level):
    policy = sev.severity_policy(level)
    page, assign, channel, email, support = NOTIFIED[level]
    assert (policy["page"], policy["assign"], policy["incident_channel"], policy["email_oncall"], policy["support_queue"]) == (
        page, assign, channel, email, support)
    assert policy["statuspage_when"] == ("multiple customers affected" if policy["statuspage"] else None)


@pytest.mark.parametrize("level", sev.SEVERITIES)
def test_policy_matches_the_runbook(level):
    policy = sev.severity_policy(level)
    response, after, to, updates, email, statuspage = EXPECTED[level]
    assert policy["severity"] == level
    assert policy["response_time_minutes"] == response
    assert policy["escalate_after_minutes"] == after
    assert policy["escalate_to"] == to
    assert policy["update_interval_minutes"] == updates
    assert policy["customer_email"] is email
    assert policy["customer_email_when"] == ("multiple customers affected" if email else None)
    assert policy["statuspage"] is statuspage
    assert policy["statuspage_url"] == ("status.ai-orchestrator.com" if statuspage else None)
    assert policy["definition"] and len(policy["examples"]) == 3 and policy["escalation"]


def test_texts_are_the_runbooks():
    assert sev.severity_policy("P0")["definition"] == "Complete platform unavailability or data loss"
    assert "Database corruption" in sev.severity_policy("P0")["examples"]
    assert sev.severity_policy("P1")["escalation"].endswith("if not resolved in 1 hour")
    assert sev.severity_policy("P3")["escalation"] == "Standard business hours support"
    assert sev.severity_policy("P3")["business_hours_only"] is True
    assert not any(sev.severity_policy(s)["business_hours_only"] for s in ("P0", "P1", "P2"))


def test_chain_and_contacts():
    policy = sev.severity_policy("P1")
    assert policy["escalation_chain"] == [
        "Primary on-call", "Secondary on-call", "Team lead", "Engineering manager", "CTO",
    ]
    assert policy["contacts"] == {
        "slack": "#incident-response",
        "pagerduty": "ai-orchestrator-oncall",
        "email": "oncall@ai-orchestrator.com",
    }
    # Every escalation target is a step of the chain.
    for level in sev.SEVERITIES:
        target = sev.severity_policy(level)["escalate_to"]
        assert target is None or target in sev.ESCALATION_CHAIN


def test_response_gets_slower_with_lower_severity():
    times = [sev.severity_policy(s)["response_time_minutes"] for s in sev.SEVERITIES]
    assert times == sorted(times) and len(set(times)) == 4


@pytest.mark.parametrize("value, expected", [("P0", "P0"), ("p1", "P1"), (" P2 ", "P2"), ("p3", "P3")])
def test_validate_severity_canonicalizes(value, expected):
    assert sev.validate_severity(value) == expected


@pytest.mark.parametrize("value", ["P4", "high", "", None, 1, "P 1", "PP1", ["P1"]])
def test_validate_severity_rejects_with_the_choices(value):
    with pytest.raises(sev.SeverityError) as err:
        sev.validate_severity(value)
    assert "P0, P1, P2, P3" in str(err.value)


def test_policy_is_a_copy():
    policy = sev.severity_policy("P0")
    policy["examples"].append("changed")
    policy["contacts"]["slack"] = "#elsewhere"
    assert "changed" not in sev.severity_policy("P0")["examples"]
    assert sev.severity_policy("P0")["contacts"]["slack"] == "#incident-response"


def test_all_policies():
    assert list(sev.all_policies()) == ["P0", "P1", "P2", "P3"]


@pytest.mark.parametrize(
    "states,expected",
    [
        ({"api-gateway": 0, "auth-service": 0, "n8n": 0}, "P0"),
        ({"api-gateway": 0, "auth-service": 2, "n8n": 2}, "P1"),
        ({"api-gateway": 2, "auth-service": 2, "n8n": 0}, "P2"),
        ({"api-gateway": 2, "auth-service": 2, "n8n": 2}, "P3"),
    ],
)
def test_derive_severity(states, expected):
    workloads = [{"name": n, "desired": 2, "ready": r, "classification": "healthy" if r else "crashloop"} for n, r in states.items()]
    assert sev.derive_severity(workloads)["severity"] == expected


def test_degraded_but_serving_is_p2():
    workloads = [{"name": "api-gateway", "desired": 2, "ready": 1, "classification": "crashloop"}]
    assert sev.derive_severity(workloads)["severity"] == "P2"
