# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP stand-ins for the AI Orchestrator's services in the incident-response drill.

One process serves, on loopback, the endpoints the runbook and the collection
probe: Langflow, n8n and LangSmith health APIs and the api-gateway (health with
dependency checks, cache warm-up that really writes to the drill's Redis).
Each service has a failure mode switched at runtime through a control API on
DRILL_DRILLCTL_PORT:

  PUT  /modes/<service>  {"mode": "ok|down|slow|error|flaky", "delay": 2,
                          "status": 503, "fraction": 0.5}
  GET  /modes            every service's mode and port
  GET  /requests?service=<name>   every request the service received
  POST /reset            all services back to ok, recordings cleared

Adding a service is one entry in SERVICES plus its handler functions.
Standard library only, so it runs with any Python 3.11.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
MODES = ("ok", "down", "slow", "error", "flaky")
RECORD_LIMIT = 10000


def env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def drill_run() -> Path:
    home = os.environ.get("DRILL_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ai-orchestrator-drill")
    return Path(os.environ.get("DRILL_RUN") or os.path.join(home, "run"))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --- Redis (RESP2) and PostgreSQL probes: what the gateway depends on --------


class RedisError(Exception):
    pass


def _resp_read(f):
    line = f.readline()
    if not line:
        raise RedisError("connection closed by server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else f.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_resp_read(f) for _i in range(size)]
    raise RedisError(f"unexpected reply {line!r}")


def redis_call(*commands, timeout: float = 2.0) -> list:
    """Run commands (tuples of arguments) on one authenticated connection."""
    password = (drill_run() / "secrets" / "redis_password").read_text().strip()
    port = env_port("DRILL_REDIS_PORT", 56379)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        f = sock.makefile("rb")
        replies = []
        for cmd in (("AUTH", password),) + commands:
            parts = [str(a).encode() for a in cmd]
            sock.sendall(b"*%d\r\n" % len(parts)
                         + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
            replies.append(_resp_read(f))
        return replies[1:]


def postgres_probe(timeout: float = 2.0) -> str:
    """What pg_isready checks: the server answers a startup packet with an
    authentication request. Returns "" when it does, else the reason."""
    port = env_port("DRILL_PG_PORT", 55432)
    params = b"user\0postgres\0database\0orchestrator\0\0"
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        reply = sock.recv(4096)
    if reply[:1] == b"R":
        return ""
    if reply[:1] == b"E":  # e.g. "the database system is starting up"
        fields = dict((f[:1], f[1:]) for f in reply[5:].split(b"\0") if f)
        return fields.get(b"M", b"error").decode(errors="replace")
    return f"unexpected reply {reply[:16]!r}"


def http_probe(service: str, timeout: float = 2.0) -> str:
    spec = SERVICES[service]
    url = f"http://{HOST}:{spec['port']}{spec['health']}"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return ""
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, urllib.error.URLError) as exc:
        return str(getattr(exc, "reason", exc))


def check(probe, *args) -> dict:
    start = time.monotonic()
    try:
        error = probe(*args)
    except Exception as exc:  # a failed probe is a result, not a crash
        error = str(exc) or type(exc).__name__
    result = {"status": "down" if error else "up",
              "latency_ms": round((time.monotonic() - start) * 1000, 1)}
    if error:
        result["error"] = error
    return result


# --- Service handlers: (request) -> (status, JSON body) ------------------------

LANGFLOW_VERSION = "1.1.1"
N8N_VERSION = "1.72.1"
LANGSMITH_VERSION = "0.8.12"

# What the gateway keeps in Redis and re-creates on warm-up (runbook: Cache Recovery).
# Values mirror the seeded engine_configs and workflows of the orchestrator database.
CRITICAL_KEYS = {
    "config:engines": ("HSET", {
        "langflow": json.dumps({"url": "http://langflow-service:7860", "health": "/health"}),
        "n8n": json.dumps({"url": "http://n8n-service:5678", "health": "/healthz"}),
        "langsmith": json.dumps({"url": "http://langsmith-service:1984", "health": "/ok"}),
    }),
    "config:rate_limits": ("HSET", {"default_rpm": "600", "workflow_exec_rpm": "120"}),
    "config:feature_flags": ("SET", json.dumps({"async_executions": True, "langsmith_tracing": True})),
    "workflows:active": ("SADD", [str(i) for i in (*range(1, 8), *range(9, 16), *range(17, 24))]),
}


def langflow_health(req):
    return 200, {"status": "ok"}


def langflow_health_check(req):
    return 200, {"status": "ok", "chat": "ok", "db": "ok"}


def langflow_version(req):
    return 200, {"version": LANGFLOW_VERSION, "main_version": LANGFLOW_VERSION, "package": "Langflow"}


def n8n_healthz(req):
    return 200, {"status": "ok"}


def langsmith_ok(req):
    return 200, {"ok": True}


def langsmith_info(req):
    return 200, {
        "version": LANGSMITH_VERSION,
        "license_expiration_time": None,
        "batch_ingest_config": {"scale_up_qsize_trigger": 1000, "scale_up_nthreads_limit": 16,
                                "scale_down_nempty_trigger": 4, "size_limit": 100,
                                "size_limit_bytes": 20971520},
        "instance_flags": {"generate_ai_query_enabled": False, "org_creation_disabled": False},
    }


def gateway_health(req):
    checks = {"postgres": check(postgres_probe),
              "redis": check(lambda: "" if redis_call(("PING",))[0] == "PONG" else "no PONG")}
    for engine in ("langflow", "n8n", "langsmith"):
        checks[engine] = check(http_probe, engine)
    if any(checks[c]["status"] != "up" for c in ("postgres", "redis")):
        status, code = "unhealthy", 503
    elif any(c["status"] != "up" for c in checks.values()):
        status, code = "degraded", 200  # engines down: the API still serves
    else:
        status, code = "healthy", 200
    return code, {"status": status, "checks": checks, "timestamp": now_iso()}


def gateway_warmup(req):
    commands = [("MULTI",)]
    for key, (verb, value) in CRITICAL_KEYS.items():
        commands.append(("DEL", key))
        if verb == "HSET":
            commands.append(("HSET", key, *[x for kv in value.items() for x in kv]))
        elif verb == "SADD":
            commands.append(("SADD", key, *value))
        else:
            commands.append(("SET", key, value))
    commands += [("SET", "cache:warmed_at", now_iso()), ("EXEC",)]
    start = time.monotonic()
    try:
        redis_call(*commands)
    except (OSError, RedisError) as exc:
        return 503, {"status": "error", "error": f"redis unavailable: {exc}"}
    return 200, {"status": "ok", "keys_written": [*CRITICAL_KEYS, "cache:warmed_at"],
                 "duration_ms": round((time.monotonic() - start) * 1000, 1)}


SERVICES = {
    "langflow": {"port": env_port("DRILL_LANGFLOW_PORT", 57860), "health": "/health", "routes": {
        ("GET", "/health"): langflow_health,
        ("GET", "/health_check"): langflow_health_check,
        ("GET", "/api/v1/version"): langflow_version}},
    "n8n": {"port": env_port("DRILL_N8N_PORT", 55678), "health": "/healthz", "routes": {
        ("GET", "/healthz"): n8n_healthz,
        ("GET", "/healthz/readiness"): n8n_healthz}},
    "langsmith": {"port": env_port("DRILL_LANGSMITH_PORT", 51984), "health": "/ok", "routes": {
        ("GET", "/ok"): langsmith_ok,
        ("GET", "/info"): langsmith_info,
        ("GET", "/api/v1/info"): langsmith_info}},
    "gateway": {"port": env_port("DRILL_GATEWAY_PORT", 58080), "health": "/health", "routes": {
        ("GET", "/health"): gateway_health,
        ("POST", "/admin/cache/warmup"): gateway_warmup}},
}


# --- Runtime: one listener per service, failure modes, recording --------------


class Service:
    def __init__(self, name: str, spec: dict):
        self.name, self.port, self.routes = name, spec["port"], spec["routes"]
        self.lock = threading.Lock()  # mode and flaky counter, read by every request
        self.switching = threading.Lock()
        self.mode: dict = {"mode": "ok"}
        self.flaky_debt = 0.0
        self.records: deque = deque(maxlen=RECORD_LIMIT)
        self.server: ThreadingHTTPServer | None = None

    def listen(self) -> None:
        if self.server is None:
            self.server = ThreadingHTTPServer((HOST, self.port), ServiceHandler)
            self.server.service = self
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        # "down" is a refused connection, as when the pod is gone: no listening socket.
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def set_mode(self, mode: dict) -> None:
        with self.switching:  # one switch at a time; listen() may fail if the port was taken
            if mode["mode"] == "down":
                self.close()
            else:
                self.listen()
            with self.lock:
                self.mode, self.flaky_debt = mode, 0.0

    def fault(self) -> tuple[int, dict] | None:
        """The failure the current mode injects into this request, if any."""
        with self.lock:
            mode = dict(self.mode)
            if mode["mode"] == "flaky":
                # Error diffusion: exactly `fraction` of requests fail, evenly spread.
                self.flaky_debt += mode["fraction"]
                if self.flaky_debt < 1:
                    return None
                self.flaky_debt -= 1
        if mode["mode"] == "slow":
            time.sleep(mode["delay"])
        elif mode["mode"] == "error":
            return mode["status"], {"status": "error", "error": f"{self.name}: injected failure"}
        elif mode["mode"] == "flaky":
            return 500, {"status": "error", "error": f"{self.name}: injected intermittent failure"}
        return None

    def state(self) -> dict:
        return {**self.mode, "port": self.port, "listening": self.server is not None}


def parse_mode(body: dict) -> dict:
    mode = body.get("mode")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if mode == "slow":
        delay = float(body.get("delay", 2))
        if not 0 <= delay <= 300:
            raise ValueError("delay must be between 0 and 300 seconds")
        return {"mode": mode, "delay": delay}
    if mode == "error":
        status = int(body.get("status", 503))
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        return {"mode": mode, "status": status}
    if mode == "flaky":
        fraction = float(body.get("fraction", 0.5))
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        return {"mode": mode, "fraction": fraction}
    return {"mode": mode}


class JSONHandler(BaseHTTPRequestHandler):
    server_version = "drill-platform/1"

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{now_iso()} {getattr(self, 'log_name', 'drillctl')} {fmt % args}\n")

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


class ServiceHandler(JSONHandler):
    def dispatch(self):
        service: Service = self.server.service
        self.log_name = service.name
        url = urlsplit(self.path)
        body = self.read_body()
        text = body.decode(errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        record = {"time": now_iso(), "service": service.name, "method": self.command,
                  "path": url.path, "query": parse_qs(url.query), "headers": dict(self.headers),
                  "body": text, "json": parsed}
        service.records.append(record)
        status, payload = service.fault() or self.route(service, url.path, record)
        record["status"] = status
        self.send_json(status, payload)

    def route(self, service: Service, path: str, record: dict):
        handler = service.routes.get((self.command, path))
        if handler is None:
            if any(p == path for _method, p in service.routes):
                return 405, {"detail": "Method Not Allowed"}
            return 404, {"detail": "Not Found"}
        return handler(record)


class ControlHandler(JSONHandler):
    def dispatch(self):
        url = urlsplit(self.path)
        services: dict[str, Service] = self.server.services
        parts = [p for p in url.path.split("/") if p]
        try:
            if self.command == "GET" and parts == ["modes"]:
                return self.send_json(200, {n: s.state() for n, s in services.items()})
            if self.command == "PUT" and len(parts) == 2 and parts[0] == "modes":
                service = services.get(parts[1])
                if service is None:
                    return self.send_json(404, {"error": f"unknown service {parts[1]}"})
                service.set_mode(parse_mode(json.loads(self.read_body() or b"{}")))
                return self.send_json(200, {parts[1]: service.state()})
            if self.command == "GET" and parts == ["requests"]:
                wanted = parse_qs(url.query).get("service") or list(services)
                unknown = [n for n in wanted if n not in services]
                if unknown:
                    return self.send_json(404, {"error": f"unknown service {unknown[0]}"})
                records = [r for n in wanted for r in list(services[n].records)]
                return self.send_json(200, sorted(records, key=lambda r: r["time"]))
            if self.command == "POST" and parts == ["reset"]:
                for service in services.values():
                    service.set_mode({"mode": "ok"})
                    service.records.clear()
                return self.send_json(200, {n: s.state() for n, s in services.items()})
            return self.send_json(404, {"error": f"no route {self.command} {url.path}"})
        except (ValueError, TypeError) as exc:
            return self.send_json(400, {"error": str(exc)})
        except OSError as exc:  # e.g. the port was taken while the service was down
            return self.send_json(409, {"error": str(exc)})


def main() -> int:
    services = {name: Service(name, spec) for name, spec in SERVICES.items()}
    control_port = env_port("DRILL_DRILLCTL_PORT", 58099)
    try:
        for service in services.values():
            service.listen()
        control = ThreadingHTTPServer((HOST, control_port), ControlHandler)
    except OSError as exc:
        sys.stderr.write(f"platform_http: cannot listen: {exc}\n")
        return 1
    control.services = services
    sys.stderr.write(f"{now_iso()} platform_http ready: "
                     + ", ".join(f"{n}={s.port}" for n, s in services.items())
                     + f", control={control_port}\n")
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
