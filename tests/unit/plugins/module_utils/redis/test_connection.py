# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the Redis modules reach a server (module_utils/redis/connection.py): options, the url and
the environment, raw replies, pipelines, and every failure an operator meets - wrong password,
an ACL user without a command, a renamed command, TLS mistakes, a closed port, a blocked
server, a replica - against private redis-servers (tests/integration/redisenv.py)."""

from __future__ import annotations

import importlib
import json
import threading

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import portforward
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import connection as rc

from .redis_server import PrivateRedis, free_port

PASSWORD = "pw-unit-9c1f2e"
READER_PASSWORD = "rd-unit-77ab01"


def spec_defaults(**params):
    """Module params as AnsibleModule fills them (unset options None)."""
    values = dict((name, option.get("default")) for name, option in rc.redis_argument_spec().items())
    values.update(params)
    return values


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    users = {"reader": "on >%s ~* &* +@read +ping" % READER_PASSWORD,
             "scoped": "on >%s ~allowed:* +@all" % READER_PASSWORD}
    with PrivateRedis(tmp_path_factory.mktemp("conn"), password=PASSWORD, users=users,
                      rename={"FLUSHALL": "", "KEYS": "OPS-KEYS"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    with PrivateRedis(tmp_path_factory.mktemp("tls"), password=PASSWORD, tls=True, tls_auth_clients=True) as srv:
        yield srv


def failure(params, *command):
    with pytest.raises(rc.RedisError) as err:
        with rc.open_redis(spec_defaults(**params)) as conn:
            conn.execute(*(command or ("PING",)))
    return err.value


# --- options, the url and the environment ---------------------------------------------------------


def test_the_doc_fragment_documents_exactly_the_argspec():
    fragment = importlib.import_module(
        "ansible_collections.ai_orchestrator.incident_response.plugins.doc_fragments.redis").ModuleDocFragment
    documented = yaml.safe_load(fragment.DOCUMENTATION)["options"]
    spec = rc.redis_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option.get("type", "str"), name
        assert doc.get("default") == option.get("default"), name
        assert sorted(doc.get("choices") or []) == sorted(option.get("choices") or []), name


def test_secrets_are_never_logged_and_the_options_do_not_clash_with_the_cluster_ones():
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec

    spec = rc.redis_argument_spec()
    assert sorted(name for name, option in spec.items() if option.get("no_log")) == ["password", "url"]
    assert spec["tls_client_key"]["no_log"] is False
    cluster = cluster_argument_spec()
    names = set(cluster) | set(a for o in cluster.values() for a in o.get("aliases", []))
    assert not names & set(spec)


def test_the_url_gives_what_the_options_do_not():
    s = rc.settings(spec_defaults(url="rediss://ops:s%40cret@cache.example:6380/4"), environ={})
    assert (s["host"], s["port"], s["db"], s["username"], s["password"], s["tls"]) == (
        "cache.example", 6380, 4, "ops", "s@cret", True)
    s = rc.settings(spec_defaults(url="rediss://ops:s3cret@cache.example:6380/4", redis_host="other", port=7000, db=1,
                                  username="me", password="mine", tls=False), environ={})
    assert (s["host"], s["port"], s["db"], s["username"], s["password"], s["tls"]) == ("other", 7000, 1, "me", "mine", False)
    s = rc.settings(spec_defaults(url="redis://cache.example?db=7"), environ={})
    assert (s["host"], s["port"], s["db"], s["password"], s["tls"]) == ("cache.example", 6379, 7, None, False)
    s = rc.settings(spec_defaults(), environ={})
    assert (s["host"], s["port"], s["db"], s["via"]) == ("127.0.0.1", 6379, 0, "direct")


def test_the_password_falls_back_to_the_url_then_rediscli_auth_then_redis_password():
    env = {"REDISCLI_AUTH": "from-cli-env", "REDIS_PASSWORD": "from-env"}
    assert rc.settings(spec_defaults(password="given"), environ=env)["password"] == "given"
    assert rc.settings(spec_defaults(url="redis://:in-url@h"), environ=env)["password"] == "in-url"
    assert rc.settings(spec_defaults(), environ=env)["password"] == "from-cli-env"
    assert rc.settings(spec_defaults(), environ={"REDIS_PASSWORD": "from-env"})["password"] == "from-env"
    assert rc.settings(spec_defaults(), environ={})["password"] is None


@pytest.mark.parametrize("params, message", [
    (dict(url="http://h:1"), "url must start with redis:// or rediss://"),
    (dict(url="redis://:hunter22@h:99999"), "url is not a valid"),
    (dict(url="redis://:hunter22@h/x"), "the path must be a database number"),
    (dict(url="redis://:hunter22@h/0?ssl_cert_reqs=none"), "'ssl_cert_reqs' is not supported"),
    (dict(port=0), "port must be between 1 and 65535"),
    (dict(db=-1), "db must be a database number"),
    (dict(socket_timeout=0.0), "socket_timeout must be more than 0"),
    (dict(connect_via="exec"), "connect_via=exec needs pod and pod_namespace"),
    (dict(connect_via="port_forward", pod="redis-0"), "connect_via=port_forward needs pod and pod_namespace"),
    (dict(tls_ca_cert="/ca.pem"), "need tls=true"),
    (dict(tls=True, tls_client_cert="/c.pem"), "go together"),
    (dict(password="a\nb"), "line break"),
])
def test_unusable_options_are_refused_before_anything_is_sent(params, message):
    with pytest.raises(InvalidInput) as err:
        with rc.open_redis(spec_defaults(**params)):
            pass
    assert message in str(err.value)
    assert "hunter22" not in str(err.value)


@pytest.mark.parametrize("text, kind", [
    ("WRONGPASS invalid username-password pair or user is disabled.", "auth"),
    ("NOAUTH Authentication required.", "auth"),
    ("NOPERM this user has no permissions to run the 'info' command", "permission"),
    ("READONLY You can't write against a read only replica.", "readonly"),
    ("MOVED 3999 127.0.0.1:6381", "cluster"),
    ("ASK 3999 127.0.0.1:6381", "cluster"),
    ("CLUSTERDOWN Hash slot not served", "cluster"),
    ("LOADING Redis is loading the dataset in memory", "connection"),
    ("ERR max number of clients reached", "connection"),
    ("ERR unknown command 'FLUSHALL', with args beginning with: ", "unknown_command"),
    ("ERR Unknown Redis command called from script", "unknown_command"),
    ("WRONGTYPE Operation against a key holding the wrong kind of value", "error"),
    ("OOM command not allowed when used memory > 'maxmemory'.", "error"),
])
def test_server_error_lines_have_a_kind(text, kind):
    assert rc.kind_of_reply(text) == kind


def test_error_kind_of_any_exception():
    assert rc.error_kind(InvalidInput("x")) == "invalid_input"
    assert rc.error_kind(rc.RedisError("x", kind="auth")) == "auth"
    assert rc.error_kind(portforward.PortForwardError("x", kind="not_found")) == "not_found"
    assert rc.error_kind(ValueError("x")) == "error"


def test_info_is_parsed_like_redis_py_does():
    text = (b"# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:12\r\n\r\n# Memory\r\nmem_fragmentation_ratio:1.25\r\n"
            b"# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=500\r\nslave0:ip=10.0.0.1,port=6380,state=online,offset=9,lag=0\r\n"
            b"executable:/usr/bin/redis-server\r\nmodule:name=search,ver=1\r\n")
    info = rc.parse_info(text)
    assert info["redis_version"] == "7.0.15" and info["uptime_in_seconds"] == 12
    assert info["mem_fragmentation_ratio"] == 1.25
    assert info["db0"] == {"keys": 3, "expires": 1, "avg_ttl": 500}
    assert info["slave0"] == {"ip": "10.0.0.1", "port": 6380, "state": "online", "offset": 9, "lag": 0}
    assert info["executable"] == "/usr/bin/redis-server" and info["modules"] == [{"name": "search", "ver": 1}]


# --- replies ------------------------------------------------------------------------------------------


def test_replies_are_raw_and_binary_values_come_back_exactly(server):
    blob = bytes(range(256)) * 3
    with rc.open_redis(spec_defaults(**server.params())) as conn:
        assert conn.where == "127.0.0.1:%d db 0" % server.port and conn.via == "direct" and conn.supports_binary
        assert conn.execute("SET", "t:blob", blob) == b"OK"
        assert conn.execute("GET", "t:blob") == blob
        assert conn.execute("INCRBY", "t:n", 5) == 5
        assert conn.execute("GET", "t:missing") is None
        assert conn.execute("RPUSH", "t:list", "a", "b") == 2
        assert conn.execute("LRANGE", "t:list", 0, -1) == [b"a", b"b"]
        assert conn.execute("TYPE", "t:list") == b"list"
        assert conn.info("server")["tcp_port"] == server.port
        conn.execute("DEL", "t:blob", "t:n", "t:list")


def test_a_pipeline_returns_one_slot_per_command_with_errors_in_their_slots(server):
    with rc.open_redis(spec_defaults(**server.params())) as conn:
        replies = conn.pipeline_execute([("SET", "p:s", "v"), ("LPUSH", "p:s", "x"), ("GET", "p:s"), ("FLUSHALL",),
                                         ("GET", "p:none")])
        assert replies[0] == b"OK" and replies[2] == b"v" and replies[4] is None
        assert isinstance(replies[1], rc.RedisError) and replies[1].kind == "error" and "WRONGTYPE" in str(replies[1])
        assert isinstance(replies[3], rc.RedisError) and replies[3].kind == "unknown_command"
        assert replies[3].command == "FLUSHALL"
        assert conn.pipeline_execute([]) == []
        assert conn.pipeline_execute([("INCR", "p:n"), ("INCR", "p:n")], transaction=True) == [1, 2]
        conn.execute("DEL", "p:s", "p:n")


def test_select_db_is_the_same_server_in_another_database(server):
    with rc.open_redis(spec_defaults(**server.params(db=0))) as conn:
        three = conn.select_db(3)
        assert three.db == 3 and three.where.endswith("db 3") and conn.select_db(0) is conn
        three.execute("SET", "only-in-3", "x")
        assert conn.execute("EXISTS", "only-in-3") == 0 and three.execute("EXISTS", "only-in-3") == 1
        three.execute("DEL", "only-in-3")


# --- failures an operator meets ------------------------------------------------------------------------


def test_a_wrong_password_is_auth_and_never_shown(server):
    error = failure(server.params(password="not-the-password-123"))
    assert error.kind == "auth" and "WRONGPASS" in str(error) and "check username and password" in str(error)
    assert "not-the-password-123" not in str(error) and PASSWORD not in str(error)


def test_no_password_where_one_is_needed_is_auth(server):
    error = failure(dict(server.params(), password=None), "INFO")
    assert error.kind == "auth" and "NOAUTH" in str(error)


def test_a_password_in_the_url_is_never_shown(server):
    error = failure(dict(url="redis://:url-secret-4455@127.0.0.1:%d/0" % server.port))
    assert error.kind == "auth" and "url-secret-4455" not in str(error)


def test_an_acl_user_without_info_is_permission_naming_the_command_and_the_user(server):
    with rc.open_redis(spec_defaults(**server.params(username="reader", password=READER_PASSWORD))) as conn:
        assert conn.execute("PING") == b"PONG"
        with pytest.raises(rc.RedisError) as err:
            conn.info()
    assert err.value.kind == "permission" and err.value.command == "INFO"
    assert "may not run INFO" in str(err.value) and "ACL SETUSER reader +info" in str(err.value)
    assert READER_PASSWORD not in str(err.value)


def test_an_acl_user_limited_to_some_keys_is_told_about_key_patterns(server):
    with rc.open_redis(spec_defaults(**server.params(username="scoped", password=READER_PASSWORD))) as conn:
        assert conn.execute("SET", "allowed:1", "x") == b"OK"
        with pytest.raises(rc.RedisError) as err:
            conn.execute("GET", "secret:1")
        conn.execute("DEL", "allowed:1")
    assert err.value.kind == "permission" and "ACL SETUSER scoped ~pattern" in str(err.value)


def test_renamed_and_disabled_commands(server):
    with rc.open_redis(spec_defaults(**server.params())) as conn:
        with pytest.raises(rc.RedisError) as err:
            conn.execute("FLUSHALL")
        assert err.value.kind == "unknown_command" and "command_names" in str(err.value)
        assert rc.commands_available(conn, ["flushall", "KEYS", "OPS-KEYS", "SCAN", "UNLINK"]) == {
            "FLUSHALL": False, "KEYS": False, "OPS-KEYS": True, "SCAN": True, "UNLINK": True}
        assert rc.command_available(conn, "flushdb") is True
        assert rc.resolve_command(conn, "KEYS", {"keys": "OPS-KEYS"}) == "OPS-KEYS"
        assert rc.resolve_command(conn, "UNLINK", {"UNLINK": ""}) is None
        assert rc.resolve_command(conn, "FLUSHALL", {}) is None
        assert rc.resolve_command(conn, "FLUSHDB") == "FLUSHDB"
        conn.execute("SET", "k:1", "v")
        assert conn.execute(rc.resolve_command(conn, "KEYS", {"KEYS": "OPS-KEYS"}), "k:*") == [b"k:1"]
        conn.execute("DEL", "k:1")


def test_nothing_listening_is_connection():
    error = failure(dict(redis_host="127.0.0.1", port=free_port(), connect_timeout=1.0))
    assert error.kind == "connection" and "Connection refused" in str(error) and "connect_via" in str(error)


def test_a_blocked_server_is_timeout(server):
    with rc.open_redis(spec_defaults(**server.params(socket_timeout=0.3))) as conn:
        with pytest.raises(rc.RedisError) as err:
            conn.execute("BLPOP", "t:never", 2)
    assert err.value.kind == "timeout" and "socket_timeout=0.3" in str(err.value)


def test_a_server_at_maxclients_says_so(tmp_path):
    with PrivateRedis(tmp_path, conf={"maxclients": 1}) as srv:
        holder = srv.client()
        holder.ping()
        error = failure(dict(srv.params(), connect_timeout=1.0))
        holder.close()
    assert error.kind == "connection" and "maxclients" in str(error)


def test_a_replica_refuses_writes_as_readonly(server, tmp_path):
    with PrivateRedis(tmp_path, replicaof=server) as replica:
        replica.wait_replica_synced()
        with rc.open_redis(spec_defaults(**replica.params())) as conn:
            with pytest.raises(rc.RedisError) as err:
                conn.execute("SET", "x", "1")
            assert err.value.kind == "readonly" and "connect to the primary" in str(err.value)
            assert conn.pipeline_execute([("SET", "x", "1")])[0].kind == "readonly"


# --- TLS ---------------------------------------------------------------------------------------------


def test_tls_with_the_servers_ca_and_a_client_certificate(tls_server):
    with rc.open_redis(spec_defaults(**tls_server.params())) as conn:
        assert conn.execute("PING") == b"PONG" and conn.where.endswith("(TLS)")
    tls_files = dict((k, v) for k, v in tls_server.params().items() if k.startswith("tls_"))
    with rc.open_redis(spec_defaults(url=tls_server.url, **tls_files)) as conn:
        assert conn.execute("PING") == b"PONG"


def test_tls_without_the_ca_is_tls_unless_validation_is_off(tls_server):
    params = dict(tls_server.params(), tls_ca_cert=None)
    error = failure(params)
    assert error.kind == "tls" and "CERTIFICATE_VERIFY_FAILED" in str(error) and "tls_ca_cert" in str(error)
    with rc.open_redis(spec_defaults(**dict(params, tls_validate_certs=False))) as conn:
        assert conn.execute("PING") == b"PONG"


def test_tls_checks_the_name_given_for_a_tunnel_end(tls_server):
    s = rc.settings(spec_defaults(**tls_server.params()))
    good = rc.ClientConn(s, host="127.0.0.1", port=tls_server.port, tls_server_name="redis.test")
    bad = rc.ClientConn(s, host="127.0.0.1", port=tls_server.port, tls_server_name="db.elsewhere.example")
    try:
        assert good.execute("PING") == b"PONG"
        with pytest.raises(rc.RedisError) as err:
            bad.execute("PING")
        assert err.value.kind == "tls" and "db.elsewhere.example" in str(err.value)
    finally:
        good.close()
        bad.close()


def test_a_plain_client_at_a_tls_server_is_told_to_set_tls(tls_server):
    error = failure(dict(redis_host="127.0.0.1", port=tls_server.port, password=PASSWORD, connect_timeout=1.0,
                         socket_timeout=1.0))
    assert error.kind == "connection" and "set tls=true" in str(error)


def test_a_tls_client_at_a_plain_server_is_told_to_check_tls(server):
    error = failure(dict(server.params(), tls=True, tls_validate_certs=False, connect_timeout=0.5, socket_timeout=0.5))
    assert error.kind == "timeout" and "a server without TLS does not answer a TLS handshake either" in str(error)


def test_tls_without_the_client_certificate_the_server_requires(tls_server):
    error = failure(dict(tls_server.params(), tls_client_cert=None, tls_client_key=None, socket_timeout=2.0))
    # TLS 1.3 refuses after the handshake: the first read says "certificate required", a write only EOF.
    assert error.kind == "tls" and "tls_client_cert" in str(error)


# --- through a port-forward ------------------------------------------------------------------------


class FakeForward(object):
    """PortForward's interface, its local end the private server itself."""

    instances = []
    fail = Exception("set by the test")
    target = 0

    def __init__(self, kube_params, namespace, pod, port):
        self.namespace, self.pod, self.port = namespace, pod, port
        self.last_error = None
        self.closed = False
        FakeForward.instances.append(self)

    @property
    def where(self):
        return "pod %s/%s port %d" % (self.namespace, self.pod, self.port)

    def __enter__(self):
        if FakeForward.fail is not None:
            raise FakeForward.fail
        return "127.0.0.1", FakeForward.target

    def __exit__(self, *exc):
        self.closed = True
        return False


@pytest.fixture
def fake_forward(monkeypatch):
    FakeForward.instances, FakeForward.fail = [], None
    monkeypatch.setattr(portforward, "PortForward", FakeForward)
    return FakeForward


def test_port_forward_connects_to_the_forwards_end_and_says_so(server, fake_forward):
    fake_forward.target = server.port
    params = spec_defaults(connect_via="port_forward", pod="statefulset/redis", pod_namespace="ai-orchestrator",
                           password=PASSWORD)
    with rc.open_redis(params, kube_params={}) as conn:
        assert conn.execute("PING") == b"PONG" and conn.via == "port_forward"
        assert conn.where == "pod ai-orchestrator/statefulset/redis port 6379 db 0 via port-forward"
        assert conn.select_db(2).execute("DBSIZE") == 0
    assert fake_forward.instances[0].closed


@pytest.mark.parametrize("forward_kind, kind", [("not_found", "not_found"), ("permission", "permission"),
                                                ("unavailable", "connection"), ("unreachable", "connection"),
                                                ("library", "library")])
def test_port_forward_failures_keep_their_message_and_get_a_redis_kind(fake_forward, forward_kind, kind):
    message = "port-forward to pod ai-orchestrator/redis-7 port 6379: pod 'redis-7' not found in namespace 'ai-orchestrator'"
    fake_forward.fail = portforward.PortForwardError(message, kind=forward_kind)
    error = failure(dict(connect_via="port_forward", pod="redis-7", pod_namespace="ai-orchestrator"))
    assert error.kind == kind and str(error) == message


def test_nothing_at_the_pods_end_adds_what_the_forward_said(fake_forward):
    fake_forward.target = free_port()

    params = spec_defaults(connect_via="port_forward", pod="redis-0", pod_namespace="ai-orchestrator", connect_timeout=1.0)
    forward = FakeForward({}, "ai-orchestrator", "redis-0", 6379)
    forward.last_error = "port-forward to pod ai-orchestrator/redis-0 port 6379: error forwarding port 6379: connection refused"
    conn = rc.ClientConn(rc.settings(params), host="127.0.0.1", port=fake_forward.target, tunnel=forward)
    try:
        with pytest.raises(rc.RedisError) as err:
            conn.execute("PING")
    finally:
        conn.close()
    assert err.value.kind == "connection" and str(err.value).endswith("connection refused")
    assert "check pod_port and that Redis runs in the pod" in str(err.value)


def test_connections_are_reused_not_opened_per_command(server):
    with rc.open_redis(spec_defaults(**server.params())) as conn:
        before = conn.info("stats")["total_connections_received"]
        for _index in range(5):
            conn.execute("PING")
            conn.pipeline_execute([("PING",), ("PING",)])
        assert conn.info("stats")["total_connections_received"] == before


def test_concurrent_use_of_one_connection_object_is_safe(server):
    errors = []

    with rc.open_redis(spec_defaults(**server.params())) as conn:
        def work(n):
            try:
                for i in range(20):
                    assert conn.execute("ECHO", "%d-%d" % (n, i)) == ("%d-%d" % (n, i)).encode()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
    assert not errors, json.dumps([str(e) for e in errors])
