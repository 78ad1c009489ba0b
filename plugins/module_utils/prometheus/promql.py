# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PromQL each scenario reads: the alert's evidence and its recovery check.

The expressions follow the collection's alert rules (alerting/prometheus/
ai-orchestrator-alerts.yml): the same metrics and thresholds, scoped to one namespace
(and cluster) and, for recovery, to the services a run acted on. A recovery query
returns one series per service still over its threshold; no series is recovery.

Label values come from requests and alert labels (untrusted), so every value is
escaped as a PromQL string, and service names are matched exactly (regex-escaped).
"""

from __future__ import annotations

import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput

# The rules' thresholds (alerting/prometheus/ai-orchestrator-alerts.yml).
ERROR_RATIO = 0.05
RESPONSE_TIME_P95_SECONDS = 2
WORKFLOW_FAILURE_RATIO = 0.1
# Below these rates the ratios are noise and the rules stay quiet.
MIN_REQUEST_RATE = 0.1
MIN_EXECUTION_RATE = 0.05
# The scrape job of the platform's own services (the rules read only it).
SERVICE_JOB = "ai-orchestrator"

# Scenario queries by alert name. {sel} is the namespace/cluster matcher list, {app} the
# same for the services' own metrics (their scrape job); {svc} a regex of the services,
# {win} the rate window (the rules' own, "window").
QUERIES = {
    "ServiceDown": {
        "evidence": {
            "availability": (
                'label_replace(kube_deployment_status_replicas_available{{{sel}}} / kube_deployment_spec_replicas{{{sel}}},'
                ' "service", "$1", "deployment", "(.*)")'
                ' or label_replace(kube_statefulset_status_replicas_ready{{{sel}}} / kube_statefulset_replicas{{{sel}}},'
                ' "service", "$1", "statefulset", "(.*)")'),
            "targets_up": 'up{{job="ai-orchestrator",{sel}}}',
            "firing_alerts": 'ALERTS{{alertstate="firing",{sel}}}',
        },
        "recovery": (
            '(kube_deployment_spec_replicas{{{sel},deployment=~"{svc}"}}'
            ' - kube_deployment_status_replicas_available{{{sel},deployment=~"{svc}"}}) > 0'
            ' or (kube_statefulset_replicas{{{sel},statefulset=~"{svc}"}}'
            ' - kube_statefulset_status_replicas_ready{{{sel},statefulset=~"{svc}"}}) > 0'
            ' or up{{job="ai-orchestrator",{sel},service=~"{svc}"}} == 0'),
        "window": None,  # availability is a gauge: no rate window
    },
    "HighErrorRate": {
        "evidence": {
            "error_ratio": (
                'sum by (service) (rate(http_requests_total{{{app},code=~"5.."}}[{win}]))'
                ' / sum by (service) (rate(http_requests_total{{{app}}}[{win}]))'),
            "errors_by_route": 'sum by (service, route, code) (rate(http_requests_total{{{app},code=~"5.."}}[{win}]))',
            "firing_alerts": 'ALERTS{{alertstate="firing",{sel}}}',
        },
        "recovery": (
            '(sum by (service) (rate(http_requests_total{{{app},service=~"{svc}",code=~"5.."}}[{win}]))'
            ' / (sum by (service) (rate(http_requests_total{{{app},service=~"{svc}"}}[{win}])) >= %s)) > %s'
            % (MIN_REQUEST_RATE, ERROR_RATIO)),
        "window": "5m",
    },
    "HighResponseTime": {
        "evidence": {
            "p95_seconds": (
                'histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{{{app}}}[{win}])))'),
            "p50_by_route": (
                'histogram_quantile(0.5, sum by (service, route, le)'
                ' (rate(http_request_duration_seconds_bucket{{{app}}}[{win}])))'),
            "p95_by_route": (
                'histogram_quantile(0.95, sum by (service, route, le)'
                ' (rate(http_request_duration_seconds_bucket{{{app}}}[{win}])))'),
            "p99_by_route": (
                'histogram_quantile(0.99, sum by (service, route, le)'
                ' (rate(http_request_duration_seconds_bucket{{{app}}}[{win}])))'),
            "firing_alerts": 'ALERTS{{alertstate="firing",{sel}}}',
        },
        "recovery": (
            'histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket'
            '{{{app},service=~"{svc}"}}[{win}]))) > %s' % RESPONSE_TIME_P95_SECONDS),
        "window": "5m",
    },
    "WorkflowExecutionFailureRate": {
        "evidence": {
            "failure_ratio": (
                'sum by (service, engine) (rate(workflow_executions_total{{{app},status="failure"}}[{win}]))'
                ' / sum by (service, engine) (rate(workflow_executions_total{{{app}}}[{win}]))'),
            "queue_depth": 'workflow_queue_depth{{{app}}}',
            "firing_alerts": 'ALERTS{{alertstate="firing",{sel}}}',
        },
        "recovery": (
            '(sum by (service, engine) (rate(workflow_executions_total{{{app},service=~"{svc}",status="failure"}}[{win}]))'
            ' / (sum by (service, engine) (rate(workflow_executions_total{{{app},service=~"{svc}"}}[{win}])) >= %s)) > %s'
            % (MIN_EXECUTION_RATE, WORKFLOW_FAILURE_RATIO)),
        "window": "10m",
    },
}

_WINDOW = re.compile(r"^[1-9][0-9]*(ms|s|m|h)\Z")


def promql_string(value):
    """``value`` as a double-quoted PromQL string (backslash, quote and newline escaped)."""
    if not isinstance(value, str):
        raise InvalidInput("a PromQL label value must be a string, not %s" % type(value).__name__)
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def regex_literal(value):
    """``value`` matched literally by a Prometheus (RE2) regex: its metacharacters escaped."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def _window_seconds(window):
    number, unit = int(re.match(r"\d+", window).group()), re.search(r"[a-z]+$", window).group()
    return {"ms": number / 1000.0, "s": number, "m": number * 60, "h": number * 3600}[unit] if number else 0


def alert_queries(alert, namespace, services=(), cluster="", window=""):
    """``{evidence: {name: promql}, recovery: promql, rate_window: seconds}`` for one alert.

    ``services`` narrows the recovery check (all services of the namespace when empty);
    ``cluster`` adds a ``cluster`` matcher for a Prometheus that serves several clusters;
    ``window`` overrides the rules' rate window (e.g. "20s" in the drill). An alert
    without a table entry has ``{}`` evidence beyond its own ALERTS series and no recovery.
    """
    if not isinstance(namespace, str) or not namespace:
        raise InvalidInput("alert_queries needs the namespace")
    if isinstance(services, str):
        services = [services] if services else []
    if not isinstance(services, (list, tuple)) or not all(isinstance(s, str) and s for s in services):
        raise InvalidInput("services must be a list of service names")
    if window and not _WINDOW.match(window):
        raise InvalidInput("window %r is not a Prometheus duration such as 30s or 5m" % (window,))
    entry = QUERIES.get(alert)
    matchers = ["namespace=%s" % promql_string(namespace)]
    if cluster:
        matchers.append("cluster=%s" % promql_string(cluster))
    sel = ",".join(matchers)
    svc = promql_string("|".join(regex_literal(s) for s in services) if services else ".+")[1:-1]
    if entry is None:
        return {"evidence": {"firing_alerts": "ALERTS{alertstate=\"firing\",alertname=%s,%s}" % (promql_string(alert), sel)},
                "recovery": "", "rate_window": 0}
    win = window or entry["window"] or "5m"
    fill = dict(sel=sel, app="job=%s,%s" % (promql_string(SERVICE_JOB), sel), svc=svc, win=win)
    return {
        "evidence": dict((name, query.format(**fill)) for name, query in entry["evidence"].items()),
        "recovery": entry["recovery"].format(**fill),
        "rate_window": _window_seconds(win) if entry["window"] else 0,
    }
