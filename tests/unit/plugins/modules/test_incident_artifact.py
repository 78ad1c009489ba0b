# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_artifact through AnsibleModule."""

from __future__ import annotations

import datetime
import hashlib
import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_artifact

from .incident_runner import run_module

ID = "incident-2026-05-09-073525"


@pytest.fixture
def run(capsys, tmp_path):
    def _run(check=False, **args):
        args.setdefault("incident_dir", str(tmp_path / "incidents"))
        args.setdefault("incident_id", ID)
        return run_module(incident_artifact, capsys, args, check=check)
    return _run


@pytest.fixture
def artifacts(tmp_path):
    now = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=datetime.timezone.utc)
    inc.apply_update(str(tmp_path / "incidents"), ID, {"severity": "P1"}, now=now)
    return tmp_path / "incidents" / ID / "artifacts"


def test_content_is_saved_once(run, artifacts):
    result = run(name="logs/api-gateway.log", content="line 1\nline 2\n")
    payload = b"line 1\nline 2\n"
    assert result["changed"] and result["created"]
    assert result["path"] == str(artifacts / "logs" / "api-gateway.log")
    assert result["size"] == len(payload) and result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert (artifacts / "logs" / "api-gateway.log").read_bytes() == payload
    assert result["event"]["type"] == "artifact_saved"
    assert result["timeline_path"] == str(artifacts.parent / "timeline.jsonl")
    again = run(name="logs/api-gateway.log", content="line 1\nline 2\n")
    assert not again["changed"] and again["event"] is None
    changed = run(name="logs/api-gateway.log", content="line 3\n")
    assert changed["changed"] and not changed["created"]
    saved = [e for e in inc.read_timeline(str(artifacts.parent / "timeline.jsonl")) if e["type"] == "artifact_saved"]
    assert len(saved) == 2


def test_data_is_pretty_json(run, artifacts):
    result = run(name="health.json", data={"ready": 0, "pods": ["a"]})
    assert json.loads((artifacts / "health.json").read_text()) == {"ready": 0, "pods": ["a"]}
    assert (artifacts / "health.json").read_text().startswith('{\n  "pods"')
    assert not run(name="health.json", data={"pods": ["a"], "ready": 0})["changed"]  # key order is irrelevant
    assert result["size"] == (artifacts / "health.json").stat().st_size


def test_src_is_copied(run, artifacts, tmp_path):
    src = tmp_path / "dump.bin"
    src.write_bytes(bytes(range(256)))
    assert run(name="db/dump.bin", src=str(src))["changed"]
    assert (artifacts / "db" / "dump.bin").read_bytes() == bytes(range(256))
    assert not run(name="db/dump.bin", src=str(src))["changed"]


def test_check_mode_writes_nothing(run, artifacts):
    result = run(check=True, name="plan.txt", content="x")
    assert result["changed"] and result["size"] == 1
    assert not (artifacts / "plan.txt").exists()


@pytest.mark.parametrize("name", ["../incident.json", "/etc/passwd", "a/../../x", "./a", ""])
def test_unsafe_names_fail(run, artifacts, name):
    result = run(name=name, content="x")
    assert result["failed"] and "artifact name" in result["msg"]
    assert json.loads((artifacts.parent / "incident.json").read_text())["id"] == ID


@pytest.mark.parametrize("args, message", [
    ({"content": "a", "data": {"b": 1}}, "mutually exclusive"),
    ({}, "one of the following is required"),
])
def test_exactly_one_source(run, artifacts, args, message):
    result = run(name="x.txt", **args)
    assert result["failed"] and message in result["msg"]


def test_missing_incident_fails(run, tmp_path):
    result = run(name="x.txt", content="x")
    assert result["failed"] and "does not exist" in result["msg"]
    assert not (tmp_path / "incidents").exists()
