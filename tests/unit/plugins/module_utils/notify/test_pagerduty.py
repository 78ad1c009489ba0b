# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PagerDuty Events API v2 bodies and the errors of a refused event (no network)."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import pagerduty as pd

KEY = "0123456789abcdef0123456789abcdef"
PAYLOAD = {"summary": "api-gateway down", "source": "drill-cluster/ai-orchestrator", "severity": "critical"}


def test_severities_map_p0_to_p3_to_the_events_api_levels():
    assert pd.PD_SEVERITY == {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
    assert pd.build_payload(dict(PAYLOAD, severity="P2"))["severity"] == "warning"


def test_a_trigger_carries_the_documented_fields():
    body = pd.build_event(KEY, "trigger", "incident-1/pd", dict(PAYLOAD, component="api-gateway", custom_details={"a": 1}),
                          links=[{"href": "https://runbook"}])
    assert body == {"routing_key": KEY, "event_action": "trigger", "dedup_key": "incident-1/pd",
                    "client": "ai_orchestrator.incident_response",
                    "payload": dict(PAYLOAD, component="api-gateway", custom_details={"a": 1}),
                    "links": [{"href": "https://runbook", "text": "https://runbook"}]}


def test_acknowledge_and_resolve_send_no_payload_and_need_the_dedup_key():
    assert "payload" not in pd.build_event(KEY, "resolve", "k", PAYLOAD)
    with pytest.raises(InvalidInput, match="needs the dedup_key"):
        pd.build_event(KEY, "acknowledge", None)


def test_the_summary_is_cut_to_1024_characters_on_one_line():
    summary = pd.build_payload(dict(PAYLOAD, summary="word\n" * 400))["summary"]
    assert len(summary) == 1024 and "\n" not in summary and summary.endswith("...")


@pytest.mark.parametrize("args, message", [
    (("", "trigger", "k", PAYLOAD), "routing key is empty"),
    ((KEY, "page", "k", PAYLOAD), "event action must be one of"),
    ((KEY, "trigger", "k" * 256, PAYLOAD), "1 to 255 characters"),
    ((KEY, "trigger", "k", None), "needs a payload"),
    ((KEY, "trigger", "k", dict(PAYLOAD, source=" ")), "payload.source"),
    ((KEY, "trigger", "k", dict(PAYLOAD, severity="sev1")), "payload.severity must be one of"),
    ((KEY, "trigger", "k", dict(PAYLOAD, details="x")), "not in the Events API v2"),
])
def test_an_event_pagerduty_would_refuse_is_refused_before_sending(args, message):
    with pytest.raises(InvalidInput, match=message):
        pd.build_event(*args)


def test_a_400_answer_says_which_fields_are_wrong():
    reply = {"status": "invalid event", "message": "Event object is invalid", "errors": ["'payload.summary' is missing", "x"]}
    assert pd.rejection(400, reply) == "PagerDuty rejected the event (HTTP 400 invalid event): 'payload.summary' is missing; x"
    assert "check incident_notify.pagerduty.routing_keys" in pd.rejection(403, None)
    assert "http://pd/v2/enqueue" in pd.rejection(404, {}, "http://pd/v2/enqueue")


def test_a_missing_events_url_is_invalid_input():
    with pytest.raises(InvalidInput, match=r"incident_notify\.pagerduty\.events_url is not set"):
        pd.event({}, KEY, "trigger", "k", PAYLOAD)
