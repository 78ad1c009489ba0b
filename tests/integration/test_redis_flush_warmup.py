# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_cache_flush and redis_cache_warmup against real redis-servers.

Private servers (tests/integration/redisenv.py, one per kind for the whole module): a primary
with a password and an ACL user that may not write, a server where FLUSHALL is renamed and
UNLINK disabled, a replica of the primary, a cluster node and a server at maxmemory with
noeviction. On them: a pattern flush (SCAN + UNLINK) leaves the other keys, a db flush leaves
the other dbs, FLUSHALL is refused while a queue exists, then forced with save_to, and the
saved queue, stream and session come back byte for byte (DUMP) with their TTLs through
redis_cache_warmup src=; check mode changes nothing, a second run changes nothing; renamed,
replica and cluster refusals; warm-up verification failing when keys cannot be written; and
random key sets of every type written, read back, saved and restored equal.

The drill's Redis is touched by one test only (directly, and through `kubectl exec`-style
redis-cli in pod redis-0), with keys under a prefix of its own in db 0 that it deletes (never a
flush of anything else).

Most calls run the modules in-process (AnsibleModule, the same code path, no Ansible start-up);
the forced flush, its check mode and the restore run through `ansible localhost -m` as an operator would.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import secrets
import uuid

import pytest
import redis
from ansible.module_utils.testing import patch_module_args

import redisenv
from playbook import module as ansible_module

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import (
    redis_cache_flush,
    redis_cache_warmup,
)

pytestmark = pytest.mark.skipif(not redisenv.available(), reason="redis-server and redis-cli are needed")

PASSWORD = redisenv.new_password()
NOWRITE = "nowrite-" + secrets.token_hex(4)


def inproc(mod, check=False, **args) -> dict:
    """Run a module's main() in this process: JSON args in, its result out (failed set)."""
    args = dict(args, _ansible_check_mode=check)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        mod.main()
    result = json.loads(out.getvalue())
    result.setdefault("failed", False)
    return result


def flush(srv, check=False, **args):
    return inproc(redis_cache_flush, check=check, **srv.params(**args.pop("conn", {})), **args)


def warmup(srv, check=False, **args):
    return inproc(redis_cache_warmup, check=check, **srv.params(**args.pop("conn", {})), **args)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """The private servers of this module, started once."""
    base = tmp_path_factory.mktemp("redis")
    with contextlib.ExitStack() as stack:
        primary = stack.enter_context(redisenv.PrivateRedis(
            base, name="primary", password=PASSWORD, users={NOWRITE: "on >%s ~* +@all -@write" % PASSWORD}))
        srv = {
            "primary": primary,
            "renamed": stack.enter_context(redisenv.PrivateRedis(base, name="renamed", password=PASSWORD,
                                                                 rename={"FLUSHALL": "OPS_FLUSHALL", "UNLINK": ""})),
            "replica": stack.enter_context(redisenv.PrivateRedis(base, name="replica", password=PASSWORD,
                                                                 replicaof=primary)),
            "cluster": stack.enter_context(redisenv.PrivateRedis(base, name="cluster", password=PASSWORD, cluster=True)),
            "full": stack.enter_context(redisenv.PrivateRedis(base, name="full", password=PASSWORD, maxmemory="100kb",
                                                              policy="noeviction")),
        }
        yield srv


@pytest.fixture
def primary(servers):
    """The primary, empty (every db) before each test."""
    srv = servers["primary"]
    srv.client().flushall()
    return srv


def seed(client, prefix=""):
    """Cache keys, a queue (list with binary items), a stream, a session with a TTL, a lock."""
    for n in range(40):
        client.set("%scache:user:%d" % (prefix, n), "v%d" % n)
    client.hset(prefix + "config:flags", mapping={"a": "1", "b": "2"})
    client.rpush(prefix + "queue:jobs", b"job-1", b"\x00\xffjob-2", b"job-3")
    client.pexpire(prefix + "queue:jobs", 600_000)
    client.xadd(prefix + "queue:events", {"kind": "created", "id": "7"})
    client.set(prefix + "session:abc", "user=1", px=900_000)
    client.set(prefix + "lock:deploy", "holder", nx=True)
    client.set(prefix + "other", "keep")


def snapshot(client, pattern="*"):
    """{key: (DUMP, PTTL)} of every key matching pattern."""
    return dict((k, (client.dump(k), client.pttl(k))) for k in client.scan_iter(match=pattern, count=1000))


def assert_same(after, before, slack_ms=30_000):
    """The same keys with the same DUMP (byte for byte); a TTL kept (what was left of it), none stays none."""
    assert sorted(after) == sorted(before)
    for key, (dump, pttl) in before.items():
        assert after[key][0] == dump, key
        if pttl == -1:
            assert after[key][1] == -1, key
        else:
            assert pttl - slack_ms < after[key][1] <= pttl, (key, pttl, after[key][1])


# --- scopes ---------------------------------------------------------------------------------------------


def test_pattern_flush_deletes_only_matching_keys_with_scan_and_unlink(primary):
    c = primary.client()
    seed(c)
    before = snapshot(c)
    plan = flush(primary, check=True, scope="pattern", patterns=["cache:*", "config:*"])
    assert not plan["failed"] and plan["changed"] and plan["would_delete"] == 41 and plan["deleted"] == 0, plan
    assert_same(snapshot(c), before)
    done = flush(primary, scope="pattern", patterns=["cache:*", "config:*"], scan_count=7)
    assert done["changed"] and done["deleted"] == 41 and done["command"] == "SCAN MATCH + UNLINK", done
    assert done["classes"]["cache"]["types"] == {"string": 40, "hash": 1} and done["protected"] == {}
    assert (done["dbsize_before"], done["dbsize_after"]) == (46, 5)
    assert_same(snapshot(c), dict((k, v) for k, v in before.items() if not k.startswith((b"cache:", b"config:"))))
    again = flush(primary, scope="pattern", patterns=["cache:*", "config:*"])
    assert not again["changed"] and again["deleted"] == 0 and again["msg"].startswith("nothing to delete")


def test_pattern_flush_of_protected_keys_is_refused(primary):
    c = primary.client()
    seed(c)
    result = flush(primary, scope="pattern", patterns=["*"])
    assert result["failed"] and result["refused"] == "protected" and result["error_kind"] == "refused"
    assert result["protected"] == {"queue": 2, "session": 1, "lock": 1} and c.dbsize() == 46


def test_db_flush_leaves_the_other_dbs(primary):
    seed(primary.client(db=3))
    seed(primary.client(db=5))
    result = flush(primary, scope="db", conn={"db": 3}, protected_classes=[])
    assert result["changed"] and result["deleted"] == 46 and result["db"] == 3 and result["command"] == "FLUSHDB ASYNC"
    assert primary.client(db=3).dbsize() == 0 and primary.client(db=5).dbsize() == 46
    assert not flush(primary, scope="db", conn={"db": 3})["changed"]


# --- FLUSHALL, forced, saved, restored (the runbook's command, end to end through ansible) --------------


def test_flushall_is_refused_with_a_queue_then_forced_saved_and_restored(primary, tmp_path):
    zero, two = primary.client(), primary.client(db=2)
    seed(zero)
    seed(two, prefix="app:")  # app:queue:jobs is not a queue by name: a list is a queue by its type
    two.rpush("app:pending", "p1")
    protected = ("queue:jobs", "queue:events", "session:abc", "lock:deploy")
    kept = {0: snapshot(zero, "[qsl]*:*"), 2: snapshot(two, "app:[qp]*")}
    assert sorted(kept[0]) == sorted(k.encode() for k in protected) and len(kept[2]) == 3
    params = primary.params()
    save = tmp_path / "incident" / "saved-keys.jsonl"

    refused = inproc(redis_cache_flush, scope="all", **params)
    assert refused["failed"] and refused["refused"] == "protected" and refused["error_kind"] == "refused", refused
    assert refused["protected"] == {"queue": 5, "session": 1, "lock": 1} and zero.dbsize() == 46
    no_file = inproc(redis_cache_flush, scope="all", force=True, **params)
    assert no_file["failed"] and no_file["refused"] == "save_required"

    plan = ansible_module("redis_cache_flush", check=True, scope="all", force=True, save_to=str(save), **params)
    assert not plan["failed"] and plan["changed"] and plan["would_save"] == 7 and plan["deleted"] == 0, plan
    assert not save.exists() and zero.dbsize() == 46

    done = ansible_module("redis_cache_flush", scope="all", force=True, save_to=str(save), **params)
    assert not done["failed"] and done["changed"] and done["command"] == "FLUSHALL ASYNC", done
    assert done["deleted"] == 46 + 47 and done["dbsize_after"] == 0 and done["db"] is None
    assert done["saved"]["path"] == str(save) and done["saved"]["keys"] == 7
    assert zero.dbsize() == 0 and two.dbsize() == 0
    assert (save.stat().st_mode & 0o777) == 0o600

    check = inproc(redis_cache_warmup, check=True, src=str(save), **params)
    assert not check["failed"] and check["changed"] and check["written"] == done["saved"]["keys"] and zero.dbsize() == 0
    restored = ansible_module("redis_cache_warmup", src=str(save), **params)
    assert not restored["failed"] and restored["written"] == done["saved"]["keys"] and restored["missing"] == [], restored
    assert_same(snapshot(zero), kept[0])
    assert_same(snapshot(two), kept[2])
    assert zero.lrange("queue:jobs", 0, -1) == [b"job-1", b"\x00\xffjob-2", b"job-3"]
    assert zero.xlen("queue:events") == 1 and two.lrange("app:pending", 0, -1) == [b"p1"]

    again = inproc(redis_cache_warmup, src=str(save), **params)
    assert not again["failed"] and not again["changed"] and again["skipped_existing"] == restored["written"]
    exists = inproc(redis_cache_flush, scope="all", force=True, save_to=str(save), **params)
    assert exists["failed"] and exists["refused"] == "save_exists"  # the earlier save is never overwritten


# --- refusals: renamed commands, replica, cluster ------------------------------------------------------


def test_renamed_flushall_is_refused_naming_command_names_and_works_when_mapped(servers):
    srv = servers["renamed"]
    c = srv.client()
    seed(c)
    result = flush(srv, scope="all", protected_classes=[])
    assert result["failed"] and result["refused"] == "command_unavailable", result
    assert "FLUSHALL is renamed or disabled" in result["msg"] and "command_names" in result["msg"]
    assert c.dbsize() == 46
    # UNLINK is disabled: the pattern flush falls back to DEL
    pattern = flush(srv, scope="pattern", patterns=["cache:*"])
    assert pattern["deleted"] == 40 and pattern["command"] == "SCAN MATCH + DEL (UNLINK unavailable)", pattern
    mapped = flush(srv, scope="all", protected_classes=[], command_names={"FLUSHALL": "OPS_FLUSHALL"})
    assert not mapped["failed"] and mapped["command"] == "OPS_FLUSHALL ASYNC" and mapped["deleted"] == 6, mapped
    assert c.dbsize() == 0


def test_a_replica_is_refused_naming_its_primary(servers):
    primary, replica = servers["primary"], servers["replica"]
    primary.client().set("cache:r", "1")
    replica.wait_replica_synced()
    result = flush(replica, scope="all")
    assert result["failed"] and result["refused"] == "replica", result
    assert "connect to the primary 127.0.0.1:%d" % primary.port in result["msg"]
    assert result["server"]["primary"] == "127.0.0.1:%d" % primary.port


def test_cluster_mode_is_refused_for_every_scope(servers):
    srv = servers["cluster"]
    srv.client().set("cache:c", "1")
    for scope, extra in (("all", {}), ("db", {}), ("pattern", {"patterns": ["cache:*"]})):
        result = flush(srv, scope=scope, **extra)
        assert result["failed"] and result["refused"] == "cluster" and "each primary" in result["msg"], result
    assert srv.client().get("cache:c") == b"1"


# --- warm-up that cannot write ---------------------------------------------------------------------------


KEYS = [{"key": "config:flags", "type": "hash", "value": {"a": "1"}},
        {"key": "cache:catalog", "value": "x" * 2000},
        {"key": "cache:top", "type": "zset", "value": {"a": 1, "b": 2}, "ttl": 30}]


def test_warmup_fails_clearly_for_a_user_that_may_not_write(primary):
    result = warmup(primary, keys=KEYS, conn={"username": NOWRITE})
    assert result["failed"] and result["error_kind"] == "verification_failed", result
    assert [m["key"] for m in result["missing"]] == ["config:flags", "cache:catalog", "cache:top"]
    assert result["failed_keys"] == 3 and "NOPERM" in result["errors"][0]["error"]
    assert "3 verified key(s) missing" in result["msg"] and primary.client().dbsize() == 0


@pytest.mark.parametrize("replace", [False, True])
def test_warmup_fails_clearly_on_a_full_server(servers, replace):
    srv = servers["full"]
    result = warmup(srv, keys=KEYS, replace=replace)
    assert result["failed"] and result["error_kind"] == "verification_failed", result
    assert len(result["missing"]) == 3 and "OOM" in result["errors"][0]["error"]


# --- property: random key sets ----------------------------------------------------------------------------


def random_item(rng, index):
    key_type = rng.choice(("string", "hash", "list", "set", "zset"))

    def word():
        return "".join(rng.choice("abcxyz:-_0189\u00e9\u4e2d ") for _i in range(rng.randint(1, 20)))
    size = rng.randint(1, 40)
    value = {"string": lambda: word() * rng.randint(1, 8), "list": lambda: [word() for _i in range(size)],
             "set": lambda: sorted(set(word() for _i in range(size))),
             "hash": lambda: dict((word(), word()) for _i in range(size)),
             "zset": lambda: dict((word(), rng.choice([rng.randint(-1000, 1000), rng.uniform(-1e9, 1e9)]))
                                  for _i in range(size))}[key_type]()
    item = {"key": "rnd:%d:%s" % (index, word()), "type": key_type, "value": value}
    if rng.random() < 0.3:
        item["ttl"] = rng.randint(100, 10_000)
    return item


def read_back(client, item):
    key = item["key"]
    t = item["type"]
    if t == "string":
        return client.get(key).decode()
    if t == "list":
        return [v.decode() for v in client.lrange(key, 0, -1)]
    if t == "set":
        return sorted(v.decode() for v in client.smembers(key))
    if t == "hash":
        return dict((k.decode(), v.decode()) for k, v in client.hgetall(key).items())
    return dict((m.decode(), s) for m, s in client.zrange(key, 0, -1, withscores=True))


@pytest.mark.parametrize("seed_", [11, 12, 13])
def test_random_key_sets_are_written_read_back_saved_and_restored_equal(primary, tmp_path, seed_):
    rng = random.Random(seed_)
    items = [random_item(rng, i) for i in range(300)]
    c = primary.client()
    result = warmup(primary, keys=items, batch_size=rng.randint(1, 120), replace=rng.random() < 0.5)
    assert not result["failed"] and result["written"] == 300 and result["missing"] == [], result["msg"]
    for item in items:
        expected = item["value"]
        if item["type"] == "zset":
            expected = dict((m, float(s)) for m, s in expected.items())
        assert (c.type(item["key"]).decode(), read_back(c, item)) == (item["type"], expected), item["key"]
        assert (c.pttl(item["key"]) > 0) == ("ttl" in item)
    before = dict((item["key"], (read_back(c, item), c.pttl(item["key"]))) for item in items)
    save = tmp_path / ("saved-%d.jsonl" % seed_)
    done = flush(primary, scope="db", force=True, save_to=str(save), protected_classes=["unclassified", "queue"])
    assert done["deleted"] == 300 and done["saved"]["keys"] == 300, done["msg"]
    restored = warmup(primary, src=str(save), batch_size=rng.randint(1, 120))
    assert restored["written"] == 300 and restored["missing"] == [], restored["msg"]
    # Equal values (a hash table's DUMP may list its members in another order after RESTORE), TTLs kept.
    assert c.dbsize() == 300
    for item in items:
        value, pttl = before[item["key"]]
        assert read_back(c, item) == value, item["key"]
        assert (c.pttl(item["key"]) == -1) if pttl == -1 else (pttl - 30_000 < c.pttl(item["key"]) <= pttl)


# --- the drill's Redis: a pattern flush of this test's own keys, directly and through kubectl exec ------------


@pytest.mark.drill
@pytest.mark.parametrize("via", ["direct", "exec"])
def test_pattern_flush_on_the_drill_redis_touches_only_its_own_prefix(dataplane, via, tmp_path, request):
    import dataplane as dp
    import drill

    if via == "exec":
        request.getfixturevalue("drill_env")  # the cluster too: the exec goes through its API server

    prefix = "test:%s:" % uuid.uuid4().hex
    password = dp.secret("redis_password")
    port = int(dp.drill_env()["DRILL_REDIS_PORT"])
    params = {"redis_host": "127.0.0.1", "port": port, "password": password}
    if via == "exec":  # redis-cli in pod redis-0 through the API server, as the runbook's kubectl exec
        params = {"connect_via": "exec", "pod": "redis-0", "pod_namespace": drill.NAMESPACE, "password": password,
                  "kubeconfig": drill.kubeconfig()}
    client = redis.Redis(host="127.0.0.1", port=port, password=password, protocol=2)
    try:
        for n in range(25):
            client.set("%scache:%d" % (prefix, n), n)
        client.rpush(prefix + "queue:jobs", "j")
        client.set(prefix + "other", "keep")
        size = client.dbsize()
        refused = inproc(redis_cache_flush, scope="pattern", patterns=[prefix + "*"], **params)
        assert refused["failed"] and refused["refused"] == "protected" and client.dbsize() == size, refused
        if via == "exec":
            binary = inproc(redis_cache_flush, scope="pattern", patterns=[prefix + "*"], force=True,
                            save_to=str(tmp_path / "saved.jsonl"), **params)
            assert binary["failed"] and binary["refused"] == "binary_transport" and "connect_via=exec" in binary["msg"]
        done = inproc(redis_cache_flush, scope="pattern", patterns=[prefix + "cache:*"], **params)
        assert not done["failed"] and done["deleted"] == 25 and done["command"] == "SCAN MATCH + UNLINK", done
        assert sorted(client.scan_iter(match=prefix + "*")) == [(prefix + k).encode() for k in ("other", "queue:jobs")]
        warm = inproc(redis_cache_warmup, keys=[{"key": prefix + "cache:%d" % n, "value": n, "ttl": 60} for n in range(5)],
                      **params)
        assert not warm["failed"] and warm["written"] == 5 and warm["missing"] == [], warm
        assert client.get(prefix + "cache:4") == b"4" and 0 < client.pttl(prefix + "cache:4") <= 60_000
    finally:
        leftovers = list(client.scan_iter(match=prefix + "*"))
        if leftovers:
            client.delete(*leftovers)
        client.close()
