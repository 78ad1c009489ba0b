# SPDX-License-Identifier: GPL-3.0-or-later
"""escalation_check.yml on the drill cluster: an incident Service Down could not fix, judged at set times
(the playbook's escalation_check_now), with a fresh diagnosis of its namespace, through to its resolution."""

from __future__ import annotations

import datetime
import json

import pytest

import drill
import test_notifications as tn
from playbook import playbook
from test_shared_incidents import persistent_crash_without_rollback

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]

# The fixtures of test_notifications.py: loopback notification servers and a namespace of our own.
slack_server, pagerduty_server, statuspage_server, smtp_server = tn.slack_server, tn.pagerduty_server, tn.statuspage_server, tn.smtp_server
servers, shop_namespace = tn.servers, tn.shop_namespace


def check(store, notify_file, at: datetime.datetime, *args: str):
    result = playbook("escalation_check.yml", "-e", "incident_dir=%s" % store, "-e", "@%s" % notify_file,
                      "-e", "escalation_check_now=" + at.strftime("%Y-%m-%dT%H:%M:%SZ"), *args)
    assert result.returncode == 0, result.stdout[-5000:]
    return result


def test_an_unfixed_incident_gets_its_updates_and_escalations_once_then_nothing_once_resolved(servers, shop_namespace, tmp_path):
    slack, pd = servers["slack"], servers["pagerduty"]
    persistent_crash_without_rollback(shop_namespace, "api-gateway")
    notify = dict(tn.settings(servers), customers={})
    notify["email"]["chain_to"] = {"Team lead": ["lead@example.test"]}
    notify_file = tmp_path / "notify.json"
    notify_file.write_text(json.dumps({"incident_notify": notify}))
    store = tmp_path / "store"
    down = playbook("service_down.yml", "-e", "namespace=" + shop_namespace, "-e", "incident_dir=%s" % store, "-e", "@%s" % notify_file,
                    "-e", "diagnose_service_min_startup_seconds=1")
    assert down.returncode == 0, down.stdout[-5000:]
    rec = tn.record(store)
    assert rec["status"] == "escalated" and rec["severity"] == "P1", rec["status"]
    opened = datetime.datetime.strptime(rec["opened_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)

    check(store, notify_file, opened + datetime.timedelta(minutes=16))
    check(store, notify_file, opened + datetime.timedelta(minutes=31))
    posts = slack.messages(rec["id"])
    assert any("not acknowledged within 15 min" in p for p in posts), posts
    update = next(p for p in posts if p.startswith("Update on"))
    assert "Now: api-gateway 0/1 ready" in update, update

    late = opened + datetime.timedelta(minutes=61)
    shown = check(store, notify_file, late, "--check")
    assert "escalate to Team lead" in shown.stdout and not any("Team lead" in p for p in slack.messages(rec["id"]))
    check(store, notify_file, late)
    requests = len(slack.requests) + len(pd.requests)
    check(store, notify_file, late)
    assert len(slack.requests) + len(pd.requests) == requests, "a repeated run decides and sends nothing new"
    decided = tn.record(store)["escalation"]["decided"]
    assert sorted(d["kind"] for d in decided.values()) == ["escalate", "unacknowledged", "update", "update"], "slots 1 and 2"
    assert [tuple(m.envelope_to) for m in servers["smtp"].messages if "Team lead" in m["Subject"]] == [("lead@example.test",)]
    assert not [p for p in pd.pages() if p[0] == tn.routing_key("Team lead")], "PagerDuty's own policy escalates (the default mode)"

    # Fixed by a person; the next Service Down run resolves it; the check then has nothing to say.
    drill.clear_workload_fault("api-gateway", namespace=shop_namespace)
    drill.wait_for(lambda: drill.workload_ready("api-gateway", 1, namespace=shop_namespace), 120)
    healed = playbook("service_down.yml", "-e", "namespace=" + shop_namespace, "-e", "incident_dir=%s" % store, "-e", "@%s" % notify_file)
    assert healed.returncode == 0 and tn.record(store)["status"] == "resolved", healed.stdout[-3000:]
    requests = len(slack.requests) + len(pd.requests)
    check(store, notify_file, opened + datetime.timedelta(minutes=181))
    assert len(slack.requests) + len(pd.requests) == requests, "a resolved incident gets nothing"
