# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The outbox: every notification written down before it is sent and after.

The outbox is the ``outbox`` mapping of the incident record (``incident.json``), one entry
per message key (plan.py). Under the incident's lock a run writes its **intent** (status
``intended``, with who claims it: host, boot, pid and that process's start time), lets the
lock go, sends, and writes the **result** under the lock again. The timeline gets one
``communication`` event per outcome, with the message and the response.

Entry statuses:
  not_sent    the channel or its address is not configured: nothing left, the text is kept
  drafted     waiting for a person's approval (status page, customer mail)
  deferred    business-hours support outside business hours (``not_before``)
  intended    claimed by a run that is sending it now, or that died while sending it
  sent        the API accepted it
  failed      refused or unreachable after the bounded retries; ``retryable`` ones are tried
              again by a later run (at most MAX_ATTEMPTS sends in all)
  maybe_sent  a run died between sending and recording, and the channel cannot be asked
              (SMTP): never sent again
  skipped     nothing to send it to (a follow-up whose first message was never sent)

A later run **reconciles** an intent whose run is gone (the same host and boot, and that
process no longer exists; on another host, an intent older than STALE_AFTER):
PagerDuty is sent again with the same dedup key (PagerDuty merges it: exactly once); Slack
looks for the message's marker in the channel and the status page lists its incidents
(sent when found, sent now when not); SMTP cannot be asked: ``maybe_sent``. So PagerDuty
pages exactly once, and every other message goes out at most once.
"""

from __future__ import annotations

import copy
import datetime
import os
import socket
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    append_events,
    atomic_write,
    dump_record,
    incident_paths,
    load_incident,
    locked,
    make_event,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import pagerduty, slack, smtp, statuspage
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.plan import channel_marker, marker, slug

# Sends of one message over all runs (a retryable failure is tried again by the next runs).
MAX_ATTEMPTS = 3
# An intent from another control node older than this belongs to a run that died: a send
# takes at most timeout * (retries + 1) plus the Retry-After waits (10 * 4 + 3 * 30 s by default).
STALE_AFTER = datetime.timedelta(minutes=5)
FINAL = ("sent", "maybe_sent", "skipped")


# --- who claims an intent ---------------------------------------------------------------


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _start_time(pid):
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_claim(now):
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "pid_start": _start_time(pid), "at": format_time(now)}


def claim_alive(claim, now):
    """Whether the run that wrote an intent may still be sending it."""
    if not claim:
        return False
    if claim.get("host") == socket.gethostname() and claim.get("boot") and claim.get("boot") == _boot_id():
        return claim.get("pid_start") is not None and _start_time(claim.get("pid")) == claim.get("pid_start")
    try:
        return to_utc(now) - to_utc(claim.get("at")) < STALE_AFTER
    except (IncidentError, TypeError, ValueError):
        return False


# --- configuration -------------------------------------------------------------------------


def channel_config(settings, section):
    """The HTTP options of a channel: the common ``http`` settings under the channel's own."""
    merged = dict(settings.get("http") or {})
    merged.update(dict((k, v) for k, v in (settings.get(section) or {}).items() if v is not None))
    return merged


def missing(message, settings, outbox):
    """Why ``message`` cannot be sent with these settings (None when it can)."""
    channel = message["channel"]
    section = settings.get(channel) or {}
    if channel == "pagerduty":
        if not section.get("events_url"):
            return "incident_notify.pagerduty.events_url is not set"
        if not (section.get("routing_keys") or {}).get(message["content"]["target"]):
            return "no PagerDuty routing key for %s (incident_notify.pagerduty.routing_keys)" % message["content"]["target"]
    elif channel == "slack":
        if not section.get("api_url") or not section.get("token"):
            return "incident_notify.slack.api_url and token are not set"
    elif channel == "statuspage":
        if not section.get("api_url") or not section.get("page_id") or not section.get("api_key"):
            return "incident_notify.statuspage.api_url, page_id and api_key are not set"
    elif channel == "email":
        if not section.get("host") or not section.get("sender"):
            return "incident_notify.email.host and sender are not set"
        if not message["content"]["to"]:
            return "no address to send it to (incident_notify.email: %s)" % {
                "oncall": "oncall_to", "support": "support_to", "team": "team_to", "customer": "customers.list",
                "workflow_owner": "the workflow's owner", "chain": "chain_to"}.get(message["content"]["kind"], "recipients")
    return None


# --- the outbox in the record ---------------------------------------------------------------


def read_outbox(incident_dir, incident_id):
    record = load_incident(incident_dir, incident_id)
    if record is None:
        raise IncidentError("incident %s does not exist in %s" % (incident_id, incident_dir))
    return record, copy.deepcopy(record.get("outbox") or {})


def _write(incident_dir, incident_id, changes, events):
    """Apply ``changes`` ({key: entry}) to the record's outbox under the lock, then the events."""
    paths = incident_paths(incident_dir, incident_id)
    with locked(paths["lock"]):
        record = load_incident(incident_dir, incident_id)
        outbox = record.setdefault("outbox", {})
        outbox.update(copy.deepcopy(changes))
        if events:
            append_events(paths["timeline"], events)
        atomic_write(paths["record"], dump_record(record))
        return record


def _event(entry, now, host):
    """The timeline event of an entry's outcome: what was (or would have been) said, and the answer."""
    result = entry.get("result") or {}
    status = entry["status"]
    detail = {
        "not_sent": "not sent: %s" % entry.get("reason"),
        "drafted": "drafted for approval: %s" % entry.get("reason"),
        "deferred": "deferred until %s (business hours)" % entry.get("not_before"),
        "sent": "sent%s" % (" (HTTP %s)" % result["status"] if result.get("status") else ""),
        "failed": "failed: %s" % (result.get("error") or entry.get("reason")),
        "maybe_sent": "maybe sent: %s" % entry.get("reason"),
        "skipped": "skipped: %s" % entry.get("reason"),
    }.get(status, status)
    message = "%s %s %s: %s" % (entry["channel"], entry["action"], entry["target"], detail)
    data = dict((k, entry.get(k)) for k in ("key", "channel", "action", "target", "status", "summary", "reason", "gate",
                                            "not_before", "ref", "attempts"))
    data["content"] = entry.get("content")
    data["response"] = result or None
    return make_event("communication", message, data, now=now, host=host)


# --- deciding what to do with each message ------------------------------------------------------


def decide(message, entry, settings, outbox, now, approve=()):
    """What to do with ``message`` given its outbox ``entry`` (None: never seen).

    Returns ``(what, reason)``; what is one of send, reconcile, record (a new not_sent /
    drafted / deferred / skipped entry), wait (another live run is sending it) or done.
    """
    approved = entry is not None and entry.get("status") == "drafted" and _approved(entry, approve)
    if entry is None:
        if message["gate"] == "draft":
            return "record", "drafted"
        if message["gate"] == "defer" and message.get("not_before") and to_utc(message["not_before"]) > to_utc(now):
            return "record", "deferred"
        why = missing(message, settings, outbox)
        return ("record", "not_sent") if why else ("send", None)
    status = entry.get("status")
    if status in FINAL:
        return "done", None
    if status == "intended":
        if claim_alive(entry.get("claim"), now):
            return "wait", None
        # A run that is not configured for the channel cannot ask it: a configured run reconciles later.
        return ("done", None) if missing(entry, settings, outbox) else ("reconcile", None)
    if status == "drafted":
        if not approved:
            return "done", None
    elif status == "deferred":
        if to_utc(entry.get("not_before")) > to_utc(now):
            return "done", None
    elif status == "failed":
        if not entry.get("retryable") or (entry.get("attempts") or 0) >= MAX_ATTEMPTS:
            return "done", None
    elif status != "not_sent":
        return "done", None
    why = missing(entry, settings, outbox)
    if why:
        return ("record", "not_sent") if status != "not_sent" or why != entry.get("reason") else ("done", None)
    return "send", None


def _approved(entry, approve):
    for item in approve or ():
        item = str(item)
        if item in ("all", entry["key"], entry["channel"]) or entry["key"].startswith(item + ":"):
            return True
        if item == "customer_email" and entry["key"].startswith("email:customer:"):
            return True
    return False


def _new_entry(message, now):
    entry = dict((k, copy.deepcopy(message.get(k))) for k in ("key", "channel", "action", "target", "summary", "content",
                                                              "gate", "why", "not_before"))
    entry.update(status=None, reason=None, attempts=0, created_at=format_time(now), updated_at=format_time(now),
                 result=None, ref=None, claim=None)
    return entry


# --- sending -------------------------------------------------------------------------------------


def _message_id(incident_id, key):
    return "<%s.%s@ai-orchestrator.incident>" % (slug(key), incident_id)


def _slack_channel(entry, outbox):
    where = entry["content"]["channel"]
    if where != "@incident":
        return where
    created = outbox.get("slack:channel") or {}
    if created.get("status") == "sent" and (created.get("ref") or {}).get("channel"):
        return created["ref"]["channel"]
    return None


def _components(settings, components):
    mapping = (settings.get("statuspage") or {}).get("components") or {}
    return dict((mapping[s], status) for s, status in sorted(components.items()) if mapping.get(s))


def send(entry, incident_id, settings, outbox, sleep=time.sleep, reconcile=False):
    """Send (or reconcile) one entry; returns the sender's Delivery, or None for maybe_sent/skipped
    with the reason in the second value."""
    content = entry["content"]
    key = entry["key"]
    if entry["channel"] == "pagerduty":
        cfg = channel_config(settings, "pagerduty")
        routing_key = cfg["routing_keys"][content["target"]]
        return pagerduty.event(cfg, routing_key, entry["action"], content["dedup_key"], payload=content.get("payload"),
                               sleep=sleep), None
    if entry["channel"] == "slack":
        cfg = channel_config(settings, "slack")
        if entry["action"] == "open_channel":
            return slack.open_channel(cfg, content["name"], channel_marker(incident_id), sleep=sleep), None
        channel = _slack_channel(entry, outbox)
        if channel is None:
            return None, "the incident channel was not created (slack:channel is %s)" % (
                (outbox.get("slack:channel") or {}).get("status") or "missing")
        if reconcile:
            found = slack.find_message(cfg, channel, marker(incident_id, key), sleep=sleep)
            if found["ok"] and found["ref"].get("found"):
                found["ref"]["reconciled"] = True
                return found, None
        return slack.post(cfg, channel, content["text"], marker(incident_id, key), sleep=sleep), None
    if entry["channel"] == "statuspage":
        cfg = channel_config(settings, "statuspage")
        if entry["action"] == "create":
            if reconcile:
                found = statuspage.find_incident(cfg, marker(incident_id, key), sleep=sleep)
                if found["ok"] and found["ref"].get("found"):
                    found["ref"]["reconciled"] = True
                    return found, None
            return statuspage.create_incident(cfg, content["name"], content["status"], content["body"], content["impact"],
                                              _components(settings, content["components"]), marker(incident_id, key),
                                              sleep=sleep), None
        created = outbox.get("statuspage:create") or {}
        if created.get("status") != "sent" or not (created.get("ref") or {}).get("id"):
            return None, "the status page incident was not created (statuspage:create is %s)" % (created.get("status") or "missing")
        return statuspage.update_incident(cfg, created["ref"]["id"], content["status"], content["body"],
                                          _components(settings, content["components"]), sleep=sleep), None
    cfg = channel_config(settings, "email")
    if reconcile:
        return None, "maybe_sent"
    return smtp.send_mail(cfg, content["to"], content["subject"], content["body"], _message_id(incident_id, key), sleep=sleep), None


def deliver(incident_dir, incident_id, messages, settings, now=None, host=None, check_mode=False, approve=(),
            sleep=time.sleep, flush=True, record=None):
    """Plan, claim, send and record ``messages``; returns one result per message considered.

    ``flush``: also retry what earlier runs left pending (failed and retryable, deferred and
    now due, not sent and now configured, intents of runs that died). ``approve``: drafted
    entries to send (keys, channels, ``customer_email`` or ``all``).
    """
    now = now if now is not None else utc_now()
    if record is not None and check_mode:
        outbox = copy.deepcopy(record.get("outbox") or {})  # check mode of an incident not opened yet
    else:
        record, outbox = read_outbox(incident_dir, incident_id)
    planned = list(messages)
    seen = set(m["key"] for m in planned)
    if flush or approve:
        for key, entry in sorted(outbox.items(), key=lambda kv: kv[1].get("created_at") or ""):
            if key not in seen and entry.get("status") not in FINAL:
                planned.append(dict(entry, gate=entry.get("gate") or "send"))
                seen.add(key)
    results = []
    if check_mode:
        for message in planned:
            what, status = decide(message, outbox.get(message["key"]), settings, outbox, now, approve)
            if what == "done":
                continue
            would = {"send": "would send", "reconcile": "would reconcile", "wait": "in flight in another run"}.get(
                what, "would record as %s" % status)
            reason = missing(message, settings, outbox) if status == "not_sent" else message.get("why")
            results.append(_shown(message, "planned", would, reason))
        return {"results": results, "changed": False, "record": record}

    changed = False
    paths = incident_paths(incident_dir, incident_id)
    for message in planned:
        # Re-read under the lock just before each send: another run may have sent it, or resolved the incident.
        with locked(paths["lock"]):
            record, outbox = read_outbox(incident_dir, incident_id)
            entry = outbox.get(message["key"])
            what, status = decide(message, entry, settings, outbox, now, approve)
            if what in ("done", "wait"):
                if what == "wait":
                    results.append(_shown(entry, "intended", "in flight in another run", None))
                continue
            if message.get("open_only") and record.get("status") == "resolved" and what != "reconcile":
                results.append(_shown(message, "skipped", "skipped", "the incident was resolved before it was sent"))
                continue
            entry = copy.deepcopy(entry) if entry else _new_entry(message, now)
            entry["updated_at"] = format_time(utc_now())
            if what == "record":
                entry["status"] = status
                entry["reason"] = missing(entry, settings, outbox) if status == "not_sent" else message.get("why")
                record.setdefault("outbox", {})[entry["key"]] = entry
                append_events(paths["timeline"], [_event(entry, now, host)])
                atomic_write(paths["record"], dump_record(record))
                changed = True
                results.append(_shown(entry, status, status, entry["reason"]))
                continue
            entry["status"] = "intended"
            entry["claim"] = this_claim(now)
            record.setdefault("outbox", {})[entry["key"]] = entry
            atomic_write(paths["record"], dump_record(record))
            changed = True
        reconcile = what == "reconcile"
        delivery, note = send(entry, incident_id, settings, outbox, sleep=sleep, reconcile=reconcile)
        at = utc_now()
        entry = copy.deepcopy(entry)
        entry["updated_at"] = format_time(at)
        if delivery is None:
            entry["status"] = "maybe_sent" if note == "maybe_sent" else "failed"
            entry["retryable"] = note != "maybe_sent"
            entry["reason"] = ("the run that sent it died before recording the answer, and SMTP cannot be asked: "
                               "not sent again") if note == "maybe_sent" else note
            if note != "maybe_sent":
                entry["attempts"] = (entry.get("attempts") or 0) + 1
        else:
            reconciled = bool((delivery.get("ref") or {}).get("reconciled"))
            entry["attempts"] = (entry.get("attempts") or 0) + (0 if reconciled else 1)
            entry["status"] = "sent" if delivery["ok"] else "failed"
            entry["retryable"] = bool(delivery.get("retryable")) and not delivery["ok"]
            if not delivery["ok"]:
                entry["reason"] = delivery.get("error")
            elif reconciled:
                entry["reason"] = "reconciled: found %s" % ("its marker in the channel" if entry["channel"] == "slack" else "it on the page")
            elif reconcile and entry["channel"] == "pagerduty":
                entry["reason"] = "resent after a run died (same dedup key)"
            else:
                entry["reason"] = None
            entry["result"] = dict((k, delivery.get(k)) for k in ("ok", "status", "error", "attempts", "waits", "response"))
            entry["ref"] = delivery.get("ref") or None
        entry["claim"] = None
        record = _write(incident_dir, incident_id, {entry["key"]: entry}, [_event(entry, at, host)])
        results.append(_shown(entry, entry["status"], entry["status"], entry.get("reason") or (entry.get("result") or {}).get("error")))
    return {"results": results, "changed": changed, "record": record}


def _shown(message, status, outcome, reason):
    """One message as the module returns it: what it says, where it goes, what happened."""
    content = message.get("content") or {}
    text = content.get("text") or content.get("body") or ((content.get("payload") or {}).get("summary"))
    return {"key": message["key"], "channel": message["channel"], "action": message["action"], "target": message["target"],
            "summary": message.get("summary"), "text": text, "status": status, "outcome": outcome, "reason": reason,
            "gate": message.get("gate"), "not_before": message.get("not_before"),
            "ref": message.get("ref"), "result": message.get("result")}
