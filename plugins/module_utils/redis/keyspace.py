# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a Redis database holds, by class of key: cache, queue, session, lock, rate_limit.

A flush meant for the cache must not take the work queues, the sessions and the locks with
it: ``scan_keyspace`` walks the keys with SCAN (never KEYS, which blocks the server), asks
their types in one pipelined round trip per SCAN batch, and classifies every key by name
(glob patterns, first class that matches wins) and, for names no pattern claims, by type
(a list or a stream is a queue).
"""

from __future__ import annotations

import fnmatch
import re
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import RedisError

DEFAULT_PATTERNS = {
    "cache": ["cache:*", "config:*", "workflows:*", "workflow:*:stats"],
    "queue": ["queue:*", "bull:*", "celery*", "*:queue"],
    "session": ["session:*", "sess:*"],
    "lock": ["lock:*", "*:lock", "locks:*"],
    "rate_limit": ["ratelimit:*", "rate_limit:*", "rl:*"],
}
CLASS_ORDER = ("cache", "queue", "session", "lock", "rate_limit")
# A flush that would delete these is refused unless forced.
PROTECTED_CLASSES = ("queue", "session", "lock")
UNCLASSIFIED = "unclassified"
# Keys no pattern claims but whose type makes them a queue.
QUEUE_TYPES = ("list", "stream")
# How long a queue is, by type.
LENGTH_COMMANDS = {"list": "LLEN", "stream": "XLEN", "zset": "ZCARD"}
TOP_QUEUES = 20

_compiled = {}


def merge_patterns(patterns=None):
    """DEFAULT_PATTERNS with the classes ``patterns`` gives replaced (a partial dict replaces only
    those); classes of its own come after the default ones, in the order given. A class mapped to
    an empty list matches nothing. Raises InvalidInput for anything but {class: [glob, ...]}."""
    merged = dict((name, list(DEFAULT_PATTERNS[name])) for name in CLASS_ORDER)
    if patterns is None:
        return merged
    if not isinstance(patterns, dict):
        raise InvalidInput("keyspace_patterns must be a mapping of class name to a list of key globs, not %s"
                           % type(patterns).__name__)
    for name, globs in patterns.items():
        if not isinstance(name, str) or not name.strip() or name == UNCLASSIFIED:
            raise InvalidInput("keyspace_patterns: %r is not a usable class name" % (name,))
        if isinstance(globs, str):
            globs = [globs]
        if globs is None:
            globs = []
        if not isinstance(globs, (list, tuple)) or not all(isinstance(g, str) and g for g in globs):
            raise InvalidInput("keyspace_patterns.%s must be a list of key globs such as ['cache:*']" % name)
        merged[name] = list(globs)
    return merged


def key_text(name):
    """A key name as text (bytes that are not UTF-8 as \\xNN escapes)."""
    if isinstance(name, bytes):
        return name.decode("utf-8", "backslashreplace")
    return str(name)


def _matcher(globs):
    key = tuple(globs)
    regex = _compiled.get(key)
    if regex is None:
        regex = re.compile("|".join("(?:%s)" % fnmatch.translate(g) for g in globs)) if globs else None
        if len(_compiled) > 256:
            _compiled.clear()
        _compiled[key] = regex
    return regex


def classify_key(name, key_type, patterns=None):
    """The class of one key: the first class (in the order of ``patterns``, DEFAULT_PATTERNS by
    default) with a glob that matches the whole name (case-sensitive, fnmatch rules); else
    ``queue`` for a list or a stream; else ``unclassified``."""
    text = key_text(name)
    for cls, globs in (DEFAULT_PATTERNS if patterns is None else patterns).items():
        regex = _matcher(globs)
        if regex is not None and regex.match(text):
            return cls
    if key_type in QUEUE_TYPES:
        return "queue"
    return UNCLASSIFIED


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def scan_batches(conn, match="*", scan_count=1000):
    """(cursor done, [(key bytes, type)]) per SCAN batch: one SCAN and one pipelined TYPE each.
    Keys gone between the two (type ``none``) are left out. Raises RedisError (the first TYPE
    that failed, such as a key the ACL user may not access)."""
    cursor = "0"
    while True:
        reply = conn.execute("SCAN", cursor, "MATCH", match, "COUNT", int(scan_count))
        if not isinstance(reply, list) or len(reply) != 2:
            raise RedisError("%s: SCAN gave an unexpected reply" % conn.where, command="SCAN")
        cursor, keys = _text(reply[0]), reply[1] or []
        typed = []
        if keys:
            types = conn.pipeline_execute([("TYPE", key) for key in keys])
            for key, key_type in zip(keys, types):
                if isinstance(key_type, RedisError):
                    raise key_type
                key_type = _text(key_type)
                if key_type != "none":
                    typed.append((key, key_type))
        done = cursor == "0"
        yield done, typed
        if done:
            return


def scan_keyspace(conn, patterns=None, match="*", scan_count=1000, limit=100000, sample=5, time_budget=10.0):
    """The keys of ``conn``'s database matching ``match``, counted by type and class.

    Returns {"scanned", "complete" (every matching key seen), "stopped_by" (null, ``limit`` or
    ``time_budget``), "by_type": {type: n}, "classes": {class: {"keys", "sample" (up to
    ``sample`` names), "types": {type: n}}}, "queues": [{"key", "type", "length"}] (the
    TOP_QUEUES longest queue-class lists, streams and sorted sets), "non_cache": [protected
    classes present], "match", "duration_seconds"}.
    ``patterns`` as merge_patterns takes them (None: DEFAULT_PATTERNS). Stops after ``limit`` keys
    or ``time_budget`` seconds (checked between batches).
    """
    if int(limit) < 1:
        raise InvalidInput("the keyspace scan limit must be at least 1, got %s" % limit)
    if int(scan_count) < 1:
        raise InvalidInput("scan_count must be at least 1, got %s" % scan_count)
    patterns = merge_patterns(patterns)
    started = time.monotonic()
    scanned, complete, stopped_by = 0, False, None
    by_type, classes, candidates = {}, {}, []
    for done, typed in scan_batches(conn, match=match, scan_count=scan_count):
        if scanned + len(typed) > limit:
            typed = typed[:limit - scanned]
            done, stopped_by = False, "limit"
        for key, key_type in typed:
            scanned += 1
            by_type[key_type] = by_type.get(key_type, 0) + 1
            cls = classify_key(key, key_type, patterns)
            entry = classes.setdefault(cls, {"keys": 0, "sample": [], "types": {}})
            entry["keys"] += 1
            entry["types"][key_type] = entry["types"].get(key_type, 0) + 1
            if len(entry["sample"]) < sample:
                entry["sample"].append(key_text(key))
            if cls == "queue" and key_type in LENGTH_COMMANDS:
                candidates.append((key, key_type))
        if done:
            complete = True
            break
        if stopped_by or scanned >= limit:
            stopped_by = "limit"
            break
        if time.monotonic() - started > time_budget:
            stopped_by = "time_budget"
            break
    queues = queue_lengths(conn, candidates)
    return {
        "scanned": scanned,
        "complete": complete,
        "stopped_by": None if complete else stopped_by,
        "by_type": dict(sorted(by_type.items())),
        "classes": classes,
        "queues": queues,
        "non_cache": [cls for cls in PROTECTED_CLASSES if cls in classes],
        "match": match,
        "duration_seconds": round(time.monotonic() - started, 3),
    }


def queue_lengths(conn, keys, top=TOP_QUEUES, batch=1000):
    """[{"key", "type", "length"}] of the ``top`` longest of (key, type) pairs, longest first;
    one pipelined round trip per ``batch`` keys. A key gone meanwhile has length 0."""
    found = []
    for start in range(0, len(keys), batch):
        chunk = keys[start:start + batch]
        replies = conn.pipeline_execute([(LENGTH_COMMANDS[key_type], key) for key, key_type in chunk])
        for (key, key_type), length in zip(chunk, replies):
            if isinstance(length, RedisError):
                raise length
            found.append({"key": key_text(key), "type": key_type, "length": int(length or 0)})
    found.sort(key=lambda q: (-q["length"], q["key"]))
    return found[:top]
