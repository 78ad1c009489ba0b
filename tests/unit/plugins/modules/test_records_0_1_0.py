# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Records written by 0.1.0 stay readable and can be continued.

fixtures/records-0.1.0/ holds two records made by the 0.1.0 code itself (commit 90a01cf): an
escalated incident written by its modules, and a resolved one written by its service_down.yml
against the drill cluster (timeline with task events from its callback, diagnosis artifacts).
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_artifact, incident_event, incident_record

from .incident_runner import run_module

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "records-0.1.0"
ESCALATED = "incident-2026-11-26-031500"
RESOLVED = "incident-2026-11-27-135253"


@pytest.fixture
def store(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "incidents")
    return tmp_path / "incidents"


def timeline(store, incident_id):
    return inc.read_timeline(str(store / incident_id / "timeline.jsonl"))


@pytest.mark.parametrize("incident_id", [ESCALATED, RESOLVED])
def test_old_records_load_with_every_field(store, incident_id):
    record = inc.load_incident(str(store), incident_id)
    old = json.loads((FIXTURES / incident_id / "incident.json").read_text())
    assert record == old
    assert record["channel"] == "#" + incident_id
    assert len(timeline(store, incident_id)) == len((FIXTURES / incident_id / "timeline.jsonl").read_text().splitlines())


def test_an_escalated_old_record_is_continued_and_resolved(store, capsys):
    before = timeline(store, ESCALATED)
    args = {"incident_dir": str(store), "incident_id": ESCALATED}
    event = run_module(incident_event, capsys, dict(args, type="fix_implemented", msg="rolled back n8n"))
    assert event["changed"] and not event.get("failed")
    saved = run_module(incident_artifact, capsys, dict(args, name="after.txt", content="n8n 1/1 ready\n"))
    assert saved["changed"] and not saved.get("failed")
    resolved = run_module(incident_record, capsys, dict(args, state="resolved", resolution="rolled back n8n"))
    assert resolved["changed"] and resolved["incident"]["status"] == "resolved"
    record = inc.load_incident(str(store), ESCALATED)
    # What 0.1.0 wrote is kept; what this run added is there too.
    assert record["escalations"][0]["to"] == "development team" and record["severity"] == "P1"
    assert record["resolved_at"] and record["resolution"] == "rolled back n8n"
    after = timeline(store, ESCALATED)
    assert after[:len(before)] == before
    assert [e["type"] for e in after[len(before):]] == ["fix_implemented", "artifact_saved", "record_updated", "incident_resolved"]
    assert (store / ESCALATED / "artifacts" / "pods.txt").exists() and (store / ESCALATED / "artifacts" / "after.txt").exists()


def test_a_resolved_old_record_is_reopened_when_continued(store, capsys):
    result = run_module(incident_record, capsys, {"incident_dir": str(store), "incident_id": RESOLVED, "status": "investigating"})
    assert result["changed"] and result["incident"]["status"] == "investigating"
    assert "incident_reopened" in [e["type"] for e in timeline(store, RESOLVED)]
