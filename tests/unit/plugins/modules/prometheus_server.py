# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real HTTP server on loopback that answers like Prometheus with recorded replies.

Each request is recorded (method, path, parameters from the query string or the form
body, headers with lowercase names); the answer is the reply named by ``server.reply`` from
fixtures/prometheus/replies.json, after ``server.delay`` seconds (its body after
``server.body_delay`` more), or a redirect to ``server.redirect``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import pathlib
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ports import free_port  # never a drill port (tests/integration/ports.py)

REPLIES = json.loads((pathlib.Path(__file__).parent / "fixtures/prometheus/replies.json").read_text(encoding="utf-8"))


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _answer(self):
        server = self.server
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        params = parse_qs(body if self.command == "POST" else parts.query)
        server.requests.append({"method": self.command, "path": parts.path, "url_length": len(self.path),
                                "params": {k: v[0] for k, v in params.items()}, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if server.delay:
            time.sleep(server.delay)
        if server.redirect:
            self.send_response(302)
            self.send_header("Location", server.redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        reply = REPLIES[server.reply]
        data = reply["body"].encode("utf-8")
        self.send_response(reply["status"])
        self.send_header("Content-Type", reply["content_type"])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        if server.body_delay:
            time.sleep(server.body_delay)
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


class FakePrometheus(ThreadingHTTPServer):
    """Plain HTTP, or HTTPS with ``tls`` = (certificate file, key file)."""

    daemon_threads = True

    def __init__(self, tls=None):
        super().__init__(("127.0.0.1", free_port()), _Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.reply = "vector"
        self.delay = 0
        self.body_delay = 0
        self.redirect = None
        self.requests = []
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.server_address[1])
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


def self_signed(folder):
    """(certificate file, key file) of a self-signed certificate for 127.0.0.1, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prometheus-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = pathlib.Path(folder) / "cert.pem", pathlib.Path(folder) / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)
