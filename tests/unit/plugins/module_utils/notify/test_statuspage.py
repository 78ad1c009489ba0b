# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Statuspage request bodies, where the marker lives, and the errors' meaning (no network)."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import statuspage as sp

MARKER = "ref incident-2026-11-28-083555/statuspage-create"


def test_a_new_incident_keeps_the_marker_in_metadata_not_in_the_text():
    body = sp.incident_body("API errors", "investigating", "We are looking into it.", "major",
                            {"cmp-api": "partial_outage"}, MARKER)
    assert body == {"incident": {"name": "API errors", "status": "investigating", "impact_override": "major",
                                 "body": "We are looking into it.", "deliver_notifications": True,
                                 "metadata": {"ai_orchestrator": {"marker": MARKER}},
                                 "component_ids": ["cmp-api"], "components": {"cmp-api": "partial_outage"}}}
    visible = sp.incident_body("n", "identified", "text", "none", None, MARKER, marker_in_body=True)["incident"]
    assert visible["body"] == "text\n\nRef: %s" % MARKER and "components" not in visible


def test_an_update_sets_status_text_and_components():
    body = sp.update_body("monitoring", "Fixed, watching.", ["cmp-api", "cmp-db"])
    assert body == {"incident": {"status": "monitoring", "body": "Fixed, watching.", "deliver_notifications": True,
                                 "component_ids": ["cmp-api", "cmp-db"],
                                 "components": {"cmp-api": "major_outage", "cmp-db": "major_outage"}}}


@pytest.mark.parametrize("call, message", [
    (lambda: sp.incident_body("", "investigating", "b", "minor", None, MARKER), "needs a name"),
    (lambda: sp.incident_body("n", "postmortem", "b", "minor", None, MARKER), "status must be one of"),
    (lambda: sp.incident_body("n", "investigating", "b", "severe", None, MARKER), "impact must be one of"),
    (lambda: sp.incident_body("n", "investigating", "b", "minor", None, ""), "needs a marker"),
    (lambda: sp.update_body("resolved", "b", {"cmp-api": "down"}), "component cmp-api: status must be one of"),
    (lambda: sp.update_body("resolved", "b", "cmp-api"), "must map component ids"),
])
def test_requests_statuspage_would_refuse_are_refused_before_sending(call, message):
    with pytest.raises(InvalidInput, match=message):
        call()


def test_an_incident_is_matched_by_metadata_or_by_an_updates_text():
    assert sp.matches({"metadata": {"ai_orchestrator": {"marker": MARKER}}}, MARKER)
    assert sp.matches({"metadata": {"marker": MARKER}}, MARKER)
    assert sp.matches({"metadata": {}, "incident_updates": [{"body": "x\n\nRef: %s" % MARKER}]}, MARKER)
    assert not sp.matches({"metadata": {"ai_orchestrator": {"marker": MARKER + "-2"}}}, MARKER)
    assert not sp.matches({"metadata": None, "incident_updates": None}, MARKER)
    assert sp.incident_marker({"metadata": "text"}) is None


def test_errors_say_what_to_fix():
    assert sp.explain(401, {"error": "Could not authenticate"}, "create the incident") == (
        "Statuspage rejected the API key (HTTP 401: Could not authenticate): check incident_notify.statuspage.api_key")
    assert "check incident_notify.statuspage.page_id" in sp.explain(404, {"message": "not found"}, "list the incidents")
    assert sp.explain(422, {"error": ["Name can't be blank", "x"]}, "create the incident") == (
        "Statuspage refused to create the incident (HTTP 422: Name can't be blank; x)")
    assert "Incident Manager" in sp.explain(403, None, "update incident abc")


def test_brief_keeps_ids_status_and_component_states():
    incident = {"id": "abc", "name": "n", "status": "resolved", "shortlink": "https://stspg.io/x", "metadata": {"a": 1},
                "components": [{"id": "cmp-api", "status": "operational", "name": "API"}], "incident_updates": [{}, {}]}
    assert sp.brief(incident) == {"id": "abc", "name": "n", "status": "resolved", "shortlink": "https://stspg.io/x",
                                  "components": {"cmp-api": "operational"}, "updates": 2}


def test_missing_settings_are_named():
    with pytest.raises(InvalidInput, match=r"incident_notify\.statuspage\.page_id is not set"):
        sp.find_incident({"api_url": "http://x/v1", "api_key": "k"}, MARKER)
    with pytest.raises(InvalidInput, match="needs the id"):
        sp.update_incident({"api_url": "http://x/v1", "api_key": "k", "page_id": "p"}, "", "resolved", "b", None)
