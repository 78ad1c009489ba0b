#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_artifact
short_description: Save an artifact (logs, pod descriptions, metrics) with an incident
version_added: 0.1.0
description:
  - Stores a file in C(<incident_dir>/<incident_id>/artifacts/), the evidence the runbook's
    post-incident step "Collect artifacts" asks for.
  - The content comes from exactly one of O(content) (text), O(data) (any value, stored as
    pretty-printed JSON) or O(src) (a file on the control node to copy).
  - Writing is atomic (temp file and rename). When the artifact already holds exactly these
    bytes nothing is written and the task reports no change; otherwise an
    C(artifact_saved) event is appended to the timeline.
  - Secrets (passwords, tokens, keys; see O(redact_defaults)) are replaced by V([REDACTED])
    before the content is hashed and written, in text from O(content) and O(src) and in every
    string of O(data); RV(redactions) says how many. Binary content (with a NUL byte) cannot be
    redacted and is stored as it is, with a warning when redaction is on.
  - The artifact is readable by its owner only (mode 0600, directories 0700), whatever the umask.
  - Fails when the incident does not exist.
options:
  incident_id:
    required: true
  name:
    description:
      - File name relative to C(artifacts/), for example V(api-gateway/describe.txt).
      - Sub-directories are created. Absolute paths, C(..), C(.), empty components and
        backslashes are rejected, as are names that resolve outside C(artifacts/) through a symlink.
    type: str
    required: true
  content:
    description: Text to store (UTF-8).
    type: str
  data:
    description: Any JSON-serializable value, stored as indented JSON with sorted keys.
    type: raw
  src:
    description: Path of a file on the control node to copy.
    type: path
attributes:
  check_mode:
    support: full
    description: Returns path, size and checksum it would write and writes nothing.
  diff_mode:
    support: none
    description: Artifacts may be binary or large; RV(sha256) and RV(size) tell what changed.
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
  - ai_orchestrator.incident_response.incident.redact
seealso:
  - module: ai_orchestrator.incident_response.incident_record
  - module: ai_orchestrator.incident_response.incident_event
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Keep the pod logs
  ai_orchestrator.incident_response.incident_artifact:
    incident_dir: ~/.local/share/ai-orchestrator/incidents
    incident_id: "{{ incident.id }}"
    name: logs/api-gateway-7c9f-abcde.log
    content: "{{ pod_logs.log }}"

- name: Keep the health report as JSON
  ai_orchestrator.incident_response.incident_artifact:
    incident_dir: ~/.local/share/ai-orchestrator/incidents
    incident_id: "{{ incident.id }}"
    name: health/{{ inventory_hostname }}.json
    data: "{{ health }}"
    host: "{{ inventory_hostname }}"

- name: Keep the application log, also hiding the ticket system's session ids
  ai_orchestrator.incident_response.incident_artifact:
    incident_id: "{{ incident.id }}"
    name: logs/n8n.log
    content: "{{ n8n_logs.stdout }}"
    redact:
      - 'ticket_session=(?P<secret>[0-9a-f]{32})'

- name: Copy a database dump listing
  ai_orchestrator.incident_response.incident_artifact:
    incident_dir: ~/.local/share/ai-orchestrator/incidents
    incident_id: incident-2026-05-09-073525
    name: db/pg_stat_activity.csv
    src: /tmp/pg_stat_activity.csv
"""

RETURN = r"""
path:
  description: Absolute path of the artifact.
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/artifacts/logs/api-gateway-7c9f-abcde.log
size:
  description: Size in bytes.
  returned: success
  type: int
  sample: 18231
sha256:
  description: SHA-256 of the content, hex.
  returned: success
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
redactions:
  description: Number of secrets replaced by V([REDACTED]) in what was stored (or would be).
  returned: success
  type: int
  sample: 2
created:
  description: Whether the file did not exist before.
  returned: success
  type: bool
  sample: true
incident_id:
  description: Id of the incident.
  returned: success
  type: str
  sample: incident-2026-05-09-073525
timeline_path:
  description: Path of the incident's C(timeline.jsonl).
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/timeline.jsonl
event:
  description: The C(artifact_saved) timeline event, or null when nothing changed.
  returned: success
  type: dict
  sample:
    time: "2026-05-09T07:44:02.101Z"
    type: artifact_saved
    message: Artifact logs/a.log saved (18231 bytes)
    data: {"name": "logs/a.log", "size": 18231, "redactions": 2}
    source: module
    host: cluster-a
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    artifact_bytes,
    incident_argument_spec,
    incident_paths,
    save_artifact,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import (
    Redactor,
    redact_argument_spec,
)


def run(params, check_mode, now=None, warn=None):
    incident_id = validate_incident_id(params["incident_id"])
    # Bad patterns fail here, before anything is read or written.
    redactor = Redactor(params.get("redact"), params.get("redact_defaults", True))
    data = params.get("data")
    redactions = 0
    if data is not None:
        data, redactions = redactor.data(data)
    payload = artifact_bytes(content=params.get("content"), data=data, src=params.get("src"))
    if data is None:
        payload, redactions, binary = redactor.payload(payload)
        if binary and redactor.enabled and warn is not None:
            warn("artifact %s is binary (it has NUL bytes) and was stored without redaction" % params["name"])
    saved = save_artifact(
        params["incident_dir"],
        incident_id,
        params["name"],
        payload,
        check_mode=check_mode,
        now=now,
        host=params.get("host"),
        redactions=redactions,
    )
    return {
        "changed": saved["changed"],
        "path": saved["path"],
        "size": saved["size"],
        "sha256": saved["sha256"],
        "created": saved["created"],
        "redactions": redactions,
        "incident_id": incident_id,
        "timeline_path": incident_paths(params["incident_dir"], incident_id)["timeline"],
        "event": saved["event"],
    }


def argspec():
    spec = incident_argument_spec(incident_id_required=True)
    spec.update(
        name={"type": "str", "required": True},
        content={"type": "str"},
        data={"type": "raw"},
        src={"type": "path"},
    )
    spec.update(redact_argument_spec())
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argspec(),
        mutually_exclusive=[("content", "data", "src")],
        required_one_of=[("content", "data", "src")],
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode, warn=module.warn)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
