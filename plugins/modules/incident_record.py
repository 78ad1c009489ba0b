#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_record
short_description: Open, update and resolve an incident record
version_added: 0.1.0
description:
  - Keeps the record of one incident in C(<incident_dir>/<incident_id>/incident.json) and
    appends what changed to C(timeline.jsonl) beside it.
  - Without O(incident_id) the module first looks for the incident this call belongs to
    (O(join_open)) - one incident per outage of a cluster and namespace - and opens a new
    one only when there is none. A new id is made from the current UTC time
    (C(incident-YYYY-MM-DD-HHMMSS), also the name of its incident channel); when another run
    took that second already, the next free second is taken, so two runs never share an id.
  - With O(incident_id) the incident is created under that id when it does not exist yet and
    continued when it does.
  - Secrets in O(title), O(impact), O(root_cause), O(resolution), O(alert.annotations) and
    O(escalation.reason) (passwords, tokens, keys; the built-in patterns of
    M(ai_orchestrator.incident_response.incident_event)) are replaced by V([REDACTED]) before anything is written.
  - Only the options that are given are changed; repeating a call with the same values
    changes nothing and reports RV(ignore:changed=false).
  - Opening appends an C(incident_opened) event; a different O(severity) appends
    C(severity_changed); a different O(status) appends C(status_changed); O(state=resolved)
    sets C(resolved_at) and appends C(incident_resolved); a new O(escalation) appends
    C(escalated); other field changes append C(record_updated).
  - The C(ai_orchestrator.incident_response.incident_timeline) callback learns the active
    incident of a host from the RV(timeline_path) this module returns.
options:
  state:
    description:
      - V(open) opens the incident or continues it.
      - V(resolved) sets the status to V(resolved) and C(resolved_at) to the current time.
        Resolving an incident that is resolved already changes nothing.
    type: str
    choices: [open, resolved]
    default: open
  title:
    description:
      - Short title of the incident, used in the post-mortem heading.
      - Defaults to the alert name and the service (or namespace) when the incident is opened without one.
    type: str
  severity:
    description:
      - Severity from the runbook's classification, V(P0) (complete outage) to V(P3) (minor issue).
      - Lower case (V(p1)) is accepted and stored upper case.
      - Required to open an incident.
    type: str
  status:
    description:
      - Where the response stands.
      - V(resolved) has the same effect as O(state=resolved). Any other status on a resolved
        incident reopens it (C(incident_reopened) event, C(resolved_at) cleared).
      - A new incident starts as V(open) unless a status is given.
    type: str
    choices: [open, investigating, identified, mitigated, escalated, resolved]
  alert:
    description:
      - The alert that triggered the incident, as Alertmanager's webhook sends it (one entry of
        its C(alerts) list plus the name), checked as untrusted input.
      - The first alert stays the incident's C(alert); a different alert that joins the incident
        later is added to C(alerts) (once per de-duplication key) with an C(alert_joined) event.
      - Its de-duplication key (C(fingerprint@startsAt)) finds the incident a re-fired alert
        belongs to; see O(join_open).
    type: dict
    suboptions:
      name:
        description:
          - Alert name, for example V(ServiceDown) or V(HighErrorRate).
          - Defaults to the C(alertname) label.
        type: str
      labels:
        description: Alert labels (C(namespace), C(service), C(severity), ...); names as Prometheus allows, string values.
        type: dict
      annotations:
        description: Alert annotations (C(summary), C(description), ...).
        type: dict
      fingerprint:
        description:
          - Alertmanager's fingerprint of the label set (hexadecimal).
          - Without one, a hash of the name and labels stands in.
        type: str
      startsAt:
        description: When the alert started firing (RFC 3339); the same for every re-fire of one firing.
        type: str
        aliases: [starts_at]
      endsAt:
        description: Accepted so that a webhook alert can be passed as it is; not stored.
        type: str
        aliases: [ends_at]
      status:
        description: V(firing) or V(resolved), as Alertmanager reports it.
        type: str
        choices: [firing, resolved]
      generatorURL:
        description: Accepted so that a webhook alert can be passed as it is; not stored.
        type: str
      key:
        description: Ignored; the de-duplication key is always computed from O(alert.fingerprint) and O(alert.startsAt).
        type: str
  cluster:
    description:
      - Identity of the cluster, usually the API server URL (what
        M(ai_orchestrator.incident_response.workload_health_info) returns as C(api_server)).
      - With O(namespace) it is the scope of an outage; runs in the same scope join one incident.
    type: str
    version_added: 0.2.0
  services:
    description:
      - Where each affected service stands, merged into the record's C(services) by name; each
        entry has C(status) (V(down), V(restored) or V(escalated)) and may add C(reason),
        C(action) and C(run).
      - A change appends a C(service_status) event.
      - With O(state=resolved) the incident is resolved only when every service of the record is
        V(restored); otherwise it stays open (V(escalated) when a service is) and
        RV(pending_services) names the others.
    type: dict
    version_added: 0.2.0
  join_open:
    description:
      - Only without O(incident_id). V(true) continues the incident an alert with the same
        de-duplication key opened (resolved or not, since a re-fire is the same outage), else the open
        incident of the same O(cluster) and O(namespace); a new incident is opened only when there is none.
      - Finding and opening happen under one lock of O(incident_dir), so runs that start together
        share one incident.
      - V(false) always opens a new incident.
    type: bool
    version_added: 0.2.0
    default: true
  keep_higher_severity:
    description:
      - V(true) never lowers the severity of an existing incident (a continuing run whose own
        finding is milder); RV(severity_kept) says when it was kept.
      - V(false) sets O(severity) as given and records the change, as an operator's explicit
        severity should.
    type: bool
    version_added: 0.2.0
    default: false
  impact:
    description: User impact, as it goes into the initial status post and the post-mortem.
    type: str
  namespace:
    description: Kubernetes namespace affected, for example V(ai-orchestrator).
    type: str
  service:
    description: Workload (Deployment or StatefulSet name) affected.
    type: str
  root_cause:
    description: Root cause, once identified.
    type: str
  resolution:
    description: What resolved the incident.
    type: str
  escalation:
    description:
      - Record an escalation in the record's C(escalations) list and the timeline.
      - Recorded once per O(escalation.to); repeating it changes nothing.
    type: dict
    suboptions:
      to:
        description: Who it was escalated to, usually a step of the escalation chain (V(Team lead)).
        type: str
        required: true
      reason:
        description: Why, for example V(P1 not resolved within 60 minutes).
        type: str
      via:
        description: Channels used (V(slack), V(pagerduty), V(email)).
        type: list
        elements: str
attributes:
  check_mode:
    support: full
    description: Returns the record it would write and writes nothing.
  diff_mode:
    support: full
    description: Shows C(incident.json) before and after.
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
seealso:
  - module: ai_orchestrator.incident_response.incident_event
  - module: ai_orchestrator.incident_response.incident_artifact
  - plugin: ai_orchestrator.incident_response.incident_timeline
    plugin_type: callback
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Open an incident for a ServiceDown alert
  ai_orchestrator.incident_response.incident_record:
    incident_dir: ~/.local/share/ai-orchestrator/incidents
    severity: P1
    title: api-gateway down
    namespace: ai-orchestrator
    service: api-gateway
    impact: API requests fail for all users
    alert:
      name: ServiceDown
      labels:
        namespace: ai-orchestrator
        service: api-gateway
  register: opened

- name: Continue it once the cause is known
  ai_orchestrator.incident_response.incident_record:
    incident_dir: "{{ opened.incident_path | dirname | dirname }}"
    incident_id: "{{ opened.incident.id }}"
    status: identified
    root_cause: Pod OOMKilled after the memory limit was lowered

- name: Raise the severity and record the escalation
  ai_orchestrator.incident_response.incident_record:
    incident_dir: /var/lib/incidents
    incident_id: incident-2026-05-09-073525
    severity: P0
    status: escalated
    escalation:
      to: Engineering manager
      reason: Complete platform outage
      via: [slack, pagerduty]

- name: Resolve it
  ai_orchestrator.incident_response.incident_record:
    incident_dir: /var/lib/incidents
    incident_id: incident-2026-05-09-073525
    state: resolved
    resolution: Restored the memory limit and restarted the deployment
"""

RETURN = r"""
incident:
  description: The incident record as written (in check mode, as it would be written).
  returned: success
  type: dict
  contains:
    id:
      description: Incident id, C(incident-YYYY-MM-DD-HHMMSS).
      type: str
      sample: incident-2026-05-09-073525
    title:
      description: Title.
      type: str
      sample: "ServiceDown: api-gateway"
    severity:
      description: V(P0) to V(P3).
      type: str
      sample: P1
    status:
      description: One of V(open), V(investigating), V(identified), V(mitigated), V(escalated), V(resolved).
      type: str
      sample: investigating
    alert:
      description: Alert C(name) and C(labels) (and C(annotations) when given), or null.
      type: dict
      sample: {"name": "ServiceDown", "labels": {"namespace": "ai-orchestrator", "service": "api-gateway"}}
    impact:
      description: User impact.
      type: str
      sample: API requests fail for all users
    cluster:
      description: Cluster identity (API server URL), or null.
      type: str
    services:
      description: Where each affected service stands, by name, each with C(status), C(reason), C(action), C(run) and C(updated_at).
      type: dict
    alerts:
      description: Alerts that joined the incident after the first, each with its C(key) and C(received_at).
      type: list
      elements: dict
    namespace:
      description: Affected namespace.
      type: str
      sample: ai-orchestrator
    service:
      description: Affected workload.
      type: str
      sample: api-gateway
    root_cause:
      description: Root cause, or null.
      type: str
      sample: Pod OOMKilled after the memory limit was lowered
    resolution:
      description: Resolution, or null.
      type: str
      sample: Restored the memory limit
    opened_at:
      description: Opening time, UTC ISO-8601.
      type: str
      sample: "2026-05-09T07:35:25Z"
    resolved_at:
      description: Resolution time, UTC ISO-8601, or null while unresolved.
      type: str
      sample: "2026-05-09T08:47:02Z"
    updated_at:
      description: Time of the last change, UTC ISO-8601.
      type: str
      sample: "2026-05-09T08:47:02Z"
    escalations:
      description: Escalations, each with C(to), C(reason), C(via) and C(at).
      type: list
      elements: dict
      sample: [{"to": "Team lead", "reason": "P1 open for 60 minutes", "via": ["slack"], "at": "2026-05-09T08:35:25Z"}]
    channel:
      description: Incident channel name.
      type: str
      sample: "#incident-2026-05-09-073525"
incident_id:
  description: Id of the incident (new or continued).
  returned: success
  type: str
  sample: incident-2026-05-09-073525
incident_path:
  description: Path of C(incident.json).
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/incident.json
timeline_path:
  description: Path of C(timeline.jsonl).
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/timeline.jsonl
artifacts_dir:
  description: Path of the C(artifacts/) directory.
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/artifacts
created:
  description: Whether the incident was (or in check mode would be) opened by this task.
  returned: success
  type: bool
  sample: true
joined:
  description: Whether this call continued an incident it found (O(join_open)) instead of opening one.
  returned: success
  type: bool
  sample: false
joined_by:
  description: Why it was joined - V(alert) (same alert de-duplication key) or V(scope) (open incident of the same cluster and namespace); null otherwise.
  returned: success
  type: str
  sample: scope
pending_services:
  description: Services of the incident that are not restored yet.
  returned: success
  type: list
  elements: str
  sample: [worker]
severity_kept:
  description: True when O(keep_higher_severity) kept the record's higher severity instead of O(severity).
  returned: success
  type: bool
  sample: false
events:
  description: Timeline events appended by this task (in check mode, that would be appended).
  returned: success
  type: list
  elements: dict
  sample:
    - time: "2026-05-09T07:35:25.120Z"
      type: incident_opened
      message: "Incident incident-2026-05-09-073525 opened: api-gateway down (P1)"
      data: {"severity": "P1", "channel": "#incident-2026-05-09-073525"}
      source: module
      host: cluster-a
incident_summary:
  description: One line for the timeline callback and the operator.
  returned: success
  type: str
  sample: "incident-2026-05-09-073525 P1 open: api-gateway down"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    STATUSES,
    apply_update,
    dump_record,
    incident_argument_spec,
    incident_paths,
    normalize_alert,
    pending_services,
    utc_now,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import redact_data, redact_text
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import rank
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.store import open_or_join, store_lock


def summarize(record):
    return "%s %s %s: %s" % (record["id"], record.get("severity"), record.get("status"), record.get("title"))


def run(params, check_mode, now=None):
    """Open, join, continue or resolve the incident; returns the module result."""
    now = now if now is not None else utc_now()
    incident_dir = params["incident_dir"]
    updates = {key: params.get(key) for key in (
        "title", "severity", "status", "alert", "impact", "namespace", "service", "root_cause", "resolution",
        "cluster", "services",
    )}
    # Free text can carry what a log line or an alert annotation carried: secrets are
    # replaced by the built-in redaction patterns before anything is written.
    for key in ("title", "impact", "root_cause", "resolution"):
        updates[key] = redact_text(updates[key])[0]
    if updates["alert"] and updates["alert"].get("annotations"):
        updates["alert"] = dict(updates["alert"], annotations=redact_data(updates["alert"]["annotations"], secret_keys=False)[0])
    escalation = params.get("escalation")
    if escalation and escalation.get("reason"):
        escalation = dict(escalation, reason=redact_text(escalation["reason"])[0])
    alert = normalize_alert(params.get("alert"))

    def update(incident_id):
        return apply_update(
            incident_dir,
            incident_id,
            updates,
            state=params.get("state") or "open",
            escalation=escalation,
            now=now,
            host=params.get("host"),
            check_mode=check_mode,
            keep_higher_severity=params.get("keep_higher_severity"),
        )

    pick = {"joined": False, "joined_by": None}
    if params.get("incident_id"):
        incident_id = validate_incident_id(params["incident_id"])
        outcome = update(incident_id)
    else:
        # Find-or-open and the first write under one store lock: the next run finds this one.
        with store_lock(incident_dir, create=not check_mode):
            pick = open_or_join(
                incident_dir, cluster=params.get("cluster"), namespace=params.get("namespace"),
                alert_key=alert["key"] if alert else None, join=params["join_open"], now=now, check_mode=check_mode,
            )
            incident_id = pick["incident_id"]
            outcome = update(incident_id)
    paths = incident_paths(incident_dir, incident_id)
    record = outcome["record"]
    asked = params.get("severity")
    result = {
        "changed": outcome["changed"],
        "incident": record,
        "incident_id": incident_id,
        "incident_path": paths["record"],
        "timeline_path": paths["timeline"],
        "artifacts_dir": paths["artifacts"],
        "created": outcome["created"],
        "joined": pick["joined"],
        "joined_by": pick["joined_by"],
        "pending_services": pending_services(record),
        "severity_kept": bool(asked) and rank(asked) > rank(record["severity"]),
        "events": outcome["events"],
        "incident_summary": summarize(record),
    }
    if outcome["changed"]:
        result["diff"] = {
            "before_header": paths["record"],
            "after_header": paths["record"],
            "before": dump_record(outcome["before"]).decode("utf-8") if outcome["before"] else "",
            "after": dump_record(record).decode("utf-8"),
        }
    return result


def argspec():
    spec = incident_argument_spec()
    spec.update(
        state={"type": "str", "choices": ["open", "resolved"], "default": "open"},
        title={"type": "str"},
        severity={"type": "str"},
        status={"type": "str", "choices": list(STATUSES)},
        alert={
            "type": "dict",
            "options": {
                "name": {"type": "str"},
                "labels": {"type": "dict"},
                "annotations": {"type": "dict"},
                "fingerprint": {"type": "str"},
                "startsAt": {"type": "str", "aliases": ["starts_at"]},
                "endsAt": {"type": "str", "aliases": ["ends_at"]},
                "status": {"type": "str", "choices": ["firing", "resolved"]},
                "generatorURL": {"type": "str"},
                # A de-duplication key, not a secret; recomputed from fingerprint and startsAt.
                "key": {"type": "str", "no_log": False},
            },
        },
        cluster={"type": "str"},
        services={"type": "dict"},
        join_open={"type": "bool", "default": True},
        keep_higher_severity={"type": "bool", "default": False},
        impact={"type": "str"},
        namespace={"type": "str"},
        service={"type": "str"},
        root_cause={"type": "str"},
        resolution={"type": "str"},
        escalation={
            "type": "dict",
            "options": {
                "to": {"type": "str", "required": True},
                "reason": {"type": "str"},
                "via": {"type": "list", "elements": "str"},
            },
        },
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
