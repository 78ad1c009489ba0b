# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_cache_flush through AnsibleModule: options checked before connecting, what a refusal
returns, check mode, a second run, and an unreachable server. The server is FakeRedis
(tests/unit/plugins/module_utils/redis/test_warmup.py) except for the unreachable one.

Real servers: tests/integration/test_redis_flush_warmup.py.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import redis_cache_flush

from ..module_utils.redis.test_warmup import err, fake_connection
from .incident_runner import run_module
from .prometheus_server import closed_port

PASSWORD = "rd-pa55-9f8e7d"


@pytest.fixture
def fake(monkeypatch):
    """The module's connection is a FakeRedis; `fake.opened` counts connections."""
    conn = fake_connection(monkeypatch, redis_cache_flush)
    for n in range(3):
        conn._set("cache:%d" % n, "v")
    conn._rpush("queue:jobs", "j")
    return conn


def run(capsys, check=False, **args):
    args.setdefault("password", PASSWORD)
    return run_module(redis_cache_flush, capsys, args, check=check)


@pytest.mark.parametrize("args, message", [
    ({"scope": "pattern"}, "scope=pattern needs patterns"),
    ({"scope": "db", "patterns": ["x*"]}, "patterns only apply to scope=pattern"),
    ({"scope": "pattern", "patterns": ["x*"], "scan_count": 0}, "scan_count must be at least 1"),
    ({"scope": "all", "protected_classes": ["nope"]}, "protected_classes nope are not classes"),
])
def test_unusable_options_fail_before_connecting(fake, capsys, args, message):
    result = run(capsys, **args)
    assert result["failed"] and result["error_kind"] == "invalid_input" and message in result["msg"]
    assert fake.opened == 0 and len(fake.data) == 4


def test_a_refusal_fails_with_the_reason_and_what_was_found(fake, capsys):
    result = run(capsys, scope="db")
    assert result["failed"] and result["error_kind"] == "refused" and result["refused"] == "protected"
    assert result["protected"] == {"queue": 1} and result["would_delete"] == 4 and result["deleted"] == 0
    assert result["classes"]["queue"]["sample"] == ["queue:jobs"] and "force=true with save_to" in result["msg"]
    assert result.get("changed") is False and len(fake.data) == 4


def test_check_mode_then_the_flush_then_nothing(fake, capsys):
    plan = run(capsys, check=True, scope="pattern", patterns=["cache:*"])
    assert not plan.get("failed") and plan["changed"] and plan["would_delete"] == 3 and plan["deleted"] == 0
    assert len(fake.data) == 4
    done = run(capsys, scope="pattern", patterns=["cache:*"])
    assert done["changed"] and done["deleted"] == 3 and done["refused"] is None and sorted(fake.data) == [b"queue:jobs"]
    again = run(capsys, scope="pattern", patterns=["cache:*"])
    assert not again["changed"] and again["deleted"] == 0


def test_forced_flush_saves_to_the_file(fake, capsys, tmp_path):
    save = tmp_path / "saved.jsonl"
    result = run(capsys, scope="all", force=True, save_to=str(save))
    assert result["changed"] and result["deleted"] == 4 and result["saved"]["keys"] == 1
    assert json.loads(save.read_text())["key"] == "queue:jobs" and fake.data == {}


def test_nothing_listening_is_a_connection_error_without_the_password(capsys):
    result = run(capsys, check=True, scope="db", redis_host="127.0.0.1", port=closed_port(), connect_timeout=2)
    assert result["failed"] and result["error_kind"] == "connection"
    assert PASSWORD not in json.dumps(result)


def test_a_failure_after_the_save_says_where_the_save_file_is(fake, capsys, tmp_path):
    fake.server.renamed = {"FLUSHALL": "OPS_FLUSHALL"}
    # mapped, but the ACL user may not run it: the keys are saved, then the flush is refused by the server
    original = fake._refusal

    def no_flushall(command):
        if command == "FLUSHALL":
            return err("NOPERM this user has no permissions to run the 'flushall' command", "permission")
        return original(command)
    fake._refusal = no_flushall
    save = tmp_path / "saved.jsonl"
    result = run(capsys, scope="all", force=True, save_to=str(save), command_names={"FLUSHALL": "OPS_FLUSHALL"})
    assert result["failed"] and result["error_kind"] == "permission" and result["refused"] is None
    assert result["saved"]["path"] == str(save) and result["saved"]["keys"] == 1 and len(fake.data) == 4
