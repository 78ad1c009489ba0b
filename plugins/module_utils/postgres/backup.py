# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Backups: taking one with its manifest, reading what a backup directory holds.

A backup this collection takes is ``<backup_dir>/<db>-<YYYYmmddTHHMMSSZ>.dump`` (pg_dump
custom format) with ``<same stem>.manifest.json``::

    {"id": stem, "database": ..., "format": "custom", "created_at": UTC ISO (the snapshot's time),
     "server_version": ..., "pg_dump_version": ..., "size_bytes": ..., "sha256": ...,
     "database_size_bytes": pg_database_size at the snapshot, "snapshot": exported snapshot id,
     "tables": {"schema.table": exact rows}, "tables_scope": "all" | "critical", "kind": "scheduled" | "safety"}

The counts and the dump see the same data: a REPEATABLE READ transaction exports its snapshot
(pg_export_snapshot), counts every table in it, and pg_dump --snapshot reads the same snapshot
while the transaction stays open.

Any other dump (a "foreign" one, such as a nightly job's) has the id ``<file name>@<sha256 first 12>``,
so a restore's confirmation names exactly that content; its time is the archive's own
"Archive created at" (pg_restore --list), else the file's modification time. Formats are
recognised by content, never by file name.
"""

from __future__ import annotations

import datetime
import json
import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    GuardrailError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import tools as pgtools
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    PostgresError,
)

MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
DUMP_SUFFIX = ".dump"
KINDS = ("scheduled", "safety")
# Free space a backup needs, as a multiple of pg_database_size (a custom dump is usually far smaller).
SPACE_FACTOR = 1.2
_STEM = re.compile(r"^(?P<db>.+)-(?P<ts>\d{8}T\d{6}Z)(?:-\d+)?$")
_FOREIGN_ID = re.compile(r"^(?P<name>.+)@(?P<sha>[0-9a-f]{12})$")
_TOC_FIELDS = {
    "Archive created at": "archive_created_at",
    "dbname": "dbname",
    "TOC Entries": "toc_entries",
    "Compression": "compression",
    "Dump Version": "archive_version",
    "Format": "archive_format",
    "Dumped from database version": "server_version",
    "Dumped by pg_dump version": "pg_dump_version",
}
_PLAIN_VERSIONS = (
    (re.compile(r"^-- Dumped from database version (.+)$", re.M), "server_version"),
    (re.compile(r"^-- Dumped by pg_dump version (.+)$", re.M), "pg_dump_version"),
)

# User tables with their exact row counts: ordinary and partitioned tables of every schema but
# the system's, without extension members (pg_dump does not dump their data) and without
# partitions (their parent's count includes them).
TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1, 2
"""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def parse_iso(text):
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def safe_name(database):
    """A database name as a file name: letters, digits, '.', '_' and '-' kept, the rest '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", database) or "_"


def backup_stem(database, moment):
    return "%s-%s" % (safe_name(database), moment.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))


def table_key(schema, name):
    return "%s.%s" % (schema, name)


def split_table(key):
    """('schema', 'table') of 'schema.table' or 'table' (schema public)."""
    if "." in key:
        schema, name = key.split(".", 1)
        return schema, name
    return "public", key


def normalize_tables(names):
    return [table_key(*split_table(name)) for name in names or []]


def list_tables(session):
    return [table_key(row["schema"], row["name"]) for row in session.query(TABLES_SQL)]


def count_rows(session, tables, quote):
    """{schema.table: exact count}; a table that does not exist is None."""
    existing = set(list_tables(session))
    counts = {}
    for key in tables:
        if key not in existing:
            counts[key] = None
            continue
        schema, name = split_table(key)
        counts[key] = session.scalar("SELECT count(*) AS n FROM %s.%s" % (quote(schema), quote(name)))
    return counts


def parse_toc(text):
    """The header fields and a summary of a pg_restore --list output."""
    header = {}
    entries = tables = table_data = 0
    for line in (text or "").splitlines():
        if line.startswith(";"):
            body = line.lstrip(";").strip()
            if body.startswith("Archive created at"):
                header["archive_created_at"] = body[len("Archive created at"):].strip()
            elif ":" in body:
                key, value = body.split(":", 1)
                if key.strip() in _TOC_FIELDS:
                    header[_TOC_FIELDS[key.strip()]] = value.strip()
            continue
        if not line.strip():
            continue
        entries += 1
        if " TABLE DATA " in line:
            table_data += 1
        elif " TABLE " in line:
            tables += 1
    header["entries"] = entries
    header["tables"] = tables
    header["table_data"] = table_data
    return header


def parse_archive_time(text):
    """The archive's creation time (pg_restore prints it in its TZ, which the tools set to UTC)."""
    if not text:
        return None
    match = re.match(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*(UTC|GMT|Z|[+-]\d{2}:?\d{2})?$", text.strip())
    if not match:
        return None
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    zone = match.group(2) or "UTC"
    if zone in ("UTC", "GMT", "Z"):
        return moment.replace(tzinfo=datetime.timezone.utc)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.replace(tzinfo=datetime.timezone(sign * offset))


def parse_plain_header(text):
    found = {}
    for pattern, field in _PLAIN_VERSIONS:
        match = pattern.search(text or "")
        if match:
            found[field] = match.group(1).strip()
    return found


def version_major(text):
    match = re.match(r"^\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def foreign_id(name, sha256):
    return "%s@%s" % (name, sha256[:12])


def is_candidate(name):
    """Directory entries that may be dumps: not manifests, partial files or hidden files."""
    return not (name.startswith(".") or name.endswith(MANIFEST_SUFFIX) or name.endswith(PARTIAL_SUFFIX))


def manifest_path_of(path):
    stem = path[:-len(DUMP_SUFFIX)] if path.endswith(DUMP_SUFFIX) else path
    return stem + MANIFEST_SUFFIX


def read_manifest(tools, path):
    """(manifest dict or None, problem or None) for the dump at ``path``."""
    mpath = manifest_path_of(path)
    if tools.stat(mpath) is None:
        return None, None
    try:
        manifest = json.loads(tools.read_text(mpath))
    except ValueError as exc:
        return None, "manifest %s is not valid JSON: %s" % (mpath, exc)
    if not isinstance(manifest, dict) or not manifest.get("id") or not manifest.get("sha256"):
        return None, "manifest %s lacks id or sha256" % mpath
    return manifest, None


def directory_digest(tools, path):
    """sha256 over a directory dump's files: sha256 of 'name sha256' lines, sorted by name."""
    lines = []
    for name in tools.listdir(path):
        lines.append("%s %s\n" % (name, tools.sha256(path.rstrip("/") + "/" + name)))
    import hashlib

    return hashlib.sha256("".join(sorted(lines)).encode("utf-8")).hexdigest()


def inspect(tools, path, verify=True, now=None):
    """Everything known about one dump: id, format, time, versions, manifest, verification.

    Returns None when ``path`` is not a dump at all (and has no manifest); raises
    PostgresError(not_found) when it does not exist.
    """
    now = now or utcnow()
    st = tools.stat(path)
    if st is None:
        raise PostgresError("backup %s does not exist on %s" % (path, tools.where()), kind="not_found")
    name = path.rstrip("/").rsplit("/", 1)[-1]
    problems = []
    is_dir = st["type"] == "directory"
    if is_dir:
        has_toc = tools.stat(path.rstrip("/") + "/toc.dat") is not None
        fmt = pgtools.detect_format(b"", is_dir=True, has_toc=has_toc)
        head = b""
    else:
        head = tools.head(path)
        fmt = pgtools.detect_format(head)
    manifest, manifest_problem = read_manifest(tools, path)
    if manifest_problem:
        problems.append(manifest_problem)
    if fmt is None and manifest is None:
        return None
    entry = {
        "name": name, "path": path, "format": fmt, "size_bytes": st["size"], "foreign": manifest is None,
        "manifest": manifest, "manifest_path": manifest_path_of(path) if manifest else None,
        "kind": (manifest or {}).get("kind"), "database": (manifest or {}).get("database"),
        "server_version": None, "pg_dump_version": None, "toc": None, "sha256": None, "verified": False,
        "problems": problems, "mtime": iso(datetime.datetime.fromtimestamp(st["mtime"], datetime.timezone.utc)),
    }
    if fmt is None:
        problems.append(pgtools.format_problem(head, is_dir))
    toc = {}
    if fmt in ("custom", "tar", "directory"):
        try:
            toc = parse_toc(tools.toc(path))
            entry["toc"] = {k: toc.get(k) for k in ("dbname", "entries", "tables", "table_data", "compression",
                                                    "archive_format", "archive_version")}
        except PostgresError as exc:
            problems.append("the table of contents is not readable: %s" % exc)
    elif fmt == "plain":
        toc = parse_plain_header(tools.read_text(path, limit=pgtools.HEAD_BYTES))
    entry["server_version"] = toc.get("server_version") or (manifest or {}).get("server_version")
    entry["pg_dump_version"] = toc.get("pg_dump_version") or (manifest or {}).get("pg_dump_version")
    if entry["database"] is None:
        entry["database"] = toc.get("dbname")
    # When the backup was taken: the manifest's snapshot time, else the archive's, else the file's.
    created = parse_iso((manifest or {}).get("created_at"))
    source = "manifest"
    if created is None:
        created, source = parse_archive_time(toc.get("archive_created_at")), "archive"
    if created is None:
        created, source = parse_iso(entry["mtime"]), "mtime"
    entry["created_at"] = iso(created)
    entry["created_at_source"] = source
    entry["age_seconds"] = int((now - created).total_seconds()) if created else None
    if manifest is not None:
        entry["id"] = manifest["id"]
    needs_digest = verify or manifest is None
    if needs_digest:
        entry["sha256"] = directory_digest(tools, path) if is_dir else tools.sha256(path)
    if manifest is None:
        entry["id"] = foreign_id(name, entry["sha256"])
    if verify:
        if manifest is not None and entry["sha256"] != manifest.get("sha256"):
            problems.append("sha256 %s does not match the manifest's %s: the file changed or is corrupt"
                            % (entry["sha256"][:12], str(manifest.get("sha256"))[:12]))
        if manifest is not None and manifest.get("size_bytes") not in (None, st["size"]) and not is_dir:
            problems.append("size %d does not match the manifest's %s" % (st["size"], manifest.get("size_bytes")))
        entry["verified"] = not problems and fmt is not None
    return entry


def list_backups(tools, directory, verify=True, database=None, now=None):
    """Every dump in ``directory``, newest first, and the names that could not be read."""
    entries, skipped = [], []
    for name in tools.listdir(directory):
        if not is_candidate(name):
            continue
        path = directory.rstrip("/") + "/" + name
        try:
            entry = inspect(tools, path, verify=verify, now=now)
        except PostgresError as exc:
            skipped.append({"name": name, "reason": str(exc)})
            continue
        if entry is None:
            continue
        if database and entry.get("database") != database:
            continue
        entries.append(entry)
    entries.sort(key=lambda e: (e.get("created_at") or "", e["name"]), reverse=True)
    return entries, skipped


def resolve(tools, directory, ref, verify=True, now=None):
    """The dump a ``backup`` option names: a path, a file name in ``directory``, a manifest id
    (``<db>-<ts>``) or a foreign id (``<name>@<sha12>``, whose content must still match)."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInput("backup is required: a backup id, a file name in backup_dir or a path")
    expected_sha = None
    match = _FOREIGN_ID.match(ref)
    if match and "/" not in ref:
        ref, expected_sha = match.group("name"), match.group("sha")
    if ref.startswith("/"):
        candidates = [ref]
    elif "/" in ref:
        raise InvalidInput("backup %r: give an absolute path, a file name in backup_dir or a backup id" % ref)
    else:
        base = directory.rstrip("/") + "/"
        candidates = [base + ref, base + ref + DUMP_SUFFIX]
    for path in candidates:
        if tools.stat(path) is not None:
            entry = inspect(tools, path, verify=verify or expected_sha is not None, now=now)
            if entry is None:
                raise GuardrailError("%s is not a PostgreSQL dump (no PGDMP, tar or pg_dump SQL header)" % path)
            if expected_sha and not (entry.get("sha256") or "").startswith(expected_sha):
                raise GuardrailError("backup %s has changed since it was identified as %s: its content is now %s"
                                     % (path, match.group(0), entry["id"]))
            return entry
    raise PostgresError("backup %r not found in %s on %s" % (ref, directory, tools.where()), kind="not_found")


# --- taking a backup ------------------------------------------------------------------------


def plan_backup(session, tools, database, now=None):
    """Where the backup goes and whether it fits: path, estimated size, free space."""
    now = now or utcnow()
    size = session.scalar("SELECT pg_database_size(%s) AS size", (database,))
    free, filesystem = tools.free(tools.backup_dir)
    stem = backup_stem(database, now)
    path = tools.path(stem + DUMP_SUFFIX)
    suffix = 1
    while tools.stat(path) is not None or tools.stat(path + PARTIAL_SUFFIX) is not None:
        suffix += 1
        path = tools.path("%s-%d%s" % (stem, suffix, DUMP_SUFFIX))
    required = int(size * SPACE_FACTOR)
    return {"database": database, "path": path, "manifest_path": manifest_path_of(path),
            "estimated_size_bytes": size, "required_free_bytes": required, "free_bytes": free,
            "filesystem": filesystem, "enough_space": free >= required, "where": tools.where(),
            "backup_dir": tools.backup_dir, "tools_via": tools.via}


def refuse_if_no_space(plan):
    if not plan["enough_space"]:
        error = GuardrailError(
            "not enough free space for a backup of %s in %s on %s: %d bytes free, %d needed (%.1f x the database's "
            "size of %d bytes); free space or choose another backup_dir"
            % (plan["database"], plan["backup_dir"], plan["where"], plan["free_bytes"], plan["required_free_bytes"],
               SPACE_FACTOR, plan["estimated_size_bytes"]))
        error.kind = "disk"
        raise error


def take_backup(session, tools, database, quote, kind="scheduled", critical_tables=None, lock_wait_seconds=None,
                plan=None):
    """Dump ``database`` (the database ``session`` is connected to), verify it, write its manifest.

    Returns {id, path, manifest_path, manifest, verified}. On any failure the partial files are
    removed and PostgresError/GuardrailError raised.
    """
    if kind not in KINDS:
        raise InvalidInput("kind must be one of %s" % ", ".join(KINDS))
    plan = plan or plan_backup(session, tools, database)
    refuse_if_no_space(plan)
    path = plan["path"]
    stem = path.rsplit("/", 1)[-1][:-len(DUMP_SUFFIX)]
    partial = path + PARTIAL_SUFFIX
    dump_version = tools.version("pg_dump")
    server_num = session.server_version_num
    if dump_version["major"] < server_num // 10000:
        error = GuardrailError("pg_dump %s on %s is older than the server (%d): use the server's major version or newer"
                               % (dump_version["text"], tools.where(), server_num // 10000))
        error.kind = "version"
        raise error
    tools.prepare_write()
    written = []
    try:
        with session.transaction(isolation="REPEATABLE READ"):
            session.execute("SET TRANSACTION READ ONLY")
            # This transaction only holds the snapshot while pg_dump and the counts read it.
            session.execute("SET LOCAL statement_timeout = 0")
            session.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            row = session.one("SELECT pg_export_snapshot() AS snapshot, now() AS at, "
                              "pg_database_size(current_database()) AS size, current_setting('server_version') AS version")
            scope = "critical" if critical_tables else "all"
            tables = normalize_tables(critical_tables) if critical_tables else list_tables(session)
            counts = count_rows(session, tables, quote)
            missing = sorted(k for k, v in counts.items() if v is None)
            if missing:
                raise InvalidInput("critical_tables not found in %s: %s" % (database, ", ".join(missing)))
            written.append(partial)
            tools.dump(database, partial, snapshot=row["snapshot"], lock_wait_seconds=lock_wait_seconds)
        tools.rename(partial, path)
        written.append(path)
        toc = parse_toc(tools.toc(path))
        st = tools.stat(path)
        digest = tools.sha256(path)
        manifest = {
            "id": stem, "database": database, "format": "custom", "created_at": iso(row["at"]),
            "server_version": row["version"], "pg_dump_version": dump_version["text"],
            "size_bytes": st["size"], "sha256": digest, "database_size_bytes": row["size"],
            "snapshot": row["snapshot"], "tables": counts, "tables_scope": scope, "kind": kind,
            "toc_entries": toc.get("entries"), "tools_via": tools.via,
        }
        mpath = manifest_path_of(path)
        written.append(mpath)
        tools.write_text(mpath, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except BaseException:
        for leftover in written:
            try:
                tools.remove(leftover)
            except Exception:  # noqa: BLE001 - the original error matters
                pass
        raise
    return {"id": stem, "path": path, "manifest_path": mpath, "manifest": manifest, "verified": True}
