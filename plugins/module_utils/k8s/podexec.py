# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a command in a pod's container through the API server, as ``kubectl exec`` does.

One WebSocket per command (``/api/v1/namespaces/NS/pods/POD/exec``), subprotocol
``v5.channel.k8s.io`` (falling back to ``v4``): channel 0 is stdin, 1 stdout, 2 stderr and 3
the final Status that carries the exit code. The command is an argument vector: no shell
runs unless the caller names one, so nothing is ever interpolated.

stdin: the bytes given are sent, then (with v5) stdin is closed. Some runtimes (and the
drill's kwok) do not pass the close on to the process, so commands that read stdin should
stop on their own after a known length (``dd bs=N count=1 iflag=fullblock``) rather than
wait for end of file.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote, urlencode

try:
    import websocket
    from kubernetes.stream.ws_client import create_websocket

    HAS_WEBSOCKET = True
    WEBSOCKET_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_WEBSOCKET = False
    WEBSOCKET_IMPORT_ERROR = exc

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    ClusterUnreachable,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import (
    KubeClient,
    permission_denied_message,
)

STDIN, STDOUT, STDERR, ERROR = 0, 1, 2, 3
CLOSE = 255
PROTOCOLS = "v5.channel.k8s.io, v4.channel.k8s.io"
PING_SECONDS = 20
STDERR_KEEP = 64 * 1024

# "... error executing command in container: cmd wait: CMD: exit status 3" (kwok, some runtimes)
_EXIT_STATUS = re.compile(r"exit (?:status|code) (\d+)")
_NOT_FOUND = re.compile(r"executable file not found|no such file or directory", re.I)


class ExecResult(object):
    """What one command did: ``rc`` (its exit code), ``stdout`` and ``stderr`` (bytes)."""

    def __init__(self, rc, stdout, stderr, message=""):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.message = message

    @property
    def text(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self):
        """stderr, or the runtime's message when the command did not even start."""
        text = self.stderr.decode("utf-8", "replace").strip()
        return text or self.message


def exit_code(status):
    """(exit code, message) from the Status of channel 3.

    Success is 0. A non-zero exit is ``NonZeroExitCode`` with an ``ExitCode`` cause (kubelet);
    some runtimes say ``exit status N`` in an InternalError's message. A command that could not
    start is 127 (as a shell says), anything else unreadable -1.
    """
    if not status:
        return -1, "the exec stream ended without a status"
    if status.get("status") == "Success":
        return 0, ""
    message = status.get("message") or ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), message
            except (TypeError, ValueError):
                pass
    match = _EXIT_STATUS.search(message)
    if match:
        return int(match.group(1)), message
    if _NOT_FOUND.search(message):
        return 127, message
    return -1, message


class PodExec(object):
    """Commands in one container of one pod."""

    def __init__(self, configuration, namespace, pod, container, timeout=3600):
        if not HAS_WEBSOCKET:
            raise ClusterError("the kubernetes and websocket-client Python libraries are required for pod exec: %s"
                               % WEBSOCKET_IMPORT_ERROR)
        self.configuration = configuration
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.timeout = timeout

    @classmethod
    def from_params(cls, kube_params, namespace, ref, container=None, timeout=3600, client=None):
        """Resolve ``ref`` (a pod, ``statefulset/NAME`` or ``deployment/NAME``) and its container."""
        from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podref import resolve_pod

        client = client or KubeClient.from_params(kube_params)
        pod, container = resolve_pod(client, namespace, ref, container)
        return cls(client.configuration, namespace, pod, container, timeout=timeout)

    def describe(self):
        return "pod %s/%s (container %s)" % (self.namespace, self.pod, self.container)

    def _path(self):
        return "/api/v1/namespaces/%s/pods/%s/exec" % (quote(self.namespace), quote(self.pod))

    def _connect(self, argv, stdin):
        query = [("container", self.container), ("stdout", "true"), ("stderr", "true")]
        if stdin is not None:
            query.append(("stdin", "true"))
        query.extend(("command", arg) for arg in argv)
        url = self.configuration.host.rstrip("/") + self._path() + "?" + urlencode(query)
        url = "wss://" + url[len("https://"):] if url.startswith("https://") else "ws://" + url[len("http://"):]
        headers = {"sec-websocket-protocol": PROTOCOLS}
        # auth_settings() runs the token refresh hook (exec plugins, expiring tokens).
        for auth in self.configuration.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"].lower()] = auth["value"]
        try:
            return create_websocket(self.configuration, url, headers)
        except websocket.WebSocketBadStatusException as exc:
            status = getattr(exc, "status_code", None)
            body = getattr(exc, "resp_body", b"") or b""
            try:
                message = json.loads(body.decode("utf-8", "replace")).get("message") or str(exc)
            except (ValueError, AttributeError):
                message = body.decode("utf-8", "replace").strip() or str(exc)
            if status == 404:
                raise NotFound("pod %s/%s not found for exec (%s)" % (self.namespace, self.pod, message))
            if status == 403:
                raise ClusterError(permission_denied_message("POST", self._path(), message), status=403)
            raise ClusterError("exec in %s refused with HTTP %s: %s" % (self.describe(), status, message), status=status)
        except (OSError, websocket.WebSocketException) as exc:
            raise ClusterUnreachable("cannot open an exec stream to %s through the API server %s: %s"
                                     % (self.describe(), self.configuration.host, exc))

    def run(self, argv, stdin=None, timeout=None):
        """Run ``argv``; return an ExecResult. Raises ClusterError when the stream fails or times out.

        A non-zero exit code is not an error here: the caller reads ``rc``.
        """
        timeout = timeout or self.timeout
        ws = self._connect(list(argv), stdin)
        out, err, status = bytearray(), bytearray(), None
        deadline = time.monotonic() + timeout
        last_ping = time.monotonic()
        try:
            v5 = (ws.getsubprotocol() or "").startswith("v5")
            if stdin is not None:
                chunk = 64 * 1024
                for start in range(0, len(stdin), chunk):
                    ws.send_binary(bytes([STDIN]) + stdin[start:start + chunk])
                if v5:
                    ws.send_binary(bytes([CLOSE, STDIN]))
            ws.settimeout(5)
            while True:
                now = time.monotonic()
                if now > deadline:
                    raise ClusterError("%s in %s did not finish within %d s" % (argv[0], self.describe(), timeout))
                if now - last_ping > PING_SECONDS:
                    ws.ping()
                    last_ping = now
                try:
                    opcode, data = ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    continue
                except websocket.WebSocketConnectionClosedException:
                    break
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                if not data:
                    continue
                channel, payload = data[0], data[1:]
                if channel == STDOUT:
                    out.extend(payload)
                elif channel == STDERR:
                    err.extend(payload)
                    if len(err) > 2 * STDERR_KEEP:
                        del err[:-STDERR_KEEP]
                elif channel == ERROR and payload:
                    try:
                        status = json.loads(payload.decode("utf-8", "replace"))
                    except ValueError:
                        status = {"status": "Failure", "message": payload.decode("utf-8", "replace")}
        except (OSError, websocket.WebSocketException) as exc:
            raise ClusterUnreachable("the exec stream to %s broke: %s" % (self.describe(), exc))
        finally:
            try:
                ws.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass
        rc, message = exit_code(status)
        return ExecResult(rc, bytes(out), bytes(err[-STDERR_KEEP:]), message)
