# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Delivery dict every sender returns, and the settings and redaction they share."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import HttpResult
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import delivery as dl

SECRET = "xoxb-9876-secret-token"


def test_a_delivery_has_every_key_and_an_accepted_one_is_never_retryable():
    accepted = dl.delivery(True, retryable=True, status=202, attempts=2, waits=[1.0], ref={"dedup_key": "k"})
    assert set(accepted) == {"ok", "retryable", "status", "error", "attempts", "waits", "response", "ref"}
    assert accepted["ok"] is True and accepted["retryable"] is False
    assert accepted["waits"] == [1.0] and accepted["ref"] == {"dedup_key": "k"}
    failed = dl.delivery(False, retryable=True)
    assert failed["retryable"] is True and failed["ref"] == {} and failed["waits"] == []


def test_the_http_settings_have_the_documented_defaults():
    options = dl.http_options({}, "slack")
    assert options == {"timeout": 10.0, "retries": 3, "backoff": 1.0, "max_backoff": 30.0, "max_retry_after": 30.0,
                       "validate_certs": True, "ca_path": None}
    options = dl.http_options({"timeout": "2", "retries": "1", "validate_certs": False, "max_retry_after": None}, "slack")
    assert (options["timeout"], options["retries"], options["validate_certs"], options["max_retry_after"]) == (2.0, 1, False, 30.0)


@pytest.mark.parametrize("key, value", [("timeout", "soon"), ("retries", "many"), ("backoff", [1])])
def test_unusable_http_settings_name_the_setting(key, value):
    with pytest.raises(InvalidInput, match=r"incident_notify\.email\.%s" % key):
        dl.http_options({key: value}, "email")


def test_require_names_the_missing_setting():
    assert dl.require({"api_url": " http://x "}, "slack", "api_url") == "http://x"
    assert dl.require({"a": 1, "b": "2"}, "slack", "a", "b") == [1, "2"]
    with pytest.raises(InvalidInput, match=r"incident_notify\.slack\.token is not set"):
        dl.require({"api_url": "http://x", "token": "  "}, "slack", "api_url", "token")
    with pytest.raises(InvalidInput, match="must be a mapping"):
        dl.require(None, "slack", "token")


def test_one_line_masks_secrets_before_cutting():
    text = "first line\n  second %s line %s" % (SECRET, "x" * 400)
    line = dl.one_line(text, [SECRET], limit=60)
    assert "\n" not in line and SECRET not in line and len(line) == 60 and line.endswith("...")
    # A secret straddling the cut leaves no piece behind.
    cut = dl.one_line("a" * 50 + SECRET, [SECRET], limit=60)
    assert "xoxb" not in cut
    assert dl.one_line(None) is None


def test_small_bounds_and_redacts_a_response():
    value = {"token": SECRET, "nested": {"list": list(range(50)), "text": "y" * 2000}, "echo": "Bearer %s" % SECRET}
    out = dl.small(value, [SECRET])
    assert SECRET not in repr(out)
    assert len(out["nested"]["list"]) == 20 and len(out["nested"]["text"]) == dl.MAX_TEXT
    deep = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    assert dl.small(deep)["a"]["b"]["c"]["d"]["e"] == "..."


@pytest.mark.parametrize("kind, status, expected", [
    ("refused", None, True), ("timeout", None, True), ("connection", None, True), ("dns", None, True),
    ("tls", None, False), ("http", 429, True), ("http", 420, True), ("http", 503, True), ("http", 500, True),
    ("http", 400, False), ("http", 401, False), ("http", 404, False),
])
def test_what_a_later_run_may_retry(kind, status, expected):
    result = HttpResult("http://x")
    result.error_kind, result.status = kind, status
    assert dl.network_retryable(result) is expected


@pytest.mark.parametrize("text, found", [
    ("intro\nref incident-1/slack-update-1", True),
    ("ref incident-1/slack-update-1 (again)", True),
    ("Purpose: ref incident-1/slack-update-1.", True),
    ("intro\nref incident-1/slack-update-10", False),
    ("ref incident-1/slack-update-1.5", False),
    ("xref incident-1/slack-update-1", False),
    ("", False),
    (None, False),
])
def test_a_marker_is_found_only_as_a_whole(text, found):
    assert dl.names_marker(text, "ref incident-1/slack-update-1") is found
    assert dl.names_marker("ai-orchestrator incident incident-1-2", "ai-orchestrator incident incident-1") is False
