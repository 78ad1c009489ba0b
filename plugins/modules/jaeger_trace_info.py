#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: jaeger_trace_info
short_description: Summarise a service's recent traces from Jaeger - its slowest and failing operations
version_added: 0.3.0
description:
  - Reads the traces of one service from the Jaeger query API (C(/api/services) and C(/api/traces), what the
    Jaeger UI uses; Jaeger 1.x and 2.x) and returns its operations, slowest first, with their request count,
    errors and latency percentiles, and its slowest traces with a link to each in the Jaeger UI.
  - An operation is what the service's entry spans are named (span kind server or consumer, or a span with no
    parent in the same service when the instrumentation sets no kind), for example V(GET /api/v1/workflows).
    Spans of the calls the service makes (databases, other services) count in the traces' durations but are not
    operations of their own.
  - The newest O(limit) traces that contain a span of the service within the last O(lookback_minutes) are read;
    RV(limited) says when there were more, so the figures are of a sample.
  - Read-only. The same in check mode.
  - A Jaeger that cannot be reached, refuses the credentials or does not know the service makes the task fail
    with a message that says which, and RV(error_kind); a playbook that treats traces as optional evidence sets
    C(ignore_errors) and records that the traces were not read.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  url:
    description:
      - Base URL of the Jaeger query service (the address of the Jaeger UI), with its path prefix when it runs
        under one, for example V(http://jaeger-query.observability:16686) or V(https://tools.example.com/jaeger).
        The module adds C(/api/...).
      - In playbooks of this collection, the inventory variable C(jaeger_url).
    type: str
    required: true
  service:
    description:
      - The service whose traces are read, as its spans name it (their resource attribute C(service.name)), for
        example V(api-gateway).
      - A service Jaeger does not know fails with RV(error_kind=unknown_service) and the list of the services it
        knows in RV(services).
    type: str
    required: true
  lookback_minutes:
    description:
      - How far back to read, in minutes. At least 1.
    type: int
    default: 15
  limit:
    description:
      - How many traces to read at most, newest first. At least 1. Jaeger's memory store refuses more than the
        number of traces it keeps.
    type: int
    default: 200
  top:
    description:
      - How many operations and how many slowest traces to return. At least 1.
    type: int
    default: 10
  min_duration_ms:
    description:
      - Only traces with a span of the service that took at least this many milliseconds (Jaeger's
        C(minDuration)); the figures are then of those traces only.
    type: float
  operation:
    description:
      - Only traces with a span of the service of this operation name (Jaeger's C(operation)), for example
        V(POST /api/v1/workflows/{id}/executions).
    type: str
  timeout:
    description:
      - Seconds to wait for each answer. Must be above 0.
    type: float
    default: 10.0
  retries:
    description:
      - How many times a request is tried again after a refused connection, a timeout or an HTTP 429, 502, 503 or
        504, waiting 0.5 s, then 1 s, then 2 s...
    type: int
    default: 2
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate. Only V(false) for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates that sign the server's certificate, when the system's store does not.
    type: path
  headers:
    description:
      - "Extra HTTP headers for every request, such as V({X-Scope-OrgID: tenant-a}) for a multi-tenant
        Jaeger behind a proxy."
      - Their values are masked in every returned message; give a token with O(bearer_token).
    type: dict
    default: {}
  bearer_token:
    description:
      - "Token sent as C(Authorization: Bearer <token>), as an OAuth proxy in front of Jaeger expects."
      - Not together with an C(Authorization) header in O(headers).
    type: str
notes:
  - The module runs on the control node (or the AWX execution node) and talks to Jaeger directly, through the
    proxy the standard C(https_proxy), C(http_proxy) and C(no_proxy) variables name.
  - Percentiles are nearest-rank over the durations of the traces read.
seealso:
  - name: Jaeger query service HTTP API
    description: The API the Jaeger UI uses, which this module reads.
    link: https://www.jaegertracing.io/docs/latest/apis/
  - module: ai_orchestrator.incident_response.prometheus_query_info
"""

EXAMPLES = r"""
- name: Which operations of the gateway are slow, from its traces
  ai_orchestrator.incident_response.jaeger_trace_info:
    url: "{{ jaeger_url }}"
    service: api-gateway
    lookback_minutes: 15
  register: traces
  ignore_errors: true

- name: Name the slowest one, or say the traces could not be read
  ansible.builtin.debug:
    msg: >-
      {{ 'traces not read: ' ~ traces.msg if traces.failed else
         (traces.operations[0].name ~ ' p95 ' ~ traces.operations[0].p95_ms ~ ' ms, slowest trace '
          ~ traces.slowest_traces[0].url) if traces.operations else 'no requests in the window' }}

- name: Only the slow executions (over 2 s) of one route
  ai_orchestrator.incident_response.jaeger_trace_info:
    url: https://tools.example.com/jaeger
    bearer_token: "{{ jaeger_token }}"
    service: api-gateway
    operation: POST /api/v1/workflows/{id}/executions
    min_duration_ms: 2000
    top: 5
  register: slow
"""

RETURN = r"""
url:
  description: The Jaeger URL read, without credentials.
  returned: always
  type: str
  sample: http://127.0.0.1:56686
service:
  description: The service whose traces were read.
  returned: always
  type: str
  sample: api-gateway
services:
  description: Every service Jaeger knows (has spans of), sorted; also returned when the service is unknown.
  returned: success and when error_kind is unknown_service
  type: list
  elements: str
  sample: [api-gateway, langflow, langsmith, n8n]
traces_read:
  description: How many traces were read.
  returned: success
  type: int
  sample: 200
spans_read:
  description: How many spans those traces hold (of every service).
  returned: success
  type: int
  sample: 412
limited:
  description: True when O(limit) traces were read, so there may be more in the window and the figures are of the newest.
  returned: success
  type: bool
  sample: true
lookback_minutes:
  description: The window read, in minutes.
  returned: success
  type: int
  sample: 15
operations:
  description:
    - The service's operations, slowest first (by p95, then by maximum), at most O(top).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The operation, as the entry spans name it.
      type: str
      sample: GET /api/v1/workflows/{id}/executions
    count:
      description: How many entry spans of this operation the traces hold.
      type: int
      sample: 150
    errors:
      description: How many of them failed (span status error, tag C(error=true), or an HTTP status of 500 or above).
      type: int
      sample: 3
    error_ratio:
      description: RV(operations[].errors) divided by RV(operations[].count).
      type: float
      sample: 0.02
    p50_ms:
      description: Median duration in milliseconds (nearest rank).
      type: float
      sample: 12.5
    p95_ms:
      description: 95th percentile duration in milliseconds (nearest rank).
      type: float
      sample: 2531.2
    max_ms:
      description: Longest duration in milliseconds.
      type: float
      sample: 2604.9
    slowest_trace_id:
      description: The trace of the longest one.
      type: str
      sample: 4bf92f3577b34da6a3ce929d0e0e4736
  sample:
    - name: GET /api/v1/workflows/{id}/executions
      count: 150
      errors: 0
      error_ratio: 0.0
      p50_ms: 2510.4
      p95_ms: 2531.2
      max_ms: 2604.9
      slowest_trace_id: 4bf92f3577b34da6a3ce929d0e0e4736
slowest_traces:
  description: The longest traces read, longest first, at most O(top).
  returned: success
  type: list
  elements: dict
  contains:
    trace_id:
      description: The trace's id.
      type: str
      sample: 4bf92f3577b34da6a3ce929d0e0e4736
    operation:
      description: The name of the trace's root span.
      type: str
      sample: GET /api/v1/workflows/{id}/executions
    duration_ms:
      description: From the first span's start to the last span's end, in milliseconds.
      type: float
      sample: 2604.9
    error:
      description: True when any span of the trace failed.
      type: bool
      sample: false
    spans:
      description: How many spans the trace holds.
      type: int
      sample: 2
    url:
      description: The trace in the Jaeger UI.
      type: str
      sample: http://127.0.0.1:56686/trace/4bf92f3577b34da6a3ce929d0e0e4736
error_kind:
  description:
    - Why the traces were not read - C(unreachable) (no HTTP answer - refused, DNS, TLS, timeout), C(auth) (HTTP 401
      or 403), C(not_jaeger) (HTTP 404 or a reply that is not the Jaeger API), C(server) (HTTP 5xx), C(bad_query)
      (another HTTP 4xx), C(unknown_service) (Jaeger has no spans of O(service)) or C(invalid_input) (an option is
      unusable; nothing was sent).
  returned: failure
  type: str
  sample: unreachable
http_status:
  description: The HTTP status of the failed request, null when there was no HTTP answer.
  returned: failure
  type: int
  sample: 503
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import safe_url
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.tracing.jaeger import (
    JaegerClient,
    JaegerError,
    jaeger_argument_spec,
    read_traces,
)


def argspec():
    return jaeger_argument_spec()


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    for value in (params["headers"] or {}).values():
        if value is not None and len(str(value)) >= 4:
            module.no_log_values.add(str(value))
    where = dict(url=safe_url(params["url"]), service=params["service"])
    try:
        client = JaegerClient.from_params(params)
        result = read_traces(client, params)
    except JaegerError as exc:
        extra = dict(services=exc.services) if exc.services is not None else {}
        module.fail_json(msg=str(exc), error_kind=exc.kind, http_status=exc.status, **dict(where, **extra))
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input", http_status=None, **where)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
