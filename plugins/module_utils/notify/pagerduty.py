# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PagerDuty Events API v2: ``event()`` triggers, acknowledges or resolves an alert.

One POST of ``{routing_key, event_action, dedup_key, payload, links, client}`` to the
config's ``events_url`` (https://events.pagerduty.com/v2/enqueue). As PagerDuty documents:
202 accepted; 400 a malformed event (never retried: the same event fails again; the
reply's ``errors`` say why); 429 and 5xx retried within the call (Retry-After honoured),
then reported ``retryable``. A trigger on a dedup key that is still open adds to that
alert and pages nobody again, so a rerun with the same key is safe.

The routing key is a secret: it never appears in the Delivery (errors, response).

PD_SEVERITY maps the incident's severity to the event's: P0 critical, P1 error,
P2 warning, P3 info (PagerDuty's urgency rules decide who is woken by which).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.delivery import (
    Calls,
    http_options,
    network_retryable,
    require,
    setting,
)

CHANNEL = "pagerduty"
CLIENT = "ai_orchestrator.incident_response"
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
PD_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
PAYLOAD_KEYS = ("summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


def build_event(routing_key, action, dedup_key, payload=None, links=None):
    """The JSON body of an event; InvalidInput for one PagerDuty would refuse."""
    if not routing_key or not str(routing_key).strip():
        raise InvalidInput("the PagerDuty routing key is empty: set it in %s" % setting(CHANNEL, "routing_keys"))
    if action not in ACTIONS:
        raise InvalidInput("PagerDuty event action must be one of %s, got %r" % (", ".join(ACTIONS), action))
    if dedup_key is not None and (not str(dedup_key) or len(str(dedup_key)) > MAX_DEDUP_KEY):
        raise InvalidInput("a PagerDuty dedup_key has 1 to %d characters, got %d" % (MAX_DEDUP_KEY, len(str(dedup_key))))
    if action != "trigger" and not dedup_key:
        raise InvalidInput("a PagerDuty %s needs the dedup_key of the alert it applies to" % action)
    body = {"routing_key": str(routing_key).strip(), "event_action": action, "client": CLIENT}
    if dedup_key:
        body["dedup_key"] = str(dedup_key)
    if action == "trigger":
        body["payload"] = build_payload(payload)
    if links:
        body["links"] = [dict(href=str(link["href"]), text=str(link.get("text") or link["href"])) for link in links]
    return body


def build_payload(payload):
    """A trigger's payload: summary (cut to 1024), source, severity and the optional PD-CEF fields."""
    if not isinstance(payload, dict):
        raise InvalidInput("a PagerDuty trigger needs a payload with summary, source and severity")
    unknown = sorted(set(payload) - set(PAYLOAD_KEYS))
    if unknown:
        raise InvalidInput("PagerDuty payload keys %s are not in the Events API v2 (use custom_details)" % ", ".join(unknown))
    for key in ("summary", "source"):
        if not payload.get(key) or not str(payload[key]).strip():
            raise InvalidInput("a PagerDuty trigger needs payload.%s" % key)
    severity = payload.get("severity")
    if severity in PD_SEVERITY:
        severity = PD_SEVERITY[severity]
    if severity not in SEVERITIES:
        raise InvalidInput("PagerDuty payload.severity must be one of %s (or P0..P3), got %r" % (", ".join(SEVERITIES), severity))
    out = dict((k, v) for k, v in payload.items() if v is not None)
    summary = " ".join(str(payload["summary"]).split())
    out["summary"] = summary if len(summary) <= MAX_SUMMARY else summary[:MAX_SUMMARY - 3] + "..."
    out["source"] = str(payload["source"])
    out["severity"] = severity
    return out


def rejection(status, reply, url=""):
    """What to fix, from a 4xx answer."""
    reply = reply if isinstance(reply, dict) else {}
    errors = reply.get("errors")
    said = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else reply.get("message") or reply.get("status") or ""
    if status == 400:
        return "PagerDuty rejected the event (HTTP 400 %s): %s" % (reply.get("status") or "invalid event", said or "check the event fields")
    if status in (401, 403):
        return "PagerDuty refused the routing key (HTTP %d): check %s" % (status, setting(CHANNEL, "routing_keys"))
    if status == 404:
        return "no Events API at %s (HTTP 404): check %s" % (url, setting(CHANNEL, "events_url"))
    return "PagerDuty answered HTTP %d%s" % (status, ": " + said if said else "")


def event(config, routing_key, action, dedup_key, payload=None, links=None, sleep=time.sleep):
    """Send one Events API v2 event; a Delivery with ref ``{"dedup_key": ...}`` (see delivery.py)."""
    url = require(config, CHANNEL, "events_url")
    options = http_options(config, CHANNEL)
    body = build_event(routing_key, action, dedup_key, payload, links)
    calls = Calls(options, secrets=[body["routing_key"]], sleep=sleep)
    result = calls.request(url, "POST", headers={"Content-Type": "application/json"}, body=body)
    reply = result.json if isinstance(result.json, dict) else None
    if result.ok:  # 202 as documented; any other 2xx is an acceptance too
        key = (reply or {}).get("dedup_key") or body.get("dedup_key")
        return calls.finish(True, response=_answer(reply), ref={"dedup_key": key, "action": action})
    if result.error_kind == "http" and result.status < 500 and result.status not in (420, 429):
        return calls.finish(False, error=rejection(result.status, reply, result.url), response=_answer(reply),
                            ref={"dedup_key": body.get("dedup_key")})
    retryable = network_retryable(result)
    tries = "after %d attempt%s" % (result.attempts, "" if result.attempts == 1 else "s")
    error = "PagerDuty did not take the %s %s: %s" % (action, tries, result.error)
    if result.status == 429:
        error += " (rate limited: PagerDuty takes about 120 events a minute per routing key)"
    return calls.finish(False, error=error, retryable=retryable, response=_answer(reply), ref={"dedup_key": body.get("dedup_key")})


def _answer(reply):
    if not isinstance(reply, dict):
        return None
    return dict((k, reply[k]) for k in ("status", "message", "dedup_key", "errors") if k in reply)


def incident_state(config, dedup_key, sleep=time.sleep):
    """What PagerDuty says of the incident a dedup key opened (REST API v2), for escalation_check.

    config: ``api_url`` (https://api.pagerduty.com) and ``api_token`` (a read-only REST API key, sent as
    ``Authorization: Token token=<key>``). A Delivery whose ref is ``{"found", "status" (triggered |
    acknowledged | resolved), "acknowledged_at", "acknowledged_by", "id"}``.
    """
    base = require(config, CHANNEL, "api_url").rstrip("/")
    token = require(config, CHANNEL, "api_token")
    calls = Calls(http_options(config, CHANNEL), secrets=[token], sleep=sleep)
    query = urlencode([("incident_key", dedup_key), ("statuses[]", "triggered"), ("statuses[]", "acknowledged"),
                       ("statuses[]", "resolved"), ("limit", "5")])
    result = calls.request("%s/incidents?%s" % (base, query), "GET",
                           headers={"Authorization": "Token token=%s" % token, "Accept": "application/vnd.pagerduty+json;version=2"})
    reply = result.json if isinstance(result.json, dict) else None
    if not result.ok or reply is None:
        hint = " (check incident_notify.pagerduty.api_token)" if result.status in (401, 403) else ""
        return calls.finish(False, error="PagerDuty's incidents could not be read: %s%s" % (result.error or "no JSON answer", hint),
                            retryable=network_retryable(result), ref={"found": False})
    found = [i for i in reply.get("incidents") or [] if isinstance(i, dict) and i.get("incident_key") == dedup_key]
    if not found:
        return calls.finish(True, response={"incidents": 0}, ref={"found": False})
    incident = found[0]
    acks = [a for a in incident.get("acknowledgements") or [] if isinstance(a, dict)]
    ref = {"found": True, "id": incident.get("id"), "status": incident.get("status"),
           "acknowledged_at": acks[0].get("at") if acks else None,
           "acknowledged_by": ((acks[0].get("acknowledger") or {}).get("summary") if acks else None)}
    return calls.finish(True, response={"status": incident.get("status")}, ref=ref)
