#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workflow_failure_info
short_description: Find the failing workflows of an engine, where they fail, whose they are and what changed
version_added: 0.3.0
description:
  - The investigation of the runbook's "Workflow Execution Failures" section on one engine (n8n, Langflow or
    LangSmith), in one task - execution logs and traces, failure patterns, the workflow definitions and their
    owners.
  - Reads the engine's recent executions (at most O(limit), started in the last O(since_minutes)) and reports the
    failure rate and, for every workflow with failed executions (or named in O(workflows)), how many failed, the
    newest error and the node it failed on, the newest execution ids, the LangSmith traces of the failures
    (O(tracing)), its owner, whether its current definition is valid, and how it differs from its last good
    definition in O(baseline_dir) (breaking changes first).
  - "Validation is structural - neither n8n's public API nor Langflow's has a call that validates a definition:
    connections to or from nodes that do not exist, node types the engine does not have installed (its catalog:
    n8n C(/types/nodes.json), Langflow C(/api/v1/all); or O(node_types)), credentials a node needs and lacks,
    required fields left empty, and no trigger."
  - "Breaking changes against the baseline: node removed, node type changed, parameter removed or changed,
    connection removed, credentials removed or changed, node disabled, workflow deactivated. Other changes: node
    added or renamed, parameter, connection or credentials added, workflow activated or renamed."
  - Never fails because of the engine. An engine that cannot be reached is reported with RV(available=false) and
    RV(error_kind); an API key it refuses with RV(credentials=rejected). The module fails only for options it
    cannot use (C(error_kind=invalid_input)), before anything is sent.
  - Read-only. The same in check mode.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.engine
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node and talks to the engine's API from there.
options:
  engine:
    description:
      - The engine to investigate.
    type: dict
    required: true
    suboptions:
      name:
        description:
          - The engine's name in results, messages and baseline paths (C(<baseline_dir>/<name>/)). Defaults to
            O(engine.kind).
        type: str
      kind:
        description:
          - V(n8n) (public API v1, key in C(X-N8N-API-KEY)), V(langflow) (C(/api/v1), key in C(x-api-key)) or
            V(langsmith) (C(/api/v1), key in C(x-api-key); its runs are the executions, their names the workflows,
            and it holds no definitions to validate or compare).
        type: str
        required: true
        choices: [n8n, langflow, langsmith]
      url:
        description:
          - Base URL of the engine, without C(/api/v1), for example V(http://n8n-service:5678).
        type: str
        required: true
      api_key:
        description:
          - The engine's API key, sent in the kind's header. Never logged or returned.
        type: str
      headers:
        description:
          - More headers for every request (for example a proxy's). Their values are treated as secrets.
        type: dict
      project:
        description:
          - For V(langsmith), the project whose runs are read. Every project when not set.
        type: str
  since_minutes:
    description:
      - Executions that started in this many minutes before now are read. Above 0.
    type: int
    default: 60
  limit:
    description:
      - At most this many executions are read (the newest), and at most this many failed ones. Between 1 and
        10000. RV(executions.complete) says whether the window held more.
    type: int
    default: 100
  workflows:
    description:
      - Workflows to report on even without failures, by id or name (a name may be a glob, V(billing-*)). The
        failing workflows are always reported.
    type: list
    elements: str
  baseline_dir:
    description:
      - Directory of last-good definitions, C(<baseline_dir>/<engine name>/<workflow id>.json) (or
        C(<workflow name>.json)), as the engine's API returns them - what
        M(ai_orchestrator.incident_response.workflow_baseline) saves, or an operator's git checkout of exported
        workflows (n8n C(export:workflow --separate) files have this shape). Without it RV(failing_workflows[].changes)
        is null.
    type: path
  owners:
    description:
      - "Owners by workflow id or name glob, for example C({'billing-*': 'team-payments'}). They win over the
        engine's own owner data (a tag C(owner:<team>) on an n8n workflow or a Langflow flow). The first matching
        entry is used; an exact id first."
    type: dict
  node_types:
    description:
      - The node types the engine has (n8n types such as V(n8n-nodes-base.httpRequest), Langflow component types
        such as V(OpenAIModel)). Replaces the engine's catalog for the unknown node type check, for engines whose
        catalog cannot be read.
    type: list
    elements: str
  tracing:
    description:
      - A LangSmith instance the engine traces its executions to; the trace ids of each failing workflow's
        newest failed runs (root runs named like the workflow) are returned in RV(failing_workflows[].traces).
        Not needed for O(engine.kind=langsmith), whose failures are runs already.
    type: dict
    suboptions:
      url:
        description: Base URL of LangSmith, for example V(https://langsmith.example.com).
        type: str
        required: true
      api_key:
        description: Its API key (C(x-api-key)). Never logged or returned.
        type: str
      headers:
        description: More headers for every request; treated as secrets.
        type: dict
      project:
        description: The project of the traces. Every project when not set.
        type: str
notes:
  - "The owner of a workflow: O(owners) first, then the engine's tag C(owner:<team>) (n8n: a tag of the workflow;
    Langflow: an entry of the flow's C(tags)); RV(failing_workflows[].owner_source) says which."
  - "Langflow has no execution records of its own: a run is read from C(/api/v1/monitor/transactions) - it failed
    when a component's record has status C(error) (that component is RV(failing_workflows[].failed_node)), it
    succeeded when the last component's record is a success. One request per flow and page."
  - The requests are the same in check mode. Each one is retried as O(retries) says.
seealso:
  - module: ai_orchestrator.incident_response.workflow_baseline
  - module: ai_orchestrator.incident_response.engine_health_info
  - name: n8n public API
    description: Workflows and executions.
    link: https://docs.n8n.io/api/api-reference/
  - name: Langflow API
    description: Flows and the monitor endpoints.
    link: https://docs.langflow.org/api-reference-api-examples
"""

EXAMPLES = r"""
- name: Which n8n workflows fail, on which node, and whose are they
  ai_orchestrator.incident_response.workflow_failure_info:
    engine:
      kind: n8n
      url: http://n8n-service:5678
      api_key: "{{ n8n_api_key }}"
    since_minutes: 30
    baseline_dir: "{{ playbook_dir }}/../workflow-baselines"
    tracing:
      url: http://langsmith-service:1984
      api_key: "{{ langsmith_api_key }}"
      project: ai-orchestrator
  register: n8n

- name: Tell each owner what broke
  ansible.builtin.debug:
    msg: >-
      {{ item.owner | default('nobody', true) }}: {{ item.name }} failed {{ item.failures }} times on
      {{ item.failed_node }} ({{ item.last_error }}); breaking changes:
      {{ item.changes.breaking | default([]) | map(attribute='message') | list }}
  loop: "{{ n8n.failing_workflows }}"
  when: item.failures > 0

- name: The key was rotated under the orchestrator
  ansible.builtin.fail:
    msg: "{{ n8n.msg }}"
  when: n8n.credentials == 'rejected'

- name: Langflow, with the owners the operators keep
  ai_orchestrator.incident_response.workflow_failure_info:
    engine:
      kind: langflow
      url: http://langflow-service:7860
      api_key: "{{ langflow_api_key }}"
    owners:
      "billing-*": team-payments
      3f1c2a9e-1b2c-4d5e-8f90-123456789abc: team-support
  register: langflow
"""

RETURN = r"""
changed:
  description: Always false.
  returned: always
  type: bool
  sample: false
engine:
  description: The engine investigated.
  returned: success
  type: dict
  sample: {name: n8n, kind: n8n, url: "http://n8n-service:5678"}
available:
  description: False when the engine could not be reached (or failed a request); RV(error) says why.
  returned: success
  type: bool
  sample: true
credentials:
  description: V(accepted), V(rejected) (nothing more could be read) or null when the engine was not reached.
  returned: success
  type: str
  sample: accepted
error:
  description: Why the engine could not be read, or null.
  returned: success
  type: str
  sample: "cannot reach n8n http://n8n-service:5678/api/v1/workflows?limit=1: connection refused"
error_kind:
  description: V(unreachable), V(credentials), V(not_found), V(api), or null.
  returned: success
  type: str
  sample: null
executions:
  description: The executions read; null when they could not be read.
  returned: success
  type: dict
  contains:
    total:
      description: Executions read (at most O(limit)).
      type: int
      sample: 100
    failed:
      description: Of those, the failed ones.
      type: int
      sample: 14
    failure_rate:
      description: Failed of the finished (failed or succeeded) ones, 0 to 1; null with none finished.
      type: float
      sample: 0.14
    since:
      description: Start of the window (UTC).
      type: str
      sample: "2026-05-09T07:35:25Z"
    complete:
      description: False when the window held more executions than O(limit).
      type: bool
      sample: false
    by_status:
      description: Executions read per status (V(success), V(failure), V(running), V(waiting), V(canceled)).
      type: dict
      sample: {success: 86, failure: 14}
failing_workflows:
  description: The workflows with failed executions (most failures first), then those of O(workflows).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The workflow's id on the engine (for LangSmith, the run name).
      type: str
      sample: zeHwn3NrerJLszsa
    name:
      description: Its name; null when it is not on the engine any more.
      type: str
      sample: n8n-support-triage
    active:
      description: Whether it is active (n8n); null where the engine has no such flag.
      type: bool
      sample: true
    failures:
      description: Its failed executions read.
      type: int
      sample: 14
    last_error:
      description: The newest failure's error message.
      type: str
      sample: "Unrecognized node type: n8n-nodes-community.openAi"
    failed_node:
      description: The node the newest failure happened on (n8n node name, Langflow component id).
      type: str
      sample: OpenAI
    last_failed_at:
      description: When the newest failed execution started (UTC).
      type: str
      sample: "2026-05-09T08:31:02Z"
    last_succeeded_at:
      description: When the newest successful execution among those read started (UTC); null when none.
      type: str
      sample: "2026-05-09T08:32:40Z"
    recovered:
      description:
        - True when it failed in the window but its newest execution read succeeded (after the newest failure);
          the workflow runs again and its failures are history.
      type: bool
      sample: false
    executions:
      description: Ids of its newest failed executions, newest first (at most 5).
      type: list
      elements: str
      sample: ["1208", "1201"]
    traces:
      description: LangSmith trace ids of its newest failures (O(tracing), or the runs of a LangSmith engine).
      type: list
      elements: str
      sample: ["9c2a8040-92f4-41ac-a73b-7bce046d0fff"]
    owner:
      description: Who owns it, or null.
      type: str
      sample: team-support
    owner_source:
      description: V(operator) (O(owners)), V(engine) (its C(owner:) tag) or V(none).
      type: str
      sample: engine
    validation:
      description:
        - C(valid) (true, false, or null when there is no definition to check), C(errors) (list of C(check) -
          V(dangling_connection), V(unknown_node_type), V(missing_credentials), V(missing_parameter),
          V(no_trigger) - C(node) and C(message)) and C(catalog) (V(engine), V(operator) or null when the node
          types could not be checked).
      type: dict
      sample:
        valid: false
        catalog: engine
        errors:
          - check: unknown_node_type
            node: OpenAI
            message: OpenAI has node type n8n-nodes-community.openAi, which this n8n does not have installed
    changes:
      description:
        - Against the baseline (null without O(baseline_dir)) - C(baseline) (C(source) file, C(version) and
          C(saved_at), or null when there is none, with C(message) saying so), C(current_version), C(breaking) and
          C(other) (lists of C(change), C(node), C(message), and C(parameter), C(before), C(after) where they
          apply).
      type: dict
      sample:
        baseline: {source: /srv/baselines/n8n/zeHwn3NrerJLszsa.json, version: 6d1c..., saved_at: "2026-05-08T22:00:00Z"}
        current_version: bbcd6108-5c74-43d7-b08d-3f76802fdd53
        breaking:
          - change: node_type_changed
            node: OpenAI
            before: "@n8n/n8n-nodes-langchain.openAi"
            after: n8n-nodes-community.openAi
            message: "node OpenAI: type @n8n/n8n-nodes-langchain.openAi -> n8n-nodes-community.openAi"
        other: []
failing:
  description: Names of the workflows with failures, most first.
  returned: success
  type: list
  elements: str
  sample: [n8n-support-triage]
not_found:
  description: Entries of O(workflows) that matched no workflow.
  returned: success
  type: list
  elements: str
  sample: []
msg:
  description: One line for a person.
  returned: always
  type: str
  sample: "n8n: 14 of 100 executions failed in the last 60 min (14.0%); failing: n8n-support-triage (owner team-support,
    14 failures, node OpenAI: Unrecognized node type: n8n-nodes-community.openAi; 1 validation error(s); 1 breaking
    change(s) since the baseline)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import (
    check_request_options,
    engine_argument_spec,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import failures
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows.engines import (
    LangSmith,
    make_engine,
    workflow_engine_spec,
)

HTTP_OPTIONS = ("timeout", "retries", "backoff", "validate_certs", "ca_path", "client_cert", "client_key")
OPTIONS = ("since_minutes", "limit", "workflows", "baseline_dir", "owners", "node_types")


def argspec():
    spec = engine_argument_spec()
    spec.update(
        engine=dict(type="dict", required=True, options=workflow_engine_spec()),
        since_minutes=dict(type="int", default=60),
        limit=dict(type="int", default=100),
        workflows=dict(type="list", elements="str"),
        baseline_dir=dict(type="path"),
        owners=dict(type="dict"),
        node_types=dict(type="list", elements="str"),
        tracing=dict(type="dict", options=dict(
            url=dict(type="str", required=True),
            api_key=dict(type="str", no_log=True),
            headers=dict(type="dict", no_log=True),
            project=dict(type="str"),
        )),
    )
    return spec


def http_settings(params):
    http = dict((name, params[name]) for name in HTTP_OPTIONS)
    check_request_options(params["engine"]["url"], timeout=http["timeout"], retries=http["retries"],
                          backoff=http["backoff"], ca_path=http["ca_path"], client_cert=http["client_cert"],
                          client_key=http["client_key"])
    return http


def investigate(params):
    http = http_settings(params)
    engine = make_engine(params["engine"], http)
    tracer = None
    if params["tracing"] and engine.kind != "langsmith":
        spec = params["tracing"]
        tracer = LangSmith("langsmith", spec["url"], api_key=spec["api_key"], headers=spec["headers"], http=http,
                           project=spec["project"])
    return failures.collect(engine, dict((name, params[name]) for name in OPTIONS), tracer=tracer)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = investigate(module.params)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
