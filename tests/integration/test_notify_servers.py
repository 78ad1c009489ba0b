# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The notification API stand-ins (notify_servers.py) refuse what the real APIs refuse.

Plain urllib and smtplib clients, not the collection's senders: these tests pin the
servers, so a sender test that passes against them means the sender speaks the API.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import notify_servers
from notify_servers import (
    ROUTING_NAMES, SLACK_TOKEN, SMTP_PASSWORD, SMTP_USERNAME, STATUSPAGE_API_KEY, STATUSPAGE_PAGE_ID,
    PagerDutyServer, SlackServer, SmtpServer, StatuspageServer, notify_config, routing_key,
)

# The servers' function-scoped fixtures, for the tests here.
slack_server = notify_servers.slack_server
pagerduty_server = notify_servers.pagerduty_server
statuspage_server = notify_servers.statuspage_server
smtp_server = notify_servers.smtp_server


def call(url, body=None, headers=None, method=None, form=False):
    """(status, parsed JSON or text, headers) of one request."""
    headers = dict(headers or {})
    data = None
    if body is not None and form:
        data = urllib.parse.urlencode(body).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    request = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status, raw, got = answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), dict(error.headers)
    try:
        return status, json.loads(raw), got
    except ValueError:
        return status, raw.decode(), got


# -- Slack -------------------------------------------------------------------------------------

def slack(server, method, args=None, token=SLACK_TOKEN, get=False, form=False):
    headers = {"Authorization": "Bearer %s" % token} if token else {}
    url = "%s/api/%s" % (server.url, method)
    if get:
        return call(url + "?" + urllib.parse.urlencode(args or {}), headers=headers)[1]
    return call(url, args or {}, headers, form=form)[1]


def test_slack_refuses_a_missing_or_wrong_token_with_http_200(slack_server):
    url = slack_server.url + "/api/chat.postMessage"
    status, body, _ = call(url, {"channel": "#incident-response", "text": "x"})
    assert (status, body) == (200, {"ok": False, "error": "not_authed"})
    status, body, _ = call(url, {"channel": "#incident-response", "text": "x"}, {"Authorization": "Bearer xoxb-wrong"})
    assert (status, body) == (200, {"ok": False, "error": "invalid_auth"})
    # A form body may carry the token instead of the header, as Slack documents.
    assert slack(slack_server, "conversations.create", {"name": "form-made", "token": SLACK_TOKEN}, token=None, form=True)["ok"]


@pytest.mark.parametrize("name, error", [
    ("", "invalid_name_required"),
    ("x" * 81, "invalid_name_maxlength"),
    ("Incident-2026", "invalid_name_specials"),
    ("#incident", "invalid_name_specials"),
    ("incident 2026", "invalid_name_specials"),
    ("incident.2026", "invalid_name_specials"),
    ("---", "invalid_name_punctuation"),
    ("incident-response", "name_taken"),
])
def test_slack_channel_names_follow_slacks_rules(slack_server, name, error):
    assert slack(slack_server, "conversations.create", {"name": name}) == {"ok": False, "error": error}


def test_slack_create_purpose_post_and_history(slack_server):
    created = slack(slack_server, "conversations.create", {"name": "incident-2026-11-28-083555"})
    assert created["ok"] and created["channel"]["is_member"] and len("x" * 80) == 80
    channel = created["channel"]["id"]
    assert slack(slack_server, "conversations.setPurpose", {"channel": channel, "purpose": "ai-orchestrator incident X"})["ok"]
    assert slack_server.channel(channel)["purpose"]["value"] == "ai-orchestrator incident X"
    posted = slack(slack_server, "chat.postMessage", {"channel": channel, "text": "first\nref X:slack:initial"})
    assert posted["ok"] and posted["channel"] == channel and posted["ts"]
    later = slack(slack_server, "chat.postMessage", {"channel": "#incident-2026-11-28-083555", "text": "second"})
    assert later["ts"] > posted["ts"]
    history = slack(slack_server, "conversations.history", {"channel": channel, "limit": 1}, get=True)
    assert [m["text"] for m in history["messages"]] == ["second"] and history["has_more"]
    rest = slack(slack_server, "conversations.history", {"channel": channel, "cursor": history["response_metadata"]["next_cursor"]}, get=True)
    assert [m["text"] for m in rest["messages"]] == ["first\nref X:slack:initial"] and not rest["has_more"]
    assert slack_server.messages(channel) == ["first\nref X:slack:initial", "second"]
    # 80 characters is the documented maximum, and allowed.
    assert slack(slack_server, "conversations.create", {"name": "a" * 80})["ok"]


def test_slack_membership_archive_and_unknown_channels(slack_server):
    runbook = slack_server.channel("incident-response")["id"]
    assert slack(slack_server, "chat.postMessage", {"channel": runbook, "text": "x"})["error"] == "not_in_channel"
    assert slack(slack_server, "chat.postMessage", {"channel": "#nowhere", "text": "x"})["error"] == "channel_not_found"
    assert slack(slack_server, "conversations.join", {"channel": "incident-response"})["error"] == "channel_not_found"  # IDs only
    assert slack(slack_server, "conversations.join", {"channel": runbook})["ok"]
    assert slack(slack_server, "conversations.join", {"channel": runbook})["warning"] == "already_in_channel"
    assert slack(slack_server, "chat.postMessage", {"channel": runbook, "text": ""})["error"] == "no_text"
    assert slack(slack_server, "chat.postMessage", {"channel": runbook, "text": "now"})["ok"]
    old = slack_server.add_channel("incident-old", purpose="ai-orchestrator incident old", archived=True, member=True)
    assert slack(slack_server, "conversations.create", {"name": "incident-old"})["error"] == "name_taken"
    assert slack(slack_server, "chat.postMessage", {"channel": old, "text": "x"})["error"] == "is_archived"
    assert slack(slack_server, "conversations.setPurpose", {"channel": old, "purpose": "p"})["error"] == "is_archived"
    assert slack(slack_server, "conversations.join", {"channel": old})["error"] == "is_archived"
    assert slack(slack_server, "conversations.unarchive", {"channel": old})["ok"]
    assert slack(slack_server, "conversations.unarchive", {"channel": old})["error"] == "not_archived"
    assert slack(slack_server, "chat.postMessage", {"channel": old, "text": "back"})["ok"]
    hidden = slack_server.add_channel("incident-private", private=True)
    assert slack(slack_server, "conversations.create", {"name": "incident-private"})["error"] == "name_taken"
    assert slack(slack_server, "conversations.history", {"channel": hidden}, get=True)["error"] == "channel_not_found"


def test_slack_list_pages_with_cursors_and_hides_private_channels(slack_server):
    for i in range(5):
        slack_server.add_channel("incident-%d" % i, archived=i == 4)
    slack_server.add_channel("secret", private=True)
    names, cursor = [], ""
    for _ in range(10):
        answer = slack(slack_server, "conversations.list", {"types": "public_channel,private_channel", "limit": 2, "cursor": cursor}, get=True)
        names += [c["name"] for c in answer["channels"]]
        cursor = answer["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == ["incident-response"] + ["incident-%d" % i for i in range(5)]
    live = slack(slack_server, "conversations.list", {"exclude_archived": "true", "limit": 200}, get=True)
    assert "incident-4" not in [c["name"] for c in live["channels"]]
    assert slack(slack_server, "conversations.list", {"cursor": "bogus"}, get=True)["error"] == "invalid_cursor"
    # Read methods take query or form arguments; a JSON body's are ignored (JSON is for write methods).
    assert slack(slack_server, "conversations.history", {"channel": slack_server.channel("incident-response")["id"]})["error"] == "channel_not_found"


def test_slack_rate_limit_scripts_and_dropped_answers(slack_server):
    slack_server.ratelimit("chat.postMessage", retry_after=7)
    slack(slack_server, "conversations.join", {"channel": slack_server.channel("incident-response")["id"]})
    status, body, headers = call(slack_server.url + "/api/chat.postMessage", {"channel": "#incident-response", "text": "x"},
                                 {"Authorization": "Bearer " + SLACK_TOKEN})
    assert (status, body, headers["Retry-After"]) == (429, {"ok": False, "error": "ratelimited"}, "7")
    assert slack_server.messages("incident-response") == []  # a refused call changes nothing
    slack_server.script("chat.postMessage", {"json": {"ok": False, "error": "internal_error"}})
    assert slack(slack_server, "chat.postMessage", {"channel": "#incident-response", "text": "x"})["error"] == "internal_error"
    # The callback runs after the post was applied; "drop" hangs up: the message exists, the client never heard.
    seen = []
    slack_server.on_receive("chat.postMessage", lambda request: seen.append(request["json"]["text"]) or "drop")
    with pytest.raises((http.client.RemoteDisconnected, urllib.error.URLError, ConnectionError)):
        call(slack_server.url + "/api/chat.postMessage", {"channel": "#incident-response", "text": "lost answer"},
             {"Authorization": "Bearer " + SLACK_TOKEN})
    assert seen == ["lost answer"] and slack_server.messages("incident-response") == ["lost answer"]
    request = slack_server.calls("chat.postMessage")[-1]
    assert request["headers"]["authorization"] == "Bearer " + SLACK_TOKEN and request["json"]["channel"] == "#incident-response"
    # "*" scripts any endpoint; clear() forgets requests, scripts and callbacks but keeps the channels.
    slack_server.script("*", {"status": 503, "body": "upstream down"})
    assert call(slack_server.url + "/api/auth.test", {}, {"Authorization": "Bearer " + SLACK_TOKEN})[:2] == (503, "upstream down")
    slack_server.clear()
    assert slack_server.requests == [] and slack_server.messages("incident-response") == ["lost answer"]
    assert slack(slack_server, "no.such.method")["error"] == "unknown_method"
    assert slack(slack_server, "chat.postMessage", {"channel": ["C1"], "text": "x"})["error"] == "channel_not_found"
    assert slack_server.errors == []


# -- PagerDuty ---------------------------------------------------------------------------------

def enqueue(server, event):
    status, body, _ = call(server.url + "/v2/enqueue", event)
    return status, body


def trigger(key, dedup="incident-1", **payload):
    event = {"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
             "payload": dict({"summary": "API down", "source": "api-gateway", "severity": "critical"}, **payload)}
    return event


def test_pagerduty_accepts_a_valid_trigger_and_deduplicates(pagerduty_server):
    key = routing_key("Primary on-call")
    assert enqueue(pagerduty_server, trigger(key)) == (202, {"status": "success", "message": "Event processed", "dedup_key": "incident-1"})
    assert enqueue(pagerduty_server, trigger(key, summary="API still down"))[0] == 202
    assert pagerduty_server.pages() == [(key, "incident-1")]  # the second trigger woke nobody
    assert enqueue(pagerduty_server, {"routing_key": key, "event_action": "acknowledge", "dedup_key": "incident-1"})[0] == 202
    assert enqueue(pagerduty_server, {"routing_key": key, "event_action": "resolve", "dedup_key": "incident-1"})[0] == 202
    assert pagerduty_server.alerts[(key, "incident-1")]["status"] == "resolved"
    # After a resolve the same key opens a new alert; a resolve of an unknown key is dropped (still 202).
    assert enqueue(pagerduty_server, trigger(key))[0] == 202
    assert pagerduty_server.pages() == [(key, "incident-1"), (key, "incident-1")]
    assert enqueue(pagerduty_server, {"routing_key": key, "event_action": "resolve", "dedup_key": "never"})[0] == 202
    assert pagerduty_server.events[-1]["applied"] is False
    # No dedup_key: PagerDuty makes one and returns it.
    event = trigger(key)
    del event["dedup_key"]
    status, body = enqueue(pagerduty_server, event)
    assert status == 202 and len(body["dedup_key"]) == 32


@pytest.mark.parametrize("change, error", [
    ({"routing_key": None}, "'routing_key' is missing or blank"),
    ({"routing_key": "short"}, "wrong length"),
    ({"routing_key": "f" * 32}, "Invalid routing key"),
    ({"event_action": "escalate"}, "'event_action'"),
    ({"payload": None}, "'payload'"),
    ({"payload": {"source": "s", "severity": "critical"}}, "'payload.summary'"),
    ({"payload": {"summary": "x" * 1025, "source": "s", "severity": "critical"}}, "too long"),
    ({"payload": {"summary": "s", "severity": "critical"}}, "'payload.source'"),
    ({"payload": {"summary": "s", "source": "s", "severity": "P1"}}, "'payload.severity'"),
    ({"payload": {"summary": "s", "source": "s", "severity": "info", "timestamp": "yesterday"}}, "'payload.timestamp'"),
    ({"dedup_key": "d" * 256}, "'dedup_key'"),
    ({"links": [{"text": "no href"}]}, "links[0].href"),
])
def test_pagerduty_refuses_invalid_events_with_400(pagerduty_server, change, error):
    event = dict(trigger(routing_key("database")), **change)
    status, body = enqueue(pagerduty_server, {k: v for k, v in event.items() if v is not None})
    assert status == 400 and body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any(error in text for text in body["errors"]), body
    assert pagerduty_server.pages() == []


def test_pagerduty_resolve_needs_a_dedup_key_and_bad_json_is_refused(pagerduty_server):
    status, body = enqueue(pagerduty_server, {"routing_key": routing_key("database"), "event_action": "resolve"})
    assert status == 400 and "dedup_key" in body["errors"][0]
    status, body, _ = call(pagerduty_server.url + "/v2/enqueue", None, method="POST")
    assert status == 400
    # A timestamp in the documented example's format is accepted.
    event = trigger(routing_key("database"), timestamp="2015-07-17T08:42:58.315+0000", custom_details={"ping time": "1500ms"})
    assert enqueue(pagerduty_server, event)[0] == 202


def test_pagerduty_scripted_rate_limit_then_normal(pagerduty_server):
    pagerduty_server.script("enqueue", {"status": 429, "headers": {"Retry-After": "2"}}, {"status": 503})
    key = routing_key("development")
    status, _, headers = call(pagerduty_server.url + "/v2/enqueue", trigger(key))
    assert (status, headers.get("Retry-After")) == (429, "2")
    assert enqueue(pagerduty_server, trigger(key))[0] == 503
    assert enqueue(pagerduty_server, trigger(key))[0] == 202
    assert pagerduty_server.pages() == [(key, "incident-1")]
    assert len(pagerduty_server.calls("enqueue")) == 3


# -- Statuspage --------------------------------------------------------------------------------

def sp(server, method, path, body=None, key=STATUSPAGE_API_KEY, page=STATUSPAGE_PAGE_ID):
    headers = {"Authorization": "OAuth %s" % key} if key else {}
    return call("%s/v1/pages/%s%s" % (server.url, page, path), body, headers, method=method)[:2]


def test_statuspage_auth_page_and_validation_errors(statuspage_server):
    assert sp(statuspage_server, "GET", "/incidents", key=None)[0] == 401
    assert sp(statuspage_server, "GET", "/incidents", key="wrong")[0] == 401
    status, body, _ = call("%s/v1/pages/%s/incidents?api_key=%s" % (statuspage_server.url, STATUSPAGE_PAGE_ID, STATUSPAGE_API_KEY))
    assert (status, body) == (200, [])
    assert sp(statuspage_server, "GET", "/incidents", page="nopage")[0] == 404
    assert sp(statuspage_server, "POST", "/incidents", {"name": "no root key"})[0] == 400
    status, body = sp(statuspage_server, "POST", "/incidents", {"incident": {"status": "investigating"}})
    assert status == 422 and "Name" in body["error"]
    assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "n", "status": "on fire"}})[0] == 422
    assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "n", "impact_override": "huge"}})[0] == 422
    status, body = sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "n", "components": {"cmp-nope": "major_outage"}}})
    assert status == 422 and "cmp-nope" in body["error"]
    assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "n", "components": {"cmp-api": "down"}}})[0] == 422
    assert sp(statuspage_server, "PATCH", "/incidents/nosuchid", {"incident": {"status": "resolved"}})[0] == 404
    assert statuspage_server.incidents() == []


def test_statuspage_create_update_find(statuspage_server):
    status, created = sp(statuspage_server, "POST", "/incidents", {"incident": {
        "name": "API Gateway errors", "status": "investigating", "impact_override": "major", "body": "We are investigating.\nRef: X",
        "component_ids": ["cmp-api"], "components": {"cmp-api": "partial_outage"}, "deliver_notifications": True,
        "metadata": {"ai_orchestrator": {"incident": "X"}}}})
    assert status == 201 and created["shortlink"] and created["impact"] == "major"
    expected = {"code": "cmp-api", "name": "API Gateway", "old_status": "operational", "new_status": "partial_outage"}
    assert created["incident_updates"][0]["affected_components"] == [expected]
    assert statuspage_server.component_status("cmp-api") == "partial_outage"
    status, updated = sp(statuspage_server, "PATCH", "/incidents/" + created["id"], {"incident": {
        "status": "resolved", "body": "Fixed.", "components": {"cmp-api": "operational"}}})
    assert status == 200 and updated["status"] == "resolved" and updated["resolved_at"]
    assert [u["status"] for u in updated["incident_updates"]] == ["resolved", "investigating"]
    assert statuspage_server.component_status("cmp-api") == "operational"
    # q searches the name, status and update bodies (not metadata); the list carries metadata.
    found = sp(statuspage_server, "GET", "/incidents?q=Ref%3A+X")[1]
    assert [i["id"] for i in found] == [created["id"]] and found[0]["metadata"] == {"ai_orchestrator": {"incident": "X"}}
    assert sp(statuspage_server, "GET", "/incidents?q=ai_orchestrator")[1] == []
    components = sp(statuspage_server, "GET", "/components")[1]
    assert {c["id"] for c in components} >= {"cmp-api", "cmp-db"}
    assert sp(statuspage_server, "GET", "/incidents/" + created["id"])[1]["id"] == created["id"]


def test_statuspage_pages_and_rate_limit(statuspage_server):
    for i in range(3):
        assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "incident %d" % i}})[0] == 201
    first = sp(statuspage_server, "GET", "/incidents?limit=2&page=1")[1]
    second = sp(statuspage_server, "GET", "/incidents?limit=2&page=2")[1]
    assert [i["name"] for i in first + second] == ["incident 2", "incident 1", "incident 0"]
    statuspage_server.script("POST /incidents", {"status": 420}, {"status": 429, "headers": {"Retry-After": "1"}})
    assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "later"}})[0] == 420
    assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "later"}})[0] == 429
    assert sp(statuspage_server, "POST", "/incidents", {"incident": {"name": "later"}})[0] == 201
    assert len(statuspage_server.incidents()) == 4


# -- SMTP --------------------------------------------------------------------------------------

MAIL = "From: incidents@example.test\r\nTo: oncall@example.test\r\nSubject: P1\r\nMessage-ID: <incident-1.email@example.test>\r\n\r\nbody\r\n"


def tls_client(server):
    client = smtplib.SMTP(server.host, server.port, timeout=5)
    client.ehlo()
    client.starttls(context=ssl.create_default_context(cafile=server.ca_file))
    client.ehlo()
    return client


def test_smtp_starttls_auth_and_delivery(smtp_server):
    client = tls_client(smtp_server)
    client.login(SMTP_USERNAME, SMTP_PASSWORD)
    assert client.sendmail("incidents@example.test", ["oncall@example.test"], MAIL) == {}
    client.quit()
    [message] = smtp_server.messages
    assert message["Message-ID"] == "<incident-1.email@example.test>" and message["Subject"] == "P1"
    assert (message.envelope_from, message.envelope_to, message.tls, message.auth_login) == (
        "incidents@example.test", ["oncall@example.test"], True, SMTP_USERNAME)


def test_smtp_refuses_plain_text_auth_wrong_password_and_unauthenticated_mail(smtp_server):
    plain = smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5)
    plain.ehlo()
    assert not plain.has_extn("auth") and plain.has_extn("starttls")  # AUTH only after STARTTLS
    code, _ = plain.mail("incidents@example.test")
    assert code == 530  # STARTTLS first
    plain.close()
    client = tls_client(smtp_server)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(SMTP_USERNAME, "wrong")
    assert refused.value.smtp_code == 535
    with pytest.raises(smtplib.SMTPSenderRefused) as unauthenticated:
        client.sendmail("incidents@example.test", ["oncall@example.test"], MAIL)
    assert unauthenticated.value.smtp_code == 530
    client.close()
    assert smtp_server.messages == [] and smtp_server.auth_attempts and not any(a["ok"] for a in smtp_server.auth_attempts)


def test_smtp_certificate_is_checked_by_a_client(smtp_server):
    client = smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5)
    client.ehlo()
    with pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=ssl.create_default_context())  # not the test CA
    client.close()


def test_smtp_temporary_failure_once_and_rejected_recipient(smtp_server):
    smtp_server.fail_next(451, "4.3.0 Try again later").reject("nobody@example.test")
    client = tls_client(smtp_server)
    client.login(SMTP_USERNAME, SMTP_PASSWORD)
    with pytest.raises(smtplib.SMTPDataError) as temporary:
        client.sendmail("incidents@example.test", ["oncall@example.test"], MAIL)
    assert temporary.value.smtp_code == 451
    refused = client.sendmail("incidents@example.test", ["oncall@example.test", "nobody@example.test"], MAIL)
    assert refused == {"nobody@example.test": (550, b"5.1.1 <nobody@example.test>: Recipient address rejected: User unknown")}
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail("incidents@example.test", ["nobody@example.test"], MAIL)
    client.quit()
    assert [m.envelope_to for m in smtp_server.messages] == [["oncall@example.test"]]


def test_smtp_implicit_tls():
    with SmtpServer("user", "pass", implicit_tls=True) as server:
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=5, context=ssl.create_default_context(cafile=server.ca_file))
        client.login("user", "pass")
        client.sendmail("a@example.test", ["b@example.test"], MAIL)
        client.quit()
        assert server.messages[0].tls is True
        assert notify_config(smtp=server)["email"]["security"] == "ssl"


def test_smtp_without_tls_allows_auth_in_plain_text():
    with SmtpServer("user", "pass", starttls=False) as server:
        client = smtplib.SMTP(server.host, server.port, timeout=5)
        client.login("user", "pass")
        client.sendmail("a@example.test", ["b@example.test"], MAIL)
        client.quit()
        assert server.messages[0].tls is False


# -- shared ------------------------------------------------------------------------------------

def test_notify_config_points_at_the_servers_and_servers_start_fast(slack_server, pagerduty_server, statuspage_server, smtp_server):
    config = notify_config(slack_server, pagerduty_server, statuspage_server, smtp_server, common={"retries": 1})
    assert config["slack"] == {"api_url": slack_server.url + "/api", "token": SLACK_TOKEN, "retries": 1}
    assert set(config["pagerduty"]["routing_keys"]) == set(ROUTING_NAMES)
    assert all(len(k) == 32 for k in config["pagerduty"]["routing_keys"].values())
    assert config["statuspage"]["components"]["api-gateway"] == "cmp-api" and config["statuspage"]["page_id"] == STATUSPAGE_PAGE_ID
    assert config["email"]["security"] == "starttls" and config["email"]["ca_path"] == smtp_server.ca_file
    assert notify_config(slack=slack_server).keys() == {"slack"}
    started = time.monotonic()
    for cls, args in ((SlackServer, ("t",)), (PagerDutyServer, (["k" * 32],)), (StatuspageServer, ("p", "k")), (SmtpServer, ("u", "p"))):
        with cls(*args):
            pass
    assert time.monotonic() - started < 1.2
