# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_cache_warmup through AnsibleModule: entries and options checked before connecting,
keys and src together, check mode, a second run, verification failing, and an unreachable
server. The server is FakeRedis (tests/unit/plugins/module_utils/redis/test_warmup.py).

Real servers: tests/integration/test_redis_flush_warmup.py.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import redis_cache_warmup

from ..module_utils.redis.test_warmup import fake_connection
from .incident_runner import run_module
from .prometheus_server import closed_port

PASSWORD = "rd-pa55-1c2b3a"
KEYS = [{"key": "config:flags", "type": "hash", "value": {"a": "1"}},
        {"key": "cache:catalog", "value": {"count": 2}, "ttl": 60}]


@pytest.fixture
def fake(monkeypatch):
    return fake_connection(monkeypatch, redis_cache_warmup)


def run(capsys, check=False, **args):
    args.setdefault("password", PASSWORD)
    return run_module(redis_cache_warmup, capsys, args, check=check)


@pytest.mark.parametrize("args, message", [
    ({"keys": [{"key": "k", "type": "list", "value": []}]}, "entry 0 (key k): a list needs a non-empty list"),
    ({"keys": [{"key": "k", "type": "stream", "value": "x"}]}, "type must be one of string, hash, list, set, zset"),
    ({"keys": KEYS, "batch_size": 0}, "batch_size must be between 1 and 10000"),
    ({"src": "/nonexistent/seed.yml"}, "cannot read src /nonexistent/seed.yml"),
    ({"keys": KEYS, "command_names": {"HSET": ""}}, "command HSET is disabled in command_names"),
])
def test_unusable_input_fails_before_anything_is_written(fake, capsys, args, message):
    result = run(capsys, **args)
    assert result["failed"] and result["error_kind"] == "invalid_input" and message in result["msg"], result
    assert fake.data == {}


def test_keys_or_src_is_required(fake, capsys):
    result = run(capsys)
    assert result["failed"] and "one of the following is required: keys, src" in result["msg"]


def test_keys_then_src_then_nothing_to_do(fake, capsys, tmp_path):
    src = tmp_path / "seed.yml"
    src.write_text("- key: cache:list\n  type: list\n  value: [a, b]\n")
    plan = run(capsys, check=True, keys=KEYS, src=str(src))
    assert plan["changed"] and plan["written"] == 3 and fake.data == {}
    done = run(capsys, keys=KEYS, src=str(src))
    assert done["changed"] and done["written"] == 3 and done["missing"] == [] and done["verified"] == 3
    assert fake.value("cache:catalog") == ("string", b'{"count":2}') and fake._pttl("cache:catalog") == 60_000
    assert fake.value("cache:list") == ("list", [b"a", b"b"])
    again = run(capsys, keys=KEYS, src=str(src))
    assert not again["changed"] and again["skipped_existing"] == 3


def test_keys_that_cannot_be_written_fail_the_module(fake, capsys):
    fake.server.oom = True
    result = run(capsys, keys=KEYS)
    assert result["failed"] and result["error_kind"] == "verification_failed"
    assert [m["key"] for m in result["missing"]] == ["config:flags", "cache:catalog"]
    assert "OOM" in result["errors"][0]["error"] and "2 verified key(s) missing" in result["msg"]


def test_nothing_listening_is_a_connection_error_without_the_password(capsys):
    result = run(capsys, keys=KEYS, redis_host="127.0.0.1", port=closed_port(), connect_timeout=2)
    assert result["failed"] and result["error_kind"] == "connection"
    assert PASSWORD not in json.dumps(result)
