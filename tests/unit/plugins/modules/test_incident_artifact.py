# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_artifact through AnsibleModule."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import shutil
import stat

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_artifact

from .incident_runner import run_module

ID = "incident-2026-05-09-073525"
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "records-0.1.0"
OLD = "incident-2026-11-27-135253"  # written by 0.1.0: directories 0755, files 0644


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


# ---------------------------------------------------------------- privacy: redaction and modes


SECRET_LOG = (
    "2026-05-09T07:35:25Z connecting to postgresql://app:S3cretPw@db:5432/app\n"
    "2026-05-09T07:35:26Z env DB_PASSWORD=hunter2 API_TOKEN=tok-abc123\n"
    "2026-05-09T07:35:27Z GET /api Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl\n"
    "2026-05-09T07:35:28Z token bucket refilled; password reset page served\n"
)
SECRETS = ("S3cretPw", "hunter2", "tok-abc123", "eyJhbGciOiJIUzI1NiJ9", "c2lnbmF0dXJl")


@pytest.fixture
def open_umask():
    """A permissive umask: modes must not depend on it."""
    old = os.umask(0o000)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_content_is_redacted_before_hashing_and_writing(run, artifacts):
    result = run(name="logs/app.log", content=SECRET_LOG)
    stored = (artifacts / "logs" / "app.log").read_bytes()
    assert result["redactions"] == 4 and result["event"]["data"]["redactions"] == 4
    assert result["sha256"] == hashlib.sha256(stored).hexdigest() and result["size"] == len(stored)
    text = stored.decode()
    assert not any(secret in text for secret in SECRETS)
    assert "postgresql://app:[REDACTED]@db:5432/app" in text and "DB_PASSWORD=[REDACTED]" in text
    assert "token bucket refilled; password reset page served" in text
    assert not any(secret in (artifacts.parent / "timeline.jsonl").read_text() for secret in SECRETS)
    # The same input stores the same redacted bytes: no change.
    assert not run(name="logs/app.log", content=SECRET_LOG)["changed"]


def test_data_is_redacted_by_key_and_by_content(run, artifacts):
    data = {"db": {"host": "db", "password": "hunter2"}, "env": [{"name": "API_TOKEN", "value": "tok-abc123"}],
            "log": "dsn postgresql://app:S3cretPw@db/app", "replicas": 3}
    result = run(name="config.json", data=data)
    stored = json.loads((artifacts / "config.json").read_text())
    assert stored == {"db": {"host": "db", "password": "[REDACTED]"}, "env": [{"name": "API_TOKEN", "value": "[REDACTED]"}],
                      "log": "dsn postgresql://app:[REDACTED]@db/app", "replicas": 3}
    assert result["redactions"] == 3


def test_src_is_redacted(run, artifacts, tmp_path):
    src = tmp_path / "app.log"
    src.write_text(SECRET_LOG)
    result = run(name="logs/src.log", src=str(src))
    assert result["redactions"] == 4
    assert not any(secret in (artifacts / "logs" / "src.log").read_text() for secret in SECRETS)
    assert src.read_text() == SECRET_LOG  # the source is not touched


def test_binary_src_is_stored_as_is_with_a_warning(run, artifacts, tmp_path):
    src = tmp_path / "dump.bin"
    src.write_bytes(b"\x00\x01password=hunter2")
    warnings = []
    params = {"incident_dir": str(tmp_path / "incidents"), "incident_id": ID, "name": "dump.bin", "src": str(src),
              "redact": [], "redact_defaults": True}
    result = incident_artifact.run(params, False, warn=warnings.append)
    assert result["redactions"] == 0 and (artifacts / "dump.bin").read_bytes() == b"\x00\x01password=hunter2"
    assert len(warnings) == 1 and "binary" in warnings[0] and "dump.bin" in warnings[0]
    incident_artifact.run(dict(params, name="dump2.bin", redact_defaults=False), False, warn=warnings.append)
    assert len(warnings) == 1  # nothing to redact with, nothing to warn about


def test_extra_patterns_and_no_defaults(run, artifacts):
    content = "ticket_session=deadbeef password=hunter2 INTERNAL-42\n"
    added = run(name="a.txt", content=content, redact=[r"ticket_session=(?P<secret>[0-9a-f]+)", r"INTERNAL-\d+"])
    assert (artifacts / "a.txt").read_text() == "ticket_session=[REDACTED] password=[REDACTED] [REDACTED]\n"
    assert added["redactions"] == 3
    only = run(name="b.txt", content=content, redact=[r"INTERNAL-\d+"], redact_defaults=False)
    assert (artifacts / "b.txt").read_text() == "ticket_session=deadbeef password=hunter2 [REDACTED]\n"
    assert only["redactions"] == 1
    nothing = run(name="c.json", data={"password": "hunter2"}, redact_defaults=False)
    assert json.loads((artifacts / "c.json").read_text()) == {"password": "hunter2"} and nothing["redactions"] == 0


def test_invalid_pattern_fails_before_anything_is_written(run, artifacts):
    timeline = (artifacts.parent / "timeline.jsonl").read_bytes()
    result = run(name="a.txt", content="x", redact=["ok", "token=(unclosed"])
    assert result["failed"] and "invalid redaction pattern 'token=(unclosed'" in result["msg"]
    assert not (artifacts / "a.txt").exists()
    assert (artifacts.parent / "timeline.jsonl").read_bytes() == timeline


def test_check_mode_reports_redactions(run, artifacts):
    result = run(check=True, name="plan.txt", content="password=hunter2")
    assert result["redactions"] == 1 and result["size"] == len("password=[REDACTED]")
    assert not (artifacts / "plan.txt").exists()


def test_record_is_owner_only_whatever_the_umask(run, tmp_path, open_umask):
    store = tmp_path / "store" / "incidents"  # neither level exists yet
    inc.apply_update(str(store), ID, {"severity": "P1"})
    result = run(incident_dir=str(store), name="logs/deep/app.log", content=SECRET_LOG)
    base = store / ID
    assert mode(store) == 0o700 and mode(store.parent) == 0o700
    for directory in (base, base / "artifacts", base / "artifacts" / "logs", base / "artifacts" / "logs" / "deep"):
        assert mode(directory) == 0o700, directory
    for name in ("incident.json", "timeline.jsonl", ".incident.lock", "artifacts/logs/deep/app.log"):
        assert mode(base / name) == 0o600, name
    assert pathlib.Path(result["path"]).read_text().count("[REDACTED]") == 4


def test_older_records_are_tightened_when_written(run, tmp_path, open_umask):
    store = tmp_path / "incidents"
    shutil.copytree(FIXTURES, store)
    base = store / OLD
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    run(incident_dir=str(store), incident_id=OLD, name="after.txt", content="ok\n")
    assert mode(base) == 0o700 and mode(base / "artifacts") == 0o700
    for path in base.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
