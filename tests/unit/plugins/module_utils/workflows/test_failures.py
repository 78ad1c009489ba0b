# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""failures.collect / failures.save and the baseline files, on a fake engine adapter."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import baseline, definition, failures
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows.engines import (
    EngineError,
    Engine,
    execution,
    owner_from_tags,
)

NOW = 1800000000.0


def workflow(wid, name, tags=(), node_type="@n8n/n8n-nodes-langchain.openAi", active=True):
    return {"id": wid, "name": name, "active": active, "versionId": "v-%s" % node_type, "tags": [{"name": t} for t in tags],
            "nodes": [{"id": "u1", "name": "Webhook", "type": "n8n-nodes-base.webhook", "parameters": {"path": name}},
                      {"id": "u2", "name": "OpenAI", "type": node_type, "parameters": {"modelId": "gpt-4o-mini"},
                       "credentials": {"openAiApi": {"id": "c1"}}}],
            "connections": {"Webhook": {"main": [[{"node": "OpenAI", "type": "main", "index": 0}]]}}}


class FakeEngine(Engine):
    """An n8n adapter without HTTP: workflows, executions and a catalog held in memory."""

    kind = "n8n"

    def __init__(self, workflows=(), runs=(), credentials="accepted", fail=None, known=None):
        super(FakeEngine, self).__init__("n8n", "http://n8n:5678")
        self.items = dict((w["id"], w) for w in workflows)
        self.runs = list(runs)
        self.answer, self.fail, self.known = credentials, fail, known
        self.calls = []

    def credentials(self):
        self.calls.append("credentials")
        if self.fail:
            raise self.fail
        return self.answer

    def workflows(self):
        self.calls.append("workflows")
        return [copy.deepcopy(w) for w in self.items.values()]

    def workflow(self, workflow_id):
        self.calls.append("workflow %s" % workflow_id)
        return copy.deepcopy(self.items.get(workflow_id))

    def catalog(self):
        return self.known

    def owner(self, raw):
        return owner_from_tags(raw.get("tags"))

    def executions(self, since, limit, failed_only=False, workflow_ids=None):
        self.calls.append("executions failed=%s" % failed_only)
        found = [r for r in self.runs if r["started"] >= since and (not failed_only or r["status"] == "failure")]
        return found[:limit], len(found) <= limit


def run(wid, ago, failed=False, node="OpenAI", error="boom", number=None):
    return execution(number or "%s-%d" % (wid, ago), wid, "failure" if failed else "success", NOW - ago,
                     error=error if failed else None, node=node if failed else None)


def collect(engine, **options):
    return failures.collect(engine, options, clock=lambda: NOW)


def test_failing_workflows_with_owner_validation_and_breaking_changes(tmp_path):
    good = workflow("w1", "billing-sync", tags=["owner:team-payments"])
    broken = workflow("w1", "billing-sync", tags=["owner:team-payments"], node_type="n8n-nodes-community.openAi")
    path = baseline.baseline_path(str(tmp_path), "n8n", "w1")
    assert baseline.write_baseline(path, baseline.render(good))
    runs = [run("w1", 10 + i, failed=True, number=str(100 - i)) for i in range(7)] + [run("w2", 5)] * 3
    known = definition.catalog({"n8n-nodes-base.webhook", "@n8n/n8n-nodes-langchain.openAi"}, {"n8n-nodes-base.webhook"})
    engine = FakeEngine([broken, workflow("w2", "digest")], runs, known=known)
    result = collect(engine, since_minutes=60, limit=100, baseline_dir=str(tmp_path))
    assert result["executions"] == {"total": 10, "failed": 7, "failure_rate": 0.7, "since": "2027-01-15T07:00:00Z",
                                    "complete": True, "by_status": {"failure": 7, "success": 3}}
    (wf,) = result["failing_workflows"]
    assert (wf["id"], wf["name"], wf["failures"], wf["failed_node"], wf["last_error"]) == ("w1", "billing-sync", 7, "OpenAI", "boom")
    assert wf["executions"] == ["100", "99", "98", "97", "96"]
    assert (wf["owner"], wf["owner_source"]) == ("team-payments", "engine")
    assert wf["validation"]["valid"] is False and wf["validation"]["errors"][0]["check"] == "unknown_node_type"
    changes = wf["changes"]
    assert changes["baseline"]["source"] == path and changes["baseline"]["version"] == "v-@n8n/n8n-nodes-langchain.openAi"
    assert [c["change"] for c in changes["breaking"]] == ["node_type_changed"]
    assert result["failing"] == ["billing-sync"]
    assert result["msg"].startswith("n8n: 7 of 10 executions failed in the last 60 min (70.0%); failing: billing-sync "
                                    "(owner team-payments, 7 failures, node OpenAI: boom; 1 validation error(s); "
                                    "1 breaking change(s) since the baseline)")


def test_operator_owners_win_and_requested_workflows_are_reported(tmp_path):
    engine = FakeEngine([workflow("w1", "billing-sync", tags=["owner:team-x"]), workflow("w2", "digest")],
                        [run("w1", 5, failed=True)])
    result = collect(engine, owners={"billing-*": "team-payments", "w9": "nobody"}, workflows=["digest", "nope"],
                     baseline_dir=str(tmp_path))
    by_id = dict((w["id"], w) for w in result["failing_workflows"])
    assert (by_id["w1"]["owner"], by_id["w1"]["owner_source"]) == ("team-payments", "operator")
    assert (by_id["w2"]["failures"], by_id["w2"]["owner"], by_id["w2"]["owner_source"]) == (0, None, "none")
    assert by_id["w2"]["changes"]["baseline"] is None and "no baseline" in by_id["w2"]["changes"]["message"]
    assert result["not_found"] == ["nope"] and result["failing"] == ["billing-sync"]
    assert failures.owner_of("w1", "x", {"w1": "exact", "*": "glob"}, "engine") == ("exact", "operator")


def test_rejected_key_and_unreachable_engine_are_results():
    rejected = collect(FakeEngine(credentials="rejected"))
    assert (rejected["credentials"], rejected["available"], rejected["executions"]) == ("rejected", True, None)
    assert "rejects the API key" in rejected["msg"]
    down = collect(FakeEngine(fail=EngineError("cannot reach n8n: connection refused", "unreachable")))
    assert (down["available"], down["error_kind"], down["credentials"]) == (False, "unreachable", None)
    assert down["msg"] == "n8n: cannot reach n8n: connection refused"


def test_failed_executions_of_a_deleted_workflow():
    result = collect(FakeEngine([], [run("gone", 5, failed=True)]))
    (wf,) = result["failing_workflows"]
    assert wf["name"] is None and wf["validation"]["valid"] is None and "not on n8n" in wf["validation"]["message"]


@pytest.mark.parametrize("options, message", [
    ({"since_minutes": 0}, "since_minutes must be above 0"),
    ({"limit": 0}, "limit must be between 1 and 10000"),
    ({"owners": {"w1": ""}}, "owners: the owner of w1 must be a non-empty string"),
])
def test_unusable_options(options, message):
    with pytest.raises(InvalidInput, match=message):
        collect(FakeEngine(), **options)


# --- save (workflow_baseline) ------------------------------------------------------------------


def test_save_skips_failing_workflows_and_is_idempotent(tmp_path):
    engine = FakeEngine([workflow("w1", "billing-sync"), workflow("w2", "digest")], [run("w1", 5, failed=True)])
    options = {"baseline_dir": str(tmp_path / "base"), "since_minutes": 60, "limit": 100}
    checked = failures.save(engine, options, check_mode=True, clock=lambda: NOW)
    assert checked["changed"] and not (tmp_path / "base").exists()
    assert [s["id"] for s in checked["saved"]] == ["w2"] and checked["not_saved"][0]["id"] == "w1"
    first = failures.save(engine, options, clock=lambda: NOW)
    assert first["changed"] and first["msg"] == "n8n: 1 workflow(s) saved, 0 unchanged, 1 left out (failing)"
    path = tmp_path / "base" / "n8n" / "w2.json"
    assert json.loads(path.read_text()) == workflow("w2", "digest") and oct(path.stat().st_mode & 0o777) == "0o644"
    assert first["diff"][0]["before"] == "" and first["diff"][0]["after"] == path.read_text()
    again = failures.save(engine, options, clock=lambda: NOW)
    assert not again["changed"] and again["saved"][0]["changed"] is False and again["diff"] == []
    engine.items["w2"]["nodes"][1]["parameters"]["modelId"] = "gpt-4.1"
    assert failures.save(engine, options, clock=lambda: NOW)["changed"]
    everything = failures.save(engine, dict(options, skip_failing=False, workflows=["billing-*"]), clock=lambda: NOW)
    assert [s["id"] for s in everything["saved"]] == ["w1"] and everything["not_saved"] == []


def test_save_refuses_langsmith_and_a_rejected_key(tmp_path):
    class Runs(FakeEngine):
        kind = "langsmith"
    with pytest.raises(InvalidInput, match="holds runs, not workflow definitions"):
        failures.save(Runs(), {"baseline_dir": str(tmp_path)})
    with pytest.raises(EngineError) as caught:
        failures.save(FakeEngine(credentials="rejected"), {"baseline_dir": str(tmp_path)})
    assert caught.value.kind == "credentials"


def test_baseline_files(tmp_path):
    assert baseline.baseline_path("/b", "n8n", "../../etc/passwd").startswith("/b/n8n/")
    assert baseline.file_name("..") == "_.." and baseline.file_name("a/b") == "a_b"
    export = tmp_path / "n8n" / "billing-sync.json"
    export.parent.mkdir()
    export.write_text(json.dumps([workflow("w0", "other"), workflow("w1", "billing-sync")]))
    found = baseline.read_baseline(str(tmp_path), "n8n", "w1", "billing-sync")
    assert found["path"] == str(export) and found["raw"]["id"] == "w1" and found["saved_at"].endswith("Z")
    assert baseline.read_baseline(str(tmp_path), "n8n", "w7", "nothing") is None
    (tmp_path / "n8n" / "w3.json").write_text("{not json")
    with pytest.raises(baseline.BaselineError, match="cannot read the baseline"):
        baseline.read_baseline(str(tmp_path), "n8n", "w3")
    (tmp_path / "n8n" / "w4.json").write_text("[1, 2]")
    assert baseline.read_baseline(str(tmp_path), "n8n", "w4") is None
    target = str(tmp_path / "new" / "deep" / "w1.json")
    assert baseline.write_baseline(target, "x\n") and not baseline.write_baseline(target, "x\n")
    assert not [f for f in os.listdir(os.path.dirname(target)) if f.endswith(".tmp")]
