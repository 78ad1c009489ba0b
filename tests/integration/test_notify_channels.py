# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The channel senders (plugins/module_utils/notify) against loopback servers that enforce the
real APIs (notify_servers.py): Slack Web API, PagerDuty Events API v2, Statuspage REST API v1
and an SMTP server with STARTTLS and AUTH.

Waits go through a recording ``sleep``: a Retry-After of 2 s is checked without waiting it.
No secret (token, routing key, API key, password) may appear in any Delivery.
"""

from __future__ import annotations

import json
import socket

import pytest

import notify_servers as ns
from ports import free_port

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import pagerduty, slack, smtp, statuspage

# The servers' function-scoped fixtures (notify_servers.py), for the tests here.
slack_server = ns.slack_server
pagerduty_server = ns.pagerduty_server
statuspage_server = ns.statuspage_server
smtp_server = ns.smtp_server

COMMON = {"retries": 2, "backoff": 0.25, "timeout": 5}
MARKER = "ai-orchestrator incident incident-2026-11-28-083555"
INCIDENT = "incident-2026-11-28-083555"


class Sleeps(list):
    """A ``sleep`` that records instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


def no_secret_in(delivery, *secrets):
    text = json.dumps(delivery)
    for secret in secrets:
        assert secret not in text, "a secret leaked into %s" % text
    assert set(delivery) == {"ok", "retryable", "status", "error", "attempts", "waits", "response", "ref"}


# --- Slack ---------------------------------------------------------------------------------


def slack_config(server, **extra):
    return dict(ns.notify_config(slack=server, common=COMMON)["slack"], **extra)


def test_slack_opens_the_channel_once_and_a_rerun_reuses_it_by_its_marker(slack_server, sleeps):
    config = slack_config(slack_server)
    first = slack.open_channel(config, INCIDENT, MARKER, sleep=sleeps)
    assert first["ok"], first
    assert first["ref"]["name"] == INCIDENT and first["ref"]["reused"] is False
    channel = slack_server.channel(first["ref"]["channel"])
    assert MARKER in channel["purpose"]["value"] and "U0BOT" in channel["members"]

    again = slack.open_channel(config, INCIDENT, MARKER, sleep=sleeps)
    assert again["ok"] and again["ref"]["reused"] is True and again["ref"]["channel"] == first["ref"]["channel"]
    assert len([c for c in slack_server.channels.values() if c["name"].startswith(INCIDENT)]) == 1
    assert again["attempts"] == 2  # create (name_taken) + list
    no_secret_in(first, ns.SLACK_TOKEN)
    no_secret_in(again, ns.SLACK_TOKEN)
    assert sleeps == []


def test_slack_unarchives_and_joins_an_archived_channel_that_carries_the_marker(slack_server, sleeps):
    archived = slack_server.add_channel(INCIDENT, purpose="%s (opened by a previous run)" % MARKER, archived=True, member=False)
    result = slack.open_channel(slack_config(slack_server), INCIDENT, MARKER, sleep=sleeps)
    assert result["ok"], result
    assert result["ref"] == {"channel": archived, "name": INCIDENT, "reused": True, "unarchived": True, "purpose_set": True}
    channel = slack_server.channel(archived)
    assert channel["is_archived"] is False and "U0BOT" in channel["members"]
    assert [r["endpoint"] for r in slack_server.requests] == [
        "conversations.create", "conversations.list", "conversations.unarchive", "conversations.join"]


def test_slack_takes_the_next_suffix_when_the_name_belongs_to_another_channel(slack_server, sleeps):
    slack_server.add_channel(INCIDENT, purpose="someone else's channel")
    slack_server.add_channel(INCIDENT + "-2", archived=True, topic="ai-orchestrator incident incident-2025-01-01-000000")
    config = slack_config(slack_server)
    result = slack.open_channel(config, INCIDENT, MARKER, sleep=sleeps)
    assert result["ok"], result
    assert result["ref"]["name"] == INCIDENT + "-3" and result["ref"]["reused"] is False
    assert MARKER in slack_server.channel(INCIDENT + "-3")["purpose"]["value"]
    # A rerun finds its own -3 again, not a -4.
    again = slack.open_channel(config, INCIDENT, MARKER, sleep=sleeps)
    assert again["ok"] and again["ref"]["channel"] == result["ref"]["channel"] and again["ref"]["reused"] is True
    assert slack_server.channel(INCIDENT + "-4") is None


def test_slack_gives_up_when_every_suffix_is_taken_by_someone_else(slack_server, sleeps):
    for name in [INCIDENT] + ["%s-%d" % (INCIDENT, n) for n in range(2, 10)]:
        slack_server.add_channel(name, purpose="not ours")
    result = slack.open_channel(slack_config(slack_server), INCIDENT, MARKER, sleep=sleeps)
    assert not result["ok"] and not result["retryable"]
    assert "%s .. %s-9 are all taken" % (INCIDENT, INCIDENT) in result["error"]
    assert len(slack_server.calls("conversations.list")) == 1  # the listing is read once


def test_slack_post_joins_the_runbook_channel_and_posts_once_more(slack_server, sleeps):
    marker = "ref %s/slack-initial" % INCIDENT
    result = slack.post(slack_config(slack_server), "#incident-response", "P1: api-gateway is down", marker, sleep=sleeps)
    assert result["ok"], result
    assert slack_server.messages("incident-response") == ["P1: api-gateway is down\n" + marker]
    runbook = slack_server.channel("incident-response")
    assert result["ref"] == {"channel": runbook["id"], "ts": result["ref"]["ts"]} and result["ref"]["ts"]
    assert [r["endpoint"] for r in slack_server.requests] == [
        "chat.postMessage", "conversations.list", "conversations.join", "chat.postMessage"]
    assert "U0BOT" in runbook["members"]
    no_secret_in(result, ns.SLACK_TOKEN)


def test_slack_post_by_id_to_a_channel_the_bot_left(slack_server, sleeps):
    channel_id = slack_server.add_channel("war-room", member=False)
    result = slack.post(slack_config(slack_server), channel_id, "update", "incident-1:slack:update-1", sleep=sleeps)
    assert result["ok"] and result["ref"]["channel"] == channel_id
    assert slack_server.messages(channel_id) == ["update\nref incident-1:slack:update-1"]
    assert "conversations.list" not in [r["endpoint"] for r in slack_server.requests]


def test_slack_finds_a_posted_message_by_its_marker(slack_server, sleeps):
    config = slack_config(slack_server)
    opened = slack.open_channel(config, INCIDENT, MARKER, sleep=sleeps)
    channel_id = opened["ref"]["channel"]
    posted = slack.post(config, channel_id, "initial", "ref %s/slack-initial" % INCIDENT, sleep=sleeps)
    for n in range(5):
        slack.post(config, channel_id, "update %d" % n, "ref %s/slack-update-%d" % (INCIDENT, n), sleep=sleeps)
    found = slack.find_message(config, channel_id, "ref %s/slack-initial" % INCIDENT, sleep=sleeps)
    assert found["ok"] and found["ref"] == {"found": True, "ts": posted["ref"]["ts"], "channel": channel_id}
    missing = slack.find_message(config, INCIDENT, "ref %s/slack-resolved" % INCIDENT, sleep=sleeps)
    assert missing["ok"] and missing["ref"] == {"found": False, "ts": None, "channel": channel_id}
    no_secret_in(found, ns.SLACK_TOKEN)


def test_slack_find_message_joins_a_channel_it_cannot_read_yet(slack_server, sleeps):
    marker = "ref %s/slack-runbook" % INCIDENT
    config = slack_config(slack_server)
    posted = slack.post(config, "incident-response", "heads up", marker, sleep=sleeps)
    with slack_server.lock:  # the bot is a member now: it leaves
        slack_server._channels[posted["ref"]["channel"]]["members"].discard("U0BOT")
    found = slack.find_message(config, "#incident-response", marker, sleep=sleeps)
    assert found["ok"] and found["ref"]["found"] and found["ref"]["ts"] == posted["ref"]["ts"]


def test_slack_a_wrong_token_is_not_retried_and_says_which_setting(slack_server, sleeps):
    bad = "xoxb-0000-wrong-token-value"
    result = slack.post(slack_config(slack_server, token=bad), "incident-response", "x", "m", sleep=sleeps)
    assert not result["ok"] and not result["retryable"] and result["attempts"] == 1
    assert result["error"] == "Slack rejected the token (invalid_auth): check incident_notify.slack.token"
    no_secret_in(result, bad, ns.SLACK_TOKEN)


def test_slack_a_rate_limit_is_waited_out_as_retry_after_asks(slack_server, sleeps):
    slack_server.ratelimit("chat.postMessage", retry_after=2)
    channel_id = slack_server.add_channel("rate", member=True)
    result = slack.post(slack_config(slack_server), channel_id, "x", "m", sleep=sleeps)
    assert result["ok"] and result["attempts"] == 2 and result["waits"] == [2.0] and sleeps == [2.0]
    assert len(slack_server.messages(channel_id)) == 1


def test_slack_a_rate_limit_that_lasts_is_retryable(slack_server, sleeps):
    for _ in range(3):
        slack_server.ratelimit("chat.postMessage", retry_after=1)
    channel_id = slack_server.add_channel("rate", member=True)
    result = slack.post(slack_config(slack_server), channel_id, "x", "m", sleep=sleeps)
    assert not result["ok"] and result["retryable"] and result["status"] == 429 and result["waits"] == [1.0, 1.0]
    assert "rate-limited chat.postMessage after 3 attempts" in result["error"]
    assert slack_server.messages(channel_id) == []


def test_slack_a_wrong_api_url_says_so(slack_server, sleeps):
    result = slack.post(slack_config(slack_server, api_url=slack_server.url + "/wrong"), "C1000000A", "x", "m", sleep=sleeps)
    assert not result["ok"] and not result["retryable"] and "check incident_notify.slack.api_url" in result["error"]


def test_slack_an_unknown_channel_and_an_internal_error(slack_server, sleeps):
    config = slack_config(slack_server)
    unknown = slack.post(config, "no-such-channel", "x", "m", sleep=sleeps)
    assert not unknown["ok"] and not unknown["retryable"] and "#no-such-channel" in unknown["error"]
    slack_server.script("chat.postMessage", {"json": {"ok": False, "error": "internal_error"}})
    channel_id = slack_server.add_channel("flaky", member=True)
    flaky = slack.post(config, channel_id, "x", "m", sleep=sleeps)
    assert not flaky["ok"] and flaky["retryable"] and "internal_error" in flaky["error"]


# --- PagerDuty ------------------------------------------------------------------------------


def pd_config(server, **extra):
    return dict(ns.notify_config(pagerduty=server, common=COMMON)["pagerduty"], **extra)


PAYLOAD = {"summary": "P1 api-gateway: 0 of 3 replicas ready", "source": "ai-orchestrator/api-gateway", "severity": "P1",
           "component": "api-gateway", "custom_details": {"incident": INCIDENT}}


def test_pagerduty_a_503_is_retried_once_and_the_event_is_sent_once(pagerduty_server, sleeps):
    key = ns.routing_key("Primary on-call")
    pagerduty_server.script("enqueue", {"status": 503, "body": "upstream unavailable"})
    result = pagerduty.event(pd_config(pagerduty_server), key, "trigger", INCIDENT + "/pd-primary", PAYLOAD, sleep=sleeps)
    assert result["ok"] and result["status"] == 202 and result["attempts"] == 2 and result["waits"] == [0.25]
    assert result["ref"] == {"dedup_key": INCIDENT + "/pd-primary", "action": "trigger"}
    assert pagerduty_server.pages() == [(key, INCIDENT + "/pd-primary")]
    assert len(pagerduty_server.events) == 1 and pagerduty_server.events[0]["event"]["payload"]["severity"] == "error"
    no_secret_in(result, key)


def test_pagerduty_honours_retry_after_on_429(pagerduty_server, sleeps):
    key = ns.routing_key("development")
    pagerduty_server.script("enqueue", {"status": 429, "headers": {"Retry-After": "2"}})
    result = pagerduty.event(pd_config(pagerduty_server), key, "trigger", INCIDENT + "/pd-dev", PAYLOAD, sleep=sleeps)
    assert result["ok"] and result["waits"] == [2.0] and sleeps == [2.0] and result["attempts"] == 2
    assert len(pagerduty_server.pages()) == 1


def test_pagerduty_a_400_is_not_retried_and_names_the_problem(pagerduty_server, sleeps):
    unknown = "ffffffffffffffffffffffffffffffff"
    result = pagerduty.event(pd_config(pagerduty_server), unknown, "trigger", INCIDENT + "/pd-x", PAYLOAD, sleep=sleeps)
    assert not result["ok"] and not result["retryable"] and result["status"] == 400 and result["attempts"] == 1
    assert result["error"] == "PagerDuty rejected the event (HTTP 400 invalid event): Invalid routing key"
    assert result["response"]["errors"] == ["Invalid routing key"] and sleeps == []
    no_secret_in(result, unknown)
    short = "0123456789"
    wrong = pagerduty.event(pd_config(pagerduty_server), short, "trigger", "k", PAYLOAD, sleep=sleeps)
    assert not wrong["ok"] and "wrong length" in wrong["error"]
    no_secret_in(wrong, short)


def test_pagerduty_a_rerun_pages_nobody_twice_and_resolve_closes_the_alert(pagerduty_server, sleeps):
    key, dedup = ns.routing_key("Primary on-call"), INCIDENT + "/pd-primary"
    config = pd_config(pagerduty_server)
    for _ in range(2):
        assert pagerduty.event(config, key, "trigger", dedup, PAYLOAD, sleep=sleeps)["ok"]
    assert pagerduty_server.pages() == [(key, dedup)]
    resolved = pagerduty.event(config, key, "resolve", dedup, sleep=sleeps)
    assert resolved["ok"] and pagerduty_server.alerts[(key, dedup)]["status"] == "resolved"
    assert "payload" not in pagerduty_server.events[-1]["event"]


def test_pagerduty_5xx_that_lasts_is_retryable(pagerduty_server, sleeps):
    key = ns.routing_key("database")
    pagerduty_server.script("enqueue", {"status": 500}, {"status": 502}, {"status": 503})
    result = pagerduty.event(pd_config(pagerduty_server), key, "trigger", "k", PAYLOAD, sleep=sleeps)
    assert not result["ok"] and result["retryable"] and result["attempts"] == 3 and result["status"] == 503
    assert result["waits"] == [0.25, 0.5] and pagerduty_server.pages() == []
    no_secret_in(result, key)


def test_pagerduty_unreachable_is_retryable_without_the_key(sleeps):
    key = ns.routing_key("infrastructure")
    config = dict(COMMON, retries=1, events_url="http://127.0.0.1:%d/v2/enqueue" % free_port())
    result = pagerduty.event(config, key, "trigger", "k", PAYLOAD, sleep=sleeps)
    assert not result["ok"] and result["retryable"] and result["status"] is None and "refused" in result["error"]
    no_secret_in(result, key)


# --- Statuspage -----------------------------------------------------------------------------


def sp_config(server, **extra):
    return dict(ns.notify_config(statuspage=server, common=COMMON)["statuspage"], **extra)


SP_MARKER = "ref %s/statuspage-create" % INCIDENT


def test_statuspage_create_update_resolve_and_find_by_marker(statuspage_server, sleeps):
    config = sp_config(statuspage_server)
    created = statuspage.create_incident(config, "API errors", "investigating", "Some requests fail. We are on it.", "major",
                                         {"cmp-api": "partial_outage"}, SP_MARKER, sleep=sleeps)
    assert created["ok"] and created["status"] == 201, created
    incident_id = created["ref"]["id"]
    assert created["ref"]["shortlink"].startswith("https://stspg.io/")
    stored = statuspage_server.incident(incident_id)
    assert stored["metadata"] == {"ai_orchestrator": {"marker": SP_MARKER}}
    assert SP_MARKER not in stored["incident_updates"][0]["body"]  # customers see no ids
    assert stored["impact"] == "major" and statuspage_server.component_status("cmp-api") == "partial_outage"

    found = statuspage.find_incident(config, SP_MARKER, sleep=sleeps)
    assert found["ok"] and found["ref"] == {"found": True, "id": incident_id, "shortlink": created["ref"]["shortlink"],
                                            "status": "investigating"}
    missing = statuspage.find_incident(config, SP_MARKER + "-other", sleep=sleeps)
    assert missing["ok"] and missing["ref"] == {"found": False, "id": None}

    updated = statuspage.update_incident(config, incident_id, "monitoring", "A fix is out; watching.", {"cmp-api": "degraded_performance"},
                                         sleep=sleeps)
    assert updated["ok"] and updated["status"] == 200 and updated["ref"]["id"] == incident_id
    assert statuspage_server.component_status("cmp-api") == "degraded_performance"
    resolved = statuspage.resolve_incident(config, incident_id, "Resolved.", ["cmp-api"], sleep=sleeps)
    assert resolved["ok"] and resolved["response"]["status"] == "resolved"
    assert statuspage_server.incident(incident_id)["resolved_at"] and statuspage_server.component_status("cmp-api") == "operational"
    assert len(statuspage_server.incidents()) == 1 and len(statuspage_server.incident(incident_id)["incident_updates"]) == 3
    for delivery in (created, found, updated, resolved):
        no_secret_in(delivery, ns.STATUSPAGE_API_KEY)


def test_statuspage_finds_the_marker_among_more_than_a_page_of_incidents(statuspage_server, sleeps):
    config = sp_config(statuspage_server)
    first = statuspage.create_incident(config, "old", "investigating", "b", "minor", None, SP_MARKER, sleep=sleeps)
    with statuspage_server.lock:  # 120 newer incidents, made directly
        for n in range(120):
            statuspage_server._incidents["x%03d" % n] = dict(statuspage_server._incidents[first["ref"]["id"]], id="x%03d" % n, metadata={})
    found = statuspage.find_incident(config, SP_MARKER, sleep=sleeps)
    assert found["ok"] and found["ref"]["id"] == first["ref"]["id"] and found["attempts"] == 2


def test_statuspage_a_wrong_key_is_a_clear_401(statuspage_server, sleeps):
    bad = "sp-wrong-key-00000000"
    result = statuspage.create_incident(sp_config(statuspage_server, api_key=bad), "n", "investigating", "b", "minor", None,
                                        SP_MARKER, sleep=sleeps)
    assert not result["ok"] and not result["retryable"] and result["status"] == 401 and result["attempts"] == 1
    assert result["error"] == ("Statuspage rejected the API key (HTTP 401: Could not authenticate): "
                               "check incident_notify.statuspage.api_key")
    assert statuspage_server.incidents() == []
    no_secret_in(result, bad, ns.STATUSPAGE_API_KEY)


def test_statuspage_a_wrong_page_and_an_unknown_component_are_not_retried(statuspage_server, sleeps):
    wrong_page = statuspage.find_incident(sp_config(statuspage_server, page_id="nopage"), SP_MARKER, sleep=sleeps)
    assert not wrong_page["ok"] and not wrong_page["retryable"] and "incident_notify.statuspage.page_id" in wrong_page["error"]
    unknown = statuspage.create_incident(sp_config(statuspage_server), "n", "investigating", "b", "minor",
                                         {"cmp-nope": "major_outage"}, SP_MARKER, sleep=sleeps)
    assert not unknown["ok"] and not unknown["retryable"] and unknown["status"] == 422 and "cmp-nope" in unknown["error"]
    assert unknown["attempts"] == 1


def test_statuspage_rate_limits_420_and_429_are_retried(statuspage_server, sleeps):
    statuspage_server.script("POST /incidents", {"status": 420}, {"status": 429, "headers": {"Retry-After": "1"}})
    result = statuspage.create_incident(sp_config(statuspage_server), "n", "investigating", "b", "minor", None, SP_MARKER,
                                        sleep=sleeps)
    assert result["ok"] and result["attempts"] == 3 and result["waits"] == [0.25, 1.0]
    assert len(statuspage_server.incidents()) == 1
    statuspage_server.script("GET /incidents", *[{"status": 429}] * 3)
    limited = statuspage.find_incident(sp_config(statuspage_server), SP_MARKER, sleep=sleeps)
    assert not limited["ok"] and limited["retryable"] and "rate limited" in limited["error"]


# --- SMTP -----------------------------------------------------------------------------------


def mail_config(server, **extra):
    return dict(ns.notify_config(smtp=server, common=COMMON)["email"], **extra)


def test_smtp_starttls_and_auth_deliver_the_mail_with_its_stable_id(smtp_server, sleeps):
    result = smtp.send_mail(mail_config(smtp_server), ["oncall@example.test"], "P1 incident: api-gateway down",
                            "Details in the incident channel.", "%s.email-oncall@example.test" % INCIDENT,
                            cc=["support@example.test"], sleep=sleeps)
    assert result["ok"] and result["status"] == 250 and result["attempts"] == 1, result
    assert result["ref"] == {"message_id": "<%s.email-oncall@example.test>" % INCIDENT,
                             "accepted": ["oncall@example.test", "support@example.test"]}
    (message,) = smtp_server.messages
    assert message["Message-ID"] == "<%s.email-oncall@example.test>" % INCIDENT and message.tls is True
    assert message.auth_login == ns.SMTP_USERNAME and message.envelope_to == ["oncall@example.test", "support@example.test"]
    assert message["Subject"] == "P1 incident: api-gateway down" and message["From"] == "incidents@example.test"
    assert all(a["tls"] for a in smtp_server.auth_attempts)
    no_secret_in(result, ns.SMTP_PASSWORD)


def test_smtp_a_wrong_password_is_not_retried_and_says_so(smtp_server, sleeps):
    wrong = "not-the-Passw0rd"
    result = smtp.send_mail(mail_config(smtp_server, password=wrong), "oncall@example.test", "s", "b", "id-1@x", sleep=sleeps)
    assert not result["ok"] and not result["retryable"] and result["attempts"] == 1 and result["status"] == 535
    assert result["error"].startswith("wrong SMTP credentials: 127.0.0.1:%d refused the login (535" % smtp_server.port)
    assert "incident_notify.email.password" in result["error"] and smtp_server.messages == [] and sleeps == []
    no_secret_in(result, wrong, ns.SMTP_PASSWORD)


def test_smtp_a_temporary_failure_is_retried_and_the_mail_sent_once(smtp_server, sleeps):
    smtp_server.fail_next(451, "4.3.0 Temporary local problem", stage="DATA")
    result = smtp.send_mail(mail_config(smtp_server), "oncall@example.test", "s", "b", "id-2@x", sleep=sleeps)
    assert result["ok"] and result["attempts"] == 2 and result["waits"] == [0.25] and sleeps == [0.25]
    assert len(smtp_server.messages) == 1 and "451" in result["response"]["failures"][0]


def test_smtp_refused_recipients_are_named(smtp_server, sleeps):
    smtp_server.reject("gone@example.test")
    partly = smtp.send_mail(mail_config(smtp_server), ["oncall@example.test", "gone@example.test"], "s", "b", "id-3@x", sleep=sleeps)
    assert partly["ok"] and partly["ref"]["accepted"] == ["oncall@example.test"]
    assert partly["response"]["refused"]["gone@example.test"].startswith("550")
    nobody = smtp.send_mail(mail_config(smtp_server), ["gone@example.test"], "s", "b", "id-4@x", sleep=sleeps)
    assert not nobody["ok"] and not nobody["retryable"] and nobody["attempts"] == 1 and "gone@example.test (550" in nobody["error"]


def test_smtp_no_password_over_plain_text_unless_asked(sleeps):
    with ns.SmtpServer(ns.SMTP_USERNAME, ns.SMTP_PASSWORD, starttls=False) as plain:
        config = mail_config(plain, security="starttls")
        refused = smtp.send_mail(config, "oncall@example.test", "s", "b", "id-5@x", sleep=sleeps)
        assert not refused["ok"] and not refused["retryable"] and "does not offer STARTTLS" in refused["error"]
        assert plain.auth_attempts == [] and plain.messages == []
        explicit = smtp.send_mail(dict(config, security="none"), "oncall@example.test", "s", "b", "id-6@x", sleep=sleeps)
        assert explicit["ok"] and plain.messages[0].tls is False


def test_smtp_an_untrusted_certificate_is_not_retried(smtp_server, sleeps):
    result = smtp.send_mail(mail_config(smtp_server, ca_path=None), "oncall@example.test", "s", "b", "id-7@x", sleep=sleeps)
    assert not result["ok"] and not result["retryable"] and result["attempts"] == 1
    assert "not trusted" in result["error"] and "incident_notify.email.ca_path" in result["error"]
    no_secret_in(result, ns.SMTP_PASSWORD)


def test_smtp_unreachable_is_retried_then_retryable(sleeps):
    port = free_port()
    with socket.socket() as probe:  # nothing listens there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    config = {"host": "127.0.0.1", "port": port, "sender": "incidents@example.test", "username": "u", "password": "pw-unreachable",
              "retries": 1, "backoff": 0.1, "timeout": 2}
    result = smtp.send_mail(config, "oncall@example.test", "s", "b", "id-8@x", sleep=sleeps)
    assert not result["ok"] and result["retryable"] and result["attempts"] == 2 and result["waits"] == [0.1]
    no_secret_in(result, "pw-unreachable")


def test_smtp_implicit_tls_on_connect(sleeps):
    with ns.SmtpServer(ns.SMTP_USERNAME, ns.SMTP_PASSWORD, implicit_tls=True) as server:
        result = smtp.send_mail(mail_config(server), "oncall@example.test", "s", "b", "id-9@x", sleep=sleeps)
        assert result["ok"], result
        assert server.messages[0].tls is True and server.messages[0].auth_login == ns.SMTP_USERNAME
