# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guarded restore: the current database is never dropped, and serves again whatever fails.

The backup is restored into a new database ``<db>__restoring_<run>``, verified there, and only
then swapped in: the current database is renamed ``<db>_pre_restore_<YYYYmmddHHMMSS>`` (kept,
connections not allowed, a COMMENT marker says what it is) and the new one takes its name, in
one transaction. The only downtime is from stopping the writers (ALLOW_CONNECTIONS false on
the current database and its sessions ended) to that swap.

Everything runs under a session-level advisory lock on the ``postgres`` database (key: the first
8 bytes of sha256('ai_orchestrator.restore:' || db) as a signed bigint, which SQL computes as
``('x' || left(encode(sha256(convert_to('ai_orchestrator.restore:' || db, 'UTF8')), 'hex'), 16))::bit(64)::bigint``),
so two restores of one database never overlap. What a killed run leaves behind carries the
marker and the next run repairs it first (``cleaned_up``).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
import re
import secrets
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    GuardrailError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import backup as pgbackup
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    PostgresError,
)

MARKER = "ai_orchestrator.restore"
LOCK_PREFIX = "ai_orchestrator.restore:"
MAINTENANCE_DB = "postgres"
RESTORING = "__restoring_"
PREVIOUS = "_pre_restore_"
NAMEDATALEN = 63
# The longest database name whose previous copy's name still fits in NAMEDATALEN.
MAX_DB_NAME = NAMEDATALEN - len(PREVIOUS) - len("YYYYmmddHHMMSS") - 3
SPACE_FACTOR = pgbackup.SPACE_FACTOR
# Settings whose values are lists that pg_dumpall quotes element by element (GUC_LIST_QUOTE).
LIST_SETTINGS = frozenset(("search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries",
                           "shared_preload_libraries", "unix_socket_directories"))

DB_SQL = """
SELECT d.oid, d.datname, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate, d.datctype, d.datlocprovider::text AS locprovider, d.daticulocale AS iculocale,
       t.spcname AS tablespace, d.datconnlimit AS connlimit, d.datallowconn AS allowconn, d.datistemplate,
       d.datacl::text[] AS acl, shobj_description(d.oid, 'pg_database') AS comment,
       pg_database_size(d.oid) AS size
FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
WHERE d.datname = %s
"""
DB_SQL_PRE15 = DB_SQL.replace("d.datlocprovider::text", "'c'::text").replace("d.daticulocale", "NULL::text")


def lock_key(database):
    """The advisory lock key of a database's restore (a signed 64-bit integer)."""
    digest = hashlib.sha256((LOCK_PREFIX + database).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def marker(state, **fields):
    """A COMMENT that says this collection's restore made the database what it is."""
    body = dict(fields, state=state)
    return "%s %s" % (MARKER, json.dumps(body, sort_keys=True))


def read_marker(comment):
    """The marker's fields, or None when the comment is not ours."""
    if not comment or not comment.startswith(MARKER + " "):
        return None
    try:
        fields = json.loads(comment[len(MARKER) + 1:])
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def check_database_name(database):
    if not database:
        raise InvalidInput("database is required (or login_db): the database to replace")
    if database in (MAINTENANCE_DB, "template0", "template1"):
        raise InvalidInput("database %s cannot be restored by this module (the restore works from the %s database)"
                           % (database, MAINTENANCE_DB))
    if len(database.encode("utf-8")) > MAX_DB_NAME:
        raise InvalidInput("database name %r is longer than %d bytes: its previous copy's name "
                           "(<db>%s<timestamp>) would not fit PostgreSQL's 63" % (database, MAX_DB_NAME, PREVIOUS))


def guardrail(message, kind, **details):
    error = GuardrailError(message)
    error.kind = kind
    error.details = details
    return error


def quote_literal(text):
    """A SQL string literal, right whatever standard_conforming_strings says."""
    text = "" if text is None else str(text)
    if "\\" in text:
        return "E'%s'" % text.replace("\\", "\\\\").replace("'", "''")
    return "'%s'" % text.replace("'", "''")


@contextlib.contextmanager
def sibling_session(maint, database):
    """Another session to ``database`` of the server ``maint`` is connected to, by the same way
    (the same host, credentials and session settings; through the same port-forward)."""
    import psycopg2

    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
        Session,
        describe,
        error_from,
    )

    kwargs = dict(maint.kwargs, dbname=database)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        raise error_from(exc, "cannot connect to PostgreSQL %s" % describe(kwargs))
    conn.autocommit = True
    session = Session(conn, kwargs)
    try:
        yield session
    finally:
        session.close()


def jsonable(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def setting_sql(entry, quote_literal):
    """'name TO value' for one pg_db_role_setting entry 'name=value', quoted like pg_dumpall."""
    name, dummy, value = entry.partition("=")
    if name.lower() in LIST_SETTINGS:
        items = split_list_setting(value)
        return "%s TO %s" % (name, ", ".join(quote_literal(item) for item in items) if items else "''")
    return "%s TO %s" % (name, quote_literal(value))


def split_list_setting(value):
    """The elements of a list setting as stored (``"$user", public``), quotes removed."""
    items, current, quoted, i = [], "", False, 0
    while i < len(value):
        char = value[i]
        if char == '"':
            if quoted and value[i + 1:i + 2] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif char == "," and not quoted:
            items.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    if current.strip() or items:
        items.append(current.strip())
    return items


def acl_grants(acl):
    """(grantee or None for PUBLIC, [privileges], with grant option) from aclitem texts 'grantee=CTc/grantor'."""
    letters = {"C": "CREATE", "T": "TEMPORARY", "c": "CONNECT"}
    grants = []
    for item in acl or []:
        grantee, dummy, rest = item.partition("=")
        privs = rest.split("/", 1)[0]
        plain, with_option = [], []
        i = 0
        while i < len(privs):
            letter = privs[i]
            option = privs[i + 1:i + 2] == "*"
            if letter in letters:
                (with_option if option else plain).append(letters[letter])
            i += 2 if option else 1
        grantee = grantee.strip('"').replace('""', '"') or None
        if plain:
            grants.append((grantee, plain, False))
        if with_option:
            grants.append((grantee, with_option, True))
    return grants


def row_differences(current, backup):
    """Per table: rows now, rows in the backup, and the net difference (now - backup)."""
    diffs = {}
    for key in sorted(set(current) | set(backup)):
        now, then = current.get(key), backup.get(key)
        diff = (now - then) if now is not None and then is not None else None
        diffs[key] = {"current": now, "backup": then, "difference": diff}
    not_in_backup = sum(d["difference"] for d in diffs.values() if d["difference"] and d["difference"] > 0)
    not_in_backup += sum(d["current"] for d in diffs.values() if d["backup"] is None and d["current"])
    return diffs, not_in_backup


def check_result(check, value):
    """Is an operator check's value what it expects? (expect_equal, expect_min, else it ran)."""
    if check.get("expect_equal") is not None:
        expected = check["expect_equal"]
        if value == expected or str(value) == str(expected):
            return True
        try:
            return float(value) == float(expected)
        except (TypeError, ValueError):
            return False
    if check.get("expect_min") is not None:
        try:
            return value is not None and float(value) >= float(check["expect_min"])
        except (TypeError, ValueError):
            return False
    return True


def validate_checks(checks):
    for index, check in enumerate(checks or []):
        if not isinstance(check, dict) or not check.get("sql"):
            raise InvalidInput("checks[%d] needs sql (and a name)" % index)
        unknown = set(check) - {"name", "sql", "expect_min", "expect_equal"}
        if unknown:
            raise InvalidInput("checks[%d]: unknown keys %s (name, sql, expect_min, expect_equal)"
                               % (index, ", ".join(sorted(unknown))))


class Restore(object):
    """One restore run; ``run()`` returns the module result or raises with ``self.result`` filled."""

    def __init__(self, params, maint, tools, connect, quote, quote_literal, check_mode=False, clock=time):
        self.params = params
        self.maint = maint
        self.tools = tools
        self.connect = connect            # connect(dbname) -> context manager yielding a Session
        self.quote = quote                # identifier quoting (server rules)
        self.quote_literal = quote_literal
        self.check_mode = check_mode
        self.clock = clock
        self.database = params.get("database") or params.get("login_db")
        self.run_id = secrets.token_hex(4)
        self.result = {"changed": False, "database": self.database, "plan": None, "cleaned_up": []}
        self.steps_done = []

    # -- small helpers ---------------------------------------------------------------------

    def q(self, name):
        return self.quote(name)

    def db_info(self, name):
        sql = DB_SQL if self.maint.server_version_num >= 150000 else DB_SQL_PRE15
        return self.maint.one(sql, (name,))

    def databases_like(self, prefix):
        pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
        return self.maint.query("SELECT datname, datallowconn AS allowconn, shobj_description(oid, 'pg_database') AS comment "
                                "FROM pg_database WHERE datname LIKE %s ORDER BY datname", (pattern,))

    def step(self, text):
        self.steps_done.append(text)

    # -- the lock ----------------------------------------------------------------------------

    def acquire_lock(self):
        key = lock_key(self.database)
        if self.maint.scalar("SELECT pg_try_advisory_lock(%s) AS ok", (key,)):
            return key
        holder = self.maint.one(
            "SELECT l.pid, a.usename, a.application_name, a.client_addr::text AS client, "
            "a.backend_start FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = ((%s::bigint >> 32) & 4294967295)::oid AND l.objid = (%s::bigint & 4294967295)::oid",
            (key, key))
        who = ("pid %s, user %s, application %s" % (holder["pid"], holder["usename"], holder["application_name"])
               if holder else "its session could not be seen")
        raise guardrail("another restore of %s is running (%s): wait for it to finish, or end that session if it "
                        "is stuck (SELECT pg_terminate_backend(pid))" % (self.database, who), "busy",
                        holder_pid=holder["pid"] if holder else None)

    def release_lock(self, key):
        try:
            self.maint.scalar("SELECT pg_advisory_unlock(%s) AS ok", (key,))
        except PostgresError:
            pass  # the session is gone, and its lock with it

    # -- leftovers of a killed run -------------------------------------------------------------

    def find_leftovers(self):
        """What an interrupted run left, as actions: drop, allow, rename_back."""
        db = self.database
        actions = []
        for row in self.databases_like(db + RESTORING):
            fields = read_marker(row["comment"])
            # Ours: the marker, or (killed between CREATE DATABASE and its COMMENT) our exact name shape.
            unmarked = row["comment"] is None and re.match(r"^[0-9a-f]{8}$", row["datname"][len(db + RESTORING):])
            if (fields is not None and fields.get("database") == db) or unmarked:
                actions.append({"action": "drop", "database": row["datname"],
                                "reason": "a restoring database of an interrupted run"})
        current = self.db_info(db)
        if current is not None:
            fields = read_marker(current["comment"])
            if fields is not None and fields.get("state") == "stopping":
                actions.append({"action": "allow", "database": db, "comment": fields.get("original_comment"),
                                "allow_connections": fields.get("original_allow_connections", True),
                                "reason": "connections left disallowed by an interrupted run"})
        else:
            previous = [row for row in self.databases_like(db + PREVIOUS)
                        if (read_marker(row["comment"]) or {}).get("database") == db]
            if previous:
                newest = sorted(previous, key=lambda r: r["datname"])[-1]
                fields = read_marker(newest["comment"])
                actions.append({"action": "rename_back", "database": newest["datname"], "to": db,
                                "comment": fields.get("original_comment"),
                                "reason": "%s is missing and %s is its previous copy" % (db, newest["datname"])})
        return actions

    def last_restore(self):
        """The newest previous copy this module kept of the database, with its marker, or None.

        Its marker names the backup the database was restored from when it was replaced; a
        later restore from another backup leaves a newer previous copy naming that one.
        """
        db = self.database
        kept = []
        for row in self.databases_like(db + PREVIOUS):
            fields = read_marker(row["comment"])
            if fields is not None and fields.get("database") == db and fields.get("replaced_at"):
                kept.append((fields["replaced_at"], row["datname"], fields))
        if not kept:
            return None
        replaced_at, name, fields = max(kept)
        return {"previous_database": name, "backup": fields.get("backup"), "restored_at": replaced_at}

    def clean_up(self, actions):
        done = []
        for action in actions:
            name = action["database"]
            if action["action"] == "drop":
                force = " WITH (FORCE)" if self.maint.server_version_num >= 130000 else ""
                self.maint.execute("DROP DATABASE IF EXISTS %s%s" % (self.q(name), force))
            elif action["action"] == "allow":
                with self.maint.transaction():
                    self.maint.execute("ALTER DATABASE %s ALLOW_CONNECTIONS %s"
                                       % (self.q(name), "false" if action.get("allow_connections") is False else "true"))
                    self.set_comment(name, action.get("comment"))
            elif action["action"] == "rename_back":
                with self.maint.transaction():
                    self.maint.execute("ALTER DATABASE %s RENAME TO %s" % (self.q(name), self.q(action["to"])))
                    self.maint.execute("ALTER DATABASE %s ALLOW_CONNECTIONS true" % self.q(action["to"]))
                    self.set_comment(action["to"], action.get("comment"))
            done.append(dict(action))
        return done

    def set_comment(self, name, text):
        if text:
            self.maint.execute("COMMENT ON DATABASE %s IS %s" % (self.q(name), self.quote_literal(text)))
        else:
            self.maint.execute("COMMENT ON DATABASE %s IS NULL" % self.q(name))

    # -- facts -------------------------------------------------------------------------------

    def server_facts(self):
        facts = self.maint.one("SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') AS version, "
                               "current_setting('server_version_num')::int AS version_num, "
                               "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, "
                               "current_setting('port')::int AS port, "
                               "floor(extract(epoch FROM pg_postmaster_start_time()))::bigint AS started")
        try:
            facts["data_directory"] = self.maint.scalar("SELECT current_setting('data_directory') AS d")
        except PostgresError:
            facts["data_directory"] = None
        return facts

    def current_counts(self, tables):
        with self.connect(self.database) as session:
            with session.transaction(isolation="REPEATABLE READ"):
                session.execute("SET TRANSACTION READ ONLY")
                session.execute("SET LOCAL statement_timeout = 0")
                return pgbackup.count_rows(session, tables, self.quote)

    # -- disk --------------------------------------------------------------------------------

    def data_dir_free(self, facts):
        """(free bytes, filesystem id, where) of the server's data directory, or (None, None, reason)."""
        directory = facts.get("data_directory")
        if self.tools.via == "exec":
            if not directory:
                rc, out, err = self.tools.run(["printenv", "PGDATA"], timeout=60)
                directory = out.decode("utf-8", "replace").strip() if rc == 0 else None
            if not directory:
                return None, None, "the data directory is unknown (no privilege to read data_directory, no PGDATA in the pod)"
            try:
                free, fs = self.tools.free(directory)
            except PostgresError as exc:
                return None, None, "df of the data directory %s failed in %s: %s" % (directory, self.tools.where(), exc)
            return free, fs, "%s in %s" % (directory, self.tools.where())
        if not directory:
            return None, None, "the data directory is unknown (reading data_directory needs pg_read_all_settings)"
        if not self.server_is_local(facts, directory):
            return None, None, "the server's data directory %s is not on the control node" % directory
        free, fs = self.tools.free(directory)
        return free, fs, "%s on the control node" % directory

    def server_is_local(self, facts, directory):
        """Is the server this host's? Its postmaster.pid must name the same start time and port."""
        try:
            with open(directory.rstrip("/") + "/postmaster.pid") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return False
        try:
            return abs(int(lines[2]) - int(facts["started"])) <= 1 and int(lines[3]) == int(facts["port"])
        except (IndexError, ValueError, TypeError):
            return False

    def disk_plan(self, facts, current, entry):
        manifest = entry.get("manifest") or {}
        new_size = manifest.get("database_size_bytes") or (current or {}).get("size") or entry["size_bytes"] * 5
        need_data = int(new_size * SPACE_FACTOR)
        need_backup = int((current or {}).get("size", 0) * SPACE_FACTOR) if (current and self.params["safety_backup"]) else 0
        disk = {"checks": [], "ok": True, "skipped": []}
        data_free, data_fs, data_where = self.data_dir_free(facts)
        backup_free, backup_fs = (None, None)
        if need_backup:
            backup_free, backup_fs = self.tools.free(self.tools.backup_dir)
        if need_backup and data_fs is not None and data_fs == backup_fs:
            disk["checks"].append({"what": "safety backup and the new database (one file system)", "where": data_where,
                                   "needed_bytes": need_data + need_backup, "free_bytes": data_free,
                                   "ok": data_free >= need_data + need_backup})
        else:
            if need_backup:
                disk["checks"].append({"what": "safety backup", "where": "%s on %s" % (self.tools.backup_dir, self.tools.where()),
                                       "needed_bytes": need_backup, "free_bytes": backup_free,
                                       "ok": backup_free >= need_backup})
            if data_free is None:
                disk["skipped"].append("new database: %s" % data_where)
            else:
                disk["checks"].append({"what": "the new database", "where": data_where, "needed_bytes": need_data,
                                       "free_bytes": data_free, "ok": data_free >= need_data})
        disk["ok"] = all(c["ok"] for c in disk["checks"])
        disk["needed_bytes"] = need_data + need_backup
        return disk

    # -- the plan ----------------------------------------------------------------------------

    def build_plan(self, facts, current, entry, leftovers, restore_tool):
        now = pgbackup.utcnow()
        created = pgbackup.parse_iso(entry.get("created_at"))
        manifest = entry.get("manifest") or {}
        plan = {
            "database": self.database,
            "backup": {"id": entry["id"], "path": entry["path"], "created_at": entry.get("created_at"),
                       "created_at_source": entry.get("created_at_source"), "age_seconds": entry.get("age_seconds"),
                       "format": entry["format"], "foreign": entry["foreign"], "size_bytes": entry["size_bytes"],
                       "pg_dump_version": entry.get("pg_dump_version"), "database": entry.get("database")},
            "confirm": entry["id"],
            "write_window": {"from": entry.get("created_at"), "to": pgbackup.iso(now),
                             "seconds": int((now - created).total_seconds()) if created else None,
                             "meaning": "writes to %s after the backup was taken are not in it: after the restore they "
                                        "are only in the previous database (kept)" % self.database},
            "server": {"version": facts["version"], "tools_via": self.tools.via, "restore_tool": restore_tool},
            "current": ({"exists": True, "size_bytes": current["size"], "owner": current["owner"]}
                        if current else {"exists": False}),
            "leftovers": leftovers,
            "writers": {"method": "terminate",
                        "downtime": "from stop_writers (connections to %s disallowed and its sessions ended) to the "
                                    "swap (one transaction renaming the databases)" % self.database},
        }
        if manifest.get("tables") and current and not current["allowconn"]:
            plan["row_differences"] = None
            plan["row_differences_note"] = ("connections to %s are disallowed (an interrupted run): its rows are counted "
                                            "by the safety backup after the repair" % self.database)
        elif manifest.get("tables") and current:
            tables = self.verify_tables(manifest)
            counts = self.current_counts(tables)
            diffs, lost = row_differences(counts, dict((k, manifest["tables"].get(k)) for k in tables))
            plan["row_differences"] = diffs
            plan["rows_not_in_backup"] = lost
            plan["row_differences_note"] = ("net differences now - backup per table; positive numbers are rows that "
                                            "will not be in the restored data")
        else:
            plan["row_differences"] = None
            if not manifest:
                plan["row_differences_note"] = "foreign dump: no manifest, row counts cannot be compared"
            else:
                plan["row_differences_note"] = "%s does not exist: nothing to compare" % self.database
        plan["disk"] = self.disk_plan(facts, current, entry)
        refusals = ["%s in %s needs %d bytes, %d free" % (c["what"], c["where"], c["needed_bytes"], c["free_bytes"])
                    for c in plan["disk"]["checks"] if not c["ok"]]
        if plan["disk"]["skipped"] and self.params["disk_check"] != "skip":
            refusals.append("free space cannot be measured for %s (disk_check=skip needed)" % "; ".join(plan["disk"]["skipped"]))
        plan["would_refuse"] = refusals
        steps = []
        if leftovers:
            steps.append("clean up what an interrupted restore left: %s"
                         % "; ".join("%s %s" % (a["action"], a["database"]) for a in leftovers))
        steps.append("verify the backup %s (sha256, table of contents, every byte readable)" % entry["id"])
        measured = ", ".join("%s needs %d bytes, %s free" % (c["what"], c["needed_bytes"], c["free_bytes"])
                             for c in plan["disk"]["checks"])
        steps.append("check free space: %s" % (measured or "nothing measurable"))
        if current and self.params["safety_backup"]:
            steps.append("safety backup of %s into %s on %s" % (self.database, self.tools.backup_dir, self.tools.where()))
        jobs = " with %d jobs" % self.params["jobs"] if entry["format"] in ("custom", "directory") else ""
        steps.append("create %s%s<run> (template0, same owner, encoding and locale) and restore the backup into it%s"
                     % (self.database, RESTORING, jobs))
        verify = "row counts against the manifest" if manifest.get("tables") else "no manifest, counts cannot be compared"
        if self.params.get("checks"):
            verify += " and %d operator checks" % len(self.params["checks"])
        steps.append("verify the restored data: %s" % verify)
        if current:
            steps.append("copy database settings, grants, connection limit and comment of %s to the new database" % self.database)
            steps.append("stop writers: disallow connections to %s and end its sessions (downtime starts)" % self.database)
            steps.append("swap in one transaction: %s -> %s%s<timestamp> (kept, connections disallowed), new -> %s "
                         "(downtime ends)" % (self.database, self.database, PREVIOUS, self.database))
        else:
            steps.append("rename the new database to %s" % self.database)
        plan["steps"] = steps
        return plan

    def verify_tables(self, manifest):
        tables = sorted((manifest.get("tables") or {}).keys())
        critical = pgbackup.normalize_tables(self.params.get("critical_tables"))
        if critical:
            return critical
        return tables

    # -- verification of the restored database -------------------------------------------------

    def verify_restored(self, name, entry):
        manifest = entry.get("manifest") or {}
        verification = {"counts": {}, "checks": [], "compared": bool(manifest.get("tables"))}
        critical = pgbackup.normalize_tables(self.params.get("critical_tables"))
        with self.connect(name) as session:
            with session.transaction(isolation="REPEATABLE READ"):
                session.execute("SET TRANSACTION READ ONLY")
                session.execute("SET LOCAL statement_timeout = 0")
                if manifest.get("tables"):
                    tables = critical or sorted(manifest["tables"])
                    actual = pgbackup.count_rows(session, tables, self.quote)
                    for key in tables:
                        expected = manifest["tables"].get(key)
                        verification["counts"][key] = {"expected": expected, "actual": actual[key],
                                                       "ok": expected is not None and expected == actual[key]}
                else:
                    verification["note"] = "foreign dump: counts could not be compared (no manifest)"
                    tables = critical or pgbackup.list_tables(session)
                    actual = pgbackup.count_rows(session, tables, self.quote)
                    for key in tables:
                        verification["counts"][key] = {"expected": None, "actual": actual[key],
                                                       "ok": actual[key] is not None}
            for index, check in enumerate(self.params.get("checks") or []):
                item = {"name": check.get("name") or "check %d" % (index + 1), "sql": check["sql"],
                        "expect_min": check.get("expect_min"), "expect_equal": check.get("expect_equal")}
                try:
                    with session.transaction():
                        session.execute("SET TRANSACTION READ ONLY")
                        row = session.conn.cursor()
                        try:
                            row.execute(check["sql"])
                            first = row.fetchone() if row.description else None
                        finally:
                            row.close()
                    item["value"] = jsonable(first[0]) if first else None
                    item["ok"] = check_result(check, item["value"])
                except Exception as exc:  # noqa: BLE001 - an operator's query may fail any way
                    item["value"] = None
                    item["ok"] = False
                    item["error"] = " ".join(str(exc).split())[:500]
                verification["checks"].append(item)
        failed = [k for k, v in verification["counts"].items() if not v["ok"]]
        failed += ["check %s" % c["name"] for c in verification["checks"] if not c["ok"]]
        verification["ok"] = not failed
        verification["failed"] = failed
        return verification

    # -- copy database-level properties ----------------------------------------------------

    def copy_properties(self, current, new_name):
        copied = []
        q = self.q
        rows = self.maint.query("SELECT setrole, r.rolname, setconfig FROM pg_db_role_setting s "
                                "LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = %s", (current["oid"],))
        for row in rows:
            for entry in row["setconfig"] or []:
                clause = setting_sql(entry, self.quote_literal)
                if row["setrole"] == 0:
                    self.maint.execute("ALTER DATABASE %s SET %s" % (q(new_name), clause))
                    copied.append("setting %s" % entry.split("=", 1)[0])
                elif row["rolname"]:
                    self.maint.execute("ALTER ROLE %s IN DATABASE %s SET %s" % (q(row["rolname"]), q(new_name), clause))
                    copied.append("setting %s for role %s" % (entry.split("=", 1)[0], row["rolname"]))
        if current["acl"] is not None:
            self.maint.execute("REVOKE ALL ON DATABASE %s FROM PUBLIC" % q(new_name))
            owner_grants = [g for g in acl_grants(current["acl"]) if g[0] == current["owner"]]
            if not owner_grants:
                self.maint.execute("REVOKE ALL ON DATABASE %s FROM %s" % (q(new_name), q(current["owner"])))
            for grantee, privileges, option in acl_grants(current["acl"]):
                self.maint.execute("GRANT %s ON DATABASE %s TO %s%s" % (
                    ", ".join(privileges), q(new_name), "PUBLIC" if grantee is None else q(grantee),
                    " WITH GRANT OPTION" if option else ""))
            copied.append("grants")
        if current["connlimit"] != -1:
            self.maint.execute("ALTER DATABASE %s CONNECTION LIMIT %d" % (q(new_name), current["connlimit"]))
            copied.append("connection limit %d" % current["connlimit"])
        return copied

    # -- stop writers and swap ---------------------------------------------------------------

    def stop_writers(self, current):
        """Disallow connections and end the database's sessions; returns how many were ended."""
        db = self.database
        with self.maint.transaction():
            self.maint.execute("COMMENT ON DATABASE %s IS %s" % (self.q(db), self.quote_literal(
                marker("stopping", database=db, run=self.run_id, original_comment=current["comment"],
                       original_allow_connections=current["allowconn"]))))
            self.maint.execute("ALTER DATABASE %s ALLOW_CONNECTIONS false" % self.q(db))
        return self.end_sessions(db)

    def end_sessions(self, name):
        """End every session of database ``name`` (but this one); how many were ended."""
        ended = 0
        deadline = self.clock.monotonic() + self.params["writers_timeout"]
        while True:
            rows = self.maint.query("SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity "
                                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            ended += sum(1 for r in rows if r["ended"])
            if not rows:
                return ended
            if self.clock.monotonic() > deadline:
                raise guardrail("could not end every session of %s within %d s (pids %s still connected): "
                                "writers not stopped, %s serves as before"
                                % (name, self.params["writers_timeout"], ", ".join(str(r["pid"]) for r in rows),
                                   self.database), "writers")
            self.clock.sleep(0.2)

    def reallow(self, current):
        """Undo stop_writers: the current database serves again (as it did before) with its own comment."""
        with self.maint.transaction():
            self.maint.execute("ALTER DATABASE %s ALLOW_CONNECTIONS %s"
                               % (self.q(self.database), "true" if current["allowconn"] else "false"))
            self.set_comment(self.database, current["comment"])

    def previous_name(self, now):
        base = "%s%s%s" % (self.database, PREVIOUS, now.strftime("%Y%m%d%H%M%S"))
        name, n = base, 1
        while self.db_info(name) is not None:
            n += 1
            name = "%s_%d" % (base, n)
        return name

    def swap(self, current, new_name, entry, previous):
        db = self.database
        with self.maint.transaction():
            self.maint.execute("ALTER DATABASE %s RENAME TO %s" % (self.q(db), self.q(previous)))
            self.maint.execute("ALTER DATABASE %s RENAME TO %s" % (self.q(new_name), self.q(db)))
            self.maint.execute("ALTER DATABASE %s ALLOW_CONNECTIONS true" % self.q(db))
            self.set_comment(db, current["comment"])
            self.set_comment(previous, marker("previous", database=db, run=self.run_id, backup=entry["id"],
                                              replaced_at=pgbackup.iso(pgbackup.utcnow()),
                                              original_comment=current["comment"]))

    # -- the run -----------------------------------------------------------------------------

    def run(self):
        check_database_name(self.database)
        validate_checks(self.params.get("checks"))
        if self.params["jobs"] < 1 or self.params["jobs"] > 64:
            raise InvalidInput("jobs must be between 1 and 64")
        if self.maint.scalar("SELECT pg_is_in_recovery() AS r"):
            raise guardrail("the server is a standby (in recovery): a restore must run on the primary", "standby")
        # Creating, dropping and renaming databases take as long as they take (a forced checkpoint
        # on a busy server); lock_timeout still bounds every wait for a lock.
        self.maint.execute("SET statement_timeout = 0")
        key = self.acquire_lock()
        try:
            return self._run_locked()
        finally:
            self.release_lock(key)

    def _run_locked(self):
        db = self.database
        facts = self.server_facts()
        if facts["in_recovery"]:
            raise guardrail("the server is a standby (in recovery): a restore must run on the primary", "standby")
        leftovers = self.find_leftovers()
        current = self.db_info(db)
        if current is None and not any(a["action"] == "rename_back" for a in leftovers) \
                and self.params["if_missing"] != "create":
            raise PostgresError("database %s does not exist on the server; set if_missing=create to restore it as a new "
                                "database" % db, kind="not_found")
        entry = pgbackup.resolve(self.tools, self.tools.backup_dir, self.params["backup"], verify=True)
        self.result["backup"] = {"id": entry["id"], "path": entry["path"]}
        if entry["problems"] or not entry["verified"]:
            raise guardrail("backup %s failed verification, nothing was changed: %s"
                            % (entry["id"], "; ".join(entry["problems"]) or "unreadable"), "corrupt")
        restore_tool = self.check_versions(facts, entry)
        if entry["format"] == "plain":
            outside = self.tools.outside_database(entry["path"])
            if outside:
                raise guardrail("plain SQL file %s acts outside the database it would be restored into (%s): a "
                                "pg_dumpall or pg_dump --create file is not restored by this module, nothing was changed"
                                % (entry["path"], "; ".join(outside)), "corrupt")
        # Every byte of an archive readable (pg_restore to /dev/null) before anything changes.
        if entry["format"] in ("custom", "tar", "directory"):
            try:
                self.tools.read_through(entry["path"])
            except PostgresError as exc:
                raise guardrail("backup %s is not readable to its end, nothing was changed: %s" % (entry["id"], exc),
                                "corrupt")
        plan = self.build_plan(facts, current, entry, leftovers, restore_tool)
        self.result["plan"] = plan
        # A retried job must not restore twice: the database already holds this backup's data
        # (plus whatever was written since), unless the operator asks for the same backup again.
        last = self.last_restore() if current is not None and not leftovers else None
        if last and last["backup"] == entry["id"] and not self.params.get("repeat"):
            plan["already_restored"] = last
            plan["steps"] = ["nothing: %s was restored from %s at %s (the database it replaced is kept as %s); "
                             "set repeat=true to restore it again"
                             % (db, entry["id"], last["restored_at"], last["previous_database"])]
            self.result.update(changed=False, already_restored=last, restored_database=db,
                               previous_database=last["previous_database"],
                               msg="%s was already restored from %s at %s; nothing changed" % (
                                   db, entry["id"], last["restored_at"]))
            return self.result
        if self.check_mode:
            self.result["changed"] = True
            return self.result
        if self.params.get("confirm") != entry["id"]:
            raise guardrail("restore of %s from backup %s not confirmed: nothing was changed. Read the plan (backup taken "
                            "%s, write window %s s), then set confirm: %s"
                            % (db, entry["id"], entry.get("created_at"), plan["write_window"]["seconds"], entry["id"]),
                            "confirm_required")
        # From here on things change.
        if leftovers:
            self.result["cleaned_up"] = self.clean_up(leftovers)
            self.result["changed"] = True
            current = self.db_info(db)
        disk = self.disk_plan(facts, current, entry)
        plan["disk"] = disk
        if not disk["ok"]:
            short = [c for c in disk["checks"] if not c["ok"]]
            raise guardrail("not enough free space, nothing was changed: %s" % "; ".join(
                "%s in %s needs %d bytes, %d free" % (c["what"], c["where"], c["needed_bytes"], c["free_bytes"])
                for c in short), "disk")
        if current and not current["allowconn"] and self.params["safety_backup"]:
            raise guardrail("connections to %s are disallowed (ALLOW_CONNECTIONS false, not by this module), so its safety "
                            "backup cannot be taken; nothing was changed. Allow connections (the restore stops writers "
                            "itself) or set safety_backup=false" % db, "writers")
        if disk["skipped"] and self.params["disk_check"] != "skip":
            raise guardrail("free space cannot be measured for %s; nothing was changed. Make it measurable "
                            "(tools_via=exec, or a role that may read data_directory on a server on this host) or set "
                            "disk_check=skip" % "; ".join(disk["skipped"]), "disk")
        if current and self.params["safety_backup"]:
            with self.connect(db) as session:
                safety = pgbackup.take_backup(session, self.tools, db, self.quote, kind="safety",
                                              lock_wait_seconds=self.params.get("lock_timeout"))
            self.result["safety_backup"] = {"id": safety["id"], "path": safety["path"],
                                            "manifest_path": safety["manifest_path"]}
            self.result["changed"] = True
        new_name = "%s%s%s" % (db, RESTORING, self.run_id)
        template = current or {}
        swapped = False
        try:
            self.result["changed"] = True
            self.create_database(new_name, template, entry)
            self.tools.restore(entry["path"], new_name, jobs=self.params["jobs"], fmt=entry["format"])
            verification = self.verify_restored(new_name, entry)
            self.result["verification"] = verification
            if not verification["ok"]:
                raise guardrail("the restored data failed verification (%s); %s was not touched"
                                % (", ".join(verification["failed"]), db), "verification_failed")
            if current:
                self.result["settings_copied"] = self.copy_properties(current, new_name)
            self.swap_in(current, new_name, entry)
            swapped = True
        finally:
            if not swapped:
                self.result["dropped_restoring_database"] = self.drop_quietly(new_name)
        self.result["restored_database"] = db
        self.result["msg"] = self.summary(entry)
        return self.result

    def summary(self, entry):
        """One line for the operator and the timeline: what was restored, what was kept, what it cost."""
        result, db = self.result, self.database
        verification = result.get("verification") or {}
        counts = verification.get("counts") or {}
        parts = ["Restored %s from backup %s (taken %s)" % (db, entry["id"], entry.get("created_at") or "at an unknown time")]
        if result.get("previous_database"):
            parts.append("the database it replaced is kept as %s" % result["previous_database"])
        if result.get("safety_backup"):
            parts.append("safety backup %s" % result["safety_backup"]["id"])
        if verification.get("compared"):
            parts.append("row counts of %d table(s) match the backup's manifest" % len(counts))
        else:
            parts.append(verification.get("note") or "row counts not compared")
        checks = verification.get("checks") or []
        if checks:
            parts.append("checks: %s" % ", ".join("%s=%s" % (c.get("name") or c.get("sql"), c.get("value")) for c in checks))
        if result.get("downtime_seconds") is not None:
            parts.append("writers stopped for %.1f s" % result["downtime_seconds"])
        if not result.get("serving", True):
            parts.append("NOT SERVING: %s" % result.get("serving_error"))
        return "; ".join(parts)

    def check_versions(self, facts, entry):
        server_major = facts["version_num"] // 10000
        if entry["format"] == "plain":
            tool = self.tools.version("psql")
            return tool["text"]
        tool = self.tools.version("pg_restore")
        dump_major = pgbackup.version_major(entry.get("pg_dump_version"))
        if dump_major and tool["major"] < dump_major:
            raise guardrail("%s on %s is older than the pg_dump (%s) that wrote %s: use pg_restore %d or newer "
                            "(pg_bindir, or the pod's image)" % (tool["text"], self.tools.where(),
                                                                 entry["pg_dump_version"], entry["id"], dump_major),
                            "version")
        if tool["major"] < server_major:
            raise guardrail("%s on %s is older than the server (%s): use pg_restore %d or newer"
                            % (tool["text"], self.tools.where(), facts["version"], server_major), "version")
        return tool["text"]

    def create_database(self, name, template, entry):
        q = self.q
        parts = ["CREATE DATABASE %s TEMPLATE template0" % q(name)]
        if template:
            parts.append("OWNER %s" % q(template["owner"]))
            parts.append("ENCODING %s" % self.quote_literal(template["encoding"]))
            if template.get("locprovider") == "i" and template.get("iculocale"):
                parts.append("LOCALE_PROVIDER icu ICU_LOCALE %s" % self.quote_literal(template["iculocale"]))
            parts.append("LC_COLLATE %s LC_CTYPE %s" % (self.quote_literal(template["datcollate"]),
                                                        self.quote_literal(template["datctype"])))
            if template.get("tablespace") and template["tablespace"] != "pg_default":
                parts.append("TABLESPACE %s" % q(template["tablespace"]))
        self.maint.execute(" ".join(parts))
        self.set_comment(name, marker("restoring", database=self.database, run=self.run_id, backup=entry["id"]))

    def swap_in(self, current, new_name, entry):
        db = self.database
        if not current:
            with self.maint.transaction():
                self.maint.execute("ALTER DATABASE %s RENAME TO %s" % (self.q(new_name), self.q(db)))
                self.set_comment(db, None)
            self.result["previous_database"] = None
            self.result["downtime_seconds"] = 0
            self.check_serving()
            return
        previous = self.previous_name(pgbackup.utcnow())
        started = self.clock.monotonic()
        stopped_at = pgbackup.utcnow()
        try:
            self.result["sessions_ended"] = self.stop_writers(current)
            for attempt in range(3):
                try:
                    self.swap(current, new_name, entry, previous)
                    break
                except PostgresError as exc:
                    # 55006 object_in_use: a session got in while connections were being disallowed,
                    # or autovacuum was on the new database. End them and try again.
                    if exc.sqlstate != "55006" or attempt == 2:
                        raise
                    self.result["sessions_ended"] += self.end_sessions(db)
                    self.end_sessions(new_name)
        except BaseException:
            # Whatever went wrong, the current database serves again.
            try:
                still = self.db_info(db)
                if still is not None and still["oid"] == current["oid"]:
                    self.reallow(current)
            except Exception as exc:  # noqa: BLE001 - reported, and repaired by the next run
                self.result["reallow_failed"] = str(exc)
            raise
        self.result["downtime_seconds"] = round(self.clock.monotonic() - started, 3)
        self.result["write_window_end"] = pgbackup.iso(stopped_at)
        self.result["previous_database"] = previous
        self.result["plan"]["write_window"]["to"] = pgbackup.iso(stopped_at)
        created = pgbackup.parse_iso(entry.get("created_at"))
        if created:
            self.result["plan"]["write_window"]["seconds"] = int((stopped_at - created).total_seconds())
        self.check_serving()

    def check_serving(self):
        """Serving: a fresh session to the restored database answers."""
        db = self.database
        try:
            with self.connect(db) as session:
                session.scalar("SELECT 1 AS ok")
            self.result["serving"] = True
        except PostgresError as exc:
            self.result["serving"] = False
            self.result["serving_error"] = str(exc)

    def drop_quietly(self, name):
        """Drop the restoring database after a failure; say what happened rather than raise."""
        try:
            force = " WITH (FORCE)" if self.maint.server_version_num >= 130000 else ""
            self.maint.execute("DROP DATABASE IF EXISTS %s%s" % (self.q(name), force))
            return name
        except Exception as exc:  # noqa: BLE001 - the next run drops it (it carries the marker)
            self.result["leftover"] = "%s could not be dropped (%s); the next run drops it" % (name, " ".join(str(exc).split())[:300])
            return None
