# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill's Prometheus and Alertmanager over their HTTP APIs (drill/monitoring.sh)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import drill


def env(name: str) -> str:
    return drill.env()[name]


def get_json(port_var: str, path: str, **params) -> object:
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"http://127.0.0.1:{env(port_var)}{path}{'?' + query if query else ''}",
                                timeout=10) as resp:
        return json.loads(resp.read())


def query(promql: str) -> list[dict]:
    body = get_json("DRILL_PROMETHEUS_PORT", "/api/v1/query", query=promql)
    assert body["status"] == "success", body
    return body["data"]["result"]


def value(promql: str) -> float:
    """The single value of a query that sums to one series; 0 when it has none yet."""
    result = query(promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else 0.0


def firing(alertname: str, **labels: str) -> list[dict]:
    """The firing ALERTS series of an alert with these labels."""
    matchers = ",".join('%s="%s"' % (k, v) for k, v in labels.items())
    return query('ALERTS{alertname="%s",alertstate="firing"%s}' % (alertname, ("," + matchers) if matchers else ""))


def alertmanager_alerts(**labels: str) -> list[dict]:
    """The alerts Alertmanager holds with these labels (api/v2)."""
    filters = ['%s="%s"' % (k, v) for k, v in labels.items()]
    return get_json("DRILL_ALERTMANAGER_PORT", "/api/v2/alerts", filter=filters)
