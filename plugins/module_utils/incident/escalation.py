# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The time-driven part of the runbook: status updates due and escalations past their deadline.

Pure functions of the record, its timeline, the policy and the time. ``due_decisions()`` says
what is due now; escalation_check.yml (module incident_escalation) records each decision in
the record under the incident's lock, exactly once by its key, and sends it through the
notifier's outbox.

Clocks start when the current severity took effect (the incident's opening, or the last
``severity_changed`` to it): a raised or lowered severity moves every deadline, and the move
is a decision of its own (``deadlines``), recorded once.

- **Updates** (runbook "Regular updates: every 30 minutes for P0/P1, hourly for P2"): slot n is
  due at ``since + n x update_interval_minutes``; only the newest due slot is sent (a scheduler
  that missed runs does not send a burst of stale updates).
- **Acknowledgement** (runbook response times P0 < 5 min, P1 < 15, P2 < 1 hour, P3 < 4 hours):
  nobody acknowledged within ``response_time_minutes`` pages the secondary on-call.
- **Escalation timeline** (P0 immediately to management, P1 after 1 hour, P2 after 4 hours, P3
  during business hours if needed): unresolved at ``since + escalate_after_minutes`` goes to
  ``escalate_to``; each later step of the chain after ``escalation_step_minutes`` more. A step the
  severity already paged at the opening (P0's Engineering manager) is not escalated to again.
  P3 has no timer: only the acknowledgement reminder, sent in business hours.
"""

from __future__ import annotations

import datetime

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc

SECONDARY = "Secondary on-call"


def _minutes(delta):
    return delta.total_seconds() / 60.0


def severity_since(record, events):
    """When the current severity took effect: the last severity_changed to it, else the opening."""
    since = record.get("opened_at")
    for event in events:
        if event.get("type") == "severity_changed" and (event.get("data") or {}).get("to") == record.get("severity"):
            since = event.get("time")
    return to_utc(since)


def acknowledged(record):
    """The acknowledgement recorded on the incident ({at, by, source}) or None."""
    ack = record.get("acknowledged")
    return ack if isinstance(ack, dict) and ack.get("at") else None


def schedule(record, events, policy):
    """Every deadline of the incident at its current severity: [{key, kind, step, at}], in time order."""
    severity = record["severity"]
    level = policy["severities"][severity]
    since = severity_since(record, events)
    chain = policy["escalation_chain"]
    out = []
    if level.get("update_interval_minutes"):
        out.append({"kind": "update", "every": level["update_interval_minutes"],
                    "at": since + datetime.timedelta(minutes=level["update_interval_minutes"])})
    out.append({"kind": "unacknowledged", "step": SECONDARY if SECONDARY in chain else chain[min(1, len(chain) - 1)],
                "at": since + datetime.timedelta(minutes=level["response_time_minutes"])})
    if level.get("escalate_after_minutes") is not None and level.get("escalate_to") in chain:
        first = chain.index(level["escalate_to"])
        step_minutes = policy.get("escalation_step_minutes") or 60
        for offset, step in enumerate(chain[first:]):
            if step in (level.get("page") or ()):
                continue  # paged at the opening already
            out.append({"kind": "escalate", "step": step,
                        "at": since + datetime.timedelta(minutes=level["escalate_after_minutes"] + offset * step_minutes)})
    for item in out:
        item["severity"] = severity
    return sorted(out, key=lambda d: d["at"])


def due_decisions(record, events, policy, now, decided=None):
    """What is due at ``now`` and not decided before: [{key, kind, severity, step, due_at, reason}].

    ``decided``: the keys recorded already (the record's ``escalation.decided``). Nothing is due
    for a resolved incident.
    """
    if record.get("status") == "resolved":
        return []
    decided = set(decided or ())
    now = to_utc(now)
    severity = record["severity"]
    level = policy["severities"][severity]
    since = severity_since(record, events)
    out = []
    state = record.get("escalation") or {}
    if state.get("severity") and state.get("severity") != severity:
        key = "deadlines:%s:%s" % (severity, format_time(since))
        if key not in decided:
            nxt = [d for d in schedule(record, events, policy) if d["at"] > now][:3]
            out.append({"key": key, "kind": "deadlines", "severity": severity, "step": None, "due_at": format_time(since),
                        "reason": "severity %s -> %s at %s: deadlines now count from then%s" % (
                            state["severity"], severity, format_time(since),
                            "; next: " + ", ".join("%s %s at %s" % (d["kind"], d.get("step") or "", format_time(d["at"]))
                                                   for d in nxt) if nxt else "")})
    for item in schedule(record, events, policy):
        if item["at"] > now:
            continue
        if item["kind"] == "update":
            slot = int(_minutes(now - since) // item["every"])
            key = "update:%s:%s:%d" % (severity, format_time(since), slot)
            reason = "status update %d (every %d min at %s)" % (slot, item["every"], severity)
            due_at = since + datetime.timedelta(minutes=slot * item["every"])
        elif item["kind"] == "unacknowledged":
            if acknowledged(record):
                continue
            key = "unacknowledged:%s:%s" % (severity, format_time(since))
            reason = "not acknowledged within %d min (%s response time)" % (level["response_time_minutes"], severity)
            due_at = item["at"]
        else:
            key = "escalate:%s:%s:%s" % (severity, format_time(since), item["step"])
            reason = "%s unresolved %d min after %s: escalate to %s" % (
                severity, round(_minutes(item["at"] - since)), "opening" if since == to_utc(record["opened_at"]) else "the severity change",
                item["step"])
            due_at = item["at"]
        if key in decided:
            continue
        out.append({"key": key, "kind": item["kind"], "severity": severity, "step": item.get("step"),
                    "due_at": format_time(due_at), "reason": reason})
    return out


def next_deadlines(record, events, policy, now):
    """The deadlines still ahead (for the record and the operator): [{kind, step, at}]."""
    if record.get("status") == "resolved":
        return []
    now = to_utc(now)
    since = severity_since(record, events)
    ahead = []
    for item in schedule(record, events, policy):
        at = item["at"]
        if item["kind"] == "update" and at <= now:
            at = since + datetime.timedelta(minutes=(int(_minutes(now - since) // item["every"]) + 1) * item["every"])
        if item["kind"] == "unacknowledged" and acknowledged(record):
            continue
        if at > now:
            ahead.append({"kind": item["kind"], "step": item.get("step"), "at": format_time(at)})
    return sorted(ahead, key=lambda d: d["at"])
