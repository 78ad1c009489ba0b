# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Who is told what, when: the runbook's communication and paging rules as messages.

Pure functions: nothing here sends or writes. ``plan_messages()`` turns the incident
record, a stage of the incident and the severity table of the policy (severity.py:
``page``, ``assign``, ``incident_channel``, ``email_oncall``, ``support_queue``,
``statuspage``, ``customer_email``) into messages, each with a stable ``key``. The key is
what makes a message go out once: the outbox (outbox.py) sends a key at most once, so a
rerun plans the same messages and sends only what is new (a severity raised, another
team escalated to).

Stages: ``opened`` (every run that opens or joins the incident, before remediation: the
pages, the incident channel and its initial status, the on-call mail, the status page and
customer notice), ``escalated`` (the owners of what automation could not fix),
``update`` (a status update) and ``resolved`` (the resolution notices; one place sends them).

Each message has a ``gate``: ``send``, ``draft`` (the status page and the customer mail
without an explicit enable, or when nobody configured who the customers are: kept in the
record for a person to approve) or ``defer`` (business-hours support outside business
hours, with ``not_before``).
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import pagerduty

STAGES = ("opened", "escalated", "update", "resolved", "postincident")
CHANNELS = ("pagerduty", "slack", "email", "statuspage")

# PagerDuty Events API v2 severities (pagerduty.py): the service's urgency rules turn critical and
# error into a page, warning and info into a low-urgency assignment (PagerDuty's defaults).
PD_SEVERITY = pagerduty.PD_SEVERITY
# The affected components on the status page while the incident is open, by severity.
COMPONENT_STATUS = {"P0": "major_outage", "P1": "partial_outage", "P2": "degraded_performance", "P3": "degraded_performance"}
# Statuspage's impact shown on the incident.
STATUSPAGE_IMPACT = {"P0": "critical", "P1": "major", "P2": "minor", "P3": "none"}
# The runbook's Slack contact channel, without the '#'.
RESPONSE_CHANNEL = "incident-response"
# Scenario service keys carry a prefix (errors:api-gateway); the component is the workload.
_SERVICE_PREFIX = re.compile(r"^[a-z]+:")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def slug(text):
    """A key part from a name: lowercase, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "none"


def marker(incident_id, key):
    """The reference a message carries, so a rerun can find it (Slack history, Statuspage list)."""
    return "ref %s/%s" % (incident_id, key)


def channel_marker(incident_id):
    """What the incident channel's purpose says: reuse a taken name only when it names this incident."""
    return "ai-orchestrator incident %s" % incident_id


# --- business hours ---------------------------------------------------------------


def _zone(name):
    import zoneinfo  # Python 3.9+; the control node runs this
    return zoneinfo.ZoneInfo(name)


def next_business_time(now, hours):
    """``now`` if business hours are on at ``now``, else the start of the next opening (UTC)."""
    zone = _zone(hours["timezone"])
    local = to_utc(now).astimezone(zone)
    start_h, start_m = (int(p) for p in hours["start"].split(":"))
    end_h, end_m = (int(p) for p in hours["end"].split(":"))
    days = set(hours["days"])
    for offset in range(8):
        day = (local + datetime.timedelta(days=offset)).date()
        if _DAYS[day.weekday()] not in days:
            continue
        opens = datetime.datetime(day.year, day.month, day.day, start_h, start_m, tzinfo=zone)
        closes = (datetime.datetime(day.year, day.month, day.day, tzinfo=zone)
                  + datetime.timedelta(hours=end_h, minutes=end_m))
        if offset == 0 and opens <= local < closes:
            return to_utc(now)
        if local < opens:
            return opens.astimezone(datetime.timezone.utc)
    raise InvalidInput("business_hours: no opening within a week (days %s)" % ", ".join(hours["days"]))


# --- customers ----------------------------------------------------------------------


def component_of(service):
    return _SERVICE_PREFIX.sub("", str(service))


def affected_services(record):
    """The workloads the incident is about: its services' names without scenario prefixes, else its service."""
    names = [component_of(s) for s in sorted((record.get("services") or {}))]
    if not names and record.get("service"):
        names = [record["service"]]
    return sorted(set(names))


def customers_affected(customers, services):
    """The configured customers an incident touches, and whether several are ("multiple customers").

    ``customers``: ``{list: [{name, email, services: [...] or ['*']}], multiple_min: 2}``. Without
    a list nobody can tell: ``judged`` is false and a person decides (the notices are drafted).
    """
    customers = customers or {}
    listed = customers.get("list") or []
    minimum = customers.get("multiple_min") or 2
    if not listed:
        return {"judged": False, "affected": [], "multiple": None,
                "why": "no customer list configured (incident_notify.customers): a person judges who is affected"}
    touched = set(services)
    affected = []
    for entry in listed:
        theirs = entry.get("services") or ["*"]
        if "*" in theirs or touched & set(theirs):
            affected.append({"name": entry.get("name") or entry.get("email"), "email": entry.get("email")})
    multiple = len(affected) >= minimum
    return {"judged": True, "affected": affected, "multiple": multiple,
            "why": "%d of %d customers use %s (multiple: %d or more)" % (
                len(affected), len(listed), ", ".join(services) or "the platform", minimum)}


# --- texts ----------------------------------------------------------------------------


def _services_line(record):
    services = record.get("services") or {}
    if not services:
        return record.get("service") or record.get("namespace") or "not yet known"
    return ", ".join("%s (%s)" % (name, (entry or {}).get("status", "?")) for name, entry in sorted(services.items()))


def eta_text(eta_minutes, now):
    if eta_minutes is None or eta_minutes < 0:
        return "unknown"
    when = to_utc(now) + datetime.timedelta(minutes=eta_minutes)
    return "about %d min (by %s, the remediation plan's wait budget)" % (eta_minutes, when.strftime("%H:%M UTC"))


def _header(record, level):
    return "[%s %s] %s" % (record["severity"], level["name"], record.get("title") or record["id"])


def _policy_line(level):
    updates = ("every %d min" % level["update_interval_minutes"]) if level.get("update_interval_minutes") else "as needed"
    return "Respond within %d min; %s; updates %s." % (level["response_time_minutes"], level["escalation"], updates)


def initial_text(record, level, eta_minutes, now, paged):
    lines = [
        _header(record, level),
        "Incident %s, opened %s, status %s." % (record["id"], record.get("opened_at"), record.get("status")),
        "Severity: %s %s (%s)." % (record["severity"], level["name"], level["summary"]),
        "Impact: %s" % (record.get("impact") or "being assessed"),
        "Affected: %s" % _services_line(record),
        "ETA: %s" % eta_text(eta_minutes, now),
        _policy_line(level),
    ]
    if paged:
        lines.append("Paged: %s." % ", ".join(paged))
    return "\n".join(lines)


def escalation_text(record, team, reason, workflow_owners):
    lines = ["%s escalated to the %s owners." % (record["id"], team), "Why: %s" % (reason or "not given")]
    if workflow_owners:
        lines.append("Workflow owners: %s" % ", ".join(
            "%s (%s)" % (w.get("name") or w.get("id"), w.get("owner") or "unknown owner") for w in workflow_owners))
    lines.append("Affected: %s" % _services_line(record))
    return "\n".join(lines)


def resolution_text(record, prevention):
    return "\n".join([
        "RESOLVED %s: %s" % (record["id"], record.get("title") or ""),
        "Duration: %s to %s." % (record.get("opened_at"), record.get("resolved_at") or "now"),
        "Root cause: %s" % (record.get("root_cause") or "not identified by automation"),
        "Resolution: %s" % (record.get("resolution") or "services healthy again"),
        "Prevention: %s" % (prevention or "to be agreed in the post-mortem"),
    ])


def _channel(record):
    """The incident channel's Slack name (Slack names have no '#')."""
    return (record.get("channel") or record["id"]).lstrip("#").lower()


def _with_marker(text, incident_id, key):
    return "%s\n%s" % (text, marker(incident_id, key))


# --- the plan -----------------------------------------------------------------------


def _message(key, channel, action, target, summary, content, gate="send", why="", not_before=None):
    return {"key": key, "channel": channel, "action": action, "target": target, "summary": summary,
            "content": content, "gate": gate, "why": why, "not_before": not_before}


def _mail(key, to, subject, body, why, kind, gate="send", not_before=None):
    return _message(key, "email", "send", ", ".join(to) if to else "(no address configured)",
                    subject, {"to": list(to), "subject": subject, "body": body, "kind": kind}, gate, why, not_before)


def _customer_gate(level_flag, enabled, judgement, what):
    """(gate, why) for the status page or the customer mail; None when it is not for this incident."""
    if not level_flag:
        return None
    if judgement["multiple"] is False:
        return None
    if not judgement["judged"]:
        return "draft", "%s drafted: %s" % (what, judgement["why"])
    if not enabled:
        return "draft", "%s drafted for approval (%s; enable it to send at once)" % (what, judgement["why"])
    return "send", judgement["why"]


def _pd(record, target, mode, summary, details, action="trigger"):
    """A PagerDuty event to the routing key of ``target`` (an escalation step or a team).

    Pages and assignments use two dedup keys, so a P2 assignment raised to a P1 still pages."""
    dedup = "%s%s" % (record["id"], "" if mode == "page" else "-" + mode)
    key = "pagerduty:%s:%s:%s" % (action, mode, slug(target))
    payload = None
    if action == "trigger":
        payload = {"summary": summary[:1024], "source": record.get("cluster") or record.get("namespace") or "ai-orchestrator",
                   "severity": PD_SEVERITY[record["severity"]], "component": record.get("service") or None,
                   "group": record.get("namespace"), "class": (record.get("alert") or {}).get("name"),
                   "custom_details": details}
        payload = dict((k, v) for k, v in payload.items() if v not in (None, ""))
    return _message(key, "pagerduty", action, "PagerDuty %s" % target, summary,
                    {"target": target, "mode": mode, "dedup_key": dedup, "payload": payload},
                    why="%s %s" % (mode, target))


def plan_messages(record, stage, policy, settings=None, now=None, eta_minutes=None, escalation=None,
                  update=None, prevention=None, outbox=None, customer_notice=None):
    """The messages of ``stage`` for the incident, in send order (the page first).

    ``policy``: the effective policy (severity.effective_policy). ``settings``: the notifier's
    non-secret settings (statuspage.enabled, customers, email recipients, statuspage components).
    ``escalation``: ``{teams: [...], reason, workflow_owners: [{name, owner}]}``. ``update``:
    ``{tag, text}``. ``outbox``: what was sent before (the resolution resolves what was opened).
    ``customer_notice``: ``{opened: {subject, body}, resolved: {subject, body}}`` from the template.
    """
    if stage not in STAGES:
        raise InvalidInput("stage must be one of %s, got %r" % (", ".join(STAGES), stage))
    settings = settings or {}
    now = now if now is not None else utc_now()
    outbox = outbox or {}
    incident_id = record["id"]
    level = policy["severities"][record["severity"]]
    email = settings.get("email") or {}
    statuspage = settings.get("statuspage") or {}
    customers_cfg = settings.get("customers") or {}
    services = affected_services(record)
    judgement = customers_affected(customers_cfg, services)
    sev = record["severity"]
    title = record.get("title") or incident_id
    messages = []
    post_to = "@incident" if level["incident_channel"] else RESPONSE_CHANNEL

    def post(key, text, why, target=None, gate="send", not_before=None):
        where = target or post_to
        shown = "#" + _channel(record) if where == "@incident" else "#" + where
        messages.append(_message(key, "slack", "post", shown, text.splitlines()[0],
                                 {"channel": where, "text": _with_marker(text, incident_id, key)}, gate, why, not_before))

    if stage == "opened" and record.get("status") == "resolved":
        return []  # a late run of a resolved incident (an alert's resolution) tells nobody it opened
    if stage == "opened":
        paged = list(level["page"])
        details = {"incident_id": incident_id, "impact": record.get("impact"), "services": _services_line(record),
                   "channel": "#" + _channel(record), "escalation": level["escalation"]}
        summary = "[%s] %s: %s" % (sev, title, record.get("impact") or level["summary"])
        for step in paged:
            messages.append(_pd(record, step, "page", summary, details))
        if level.get("assign"):
            messages.append(_pd(record, level["assign"], "assign", summary, details))
        who = ["%s (paged)" % s for s in paged] + (["%s (assigned)" % level["assign"]] if level.get("assign") else [])
        text = initial_text(record, level, eta_minutes, now, who)
        if level["incident_channel"]:
            name = _channel(record)
            messages.append(_message("slack:channel", "slack", "open_channel", "#" + name, "Create #%s" % name,
                                     {"name": name, "marker": channel_marker(incident_id)}, why="incident channel (%s)" % sev))
            post("slack:initial:%s" % sev, text, "initial status (%s)" % sev)
            if eta_minutes is not None and eta_minutes >= 0:
                messages[-1]["content"]["eta_at"] = format_time(to_utc(now) + datetime.timedelta(minutes=eta_minutes))
            announce = "%s %s opened: %s. Join #%s for updates." % (sev, incident_id, title, name)
            post("slack:announce:%s" % sev, announce, "announce in #%s" % RESPONSE_CHANNEL, target=RESPONSE_CHANNEL)
        if level["email_oncall"]:
            messages.append(_mail("email:oncall:opened:%s" % sev, email.get("oncall_to") or [], _header(record, level),
                                  text, "on-call mail (%s)" % sev, "oncall"))
        if level["support_queue"]:
            due = next_business_time(now, policy["business_hours"])
            gate = "send" if due <= to_utc(now) else "defer"
            not_before = format_time(due) if gate == "defer" else None
            why = "business-hours support (%s %s-%s %s)" % (
                ",".join(policy["business_hours"]["days"]), policy["business_hours"]["start"],
                policy["business_hours"]["end"], policy["business_hours"]["timezone"])
            messages.append(_mail("email:support:opened", email.get("support_to") or [], _header(record, level), text,
                                  why, "support", gate, not_before))
            post("slack:support:opened", text, why, target=RESPONSE_CHANNEL, gate=gate, not_before=not_before)
        gated = _customer_gate(level["statuspage"], statuspage.get("enabled"), judgement, "status page")
        if gated:
            components = dict((s, COMPONENT_STATUS[sev]) for s in services)
            body = "We are investigating %s. %s" % (
                "degraded service" if sev in ("P2", "P3") else "an outage", record.get("impact") or "")
            messages.append(_message("statuspage:create", "statuspage", "create", "status page", "Status page: %s" % title,
                                     {"name": "%s: %s" % (level["summary"], ", ".join(services) or "AI Orchestrator"),
                                      "status": "investigating", "impact": STATUSPAGE_IMPACT[sev], "body": body.strip(),
                                      "components": components}, gated[0], gated[1]))
        gated = _customer_gate(level["customer_email"], customers_cfg.get("email_enabled"), judgement, "customer mail")
        if gated:
            notice = (customer_notice or {}).get("opened") or {}
            for customer in judgement["affected"] or [{"name": "(recipients to be chosen)", "email": None}]:
                to = [customer["email"]] if customer.get("email") else []
                messages.append(_mail("email:customer:opened:%s" % slug(customer.get("email") or "unlisted"), to,
                                      notice.get("subject") or "Service incident: %s" % level["summary"],
                                      notice.get("body") or "We are investigating an incident affecting our service.",
                                      gated[1], "customer", gated[0]))
    elif stage == "escalated":
        escalation = escalation or {}
        teams = escalation.get("teams") or []
        owners = escalation.get("workflow_owners") or []
        keys = settings.get("pagerduty_targets") or ()
        for team in teams:
            text = escalation_text(record, team, escalation.get("reason"), owners)
            summary = "[%s] %s escalated to the %s owners" % (sev, title, team)
            if team in keys:
                details = {"incident_id": incident_id, "reason": escalation.get("reason")}
                messages.append(_pd(record, team, "escalation", summary, details))
            post("slack:escalated:%s" % slug(team), text, "escalated to %s" % team)
            messages.append(_mail("email:team:%s" % slug(team), (email.get("team_to") or {}).get(team) or [],
                                  summary, text, "owners of %s" % team, "team"))
        for owner in sorted(set(w.get("owner") for w in owners if _EMAIL.match(str(w.get("owner") or "")))):
            mine = [w for w in owners if w.get("owner") == owner]
            messages.append(_mail("email:workflow-owner:%s" % slug(owner), [owner],
                                  "[%s] %s: your workflow fails" % (sev, incident_id),
                                  escalation_text(record, "workflow", escalation.get("reason"), mine),
                                  "workflow owner", "workflow_owner"))
        if "statuspage:create" in outbox:
            messages.append(_statuspage_follow_up(record, outbox, "statuspage:update:escalated", "identified",
                                                  "The issue has been identified and our engineers are working on it.",
                                                  dict((s, COMPONENT_STATUS[sev]) for s in services)))
    elif stage == "update":
        update = update or {}
        if not update.get("tag") or not update.get("text"):
            raise InvalidInput("update needs a tag (what makes it unique, e.g. 2026-11-28T09:30) and a text")
        post("slack:update:%s" % slug(update["tag"]), update["text"], "status update")
    elif stage == "postincident":
        # Runbook "Post-incident communication: summary and prevention measures": always a draft for a person.
        notice = (customer_notice or {}).get("postincident") or {}
        if not notice.get("body"):
            raise InvalidInput("the post-incident summary needs a text (customer_notice.postincident)")
        if "statuspage:create" in outbox:
            message = _statuspage_follow_up(record, outbox, "statuspage:postincident", "resolved", notice["body"], {})
            message.update(gate="draft", why="post-incident summary for the status page (approve to publish)")
            messages.append(message)
        told = [e for k, e in sorted(outbox.items()) if k.startswith("email:customer:opened:") and e["content"].get("to")]
        recipients = [e["content"]["to"] for e in told] or [[c["email"]] for c in judgement["affected"] if c.get("email")]
        for to in recipients or [[]]:
            messages.append(_mail("email:customer:postincident:%s" % slug(to[0] if to else "unlisted"), to,
                                  notice.get("subject") or "Post-incident summary", notice["body"],
                                  "post-incident summary for customers (approve to send)", "customer", "draft"))
    else:  # resolved
        for key, entry in sorted(outbox.items()):
            if key.startswith("pagerduty:trigger:") and entry.get("status") in ("sent", "intended", "failed", "maybe_sent"):
                content = entry["content"]
                messages.append(_message("pagerduty:resolve:%s" % key.split(":", 2)[2], "pagerduty", "resolve", entry["target"],
                                         "Resolve %s" % entry["target"],
                                         {"target": content["target"], "mode": content["mode"], "dedup_key": content["dedup_key"],
                                          "payload": None}, why="resolve what was triggered"))
        text = resolution_text(record, prevention)
        if level["incident_channel"] or any(k.startswith("slack:channel") for k in outbox):
            post("slack:resolution", text, "resolution notice", target="@incident" if "slack:channel" in outbox else None)
        if any(k.startswith("slack:announce") for k in outbox) or not level["incident_channel"]:
            post("slack:resolution:%s" % RESPONSE_CHANNEL, "RESOLVED %s: %s" % (incident_id, title),
                 "resolution in #%s" % RESPONSE_CHANNEL, target=RESPONSE_CHANNEL)
        if any(k.startswith("email:oncall:") for k in outbox):
            messages.append(_mail("email:oncall:resolved", email.get("oncall_to") or [], "[RESOLVED] %s" % title, text,
                                  "resolution to on-call", "oncall"))
        if "statuspage:create" in outbox:
            messages.append(_statuspage_follow_up(record, outbox, "statuspage:resolve", "resolved",
                                                  "This incident has been resolved.", dict((s, "operational") for s in services)))
        notice = (customer_notice or {}).get("resolved") or {}
        for key, entry in sorted(outbox.items()):
            if key.startswith("email:customer:opened:") and entry.get("status") not in ("not_sent", "skipped"):
                messages.append(_mail("email:customer:resolved:%s" % key.rsplit(":", 1)[1], entry["content"]["to"],
                                      notice.get("subject") or "Resolved: service incident",
                                      notice.get("body") or "The incident has been resolved.",
                                      "customer resolution (as the opening notice)", "customer",
                                      "draft" if entry.get("status") == "drafted" else "send"))
    return messages


def _statuspage_follow_up(record, outbox, key, status, body, components):
    """An update or the resolution of the status page incident; drafted when its creation still is."""
    created = outbox["statuspage:create"]
    gate = "draft" if created.get("status") == "drafted" else "send"
    return _message(key, "statuspage", "update", "status page", "Status page: %s" % status,
                    {"status": status, "body": body, "components": components}, gate,
                    "status page %s (as its creation)" % status)


# --- the escalation timeline (escalation_check.yml) ---------------------------------------------


def eta_of(outbox):
    """The ETA the initial status gave (ISO time), or None."""
    for key in sorted(outbox or {}):
        if key.startswith("slack:initial:") and (outbox[key].get("content") or {}).get("eta_at"):
            return outbox[key]["content"]["eta_at"]
    return None


def next_step(record):
    status = record.get("status")
    escalations = record.get("escalations") or []
    if status == "escalated" and escalations:
        return "with the %s (escalated %s)" % (escalations[-1].get("to"), escalations[-1].get("at"))
    if status == "mitigated":
        return "verifying that the mitigation holds"
    if status in ("investigating", "identified"):
        return "automation is remediating; the next run verifies"
    return "investigation by the on-call engineer"


def update_text(record, decision, diagnosis, actions, now, outbox):
    """A status update: current status from a fresh diagnosis, actions since the last update, next step, ETA."""
    eta = eta_of(outbox)
    if eta and to_utc(eta) > to_utc(now):
        eta_line = "ETA: %s (the plan's wait budget)" % eta
    elif eta:
        eta_line = "ETA: overdue since %s; none given now" % eta
    else:
        eta_line = "ETA: unknown"
    lines = ["Update on %s (%s, %s): status %s." % (record["id"], record["severity"], decision["due_at"], record.get("status")),
             "Now: %s" % (diagnosis or "no fresh diagnosis (the cluster was not read)"),
             "Since the last update: %s" % ("; ".join(actions) if actions else "no new action recorded"),
             "Next step: %s" % next_step(record),
             eta_line]
    return "\n".join(lines)


def decision_messages(record, decision, policy, settings=None, now=None, diagnosis=None, actions=None, outbox=None):
    """The messages of one escalation_check decision (plan.py's keys, gates and markers; ``open_only``:
    dropped when the incident is resolved by the time it would be sent)."""
    settings = settings or {}
    now = now if now is not None else utc_now()
    level = policy["severities"][record["severity"]]
    mode = policy.get("escalation_mode") or "pagerduty"
    email = settings.get("email") or {}
    incident_id = record["id"]
    where = "@incident" if level["incident_channel"] else RESPONSE_CHANNEL
    shown = "#" + (_channel(record) if where == "@incident" else RESPONSE_CHANNEL)
    gate, not_before = "send", None
    if level.get("business_hours_only"):
        due = next_business_time(now, policy["business_hours"])
        if due > to_utc(now):
            gate, not_before = "defer", format_time(due)
    messages = []
    base = decision["key"]

    def post(text, why):
        key = "slack:%s" % base
        messages.append(_message(key, "slack", "post", shown, text.splitlines()[0],
                                 {"channel": where, "text": _with_marker(text, incident_id, key)}, gate, why, not_before))

    if decision["kind"] == "update":
        post(update_text(record, decision, diagnosis, actions or [], now, outbox or {}), decision["reason"])
    elif decision["kind"] == "deadlines":
        post("%s: %s" % (incident_id, decision["reason"]), "deadlines moved")
    else:
        step = decision["step"]
        summary = "[%s] %s: %s" % (record["severity"], record.get("title") or incident_id, decision["reason"])
        if mode == "collection":
            message = _pd(record, step, "chain", summary, {"incident_id": incident_id, "reason": decision["reason"]})
            message["key"] = "pagerduty:trigger:chain:%s" % slug(step)
            messages.append(message)
            how = "paged through PagerDuty"
        else:
            how = "PagerDuty's escalation policy pages them (escalation_mode pagerduty)"
        post("%s: %s; %s." % (incident_id, decision["reason"], how), decision["reason"])
        messages.append(_mail("email:%s" % base, (email.get("chain_to") or {}).get(step) or [], summary,
                              "%s\n\n%s\nAffected: %s" % (summary, how, _services_line(record)), "escalation to %s" % step, "chain",
                              gate, not_before))
    for message in messages:
        message["open_only"] = True
    return messages
