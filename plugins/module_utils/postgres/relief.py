# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection relief for postgresql_connection_relief: end sessions left idle in a transaction.

A session idle in a transaction holds its connection slot, its locks and the oldest snapshot
(vacuum cannot clean up behind it). Ending it (pg_terminate_backend) rolls its transaction back.
Only such sessions are candidates, and never:

- the module's own session;
- a superuser's session (a DBA at work, or the server's own tooling);
- a backend that is not a client backend (WAL senders, autovacuum, background workers);
- a backup or restore (application_name pg_dump, pg_dumpall, pg_restore, pg_basebackup);
- other automation (application_name matching DEFAULT_PROTECTED_APPLICATIONS or the
  operator's patterns) and the operator's protected roles.

At most ``max_terminate`` sessions per run, the longest idle first. Each termination re-checks,
in the same statement that signals, that the backend is still the same one (backend_start) in the
same transaction (xact_start) and still idle in it; a session that ended or moved on meanwhile
is reported as gone, not as an error. A second run finds nothing more to do.
"""

from __future__ import annotations

import re
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.diagnosis import (
    CONNECTIONS_SQL,
    SESSION_COLUMNS,
    connection_summary,
    query_text,
)

MIN_IDLE_SECONDS = 10
# Backups and restores in progress: their sessions are never ended.
BACKUP_APPLICATIONS = ("pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup")
# Automation whose sessions are never ended (regular expressions matched against the whole
# application_name, case-insensitively). The operator's protected_applications add to these.
DEFAULT_PROTECTED_APPLICATIONS = (
    r"ai_orchestrator.*",  # this collection (its modules, other runs, a restore in progress)
    r"pg_rewind", r"pg_upgrade", r"pg_repack.*", r"pgcopydb.*",
    r"pgbackrest.*", r"barman.*", r"wal-?g.*", r"wal-e.*",
    r"patroni.*", r"repmgr.*", r"pg_auto_failover.*", r"pglogical.*", r"pg_cron.*",
)
IDLE_STATES = ("idle in transaction", "idle in transaction (aborted)")
# How long to wait for terminated backends to leave pg_stat_activity before counting again.
SETTLE_SECONDS = 5.0

CANDIDATES_SQL = """
SELECT %s,
       a.backend_start, a.xact_start, coalesce(r.rolsuper, false) AS superuser,
       a.pid = pg_backend_pid() AS own
FROM pg_stat_activity a
LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND a.state_change < now() - make_interval(secs => %%(seconds)s)
  AND (%%(database)s::text IS NULL OR a.datname = %%(database)s::text)
ORDER BY a.state_change, a.pid
""" % SESSION_COLUMNS

# Signals the backend only when it is still the same backend, in the same transaction, idle in it.
TERMINATE_SQL = """
SELECT a.pid IS NOT NULL AS present,
       CASE WHEN a.backend_start = %(backend_start)s
                 AND a.xact_start IS NOT DISTINCT FROM %(xact_start)s
                 AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
            THEN pg_terminate_backend(a.pid) END AS signalled
FROM (SELECT %(pid)s::int AS pid) c
LEFT JOIN pg_stat_activity a ON a.pid = c.pid
"""

REMAINING_SQL = "SELECT count(*) AS remaining FROM pg_stat_activity WHERE pid = ANY (%(pids)s)"


def check_options(options):
    """Raise InvalidInput for unusable options; return them with the compiled patterns."""
    seconds = options.get("idle_in_transaction_seconds")
    if seconds is None or seconds < MIN_IDLE_SECONDS:
        raise InvalidInput("idle_in_transaction_seconds must be at least %d, got %s" % (MIN_IDLE_SECONDS, seconds))
    limit = options.get("max_terminate")
    if limit is None or limit < 1:
        raise InvalidInput("max_terminate must be at least 1, got %s" % limit)
    usage = options.get("only_when_usage_percent") or 0
    if not 0 <= usage <= 100:
        raise InvalidInput("only_when_usage_percent must be between 0 and 100, got %s" % usage)
    patterns = []
    for source in list(DEFAULT_PROTECTED_APPLICATIONS) + list(options.get("protected_applications") or []):
        if not isinstance(source, str) or not source:
            raise InvalidInput("protected_applications entries must be non-empty regular expressions, got %r" % (source,))
        try:
            patterns.append((source, re.compile(source, re.IGNORECASE)))
        except re.error as exc:
            raise InvalidInput("invalid protected_applications pattern %r: %s" % (source, exc))
    return {
        "idle_in_transaction_seconds": seconds,
        "max_terminate": limit,
        "database": options.get("database") or None,
        "only_when_usage_percent": usage,
        "protected_applications": patterns,
        "protected_roles": set(options.get("protected_roles") or ()),
        "query_max_chars": options.get("query_max_chars") or 300,
    }


def protection(row, checked):
    """Why this session must not be ended, or None when it may be."""
    if row.get("own"):
        return "the module's own session"
    backend_type = row.get("backend_type")
    if backend_type == "walsender":
        return "WAL sender (replication or a base backup running)"
    if backend_type != "client backend":
        return "not a client backend (%s)" % (backend_type or "unknown type")
    application = row.get("application") or ""
    if application in BACKUP_APPLICATIONS:
        return "a backup or restore is running (%s)" % application
    if row.get("superuser"):
        return "superuser session (role %s)" % row.get("user")
    if row.get("user") in checked["protected_roles"]:
        return "protected role %s (protected_roles)" % row.get("user")
    for source, pattern in checked["protected_applications"]:
        if pattern.fullmatch(application):
            return "protected application %s (matches %s)" % (application, source)
    return None


def _entry(row, checked, redactor):
    return {
        "pid": row["pid"],
        "user": row.get("user"),
        "database": row.get("database"),
        "application": row.get("application"),
        "client": row.get("client"),
        "backend_type": row.get("backend_type"),
        "state": row.get("state"),
        "idle_seconds": None if row.get("state_age_seconds") is None else round(row["state_age_seconds"], 1),
        "xact_age_seconds": None if row.get("xact_age_seconds") is None else round(row["xact_age_seconds"], 1),
        "query": query_text(row.get("query"), checked["query_max_chars"], redactor),
    }


def plan(rows, checked, usage_percent):
    """(chosen rows, spared entries as (row, reason), allowed, reason) for candidate rows, longest idle first."""
    chosen, spared = [], []
    threshold = checked["only_when_usage_percent"]
    allowed = not threshold or usage_percent >= threshold
    reason = None
    if not allowed:
        reason = ("connection usage %.1f %% is below only_when_usage_percent %s %%: nothing is ended"
                  % (usage_percent, threshold))
    for row in rows:
        why = protection(row, checked)
        if why is None and not allowed:
            why = reason
        elif why is None and len(chosen) >= checked["max_terminate"]:
            why = "over the max_terminate limit of %d sessions for one run" % checked["max_terminate"]
        if why:
            spared.append((row, why))
        else:
            chosen.append(row)
    return chosen, spared, allowed, reason


def _settle(session, pids, timeout=SETTLE_SECONDS):
    """Wait until the terminated backends have left pg_stat_activity (or the timeout)."""
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        if not session.scalar(REMAINING_SQL, {"pids": list(pids)}):
            return
        time.sleep(0.1)


def relieve(session, options, check_mode=False, redactor=None):
    """Choose and (unless check_mode) end idle-in-transaction sessions; the module's result."""
    checked = check_options(options)
    before = connection_summary(session.one(CONNECTIONS_SQL))
    rows = session.query(CANDIDATES_SQL, {"seconds": checked["idle_in_transaction_seconds"],
                                          "database": checked["database"]})
    chosen, spared, allowed, reason = plan(rows, checked, before["usage_percent"])
    result = {
        "changed": False,
        "allowed": allowed,
        "reason": reason,
        "criteria": {
            "idle_in_transaction_seconds": checked["idle_in_transaction_seconds"],
            "max_terminate": checked["max_terminate"],
            "database": checked["database"],
            "only_when_usage_percent": checked["only_when_usage_percent"],
            "protected_applications": [pair[0] for pair in checked["protected_applications"]],
            "protected_roles": sorted(checked["protected_roles"]),
        },
        "would_terminate": [_entry(r, checked, redactor) for r in chosen],
        "terminated": [],
        "gone": [],
        "refused": [],
        "spared": [dict(_entry(r, checked, redactor), reason=why) for r, why in spared],
        "connections_before": before,
        "connections_after": None,
    }
    if check_mode or not chosen:
        if not check_mode:
            result["connections_after"] = before
        return result
    for row in chosen:
        entry = _entry(row, checked, redactor)
        try:
            outcome = session.one(TERMINATE_SQL, {"pid": row["pid"], "backend_start": row["backend_start"],
                                                  "xact_start": row["xact_start"]})
        except PostgresError as exc:
            if exc.kind in ("unreachable", "library"):
                raise
            result["refused"].append(dict(entry, reason=str(exc)))
            continue
        if outcome["signalled"]:
            result["terminated"].append(entry)
        elif outcome["present"] and outcome["signalled"] is None:
            result["gone"].append(dict(entry, reason="no longer idle in the same transaction"))
        else:
            result["gone"].append(dict(entry, reason="ended by itself"))
    result["changed"] = bool(result["terminated"])
    _settle(session, [e["pid"] for e in result["terminated"]])
    result["connections_after"] = connection_summary(session.one(CONNECTIONS_SQL))
    return result
