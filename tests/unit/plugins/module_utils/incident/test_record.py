# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident records on a real file system, with real processes appending at once."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)
ID = "incident-2026-05-09-073525"


def later(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


def timeline(tmp_path, incident_id=ID):
    return inc.read_timeline(str(tmp_path / incident_id / "timeline.jsonl"))


def open_incident(tmp_path, **fields):
    fields.setdefault("severity", "P1")
    return inc.apply_update(str(tmp_path), ID, fields, now=T0, host="cluster-a")


# ---------------------------------------------------------------- ids and times


@pytest.mark.parametrize("moment", [
    T0,
    datetime.datetime(2026, 5, 9, 7, 35, 25),  # naive: taken as UTC
    datetime.datetime(2026, 5, 9, 9, 35, 25, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    "2026-05-09T07:35:25Z",
    "2026-05-09T09:35:25.999+02:00",
])
def test_new_incident_id_is_utc(moment):
    assert inc.new_incident_id(moment) == ID


def test_new_incident_id_defaults_to_now():
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    made = inc.incident_opened_at(inc.new_incident_id())
    assert before <= made <= datetime.datetime.now(UTC)


@pytest.mark.parametrize("bad", [
    "../../etc",
    "incident-2026-05-09-073525/../x",
    "incident-2026-05-09-073525\n",
    "incident-2026-05-09-07352",
    "incident-2026-13-09-073525",
    "incident-2026-02-30-000000",
    "incident-2026-05-09-246000",
    "INCIDENT-2026-05-09-073525",
    "incident-\u0662\u0660\u0662\u0666-05-09-073525",  # Arabic-Indic digits match \d, not [0-9]
    "",
    None,
    20260509,
])
def test_validate_incident_id_rejects(bad):
    with pytest.raises(inc.IncidentError, match="incident-YYYY-MM-DD-HHMMSS|not a real date"):
        inc.validate_incident_id(bad)


def test_channel_and_paths(tmp_path):
    assert inc.incident_channel(ID) == "#" + ID
    paths = inc.incident_paths(str(tmp_path), ID)
    assert paths["record"] == str(tmp_path / ID / "incident.json")
    assert paths["timeline"] == str(tmp_path / ID / "timeline.jsonl")
    assert paths["artifacts"] == str(tmp_path / ID / "artifacts")
    with pytest.raises(inc.IncidentError):
        inc.incident_paths(str(tmp_path), "../" + ID)


def test_format_time():
    assert inc.format_time(T0) == "2026-05-09T07:35:25Z"
    assert inc.format_time(T0, timespec="milliseconds") == "2026-05-09T07:35:25.000Z"
    with pytest.raises(InvalidInput, match="ISO-8601"):
        inc.to_utc("yesterday")


# ---------------------------------------------------------------- artifacts paths


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "", " ", "a//b", "./a", "a/.", "a\\b", "a\x00b", "x" * 256])
def test_artifact_names_rejected(name):
    with pytest.raises(inc.IncidentError):
        inc.artifact_relpath(name)


def test_artifact_path_stays_inside(tmp_path):
    root = tmp_path / "artifacts"
    root.mkdir()
    assert inc.artifact_path(str(root), "logs/api.log") == str(root / "logs" / "api.log")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "evil").symlink_to(outside)
    with pytest.raises(inc.IncidentError, match="outside"):
        inc.artifact_path(str(root), "evil/passwd")


# ---------------------------------------------------------------- records


def test_open_writes_record_and_opening_event(tmp_path):
    out = open_incident(tmp_path, alert={"labels": {"alertname": "ServiceDown"}}, service="api-gateway")
    assert out["created"] and out["changed"]
    record = json.loads((tmp_path / ID / "incident.json").read_text())
    assert record == out["record"]
    assert record["id"] == ID and record["severity"] == "P1" and record["status"] == "open"
    assert record["title"] == "ServiceDown: api-gateway"  # derived
    assert record["alert"]["name"] == "ServiceDown" and record["alert"]["labels"] == {"alertname": "ServiceDown"}
    assert record["channel"] == "#" + ID
    assert record["opened_at"] == record["updated_at"] == "2026-05-09T07:35:25Z"
    assert record["resolved_at"] is None and record["escalations"] == []
    assert (tmp_path / ID / "artifacts").is_dir()
    [event] = timeline(tmp_path)
    assert event["type"] == "incident_opened" and event["source"] == "module" and event["host"] == "cluster-a"
    assert event["time"] == "2026-05-09T07:35:25.000Z"


def test_open_requires_severity_and_leaves_nothing(tmp_path):
    with pytest.raises(inc.IncidentError, match="severity is required"):
        inc.apply_update(str(tmp_path), ID, {"title": "x"}, now=T0)
    with pytest.raises(inc.IncidentError, match="P0, P1, P2, P3"):
        inc.apply_update(str(tmp_path), ID, {"severity": "P7"}, now=T0)
    assert list(tmp_path.iterdir()) == []


def test_same_values_change_nothing(tmp_path):
    open_incident(tmp_path, impact="all users")
    before = (tmp_path / ID / "incident.json").read_bytes()
    again = inc.apply_update(str(tmp_path), ID, {"severity": "p1", "impact": "all users"}, now=later(5))
    assert not again["changed"] and not again["created"] and again["events"] == []
    assert (tmp_path / ID / "incident.json").read_bytes() == before
    assert len(timeline(tmp_path)) == 1


def test_severity_status_and_field_changes_are_events(tmp_path):
    open_incident(tmp_path)
    out = inc.apply_update(str(tmp_path), ID, {"severity": "P0", "status": "investigating", "impact": "outage"},
                           now=later(10))
    assert [e["type"] for e in out["events"]] == ["severity_changed", "record_updated", "status_changed"]
    assert out["events"][0]["data"] == {"from": "P1", "to": "P0"}
    assert out["events"][2]["data"] == {"from": "open", "to": "investigating"}
    assert out["record"]["updated_at"] == "2026-05-09T07:45:25Z"
    assert out["record"]["opened_at"] == "2026-05-09T07:35:25Z"
    assert [e["type"] for e in timeline(tmp_path)] == [
        "incident_opened", "severity_changed", "record_updated", "status_changed",
    ]


def test_resolve_reopen_and_conflict(tmp_path):
    open_incident(tmp_path)
    out = inc.apply_update(str(tmp_path), ID, {"root_cause": "OOM"}, state="resolved", now=later(72))
    assert out["record"]["status"] == "resolved"
    assert out["record"]["resolved_at"] == "2026-05-09T08:47:25Z"
    resolved = out["events"][-1]
    assert resolved["type"] == "incident_resolved"
    assert resolved["data"]["duration_minutes"] == 72.0 and resolved["data"]["root_cause"] == "OOM"
    # Resolving again: nothing to do.
    assert not inc.apply_update(str(tmp_path), ID, {}, state="resolved", now=later(80))["changed"]
    assert not inc.apply_update(str(tmp_path), ID, {"status": "resolved"}, now=later(80))["changed"]
    with pytest.raises(inc.IncidentError, match="conflicts"):
        inc.apply_update(str(tmp_path), ID, {"status": "mitigated"}, state="resolved", now=later(80))
    reopened = inc.apply_update(str(tmp_path), ID, {"status": "investigating"}, now=later(90))
    assert [e["type"] for e in reopened["events"]] == ["incident_reopened"]
    assert reopened["record"]["resolved_at"] is None


def test_escalation_is_recorded_once_per_target(tmp_path):
    open_incident(tmp_path)
    esc = {"to": "Team lead", "reason": "P1 open for 60 minutes", "via": ["slack"]}
    first = inc.apply_update(str(tmp_path), ID, {}, escalation=esc, now=later(60))
    assert [e["type"] for e in first["events"]] == ["escalated"]
    assert first["record"]["escalations"] == [{**esc, "at": "2026-05-09T08:35:25Z"}]
    assert not inc.apply_update(str(tmp_path), ID, {}, escalation=esc, now=later(61))["changed"]
    with pytest.raises(inc.IncidentError, match="escalation.to"):
        inc.apply_update(str(tmp_path), ID, {}, escalation={"reason": "x"}, now=later(61))


def test_check_mode_writes_nothing(tmp_path):
    out = inc.apply_update(str(tmp_path), ID, {"severity": "P2"}, now=T0, check_mode=True)
    assert out["changed"] and out["created"] and out["record"]["severity"] == "P2"
    assert list(tmp_path.iterdir()) == []
    open_incident(tmp_path)
    snapshot = {p: p.read_bytes() for p in (tmp_path / ID).rglob("*") if p.is_file()}
    out = inc.apply_update(str(tmp_path), ID, {"status": "mitigated"}, now=later(1), check_mode=True)
    assert out["changed"] and out["record"]["status"] == "mitigated"
    assert {p: p.read_bytes() for p in (tmp_path / ID).rglob("*") if p.is_file()} == snapshot


def test_load_rejects_a_foreign_record(tmp_path):
    open_incident(tmp_path)
    path = tmp_path / ID / "incident.json"
    path.write_text(json.dumps({"id": "incident-2020-01-01-000000"}))
    with pytest.raises(inc.IncidentError, match="not the record"):
        inc.load_incident(str(tmp_path), ID)
    path.write_text("{broken")
    with pytest.raises(inc.IncidentError, match="cannot read"):
        inc.load_incident(str(tmp_path), ID)


def test_save_incident_is_atomic_rename(tmp_path):
    open_incident(tmp_path)
    record = inc.load_incident(str(tmp_path), ID)
    inode = os.stat(tmp_path / ID / "incident.json").st_ino
    record["impact"] = "x"
    inc.save_incident(str(tmp_path), record)
    # A new inode: readers never see a half-written file.
    assert os.stat(tmp_path / ID / "incident.json").st_ino != inode
    assert not [p for p in (tmp_path / ID).iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- concurrency (real processes)


def _append_many(path, worker, count):
    for n in range(count):
        inc.append_event(path, inc.make_event("note", "w%d-%d %s" % (worker, n, "x" * 3000), {"n": n}, host="h%d" % worker))


def _escalate(incident_dir, target):
    inc.apply_update(incident_dir, ID, {}, escalation={"to": target})


def _run(target, args_list):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def test_parallel_appends_keep_every_line_whole(tmp_path):
    path = str(tmp_path / "timeline.jsonl")
    # Lines longer than a pipe buffer (4 KiB) would interleave without the lock.
    _run(_append_many, [(path, w, 100) for w in range(6)])
    events = inc.read_timeline(path)  # raises on any torn line
    assert len(events) == 600
    for w in range(6):
        assert [e["data"]["n"] for e in events if e["host"] == "h%d" % w] == list(range(100))


def test_parallel_updates_lose_nothing(tmp_path):
    open_incident(tmp_path)
    targets = ["Primary on-call", "Secondary on-call", "Team lead", "Engineering manager", "CTO"]
    _run(_escalate, [(str(tmp_path), t) for t in targets])
    record = inc.load_incident(str(tmp_path), ID)
    assert sorted(e["to"] for e in record["escalations"]) == sorted(targets)
    assert sorted(e["data"]["to"] for e in timeline(tmp_path) if e["type"] == "escalated") == sorted(targets)


def _merge_old(path, worker):
    for n in range(30):
        old = inc.make_event("task", "old w%d-%d" % (worker, n), now=T0 + datetime.timedelta(seconds=n))
        inc.merge_events(path, [old])


def test_merge_puts_older_events_first_and_loses_no_concurrent_append(tmp_path):
    path = str(tmp_path / "timeline.jsonl")
    inc.append_event(path, inc.make_event("incident_opened", "opened", now=later(5)))
    # Mergers rewrite the file (rename) while appenders write to it.
    _run(_merge_old, [(path, 0), (path, 1)])
    _run(_append_many, [(path, 9, 50)])
    events = inc.read_timeline(path)
    assert len(events) == 1 + 60 + 50
    opened = [e["type"] for e in events].index("incident_opened")
    assert opened == 60  # every older event sorted before it
    times = [e["time"] for e in events[:61]]
    assert times == sorted(times)
    assert [e["time"] for e in inc.read_timeline(path, sort=True)] == sorted(e["time"] for e in events)


def test_merge_and_append_race(tmp_path):
    path = str(tmp_path / "timeline.jsonl")
    inc.append_event(path, inc.make_event("incident_opened", "opened", now=later(5)))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_merge_old, args=(path, w)) for w in range(2)]
    procs += [ctx.Process(target=_append_many, args=(path, w, 40)) for w in range(2, 4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(inc.read_timeline(path)) == 1 + 60 + 80


# ---------------------------------------------------------------- artifacts


def test_artifact_roundtrip(tmp_path):
    with pytest.raises(inc.IncidentError, match="does not exist"):
        inc.save_artifact(str(tmp_path), ID, "a.txt", b"x")
    open_incident(tmp_path)
    out = inc.save_artifact(str(tmp_path), ID, "logs/a.txt", b"hello\n", now=later(1), host="cluster-b")
    assert out["changed"] and out["created"] and out["size"] == 6
    assert (tmp_path / ID / "artifacts" / "logs" / "a.txt").read_bytes() == b"hello\n"
    assert timeline(tmp_path)[-1]["type"] == "artifact_saved"
    again = inc.save_artifact(str(tmp_path), ID, "logs/a.txt", b"hello\n")
    assert not again["changed"] and again["event"] is None and again["sha256"] == out["sha256"]
    planned = inc.save_artifact(str(tmp_path), ID, "logs/a.txt", b"bye\n", check_mode=True)
    assert planned["changed"] and (tmp_path / ID / "artifacts" / "logs" / "a.txt").read_bytes() == b"hello\n"
    assert len(timeline(tmp_path)) == 2


def test_artifact_bytes_sources(tmp_path):
    assert inc.artifact_bytes(content="é") == "é".encode()
    assert inc.artifact_bytes(data={"b": 1, "a": [1]}) == b'{\n  "a": [\n    1\n  ],\n  "b": 1\n}\n'
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01")
    assert inc.artifact_bytes(src=str(src)) == b"\x00\x01"
    with pytest.raises(inc.IncidentError, match="exactly one"):
        inc.artifact_bytes(content="a", data={})
    with pytest.raises(inc.IncidentError, match="exactly one"):
        inc.artifact_bytes()
    with pytest.raises(inc.IncidentError, match="cannot read src"):
        inc.artifact_bytes(src=str(tmp_path / "missing"))
    with pytest.raises(inc.IncidentError, match="JSON"):
        inc.artifact_bytes(data={"x": object()})
