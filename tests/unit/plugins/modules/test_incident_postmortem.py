# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_postmortem through AnsibleModule: writes, reruns, keeps a person's edits."""

from __future__ import annotations

import datetime
import json
import os
import re
import stat

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import postmortem as pm
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import record as inc
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import incident_postmortem

from .incident_runner import run_module

ID = "incident-2026-05-09-073525"
UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def run(capsys, tmp_path):
    def _run(check=False, **args):
        args.setdefault("incident_dir", str(tmp_path))
        args.setdefault("incident_id", ID)
        return run_module(incident_postmortem, capsys, args, check=check)
    return _run


@pytest.fixture
def incident(tmp_path):
    """An incident that was diagnosed, fixed and resolved, with one artifact."""
    directory = str(tmp_path)
    inc.apply_update(directory, ID, {"severity": "P1", "title": "ServiceDown: shop", "impact": "checkout answers 503",
                                     "services": {"api-gateway": {"status": "down", "reason": "Deployment/api-gateway: crashloop on "
                                                                  "api-gateway-1; delete so the controller replaces it"}}}, now=T0)
    paths = inc.incident_paths(directory, ID)
    inc.append_events(paths["timeline"], [
        inc.make_event("investigation_started", "Checking pods", now=at(1), host="cluster-a"),
        inc.make_event("root_cause_identified", "api-gateway crashes", {"plans": [{"workload": "api-gateway", "classification": "crashloop"}]},
                       now=at(4), host="cluster-a"),
        inc.make_event("fix_implemented", "Deleted api-gateway-1", {"actions": [{"msg": "deleted pod api-gateway-1", "ok": True}]},
                       now=at(6), host="cluster-a"),
    ])
    inc.save_artifact(directory, ID, "diagnosis/pods.json", b"{}\n", now=at(2))
    inc.apply_update(directory, ID, {"root_cause": "api-gateway crashed on start", "resolution": "deleted the crashed pod",
                                     "services": {"api-gateway": {"status": "restored", "reason": "healthy after delete_pod"}}},
                     state="resolved", now=at(9))
    return paths


def main_file(paths):
    return os.path.join(paths["dir"], incident_postmortem.POSTMORTEM_FILE)


def drafts(paths):
    return sorted(n for n in os.listdir(paths["dir"]) if n.startswith(incident_postmortem.DRAFT_PREFIX))


def load(paths):
    with open(paths["record"]) as handle:
        return json.load(handle)


def test_writes_the_postmortem_and_records_it(run, incident):
    result = run(host="cluster-a")
    assert result["changed"] and not result["edited"] and not result["draft"]
    path = main_file(incident)
    assert result["path"] == path
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert text == result["text"] and result["sha256"] == pm.content_hash(text)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert text.startswith("# Post-Mortem: ServiceDown: shop\n")
    assert "- **Duration**: 0 hours 9 minutes" in text
    assert "- 07:39 - Root cause identified: api-gateway crashes" in text
    assert "- [diagnosis/pods.json](artifacts/diagnosis/pods.json)" in text
    assert "(Owner: development, Due: ____)" in text and pm.MEASURES["crashloop"] in text
    recorded = load(incident)["postmortem"]
    assert recorded["file"] == "postmortem.md" and recorded["sha256"] == result["sha256"] and recorded["generated_at"].endswith("Z")
    note = inc.read_timeline(incident["timeline"])[-1]
    assert note["type"] == "note" and note["message"] == "Post-mortem written to postmortem.md" and note["host"] == "cluster-a"
    assert note["data"]["postmortem"] == {"file": "postmortem.md", "sha256": result["sha256"], "draft": False, "edited": False}
    assert [m["reached"] for m in result["milestones"]] == [True] * 5
    assert result["sections"][:3] == ["# Post-Mortem: ServiceDown: shop", "## Summary", "## Timeline"]
    assert result["summary"]["subject"] == "[AI Orchestrator] Resolved: service disruption on 2026-05-09"
    assert "a service failed repeatedly while starting" in result["summary"]["body"]


def test_a_rerun_changes_nothing(run, incident):
    first = run()
    timeline = inc.read_timeline(incident["timeline"])
    record = load(incident)
    # What the timeline callback records for the module's own task does not change the text either.
    inc.append_event(incident["timeline"], inc.make_event("task", "Write the post-mortem: changed", now=at(20), source="task",
                                                          task="Write the post-mortem", status="changed", started=inc.format_time(at(20)),
                                                          action="ai_orchestrator.incident_response.incident_postmortem"))
    again = run()
    assert not again["changed"] and again["text"] == first["text"] and again["path"] == first["path"]
    assert "up to date" in again["msg"]
    assert len(inc.read_timeline(incident["timeline"])) == len(timeline) + 1
    assert load(incident) == record


def test_new_events_rewrite_a_postmortem_nobody_edited(run, incident):
    first = run()
    inc.append_event(incident["timeline"], inc.make_event("note", "Customer confirmed recovery", now=at(30)))
    second = run()
    assert second["changed"] and not second["edited"] and not second["draft"]
    assert second["sha256"] != first["sha256"] and "Customer confirmed recovery" in second["text"]
    with open(main_file(incident), encoding="utf-8") as handle:
        assert handle.read() == second["text"]
    assert load(incident)["postmortem"]["sha256"] == second["sha256"]
    assert drafts(incident) == []


def test_an_edited_postmortem_is_kept_and_a_draft_written_beside_it(run, incident):
    run()
    edited = open(main_file(incident), encoding="utf-8").read().replace("- What went well:", "- What went well: the alert fired fast")
    with open(main_file(incident), "w", encoding="utf-8") as handle:
        handle.write(edited)
    inc.append_event(incident["timeline"], inc.make_event("note", "Customer confirmed recovery", now=at(30)))
    result = run()
    assert result["changed"] and result["edited"] and result["draft"]
    assert "edited by a person and is kept" in result["msg"]
    names = drafts(incident)
    assert len(names) == 1 and result["path"] == os.path.join(incident["dir"], names[0])
    assert re.match(r"^postmortem-draft-[0-9]{8}T[0-9]{6}Z\.md$", names[0]), names
    with open(result["path"], encoding="utf-8") as handle:
        assert handle.read() == result["text"]
    with open(main_file(incident), encoding="utf-8") as handle:
        assert handle.read() == edited
    recorded = load(incident)["postmortem"]
    assert recorded["draft"]["file"] == names[0] and recorded["draft"]["sha256"] == result["sha256"]
    note = inc.read_timeline(incident["timeline"])[-1]
    assert note["data"]["postmortem"]["draft"] and "was edited by a person and is kept" in note["message"]
    # Again: the same draft, nothing new.
    again = run()
    assert not again["changed"] and again["edited"] and again["draft"] and again["path"] == result["path"]
    assert drafts(incident) == names
    # force overwrites the person's file.
    forced = run(force=True)
    assert forced["changed"] and forced["edited"] and not forced["draft"] and forced["path"] == main_file(incident)
    with open(main_file(incident), encoding="utf-8") as handle:
        assert handle.read() == forced["text"]


def test_a_file_written_by_a_person_first_is_kept(run, incident):
    with open(main_file(incident), "w", encoding="utf-8") as handle:
        handle.write("# Post-Mortem: our own notes\n")
    result = run()
    assert result["edited"] and result["draft"] and result["changed"]
    with open(main_file(incident), encoding="utf-8") as handle:
        assert handle.read() == "# Post-Mortem: our own notes\n"


def test_the_same_text_written_by_hand_is_only_recorded(run, incident):
    text = run(check=True)["text"]
    with open(main_file(incident), "w", encoding="utf-8") as handle:
        handle.write(text)
    before = inc.read_timeline(incident["timeline"])
    result = run()
    assert result["changed"] and not result["edited"] and "recorded it on the incident" in result["msg"]
    assert load(incident)["postmortem"]["sha256"] == pm.content_hash(text)
    assert inc.read_timeline(incident["timeline"]) == before
    assert not run()["changed"]


def test_check_mode_writes_nothing(run, incident):
    record, timeline = load(incident), inc.read_timeline(incident["timeline"])
    listing = sorted(os.listdir(incident["dir"]))
    result = run(check=True)
    assert result["changed"] and result["text"].startswith("# Post-Mortem: ") and result["msg"].startswith("would have: ")
    assert not os.path.exists(main_file(incident))
    assert load(incident) == record and inc.read_timeline(incident["timeline"]) == timeline
    assert sorted(os.listdir(incident["dir"])) == listing


def test_an_unresolved_incident_says_where_it_stopped(run, tmp_path):
    inc.apply_update(str(tmp_path), ID, {"severity": "P0", "services": {"web": {"status": "down", "reason": "no pod can pull its image"}}},
                     now=T0)
    paths = inc.incident_paths(str(tmp_path), ID)
    inc.append_event(paths["timeline"], inc.make_event("task", "Roll back: failed", {"msg": "refused by the budget"}, now=at(3),
                                                       source="task", task="Roll back", status="failed", started=inc.format_time(at(2))))
    result = run(prevention="We now check every image tag before a rollout")
    assert "The automation stopped after 'Roll back' (failed) at 2026-05-09 07:38:25 UTC; no resolution was recorded." in result["text"]
    assert "- **Duration**: ongoing (not resolved)" in result["text"]
    assert result["summary"]["subject"].startswith("[AI Orchestrator] Update: service disruption since 2026-05-09 07:35")
    assert "What we are doing to prevent it: We now check every image tag before a rollout." in result["summary"]["body"]
    assert [m["key"] for m in result["milestones"] if not m["reached"]] == ["root_cause", "fix", "restored"]


def test_unknown_incident_fails_and_creates_nothing(run, tmp_path):
    result = run()
    assert result["failed"] and "does not exist" in result["msg"] and "incident_record" in result["msg"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    ({"policy": {"owners": {"crashlop": "development"}}}, "incident_policy.owners.crashlop"),
    ({"incident_id": "incident-x"}, "invalid incident id"),
    ({"force": "perhaps"}, "force"),
])
def test_bad_input_fails_before_anything_is_written(run, incident, args, message):
    result = run(**args)
    assert result["failed"] and message in result["msg"]
    assert not os.path.exists(main_file(incident))


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(incident_postmortem.DOCUMENTATION)
    yaml.safe_load(incident_postmortem.EXAMPLES)
    returned = yaml.safe_load(incident_postmortem.RETURN)
    spec = incident_postmortem.argspec()
    own = dict((k, v) for k, v in spec.items() if k not in ("incident_dir", "host"))
    assert set(doc["options"]) == set(own)
    assert doc["options"]["incident_id"]["required"] is True and spec["incident_id"]["required"] is True
    for name in ("policy", "prevention", "force"):
        assert doc["options"][name]["type"] == spec[name]["type"]
        assert doc["options"][name].get("default") == spec[name].get("default"), name
    assert doc["extends_documentation_fragment"] == ["ai_orchestrator.incident_response.incident"]
    assert {"path", "changed", "edited", "draft", "text", "summary", "milestones", "sections"} <= set(returned)


def test_the_module_is_in_the_incident_action_group():
    runtime = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "meta", "runtime.yml")
    with open(runtime) as handle:
        groups = yaml.safe_load(handle)["action_groups"]
    assert "incident_postmortem" in groups["incident"]
