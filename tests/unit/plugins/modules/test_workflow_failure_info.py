# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""workflow_failure_info and workflow_baseline through AnsibleModule, against a scripted n8n on loopback.

The drill's stand-ins (real-shaped n8n, Langflow and LangSmith) are in
tests/integration/test_workflow_failure_info.py.
"""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import workflow_baseline, workflow_failure_info

from ..module_utils.http.scripted_server import ScriptedServer
from .incident_runner import run_module
from .prometheus_server import closed_port

KEY = "n8n-key-0a1b2c3d"


def iso(seconds_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - seconds_ago))


WORKFLOW = {"id": "w1", "name": "billing-sync", "active": True, "versionId": "v2", "tags": [{"name": "owner:team-payments"}],
            "nodes": [{"id": "a", "name": "Webhook", "type": "n8n-nodes-base.webhook", "parameters": {"path": "b"}},
                      {"id": "b", "name": "Fetch", "type": "n8n-nodes-base.httpRequest", "parameters": {"url": "http://x"}}],
            "connections": {"Webhook": {"main": [[{"node": "Fetch", "type": "main", "index": 0}]]}}}
FAILED = {"id": 7, "workflowId": "w1", "status": "error", "startedAt": iso(30), "data": {"resultData": {"error": {
    "message": "getaddrinfo ENOTFOUND x", "node": {"name": "Fetch"}}}}}


@pytest.fixture
def n8n():
    with ScriptedServer() as server:
        server.script("/api/v1/workflows", {"json": {"data": [WORKFLOW], "nextCursor": None}})
        server.script("/api/v1/executions", {"json": {"data": [FAILED, dict(FAILED, id=6, status="success")],
                                                      "nextCursor": None}})
        server.script("/types/nodes.json", {"json": [{"name": "n8n-nodes-base.webhook", "group": ["trigger"]},
                                                     {"name": "n8n-nodes-base.httpRequest", "group": ["output"]}]})
        server.require_header("X-N8N-API-KEY", KEY, paths=["/api/v1/workflows", "/api/v1/executions"])
        yield server


def engine(server, key=KEY):
    return {"kind": "n8n", "url": server.url if server else "http://127.0.0.1:%d" % closed_port(), "api_key": key}


def info(capsys, check=False, **args):
    args.setdefault("retries", 0)
    return run_module(workflow_failure_info, capsys, args, check=check)


def test_failing_workflow_with_owner_and_node(n8n, capsys):
    result = info(capsys, check=True, engine=engine(n8n))
    assert not result.get("failed") and result["changed"] is False
    assert result["executions"]["failed"] == 1 and result["executions"]["total"] == 2
    (wf,) = result["failing_workflows"]
    assert (wf["name"], wf["owner"], wf["failures"], wf["failed_node"], wf["last_error"]) == (
        "billing-sync", "team-payments", 1, "Fetch", "getaddrinfo ENOTFOUND x")
    assert wf["validation"] == {"valid": True, "errors": [], "catalog": "engine"} and wf["changes"] is None
    assert KEY not in json.dumps(result)


def test_rejected_key_is_a_result(n8n, capsys):
    result = info(capsys, engine=engine(n8n, key="rotated-away"))
    assert not result.get("failed") and result["credentials"] == "rejected" and result["failing_workflows"] == []
    assert "rotated-away" not in json.dumps(result)


def test_unreachable_engine_is_a_result(capsys):
    result = info(capsys, engine=engine(None), timeout=1)
    assert not result.get("failed") and result["available"] is False and result["error_kind"] == "unreachable"
    assert KEY not in json.dumps(result)


@pytest.mark.parametrize("args, message", [
    ({"since_minutes": 0}, "since_minutes must be above 0, got 0"),
    ({"limit": 20000}, "limit must be between 1 and 10000, got 20000"),
    ({"timeout": 0}, "timeout"),
    ({"engine": {"kind": "n8n", "url": "n8n:5678"}}, "http"),
])
def test_unusable_options_fail_before_any_request(capsys, args, message):
    args.setdefault("engine", engine(None))
    result = info(capsys, **args)
    assert result["failed"] and result["error_kind"] == "invalid_input" and message in result["msg"]


def test_baseline_check_mode_diff_and_idempotence(n8n, capsys, tmp_path):
    args = {"engine": engine(n8n), "baseline_dir": str(tmp_path), "skip_failing": False, "retries": 0}
    checked = run_module(workflow_baseline, capsys, args, check=True, diff=True)
    assert checked["changed"] and checked["diff"][0]["after"].startswith("{") and not list(tmp_path.iterdir())
    saved = run_module(workflow_baseline, capsys, args)
    assert saved["changed"] and "diff" not in saved
    assert json.loads((tmp_path / "n8n" / "w1.json").read_text()) == WORKFLOW
    again = run_module(workflow_baseline, capsys, args)
    assert not again["changed"] and again["saved"][0]["changed"] is False
    failing = run_module(workflow_baseline, capsys, dict(args, skip_failing=True))
    assert failing["saved"] == [] and failing["not_saved"][0]["reason"] == "failing" and not failing["changed"]


def test_baseline_fails_on_a_rejected_key_and_langsmith(n8n, capsys, tmp_path):
    result = run_module(workflow_baseline, capsys, {"engine": engine(n8n, key="x"), "baseline_dir": str(tmp_path)})
    assert result["failed"] and result["error_kind"] == "credentials"
    result = run_module(workflow_baseline, capsys, {"engine": dict(engine(n8n), kind="langsmith"),
                                                    "baseline_dir": str(tmp_path)})
    assert result["failed"] and result["error_kind"] == "invalid_input" and "holds runs" in result["msg"]
