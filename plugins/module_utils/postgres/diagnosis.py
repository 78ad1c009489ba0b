# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A PostgreSQL server's health in one pass, for postgresql_health_info.

Every section is one statement on the statistics views and catalogs (no lock beyond
AccessShare on a catalog, nothing written). A section the role may not read, or that
times out, is reported as unavailable with the reason instead of failing the whole
diagnosis; a lost connection still fails it (PostgresError kind ``unreachable``).

Query texts (from pg_stat_activity and pg_stat_statements) go through the collection's
redaction (module_utils/incident/redact.py) and are cut to ``query_max_chars``.

collect() returns the module's result: server, recovery, connections, waiting, blocking,
long_transactions, idle_in_transaction, slow_statements, pg_stat_statements,
cache_hit_ratio, database_sizes, replication, unavailable, findings and healthy.
"""

from __future__ import annotations

import datetime
import decimal

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import Redactor
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError

SEVERITIES = ("ok", "warning", "critical")
# Connection usage (percent of the slots ordinary roles may use) that is a warning / critical.
USAGE_WARNING = 80.0
USAGE_CRITICAL = 95.0
# A cache hit ratio below this is a warning, for databases with at least CACHE_MIN_BLOCKS block requests.
CACHE_HIT_WARNING = 0.90
CACHE_MIN_BLOCKS = 10000
TRUNCATED = "..."

# Options of the diagnosis and their smallest values (see check_options()).
OPTION_MINIMUMS = {
    "query_max_chars": 20,
    "long_transaction_seconds": 0,
    "idle_in_transaction_seconds": 0,
    "slow_statement_ms": 0,
    "top": 1,
    "max_sessions": 1,
    "replication_lag_seconds": 0,
}
DEFAULTS = {
    "query_max_chars": 300,
    "long_transaction_seconds": 300,
    "idle_in_transaction_seconds": 60,
    "slow_statement_ms": 1000,
    "top": 10,
    "max_sessions": 50,
    "replication_lag_seconds": 60,
}
# Sections whose absence leaves the diagnosis blind: a warning finding says so.
CORE_SECTIONS = ("connections", "waiting", "long_transactions", "idle_in_transaction", "replication")

# What every per-session list shows of a backend (pg_stat_activity AS a).
SESSION_COLUMNS = """
    a.pid, a.usename AS "user", a.datname AS database, a.application_name AS application,
    CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) WHEN a.client_port = -1 THEN 'local' END AS client,
    a.backend_type, a.state, a.wait_event_type, a.wait_event,
    extract(epoch FROM now() - a.xact_start)::float8 AS xact_age_seconds,
    extract(epoch FROM now() - a.query_start)::float8 AS query_age_seconds,
    extract(epoch FROM now() - a.state_change)::float8 AS state_age_seconds,
    a.query"""

SERVER_SQL = """
SELECT split_part(current_setting('server_version'), ' ', 1) AS version,
       current_setting('server_version_num')::int AS version_num,
       version() AS version_full,
       pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused,
       extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS uptime_seconds,
       pg_postmaster_start_time() AS started_at,
       (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS data_directory,
       current_database() AS database,
       current_user AS "user",
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
         OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats
"""

# Client backends only: background workers, autovacuum and WAL senders have slots of their own.
CONNECTIONS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
       coalesce((SELECT setting::int FROM pg_settings WHERE name = 'reserved_connections'), 0) AS reserved_connections,
       (SELECT coalesce(json_agg(g), '[]'::json) FROM (
          SELECT a.datname AS database, a.application_name AS application, a.state, count(*) AS sessions
          FROM pg_stat_activity a
          WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
          GROUP BY 1, 2, 3) g) AS groups
"""

WAITING_SQL = """
WITH w AS (
  SELECT a.*, pg_blocking_pids(a.pid) AS blocked_by
  FROM pg_stat_activity a
  WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
)
SELECT %s, a.blocked_by,
       (SELECT coalesce(json_agg(json_build_object(
                 'pid', b.pid, 'user', b.usename, 'database', b.datname, 'application', b.application_name,
                 'client', CASE WHEN b.client_addr IS NOT NULL THEN host(b.client_addr)
                                WHEN b.client_port = -1 THEN 'local' END,
                 'backend_type', b.backend_type, 'state', b.state,
                 'waiting', b.wait_event_type = 'Lock',
                 'xact_age_seconds', extract(epoch FROM now() - b.xact_start)::float8,
                 'state_age_seconds', extract(epoch FROM now() - b.state_change)::float8,
                 'query', b.query) ORDER BY b.pid), '[]'::json)
        FROM pg_stat_activity b WHERE b.pid = ANY (a.blocked_by)) AS blockers,
       count(*) OVER () AS total
FROM w a
ORDER BY a.query_start NULLS LAST, a.pid
LIMIT %%(limit)s
""" % SESSION_COLUMNS

LONG_TRANSACTIONS_SQL = """
SELECT %s, count(*) OVER () AS total
FROM pg_stat_activity a
WHERE a.xact_start < now() - make_interval(secs => %%(seconds)s) AND a.pid <> pg_backend_pid()
ORDER BY a.xact_start, a.pid
LIMIT %%(limit)s
""" % SESSION_COLUMNS

IDLE_IN_TRANSACTION_SQL = """
SELECT %s, count(*) OVER () AS total
FROM pg_stat_activity a
WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND a.state_change < now() - make_interval(secs => %%(seconds)s) AND a.pid <> pg_backend_pid()
ORDER BY a.state_change, a.pid
LIMIT %%(limit)s
""" % SESSION_COLUMNS

STATEMENTS_STATUS_SQL = """
SELECT e.extversion AS version, n.nspname AS schema,
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
       current_database() AS database,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
         OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats
FROM (SELECT 1) one
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
"""

# {schema} is quoted; {mean}/{total}/{max} are the column names of the server's version.
STATEMENTS_SQL = """
SELECT s.queryid, d.datname AS database, r.rolname AS "user", s.calls,
       s.{mean}::float8 AS mean_ms, s.{total}::float8 AS total_ms, s.{max}::float8 AS max_ms, s.rows, s.query
FROM {schema}.pg_stat_statements s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.calls > 0
ORDER BY s.{mean} DESC
LIMIT %(limit)s
"""

CACHE_SQL = """
SELECT d.datname AS database, s.blks_hit, s.blks_read
FROM pg_stat_database s JOIN pg_database d ON d.oid = s.datid
WHERE NOT d.datistemplate
ORDER BY d.datname
"""

# pg_database_size() needs CONNECT on the database (or pg_read_all_stats): the others are null.
SIZES_SQL = """
SELECT d.datname AS database,
       CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                 OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                 OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
            THEN pg_database_size(d.oid) END AS bytes
FROM pg_database d
WHERE NOT d.datistemplate
ORDER BY d.datname
"""

PRIMARY_REPLICATION_SQL = """
SELECT (SELECT coalesce(json_agg(json_build_object(
          'pid', r.pid, 'user', r.usename, 'application', r.application_name,
          'client', CASE WHEN r.client_addr IS NOT NULL THEN host(r.client_addr) WHEN r.client_port = -1 THEN 'local' END,
          'state', r.state, 'sync_state', r.sync_state,
          'sent_lsn', r.sent_lsn::text, 'write_lsn', r.write_lsn::text,
          'flush_lsn', r.flush_lsn::text, 'replay_lsn', r.replay_lsn::text,
          'sent_lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.sent_lsn)::float8,
          'write_lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.write_lsn)::float8,
          'flush_lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn)::float8,
          'replay_lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8,
          'write_lag_seconds', extract(epoch FROM r.write_lag)::float8,
          'flush_lag_seconds', extract(epoch FROM r.flush_lag)::float8,
          'replay_lag_seconds', extract(epoch FROM r.replay_lag)::float8) ORDER BY r.application_name, r.pid), '[]'::json)
        FROM pg_stat_replication r) AS replicas,
       (SELECT coalesce(json_agg(json_build_object(
          'slot_name', s.slot_name, 'slot_type', s.slot_type, 'active', s.active, 'database', s.database,
          'retained_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8) ORDER BY s.slot_name),
          '[]'::json)
        FROM pg_replication_slots s) AS slots,
       pg_current_wal_lsn()::text AS current_lsn
"""

# {flushed} is flushed_lsn from PostgreSQL 13, received_lsn before.
STANDBY_REPLICATION_SQL = """
SELECT pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS replay_lag_bytes,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <> pg_last_wal_replay_lsn()
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 ELSE 0 END AS replay_lag_seconds,
       pg_last_xact_replay_timestamp() AS last_replay_at,
       (SELECT row_to_json(w) FROM (
          SELECT r.status, r.sender_host, r.sender_port, r.slot_name, r.{flushed}::text AS flushed_lsn,
                 r.latest_end_lsn::text AS latest_end_lsn,
                 extract(epoch FROM now() - r.last_msg_receipt_time)::float8 AS last_message_age_seconds
          FROM pg_stat_wal_receiver r) w) AS wal_receiver
"""


def check_options(options):
    """Raise InvalidInput for a threshold below its minimum; return the options with defaults."""
    merged = dict(DEFAULTS)
    merged.update((k, v) for k, v in (options or {}).items() if v is not None)
    for name, minimum in OPTION_MINIMUMS.items():
        if merged[name] < minimum:
            raise InvalidInput("%s must be at least %s, got %s" % (name, minimum, merged[name]))
    return merged


def query_text(text, max_chars, redactor=None):
    """A query as reported: redacted, whitespace runs collapsed, cut to max_chars (plus '...')."""
    if text is None:
        return None
    if redactor is not None:
        text = redactor.text(text)[0]
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars] + TRUNCATED
    return text


def _plain(value):
    """JSON-friendly scalars: timestamps as ISO 8601 UTC, numerics as floats."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _seconds(value):
    return None if value is None else round(float(value), 1)


def _session(row, options, redactor, age_key=None):
    """One backend of pg_stat_activity as reported (``age_seconds`` from ``age_key``)."""
    out = {
        "pid": row["pid"],
        "user": row.get("user"),
        "database": row.get("database"),
        "application": row.get("application"),
        "client": row.get("client"),
        "backend_type": row.get("backend_type"),
        "state": row.get("state"),
        "wait_event_type": row.get("wait_event_type"),
        "wait_event": row.get("wait_event"),
        "xact_age_seconds": _seconds(row.get("xact_age_seconds")),
        "query_age_seconds": _seconds(row.get("query_age_seconds")),
        "state_age_seconds": _seconds(row.get("state_age_seconds")),
        "query": query_text(row.get("query"), options["query_max_chars"], redactor),
    }
    if age_key:
        out["age_seconds"] = out[age_key]
    return out


# --- sections ----------------------------------------------------------------------------------


def server_section(session, options, redactor):
    row = session.one(SERVER_SQL)
    server = {
        "version": row["version"],
        "version_num": row["version_num"],
        "version_full": row["version_full"],
        "in_recovery": row["in_recovery"],
        "uptime_seconds": _seconds(row["uptime_seconds"]),
        "started_at": _plain(row["started_at"]),
        "data_directory": row["data_directory"],
        "database": row["database"],
        "user": row["user"],
        "superuser": bool(row["superuser"]),
        "reads_all_stats": bool(row["reads_all_stats"]),
    }
    recovery = {"in_recovery": row["in_recovery"], "paused": bool(row["replay_paused"]) if row["in_recovery"] else False}
    return server, recovery


def connection_summary(row):
    """Counts and usage from one CONNECTIONS_SQL row (the caller's own session not counted)."""
    groups = row["groups"] or []
    limit = row["max_connections"] - row["superuser_reserved_connections"] - (row["reserved_connections"] or 0)
    total = sum(g["sessions"] for g in groups)
    by_state, by_database, by_application = {}, {}, {}
    for g in groups:
        state = g["state"] or "unknown"
        by_state[state] = by_state.get(state, 0) + g["sessions"]
        database = g["database"] or ""
        by_database[database] = by_database.get(database, 0) + g["sessions"]
        application = g["application"] or ""
        by_application[application] = by_application.get(application, 0) + g["sessions"]
    ranked = sorted(by_application.items(), key=lambda item: (-item[1], item[0]))
    return {
        "max_connections": row["max_connections"],
        "superuser_reserved_connections": row["superuser_reserved_connections"],
        "reserved_connections": row["reserved_connections"] or 0,
        "client_limit": limit,
        "total": total,
        "available": max(limit - total, 0),
        "usage_percent": round(100.0 * total / limit, 1) if limit > 0 else 100.0,
        "by_state": by_state,
        "by_database": by_database,
        "by_application": [{"application": name, "sessions": count} for name, count in ranked],
    }


def connections_section(session, options, redactor):
    summary = connection_summary(session.one(CONNECTIONS_SQL))
    summary["by_application"] = summary["by_application"][:options["top"]]
    return summary


def waiting_section(session, options, redactor):
    rows = session.query(WAITING_SQL, {"limit": options["max_sessions"]})
    waiting = []
    for row in rows:
        item = _session(row, options, redactor, age_key="query_age_seconds")
        item["blocked_by"] = list(row["blocked_by"] or [])
        item["blockers"] = [_blocker(b, options, redactor) for b in row["blockers"] or []]
        waiting.append(item)
    total = rows[0]["total"] if rows else 0
    return waiting, total


def _blocker(raw, options, redactor):
    return {
        "pid": raw["pid"],
        "user": raw.get("user"),
        "database": raw.get("database"),
        "application": raw.get("application"),
        "client": raw.get("client"),
        "backend_type": raw.get("backend_type"),
        "state": raw.get("state"),
        "waiting": bool(raw.get("waiting")),
        "xact_age_seconds": _seconds(raw.get("xact_age_seconds")),
        "state_age_seconds": _seconds(raw.get("state_age_seconds")),
        "query": query_text(raw.get("query"), options["query_max_chars"], redactor),
    }


def root_blockers(waiting):
    """The sessions at the head of the lock queues: they block others and wait for no lock themselves,
    with ``blocks``, the number of waiting sessions they block directly. Most blocked first."""
    waiting_pids = {w["pid"] for w in waiting}
    roots = {}
    for w in waiting:
        for blocker in w["blockers"]:
            if blocker["pid"] in waiting_pids or blocker["waiting"]:
                continue
            entry = roots.setdefault(blocker["pid"], dict(blocker, blocks=0))
            entry["blocks"] += 1
    return sorted(roots.values(), key=lambda b: (-b["blocks"], b["pid"]))


def long_transactions_section(session, options, redactor):
    rows = session.query(LONG_TRANSACTIONS_SQL, {"seconds": options["long_transaction_seconds"],
                                                 "limit": options["max_sessions"]})
    return [_session(r, options, redactor, age_key="xact_age_seconds") for r in rows], (rows[0]["total"] if rows else 0)


def idle_in_transaction_section(session, options, redactor):
    rows = session.query(IDLE_IN_TRANSACTION_SQL, {"seconds": options["idle_in_transaction_seconds"],
                                                   "limit": options["max_sessions"]})
    return [_session(r, options, redactor, age_key="state_age_seconds") for r in rows], (rows[0]["total"] if rows else 0)


def statements_sql(version_num, schema_quoted):
    """The pg_stat_statements query for a server version: *_exec_time from 13, *_time before."""
    if version_num >= 130000:
        columns = dict(mean="mean_exec_time", total="total_exec_time", max="max_exec_time")
    else:
        columns = dict(mean="mean_time", total="total_time", max="max_time")
    return STATEMENTS_SQL.format(schema=schema_quoted, **columns)


def _preloaded(preload):
    """True/False when shared_preload_libraries is readable, None when the role may not see it."""
    if preload is None:
        return None
    names = [name.strip().strip('"') for name in preload.split(",")]
    return any(name.rsplit("/", 1)[-1] in ("pg_stat_statements", "pg_stat_statements.so") for name in names)


def statements_section(session, options, redactor, quote=None):
    """(status, statements): pg_stat_statements' availability and the top statements by mean time."""
    status_row = session.one(STATEMENTS_STATUS_SQL)
    preloaded = _preloaded(status_row["preload"])
    status = {"available": False, "reason": None, "version": status_row["version"], "schema": status_row["schema"],
              "preloaded": preloaded, "all_roles_visible": bool(status_row["reads_all_stats"])}
    if not status_row["version"]:
        reason = ("extension not installed in database %s (CREATE EXTENSION pg_stat_statements)"
                  % status_row["database"])
        if preloaded is False:
            reason += "; it is not in shared_preload_libraries either (add it and restart PostgreSQL)"
        status["reason"] = reason
        return status, []
    if preloaded is False:
        status["reason"] = "not in shared_preload_libraries (add it and restart PostgreSQL)"
        return status, []
    schema = quote(status_row["schema"]) if quote else '"%s"' % status_row["schema"].replace('"', '""')
    try:
        rows = session.query(statements_sql(session.server_version_num, schema), {"limit": options["top"]})
    except PostgresError as exc:
        if exc.kind == "unreachable":
            raise
        text = str(exc)
        if exc.sqlstate == "55000" or "shared_preload_libraries" in text:
            status["reason"] = "not in shared_preload_libraries (add it and restart PostgreSQL)"
        elif exc.kind == "permission":
            status["reason"] = ("no privilege: grant pg_read_all_stats (or SELECT on %s.pg_stat_statements) to %s"
                                % (status_row["schema"], _user(session)))
        else:
            status["reason"] = text
        return status, []
    status["available"] = True
    if not status["all_roles_visible"]:
        status["reason"] = ("no privilege to see other roles' statements (their text reads <insufficient privilege>): "
                            "grant pg_read_all_stats")
    statements = [{
        "queryid": r["queryid"],
        "database": r["database"],
        "user": r["user"],
        "calls": r["calls"],
        "mean_ms": round(r["mean_ms"], 3),
        "total_ms": round(r["total_ms"], 3),
        "max_ms": round(r["max_ms"], 3),
        "rows": r["rows"],
        "query": query_text(r["query"], options["query_max_chars"], redactor),
    } for r in rows]
    return status, statements


def _user(session):
    return (getattr(session, "kwargs", None) or {}).get("user", "the role")


def cache_section(session, options, redactor):
    ratios, blocks = {}, {}
    for row in session.query(CACHE_SQL):
        requests = (row["blks_hit"] or 0) + (row["blks_read"] or 0)
        ratios[row["database"]] = round(float(row["blks_hit"]) / requests, 4) if requests else None
        blocks[row["database"]] = requests
    return ratios, blocks


def pretty_bytes(value):
    """Bytes as pg_size_pretty() writes them (kB, MB, GB, TB; 1024 based)."""
    if value is None:
        return None
    size = float(value)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(size) < 10240 or unit == "TB":
            return "%d %s" % (round(size), unit)
        size /= 1024.0
    return None  # pragma: no cover


def sizes_section(session, options, redactor):
    return {row["database"]: {"bytes": row["bytes"], "pretty": pretty_bytes(row["bytes"])}
            for row in session.query(SIZES_SQL)}


def replication_section(session, options, redactor, in_recovery):
    if in_recovery:
        flushed = "flushed_lsn" if session.server_version_num >= 130000 else "received_lsn"
        row = session.one(STANDBY_REPLICATION_SQL.format(flushed=flushed))
        receiver = row["wal_receiver"]
        if receiver:
            receiver["last_message_age_seconds"] = _seconds(receiver.get("last_message_age_seconds"))
        return {
            "role": "standby",
            "replicas": [],
            "slots": [],
            "current_lsn": None,
            "wal_receiver": receiver,
            "receive_lsn": row["receive_lsn"],
            "replay_lsn": row["replay_lsn"],
            "replay_lag_bytes": row["replay_lag_bytes"],
            "replay_lag_seconds": _seconds(row["replay_lag_seconds"]),
            "last_replay_at": _plain(row["last_replay_at"]),
        }
    row = session.one(PRIMARY_REPLICATION_SQL)
    replicas = row["replicas"] or []
    for replica in replicas:
        for key in ("write_lag_seconds", "flush_lag_seconds", "replay_lag_seconds"):
            replica[key] = _seconds(replica.get(key))
    return {
        "role": "primary",
        "replicas": replicas,
        "slots": row["slots"] or [],
        "current_lsn": row["current_lsn"],
        "wal_receiver": None,
        "receive_lsn": None,
        "replay_lsn": None,
        "replay_lag_bytes": None,
        "replay_lag_seconds": None,
        "last_replay_at": None,
    }


# --- the whole diagnosis -----------------------------------------------------------------------


def _guarded(unavailable, name, func, *args):
    """func(*args), or None with the reason in ``unavailable`` when the server refused or timed out.

    A lost connection is not a section's problem: it propagates.
    """
    try:
        return func(*args)
    except PostgresError as exc:
        if exc.kind in ("unreachable", "library"):
            raise
        unavailable[name] = str(exc)
        return None


def collect(session, options=None, redactor=None, quote=None):
    """The health report of the server behind ``session`` (see the module's RETURN)."""
    options = check_options(options)
    redactor = redactor if redactor is not None else Redactor()
    unavailable = {}
    result = {}

    server = _guarded(unavailable, "server", server_section, session, options, redactor)
    result["server"], result["recovery"] = server if server else (None, None)
    if server is None:
        unavailable["recovery"] = unavailable["server"]
    result["connections"] = _guarded(unavailable, "connections", connections_section, session, options, redactor)

    waiting = _guarded(unavailable, "waiting", waiting_section, session, options, redactor)
    result["waiting"], totals_waiting = waiting if waiting else ([], 0)
    result["blocking"] = root_blockers(result["waiting"])
    if waiting is None:
        unavailable["blocking"] = unavailable["waiting"]

    long_tx = _guarded(unavailable, "long_transactions", long_transactions_section, session, options, redactor)
    result["long_transactions"], total_long = long_tx if long_tx else ([], 0)
    idle = _guarded(unavailable, "idle_in_transaction", idle_in_transaction_section, session, options, redactor)
    result["idle_in_transaction"], total_idle = idle if idle else ([], 0)

    statements = _guarded(unavailable, "slow_statements", statements_section, session, options, redactor, quote)
    if statements is None:
        result["pg_stat_statements"] = {"available": False, "reason": unavailable["slow_statements"], "version": None,
                                        "schema": None, "preloaded": None, "all_roles_visible": False}
        result["slow_statements"] = []
    else:
        result["pg_stat_statements"], result["slow_statements"] = statements
        if not result["pg_stat_statements"]["available"]:
            unavailable["slow_statements"] = result["pg_stat_statements"]["reason"]

    cache = _guarded(unavailable, "cache_hit_ratio", cache_section, session, options, redactor)
    result["cache_hit_ratio"], cache_blocks = cache if cache else (None, {})
    result["database_sizes"] = _guarded(unavailable, "database_sizes", sizes_section, session, options, redactor)

    if server is None:
        result["replication"] = None
        unavailable["replication"] = "the server's recovery state could not be read: " + unavailable["server"]
    else:
        result["replication"] = _guarded(unavailable, "replication", replication_section, session, options, redactor,
                                         result["server"]["in_recovery"])

    result["unavailable"] = unavailable
    result["findings"] = findings(result, options, totals={"waiting": totals_waiting, "long_transactions": total_long,
                                                           "idle_in_transaction": total_idle},
                                  cache_blocks=cache_blocks)
    result["healthy"] = all(f["severity"] == "ok" for f in result["findings"])
    return result


# --- findings ----------------------------------------------------------------------------------


def _finding(check, severity, message):
    return {"check": check, "severity": severity, "message": message}


def _who(s):
    parts = ["pid %s" % s["pid"]]
    if s.get("user"):
        parts.append("user %s" % s["user"])
    if s.get("application"):
        parts.append("application %s" % s["application"])
    if s.get("database"):
        parts.append("database %s" % s["database"])
    return ", ".join(parts)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def findings(result, options, totals=None, cache_blocks=None):
    """Plain-language conclusions, one or more per check, worst first within the list order of checks."""
    totals = totals or {}
    out = []
    unavailable = result.get("unavailable") or {}

    conn = result.get("connections")
    if conn:
        text = ("%d of %d connections ordinary roles may use are in use (%.1f %%; max_connections %d, %d reserved)"
                % (conn["total"], conn["client_limit"], conn["usage_percent"], conn["max_connections"],
                   conn["superuser_reserved_connections"] + conn["reserved_connections"]))
        if conn["usage_percent"] >= USAGE_CRITICAL:
            out.append(_finding("connections", "critical", text + ": new connections are refused or about to be"))
        elif conn["usage_percent"] >= USAGE_WARNING:
            out.append(_finding("connections", "warning", text + ": close to exhaustion"))
        else:
            out.append(_finding("connections", "ok", text))

    if "waiting" not in unavailable:
        waiting = result.get("waiting") or []
        if waiting:
            total = totals.get("waiting") or len(waiting)
            roots = result.get("blocking") or []
            text = "%s waiting for a lock" % _plural(total, "session")
            if roots:
                text += "; blocked by " + "; ".join(
                    "%s (%s%s)" % (_who(r), r.get("state") or "unknown state",
                                   ", transaction open %s s" % r["xact_age_seconds"] if r.get("xact_age_seconds") is not None else "")
                    for r in roots[:3])
            out.append(_finding("blocked_sessions", "warning", text))
        else:
            out.append(_finding("blocked_sessions", "ok", "no session waits for a lock"))

    for key, threshold, what in (
            ("long_transactions", options["long_transaction_seconds"], "with a transaction open longer than"),
            ("idle_in_transaction", options["idle_in_transaction_seconds"], "idle in transaction longer than")):
        if key in unavailable:
            continue
        rows = result.get(key) or []
        if rows:
            total = totals.get(key) or len(rows)
            oldest = rows[0]
            out.append(_finding(key, "warning", "%s %s %s s; oldest: %s, %s s" % (
                _plural(total, "session"), what, threshold, _who(oldest), oldest.get("age_seconds"))))
        else:
            out.append(_finding(key, "ok", "no session %s %s s" % (what, threshold)))

    status = result.get("pg_stat_statements") or {}
    if status.get("available"):
        slow = [s for s in result.get("slow_statements") or [] if s["mean_ms"] >= options["slow_statement_ms"]]
        if slow:
            worst = slow[0]
            out.append(_finding("slow_statements", "warning", "%s with a mean time of at least %s ms; slowest: %.0f ms "
                                "mean over %d calls in database %s: %s" % (
                                    _plural(len(slow), "statement"), options["slow_statement_ms"], worst["mean_ms"],
                                    worst["calls"], worst["database"], worst["query"])))
        else:
            out.append(_finding("slow_statements", "ok", "no statement with a mean time of %s ms or more"
                                % options["slow_statement_ms"]))

    ratios = result.get("cache_hit_ratio")
    if ratios is not None:
        low = sorted((db, r) for db, r in ratios.items()
                     if r is not None and r < CACHE_HIT_WARNING and (cache_blocks or {}).get(db, 0) >= CACHE_MIN_BLOCKS)
        if low:
            out.append(_finding("cache_hit_ratio", "warning", "cache hit ratio below %.2f: %s" % (
                CACHE_HIT_WARNING, ", ".join("%s %.3f" % item for item in low))))
        else:
            out.append(_finding("cache_hit_ratio", "ok", "cache hit ratio at least %.2f where judged (databases with "
                                "%d or more block requests)" % (CACHE_HIT_WARNING, CACHE_MIN_BLOCKS)))

    out.extend(_replication_findings(result, options))

    for section in CORE_SECTIONS:
        if section in unavailable:
            text = "could not check %s: %s" % (section.replace("_", " "), unavailable[section])
            out.append(_finding(section, "warning", text))
    return out


def _replication_findings(result, options):
    out = []
    recovery = result.get("recovery") or {}
    if recovery.get("paused"):
        out.append(_finding("recovery", "warning", "WAL replay is paused on this standby (pg_wal_replay_resume() "
                            "resumes it)"))
    rep = result.get("replication")
    if not rep:
        return out
    limit = options["replication_lag_seconds"]
    problems = []
    if rep["role"] == "standby":
        receiver = rep.get("wal_receiver")
        if not receiver or receiver.get("status") != "streaming":
            problems.append("this standby is not streaming from a primary (WAL receiver %s)"
                            % (receiver.get("status") if receiver else "not running"))
        if rep.get("replay_lag_seconds") is not None and rep["replay_lag_seconds"] > limit:
            problems.append("replay is %s s behind (%s bytes received but not replayed)"
                            % (rep["replay_lag_seconds"], rep.get("replay_lag_bytes")))
    else:
        for replica in rep.get("replicas") or []:
            name = replica.get("application") or replica.get("client") or "pid %s" % replica.get("pid")
            if replica.get("state") not in (None, "streaming"):
                problems.append("replica %s is %s, not streaming" % (name, replica["state"]))
            lag = replica.get("replay_lag_seconds")
            if lag is not None and lag > limit:
                problems.append("replica %s replays %s s behind (%s bytes)" % (name, lag, replica.get("replay_lag_bytes")))
        for slot in rep.get("slots") or []:
            if not slot.get("active"):
                problems.append("replication slot %s is inactive and retains %s of WAL"
                                % (slot["slot_name"], pretty_bytes(slot.get("retained_bytes")) or "an unknown amount"))
    if problems:
        out.append(_finding("replication", "warning", "; ".join(problems)))
    else:
        text = ("standby streaming, replay lag %s s" % rep.get("replay_lag_seconds") if rep["role"] == "standby"
                else "%s, none lagging more than %s s" % (_plural(len(rep.get("replicas") or []), "replica"), limit))
        out.append(_finding("replication", "ok", text))
    return out
