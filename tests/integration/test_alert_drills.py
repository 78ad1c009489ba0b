# SPDX-License-Identifier: GPL-3.0-or-later
"""Each runbook alert fires in the drill from the fault that should fire it (issue 9).

The HTTP stand-ins' failure modes make their metrics misbehave the way production's would:
5xx answers (HighErrorRate), slow answers (HighResponseTime), a failing engine under the
gateway's workflow executions (WorkflowExecutionFailureRate) and a service that stops
answering altogether (ServiceDown through `up`). Prometheus evaluates the collection's rules
(rendered with the drill's `for:` and windows) and Alertmanager receives the alerts with the
labels and annotations the rulebook and people read. While they fire, every panel of the
Grafana dashboard returns data for the platform's namespace; once the faults are cleared,
every alert resolves.

Runs in the data plane's group: it switches the shared stand-ins' modes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import dataplane as dp
import drill
import prom

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import alerting_util  # noqa: E402  (the dashboard reader shared with the unit tests)

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
NAMESPACE = "ai-orchestrator"
# stand-in -> (mode, its settings), and the alert (with labels) each fault must fire.
FAULTS = {"gateway": ("error", {"status": 503}), "langflow": ("slow", {"delay": 3}),
          "n8n": ("error", {"status": 500}), "langsmith": ("down", {})}
EXPECTED = [
    ("HighErrorRate", {"service": "api-gateway"}),
    ("HighResponseTime", {"service": "langflow"}),
    ("WorkflowExecutionFailureRate", {"service": "api-gateway", "engine": "n8n"}),
    ("ServiceDown", {"service": "langsmith", "severity": "P1"}),
]
PLAYBOOKS = {"ServiceDown": "playbooks/service_down.yml", "WorkflowExecutionFailureRate": "playbooks/workflow_failures.yml",
             "HighErrorRate": "playbooks/high_error_rate.yml", "HighResponseTime": "playbooks/high_response_time.yml"}


@pytest.fixture(scope="module")
def faults():
    """Every fault at once (the alerts need the same rate window, so they fire together)."""
    try:
        for service, (mode, settings) in FAULTS.items():
            dp.set_mode(service, mode, **settings)
        yield
    finally:
        for service in FAULTS:
            dp.set_mode(service, "ok")
        # Later tests must not meet these alerts: wait until the window has slid past the faults.
        drill.wait_for(lambda: not any(prom.firing(name, namespace=NAMESPACE, **labels) for name, labels in EXPECTED),
                       120, interval=1, message="the drill alerts to resolve")


@pytest.mark.parametrize("alertname, labels", EXPECTED, ids=[name for name, _labels in EXPECTED])
def test_the_fault_fires_its_alert_with_the_runbook_labels(faults, alertname, labels):
    series = drill.wait_for(lambda: prom.firing(alertname, namespace=NAMESPACE, cluster="drill", **labels), 90,
                            interval=1, message="%s %s to fire" % (alertname, labels))
    assert series[0]["metric"]["severity"].startswith("P")
    held = drill.wait_for(lambda: prom.alertmanager_alerts(alertname=alertname, namespace=NAMESPACE, **labels), 30,
                          interval=0.5, message="Alertmanager to hold %s" % alertname)
    annotations = held[0]["annotations"]
    assert annotations["runbook_section"] and annotations["summary"]
    # ServiceDown and WorkflowExecutionFailureRate have their playbooks; the others escalate until theirs is written.
    if alertname in PLAYBOOKS:
        assert annotations["playbook"] == PLAYBOOKS[alertname]
    else:
        assert annotations["playbook"].startswith("none yet")
    assert "ai-orchestrator-overview" in annotations["dashboard"]


def test_every_dashboard_panel_shows_data_while_the_alerts_fire(faults):
    for alertname, labels in EXPECTED:
        drill.wait_for(lambda: prom.firing(alertname, namespace=NAMESPACE, **labels), 90, interval=1,
                       message="%s to fire" % alertname)
    empty = [(p.id, p.title, p.expr) for p in alerting_util.panel_queries("drill", NAMESPACE, rate_interval="20s")
             if not prom.query(p.expr)]
    assert not empty, empty
    # Scoped to the failing service, its own panels show it.
    errors = next(p for p in alerting_util.panel_queries("drill", NAMESPACE, "api-gateway", rate_interval="20s") if p.id == 3)
    ratio = prom.query(errors.expr)
    assert [s["metric"]["service"] for s in ratio] == ["api-gateway"] and float(ratio[0]["value"][1]) > 0.05
