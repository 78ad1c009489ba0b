# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runbook's post-mortem of an incident, filled from its record and timeline.

Source: incident-response runbook, "Post-Incident Procedures" (the 24-hour and one-week
actions) and its "Post-Mortem Template", whose headings and fields ``render()`` keeps.
What the automation knows is filled in (dates, the five milestones, the evidence, the
actions taken, the artifacts); what only people know (owners by name, due dates, lessons
learned) is left as a placeholder.

Pure functions: the module incident_postmortem reads incident.json, timeline.jsonl and the
artifact listing and writes the text. ``render()`` never prints ``now`` and skips the
events the post-mortem module and its task leave on the timeline, so a rerun over an
unchanged incident gives the same text (the module's idempotence rests on that).

Times are UTC. The Mermaid diagram is a ``timeline``: its grammar separates a period from
its events with ``:`` and drops the rest of a line after ``#`` or ``%%``, so every text in
it goes through ``mermaid_text()`` (Mermaid's entity codes, ``#58;`` for a colon).
"""

from __future__ import annotations

import datetime
import hashlib
import re
import urllib.parse

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import EVENT_TYPES
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy

# The template's headings, in its order (the title is followed by the incident's title).
TEMPLATE_HEADINGS = (
    "# Post-Mortem: ",
    "## Summary",
    "## Timeline",
    "## Root Cause",
    "## Resolution",
    "## Action Items",
    "## Lessons Learned",
)
STOPPED_HEADING = "## Where the Automation Stopped"
NOTABLE_HEADING = "### Other Notable Events"
ARTIFACTS_HEADING = "## Artifacts"
FOLLOW_UP_HEADING = "## Follow-up"

# The template's timeline, in its order: (key, label).
MILESTONES = (
    ("alert", "Initial alert"),
    ("investigation", "Investigation started"),
    ("root_cause", "Root cause identified"),
    ("fix", "Fix implemented"),
    ("restored", "Service restored"),
)
NOT_REACHED = "not reached"
DUE_PLACEHOLDER = "____"

# The module's own traces: its note event, and the task event the timeline callback writes for it.
OWN_MODULE = "incident_postmortem"
# The post-incident procedure is not part of the incident: the tasks of its playbook and the
# post-incident summary it drafts (incident_notify stage postincident) are left out too, so
# running it again does not change the post-mortem it wrote.
POST_INCIDENT_PLAYBOOKS = ("post_incident.yml",)
POST_INCIDENT_STAGE = "postincident"

# Task outcomes that mean the task ran (a skipped one did nothing).
RAN = ("ok", "changed", "failed", "unreachable")

# Events listed under "Other notable events" (milestone events used above are not repeated).
NOTABLE_TYPES = EVENT_TYPES + ("incident_opened", "severity_changed", "status_changed", "incident_resolved", "incident_reopened",
                               "alert_joined", "alert_resolved", "service_status")

# What incident_notify's statuses say, for the grouped notification lines.
NOTIFY_STATUS_TEXT = {
    "sent": "sent",
    "maybe_sent": "maybe sent",
    "not_sent": "not sent",
    "drafted": "drafted for approval",
    "deferred": "deferred",
    "failed": "failed",
    "skipped": "skipped",
}
UNDELIVERED = ("not_sent", "failed")
# Notifications of one stage are written together; a later burst is another stage.
NOTIFY_GROUP_SECONDS = 300

MAX_LINE = 240

# ---------------------------------------------------------------- failure classes

# Every class the post-mortem suggests measures for, in the order they are listed: the
# classifications of k8s/classify.py, the situations and scenario classes of the policy's
# owners, and "rollout" (a release that brought the errors; owned by the policy's default).
CLASS_ORDER = (
    "node_failure",
    "unschedulable",
    "create_failed",
    "resource_exhaustion",
    "image_pull",
    "image_pull_local",
    "config_error",
    "oom",
    "crashloop",
    "not_ready",
    "sidecar_exhaustion",
    "rollout",
    "database",
    "slow_query",
    "cache",
    "engine_connectivity",
    "engine_credentials",
    "workflow_definition",
    "application",
    "unknown",
)

# The ``cause`` of a verdict (symptoms/assess.py, workflows/assess.py) -> failure class.
# "workload" and "resources" are left out: their plan carries the classification itself.
CAUSE_CLASSES = {
    "connectivity": "engine_connectivity",
    "dependency": "engine_connectivity",
    "degraded": "engine_connectivity",
    "credentials": "engine_credentials",
    "definitions": "workflow_definition",
    "database": "database",
    "cache": "cache",
    "application": "application",
    "workflows": "application",
    "failure_rate": "application",
    "hotfix": "application",
    "rollout": "rollout",
}

# Words in reasons and root causes that name a class. Negated clauses ("neither its pods,
# the database ... nor a recent rollout explain it", "no recent rollout explains it") are cut
# out first; the first of them is how symptoms/assess.py says "the application's errors".
_APPLICATION = re.compile(r"neither its pods, the database, the engines nor a recent rollout explain", re.I)
_NEGATED = re.compile(r"\bneither\b[^.;]*?\bnor\b[^.;]*?\bexplains?\b(?: it)?|\bno (?:recent )?rollout (?:to blame|explains it)", re.I)
CLASS_PATTERNS = (
    ("node_failure", r"\bnode_failure\b|failed node|NodeNotReady|\bnode\b[^.;]{0,40}\bnot (?:ready|reachable)\b|node is unreachable"),
    ("unschedulable", r"\bunschedulable\b|FailedScheduling|no node fits|Insufficient (?:cpu|memory)"),
    ("create_failed", r"\bcreate_failed\b|FailedCreate|cannot create pods|exceeded quota"),
    ("resource_exhaustion", r"\bresource_exhaustion\b|resource exhaustion|(?:cpu|memory) (?:is )?exhausted|cpu throttl"),
    ("image_pull", r"\bimage_pull\b|ImagePullBackOff|ErrImagePull|InvalidImageName|pull (?:its|the) image|manifest unknown|"
                   r"\bimage (?:tag|name)\b[^;]{0,60}?\b(?:does not exist|not found|missing|invalid)"),
    ("image_pull_local", r"\bimage_pull_local\b|node- or registry-local"),
    ("config_error", r"\bconfig_error\b|CreateContainerConfigError|CreateContainerError|RunContainerError|configuration changed since"),
    ("oom", r"\boom\b|OOMKilled|OOM-?kill|out of memory"),
    ("crashloop", r"\bcrashloop\b|CrashLoopBackOff|crash(?:es|ed|ing)? (?:loop|on start)"),
    ("not_ready", r"\bnot_ready\b|readiness probe"),
    ("sidecar_exhaustion", r"\bsidecar_exhaustion\b|sidecar alone at its limit"),
    ("rollout", r"\brecent rollout of\b[^.;]*\bfails\b|roll back to the previous revision|the errors started with"),
    ("database", r"\bpostgres(?:ql)?\b|\bdatabase\b[^.;]{0,40}\b(?:fails|failed|down|unavailable|critical|does not answer|refus\w*|corrupt\w*)|"
                 r"^database\b|too many connections|idle in a? ?transaction|connections? (?:are |is )?exhausted"),
    ("slow_query", r"\bslow_query\b|slow (?:statements?|quer(?:y|ies))|pg_stat_statements"),
    ("cache", r"\bredis\b|\bcache\b|hit rate|critical cache keys"),
    ("engine_connectivity", r"\bengine_connectivity\b|does not answer (?:its health check|\()|"
                            r"\bengines?\b[^.;]{0,80}\b(?:does not answer|do not answer|unreachable|refused|timed out)"),
    ("engine_credentials", r"\bengine_credentials\b|rejects the configured credentials|credentials (?:are |were )?(?:rejected|expired)"),
    ("workflow_definition", r"\bworkflow_definition\b|workflow definitions?"),
    ("application", r"\bapplication errors?\b|errors nothing (?:else )?explains"),
)
_CLASS_RES = tuple((cls, re.compile(pattern, re.I)) for cls, pattern in CLASS_PATTERNS)

# The prevention measure suggested per class (the evidence names the services).
MEASURES = {
    "node_failure": "Find why the node(s) failed and alert on node health; spread replicas across nodes "
                    "(pod anti-affinity, PodDisruptionBudget) so one node cannot take a service down",
    "unschedulable": "Add cluster capacity or a cluster autoscaler, and review the resource requests that no node fits",
    "create_failed": "Review the quota, admission webhook or policy that stopped the controller from creating pods",
    "resource_exhaustion": "Autoscale the service (HPA) and alert on CPU and memory saturation before it runs out; review the load it was sized for",
    "image_pull": "Check in the release pipeline that every image tag exists and the registry credentials work before a rollout; pin images by digest",
    "image_pull_local": "Fix image pulls on the affected nodes (registry mirror, node credentials, disk space)",
    "config_error": "Validate ConfigMaps, Secrets and environment references before a rollout (CI check or admission policy)",
    "oom": "Size the memory limits from the observed peak or fix the leak, and alert on memory close to the limit before the OOM kill",
    "crashloop": "Fix why the service crashes on start (its logs are in the artifacts) and add a start-up smoke test to the release pipeline",
    "not_ready": "Make the readiness probe reflect real readiness and check the dependencies it waits for",
    "sidecar_exhaustion": "Size the sidecar's limits for its real load",
    "rollout": "Roll out progressively (canary) with an automatic rollback on the error rate, and find the change that caused the errors",
    "database": "Review PostgreSQL's connection limits and pooling, and alert on connection saturation and long transactions; test the restore",
    "slow_query": "Optimise or index the slow statements (pg_stat_statements) and alert on query latency",
    "cache": "Warm the cache after restarts and alert on its hit rate and critical keys; review Redis memory and eviction settings",
    "engine_connectivity": "Monitor the workflow engines' reachability (health, DNS, ingress) and alert before the workflows fail",
    "engine_credentials": "Track the engine credentials' expiry, alert before it, and test the credentials after every rotation",
    "workflow_definition": "Validate workflow definitions before they are deployed and tell their owners about breaking changes",
    "application": "Fix the application errors named in the evidence and add a regression test for them",
    "unknown": "Finish the root cause analysis with the collected evidence and add the missing diagnosis to the runbook",
}

# What a class means to a customer, in plain words.
PLAIN_CAUSES = {
    "node_failure": "a server in our infrastructure failed",
    "unschedulable": "our platform ran short of capacity",
    "create_failed": "our platform could not start new service instances",
    "resource_exhaustion": "our platform ran short of capacity",
    "image_pull": "a software update could not be deployed",
    "image_pull_local": "a software update could not be deployed on part of our infrastructure",
    "config_error": "a configuration error",
    "oom": "a service ran out of memory",
    "crashloop": "a service failed repeatedly while starting",
    "not_ready": "a service could not become ready to take requests",
    "sidecar_exhaustion": "a supporting component ran short of resources",
    "rollout": "a faulty software update",
    "database": "a problem with our database",
    "slow_query": "slow database queries",
    "cache": "a problem with our caching layer",
    "engine_connectivity": "a connection problem with our workflow engines",
    "engine_credentials": "a connection problem with our workflow engines",
    "workflow_definition": "faulty workflow definitions",
    "application": "an application error",
    "unknown": "a fault we are still analysing",
}


def content_hash(text):
    """sha256 hex digest of the text (UTF-8); bytes are hashed as they are."""
    data = text if isinstance(text, bytes) else str(text).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- small helpers


def _moment(value):
    """An aware UTC datetime, or None for anything that is not a time."""
    if value in (None, ""):
        return None
    try:
        return to_utc(value)
    except (InvalidInput, TypeError, ValueError, OverflowError):
        return None


def _one_line(text, limit=MAX_LINE):
    """Free text on one line, shortened to ``limit`` characters."""
    flat = " ".join(str(text if text is not None else "").split())
    return flat if len(flat) <= limit else flat[:limit - 3].rstrip() + "..."


def _paragraph(text):
    """Free text as one Markdown paragraph that cannot turn into a heading, quote or list."""
    flat = _one_line(text, 2000)
    return "\\" + flat if flat[:1] in ("#", ">", "-", "*", "+", "=") else flat


def _clock(moment, day):
    """``HH:MM``, with the date in front when it is not the incident's day."""
    if moment.date() == day:
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def _stamp(moment):
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds):
    """``X hours Y minutes`` (whole minutes, rounded down) as the template writes it."""
    minutes = int(max(0, seconds) // 60)
    hours, minutes = divmod(minutes, 60)
    return "%d %s %d %s" % (hours, "hour" if hours == 1 else "hours", minutes, "minute" if minutes == 1 else "minutes")


def mermaid_text(text):
    """Text safe inside a Mermaid timeline: entity codes for the characters its grammar reads.

    ``#`` first (the other codes start with one), then ``:`` (separates a period from its
    events), ``%`` (``%%`` starts a comment) and the angle brackets; one line.
    """
    flat = " ".join(str(text).split())
    for char, code in (("#", "#35;"), (":", "#58;"), ("%", "#37;"), ("<", "#60;"), (">", "#62;")):
        flat = flat.replace(char, code)
    return flat


def _data(event):
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def is_own_event(event):
    """True for the events of the post-incident procedure: they never change the post-mortem.

    The module's note, the task event of the module, the tasks of the post-incident playbook
    and the communications of the post-incident summary.
    """
    kind = event.get("type")
    if kind == "note" and isinstance(_data(event).get("postmortem"), dict):
        return True
    if kind == "task":
        playbook = str(event.get("playbook") or "").replace("\\", "/").rsplit("/", maxsplit=1)[-1]
        return str(event.get("action") or "").rsplit(".", maxsplit=1)[-1] == OWN_MODULE or playbook in POST_INCIDENT_PLAYBOOKS
    return kind == "communication" and POST_INCIDENT_STAGE in str(_data(event).get("key") or "").split(":")


def _timed(events):
    """``[(moment, event)]`` in time order (stable), without the module's own events and unreadable times."""
    timed = []
    for event in events or ():
        if not isinstance(event, dict) or is_own_event(event):
            continue
        moment = _moment(event.get("time"))
        if moment is not None:
            timed.append((moment, event))
    timed.sort(key=lambda pair: pair[0])
    return timed


def _opened(record, timed, now=None):
    """When the incident was opened: the record's opened_at, its incident_opened event, its id."""
    moment = _moment(record.get("opened_at"))
    if moment is None:
        moment = next((m for m, e in timed if e.get("type") == "incident_opened"), None)
    if moment is None:
        try:
            moment = datetime.datetime.strptime(str(record.get("id")), "incident-%Y-%m-%d-%H%M%S").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            moment = None
    if moment is None:
        # Only a record without any time falls back to ``now``, which is never printed.
        moment = to_utc(now) if now is not None else utc_now()
    return moment


def _alert_start(record):
    alert = record.get("alert") if isinstance(record.get("alert"), dict) else {}
    return _moment(alert.get("starts_at") or alert.get("startsAt")), alert.get("name")


def _task_start(moment, event):
    return _moment(event.get("started")) or moment


def _services(record):
    services = record.get("services")
    return services if isinstance(services, dict) else {}


def _escalations(record):
    return [e for e in record.get("escalations") or [] if isinstance(e, dict)]


# ---------------------------------------------------------------- milestones


def _find_milestones(record, timed, opened=None):
    """The five milestones: key, name, moment (None: not reached), detail and the event used."""
    opened = opened or _opened(record, timed)
    found = {}
    starts, alert_name = _alert_start(record)
    if starts is not None:
        found["alert"] = (starts, "%s fired" % (alert_name or "the alert"), None)
    else:
        first = next(((m, e) for m, e in timed if e.get("type") == "alert"), None)
        first = first or next(((m, e) for m, e in timed if e.get("type") == "incident_opened"), None)
        if first:
            found["alert"] = (first[0], first[1].get("message") or "incident opened", first[1])
        else:
            found["alert"] = (opened, "incident opened", None)

    first = next(((m, e) for m, e in timed if e.get("type") in ("investigation_started", "diagnosis")), None)
    if first is None:
        # The first task that ran after the opening (the task that opened it started before).
        first = next(((m, e) for m, e in timed if e.get("type") == "task" and e.get("status") in RAN
                      and _task_start(m, e) >= opened), None)
        if first:
            found["investigation"] = (_task_start(*first), "task '%s'" % (first[1].get("task") or first[1].get("message")), first[1])
    else:
        found["investigation"] = (first[0], first[1].get("message") or first[1].get("type"), first[1])

    first = next(((m, e) for m, e in timed if e.get("type") == "root_cause_identified"), None)
    first = first or next(((m, e) for m, e in timed if e.get("type") == "record_updated" and _data(e).get("root_cause")), None)
    if first:
        detail = first[1].get("message") if first[1].get("type") == "root_cause_identified" else _data(first[1]).get("root_cause")
        found["root_cause"] = (first[0], detail, first[1])

    first = next(((m, e) for m, e in timed if e.get("type") == "fix_implemented"), None)
    if first:
        found["fix"] = (first[0], first[1].get("message"), first[1])

    # A reopening undoes an earlier restoration.
    reopenings = [m for m, e in timed if e.get("type") == "incident_reopened"]
    reopened = reopenings[-1] if reopenings else None
    first = next(((m, e) for m, e in timed if e.get("type") in ("service_restored", "incident_resolved")
                  and (reopened is None or m > reopened)), None)
    if first:
        found["restored"] = (first[0], first[1].get("message"), first[1])
    elif record.get("status") == "resolved" and _moment(record.get("resolved_at")) is not None:
        found["restored"] = (_moment(record.get("resolved_at")), "incident resolved", None)

    result = []
    for key, name in MILESTONES:
        moment, detail, event = found.get(key, (None, None, None))
        result.append({"key": key, "name": name, "moment": moment, "detail": _one_line(detail or ""), "event": event})
    return result


def _display_order(found):
    """Reached milestones by time (the template's order on ties), each unreached one after its predecessors."""
    index = dict((m["key"], i) for i, m in enumerate(found))
    ordered = sorted((m for m in found if m["moment"] is not None), key=lambda m: (m["moment"], index[m["key"]]))
    for milestone in (m for m in found if m["moment"] is None):
        position = 0
        for i, placed in enumerate(ordered):
            if index[placed["key"]] < index[milestone["key"]]:
                position = i + 1
        ordered.insert(position, milestone)
    return ordered


def milestones(record, events):
    """The template's five milestones as found: ``[{milestone, key, time, reached, detail}]``, in display order."""
    found = _display_order(_find_milestones(record or {}, _timed(events)))
    return [{"milestone": m["name"], "key": m["key"], "time": format_time(m["moment"]) if m["moment"] else None,
             "reached": m["moment"] is not None, "detail": m["detail"]} for m in found]


# ---------------------------------------------------------------- failure classes


class _Classes(object):
    """Failure classes found, with the services and workload kinds they were found on."""

    def __init__(self):
        self.found = {}

    def add(self, cls, service=None, kind=None):
        if cls not in CLASS_ORDER:
            return
        entry = self.found.setdefault(cls, {"services": set(), "kinds": set()})
        if isinstance(service, str) and service:
            entry["services"].add(service)
        if isinstance(kind, str) and kind:
            entry["kinds"].add(kind)

    def text(self, text, service=None):
        if not isinstance(text, str) or not text:
            return
        if _APPLICATION.search(text):
            self.add("application", service)
        text = _NEGATED.sub(" ", text)
        for cls, pattern in _CLASS_RES:
            if pattern.search(text):
                self.add(cls, service)

    def walk(self, value, depth=0):
        """Plans and verdicts in event data: ``classification`` and ``cause`` keys."""
        if depth > 10:
            return
        if isinstance(value, dict):
            service = value.get("workload") or value.get("service") or value.get("name")
            cls = value.get("classification")
            if isinstance(cls, str) and cls not in ("healthy", ""):
                self.add(cls, service, value.get("kind"))
            cause = value.get("cause")
            if isinstance(cause, str) and cause in CAUSE_CLASSES:
                self.add(CAUSE_CLASSES[cause], service, value.get("kind"))
            for item in value.values():
                self.walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self.walk(item, depth + 1)

    def ordered(self):
        return [(cls, self.found[cls]) for cls in CLASS_ORDER if cls in self.found]


def _collect_classes(record, timed):
    classes = _Classes()
    for name, entry in sorted(_services(record).items()):
        if isinstance(entry, dict):
            classes.text(entry.get("reason"), name)
    classes.text(record.get("root_cause"))
    for escalation in _escalations(record):
        classes.text(escalation.get("reason"))
    for moment, event in timed:
        if event.get("type") in ("root_cause_identified", "fix_implemented"):
            classes.walk(_data(event))
            if event.get("type") == "root_cause_identified":
                classes.text(event.get("message"))
    return classes


def failure_classes(record, events=()):
    """The failure classes found in the record and the timeline: ``{class: [services]}`` in CLASS_ORDER."""
    classes = _collect_classes(record or {}, _timed(events))
    return dict((cls, sorted(entry["services"])) for cls, entry in classes.ordered())


def _owner(policy, cls, kinds):
    """The team of a class: the StatefulSet owners when it was found on one, else the owners (default)."""
    if "StatefulSet" in kinds and cls in policy.get("statefulset_owners", {}):
        return policy["statefulset_owners"][cls]
    owners = policy.get("owners") or {}
    return owners.get(cls, owners.get("default", "development"))


def action_items(record, events, policy=None):
    """``[{measure, owner, class}]``: one per failure class found, then the process items."""
    policy = effective_policy(policy)
    record = record or {}
    timed = _timed(events)
    classes = _collect_classes(record, timed).ordered()
    default = (policy.get("owners") or {}).get("default", "development")
    items = []
    for cls, entry in classes:
        services = sorted(entry["services"])
        measure = MEASURES[cls] + (" (%s)" % ", ".join(services) if services else "")
        items.append({"measure": measure, "owner": _owner(policy, cls, entry["kinds"]), "class": cls})
    if not classes:
        items.append({"measure": MEASURES["unknown"] + " (the automation recorded no failure class)", "owner": default, "class": "unknown"})
    if record.get("status") != "resolved" or _escalations(record):
        who = ", ".join(e.get("to") for e in _escalations(record) if e.get("to"))
        items.append({"measure": "Review why the automation could not resolve the incident%s and automate the missing step where it is safe"
                                 % (" (escalated to %s)" % who if who else ""), "owner": default, "class": None})
    undelivered = sorted(set(str(_data(e).get("channel")) for m, e in timed
                             if e.get("type") == "communication" and _data(e).get("status") in UNDELIVERED))
    if undelivered:
        items.append({"measure": "Configure or repair the notification channels that did not deliver (%s)" % ", ".join(undelivered),
                      "owner": default, "class": None})
    # Always one process item: the runbook's "Process improvements".
    items.append({"measure": "Update the runbook and the automation with what this incident taught (process improvement)",
                  "owner": default, "class": None})
    return items


# ---------------------------------------------------------------- sections


def _summary(record, opened, policy):
    severity = record.get("severity") or "unknown"
    level = (policy.get("severities") or {}).get(severity) or {}
    resolved = _moment(record.get("resolved_at"))
    if record.get("status") != "resolved":
        duration = "ongoing (not resolved)"
    elif resolved is None:
        duration = "unknown (resolved, but no resolution time was recorded)"
    else:
        duration = format_duration((resolved - opened).total_seconds())
    services = ", ".join("%s (%s)" % (name, (entry or {}).get("status") if isinstance(entry, dict) else entry)
                         for name, entry in sorted(_services(record).items()))
    lines = [
        "## Summary",
        "- **Date**: %s" % opened.strftime("%Y-%m-%d"),
        "- **Duration**: %s" % duration,
        "- **Severity**: %s%s" % (severity, " (%s)" % level["name"] if level.get("name") else ""),
        "- **Impact**: %s" % _one_line(record.get("impact") or "not recorded"),
        "- **Incident**: %s%s" % (record.get("id") or "unknown", " (%s)" % record["channel"] if record.get("channel") else ""),
        "- **Status**: %s" % (record.get("status") or "unknown"),
    ]
    if services:
        lines.append("- **Services**: %s" % services)
    where = ", ".join(str(record[k]) for k in ("namespace", "cluster") if record.get(k))
    if where:
        lines.append("- **Where**: %s" % where)
    return lines


def _stopped(record, timed):
    """Where the automation stopped, for an incident without a resolution."""
    lines = [STOPPED_HEADING, ""]
    tasks = [(m, e) for m, e in timed if e.get("type") == "task"]
    if tasks:
        moment, task = tasks[-1]
        lines.append("The automation stopped after '%s' (%s) at %s; no resolution was recorded."
                     % (_one_line(task.get("task") or task.get("message"), 120), task.get("status") or "unknown", _stamp(moment)))
        where = ", ".join(x for x in ("play '%s'" % task["play"] if task.get("play") else "",
                                      "playbook %s" % task["playbook"] if task.get("playbook") else "",
                                      "host %s" % task["host"] if task.get("host") else "") if x)
        lines.append("")
        if where:
            lines.append("- The last task recorded ran in %s." % where)
        if task.get("status") in ("failed", "unreachable"):
            lines.append("- It %s: %s" % (task["status"], _one_line(_data(task).get("msg") or task.get("message") or "no message")))
        later = [(m, e) for m, e in timed if m > moment and e.get("type") != "task"]
        if later:
            last_moment, last = later[-1]
            lines.append("- %d event(s) were recorded after it, the last '%s' (%s) at %s: a later task started and never "
                         "finished (the run was interrupted, or is still running)."
                         % (len(later), _one_line(last.get("message"), 160), last.get("type"), _stamp(last_moment)))
    elif timed:
        moment, last = timed[-1]
        lines.append("No task of the automation was recorded on the timeline; the last event recorded is '%s' (%s) at %s; "
                     "no resolution was recorded." % (_one_line(last.get("message"), 160), last.get("type"), _stamp(moment)))
        lines.append("")
    else:
        lines.append("Nothing was recorded on the timeline; no resolution was recorded.")
        lines.append("")
    pending = ["%s (%s%s)" % (name, entry.get("status"), ": " + _one_line(entry["reason"], 160) if entry.get("reason") else "")
               for name, entry in sorted(_services(record).items()) if isinstance(entry, dict) and entry.get("status") != "restored"]
    if pending:
        lines.append("- Services not restored: %s." % "; ".join(pending))
    for escalation in _escalations(record):
        lines.append("- Escalated to %s%s." % (escalation.get("to"), ": " + _one_line(escalation["reason"], 160) if escalation.get("reason") else ""))
    lines.append("- Status: %s." % (record.get("status") or "unknown"))
    return lines


def _notification_group(group):
    by_status = {}
    for moment, event in group:
        data = _data(event)
        by_status.setdefault(data.get("status"), []).append(str(data.get("channel")))
    parts = []
    for status in sorted(by_status, key=lambda s: list(NOTIFY_STATUS_TEXT).index(s) if s in NOTIFY_STATUS_TEXT else 99):
        channels = by_status[status]
        counted = ", ".join("%s%s" % (c, " x%d" % channels.count(c) if channels.count(c) > 1 else "")
                            for c in sorted(set(channels), key=channels.index))
        parts.append("%d %s (%s)" % (len(channels), NOTIFY_STATUS_TEXT.get(status, str(status)), counted))
    return "Notifications (%d): %s" % (len(group), "; ".join(parts))


def _notable_line(event):
    kind = event.get("type")
    data = _data(event)
    if kind == "task":
        return "Task '%s' %s: %s" % (_one_line(event.get("task"), 120), event.get("status"), _one_line(data.get("msg") or event.get("message"), 160))
    if kind == "escalated" and data.get("reason"):
        return "%s: %s" % (event.get("message"), data.get("reason"))
    return event.get("message") or kind


def _notable(timed, used, day):
    """One line per notable event; the notifications of one stage share one line."""
    picked = []
    for moment, event in timed:
        if any(event is u for u in used):
            continue
        kind = event.get("type")
        if kind in NOTABLE_TYPES or (kind == "task" and event.get("status") in ("failed", "unreachable")):
            picked.append((moment, event))
    lines, group = [], []

    def flush():
        if group:
            lines.append("- %s - %s" % (_clock(group[0][0], day), _one_line(_notification_group(group))))
            del group[:]

    for moment, event in picked:
        data = _data(event)
        if event.get("type") == "communication" and data.get("channel") and data.get("status"):
            if group and (moment - group[0][0]).total_seconds() > NOTIFY_GROUP_SECONDS:
                flush()
            group.append((moment, event))
            continue
        flush()
        lines.append("- %s - %s" % (_clock(moment, day), _one_line(_notable_line(event))))
    flush()
    return lines


def _diagram(found, record, day):
    """The reached milestones as a Mermaid timeline; milestones at the same minute share a period."""
    reached = [m for m in found if m["moment"] is not None]
    title = "%s %s" % (record.get("id") or "incident", record.get("severity") or "")
    lines = ["```mermaid", "timeline", "    title %s" % mermaid_text(title.strip())]
    periods = []
    for milestone in reached:
        label = _clock(milestone["moment"], day) + " UTC"
        if periods and periods[-1][0] == label:
            periods[-1][1].append(milestone["name"])
        else:
            periods.append((label, [milestone["name"]]))
    for label, names in periods:
        lines.append("    %s : %s" % (mermaid_text(label), " : ".join(mermaid_text(n) for n in names)))
    lines.append("```")
    return lines


def _evidence(record, timed, classes):
    lines = []
    for name, entry in sorted(_services(record).items()):
        if isinstance(entry, dict):
            lines.append("- %s (%s): %s" % (name, entry.get("status") or "unknown", _one_line(entry.get("reason") or "no reason recorded")))
    for moment, event in timed:
        if event.get("type") == "root_cause_identified":
            lines.append("- Identified at %s: %s" % (_stamp(moment), _one_line(event.get("message"))))
    for escalation in _escalations(record):
        lines.append("- Escalated to %s: %s" % (escalation.get("to"), _one_line(escalation.get("reason") or "no reason recorded")))
    if classes:
        lines.append("- Failure classes found: %s" % ", ".join(
            "%s%s" % (cls, " (%s)" % ", ".join(sorted(entry["services"])) if entry["services"] else "") for cls, entry in classes))
    return lines


def _actions_taken(timed, day):
    lines = []
    for moment, event in timed:
        if event.get("type") != "fix_implemented":
            continue
        actions = [a for a in _data(event).get("actions") or [] if isinstance(a, dict)] if isinstance(_data(event).get("actions"), list) else []
        if actions:
            for action in actions:
                what = action.get("msg") or "%s %s" % (action.get("action"), action.get("service"))
                lines.append("- %s - %s (%s)" % (_clock(moment, day), _one_line(what), "ok" if action.get("ok", True) else "failed"))
        else:
            lines.append("- %s - %s" % (_clock(moment, day), _one_line(event.get("message") or "fix implemented")))
    return lines


def _artifact_names(artifacts):
    names = []
    for item in artifacts or ():
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            names.append(name.strip().lstrip("/"))
    return sorted(set(names))


def _check(done, text):
    return "- [%s] %s" % ("x" if done else " ", text)


def render(record, events, artifacts, now, policy=None):
    """The post-mortem of ``record`` as Markdown, in the runbook template's headings.

    ``events``: the timeline (any order; read_timeline(path, sort=True) gives it in time
    order); ``artifacts``: names relative to the incident's artifacts/ (strings or
    ``{name}``); ``now``: used only for a record that carries no time at all, never
    printed; ``policy``: the operator's incident_policy (None: the runbook's).
    """
    if not isinstance(record, dict):
        raise InvalidInput("record must be an incident record (a mapping), got %s" % type(record).__name__)
    policy = effective_policy(policy)
    timed = _timed(events)
    opened = _opened(record, timed, now)
    day = opened.date()
    found = _find_milestones(record, timed, opened)
    ordered = _display_order(found)
    classes = _collect_classes(record, timed).ordered()
    resolved = record.get("status") == "resolved"
    title = _one_line(record.get("title") or record.get("id") or "untitled incident", 200)

    out = ["# Post-Mortem: %s" % title, "",
           "<!-- Written by ai_orchestrator.incident_response.incident_postmortem from incident.json and timeline.jsonl. "
           "Edit freely: the module never overwrites an edited post-mortem, it writes a draft beside it. -->", ""]
    out += _summary(record, opened, policy) + [""]
    if not resolved:
        out += _stopped(record, timed) + [""]

    out += ["## Timeline", "All times UTC.", ""]
    for milestone in ordered:
        if milestone["moment"] is None:
            out.append("- --:-- - %s: %s" % (milestone["name"], NOT_REACHED))
        else:
            detail = (": " + milestone["detail"]) if milestone["detail"] else ""
            out.append("- %s - %s%s" % (_clock(milestone["moment"], day), milestone["name"], detail))
    out += [""] + _diagram(ordered, record, day) + ["", NOTABLE_HEADING, ""]
    notable = _notable(timed, [m["event"] for m in found if m["event"] is not None], day)
    out += (notable or ["No other notable events were recorded."]) + [""]

    out += ["## Root Cause", ""]
    if record.get("root_cause"):
        out.append(_paragraph(record["root_cause"]))
    else:
        out.append("_Not recorded yet: neither the automation nor a person recorded a root cause. Complete it from the evidence._")
    evidence = _evidence(record, timed, classes)
    if evidence:
        out += ["", "Evidence recorded by the automation:", ""] + evidence
    out.append("")

    out += ["## Resolution", ""]
    if record.get("resolution"):
        out.append(_paragraph(record["resolution"]))
    elif resolved:
        out.append("_Resolved, but no resolution was recorded. Describe the steps taken._")
    else:
        out.append("_No resolution was recorded: the incident is %s._" % (record.get("status") or "open"))
    taken = _actions_taken(timed, day)
    out += ["", "Actions taken:", ""] + (taken or ["- No fix was recorded on the timeline."])
    outcomes = ["- %s: %s%s" % (name, entry.get("status"), " (%s)" % _one_line(entry["reason"], 160) if entry.get("reason") else "")
                for name, entry in sorted(_services(record).items()) if isinstance(entry, dict)]
    if outcomes:
        out += ["", "Service outcomes:", ""] + outcomes
    out.append("")

    out += ["## Action Items", ""]
    for number, item in enumerate(action_items(record, events, policy), start=1):
        out.append("%d. [ ] %s (Owner: %s, Due: %s)" % (number, item["measure"], item["owner"], DUE_PLACEHOLDER))
    out += ["", "_Suggested from the failure classes found; the owners are the policy's teams. Name a person and a due date for "
                "each, and remove what does not apply._", ""]

    out += ["## Lessons Learned", "",
            "_For the team review: what we learned and how we can improve._", "",
            "- What went well:", "- What went wrong:", "- Where we got lucky:", ""]

    names = _artifact_names(artifacts)
    out += [ARTIFACTS_HEADING, ""]
    out += ["- [%s](artifacts/%s)" % (name, urllib.parse.quote(name)) for name in names] or ["No artifacts were collected."]
    out.append("")

    reached = dict((m["key"], m["moment"] is not None) for m in found)
    has_root_cause = bool(record.get("root_cause")) or reached["root_cause"]
    out += [FOLLOW_UP_HEADING, "", "### Within 24 hours", "",
            _check(bool(timed), "**Document timeline**: Record all actions taken%s" % (" (the timeline above)" if timed else "")),
            _check(bool(names), "**Collect artifacts**: Logs, metrics, traces%s" % (" (%d files)" % len(names) if names else "")),
            _check(has_root_cause, "**Initial root cause analysis**: Preliminary findings"),
            _check(reached["fix"], "**Implement immediate fixes**: Prevent recurrence%s"
                   % (" (the automation's fix; prevention is in the action items)" if reached["fix"] else "")),
            "", "### Within 1 week", "",
            _check(False, "**Detailed post-mortem**: Root cause analysis (complete this draft)"),
            _check(False, "**Action items**: Prevention and improvement measures (owners and due dates above)"),
            _check(False, "**Process improvements**: Update runbooks and procedures"),
            _check(False, "**Team review**: Share learnings with the team"), ""]
    return "\n".join(out)


# ---------------------------------------------------------------- the customers' summary


def external_summary(record, prevention=None):
    """``{subject, body}``: the post-incident summary for customers and the status page.

    Plain words: the affected services, when, for how long, what kind of fault, and the
    prevention (``prevention``, else a general promise). No internal names, no root cause text.
    """
    record = record or {}
    timed = []
    opened = _opened(record, timed)
    starts, _name = _alert_start(record)
    start = starts if starts is not None and starts < opened else opened
    resolved_at = _moment(record.get("resolved_at"))
    resolved = record.get("status") == "resolved"
    services = sorted(_services(record)) or ([record["service"]] if record.get("service") else [])
    affected = ": %s" % ", ".join(services) if services else ""
    causes = []
    for cls, entry in _collect_classes(record, timed).ordered():
        if PLAIN_CAUSES[cls] not in causes:
            causes.append(PLAIN_CAUSES[cls])
    prevention = _one_line(prevention, 2000) if prevention else (
        "We are reviewing the incident in detail and will take measures so that it does not happen again.")
    lines = ["Hello,", ""]
    if resolved:
        subject = "[AI Orchestrator] Resolved: service disruption on %s" % start.strftime("%Y-%m-%d")
        when = "On %s from %s to %s (UTC)" % (start.strftime("%Y-%m-%d"), start.strftime("%H:%M"),
                                              resolved_at.strftime("%H:%M") if resolved_at else "a time we are confirming")
        lines.append("%s part of the AI Orchestrator platform was unavailable or degraded%s." % (when, affected))
        if resolved_at is not None:
            lines.append("The disruption lasted %s." % format_duration((resolved_at - start).total_seconds()))
    else:
        subject = "[AI Orchestrator] Update: service disruption since %s UTC" % start.strftime("%Y-%m-%d %H:%M")
        lines.append("Since %s (UTC) part of the AI Orchestrator platform is unavailable or degraded%s."
                     % (start.strftime("%Y-%m-%d %H:%M"), affected))
    if record.get("impact"):
        lines.append("What you may have noticed: %s." % _one_line(record["impact"], 500).rstrip("."))
    lines.append("")
    if causes:
        lines.append("What happened: %s." % "; ".join(causes))
    else:
        lines.append("What happened: we are still analysing the cause.")
    if resolved:
        lines.append("Our engineers restored the service%s." % (
            " and it has been working normally since %s (UTC)" % resolved_at.strftime("%Y-%m-%d %H:%M") if resolved_at else ""))
    else:
        lines.append("Our engineers are working on it. We will write again when the service is restored.")
    lines += ["", "What we are doing to prevent it: %s" % prevention.rstrip(".") + ".", "",
              "We apologize for the inconvenience.", "", "Reference: %s" % (record.get("id") or "unknown"), ""]
    return {"subject": subject, "body": "\n".join(lines)}
