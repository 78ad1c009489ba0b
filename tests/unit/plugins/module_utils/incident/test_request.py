# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The common scenario inputs: one set of rules, checked before anything is read or changed."""
from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentError,
    InvalidInput,
    SeverityError,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.request import validate_request


def test_empty_request_means_the_platform_namespace_and_everything_derived():
    assert validate_request({}) == {"namespace": "ai-orchestrator", "service": "", "severity": "", "incident_id": ""}
    assert validate_request({"namespace": None, "service": None})["namespace"] == "ai-orchestrator"


def test_values_are_normalized():
    got = validate_request({"namespace": "payments", "service": "api.v2", "severity": " p1 ", "incident_id": "incident-2026-05-09-073525"})
    assert got == {"namespace": "payments", "service": "api.v2", "severity": "P1", "incident_id": "incident-2026-05-09-073525"}


@pytest.mark.parametrize("field, value, error, words", [
    ("namespace", "Payments", InvalidInput, "namespace"),
    ("namespace", "a" * 64, InvalidInput, "at most 63"),
    ("namespace", "ns;rm -rf", InvalidInput, "namespace"),
    ("service", "API", InvalidInput, "service"),
    ("service", "-api", InvalidInput, "service"),
    ("severity", "high", SeverityError, "P0, P1, P2, P3"),
    ("incident_id", "incident-2026-13-01-000000", IncidentError, "not a real date"),
    ("incident_id", "../../etc", IncidentError, "incident-YYYY-MM-DD-HHMMSS"),
    ("service", 7, InvalidInput, "must be a string"),
])
def test_bad_input_says_what_was_expected(field, value, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(")):
        validate_request({field: value})


def test_not_a_dict():
    with pytest.raises(InvalidInput):
        validate_request("ai-orchestrator")
