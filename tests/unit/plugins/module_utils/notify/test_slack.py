# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Slack's channel-name rules, the marker line and the error codes' meaning (no network)."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import slack


@pytest.mark.parametrize("incident_id, suffix, expected", [
    ("incident-2026-11-28-083555", None, "incident-2026-11-28-083555"),
    ("#Incident 2026/11/28 08:35", None, "incident-2026-11-28-08-35"),
    ("INC_42--api  gateway", 2, "inc_42-api-gateway-2"),
    ("incident-x", "-3", "incident-x-3"),
    ("Café Überfall", None, "cafe-uberfall"),
    ("--edge--", None, "edge"),
])
def test_channel_names_follow_slacks_rules(incident_id, suffix, expected):
    name = slack.channel_name(incident_id, suffix)
    assert name == expected and slack.valid_name(name)


def test_a_long_name_keeps_its_suffix_within_80_characters():
    base = "incident-" + "a" * 100
    assert len(slack.channel_name(base)) == 80
    named = slack.channel_name(base, 9)
    assert len(named) == 80 and named.endswith("a-9") and slack.valid_name(named)
    # A cut that lands on a dash does not leave "--9".
    cut = slack.channel_name("x" * 77 + "-yyyy", 2)
    assert cut == "x" * 77 + "-2"


@pytest.mark.parametrize("bad", [None, "", "   ", "###", "---", "日本"])
def test_an_id_without_letters_or_digits_cannot_name_a_channel(bad):
    with pytest.raises(InvalidInput):
        slack.channel_name(bad)


@pytest.mark.parametrize("name, ok", [("incident-1", True), ("Incident-1", False), ("a b", False), ("a" * 81, False),
                                      ("a" * 80, True), ("__", False), ("", False), ("#a", False)])
def test_valid_name(name, ok):
    assert slack.valid_name(name) is ok


def test_a_message_ends_with_its_marker_line_once():
    assert slack.with_marker("hello\n", "incident-1:slack:initial") == "hello\nref incident-1:slack:initial"
    assert slack.with_marker("hello", "ref incident-1/slack-initial") == "hello\nref incident-1/slack-initial"
    again = slack.with_marker("hello\nref incident-1/x", "ref incident-1/x")
    assert again == "hello\nref incident-1/x"
    assert slack.with_marker("", "m") == "ref m"
    long = slack.with_marker("z" * 50000, "m")
    assert long.endswith("\nref m") and len(long) < 40000


def test_the_marker_is_looked_for_in_purpose_and_topic():
    marker = "ai-orchestrator incident incident-1"
    assert slack.has_marker({"purpose": {"value": "x %s y" % marker}}, marker)
    assert slack.has_marker({"purpose": {"value": ""}, "topic": {"value": marker}}, marker)
    assert not slack.has_marker({"purpose": {"value": "ai-orchestrator incident incident-2"}}, marker)
    assert not slack.has_marker({}, marker)


@pytest.mark.parametrize("channel, is_id", [("C1000000A", True), ("G0123ABCD", True), ("general", False),
                                            ("#C1000000A", False), ("c1000000a", False)])
def test_channel_ids_are_told_from_names(channel, is_id):
    assert slack.is_channel_id(channel) is is_id


@pytest.mark.parametrize("code", ["invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"])
def test_token_errors_say_to_check_the_token_and_are_not_retried(code):
    error, retryable = slack.explain("chat.postMessage", code)
    assert error == "Slack rejected the token (%s): check incident_notify.slack.token" % code and retryable is False


@pytest.mark.parametrize("code", ["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"])
def test_server_side_errors_are_retryable(code):
    error, retryable = slack.explain("chat.postMessage", code)
    assert retryable is True and code in error


def test_other_errors_say_what_to_fix():
    assert "channels:manage" in slack.explain("conversations.create", "missing_scope", {"needed": "channels:manage"})[0]
    assert "#x" in slack.explain("chat.postMessage", "channel_not_found", subject="#x")[0]
    assert "lowercase" in slack.explain("conversations.create", "invalid_name_specials", subject="#X")[0]
    assert "workspace admin" in slack.explain("conversations.create", "restricted_action")[0]
    error, retryable = slack.explain("conversations.join", "something_new", {"detail": "why"})
    assert error == "Slack conversations.join failed (something_new): why" and retryable is False


def test_brief_keeps_what_the_timeline_needs():
    reply = {"ok": True, "channel": {"id": "C1", "name": "x", "purpose": {"value": "p"}, "members": ["U1"]}, "warning": "w"}
    assert slack.brief(reply) == {"ok": True, "channel": {"id": "C1", "name": "x"}, "warning": "w"}
    assert slack.brief({"ok": True, "channel": "C1", "ts": "1.2", "message": {"text": "t"}}) == {"ok": True, "channel": "C1", "ts": "1.2"}
    assert slack.brief(None) is None


def test_settings_and_markers_are_checked_before_anything_is_sent():
    with pytest.raises(InvalidInput, match="incident_notify.slack.token is not set"):
        slack.post({"api_url": "http://127.0.0.1:9/api"}, "C1000000A", "text", "m")
    with pytest.raises(InvalidInput, match="marker"):
        slack.open_channel({"api_url": "http://x/api", "token": "t"}, "incident-1", "")
    with pytest.raises(InvalidInput, match="channel"):
        slack.post({"api_url": "http://x/api", "token": "t"}, " ", "text", "m")
