# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""escalation_check's decisions on a clock the test sets: updates, acknowledgement, the escalation timeline."""

from __future__ import annotations

import datetime
import random
import threading

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import escalation as esc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as rec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_escalation as mod

from notify_servers import PagerDutyServer, SlackServer, routing_key  # tests/integration, on the unit tests' path

OPENED = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=datetime.timezone.utc)  # a Wednesday
POLICY = effective_policy({})


def at(minutes):
    return format_time(OPENED + datetime.timedelta(minutes=minutes))


def open_incident(store, severity="P2", incident_id="incident-2026-11-25-100000"):
    rec.apply_update(str(store), incident_id, {"severity": severity, "namespace": "shop", "cluster": "https://k8s.test:6443",
                                               "services": {"api-gateway": {"status": "down"}}, "status": "investigating"},
                     now=OPENED)
    return incident_id


def check(store, minutes, incident_id=None, settings=None, policy=None, check_mode=False, **extra):
    params = {"incident_dir": str(store), "incident_id": incident_id, "host": None, "cluster": None, "namespace": None,
              "policy": policy or {}, "settings": settings or {}, "now": at(minutes), "diagnosis": [], "acknowledge": None}
    params.update(extra)
    return mod.run(params, check_mode)


def decided(store, incident_id):
    return (rec.load_incident(str(store), incident_id).get("escalation") or {}).get("decided") or {}


def test_p2_unresolved_past_4_hours_is_escalated_exactly_once_across_overlapping_runs(tmp_path):
    incident_id = open_incident(tmp_path, "P2")
    with PagerDutyServer({"Team lead": routing_key("Team lead"), "Secondary on-call": routing_key("Secondary on-call")}) as pd:
        settings = {"pagerduty": {"events_url": pd.url + "/v2/enqueue", "routing_keys": dict(pd.routing_keys)},
                    "http": {"timeout": 5, "retries": 0}}
        policy = {"escalation_mode": "collection"}
        assert not [d for d in check(tmp_path, 239, settings=settings, policy=policy)["incidents"][0]["decisions"]
                    if d["kind"] == "escalate"], "not before 4 hours"
        runs = [threading.Thread(target=check, args=(tmp_path, 241 + n % 2), kwargs={"settings": settings, "policy": policy})
                for n in range(6)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        for minutes in (242, 299):
            check(tmp_path, minutes, settings=settings, policy=policy)
        escalations = [k for k in decided(tmp_path, incident_id) if k.startswith("escalate:")]
        assert escalations == ["escalate:P2:%s:Team lead" % at(0)], "decided once"
        assert [p[0] for p in pd.pages()].count(routing_key("Team lead")) == 1, "paged once"
        events = rec.read_timeline(rec.incident_paths(str(tmp_path), incident_id)["timeline"])
        assert len([e for e in events if e["type"] == "escalated" and e["data"]["to"] == "Team lead"]) == 1
        # After another hour (escalation_step_minutes) the next step of the chain.
        check(tmp_path, 301, settings=settings, policy=policy)
        assert "escalate:P2:%s:Engineering manager" % at(0) in decided(tmp_path, incident_id)


def test_p0_gets_its_30_minute_updates_and_a_missed_slot_is_not_sent_twice(tmp_path):
    incident_id = open_incident(tmp_path, "P0")
    with SlackServer(token="xoxb-1-2-escalation") as slack:
        slack.add_channel(incident_id, purpose="ai-orchestrator incident %s" % incident_id, member=True)
        channel_id = slack.channel(incident_id)["id"]
        record = rec.load_incident(str(tmp_path), incident_id)
        record["outbox"] = {"slack:channel": {"key": "slack:channel", "channel": "slack", "status": "sent",
                                              "ref": {"channel": channel_id}, "content": {}, "action": "open_channel", "target": "x"}}
        rec.atomic_write(rec.incident_paths(str(tmp_path), incident_id)["record"], rec.dump_record(record))
        settings = {"slack": {"api_url": slack.url + "/api", "token": "xoxb-1-2-escalation"}, "http": {"timeout": 5, "retries": 0}}
        readings = [{"api_server": "https://k8s.test:6443", "item": "shop",
                     "workloads": [{"name": "api-gateway", "ready": 0, "desired": 2, "classification": "crashloop"}]}]
        for minutes in (10, 29, 31, 45, 59, 61, 125):
            check(tmp_path, minutes, settings=settings, diagnosis=readings)
        updates = [m for m in slack.messages(incident_id) if m.startswith("Update on")]
        assert len(updates) == 3, "slots 1 (10:30), 2 (11:00) and 4 (12:00; slot 3 was missed, not sent late)"
        assert "Now: api-gateway 0/2 ready (crashloop)" in updates[0] and "Next step: automation is remediating" in updates[0]
        assert "ETA: unknown" in updates[0]


def test_a_resolved_incident_gets_nothing(tmp_path):
    incident_id = open_incident(tmp_path, "P1")
    rec.apply_update(str(tmp_path), incident_id, {"services": {"api-gateway": {"status": "restored"}}}, state="resolved",
                     now=OPENED + datetime.timedelta(minutes=20))
    result = check(tmp_path, 600, incident_id=incident_id)
    assert result["incidents"][0]["decisions"] == [] and result["incidents"][0]["messages"] == []
    assert check(tmp_path, 600)["incidents"] == [], "not among the open incidents"
    assert decided(tmp_path, incident_id) == {}


def test_acknowledged_in_time_pages_no_secondary_but_the_timeline_still_escalates(tmp_path):
    incident_id = open_incident(tmp_path, "P1")
    check(tmp_path, 5, incident_id=incident_id, acknowledge="alice")
    check(tmp_path, 61)
    keys = list(decided(tmp_path, incident_id))
    assert not any(k.startswith("unacknowledged:") for k in keys)
    assert any(k.startswith("escalate:P1:") and k.endswith("Team lead") for k in keys)
    assert rec.load_incident(str(tmp_path), incident_id)["acknowledged"]["by"] == "alice"


def test_not_acknowledged_within_the_response_time_goes_to_the_secondary_on_call(tmp_path):
    incident_id = open_incident(tmp_path, "P1")
    check(tmp_path, 14)
    assert not decided(tmp_path, incident_id)
    check(tmp_path, 16)
    (key,) = decided(tmp_path, incident_id)
    assert key.startswith("unacknowledged:P1:") and decided(tmp_path, incident_id)[key]["step"] == "Secondary on-call"


def test_a_severity_change_moves_the_deadlines_and_is_recorded_once(tmp_path):
    incident_id = open_incident(tmp_path, "P2")
    check(tmp_path, 100, incident_id=incident_id, acknowledge="bob")
    rec.apply_update(str(tmp_path), incident_id, {"severity": "P1"}, now=OPENED + datetime.timedelta(minutes=200))
    check(tmp_path, 201)
    check(tmp_path, 202)
    keys = list(decided(tmp_path, incident_id))
    assert len([k for k in keys if k.startswith("deadlines:P1:")]) == 1
    check(tmp_path, 259)
    assert not any(k.startswith("escalate:") for k in decided(tmp_path, incident_id)), "P1's hour counts from the raise"
    check(tmp_path, 261)
    assert "escalate:P1:%s:Team lead" % at(200) in decided(tmp_path, incident_id)


def test_check_mode_decides_and_writes_nothing(tmp_path):
    incident_id = open_incident(tmp_path, "P2")
    before = rec.incident_paths(str(tmp_path), incident_id)["record"]
    text = open(before).read()
    result = check(tmp_path, 300, check_mode=True)
    assert {d["kind"] for d in result["incidents"][0]["decisions"]} >= {"escalate", "update"}
    assert open(before).read() == text


@pytest.mark.parametrize("seed", range(60))
def test_every_deadline_is_decided_once_whatever_the_run_times(seed, tmp_path):
    rng = random.Random(seed)
    severity = rng.choice(["P0", "P1", "P2"])
    incident_id = open_incident(tmp_path, severity)
    times = sorted(rng.sample(range(1, 600), rng.randint(3, 12)))
    for minutes in times:
        check(tmp_path, minutes)
    keys = list(decided(tmp_path, incident_id))
    assert len(keys) == len(set(keys))
    record = rec.load_incident(str(tmp_path), incident_id)
    # Every deadline before the last run is decided; nothing after it.
    last = to_utc(at(times[-1]))
    for item in esc.schedule(record, [], POLICY):
        if item["kind"] == "update":
            continue
        matching = [k for k in keys if k.startswith(item["kind"])
                    and (item["kind"] != "escalate" or k.endswith(item["step"]))]
        assert bool(matching) is (item["at"] <= last), (item, keys)


def test_an_acknowledgement_in_pagerduty_is_read_back_and_stops_the_secondary_page(tmp_path):
    incident_id = open_incident(tmp_path, "P1")
    with PagerDutyServer({"Primary on-call": routing_key("Primary on-call")}) as pd:
        settings = {"pagerduty": {"events_url": pd.url + "/v2/enqueue", "routing_keys": dict(pd.routing_keys),
                                  "api_url": pd.url, "api_token": pd.api_token}, "http": {"timeout": 5, "retries": 0}}
        from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import outbox as ob
        from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.plan import plan_messages
        record = rec.load_incident(str(tmp_path), incident_id)
        pages = [m for m in plan_messages(record, "opened", POLICY, {}) if m["channel"] == "pagerduty"]
        ob.deliver(str(tmp_path), incident_id, pages, settings)
        pd.acknowledge(routing_key("Primary on-call"), incident_id, by="Alice On-call")
        check(tmp_path, 16, settings=settings)
        record = rec.load_incident(str(tmp_path), incident_id)
        assert record["acknowledged"]["by"] == "Alice On-call" and record["acknowledged"]["source"] == "pagerduty"
        assert not any(k.startswith("unacknowledged:") for k in decided(tmp_path, incident_id))
        assert pd.api_token not in str(record)
