# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cache warm-up without a server: entries checked, the commands each type becomes, batching,
replace and skip, errors per key, verify, src files, and the save-file round trip.

FakeRedis (here, also used by test_flush.py and the module tests) keeps keys in memory and
answers the commands the flush and the warm-up send, through the RedisConn interface of
module_utils/redis/connection.py. tests/integration/test_redis_flush_warmup.py does the same
against real redis-servers.
"""

from __future__ import annotations

import contextlib

import base64
import fnmatch
import json
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import warmup as wu

try:
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import RedisError
except ImportError:  # pragma: no cover - only while connection.py is being written
    class RedisError(Exception):
        def __init__(self, message, kind="error"):
            super(RedisError, self).__init__(message)
            self.kind = kind

WRITES = {"SET", "HSET", "RPUSH", "SADD", "ZADD", "PEXPIRE", "DEL", "UNLINK", "RESTORE", "FLUSHDB", "FLUSHALL"}


def err(message, kind="error"):
    try:
        return RedisError(message, kind=kind)
    except TypeError:  # pragma: no cover - a RedisError without the kind keyword
        exc = RedisError(message)
        exc.kind = kind
        return exc


def b(value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


class FakeServer(object):
    """The data of a fake Redis: dbs of {key: [type, value, expire_at_ms]}, a clock, and switches:
    renamed ({command: new name or ""}), role/primary, cluster, read_only (NOPERM on writes), oom."""

    def __init__(self):
        self.dbs = {}
        self.now = 1_000_000
        self.renamed = {}
        self.role = "master"
        self.primary = None
        self.cluster = False
        self.read_only = False
        self.oom = False
        self.log = []  # every command sent, as (db, name, args)
        self.round_trips = 0

    def db(self, number):
        data = self.dbs.setdefault(number, {})
        for key in [k for k, v in data.items() if v[2] is not None and v[2] <= self.now]:
            del data[key]
        return data


class FakeRedis(object):
    """A RedisConn on one db of a FakeServer."""

    def __init__(self, server=None, db=0, supports_binary=True):
        self.server = server or FakeServer()
        self.db = db
        self.supports_binary = supports_binary
        self.where = "fake db %d" % db
        self.via = "direct"

    def select_db(self, number):
        return FakeRedis(self.server, number, self.supports_binary)

    # -- RedisConn ----------------------------------------------------------------------------------------

    def execute(self, *args):
        self.server.round_trips += 1
        reply = self._run(args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def pipeline_execute(self, commands, transaction=False):
        self.server.round_trips += 1
        if transaction:
            for args in commands:  # queue-time refusals abort the whole transaction, like EXECABORT
                refusal = self._refusal(self._real_name(args[0]))
                if refusal is not None:
                    raise err("EXECABORT Transaction discarded because of previous errors: %s" % refusal, refusal.kind)
        return [self._run(args) for args in commands]

    def info(self, section=None):
        self.server.round_trips += 1
        if "INFO" in self.server.renamed:
            raise err("unknown command 'INFO'", "unknown_command")
        s = self.server
        if section == "server":
            return {"redis_version": "7.0.15", "redis_mode": "cluster" if s.cluster else "standalone"}
        if section == "replication":
            if s.role == "slave":
                host, port = s.primary.split(":")
                return {"role": "slave", "master_host": host, "master_port": int(port), "master_link_status": "up"}
            return {"role": "master", "connected_slaves": 0}
        if section == "cluster":
            return {"cluster_enabled": 1 if s.cluster else 0}
        if section == "keyspace":
            return dict(("db%d" % n, {"keys": len(s.db(n)), "expires": 0, "avg_ttl": 0})
                        for n in sorted(s.dbs) if s.db(n))
        raise AssertionError("unexpected INFO section %r" % section)

    # -- the commands --------------------------------------------------------------------------------------

    def _real_name(self, sent):
        """The real command for the name sent, or None when the server does not know that name."""
        sent = sent.upper() if isinstance(sent, str) else sent.decode().upper()
        renamed = self.server.renamed
        if sent in renamed:
            return None
        for real, new in renamed.items():
            if new and new.upper() == sent:
                return real
        return sent if hasattr(self, "_" + sent.lower()) else None

    def _refusal(self, command):
        if command is None:
            return err("ERR unknown command, with args beginning with: (renamed or disabled; see command_names)",
                       "unknown_command")
        if command in WRITES and self.server.read_only:
            return err("NOPERM this user has no permissions to run the '%s' command" % command.lower(), "permission")
        if command in WRITES - {"DEL", "UNLINK", "FLUSHDB", "FLUSHALL"} and self.server.oom:
            return err("OOM command not allowed when used memory > 'maxmemory'.", "error")
        return None

    def _run(self, args):
        command = self._real_name(args[0])
        self.server.log.append((self.db, command, args[1:]))
        refusal = self._refusal(command)
        if refusal is not None:
            return refusal
        handler = getattr(self, "_" + command.lower().replace(" ", "_"), None)
        if handler is None:
            raise AssertionError("FakeRedis does not know %s" % command)
        return handler(*args[1:])

    @property
    def data(self):
        return self.server.db(self.db)

    def _command(self, sub, *names):  # COMMAND INFO name...: nil for a name the server does not know
        assert sub.upper() == "INFO"
        return [None if self._real_name(n) is None else [n.lower().encode(), -1, [], 0, 0, 0] for n in names]

    def _exists(self, *keys):
        return sum(1 for k in keys if b(k) in self.data)

    def _type(self, key):
        entry = self.data.get(b(key))
        return (entry[0] if entry else "none").encode()

    def _dbsize(self):
        return len(self.data)

    def _pttl(self, key):
        entry = self.data.get(b(key))
        if entry is None:
            return -2
        return -1 if entry[2] is None else entry[2] - self.server.now

    def _pexpire(self, key, ms):
        entry = self.data.get(b(key))
        if entry is None:
            return 0
        entry[2] = self.server.now + int(ms)
        return 1

    def _set(self, key, value, *opts):
        opts = [o.upper() if isinstance(o, str) else o for o in opts]
        if "NX" in opts and b(key) in self.data:
            return None
        expire = self.server.now + int(opts[opts.index("PX") + 1]) if "PX" in opts else None
        self.data[b(key)] = ["string", b(value), expire]
        return True

    def _collection(self, key, key_type, empty):
        entry = self.data.get(b(key))
        if entry is None:
            entry = self.data[b(key)] = [key_type, empty, None]
        if entry[0] != key_type:
            return None
        return entry

    def _wrongtype(self):
        return err("WRONGTYPE Operation against a key holding the wrong kind of value")

    def _hset(self, key, *pairs):
        entry = self._collection(key, "hash", {})
        if entry is None:
            return self._wrongtype()
        for field, value in zip(pairs[::2], pairs[1::2]):
            entry[1][b(field)] = b(value)
        return len(pairs) // 2

    def _rpush(self, key, *items):
        entry = self._collection(key, "list", [])
        if entry is None:
            return self._wrongtype()
        entry[1].extend(b(i) for i in items)
        return len(entry[1])

    def _sadd(self, key, *items):
        entry = self._collection(key, "set", set())
        if entry is None:
            return self._wrongtype()
        entry[1].update(b(i) for i in items)
        return len(items)

    def _zadd(self, key, *pairs):
        entry = self._collection(key, "zset", {})
        if entry is None:
            return self._wrongtype()
        for score, member in zip(pairs[::2], pairs[1::2]):
            entry[1][b(member)] = float(score)
        return len(pairs) // 2

    def _del(self, *keys):
        return sum(1 for k in keys if self.data.pop(b(k), None) is not None)

    _unlink = _del

    def _flushdb(self, *opts):
        self.data.clear()
        return True

    def _flushall(self, *opts):
        for number in list(self.server.dbs):
            self.server.dbs[number] = {}
        return True

    def _scan(self, cursor, *opts):
        opts = list(opts)
        match = opts[opts.index("MATCH") + 1] if "MATCH" in opts else "*"
        count = int(opts[opts.index("COUNT") + 1]) if "COUNT" in opts else 10
        # Like Redis: a key present for the whole scan is returned, whatever is deleted meanwhile.
        cursors = self.server.__dict__.setdefault("cursors", {})
        last = cursors.pop(int(cursor), None) if int(cursor) else None
        keys = [k for k in sorted(self.data) if last is None or k > last]
        page = keys[:count]
        found = [k for k in page if fnmatch.fnmatchcase(k.decode("latin-1"), b(match).decode("latin-1"))]
        if len(keys) <= count:
            return (0, found)
        nxt = len(cursors) + 1 + int(cursor)
        cursors[nxt] = page[-1]
        return (nxt, found)

    def _dump(self, key):
        entry = self.data.get(b(key))
        if entry is None:
            return None
        key_type, value = entry[0], entry[1]
        if key_type == "string":
            plain = value
        elif key_type == "list":
            plain = list(value)
        elif key_type == "set":
            plain = sorted(value)
        else:
            plain = sorted(value.items())
        return b"FAKEDUMP" + json.dumps([key_type, _jsonable(plain)]).encode()

    def _restore(self, key, ttl, payload, *opts):
        opts = [o.upper() for o in opts]
        if b(key) in self.data and "REPLACE" not in opts:
            return err("BUSYKEY Target key name already exists.")
        if not payload.startswith(b"FAKEDUMP"):
            return err("ERR DUMP payload version or checksum are wrong")
        key_type, plain = json.loads(payload[8:])
        plain = _unjsonable(plain)
        value = {"string": lambda: plain, "list": lambda: list(plain), "set": lambda: set(plain),
                 "hash": lambda: dict(plain), "zset": lambda: dict(plain)}[key_type]()
        ttl = int(ttl)
        self.data[b(key)] = [key_type, value, self.server.now + ttl if ttl else None]
        return True

    # -- for assertions --------------------------------------------------------------------------------------

    def value(self, key):
        entry = self.data.get(b(key))
        return None if entry is None else (entry[0], entry[1])


def _jsonable(value):
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _unjsonable(value):
    if isinstance(value, dict):
        return base64.b64decode(value["b"])
    if isinstance(value, list):
        items = [_unjsonable(v) for v in value]
        if len(items) == 2 and isinstance(items[0], bytes) and isinstance(items[1], (bytes, float, int)) and \
                not isinstance(value[1], list):
            return tuple(items)
        return items
    return value


# --- entries ---------------------------------------------------------------------------------------------


def norm(*items, now_ms=5_000):
    return wu.normalize_entries(list(items), default_db=0, now_ms=now_ms)


def test_each_type_becomes_its_commands():
    entries = norm({"key": "s", "value": "v", "ttl": 2},
                   {"key": "h", "type": "hash", "value": {"f": 1, "g": {"x": True}}},
                   {"key": "l", "type": "list", "value": ["a", 2.5, 7, False]},
                   {"key": "z", "type": "zset", "value": {"m": 1, "n": "-inf"}, "ttl": 0.5})
    assert wu.write_commands(entries[0], replace=False) == [("SET", b"s", "v", "PX", 2000, "NX")]
    assert wu.write_commands(entries[0], replace=True) == [("SET", b"s", "v", "PX", 2000)]
    assert wu.write_commands(entries[1], replace=True) == [("DEL", b"h"), ("HSET", b"h", "f", "1", "g", '{"x":true}')]
    # numbers as their decimal text, booleans as JSON's, containers as JSON
    assert entries[2]["value"] == ["a", "2.5", "7", "false"]
    assert wu.write_commands(entries[3], replace=False) == [("ZADD", b"z", "1.0", "m", "-inf", "n"), ("PEXPIRE", b"z", 500)]


def test_large_collections_are_chunked():
    (entry,) = norm({"key": "big", "type": "set", "value": [str(i) for i in range(2500)]})
    commands = wu.write_commands(entry, replace=False)
    assert [len(c) - 2 for c in commands] == [1000, 1000, 500] and all(c[0] == "SADD" for c in commands)


def test_dump_entries_restore_with_their_remaining_ttl():
    dump = base64.b64encode(b"\x00payload").decode()
    entries = norm({"key": "q", "dump": dump, "type": "list", "pttl": -1},
                   {"key": "c", "dump": dump, "pttl": 10_000, "saved_at": 1_000},  # saved 4 s ago: 6 s left
                   {"key": "gone", "dump": dump, "pttl": 1_000, "saved_at": 1_000},  # ran out 3 s ago
                   {"key": "rel", "dump": dump, "pttl": 700})
    assert wu.write_commands(entries[0], replace=False) == [("RESTORE", b"q", 0, b"\x00payload")]
    assert wu.write_commands(entries[1], replace=True) == [("RESTORE", b"c", 6_000, b"\x00payload", "REPLACE")]
    assert entries[2]["expired"] and not entries[1]["expired"]
    assert entries[3]["ttl_ms"] == 700 and entries[1]["type"] == "unknown" and entries[0]["type"] == "list"


@pytest.mark.parametrize("item, message", [
    ("text", "entry 0 must be a dict"),
    ({"value": "x"}, "entry 0: key must be a non-empty string"),
    ({"key": "k", "value": "x", "colour": "red"}, "entry 0: unknown field(s) colour"),
    ({"key": "k", "type": "stream", "value": "x"}, "type must be one of string, hash, list, set, zset"),
    ({"key": "k"}, "value (or dump) is required"),
    ({"key": "k", "type": "list", "value": []}, "a list needs a non-empty list"),
    ({"key": "k", "type": "hash", "value": ["a"]}, "a hash needs a non-empty dict"),
    ({"key": "k", "type": "zset", "value": {"m": "high"}}, "score of m must be a number"),
    ({"key": "k", "type": "zset", "value": {"m": True}}, "score of m must be a number"),
    ({"key": "k", "type": "zset", "value": {"m": "nan"}}, "score of m must be a number"),
    ({"key": "k", "value": "v", "ttl": 0}, "ttl must be > 0 seconds"),
    ({"key": "k", "value": "v", "dump": "AA=="}, "either value (with ttl) or dump"),
    ({"key": "k", "dump": "not base64!"}, "dump must be the base64 of a DUMP payload"),
    ({"key": "k", "dump": "AA==", "pttl": -5}, "pttl must be an integer"),
    ({"key": "k", "value": "v", "db": -1}, "db must be an integer >= 0"),
    ({"key": "%%%", "key_base64": True, "value": "v"}, "key_base64 is set but key is not base64"),
    ({"key": "k", "type": "set", "value": [object()]}, "object values cannot be stored"),
    ({"key": "k", "type": "list", "value": ["a", None]}, "NoneType values cannot be stored"),
])
def test_unusable_entries_are_named(item, message):
    with pytest.raises(InvalidInput, match="^entry 0") as exc:
        norm(item)
    assert message in str(exc.value)


def test_binary_key_names_travel_as_base64():
    record = wu.save_record(b"\xffq", 3, "list", -1, b"\x01", 42)
    assert record == {"key": "/3E=", "key_base64": True, "db": 3, "type": "list", "pttl": -1, "dump": "AQ==", "saved_at": 42}
    (entry,) = norm(record)
    assert entry["key"] == b"\xffq" and entry["db"] == 3 and entry["dump"] == b"\x01" and entry["ttl_ms"] is None
    assert wu.key_fields(b"caf\xc3\xa9") == {"key": "caf\u00e9"}


# --- src files ----------------------------------------------------------------------------------------------


def test_src_json_list_json_lines_and_yaml(tmp_path):
    items = [{"key": "a", "value": "1"}, {"key": "b", "type": "list", "value": ["x"]}]
    (tmp_path / "list.json").write_text(json.dumps(items))
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n\n")
    (tmp_path / "list.yml").write_text("- key: a\n  value: '1'\n- key: b\n  type: list\n  value: [x]\n")
    (tmp_path / "flow.yml").write_text("[{key: a, value: '1'}, {key: b, type: list, value: [x]}]\n")
    (tmp_path / "empty").write_text("\n")
    for name in ("list.json", "lines.jsonl", "list.yml", "flow.yml"):
        assert wu.load_src(str(tmp_path / name)) == items, name
    assert wu.load_src(str(tmp_path / "empty")) == []


def test_src_problems_say_where(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"key": "a", "value": "1"}\n{"key": \n')
    (tmp_path / "dict.yml").write_text("key: a\n")
    with pytest.raises(InvalidInput, match="line 2 is not a JSON object"):
        wu.load_src(str(tmp_path / "bad.jsonl"))
    with pytest.raises(InvalidInput, match="must hold a list of entries"):
        wu.load_src(str(tmp_path / "dict.yml"))
    with pytest.raises(InvalidInput, match="cannot read src"):
        wu.load_src(str(tmp_path / "absent"))


# --- writing -----------------------------------------------------------------------------------------------


def run(conn, items, **kwargs):
    entries = wu.normalize_entries(items, default_db=conn.db, now_ms=conn.server.now)
    return wu.warmup(conn, entries, default_db=conn.db, select_db=conn.select_db, **kwargs)


def sample_items():
    return [{"key": "cache:s", "value": "v1", "ttl": 60},
            {"key": "cache:h", "type": "hash", "value": {"f": "1"}},
            {"key": "cache:l", "type": "list", "value": ["a", "b"]},
            {"key": "cache:set", "type": "set", "value": ["a"]},
            {"key": "cache:z", "type": "zset", "value": {"m": 2}}]


def test_writes_every_type_in_batches_then_changes_nothing():
    conn = FakeRedis()
    result = run(conn, sample_items(), batch_size=2)
    assert result["written"] == 5 and result["changed"] and result["missing"] == [] and result["verified"] == 5
    assert result["by_type"] == {"string": 1, "hash": 1, "list": 1, "set": 1, "zset": 1}
    assert result["batches"] == 3 and result["failed_keys"] == 0
    # one EXISTS round trip and one write round trip per batch, then one verify round trip per batch
    assert conn.server.round_trips == 3 + 3 + 3
    assert conn.value("cache:l") == ("list", [b"a", b"b"]) and conn.value("cache:z") == ("zset", {b"m": 2.0})
    assert conn._pttl("cache:s") == 60_000 and conn._pttl("cache:h") == -1
    again = run(conn, sample_items(), batch_size=2)
    assert not again["changed"] and again["written"] == 0 and again["skipped_existing"] == 5 and again["batches"] == 0
    assert "5 already existed" in again["msg"]


def test_existing_keys_are_left_alone_unless_replace():
    conn = FakeRedis()
    conn._rpush("cache:l", "old")
    conn._set("cache:s", "old")
    result = run(conn, sample_items())
    assert result["written"] == 3 and result["skipped_existing"] == 2
    assert conn.value("cache:l") == ("list", [b"old"]) and conn.value("cache:s") == ("string", b"old")
    result = run(conn, sample_items(), replace=True)
    assert result["written"] == 5 and result["skipped_existing"] == 0
    # replaced, not appended to: DEL and the writes in one MULTI per batch
    assert conn.value("cache:l") == ("list", [b"a", b"b"]) and conn.value("cache:s") == ("string", b"v1")


def test_check_mode_counts_and_writes_nothing():
    conn = FakeRedis()
    conn._set("cache:s", "old")
    result = run(conn, sample_items(), check_mode=True)
    assert result["changed"] and result["written"] == 4 and result["skipped_existing"] == 1
    assert result["msg"].startswith("would write 4 key(s)") and result["missing"] == []
    assert sorted(conn.data) == [b"cache:s"]
    assert all(name == "EXISTS" for _db, name, _args in conn.server.log)


def test_keys_that_cannot_be_written_fail_verification():
    conn = FakeRedis()
    conn.server.read_only = True  # an ACL user without write permission
    result = run(conn, sample_items())
    assert result["written"] == 0 and result["failed_keys"] == 5 and not result["changed"]
    assert [m["key"] for m in result["missing"]] == ["cache:s", "cache:h", "cache:l", "cache:set", "cache:z"]
    assert "NOPERM" in result["errors"][0]["error"] and "5 verified key(s) missing" in result["msg"]
    conn.server.read_only, conn.server.oom = False, True  # maxmemory reached with noeviction
    result = run(conn, sample_items(), replace=True)  # the whole MULTI is refused
    assert result["failed_keys"] == 5 and "OOM" in result["errors"][0]["error"] and len(result["missing"]) == 5


def test_verify_names_only_the_keys_given():
    conn = FakeRedis()
    conn.server.oom = True
    result = run(conn, sample_items(), verify=[])
    assert result["missing"] == [] and result["failed_keys"] == 5 and result["verified"] == 0
    conn.server.oom = False
    result = run(conn, sample_items()[:1], verify=["cache:s", "cache:other"])
    assert result["missing"] == [{"key": "cache:other", "db": 0}]


def test_renamed_commands_follow_command_names():
    conn = FakeRedis()
    conn.server.renamed = {"SET": "MYSET"}
    result = run(conn, [{"key": "k", "value": "v"}])
    assert result["failed_keys"] == 1 and "command_names" in result["errors"][0]["error"]
    result = run(conn, [{"key": "k", "value": "v"}], command_names={"set": "MYSET"})
    assert result["written"] == 1 and conn.value("k") == ("string", b"v")
    with pytest.raises(InvalidInput, match="command SET is disabled in command_names"):
        run(conn, [{"key": "k2", "value": "v"}], command_names={"SET": ""})


def test_batch_size_is_checked():
    with pytest.raises(InvalidInput, match="batch_size must be between 1 and 10000"):
        run(FakeRedis(), [], batch_size=0)


def test_dump_entries_need_a_binary_transport():
    conn = FakeRedis(supports_binary=False)
    with pytest.raises(InvalidInput, match="connect_via=exec"):
        run(conn, [{"key": "q", "dump": "AA=="}])


# --- the save file round trip ----------------------------------------------------------------------------


def saved_lines(conn, keys):
    """What flush.save_keys writes for these keys (DUMP + PTTL), as the file's lines would be read."""
    lines = []
    for name in keys:
        record = wu.save_record(b(name), conn.db, conn._type(name).decode(), conn._pttl(name), conn._dump(name),
                                conn.server.now)
        lines.append(json.loads(json.dumps(record)))
    return lines


def test_saved_keys_come_back_equal_with_their_ttls_across_dbs():
    server = FakeServer()
    zero, five = FakeRedis(server, 0), FakeRedis(server, 5)
    zero._rpush("queue:jobs", "j1", b"\x00\xff")
    zero._pexpire("queue:jobs", 90_000)
    five._hset("session:1", "user", "u")
    lines = saved_lines(zero, ["queue:jobs"]) + saved_lines(five, ["session:1"])
    before = (zero.value("queue:jobs"), five.value("session:1"))
    server.dbs = {}
    server.now += 30_000  # restored 30 s after the save: 60 s of the 90 s left
    result = run(zero, lines)
    assert result["written"] == 2 and result["missing"] == [] and result["by_type"] == {"list": 1, "hash": 1}
    assert (zero.value("queue:jobs"), five.value("session:1")) == before
    assert zero._pttl("queue:jobs") == 60_000 and five._pttl("session:1") == -1
    server.now += 120_000
    server.dbs = {}
    late = run(zero, lines)
    assert late["skipped_expired"] == 1 and late["written"] == 1 and late["missing"] == []
    assert "their saved time to live ran out" in late["msg"]


def test_restore_does_not_overwrite_a_key_created_meanwhile():
    conn = FakeRedis()
    conn._rpush("queue:jobs", "j1")
    lines = saved_lines(conn, ["queue:jobs"])
    conn._del("queue:jobs")
    conn._rpush("queue:jobs", "new")
    entries = wu.normalize_entries(lines, now_ms=conn.server.now)
    run_ = wu.WarmupRun(conn)
    run_.write_batch(conn, entries)  # past the EXISTS check: RESTORE itself says BUSYKEY
    assert run_.skipped_existing == 1 and run_.failed == 0 and conn.value("queue:jobs") == ("list", [b"new"])


RANDOM_TYPES = ("string", "hash", "list", "set", "zset")


def random_item(rng, index):
    key_type = rng.choice(RANDOM_TYPES)

    def word():
        return "".join(rng.choice("abcdef:01\u00e9 ") for _i in range(rng.randint(1, 12)))
    size = rng.randint(1, 30)
    value = {"string": word, "list": lambda: [word() for _i in range(size)],
             "set": lambda: list(set(word() for _i in range(size))),
             "hash": lambda: dict((word(), word()) for _i in range(size)),
             "zset": lambda: dict((word(), rng.uniform(-1e6, 1e6)) for _i in range(size))}[key_type]()
    item = {"key": "rnd:%d:%s" % (index, word()), "type": key_type, "value": value}
    if rng.random() < 0.3:
        item["ttl"] = rng.randint(1, 10_000)
    return item


def stored_form(item):
    """What the server holds for an item (bytes, as FakeRedis keeps them)."""
    value = item["value"]
    if item["type"] == "string":
        return value.encode()
    if item["type"] == "list":
        return [v.encode() for v in value]
    if item["type"] == "set":
        return set(v.encode() for v in value)
    if item["type"] == "hash":
        return dict((k.encode(), v.encode()) for k, v in value.items())
    return dict((k.encode(), float(repr(v))) for k, v in value.items())


@pytest.mark.parametrize("seed", range(5))
def test_random_key_sets_read_back_equal(seed):
    rng = random.Random(seed)
    items = [random_item(rng, i) for i in range(200)]
    conn = FakeRedis()
    result = run(conn, items, batch_size=rng.randint(1, 64))
    assert result["written"] == 200 and result["missing"] == []
    for item in items:
        key_type, stored = conn.value(item["key"])
        assert (key_type, stored) == (item["type"], stored_form(item)), item["key"]
        assert conn._pttl(item["key"]) == (item["ttl"] * 1000 if "ttl" in item else -1)


def test_a_disabled_command_fails_before_anything_is_written():
    conn = FakeRedis()
    items = [{"key": "h", "type": "hash", "value": {"f": "v"}}, {"key": "s", "value": "v"}]
    with pytest.raises(InvalidInput, match="command SET is disabled"):
        run(conn, items, batch_size=1, command_names={"SET": ""})
    assert conn.data == {}
    entries = wu.normalize_entries(items + [{"key": "d", "dump": "AA==", "pttl": 5}, {"key": "z", "type": "zset",
                                                                                      "value": {"m": 1}, "ttl": 1}])
    assert wu.needed_commands(entries, replace=True) == ["DEL", "EXISTS", "HSET", "PEXPIRE", "RESTORE", "SET", "ZADD"]
    assert wu.needed_commands(entries, replace=False) == ["EXISTS", "HSET", "PEXPIRE", "RESTORE", "SET", "ZADD"]


def fake_connection(monkeypatch, module):
    """Make ``module`` open a FakeRedis instead of a connection; ``.opened`` counts the connections."""
    conn = FakeRedis()
    conn.opened = 0

    @contextlib.contextmanager
    def open_fake(params, kube_params=None):
        conn.opened += 1
        yield conn
    monkeypatch.setattr(module, "open_redis", open_fake)
    return conn
