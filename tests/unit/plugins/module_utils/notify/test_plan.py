# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is told what: the severity table as messages, checked as invariants over many random incidents."""

from __future__ import annotations

import datetime
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import to_utc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import plan

POLICY = effective_policy({})
UTC = datetime.timezone.utc
# A Wednesday 10:00 UTC: inside the default business hours.
WEDNESDAY = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SERVICES = ["api-gateway", "auth-service", "workflow-service", "errors:execution-service", "latency:frontend", "postgres"]


def record(severity="P1", services=("api-gateway",), status="investigating", **extra):
    rec = {"id": "incident-2026-11-25-100000", "severity": severity, "status": status, "title": "ServiceDown: ai-orchestrator",
           "impact": "P1 major service down", "channel": "incident-2026-11-25-100000", "namespace": "ai-orchestrator",
           "cluster": "https://127.0.0.1:6443", "service": None, "opened_at": "2026-11-25T10:00:00Z", "resolved_at": None,
           "services": dict((s, {"status": "down"}) for s in services), "alert": {"name": "ServiceDown"}}
    rec.update(extra)
    return rec


def keys(messages, channel=None):
    return [m["key"] for m in messages if channel is None or m["channel"] == channel]


def random_case(rng):
    severity = rng.choice(["P0", "P1", "P2", "P3"])
    services = rng.sample(SERVICES, rng.randint(1, 4))
    customers = []
    if rng.random() < 0.7:
        for n in range(rng.randint(0, 4)):
            customers.append({"name": "c%d" % n, "email": "c%d@example.test" % n,
                              "services": rng.choice([["*"], [plan.component_of(rng.choice(SERVICES))]])})
    settings = {"statuspage": {"enabled": rng.random() < 0.5},
                "customers": {"list": customers, "multiple_min": rng.randint(1, 3), "email_enabled": rng.random() < 0.5},
                "email": {"oncall_to": ["oncall@example.test"]}}
    return record(severity, services), settings


@pytest.mark.parametrize("seed", range(200))
def test_opened_follows_the_severity_table(seed):
    rng = random.Random(seed)
    rec, settings = random_case(rng)
    level = POLICY["severities"][rec["severity"]]
    messages = plan.plan_messages(rec, "opened", POLICY, settings, now=WEDNESDAY, eta_minutes=rng.choice([None, 8]))
    assert len(keys(messages)) == len(set(keys(messages))), "a key is one message"
    # Pages first: nothing else may delay the page.
    channels = [m["channel"] for m in messages]
    assert channels[:channels.count("pagerduty")] == ["pagerduty"] * channels.count("pagerduty")
    paged = [m["content"]["target"] for m in messages if m["channel"] == "pagerduty" and m["content"]["mode"] == "page"]
    assigned = [m["content"]["target"] for m in messages if m["channel"] == "pagerduty" and m["content"]["mode"] == "assign"]
    assert paged == level["page"]
    assert assigned == ([level["assign"]] if level["assign"] else [])
    assert all(m["content"]["payload"]["severity"] == plan.PD_SEVERITY[rec["severity"]] for m in messages if m["channel"] == "pagerduty")
    assert ("slack:channel" in keys(messages)) is level["incident_channel"]
    assert any(k.startswith("email:oncall:") for k in keys(messages)) is level["email_oncall"]
    assert any(k.startswith("email:support:") for k in keys(messages)) is level["support_queue"]
    judged = plan.customers_affected(settings["customers"], plan.affected_services(rec))
    for prefix, flag, enabled in (("statuspage:", "statuspage", settings["statuspage"]["enabled"]),
                                  ("email:customer:", "customer_email", settings["customers"]["email_enabled"])):
        found = [m for m in messages if m["key"].startswith(prefix)]
        if not level[flag] or judged["multiple"] is False:
            assert not found, "only P0/P1 affecting multiple customers (or nobody knows) reach customers"
            continue
        assert found
        expected = "send" if (enabled and judged["judged"]) else "draft"
        assert set(m["gate"] for m in found) == {expected}, "never public without an explicit enable and a judgement"
    # Every Slack post carries its marker, so a rerun can find it.
    for m in messages:
        if m["channel"] == "slack" and m["action"] == "post":
            assert m["content"]["text"].endswith(plan.marker(rec["id"], m["key"]))


@pytest.mark.parametrize("severity", ["P0", "P1", "P2"])
def test_initial_status_has_severity_impact_and_eta(severity):
    rec = record(severity)
    messages = plan.plan_messages(rec, "opened", POLICY, {}, now=WEDNESDAY, eta_minutes=8)
    text = next(m for m in messages if m["key"] == "slack:initial:%s" % severity)["content"]["text"]
    assert "Severity: %s" % severity in text and "Impact: P1 major service down" in text
    assert "ETA: about 8 min (by 10:08 UTC" in text
    unknown = plan.plan_messages(rec, "opened", POLICY, {}, now=WEDNESDAY)
    assert "ETA: unknown" in next(m for m in unknown if m["key"].startswith("slack:initial"))["content"]["text"]


def test_raising_p2_to_p1_pages_although_p2_only_assigned():
    p2 = plan.plan_messages(record("P2"), "opened", POLICY, {}, now=WEDNESDAY)
    p1 = plan.plan_messages(record("P1"), "opened", POLICY, {}, now=WEDNESDAY)
    assign = next(m for m in p2 if m["channel"] == "pagerduty")
    page = next(m for m in p1 if m["channel"] == "pagerduty")
    assert assign["key"] != page["key"] and assign["content"]["dedup_key"] != page["content"]["dedup_key"]
    assert page["content"]["dedup_key"] == "incident-2026-11-25-100000", "one stable dedup key per incident"


def test_resolved_incident_is_not_announced_again():
    assert plan.plan_messages(record("P0", status="resolved"), "opened", POLICY, {}, now=WEDNESDAY) == []


def test_resolution_resolves_every_trigger_and_gives_root_cause_and_prevention():
    rec = record("P0", status="resolved", root_cause="api-gateway image tag missing", resolution="rolled back",
                 resolved_at="2026-11-25T10:20:00Z")
    opened = plan.plan_messages(record("P0"), "opened", POLICY, {"statuspage": {"enabled": True}}, now=WEDNESDAY)
    outbox = dict((m["key"], dict(m, status="sent")) for m in opened)
    resolved = plan.plan_messages(rec, "resolved", POLICY, {}, now=WEDNESDAY, outbox=outbox, prevention="pin image digests")
    triggered = sorted(m["content"]["dedup_key"] + m["content"]["target"] for m in opened if m["channel"] == "pagerduty")
    resolves = sorted(m["content"]["dedup_key"] + m["content"]["target"] for m in resolved if m["action"] == "resolve")
    assert triggered == resolves
    text = next(m for m in resolved if m["key"] == "slack:resolution")["content"]["text"]
    assert "Root cause: api-gateway image tag missing" in text and "Prevention: pin image digests" in text
    assert any(m["key"] == "statuspage:resolve" and m["content"]["status"] == "resolved" for m in resolved)


def test_escalation_goes_to_each_owner_and_mailable_workflow_owners():
    settings = {"email": {"team_to": {"database": ["dba@example.test"]}}, "pagerduty_targets": ["database"]}
    owners = [{"name": "nightly-etl", "owner": "ana@example.test"}, {"name": "chat", "owner": "team-chat"}]
    messages = plan.plan_messages(record("P1"), "escalated", POLICY, settings, now=WEDNESDAY,
                                  escalation={"teams": ["database", "development"], "reason": "restore failed",
                                              "workflow_owners": owners})
    assert keys(messages, "pagerduty") == ["pagerduty:trigger:escalation:database"], "only teams with a routing key are paged"
    assert {"slack:escalated:database", "slack:escalated:development", "email:team:database", "email:team:development",
            "email:workflow-owner:ana-example-test"} <= set(keys(messages))
    assert "team-chat" in next(m for m in messages if m["key"] == "slack:escalated:database")["content"]["text"]


def test_customers_affected_is_configuration():
    assert plan.customers_affected({}, ["api-gateway"])["judged"] is False
    listed = {"list": [{"email": "a@x.test", "services": ["api-gateway"]}, {"email": "b@x.test", "services": ["*"]},
                       {"email": "c@x.test", "services": ["frontend"]}]}
    result = plan.customers_affected(listed, ["api-gateway"])
    assert [c["email"] for c in result["affected"]] == ["a@x.test", "b@x.test"] and result["multiple"] is True
    assert plan.customers_affected(dict(listed, multiple_min=3), ["api-gateway"])["multiple"] is False


HOURS = {"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}


def _open(moment, hours):
    import zoneinfo
    local = moment.astimezone(zoneinfo.ZoneInfo(hours["timezone"]))
    return (plan._DAYS[local.weekday()] in hours["days"]
            and hours["start"] <= local.strftime("%H:%M") < hours["end"])


@pytest.mark.parametrize("seed", range(100))
def test_next_business_time_is_the_next_opening(seed):
    rng = random.Random(seed)
    now = datetime.datetime(2026, 1, 1, tzinfo=UTC) + datetime.timedelta(minutes=rng.randint(0, 365 * 24 * 60))
    due = plan.next_business_time(now, HOURS)
    assert due >= now and _open(due, HOURS)
    if _open(now, HOURS):
        assert due == now
    else:
        # No business minute between now and the opening found (DST weeks included).
        probe = now
        while probe + datetime.timedelta(minutes=15) < due:
            probe += datetime.timedelta(minutes=15)
            assert not _open(probe, HOURS)


def test_p3_outside_business_hours_is_deferred_until_the_opening():
    saturday = datetime.datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    messages = plan.plan_messages(record("P3"), "opened", POLICY, {}, now=saturday)
    support = [m for m in messages if "support" in m["key"]]
    assert support and all(m["gate"] == "defer" for m in support)
    assert to_utc(support[0]["not_before"]) == datetime.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert not any(m["channel"] == "pagerduty" for m in messages), "P3 pages nobody"


def test_bad_stage_and_update_fail_before_anything():
    with pytest.raises(InvalidInput, match="stage must be one of"):
        plan.plan_messages(record(), "paged", POLICY)
    with pytest.raises(InvalidInput, match="update needs a tag"):
        plan.plan_messages(record(), "update", POLICY, update={"text": "x"})
