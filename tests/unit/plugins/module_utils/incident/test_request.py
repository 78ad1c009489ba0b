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
    assert validate_request({}) == {"namespace": "ai-orchestrator", "service": "", "severity": "", "incident_id": "", "alert": None}
    assert validate_request({"namespace": None, "service": None})["namespace"] == "ai-orchestrator"


def test_values_are_normalized():
    got = validate_request({"namespace": "payments", "service": "api.v2", "severity": " p1 ", "incident_id": "incident-2026-05-09-073525"})
    assert got == {"namespace": "payments", "service": "api.v2", "severity": "P1", "incident_id": "incident-2026-05-09-073525",
                   "alert": None}


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


ALERT = {"name": "ServiceDown", "labels": {"namespace": "payments", "service": "ledger", "severity": "critical"},
         "fingerprint": "0f1e2d3c4b5a6978", "startsAt": "2026-11-27T03:14:00Z"}


def test_the_alert_fills_in_namespace_and_service():
    got = validate_request({"alert": ALERT})
    assert (got["namespace"], got["service"]) == ("payments", "ledger")
    assert got["alert"]["key"] == "0f1e2d3c4b5a6978@2026-11-27T03:14:00Z"
    assert validate_request({"alert": ALERT, "namespace": "payments"})["service"] == "ledger"


@pytest.mark.parametrize("field, value", [("namespace", "search"), ("service", "billing")])
def test_an_operator_input_that_contradicts_the_alert_is_refused(field, value):
    with pytest.raises(InvalidInput, match="contradicts the alert"):
        validate_request({"alert": ALERT, field: value})


def test_a_bad_alert_is_refused_before_anything_runs():
    with pytest.raises(InvalidInput, match="alert.labels"):
        validate_request({"alert": {"name": "ServiceDown", "labels": {"namespace": {"$ne": 1}}}})


def test_a_namespace_scoped_alert_run_covers_every_service_of_the_namespace():
    alert = {"labels": {"alertname": "ServiceDown", "namespace": "shop", "service": "cart"}}
    assert validate_request({"alert": alert})["service"] == "cart"
    whole = validate_request({"alert": alert, "scope": "namespace"})
    assert (whole["namespace"], whole["service"]) == ("shop", "")
    with pytest.raises(InvalidInput, match="scope 'cluster'"):
        validate_request({"alert": alert, "scope": "cluster"})
