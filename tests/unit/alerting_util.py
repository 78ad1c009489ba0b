# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the shipped alerting files: rules, the Grafana dashboard, the documented metrics.

Used by tests/unit/test_alerting_files.py and by the drill's end-to-end tests, which
run each dashboard panel's query against the drill Prometheus::

    from tests.unit.alerting_util import panel_queries
    for query in panel_queries("drill", "ai-orchestrator", "api-gateway", "20s"):
        ...  # query.id, query.title, query.expr
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import NamedTuple

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ALERTING = REPO / "alerting"
RULES = ALERTING / "prometheus" / "ai-orchestrator-alerts.yml"
RULE_TESTS = ALERTING / "prometheus" / "tests"
ALERTMANAGER_EXAMPLE = ALERTING / "alertmanager" / "alertmanager.example.yml"
DASHBOARD = ALERTING / "grafana" / "ai-orchestrator-overview.json"
DOC = REPO / "docs" / "alerting.md"

# Grafana's variable syntax: $name, ${name} and ${name:format}. "$1" in label_replace
# is not a variable of the dashboard and is left alone.
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")

# What is not a metric name in PromQL once strings, matchers, ranges and label lists are gone.
_KEYWORDS = frozenset(("and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                       "group_right", "bool", "offset", "inf", "nan"))
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


class PanelQuery(NamedTuple):
    id: int
    title: str
    expr: str


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_dashboard(path=DASHBOARD):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def alert_rules(path=RULES):
    """Every alerting rule of the rules file (recording rules left out)."""
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"] if "alert" in rule]


def all_value(dashboard, name):
    """The regex a multi-value variable stands for when "All" is selected."""
    for variable in dashboard["templating"]["list"]:
        if variable["name"] == name:
            return variable.get("allValue") or ".*"
    raise KeyError("dashboard has no variable %r" % name)


def substitute(expr, values):
    """Replace the dashboard variables in ``values`` (name -> text); others stay as written."""
    def replace(match):
        name = match.group(1) or match.group(2)
        return str(values[name]) if name in values else match.group(0)
    return _VARIABLE.sub(replace, expr)


def panel_queries(cluster, namespace, service=None, rate_interval="5m", dashboard=None, **others):
    """Each panel query of the dashboard as Prometheus would receive it from Grafana.

    ``service`` (and any other multi-value variable passed by name, such as ``engine``)
    defaults to the variable's "All" regex; ``$__rate_interval`` becomes ``rate_interval``.
    One PanelQuery per target, in panel order.
    """
    dashboard = dashboard or load_dashboard()
    values = {"cluster": cluster, "namespace": namespace, "__rate_interval": rate_interval}
    for variable in dashboard["templating"]["list"]:
        if variable.get("multi"):
            values[variable["name"]] = all_value(dashboard, variable["name"])
    if service is not None:
        values["service"] = service
    values.update({name: value for name, value in others.items() if value is not None})
    return [PanelQuery(panel["id"], panel["title"], substitute(target["expr"], values))
            for panel in dashboard["panels"] for target in panel.get("targets", ())]


def metric_names(expr):
    """The metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def documented_metrics(path=DOC):
    """Metric names in the first column of the table under docs/alerting.md's "Metric families"."""
    names, inside = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip().lower() == "## metric families"
        elif inside and line.startswith("|"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", first))
    return names


def undocumented(names, documented):
    """Names not documented, where a histogram's _bucket/_count/_sum counts as its family."""
    def known(name):
        if name in documented:
            return True
        return any(name.endswith(suffix) and name[:-len(suffix)] in documented for suffix in _HISTOGRAM_SUFFIXES)
    return sorted(name for name in names if not known(name))
