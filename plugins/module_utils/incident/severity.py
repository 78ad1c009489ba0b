# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runbook's incident policy as data: severities, signals, major services, owners.

Source: incident-response runbook, sections "Incident Classification",
"Escalation Procedures" and "Communication Procedures". Everything that decides
how severe an incident is, who is paged, when, and how often updates go out reads
one structure, ``DEFAULT_POLICY``. An operator changes it with the Ansible variable
``incident_policy``, deep-merged over the defaults by ``effective_policy()``; a new
signal (a later scenario's finding or alert) is one line in ``DEFAULT_POLICY``.

Severity is decided in two steps, each one pure function:

- ``derive_severity()``: what the observed state and signals say (P0..P3, the rule, the reason);
- ``resolve_severity()``: the precedence of that against the operator's ``-e severity``,
  the alert's severity and the severity of the incident being continued.
"""

from __future__ import annotations

import copy

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput, SeverityError

SEVERITIES = ("P0", "P1", "P2", "P3")

ESCALATION_CHAIN = (
    "Primary on-call",
    "Secondary on-call",
    "Team lead",
    "Engineering manager",
    "CTO",
)

CONTACTS = {
    "slack": "#incident-response",
    "pagerduty": "ai-orchestrator-oncall",
    "email": "oncall@ai-orchestrator.com",
}

STATUS_PAGE = "status.ai-orchestrator.com"

_POLICY = {
    "P0": {
        "severity": "P0",
        "name": "Critical",
        "summary": "Complete Service Outage",
        "definition": "Complete platform unavailability or data loss",
        "examples": ["All services down", "Database corruption", "Security breach"],
        "response_time_minutes": 5,
        "escalation": "Immediate to on-call engineer and management",
        # 0: management is paged together with the on-call engineer.
        "escalate_after_minutes": 0,
        # "management": the first management step of the chain.
        "escalate_to": "Engineering manager",
        "business_hours_only": False,
        "update_interval_minutes": 30,
        "customer_email": True,
        "statuspage": True,
        # Notifications (runbook "Escalation Procedures" and "Communication Procedures"):
        # page = chain steps paged at once (PagerDuty, high urgency), assign = the step an
        # incident is assigned to without a page, incident_channel = the Slack incident channel
        # with initial status, updates and resolution, email_oncall = mail to the on-call
        # address, support_queue = the business-hours support queue (mail and #incident-response).
        "page": ["Primary on-call", "Engineering manager"],
        "assign": None,
        "incident_channel": True,
        "email_oncall": True,
        "support_queue": False,
    },
    "P1": {
        "severity": "P1",
        "name": "High",
        "summary": "Major Feature Unavailable",
        "definition": "Major functionality unavailable affecting multiple users",
        "examples": [
            "Workflow execution failures",
            "Authentication service down",
            "API gateway failures",
        ],
        "response_time_minutes": 15,
        "escalation": "On-call engineer, escalate to team lead if not resolved in 1 hour",
        "escalate_after_minutes": 60,
        "escalate_to": "Team lead",
        "business_hours_only": False,
        "update_interval_minutes": 30,
        "customer_email": True,
        "statuspage": True,
        "page": ["Primary on-call"],
        "assign": None,
        "incident_channel": True,
        "email_oncall": True,
        "support_queue": False,
    },
    "P2": {
        "severity": "P2",
        "name": "Medium",
        "summary": "Degraded Performance",
        "definition": "Performance degradation or minor feature issues",
        "examples": [
            "Slow response times",
            "Intermittent failures",
            "Non-critical service degradation",
        ],
        "response_time_minutes": 60,
        "escalation": "Assigned to on-call engineer, escalate if not resolved in 4 hours",
        "escalate_after_minutes": 240,
        "escalate_to": "Team lead",
        "business_hours_only": False,
        "update_interval_minutes": 60,
        "customer_email": False,
        "statuspage": False,
        "page": [],
        "assign": "Primary on-call",
        "incident_channel": True,
        "email_oncall": False,
        "support_queue": False,
    },
    "P3": {
        "severity": "P3",
        "name": "Low",
        "summary": "Minor Issues",
        "definition": "Minor issues with workarounds available",
        "examples": ["UI glitches", "Documentation issues", "Non-critical monitoring alerts"],
        "response_time_minutes": 240,
        "escalation": "Standard business hours support",
        # No timer: escalated during business hours if needed.
        "escalate_after_minutes": None,
        "escalate_to": None,
        "business_hours_only": True,
        "update_interval_minutes": None,
        "customer_email": False,
        "statuspage": False,
        "page": [],
        "assign": None,
        "incident_channel": False,
        "email_oncall": False,
        "support_queue": True,
    },
}


# Workloads whose loss makes a major feature unavailable (runbook P1 examples:
# workflow execution failures, authentication service down, API gateway failures;
# the database and the cache every one of them needs).
MAJOR_WORKLOADS = ("api-gateway", "auth-service", "workflow-service", "execution-service", "postgres", "redis")

TEAMS = ("development", "infrastructure", "database")

# The whole policy. Keys, in the order an operator reads them:
#   severities          the response policy per level (runbook "Incident Classification")
#   escalation_chain    who comes after whom (runbook "On-Call Rotation")
#   contacts, status_page
#   business_hours      when business-hours support works (timezone, days, start, end)
#   escalation_step_minutes, escalation_mode   the escalation timeline after the first step
#   major_services      Deployments/StatefulSets whose loss is a P1 (a major feature unavailable)
#   teams               the owners an incident can be routed to
#   owners              failure class -> team; ``default`` for any class not listed
#   statefulset_owners  failure class -> team for StatefulSets (they hold the platform's data)
#   signals             signal -> severity it implies (what a finding or an alert means)
#   alert_signals       Prometheus alert name -> signal (null: the alert implies nothing)
#   alert_severities    value of an alert's ``severity`` label -> severity (null: ignored)
# Mappings are merged key by key; lists and scalars are replaced.
DEFAULT_POLICY = {
    "severities": _POLICY,
    "escalation_chain": list(ESCALATION_CHAIN),
    "contacts": dict(CONTACTS),
    "status_page": STATUS_PAGE,
    # When "standard business hours support" (P3) is working: the notifier holds a P3 notice
    # until the next opening. The runbook names no time zone: set yours.
    "business_hours": {"timezone": "UTC", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
    # Minutes between the later steps of the chain once an incident is escalated (runbook: team
    # lead -> engineering manager -> CTO; the runbook gives no interval).
    "escalation_step_minutes": 60,
    # Who pages the next step (escalation_check.yml): "pagerduty" lets PagerDuty's own escalation
    # policy page it and reads the acknowledgement back (nobody paged twice); "collection" pages
    # each step through its routing key (for teams without a PagerDuty escalation policy).
    "escalation_mode": "pagerduty",
    "major_services": list(MAJOR_WORKLOADS),
    "teams": list(TEAMS),
    # Who gets what automation could not fix, by failure class (the classifications of
    # module_utils/k8s/classify.py, plus the situations and scenario classes below).
    "owners": {
        "default": "development",
        "node_failure": "infrastructure",
        "unschedulable": "infrastructure",
        "create_failed": "infrastructure",
        "resource_exhaustion": "infrastructure",
        "image_pull": "development",
        "config_error": "development",
        "oom": "development",
        "crashloop": "development",
        "not_ready": "development",
        "unknown": "development",
        "healthy": "development",
        # Situations that refine a class: an image only some nodes cannot pull (node- or
        # registry-local), a sidecar alone at its limit (the application's configuration).
        "image_pull_local": "infrastructure",
        "sidecar_exhaustion": "development",
        # Scenario classes (runbook 2 and 3: database and cache issues).
        "database": "database",
        "cache": "database",
        # Runbook 4 (workflow execution failures): an engine that does not answer although its
        # pods run, or runs outside the cluster; credentials it rejects; failing workflow
        # definitions (the team; each workflow's own owners are named in the record).
        "engine_connectivity": "infrastructure",
        "engine_credentials": "infrastructure",
        "workflow_definition": "development",
        # Runbook 2 and 3 (high error rate, high response time): errors or latency nothing
        # else explains are the application's; slow statements go to the database owners.
        "application": "development",
        "slow_query": "database",
    },
    # A StatefulSet's application faults go to the database owners: it is PostgreSQL or Redis.
    "statefulset_owners": {
        "config_error": "database",
        "oom": "database",
        "crashloop": "database",
        "not_ready": "database",
        "unknown": "database",
    },
    "signals": {
        # Observed by derive_severity() from the workloads of the namespace.
        "all_services_down": "P0",
        "major_service_down": "P1",
        "service_down": "P2",
        "service_degraded": "P2",
        # Runbook P0 examples: data loss, database corruption, security breach.
        "data_loss": "P0",
        "database_corruption": "P0",
        "security_alert": "P0",
        # Runbook P1 examples: workflow execution failures, authentication down, API gateway failures.
        "workflow_execution_failures": "P1",
        # A major service failing most requests (runbook 2: "failures of a major feature").
        "major_feature_failing": "P1",
        "authentication_down": "P1",
        "gateway_down": "P1",
        "database_unavailable": "P1",
        "cache_unavailable": "P1",
        # Runbook P2 examples: slow responses, intermittent failures, non-critical degradation.
        "slow_responses": "P2",
        "intermittent_failures": "P2",
        "high_error_rate": "P2",
        "non_critical_degradation": "P2",
        # Runbook P3 examples: UI glitches, documentation issues, non-critical monitoring alerts.
        "minor_issue": "P3",
        "non_critical_alert": "P3",
    },
    # The runbook's Prometheus alerts and what each means.
    "alert_signals": {
        "ServiceDown": "service_down",
        "HighErrorRate": "high_error_rate",
        "HighResponseTime": "slow_responses",
        "WorkflowExecutionFailureRate": "workflow_execution_failures",
        "DatabaseConnectionFailure": "database_unavailable",
        "SecurityAlert": "security_alert",
    },
    # Alertmanager's severity label. "critical" pages, but an alert alone does not prove
    # a complete outage: P0 is for what the cluster or a P0 signal shows. P0..P3 count as they are.
    "alert_severities": {
        "critical": "P1",
        "error": "P2",
        "warning": "P2",
        "info": "P3",
        "none": None,
    },
}

# What derive_severity() says for each of its own signals.
_RULE_TEXT = {
    "all_services_down": "all services down",
    "major_service_down": "major service down",
    "service_down": "service down",
    "service_degraded": "degraded",
}

# Fields of a severity level: (types, None allowed, lowest number allowed).
_LEVEL_FIELDS = {
    "severity": ((str,), False, None),
    "name": ((str,), False, None),
    "summary": ((str,), False, None),
    "definition": ((str,), False, None),
    "examples": ((list,), False, None),
    "response_time_minutes": ((int,), False, 1),
    "escalation": ((str,), False, None),
    "escalate_after_minutes": ((int,), True, 0),
    "escalate_to": ((str,), True, None),
    "business_hours_only": ((bool,), False, None),
    "update_interval_minutes": ((int,), True, 1),
    "customer_email": ((bool,), False, None),
    "statuspage": ((bool,), False, None),
    "page": ((list,), False, None),
    "assign": ((str,), True, None),
    "incident_channel": ((bool,), False, None),
    "email_oncall": ((bool,), False, None),
    "support_queue": ((bool,), False, None),
}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def validate_severity(value):
    """Return the canonical severity (``'p1'`` -> ``'P1'``) or raise SeverityError."""
    if isinstance(value, str):
        candidate = value.strip().upper()
        if candidate in SEVERITIES:
            return candidate
    raise SeverityError(
        "invalid severity %r: expected one of %s (P0 critical outage, P1 major feature "
        "unavailable, P2 degraded performance, P3 minor issue)" % (value, ", ".join(SEVERITIES))
    )


def rank(severity):
    """0 for P0 (the most severe) to 3 for P3."""
    return SEVERITIES.index(validate_severity(severity))


def most_severe(*severities):
    """The most severe of the given severities (empty ones ignored), or None."""
    given = [validate_severity(s) for s in severities if s]
    return min(given, key=SEVERITIES.index) if given else None


# --- the policy: defaults, operator overrides, validation --------------------------------


def _where(path):
    return "incident_policy." + ".".join(str(p) for p in path)


def _severity_at(path, value, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        return validate_severity(value)
    except SeverityError as exc:
        raise SeverityError("%s: %s" % (_where(path), exc))


def _known(path, key, known, what):
    if key not in known:
        raise InvalidInput("%s: unknown %s %r; known: %s" % (_where(path), what, key, ", ".join(sorted(known))))


def _mapping(path, value):
    if value is None or value == "" or value == []:
        # What an unset Ansible variable templates to.
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("%s: expected a mapping, got %s" % (_where(path) if path else "incident_policy", type(value).__name__))
    return value


def _strings(path, value, allow_empty=True):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput("%s: expected a list of names, got %r" % (_where(path), value))
    if not allow_empty and not value:
        raise InvalidInput("%s: must not be empty" % _where(path))
    return [v.strip() for v in value]


def _merge(base, override):
    """``override`` deep-merged over ``base``: mappings key by key, anything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _check_keys(overrides):
    """Names in the overrides that the policy does not have (typos) fail here, before merging."""
    overrides = _mapping((), overrides)
    for key, value in overrides.items():
        _known((key,), key, DEFAULT_POLICY, "policy key")
    severities = _mapping(("severities",), overrides.get("severities"))
    for level, fields in severities.items():
        canonical = _severity_at(("severities", level), level)
        for field in _mapping(("severities", level), fields):
            _known(("severities", level, field), field, _LEVEL_FIELDS, "field of a severity")
        if canonical != level:
            raise SeverityError("%s: write the severity as %s" % (_where(("severities", level)), canonical))
    for key in ("owners", "statefulset_owners"):
        for cls in _mapping((key,), overrides.get(key)):
            _known((key, cls), cls, DEFAULT_POLICY["owners"], "failure class")
    for signal in _mapping(("signals",), overrides.get("signals")):
        _known(("signals", signal), signal, DEFAULT_POLICY["signals"], "signal")
    for key in ("contacts", "alert_signals", "alert_severities"):
        _mapping((key,), overrides.get(key))
    for key in _mapping(("business_hours",), overrides.get("business_hours")):
        _known(("business_hours", key), key, DEFAULT_POLICY["business_hours"], "business hours setting")


def _check_level(level, fields, chain):
    for field, value in fields.items():
        types, nullable, lowest = _LEVEL_FIELDS[field]
        path = ("severities", level, field)
        if value is None and nullable:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise InvalidInput("%s: expected %s%s, got %r"
                               % (_where(path), " or ".join(t.__name__ for t in types), " or null" if nullable else "", value))
        if lowest is not None and value < lowest:
            raise InvalidInput("%s: must be at least %d, got %d" % (_where(path), lowest, value))
    if fields["severity"] != level:
        raise InvalidInput("%s: must be %s, the level it describes" % (_where(("severities", level, "severity")), level))
    for field in ("escalate_to", "assign"):
        if fields[field] is not None and fields[field] not in chain:
            raise InvalidInput("%s: %r is not a step of the escalation chain (%s)"
                               % (_where(("severities", level, field)), fields[field], ", ".join(chain)))
    for step in fields["page"]:
        if step not in chain:
            raise InvalidInput("%s: %r is not a step of the escalation chain (%s)"
                               % (_where(("severities", level, "page")), step, ", ".join(chain)))


def _check_business_hours(hours):
    path = ("business_hours",)
    days = hours.get("days")
    if not isinstance(days, list) or not days or any(str(d).strip().lower()[:3] not in WEEKDAYS for d in days):
        raise InvalidInput("%s: expected a list of week days (%s), got %r" % (_where(path + ("days",)), ", ".join(WEEKDAYS), days))
    hours["days"] = [str(d).strip().lower()[:3] for d in days]
    for key in ("start", "end"):
        value = hours.get(key)
        try:
            hour, minute = (int(part) for part in str(value).split(":"))
            if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute):
                raise ValueError(value)
        except ValueError:
            raise InvalidInput("%s: expected HH:MM, got %r" % (_where(path + (key,)), value))
        hours[key] = "%02d:%02d" % (hour, minute)
    if hours["start"] >= hours["end"]:
        raise InvalidInput("%s: start %s must be before end %s" % (_where(path), hours["start"], hours["end"]))
    try:
        import zoneinfo  # Python 3.9+; only the control node runs this
        zoneinfo.ZoneInfo(str(hours.get("timezone")))
    except Exception:  # ZoneInfoNotFoundError, ValueError for a malformed key
        raise InvalidInput("%s: unknown time zone %r (an IANA name such as Europe/Berlin)"
                           % (_where(path + ("timezone",)), hours.get("timezone")))
    return hours


def _check_merged(policy):
    """Values of the merged policy, with the path of the first bad one."""
    policy["escalation_chain"] = _strings(("escalation_chain",), policy["escalation_chain"], allow_empty=False)
    for level in SEVERITIES:
        _check_level(level, policy["severities"][level], policy["escalation_chain"])
    for key, value in policy["contacts"].items():
        if not isinstance(value, str):
            raise InvalidInput("%s: expected a string, got %r" % (_where(("contacts", key)), value))
    policy["business_hours"] = _check_business_hours(policy["business_hours"])
    step = policy["escalation_step_minutes"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise InvalidInput("%s: expected minutes (1 or more), got %r" % (_where(("escalation_step_minutes",)), step))
    if policy["escalation_mode"] not in ("pagerduty", "collection"):
        raise InvalidInput("%s: expected pagerduty or collection, got %r" % (_where(("escalation_mode",)), policy["escalation_mode"]))
    if not isinstance(policy["status_page"], str):
        raise InvalidInput("%s: expected a string, got %r" % (_where(("status_page",)), policy["status_page"]))
    policy["major_services"] = _strings(("major_services",), policy["major_services"])
    policy["teams"] = _strings(("teams",), policy["teams"], allow_empty=False)
    for key in ("owners", "statefulset_owners"):
        for cls, team in policy[key].items():
            if team not in policy["teams"]:
                raise InvalidInput("%s: unknown owner %r; teams: %s (a new team goes into incident_policy.teams)"
                                   % (_where((key, cls)), team, ", ".join(policy["teams"])))
    for signal, severity in policy["signals"].items():
        policy["signals"][signal] = _severity_at(("signals", signal), severity)
    for alert, signal in policy["alert_signals"].items():
        if signal is not None:
            _known(("alert_signals", alert), signal, policy["signals"], "signal")
    policy["alert_severities"] = dict(
        (str(label).strip().lower(), _severity_at(("alert_severities", label), value, allow_none=True))
        for label, value in policy["alert_severities"].items())
    return policy


def effective_policy(overrides=None):
    """The runbook's policy with the operator's ``incident_policy`` deep-merged over it.

    ``overrides`` may be empty or None (the runbook's defaults), a partial policy, or an
    effective policy (it merges onto itself unchanged). Unknown keys, severities, fields,
    failure classes, signals and owners raise InvalidInput (SeverityError for a bad
    severity) naming the key, e.g. ``incident_policy.owners.crashlop``.
    """
    overrides = _mapping((), overrides)
    _check_keys(overrides)
    return _check_merged(_merge(DEFAULT_POLICY, overrides))


def severity_policy(value, policy=None):
    """Return a fresh copy of the policy dict of a severity, plus the chain and contacts.

    ``policy`` is the operator's ``incident_policy`` (or an effective policy); None is the runbook's.
    """
    severity = validate_severity(value)
    policy = effective_policy(policy)
    result = copy.deepcopy(policy["severities"][severity])
    # Customers are emailed only when several of them are affected.
    result["customer_email_when"] = "multiple customers affected" if result["customer_email"] else None
    result["statuspage_url"] = policy["status_page"] if result["statuspage"] else None
    result["statuspage_when"] = "multiple customers affected" if result["statuspage"] else None
    result["business_hours"] = dict(policy["business_hours"])
    result["escalation_chain"] = list(policy["escalation_chain"])
    result["contacts"] = dict(policy["contacts"])
    return result


def all_policies(policy=None):
    """Return the whole table, ``{'P0': {...}, ...}``."""
    policy = effective_policy(policy)
    return {severity: severity_policy(severity, policy) for severity in SEVERITIES}


# --- deriving a severity from what was observed ---------------------------------------


def _signal_entries(signals, policy):
    """Given signals as ``[{signal, severity, detail, source}]``: a name or ``{signal, detail}`` each."""
    entries = []
    for item in signals or ():
        if isinstance(item, dict):
            name, detail = item.get("signal") or item.get("name"), item.get("detail")
        else:
            name, detail = item, None
        if not isinstance(name, str) or name not in policy["signals"]:
            raise InvalidInput("unknown signal %r; known: %s (a new signal goes into the policy's signals)"
                               % (name, ", ".join(sorted(policy["signals"]))))
        entries.append({"signal": name, "severity": policy["signals"][name], "detail": detail or "signalled", "source": "given"})
    return entries


def derive_severity(workloads, policy=None, signals=(), peers=None):
    """The runbook's severity for a diagnosed namespace, with the rule and the reason.

    ``workloads``: diagnosed workloads (name, kind, desired, ready, classification).
    ``policy``: the operator's ``incident_policy`` (None: the runbook's).
    ``signals``: what else is known (a signal name, or ``{signal, detail}``), e.g.
    ``security_alert``; each implies the severity the policy gives it.
    ``peers``: the namespace's other Deployments and StatefulSets (kind, name, desired,
    ready) when only some were diagnosed: readiness is judged on the whole namespace, so
    one service down among healthy ones is never "all services down".

    Observed signals: ``all_services_down`` (every active workload has no ready replica),
    ``major_service_down`` (a major service has none), ``service_down`` (another one has
    none), ``service_degraded`` (a diagnosed workload is not healthy but serves). The
    severity is the most severe signal's (defaults: P0, P1, P2, P2); none at all is P3.
    Returns severity, rule (the deciding signal, or ``no_degradation``), reason, signals
    (most severe first), down, degraded and workloads_judged.
    """
    policy = effective_policy(policy)
    major = set(policy["major_services"])
    judged = {}
    for w in list(peers or []) + list(workloads):
        judged[(w.get("kind"), w.get("name"))] = w
    active = [w for w in judged.values() if (w.get("desired") or 0) > 0]
    down = sorted(set(w["name"] for w in active if not w.get("ready")))
    degraded = sorted(set("%s (%s)" % (w["name"], w["classification"]) for w in workloads
                          if w.get("classification") not in (None, "healthy") and w["name"] not in down))
    observed = []
    if active and len([w for w in active if not w.get("ready")]) == len(active):
        observed.append(("all_services_down", "none of the %d active workloads of the namespace has a ready replica" % len(active)))
    major_down = [n for n in down if n in major]
    if major_down:
        observed.append(("major_service_down", "%s %s no ready replica" % (", ".join(major_down), "has" if len(major_down) == 1 else "have")))
    other_down = [n for n in down if n not in major]
    if other_down:
        observed.append(("service_down", "%s %s no ready replica (not a major service)"
                         % (", ".join(other_down), "has" if len(other_down) == 1 else "have")))
    if degraded:
        observed.append(("service_degraded", "%s still serving" % ", ".join(degraded)))
    entries = [{"signal": s, "severity": policy["signals"][s], "detail": d, "source": "observed"} for s, d in observed]
    entries += _signal_entries(signals, policy)
    entries.sort(key=lambda e: SEVERITIES.index(e["severity"]))  # stable: observed before given at a level
    result = {"down": down, "degraded": degraded, "workloads_judged": len(judged), "signals": entries}
    if not entries:
        return dict(result, severity="P3", rule="no_degradation", reason="P3 no degradation found")
    top = entries[0]
    text = _RULE_TEXT.get(top["signal"], top["signal"].replace("_", " "))
    return dict(result, severity=top["severity"], rule=top["signal"], reason="%s %s: %s" % (top["severity"], text, top["detail"]))


# --- precedence: requested, alert, derived, current ----------------------------------


def alert_severity(alert, policy=None):
    """What an alert says: ``{severity, name, signal, ignored}``.

    The ``severity`` label counts as P0..P3 as written, else through the policy's
    ``alert_severities`` (critical P1, error and warning P2, info P3); the alert's
    name through ``alert_signals`` (SecurityAlert: security_alert, P0). The more severe
    wins. Anything unknown is ignored and said so in ``ignored``.
    """
    result = {"severity": None, "name": None, "signal": None, "ignored": []}
    if not alert:
        return result
    if not isinstance(alert, dict):
        raise InvalidInput("alert: expected a mapping with name and labels, got %r" % (alert,))
    policy = effective_policy(policy)
    labels = alert.get("labels") or {}
    if not isinstance(labels, dict):
        raise InvalidInput("alert.labels: expected a mapping, got %r" % (labels,))
    name = alert.get("name") or labels.get("alertname")
    result["name"] = name
    found = []
    label = labels.get("severity")
    if label not in (None, ""):
        text = str(label).strip()
        if text.upper() in SEVERITIES:
            found.append(text.upper())
        elif text.lower() in policy["alert_severities"]:
            mapped = policy["alert_severities"][text.lower()]
            if mapped:
                found.append(mapped)
            else:
                result["ignored"].append("alert label severity=%s implies no severity" % text)
        else:
            result["ignored"].append("alert label severity=%s is not P0..P3 nor one of %s: ignored"
                                     % (text, ", ".join(sorted(policy["alert_severities"]))))
    if name:
        signal = policy["alert_signals"].get(name)
        if signal:
            result["signal"] = signal
            found.append(policy["signals"][signal])
        elif name not in policy["alert_signals"]:
            result["ignored"].append("alert %s is not in the policy's alert_signals: its name implies no severity" % name)
    result["severity"] = most_severe(*found)
    return result


def resolve_severity(derived, requested=None, alert=None, current=None, policy=None):
    """The incident's severity from everything that has a say, and why.

    ``derived``: derive_severity()'s result (or just its severity); ``requested``: the
    operator's ``-e severity`` (empty: none); ``alert``: the alert that started the run
    (name, labels); ``current``: the severity of the incident being continued (empty: a
    new incident).

    - A requested severity wins, even below ``current``; then ``lowered`` is true and the
      reason says so, for the caller to record (never lowered silently).
    - Otherwise the more severe of the alert's and the derived severity (``derived`` on a tie).
    - A continued incident never goes below ``current`` without a request: ``kept``.

    Returns severity, source (requested, alert, derived or current), raised_from,
    lowered_from, lowered, kept, reason, and the inputs as read (derived, alert, requested,
    current, ignored).
    """
    policy = effective_policy(policy)
    derived_reason = derived.get("reason") if isinstance(derived, dict) else None
    derived = (derived.get("severity") if isinstance(derived, dict) else derived) or None
    derived = validate_severity(derived) if derived else None
    requested = validate_severity(requested) if requested else None
    current = validate_severity(current) if current else None
    said = alert_severity(alert, policy)
    from_alert = said["severity"]
    evidence = []
    if derived:
        evidence.append("derived %s%s" % (derived, " (%s)" % derived_reason if derived_reason else ""))
    if from_alert:
        evidence.append("alert %s%s %s" % (said["name"] or "", ":" if said["name"] else "", from_alert))
    context = ", ".join(evidence) or "nothing derived"
    result = {"raised_from": None, "lowered_from": None, "lowered": False, "kept": False,
              "derived": derived, "alert": from_alert, "requested": requested, "current": current, "ignored": said["ignored"]}
    if requested:
        result.update(severity=requested, source="requested")
        if current and rank(requested) > rank(current):
            result.update(lowered=True, lowered_from=current)
            reason = "requested %s lowers the incident from %s (on request; %s)" % (requested, current, context)
        elif current and rank(requested) < rank(current):
            result.update(raised_from=current)
            reason = "requested %s raises the incident from %s (%s)" % (requested, current, context)
        else:
            reason = "requested %s (%s)" % (requested, context)
        return dict(result, reason=reason)
    best = most_severe(derived, from_alert)
    if best is None:
        if not current:
            raise InvalidInput("no severity to decide from: nothing requested, derived, alerted or being continued")
        return dict(result, severity=current, source="current", kept=True, reason="kept %s: nothing derived or alerted" % current)
    source = "alert" if from_alert and (not derived or rank(from_alert) < rank(derived)) else "derived"
    if current and rank(current) < rank(best):
        return dict(result, severity=current, source="current", kept=True, reason="kept %s: %s" % (current, context))
    result.update(severity=best, source=source)
    if current and rank(best) < rank(current):
        result.update(raised_from=current)
        return dict(result, reason="raised from %s: %s" % (current, context))
    return dict(result, reason="%s %s: %s" % (best, "from the alert" if source == "alert" else "as derived", context))
