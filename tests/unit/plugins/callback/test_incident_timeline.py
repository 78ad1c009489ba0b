# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident_timeline callback, fed with Ansible's own Task, Host and TaskResult objects.

The last two tests run ansible-playbook with the callback enabled (real run and --check).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from ansible import context
from ansible.errors import AnsibleError
from ansible.executor.task_result import _RawTaskResult
from ansible.inventory.host import Host
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.playbook import Playbook
from ansible.playbook.play import Play
from ansible.playbook.task import Task
from ansible.plugins.loader import callback_loader

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc

CALLBACK = "ai_orchestrator.incident_response.incident_timeline"
RECORD = "ai_orchestrator.incident_response.incident_record"
ID = "incident-2026-05-09-073525"
ID2 = "incident-2026-05-09-080000"
HOSTS = {name: Host(name) for name in ("cluster-a", "cluster-b")}


@pytest.fixture
def cb(monkeypatch):
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(check=False))
    plugin = callback_loader.get(CALLBACK)
    plugin.set_options()
    return plugin


def make_task(name, action="ansible.builtin.command", args="kubectl get pods", **keywords):
    return Task.load({"name": name, action: args, **keywords})


def result(task, data, host="cluster-a"):
    # What the strategy hands to callbacks, censoring of no_log results included.
    return _RawTaskResult(host=HOSTS[host], task=task, return_data=data, task_fields={}).as_callback_task_result()


def ok(cb, name, data=None, host="cluster-a", **task_keywords):
    task = make_task(name, **task_keywords)
    cb.v2_runner_on_start(HOSTS[host], task)
    cb.v2_runner_on_ok(result(task, data or {"changed": False}, host))


def open_incident(tmp_path, incident_id=ID, now=None):
    """The record incident_record writes, and the result it returns."""
    out = inc.apply_update(str(tmp_path), incident_id, {"severity": "P1"}, now=now, host="cluster-a")
    return {"changed": True, "incident": out["record"], "timeline_path": out["paths"]["timeline"]}


def record_task(run_once=False):
    return make_task("Open or continue the incident record", RECORD, {"incident_dir": "/x"}, run_once=run_once)


def events(tmp_path, incident_id=ID, kind="task"):
    return [e for e in inc.read_timeline(str(tmp_path / incident_id / "timeline.jsonl")) if e["type"] == kind]


def test_callback_identity(cb):
    assert cb.CALLBACK_VERSION == 2.0
    assert cb.CALLBACK_TYPE == "notification"
    assert cb.CALLBACK_NAME == CALLBACK
    assert cb.CALLBACK_NEEDS_ENABLED is True
    assert cb.get_option("summary_max_chars") == 500 and cb.get_option("buffer_max_events") == 1000


def test_every_runner_hook_records_its_status(cb, tmp_path):
    playbook = Playbook(DataLoader())
    playbook._file_name = "/srv/playbooks/service_down.yml"
    cb.v2_playbook_on_start(playbook)
    cb.v2_playbook_on_play_start(Play.load({"name": "Service down", "hosts": "all"}))
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))

    ok(cb, "Get pods", {"changed": False, "rc": 0})
    ok(cb, "Delete crashed pod", {"changed": True, "msg": "pod deleted"})
    task = make_task("Scale deployment")
    cb.v2_runner_on_start(HOSTS["cluster-a"], task)
    cb.v2_runner_on_failed(result(task, {"failed": True, "msg": "forbidden", "rc": 1}), ignore_errors=True)
    task = make_task("Restart engine", when="false")
    cb.v2_runner_on_skipped(result(task, {"skipped": True, "skip_reason": "Conditional result was False"}))
    task = make_task("Check node")
    cb.v2_runner_on_unreachable(result(task, {"unreachable": True, "msg": "ssh: no route"}, "cluster-b"))

    recorded = {e["task"]: e for e in events(tmp_path)}
    assert recorded["Open or continue the incident record"]["status"] == "changed"
    assert recorded["Open or continue the incident record"]["action"] == RECORD
    get_pods = recorded["Get pods"]
    assert get_pods["status"] == "ok" and get_pods["data"] == {"rc": 0}
    assert get_pods["action"] == "ansible.builtin.command" and get_pods["host"] == "cluster-a"
    assert get_pods["source"] == "task" and get_pods["message"] == "Get pods: ok"
    assert get_pods["play"] == "Service down" and get_pods["playbook"] == "service_down.yml"
    assert get_pods["duration"] >= 0 and get_pods["started"] <= get_pods["time"]
    assert recorded["Delete crashed pod"]["status"] == "changed"
    assert recorded["Delete crashed pod"]["data"] == {"msg": "pod deleted"}
    failed = recorded["Scale deployment"]
    assert failed["status"] == "failed" and failed["ignore_errors"] is True and failed["data"]["rc"] == 1
    skipped = recorded["Restart engine"]
    assert skipped["status"] == "skipped" and skipped["duration"] is None
    assert skipped["data"]["skip_reason"] == "Conditional result was False"
    # cluster-b has no incident of its own: its event waits (nothing written for it).
    assert "Check node" not in recorded
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path, ID2), "cluster-b"))
    unreachable = {e["task"]: e for e in events(tmp_path, ID2)}["Check node"]
    assert unreachable["status"] == "unreachable" and unreachable["host"] == "cluster-b"


def test_events_before_the_incident_are_written_first(cb, tmp_path):
    # Times have millisecond resolution; real tasks take far longer than the pauses here.
    ok(cb, "Get pods", {"changed": False, "msg": "3 pods CrashLoopBackOff"})
    time.sleep(0.002)
    ok(cb, "Describe pod")
    time.sleep(0.002)
    assert not (tmp_path / ID).exists()  # nothing known, nothing written
    # The module writes incident_opened first; the buffered tasks are older and go before it.
    record = open_incident(tmp_path)
    time.sleep(0.002)
    cb.v2_runner_on_ok(result(record_task(), record))
    ok(cb, "Delete pod", {"changed": True})
    timeline = inc.read_timeline(record["timeline_path"])
    assert [e.get("task") or e["type"] for e in timeline] == [
        "Get pods", "Describe pod", "incident_opened", "Open or continue the incident record", "Delete pod",
    ]


def test_nothing_is_written_without_an_incident(cb, tmp_path):
    ok(cb, "Get pods")
    cb.v2_playbook_on_stats(None)
    assert list(tmp_path.iterdir()) == []


def test_nothing_is_written_in_check_mode(cb, tmp_path, monkeypatch):
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(check=True))
    record = open_incident(tmp_path)
    ok(cb, "Get pods")
    cb.v2_runner_on_ok(result(record_task(), record))
    ok(cb, "Delete pod", {"changed": True})
    assert events(tmp_path) == []


def test_no_log_results_are_censored(cb, tmp_path):
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    ok(cb, "Read the database password", {"changed": False, "msg": "hunter2", "password": "hunter2"}, no_log=True)
    task = make_task("Login", no_log=True)
    cb.v2_runner_on_failed(result(task, {"failed": True, "msg": "bad password hunter2"}))
    censored = events(tmp_path)[-2:]
    assert [e["data"] for e in censored] == [{"censored": True}, {"censored": True}]
    assert [e["status"] for e in censored] == ["ok", "failed"]
    assert "hunter2" not in (tmp_path / ID / "timeline.jsonl").read_text()


def test_run_once_incident_applies_to_every_host(cb, tmp_path):
    ok(cb, "Get pods", host="cluster-b")
    ok(cb, "Get pods", host="cluster-a")
    cb.v2_runner_on_ok(result(record_task(run_once=True), open_incident(tmp_path)))
    ok(cb, "Delete pod", {"changed": True}, host="cluster-b")
    assert sorted((e["host"], e["task"]) for e in events(tmp_path)) == [
        ("cluster-a", "Get pods"), ("cluster-a", "Open or continue the incident record"),
        ("cluster-b", "Delete pod"), ("cluster-b", "Get pods"),
    ]


def test_results_that_do_not_name_a_written_incident_are_ignored(cb, tmp_path):
    # Check mode on a single task: the module returns a path it did not write.
    planned = {"changed": True, "timeline_path": str(tmp_path / ID / "timeline.jsonl")}
    cb.v2_runner_on_ok(result(record_task(), planned))
    record = open_incident(tmp_path)
    cb.v2_runner_on_failed(result(record_task(), dict(record, failed=True)))
    # Another module returning a timeline_path does not count.
    cb.v2_runner_on_ok(result(make_task("Other", "ansible.builtin.debug", {"msg": "x"}), record))
    # A path that is not an incident's timeline does not count.
    bogus = tmp_path / "elsewhere" / "timeline.jsonl"
    cb.v2_runner_on_ok(result(record_task(), {"changed": False, "timeline_path": str(bogus)}))
    assert events(tmp_path) == [] and not bogus.exists()
    cb.v2_runner_on_ok(result(record_task(), record))
    assert len(events(tmp_path)) == 5  # the four buffered above, then this one


def test_event_and_artifact_results_also_name_the_incident(cb, tmp_path):
    record = open_incident(tmp_path)
    ok(cb, "Get pods", host="cluster-b")
    task = make_task("Record diagnosis", "ai_orchestrator.incident_response.incident_event", {"msg": "x"})
    cb.v2_runner_on_ok(result(task, {"changed": True, "timeline_path": record["timeline_path"]}, "cluster-b"))
    assert [e["task"] for e in events(tmp_path)] == ["Get pods", "Record diagnosis"]


def test_summary_is_bounded(cb, tmp_path):
    cb.set_options(direct={"summary_max_chars": 100})
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    ok(cb, "Logs", {"changed": False, "msg": "x" * 10000, "stdout": "y" * 10000,
                    "incident_summary": {"pods": 3, "crashloop": ["a", "b"]}})
    ok(cb, "Big summary", {"changed": False, "incident_summary": "z" * 1000})
    logs, big = events(tmp_path)[-2:]
    assert logs["data"]["msg"].startswith("x" * 100) and "9900 characters cut" in logs["data"]["msg"]
    assert "stdout" not in logs["data"]
    assert logs["data"]["incident_summary"] == {"pods": 3, "crashloop": ["a", "b"]}
    assert len(big["data"]["incident_summary"]) < 150
    assert len(json.dumps(logs)) < 1500


def test_loop_results_are_counted(cb, tmp_path):
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    task = make_task("Delete pods", loop=["a", "b", "c"])
    items = [{"item": i, "ansible_loop_var": "item", "changed": i != "b", "failed": False} for i in "abc"]
    cb.v2_runner_on_ok(result(task, {"changed": True, "results": items, "msg": "All items completed"}))
    data = events(tmp_path)[-1]["data"]
    assert data["items"] == 3 and data["items_changed"] == 2 and data["items_failed"] == 0


def test_buffer_limit_notes_what_was_dropped(cb, tmp_path):
    cb.set_options(direct={"buffer_max_events": 3})
    for n in range(5):
        ok(cb, "Step %d" % n)
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    timeline = inc.read_timeline(str(tmp_path / ID / "timeline.jsonl"))
    notes = [e for e in timeline if e["type"] == "note"]
    assert len(notes) == 1 and notes[0]["data"] == {"dropped": 3}
    assert [e["task"] for e in events(tmp_path)] == ["Step 3", "Step 4", "Open or continue the incident record"]


def test_write_errors_warn_once_and_never_raise(cb, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(cb._display, "warning", lambda msg, *a, **k: warnings.append(msg))
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    # The incident directory disappears mid-run (deleted, unmounted).
    for path in sorted((tmp_path / ID).rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (tmp_path / ID).rmdir()
    ok(cb, "Get pods")
    ok(cb, "Get pods again")
    assert len(warnings) == 1 and "incident_timeline" in warnings[0]


# ---------------------------------------------------------------- real runs


PLAYBOOK = textwrap.dedent("""\
    - name: Service down drill
      hosts: clusters
      gather_facts: false
      tasks:
        - name: Diagnose
          ansible.builtin.command: echo diagnosing {{ inventory_hostname }}
          changed_when: false
        - name: Read a secret
          ansible.builtin.debug:
            msg: hunter2
          no_log: true
        - name: Open the incident
          ansible.builtin.include_role:
            name: ai_orchestrator.incident_response.incident
          vars:
            incident_severity: p1
            incident_service: api-gateway
            incident_alert: {name: ServiceDown, labels: {service: api-gateway}}
        - name: Record the diagnosis
          ansible.builtin.include_role:
            name: ai_orchestrator.incident_response.incident
            tasks_from: event
          vars:
            incident_event_type: diagnosis
            incident_event_message: crashloop on {{ inventory_hostname }}
        - name: Keep evidence
          ansible.builtin.include_role:
            name: ai_orchestrator.incident_response.incident
            tasks_from: artifact
          vars:
            incident_artifact_name: pods/{{ inventory_hostname }}.json
            incident_artifact_data: {host: "{{ inventory_hostname }}"}
        - name: Resolve
          ansible.builtin.include_role:
            name: ai_orchestrator.incident_response.incident
            tasks_from: resolve
          vars:
            incident_resolution: pod deleted
""")


def playbook_run(tmp_path, *extra):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.ini").write_text(
        "[clusters]\ncluster-a\ncluster-b\n\n[clusters:vars]\nansible_connection=local\n"
        "ansible_python_interpreter=%s\n" % sys.executable
    )
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED=CALLBACK, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "hosts.ini", "play.yml",
         "-e", "incident_dir=%s" % (tmp_path / "incidents"), *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_playbook_run_records_the_whole_timeline(tmp_path):
    playbook_run(tmp_path)
    [incident_dir] = (tmp_path / "incidents").glob("incident-*")
    record = json.loads((incident_dir / "incident.json").read_text())
    assert record["status"] == "resolved" and record["severity"] == "P1"
    assert record["title"] == "ServiceDown: api-gateway"
    assert sorted(p.name for p in (incident_dir / "artifacts" / "pods").iterdir()) == ["cluster-a.json", "cluster-b.json"]
    text = (incident_dir / "timeline.jsonl").read_text()
    assert "hunter2" not in text
    timeline = inc.read_timeline(str(incident_dir / "timeline.jsonl"))
    # Forks append concurrently, so later lines may be a few milliseconds out of time
    # order; what ran before the incident was opened is merged in before it.
    opened = [e["type"] for e in timeline].index("incident_opened")
    before = [e["task"] for e in timeline[:opened]]
    assert before.count("Diagnose") == 2 and before.count("Read a secret") == 2
    assert "Open or continue the incident record" not in before
    tasks = [e for e in timeline if e["type"] == "task"]
    # The diagnosis of both hosts precedes the incident it led to.
    assert [e["task"] for e in timeline[:2]] == ["Diagnose", "Diagnose"]
    assert {e["host"] for e in timeline[:2]} == {"cluster-a", "cluster-b"}
    assert [e["data"] for e in tasks if e["task"] == "Read a secret"] == [{"censored": True}] * 2
    assert {e["action"] for e in tasks} >= {
        "ansible.builtin.command", RECORD,
        "ai_orchestrator.incident_response.incident_event", "ai_orchestrator.incident_response.incident_artifact",
    }
    # The notifications of the open and the resolution (none configured here: recorded, not sent).
    told = [e for e in timeline if e["type"] == "communication"]
    assert told and all(e["data"]["status"] in ("not_sent", "drafted") for e in told)
    kinds = [e["type"] for e in timeline if e["type"] not in ("task", "communication")]
    assert kinds[0] == "incident_opened" and kinds[-1] == "incident_resolved"
    assert kinds.count("diagnosis") == 2 and kinds.count("artifact_saved") == 2
    assert all(e["playbook"] == "play.yml" and e["play"] == "Service down drill" for e in tasks)


def test_playbook_check_mode_writes_nothing(tmp_path):
    proc = playbook_run(tmp_path, "--check")
    assert not (tmp_path / "incidents").exists()
    assert "Would record diagnosis in incident-" in proc.stdout


# ---------------------------------------------------------------- privacy


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def test_recorded_results_are_redacted(cb, tmp_path):
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    ok(cb, "Connect with password=hunter2", {
        "changed": False,
        "rc": 0,
        "msg": "psql postgresql://app:S3cret@db/app failed; Authorization: Bearer tok-abc123",
        "incident_summary": {"db_password": "pw-xyz", "dsn": "host=db password=pw-uvw", "pods": 3},
    })
    task = make_task("Maybe rotate", when="false")
    cb.v2_runner_on_skipped(result(task, {"skipped": True, "skip_reason": "token=skip-secret not set"}))
    text = (tmp_path / ID / "timeline.jsonl").read_text()
    for secret in ("hunter2", "S3cret", "tok-abc123", "pw-xyz", "pw-uvw", "skip-secret"):
        assert secret not in text, secret
    connect, skipped = events(tmp_path)[-2:]
    assert connect["task"] == "Connect with password=[REDACTED]"
    assert connect["message"] == "Connect with password=[REDACTED]: ok"
    assert connect["data"] == {
        "rc": 0,
        "msg": "psql postgresql://app:[REDACTED]@db/app failed; Authorization: Bearer [REDACTED]",
        "incident_summary": {"db_password": "[REDACTED]", "dsn": "host=db password=[REDACTED]", "pods": 3},
    }
    assert skipped["data"]["skip_reason"] == "token=[REDACTED] not set"
    # Timeline lines stay owner-only.
    assert os.stat(tmp_path / ID / "timeline.jsonl").st_mode & 0o777 == 0o600


def test_a_cut_never_leaves_half_a_secret(cb, tmp_path):
    cb.set_options(direct={"summary_max_chars": 100})
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    ok(cb, "Token in the middle", {"changed": False, "msg": "x" * 80 + " " + JWT + " " + "y" * 5000})
    ok(cb, "Key at the end", {"changed": False, "msg": "z" * 60 + " -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 3})
    text = (tmp_path / ID / "timeline.jsonl").read_text()
    assert "eyJhbGciOiJIUzI1NiJ9" not in text and "MIIEvQ" not in text
    first, second = events(tmp_path)[-2:]
    assert first["data"]["msg"].startswith("x" * 80 + " [REDACTED]") and "characters cut" in first["data"]["msg"]
    assert len(first["data"]["msg"]) < 150 and len(second["data"]["msg"]) < 150


def test_redaction_options(cb, tmp_path):
    cb.set_options(direct={"redact": [r"INTERNAL-\d+"], "redact_defaults": False})
    cb.v2_runner_on_ok(result(record_task(), open_incident(tmp_path)))
    ok(cb, "Ticket", {"changed": False, "msg": "INTERNAL-42 password=plain"})
    assert events(tmp_path)[-1]["data"]["msg"] == "[REDACTED] password=plain"


def test_an_invalid_pattern_stops_the_callback_from_loading(cb):
    with pytest.raises(AnsibleError, match=r"incident_timeline callback: invalid redaction pattern 'token=\('"):
        cb.set_options(direct={"redact": ["token=("]})
