# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine adapters against a real loopback HTTP server scripted with the engines' answers."""

from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import engines

from ..http.scripted_server import ScriptedServer
from ...modules.prometheus_server import closed_port

KEY = "n8n-api-key-5e6f7a"
HTTP = {"timeout": 2.0, "retries": 0, "backoff": 0.01}
NOW = 1800000000.0  # 2027-01-15T08:00:00Z


def iso(seconds):
    return engines.format_time(engines.time_of(seconds), "milliseconds")


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


def n8n(server, **kw):
    return engines.N8n("n8n", server.url, api_key=KEY, http=HTTP, **kw)


def n8n_execution(number, seconds_ago, status="success", workflow="w1", data=None):
    item = {"id": number, "workflowId": workflow, "status": status, "finished": status == "success",
            "mode": "webhook", "startedAt": iso(NOW - seconds_ago), "stoppedAt": iso(NOW - seconds_ago + 1)}
    if data:
        item["data"] = data
    return item


def test_n8n_credentials_in_its_header(server):
    server.script("/api/v1/workflows", {"json": {"data": [], "nextCursor": None}})
    server.require_header("X-N8N-API-KEY", KEY)
    assert n8n(server).credentials() == "accepted"
    assert engines.N8n("n8n", server.url, api_key="wrong", http=HTTP).credentials() == "rejected"
    assert engines.N8n("n8n", server.url, http=HTTP).credentials() == "rejected"
    assert server.requests[0]["headers"]["x-n8n-api-key"] == KEY and server.requests[0]["query"] == {"limit": ["1"]}


def test_unreachable_and_api_errors_never_carry_the_key():
    with pytest.raises(engines.EngineError) as caught:
        engines.N8n("n8n", "http://127.0.0.1:%d/" % closed_port(), api_key=KEY, http=HTTP).credentials()
    assert caught.value.kind == "unreachable" and KEY not in str(caught.value)


def test_api_error_kinds(server):
    server.script("/api/v1/workflows/x", {"status": 500, "json": {"message": "boom"}})
    server.script("/api/v1/executions", {"body": "<html>not json</html>"})
    adapter = n8n(server)
    with pytest.raises(engines.EngineError) as caught:
        adapter.call("GET", "/api/v1/workflows/x")
    assert caught.value.kind == "api" and caught.value.status == 500
    assert adapter.workflow("missing") is None  # 404 on a workflow: gone, not an error
    with pytest.raises(engines.EngineError, match="did not answer with JSON"):
        adapter.executions(NOW - 60, 10)


def test_n8n_workflows_follow_the_cursor(server):
    server.script("/api/v1/workflows", {"json": {"data": [{"id": "a"}, {"id": "b"}], "nextCursor": "Mg=="}},
                  {"json": {"data": [{"id": "c"}], "nextCursor": None}})
    assert [w["id"] for w in n8n(server).workflows()] == ["a", "b", "c"]
    assert server.requests[1]["query"]["cursor"] == ["Mg=="]


def test_n8n_executions_stop_at_the_window_and_the_limit(server):
    page1 = [n8n_execution(10, 10), n8n_execution(9, 20, "error"), n8n_execution(8, 30, "running")]
    page2 = [n8n_execution(7, 40), n8n_execution(6, 4000)]
    server.script("/api/v1/executions", {"json": {"data": page1, "nextCursor": "x"}},
                  {"json": {"data": page2, "nextCursor": "y"}})
    found, complete = n8n(server).executions(NOW - 3600, 100)
    assert [e["id"] for e in found] == ["10", "9", "8", "7"] and complete
    assert [e["status"] for e in found] == ["success", "failure", "running", "success"]
    server.clear()
    server.script("/api/v1/executions", {"json": {"data": page1, "nextCursor": "x"}})
    found, complete = n8n(server).executions(NOW - 3600, 2)
    assert len(found) == 2 and not complete
    assert server.requests[0]["query"]["limit"] == ["2"]


def test_n8n_failed_executions_carry_the_node(server):
    data = {"resultData": {"error": {"message": "Unrecognized node type: x.y", "name": "NodeOperationError",
                                     "node": {"name": "OpenAI", "type": "x.y"}}, "lastNodeExecuted": "OpenAI"}}
    server.script("/api/v1/executions", {"json": {"data": [n8n_execution(5, 5, "error", data=data),
                                                           n8n_execution(4, 6, "crashed")], "nextCursor": None}})
    found, _complete = n8n(server).executions(NOW - 60, 10, failed_only=True, workflow_ids=["w1"])
    assert found[0] == {"id": "5", "workflow_id": "w1", "status": "failure", "started": NOW - 5,
                        "error": "Unrecognized node type: x.y", "node": "OpenAI", "error_name": "NodeOperationError",
                        "trace": None}
    assert found[1]["error"] == "execution ended with status crashed" and found[1]["status"] == "failure"
    assert server.requests[0]["query"] == {"limit": ["10"], "status": ["error"], "includeData": ["true"],
                                           "workflowId": ["w1"]}


def test_n8n_catalog_from_nodes_json(server):
    server.script("/types/nodes.json", {"json": [
        {"name": "n8n-nodes-base.webhook", "group": ["trigger"]},
        {"name": "@n8n/n8n-nodes-langchain.openAi", "group": ["transform"],
         "credentials": [{"name": "openAiApi", "required": True}, {"name": "other", "required": False}]}]})
    known = n8n(server).catalog()
    assert known["types"] == {"n8n-nodes-base.webhook", "@n8n/n8n-nodes-langchain.openAi"}
    assert known["triggers"] == {"n8n-nodes-base.webhook"}
    assert known["credentials"] == {"@n8n/n8n-nodes-langchain.openAi": ["openAiApi"]}
    server.clear()
    assert n8n(server).catalog() is None  # an n8n that does not serve it: no catalog, no failure


def test_langflow_runs_from_transactions(server):
    def tx(seconds_ago, vertex, status="success", target=None, error=None):
        return {"id": "t-%s-%s" % (vertex, seconds_ago), "timestamp": iso(NOW - seconds_ago), "vertex_id": vertex,
                "target_id": target, "status": status, "error": error, "flow_id": "f1"}
    items = [tx(1, "ChatOutput-1"), tx(1.1, "OpenAI-1", target="ChatOutput-1"), tx(2, "OpenAI-1", "error", error="boom"),
             tx(2.1, "ChatInput-1", target="OpenAI-1"), tx(7200, "ChatOutput-1")]
    server.script("/api/v1/flows/", {"json": [{"id": "f1", "name": "flow"}, {"id": "c1", "is_component": True}]})
    server.script("/api/v1/monitor/transactions", {"json": {"items": items, "total": 5, "page": 1, "size": 100, "pages": 1}})
    adapter = engines.Langflow("langflow", server.url, api_key="lf-key", http=HTTP)
    found, complete = adapter.executions(NOW - 3600, 100)
    assert [(e["id"], e["status"], e["node"], e["error"]) for e in found] == [
        ("t-ChatOutput-1-1", "success", None, None), ("t-OpenAI-1-2", "failure", "OpenAI-1", "boom")]
    assert complete
    assert [r["headers"].get("x-api-key") for r in server.requests] == ["lf-key", "lf-key"]
    failed, _complete = adapter.executions(NOW - 3600, 100, failed_only=True, workflow_ids=["f1"])
    assert [e["status"] for e in failed] == ["failure"]


def test_langflow_catalog(server):
    server.script("/api/v1/all", {"json": {"inputs": {"ChatInput": {"template": {}}},
                                           "models": {"OpenAIModel": {"template": {
                                               "api_key": {"password": True, "required": True},
                                               "model_name": {"required": True}}}}}})
    known = engines.Langflow("langflow", server.url, http=HTTP).catalog()
    assert known["types"] == {"ChatInput", "OpenAIModel"} and known["triggers"] == {"ChatInput"}
    assert known["credentials"] == {"OpenAIModel": ["api_key"]}


def test_langsmith_runs_of_a_project(server):
    server.script("/api/v1/sessions", {"json": [{"id": "p1", "name": "ai-orchestrator"}]})
    run = {"id": "r1", "trace_id": "t1", "name": "wf", "start_time": iso(NOW - 5), "error": "boom", "status": "error",
           "extra": {"metadata": {"failed_node": "OpenAI"}}}
    server.script("/api/v1/runs/query", {"json": {"runs": [run], "cursors": {"next": "1"}}},
                  {"json": {"runs": [dict(run, id="r2", error=None, status="success")], "cursors": {"next": None}}})
    adapter = engines.LangSmith("ls", server.url, api_key="ls-key", http=HTTP, project="ai-orchestrator")
    found, complete = adapter.executions(NOW - 60, 50)
    assert complete and [(e["id"], e["workflow_id"], e["status"], e["node"], e["trace"]) for e in found] == [
        ("r1", "wf", "failure", "OpenAI", "t1"), ("r2", "wf", "success", None, "t1")]
    queries = [json.loads(r["body"]) for r in server.requests if r["path"] == "/api/v1/runs/query"]
    assert queries[0]["session"] == ["p1"] and queries[0]["is_root"] is True and "cursor" not in queries[0]
    assert queries[1]["cursor"] == "1"
    server.script("/api/v1/runs/query", {"json": {"runs": [run], "cursors": {"next": None}}})
    assert adapter.traces('wf "x"', NOW - 60) == ["t1"]
    last = json.loads(server.requests[-1]["body"])
    assert last["filter"] == r'eq(name, "wf \"x\"")' and last["error"] is True


def test_langsmith_unknown_project(server):
    server.script("/api/v1/sessions", {"json": []})
    with pytest.raises(engines.EngineError, match="no project named nope") as caught:
        engines.LangSmith("ls", server.url, http=HTTP, project="nope").executions(NOW - 60, 10)
    assert caught.value.kind == "not_found"


def test_make_engine_and_owner_tags():
    with pytest.raises(InvalidInput, match="must start with http"):
        engines.make_engine({"kind": "n8n", "url": "n8n:5678"}, HTTP)
    with pytest.raises(InvalidInput, match="kind must be one of"):
        engines.make_engine({"kind": "zapier", "url": "http://x"}, HTTP)
    adapter = engines.make_engine({"kind": "langflow", "url": "http://x/", "api_key": "k", "headers": {"X-A": "b"}}, HTTP)
    assert (adapter.name, adapter.base, adapter.headers) == ("langflow", "http://x", {"X-A": "b", "x-api-key": "k"})
    assert engines.owner_from_tags([{"name": "env:prod"}, {"name": "owner: team-payments"}]) == "team-payments"
    assert engines.owner_from_tags(["owner:team-data"]) == "team-data"
    assert engines.owner_from_tags(["owner:", "prod"]) is None
    assert engines.epoch_of(1800000000000) == NOW and engines.epoch_of("nonsense") is None
