# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Event-Driven Ansible rulebook and its route table: what an alert may start.

An alert is untrusted input that arrives at 3 a.m. with nobody watching: it may only start
playbooks that are safe unattended, never supply a confirmation, and every alert of the
collection's rules must have a route.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = ROOT / "extensions/eda/rulebooks/alertmanager.yml"
ROUTES = ROOT / "extensions/eda/vars/alert_routes.yml"
RULES = ROOT / "alerting/prometheus/ai-orchestrator-alerts.yml"
COLLECTION = "ai_orchestrator.incident_response."
# Playbooks an alert may start: they change nothing or only what the runbook's automated
# steps change (delete a failed pod, scale, roll back, restart an engine, raise limits within
# a bound), under leases and budgets. cache_recovery and db_recovery are not among them.
UNATTENDED = {"service_down", "alert_escalate", "alert_resolved", "workflow_failures", "high_error_rate", "high_response_time"}
# Words of playbooks that destroy or overwrite data; an alert must never start one.
DESTRUCTIVE = ("restore", "flush", "delete", "drop", "truncate", "failover", "scale_down")


def load(path):
    return yaml.safe_load(path.read_text())


def rules():
    return load(RULEBOOK)[0]["rules"]


def test_the_rulebook_is_valid_for_ansible_rulebook():
    from ansible_rulebook.validators import Validate
    Validate.rulebook(load(RULEBOOK))


def test_every_route_starts_an_existing_unattended_playbook():
    routes = load(ROUTES)
    assert sorted(routes["alert_routes"]) == sorted(routes["routed_alerts"])
    for alertname, playbook in routes["alert_routes"].items():
        assert playbook.startswith(COLLECTION), playbook
        name = playbook[len(COLLECTION):]
        assert name in UNATTENDED, "%s routes to %s, which is not safe to run unattended" % (alertname, name)
        assert not any(word in name for word in DESTRUCTIVE)
        assert (ROOT / "playbooks" / (name + ".yml")).is_file()
    actions = [rule["action"]["run_playbook"] for rule in rules()]
    fixed = [a["name"] for a in actions if "{{" not in a["name"]]
    assert all(name[len(COLLECTION):] in UNATTENDED for name in fixed)


def test_every_alert_of_the_rules_has_a_route_and_servicedown_its_scenario():
    alerts = {r["alert"] for g in load(RULES)["groups"] for r in g["rules"] if "alert" in r}
    routes = load(ROUTES)["alert_routes"]
    assert alerts <= set(routes)
    assert routes["ServiceDown"] == COLLECTION + "service_down"


def test_no_rule_passes_a_confirmation_or_a_host_pattern():
    for rule in rules():
        extra = rule["action"]["run_playbook"]["extra_vars"]
        assert not [k for k in extra if "confirm" in k.lower() or k in ("force", "yes")]
        # The cluster is picked by alert_target.yml from the label, checked against the inventory.
        assert extra["target"] == "alert_cluster"
        assert "namespace in vars.alert_namespaces" in rule["condition"]


def test_the_webhook_is_on_loopback_by_default_and_requires_a_token():
    source = load(RULEBOOK)[0]["sources"][0]["eda.builtin.webhook"]
    assert "'127.0.0.1'" in source["host"]
    assert source["token"] == "{{ ALERT_WEBHOOK_TOKEN }}"  # no default: the rulebook will not start without one
    splitter = load(RULEBOOK)[0]["sources"][0]["filters"][0]["eda.builtin.event_splitter"]
    assert splitter["splitter_key"] == "payload.alerts"


def test_a_storm_of_one_namespace_is_throttled_to_one_run():
    firing = next(rule for rule in rules() if 'status == "firing"' in rule["condition"])
    grouping = ["event.labels.cluster", "event.labels.namespace", "event.labels.alertname"]
    assert firing["throttle"]["group_by_attributes"] == grouping
    assert firing["action"]["run_playbook"]["extra_vars"]["scope"] == "namespace"
