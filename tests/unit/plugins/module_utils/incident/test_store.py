# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One incident per outage: joining, re-fired alerts, exclusive ids, services and severity.

Concurrency is tested with real processes on a real directory: the store's guarantees
are flock and an exclusive mkdir, which threads in one process would not exercise.
"""

from __future__ import annotations

import datetime
import multiprocessing
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import store
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_record

NOW = datetime.datetime(2026, 11, 27, 3, 15, 0, tzinfo=datetime.timezone.utc)
CLUSTER = "https://prod-eu.example:6443"


def open_run(incident_dir, now=NOW, **params):
    """incident_record's run() with the module's defaults, as a playbook calls it."""
    base = dict(incident_dir=str(incident_dir), incident_id=None, state="open", escalation=None, host="h",
                join_open=True, keep_higher_severity=False, severity="P1", cluster=CLUSTER, namespace="payments")
    for key in ("title", "status", "alert", "impact", "service", "root_cause", "resolution", "services"):
        base.setdefault(key, None)
    base.update(params)
    return incident_record.run(base, check_mode=False, now=now)


def test_runs_on_one_namespace_join_one_incident_and_other_namespaces_get_their_own(tmp_path):
    first = open_run(tmp_path, service="ledger")
    second = open_run(tmp_path, service="billing")
    other = open_run(tmp_path, namespace="search")
    other_cluster = open_run(tmp_path, cluster="https://prod-us.example:6443")
    assert first["created"] and not first["joined"]
    assert second["incident_id"] == first["incident_id"] and second["joined"] and second["joined_by"] == "scope"
    assert len({first["incident_id"], other["incident_id"], other_cluster["incident_id"]}) == 3


def test_a_resolved_incident_is_not_joined_but_a_refired_alert_continues_it(tmp_path):
    alert = {"name": "ServiceDown", "labels": {"namespace": "payments", "service": "ledger"},
             "fingerprint": "a1b2c3d4e5f60718", "startsAt": "2026-11-27T03:14:00.123456789Z"}
    first = open_run(tmp_path, alert=alert)
    open_run(tmp_path, incident_id=first["incident_id"], state="resolved", severity=None)
    refired = open_run(tmp_path, alert=dict(alert), severity="P2")
    assert refired["incident_id"] == first["incident_id"] and refired["joined_by"] == "alert"
    new_firing = open_run(tmp_path, alert=dict(alert, startsAt="2026-11-27T05:00:00Z"))
    assert new_firing["incident_id"] != first["incident_id"] and new_firing["created"]


def test_another_alert_joining_an_open_incident_is_listed_once(tmp_path):
    first = open_run(tmp_path, alert={"name": "ServiceDown", "labels": {"service": "ledger"}})
    for dummy in range(2):
        joined = open_run(tmp_path, alert={"name": "HighErrorRate", "labels": {"service": "billing"}})
    assert joined["incident_id"] == first["incident_id"]
    record = joined["incident"]
    assert record["alert"]["name"] == "ServiceDown"
    assert [a["name"] for a in record["alerts"]] == ["HighErrorRate"]
    types = [e["type"] for e in inc.read_timeline(joined["timeline_path"])]
    assert types.count("alert_joined") == 1


def test_a_resolved_notification_marks_its_alert_resolved_once_and_leaves_the_incident_open(tmp_path):
    alert = {"name": "ServiceDown", "labels": {"namespace": "payments", "service": "ledger"},
             "fingerprint": "a1b2c3d4e5f60718", "startsAt": "2026-11-27T03:14:00Z"}
    first = open_run(tmp_path, alert=alert)
    resolved = dict(alert, status="resolved", endsAt="2026-11-27T03:20:00.5Z")
    for dummy in range(2):  # Alertmanager may send the resolved notification again
        update = open_run(tmp_path, incident_id=first["incident_id"], alert=resolved, severity=None)
    record = update["incident"]
    assert record["alert"]["status"] == "resolved" and record["alert"]["ends_at"].startswith("2026-11-27T03:20:00")
    assert record["status"] != "resolved"  # the services' outcomes resolve the incident, not the alert
    types = [e["type"] for e in inc.read_timeline(update["timeline_path"])]
    assert types.count("alert_resolved") == 1 and not update["changed"]


def test_a_resolved_alert_the_incident_did_not_list_is_listed_with_its_resolution(tmp_path):
    first = open_run(tmp_path, alert={"name": "ServiceDown", "labels": {"service": "ledger"}})
    other = {"name": "ServiceDown", "labels": {"service": "billing"}, "fingerprint": "ff00",
             "startsAt": "2026-11-27T03:14:30Z", "status": "resolved", "endsAt": "2026-11-27T03:19:00Z"}
    update = open_run(tmp_path, incident_id=first["incident_id"], alert=other, severity=None)
    listed = update["incident"]["alerts"]
    assert [(a["labels"]["service"], a["status"]) for a in listed] == [("billing", "resolved")]


def test_join_open_false_always_opens_a_new_incident(tmp_path):
    ids = {open_run(tmp_path, join_open=False)["incident_id"] for dummy in range(3)}
    assert ids == {"incident-2026-11-27-031500", "incident-2026-11-27-031501", "incident-2026-11-27-031502"}


def test_check_mode_plans_a_new_incident_and_writes_nothing(tmp_path):
    target = tmp_path / "store"
    result = incident_record.run(dict(
        incident_dir=str(target), incident_id=None, state="open", escalation=None, host="h", join_open=True,
        keep_higher_severity=False, severity="P1", cluster=CLUSTER, namespace="payments", title=None, status=None,
        alert=None, impact=None, service=None, root_cause=None, resolution=None, services=None), check_mode=True, now=NOW)
    assert result["created"] and result["incident_id"] == "incident-2026-11-27-031500"
    assert not target.exists()


def test_the_incident_is_resolved_only_when_every_service_is_back(tmp_path):
    opened = open_run(tmp_path, services={"ledger": {"status": "down"}, "billing": "down"})
    incident_id = opened["incident_id"]
    partial = open_run(tmp_path, incident_id=incident_id, state="resolved", severity=None,
                       services={"ledger": {"status": "restored", "action": "delete_pod"}})
    assert partial["incident"]["status"] != "resolved" and partial["pending_services"] == ["billing"]
    escalated = open_run(tmp_path, incident_id=incident_id, state="resolved", severity=None,
                         services={"billing": {"status": "escalated", "reason": "CrashLoopBackOff after restart"}})
    assert escalated["incident"]["status"] == "escalated"
    done = open_run(tmp_path, incident_id=incident_id, state="resolved", severity=None,
                    services={"billing": {"status": "restored"}})
    assert done["incident"]["status"] == "resolved" and done["pending_services"] == []
    again = open_run(tmp_path, incident_id=incident_id, state="resolved", severity=None,
                     services={"billing": {"status": "restored"}})
    assert not again["changed"]


def test_a_continuing_run_never_lowers_the_severity_but_an_operator_may(tmp_path):
    opened = open_run(tmp_path, severity="P1")
    kept = open_run(tmp_path, severity="P3", keep_higher_severity=True)
    assert kept["incident_id"] == opened["incident_id"]
    assert kept["incident"]["severity"] == "P1" and kept["severity_kept"] and not kept["changed"]
    raised = open_run(tmp_path, severity="P0", keep_higher_severity=True)
    assert raised["incident"]["severity"] == "P0" and not raised["severity_kept"]
    assert [e["data"] for e in raised["events"] if e["type"] == "severity_changed"] == [{"from": "P1", "to": "P0"}]
    lowered = open_run(tmp_path, severity="P2")
    assert lowered["incident"]["severity"] == "P2"
    assert [e["data"] for e in lowered["events"] if e["type"] == "severity_changed"] == [{"from": "P0", "to": "P2"}]


def test_random_sequences_keep_one_open_incident_per_scope(tmp_path):
    """Invariant over many random histories: at most one open incident per (cluster, namespace)."""
    rng = random.Random(8)
    scopes = [(CLUSTER, "payments"), (CLUSTER, "search"), ("https://other:6443", "payments")]
    now = NOW
    for step in range(120):
        now += datetime.timedelta(seconds=rng.choice([0, 0, 1, 30]))
        cluster, namespace = rng.choice(scopes)
        if rng.random() < 0.3:
            found, dummy = store.find_incident(str(tmp_path), cluster, namespace)
            if found:
                open_run(tmp_path, now=now, incident_id=found["id"], state="resolved", severity=None)
            continue
        open_run(tmp_path, now=now, cluster=cluster, namespace=namespace, severity=rng.choice(inc_severities()))
        open_by_scope = {}
        for record in store.records(str(tmp_path)):
            if record["status"] != "resolved":
                key = (record["cluster"], record["namespace"])
                assert key not in open_by_scope, "two open incidents for %s at step %d" % (key, step)
                open_by_scope[key] = record["id"]


def inc_severities():
    return ["P0", "P1", "P2", "P3"]


def _open_in_child(incident_dir, join, queue):
    result = open_run(incident_dir, now=NOW, join_open=join)
    queue.put(result["incident_id"])


@pytest.mark.parametrize("join", [False, True], ids=["new-each", "join"])
def test_processes_starting_in_one_second(tmp_path, join):
    """Eight runs in the same second: distinct ids when each opens its own, one incident when they join."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_open_in_child, args=(str(tmp_path), join, queue)) for dummy in range(8)]
    for child in children:
        child.start()
    ids = [queue.get(timeout=60) for dummy in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    if join:
        assert len(set(ids)) == 1
    else:
        assert sorted(ids) == ["incident-2026-11-27-0315%02d" % n for n in range(8)]
    for incident_id in set(ids):
        assert inc.load_incident(str(tmp_path), incident_id)["id"] == incident_id


def test_free_text_and_alert_annotations_are_redacted_before_they_are_written(tmp_path):
    result = open_run(tmp_path, impact="login fails: password=hunter2 rejected", root_cause="token=abcd1234efgh5678 expired",
                      alert={"name": "ServiceDown", "annotations": {"description": "curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwx'"}})
    written = (tmp_path / result["incident_id"] / "incident.json").read_text()
    assert "hunter2" not in written and "abcd1234efgh5678" not in written and "abcdefghijklmnopqrstuvwx" not in written
    assert result["incident"]["impact"] == "login fails: password=[REDACTED] rejected"


def test_a_resolved_alert_of_the_storm_finds_the_outage_it_fired_in(tmp_path):
    first = open_run(tmp_path, alert={"name": "ServiceDown", "labels": {"service": "ledger"}})
    open_run(tmp_path, incident_id=first["incident_id"], state="resolved", severity=None,
             now=NOW + datetime.timedelta(minutes=5))
    # Another alert of the same outage (it started a minute before the run opened the incident).
    record, why = store.find_incident(str(tmp_path), CLUSTER, "payments", "ff00@x", during="2026-11-27T03:14:00Z")
    assert (record["id"], why) == (first["incident_id"], "time")
    # An alert that started after the incident was resolved, or on another namespace, is not its.
    assert store.find_incident(str(tmp_path), CLUSTER, "payments", "ff00@x", during="2026-11-27T03:30:00Z") == (None, None)
    assert store.find_incident(str(tmp_path), CLUSTER, "search", "ff00@x", during="2026-11-27T03:14:00Z") == (None, None)
    # Without a start (a firing alert) a resolved incident is never continued by scope.
    assert store.find_incident(str(tmp_path), CLUSTER, "payments", "ff00@x") == (None, None)
