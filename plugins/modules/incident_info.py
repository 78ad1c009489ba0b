#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_info
short_description: Find the incident a run continues
version_added: 0.2.0
description:
  - Reads the incident store and returns the incident a run on O(namespace) would continue, by
    the same rules as M(ai_orchestrator.incident_response.incident_record) with O(ai_orchestrator.incident_response.incident_record#module:join_open=true).
  - With O(incident_id), that incident (an error when it does not exist, so a mistyped id stops
    the run before anything changes).
  - Otherwise the incident an alert with the same de-duplication key opened, else the open
    incident of the same O(cluster) and O(namespace), else none.
  - For a resolved O(alert) (C(status=resolved)), also the incident of the same cluster and
    namespace that was the outage when the alert started (opened within an hour of it and not
    resolved before it), resolved or not; found by V(time).
  - Never writes anything; a store that does not exist yet holds no incident.
options:
  cluster:
    description: Identity of the cluster (API server URL), as recorded by M(ai_orchestrator.incident_response.incident_record).
    type: str
  namespace:
    description: Namespace of the outage.
    type: str
  alert:
    description:
      - The alert that started the run, in the form M(ai_orchestrator.incident_response.incident_record) takes.
      - Its de-duplication key is used here, and its start when it is resolved.
    type: dict
attributes:
  check_mode:
    support: full
    description: Read-only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing to compare; the result says what was found or done.
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
seealso:
  - module: ai_orchestrator.incident_response.incident_record
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Is there an incident to continue for this namespace?
  ai_orchestrator.incident_response.incident_info:
    cluster: https://prod-eu.example:6443
    namespace: payments
  register: found

- name: Say which one
  ansible.builtin.debug:
    msg: "{{ found.incident.id ~ ' (' ~ found.found_by ~ ')' if found.incident else 'none open' }}"
"""

RETURN = r"""
incident:
  description: The incident record found, or null.
  returned: success
  type: dict
  sample: {"id": "incident-2026-11-27-031500", "status": "investigating", "severity": "P1", "namespace": "payments"}
found_by:
  description: V(id), V(alert), V(scope) or V(time); null when nothing was found.
  returned: success
  type: str
  sample: scope
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    incident_argument_spec,
    normalize_alert,
    require_incident,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.store import find_incident


def run(params):
    if params.get("incident_id"):
        record = require_incident(params["incident_dir"], validate_incident_id(params["incident_id"]))
        return {"changed": False, "incident": record, "found_by": "id"}
    alert = normalize_alert(params.get("alert"))
    # A resolved notification belongs to the outage it fired in, even one resolved since.
    during = alert.get("starts_at") if alert and alert.get("status") == "resolved" else None
    record, why = find_incident(params["incident_dir"], params.get("cluster"), params.get("namespace"),
                                alert["key"] if alert else None, during)
    return {"changed": False, "incident": record, "found_by": why}


def argspec():
    spec = incident_argument_spec()  # host is accepted and unused: nothing is written
    spec.update(
        cluster={"type": "str"},
        namespace={"type": "str"},
        alert={"type": "dict"},
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = run(module.params)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
