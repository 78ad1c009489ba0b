# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident filters, called directly and through Ansible's own templating by FQCN."""

from __future__ import annotations

import datetime

import pytest
from ansible.errors import AnsibleError, AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader, fragment_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.plugin_docs import get_docstring

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import incident as flt

FQCN = "ai_orchestrator.incident_response."


def test_filters_are_registered():
    assert set(flt.FilterModule().filters()) == {
        "incident_id", "incident_request", "incident_channel", "severity_policy", "validate_severity",
        "incident_policy", "incident_severity",
    }


def test_incident_request_names_the_filter_on_bad_input():
    assert flt.incident_request({"severity": "p2"})["severity"] == "P2"
    with pytest.raises(AnsibleFilterError, match=FQCN + "incident_request: namespace"):
        flt.incident_request({"namespace": "Bad_NS"})


@pytest.mark.parametrize("value", [
    datetime.datetime(2026, 5, 9, 7, 35, 25, 999999, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 5, 9, 7, 35, 25),
    "2026-05-09T07:35:25Z",
    "2026-05-09T02:35:25-05:00",
])
def test_incident_id(value):
    assert flt.incident_id(value) == "incident-2026-05-09-073525"


def test_incident_channel():
    assert flt.incident_channel("incident-2026-05-09-073525") == "#incident-2026-05-09-073525"


def test_severity_filters():
    assert flt.validate_severity("p0") == "P0"
    policy = flt.severity_policy("p2")
    assert policy["severity"] == "P2" and policy["escalate_after_minutes"] == 240


@pytest.mark.parametrize("name, value, message", [
    ("incident_id", "not a time", "ISO-8601"),
    ("incident_id", 42, "cannot read"),
    ("incident_channel", "incident-2026-05-09", "incident-YYYY-MM-DD-HHMMSS"),
    ("incident_channel", "../../x", "invalid incident id"),
    ("severity_policy", "P9", "P0, P1, P2, P3"),
    ("validate_severity", "urgent", "P0, P1, P2, P3"),
])
def test_errors_name_the_filter(name, value, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.FilterModule().filters()[name](value)
    assert str(err.value).startswith(FQCN + name + ": ")
    assert message in str(err.value)


# Through the template engine: the FQCNs resolve and the sidecar docs load.

def render(expression, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def test_fqcn_in_templates():
    assert render("{{ '2026-05-09T07:35:25Z' | ai_orchestrator.incident_response.incident_id"
                  " | ai_orchestrator.incident_response.incident_channel }}") == "#incident-2026-05-09-073525"
    assert render("{{ (sev | ai_orchestrator.incident_response.severity_policy).update_interval_minutes }}",
                  sev="p1") == 30
    with pytest.raises(AnsibleError, match="ai_orchestrator.incident_response.validate_severity"):
        render("{{ 'P7' | ai_orchestrator.incident_response.validate_severity }}")


@pytest.mark.parametrize("name", ["incident_id", "incident_channel", "severity_policy", "validate_severity", "incident_policy",
                                  "incident_severity"])
def test_each_filter_has_its_doc_sidecar(name):
    plugin = filter_loader.get(FQCN + name)
    assert plugin is not None and plugin.ansible_name == FQCN + name
    sidecar = plugin._original_path.replace("incident.py", name + ".yml")
    doc = get_docstring(sidecar, fragment_loader, is_module=False)[0]
    assert doc["name"] == name and "_input" in doc["options"]
