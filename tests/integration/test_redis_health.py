# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_health_info and the Redis connections (module_utils/redis) on the drill, the three ways the
cache runbook reaches Redis:

- direct, to the drill's loopback Redis;
- port_forward, through the kube API server to pod redis-0 (kwok's ClusterPortForward,
  drill/kwok/portforward.yaml, forwards its 6379 to the same Redis);
- exec, `redis-cli` in redis-0 through the API's exec (kwok's ClusterExec runs drill/podbin/redis/
  redis-cli, the real redis-cli against the same Redis with the pod's own REDISCLI_AUTH): the
  password given to the module reaches redis-cli's --askpass on stdin, and wins over the pod's.

Only keys under a prefix of this module's own (test:<hex>:) are written, and they are deleted
afterwards; the drill's Redis is never reconfigured or flushed (tests/integration/redisenv.py's
private servers are for that).
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

import dataplane
import drill
from playbook import module

pytestmark = [pytest.mark.drill]

NAMESPACE = "ai-orchestrator"
PREFIX = "test:%s:" % secrets.token_hex(4)


def rc():
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import connection

    return connection


def options(**params) -> dict:
    """Module params as AnsibleModule passes them: every option, defaults applied, then these."""
    values = {name: spec.get("default") for name, spec in rc().redis_argument_spec().items()}
    values.update(params)
    return values


def redis_port() -> int:
    return int(dataplane.drill_env()["DRILL_REDIS_PORT"])


def password() -> str:
    return dataplane.secret("redis_password")


@pytest.fixture(scope="module")
def kube(drill_env):
    return {"kubeconfig": drill.kubeconfig()}


@pytest.fixture(scope="module")
def seeded(drill_env):
    """Critical keys under this module's prefix (db 0), deleted afterwards."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_port(), password=password(), socket_timeout=5)
    keys = {
        PREFIX + "config": '{"features": {"beta": true}}',
        PREFIX + "broken": '{"features": ',
        PREFIX + "bin": bytes(range(256)),
    }
    client.mset(keys)
    client.hset(PREFIX + "registry", mapping={"default": '{"id": 1}'})
    client.rpush(PREFIX + "queue", *range(5))
    yield client
    client.delete(*list(keys) + [PREFIX + "registry", PREFIX + "queue"])
    client.close()


KEY_CHECKS = [{"name": PREFIX + "config", "type": "string", "json": True},
              {"name": PREFIX + "broken", "json": True},
              {"name": PREFIX + "registry", "fields": ["default", "fallback"]},
              {"name": PREFIX + "missing"}]
EXPECTED_PROBLEMS = [None, "not JSON: Expecting value: line 1 column 14 (char 13)", "missing fields: fallback", "missing"]

VIAS = {
    "direct": lambda: {"redis_host": "127.0.0.1", "port": redis_port()},
    "port_forward": lambda: {"connect_via": "port_forward", "pod": "statefulset/redis", "pod_namespace": NAMESPACE},
    "exec": lambda: {"connect_via": "exec", "pod": "redis-0", "pod_namespace": NAMESPACE},
}
WHERE = {
    "direct": "127.0.0.1:%d db 0",
    "port_forward": "pod ai-orchestrator/redis-0 port 6379 db 0 via port-forward",
    "exec": "pod ai-orchestrator/redis-0 (container redis) via exec db 0",
}


# --- the connections ------------------------------------------------------------------------------


@pytest.mark.parametrize("via", sorted(VIAS))
def test_every_transport_reaches_the_same_redis_with_the_same_replies(kube, seeded, via):
    with rc().open_redis(options(password=password(), **VIAS[via]()), kube_params=kube) as conn:
        assert conn.where == (WHERE[via] % redis_port() if via == "direct" else WHERE[via])
        # The drill's pod is its loopback Redis: same server, however it is reached.
        assert conn.info("server")["tcp_port"] == redis_port()
        assert conn.execute("GET", PREFIX + "bin") == bytes(range(256))
        assert conn.pipeline_execute([("TYPE", PREFIX + "queue"), ("LLEN", PREFIX + "queue"), ("GET", PREFIX + "none"),
                                      ("LPUSH", PREFIX + "config", "x")])[:3] == [b"list", 5, None]
        assert conn.select_db(0) is conn


def test_exec_sends_the_password_on_stdin_and_it_wins_over_the_pods_own(kube, seeded):
    exec_options = VIAS["exec"]()
    with rc().open_redis(options(password=password(), **exec_options), kube_params=kube) as conn:
        assert conn.execute("PING") == b"PONG"
    # A wrong password is refused although the pod's REDISCLI_AUTH is right: --askpass read it from stdin.
    with pytest.raises(rc().RedisError) as err:
        with rc().open_redis(options(password="not-the-drill-password-1", **exec_options), kube_params=kube) as conn:
            conn.execute("PING")
    assert err.value.kind == "auth" and "WRONGPASS" in str(err.value)
    assert "not-the-drill-password-1" not in str(err.value) and password() not in str(err.value)
    # Without a password the pod's own authentication applies, as kubectl exec ... redis-cli does.
    with rc().open_redis(options(**exec_options), kube_params=kube) as conn:
        assert conn.execute("EXISTS", PREFIX + "config") == 1


def test_exec_pipelines_are_one_exec_per_batch(kube, seeded):
    with rc().open_redis(options(password=password(), **VIAS["exec"]()), kube_params=kube) as conn:
        started = time.monotonic()
        replies = conn.pipeline_execute([("EXISTS", PREFIX + "k%d" % i) for i in range(400)])
        elapsed = time.monotonic() - started
    assert replies == [0] * 400
    assert elapsed < 5, "400 commands took %.1f s: not two execs" % elapsed


@pytest.mark.parametrize("via", ["port_forward", "exec"])
def test_a_pod_that_does_not_exist_is_not_found(kube, via):
    params = dict(VIAS[via](), pod="redis-7")
    with pytest.raises(rc().RedisError) as err:
        with rc().open_redis(options(password=password(), **params), kube_params=kube) as conn:
            conn.execute("PING")
    assert err.value.kind == "not_found" and "pod 'redis-7' not found in namespace 'ai-orchestrator'" in str(err.value)


# --- the module, as a playbook runs it ----------------------------------------------------------------


@pytest.mark.parametrize("via", sorted(VIAS))
def test_the_health_module_through_each_transport(kube, seeded, via):
    args = dict(VIAS[via](), password=password(), keys=KEY_CHECKS, sample_seconds=0.3, latency_samples=3,
                keyspace_scan_limit=500, kubeconfig=kube["kubeconfig"])
    started = time.monotonic()
    result = module("redis_health_info", **args)
    elapsed = time.monotonic() - started
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert result["server"]["version"].startswith("7.") and result["server"]["role"] == "primary"
    assert result["server"]["address"] == (WHERE[via] % redis_port() if via == "direct" else WHERE[via])
    assert [k["problem"] for k in result["keys"]] == EXPECTED_PROBLEMS
    assert result["databases"]["db0"]["keys"] >= 5
    assert result["keyspace"]["scanned"] > 0 and result["commands"]["available"]["SCAN"] is True
    assert result["latency"]["samples"] > 0 and result["stats"]["window_seconds"] >= 0.3
    assert result["unavailable"] is False
    invalid = [f["message"] for f in result["findings"] if f["check"] == "keys"]
    assert invalid == ["critical key %sbroken: not JSON: Expecting value: line 1 column 14 (char 13)" % PREFIX,
                       "critical key %sregistry: missing fields: fallback" % PREFIX,
                       "critical key %smissing: missing" % PREFIX]
    assert password() not in json.dumps(result)
    assert elapsed < 20


def test_the_module_over_exec_with_the_pods_own_credentials(kube, seeded):
    result = module("redis_health_info", **dict(VIAS["exec"](), sample_seconds=0, latency_samples=0,
                                                keyspace_scan_limit=0, kubeconfig=kube["kubeconfig"]))
    assert not result.get("failed"), result.get("msg")
    assert result["latency"] is None and result["keyspace"] is None and result["stats"]["hit_rate_window"] is None


def test_the_module_fails_with_the_error_kind_a_playbook_branches_on(kube, seeded):
    wrong = module("redis_health_info", redis_host="127.0.0.1", port=redis_port(), password="wrong-password-77",
                   sample_seconds=0)
    assert wrong["failed"] and wrong["error_kind"] == "auth" and "wrong-password-77" not in json.dumps(wrong)
    missing = module("redis_health_info", **dict(VIAS["port_forward"](), pod="redis-9", password=password(),
                                                 kubeconfig=kube["kubeconfig"]))
    assert missing["failed"] and missing["error_kind"] == "not_found"
    assert missing["msg"] == ("port-forward to pod ai-orchestrator/redis-9 port 6379: "
                              "pod 'redis-9' not found in namespace 'ai-orchestrator'")
    assert password() not in json.dumps(missing)
