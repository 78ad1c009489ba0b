# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_record through AnsibleModule: argument parsing, check mode, diff, idempotence."""

from __future__ import annotations

import datetime
import json
import re

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import store
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_record

from .incident_runner import run_module

ID = "incident-2026-05-09-073525"


@pytest.fixture
def run(capsys, tmp_path):
    def _run(check=False, diff=False, **args):
        args.setdefault("incident_dir", str(tmp_path))
        return run_module(incident_record, capsys, args, check=check, diff=diff)
    return _run


def files(tmp_path):
    return {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def test_opens_a_new_incident_with_an_id_of_now(run, tmp_path):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    result = run(severity="p1", title="api-gateway down", host="cluster-a",
                 alert={"name": "ServiceDown", "labels": {"service": "api-gateway"}})
    assert result["changed"] and result["created"]
    incident_id = result["incident_id"]
    assert re.fullmatch(r"incident-\d{4}-\d{2}-\d{2}-\d{6}", incident_id)
    assert before <= inc.incident_opened_at(incident_id) <= datetime.datetime.now(datetime.timezone.utc)
    record = result["incident"]
    assert record["severity"] == "P1" and record["status"] == "open" and record["title"] == "api-gateway down"
    assert record["alert"]["name"] == "ServiceDown" and record["alert"]["labels"] == {"service": "api-gateway"}
    assert record["alert"]["status"] == "firing" and record["alert"]["key"].endswith("@")
    assert result["incident_path"] == str(tmp_path / incident_id / "incident.json")
    assert result["timeline_path"] == str(tmp_path / incident_id / "timeline.jsonl")
    assert result["artifacts_dir"] == str(tmp_path / incident_id / "artifacts")
    assert json.loads((tmp_path / incident_id / "incident.json").read_text()) == record
    assert [e["type"] for e in result["events"]] == ["incident_opened"]
    assert result["incident_summary"] == "%s P1 open: api-gateway down" % incident_id
    assert "diff" not in result


def test_creates_under_a_given_id_then_continues_idempotently(run, tmp_path):
    first = run(incident_id=ID, severity="P2", namespace="ai-orchestrator")
    assert first["created"] and first["incident"]["id"] == ID
    snapshot = files(tmp_path)
    second = run(incident_id=ID, severity="P2", namespace="ai-orchestrator")
    assert not second["changed"] and not second["created"] and second["events"] == []
    assert files(tmp_path) == snapshot
    third = run(incident_id=ID)  # no options: just read it back
    assert not third["changed"] and third["incident"] == first["incident"]


def test_changes_append_events_and_diff(run, tmp_path):
    run(incident_id=ID, severity="P2")
    result = run(incident_id=ID, severity="P1", status="investigating", diff=True)
    assert result["changed"]
    assert [e["type"] for e in result["events"]] == ["severity_changed", "status_changed"]
    diff = result["diff"]
    assert diff["before_header"] == diff["after_header"] == result["incident_path"]
    assert json.loads(diff["before"])["severity"] == "P2"
    assert json.loads(diff["after"])["severity"] == "P1"
    assert diff["after"] == (tmp_path / ID / "incident.json").read_text()


def test_resolve(run, tmp_path):
    run(incident_id=ID, severity="P1")
    result = run(incident_id=ID, state="resolved", root_cause="OOM", resolution="raised the limit")
    record = result["incident"]
    assert record["status"] == "resolved" and record["resolved_at"]
    assert [e["type"] for e in result["events"]] == ["record_updated", "incident_resolved"]
    assert not run(incident_id=ID, state="resolved")["changed"]


def test_escalation_option(run):
    run(incident_id=ID, severity="P1")
    result = run(incident_id=ID, status="escalated", escalation={"to": "Team lead", "via": ["slack", "pagerduty"]})
    assert result["incident"]["escalations"][0]["to"] == "Team lead"
    assert [e["type"] for e in result["events"]] == ["escalated", "status_changed"]
    missing_to = run(incident_id=ID, escalation={"reason": "x"})
    assert missing_to["failed"] and "to" in missing_to["msg"]


def test_check_mode_returns_the_plan_and_writes_nothing(run, tmp_path):
    result = run(check=True, diff=True, incident_id=ID, severity="P0", title="all down")
    assert result["changed"] and result["created"] and result["incident"]["severity"] == "P0"
    assert result["diff"]["before"] == "" and json.loads(result["diff"]["after"])["title"] == "all down"
    assert list(tmp_path.iterdir()) == []
    run(incident_id=ID, severity="P0")
    snapshot = files(tmp_path)
    planned = run(check=True, incident_id=ID, state="resolved")
    assert planned["changed"] and planned["incident"]["status"] == "resolved"
    assert files(tmp_path) == snapshot


@pytest.mark.parametrize("args, message", [
    ({"incident_id": "../../etc", "severity": "P1"}, "invalid incident id"),
    ({"incident_id": ID, "severity": "P5"}, "expected one of P0, P1, P2, P3"),
    ({"incident_id": ID}, "severity is required"),
    ({"incident_id": ID, "severity": "P1", "status": "bogus"}, "value of status must be one of"),
    ({"incident_id": ID, "severity": "P1", "state": "resolved", "status": "open"}, "conflicts"),
])
def test_bad_input_fails_and_writes_nothing(run, tmp_path, args, message):
    result = run(**args)
    assert result["failed"] and message in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_new_id_skips_an_existing_one(tmp_path):
    now = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=datetime.timezone.utc)
    inc.apply_update(str(tmp_path), ID, {"severity": "P1"}, now=now)
    assert store.allocate_id(str(tmp_path), now) == "incident-2026-05-09-073526"


def test_documented_statuses_are_the_code_statuses():
    doc = yaml.safe_load(incident_record.DOCUMENTATION)
    assert tuple(doc["options"]["status"]["choices"]) == inc.STATUSES
