#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_postmortem
short_description: Write the post-mortem of an incident from its record and timeline
version_added: 0.3.0
description:
  - Writes C(<incident_dir>/<incident_id>/postmortem.md), the runbook's post-mortem template filled from
    C(incident.json), C(timeline.jsonl) and the files under C(artifacts/).
  - Filled in are the summary (date, duration, severity, impact), the five milestones of the template's
    timeline with their times in UTC (a milestone never reached says so) and a Mermaid timeline of them,
    the other notable events (one line per notification stage), the root cause with its evidence, the
    actions taken, action items per failure class found with the owning team of the policy, links to
    the artifacts and the runbook's 24-hour and one-week follow-up checklists with what the automation
    already did ticked.
  - Left to people are the owners by name, the due dates and the lessons learned.
  - For an incident that is not resolved, a section near the top says where the automation stopped
    (the last task recorded, its outcome and time, and events recorded after it).
  - Never overwrites a post-mortem a person edited. The record keeps the sha256 of what this module wrote
    last; when C(postmortem.md) differs from it, the new text goes to C(postmortem-draft-<YYYYmmddTHHMMSSZ>.md)
    beside it and RV(edited) is true. Unchanged text is not rewritten, so a rerun reports no change.
  - Appends a C(note) event that says what was written. The post-incident procedure is left out of the
    post-mortem (this module's events and task, the tasks of C(post_incident.yml), the post-incident summary's
    notifications), so running it again does not change the post-mortem.
  - Fails when the incident does not exist; open it first with
    M(ai_orchestrator.incident_response.incident_record).
options:
  incident_id:
    required: true
  policy:
    description:
      - The incident policy (the inventory's C(incident_policy)), merged over the runbook's defaults.
      - Its C(owners) and C(statefulset_owners) name the team of each action item; its C(severities)
        the name of the severity.
    type: dict
    default: {}
  prevention:
    description:
      - What is done so that the incident does not happen again, in plain words for customers; goes
        into RV(summary). Unset, the summary promises a review.
    type: str
  force:
    description:
      - Overwrite C(postmortem.md) even when a person edited it (their text is lost).
      - V(false) writes a draft beside an edited post-mortem instead.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Returns the text and what would be written, and writes nothing.
  diff_mode:
    support: none
    description: RV(text) is the whole post-mortem.
extends_documentation_fragment:
  - ai_orchestrator.incident_response.incident
seealso:
  - module: ai_orchestrator.incident_response.incident_record
  - module: ai_orchestrator.incident_response.incident_event
  - module: ai_orchestrator.incident_response.incident_artifact
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

EXAMPLES = r"""
- name: Write the post-mortem of the incident
  ai_orchestrator.incident_response.incident_postmortem:
    incident_id: "{{ incident.id }}"
    policy: "{{ incident_policy | default({}) }}"
  register: postmortem

- name: Say where it is, and whether a person's edits were kept
  ansible.builtin.debug:
    msg: "{{ postmortem.msg }}"

- name: Post-incident summary for the status page, with the prevention measures
  ai_orchestrator.incident_response.incident_postmortem:
    incident_dir: /srv/incidents
    incident_id: incident-2026-05-09-073525
    prevention: We added memory alerts and raised the limits of the gateway
  register: postmortem
"""

RETURN = r"""
path:
  description: The file written (in check mode, that would be written); C(postmortem.md), or the draft beside an edited one.
  returned: success
  type: str
  sample: /var/lib/incidents/incident-2026-05-09-073525/postmortem.md
changed:
  description: Whether a file or the record was (or would be) written.
  returned: always
  type: bool
edited:
  description: C(postmortem.md) differs from what this module wrote last (a person edited it); it was kept.
  returned: success
  type: bool
  sample: false
draft:
  description: RV(path) is a draft beside the edited C(postmortem.md).
  returned: success
  type: bool
  sample: false
text:
  description: The post-mortem, Markdown.
  returned: success
  type: str
sha256:
  description: sha256 of RV(text).
  returned: success
  type: str
summary:
  description: The post-incident summary for customers and the status page, in plain words.
  returned: success
  type: dict
  contains:
    subject:
      description: Subject line.
      type: str
      sample: "[AI Orchestrator] Resolved: service disruption on 2026-05-09"
    body:
      description: Plain text; the affected services, when, how long, what kind of fault and the prevention.
      type: str
milestones:
  description: The template's five milestones as found, in the order they are listed.
  returned: success
  type: list
  elements: dict
  contains:
    milestone:
      description: Its name in the template.
      type: str
      sample: Root cause identified
    key:
      description: V(alert), V(investigation), V(root_cause), V(fix) or V(restored).
      type: str
      sample: root_cause
    time:
      description: UTC time, or null when it was not reached.
      type: str
      sample: "2026-05-09T07:41:10Z"
    reached:
      description: Whether the timeline shows it.
      type: bool
      sample: true
    detail:
      description: What the event said.
      type: str
sections:
  description: The headings of the post-mortem, in order.
  returned: success
  type: list
  elements: str
  sample: ["# Post-Mortem: ServiceDown: shop", "## Summary", "## Timeline"]
incident_id:
  description: Id of the incident.
  returned: success
  type: str
  sample: incident-2026-05-09-073525
msg:
  description: What was done, in one line.
  returned: always
  type: str
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentError, IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.postmortem import (
    content_hash,
    external_summary,
    milestones,
    render,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    append_event,
    atomic_write,
    dump_record,
    ensure_dirs,
    incident_argument_spec,
    incident_paths,
    locked,
    make_event,
    read_timeline,
    require_incident,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy

POSTMORTEM_FILE = "postmortem.md"
DRAFT_PREFIX = "postmortem-draft-"
DRAFT_FORMAT = "%Y%m%dT%H%M%SZ"
HEADING = re.compile(r"^#{1,3} ")


def list_artifacts(artifacts_dir):
    """Every file under artifacts/, relative and sorted; atomic_write's temp files are left out."""
    names = []
    for root, dirs, files in os.walk(artifacts_dir):
        dirs.sort()
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            names.append(os.path.relpath(os.path.join(root, name), artifacts_dir).replace(os.sep, "/"))
    return sorted(names)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IncidentError("cannot read %s: %s" % (path, exc))


def _same_draft(directory, digest):
    """An earlier draft with this very text: a rerun does not write it again."""
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), DRAFT_PREFIX + "*.md"))):
        existing = _read(path)
        if existing is not None and content_hash(existing) == digest:
            return path
    return None


def _compose(record, paths, now, policy):
    events = read_timeline(paths["timeline"], sort=True)
    text = render(record, events, list_artifacts(paths["artifacts"]), now, policy)
    return text, events


def decide(record, paths, digest, force, now):
    """What to do with the text: ``(action, path, edited)``.

    action is ``write`` (postmortem.md), ``draft`` (a new draft beside it), ``record`` (the file
    already holds the text, the record does not say so) or ``none``.
    """
    main = os.path.join(paths["dir"], POSTMORTEM_FILE)
    existing = _read(main)
    recorded = (record.get("postmortem") or {}).get("sha256") if isinstance(record.get("postmortem"), dict) else None
    if existing is None:
        return "write", main, False
    current = content_hash(existing)
    if current == digest:
        return ("none" if recorded == digest else "record"), main, False
    if recorded == current or force:
        return "write", main, recorded != current
    same = _same_draft(paths["dir"], digest)
    if same:
        return "none", same, True
    return "draft", os.path.join(paths["dir"], DRAFT_PREFIX + now.strftime(DRAFT_FORMAT) + ".md"), True


def _note(action, path, digest, edited, now, host):
    name = os.path.basename(path)
    if action == "draft":
        message = "Post-mortem draft written to %s: %s was edited by a person and is kept" % (name, POSTMORTEM_FILE)
    else:
        message = "Post-mortem written to %s" % name
    data = {"postmortem": {"file": name, "sha256": digest, "draft": action == "draft", "edited": edited}}
    return make_event("note", message, data, now=now, host=host)


def _apply(record, action, path, digest, now):
    """The record with what this module wrote last."""
    entry = dict(record.get("postmortem") or {}) if isinstance(record.get("postmortem"), dict) else {}
    stamp = format_time(now)
    if action == "draft":
        entry["draft"] = {"file": os.path.basename(path), "sha256": digest, "generated_at": stamp}
    else:
        entry.update(file=POSTMORTEM_FILE, sha256=digest, generated_at=stamp)
    return dict(record, postmortem=entry, updated_at=stamp)


def run(params, check_mode, now=None):
    now = now if now is not None else utc_now()
    incident_id = validate_incident_id(params["incident_id"])
    # A bad policy fails here, before anything is read or written.
    policy = effective_policy(params.get("policy"))
    record = require_incident(params["incident_dir"], incident_id)
    paths = incident_paths(params["incident_dir"], incident_id)
    text, events = _compose(record, paths, now, policy)
    digest = content_hash(text)
    action, path, edited = decide(record, paths, digest, params.get("force"), now)
    if action != "none" and not check_mode:
        with locked(paths["lock"]):
            # Again under the lock with the record as it is now: another run may have written meanwhile.
            record = require_incident(params["incident_dir"], incident_id)
            text, events = _compose(record, paths, now, policy)
            digest = content_hash(text)
            action, path, edited = decide(record, paths, digest, params.get("force"), now)
            if action != "none":
                ensure_dirs(paths)
                if action in ("write", "draft"):
                    atomic_write(path, text.encode("utf-8"))
                    # Timeline before the record: a record never claims a change its timeline lacks.
                    append_event(paths["timeline"], _note(action, path, digest, edited, now, params.get("host")))
                atomic_write(paths["record"], dump_record(_apply(record, action, path, digest, now)))
    name = os.path.basename(path)
    if action == "draft" or (action == "none" and edited):
        msg = "%s was edited by a person and is kept; the new post-mortem is %s" % (POSTMORTEM_FILE, name)
    elif action == "write":
        msg = "post-mortem written to %s%s" % (path, " (a person's edits overwritten: force)" if edited else "")
    elif action == "record":
        msg = "%s already holds this post-mortem; recorded it on the incident" % path
    else:
        msg = "%s is up to date" % path
    if check_mode and action != "none":
        msg = "would have: " + msg
    return {
        "changed": action != "none",
        "path": path,
        "edited": edited,
        "draft": os.path.basename(path).startswith(DRAFT_PREFIX),
        "text": text,
        "sha256": digest,
        "summary": external_summary(record, params.get("prevention")),
        "milestones": milestones(record, events),
        "sections": [line for line in text.splitlines() if HEADING.match(line)],
        "incident_id": incident_id,
        "msg": msg,
    }


def argspec():
    spec = incident_argument_spec(incident_id_required=True)
    spec.update(
        policy={"type": "dict", "default": {}},
        prevention={"type": "str"},
        force={"type": "bool", "default": False},
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
