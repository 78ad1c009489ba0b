# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Guarded cache flush for redis_cache_flush: look at what would go before anything goes.

The runbook's "Cache Recovery" says ``redis-cli FLUSHALL``. On a Redis that also holds job
queues, sessions and locks that deletes work in flight. So, in order:

1. the server: a replica is refused (naming its primary: flush there, it replicates); a cluster
   node is refused (a flush acts on one node only);
2. the commands: the one the scope needs (FLUSHALL, FLUSHDB, or SCAN + UNLINK/DEL) must exist
   under its own name or the one O(command_names) maps it to - a renamed command is not guessed;
3. the inspection: every key in scope is SCANned (MATCH each pattern, or the whole db / every
   db) and classified by name and type (module_utils/redis/keyspace.py: cache, queue, session,
   lock, rate_limit, unclassified); a flush that would delete protected classes (queue, session,
   lock by default) is refused unless ``force``, and with force their DUMP and PTTL are written to
   ``save_to`` first (JSON lines, warmup.save_record), which redis_cache_warmup restores;
4. the flush: FLUSHALL/FLUSHDB (ASYNC by default), or for patterns a second SCAN that UNLINKs
   (or DELs) each batch - re-classified, so a protected key that appeared after the inspection
   and was not saved is spared, not deleted.

Check mode stops after step 3 with the same answer a real run gives (refusals included).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    GuardrailError,
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import keyspace
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import (
    RedisError,
    commands_available,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.warmup import (
    key_text,
    save_record,
)

SCOPES = ("pattern", "db", "all")
SAMPLE = 5  # key names listed per class
SAVE_BATCH = 200  # keys per DUMP+PTTL round trip (payloads can be large)

# Why a flush was refused (the module's `refused`).
REFUSALS = {
    "replica": "the server is a replica",
    "cluster": "the server is a cluster node",
    "command_unavailable": "a command the flush needs is renamed or disabled",
    "protected": "protected keys would be deleted and force is false",
    "save_required": "force deletes protected keys, which must be saved first (save_to)",
    "save_exists": "save_to exists already",
    "binary_transport": "saving needs a binary-safe transport",
    "max_keys": "more keys than max_keys would be deleted",
}


class FlushRefused(GuardrailError):
    """The flush was refused before anything was deleted; `reason` is a key of REFUSALS and
    `result` what the inspection found (returned with the failure)."""

    kind = "refused"

    def __init__(self, reason, message, result=None):
        super(FlushRefused, self).__init__(message)
        self.reason = reason
        self.result = result or {}


# --- options -----------------------------------------------------------------------------------------------


def check_options(params):
    """The flush options checked (InvalidInput before anything is sent)."""
    scope = params.get("scope")
    if scope not in SCOPES:
        raise InvalidInput("scope must be one of %s, got %r" % (", ".join(SCOPES), scope))
    patterns = list(params.get("patterns") or [])
    if scope == "pattern":
        if not patterns:
            raise InvalidInput("scope=pattern needs patterns (globs such as cache:*)")
        bad = [p for p in patterns if not isinstance(p, str) or not p]
        if bad:
            raise InvalidInput("patterns must be non-empty globs, got %r" % (bad,))
    elif patterns:
        raise InvalidInput("patterns only apply to scope=pattern (scope=%s flushes everything in its scope)" % scope)
    if (params.get("scan_count") or 0) < 1:
        raise InvalidInput("scan_count must be at least 1, got %s" % params.get("scan_count"))
    if (params.get("max_keys") or 0) < 0:
        raise InvalidInput("max_keys must be >= 0 (0: no limit), got %s" % params.get("max_keys"))
    key_patterns = keyspace.merge_patterns(params.get("keyspace_patterns"))
    protected = params.get("protected_classes")
    protected = list(keyspace.PROTECTED_CLASSES) if protected is None else list(protected)
    known = set(key_patterns) | {"queue", "unclassified"}
    unknown = [c for c in protected if c not in known]
    if unknown:
        raise InvalidInput("protected_classes %s are not classes (known: %s)" % (", ".join(unknown), ", ".join(sorted(known))))
    save_to = params.get("save_to")
    if save_to is not None and not str(save_to).strip():
        raise InvalidInput("save_to must be a path")
    return {
        "scope": scope, "patterns": patterns, "force": bool(params.get("force")), "save_to": save_to,
        "asynchronous": params.get("asynchronous", True) is not False, "keyspace_patterns": key_patterns,
        "protected_classes": protected, "command_names": params.get("command_names") or {},
        "scan_count": params.get("scan_count") or 1000, "max_keys": params.get("max_keys") or 0,
    }


# --- small helpers ------------------------------------------------------------------------------------------


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _scan_reply(reply):
    """(cursor, keys) from a SCAN reply as redis-py gives it (a tuple with an int, or the raw list)."""
    cursor, keys = reply[0], reply[1]
    return int(cursor), list(keys or [])


def _pipeline(conn, commands):
    """Replies of a pipelined batch; a command's error is raised (inspection must not guess)."""
    replies = conn.pipeline_execute(commands) if commands else []
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def _info(conn, section):
    try:
        return conn.info(section) or {}
    except Exception as exc:  # noqa: BLE001 - INFO may be renamed; the facts are then unknown, not fatal
        if getattr(exc, "kind", None) in ("unknown_command", "permission"):
            return {}
        raise


def _version(text):
    parts = []
    for piece in str(text or "0").split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def server_facts(conn):
    """Version, mode, role and primary of the server (INFO server, replication, cluster)."""
    server = _info(conn, "server")
    replication = _info(conn, "replication")
    cluster = _info(conn, "cluster") if server.get("redis_mode") != "cluster" else {"cluster_enabled": 1}
    role = _text(replication.get("role")) or None
    primary = None
    if role == "slave" or role == "replica":
        role = "replica"
        primary = "%s:%s" % (_text(replication.get("master_host")), _text(replication.get("master_port")))
    enabled = str(cluster.get("cluster_enabled", 0)) in ("1", "True", "true")
    return {"version": _text(server.get("redis_version")) or None,
            "mode": "cluster" if enabled or server.get("redis_mode") == "cluster" else (_text(server.get("redis_mode")) or None),
            "role": role, "primary": primary}


def server_refusal(facts):
    """(reason, message) when the server must not be flushed from here, else None (pure)."""
    if facts.get("mode") == "cluster":
        return ("cluster", "cluster mode: FLUSHALL, FLUSHDB and SCAN act on the one node connected to, and a "
                "cluster has only db 0; flush each primary on its own (CLUSTER NODES lists them: run the module "
                "once per primary with its host and port, or `redis-cli --cluster call <node> FLUSHALL` by hand)")
    if facts.get("role") == "replica":
        return ("replica", "the server is a replica of %s (read-only; a flush there would not reach the primary "
                "and would be undone by replication): connect to the primary %s and flush there, the replicas "
                "follow" % (facts.get("primary"), facts.get("primary")))
    return None


# --- commands --------------------------------------------------------------------------------------------


def available_names(conn, commands, command_names):
    """{command: the name to send, or None when renamed or disabled and not mapped}, in one COMMAND INFO.

    A name mapped in command_names is checked too, so a wrong mapping is refused before anything
    is deleted. When COMMAND itself is unavailable the names are sent as mapped (a missing one then
    fails when it is sent, with nothing deleted yet for FLUSHALL/FLUSHDB).
    """
    mapping = dict((str(k).upper(), v) for k, v in (command_names or {}).items())
    send = dict((c, mapping[c] if c in mapping else c) for c in commands)
    wanted = sorted(set(n for n in send.values() if n))
    try:
        known = commands_available(conn, wanted)
    except RedisError as exc:
        if exc.kind not in ("unknown_command", "permission"):
            raise
        known = dict((n.upper(), True) for n in wanted)
    return dict((c, n if n and known.get(n.upper()) else None) for c, n in send.items())


def plan_commands(scope, asynchronous, names, version=None, save=False):
    """What the flush sends, from the available names (command -> name to send, or None) (pure).

    Returns {"delete": name, "args": [...], "text": what ran, "names": {...}} or raises FlushRefused.
    The pattern scope falls back from UNLINK to DEL when only UNLINK is unavailable.
    """
    needed = ["SCAN", "TYPE", "DBSIZE"]
    if save:
        needed += ["DUMP", "PTTL"]
    plan = {"names": {}}
    if scope == "pattern":
        delete = names.get("UNLINK") if asynchronous else None
        if delete:
            plan["delete"], plan["text"] = delete, "SCAN MATCH + %s" % delete
        elif names.get("DEL"):
            plan["delete"] = names["DEL"]
            plan["text"] = "SCAN MATCH + %s%s" % (names["DEL"], " (UNLINK unavailable)" if asynchronous else "")
        else:
            needed.append("UNLINK" if asynchronous else "DEL")
    else:
        command = "FLUSHALL" if scope == "all" else "FLUSHDB"
        needed.append(command)
        if names.get(command):
            args = []
            if asynchronous:
                args = ["ASYNC"]
            elif version is None or _version(version) >= (6, 2, 0):
                args = ["SYNC"]  # explicit: lazyfree-lazy-user-flush would otherwise make it asynchronous
            plan["delete"], plan["args"] = names[command], args
            plan["text"] = " ".join([names[command]] + args)
    missing = [c for c in needed if not names.get(c)]
    if missing:
        raise FlushRefused("command_unavailable", "%s %s renamed or disabled on this server and not mapped: name the "
                           "new name(s) in command_names (e.g. command_names: {%s: <renamed name>}); a renamed "
                           "command is never guessed" % (", ".join(missing), "is" if len(missing) == 1 else "are",
                                                         missing[0]))
    plan["names"] = dict((c, names[c]) for c in needed if names.get(c))
    plan.setdefault("args", [])
    return plan


def protection_refusal(protected, options, supports_binary=True):
    """(reason, message) when the protected keys found stop the flush, else None (pure).

    `protected` is {class: count} of the protected classes the flush would delete.
    """
    if not protected:
        return None
    found = ", ".join("%s %d" % kv for kv in sorted(protected.items()))
    if not options["force"]:
        return ("protected", "refused: the flush would delete protected keys (%s); these are work in flight, not "
                "cache. Narrow the scope (scope=pattern with cache patterns), or set force=true with save_to to "
                "save them first (redis_cache_warmup src=<save_to> restores them)" % found)
    if not options.get("save_to"):
        return ("save_required", "refused: force=true would delete protected keys (%s); give save_to (a file on "
                "the control node) so they are saved (DUMP + PTTL) first" % found)
    if not supports_binary:
        return ("binary_transport", "refused: saving protected keys (%s) needs DUMP payloads, which connect_via=exec "
                "(redis-cli --json) cannot carry; use connect_via=direct or port_forward" % found)
    if os.path.exists(options["save_to"]):
        return ("save_exists", "refused: save_to %s exists already and may hold keys saved by an earlier flush; "
                "restore it or move it away, or give a new path" % options["save_to"])
    return None


# --- inspection -------------------------------------------------------------------------------------------


class Tally(object):
    """Counts of what a flush would delete: by class (with samples and types) and by type."""

    def __init__(self, protected_classes):
        self.protected_classes = protected_classes
        self.keys = 0
        self.classes = {}
        self.by_type = {}
        self.protected_keys = []  # (db, name, type) of protected classes, to save
        self.scanned_complete = True

    def add(self, db, name, key_type, key_class):
        self.keys += 1
        self.by_type[key_type] = self.by_type.get(key_type, 0) + 1
        entry = self.classes.setdefault(key_class, {"keys": 0, "sample": [], "types": {}})
        entry["keys"] += 1
        entry["types"][key_type] = entry["types"].get(key_type, 0) + 1
        if len(entry["sample"]) < SAMPLE:
            entry["sample"].append(key_text(name))
        if key_class in self.protected_classes:
            self.protected_keys.append((db, name, key_type))

    def protected(self):
        return dict((c, e["keys"]) for c, e in self.classes.items() if c in self.protected_classes)


def classify(name, key_type, patterns):
    return keyspace.classify_key(name, key_type, patterns)


def typed_batches(conn, names, match, scan_count):
    """SCAN MATCH `match`, each batch with its keys' types (one pipelined round trip): [(name, type)]."""
    cursor = 0
    while True:
        cursor, keys = _scan_reply(conn.execute(names["SCAN"], cursor, "MATCH", match, "COUNT", scan_count))
        if keys:
            types = _pipeline(conn, [(names["TYPE"], k) for k in keys])
            yield [(k, _text(t)) for k, t in zip(keys, types)]
        if cursor == 0:
            return


def inspect(conn, db, matches, names, options, tally=None):
    """Every key of `db` matching one of `matches`, classified, into a Tally. Keys gone between
    SCAN and TYPE (type none) are not counted; a key matched by two patterns counts once."""
    tally = tally or Tally(options["protected_classes"])
    seen = set() if len(matches) > 1 else None
    for match in matches:
        for batch in typed_batches(conn, names, match, options["scan_count"]):
            for name, key_type in batch:
                if key_type == "none":
                    continue
                if seen is not None:
                    if name in seen:
                        continue
                    seen.add(name)
                tally.add(db, name, key_type, classify(name, key_type, options["keyspace_patterns"]))
    return tally


def keyspace_dbs(conn):
    """{db number: keys} of the databases that hold keys (INFO keyspace)."""
    dbs = {}
    for name, value in (_info(conn, "keyspace") or {}).items():
        name = _text(name)
        if name.startswith("db") and name[2:].isdigit():
            keys = value.get("keys", 0) if isinstance(value, dict) else 0
            dbs[int(name[2:])] = int(keys)
    return dbs


def dbsize(conn, names):
    return int(conn.execute(names["DBSIZE"]))


# --- saving -----------------------------------------------------------------------------------------------


def save_keys(conns, keys, names, path):
    """DUMP + PTTL of each (db, name, type) into `path` as JSON lines (warmup.save_record), written
    to a temporary file beside it, 0600, then renamed: a crash never leaves half a save file.
    Returns {path, keys, bytes, gone} (gone: deleted between the inspection and the save)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700)
    handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=folder)
    count = gone = 0
    try:
        with os.fdopen(handle, "w") as out:
            for start in range(0, len(keys), SAVE_BATCH):
                chunk = keys[start:start + SAVE_BATCH]
                by_db = {}
                for item in chunk:
                    by_db.setdefault(item[0], []).append(item)
                for db, items in by_db.items():
                    commands = []
                    for _db, name, _type in items:
                        commands += [(names["PTTL"], name), (names["DUMP"], name)]
                    replies = _pipeline(conns(db), commands)
                    saved_at = int(time.time() * 1000)
                    for index, (_db, name, key_type) in enumerate(items):
                        pttl, dump = replies[2 * index], replies[2 * index + 1]
                        if dump is None or int(pttl) == -2:
                            gone += 1
                            continue
                        out.write(json.dumps(save_record(name, db, key_type, int(pttl), dump, saved_at)) + "\n")
                        count += 1
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {"path": os.path.abspath(path), "keys": count, "bytes": os.path.getsize(path), "gone": gone}


# --- the flush -------------------------------------------------------------------------------------------


def _delete_matching(conn, db, matches, names, plan, options, allowed):
    """The pattern flush: SCAN again, re-classify, delete each batch (one round trip). Protected
    keys are deleted only when saved (`allowed`); others that appeared meanwhile are spared."""
    deleted = spared = 0
    spared_sample = []
    for match in matches:
        for batch in typed_batches(conn, names, match, options["scan_count"]):
            doomed = []
            for name, key_type in batch:
                if key_type == "none":
                    continue
                key_class = classify(name, key_type, options["keyspace_patterns"])
                if key_class in options["protected_classes"] and (db, name) not in allowed:
                    spared += 1
                    if len(spared_sample) < SAMPLE:
                        spared_sample.append(key_text(name))
                    continue
                doomed.append(name)
            if doomed:
                reply = conn.execute(plan["delete"], *doomed)
                deleted += int(reply or 0)
    return deleted, spared, spared_sample


def flush(conn, params, check_mode=False, select_db=None):
    """Inspect, decide and (unless check mode) flush; returns the module's result fields or raises
    FlushRefused (with what was found), InvalidInput, or the connection's RedisError.

    ``conn`` is the RedisConn of the connection's db; ``select_db(n)`` gives another db's. An error
    after the inspection began carries ``result`` (what was found, and a save file already written).
    """
    holder = {}
    try:
        return _flush(conn, params, check_mode, select_db, holder)
    except FlushRefused:
        raise
    except IncidentResponseError as exc:
        exc.result = holder.get("result") or {}
        raise


def _flush(conn, params, check_mode, select_db, holder):
    started = time.monotonic()
    options = check_options(params)
    db = getattr(conn, "db", None)  # the connection's: the db option, else the url's, else 0
    if db is None:
        db = params.get("db") or 0
    result = {"changed": False, "scope": options["scope"], "db": db if options["scope"] != "all" else None,
              "patterns": options["patterns"], "would_delete": 0, "deleted": 0, "classes": {}, "by_type": {},
              "protected": {}, "saved": None, "command": None, "dbsize_before": None, "dbsize_after": None,
              "duration_seconds": None, "refused": None, "spared": 0, "server": None}
    holder["result"] = result

    def refuse(reason, message):
        result["refused"] = reason
        result["duration_seconds"] = round(time.monotonic() - started, 3)
        raise FlushRefused(reason, message, result)

    facts = server_facts(conn)
    result["server"] = facts
    refusal = server_refusal(facts)
    if refusal:
        refuse(*refusal)

    scope = options["scope"]
    wanted = ["SCAN", "TYPE", "DUMP", "PTTL", "DBSIZE"]
    wanted += {"pattern": ["UNLINK", "DEL"], "db": ["FLUSHDB"], "all": ["FLUSHALL"]}[scope]
    names = available_names(conn, wanted, options["command_names"])
    try:
        plan = plan_commands(scope, options["asynchronous"], names, facts.get("version"))
    except FlushRefused as exc:
        refuse(exc.reason, str(exc))
    result["command"] = plan["text"]

    conns = {db: conn}

    def conn_for(number):
        if number not in conns:
            if select_db is None:
                raise InvalidInput("scope=all needs a connection that can switch databases")
            conns[number] = select_db(number)
        return conns[number]

    # What is in scope, by db; scope=all covers every db that holds keys.
    if scope == "all":
        dbs = sorted(keyspace_dbs(conn))
        before = sum(dbsize(conn_for(n), names) for n in dbs)
    else:
        dbs = [db]
        before = dbsize(conn, names)
    result["dbsize_before"] = before
    matches = options["patterns"] if scope == "pattern" else ["*"]
    tally = Tally(options["protected_classes"])
    for number in dbs:
        inspect(conn_for(number), number, matches, names, options, tally)
    result.update(would_delete=tally.keys, classes=tally.classes, by_type=tally.by_type, protected=tally.protected())

    if scope == "pattern" and options["max_keys"] and tally.keys > options["max_keys"]:
        refuse("max_keys", "refused: %d keys match %s, more than max_keys %d; narrow the patterns or raise max_keys"
               % (tally.keys, ", ".join(options["patterns"]), options["max_keys"]))
    refusal = protection_refusal(result["protected"], options, getattr(conn, "supports_binary", True))
    if refusal:
        refuse(*refusal)

    save = bool(tally.protected_keys)
    if save:
        try:
            plan = plan_commands(scope, options["asynchronous"], names, facts.get("version"), save=True)
        except FlushRefused as exc:
            refuse(exc.reason, str(exc))

    nothing = tally.keys == 0 and (scope == "pattern" or before == 0)
    result["changed"] = not nothing
    if check_mode or nothing:
        result["dbsize_after"] = before
        if save and check_mode:
            result["would_save"] = len(tally.protected_keys)
        result["duration_seconds"] = round(time.monotonic() - started, 3)
        result["msg"] = message(result, check_mode)
        return result

    allowed = set()
    if save:
        result["saved"] = save_keys(conn_for, tally.protected_keys, plan["names"], options["save_to"])
        allowed = set((d, n) for d, n, _t in tally.protected_keys)

    if scope == "pattern":
        deleted, spared, spared_sample = _delete_matching(conn, db, matches, plan["names"], plan, options, allowed)
        result.update(deleted=deleted, spared=spared)
        if spared:
            result["spared_sample"] = spared_sample
        after = dbsize(conn, names)
    elif scope == "db":
        # DBSIZE and the flush in one transaction: the count is exactly what the flush removed.
        replies = conn.pipeline_execute([(names["DBSIZE"],), tuple([plan["delete"]] + plan["args"])], transaction=True)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        result["deleted"] = int(replies[0])
        after = dbsize(conn, names)
    else:
        counts = keyspace_dbs(conn)
        conn.execute(plan["delete"], *plan["args"])
        result["deleted"] = sum(counts.values())
        after = sum(keyspace_dbs(conn).values())
    result["dbsize_after"] = after
    result["changed"] = result["deleted"] > 0
    result["duration_seconds"] = round(time.monotonic() - started, 3)
    result["msg"] = message(result, check_mode)
    return result


def _where(result):
    if result["scope"] == "all":
        return "every database"
    if result["scope"] == "db":
        return "db %s" % result["db"]
    return "keys matching %s in db %s" % (", ".join(result["patterns"]), result["db"])


def message(result, check_mode):
    """What happened, in one line."""
    classes = ", ".join("%s %d" % (c, e["keys"]) for c, e in sorted(result["classes"].items()))
    if not result["changed"]:
        where = _where(result)
        return "nothing to delete: no %s" % (where if result["scope"] == "pattern" else "key in %s" % where)
    what = "(%s) from %s with %s" % (classes or "-", _where(result), result["command"])
    if check_mode:
        text = "would delete %d key(s) %s" % (result["would_delete"], what)
        if result.get("would_save"):
            text += "; %d protected key(s) would be saved to the save_to file first" % result["would_save"]
        return text
    text = "deleted %d key(s) %s" % (result["deleted"], what)
    if result["saved"]:
        text += "; %d protected key(s) saved to %s first (redis_cache_warmup src=%s restores them)" % (
            result["saved"]["keys"], result["saved"]["path"], result["saved"]["path"])
    if result.get("spared"):
        text += "; %d protected key(s) that appeared after the inspection were spared" % result["spared"]
    return text
