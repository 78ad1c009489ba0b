# SPDX-License-Identifier: GPL-3.0-or-later
"""Alerts in the loop, end to end (issue 9), with every component real:

fault -> Prometheus fires ServiceDown (kube-state-metrics sees the pod fail) -> Alertmanager
routes the group to the rulebook's webhook with its bearer token -> ansible-rulebook runs
service_down.yml -> the pod is healed -> the metric returns under its threshold (verified by
the playbook) -> Prometheus resolves the alert -> Alertmanager's resolved notification is
recorded on the incident.

The drill Alertmanager (drill/monitoring.sh) posts to DRILL_EDA_PORT with the token in
$DRILL_RUN/secrets/eda_token; the rulebook listens there with the route table limited to the
test's own namespace (loop-<hex>). The timings of each step are printed and written to
$DRILL_RUN/alert-loop-timings.json (docs/benchmarks.md quotes them).

Also: the Grafana dashboard's panels return data from the drill Prometheus while their
alert fires (ServiceDown here; the stand-ins' alerts in test_alert_drills.py), and with
Prometheus down a run still heals on Kubernetes evidence and records that the metrics were
not verified.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path

import pytest

import drill
import eda
import prom
from playbook import playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import alerting_util  # noqa: E402  (the dashboard reader shared with the unit tests)

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
SERVICES = {"checkout": 2, "cart": 2}


@pytest.fixture(scope="module")
def namespace():
    name = eda.team_namespace("loop", SERVICES)
    yield name
    eda.remove_namespace(name)


@pytest.fixture
def rulebook(tmp_path_factory, namespace):
    """The rulebook where the drill Alertmanager sends, with the drill's token."""
    run = Path(drill.env()["DRILL_RUN"])
    token = (run / "secrets" / "eda_token").read_text().strip()
    book = eda.Rulebook(tmp_path_factory.mktemp("loop"), [namespace], port=int(drill.env()["DRILL_EDA_PORT"]),
                        token=token).start()
    yield book
    book.stop()


def _when(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_fault_is_alerted_routed_healed_and_resolved_end_to_end(namespace, rulebook):
    pod = drill.pods("checkout", namespace=namespace)[0].metadata.name
    t = {"fault": time.time()}
    drill.inject_pod_fault(pod, "crashloop", namespace=namespace)

    alert = drill.wait_for(lambda: prom.firing("ServiceDown", namespace=namespace, service="checkout"), 90,
                           interval=0.25, message="ServiceDown to fire in Prometheus")[0]
    t["alert_firing"] = time.time()
    assert alert["metric"]["severity"] == "P2" and alert["metric"]["cluster"] == "drill"

    # While it fires, the dashboard's availability panel shows the workload (template variables substituted).
    panels = {p.title: p for p in alerting_util.panel_queries("drill", namespace, "checkout", rate_interval="20s")}
    availability = next(p for p in panels.values() if p.id == 1)
    assert prom.query(availability.expr), availability

    def incident():
        found = rulebook.incidents_of(namespace)
        return found[0] if found else None
    record = drill.wait_for(incident, 120, interval=0.25, message="the rulebook's run to open the incident")
    t["incident_opened"] = _when(record["opened_at"])

    def resolved():
        found = incident()
        return found if found and found["status"] in ("resolved", "escalated") else None
    record = drill.wait_for(resolved, 180, interval=0.5, message="the incident to be resolved")
    assert record["status"] == "resolved", record
    t["incident_resolved"] = _when(record["resolved_at"])
    assert record["services"]["checkout"]["status"] == "restored"
    assert record["alert"]["name"] == "ServiceDown" and record["alert"]["labels"]["service"] == "checkout"
    assert drill.workload_ready("checkout", 2, namespace=namespace)

    drill.wait_for(lambda: not prom.firing("ServiceDown", namespace=namespace), 90, interval=0.25,
                   message="ServiceDown to resolve in Prometheus")
    t["alert_resolved"] = time.time()

    def alert_resolved_event():
        events = rulebook.timeline(incident())
        return [e for e in events if e.get("type") == "alert_resolved"]
    resolved_events = drill.wait_for(alert_resolved_event, 90, interval=0.5,
                                     message="Alertmanager's resolved notification on the incident")
    t["resolution_recorded"] = _when(resolved_events[0]["time"])

    # The timeline tells the story in order, each step with its time.
    events = rulebook.timeline(incident())
    order = ["incident_opened", "root_cause_identified", "fix_implemented", "service_restored", "incident_resolved", "alert_resolved"]
    times = {}
    for kind in order:
        matching = [e for e in events if e.get("type") == kind]
        assert matching, "no %s event in %s" % (kind, [e.get("type") for e in events])
        times[kind] = _when(matching[0]["time"])
    assert [times[k] for k in order] == sorted(times[k] for k in order), times
    # Restored by readiness and by the alert's metric back under its threshold.
    restored = next(e for e in events if e.get("type") == "service_restored")
    assert restored["data"]["metrics"]["verified"] is True, restored
    assert "metrics: back under the threshold" in restored["message"]
    evidence = Path(record["_dir"]) / "artifacts" / "metrics" / "evidence.json"
    series = json.loads(evidence.read_text())["series"]
    assert any(s["labels"].get("service") == "checkout" for s in series["availability"]), series
    assert rulebook.runs("Service Down") == 1

    # The callback records the run's tasks from its first one (kept until the incident exists).
    t["playbook_start"] = min(_when(e["started"]) for e in events if e.get("type") == "task" and e.get("started"))
    steps = {
        "fault_to_alert_firing_s": t["alert_firing"] - t["fault"],
        "alert_firing_to_playbook_start_s": t["playbook_start"] - t["alert_firing"],
        "playbook_start_to_incident_resolved_s": t["incident_resolved"] - t["playbook_start"],
        "fault_to_incident_resolved_s": t["incident_resolved"] - t["fault"],
        "incident_resolved_to_alert_resolved_s": t["alert_resolved"] - t["incident_resolved"],
        "alert_resolved_to_recorded_s": t["resolution_recorded"] - t["alert_resolved"],
    }
    report = {k: round(v, 1) for k, v in steps.items()}
    (Path(drill.env()["DRILL_RUN"]) / "alert-loop-timings.json").write_text(json.dumps(report, indent=1))
    print("alert loop timings:", json.dumps(report))


def test_with_prometheus_down_the_run_heals_on_kubernetes_evidence_and_says_metrics_were_not_verified(
        namespace, tmp_path):
    # No rulebook listens now (its fixture ended with the first test): this run is the only actor.
    pod = drill.pods("cart", namespace=namespace)[0].metadata.name
    drill.inject_pod_fault(pod, "crashloop", namespace=namespace)
    drill.wait_for(lambda: not drill.workload_ready("cart", 2, namespace=namespace), 60, message="cart to fail")
    incidents = tmp_path / "incidents"
    # Nothing listens on port 9 (discard): Prometheus is "down" for this run.
    result = playbook("service_down.yml", "-i", eda.inventory(tmp_path / "inventory.yml", incidents),
                      "-e", "namespace=" + namespace, "-e", "service=cart", "-e", "prometheus_url=http://127.0.0.1:9")
    assert result.returncode == 0, result.stdout[-4000:]
    assert drill.workload_ready("cart", 2, namespace=namespace)
    record_dir = next(incidents.glob("incident-*"))
    record = json.loads((record_dir / "incident.json").read_text())
    assert record["status"] == "resolved" and record["services"]["cart"]["status"] == "restored"
    events = [json.loads(line) for line in (record_dir / "timeline.jsonl").read_text().splitlines()]
    notes = [e for e in events if e.get("type") == "note" and "Metrics not available" in e.get("message", "")]
    assert notes and "unreachable" in notes[0]["data"]["reason"]
    restored = next(e for e in events if e.get("type") == "service_restored")
    assert "metrics: not verified: Prometheus at http://127.0.0.1:9 is unreachable" in restored["message"]
    assert restored["data"]["metrics"]["verified"] is None
    assert not (record_dir / "artifacts" / "metrics").exists()
