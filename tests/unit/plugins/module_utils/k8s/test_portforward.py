# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The port-forward's listener and pumps (module_utils/k8s/portforward.py), with the API
server's streams replaced by local socket pairs; through a real API server in
tests/integration/test_postgres_connection.py and test_redis_health.py."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import NotFound
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import portforward as pfm
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import PortForwardError
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fake_k8s as fake


def postgres_cluster():
    """A fake API with statefulset/postgres and its Ready pod postgres-0."""
    client = fake.FakeClient()
    client.add("StatefulSet", {"metadata": {"name": "postgres", "uid": "uid-postgres"},
                               "spec": {"selector": {"matchLabels": {"app": "postgres"}}}})
    client.add("Pod", {"metadata": {"name": "postgres-0", "labels": {"app": "postgres"},
                                    "ownerReferences": [{"kind": "StatefulSet", "name": "postgres", "uid": "uid-postgres"}]},
                       "spec": {"containers": [{"name": "postgres"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    return client


def wait_for_error(fw, timeout=5):
    deadline = time.monotonic() + timeout
    while fw.last_error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return fw.last_error


class Stream(object):
    """One stream as the kubernetes library's PortForward offers it, its far end an echo server
    that prefixes what it sends back with its stream number (or fails like the pod's end would)."""

    def __init__(self, number, fail=None):
        self.number = number
        self.fail = fail
        self.near, far = socket.socketpair()
        self.closed = False
        threading.Thread(target=self._serve, args=(far,), daemon=True).start()

    def _serve(self, far):
        with far:
            if self.fail:
                return  # the pod's end refused: the error channel says why, the data channel ends
            while True:
                data = far.recv(65536)
                if not data:
                    return
                far.sendall(b"%d:" % self.number + data)

    def socket(self, port):
        return self.near

    def error(self, port):
        return self.fail

    def close(self):
        self.closed = True
        self.near.close()


class Opener(object):
    def __init__(self, fail_after=None, stream_error=None):
        self.streams = []
        self.fail_after = fail_after
        self.stream_error = stream_error
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            if self.fail_after is not None and len(self.streams) >= self.fail_after:
                raise PortForwardError("port-forward to pod x: the API server refused the port-forward (HTTP 500): boom",
                                       kind="unreachable")
            stream = Stream(len(self.streams), fail=self.stream_error)
            self.streams.append(stream)
            return stream


def talk(address, payload, timeout=5):
    """What comes back for payload: b"" when the forward closed the connection (a reset too:
    closing with the payload unread resets it)."""
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.sendall(payload)
        try:
            return conn.recv(65536)
        except ConnectionResetError:
            return b""


def forward(opener, client=None, ref="postgres-0"):
    return pfm.PortForward({}, fake.NAMESPACE, ref, 5432, client=client or postgres_cluster(), opener=opener)


def test_each_connection_gets_its_own_stream_and_bytes_flow_both_ways():
    opener = Opener()
    with forward(opener) as address:
        assert address[0] == "127.0.0.1"
        results = {}

        def client(i):
            results[i] = talk(address, b"hello %d" % i)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
    assert len(opener.streams) == 4
    # Every connection was answered by a stream of its own (numbers 0..3, each once).
    assert sorted(r.split(b":")[0] for r in results.values()) == [b"0", b"1", b"2", b"3"]
    assert all(r.endswith(b"hello %d" % i) for i, r in results.items())
    assert all(s.closed for s in opener.streams)


def test_the_first_stream_is_opened_before_listening():
    opener = Opener()
    fw = forward(opener)
    fw.start()
    try:
        assert len(opener.streams) == 1  # the handshake (and its permission) is proven up front
        assert talk(fw._listener.getsockname(), b"x") == b"0:x"  # and serves the first connection
    finally:
        fw.stop()


def test_large_payloads_arrive_whole():
    with forward(Opener()) as address:
        with socket.create_connection(address, timeout=5) as conn:
            blob = bytes(range(256)) * 4096  # 1 MiB
            sender = threading.Thread(target=conn.sendall, args=(blob,))
            sender.start()
            got = b""
            while len(got) < len(blob) + 2:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            sender.join(10)
    assert got.startswith(b"0:")
    # The echo prefixes each chunk it sends back; strip every prefix.
    assert got.replace(b"0:", b"") == blob.replace(b"0:", b"")


def test_what_the_pods_end_says_is_kept_as_last_error():
    opener = Opener(stream_error="error forwarding port 5432 to pod postgres-0: dial tcp 127.0.0.1:5432: connect: "
                                 "connection refused")
    fw = forward(opener)
    with fw as address:
        assert talk(address, b"ping") == b""  # closed, as a server that is not there
        assert "connection refused" in wait_for_error(fw)
    assert fw.last_error.startswith("port-forward to pod ai-orchestrator/postgres-0 port 5432: error forwarding")


def test_a_stream_that_cannot_be_opened_closes_its_connection_and_is_noted():
    fw = forward(Opener(fail_after=1))
    with fw as address:
        assert talk(address, b"a") == b"0:a"
        assert talk(address, b"b") == b""
        assert "HTTP 500" in wait_for_error(fw)


def test_leaving_closes_the_listener_and_every_open_connection():
    opener = Opener()
    fw = forward(opener)
    with fw as address:
        conn = socket.create_connection(address, timeout=5)
        conn.sendall(b"x")
        assert conn.recv(10) == b"0:x"
    conn.settimeout(5)
    assert conn.recv(10) == b""  # the forward closed it
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1).close()
    assert all(s.closed for s in opener.streams)
    assert not any(t.is_alive() for t in fw._threads)


def test_a_spare_stream_left_too_long_is_not_used(monkeypatch):
    opener = Opener()
    clock = [1000.0]
    monkeypatch.setattr(pfm.time, "monotonic", lambda: clock[0])
    fw = forward(opener)
    fw.start()
    try:
        clock[0] += pfm.SPARE_MAX_AGE + 1
        assert talk(fw._listener.getsockname(), b"x") == b"1:x"
        assert opener.streams[0].closed
    finally:
        clock[0] += 1
        fw.stop()


def test_a_missing_pod_fails_before_listening():
    opener = Opener()
    with pytest.raises(PortForwardError) as err:
        with forward(opener, ref="postgres-7"):
            pass
    assert err.value.kind == "not_found"
    assert str(err.value) == ("port-forward to pod ai-orchestrator/postgres-7 port 5432: "
                              "pod 'postgres-7' not found in namespace 'ai-orchestrator'")
    assert opener.streams == []


def test_a_workload_reference_names_the_pod_it_chose():
    fw = forward(Opener(), ref="statefulset/postgres")
    with fw:
        assert fw.pod == "postgres-0" and fw.where == "pod ai-orchestrator/postgres-0 port 5432"


def test_an_unreadable_cluster_is_unreachable():
    client = postgres_cluster()
    client.errors[("GET", client.path("Pod", "postgres-0"))] = NotFound("GET: not found")
    with pytest.raises(PortForwardError, match="pod 'postgres-0' not found"):
        with forward(Opener(), client=client):
            pass


class BadStatus(Exception):
    def __init__(self, status, message):
        super(BadStatus, self).__init__("Handshake status %d" % status)
        self.status_code = status
        self.resp_body = json.dumps({"kind": "Status", "message": message}).encode()


def refused(status, message):
    fw = forward(Opener())
    fw.pod = "postgres-0"
    return fw._refused(BadStatus(status, message), "/api/v1/namespaces/ai-orchestrator/pods/postgres-0/portforward")


GRANT = '{apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"]}'


def test_a_denied_port_forward_says_which_verb_is_missing_and_what_to_grant():
    error = refused(403, 'pods "postgres-0" is forbidden: User "sre" cannot get resource "pods/portforward" in '
                         'API group "" in the namespace "ai-orchestrator"')
    assert error.kind == "permission"
    text = str(error)
    assert text.startswith("port-forward to pod ai-orchestrator/postgres-0 port 5432: permission denied (403 Forbidden): "
                           'this identity may not get pods/portforward in namespace "ai-orchestrator"')
    assert GRANT in text and 'in a Role in namespace "ai-orchestrator"' in text
    assert text.endswith('cannot get resource "pods/portforward" in API group "" in the namespace "ai-orchestrator"')


def test_the_create_check_names_no_verb_and_is_explained():
    # Kubernetes 1.35 refuses the websocket upgrade without create with a message that names nothing.
    text = str(refused(403, 'pods "postgres-0" is forbidden: '))
    assert "may not create pods/portforward (the API server names no verb here" in text and GRANT in text


def test_other_refusals():
    error = refused(401, "Unauthorized")
    assert "401 Unauthorized" in str(error) and error.kind == "unreachable"
    error = refused(404, 'pods "postgres-0" not found')
    assert "does not know this pod any more (404)" in str(error) and error.kind == "not_found"
    error = refused(500, "kubelet said no")
    assert "(HTTP 500): kubelet said no" in str(error) and error.kind == "unreachable"


def test_a_pod_that_is_not_running_is_unavailable():
    client = postgres_cluster()
    client.obj("Pod", "postgres-0")["status"] = {"phase": "Pending"}
    with pytest.raises(PortForwardError) as err:
        with forward(Opener(), client=client):
            pass
    assert err.value.kind == "unavailable"
    assert str(err.value) == "port-forward to pod ai-orchestrator/postgres-0 port 5432: pod ai-orchestrator/postgres-0 is Pending, not Running"


# --- PostgreSQL's sessions keep the kinds and messages they always had --------------------------


def postgres_failure(forward_error):
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import connection as pc

    class Failing(object):
        def __enter__(self):
            raise forward_error

        def __exit__(self, *exc):
            return False

    with pytest.raises(pc.PostgresError) as err:
        with pc._Tunnel(Failing()):
            pass
    return err.value


@pytest.mark.parametrize("kind", ["not_found", "unavailable", "permission", "unreachable"])
def test_postgres_sessions_see_every_forward_failure_as_unreachable_with_the_same_message(kind):
    message = "port-forward to pod ai-orchestrator/postgres-7 port 5432: pod 'postgres-7' not found in namespace 'ai-orchestrator'"
    error = postgres_failure(PortForwardError(message, kind=kind))
    assert error.kind == "unreachable" and str(error) == message


def test_postgres_sessions_see_a_missing_library_as_library():
    error = postgres_failure(PortForwardError("connect_via=port_forward needs the kubernetes ...", kind="library"))
    assert error.kind == "library"
