#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workflow_baseline
short_description: Save the current definitions of the workflows that work as their last good ones
version_added: 0.3.0
description:
  - Reads every workflow of an n8n or Langflow engine (or those of O(workflows)) and writes each definition, as
    the engine's API returns it, to C(<baseline_dir>/<engine name>/<workflow id>.json) - the baseline that
    M(ai_orchestrator.incident_response.workflow_failure_info) compares a failing workflow with, to name the
    breaking change.
  - A workflow with failed executions in the last O(since_minutes) is not saved (O(skip_failing)); its last good
    definition stays as it was.
  - Changes only files on the control node, and only when a definition changed (the file is JSON with sorted
    keys, so an unchanged workflow is byte-for-byte the same file). Writes are atomic. Nothing is ever deleted.
  - Fails when the engine cannot be read (C(error_kind) V(unreachable), V(credentials), V(not_found), V(api)) or
    an option is unusable (V(invalid_input)); nothing is written then.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.engine
attributes:
  check_mode:
    support: full
    description: Reads the engine as usual and reports what would be saved; writes nothing, creates no directory.
  diff_mode:
    support: full
    description: The old and new content of each file that changes (or would).
  platform:
    support: full
    platforms: posix
    description: Runs on the control node; the files are written there.
options:
  engine:
    description:
      - The engine whose workflows are saved.
    type: dict
    required: true
    suboptions:
      name:
        description:
          - The engine's name in the baseline path (C(<baseline_dir>/<name>/)) and messages. Defaults to
            O(engine.kind).
        type: str
      kind:
        description:
          - V(n8n) or V(langflow). V(langsmith) holds runs, not definitions, and is refused.
        type: str
        required: true
        choices: [n8n, langflow, langsmith]
      url:
        description:
          - Base URL of the engine, without C(/api/v1).
        type: str
        required: true
      api_key:
        description:
          - The engine's API key, sent in the kind's header. Never logged or returned.
        type: str
      headers:
        description:
          - More headers for every request; treated as secrets.
        type: dict
      project:
        description:
          - Not used by this module (the LangSmith project of M(ai_orchestrator.incident_response.workflow_failure_info)).
        type: str
  baseline_dir:
    description:
      - The baseline directory; created when needed.
    type: path
    required: true
  workflows:
    description:
      - Only these workflows, by id or name (a name may be a glob). All of them when not set.
    type: list
    elements: str
  skip_failing:
    description:
      - Leave out the workflows that have failed executions among the newest O(limit) of the last
        O(since_minutes).
    type: bool
    default: true
  since_minutes:
    description:
      - The window in which a failed execution makes a workflow not good (O(skip_failing)). Above 0.
    type: int
    default: 60
  limit:
    description:
      - At most this many failed executions are read to find the failing workflows. Between 1 and 10000.
    type: int
    default: 100
notes:
  - Run it on a schedule while the platform is healthy (and after a fix is confirmed), so the baseline is the last
    version that worked. A directory under version control keeps the history as well.
seealso:
  - module: ai_orchestrator.incident_response.workflow_failure_info
"""

EXAMPLES = r"""
- name: Keep the last good n8n definitions next to the playbooks
  ai_orchestrator.incident_response.workflow_baseline:
    engine:
      kind: n8n
      url: http://n8n-service:5678
      api_key: "{{ n8n_api_key }}"
    baseline_dir: "{{ playbook_dir }}/../workflow-baselines"
  register: saved

- name: Only the billing flows of Langflow, what would change
  ai_orchestrator.incident_response.workflow_baseline:
    engine:
      kind: langflow
      url: http://langflow-service:7860
      api_key: "{{ langflow_api_key }}"
    baseline_dir: /srv/workflow-baselines
    workflows: ["billing-*"]
  check_mode: true
  diff: true
"""

RETURN = r"""
changed:
  description: Whether a file was (or in check mode would be) written.
  returned: always
  type: bool
  sample: true
saved:
  description: The workflows saved (or whose file was already up to date).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The workflow's id.
      type: str
      sample: zeHwn3NrerJLszsa
    name:
      description: Its name.
      type: str
      sample: n8n-support-triage
    path:
      description: Its baseline file.
      type: str
      sample: /srv/workflow-baselines/n8n/zeHwn3NrerJLszsa.json
    version:
      description: The version saved (n8n C(versionId), Langflow C(updated_at)).
      type: str
      sample: f60ba56d-a098-5147-b0c6-65a8c1a30e00
    changed:
      description: Whether its file changed.
      type: bool
      sample: false
not_saved:
  description: Workflows not saved because they fail (C(id), C(name), C(reason) V(failing), C(message)).
  returned: success
  type: list
  elements: dict
  sample: [{id: d1B8gco4WALOHqfJ, name: n8n-lead-enrichment, reason: failing,
            message: "3 failed execution(s) in the last 60 min: not a good version"}]
not_found:
  description: Entries of O(workflows) that matched no workflow.
  returned: success
  type: list
  elements: str
  sample: []
baseline_dir:
  description: The baseline directory.
  returned: success
  type: str
  sample: /srv/workflow-baselines
msg:
  description: One line for a person.
  returned: always
  type: str
  sample: "n8n: 2 workflow(s) saved, 6 unchanged, 0 left out (failing)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import (
    check_request_options,
    engine_argument_spec,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import failures
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows.engines import (
    EngineError,
    make_engine,
    workflow_engine_spec,
)

HTTP_OPTIONS = ("timeout", "retries", "backoff", "validate_certs", "ca_path", "client_cert", "client_key")
OPTIONS = ("baseline_dir", "workflows", "skip_failing", "since_minutes", "limit")


def argspec():
    spec = engine_argument_spec()
    spec.update(
        engine=dict(type="dict", required=True, options=workflow_engine_spec()),
        baseline_dir=dict(type="path", required=True),
        workflows=dict(type="list", elements="str"),
        skip_failing=dict(type="bool", default=True),
        since_minutes=dict(type="int", default=60),
        limit=dict(type="int", default=100),
    )
    return spec


def save(params, check_mode):
    http = dict((name, params[name]) for name in HTTP_OPTIONS)
    check_request_options(params["engine"]["url"], timeout=http["timeout"], retries=http["retries"],
                          backoff=http["backoff"], ca_path=http["ca_path"], client_cert=http["client_cert"],
                          client_key=http["client_key"])
    engine = make_engine(params["engine"], http)
    return failures.save(engine, dict((name, params[name]) for name in OPTIONS), check_mode=check_mode)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = save(module.params, module.check_mode)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input")
    except EngineError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)
    diffs = result.pop("diff")
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
