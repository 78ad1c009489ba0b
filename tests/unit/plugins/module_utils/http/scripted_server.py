# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real HTTP(S) server on loopback whose answers a test scripts per path.

``server.script(path, *replies)``: the replies are given in turn, the last one again and
again. A reply is a dict: ``status`` (200), ``json`` (a body as JSON) or ``body`` (text),
``headers``, ``delay`` (seconds before answering), ``echo`` (true: the body is the request's
headers as JSON, for tests that check a secret the server repeats never reaches a
message). ``server.require_header(name, value, paths)`` answers 401 to a request without it
(403 when the value is wrong), on the paths given or every path. Every request is recorded (method, path, query, headers
with lower-case names, body). Unscripted paths answer 404.

HTTPS with ``tls=(certificate file, key file)``; ``client_ca`` (a PEM file) makes the
server require a client certificate signed by it. Certificates come from
tests/unit/plugins/modules/prometheus_server.py ``self_signed``.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ports import free_port  # never a drill port (tests/integration/ports.py)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _answer(self):
        server = self.server
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict((k.lower(), v) for k, v in self.headers.items())
        with server.lock:
            server.requests.append({"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                                    "headers": headers, "body": body,
                                    "peer_cert": bool(getattr(self.connection, "getpeercert", lambda: None)())})
            reply = server.next_reply(parts.path)
        if reply.get("delay"):
            time.sleep(reply["delay"])
        status = reply.get("status", 200)
        if server.required and (server.required[2] is None or parts.path in server.required[2]):
            name, value = server.required[:2]
            given = headers.get(name.lower())
            if given != value:
                status = 403 if given else 401
                reply = {"json": {"detail": "Forbidden" if given else "Not authenticated"}}
        if reply.get("echo"):
            data = json.dumps({"error": "you sent %s" % json.dumps(headers), "headers": headers}).encode()
        elif "json" in reply:
            data = json.dumps(reply["json"]).encode()
        else:
            data = str(reply.get("body", "")).encode()
        self.send_response(status, reply.get("reason"))
        self.send_header("Content-Type", "application/json" if "json" in reply or reply.get("echo") else "text/plain")
        for name, value in (reply.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls=None, client_ca=None):
        super().__init__(("127.0.0.1", free_port()), _Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            if client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(client_ca)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.lock = threading.Lock()
        self.scripts = {}
        self.requests = []
        self.required = None
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.server_address[1])
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def script(self, path, *replies):
        with self.lock:
            self.scripts[path] = list(replies) or [{}]
        return self

    def require_header(self, name, value, paths=None):
        """Answer 401 without the header, 403 with another value: on ``paths`` (every path by default)."""
        self.required = (name, value, set(paths) if paths else None) if name else None
        return self

    def next_reply(self, path):
        replies = self.scripts.get(path)
        if not replies:
            return {"status": 404, "json": {"detail": "Not Found"}}
        return replies.pop(0) if len(replies) > 1 else dict(replies[0])

    def clear(self):
        with self.lock:
            self.scripts, self.requests, self.required = {}, [], None

    def handle_error(self, request, client_address):  # failed TLS handshakes are part of the tests
        pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
