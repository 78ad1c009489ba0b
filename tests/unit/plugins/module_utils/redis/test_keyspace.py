# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a database holds, by class (module_utils/redis/keyspace.py): classify_key's rules and their
invariants over many random names, and scan_keyspace on a seeded private server - exact counts per
class and type, queues by type and length, the limit, and the round trips it costs."""

from __future__ import annotations

import fnmatch
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import connection as rc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import execcli
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import keyspace as ks

from .redis_server import LocalPodExec, PrivateRedis

TYPES = ("string", "hash", "list", "set", "zset", "stream")


# --- classify_key ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, key_type, cls", [
    ("cache:user:1", "string", "cache"),
    ("config:flags", "hash", "cache"),
    ("workflows:registry", "hash", "cache"),
    ("workflow:42:stats", "hash", "cache"),
    ("workflow:42:state", "hash", "unclassified"),
    ("queue:emails", "list", "queue"),
    ("bull:render:wait", "list", "queue"),
    ("bull:render:123", "hash", "queue"),
    ("celery", "list", "queue"),
    ("celery-task-meta-1", "string", "queue"),
    ("jobs:queue", "zset", "queue"),
    ("session:abc", "string", "session"),
    ("sess:abc", "hash", "session"),
    ("lock:deploy", "string", "lock"),
    ("deploy:lock", "string", "lock"),
    ("locks:x", "string", "lock"),
    ("ratelimit:ip:1", "string", "rate_limit"),
    ("rate_limit:u", "string", "rate_limit"),
    ("rl:1", "string", "rate_limit"),
    # The first class that matches wins, in the order cache, queue, session, lock, rate_limit.
    ("cache:queue", "list", "cache"),
    ("session:lock", "string", "session"),
    ("queue:lock", "string", "queue"),
    # Patterns match the whole name, case-sensitively.
    ("Cache:user", "string", "unclassified"),
    ("mycache:x", "string", "unclassified"),
    # Names no pattern claims: lists and streams are queues, the rest unclassified.
    ("events", "stream", "queue"),
    ("pending", "list", "queue"),
    ("members", "set", "unclassified"),
    (b"\xff\xfebinary", "string", "unclassified"),
    (b"cache:\xff", "string", "cache"),
])
def test_classes(name, key_type, cls):
    assert ks.classify_key(name, key_type, ks.DEFAULT_PATTERNS) == cls
    assert ks.classify_key(name, key_type) == cls


def reference(name, key_type, patterns):
    """classify_key's rules written the plain way, with fnmatchcase."""
    for cls, globs in patterns.items():
        if any(fnmatch.fnmatchcase(name, g) for g in globs):
            return cls
    return "queue" if key_type in ("list", "stream") else "unclassified"


def random_names(count, seed):
    rng = random.Random(seed)
    parts = ["cache", "queue", "session", "sess", "lock", "locks", "ratelimit", "rate_limit", "rl", "bull", "celery",
             "config", "workflows", "workflow", "stats", "user", "Cache", "QUEUE", "x", "", "*", "?", "[a]", "é", "42"]
    names = []
    for _index in range(count):
        words = [rng.choice(parts) if rng.random() < 0.8 else "".join(rng.choice("abc:*?[]-_ÿ") for _c in range(3))
                 for _w in range(rng.randint(1, 4))]
        names.append(rng.choice([":", "-", "_", ""]).join(words))
    return names


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_classify_key_follows_its_rules_for_any_name(seed):
    rng = random.Random(seed)
    custom = ks.merge_patterns({"queue": ["jobs:*"], "lock": [], "vector": ["emb:*", "*:vec"]})
    for name in random_names(3000, seed):
        key_type = rng.choice(TYPES)
        for patterns in (ks.DEFAULT_PATTERNS, custom):
            cls = ks.classify_key(name, key_type, patterns)
            assert cls == reference(name, key_type, patterns), (name, key_type)
            assert cls in set(patterns) | {"queue", "unclassified"}
            # The type decides only for names no pattern claims.
            others = set(ks.classify_key(name, t, patterns) for t in TYPES)
            assert len(others) == 1 or others == {"queue", "unclassified"}
        # Bytes and text name the same key.
        assert ks.classify_key(name.encode("utf-8"), key_type) == ks.classify_key(name, key_type)


def test_merging_patterns_replaces_only_the_classes_given():
    merged = ks.merge_patterns({"cache": ["c:*"], "lock": [], "vector": "emb:*"})
    assert list(merged) == ["cache", "queue", "session", "lock", "rate_limit", "vector"]
    assert merged["cache"] == ["c:*"] and merged["lock"] == [] and merged["vector"] == ["emb:*"]
    assert merged["queue"] == ks.DEFAULT_PATTERNS["queue"]
    assert ks.classify_key("lock:x", "string", merged) == "unclassified"
    assert ks.classify_key("cache:x", "string", merged) == "unclassified"
    assert ks.merge_patterns(None) == ks.DEFAULT_PATTERNS
    assert ks.DEFAULT_PATTERNS["lock"] == ["lock:*", "*:lock", "locks:*"]  # not changed by merging


@pytest.mark.parametrize("patterns, message", [
    (["cache:*"], "must be a mapping"),
    ({"cache": [1]}, "keyspace_patterns.cache must be a list of key globs"),
    ({"": ["x"]}, "is not a usable class name"),
    ({"unclassified": ["x"]}, "is not a usable class name"),
])
def test_unusable_patterns(patterns, message):
    with pytest.raises(InvalidInput, match=message):
        ks.merge_patterns(patterns)


# --- scan_keyspace on a seeded server ----------------------------------------------------------------

SEED = {
    "cache": 500, "config": 5, "sessions": 40, "locks": 3, "ratelimits": 12, "other": 25,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrivateRedis(tmp_path_factory.mktemp("ks")) as srv:
        c = srv.client()
        pipe = c.pipeline(transaction=False)
        for i in range(SEED["cache"]):
            pipe.set("cache:item:%d" % i, "v")
        for i in range(SEED["config"]):
            pipe.hset("config:%d" % i, "k", "v")
        for i in range(SEED["sessions"]):
            pipe.set("session:%d" % i, "u", ex=3600)
        for i in range(SEED["locks"]):
            pipe.set("lock:%d" % i, "owner", nx=True)
        for i in range(SEED["ratelimits"]):
            pipe.incr("rl:%d" % i)
        for i in range(SEED["other"]):
            pipe.sadd("misc:%d" % i, "m")
        # Queues: lists, a stream and sorted sets, named and unnamed.
        pipe.rpush("queue:emails", *range(120))
        pipe.rpush("bull:render:wait", *range(7))
        pipe.zadd("bull:render:delayed", dict(("j%d" % i, i) for i in range(30)))
        pipe.hset("bull:render:1", "data", "{}")
        pipe.xadd("events", {"a": 1})
        pipe.rpush("pending", "x", "y")
        pipe.execute()
        yield srv


def direct(server, **params):
    values = dict((name, option.get("default")) for name, option in rc.redis_argument_spec().items())
    values.update(server.params(**params))
    return rc.open_redis(values)


class Counting(object):
    """A RedisConn that counts round trips."""

    def __init__(self, conn):
        self.conn, self.executes, self.pipelines = conn, [], []
        self.where = conn.where

    def execute(self, *args):
        self.executes.append(args[0])
        return self.conn.execute(*args)

    def pipeline_execute(self, commands, transaction=False):
        self.pipelines.append(len(commands))
        return self.conn.pipeline_execute(commands, transaction)


def test_a_seeded_keyspace_is_counted_exactly_by_class_and_type(server):
    with direct(server) as conn:
        result = ks.scan_keyspace(conn, scan_count=100)
    total = sum(SEED.values()) + 6
    assert result["scanned"] == total and result["complete"] and result["stopped_by"] is None
    assert result["by_type"] == {"hash": SEED["config"] + 1, "list": 3, "set": SEED["other"],
                                 "stream": 1, "string": SEED["cache"] + SEED["sessions"] + SEED["locks"] + SEED["ratelimits"],
                                 "zset": 1}
    classes = result["classes"]
    assert classes["cache"]["keys"] == SEED["cache"] + SEED["config"]
    assert classes["cache"]["types"] == {"string": SEED["cache"], "hash": SEED["config"]}
    assert classes["session"]["keys"] == SEED["sessions"] and classes["lock"]["keys"] == SEED["locks"]
    assert classes["rate_limit"]["keys"] == SEED["ratelimits"] and classes["unclassified"]["keys"] == SEED["other"]
    assert classes["queue"]["keys"] == 6
    assert classes["queue"]["types"] == {"list": 3, "zset": 1, "hash": 1, "stream": 1}
    assert all(len(c["sample"]) <= 5 for c in classes.values())
    assert all(ks.classify_key(name, None) in (cls, "unclassified") for cls, c in classes.items() for name in c["sample"])
    assert result["non_cache"] == ["queue", "session", "lock"]
    assert result["queues"] == [{"key": "queue:emails", "type": "list", "length": 120},
                                {"key": "bull:render:delayed", "type": "zset", "length": 30},
                                {"key": "bull:render:wait", "type": "list", "length": 7},
                                {"key": "pending", "type": "list", "length": 2},
                                {"key": "events", "type": "stream", "length": 1}]


def test_one_scan_and_one_pipelined_type_per_batch(server):
    with direct(server) as conn:
        counting = Counting(conn)
        result = ks.scan_keyspace(counting, scan_count=50)
    scans = counting.executes.count("SCAN")
    assert counting.executes == ["SCAN"] * scans and scans >= result["scanned"] // 100
    # One TYPE pipeline per SCAN batch with keys, and one for the queue lengths.
    assert len(counting.pipelines) <= scans + 1 and sum(counting.pipelines[:-1]) == result["scanned"]
    assert counting.pipelines[-1] == 5


def test_the_limit_stops_the_scan_and_says_so(server):
    with direct(server) as conn:
        result = ks.scan_keyspace(conn, limit=100, scan_count=30)
    assert result["scanned"] == 100 and not result["complete"] and result["stopped_by"] == "limit"
    assert sum(c["keys"] for c in result["classes"].values()) == 100 == sum(result["by_type"].values())


def test_the_time_budget_stops_the_scan(server):
    with direct(server) as conn:
        result = ks.scan_keyspace(conn, scan_count=10, time_budget=0.0)
    assert not result["complete"] and result["stopped_by"] == "time_budget" and 0 < result["scanned"] < 600


def test_match_limits_the_scan_to_a_pattern(server):
    with direct(server) as conn:
        result = ks.scan_keyspace(conn, match="bull:*")
    assert result["scanned"] == 3 and result["match"] == "bull:*" and list(result["classes"]) == ["queue"]
    assert result["non_cache"] == ["queue"]


def test_operator_patterns_change_the_classes(server):
    with direct(server) as conn:
        result = ks.scan_keyspace(conn, patterns={"cache": ["cache:*"], "misc": ["misc:*"]})
    assert result["classes"]["cache"]["keys"] == SEED["cache"]
    assert result["classes"]["misc"]["keys"] == SEED["other"]
    assert result["classes"]["unclassified"]["keys"] == SEED["config"]


def test_a_key_gone_between_scan_and_type_is_not_counted(server):
    server.client().set("cache:ephemeral", "x")

    class Deleting(Counting):
        def pipeline_execute(self, commands, transaction=False):
            if any(c[1] in (b"cache:ephemeral", "cache:ephemeral") for c in commands):
                server.client().delete("cache:ephemeral")
            return super(Deleting, self).pipeline_execute(commands, transaction)

    with direct(server) as conn:
        result = ks.scan_keyspace(Deleting(conn))
    assert result["scanned"] == sum(SEED.values()) + 6


def test_exec_sees_the_same_keyspace(server):
    pod = LocalPodExec(server)
    values = dict((name, option.get("default")) for name, option in rc.redis_argument_spec().items())
    values.update(connect_via="exec", pod="redis-0", pod_namespace="ai-orchestrator")
    conn = execcli.open_exec(rc.settings(values, environ={}), {}, pod_exec=pod)
    over_exec = ks.scan_keyspace(conn, scan_count=1000)
    with direct(server) as c:
        directly = ks.scan_keyspace(c, scan_count=1000)
    for result in (over_exec, directly):
        result.pop("duration_seconds")
        for cls in result["classes"].values():
            cls["sample"] = sorted(cls["sample"])
    assert over_exec == directly


def test_an_acl_user_that_may_not_scan_gets_permission(tmp_path):
    with PrivateRedis(tmp_path, users={"noscan": "on >pw ~* +@all -scan"}) as srv:
        with direct(srv, username="noscan", password="pw") as conn:
            with pytest.raises(rc.RedisError) as err:
                ks.scan_keyspace(conn)
    assert err.value.kind == "permission" and err.value.command == "SCAN"
