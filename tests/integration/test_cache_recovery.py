# SPDX-License-Identifier: GPL-3.0-or-later
"""Drills of playbooks/cache_recovery.yml against the drill's real Redis and gateway.

The drill's Redis holds what a production one does: the gateway's critical cache keys (written
by its real warm-up endpoint), sessions, rate-limit counters, a work queue and a lock
(drill/dataplane.sh). Each drill breaks the cache the way production breaks (drill/fault.sh
cache corrupt|cold), runs the playbook as the operator does, and checks what the operator
cares about: the run's result, that the critical keys are back and valid, that sessions and
queues survived (or were saved and restored when a flush was forced), the incident record.
Every drill leaves the cache warm and the rest of the keyspace as it found it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dataplane as dp
import drill
import pg
from playbook import incidents, module, playbook, recap

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]

CRITICAL = ("config:engines", "config:rate_limits", "config:feature_flags", "workflows:active")


def run(tmp_path: Path, *args: str, check: bool = False):
    extra = ["--check"] if check else []
    return playbook("cache_recovery.yml", "-e", "incident_dir=%s" % tmp_path, *extra, *args, timeout=300)


def snapshot(client) -> dict:
    """Every key outside the cache with its type and value (sessions, queues, locks, rate limits)."""
    out = {}
    for key in client.scan_iter(count=1000):
        if key.startswith(("config:", "workflows:", "workflow:", "cache:")):
            continue
        kind = client.type(key)
        out[key] = (kind, client.lrange(key, 0, -1) if kind == "list" else client.dump(key) if kind != "none" else None)
    return out


def critical_valid(client) -> bool:
    try:
        engines = client.hgetall("config:engines")
        return (client.type("config:engines") == "hash" and all(json.loads(v) for v in engines.values())
                and json.loads(client.get("config:feature_flags")) is not None
                and client.type("workflows:active") == "set" and client.hlen("config:rate_limits") >= 2)
    except Exception:  # wrong type, missing key, bad JSON: not valid
        return False


@pytest.fixture
def cache():
    """The drill's Redis, warm before and after the drill; the keys beyond cache put back as they were."""
    client = dp.redis_client()
    drill.fault_sh("cache", "warm")
    before = snapshot(client)
    yield client
    drill.fault_sh("cache", "warm")
    after = snapshot(client)
    for key in set(before) - set(after):
        kind, value = before[key]
        if kind == "list":
            client.rpush(key, *value)
        elif value is not None:
            client.restore(key, 0, value, replace=True)


@pytest.mark.long  # make test: the second run of the corrupted-cache drill changes nothing either
def test_a_healthy_cache_opens_nothing_and_changes_nothing(tmp_path, cache):
    for _ in range(2):
        result = run(tmp_path)
        assert result.returncode == 0, result.stdout[-3000:]
        assert recap(result)["changed"] == 0
        assert "is healthy; nothing changed" in result.stdout
    assert incidents(tmp_path) == []


def test_a_corrupted_cache_is_flushed_scoped_warmed_and_verified_while_sessions_and_queues_survive(tmp_path, cache):
    others = snapshot(cache)
    assert any(k.startswith("queue:") for k in others) and any(k.startswith("session:") for k in others)
    drill.fault_sh("cache", "corrupt")

    # --check shows the plan and changes nothing.
    planned = run(tmp_path, check=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert "corrupted" in planned.stdout and not critical_valid(cache) and incidents(tmp_path) == []

    result = run(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert critical_valid(cache)
    assert snapshot(cache).keys() == others.keys(), "the scoped flush deleted keys beyond the cache"
    [incident] = incidents(tmp_path)
    assert incident["status"] == "resolved" and incident["severity"] == "P2"
    assert incident["services"]["cache:redis"]["status"] == "restored"
    types = [e["type"] for e in incident["_events"]]
    assert "root_cause_identified" in types and types.count("fix_implemented") == 2  # flush, warm-up
    flush = next(e for e in incident["_events"] if e["type"] == "fix_implemented")
    assert flush["data"]["flush"]["scope"] == "pattern" and flush["data"]["flush"]["deleted"] >= 1
    assert "config:engines" in incident["root_cause"]
    assert (incident["_dir"] / "artifacts" / "cache" / "health.json").is_file()

    again = run(tmp_path)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]


@pytest.mark.long  # make test: the warm-up and its verification are part of the corrupted-cache drill
def test_a_cold_cache_is_warmed_without_a_flush(tmp_path, cache):
    drill.fault_sh("cache", "cold")
    result = run(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert critical_valid(cache)
    [incident] = incidents(tmp_path)
    fixes = [e for e in incident["_events"] if e["type"] == "fix_implemented"]
    assert len(fixes) == 1 and "warmed up" in fixes[0]["message"] and incident["status"] == "resolved"


def test_flushall_is_refused_while_the_keyspace_holds_a_queue_then_forced_with_the_queue_saved(tmp_path, cache):
    queue = [k for k in snapshot(cache) if k.startswith("queue:")][0]
    jobs = cache.lrange(queue, 0, -1)
    size = cache.dbsize()

    refused = run(tmp_path, "-e", "flush=all")
    assert refused.returncode != 0
    assert "refused" in refused.stdout and "queue" in refused.stdout and "force" in refused.stdout
    assert cache.dbsize() == size and incidents(tmp_path) == []

    forced = run(tmp_path, "-e", "flush=all", "-e", "force=true")
    assert forced.returncode == 0, forced.stdout[-4000:]
    assert critical_valid(cache) and not cache.exists(queue)
    [incident] = incidents(tmp_path)
    flush = next(e for e in incident["_events"] if e["type"] == "fix_implemented")["data"]["flush"]
    saved = Path(flush["saved"]["path"])
    assert saved.is_file() and flush["saved"]["keys"] >= len([k for k in jobs if k])

    # The saved keys restore with the warm-up module, byte for byte.
    restored = module("redis_cache_warmup", src=str(saved), redis_host="127.0.0.1", port=int(dp.drill_env()["DRILL_REDIS_PORT"]),
                      password=dp.secret("redis_password"))
    assert not restored["failed"], restored
    assert cache.lrange(queue, 0, -1) == jobs


def test_wrong_credentials_fail_early_open_a_p1_incident_and_escalate(tmp_path, cache):
    extra = tmp_path / "wrong.json"
    extra.write_text(json.dumps({"redis_connection": {"redis_host": "127.0.0.1", "port": int(dp.drill_env()["DRILL_REDIS_PORT"]),
                                                      "password": "not-the-password"}}))
    records = tmp_path / "records"
    result = run(records, "-e", "@%s" % extra)
    assert result.returncode != 0
    assert "refused the automation's credentials" in result.stdout and "not-the-password" not in result.stdout
    [incident] = incidents(records)
    assert incident["severity"] == "P1" and incident["escalations"]
    written = "".join(p.read_text() for p in incident["_dir"].rglob("*") if p.is_file())
    assert "not-the-password" not in written


@pytest.mark.long
def test_redis_down_fails_early_and_escalates(tmp_path, cache):
    extra = tmp_path / "down.json"
    extra.write_text(json.dumps({"redis_connection": {"redis_host": "127.0.0.1", "port": pg.free_port(),
                                                      "connect_timeout": 2}}))
    records = tmp_path / "records"
    result = run(records, "-e", "@%s" % extra)
    assert result.returncode != 0 and "Redis does not answer" in result.stdout
    [incident] = incidents(records)
    assert incident["severity"] == "P1" and incident["services"]["cache:redis"]["status"] == "escalated"


@pytest.mark.long
def test_the_runbook_exec_path_diagnoses_through_the_redis_pod(tmp_path, cache):
    extra = tmp_path / "exec.json"
    extra.write_text(json.dumps({"redis_connection": {"connect_via": "exec", "pod": "redis-0", "pod_namespace": "ai-orchestrator",
                                                      "password": dp.secret("redis_password")}}))
    drill.fault_sh("cache", "cold")
    result = run(tmp_path, "-e", "@%s" % extra)
    assert result.returncode == 0, result.stdout[-4000:]
    assert critical_valid(cache)
