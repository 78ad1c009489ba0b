# SPDX-License-Identifier: GPL-3.0-or-later
"""workflow_baseline and workflow_failure_info through `ansible localhost -m`, against the drill's
n8n, Langflow and LangSmith stand-ins (drill/dataplane/platform_http.py): a workflow broken after
its baseline was saved is named with its owner, the node it fails on, its validation errors and the
breaking change; a rotated API key is reported as rejected."""

from __future__ import annotations

import json

import pytest

import dataplane as dp
from playbook import module

pytestmark = [pytest.mark.drill]

# Workflows no other test breaks (test_dataplane uses support-triage, rag-answer, doc-summarizer).
N8N_TARGET, N8N_ORCHESTRATOR_ID = "n8n-lead-enrichment", 11
LANGFLOW_TARGET, LANGFLOW_ORCHESTRATOR_ID = "langflow-nightly-report", 6


@pytest.fixture
def stand_ins(dataplane):  # noqa: F811 - the data plane's session fixture
    """Every stand-in in mode ok, the secret files' keys, every workflow as shipped, before and after."""
    dp.reset()
    yield
    dp.reset()


def engine(kind: str, **extra) -> dict:
    return dict(kind=kind, url=dp.url(kind, "/"), api_key=dp.api_key(kind), **extra)


def run(name: str, check: bool = False, **args) -> dict:
    args.setdefault("retries", 0)
    result = module(name, check=check, **args)
    text = json.dumps(result)
    for kind in ("n8n", "langflow", "langsmith"):
        assert dp.api_key(kind) not in text
    return result


def by_name(result: dict) -> dict:
    return dict((w["name"], w) for w in result["failing_workflows"])


def test_a_broken_n8n_workflow_is_named_with_owner_node_and_breaking_change(stand_ins, tmp_path):
    saved = run("workflow_baseline", engine=engine("n8n"), baseline_dir=str(tmp_path), workflows=[N8N_TARGET],
                since_minutes=1)
    assert saved["changed"] and [s["name"] for s in saved["saved"]] == [N8N_TARGET], saved
    broken = dp.break_workflow("n8n", N8N_TARGET)
    assert broken["node"] == "Store Result"
    for _i in range(2):
        assert dp.run_workflow(N8N_ORCHESTRATOR_ID)["status"] == "failure"

    result = run("workflow_failure_info", check=True, engine=engine("n8n"), since_minutes=1, baseline_dir=str(tmp_path),
                 tracing=dict(url=dp.url("langsmith", "/"), api_key=dp.api_key("langsmith")))
    assert not result.get("failed") and result["credentials"] == "accepted", result
    wf = by_name(result)[N8N_TARGET]
    assert wf["failures"] >= 2 and wf["failed_node"] == "Store Result"
    assert wf["last_error"] == "Unrecognized node type: n8n-nodes-community.postgres"
    assert (wf["owner"], wf["owner_source"]) == ("team-sales", "engine")
    assert [(e["check"], e["node"]) for e in wf["validation"]["errors"]] == [("unknown_node_type", "Store Result")]
    assert [(c["change"], c["node"], c["after"]) for c in wf["changes"]["breaking"]] == [
        ("node_type_changed", "Store Result", "n8n-nodes-community.postgres")]
    assert wf["changes"]["baseline"]["version"] == saved["saved"][0]["version"] != wf["changes"]["current_version"]
    assert len(wf["traces"]) >= 2 and len(wf["executions"]) >= 2
    assert N8N_TARGET in result["msg"] and "team-sales" in result["msg"]

    # The same failures seen from LangSmith, where the engine traced them.
    traces = run("workflow_failure_info", engine=engine("langsmith", project="ai-orchestrator"), since_minutes=1,
                 owners={"n8n-lead-*": "team-sales"})
    traced = by_name(traces)[N8N_TARGET]
    assert traced["failed_node"] == "Store Result" and traced["owner_source"] == "operator"
    assert traced["validation"]["valid"] is None and set(wf["traces"]) & set(traced["traces"])

    # Repaired, the baseline's definition is back: no breaking change, valid.
    dp.repair_workflow("n8n", N8N_TARGET)
    after = run("workflow_failure_info", engine=engine("n8n"), since_minutes=1, baseline_dir=str(tmp_path),
                workflows=[N8N_TARGET])
    wf = by_name(after)[N8N_TARGET]
    assert wf["validation"]["valid"] is True and wf["changes"]["breaking"] == []


def test_a_langflow_component_removed_is_a_dangling_edge_and_a_breaking_change(stand_ins, tmp_path):
    run("workflow_baseline", engine=engine("langflow"), baseline_dir=str(tmp_path), workflows=[LANGFLOW_TARGET],
        since_minutes=1)
    broken = dp.break_workflow("langflow", LANGFLOW_TARGET, how="remove_node")
    assert dp.run_workflow(LANGFLOW_ORCHESTRATOR_ID)["status"] == "failure"
    result = run("workflow_failure_info", engine=engine("langflow"), since_minutes=1, baseline_dir=str(tmp_path))
    wf = by_name(result)[LANGFLOW_TARGET]
    assert wf["owner"] == "team-data" and broken["node"] in wf["last_error"]
    assert [e["check"] for e in wf["validation"]["errors"]] == ["dangling_connection"]
    assert "node_removed" in [c["change"] for c in wf["changes"]["breaking"]]
    assert (tmp_path / "langflow" / (broken["id"] + ".json")).is_file()


def test_a_rotated_key_is_reported_as_rejected(stand_ins, tmp_path):
    dp.set_api_key("n8n", "rotated-by-someone")
    result = run("workflow_failure_info", engine=engine("n8n"))
    assert not result.get("failed") and result["credentials"] == "rejected" and result["available"] is True
    assert "rejects the API key" in result["msg"]
    refused = run("workflow_baseline", engine=engine("n8n"), baseline_dir=str(tmp_path))
    assert refused["failed"] and refused["error_kind"] == "credentials" and not list(tmp_path.iterdir())


def test_an_engine_that_is_down_is_a_result(stand_ins):
    dp.set_mode("langflow", "down")
    result = run("workflow_failure_info", engine=engine("langflow"), timeout=2)
    assert not result.get("failed") and result["available"] is False and result["error_kind"] == "unreachable"
