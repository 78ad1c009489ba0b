# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The outbox: intent before sending, result after, and what a rerun does with what it finds."""

from __future__ import annotations

import datetime
import json
import os
import threading

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as rec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import outbox as ob
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.plan import plan_messages

from notify_servers import PagerDutyServer, routing_key  # tests/integration, on the unit tests' path

INCIDENT = "incident-2026-11-28-031500"


@pytest.fixture
def store(tmp_path):
    rec.apply_update(str(tmp_path), INCIDENT, {"severity": "P1", "namespace": "shop", "services": {"api-gateway": {"status": "down"}}})
    return str(tmp_path)


def outbox(store):
    return rec.load_incident(store, INCIDENT).get("outbox") or {}


def page_message(store):
    record = rec.load_incident(store, INCIDENT)
    return [m for m in plan_messages(record, "opened", effective_policy({}), {}) if m["channel"] == "pagerduty"]


def set_entry(store, entry):
    paths = rec.incident_paths(store, INCIDENT)
    record = rec.load_incident(store, INCIDENT)
    record.setdefault("outbox", {})[entry["key"]] = entry
    rec.atomic_write(paths["record"], rec.dump_record(record))


def test_unconfigured_channels_are_recorded_with_their_text_once(store):
    record = rec.load_incident(store, INCIDENT)
    messages = plan_messages(record, "opened", effective_policy({}), {})
    first = ob.deliver(store, INCIDENT, messages, {})
    assert first["changed"] and {r["status"] for r in first["results"]} <= {"not_sent", "drafted"}
    entry = outbox(store)["slack:initial:P1"]
    assert entry["status"] == "not_sent" and "Severity: P1" in entry["content"]["text"]
    events = rec.read_timeline(rec.incident_paths(store, INCIDENT)["timeline"])
    told = [e for e in events if e["type"] == "communication"]
    assert len(told) == len(outbox(store))
    again = ob.deliver(store, INCIDENT, messages, {})
    assert not again["changed"] and again["results"] == []
    assert len([e for e in rec.read_timeline(rec.incident_paths(store, INCIDENT)["timeline"]) if e["type"] == "communication"]) == len(told)


def test_an_intent_whose_mail_sender_died_is_maybe_sent_and_never_resent(store):
    # A claim by a process that no longer exists on this host and boot.
    dead = dict(ob.this_claim(utc_now()), pid=2 ** 22 + 7, pid_start="1")
    mail = {"key": "email:oncall:opened:P1", "channel": "email", "action": "send", "target": "oncall@example.test",
            "summary": "x", "content": {"to": ["oncall@example.test"], "subject": "s", "body": "b", "kind": "oncall"},
            "gate": "send", "status": "intended", "claim": dead, "attempts": 0, "created_at": format_time(utc_now())}
    set_entry(store, mail)
    settings = {"email": {"host": "127.0.0.1", "port": 1, "sender": "x@example.test"}}
    done = ob.deliver(store, INCIDENT, [], settings)
    entry = outbox(store)[mail["key"]]
    assert entry["status"] == "maybe_sent" and "not sent again" in entry["reason"]
    assert [r["status"] for r in done["results"]] == ["maybe_sent"]
    ob.deliver(store, INCIDENT, [], settings)
    assert outbox(store)[mail["key"]]["status"] == "maybe_sent"


@pytest.mark.parametrize("age_minutes, alive", [(1, True), (30, False)])
def test_an_intent_from_another_control_node_waits_until_it_is_stale(age_minutes, alive):
    now = utc_now()
    claim = {"host": "other-node", "boot": "b", "pid": 1, "pid_start": "1",
             "at": format_time(now - datetime.timedelta(minutes=age_minutes))}
    assert ob.claim_alive(claim, now) is alive
    assert ob.claim_alive(dict(ob.this_claim(now)), now), "this process is alive"


def test_two_runs_at_once_page_once(store):
    with PagerDutyServer({"Primary on-call": routing_key("Primary on-call")}) as pd:
        pd.script("enqueue", {"status": 202, "delay": 0.5})  # the first send is slow: the second run meets its intent
        settings = {"pagerduty": {"events_url": pd.url + "/v2/enqueue", "routing_keys": dict(pd.routing_keys)},
                    "http": {"timeout": 5, "retries": 0}}
        messages = page_message(store)
        results = []
        runs = [threading.Thread(target=lambda: results.append(ob.deliver(store, INCIDENT, messages, settings))) for run in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert len(pd.calls("enqueue")) == 1
        statuses = sorted(r["status"] for done in results for r in done["results"])
        assert statuses == ["intended", "sent"], "one sends, the other sees its live claim and leaves it"


def test_a_retryable_failure_is_tried_by_the_next_runs_at_most_max_attempts(store):
    settings = {"pagerduty": {"events_url": "http://127.0.0.1:1/v2/enqueue", "routing_keys": {"Primary on-call": "k" * 32}},
                "http": {"timeout": 1, "retries": 0}}
    messages = page_message(store)
    for attempt in range(ob.MAX_ATTEMPTS + 2):
        ob.deliver(store, INCIDENT, messages, settings, sleep=lambda s: None)
    entry = outbox(store)["pagerduty:trigger:page:primary-on-call"]
    assert entry["status"] == "failed" and entry["retryable"] and entry["attempts"] == ob.MAX_ATTEMPTS
    assert "k" * 32 not in json.dumps(entry)


def test_check_mode_writes_nothing(store):
    before = os.stat(rec.incident_paths(store, INCIDENT)["record"]).st_mtime_ns
    record = rec.load_incident(store, INCIDENT)
    done = ob.deliver(store, INCIDENT, plan_messages(record, "opened", effective_policy({}), {}), {}, check_mode=True)
    assert done["results"] and all(r["status"] == "planned" for r in done["results"])
    assert os.stat(rec.incident_paths(store, INCIDENT)["record"]).st_mtime_ns == before
    assert outbox(store) == {}
