# SPDX-License-Identifier: GPL-3.0-or-later
"""Alerts in the loop (issue 9): the Event-Driven Ansible rulebook behind Alertmanager's webhook.

A real ansible-rulebook runs the collection's rulebook and route table; the tests post what
Alertmanager posts (a group of alerts of one cluster and namespace) for workloads in a
namespace of their own (eda-<hex>), and read the incidents the playbook runs wrote:

- the webhook refuses a request without the right token, and runs nothing;
- a storm (a group of several ServiceDown alerts, sent twice) is one run and one incident, which
  heals every failing service of the namespace; the resolved notification is recorded on it;
- an alert whose scenario has no playbook yet opens an incident with the evidence and escalates;
- hostile labels (a cluster label that is a host pattern, a namespace that is not a name)
  start nothing; alerts of namespaces the route table does not list are ignored.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import drill
import eda

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
SERVICES = {"orders": 2, "payments": 2, "catalog": 1}


@pytest.fixture(scope="module")
def namespace():
    name = eda.team_namespace("eda", SERVICES)
    yield name
    eda.remove_namespace(name)


@pytest.fixture(scope="module")
def rulebook(tmp_path_factory, namespace):
    book = eda.Rulebook(tmp_path_factory.mktemp("eda"), [namespace, "eda-none", "x; kubectl delete ns"]).start()
    yield book
    book.stop()


def _wait_incident(rulebook, namespace, predicate, timeout=180, what="incident"):
    def ready():
        found = rulebook.incidents_of(namespace)
        return found if found and predicate(found) else None
    try:
        return drill.wait_for(ready, timeout, interval=1, message=what)
    except Exception:
        print(rulebook.output()[-6000:])
        raise


def test_the_webhook_refuses_requests_without_the_token(rulebook):
    body = eda.group(eda.alert("ServiceDown", "eda-none", "orders"))
    assert rulebook.post(body, token=None) == 401
    assert rulebook.post(body, token="not-the-token") == 401
    time.sleep(1)
    assert rulebook.runs("Service Down") == 0 and not rulebook.incidents_of("eda-none")


def test_a_storm_is_one_run_and_one_incident_and_the_resolution_is_recorded(rulebook, namespace):
    broken = []
    for svc in ("orders", "payments"):
        pod = drill.pods(svc, namespace=namespace)[0].metadata.name
        drill.inject_pod_fault(pod, "crashloop", namespace=namespace)
        broken.append(svc)
    # Alertmanager speaks only once the pods have failed (the rule's for:); so do the tests.
    for svc in broken:
        drill.wait_for(lambda: not drill.workload_ready(svc, SERVICES[svc], namespace=namespace), 60,
                       message="%s to fail" % svc)
    started = eda.now()
    alerts = [eda.alert("ServiceDown", namespace, svc, starts_at=started) for svc in broken]
    alerts.append(eda.alert("ServiceDown", namespace, "", starts_at=started, job="ai-orchestrator"))
    assert rulebook.post(eda.group(*alerts)) == 200
    assert rulebook.post(eda.group(*alerts)) == 200  # Alertmanager's next group_interval: same alerts again

    records = _wait_incident(rulebook, namespace, lambda found: found[0]["status"] in ("resolved", "escalated"),
                             what="the storm's incident to be resolved")
    assert len(records) == 1
    record = records[0]
    assert record["status"] == "resolved", record
    assert set(record["services"]) == set(broken) and all(s["status"] == "restored" for s in record["services"].values())
    assert record["alert"]["name"] == "ServiceDown" and record["alert"]["labels"]["namespace"] == namespace
    assert rulebook.runs("Service Down") == 1, rulebook.output()[-4000:]
    for svc in broken:
        assert drill.workload_ready(svc, SERVICES[svc], namespace=namespace)

    resolved = [dict(a, status="resolved", endsAt=eda.now()) for a in alerts]
    assert rulebook.post(eda.group(*resolved)) == 200
    def resolutions():
        events = [e for e in rulebook.timeline(rulebook.incidents_of(namespace)[0]) if e.get("type") == "alert_resolved"]
        return events if len(events) == len(resolved) else None
    drill.wait_for(resolutions, 120, interval=1, message="the resolved alerts on the incident")
    record = rulebook.incidents_of(namespace)[0]
    assert record["status"] == "resolved" and record["alert"]["status"] == "resolved"
    assert len(rulebook.incidents_of(namespace)) == 1


def test_an_alert_without_a_scenario_playbook_opens_an_incident_with_evidence_and_escalates(rulebook, namespace):
    body = eda.group(eda.alert(eda.UNSCRIPTED, namespace, "catalog", severity="P2"))
    assert rulebook.post(body) == 200
    records = _wait_incident(rulebook, namespace, lambda found: any(r["status"] == "escalated" for r in found),
                             what="the %s incident to be escalated" % eda.UNSCRIPTED)
    record = next(r for r in records if r["status"] == "escalated")
    assert record["services"]["catalog"]["status"] == "escalated"
    assert any("%s has no automated playbook yet" % eda.UNSCRIPTED in e.get("reason", "") for e in record["escalations"])
    artifacts = {p.name for p in (Path(record["_dir"]) / "artifacts").rglob("*") if p.is_file()}
    assert "diagnosis.json" in artifacts
    # Nothing in the cluster was changed.
    assert drill.workload_ready("catalog", 1, namespace=namespace)


def test_hostile_labels_start_nothing(rulebook, namespace):
    before = len(list(rulebook.incidents.glob("incident-*")))
    pattern = eda.alert("ServiceDown", namespace, "orders", cluster="all")
    sneaky = eda.alert("ServiceDown", "x; kubectl delete ns", "orders")
    unknown = eda.alert("ServiceDown", namespace, "orders", cluster="prod-*")
    for one in (pattern, sneaky, unknown):
        assert rulebook.post(eda.group(one)) == 200
    expected = ["the alert is about cluster all, which is not a host of this inventory",
                "the alert is about cluster prod-*, which is not a host of this inventory",
                "is not a Kubernetes namespace name"]
    drill.wait_for(lambda: all(m in rulebook.output() for m in expected), 120, interval=1,
                   message="the runs to refuse the alerts")
    assert len(list(rulebook.incidents.glob("incident-*"))) == before


def test_alerts_of_namespaces_the_table_does_not_list_are_ignored(rulebook):
    assert rulebook.post(eda.group(eda.alert("ServiceDown", "kube-system", "coredns"))) == 200
    time.sleep(3)
    assert "kube-system" not in rulebook.output()
