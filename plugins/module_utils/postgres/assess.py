# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a database diagnosis means for the incident: status, signal, severity, next step.

Pure functions over the result of ``postgresql_health_info`` (a failed result too: a
database that cannot be reached is the most important finding of all). The playbook
decides nothing itself; it reads ``assess()``'s answer:

status       healthy | degraded (warnings) | critical (a critical finding) | unavailable (no session)
signal       the incident policy's signal: database_unavailable (P1 by the runbook's table:
             no session, or connections exhausted), slow_responses (P2: blocked sessions,
             long transactions, a low cache hit ratio, replication lag), data_loss (P0: a
             restore was asked for) or None when healthy
notes        slow statements: reported with the diagnosis, never a reason to act on their own
             (pg_stat_statements adds up since its last reset, over every database)
relieve      connections are exhausted and sessions idle in a transaction hold them: the
             guarded relief step may end those
escalate     anything wrong that relief does not address goes to the database owners, with the
             reason (the playbook relieves first and assesses again)
"""

from __future__ import annotations

import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev

DEFAULT_DATABASE = "orchestrator"
# Findings reported with the diagnosis that do not by themselves make the database unwell.
INFORMATIONAL = ("slow_statements",)

# Errors that mean the database cannot be used, and what the operator is told.
_UNAVAILABLE = {
    "unreachable": "PostgreSQL does not answer",
    "auth": "PostgreSQL refused the automation's credentials",
    "not_found": "the database does not exist",
    "too_many_connections": "PostgreSQL refuses new connections (max_connections reached)",
    "permission": "the automation's role lacks a privilege the diagnosis needs",
    "timeout": "PostgreSQL is too slow to answer the diagnosis",
    "standby": "the server is a standby",
    "library": "psycopg2 is missing on the control node",
}


def _age(session):
    # Relief lists idle_seconds; the diagnosis lists age_seconds (the idle time for these sessions).
    for key in ("idle_seconds", "age_seconds"):
        if isinstance(session.get(key), (int, float)):
            return session[key]
    return 0


# Findings about sessions, and the list of the diagnosis each comes from.
_SESSION_CHECKS = {"idle_in_transaction": "idle_in_transaction", "long_transactions": "long_transactions",
                   "blocked_sessions": "waiting"}


def _scoped(findings, health, database):
    """Findings about sessions, kept only for sessions of ``database`` (all when None).

    The diagnosis reads the whole server; a database's incident is about its own sessions
    (another database's idle transactions are its owners' to handle, and the relief step
    only ends this database's). Connections stay server-wide: max_connections is.
    """
    if not database:
        return findings
    scoped = []
    for finding in findings:
        source = _SESSION_CHECKS.get(finding.get("check"))
        if source and finding.get("severity") in ("warning", "critical"):
            sessions = [s for s in health.get(source) or [] if isinstance(s, dict) and s.get("database") == database]
            if not sessions:
                continue
            oldest = sessions[0]
            finding = dict(finding, message="%d session(s) of %s %s; oldest: pid %s, user %s, application %s, %ss" % (
                len(sessions), database, _SESSION_TEXT[source], oldest.get("pid"), oldest.get("user"),
                oldest.get("application") or "-", int(_age(oldest) or 0)))
        scoped.append(finding)
    return scoped


_SESSION_TEXT = {"idle_in_transaction": "idle in a transaction", "long_transactions": "with a long transaction open",
                 "waiting": "waiting for a lock"}


def assess(health, policy=None, relief_usage_percent=80, idle_seconds=300, restore=False, database=None):
    """The incident's view of one database diagnosis (see the module docstring).

    ``database`` scopes the session findings (idle and long transactions, lock waits) to the
    sessions of that database; None judges the whole server.
    """
    if not isinstance(health, dict):
        raise InvalidInput("the input must be the registered result of postgresql_health_info")
    try:  # values from -e arrive as strings
        relief_usage_percent, idle_seconds = float(relief_usage_percent), float(idle_seconds)
    except (TypeError, ValueError):
        raise InvalidInput("relief_usage_percent and idle_seconds must be numbers, got %r and %r"
                           % (relief_usage_percent, idle_seconds))
    if not 0 <= relief_usage_percent <= 100:
        raise InvalidInput("relief_usage_percent must be between 0 and 100, got %s" % relief_usage_percent)
    effective = sev.effective_policy(policy)
    owner = effective["owners"].get("database", effective["owners"]["default"])
    result = {"owner": owner, "relieve": False, "escalate": False, "reason": "", "findings": [],
              "notes": [], "usage_percent": None}

    if health.get("failed"):
        kind = health.get("error_kind") or "server"
        message = health.get("msg") or "the diagnosis failed"
        result.update(status="unavailable", signal="database_unavailable", error_kind=kind,
                      reason="%s: %s" % (_UNAVAILABLE.get(kind, "the diagnosis failed"), message))
        result["findings"] = [result["reason"]]
        result["escalate"] = True
    else:
        findings = _scoped([f for f in health.get("findings") or [] if isinstance(f, dict)], health, database)
        # pg_stat_statements adds up since its last reset, for every database of the server: a slow
        # statement is evidence to report (runbook 3, "optimize slow queries"), not proof that this
        # database is unwell now. It never opens an incident on its own.
        result["notes"] = [f["message"] for f in findings
                           if f.get("check") in INFORMATIONAL and f.get("severity") in ("warning", "critical")]
        findings = [f for f in findings if f.get("check") not in INFORMATIONAL]
        critical = [f["message"] for f in findings if f.get("severity") == "critical"]
        warnings = [f["message"] for f in findings if f.get("severity") == "warning"]
        usage = (health.get("connections") or {}).get("usage_percent")
        result["usage_percent"] = usage
        exhausted = isinstance(usage, (int, float)) and usage >= relief_usage_percent
        idle = [s for s in health.get("idle_in_transaction") or []
                if _age(s) >= idle_seconds and (not database or s.get("database") == database)]
        result["findings"] = critical + warnings
        if critical or exhausted:
            result["status"] = "critical"
        elif warnings:
            result["status"] = "degraded"
        else:
            result["status"] = "healthy"
        if exhausted:
            result["signal"] = "database_unavailable"
        elif result["status"] != "healthy":
            result["signal"] = "slow_responses"
        else:
            result["signal"] = None
        result["relieve"] = bool(exhausted and idle)
        result["reason"] = "; ".join(result["findings"]) or "healthy"
        if exhausted:
            result["reason"] = "; ".join(
                ["connections at %g%% of the client limit (exhausted from %g%%)%s" % (
                    usage, relief_usage_percent,
                    "" if idle else ", and no session idle in a transaction for %gs to end" % idle_seconds)]
                + result["findings"])
        # Relief is the one fix automation has; anything else wrong needs the database owners
        # (slow statements to optimize, locks to untangle, exhaustion with nothing to end).
        result["escalate"] = result["status"] != "healthy" and not result["relieve"]

    if restore:
        result["signal"] = "data_loss"
        result["reason"] = ("restore from backup requested (data loss or corruption); " + result["reason"]).rstrip("; ")
    signal = result["signal"]
    result["severity"] = effective["signals"].get(signal) if signal else None
    return result


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,254}\Z")


def validate_db_request(request):
    """The database scenario's own inputs, checked before anything is read or changed.

    ``database`` (a PostgreSQL name, at most 63 bytes; ``orchestrator`` when empty),
    ``backup`` (empty, ``latest``, an absolute path or a backup id) and ``confirm``
    (empty or a backup id; only with a backup). Raises InvalidInput saying what was expected.
    """
    if not isinstance(request, dict):
        raise InvalidInput("the request must be a dict of database, backup and confirm")
    values = {}
    for key in ("database", "backup", "confirm"):
        value = request.get(key)
        value = "" if value is None else value
        if not isinstance(value, str):
            raise InvalidInput("%s must be a string, not %r" % (key, value))
        values[key] = value.strip()
    database = values["database"] or DEFAULT_DATABASE
    if len(database.encode("utf-8")) > 63 or not database.isprintable():
        raise InvalidInput("database %r is not a PostgreSQL database name (printable, at most 63 bytes)" % database)
    backup, confirm = values["backup"], values["confirm"]
    if backup and backup != "latest" and not backup.startswith("/") and not _ID.match(backup):
        raise InvalidInput("backup %r: expected latest, an absolute path or a backup id as postgresql_backup_info "
                           "lists it (letters, digits and . _ @ : + -)" % backup)
    if confirm and not _ID.match(confirm):
        raise InvalidInput("confirm %r is not a backup id: use the id the restore plan shows" % confirm)
    if confirm and not backup:
        raise InvalidInput("confirm names a backup to restore: give the backup too (-e backup=<id, path or latest>)")
    return {"database": database, "backup": backup, "confirm": confirm}
