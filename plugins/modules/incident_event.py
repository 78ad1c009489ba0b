#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_event
short_description: Append an event to an incident's timeline
version_added: 0.1.0
description:
  - Appends one event to C(<incident_dir>/<incident_id>/timeline.jsonl), the timeline the
    post-mortem is written from.
  - Every call appends, so the task always reports a change; run it once per milestone.
  - Secrets in O(msg) and in O(data) (passwords, tokens, keys; see O(redact_defaults)) are
    replaced by V([REDACTED]) before the event is written; RV(redactions) says how many.
  - Fails when the incident does not exist; open it first with
    M(ai_orchestrator.incident_response.incident_record).
options:
  incident_id:
    required: true
  type:
    description:
      - Kind of event. The milestones of the runbook's post-mortem timeline are
        V(alert) (initial alert), V(investigation_started), V(root_cause_identified),
        V(fix_implemented) and V(service_restored).
      - V(diagnosis) records a finding, V(action_planned) a remediation decided on,
        V(verification) a check after a fix, V(escalated) an escalation,
        V(communication) a status post or notification, V(note) anything else.
    type: str
    required: true
    choices:
      - alert
      - investigation_started
      - diagnosis
      - root_cause_identified
      - action_planned
      - fix_implemented
      - verification
      - service_restored
      - escalated
      - communication
      - note
  msg:
    description:
      - One line that reads well in the post-mortem timeline; stored as the event's C(message).
    type: str
    required: true
  data:
    description: Structured details (pod names, counts, query results); stored as JSON.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Returns the event it would append and writes nothing.
  diff_mode:
    support: none
    description: An append has no before and after to compare.
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
  - ai_orchestrator.incident_response.incident.redact
seealso:
  - module: ai_orchestrator.incident_response.incident_record
  - module: ai_orchestrator.incident_response.incident_artifact
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Record the start of the investigation
  ai_orchestrator.incident_response.incident_event:
    incident_dir: ~/.local/share/ai-orchestrator/incidents
    incident_id: incident-2026-05-09-073525
    type: investigation_started
    msg: Checking pod status in ai-orchestrator
    host: "{{ inventory_hostname }}"

- name: Record the root cause with the evidence
  ai_orchestrator.incident_response.incident_event:
    incident_dir: ~/.local/share/ai-orchestrator/incidents
    incident_id: "{{ incident.id }}"
    type: root_cause_identified
    msg: api-gateway pods are OOMKilled (limit 256Mi)
    data:
      pods: [api-gateway-7c9f-abcde, api-gateway-7c9f-fghij]
      reason: OOMKilled
"""

RETURN = r"""
event:
  description: The event appended (in check mode, that would be appended).
  returned: success
  type: dict
  contains:
    time:
      description: UTC time, ISO-8601 with milliseconds.
      type: str
      sample: "2026-05-09T07:41:10.517Z"
    type:
      description: Event type.
      type: str
      sample: root_cause_identified
    message:
      description: O(msg), redacted.
      type: str
      sample: api-gateway pods are OOMKilled (limit 256Mi)
    data:
      description: The data, redacted.
      type: dict
      sample: {"reason": "OOMKilled"}
    source:
      description: Always V(module) for events from this module (the callback writes V(task)).
      type: str
      sample: module
    host:
      description: O(host), or the control node's host name.
      type: str
      sample: cluster-a
redactions:
  description: Number of secrets replaced by V([REDACTED]) in the message and data.
  returned: success
  type: int
  sample: 0
incident_id:
  description: Id of the incident.
  returned: success
  type: str
  sample: incident-2026-05-09-073525
timeline_path:
  description: Path of C(timeline.jsonl).
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/timeline.jsonl
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    EVENT_TYPES,
    append_event,
    incident_argument_spec,
    incident_paths,
    make_event,
    require_incident,
    validate_event_type,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import (
    Redactor,
    redact_argument_spec,
)


def run(params, check_mode, now=None):
    incident_id = validate_incident_id(params["incident_id"])
    # Bad patterns fail here, before anything is written.
    redactor = Redactor(params.get("redact"), params.get("redact_defaults", True))
    require_incident(params["incident_dir"], incident_id)
    paths = incident_paths(params["incident_dir"], incident_id)
    message, in_message = redactor.text(params["msg"])
    data, in_data = redactor.data(params.get("data") or {})
    event = make_event(
        validate_event_type(params["type"]),
        message,
        data,
        now=now,
        host=params.get("host"),
    )
    if not check_mode:
        append_event(paths["timeline"], event)
    return {
        "changed": True,
        "event": event,
        "redactions": in_message + in_data,
        "incident_id": incident_id,
        "timeline_path": paths["timeline"],
    }


def argspec():
    spec = incident_argument_spec(incident_id_required=True)
    spec.update(
        type={"type": "str", "required": True, "choices": list(EVENT_TYPES)},
        msg={"type": "str", "required": True},
        data={"type": "dict", "default": {}},
    )
    spec.update(redact_argument_spec())
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
