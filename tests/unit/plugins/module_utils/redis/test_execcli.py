# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""connect_via=exec (module_utils/redis/execcli.py): the real redis-cli of this host stands in for
the pod's (LocalPodExec, as the drill's pod wrapper runs it), against private servers. The same
replies as redis-py, the password only ever on stdin, one exec per pipeline batch; through a real
API server in tests/integration/test_redis_health.py."""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import podexec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podexec import ExecResult
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podref import PodUnavailable
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import connection as rc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import execcli
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.execcli import (
    CliOutputError,
    ReplyError,
    parse_cli_json,
    parse_raw,
)

from .redis_server import LocalPodExec, PrivateRedis

PASSWORD = "pw-exec-3b9d41"
NO_EVAL_PASSWORD = "ne-exec-5510aa"


def spec_defaults(**params):
    values = dict((name, option.get("default")) for name, option in rc.redis_argument_spec().items())
    values.update(connect_via="exec", pod="redis-0", pod_namespace="ai-orchestrator")
    values.update(params)
    return values


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    users = {"noeval": "on >%s ~* &* +@all -eval -evalsha" % NO_EVAL_PASSWORD}
    with PrivateRedis(tmp_path_factory.mktemp("exec"), password=PASSWORD, users=users,
                      rename={"FLUSHALL": ""}) as srv:
        yield srv


def exec_conn(server, pod_password=None, **params):
    """An ExecConn through LocalPodExec, and that pod exec (its calls recorded)."""
    pod = LocalPodExec(server, pod_password=pod_password)
    settings = rc.settings(spec_defaults(**params), environ={})
    return execcli.open_exec(settings, {}, pod_exec=pod), pod


# --- reading redis-cli's output ----------------------------------------------------------------------


def test_json_output_is_read_exactly():
    assert parse_cli_json(b'[1,"a",null,error:"boom \\"x\\"","OK",[],-5,[["k",2]]]\n') == [
        1, b"a", None, ReplyError('boom "x"'), b"OK", [], -5, [[b"k", 2]]]
    assert parse_cli_json(b'"\\u0000\\u001f\\b\\t\\n\\f\\r\\\\\\"/\x7f\x80\xff"') == b'\x00\x1f\b\t\n\f\r\\"/\x7f\x80\xff'
    assert parse_cli_json(b'{"proto":2,"id":[1]}') == {b"proto": 2, b"id": [1]}
    assert parse_cli_json(b"3.5") == 3.5 and parse_cli_json(b"true") is True
    assert parse_cli_json(b'error:"NOAUTH Authentication required."') == ReplyError("NOAUTH Authentication required.")


@pytest.mark.parametrize("garbage", [b"", b"(integer) 1", b'"unterminated', b"[1,2", b'"a" "b"', b"nul"])
def test_anything_else_is_refused(garbage):
    with pytest.raises(CliOutputError):
        parse_cli_json(garbage)


def test_raw_replies_and_their_errors():
    assert parse_raw(b"# Server\r\nredis_version:7.0.15\r\n\n") == b"# Server\r\nredis_version:7.0.15\r\n"
    assert parse_raw(b"NOPERM this user has no permissions to run the 'info' command\n") == ReplyError(
        "NOPERM this user has no permissions to run the 'info' command")
    assert parse_raw(b"\n") == b""
    assert execcli.prints_raw(("info",)) and execcli.prints_raw(("CLUSTER", "INFO")) and execcli.prints_raw(("client", "list"))
    assert not execcli.prints_raw(("CLUSTER", "KEYSLOT", "x")) and not execcli.prints_raw(("GET", "info"))


# --- the same replies as redis-py ------------------------------------------------------------------


def test_every_byte_of_values_and_key_names_comes_back_as_redis_py_reads_it(server):
    direct = server.client()
    value = bytes(range(256)) + b'"\\\'\r\n'
    key = b"bin:" + bytes(range(1, 256))
    direct.set(key, value)
    direct.rpush("bin:list", value, b"", b"\xff\xfe")
    conn, _pod = exec_conn(server, password=PASSWORD)
    try:
        assert conn.execute("LRANGE", "bin:list", 0, -1) == [value, b"", b"\xff\xfe"]
        cursor, keys = conn.execute("SCAN", 0, "MATCH", "bin:*", "COUNT", 1000)
        assert sorted(keys) == sorted([key, b"bin:list"])
        assert conn.pipeline_execute([("TYPE", "bin:list"), ("LINDEX", "bin:list", 0)]) == [b"list", value]
    finally:
        direct.delete(key, "bin:list")


COMMANDS = [("SET", "par:s", "héllo wörld"), ("GET", "par:s"), ("STRLEN", "par:s"), ("INCR", "par:n"),
            ("HSET", "par:h", "a", "1", "b", "2"), ("HGETALL", "par:h"), ("HMGET", "par:h", "a", "zz"),
            ("RPUSH", "par:l", "x", "y"), ("LRANGE", "par:l", 0, -1), ("ZADD", "par:z", 1.5, "m"),
            ("ZRANGE", "par:z", 0, -1, "WITHSCORES"), ("XADD", "par:x", "1-1", "f", "v"), ("XRANGE", "par:x", "-", "+"),
            ("PTTL", "par:s"), ("EXPIRE", "par:s", 100), ("TTL", "par:s"), ("TYPE", "par:h"), ("EXISTS", "par:s", "nope"),
            ("GET", "par:nope"), ("LPUSH", "par:s", "wrong"), ("FLUSHALL",), ("COMMAND", "INFO", "GET", "NOSUCH"),
            ("DEL", "par:s", "par:n", "par:h", "par:l", "par:z", "par:x")]


def normal(reply, text=True):
    """A reply with errors as (kind, server text) to compare transports (inside the pipeline script
    the server words some errors its own way: then the kind only)."""
    if isinstance(reply, rc.RedisError):
        return ("error", reply.kind, str(reply).split(": ", 1)[1].split(" (")[0] if text else None)
    return reply


def test_exec_and_redis_py_give_the_same_replies_one_by_one_and_pipelined(server):
    conn, _pod = exec_conn(server, password=PASSWORD)
    with rc.open_redis(dict(spec_defaults(**server.params()), connect_via="direct")) as direct:
        def one_by_one(c):
            out = []
            for command in COMMANDS:
                try:
                    out.append(c.execute(*command))
                except rc.RedisError as exc:
                    out.append(exc)
            return [normal(r) for r in out]

        assert one_by_one(conn) == one_by_one(direct)
        assert ([normal(r, text=False) for r in conn.pipeline_execute(COMMANDS)]
                == [normal(r, text=False) for r in direct.pipeline_execute(COMMANDS)])


# --- credentials ------------------------------------------------------------------------------------


def test_the_password_goes_to_stdin_never_on_the_command_line(server):
    conn, pod = exec_conn(server, password=PASSWORD, username="default", db=2)
    assert conn.execute("PING") == b"PONG" and conn.where == "pod ai-orchestrator/redis-0 (container redis) via exec db 2"
    argv, stdin = pod.calls[-1]
    assert argv == ["redis-cli", "--no-auth-warning", "--json", "-2", "-n", "2", "--user", "default", "--askpass", "PING"]
    assert stdin == (PASSWORD + "\n").encode()
    assert not any(PASSWORD in arg for argv, _stdin in pod.calls for arg in argv)


def test_without_a_password_the_pods_own_authentication_applies(server):
    conn, pod = exec_conn(server, pod_password=PASSWORD)
    assert conn.execute("DBSIZE") >= 0
    argv, stdin = pod.calls[-1]
    assert "--askpass" not in argv and stdin is None
    conn, pod = exec_conn(server, pod_password=None)
    with pytest.raises(rc.RedisError) as err:
        conn.execute("DBSIZE")
    assert err.value.kind == "auth" and "container's own REDISCLI_AUTH" in str(err.value)


def test_a_wrong_password_is_auth_and_never_shown(server):
    conn, _pod = exec_conn(server, password="wrong-exec-pass-77")
    with pytest.raises(rc.RedisError) as err:
        conn.execute("INFO")
    assert err.value.kind == "auth" and "WRONGPASS" in str(err.value) and "wrong-exec-pass-77" not in str(err.value)
    with pytest.raises(rc.RedisError) as err:
        conn.pipeline_execute([("GET", "a"), ("GET", "b")])
    assert err.value.kind == "auth"


# --- pipelines as EVAL ------------------------------------------------------------------------------


def test_a_pipeline_is_one_exec_per_batch_of_200_commands(server):
    conn, pod = exec_conn(server, password=PASSWORD)
    commands = [("SET", "batch:%d" % i, i) for i in range(450)]
    assert conn.pipeline_execute(commands) == [b"OK"] * 450
    assert len(pod.calls) == 3 and all(argv[argv.index("--askpass") + 1] == "EVAL" for argv, _stdin in pod.calls)
    assert conn.pipeline_execute([("GET", "batch:%d" % i) for i in range(450)]) == [str(i).encode() for i in range(450)]
    conn.pipeline_execute([("DEL", "batch:%d" % i) for i in range(450)])


def test_large_arguments_split_batches_to_keep_the_command_line_short(server):
    conn, pod = exec_conn(server, password=PASSWORD)
    value = "v" * 100000
    assert conn.pipeline_execute([("SET", "big:%d" % i, value) for i in range(6)]) == [b"OK"] * 6
    assert len(pod.calls) == 3
    assert server.client().strlen("big:5") == 100000
    server.client().delete(*["big:%d" % i for i in range(6)])


def test_a_transaction_is_one_eval_whatever_its_size(server):
    conn, pod = exec_conn(server, password=PASSWORD)
    assert conn.pipeline_execute([("INCR", "tx:n")] * 250, transaction=True) == list(range(1, 251))
    assert len(pod.calls) == 1
    server.client().delete("tx:n")


def test_a_user_without_eval_gets_one_exec_per_command_and_the_same_replies(server):
    conn, pod = exec_conn(server, username="noeval", password=NO_EVAL_PASSWORD)
    replies = conn.pipeline_execute([("SET", "ne:1", "a"), ("GET", "ne:1"), ("LPUSH", "ne:1", "x"), ("DEL", "ne:1")])
    assert replies[:2] == [b"OK", b"a"] and replies[2].kind == "error" and replies[3] == 1
    assert len(pod.calls) == 5  # the refused EVAL, then one exec per command
    conn.pipeline_execute([("PING",)])
    assert len(pod.calls) == 6  # it does not try EVAL again


def test_binary_arguments_cannot_travel_on_a_command_line(server):
    conn, _pod = exec_conn(server, password=PASSWORD)
    assert conn.supports_binary is False
    with pytest.raises(rc.RedisError) as err:
        conn.execute("SET", "x", b"\xff\x00")
    assert err.value.kind == "invalid_input" and "use connect_via=direct or port_forward" in str(err.value)


def test_info_select_db_and_latency(server):
    conn, _pod = exec_conn(server, password=PASSWORD)
    assert conn.info()["tcp_port"] == server.port
    assert conn.info("keyspace") == rc.parse_info(server.cli("INFO", "keyspace"))
    three = conn.select_db(3)
    three.execute("SET", "only-in-3", 1)
    assert conn.execute("EXISTS", "only-in-3") == 0 and three.execute("EXISTS", "only-in-3") == 1
    three.execute("DEL", "only-in-3")
    latency = conn.latency(0.2)
    assert latency["samples"] > 0 and 0 <= latency["min_ms"] <= latency["avg_ms"] <= latency["max_ms"]


def test_the_renamed_command_and_the_permission_kinds_are_the_same_as_direct(server):
    conn, _pod = exec_conn(server, password=PASSWORD)
    with pytest.raises(rc.RedisError) as err:
        conn.execute("FLUSHALL")
    assert err.value.kind == "unknown_command" and err.value.command == "FLUSHALL"
    assert rc.commands_available(conn, ["FLUSHALL", "FLUSHDB"]) == {"FLUSHALL": False, "FLUSHDB": True}


# --- what keeps redis-cli from answering -------------------------------------------------------------


class Recorded(object):
    """A pod exec that answers with a fixed result."""

    def __init__(self, rc_=0, stdout=b"", stderr=b"", message=""):
        self.result = ExecResult(rc_, stdout, stderr, message)
        self.calls = []

    def describe(self):
        return "pod ai-orchestrator/redis-0 (container redis)"

    def run(self, argv, stdin=None, timeout=None):
        self.calls.append((argv, stdin, timeout))
        return self.result


def recorded(**params):
    settings = rc.settings(spec_defaults(**params), environ={})
    return lambda **result: execcli.ExecConn(settings, Recorded(**result))


@pytest.mark.parametrize("result, kind, text", [
    (dict(rc_=1, stderr=b"Could not connect to Redis at 127.0.0.1:6379: Connection refused\n"), "connection",
     "Could not connect to Redis at 127.0.0.1:6379: Connection refused"),
    (dict(rc_=127, message="exec: \"redis-cli\": executable file not found in $PATH"), "error",
     "needs redis-cli 7.0 or later"),
    (dict(rc_=1, stderr=b"Unrecognized option or bad number of args for: '--json'\n"), "error",
     "does not know --json"),
    (dict(rc_=0, stdout=b"(integer) 5\n"), "error", "cannot read what redis-cli printed for DBSIZE"),
    (dict(rc_=2, stderr=b"something odd\n"), "error", "redis-cli exited 2: something odd"),
])
def test_what_keeps_redis_cli_from_answering(result, kind, text):
    conn = recorded()(**result)
    with pytest.raises(rc.RedisError) as err:
        conn.execute("DBSIZE")
    assert err.value.kind == kind and text in str(err.value)


def test_the_options_of_a_pod_with_tls_and_another_port():
    conn = recorded(tls=True, tls_ca_cert="/etc/redis/tls/ca.crt", tls_validate_certs=False, pod_port=6380,
                    password="p")(stdout=b'"PONG"\n')
    assert conn.execute("PING") == b"PONG"
    argv, stdin, timeout = conn.pod_exec.calls[0]
    assert argv == ["redis-cli", "--no-auth-warning", "--json", "-2", "-n", "0", "--askpass", "-p", "6380", "--tls",
                    "--cacert", "/etc/redis/tls/ca.crt", "--insecure", "PING"]
    assert stdin == b"p\n" and timeout == 20


@pytest.mark.parametrize("raised, kind", [(NotFound("pod 'redis-7' not found in namespace 'x'"), "not_found"),
                                          (PodUnavailable("pod x/redis-0 is Pending, not Running"), "connection"),
                                          (ClusterError("denied", status=403), "permission"),
                                          (ClusterError("API server said no", status=500), "connection")])
def test_resolving_the_pod_fails_with_a_redis_kind(monkeypatch, raised, kind):
    def from_params(*args, **kwargs):
        raise raised

    monkeypatch.setattr(podexec.PodExec, "from_params", from_params)
    with pytest.raises(rc.RedisError) as err:
        with rc.open_redis(spec_defaults(pod="redis-7")):
            pass
    assert err.value.kind == kind and str(raised) in str(err.value)


def test_the_exec_stream_failing_midway_has_a_kind():
    class Broken(Recorded):
        def run(self, argv, stdin=None, timeout=None):
            raise ClusterError("redis-cli in pod x did not finish within 20 s")

    conn = execcli.ExecConn(rc.settings(spec_defaults(), environ={}), Broken())
    with pytest.raises(rc.RedisError) as err:
        conn.execute("PING")
    assert err.value.kind == "timeout"
