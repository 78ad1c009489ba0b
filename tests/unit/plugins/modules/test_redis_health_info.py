# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_health_info through AnsibleModule (in-process), against private servers: what a playbook
gets back - the report, or a failure with error_kind and a message without the password. The
report's details are tested in tests/unit/plugins/module_utils/redis/test_info.py; through the
drill (direct, port-forward, exec) in tests/integration/test_redis_health.py."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import redis_health_info

from ..module_utils.redis.redis_server import PrivateRedis, free_port
from .incident_runner import run_module

PASSWORD = "pw-module-6e2b77"
QUICK = dict(sample_seconds=0.1, latency_samples=2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrivateRedis(tmp_path_factory.mktemp("module"), password=PASSWORD, maxmemory="64mb", policy="allkeys-lru",
                      rename={"FLUSHALL": ""}, users={"noinfo": "on >other-pass ~* +@read -info +ping"}) as srv:
        c = srv.client()
        c.set("config:flags", '{"beta": true}')
        c.rpush("queue:emails", "a", "b")
        c.set("session:1", "u")
        yield srv


@pytest.fixture
def run(capsys):
    def _run(check=False, **args):
        return run_module(redis_health_info, capsys, args, check=check)
    return _run


def test_the_documentation_matches_the_argspec():
    doc = yaml.safe_load(redis_health_info.DOCUMENTATION)
    spec = redis_health_info.argspec()
    own = doc["options"]
    for name, option in own.items():
        assert name in spec, name
        assert option["type"] == spec[name]["type"], name
        assert option.get("default") == spec[name].get("default"), name
    assert set(spec) == set(own) | set(redis_health_info.redis_argument_spec()) | set(
        redis_health_info.cluster_argument_spec())
    subs = own["keys"]["suboptions"]
    assert set(subs) == set(spec["keys"]["options"])
    assert subs["type"]["choices"] == spec["keys"]["options"]["type"]["choices"]


def test_a_healthy_cache_in_one_task(run, server):
    result = run(keys=[{"name": "config:flags", "type": "string", "json": True}], **dict(server.params(), **QUICK))
    assert not result.get("failed") and result["changed"] is False
    assert result["healthy"] is True and result["findings"] == [] and result["unavailable"] is False
    assert result["server"]["version"] == "7.0.15" and result["server"]["role"] == "primary"
    assert result["memory"]["maxmemory_bytes"] == 64 * 1024 * 1024 and result["memory"]["policy"] == "allkeys-lru"
    assert result["keys"] == [{"name": "config:flags", "exists": True, "type": "string", "ttl": -1, "valid": True,
                               "problem": None}]
    assert result["keyspace"]["non_cache"] == ["queue", "session"]
    assert result["keyspace"]["queues"] == [{"key": "queue:emails", "type": "list", "length": 2}]
    assert result["commands"]["available"]["FLUSHALL"] is False
    assert result["stats"]["window_seconds"] >= 0.1 and result["latency"]["samples"] == 2
    assert PASSWORD not in json.dumps(result)


def test_check_mode_reports_the_same(run, server):
    result = run(check=True, **dict(server.params(), **QUICK))
    assert not result.get("failed") and result["changed"] is False and result["server"]["version"] == "7.0.15"


def test_a_missing_critical_key_is_a_finding_not_a_failure(run, server):
    result = run(keys=[{"name": "config:gone"}], **dict(server.params(), **QUICK))
    assert not result.get("failed") and result["healthy"] is False
    assert result["findings"] == [{"check": "keys", "severity": "warning", "message": "critical key config:gone: missing"}]


def test_a_wrong_password_fails_as_auth_without_the_password(run, server):
    result = run(**dict(server.params(password="guessed-wrong-991"), **QUICK))
    assert result["failed"] and result["error_kind"] == "auth" and "WRONGPASS" in result["msg"]
    assert "guessed-wrong-991" not in json.dumps(result) and PASSWORD not in json.dumps(result)


def test_a_password_from_the_environment_is_used_and_never_shown(run, server, monkeypatch):
    monkeypatch.setenv("REDISCLI_AUTH", PASSWORD)
    result = run(**dict(server.params(password=None), **QUICK))
    assert not result.get("failed") and PASSWORD not in json.dumps(result)


def test_a_user_who_may_not_run_info_fails_as_permission_naming_info(run, server):
    result = run(**dict(server.params(username="noinfo", password="other-pass"), **QUICK))
    assert result["failed"] and result["error_kind"] == "permission"
    assert "may not run INFO" in result["msg"] and "ACL SETUSER noinfo +info" in result["msg"]
    assert "other-pass" not in json.dumps(result)


def test_nothing_listening_fails_as_connection(run):
    result = run(redis_host="127.0.0.1", port=free_port(), password=PASSWORD, connect_timeout=1.0, **QUICK)
    assert result["failed"] and result["error_kind"] == "connection" and "Connection refused" in result["msg"]
    assert PASSWORD not in json.dumps(result)


@pytest.mark.parametrize("args, message", [
    (dict(sample_seconds=120.0), "sample_seconds must be between 0 and 60"),
    (dict(keys=[{"name": "a", "type": "list", "json": True}]), "json applies to a string"),
    (dict(connect_via="exec"), "connect_via=exec needs pod and pod_namespace"),
    (dict(url="memcached://h"), "url must start with redis:// or rediss://"),
])
def test_unusable_options_fail_before_connecting(run, args, message):
    result = run(redis_host="127.0.0.1", port=free_port(), **args)
    assert result["failed"] and result["error_kind"] == "invalid_input" and message in result["msg"]


def test_a_key_spec_the_argspec_refuses(run):
    result = run(redis_host="127.0.0.1", port=free_port(), keys=[{"name": "a", "type": "blob"}])
    assert result["failed"] and "value of type must be one of" in result["msg"]
