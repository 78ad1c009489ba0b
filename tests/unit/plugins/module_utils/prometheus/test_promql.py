# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scenario PromQL: valid for Prometheus' own parser, scoped, and safe with hostile labels."""

from __future__ import annotations

import random
import re
import shutil
import string
import subprocess

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.prometheus import promql

HOSTILE = ['shop"} or vector(1) or up{x="', 'a\\"b', "line\nbreak", "ümlaut", "*.+?"]


def promtool_accepts(queries, tmp_path):
    """Prometheus' parser, through `promtool check rules` on recording rules of the queries."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install the Debian package prometheus"
    rules = {"groups": [{"name": "t", "rules": [{"record": "q_%d" % i, "expr": q} for i, q in enumerate(queries)]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    return done.returncode == 0, done.stdout + done.stderr


def all_queries(alert, *args, **kwargs):
    got = promql.alert_queries(alert, *args, **kwargs)
    return list(got["evidence"].values()) + ([got["recovery"]] if got["recovery"] else [])


def test_every_scenario_query_parses_including_random_hostile_labels(tmp_path):
    rng = random.Random(9)
    queries = []
    for alert in list(promql.QUERIES) + ["SomethingNew"]:
        queries += all_queries(alert, "ai-orchestrator")
        for dummy in range(5):
            noise = "".join(rng.choice(string.printable) for dummy in range(12))
            queries += all_queries(alert, rng.choice(HOSTILE + [noise]), [rng.choice(HOSTILE), "api-gateway"],
                                   rng.choice(["", noise, HOSTILE[0]]), rng.choice(["", "20s", "1m"]))
    ok, output = promtool_accepts(queries, tmp_path)
    assert ok, output


def test_hostile_label_values_stay_inside_their_string():
    got = promql.alert_queries("ServiceDown", HOSTILE[0], [HOSTILE[0]])
    # The quote of the value is escaped, so `or vector(1)` is text inside the string, not an operator.
    assert 'namespace="shop\\"} or vector(1) or up{x=\\""' in got["recovery"]
    outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', got["recovery"])
    assert outside_strings.count(" or ") == 2 and "vector" not in outside_strings


def test_recovery_is_scoped_to_the_services_and_cluster():
    got = promql.alert_queries("ServiceDown", "shop", ["cart", "api.v2"], "prod-eu")
    assert 'deployment=~"cart|api\\\\.v2"' in got["recovery"]
    assert 'cluster="prod-eu"' in got["recovery"] and got["rate_window"] == 0
    rates = promql.alert_queries("HighErrorRate", "shop", window="20s")
    assert "[20s]" in rates["recovery"] and "> 0.05" in rates["recovery"] and rates["rate_window"] == 20
    assert promql.alert_queries("HighErrorRate", "shop")["rate_window"] == 300


def test_an_alert_without_a_scenario_has_its_alerts_as_evidence_and_no_recovery():
    got = promql.alert_queries("DiskFilling", "shop")
    assert got["recovery"] == "" and 'alertname="DiskFilling"' in got["evidence"]["firing_alerts"]


@pytest.mark.parametrize("args, message", [
    (("",), "needs the namespace"),
    (("shop", [""]), "list of service names"),
    (("shop", [], "", "5 minutes"), "not a Prometheus duration"),
])
def test_bad_input_is_refused(args, message):
    with pytest.raises(InvalidInput, match=message):
        promql.alert_queries("ServiceDown", *args)


def promtool_expr_tests(tests, tmp_path):
    """`promtool test rules` with promql_expr_test cases: Prometheus evaluates our queries."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install the Debian package prometheus"
    path = tmp_path / "expr_test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests}))
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    return done.returncode == 0, done.stdout + done.stderr


def test_recovery_queries_agree_with_the_rules_thresholds(tmp_path):
    """Over the threshold -> a series for the service; a near miss or too little traffic -> none."""
    app = 'job="ai-orchestrator",namespace="shop",cluster="eu",service="cart",route="/checkout",method="POST"'
    errors = promql.alert_queries("HighErrorRate", "shop", ["cart"], "eu", "5m")["recovery"]

    def traffic(bad_per_min, good_per_min):
        return [{"series": "http_requests_total{%s,code=\"500\"}" % app, "values": "0+%gx10" % bad_per_min},
                {"series": "http_requests_total{%s,code=\"200\"}" % app, "values": "0+%gx10" % good_per_min}]
    ksm = 'namespace="shop",cluster="eu",deployment="cart"'
    down = promql.alert_queries("ServiceDown", "shop", ["cart"], "eu")["recovery"]
    tests = [
        {"interval": "1m", "input_series": traffic(12, 108),  # 10 % of 2 req/s
         "promql_expr_test": [{"expr": errors, "eval_time": "10m", "exp_samples": [{"labels": '{service="cart"}', "value": 0.1}]}]},
        {"interval": "1m", "input_series": traffic(5.88, 114.12),  # 4.9 %
         "promql_expr_test": [{"expr": errors, "eval_time": "10m", "exp_samples": []}]},
        {"interval": "1m", "input_series": traffic(3, 0),  # all failing, but 0.05 req/s
         "promql_expr_test": [{"expr": errors, "eval_time": "10m", "exp_samples": []}]},
        {"interval": "1m", "input_series": [
            {"series": "kube_deployment_spec_replicas{%s}" % ksm, "values": "2x10"},
            {"series": "kube_deployment_status_replicas_available{%s}" % ksm, "values": "1x5 2x5"}],
         "promql_expr_test": [
             {"expr": down, "eval_time": "3m", "exp_samples": [{"labels": "{%s}" % ksm, "value": 1}]},
             {"expr": down, "eval_time": "8m", "exp_samples": []}]},
    ]
    ok, output = promtool_expr_tests(tests, tmp_path)
    assert ok, output
