# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A counting reverse proxy in front of the Kubernetes API, for diagnosis_bench.py.

Every request of the method under test goes through it (its kubeconfig points here), so
the count is exact and belongs to that method alone, whatever else uses the cluster at
the same time. It listens on 127.0.0.1 only and forwards with the credentials of the
drill kubeconfig, for the benchmark's duration.
"""

from __future__ import annotations

import base64
import collections
import http.client
import http.server
import ssl
import tempfile
import threading
from urllib.parse import urlsplit

import yaml

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


def _file(entry, key, tmpdir):
    """Path of a kubeconfig credential given as a file or inline as base64 data."""
    if entry.get(key):
        return entry[key]
    if entry.get(key + "-data"):
        path = "%s/%s" % (tmpdir, key)
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(entry[key + "-data"]))
        return path
    return None


def upstream_from_kubeconfig(path):
    """(host, port, ssl context) of the current context's API server, with its client certificate."""
    with open(path) as handle:
        config = yaml.safe_load(handle)
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    tmpdir = tempfile.mkdtemp(prefix="bench-proxy-")
    ctx = ssl.create_default_context(cafile=_file(cluster, "certificate-authority", tmpdir))
    if _file(user, "client-certificate", tmpdir):
        ctx.load_cert_chain(_file(user, "client-certificate", tmpdir), _file(user, "client-key", tmpdir))
    url = urlsplit(cluster["server"])
    return url.hostname, url.port or 443, ctx, user.get("token")


def classify(method, path):
    """'LIST pods', 'GET pods/log', 'GET discovery'...: the request's verb and resource."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis") or len(parts) <= (2 if parts[0] == "api" else 3):
        return "%s %s" % (method, "openapi" if parts[:1] == ["openapi"] else "discovery")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    group = "" if parts[0] == "api" else parts[1] + "/"
    if rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    if method == "GET" and len(rest) == 1:
        method = "LIST"
    return "%s %s%s" % (method, group, "/".join([rest[0]] + rest[2:3]))


class CountingProxy:
    def __init__(self, kubeconfig):
        host, port, ctx, token = upstream_from_kubeconfig(kubeconfig)
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                with proxy.lock:
                    proxy.counts[classify(self.command, self.path)] += 1
                if not hasattr(self, "upstream"):
                    self.upstream = http.client.HTTPSConnection(host, port, context=ctx, timeout=120)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"})
                if token:
                    headers["Authorization"] = "Bearer " + token
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    response = self.upstream.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException):
                    self.upstream.close()
                    del self.upstream
                    raise
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.counts)

    def kubeconfig(self, path):
        """Write a kubeconfig that sends a client through this proxy."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "bench", "cluster": {"server": self.url}}],
            "users": [{"name": "bench", "user": {}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
            "current-context": "bench",
        }
        with open(path, "w") as handle:
            yaml.safe_dump(config, handle)
        return path

    def close(self):
        self.server.shutdown()
