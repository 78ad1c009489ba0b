#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_escalation
short_description: Send the status updates that are due and escalate open incidents past their deadline
version_added: 0.1.0
description:
  - The time-driven part of the runbook's "Escalation Procedures" and "Communication Procedures", for every open
    incident of the store (or one), meant to run on a schedule through C(playbooks/escalation_check.yml).
  - Status updates every C(update_interval_minutes) of the severity (30 minutes for P0 and P1, hourly for P2) with
    the current status from a fresh diagnosis (O(diagnosis)), the actions since the last update, the next step and
    the ETA; the newest due update only, never a burst of stale ones.
  - Response times (P0 5 minutes, P1 15, P2 60, P3 240) - not acknowledged within them, the secondary on-call is
    paged. The escalation timeline - P1 unresolved after 1 hour goes to the team lead, P2 after 4 hours, then each
    later step of the chain (engineering manager, CTO) after C(escalation_step_minutes); P0's management was paged at
    the opening; P3 has no timer and its reminders wait for business hours.
  - Each decision is recorded in the record under the incident's lock, exactly once by its key, so overlapping or
    repeated runs decide it once; its messages go through the notifier's outbox (PagerDuty exactly once, the rest
    at most once), each re-read under the lock just before it is sent, so a just-resolved incident gets nothing.
  - Clocks count from when the current severity took effect; a severity change moves the deadlines, and the move is
    recorded and posted once.
  - With the policy's C(escalation_mode=pagerduty) (the default) the next step is paged by PagerDuty's own escalation
    policy and only told here; with O(settings.pagerduty.api_url) and O(settings.pagerduty.api_token) the
    incident's acknowledgement is read back from PagerDuty. C(escalation_mode=collection) pages each step through
    its routing key.
options:
  incident_id:
    description: One incident to check; unset checks every open incident of the store (of O(cluster) when set).
  cluster:
    description: Only incidents of this cluster (its API server URL, as recorded).
    type: str
  namespace:
    description: Only incidents of this namespace.
    type: str
  policy:
    description: The incident policy (the inventory's C(incident_policy)), merged over the runbook's defaults.
    type: dict
    default: {}
  now:
    description:
      - The time to judge at, ISO 8601 (V(2026-11-28T09:30:00Z)). Unset is the current time.
      - For drills and rehearsals of the timeline; a scheduled run leaves it unset.
    type: str
  diagnosis:
    description:
      - A fresh diagnosis for the updates - results of M(ai_orchestrator.incident_response.workload_health_info), each with
        C(api_server), C(workloads) and the namespace as C(namespace) or C(item) (a loop's results as registered).
      - A reading counts for the incidents of its cluster and namespace.
    type: list
    elements: dict
    default: []
  acknowledge:
    description: Record that this person acknowledged O(incident_id) (stops the secondary page; not the escalation timeline).
    type: str
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
  - ai_orchestrator.incident_response.notify
attributes:
  check_mode:
    support: full
    description: Returns the decisions due and every message they would send; writes and sends nothing.
  diff_mode:
    support: none
    description: The decisions are the plan.
seealso:
  - module: ai_orchestrator.incident_response.incident_notify
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Updates and escalations that are due (every 5 minutes from cron or an AWX schedule)
  ai_orchestrator.incident_response.incident_escalation:
    policy: "{{ incident_policy | default({}) }}"
    settings: "{{ incident_notify | default({}) }}"

- name: The on-call acknowledges by hand (PagerDuty not read back)
  ai_orchestrator.incident_response.incident_escalation:
    incident_id: incident-2026-11-28-031500
    acknowledge: alice
"""

RETURN = r"""
summary:
  description: One line per incident - what was decided and the next deadlines.
  returned: always
  type: list
  elements: str
incidents:
  description: Each open incident checked.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The incident.
      type: str
    cluster:
      description: Its cluster (API server URL).
      type: str
    namespace:
      description: Its namespace.
      type: str
    status:
      description: Its status.
      type: str
    severity:
      description: Its severity now.
      type: str
    decisions:
      description: The decisions this run recorded (in check mode, that it would record) - key, kind, step, due_at, reason.
      type: list
      elements: dict
    next:
      description: The deadlines still ahead - kind, step, at.
      type: list
      elements: dict
    acknowledged:
      description: The acknowledgement recorded (at, by, source), or null.
      type: dict
    messages:
      description: The messages sent, recorded or planned, as M(ai_orchestrator.incident_response.incident_notify) returns them.
      type: list
      elements: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError, InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import escalation as esc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    append_events,
    atomic_write,
    dump_record,
    incident_argument_spec,
    incident_paths,
    load_incident,
    locked,
    make_event,
    read_timeline,
    require_incident,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.store import records
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import outbox as ob
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import pagerduty
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.plan import decision_messages
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.settings import normalize, notify_settings_spec, public

# What an update lists as "actions since the last update".
ACTION_EVENTS = ("action_planned", "fix_implemented", "escalated", "service_status", "service_restored", "severity_changed",
                 "alert_joined", "verification")


def diagnosis_line(record, readings):
    """The incident's services as a fresh diagnosis of its cluster and namespace found them, one line."""
    workloads = None
    for reading in readings or ():
        namespace = reading.get("namespace") or reading.get("item")
        if namespace == record.get("namespace") and (not record.get("cluster") or reading.get("api_server") == record.get("cluster")):
            workloads = reading.get("workloads") or []
    if workloads is None:
        return None
    wanted = set(name.split(":", 1)[-1] for name in (record.get("services") or {}))
    shown = [w for w in workloads if w.get("name") in wanted] or [w for w in workloads if w.get("classification") not in (None, "healthy")]
    if not shown:
        return "every workload of %s is healthy" % record.get("namespace")
    return ", ".join("%s %s/%s ready%s" % (w.get("name"), w.get("ready"), w.get("desired"),
                                           " (%s)" % w["classification"] if w.get("classification") not in (None, "healthy") else "")
                     for w in shown)


def actions_since(events, since):
    return ["%s %s" % (e.get("time", "")[11:16], e.get("message")) for e in events
            if e.get("type") in ACTION_EVENTS and (since is None or to_utc(e["time"]) > to_utc(since))]


def read_back_ack(incident_dir, record, settings, now, host):
    """The acknowledgement PagerDuty recorded for the incident's pages, recorded here once."""
    pd = settings.get("pagerduty") or {}
    if esc.acknowledged(record) or not (pd.get("api_url") and pd.get("api_token")):
        return None
    config = ob.channel_config(settings, "pagerduty")
    for key, entry in sorted((record.get("outbox") or {}).items()):
        if not key.startswith("pagerduty:trigger:page:") or entry.get("status") != "sent":
            continue
        state = pagerduty.incident_state(config, entry["content"]["dedup_key"])
        ref = state.get("ref") or {}
        if state["ok"] and ref.get("acknowledged_at"):
            return {"at": ref["acknowledged_at"], "by": ref.get("acknowledged_by") or "PagerDuty", "source": "pagerduty"}
    return None


def record_ack(incident_dir, incident_id, ack, now, host):
    paths = incident_paths(incident_dir, incident_id)
    with locked(paths["lock"]):
        record = load_incident(incident_dir, incident_id)
        if esc.acknowledged(record):
            return record, False
        record["acknowledged"] = ack
        append_events(paths["timeline"], [make_event("note", "Acknowledged by %s (%s)" % (ack["by"], ack["source"]), ack, now=now, host=host)])
        atomic_write(paths["record"], dump_record(record))
        return record, True


def decide(incident_dir, incident_id, policy, now, host, check_mode):
    """Record what is due now (under the lock, re-read); returns (record, events, new decisions, changed)."""
    paths = incident_paths(incident_dir, incident_id)
    if check_mode:
        record = load_incident(incident_dir, incident_id)
        events = read_timeline(paths["timeline"], sort=True)
        decided = ((record.get("escalation") or {}).get("decided") or {})
        return record, events, esc.due_decisions(record, events, policy, now, decided), False
    with locked(paths["lock"]):
        record = load_incident(incident_dir, incident_id)
        events = read_timeline(paths["timeline"], sort=True)
        state = record.setdefault("escalation", {})
        decided = state.setdefault("decided", {})
        new = esc.due_decisions(record, events, policy, now, decided)
        stamp = format_time(now)
        written = []
        for decision in new:
            decided[decision["key"]] = dict(decision, decided_at=stamp, host=host)
            if decision["kind"] in ("escalate", "unacknowledged"):
                entry = {"to": decision["step"], "reason": decision["reason"], "via": [policy.get("escalation_mode")], "at": stamp}
                record.setdefault("escalations", []).append(entry)
                written.append(make_event("escalated", "Escalated to %s: %s" % (decision["step"], decision["reason"]),
                                          dict(entry, key=decision["key"]), now=now, host=host))
            elif decision["kind"] == "deadlines":
                written.append(make_event("note", decision["reason"], decision, now=now, host=host))
        changed_state = state.get("severity") != record["severity"] or new
        state["severity"] = record["severity"]
        state["next"] = esc.next_deadlines(record, events, policy, now)
        state["checked_at"] = stamp
        if changed_state:
            if written:
                append_events(paths["timeline"], written)
            atomic_write(paths["record"], dump_record(record))
        return record, events + written, new, bool(new)


def check_incident(params, incident_id, policy, settings, now, check_mode):
    incident_dir, host = params["incident_dir"], params.get("host")
    changed = False
    record = require_incident(incident_dir, incident_id)
    if params.get("acknowledge") and not check_mode:
        record, changed = record_ack(incident_dir, incident_id, {"at": format_time(now), "by": params["acknowledge"],
                                                                 "source": "operator"}, now, host)
    if record.get("status") != "resolved" and not check_mode:
        ack = read_back_ack(incident_dir, record, settings, now, host)
        if ack:
            record, acked = record_ack(incident_dir, incident_id, ack, now, host)
            changed = changed or acked
    record, events, new, decided_now = decide(incident_dir, incident_id, policy, now, host, check_mode)
    if check_mode and params.get("acknowledge"):
        record = dict(record, acknowledged={"at": format_time(now), "by": params["acknowledge"], "source": "operator"})
    changed = changed or decided_now
    decisions = sorted(((record.get("escalation") or {}).get("decided") or {}).values(), key=lambda d: d.get("decided_at") or "")
    if check_mode:
        decisions = decisions + new
    messages = []
    previous_update = None
    for decision in decisions:
        actions = actions_since(events, previous_update)
        messages += decision_messages(record, decision, policy, public(settings), now=now,
                                      diagnosis=diagnosis_line(record, params.get("diagnosis")), actions=actions,
                                      outbox=record.get("outbox") or {})
        if decision["kind"] == "update":
            previous_update = decision.get("decided_at") or decision.get("due_at")
    done = ob.deliver(incident_dir, incident_id, messages, settings, now=now, host=host, check_mode=check_mode)
    fresh = done["record"] or record
    return {"id": incident_id, "severity": fresh.get("severity"), "status": fresh.get("status"),
            "cluster": fresh.get("cluster"), "namespace": fresh.get("namespace"),
            "decisions": new, "next": ((fresh.get("escalation") or {}).get("next")) or esc.next_deadlines(fresh, events, policy, now),
            "acknowledged": esc.acknowledged(fresh), "messages": done["results"]}, changed or done["changed"]


def run(params, check_mode):
    policy = effective_policy(params.get("policy"))
    settings = normalize(params.get("settings"))
    now = to_utc(params["now"]) if params.get("now") else utc_now()
    if params.get("acknowledge") and not params.get("incident_id"):
        raise InvalidInput("acknowledge needs incident_id: the incident that was acknowledged")
    if params.get("incident_id"):
        ids = [validate_incident_id(params["incident_id"])]
        require_incident(params["incident_dir"], ids[0])
    else:
        ids = [r["id"] for r in records(params["incident_dir"])
               if r.get("status") != "resolved"
               and (not params.get("cluster") or (r.get("cluster") or None) == params["cluster"])
               and (not params.get("namespace") or r.get("namespace") == params["namespace"])]
    checked, changed = [], False
    for incident_id in sorted(ids):
        result, did = check_incident(params, incident_id, policy, settings, now, check_mode)
        checked.append(result)
        changed = changed or did
    summary = ["%s %s %s: %s; next %s" % (
        i["id"], i["severity"], i["status"], "; ".join(d["reason"] for d in i["decisions"]) or "nothing due",
        ", ".join("%s%s at %s" % (n["kind"], " " + n["step"] if n.get("step") else "", n["at"]) for n in i["next"][:2]) or "none")
        for i in checked]
    return {"changed": changed, "incidents": copy.deepcopy(checked), "now": format_time(now), "summary": summary or ["no open incident"]}


def argspec():
    spec = incident_argument_spec()
    spec.update(
        cluster=dict(type="str"),
        namespace=dict(type="str"),
        policy=dict(type="dict", default={}),
        settings=dict(type="dict", default={}, options=notify_settings_spec()),
        now=dict(type="str"),
        diagnosis=dict(type="list", elements="dict", default=[]),
        acknowledge=dict(type="str"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
