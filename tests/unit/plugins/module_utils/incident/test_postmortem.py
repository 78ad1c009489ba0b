# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The post-mortem over many generated records and timelines, and its parts one by one."""

from __future__ import annotations

import datetime
import hashlib
import random
import re
import urllib.parse

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import postmortem as pm
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)
ID = "incident-2026-05-09-073525"
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)

TEMPLATE = ("## Summary", "## Timeline", "## Root Cause", "## Resolution", "## Action Items", "## Lessons Learned")
MILESTONE_NAMES = tuple(name for key, name in pm.MILESTONES)

# Reasons as the collection's own code writes them (classify.py, the assess modules), one per class.
REASONS = {
    "node_failure": "Deployment/{svc} has pods on failed node(s) node-3: a node problem, not the pods'; not evicting them one by one",
    "unschedulable": "Deployment/{svc} is unschedulable: No node fits the pod: free or add capacity, or lower the request. Escalate.",
    "create_failed": "Deployment/{svc} is create_failed: The controller cannot create pods (quota, admission webhook, policy)",
    "resource_exhaustion": "{svc}: resource_exhaustion at its CPU limit; scale Deployment/{svc} to 3 replicas",
    "image_pull": "no pod of Deployment/{svc} can pull its image and no recent rollout explains it: check the image name, tag and "
                  "registry credentials (registry.local/{svc}:v2)",
    "image_pull_local": "Deployment/{svc}: image pull fails on {svc}-1 while other pods run the same image (node- or registry-local)",
    "config_error": "Deployment/{svc} is config_error: Review configuration changes (ConfigMaps, Secrets, env)",
    "oom": "every replica of Deployment/{svc} is failing (oom) and no recent rollout explains it: a persistent fault",
    "crashloop": "Deployment/{svc}: crashloop on {svc}-7c9f-abcde; delete so the controller replaces it",
    "not_ready": "Deployment/{svc}: not_ready on {svc}-7c9f-abcde; delete so the controller replaces it",
    "sidecar_exhaustion": "{svc}: the sidecar alone at its limit",
    "rollout": "the recent rollout of Deployment/{svc} fails (crashloop); roll back to the previous revision",
    "database": "Database app: PostgreSQL does not answer: connection refused",
    "slow_query": "{svc}'s p95 latency is 3.20 s; slow statements in pg_stat_statements",
    "cache": "Cache redis:6379: critical cache keys are missing: session, config",
    "engine_connectivity": "{svc} does not answer its health check (HTTP 503) while the pods of {svc} are ready",
    "engine_credentials": "{svc} rejects the configured credentials (HTTP 401): rotate or fix the engine's API key secret",
    "workflow_definition": "{svc}: 2 failing workflow definition(s): nightly-sync (wf-1, owner data-team)",
    "application": "{svc} answers 12.0% of requests with 5xx and neither its pods, the database, the engines nor a recent rollout "
                   "explain it: 3x Traceback",
}
# Classes a reason above brings along by right (a failed rollout says which class failed).
ALSO = {"rollout": {"crashloop"}}
# The verdict cause that stands for a scenario class in event data.
CAUSES = {"database": "database", "cache": "cache", "engine_connectivity": "connectivity", "engine_credentials": "credentials",
          "workflow_definition": "definitions", "application": "application", "rollout": "rollout"}
K8S = ("node_failure", "unschedulable", "create_failed", "resource_exhaustion", "image_pull", "config_error", "oom", "crashloop", "not_ready")
NEUTRAL = ("healthy after delete_pod", "found healthy", None)


def stamp(moment):
    return format_time(moment, timespec="milliseconds")


def event(kind, moment, message, data=None, **extra):
    return dict({"time": stamp(moment), "type": kind, "message": message, "data": data or {}, "source": "module", "host": "cluster-a"}, **extra)


def task(moment, name, status="ok", started=None, action="ansible.builtin.debug", data=None):
    return event("task", moment, "%s: %s" % (name, status), data, source="task", task=name, action=action, status=status,
                 started=stamp(started or moment - datetime.timedelta(seconds=1)), duration=1.0, play="Service down", playbook="service_down.yml")


def base_record(**fields):
    record = {
        "id": ID, "title": "ServiceDown: shop", "severity": "P1", "status": "open", "alert": None, "impact": "checkout answers 503",
        "cluster": "https://k8s.internal:6443", "namespace": "shop", "service": None, "services": {}, "alerts": [], "root_cause": None,
        "resolution": None, "opened_at": format_time(T0), "resolved_at": None, "updated_at": format_time(T0), "escalations": [],
        "channel": "#" + ID,
    }
    record.update(fields)
    return record


def opened_event(moment=T0):
    return event("incident_opened", moment, "Incident %s opened: ServiceDown: shop (P1)" % ID, {"severity": "P1"})


# ---------------------------------------------------------------- generated incidents


def scenario(seed):
    """A random incident: its record, its timeline (time order) and what the post-mortem must say."""
    rng = random.Random(seed)
    opened = T0 + datetime.timedelta(seconds=rng.randint(0, 30 * 3600))
    opened_id = opened.strftime("incident-%Y-%m-%d-%H%M%S")
    events, services, escalations = [], {}, []
    record = base_record(id=opened_id, channel="#" + opened_id, opened_at=format_time(opened), updated_at=format_time(opened))
    # Tasks that ran before the incident existed (merged by the callback), and the task that opened it.
    if rng.random() < 0.5:
        events.append(task(opened - datetime.timedelta(seconds=5), "Diagnose the namespace"))
    events.append(opened_event(opened))
    events.append(task(opened + datetime.timedelta(milliseconds=400), "Open or continue the incident record", "changed",
                       started=opened - datetime.timedelta(seconds=1)))
    expect = {"alert": opened}
    if rng.random() < 0.5:
        starts = opened - datetime.timedelta(seconds=rng.randint(0, 7200))
        record["alert"] = {"name": "ServiceDown", "labels": {"namespace": "shop"}, "starts_at": format_time(starts), "status": "firing",
                           "key": "abc@%s" % format_time(starts), "fingerprint": None}
        expect["alert"] = starts

    classes = rng.sample(sorted(REASONS), rng.randint(0, 3))
    placement = dict((cls, rng.choice(("reason", "data"))) for cls in classes)
    svc = dict((cls, "svc-%d" % i) for i, cls in enumerate(classes))
    kinds = dict((cls, rng.choice(("Deployment", "StatefulSet"))) for cls in classes)
    structured = dict((cls, cls in K8S or cls in CAUSES) for cls in classes)

    cursor = opened + datetime.timedelta(seconds=1)
    reached = dict((key, rng.random() < 0.6) for key in ("investigation", "root_cause", "fix"))
    resolved = rng.random() < 0.5
    reached["restored"] = resolved or rng.random() < 0.2

    def step():
        return cursor + datetime.timedelta(seconds=rng.randint(30, 3000), milliseconds=rng.randint(0, 999))

    plans = [{"workload": svc[c], "kind": kinds[c], "classification": c, "action": "delete_pod", "reason": "planned"}
             for c in classes if c in K8S and placement[c] == "data"]
    verdicts = [{"name": svc[c], "cause": CAUSES[c], "reason": "judged"} for c in classes
                if c not in K8S and c in CAUSES and placement[c] == "data"]
    if reached["investigation"]:
        cursor = step()
        how = rng.choice(("investigation_started", "diagnosis", "task"))
        if how == "task":
            events.append(task(cursor + datetime.timedelta(seconds=2), "Check pod status", started=cursor))
        else:
            events.append(event(how, cursor, "Checking pod status in shop"))
        expect["investigation"] = cursor
    if reached["root_cause"]:
        cursor = step()
        if rng.random() < 0.8:
            events.append(event("root_cause_identified", cursor, "The cause is known", {"plans": plans, "assessment": {"engines": verdicts}}))
        else:
            events.append(event("record_updated", cursor, "Updated root_cause", {"root_cause": "found by a person"}))
            record["root_cause"] = "found by a person"
        expect["root_cause"] = cursor
    if reached["fix"]:
        cursor = step()
        actions = [{"service": s, "action": "delete_pod", "ok": rng.random() < 0.8, "msg": "deleted pod %s-1" % s} for s in svc.values()]
        events.append(event("fix_implemented", cursor, "deleted pods", {"actions": actions}))
        expect["fix"] = cursor
    # Without a root_cause_identified event (a person recorded the cause) the plans go with the fix.
    root_cause_event = next((e for e in events if e["type"] == "root_cause_identified"), None)
    fix_event = next((e for e in events if e["type"] == "fix_implemented"), None)
    carrier = root_cause_event or fix_event
    if carrier is fix_event and fix_event is not None:
        fix_event["data"].update(plans=plans, assessment={"engines": verdicts})
    for cls in classes:
        in_data = placement[cls] == "data" and structured[cls] and carrier is not None
        if not in_data:
            placement[cls] = "reason"
        reason = REASONS[cls].format(svc=svc[cls]) if placement[cls] == "reason" else rng.choice(NEUTRAL)
        services[svc[cls]] = {"status": "restored" if resolved else rng.choice(("down", "escalated")), "reason": reason}
    expected_classes = set(classes)
    for cls in classes:
        if placement[cls] == "reason":
            expected_classes |= ALSO.get(cls, set())
    if not classes:
        services["api-gateway"] = {"status": "restored" if resolved else "down", "reason": rng.choice(NEUTRAL)}
    record["services"] = services

    # Notable noise between the milestones: it never moves a milestone.
    end = cursor
    bursts = 0
    for count in range(rng.randint(0, 4)):
        moment = opened + datetime.timedelta(seconds=rng.randint(2, max(3, int((end - opened).total_seconds()) + 60)))
        kind = rng.choice(("severity_changed", "escalated", "communication", "note", "service_status"))
        if kind == "communication":
            for channel, status in (("slack", "not_sent"), ("pagerduty", "sent"), ("email", "drafted")):
                events.append(event("communication", moment, "%s post x: %s" % (channel, status), {"channel": channel, "status": status}))
            bursts += 1
        elif kind == "escalated":
            entry = {"to": "Team lead %d" % count, "reason": "automation could not fix it", "via": [], "at": format_time(moment)}
            escalations.append(entry)
            events.append(event("escalated", moment, "Escalated to %s" % entry["to"], entry))
        else:
            events.append(event(kind, moment, "%s at %d" % (kind, count)))
    record["escalations"] = escalations
    if reached["restored"]:
        cursor = max(step(), end + datetime.timedelta(seconds=1))
        expect["restored"] = cursor
        if not resolved or rng.random() < 0.5:
            events.append(event("service_restored", cursor, "all pods ready"))
        if resolved:
            done = cursor.replace(microsecond=0) + datetime.timedelta(seconds=1)
            events.append(event("incident_resolved", done, "Incident resolved"))
            record.update(status="resolved", resolved_at=format_time(done), resolution="pods replaced")
            if events[-2]["type"] != "service_restored":
                # Without a service_restored event the resolution is the restoration.
                expect["restored"] = done
    if not resolved:
        record["status"] = rng.choice(("open", "investigating", "escalated"))
    if reached["investigation"] and rng.random() < 0.7:
        events.append(task(max(cursor, end) + datetime.timedelta(seconds=3), "Last step", rng.choice(("ok", "failed", "skipped")),
                           data={"msg": "it broke"}))
    events.sort(key=lambda e: e["time"])
    artifacts = ["diagnosis/pods-%d.json" % i for i in range(rng.randint(0, 3))] + (["logs/api gateway.log"] if rng.random() < 0.3 else [])
    policy = {}
    if rng.random() < 0.5:
        policy = {"owners": {"crashloop": "infrastructure", "cache": "development", "database": "infrastructure",
                             "image_pull": "database", "application": "infrastructure"}}
    return {"record": record, "events": events, "artifacts": artifacts, "policy": policy, "expect": expect, "classes": expected_classes,
            "kinds": kinds, "placement": placement, "resolved": resolved, "bursts": bursts, "opened": opened}


def section(text, heading):
    """The lines under ``heading`` up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    body = []
    for line in lines[start + 1:]:
        if re.match(r"^#{1,%d} " % level, line):
            break
        body.append(line)
    return body


def clock(moment, day):
    return moment.strftime("%H:%M") if moment.date() == day else moment.strftime("%Y-%m-%d %H:%M")


def duration_text(seconds):
    minutes = int(seconds // 60)
    hours, minutes = minutes // 60, minutes % 60
    return "%d hour%s %d minute%s" % (hours, "" if hours == 1 else "s", minutes, "" if minutes == 1 else "s")


def mermaid_block(text):
    lines = text.splitlines()
    start = lines.index("```mermaid")
    end = lines.index("```", start + 1)
    return lines[start + 1:end]


def expected_owner(policy, cls, kind):
    effective = effective_policy(policy)
    if kind == "StatefulSet" and cls in effective["statefulset_owners"]:
        return effective["statefulset_owners"][cls]
    return effective["owners"].get(cls, effective["owners"]["default"])


SEEDS = range(240)


@pytest.fixture(scope="module")
def rendered():
    out = {}
    for seed in SEEDS:
        case = scenario(seed)
        case["text"] = pm.render(case["record"], case["events"], case["artifacts"], NOW, case["policy"])
        out[seed] = case
    return out


def test_every_template_heading_is_there_in_order(rendered):
    for seed, case in rendered.items():
        lines = case["text"].splitlines()
        assert lines[0] == "# Post-Mortem: ServiceDown: shop", seed
        positions = [lines.index(h) for h in TEMPLATE]
        assert positions == sorted(positions), seed
        assert lines.index("## Summary") < lines.index("## Timeline")
        assert lines.index("## Lessons Learned") < lines.index(pm.ARTIFACTS_HEADING) < lines.index(pm.FOLLOW_UP_HEADING), seed
        # The template's fields of the summary, in its order.
        summary = section(case["text"], "## Summary")
        assert [line.split("**")[1] for line in summary[:4]] == ["Date", "Duration", "Severity", "Impact"], seed
        assert case["text"].endswith("\n") and "\n\n\n" not in case["text"], seed


def test_milestones_say_their_time_or_not_reached_in_time_order(rendered):
    for seed, case in rendered.items():
        day = case["opened"].date()
        lines = [line for line in section(case["text"], "## Timeline") if line.startswith("- ")][:5]
        names = [re.match(r"^- (?:--:--|[0-9: -]+?) - ([A-Za-z ]+?)(?::|$)", line).group(1) for line in lines]
        # The generator keeps the logical order, so the template's order is the time order.
        assert names == list(MILESTONE_NAMES), (seed, lines)
        times = []
        for (key, name), line in zip(pm.MILESTONES, lines):
            moment = case["expect"].get(key)
            if moment is None:
                assert line == "- --:-- - %s: not reached" % name, (seed, line)
            else:
                assert line.startswith("- %s - %s" % (clock(moment, day), name)), (seed, key, line)
                times.append(moment.replace(second=0, microsecond=0))
        assert times == sorted(times), seed
        found = pm.milestones(case["record"], case["events"])
        assert [m["milestone"] for m in found] == list(MILESTONE_NAMES)
        assert [m["reached"] for m in found] == [case["expect"].get(k) is not None for k, n in pm.MILESTONES], seed


def test_mermaid_block_is_well_formed(rendered):
    for seed, case in rendered.items():
        block = mermaid_block(case["text"])
        assert block[0] == "timeline" and block[1].startswith("    title "), seed
        shown = []
        periods = []
        for line in block[2:]:
            assert line.startswith("    ") and line.count(" : ") >= 1, (seed, line)
            period, *labels = line.strip().split(" : ")
            for text in [period] + labels:
                assert ":" not in text and "%%" not in text and text.strip() == text and text, (seed, line)
                # A "#" only as an entity code: anything else starts a comment.
                assert "#" not in re.sub(r"#[0-9]+;", "", text), (seed, line)
            periods.append(period.replace("#58;", ":"))
            shown.extend(labels)
        reached = [name for key, name in pm.MILESTONES if case["expect"].get(key) is not None]
        assert shown == reached, seed
        assert len(periods) == len(set(periods)), seed  # milestones of one minute share their period
        day = case["opened"].strftime("%Y-%m-%d")
        moments = [datetime.datetime.strptime(p if len(p) > 9 else "%s %s" % (day, p), "%Y-%m-%d %H:%M UTC") for p in periods]
        assert moments == sorted(moments), (seed, periods)


def test_duration_date_and_where_it_stopped(rendered):
    for seed, case in rendered.items():
        record, text = case["record"], case["text"]
        summary = section(text, "## Summary")
        assert summary[0] == "- **Date**: %s" % case["opened"].strftime("%Y-%m-%d")
        if case["resolved"]:
            seconds = (datetime.datetime.fromisoformat(record["resolved_at"].replace("Z", "+00:00")) - case["opened"]).total_seconds()
            assert summary[1] == "- **Duration**: %s" % duration_text(seconds), seed
            assert pm.STOPPED_HEADING not in text
        else:
            assert summary[1] == "- **Duration**: ongoing (not resolved)"
            lines = text.splitlines()
            assert lines.index("## Summary") < lines.index(pm.STOPPED_HEADING) < lines.index("## Timeline"), seed
            stopped = " ".join(section(text, pm.STOPPED_HEADING))
            assert "no resolution was recorded" in stopped, seed
            last_task = [e for e in case["events"] if e["type"] == "task"][-1]
            assert "The automation stopped after '%s' (%s)" % (last_task["task"], last_task["status"]) in stopped, seed


def test_action_items_per_class_with_the_policys_owners(rendered):
    seen = set()
    for seed, case in rendered.items():
        body = [line for line in section(case["text"], "## Action Items") if re.match(r"^\d+\. ", line)]
        items = [re.match(r"^(\d+)\. \[ \] (.+) \(Owner: ([a-z]+), Due: ____\)$", line) for line in body]
        assert all(items), (seed, body)
        assert [int(m.group(1)) for m in items] == list(range(1, len(items) + 1))
        by_class = {}
        for match in items:
            for cls, measure in pm.MEASURES.items():
                if match.group(2).startswith(measure):
                    by_class[cls] = match.group(3)
        expected = set(case["classes"]) or {"unknown"}
        assert set(by_class) == expected, (seed, case["classes"], body)
        for cls in case["classes"]:
            kind = case["kinds"].get(cls) if case["placement"].get(cls) == "data" else None
            assert by_class[cls] == expected_owner(case["policy"], cls, kind), (seed, cls)
        assert any("Update the runbook" in m.group(2) for m in items), seed
        seen |= set(case["classes"])
    assert seen >= set(REASONS), sorted(set(REASONS) - seen)


def test_artifacts_follow_up_and_notifications(rendered):
    for seed, case in rendered.items():
        text = case["text"]
        links = [line for line in section(text, pm.ARTIFACTS_HEADING) if line.startswith("- [")]
        assert links == ["- [%s](artifacts/%s)" % (n, urllib.parse.quote(n)) for n in sorted(case["artifacts"])], seed
        follow = "\n".join(section(text, pm.FOLLOW_UP_HEADING))
        assert ("- [x] **Document timeline**" in follow) is True
        assert ("- [x] **Collect artifacts**" in follow) is bool(case["artifacts"]), seed
        root = bool(case["record"]["root_cause"]) or case["expect"].get("root_cause") is not None
        assert ("- [x] **Initial root cause analysis**" in follow) is root, seed
        assert follow.count("- [x]") + follow.count("- [ ]") == 8
        notable = [line for line in section(text, pm.NOTABLE_HEADING) if "Notifications (" in line]
        assert 1 <= len(notable) <= case["bursts"] if case["bursts"] else not notable, seed


def test_rendering_is_stable_and_ignores_the_modules_own_events(rendered):
    for seed in list(rendered)[:60]:
        case = rendered[seed]
        later = NOW + datetime.timedelta(days=3)
        own = [event("note", later, "Post-mortem written to postmortem.md", {"postmortem": {"file": "postmortem.md", "sha256": "0" * 64}}),
               task(later, "Write the post-mortem", "changed", action="ai_orchestrator.incident_response.incident_postmortem"),
               dict(task(later, "Check there is an incident", "failed"), playbook="/srv/playbooks/post_incident.yml"),
               event("communication", later, "statuspage update: drafted", {"key": "statuspage:postincident", "channel": "statuspage",
                                                                            "status": "drafted"})]
        again = pm.render(case["record"], case["events"] + own, case["artifacts"], later, case["policy"])
        assert again == case["text"], seed


def test_external_summary_is_plain(rendered):
    for seed, case in rendered.items():
        summary = pm.external_summary(case["record"], "We raised the memory limits" if seed % 2 else None)
        assert set(summary) == {"subject", "body"}
        text = summary["subject"] + summary["body"]
        for internal in ("shop", "k8s.internal", "ServiceDown", "#incident", "pods replaced"):
            assert internal not in text, (seed, internal)
        assert ("Resolved" in summary["subject"]) is case["resolved"]
        for name in case["record"]["services"]:
            assert name in summary["body"]
        if seed % 2:
            assert "What we are doing to prevent it: We raised the memory limits." in summary["body"]


# ---------------------------------------------------------------- the parts


@pytest.mark.parametrize("cls", sorted(REASONS))
def test_each_class_is_found_in_the_reasons_the_code_writes(cls):
    record = base_record(services={"svc-a": {"status": "escalated", "reason": REASONS[cls].format(svc="svc-a")}})
    assert set(pm.failure_classes(record)) == {cls} | ALSO.get(cls, set())
    assert pm.failure_classes(record)[cls] == ["svc-a"]


def test_negated_clauses_name_no_class():
    reason = REASONS["application"].format(svc="api")
    assert pm.failure_classes(base_record(services={"api": {"status": "escalated", "reason": reason}})) == {"application": ["api"]}
    workflows = "n8n: 3 workflow(s) fail and neither its health, credentials, resources nor definitions explain it"
    assert pm.failure_classes(base_record(root_cause=workflows)) == {}


def test_classes_in_event_data_plans_and_verdicts():
    events = [opened_event(),
              event("root_cause_identified", T0 + datetime.timedelta(minutes=3), "x", {
                  "plans": [{"workload": "postgres", "kind": "StatefulSet", "classification": "oom"},
                            {"workload": "web", "kind": "Deployment", "classification": "healthy"}],
                  "assessment": {"engines": [{"name": "n8n", "cause": "credentials"}, {"name": "flow", "cause": "healthy"}]}}),
              event("diagnosis", T0 + datetime.timedelta(minutes=4), "x", {"plans": [{"workload": "w", "classification": "crashloop"}]})]
    assert pm.failure_classes(base_record(), events) == {"oom": ["postgres"], "engine_credentials": ["n8n"]}
    items = pm.action_items(base_record(), events)
    owners = dict((i["class"], i["owner"]) for i in items if i["class"])
    # A StatefulSet's oom goes to the database owners, the credentials to infrastructure.
    assert owners == {"oom": "database", "engine_credentials": "infrastructure"}


def test_process_items_follow_what_happened():
    comms = [event("communication", T0 + datetime.timedelta(minutes=1), "slack post: not sent", {"channel": "slack", "status": "not_sent"}),
             event("communication", T0 + datetime.timedelta(minutes=1), "email send: sent", {"channel": "email", "status": "sent"})]
    record = base_record(status="escalated", escalations=[{"to": "Team lead", "reason": "x"}])
    measures = [i["measure"] for i in pm.action_items(record, [opened_event()] + comms)]
    assert any("could not resolve the incident (escalated to Team lead)" in m for m in measures)
    assert any("did not deliver (slack)" in m for m in measures)
    assert measures[-1].startswith("Update the runbook")
    resolved = base_record(status="resolved", resolved_at=format_time(T0 + datetime.timedelta(hours=1)))
    measures = [i["measure"] for i in pm.action_items(resolved, [opened_event()])]
    assert len(measures) == 2 and measures[0].startswith(pm.MEASURES["unknown"] + " (the automation recorded no failure class)")


def test_where_it_stopped_names_the_last_task_and_what_came_after():
    events = [opened_event(),
              task(T0 + datetime.timedelta(minutes=2), "Diagnose the namespace"),
              task(T0 + datetime.timedelta(minutes=3, seconds=4), "Delete the crashed pod", "failed", data={"msg": "pods is forbidden"}),
              event("service_status", T0 + datetime.timedelta(minutes=4), "api: escalated (x)")]
    record = base_record(status="escalated", services={"api": {"status": "escalated", "reason": "needs a person"}},
                         escalations=[{"to": "development owners", "reason": "could not delete"}])
    text = pm.render(record, events, [], NOW)
    stopped = section(text, pm.STOPPED_HEADING)
    assert stopped[1] == ("The automation stopped after 'Delete the crashed pod' (failed) at 2026-05-09 07:38:29 UTC; "
                          "no resolution was recorded.")
    body = "\n".join(stopped)
    assert "- It failed: pods is forbidden" in body
    assert "1 event(s) were recorded after it, the last 'api: escalated (x)' (service_status) at 2026-05-09 07:39:25 UTC" in body
    assert "never finished" in body
    assert "- Services not restored: api (escalated: needs a person)." in body
    assert "- Escalated to development owners: could not delete." in body
    # The failed task is a notable event too.
    assert any("Task 'Delete the crashed pod' failed: pods is forbidden" in line for line in section(text, pm.NOTABLE_HEADING))


def test_where_it_stopped_without_tasks_or_events():
    text = pm.render(base_record(), [opened_event()], [], NOW)
    assert "No task of the automation was recorded on the timeline; the last event recorded is" in text
    assert "Nothing was recorded on the timeline; no resolution was recorded." in pm.render(base_record(), [], [], NOW)
    # Without events the milestones still stand on the record: the alert is the opening.
    assert "- 07:35 - Initial alert: incident opened" in pm.render(base_record(), [], [], NOW)


def test_a_reopening_undoes_the_restoration():
    events = [opened_event(),
              event("service_restored", T0 + datetime.timedelta(minutes=10), "all ready"),
              event("incident_resolved", T0 + datetime.timedelta(minutes=10), "resolved"),
              event("incident_reopened", T0 + datetime.timedelta(minutes=30), "reopened")]
    found = dict((m["key"], m) for m in pm.milestones(base_record(status="investigating"), events))
    assert not found["restored"]["reached"]
    events.append(event("service_restored", T0 + datetime.timedelta(minutes=50), "ready again"))
    found = dict((m["key"], m) for m in pm.milestones(base_record(status="investigating"), events))
    assert found["restored"]["time"] == "2026-05-09T08:25:25Z"


def test_an_alert_of_the_day_before_shows_its_date():
    record = base_record(alert={"name": "ServiceDown", "labels": {}, "starts_at": "2026-05-08T23:58:00Z", "key": "k"})
    text = pm.render(record, [opened_event()], [], NOW)
    assert "- 2026-05-08 23:58 - Initial alert: ServiceDown fired" in text
    assert "    2026-05-08 23#58;58 UTC : Initial alert" in mermaid_block(text)


def test_milestones_out_of_order_are_listed_by_time():
    events = [opened_event(),
              event("fix_implemented", T0 + datetime.timedelta(minutes=5), "restarted"),
              event("root_cause_identified", T0 + datetime.timedelta(minutes=9), "found later")]
    lines = [line for line in section(pm.render(base_record(), events, [], NOW), "## Timeline") if line.startswith("- ")][:5]
    assert [line.split(" - ")[1].split(":")[0] for line in lines] == [
        "Initial alert", "Investigation started", "Fix implemented", "Root cause identified", "Service restored"]
    assert lines[1] == "- --:-- - Investigation started: not reached"


def test_notifications_of_one_stage_share_a_line():
    burst = [event("communication", T0 + datetime.timedelta(seconds=s), "m", {"channel": c, "status": st})
             for s, c, st in ((60, "pagerduty", "not_sent"), (60, "pagerduty", "not_sent"), (61, "statuspage", "drafted"),
                              (900, "slack", "sent"))]
    manual = event("communication", T0 + datetime.timedelta(seconds=950), "Told the CTO by phone")
    lines = section(pm.render(base_record(), [opened_event()] + burst + [manual], [], NOW), pm.NOTABLE_HEADING)
    assert "- 07:36 - Notifications (3): 2 not sent (pagerduty x2); 1 drafted for approval (statuspage)" in lines
    assert "- 07:50 - Notifications (1): 1 sent (slack)" in lines
    assert "- 07:51 - Told the CTO by phone" in lines


def test_free_text_cannot_break_the_markdown():
    record = base_record(root_cause="# not a heading\nsecond line", resolution="- not a list")
    text = pm.render(record, [opened_event()], [], NOW)
    assert "\\# not a heading second line" in section(text, "## Root Cause")
    assert "\\- not a list" in section(text, "## Resolution")


def test_mermaid_text_escapes_what_the_grammar_reads():
    assert pm.mermaid_text("07:35 #1 100%% <b>\nnext") == "07#58;35 #35;1 100#37;#37; #60;b#62; next"
    assert ":" not in pm.mermaid_text("a: b : c::")


@pytest.mark.parametrize("seconds, text", [
    (0, "0 hours 0 minutes"), (59, "0 hours 0 minutes"), (60, "0 hours 1 minute"), (3660, "1 hour 1 minute"),
    (2 * 3600 + 5 * 60 + 59, "2 hours 5 minutes"), (-5, "0 hours 0 minutes"),
])
def test_format_duration(seconds, text):
    assert pm.format_duration(seconds) == text


def test_content_hash():
    assert pm.content_hash("héllo") == hashlib.sha256("héllo".encode("utf-8")).hexdigest()
    assert pm.content_hash(b"x") == hashlib.sha256(b"x").hexdigest()


def test_a_bad_policy_or_record_fails_clearly():
    with pytest.raises(InvalidInput, match="incident_policy.owners.crashlop"):
        pm.render(base_record(), [], [], NOW, {"owners": {"crashlop": "development"}})
    with pytest.raises(InvalidInput, match="record must be"):
        pm.render(None, [], [], NOW)


def test_odd_records_and_events_do_not_break_it():
    record = {"id": ID, "services": {"x": "down", "y": None}, "escalations": ["bad"], "alert": "nonsense", "severity": "P9"}
    events = [{"type": "note"}, {"time": "not a time", "type": "note"}, "junk", event("fix_implemented", T0, "x", {"actions": "bad"}),
              event("root_cause_identified", T0, "x", {"plans": [{"classification": 5}], "deep": [[[{"cause": "cache"}]]]})]
    text = pm.render(record, events, [{"name": "a.txt"}, {"nope": 1}, "", "/b.txt"], NOW)
    assert text.startswith("# Post-Mortem: %s" % ID)
    assert "- **Severity**: P9" in text and "- **Duration**: ongoing (not resolved)" in text
    assert "- [a.txt](artifacts/a.txt)" in text and "- [b.txt](artifacts/b.txt)" in text
    assert pm.failure_classes(record, events) == {"cache": []}


def test_the_summary_of_a_resolved_incident():
    record = base_record(status="resolved", resolved_at="2026-05-09T09:10:25Z", services={"api": {"status": "restored"}},
                         alert={"name": "ServiceDown", "starts_at": "2026-05-09T07:30:00Z"},
                         root_cause="the gateway's image tag v2 does not exist")
    summary = pm.external_summary(record)
    assert summary["subject"] == "[AI Orchestrator] Resolved: service disruption on 2026-05-09"
    body = summary["body"]
    assert "On 2026-05-09 from 07:30 to 09:10 (UTC) part of the AI Orchestrator platform was unavailable or degraded: api." in body
    assert "The disruption lasted 1 hour 40 minutes." in body
    assert "What happened: a software update could not be deployed." in body
    assert "image tag" not in body and "Reference: %s" % ID in body
