# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped alerting files: rules, their promtool tests, Alertmanager, dashboard, docs.

No server runs: promtool evaluates the rules and the dashboard's queries on synthetic
series, amtool checks the Alertmanager example and its routing. Both tools are required
(Debian packages prometheus and prometheus-alertmanager): a missing tool fails, it does
not skip, so a machine without them cannot pass for one that checked the files.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.unit.alerting_util import (
    ALERTMANAGER_EXAMPLE, DASHBOARD, DOC, REPO, RULE_TESTS, RULES,
    alert_rules, documented_metrics, load_dashboard, load_yaml, metric_names, panel_queries, undocumented,
)

RUNBOOK_ALERTS = ("ServiceDown", "HighErrorRate", "HighResponseTime", "WorkflowExecutionFailureRate")
REQUIRED_LABELS = ("severity", "team")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_section", "runbook_url", "playbook", "dashboard")
EDA_RECEIVER = "eda-rulebook"
TOOL_PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def tool(name, path=None):
    """The tool's path; fails (never skips) with the Debian package to install."""
    found = shutil.which(name, path=path)
    if found is None:
        pytest.fail("%s not found on PATH: install the Debian package %s" % (name, TOOL_PACKAGES[name]), pytrace=False)
    return found


def run(*argv):
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stdout + result.stderr


def rule_id(rule):
    return "%s-%s" % (rule["alert"], rule["labels"]["severity"])


RULE_LIST = alert_rules()


# --- tools -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TOOL_PACKAGES))
def test_missing_tool_fails_with_the_package_to_install(name, tmp_path):
    with pytest.raises(pytest.fail.Exception, match="install the Debian package %s$" % TOOL_PACKAGES[name]):
        tool(name, path=str(tmp_path))


# --- rules -----------------------------------------------------------------------------


def test_promtool_check_rules():
    code, output = run(tool("promtool"), "check", "rules", str(RULES))
    assert code == 0, output
    assert "SUCCESS: %d rules found" % len(RULE_LIST) in output


def test_promtool_test_rules_all_files():
    files = sorted(RULE_TESTS.glob("*.yml"))
    assert files, "no promtool test files under %s" % RULE_TESTS
    code, output = run(tool("promtool"), "test", "rules", *map(str, files))
    assert code == 0, output
    assert output.count("SUCCESS") == len(files), output


def test_the_rules_are_the_runbook_alerts():
    assert sorted({rule["alert"] for rule in RULE_LIST}) == sorted(RUNBOOK_ALERTS)
    assert sorted(rule_id(rule) for rule in RULE_LIST if rule["alert"] == "ServiceDown") == ["ServiceDown-P1", "ServiceDown-P2"]


def _rule_tests():
    for path in sorted(RULE_TESTS.glob("*.yml")):
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", ()):
                yield check["alertname"], check.get("exp_alerts") or []


@pytest.mark.parametrize("alertname", RUNBOOK_ALERTS)
def test_every_alert_is_tested_firing_and_quiet(alertname):
    checks = [expected for name, expected in _rule_tests() if name == alertname]
    assert any(checks), "%s: no promtool test expects it to fire" % alertname
    assert any(not expected for expected in checks), "%s: no promtool test expects it to stay quiet" % alertname
    firing = [alert["exp_labels"] for expected in checks for alert in expected]
    assert all({"cluster", "namespace", "severity"} <= set(labels) for labels in firing), firing


@pytest.mark.parametrize("rule", RULE_LIST, ids=rule_id)
def test_alert_labels_and_annotations(rule):
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert set(REQUIRED_LABELS) <= set(labels)
    assert labels["severity"] in ("P0", "P1", "P2", "P3"), "severity must be one of the runbook's"
    assert set(REQUIRED_ANNOTATIONS) <= set(annotations), sorted(set(REQUIRED_ANNOTATIONS) - set(annotations))
    for name in ("summary", "description"):
        assert "$labels.service" in annotations[name] or "$labels.engine" in annotations[name]
        assert "$labels.cluster" in annotations[name] and "$labels.namespace" in annotations[name]


@pytest.mark.parametrize("rule", RULE_LIST, ids=rule_id)
def test_playbook_annotation_names_a_playbook_or_says_none_yet(rule):
    playbook = rule["annotations"]["playbook"]
    if playbook.startswith("none yet"):
        assert "escalates" in playbook
        assert not (REPO / playbook.rsplit(" ", 1)[-1]).exists(), "the playbook exists now: name it"
    else:
        assert (REPO / playbook).is_file(), "%s names %s, which does not exist" % (rule_id(rule), playbook)


def _doc_anchors():
    """GitHub's anchors of docs/alerting.md's headings."""
    anchors = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#+\s+(.*)", line)
        if match:
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("rule", RULE_LIST, ids=rule_id)
def test_runbook_annotations_point_at_the_docs(rule):
    annotations = rule["annotations"]
    url, anchor = annotations["runbook_url"].split("#", 1)
    assert url.endswith("/docs/alerting.md")
    assert anchor in _doc_anchors(), "docs/alerting.md has no heading for #%s" % anchor
    assert "**%s**" % annotations["runbook_section"] in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("rule", RULE_LIST, ids=rule_id)
def test_dashboard_annotation_opens_an_existing_panel(rule):
    dashboard = load_dashboard()
    link = rule["annotations"]["dashboard"]
    assert link.startswith("/d/%s?" % dashboard["uid"])
    for variable in ("cluster", "namespace", "service"):
        assert "var-%s={{ $labels.%s | urlquery }}" % (variable, variable) in link
    panel = re.search(r"[?&]viewPanel=(\d+)", link)
    assert panel, link
    assert int(panel.group(1)) in {p["id"] for p in dashboard["panels"]}


@pytest.mark.parametrize("rule", RULE_LIST, ids=rule_id)
def test_every_aggregation_keeps_cluster(rule):
    clauses = re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", rule["expr"])
    assert clauses
    for clause in clauses:
        assert "cluster" in [name.strip() for name in clause.split(",")], "%s drops cluster: (%s)" % (rule_id(rule), clause)


@pytest.mark.parametrize("rule", RULE_LIST, ids=rule_id)
def test_rules_read_only_documented_metrics(rule):
    assert not undocumented(metric_names(rule["expr"]), documented_metrics())


def _doc_alert_rows():
    """(alert, severity, for, playbook) of the table under docs/alerting.md's "## Alerts"."""
    rows, inside = [], False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Alerts"
        elif inside and line.startswith("| ") and not line.startswith("| Alert "):
            cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
            rows.append((cells[0], cells[1], cells[3], cells[5]))
    return rows


def test_docs_alert_table_matches_the_rules():
    rows = _doc_alert_rows()
    assert len(rows) == len(RULE_LIST)
    for rule in RULE_LIST:
        match = [row for row in rows if row[:2] == (rule["alert"], rule["labels"]["severity"])]
        assert match, "docs/alerting.md has no row for %s" % rule_id(rule)
        duration, playbook = match[0][2:]
        assert duration == rule["for"], "%s: docs say for %s, the rule %s" % (rule_id(rule), duration, rule["for"])
        assert rule["annotations"]["playbook"].startswith(playbook)


# --- Alertmanager ----------------------------------------------------------------------


def test_amtool_check_config():
    code, output = run(tool("amtool"), "check-config", str(ALERTMANAGER_EXAMPLE))
    assert code == 0, output
    assert "SUCCESS" in output


def _routes_test(*labels, receiver=EDA_RECEIVER):
    return run(tool("amtool"), "config", "routes", "test", "--config.file=%s" % ALERTMANAGER_EXAMPLE,
               "--verify.receivers=%s" % receiver, *labels)


def _route_for(labels):
    """The first route (and its effective group_by) that an alert with ``labels`` matches."""
    root = load_yaml(ALERTMANAGER_EXAMPLE)["route"]
    for child in root.get("routes", ()):
        matched = True
        for matcher in child.get("matchers", ()):
            name, regex = re.match(r'(\w+)=~?"(.*)"', matcher).groups()
            matched = matched and re.fullmatch(regex, labels.get(name, "")) is not None
        if matched:
            return child, child.get("group_by", root["group_by"])
    return root, root["group_by"]


def test_service_down_routes_to_the_rulebook_grouped_by_cluster_and_namespace():
    labels = {"alertname": "ServiceDown", "severity": "P1", "cluster": "a", "namespace": "x", "service": "api-gateway"}
    code, output = _routes_test(*("%s=%s" % item for item in labels.items()))
    assert code == 0, output
    assert output.splitlines()[0] == EDA_RECEIVER
    route, group_by = _route_for(labels)
    assert route["receiver"] == EDA_RECEIVER
    assert group_by == ["cluster", "namespace"]


@pytest.mark.parametrize("alertname", RUNBOOK_ALERTS)
def test_every_runbook_alert_reaches_the_rulebook(alertname):
    code, output = _routes_test("alertname=%s" % alertname, "severity=P2", "cluster=a", "namespace=x")
    assert code == 0, output


def test_other_alerts_do_not_reach_the_rulebook():
    code, output = _routes_test("alertname=KubeNodeNotReady", "cluster=a", "namespace=x", receiver="oncall")
    assert code == 0, output


def test_route_timings_are_the_production_defaults():
    route = load_yaml(ALERTMANAGER_EXAMPLE)["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")


def test_rulebook_webhook_sends_resolved_alerts_with_a_token_file():
    config = load_yaml(ALERTMANAGER_EXAMPLE)
    receiver = next(r for r in config["receivers"] if r["name"] == EDA_RECEIVER)
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"].endswith("/alerts")
    assert webhook["send_resolved"] is True and webhook["max_alerts"] == 0
    authorization = webhook["http_config"]["authorization"]
    assert authorization == {"type": "Bearer", "credentials_file": "/etc/alertmanager/secrets/eda-token"}


def test_service_down_p1_inhibits_the_other_alerts_of_its_service():
    (rule,) = load_yaml(ALERTMANAGER_EXAMPLE)["inhibit_rules"]
    assert sorted(rule["source_matchers"]) == ['alertname="ServiceDown"', 'severity="P1"']
    assert rule["target_matchers"] == ['severity=~"P2|P3|P4"']
    assert sorted(rule["equal"]) == ["cluster", "namespace", "service"]


# --- dashboard -------------------------------------------------------------------------


def test_dashboard_identity_and_variables():
    dashboard = load_dashboard()
    assert dashboard["uid"] == "ai-orchestrator-overview"
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("cluster", "namespace", "service"):
        assert variables[name]["type"] == "query"
        assert variables[name]["query"]["query"].startswith("label_values(")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.parametrize("panel", load_dashboard()["panels"], ids=lambda p: "panel-%s" % p["id"])
def test_panel_queries_filter_by_the_variables(panel):
    assert panel["targets"], "panel %s has no query" % panel["id"]
    for target in panel["targets"]:
        expr = target["expr"]
        for variable in ("$cluster", "$namespace", "$service"):
            assert variable in expr, "panel %s does not use %s" % (panel["id"], variable)
        assert "rate(" not in expr or not re.search(r"\[\d+[smhd]\]", expr), "fixed rate window: use $__rate_interval"
        assert "rate(" not in expr or "[$__rate_interval]" in expr
        assert not undocumented(metric_names(expr), documented_metrics()), "panel %s" % panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}"


def test_dashboard_annotation_queries_read_documented_metrics():
    for annotation in load_dashboard()["annotations"]["list"]:
        if "expr" in annotation:
            assert not undocumented(metric_names(annotation["expr"]), documented_metrics())


# What each panel returns at 10m for the series below, with service "api-gateway|n8n|postgres".
_DRILL = 'cluster="drill", namespace="ai-orchestrator"'
_APP = 'job="ai-orchestrator", instance="10.0.1.2:8000", %s, service="api-gateway"' % _DRILL
_BUCKETS = dict(zip((".005", ".01", ".025", ".05", ".1", ".25", ".5", "1", "2.5", "5", "10", "+Inf"),
                    (0, 0, 30, 90, 150, 200, 220, 240, 300, 300, 300, 300)))
PANEL_INPUT = [
    ('kube_deployment_spec_replicas{job="kube-state-metrics", %s, deployment="api-gateway"}' % _DRILL, "2x10"),
    ('kube_deployment_status_replicas_available{job="kube-state-metrics", %s, deployment="api-gateway"}' % _DRILL, "1x10"),
    ('kube_deployment_spec_replicas{job="kube-state-metrics", %s, deployment="n8n"}' % _DRILL, "1x10"),
    ('kube_deployment_status_replicas_available{job="kube-state-metrics", %s, deployment="n8n"}' % _DRILL, "1x10"),
    ('kube_deployment_spec_replicas{job="kube-state-metrics", %s, deployment="langflow"}' % _DRILL, "1x10"),
    ('kube_deployment_status_replicas_available{job="kube-state-metrics", %s, deployment="langflow"}' % _DRILL, "0x10"),
    ('kube_statefulset_replicas{job="kube-state-metrics", %s, statefulset="postgres"}' % _DRILL, "1x10"),
    ('kube_statefulset_status_replicas_ready{job="kube-state-metrics", %s, statefulset="postgres"}' % _DRILL, "1x10"),
    ('up{%s}' % _APP, "1x10"),
    ('up{%s}' % _APP.replace("10.0.1.2", "10.0.1.3"), "1x10"),
    ('up{job="ai-orchestrator", instance="10.0.1.9:7860", %s, service="langflow"}' % _DRILL, "0x10"),
    ('http_requests_total{%s, route="/api/v1/workflows", method="POST", code="200"}' % _APP, "0+285x10"),
    ('http_requests_total{%s, route="/api/v1/workflows", method="POST", code="500"}' % _APP, "0+15x10"),
    ('http_requests_total{%s, route="/webhook", method="POST", code="200"}' % _APP.replace("api-gateway", "n8n"), "0+60x10"),
    ('http_requests_total{%s, route="/api/v1/run", method="POST", code="500"}' % _APP.replace("api-gateway", "langflow"), "0+60x10"),
] + [
    ('http_request_duration_seconds_bucket{%s, route="/api/v1/workflows", method="POST", le="%s"}' % (_APP, le), "0+%dx10" % n)
    for le, n in _BUCKETS.items()
] + [
    ('workflow_executions_total{%s, engine="langflow", status="success"}' % _APP, "0+96x10"),
    ('workflow_executions_total{%s, engine="langflow", status="failure"}' % _APP, "0+24x10"),
    ('workflow_executions_total{%s, engine="n8n", status="success"}' % _APP, "0+120x10"),
    ('workflow_queue_depth{%s, engine="langflow"}' % _APP, "7x10"),
    ('workflow_queue_depth{%s, engine="n8n"}' % _APP, "0x10"),
]
_BY = '{cluster="drill", namespace="ai-orchestrator", service="%s"'
PANEL_EXPECTED = {
    1: [(_BY % "api-gateway" + ', deployment="api-gateway"}', 0.5), (_BY % "n8n" + ', deployment="n8n"}', 1),
        (_BY % "postgres" + ', statefulset="postgres"}', 1)],
    2: [(_BY % "api-gateway" + "}", 2)],
    3: [(_BY % "api-gateway" + "}", 0.05), (_BY % "n8n" + "}", 0)],
    4: [(_BY % "api-gateway" + "}", 2.125)],
    5: [(_BY % "api-gateway" + ', engine="langflow"}', 0.2), (_BY % "api-gateway" + ', engine="n8n"}', 0)],
    6: [(_BY % "api-gateway" + ', engine="langflow"}', 7), (_BY % "api-gateway" + ', engine="n8n"}', 0)],
    7: [(_BY % "api-gateway" + ', code="200"}', 4.75), (_BY % "api-gateway" + ', code="500"}', 0.25),
        (_BY % "n8n" + ', code="200"}', 1)],
}


def test_panel_queries_with_substituted_variables_return_each_alerts_metric(tmp_path):
    """promtool evaluates every panel's query as Grafana sends it: langflow is filtered out."""
    queries = panel_queries("drill", "ai-orchestrator", "api-gateway|n8n|postgres", "5m")
    assert sorted({query.id for query in queries}) == sorted(PANEL_EXPECTED), "add the expected samples of a new panel"
    assert all("$" not in query.expr.replace('"$1"', "") for query in queries), [q.expr for q in queries]
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": series, "values": values} for series, values in PANEL_INPUT],
            "promql_expr_test": [
                {"expr": query.expr, "eval_time": "10m",
                 "exp_samples": [{"labels": labels, "value": value} for labels, value in PANEL_EXPECTED[query.id]]}
                for query in queries
            ],
        }],
    }
    path = tmp_path / "panels_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    code, output = run(tool("promtool"), "test", "rules", str(path))
    assert code == 0, output


def test_panel_queries_default_multi_value_variables_to_all():
    queries = {query.id: query for query in panel_queries("c1", "ns1")}
    assert 'service=~".+"' in queries[3].expr and 'cluster="c1"' in queries[3].expr
    assert 'engine=~".+"' in queries[5].expr
    assert 'engine=~"n8n"' in {q.id: q for q in panel_queries("c1", "ns1", "api-gateway", engine="n8n")}[5].expr
    assert "[1m]" in {q.id: q for q in panel_queries("c1", "ns1", rate_interval="1m")}[3].expr


def test_dashboard_file_is_the_one_the_docs_name():
    assert DASHBOARD.relative_to(REPO).as_posix() in DOC.read_text(encoding="utf-8")
