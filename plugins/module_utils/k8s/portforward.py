# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A port-forward to a pod through the Kubernetes API server, as ``kubectl port-forward``.

For a control node outside the cluster's network: the API server is reachable, the
database (PostgreSQL, Redis) is not. ``PortForward`` listens on a free loopback port and opens one API
port-forward stream (a websocket to ``pods/NAME/portforward``, the kubernetes library's
channel protocol) for each TCP connection it accepts, so several clients work through one
forward at once (``pg_restore -j N``, a maintenance session beside the main one). Bytes are
pumped both ways by a thread per connection; leaving the ``with`` block closes everything.

    with PortForward(kube_params, "ai-orchestrator", "statefulset/postgres", 5432) as (host, port):
        psycopg2.connect(host=host, port=port, ...)

Failures are ``PortForwardError`` with a message naming the pod and a ``kind``: ``not_found``
(the pod or workload does not exist), ``unavailable`` (not running, no Ready pod),
``permission`` (the identity lacks ``pods/portforward``: the verb the server asked for),
``unreachable`` (the API server cannot be reached or refused otherwise), ``library`` (the
kubernetes or websocket-client library is missing). Each caller turns it into its own error
(postgres/connection.py: kind ``unreachable`` or ``library``; redis/connection.py). Nothing
listening on the port in the pod shows later, as ``last_error``, which the callers add to their
own message.
"""

from __future__ import annotations

import json
import re
import select
import socket
import ssl
import threading
import time
from urllib.parse import quote

try:
    import websocket
    from kubernetes.stream import ws_client

    HAS_WEBSOCKET = True
    WEBSOCKET_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_WEBSOCKET = False
    WEBSOCKET_IMPORT_ERROR = exc

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    IncidentResponseError,
    InvalidInput,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import KubeClient
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podref import PodUnavailable, resolve_pod

LOOPBACK = "127.0.0.1"
CHANNEL_PROTOCOL = "v4.channel.k8s.io"
# The stream opened up front (it proves the permission) serves the first connection if
# that comes this soon; later it is closed (the server would end an idle startup anyway).
SPARE_MAX_AGE = 10.0
BUFFER = 64 * 1024
_DENIED_VERB = re.compile(r'cannot (\w+) resource "pods/portforward"')

# What a PortForwardError's kind means.
KINDS = {
    "not_found": "the pod or workload does not exist",
    "unavailable": "the pod is not running, or the workload has no Ready pod",
    "permission": "the Kubernetes identity may not port-forward to (or read) the pod",
    "unreachable": "the API server cannot be reached, or refused the port-forward otherwise",
    "library": "the kubernetes or websocket-client Python library is missing",
}


class PortForwardError(IncidentResponseError):
    """A port-forward that could not be set up; ``kind`` is one of KINDS."""

    def __init__(self, message, kind="unreachable", status=None):
        super(PortForwardError, self).__init__(message, status=status)
        self.kind = kind


def _resolve_kind(exc):
    """The PortForwardError kind of an error resolving the pod."""
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, PodUnavailable):
        return "unavailable"
    if isinstance(exc, ClusterError) and getattr(exc, "status", None) == 403:
        return "permission"
    return "unreachable"


class PortForward(object):
    """A loopback listener forwarding every connection to ``port`` of a pod; a context manager
    yielding ``("127.0.0.1", local_port)``.

    ``pod`` is a pod name or ``statefulset/NAME`` / ``deployment/NAME`` (module_utils/k8s/podref.py).
    ``kube_params`` are the cluster options (kubeconfig, context, host, api_key, ...);
    ``client`` a KubeClient to use instead. ``opener`` (tests) replaces the websocket opener: a
    callable returning an object with ``socket(port)``, ``error(port)`` and ``close()``.
    """

    def __init__(self, kube_params, namespace, pod, port, client=None, opener=None):
        self.kube_params = kube_params or {}
        self.namespace = namespace
        self.ref = pod
        self.port = int(port)
        self.pod = None
        self.errors = []
        self.connections = 0
        self._client = client
        self._opener = opener
        self._configuration = None
        self._timeout = 30
        self._listener = None
        self._spare = None
        self._active = {}
        self._threads = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- what callers use ---------------------------------------------------------------

    @property
    def where(self):
        if self.pod or "/" not in (self.ref or ""):
            return "pod %s/%s port %d" % (self.namespace, self.pod or self.ref, self.port)
        return "%s in namespace %s, port %d" % (self.ref, self.namespace, self.port)

    @property
    def last_error(self):
        """What the last stream that failed said (None when none failed)."""
        with self._lock:
            return self.errors[-1] if self.errors else None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Resolve the pod, open the first stream (permission and reachability fail here),
        listen; returns the local ``(host, port)``."""
        if self._opener is None and not HAS_WEBSOCKET:
            raise PortForwardError("connect_via=port_forward needs the kubernetes and websocket-client Python "
                                   "libraries on the control node: %s" % WEBSOCKET_IMPORT_ERROR, kind="library")
        try:
            client = self._client or KubeClient.from_params(self.kube_params)
            self.pod, _container = resolve_pod(client, self.namespace, self.ref)
        except InvalidInput:
            raise
        except IncidentResponseError as exc:
            raise PortForwardError("port-forward to %s: %s" % (self.where, exc), kind=_resolve_kind(exc),
                                   status=getattr(exc, "status", None))
        self._configuration = getattr(client, "configuration", None)
        self._timeout = getattr(client, "request_timeout", None) or 30
        self._spare = (self._open(), time.monotonic())
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((LOOPBACK, 0))
        listener.listen(64)
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, name="port-forward %s" % self.where)
        thread.daemon = True
        thread.start()
        self._threads.append(thread)
        return LOOPBACK, listener.getsockname()[1]

    def stop(self):
        """Stop listening, close every connection and stream; idempotent."""
        self._stopping.set()
        if self._listener is not None:
            _shutdown(self._listener)
            self._listener.close()
        with self._lock:
            active = list(self._active.items())
            spare, self._spare = self._spare, None
        # Each connection's thread closes its own stream once its client side is shut.
        for conn, _stream in active:
            _shutdown(conn)
        if spare:
            _close_stream(spare[0], self.port)
        deadline = time.monotonic() + 5
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._active.values())
        for stream in left:
            _close_stream(stream, self.port, graceful=False)

    # -- streams ------------------------------------------------------------------------

    def _open(self):
        """One port-forward stream to the pod (a websocket through the API server)."""
        if self._opener is not None:
            return self._opener()
        cfg = self._configuration
        path = "/api/v1/namespaces/%s/pods/%s/portforward" % (quote(self.namespace, safe=""), quote(self.pod, safe=""))
        url = ws_client.get_websocket_url(cfg.host.rstrip("/") + path, [("ports", str(self.port))])
        headers = ["sec-websocket-protocol: %s" % CHANNEL_PROTOCOL]
        # auth_settings() runs the token refresh hook (exec plugins, expiring tokens).
        for auth in cfg.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers.append("%s: %s" % (auth["key"], auth["value"]))
        options = {"header": headers, "timeout": self._timeout}
        if cfg.proxy or cfg.proxy_headers:
            options = ws_client.websocket_proxycare(options, cfg, url, None)
        ws = websocket.WebSocket(sslopt=_sslopt(cfg), skip_utf8_validation=False)
        try:
            ws.connect(url, **options)
        except websocket.WebSocketBadStatusException as exc:
            raise self._refused(exc, path)
        except (websocket.WebSocketException, OSError) as exc:
            raise PortForwardError("port-forward to %s: cannot reach the Kubernetes API server at %s (%s)"
                                   % (self.where, cfg.host, exc), kind="unreachable")
        # The library's proxy thread selects before it reads: blocking from here on.
        ws.settimeout(None)
        return ws_client.PortForward(ws, [self.port])

    def _refused(self, exc, path):
        """A PortForwardError for a refused port-forward handshake."""
        status = getattr(exc, "status_code", 0)
        body = getattr(exc, "resp_body", None) or b""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            message = (json.loads(body) or {}).get("message") or body
        except (ValueError, AttributeError):
            message = body
        message = " ".join(str(message).split())[:500] or str(exc)
        if status == 403:
            text = _denied(message, self.namespace)
        elif status == 404:
            text = "the API server does not know this pod any more (404): %s" % message
        elif status == 401:
            text = ("the API server rejected the credentials (401 Unauthorized): the token or client certificate "
                    "in the kubeconfig is wrong or expired")
        else:
            text = "the API server refused the port-forward (HTTP %s): %s" % (status, message)
        kind = {403: "permission", 404: "not_found"}.get(status, "unreachable")
        return PortForwardError("port-forward to %s: %s" % (self.where, text), kind=kind, status=status)

    def _take_spare(self):
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        stream, opened = spare
        if time.monotonic() - opened <= SPARE_MAX_AGE and getattr(stream, "connected", True):
            return stream
        _close_stream(stream, self.port)
        return None

    # -- connections ----------------------------------------------------------------------

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                conn, _peer = self._listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            thread = threading.Thread(target=self._serve, args=(conn,), name="port-forward connection")
            thread.daemon = True
            with self._lock:
                self.connections += 1
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, conn):
        try:
            stream = self._take_spare() or self._open()
        except PortForwardError as exc:
            self._note(str(exc))
            conn.close()
            return
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                _close_stream(stream, self.port)
                return
            self._active[conn] = stream
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _pump(conn, stream.socket(self.port))
        finally:
            error = stream.error(self.port)
            if error:
                self._note("port-forward to %s: %s" % (self.where, " ".join(error.split())))
            _shutdown(conn)
            conn.close()
            _close_stream(stream, self.port)
            with self._lock:
                self._active.pop(conn, None)

    def _note(self, message):
        with self._lock:
            self.errors.append(message)
            del self.errors[:-10]


def _denied(message, namespace):
    """What a 403 on pods/portforward lacks. A websocket port-forward is authorized as get on
    pods/portforward, and from Kubernetes 1.35 as create too (the API server's refusal of the
    latter names no verb); kubectl's SPDY port-forward needs create: grant both."""
    match = _DENIED_VERB.search(message)
    if match:
        missing = "may not %s pods/portforward" % match.group(1)
    else:
        missing = ("may not create pods/portforward (the API server names no verb here: from Kubernetes 1.35 a "
                   "port-forward needs create as well as get)")
    return ('permission denied (403 Forbidden): this identity %s in namespace "%s"; a port-forward needs the rule '
            '{apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"]} in a Role in namespace "%s" '
            "(or a ClusterRole bound there by a RoleBinding), with get on pods. API server: %s"
            % (missing, namespace, namespace, message))


def _pump(left, right):
    """Copy bytes both ways until either side closes (or the forward stops)."""
    peers = {left.fileno(): right, right.fileno(): left}
    sockets = [left, right]
    while True:
        try:
            readable, _w, _x = select.select(sockets, [], [])
            for sock in readable:
                data = sock.recv(BUFFER)
                if not data:
                    return
                peers[sock.fileno()].sendall(data)
        except (OSError, ValueError):
            return


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close_stream(stream, port, graceful=True):
    """Close a stream so the library's proxy thread ends quietly: say EOF first and read what is
    still coming until it closes its end (closing with unread bytes would reset the socket pair
    under that thread, which then dies with an exception and leaves its websocket open)."""
    if graceful:
        try:
            sock = stream.socket(port)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.5)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and sock.recv(BUFFER):
                pass
        except (OSError, ValueError):
            pass
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - closing a broken stream may fail any way; it is gone either way
        pass


def _sslopt(cfg):
    """The websocket's TLS options from the kubernetes Configuration (as the library builds them)."""
    if not cfg.host.startswith("https://") or not cfg.verify_ssl:
        opts = {"cert_reqs": ssl.CERT_NONE}
    else:
        ca = cfg.ssl_ca_cert
        if not ca:
            import certifi

            ca = certifi.where()
        opts = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": ca}
        if cfg.assert_hostname is not None:
            opts["check_hostname"] = cfg.assert_hostname
    if cfg.cert_file:
        opts["certfile"] = cfg.cert_file
    if cfg.key_file:
        opts["keyfile"] = cfg.key_file
    if getattr(cfg, "tls_server_name", None):
        opts["server_hostname"] = cfg.tls_server_name
    return opts
