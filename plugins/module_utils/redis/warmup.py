# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cache warm-up for redis_cache_warmup: write a list of keys, pipelined in batches, then verify.

An entry is either a value of one of the five types::

    {"key": "config:flags", "type": "hash", "value": {"a": "1"}, "ttl": 3600}

or a serialized key from a flush's save file (module_utils/redis/flush.py writes them, one JSON
object per line; this module reads them back)::

    {"key": "queue:jobs", "db": 0, "type": "list", "pttl": -1, "dump": "<base64 of DUMP>",
     "saved_at": 1764301234567}

``dump`` goes back with RESTORE, so the value comes back byte for byte. ``pttl`` is the
remaining time to live when it was saved (-1: none); with ``saved_at`` (milliseconds since the
epoch) the key keeps its original expiry time: it gets what is left of it, and a key whose time
ran out meanwhile is not written (``skipped_expired``). A key name that is not UTF-8 is stored
base64-encoded with ``"key_base64": true``.

Writing: with ``replace`` false (the default) one pipelined EXISTS per batch finds the keys that
already exist, which are left alone; the others are written in a second round trip (strings with
SET NX, dumps with RESTORE without REPLACE, so a key created meanwhile by the application wins).
With ``replace`` true each batch is one MULTI/EXEC in which every key is deleted and written, so
no reader sees a half-written key. Large collections are written in commands of at most
CHUNK elements. Errors are per key (a key the ACL user may not write, a server out of memory):
they are counted and reported, and ``verify`` fails the run when a key is missing afterwards.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput

TYPES = ("string", "hash", "list", "set", "zset")
# Fields an entry may have (in a src file; the module's `keys` option documents the same).
FIELDS = ("key", "key_base64", "type", "value", "ttl", "dump", "pttl", "saved_at", "db")
CHUNK = 1000  # elements per RPUSH/SADD/HSET/ZADD command: big collections stay in bounded commands
MAX_BATCH = 10000
MAX_ERRORS = 20  # error entries listed in the result (all are counted)
# Errors that mean the server or the connection is gone: the run stops instead of going on.
FATAL_KINDS = ("connection", "timeout", "tls", "auth", "library", "not_found")


# --- the save-file format --------------------------------------------------------------------------


def key_fields(name):
    """{"key": ...} for a key name (bytes): the text when it is UTF-8, else base64 with key_base64."""
    if isinstance(name, str):
        return {"key": name}
    try:
        return {"key": name.decode("utf-8")}
    except UnicodeDecodeError:
        return {"key": base64.b64encode(name).decode("ascii"), "key_base64": True}


def key_text(name):
    """A key name for messages and results (never fails; not for writing back)."""
    if isinstance(name, str):
        return name
    return name.decode("utf-8", "backslashreplace")


def save_record(name, db, key_type, pttl, dump, saved_at):
    """One line of a save file (a dict; json.dumps it): what warm-up needs to RESTORE the key."""
    record = key_fields(name)
    record.update(db=db, type=key_type, pttl=pttl, dump=base64.b64encode(dump).decode("ascii"), saved_at=saved_at)
    return record


# --- reading entries ----------------------------------------------------------------------------------


def load_src(path):
    """The entries of a src file: a JSON list, JSON lines (a flush's save file) or a YAML list."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("cannot read src %s: %s" % (path, exc))
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("{"):
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise InvalidInput("src %s line %d is not a JSON object (JSON lines expected): %s" % (path, number, exc))
        return entries
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = _yaml(path, text)  # a YAML flow list also starts with [
    else:
        data = _yaml(path, text)
    if not isinstance(data, list):
        raise InvalidInput("src %s must hold a list of entries (JSON list, YAML list or JSON lines), got %s"
                           % (path, type(data).__name__))
    return data


def _yaml(path, text):
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
        raise InvalidInput("src %s is not JSON and PyYAML is not installed to read it as YAML" % path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput("src %s is neither JSON, JSON lines nor YAML: %s" % (path, exc))


def _scalar(value, what):
    """A value Redis stores as a string: text as is, numbers as their decimal text, JSON for containers."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise InvalidInput("%s: %s values cannot be stored (text, numbers, or a list/dict stored as JSON)"
                       % (what, type(value).__name__))


def _number(value, what, minimum=None):
    if isinstance(value, bool):
        raise InvalidInput("%s must be a number, got %r" % (what, value))
    if not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidInput("%s must be a number, got %r" % (what, value))
    if math.isnan(value) or (minimum is not None and value < minimum):
        raise InvalidInput("%s must be a number%s, got %r" % (what, "" if minimum is None else " >= %s" % minimum, value))
    return value


def normalize_entry(item, index, default_db, now_ms):
    """One entry checked and made ready to write (a dict with bytes key, db, type, ...); InvalidInput
    names the entry when it is unusable."""
    where = "entry %d" % index
    if not isinstance(item, dict):
        raise InvalidInput("%s must be a dict with key and value (or dump), got %s" % (where, type(item).__name__))
    present = dict((k, v) for k, v in item.items() if v is not None)
    unknown = sorted(set(present) - set(FIELDS))
    if unknown:
        raise InvalidInput("%s: unknown field(s) %s (known: %s)" % (where, ", ".join(unknown), ", ".join(FIELDS)))
    name = present.get("key")
    if not isinstance(name, str) or name == "":
        raise InvalidInput("%s: key must be a non-empty string" % where)
    if present.get("key_base64"):
        try:
            key = base64.b64decode(name, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("%s: key_base64 is set but key is not base64" % where)
    else:
        key = name.encode("utf-8")
    where = "%s (key %s)" % (where, key_text(key))
    db = present.get("db", default_db)
    if isinstance(db, bool) or not isinstance(db, int) or db < 0:
        raise InvalidInput("%s: db must be an integer >= 0, got %r" % (where, db))
    entry = {"key": key, "db": db, "index": index, "expired": False}
    if "dump" in present:
        if "value" in present or "ttl" in present:
            raise InvalidInput("%s: give either value (with ttl) or dump (with pttl), not both" % where)
        try:
            entry["dump"] = base64.b64decode(present["dump"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise InvalidInput("%s: dump must be the base64 of a DUMP payload" % where)
        entry["type"] = str(present.get("type") or "unknown")
        pttl = present.get("pttl", -1)
        if isinstance(pttl, bool) or not isinstance(pttl, int) or pttl < -1:
            raise InvalidInput("%s: pttl must be an integer, -1 for no expiry, got %r" % (where, pttl))
        if pttl > 0 and "saved_at" in present:
            pttl = int(_number(present["saved_at"], "%s: saved_at" % where, 0)) + pttl - now_ms
            entry["expired"] = pttl <= 0
        entry["ttl_ms"] = pttl if pttl > 0 else None
        return entry
    key_type = present.get("type", "string")
    if key_type not in TYPES:
        raise InvalidInput("%s: type must be one of %s, got %r" % (where, ", ".join(TYPES), key_type))
    if "value" not in present:
        raise InvalidInput("%s: value (or dump) is required" % where)
    value = present["value"]
    entry["type"] = key_type
    if key_type == "string":
        entry["value"] = _scalar(value, where)
    elif key_type == "hash":
        if not isinstance(value, dict) or not value:
            raise InvalidInput("%s: a hash needs a non-empty dict of field: value" % where)
        entry["value"] = [(_scalar(f, where), _scalar(v, where)) for f, v in value.items()]
    elif key_type in ("list", "set"):
        if not isinstance(value, list) or not value:
            raise InvalidInput("%s: a %s needs a non-empty list (Redis stores no empty %s)" % (where, key_type, key_type))
        entry["value"] = [_scalar(v, where) for v in value]
    else:
        if not isinstance(value, dict) or not value:
            raise InvalidInput("%s: a zset needs a non-empty dict of member: score" % where)
        entry["value"] = [(_number(score, "%s: score of %s" % (where, member)), _scalar(member, where))
                          for member, score in value.items()]
    if "ttl" in present:
        ttl = _number(present["ttl"], "%s: ttl" % where)
        if ttl <= 0:
            raise InvalidInput("%s: ttl must be > 0 seconds (leave it out for no expiry), got %r" % (where, ttl))
        entry["ttl_ms"] = max(1, int(round(ttl * 1000)))
    else:
        entry["ttl_ms"] = None
    return entry


def normalize_entries(items, default_db=0, now_ms=None):
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return [normalize_entry(item, index, default_db, now_ms) for index, item in enumerate(items)]


# --- commands ---------------------------------------------------------------------------------------------


def _chunks(items, size=CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _score(value):
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return repr(float(value))


def write_commands(entry, replace, name=lambda command: command):
    """The commands that write one entry (tuples; `name` maps a command to what the server calls it).

    replace false: only for a key found absent; strings use SET NX and dumps RESTORE without
    REPLACE, so a key created meanwhile is not overwritten. replace true: the key is deleted and
    written (the caller wraps the batch in MULTI/EXEC).
    """
    key, ttl = entry["key"], entry.get("ttl_ms")
    if "dump" in entry:
        command = [name("RESTORE"), key, ttl or 0, entry["dump"]]
        if replace:
            command.append("REPLACE")
        return [tuple(command)]
    key_type, value = entry["type"], entry["value"]
    if key_type == "string":
        command = [name("SET"), key, value]
        if ttl:
            command += ["PX", ttl]
        if not replace:
            command.append("NX")
        return [tuple(command)]
    commands = [(name("DEL"), key)] if replace else []
    if key_type == "hash":
        for chunk in _chunks(value):
            commands.append((name("HSET"), key) + tuple(x for pair in chunk for x in pair))
    elif key_type == "list":
        for chunk in _chunks(value):
            commands.append((name("RPUSH"), key) + tuple(chunk))
    elif key_type == "set":
        for chunk in _chunks(value):
            commands.append((name("SADD"), key) + tuple(chunk))
    else:
        for chunk in _chunks(value):
            commands.append((name("ZADD"), key) + tuple(x for score, member in chunk for x in (_score(score), member)))
    if ttl:
        commands.append((name("PEXPIRE"), key, ttl))
    return commands


WRITE_COMMAND = {"string": "SET", "hash": "HSET", "list": "RPUSH", "set": "SADD", "zset": "ZADD"}


def needed_commands(entries, replace):
    """The commands writing these entries sends (as write_commands builds them), sorted."""
    needed = {"EXISTS"}
    for entry in entries:
        if entry["expired"]:
            continue
        if "dump" in entry:
            needed.add("RESTORE")
            continue
        needed.add(WRITE_COMMAND[entry["type"]])
        if entry["type"] != "string":
            if replace:
                needed.add("DEL")
            if entry.get("ttl_ms"):
                needed.add("PEXPIRE")
    return sorted(needed)


def command_namer(command_names):
    """The name to send for a command: the operator's map for renamed ones (O(command_names))."""
    mapping = dict((str(k).upper(), v) for k, v in (command_names or {}).items())

    def name(command):
        sent = mapping.get(command, command)
        if sent in ("", None):
            raise InvalidInput("command %s is disabled in command_names, and warm-up needs it" % command)
        return sent
    return name


# --- writing ----------------------------------------------------------------------------------------------


def _error_text(reply):
    return str(reply).strip() or type(reply).__name__


def _is_error(reply):
    return isinstance(reply, Exception)


def _fatal(exc):
    kind = getattr(exc, "kind", None)
    return kind in FATAL_KINDS


class WarmupRun(object):
    """Writes entries through a RedisConn (module_utils/redis/connection.py) and counts."""

    def __init__(self, conn, replace=False, batch_size=500, command_names=None, check_mode=False, select_db=None):
        if not 1 <= batch_size <= MAX_BATCH:
            raise InvalidInput("batch_size must be between 1 and %d, got %s" % (MAX_BATCH, batch_size))
        self.conn = conn
        self.replace = replace
        self.batch_size = batch_size
        self.name = command_namer(command_names)
        self.check_mode = check_mode
        self.select_db = select_db
        self.conns = {}
        self.written = 0
        self.skipped_existing = 0
        self.skipped_expired = 0
        self.failed = 0
        self.by_type = {}
        self.batches = 0
        self.errors = []
        self.write_seconds = 0.0

    def db_conn(self, db):
        """The connection for a db (entries of a FLUSHALL's save file carry theirs)."""
        if db not in self.conns:
            if self.select_db is None:
                raise InvalidInput("entries for db %s, but this connection cannot switch databases" % db)
            self.conns[db] = self.select_db(db)
        return self.conns[db]

    def _error(self, entry, reply):
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"key": key_text(entry["key"]), "db": entry["db"], "error": _error_text(reply)})

    def _written(self, entry):
        self.written += 1
        self.by_type[entry["type"]] = self.by_type.get(entry["type"], 0) + 1

    def existing(self, conn, batch):
        """Which entries of a batch already exist (one pipelined round trip of EXISTS)."""
        replies = conn.pipeline_execute([(self.name("EXISTS"), e["key"]) for e in batch])
        for reply in replies:
            if _is_error(reply):
                raise reply
        return [bool(r) for r in replies]

    def write_batch(self, conn, batch):
        if not self.replace:
            exists = self.existing(conn, batch)
            for entry, found in zip(batch, exists):
                if found:
                    self.skipped_existing += 1
            batch = [e for e, found in zip(batch, exists) if not found]
        if self.check_mode or not batch:
            if self.check_mode:
                for entry in batch:
                    self._written(entry)
            return
        commands, owner = [], []
        for entry in batch:
            for command in write_commands(entry, self.replace, self.name):
                commands.append(command)
                owner.append(entry)
        self.batches += 1
        try:
            replies = conn.pipeline_execute(commands, transaction=self.replace)
        except Exception as exc:  # noqa: BLE001 - a refused transaction (EXECABORT, OOM, NOPERM) fails its keys
            if _fatal(exc) or not hasattr(exc, "kind"):
                raise
            for entry in batch:
                self._error(entry, exc)
            return
        outcome = {}  # entry index -> "ok" | "existing" | error
        for entry, command, reply in zip(owner, commands, replies):
            state = outcome.get(entry["index"], "ok")
            if state != "ok":
                continue
            if _is_error(reply):
                busy = "BUSYKEY" in _error_text(reply).upper() and "dump" in entry
                outcome[entry["index"]] = "existing" if busy else reply
            elif reply is None and command[0] == self.name("SET"):
                outcome[entry["index"]] = "existing"  # SET NX: created by someone else meanwhile
        for entry in batch:
            state = outcome.get(entry["index"], "ok")
            if state == "ok":
                self._written(entry)
            elif state == "existing":
                self.skipped_existing += 1
            else:
                self._error(entry, state)

    def write(self, entries):
        """Write the entries, grouped by db in their order, batch_size keys per round trip."""
        started = time.monotonic()
        live = []
        for entry in entries:
            if entry["expired"]:
                self.skipped_expired += 1
            else:
                live.append(entry)
        for db, group in group_by_db(live):
            conn = self.db_conn(db)
            for start in range(0, len(group), self.batch_size):
                self.write_batch(conn, group[start:start + self.batch_size])
        self.write_seconds = time.monotonic() - started

    def missing(self, keys_by_db):
        """The keys (per db) that do not exist: pipelined EXISTS, batch_size per round trip."""
        absent = []
        for db, keys in keys_by_db:
            conn = self.db_conn(db)
            for start in range(0, len(keys), self.batch_size):
                chunk = keys[start:start + self.batch_size]
                replies = conn.pipeline_execute([(self.name("EXISTS"), k) for k in chunk])
                for key, reply in zip(chunk, replies):
                    if _is_error(reply):
                        raise reply
                    if not reply:
                        absent.append({"key": key_text(key), "db": db})
        return absent


def group_by_db(entries):
    """[(db, [entries])] in the order each db first appears."""
    groups = {}
    order = []
    for entry in entries:
        if entry["db"] not in groups:
            groups[entry["db"]] = []
            order.append(entry["db"])
        groups[entry["db"]].append(entry)
    return [(db, groups[db]) for db in order]


def verify_targets(entries, verify, default_db):
    """[(db, [key bytes])] to check afterwards: the `verify` names (in the connection's db), or by
    default every entry's key except those skipped as expired."""
    if verify is None:
        return [(db, [e["key"] for e in group]) for db, group in group_by_db([e for e in entries if not e["expired"]])]
    return [(default_db, [v.encode("utf-8") if isinstance(v, str) else v for v in verify])] if verify else []


def warmup(conn, entries, replace=False, batch_size=500, verify=None, command_names=None, check_mode=False,
           default_db=0, select_db=None):
    """Write normalized entries (normalize_entries) and verify; returns the module's result fields.

    ``conn`` is the RedisConn of ``default_db``; ``select_db(n)`` gives the one of another db.
    """
    started = time.monotonic()
    if any("dump" in e for e in entries) and not getattr(conn, "supports_binary", True):
        raise InvalidInput("entries with dump (a flush's save file) need a binary-safe transport: connect_via=exec "
                           "(redis-cli --json) cannot carry DUMP payloads; use connect_via=direct or port_forward")
    run = WarmupRun(conn, replace=replace, batch_size=batch_size, command_names=command_names, check_mode=check_mode,
                    select_db=select_db)
    for command in needed_commands(entries, replace):
        run.name(command)  # a disabled command the entries need fails here, before anything is written
    run.conns[default_db] = conn
    run.write(entries)
    targets = verify_targets(entries, verify, default_db)
    missing = [] if check_mode else run.missing(targets)
    duration = time.monotonic() - started
    result = {
        "changed": run.written > 0,
        "written": run.written,
        "skipped_existing": run.skipped_existing,
        "skipped_expired": run.skipped_expired,
        "failed_keys": run.failed,
        "errors": run.errors,
        "by_type": run.by_type,
        "batches": run.batches,
        "duration_seconds": round(duration, 3),
        "write_seconds": round(run.write_seconds, 3),
        "keys_per_second": round(run.written / run.write_seconds, 1) if run.written and run.write_seconds > 0 else None,
        "verified": 0 if check_mode else sum(len(keys) for _db, keys in targets),
        "missing": missing,
    }
    result["msg"] = summary(result, check_mode)
    return result


def summary(result, check_mode):
    """One line saying what happened (or would happen in check mode)."""
    types = ", ".join("%s %d" % kv for kv in sorted(result["by_type"].items()))
    text = "%s %d key(s)" % ("would write" if check_mode else "wrote", result["written"])
    if types:
        text += " (%s)" % types
    if not check_mode:
        text += " in %d batch(es), %.2f s" % (result["batches"], result["write_seconds"])
        if result["keys_per_second"]:
            text += " (%d keys/s)" % result["keys_per_second"]
    if result["skipped_existing"]:
        text += "; %d already existed (left as they are%s)" % (
            result["skipped_existing"], "" if check_mode else "; replace=true overwrites them")
    if result["skipped_expired"]:
        text += "; %d not written: their saved time to live ran out" % result["skipped_expired"]
    if result["failed_keys"]:
        text += "; %d could not be written (first: %s: %s)" % (
            result["failed_keys"], result["errors"][0]["key"], result["errors"][0]["error"])
    if result["missing"]:
        text += "; %d verified key(s) missing afterwards: %s" % (
            len(result["missing"]), ", ".join(m["key"] for m in result["missing"][:10]))
    elif not check_mode and result["verified"]:
        text += "; all %d verified key(s) exist" % result["verified"]
    return text
