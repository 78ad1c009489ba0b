#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_notify
short_description: Page, post and mail about an incident through its outbox, gated by severity
version_added: 0.1.0
description:
  - The runbook's "Communication Procedures" and the paging part of its "Escalation Procedures" for one incident,
    at one O(stage). Who is told is the severity table of the incident policy (P0 pages on-call and management at
    once, P1 pages on-call, P2 assigns on-call, P3 goes to business-hours support; status page and customer mail
    for P0/P1 affecting multiple customers); see C(docs/notifications.md).
  - Channels are Slack (the incident channel C(incident-YYYY-MM-DD-HHMMSS), its initial status with severity, impact
    and ETA, updates and the resolution; the announcement in C(#incident-response)), PagerDuty Events API v2
    (trigger with one dedup key per incident, resolve on recovery), Atlassian Statuspage v1 and mail over SMTP.
  - Every message goes through the outbox in the incident record, intent before sending and result after, under the
    incident's lock. A rerun sends only what is new, retries what failed and may be retried, and reconciles what a
    killed run left (PagerDuty resent with its dedup key, Slack and Statuspage looked up by the message's marker,
    mail marked C(maybe_sent) and never resent). Every outcome is a C(communication) event of the timeline.
  - A channel that is not configured is not used; the message is recorded as C(not_sent) with its text.
  - Never fails because a channel fails. A refused or unreachable channel is recorded as C(failed) and the task
    succeeds. It fails only for bad input (unknown incident, stage, settings), before anything is sent.
options:
  incident_id:
    required: true
  stage:
    description:
      - V(opened) the pages and the initial status (run it before remediation; a rerun sends only what is new, such as
        the page of a raised severity).
      - V(escalated) tells the owners of what automation could not fix (O(escalation)).
      - V(update) posts O(update) to the incident channel.
      - V(resolved) the resolution notices, including root cause and prevention, and resolves the pages and the status
        page incident. The roles send it from one place, when the incident is resolved.
      - V(postincident) drafts the external post-incident summary (O(customer_notice) C(postincident)) for the status page
        and the customers; it is sent only when approved.
      - V(approve) sends the drafted messages O(approve) names.
      - V(flush) only retries what earlier runs left pending (a deferred business-hours notice now due, a retryable
        failure, a channel configured since).
      - Every stage also flushes.
    type: str
    required: true
    choices: [opened, escalated, update, resolved, postincident, approve, flush]
  policy:
    description: The incident policy (the inventory's C(incident_policy)), merged over the runbook's defaults.
    type: dict
    default: {}
  eta_minutes:
    description: Minutes the remediation plan may take (its wait budget), for the initial status's ETA; unset says V(unknown).
    type: int
  escalation:
    description: For O(stage=escalated).
    type: dict
    default: {}
    suboptions:
      teams:
        description: Owner teams escalated to (development, infrastructure, database).
        type: list
        elements: str
        default: []
      reason:
        description: What automation saw and tried.
        type: str
      workflow_owners:
        description: Failing workflows as C({name, owner}); owners that are mail addresses are mailed.
        type: list
        elements: dict
        default: []
  update:
    description: For O(stage=update), C({tag, text}); the tag makes the update unique (sent once).
    type: dict
  prevention:
    description: Prevention measures for the resolution notice; unset says they are agreed in the post-mortem.
    type: str
  customer_notice:
    description:
      - The customer mail at V(opened) and V(resolved), each a text whose first line is the subject line (C(Subject) and a colon), as the role renders it
        from its templates (C(incident_customer_templates)).
    type: dict
    default: {}
  planned:
    description:
      - Check mode of a run that would open the incident - the record it would write, so the plan can be shown.
        Ignored when the incident exists or outside check mode.
    type: dict
  approve:
    description:
      - Drafted messages to send (O(stage=approve)), by key (V(statuspage:create)), channel (V(statuspage), V(email)),
        V(customer_email) or V(all).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
  - ai_orchestrator.incident_response.notify
attributes:
  check_mode:
    support: full
    description: Returns every message it would send, draft or record, with its text, and sends and writes nothing.
  diff_mode:
    support: none
    description: The messages are the plan.
notes:
  - Secrets in O(settings) are C(no_log); responses kept in the record have them masked.
  - community.general.pagerduty_alert and slack are not used; they cannot be pointed at another endpoint and page
    under check mode. Mail goes through Python's smtplib so its intent and result share the outbox step.
seealso:
  - module: ai_orchestrator.incident_response.incident_record
  - module: ai_orchestrator.incident_response.incident_info
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Page and post the initial status before remediation starts
  ai_orchestrator.incident_response.incident_notify:
    incident_id: "{{ incident.id }}"
    stage: opened
    policy: "{{ incident_policy | default({}) }}"
    eta_minutes: 8
    settings:
      slack:
        api_url: https://slack.com/api
        token: "{{ vault_slack_bot_token }}"
      pagerduty:
        events_url: https://events.pagerduty.com/v2/enqueue
        routing_keys:
          Primary on-call: "{{ vault_pd_primary_key }}"
          Engineering manager: "{{ vault_pd_management_key }}"
      email:
        host: smtp.example.com
        username: incidents
        password: "{{ vault_smtp_password }}"
        sender: incidents@example.com
        oncall_to: [oncall@example.com]

- name: Tell the database owners
  ai_orchestrator.incident_response.incident_notify:
    incident_id: "{{ incident.id }}"
    stage: escalated
    settings: "{{ incident_notify }}"
    escalation:
      teams: [database]
      reason: restore failed; the previous data is kept

- name: Send the drafted status page messages after review
  ai_orchestrator.incident_response.incident_notify:
    incident_id: incident-2026-11-28-031500
    stage: approve
    approve: [statuspage]
    settings: "{{ incident_notify }}"
"""

RETURN = r"""
messages:
  description: Each message considered, in send order (in check mode, what would happen).
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The outbox key; a key is sent at most once (PagerDuty exactly once).
      type: str
      sample: "pagerduty:trigger:page:primary-on-call"
    channel:
      description: V(pagerduty), V(slack), V(statuspage) or V(email).
      type: str
    action:
      description: What is done on the channel (trigger, resolve, open_channel, post, create, update, send).
      type: str
    target:
      description: Who or where, for a person to read.
      type: str
      sample: "#incident-2026-11-28-031500"
    summary:
      description: One line.
      type: str
    text:
      description: The message as sent (or drafted).
      type: str
    status:
      description: V(sent), V(failed), V(not_sent), V(drafted), V(deferred), V(maybe_sent), V(intended) or V(planned) (check mode).
      type: str
    outcome:
      description: The same, in words for check mode (V(would send), V(would record as drafted)).
      type: str
    reason:
      description: Why it was not sent, failed, or was reconciled.
      type: str
    result:
      description: The channel's answer (status, error, attempts, waits, response), secrets masked.
      type: dict
counts:
  description: Messages by status.
  returned: always
  type: dict
  sample: {"sent": 4, "not_sent": 2, "drafted": 1}
outbox:
  description: The whole outbox of the incident after this task (key -> entry).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    incident_argument_spec,
    load_incident,
    require_incident,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import outbox as ob
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.plan import plan_messages
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.settings import (
    normalize,
    notify_settings_spec,
    public,
)


def notice(text):
    """{subject, body} from a rendered template whose first line is 'Subject: ...'."""
    if isinstance(text, dict):
        return text
    lines = str(text or "").strip("\n").splitlines()
    if not lines or not lines[0].lower().startswith("subject:"):
        return {}
    return {"subject": lines[0].split(":", 1)[1].strip(), "body": "\n".join(lines[1:]).strip() + "\n"}


def run(params, check_mode, now=None, sleep=None):
    incident_id = validate_incident_id(params["incident_id"])
    policy = effective_policy(params.get("policy"))
    settings = normalize(params.get("settings"))
    if check_mode and params.get("planned") and load_incident(params["incident_dir"], incident_id) is None:
        record = dict(params["planned"], outbox={})
    else:
        record = require_incident(params["incident_dir"], incident_id)
    stage = params["stage"]
    messages = []
    if stage in ("opened", "escalated", "update", "resolved", "postincident"):
        if stage == "resolved" and record.get("status") != "resolved":
            messages = []  # the resolution goes out once the incident is resolved, from one place
        else:
            messages = plan_messages(record, stage, policy, public(settings), now=now, eta_minutes=params.get("eta_minutes"),
                                     escalation=params.get("escalation"), update=params.get("update"),
                                     prevention=params.get("prevention"), outbox=record.get("outbox") or {},
                                     customer_notice=dict((k, notice(v)) for k, v in (params.get("customer_notice") or {}).items()))
    kwargs = {} if sleep is None else {"sleep": sleep}
    done = ob.deliver(params["incident_dir"], incident_id, messages, settings, now=now, host=params.get("host"),
                      check_mode=check_mode, approve=params.get("approve") if stage == "approve" else (),
                      record=record if check_mode else None, **kwargs)
    counts = {}
    for shown in done["results"]:
        counts[shown["status"]] = counts.get(shown["status"], 0) + 1
    return {"changed": done["changed"], "messages": done["results"], "counts": counts,
            "outbox": (done["record"] or {}).get("outbox") or {}, "incident_id": incident_id}


def argspec():
    spec = incident_argument_spec(incident_id_required=True)
    spec.update(
        stage=dict(type="str", required=True, choices=["opened", "escalated", "update", "resolved", "postincident", "approve", "flush"]),
        policy=dict(type="dict", default={}),
        settings=dict(type="dict", default={}, options=notify_settings_spec()),
        eta_minutes=dict(type="int"),
        escalation=dict(type="dict", default={}, options=dict(
            teams=dict(type="list", elements="str", default=[]),
            reason=dict(type="str"),
            workflow_owners=dict(type="list", elements="dict", default=[]),
        )),
        update=dict(type="dict"),
        prevention=dict(type="str"),
        customer_notice=dict(type="dict", default={}),
        approve=dict(type="list", elements="str", default=[]),
        planned=dict(type="dict"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True,
                           required_if=[("stage", "update", ("update",)), ("stage", "approve", ("approve",))])
    try:
        result = run(module.params, module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
