#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_query_info
short_description: Run a PromQL instant or range query
version_added: 0.2.0
description:
  - Runs one PromQL expression against the Prometheus HTTP API and returns its series in a shape playbooks
    read directly, such as RV(series[].value), RV(series[].labels) or RV(empty).
  - An instant query at O(time) (default now) unless O(start) is set; then a range query from O(start) to
    O(end) every O(step).
  - Read-only. The same in check mode.
  - A server that cannot be reached, refuses the credentials, rejects the query or fails makes the task fail
    with a message that says which, and RV(error_kind) for playbooks that fall back to other evidence.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.prometheus
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  query:
    description:
      - The PromQL expression, for example V(up{job="ai-orchestrator"} == 0).
      - Long expressions are sent as a form POST instead of in the URL.
    type: str
    required: true
  time:
    description:
      - Evaluation time of an instant query. RFC 3339 (V(2026-05-09T07:35:25Z)), unix seconds, V(now), or a
        time relative to now such as V(-10m) or V(now-1h30m). Default now.
      - Relative times and V(now) use the control node's clock.
      - Not with O(start).
    type: raw
  start:
    description:
      - Start of a range query, in any form O(time) takes (V(-10m) is ten minutes ago). Setting it makes the
        query a range query.
    type: raw
  end:
    description:
      - End of a range query, in any form O(time) takes. Default now. Only with O(start).
    type: raw
  step:
    description:
      - Resolution of a range query, as a Prometheus duration (V(15s), V(1m)) or seconds. Only with O(start).
      - Default the range divided into about 250 points, at least V(1s).
      - More than 11000 points per series (what Prometheus serves) fails before the query is sent.
    type: raw
notes:
  - Sample values are floats. Prometheus's V(NaN), V(+Inf) and V(-Inf) are returned as V(null) with the
    original string in C(raw), so a comparison on them fails loudly instead of passing silently.
  - Times in the result are RFC 3339 UTC, with milliseconds when the time has them.
  - Warnings Prometheus attaches to a result (for example a failed remote-read store) are shown as task
    warnings and returned in RV(prometheus_warnings); the result is still returned.
seealso:
  - name: Prometheus HTTP API
    description: The query endpoints this module calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Which services of the namespace are down, by their scrape
  ai_orchestrator.incident_response.prometheus_query_info:
    url: https://prometheus.example.com
    bearer_token: "{{ prometheus_token }}"
    query: up{namespace="ai-orchestrator"} == 0
  register: down

- name: Name them
  ansible.builtin.debug:
    msg: "{{ down.series | map(attribute='labels.service') | list }}"

- name: Error ratio of api-gateway over the last 30 minutes, one point a minute
  ai_orchestrator.incident_response.prometheus_query_info:
    url: https://prometheus.example.com
    query: >-
      sum(rate(http_requests_total{service="api-gateway",code=~"5.."}[5m]))
      / sum(rate(http_requests_total{service="api-gateway"}[5m]))
    start: -30m
    step: 1m
  register: errors

- name: Say its peak and where it is now
  ansible.builtin.debug:
    msg: "peak {{ errors.series[0].max }}, now {{ errors.series[0].last }}"
  when: not errors.empty

- name: Set the server and its credentials once for every Prometheus task of a play
  module_defaults:
    group/ai_orchestrator.incident_response.prometheus:
      url: https://monitoring.example.com/prometheus
      url_username: incident-response
      url_password: "{{ prometheus_password }}"
      ca_path: /etc/pki/monitoring-ca.pem
  block:
    - name: Wait until the service recovers - the alert's expression returns no series
      ai_orchestrator.incident_response.prometheus_query_info:
        query: up{namespace="ai-orchestrator", service="api-gateway"} == 0
      register: result
      until: result.empty
      retries: 30
      delay: 10

- name: Try the metrics, fall back to readiness when Prometheus cannot be reached
  ai_orchestrator.incident_response.prometheus_query_info:
    url: http://127.0.0.1:59090
    query: ALERTS{alertname="ServiceDown", alertstate="firing"}
  register: firing
  failed_when: firing.failed and firing.error_kind not in ['unreachable', 'server']
"""

RETURN = r"""
url:
  description: The Prometheus URL queried, without credentials.
  returned: always
  type: str
  sample: https://prometheus.example.com
query:
  description: The PromQL expression sent.
  returned: always
  type: str
  sample: up{namespace="ai-orchestrator"} == 0
result_type:
  description: What the expression returned, in Prometheus's words.
  returned: success
  type: str
  choices: [vector, matrix, scalar, string]
  sample: vector
empty:
  description:
    - True when a vector or matrix holds no series - the usual sign that an alert's expression no longer matches.
    - Always false for a scalar or string.
  returned: success
  type: bool
  sample: false
series:
  description:
    - One entry per series, in Prometheus's order. An instant query's entries have RV(series[].value) and
      RV(series[].time); a range query's have RV(series[].values), RV(series[].last), RV(series[].min) and
      RV(series[].max).
    - A scalar or string result is one entry with empty labels.
  returned: success
  type: list
  elements: dict
  contains:
    labels:
      description: The series' labels, C(__name__) included when the expression keeps it.
      type: dict
      sample: {__name__: up, job: ai-orchestrator, namespace: ai-orchestrator, service: api-gateway}
    value:
      description:
        - Instant query - the sample's value; null for NaN, +Inf, -Inf and native histograms (see RV(series[].raw)).
        - A string result's text.
      type: raw
      returned: instant query, scalar, string
      sample: 0.0
    time:
      description: Instant query - the sample's time (the evaluation time), RFC 3339 UTC.
      type: str
      returned: instant query, scalar, string
      sample: "2026-05-09T07:35:25.123Z"
    raw:
      description: The API's own text of a value that is not a finite number (V(NaN), V(+Inf), V(-Inf), V(histogram)).
      type: str
      returned: when the value is null
      sample: NaN
    histogram:
      description: A native histogram sample as Prometheus returns it (count, sum, buckets).
      type: dict
      returned: for native histogram samples
      sample: {count: "12", sum: "3.4", buckets: []}
    values:
      description: Range query - the points, oldest first, each with C(time), C(value) and, for a non-finite value, C(raw).
      type: list
      elements: dict
      returned: range query
      sample: [{time: "2026-05-09T07:35:00Z", value: 0.12}, {time: "2026-05-09T07:36:00Z", value: null, raw: NaN}]
    last:
      description: Range query - the value of the newest point (null when it is not a finite number).
      type: float
      returned: range query
      sample: 0.02
    min:
      description: Range query - the smallest finite value, or null when there is none.
      type: float
      returned: range query
      sample: 0.01
    max:
      description: Range query - the largest finite value, or null when there is none.
      type: float
      returned: range query
      sample: 0.12
  sample:
    - labels: {job: ai-orchestrator, namespace: ai-orchestrator, service: api-gateway}
      value: 0.0
      time: "2026-05-09T07:35:25.123Z"
prometheus_warnings:
  description: Warnings Prometheus returned with the result (also shown as task warnings).
  returned: success
  type: list
  elements: str
  sample: []
time:
  description: Evaluation time of an instant query, RFC 3339 UTC; null for a range query.
  returned: success
  type: str
  sample: "2026-05-09T07:35:25.123Z"
start:
  description: Start of a range query as sent, RFC 3339 UTC; null for an instant query.
  returned: success
  type: str
  sample: "2026-05-09T07:05:25.123Z"
end:
  description: End of a range query as sent, RFC 3339 UTC; null for an instant query.
  returned: success
  type: str
  sample: "2026-05-09T07:35:25.123Z"
step:
  description: Step of a range query in seconds; null for an instant query.
  returned: success
  type: float
  sample: 60
error_kind:
  description:
    - Why the query failed - C(unreachable) (no HTTP answer - refused, DNS, TLS, timeout), C(auth) (HTTP 401 or 403),
      C(bad_query) (Prometheus rejected or could not evaluate the expression), C(server) (HTTP 5xx),
      C(not_prometheus) (HTTP 404 or a reply that is not the Prometheus API, such as a login page) or
      C(invalid_input) (an option is unusable; nothing was sent).
  returned: failure
  type: str
  sample: unreachable
http_status:
  description: The HTTP status of a failed query, null when there was no HTTP answer.
  returned: failure
  type: int
  sample: 422
error_type:
  description: Prometheus's C(errorType) of a failed query (C(bad_data), C(execution), C(timeout), ...), or null.
  returned: failure
  type: str
  sample: bad_data
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.prometheus.client import (
    PrometheusClient,
    PrometheusError,
    prometheus_argument_spec,
    safe_url,
    split_credentials,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.prometheus.query import run_query


def argspec():
    spec = prometheus_argument_spec()
    spec.update(
        query=dict(type="str", required=True),
        time=dict(type="raw"),
        start=dict(type="raw"),
        end=dict(type="raw"),
        step=dict(type="raw"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    try:
        # A password written into the url is masked like url_password everywhere in the
        # result, the invocation's copy of the url included.
        embedded_password = split_credentials(params["url"])[2]
        if embedded_password:
            module.no_log_values.add(embedded_password)
        client = PrometheusClient.from_params(params)
        result = run_query(client, params)
    except PrometheusError as exc:
        module.fail_json(msg=str(exc), url=safe_url(params["url"]), query=params["query"], error_kind=exc.kind,
                         http_status=exc.status, error_type=exc.error_type)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), url=safe_url(params["url"]), query=params["query"], error_kind="invalid_input",
                         http_status=None, error_type=None)
    for warning in result["prometheus_warnings"]:
        module.warn("Prometheus: %s" % warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
