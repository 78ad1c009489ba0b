# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options shared by the incident modules; the argument spec is
    # module_utils.incident.incident_argument_spec() (a unit test keeps both in step).
    DOCUMENTATION = r"""
options:
  incident_dir:
    description:
      - Directory that holds one sub-directory per incident, C(<incident_dir>/<incident_id>/)
        with C(incident.json), C(timeline.jsonl) and C(artifacts/).
      - Created when missing (not in check mode).
      - The modules run on the control node, so this is a path on the control node.
      - Every role and playbook of the collection leaves it to this default unless C(incident_dir) is set.
    type: path
    default: ~/.local/share/ai-orchestrator/incidents
  incident_id:
    description:
      - Incident id in the runbook's channel format C(incident-YYYY-MM-DD-HHMMSS) (UTC),
        for example C(incident-2026-05-09-073525).
      - Anything else is rejected, so an id can never name a path outside O(incident_dir).
    type: str
  host:
    description:
      - Inventory host (cluster or namespace) the timeline events written by this task are about.
      - Pass V({{ inventory_hostname }}) when one incident spans several hosts.
      - Defaults to the host name of the control node.
    type: str
notes:
  - All incident modules run on the control node and write only below O(incident_dir).
  - Timeline appends hold an exclusive lock and write one line at a time, so several
    forks (inventory hosts) can record into the same incident at once.
"""
