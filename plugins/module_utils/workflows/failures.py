# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runbook section 4 (Workflow Execution Failures) on one engine: which workflows fail, where,
whose they are, whether their definition is valid and what changed since the last good one.

``collect(engine, options)`` does the reading for workflow_failure_info; ``save(engine,
options, check_mode)`` for workflow_baseline. Both take an adapter of engines.py (tests give
them a fake one) and return plain data.
"""

from __future__ import annotations

import fnmatch
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import baseline, definition
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows.engines import (
    FAILED,
    EngineError,
    time_of,
)

MAX_EXECUTIONS = 5  # execution ids (and traces) listed per failing workflow
DEFAULTS = {"since_minutes": 60, "limit": 100}


def check_options(options):
    """The numbers and maps the modules take, checked before any request."""
    if options.get("since_minutes") is not None and options["since_minutes"] <= 0:
        raise InvalidInput("since_minutes must be above 0, got %s" % options["since_minutes"])
    if options.get("limit") is not None and not 1 <= options["limit"] <= 10000:
        raise InvalidInput("limit must be between 1 and 10000, got %s" % options["limit"])
    for key, value in (options.get("owners") or {}).items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("owners: the owner of %s must be a non-empty string, got %r" % (key, value))
    return options


def iso(seconds):
    return format_time(time_of(seconds))


def owner_of(workflow_id, name, owners, engine_owner):
    """(owner, source): the operator's map first (exact id, then id or name globs in the order
    given), then the engine's own owner data."""
    owners = owners or {}
    if workflow_id in owners:
        return owners[workflow_id], "operator"
    for pattern, owner in owners.items():
        if fnmatch.fnmatchcase(str(workflow_id), pattern) or (name and fnmatch.fnmatchcase(name, pattern)):
            return owner, "operator"
    if engine_owner:
        return engine_owner, "engine"
    return None, "none"


def match_refs(refs, workflows):
    """(ids, unknown refs): each ref is a workflow id or a name (glob allowed)."""
    ids, unknown = [], []
    for ref in refs or []:
        ref = str(ref)
        found = [i for i, raw in workflows.items() if ref == i or fnmatch.fnmatchcase(str(raw.get("name") or ""), ref)]
        if not found:
            unknown.append(ref)
        ids.extend(i for i in found if i not in ids)
    return ids, unknown


def collect(engine, options, tracer=None, clock=time.time):
    """The workflow_failure_info result for one engine (see the module's RETURN)."""
    options = check_options(dict(DEFAULTS, **dict((k, v) for k, v in options.items() if v is not None)))
    now = clock()
    since = now - options["since_minutes"] * 60
    result = {"engine": {"name": engine.name, "kind": engine.kind, "url": engine.base}, "available": True,
              "credentials": None, "error": None, "error_kind": None, "executions": None,
              "failing_workflows": [], "failing": [], "not_found": [], "msg": ""}
    try:
        result["credentials"] = engine.credentials()
        if result["credentials"] == "rejected":
            result["msg"] = ("%s rejects the API key: nothing could be read; give the module (and the orchestrator) a key "
                             "the engine accepts" % engine.name)
            return result
        _collect(engine, options, tracer, since, result)
    except EngineError as exc:
        result.update(available=exc.kind == "credentials", error=str(exc), error_kind=exc.kind,
                      credentials="rejected" if exc.kind == "credentials" else result["credentials"],
                      msg="%s: %s" % (engine.name, exc))
        return result
    result["msg"] = summary(engine, options, result)
    return result


def _collect(engine, options, tracer, since, result):
    limit = options["limit"]
    everything, complete = engine.executions(since, limit)
    if engine.kind == "n8n":  # the listing has no error details; failures are read with them
        failed, _done = engine.executions(since, limit, failed_only=True)
    else:
        failed = [e for e in everything if e["status"] == FAILED]
    finished = [e for e in everything if e["status"] in (FAILED, "success")]
    failures = sum(1 for e in everything if e["status"] == FAILED)
    by_status = {}
    for item in everything:
        by_status[item["status"]] = by_status.get(item["status"], 0) + 1
    result["executions"] = {"total": len(everything), "failed": failures,
                            "failure_rate": round(float(failures) / len(finished), 4) if finished else None,
                            "since": iso(since), "complete": complete, "by_status": by_status}
    definitions = engine.kind in definition.KINDS
    workflows = dict((engine.identity(raw)[0], raw) for raw in engine.workflows()) if definitions else {}
    grouped = {}
    for item in failed:  # newest first
        grouped.setdefault(item["workflow_id"], []).append(item)
    # When each workflow last ran well: a workflow whose newest run succeeded has recovered.
    succeeded = {}
    for item in everything:
        if item["status"] == "success" and item.get("started") is not None:
            succeeded[item["workflow_id"]] = max(item["started"], succeeded.get(item["workflow_id"], item["started"]))
    requested, result["not_found"] = match_refs(options.get("workflows"), workflows) if definitions else (
        [str(r) for r in options.get("workflows") or []], [])
    wanted = list(grouped) + [i for i in requested if i not in grouped]
    catalog = _catalog(engine, options) if definitions and wanted else None
    for workflow_id in wanted:
        entry = _workflow(engine, workflow_id, grouped.get(workflow_id, []), workflows, catalog, options, tracer, since)
        last_ok = succeeded.get(workflow_id)
        newest_failure = (grouped.get(workflow_id) or [{}])[0].get("started")
        entry["last_succeeded_at"] = iso(last_ok) if last_ok is not None else None
        entry["recovered"] = bool(entry["failures"]) and last_ok is not None and newest_failure is not None and last_ok > newest_failure
        result["failing_workflows"].append(entry)
    result["failing_workflows"].sort(key=lambda w: (-w["failures"], w["name"] or w["id"] or ""))
    result["failing"] = [w["name"] or w["id"] for w in result["failing_workflows"] if w["failures"]]


def _catalog(engine, options):
    found = engine.catalog()
    if options.get("node_types"):
        return definition.catalog(options["node_types"], triggers=(found or {}).get("triggers"),
                                  credentials=(found or {}).get("credentials"), source="operator")
    return found


def _workflow(engine, workflow_id, failures, workflows, catalog, options, tracer, since):
    raw = workflows.get(workflow_id)
    if raw is None and engine.kind in definition.KINDS:
        raw = engine.workflow(workflow_id)  # deleted since, or not in the listing
    name = (raw or {}).get("name") if raw else (workflow_id if engine.kind == "langsmith" else None)
    newest = failures[0] if failures else {}
    owner, source = owner_of(workflow_id, name, options.get("owners"), engine.owner(raw) if raw else None)
    entry = {"id": workflow_id, "name": name, "active": (raw or {}).get("active"), "failures": len(failures),
             "last_error": newest.get("error"), "failed_node": newest.get("node"),
             "last_failed_at": iso(newest["started"]) if newest.get("started") else None,
             "executions": [f["id"] for f in failures[:MAX_EXECUTIONS]],
             "traces": [f["trace"] for f in failures[:MAX_EXECUTIONS] if f.get("trace")],
             "owner": owner, "owner_source": source, "validation": None, "changes": None}
    if tracer is not None and name and failures:
        try:
            entry["traces"] = tracer.traces(name, since, MAX_EXECUTIONS)
        except EngineError as exc:
            entry["traces_error"] = str(exc)
    if engine.kind not in definition.KINDS:
        entry["validation"] = {"valid": None, "errors": [], "catalog": None,
                               "message": "%s holds runs, not workflow definitions" % engine.kind}
        return entry
    if raw is None:
        entry["validation"] = {"valid": None, "errors": [], "catalog": None,
                               "message": "the workflow %s is not on %s any more" % (workflow_id, engine.name)}
        return entry
    current = definition.normalize(engine.kind, raw)
    errors = definition.validate(current, catalog)
    entry["validation"] = {"valid": not errors, "errors": errors, "catalog": (catalog or {}).get("source")}
    if options.get("baseline_dir"):
        entry["changes"] = _changes(engine, options["baseline_dir"], workflow_id, name, current)
    return entry


def _changes(engine, directory, workflow_id, name, current):
    try:
        found = baseline.read_baseline(directory, engine.name, workflow_id, name)
    except baseline.BaselineError as exc:
        return {"baseline": None, "current_version": current["version"], "breaking": [], "other": [],
                "message": str(exc)}
    if found is None:
        return {"baseline": None, "current_version": current["version"], "breaking": [], "other": [],
                "message": "no baseline for %s in %s" % (workflow_id, directory)}
    before = definition.normalize(engine.kind, found["raw"])
    changes = definition.diff(before, current)
    changes.update(baseline={"source": found["path"], "version": before["version"], "saved_at": found["saved_at"]},
                   current_version=current["version"])
    return changes


def summary(engine, options, result):
    execs = result["executions"]
    rate = "" if execs["failure_rate"] is None else " (%.1f%%)" % (execs["failure_rate"] * 100)
    head = "%s: %d of %d executions failed in the last %s min%s" % (
        engine.name, execs["failed"], execs["total"], options["since_minutes"], rate)
    parts = []
    for w in result["failing_workflows"]:
        if not w["failures"]:
            continue
        text = "%s (owner %s, %d failures" % (w["name"] or w["id"], w["owner"] or "unknown", w["failures"])
        if w["failed_node"]:
            text += ", node %s" % w["failed_node"]
        if w["last_error"]:
            text += ": %s" % w["last_error"]
        if w["validation"] and w["validation"]["valid"] is False:
            text += "; %d validation error(s)" % len(w["validation"]["errors"])
        if w["changes"] and w["changes"].get("breaking"):
            text += "; %d breaking change(s) since the baseline" % len(w["changes"]["breaking"])
        parts.append(text + ")")
    if not parts:
        return head + "; no failing workflow"
    return head + "; failing: " + "; ".join(parts)


# --- workflow_baseline -------------------------------------------------------------------------


def save(engine, options, check_mode=False, clock=time.time):
    """Save the current definitions of the workflows that do not fail as last-good (see
    workflow_baseline's RETURN). Raises EngineError when the engine cannot be read."""
    options = check_options(dict(DEFAULTS, **dict((k, v) for k, v in options.items() if v is not None)))
    if engine.kind not in definition.KINDS:
        raise InvalidInput("%s is a %s engine, which holds runs, not workflow definitions: nothing to save"
                           % (engine.name, engine.kind))
    if engine.credentials() == "rejected":
        raise EngineError("%s rejects the API key" % engine.name, "credentials")
    workflows = dict((engine.identity(raw)[0], raw) for raw in engine.workflows())
    if options.get("workflows"):
        ids, unknown = match_refs(options["workflows"], workflows)
    else:
        ids, unknown = sorted(workflows), []
    failing = {}
    if options.get("skip_failing", True) and ids:
        since = clock() - options["since_minutes"] * 60
        failed, _complete = engine.executions(since, options["limit"], failed_only=True)
        for item in failed:
            failing[item["workflow_id"]] = failing.get(item["workflow_id"], 0) + 1
    saved, not_saved, diffs = [], [], []
    for workflow_id in ids:
        raw = workflows[workflow_id]
        name = raw.get("name")
        if workflow_id in failing:
            message = "%d failed execution(s) in the last %s min: not a good version" % (
                failing[workflow_id], options["since_minutes"])
            not_saved.append({"id": workflow_id, "name": name, "reason": "failing", "message": message})
            continue
        path = baseline.baseline_path(options["baseline_dir"], engine.name, workflow_id)
        content = baseline.render(raw)
        before = baseline.previous_content(path)
        changed = baseline.write_baseline(path, content, check_mode=check_mode)
        current = definition.normalize(engine.kind, raw)
        saved.append({"id": workflow_id, "name": name, "path": path, "version": current["version"], "changed": changed})
        if changed:
            diffs.append({"before_header": path, "after_header": path, "before": before, "after": content})
    changed_count = sum(1 for s in saved if s["changed"])
    msg = "%s: %d workflow(s) %s, %d unchanged, %d left out (failing)" % (
        engine.name, changed_count, "would be saved" if check_mode else "saved", len(saved) - changed_count, len(not_saved))
    if unknown:
        msg += "; not on the engine: %s" % ", ".join(unknown)
    return {"changed": bool(changed_count), "saved": saved, "not_saved": not_saved, "not_found": unknown,
            "baseline_dir": options["baseline_dir"], "msg": msg, "diff": diffs}
