# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_event through AnsibleModule."""

from __future__ import annotations

import datetime
import os
import pathlib
import stat

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_event

from .incident_runner import run_module

ID = "incident-2026-05-09-073525"


@pytest.fixture
def run(capsys, tmp_path):
    def _run(check=False, **args):
        args.setdefault("incident_dir", str(tmp_path))
        args.setdefault("incident_id", ID)
        return run_module(incident_event, capsys, args, check=check)
    return _run


@pytest.fixture
def opened(tmp_path):
    now = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=datetime.timezone.utc)
    return inc.apply_update(str(tmp_path), ID, {"severity": "P1"}, now=now)


def test_appends_one_event(run, opened):
    result = run(type="root_cause_identified", msg="api-gateway OOMKilled", data={"pods": ["a", "b"]},
                 host="cluster-a")
    assert result["changed"] and result["incident_id"] == ID
    event = result["event"]
    assert event["type"] == "root_cause_identified" and event["message"] == "api-gateway OOMKilled"
    assert event["data"] == {"pods": ["a", "b"]} and event["source"] == "module" and event["host"] == "cluster-a"
    assert event["time"].endswith("Z")
    assert inc.read_timeline(result["timeline_path"])[-1] == event
    run(type="note", msg="second")
    assert [e["type"] for e in inc.read_timeline(result["timeline_path"])] == [
        "incident_opened", "root_cause_identified", "note",
    ]


def test_host_defaults_to_the_control_node(run, opened):
    assert run(type="note", msg="x")["event"]["host"] == inc.control_node()


def test_check_mode_writes_nothing(run, opened, tmp_path):
    before = (tmp_path / ID / "timeline.jsonl").read_bytes()
    result = run(check=True, type="service_restored", msg="all pods ready")
    assert result["changed"] and result["event"]["type"] == "service_restored"
    assert (tmp_path / ID / "timeline.jsonl").read_bytes() == before


def test_missing_incident_fails_clearly(run, tmp_path):
    result = run(type="note", msg="x")
    assert result["failed"]
    assert "does not exist" in result["msg"] and "incident_record" in result["msg"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    ({"type": "lunch", "msg": "x"}, "value of type must be one of"),
    ({"type": "note"}, "missing required arguments: msg"),
    ({"type": "note", "msg": "x", "incident_id": "incident-x"}, "invalid incident id"),
    ({"type": "note", "msg": "x", "incident_id": None}, "incident id"),
])
def test_bad_input(run, opened, args, message):
    result = run(**args)
    assert result["failed"] and message in result["msg"]


def test_every_documented_type_is_accepted(run, opened):
    for event_type in inc.EVENT_TYPES:
        assert run(type=event_type, msg=event_type)["event"]["type"] == event_type


def test_documented_types_are_the_code_and_role_types():
    doc = yaml.safe_load(incident_event.DOCUMENTATION)
    assert tuple(doc["options"]["type"]["choices"]) == inc.EVENT_TYPES
    specs = pathlib.Path(__file__).resolve().parents[4] / "roles" / "incident" / "meta" / "argument_specs.yml"
    event_spec = yaml.safe_load(specs.read_text())["argument_specs"]["event"]["options"]
    # One source: the role leaves the check to the module instead of restating the list.
    assert "choices" not in event_spec["incident_event_type"]


# ---------------------------------------------------------------- privacy


def test_message_and_data_are_redacted(run, opened, tmp_path):
    result = run(type="diagnosis", msg="login failed with password=hunter2 for postgresql://app:S3cret@db/app",
                 data={"env": {"API_TOKEN": "tok-abc123", "LOG_LEVEL": "debug"},
                       "log": "Authorization: Bearer abcdef123456", "pods": ["a"]})
    event = result["event"]
    assert event["message"] == "login failed with password=[REDACTED] for postgresql://app:[REDACTED]@db/app"
    assert event["data"] == {"env": {"API_TOKEN": "[REDACTED]", "LOG_LEVEL": "debug"},
                             "log": "Authorization: Bearer [REDACTED]", "pods": ["a"]}
    assert result["redactions"] == 4
    text = (tmp_path / ID / "timeline.jsonl").read_text()
    assert not any(secret in text for secret in ("hunter2", "S3cret", "tok-abc123", "abcdef123456"))
    assert run(type="note", msg="token bucket refilled")["redactions"] == 0


def test_extra_patterns_and_no_defaults(run, opened):
    event = run(type="note", msg="case INTERNAL-42 password=x", redact=[r"INTERNAL-\d+"], redact_defaults=False)["event"]
    assert event["message"] == "case [REDACTED] password=x"


def test_invalid_pattern_fails_before_anything_is_written(run, opened, tmp_path):
    before = (tmp_path / ID / "timeline.jsonl").read_bytes()
    result = run(type="note", msg="x", redact=["(?P<secret"])
    assert result["failed"] and "invalid redaction pattern '(?P<secret'" in result["msg"]
    assert (tmp_path / ID / "timeline.jsonl").read_bytes() == before


def test_an_older_timeline_is_made_owner_only(run, opened, tmp_path):
    old = os.umask(0o000)
    try:
        (tmp_path / ID).chmod(0o755)
        (tmp_path / ID / "timeline.jsonl").chmod(0o644)
        (tmp_path / ID / "incident.json").chmod(0o644)
        run(type="note", msg="x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / ID).stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / ID / "timeline.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ID / "incident.json").stat().st_mode) == 0o600
