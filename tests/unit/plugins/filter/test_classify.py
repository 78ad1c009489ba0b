# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import classify as flt


def test_filters_are_registered():
    assert set(flt.FilterModule().filters()) == {
        "classify_pod", "classify_workload", "remediation_plan", "remediation_plans", "remediation_results", "remediation_outcome",
        "derive_severity",
    }


def test_remediation_plan_requires_a_diagnosed_workload():
    with pytest.raises(AnsibleFilterError, match="ai_orchestrator.incident_response.remediation_plan"):
        flt.remediation_plan({"name": "x"})


def test_wrong_input_type_names_the_filter():
    with pytest.raises(AnsibleFilterError, match="classify_workload: expected a list"):
        flt.classify_workload({"name": "x"}, "not a list")


def test_string_arguments_from_jinja_are_accepted():
    w = {"kind": "Deployment", "name": "a", "desired": 2, "ready": 2, "classification": "resource_exhaustion"}
    assert flt.remediation_plan(w, "4", "2")["replicas"] == 4
