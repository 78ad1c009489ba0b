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
      - When not set, the environment variable E(AI_ORCHESTRATOR_INCIDENT_DIR) names it, else the default below.
        Under AWX every job runs in a fresh container, so mount one shared volume at the same path in every job
        and set the variable (or the inventory variable C(incident_dir)) to it; see C(docs/shared-state.md).
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

    # Redaction options of incident_artifact and incident_event (module_utils/incident/redact.py).
    REDACT = r"""
options:
  redact:
    description:
      - Extra regular expressions (Python syntax) of secrets to replace by V([REDACTED]) before
        anything is written, in addition to the built-in ones (see O(redact_defaults)).
      - When a pattern has a named group whose name starts with C(secret), for example
        V(ticket=(?P<secret>[A-Z0-9]+\)), only that group is replaced and the rest of the match
        (the key) is kept; otherwise the whole match is replaced.
      - An invalid pattern fails the task, naming the pattern, before anything is written.
    type: list
    elements: str
    default: []
  redact_defaults:
    description:
      - >-
        Apply the built-in patterns, which replace the value (and keep the key) of
        C(password), C(passwd), C(passphrase), C(pwd), C(secret), C(token), C(api_key)/C(apikey),
        C(access_key), C(secret_key) and C(private_key) keys in C(key=value), C(key: value) and
        JSON C("key": "value") form (also keys ending in these words, such as C(db_password) or
        C(aws_secret_access_key)), C(--password) style flags, C(Authorization) headers
        (C(Bearer), C(Basic), ...) and bearer tokens, C(Cookie) headers, passwords in URLs
        (C(postgresql://user:password@host)), PEM private key blocks, AWS access key ids
        (C(AKIA...)), JSON Web Tokens (C(eyJ...)), Slack tokens (C(xox[abposr]-...)) and webhook
        URLs, and GitHub tokens (C(gh[pousr]_...), C(github_pat_...)).
      - In structured data, the whole value under a key that ends in one of these words (or
        C(authorization), C(cookie)) is replaced, unless it is null, empty or a boolean.
      - V(false) applies only O(redact); with V(false) and no O(redact) nothing is redacted.
    type: bool
    default: true
"""
