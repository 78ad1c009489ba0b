# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health report (module_utils/redis/info.py) against private servers in the states an operator
meets: memory at maxmemory, evictions, a cold cache (low hit rate), corrupt critical keys, a
replica and its broken link, cluster mode, a user without some commands - the numbers are the
server's own, and the findings say what is wrong."""

from __future__ import annotations

import time

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import connection as rc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import execcli
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import info

from .redis_server import LocalPodExec, PrivateRedis

PASSWORD = "pw-info-a81c"


def options(**overrides):
    values = dict(sample_seconds=0.0, latency_samples=3, keyspace_scan_limit=1000)
    values.update(overrides)
    return info.check_options(values)


def open_conn(server, **params):
    values = dict((name, option.get("default")) for name, option in rc.redis_argument_spec().items())
    values.update(server.params(**params))
    return rc.open_redis(values)


def report_of(server, **opts):
    with open_conn(server) as conn:
        return info.collect(conn, options(**opts))


def checks(report, severity=None):
    return dict((f["check"], f["message"]) for f in report["findings"] if severity in (None, f["severity"]))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrivateRedis(tmp_path_factory.mktemp("info"), password=PASSWORD, rename={"FLUSHALL": "", "KEYS": ""},
                      users={"monitor": "on >mon ~* +info +ping +type +pttl +get +hgetall +hmget",
                             "noinfo": "on >mon ~* +@read -info +ping"}) as srv:
        yield srv


# --- options -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, message", [
    (dict(latency_samples=-1), "latency_samples must be between 0 and 1000"),
    (dict(sample_seconds=61), "sample_seconds must be between 0 and 60"),
    (dict(keyspace_scan_limit=-5), "keyspace_scan_limit must be 0"),
    (dict(memory_percent=0), "memory_percent must be more than 0"),
    (dict(fragmentation_ratio=1.0), "fragmentation_ratio must be more than 1"),
    (dict(min_hit_rate=1.5), "min_hit_rate must be between 0 and 1"),
    (dict(max_latency_ms=0), "max_latency_ms must be more than 0"),
    (dict(keys=[{"type": "string"}]), "keys[0] needs a name"),
    (dict(keys=[{"name": "a", "type": "blob"}]), "type must be one of"),
    (dict(keys=[{"name": "a", "type": "string", "fields": ["f"]}]), "fields apply to a hash, not a string"),
    (dict(keys=[{"name": "a", "type": "list", "json": True}]), "json applies to a string"),
    (dict(keys=[{"name": "a", "ttl": 5}]), "unknown field(s) ttl"),
    (dict(keyspace_patterns={"cache": 5}), "keyspace_patterns.cache must be a list"),
])
def test_unusable_options(values, message):
    with pytest.raises(InvalidInput) as err:
        info.check_options(values)
    assert message in str(err.value)


# --- the numbers are the server's --------------------------------------------------------------------


def test_the_report_carries_the_servers_own_numbers(server):
    c = server.client()
    c.set("cache:a", "1")
    c.set("cache:ttl", "1", ex=500)
    c.get("cache:a")
    c.get("cache:nope")
    # No scan: its TYPE reads would count as hits (see the next test).
    report = report_of(server, latency_samples=0, keyspace_scan_limit=0)
    raw = rc.parse_info(server.cli("INFO", "everything"))
    assert report["server"]["version"] == raw["redis_version"] == "7.0.15"
    assert report["server"]["mode"] == "standalone" and report["server"]["role"] == "primary"
    assert report["server"]["address"] == "127.0.0.1:%d db 0" % server.port
    assert report["memory"]["maxmemory_bytes"] == raw["maxmemory"] == 0 and report["memory"]["percent"] is None
    assert report["memory"]["policy"] == raw["maxmemory_policy"]
    assert report["clients"]["maxclients"] == raw["maxclients"]
    assert report["stats"]["hits"] == raw["keyspace_hits"] and report["stats"]["misses"] == raw["keyspace_misses"]
    assert report["stats"]["hit_rate"] == round(raw["keyspace_hits"] / (raw["keyspace_hits"] + raw["keyspace_misses"]), 4)
    assert report["databases"]["db0"] == raw["db0"] and raw["db0"]["expires"] >= 1
    assert report["persistence"] == {"rdb_last_bgsave_status": "ok", "aof_enabled": False, "aof_last_write_status": "ok",
                                     "aof_last_bgrewrite_status": "ok",
                                     "rdb_changes_since_last_save": raw["rdb_changes_since_last_save"], "loading": False}
    assert report["stats"]["window_seconds"] is None and report["stats"]["hit_rate_window"] is None
    assert report["latency"] is None and report["unavailable"] is False
    c.delete("cache:a", "cache:ttl")


def test_the_window_counts_exactly_the_traffic_inside_it(server):
    """The sleep between the two INFO readings is where the application's traffic happens."""
    c = server.client()
    c.set("win:hit", "1")
    done = []

    def traffic(seconds):
        if done:
            return time.sleep(seconds)
        done.append(True)
        for _index in range(30):
            c.get("win:hit")
        for index in range(70):
            c.get("win:miss:%d" % index)
        for _index in range(100):
            c.ping()

    with open_conn(server) as conn:
        report = info.collect(conn, options(sample_seconds=0.5, latency_samples=5), sleep=traffic)
    stats = report["stats"]
    assert stats["lookups_window"] == 100 and stats["hit_rate_window"] == 0.3
    assert report["latency"]["samples"] == 5
    # 200 commands of the application's; the module's own (INFO, the PINGs) are left out.
    assert abs(stats["ops_per_sec"] - 200 / stats["window_seconds"]) < 1
    assert checks(report)["hit_rate"].startswith("cache hit rate is 30.0 % over the last")
    c.delete("win:hit")


def test_the_window_closes_before_the_scan_whose_reads_count_as_hits(server):
    c = server.client()
    c.mset({"scan:%d" % i: "v" for i in range(50)})
    before = rc.parse_info(server.cli("INFO", "stats"))["keyspace_hits"]
    report = report_of(server, sample_seconds=0.1, latency_samples=0)
    after = rc.parse_info(server.cli("INFO", "stats"))["keyspace_hits"]
    assert report["stats"]["lookups_window"] == 0 and report["stats"]["hits"] == before
    assert after - before >= 50  # TYPE counts as a lookup: the lifetime rate includes the scan's
    c.delete(*["scan:%d" % i for i in range(50)])


def test_latency_samples_are_spread_over_the_window(server):
    started = time.monotonic()
    report = report_of(server, sample_seconds=0.4, latency_samples=4, keyspace_scan_limit=0)
    assert time.monotonic() - started >= 0.4
    latency = report["latency"]
    assert latency["samples"] == 4 and latency["min_ms"] <= latency["p50_ms"] <= latency["max_ms"]
    assert latency["source"] == "PING from the control node"
    assert report["keyspace"] is None


def test_a_slow_server_is_a_latency_finding(server):
    report = report_of(server, latency_samples=3, max_latency_ms=0.001)
    assert "round trips take" in checks(report, "warning")["latency"]


# --- findings --------------------------------------------------------------------------------------


def test_memory_at_maxmemory_with_noeviction_is_critical(tmp_path):
    with PrivateRedis(tmp_path, maxmemory="1mb", policy="noeviction") as srv:
        c = srv.client()
        with pytest.raises(Exception, match="maxmemory"):
            for index in range(10000):
                c.set("cache:fill:%d" % index, "x" * 200)
        report = report_of(srv)
    memory = report["memory"]
    assert memory["maxmemory_bytes"] == 1024 * 1024 and memory["percent"] >= 99 and memory["policy"] == "noeviction"
    assert "writes fail with OOM" in checks(report, "critical")["memory"]
    assert report["healthy"] is False


def test_evictions_in_the_window_are_a_finding(tmp_path):
    with PrivateRedis(tmp_path, maxmemory="1mb", policy="allkeys-lru") as srv:
        c = srv.client()

        def fill(seconds):
            pipe = c.pipeline(transaction=False)
            for index in range(8000):
                pipe.set("cache:e:%d" % index, "x" * 200)
            pipe.execute()

        with open_conn(srv) as conn:
            report = info.collect(conn, options(sample_seconds=0.2, latency_samples=0), sleep=fill)
        evicted = rc.parse_info(srv.cli("INFO", "stats"))["evicted_keys"]
    window = report["stats"]["evicted_keys_window"]
    # Redis goes on evicting in the background after the window: the server's count only grows.
    assert window == report["memory"]["evicted_keys"] > 0 and evicted >= window
    assert checks(report, "warning")["evictions"].startswith("%s keys were evicted in the last" % window)
    assert "keys are evicted (maxmemory-policy allkeys-lru)" in checks(report)["memory"]


def test_a_cold_cache_has_a_low_hit_rate_over_its_lifetime(tmp_path):
    with PrivateRedis(tmp_path) as srv:
        c = srv.client()
        c.set("cache:warm", "1")
        for index in range(150):
            c.get("cache:cold:%d" % index)
        for _index in range(50):
            c.get("cache:warm")
        report = report_of(srv, min_hit_rate=0.8)
    assert report["stats"]["hit_rate"] == 0.25
    assert checks(report, "warning")["hit_rate"] == (
        "cache hit rate is 25.0 % over the server's lifetime (200 lookups), below 80 %: reads miss the cache and go "
        "to the backing services")


def test_critical_keys_missing_wrong_or_corrupt(server):
    c = server.client()
    c.set("config:flags", '{"beta": true}')
    c.set("config:broken", '{"beta": tru')
    c.hset("workflows:registry", mapping={"default": '{"id": 1}', "bad": "nope"})
    c.hset("workflows:index", mapping={"a": "1"})
    c.rpush("config:list", "x")
    c.set("config:ttl", "5", ex=100)
    specs = [{"name": "config:flags", "type": "string", "json": True},
             {"name": "config:broken", "json": True},
             {"name": "config:gone"},
             {"name": "config:list", "type": "string"},
             {"name": "workflows:registry", "json": True},
             {"name": "workflows:index", "fields": ["a", "b"]},
             {"name": "config:list", "json": True},
             {"name": "config:ttl", "type": "string"},
             {"name": "config:flags", "fields": ["x"]}]
    with open_conn(server) as conn:
        keys = info.collect(conn, options(keys=specs, keyspace_scan_limit=0, latency_samples=0))["keys"]
    problems = [(k["name"], k["valid"], k["problem"]) for k in keys]
    assert problems == [
        ("config:flags", True, None),
        ("config:broken", False, "not JSON: Expecting value: line 1 column 10 (char 9)"),
        ("config:gone", False, "missing"),
        ("config:list", False, "wrong type: list, expected string"),
        ("workflows:registry", False, "fields not JSON: bad"),
        ("workflows:index", False, "missing fields: b"),
        ("config:list", False, "a list cannot be checked as JSON (a string or a hash can)"),
        ("config:ttl", True, None),
        ("config:flags", False, "wrong type: string, expected hash"),
    ]
    assert keys[0]["ttl"] == -1 and keys[0]["exists"] and keys[0]["type"] == "string"
    assert 99 <= keys[7]["ttl"] <= 100
    assert keys[2] == {"name": "config:gone", "exists": False, "type": None, "ttl": None, "valid": False, "problem": "missing"}
    # The values are never in the report.
    assert "tru" not in repr(keys) and "nope" not in repr(keys)
    c.delete("config:flags", "config:broken", "workflows:registry", "workflows:index", "config:list", "config:ttl")


def test_critical_keys_cost_one_pipeline_when_their_types_are_given(server):
    calls = []
    with open_conn(server) as conn:
        original = conn.pipeline_execute

        def counting(commands, transaction=False):
            calls.append(len(commands))
            return original(commands, transaction)

        conn.pipeline_execute = counting
        info.check_keys(conn, info.check_key_specs([{"name": "a", "type": "string", "json": True}, {"name": "b"},
                                                    {"name": "c", "fields": ["x"]}]))
    assert calls == [2 + 1 + 2 + 2 + 1]


def test_renamed_commands_show_as_unavailable(server):
    available = report_of(server, keyspace_scan_limit=0, latency_samples=0)["commands"]["available"]
    assert available["FLUSHALL"] is False and available["KEYS"] is False
    assert available["FLUSHDB"] is True and available["SCAN"] is True and available["UNLINK"] is True


def test_a_user_without_some_commands_gets_the_rest_with_the_reasons(server):
    with open_conn(server, username="monitor", password="mon") as conn:
        report = info.collect(conn, options(keys=[{"name": "x", "type": "string", "json": True}]))
    assert report["server"]["version"] == "7.0.15" and report["keys"][0]["problem"] == "missing"
    assert set(report["unavailable"]) == {"commands", "keyspace"}
    assert "may not run COMMAND INFO" in report["unavailable"]["commands"]
    assert "may not run SCAN" in report["unavailable"]["keyspace"]
    assert report["commands"] is None and report["keyspace"] is None


def test_a_user_without_info_cannot_be_diagnosed(server):
    with open_conn(server, username="noinfo", password="mon") as conn:
        with pytest.raises(rc.RedisError) as err:
            info.collect(conn, options())
    assert err.value.kind == "permission" and "may not run INFO" in str(err.value)


def test_a_replica_and_its_broken_link(tmp_path):
    with PrivateRedis(tmp_path, name="primary", password=PASSWORD) as primary:
        with PrivateRedis(tmp_path, name="replica", password=PASSWORD, replicaof=primary) as replica:
            replica.wait_replica_synced()
            from_primary = report_of(primary)["replication"]
            assert from_primary["role"] == "primary" and from_primary["connected_replicas"] == 1
            assert from_primary["replicas"][0]["address"] == "127.0.0.1:%d" % replica.port
            assert from_primary["replicas"][0]["state"] == "online"
            healthy = report_of(replica)
            assert healthy["server"]["role"] == "replica" and "replication" not in checks(healthy)
            assert healthy["replication"]["master_host"] == "127.0.0.1"
            assert healthy["replication"]["master_port"] == primary.port
            assert healthy["replication"]["master_link_status"] == "up"
            primary.stop()
            replica.wait_for(lambda: "master_link_status:down" in replica.cli("INFO", "replication"), "link down")
            broken = report_of(replica)
    assert broken["replication"]["master_link_status"] == "down"
    assert checks(broken, "critical")["replication"].startswith(
        "the replica's link to its primary 127.0.0.1:%d is down" % primary.port)


def test_cluster_mode_and_a_cluster_that_is_down(tmp_path):
    with PrivateRedis(tmp_path, cluster=True) as node:
        report = report_of(node)
        assert report["server"]["mode"] == "cluster" and report["server"]["cluster_state"] == "ok"
        assert "cluster" not in checks(report)
        slot = int(node.cli("CLUSTER", "KEYSLOT", "some-key"))
        node.cli("CLUSTER", "DELSLOTS", str(slot))
        node.wait_for(lambda: "cluster_state:fail" in node.cli("CLUSTER", "INFO"), "cluster_state fail")
        with open_conn(node) as conn:
            with pytest.raises(rc.RedisError) as err:
                conn.execute("GET", "some-key")
            down = info.collect(conn, options(keyspace_scan_limit=0))
    assert err.value.kind == "cluster" and "CLUSTERDOWN" in str(err.value)
    assert down["server"]["cluster_state"] == "fail"
    assert "cluster_state is fail" in checks(down, "critical")["cluster"]


def test_exec_reports_the_same_server(server):
    values = dict((name, option.get("default")) for name, option in rc.redis_argument_spec().items())
    values.update(connect_via="exec", pod="redis-0", pod_namespace="ai-orchestrator", password=PASSWORD)
    conn = execcli.open_exec(rc.settings(values, environ={}), {}, pod_exec=LocalPodExec(server))
    report = info.collect(conn, options(sample_seconds=0.3, latency_samples=1))
    assert report["server"]["address"] == "pod ai-orchestrator/redis-0 (container redis) via exec db 0"
    assert report["server"]["version"] == "7.0.15" and report["unavailable"] is False
    assert report["latency"]["source"] == "redis-cli --latency in the pod" and report["latency"]["p50_ms"] is None
    assert report["commands"]["available"]["FLUSHALL"] is False


# --- findings from numbers alone ---------------------------------------------------------------------


def base_report(**sections):
    report = {
        "server": {"cluster_state": None},
        "memory": {"used_bytes": 100, "rss_bytes": 120, "maxmemory_bytes": 0, "percent": None, "policy": "noeviction",
                   "fragmentation_ratio": 1.2, "fragmentation_bytes": 20, "evicted_keys": 0},
        "stats": {"hit_rate": None, "hit_rate_window": None, "hits": 0, "misses": 0, "lookups_window": None,
                  "evicted_keys_window": None, "rejected_connections_window": None, "window_seconds": None},
        "clients": {"connected": 10, "blocked": 0, "maxclients": 10000, "percent": 0.1},
        "persistence": {"rdb_last_bgsave_status": "ok", "aof_enabled": False, "aof_last_write_status": "ok",
                        "aof_last_bgrewrite_status": "ok", "loading": False},
        "replication": {"role": "primary"},
        "latency": None, "keys": [],
    }
    for name, values in sections.items():
        report[name].update(values)
    return report


@pytest.mark.parametrize("sections, check, severity, words", [
    (dict(memory={"percent": 92.0, "maxmemory_bytes": 1000, "policy": "allkeys-lru"}), "memory", "warning",
     "keys are evicted"),
    (dict(memory={"percent": 100.0, "maxmemory_bytes": 1000, "policy": "allkeys-lru"}), "memory", "critical",
     "memory is at 100.0 %"),
    (dict(memory={"fragmentation_ratio": 2.5, "fragmentation_bytes": 64 << 20}), "fragmentation", "warning", "2.50"),
    (dict(memory={"evicted_keys": 5}, stats={"evicted_keys_window": 0, "window_seconds": 1.0}), "evictions", "info",
     "none in the last 1.0 s"),
    (dict(stats={"hit_rate_window": 0.5, "lookups_window": 25, "window_seconds": 1.0}), "hit_rate", "warning", "50.0 %"),
    (dict(clients={"blocked": 6, "connected": 10}), "blocked_clients", "info", "6 of 10 clients are blocked"),
    (dict(clients={"connected": 9500, "percent": 95.0}), "clients", "warning", "9500 of maxclients 10000"),
    (dict(stats={"rejected_connections_window": 3, "window_seconds": 1.0}), "clients", "critical", "3 connections were refused"),
    (dict(persistence={"rdb_last_bgsave_status": "err"}), "persistence", "critical", "MISCONF"),
    (dict(persistence={"aof_enabled": True, "aof_last_write_status": "err"}), "persistence", "critical", "AOF failed"),
    (dict(persistence={"loading": True}), "persistence", "warning", "loading its dataset"),
    (dict(replication={"role": "replica", "master_host": "10.0.0.5", "master_port": 6379, "master_link_status": "down",
                       "master_link_down_seconds": 42}), "replication", "critical", "is down (for 42 s)"),
    (dict(server={"cluster_state": "fail"}), "cluster", "critical", "CLUSTERDOWN"),
])
def test_findings(sections, check, severity, words):
    found = info.findings(base_report(**sections), options())
    assert [(f["check"], f["severity"]) for f in found] == [(check, severity)]
    assert words in found[0]["message"]


@pytest.mark.parametrize("sections", [
    dict(memory={"percent": 89.9, "maxmemory_bytes": 1000}),
    dict(memory={"fragmentation_ratio": 9.0, "fragmentation_bytes": 1 << 20}),  # a small dataset's high ratio
    dict(stats={"hit_rate": 0.1, "hits": 5, "misses": 45}),  # too few lookups to judge
    dict(stats={"hit_rate_window": 0.1, "lookups_window": 5, "window_seconds": 1.0}),
    dict(clients={"blocked": 2, "connected": 10}),
    dict(replication={"role": "replica", "master_link_status": "up"}),
])
def test_no_findings_below_the_thresholds(sections):
    assert info.findings(base_report(**sections), options()) == []
