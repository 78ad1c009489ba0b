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

Every service also serves GET /metrics on its own port (Prometheus text format 0.0.4,
never faulted): http_requests_total{route, method, code} and
http_request_duration_seconds{route, method} for every other request, and on the gateway
workflow_executions_total{engine, status}, workflow_execution_duration_seconds{engine} and
workflow_queue_depth{engine} (docs/alerting.md, metrics contract).

So that a fault shows in those metrics as it would under real load, each service sends
itself synthetic traffic through its own listener (DRILL_SYNTHETIC_RPS requests/s, default
5; 0 turns it off), and the gateway runs a workflow on each engine every
DRILL_WORKFLOW_INTERVAL seconds (default 0.5; 0 turns it off) by calling the engine's health
endpoint: an execution fails when that request fails, and the queue grows while an engine
is slow or down. Synthetic requests carry the X-Drill-Synthetic header: they are counted in
the metrics but never recorded for GET /requests, and they have their own share of a
flaky mode's failures, so what a test sends fails exactly as often as it asked.

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
SYNTHETIC_HEADER = "X-Drill-Synthetic"
# Seconds a synthetic client (or a workflow execution) waits before giving up; a slow
# mode's delay beyond it still shows in the server-side latency histogram.
SYNTHETIC_TIMEOUT = 30.0
SYNTHETIC_IN_FLIGHT = 50  # per service: a long slow mode must not pile up threads without bound
QUEUE_LIMIT = 1000  # workflow executions waiting per engine; older ones are dropped beyond it
ENGINE_RETRY_DELAY = 1.0  # seconds the gateway waits after an engine refused the connection


def env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    value = float(os.environ.get(name) or default)
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


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


def http_probe(service: str, timeout: float = 2.0, synthetic: bool = False) -> str:
    spec = SERVICES[service]
    url = f"http://{HOST}:{spec['port']}{spec['health']}"
    request = urllib.request.Request(url, headers={SYNTHETIC_HEADER: "1"} if synthetic else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
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


def gateway_workflows(req):
    """The API the platform's users call most: the active workflows (what the cache holds)."""
    active = CRITICAL_KEYS["workflows:active"][1]
    return 200, {"workflows": [{"id": int(i), "active": True} for i in active], "count": len(active)}


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
        ("GET", "/api/v1/workflows"): gateway_workflows,
        ("POST", "/admin/cache/warmup"): gateway_warmup}},
}

# What the synthetic traffic asks for, in turn: cheap reads, as most real traffic is (the
# gateway's /health would open PostgreSQL and Redis connections five times a second).
SYNTHETIC_PATHS = {
    "langflow": ("/health", "/api/v1/version", "/health_check"),
    "n8n": ("/healthz", "/healthz/readiness"),
    "langsmith": ("/ok", "/info"),
    "gateway": ("/api/v1/workflows",),
}
ENGINES = ("langflow", "n8n", "langsmith")


# --- Metrics: Prometheus text format 0.0.4, by hand -----------------------------------

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple, values: tuple, extra: str = "") -> str:
    pairs = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Family:
    """One metric family: counter, gauge (values or callbacks) or histogram."""

    def __init__(self, name: str, kind: str, help_text: str, labelnames: tuple):
        self.name, self.kind, self.help, self.labelnames = name, kind, help_text, labelnames
        self.series: dict[tuple, object] = {}

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for values, value in sorted(self.series.items()):
            if self.kind == "histogram":
                counts, total = value
                cumulative = 0
                for bound, count in zip(BUCKETS + (float("inf"),), counts):
                    cumulative += count
                    le = 'le="+Inf"' if bound == float("inf") else f'le="{bound:g}"'
                    out.append(f"{self.name}_bucket{_labels(self.labelnames, values, le)} {cumulative}")
                out.append(f"{self.name}_sum{_labels(self.labelnames, values)} {_number(total)}")
                out.append(f"{self.name}_count{_labels(self.labelnames, values)} {cumulative}")
            else:
                current = value() if callable(value) else value
                out.append(f"{self.name}{_labels(self.labelnames, values)} {_number(current)}")
        return out


class Metrics:
    """A service's metrics; every update and the exposition hold one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.families: dict[str, Family] = {}

    def family(self, name: str, kind: str, help_text: str, labelnames: tuple) -> Family:
        with self.lock:
            return self.families.setdefault(name, Family(name, kind, help_text, labelnames))

    def inc(self, name: str, values: tuple, amount: float = 1) -> None:
        with self.lock:
            series = self.families[name].series
            series[values] = series.get(values, 0) + amount

    def set(self, name: str, values: tuple, value) -> None:
        """A gauge's value, or a function that returns it at scrape time."""
        with self.lock:
            self.families[name].series[values] = value

    def observe(self, name: str, values: tuple, seconds: float) -> None:
        with self.lock:
            series = self.families[name].series
            counts, total = series.get(values) or ([0] * (len(BUCKETS) + 1), 0.0)
            index = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
            counts[index] += 1
            series[values] = (counts, total + seconds)

    def zero(self, name: str, values: tuple) -> None:
        """Create a series at zero, so that rate() sees its first increase."""
        with self.lock:
            family = self.families[name]
            family.series.setdefault(values, ([0] * (len(BUCKETS) + 1), 0.0) if family.kind == "histogram" else 0)

    def exposition(self) -> str:
        with self.lock:
            return "".join(line + "\n" for family in self.families.values() for line in family.lines())


def http_metrics() -> Metrics:
    metrics = Metrics()
    metrics.family("http_requests_total", "counter",
                   "HTTP requests served, by route, method and status code (not /metrics).",
                   ("route", "method", "code"))
    metrics.family("http_request_duration_seconds", "histogram",
                   "Time to serve an HTTP request, by route and method (not /metrics).", ("route", "method"))
    return metrics


def add_workflow_metrics(metrics: Metrics) -> None:
    metrics.family("workflow_executions_total", "counter",
                   "Workflow executions the orchestrator ran, by engine and outcome.", ("engine", "status"))
    metrics.family("workflow_execution_duration_seconds", "histogram",
                   "Time a workflow execution took on its engine.", ("engine",))
    metrics.family("workflow_queue_depth", "gauge",
                   "Workflow executions waiting for their engine.", ("engine",))
    for engine in ENGINES:
        for status in ("success", "failure"):
            metrics.zero("workflow_executions_total", (engine, status))
        metrics.zero("workflow_execution_duration_seconds", (engine,))


# --- Runtime: one listener per service, failure modes, recording --------------


class Service:
    def __init__(self, name: str, spec: dict):
        self.name, self.port, self.routes = name, spec["port"], spec["routes"]
        self.lock = threading.Lock()  # mode and flaky counters, read by every request
        self.switching = threading.Lock()
        self.mode: dict = {"mode": "ok"}
        # One error-diffusion counter for synthetic requests, one for the rest.
        self.flaky_debt = {False: 0.0, True: 0.0}
        self.records: deque = deque(maxlen=RECORD_LIMIT)
        self.server: ThreadingHTTPServer | None = None
        self.metrics = http_metrics()

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
                self.mode, self.flaky_debt = mode, {False: 0.0, True: 0.0}

    def fault(self, synthetic: bool = False) -> tuple[int, dict] | None:
        """The failure the current mode injects into this request, if any."""
        with self.lock:
            mode = dict(self.mode)
            if mode["mode"] == "flaky":
                # Error diffusion: exactly `fraction` of requests fail, evenly spread.
                self.flaky_debt[synthetic] += mode["fraction"]
                if self.flaky_debt[synthetic] < 1:
                    return None
                self.flaky_debt[synthetic] -= 1
        if mode["mode"] == "slow":
            time.sleep(mode["delay"])
        elif mode["mode"] == "error":
            return mode["status"], {"status": "error", "error": f"{self.name}: injected failure"}
        elif mode["mode"] == "flaky":
            return 500, {"status": "error", "error": f"{self.name}: injected intermittent failure"}
        return None

    def state(self) -> dict:
        return {**self.mode, "port": self.port, "listening": self.server is not None}

    def count(self, method: str, path: str, status: int, seconds: float) -> None:
        # A known path is its own route label; anything else counts as "unmatched", so a
        # scanner cannot grow the label set without bound.
        route = path if any(p == path for _method, p in self.routes) else "unmatched"
        self.metrics.inc("http_requests_total", (route, method, str(status)))
        self.metrics.observe("http_request_duration_seconds", (route, method), seconds)


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

    quiet = False  # synthetic traffic and scrapes would flood the log

    def send_json(self, status: int, body) -> None:
        self.send_body(status, json.dumps(body).encode(), "application/json")

    def send_body(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout shorter than a slow mode's delay)

    def log_request(self, code="-", size="-"):
        if not self.quiet:
            super().log_request(code, size)

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
        if self.command == "GET" and url.path == "/metrics":  # never faulted, not counted
            self.quiet = True
            return self.send_body(200, service.metrics.exposition().encode(),
                                  "text/plain; version=0.0.4; charset=utf-8")
        start = time.monotonic()
        synthetic = self.headers.get(SYNTHETIC_HEADER) == "1"
        self.quiet = synthetic
        body = self.read_body()
        text = body.decode(errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        record = {"time": now_iso(), "service": service.name, "method": self.command,
                  "path": url.path, "query": parse_qs(url.query), "headers": dict(self.headers),
                  "body": text, "json": parsed}
        if not synthetic:
            service.records.append(record)
        status, payload = service.fault(synthetic) or self.route(service, url.path, record)
        record["status"] = status
        self.send_json(status, payload)
        service.count(self.command, url.path, status, time.monotonic() - start)

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


# --- Synthetic load: what makes the metrics move -----------------------------------


def synthetic_get(port: int, path: str, timeout: float = SYNTHETIC_TIMEOUT) -> None:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers={SYNTHETIC_HEADER: "1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            resp.read()
    except (OSError, urllib.error.URLError):
        pass  # a fault: the server side has counted it, or it is down and counts nothing


def synthetic_traffic(service: Service, rps: float) -> None:
    """`rps` requests a second to the service's own listener, each in its own thread (a slow
    mode delays them without slowing the rate), at most SYNTHETIC_IN_FLIGHT at a time."""
    slots = threading.BoundedSemaphore(SYNTHETIC_IN_FLIGHT)
    paths = SYNTHETIC_PATHS[service.name]

    def one(path: str) -> None:
        try:
            synthetic_get(service.port, path)
        finally:
            slots.release()

    tick, n = time.monotonic(), 0
    while True:
        if slots.acquire(blocking=False):
            threading.Thread(target=one, args=(paths[n % len(paths)],), daemon=True).start()
        n += 1
        tick += 1 / rps
        time.sleep(max(0.0, tick - time.monotonic()))


class WorkflowRunner:
    """The gateway running workflows on one engine: one arrives every `interval` seconds and
    waits in the queue; one worker runs them in turn by calling the engine's health endpoint.
    A slow engine drains the queue slower than it fills; a refused connection makes the
    worker wait ENGINE_RETRY_DELAY, so a down engine's queue grows too."""

    def __init__(self, engine: str, metrics: Metrics, interval: float):
        self.engine, self.metrics, self.interval = engine, metrics, interval
        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.taken = 0  # executions that left the queue (run or dropped)
        metrics.set("workflow_queue_depth", (engine,), self.depth)

    def depth(self) -> int:
        with self.lock:
            backlog = int((time.monotonic() - self.start) / self.interval) - self.taken
            if backlog > QUEUE_LIMIT:
                self.taken += backlog - QUEUE_LIMIT
                backlog = QUEUE_LIMIT
            return max(backlog, 0)

    def take(self) -> float:
        """0 when an execution was taken from the queue, else the seconds until the next arrives."""
        with self.lock:
            wait = self.start + (self.taken + 1) * self.interval - time.monotonic()
            if wait <= 0:
                self.taken += 1
            return max(wait, 0.0)

    def run_one(self) -> str:
        began = time.monotonic()
        error = http_probe(self.engine, timeout=SYNTHETIC_TIMEOUT, synthetic=True)
        self.metrics.inc("workflow_executions_total", (self.engine, "failure" if error else "success"))
        self.metrics.observe("workflow_execution_duration_seconds", (self.engine,), time.monotonic() - began)
        return error

    def loop(self) -> None:
        while True:
            self.depth()  # applies QUEUE_LIMIT
            wait = self.take()
            if wait:
                time.sleep(wait)
                continue
            error = self.run_one()
            if "refused" in error:
                time.sleep(ENGINE_RETRY_DELAY)


def start_load(services: dict[str, Service], rps: float, interval: float) -> None:
    if rps > 0:
        for service in services.values():
            threading.Thread(target=synthetic_traffic, args=(service, rps), daemon=True).start()
    gateway = services["gateway"].metrics
    add_workflow_metrics(gateway)
    if interval > 0:
        for engine in ENGINES:
            runner = WorkflowRunner(engine, gateway, interval)
            threading.Thread(target=runner.loop, daemon=True).start()


def main() -> int:
    services = {name: Service(name, spec) for name, spec in SERVICES.items()}
    control_port = env_port("DRILL_DRILLCTL_PORT", 58099)
    try:
        rps = env_float("DRILL_SYNTHETIC_RPS", 5)
        interval = env_float("DRILL_WORKFLOW_INTERVAL", 0.5)
    except ValueError as exc:
        sys.stderr.write(f"platform_http: {exc}\n")
        return 2
    try:
        for service in services.values():
            service.listen()
        control = ThreadingHTTPServer((HOST, control_port), ControlHandler)
    except OSError as exc:
        sys.stderr.write(f"platform_http: cannot listen: {exc}\n")
        return 1
    control.services = services
    start_load(services, rps, interval)
    sys.stderr.write(f"{now_iso()} platform_http ready: "
                     + ", ".join(f"{n}={s.port}" for n, s in services.items())
                     + f", control={control_port}; synthetic {rps:g} req/s per service,"
                     + f" a workflow per engine every {interval:g} s\n")
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
