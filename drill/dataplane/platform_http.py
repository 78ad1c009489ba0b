# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP stand-ins for the AI Orchestrator's services in the incident-response drill.

One process serves, on loopback, the endpoints the runbook and the collection
probe: Langflow, n8n and LangSmith (health, and the engine APIs below, shaped like the
real products' public APIs) and the api-gateway (health with dependency checks, cache
warm-up that really writes to the drill's Redis, workflow runs on the engines).
Each service has a failure mode switched at runtime through a control API on
DRILL_DRILLCTL_PORT:

  PUT  /modes/<service>  {"mode": "ok|down|slow|error|flaky", "delay": 2,
                          "status": 503, "fraction": 0.5, "by": "<who>"}
                         (`by` is optional; the pod link of drill/load/load_controller.py
                         sets "pod-link" and only undoes a mode it set itself)
  GET  /modes            every service's mode and port
  GET  /requests?service=<name>   every request the service received
  PUT  /keys/<engine>    {"api_key": "<key>"}: the engine accepts only that key from now
                         on, so clients configured with the secret file's key are rejected
                         (the "bad credentials" fault); {"api_key": null} accepts the file's
                         key again
  GET  /keys             per engine: header, rotated (bool), configured (secret file present)
  PUT  /pods/<service>   {"ready": 2, "errors": 0.15, "slow": 0, "hot": 0.5, "build": "2.4.1-drill.3",
                         "by": "pod-link"}: what the ready pods of the Deployments annotated
                         drill.incident-response.io/serves: <service> do to its API requests (/api/...):
                         `errors` of them answer 500 {"error": "NullPointer in WorkflowSerializer.serialize
                         (build <build>)"} (pods of a bad release, http-fault=errors), `slow` and `hot`
                         take 3 s (http-fault=slow; usage=high: CPU saturated). Shares 0..1, spread evenly.
                         Set by the load controller's pod link (drill/load/load_controller.py) from the
                         pods; all zero clears it
  GET  /pods             every service's pod behaviour
  PUT  /db               {"slow_query": true|false}: the gateway's executions query becomes an expensive
                         statement on the executions table (pg_sleep 2.5 s in a recount CTE: p95 over 2 s,
                         pg_stat_statements mean_exec_time about 2500 ms) - drill/fault.sh db slow-query|fast
  GET  /db               {"slow_query": bool, "available": bool (PostgreSQL answers)}
  GET  /workflows[?engine=n8n|langflow]   the seeded workflows: id, name, orchestrator_id,
                         active, owner, version, versions, broken
  GET  /workflows/<engine>/<id|name>      one workflow: the engine's JSON, its version history
  POST /workflows/<engine>/<id|name>/break  {"how": "node_type|remove_node|credentials|parameter",
                         "node": "<optional step>"}: saves a new version of the definition with
                         a careless edit - node_type: a step's type becomes one that is not
                         installed (n8n-nodes-community.*, Langflow <Type>Legacy); remove_node:
                         a step deleted while the step before still connects to it;
                         credentials: a step's credentials removed; parameter: a URL to a host
                         that does not resolve or a retired model. Every execution of it then
                         fails on that node (default how: node_type, on the first step that
                         uses credentials)
  POST /workflows/<engine>/<id|name>/repair  saves the definition as it was before the first
                         break as a new version ({"repaired": false} when it was not broken)
  POST /reset            all services back to ok, recordings cleared, every engine's key back
                         to its secret file's, every workflow as shipped (versions too), pod
                         behaviour cleared (the pod link sets it again), slow query off;
                         executions and runs are history and stay

The api-gateway's API (its causes of High Error Rate / High Response Time, drill/fault.sh):
  GET  /api/v1/workflows  cache-backed: 2.5 s ("cache": "miss: loaded from the database") while a
                         critical key (CRITICAL_KEYS) is missing from Redis (checked at most every
                         second; POST /admin/cache/warmup writes them back)
  GET  /api/v1/workflows/{id}/executions  a real query on PostgreSQL (database orchestrator, psql)
  POST /api/v1/workflows/{id}/executions  runs the workflow on its engine; 502 {"error": "engine n8n
                         rejected the gateway's credentials (401)"} when n8n refuses the gateway's
                         key (PUT /keys/n8n; the gateway looks the workflow up with it before running
                         the webhook; not counted as an execution). Langflow and LangSmith runs carry
                         the key: a refused one is a failed execution (200, "status": "failure")
  All three answer 503 {"error": "database unavailable: connection refused"} while PostgreSQL does
  not answer (probe cached 1 s). Every 5xx of the gateway's /api/ routes is logged as its pods log
  it: `kubectl logs` of api-gateway pods ($DRILL_RUN/cluster-<name>/logs/api-gateway.log), lines
  like `[error    ] request failed  route=/api/v1/workflows method=GET status=500
  request_id=<hex> error="NullPointer in WorkflowSerializer.serialize (build 2.4.1-drill.3)"`
  (at most 5 lines/s), and cache misses as `[warning  ] cache miss`.

Engine APIs. Each engine wants its API key (file $DRILL_RUN/secrets/<engine>_api_key, made by
drill/dataplane.sh) in the real product's header everywhere but its health endpoints: n8n
X-N8N-API-KEY (401 {"message"} without it), Langflow x-api-key (403 {"detail": "Invalid or
missing API key"}), LangSmith x-api-key (401). n8n webhooks and /types/nodes.json are open.
  n8n (public API v1): GET /api/v1/workflows (active, tags, name, limit, cursor -> {data,
      nextCursor}), GET /api/v1/workflows/{id}, POST /api/v1/workflows/{id}/activate|deactivate,
      GET /api/v1/executions (status=error|success, workflowId, includeData, limit <= 250,
      cursor; newest first), GET /api/v1/executions/{id}?includeData=true (a failed one has
      data.resultData.error {message, name, node} and lastNodeExecuted), GET /types/nodes.json
      (the installed node types), POST /webhook/<path> (runs the active workflow whose Webhook
      node has that path: 200, or 500 {"message": "Error in workflow"}).
  Langflow: GET /api/v1/flows/ (a list; get_all=false&page=&size= -> {items, total, page, size,
      pages}), GET /api/v1/flows/{id}, POST /api/v1/run/{id or endpoint name} (500 {"detail":
      error} when a component fails), GET /api/v1/monitor/transactions?flow_id= (one per
      component run, newest first; a failed run ends with status "error" and its error),
      GET /api/v1/monitor/builds?flow_id= (last two builds per component), GET /api/v1/all
      (installed components by category).
  LangSmith: GET /api/v1/sessions (the project "ai-orchestrator"), POST /api/v1/runs/query
      ({session, error, is_root, start_time, trace, filter: eq(field, "v") / and(...), limit,
      cursor} -> {runs, cursors}), POST /api/v1/runs, POST /api/v1/runs/batch, GET
      /api/v1/runs/{id}. Every n8n and Langflow execution is traced there (name = workflow
      name, error, extra.metadata {engine, workflow_id, execution_id, failed_node}) unless
      LangSmith is down, failing or refuses the key.
Seeded workflows: the orchestrator's (drill/dataplane/orchestrator.sql), 8 per engine named
<engine>-<name>, the 8th inactive, with 1-3 versions each. A workflow's owner is its tag
"owner:<team>" (n8n: tags[].name; Langflow: the flow's tags list); n8n-slack-digest and
langflow-slack-digest have none.

Every service also serves GET /metrics on its own port (Prometheus text format 0.0.4,
never faulted): http_requests_total{route, method, code} and
http_request_duration_seconds{route, method} for every other request (route: the route's
pattern, e.g. /api/v1/workflows/{id}, or "unmatched"), and on the gateway
workflow_executions_total{engine, status="success|failure"}, workflow_execution_duration_seconds{engine}
and workflow_queue_depth{engine} (docs/alerting.md, metrics contract).

Every counted request is also a trace span sent to the drill's Jaeger (OTLP/HTTP JSON on
DRILL_JAEGER_OTLP_PORT, default 54318; 0 turns it off; batched every second, dropped while
Jaeger is down): service.name the Prometheus `service` label, name "<METHOD> <route>", with
child spans for the gateway's calls to PostgreSQL, Redis and the engines (section "Tracing").

So that a fault shows in those metrics as it would under real load, each service sends
itself synthetic traffic through its own listener (DRILL_SYNTHETIC_RPS requests/s, default
5; 0 turns it off; the gateway's cycles through its list, a workflow's executions and a run
on each engine), and the gateway runs a workflow on each engine every
DRILL_WORKFLOW_INTERVAL seconds (default 0.5; 0 turns it off), the engine's active workflows
in turn, through the engine's API (n8n: the webhook; Langflow: /api/v1/run with the key;
LangSmith: the run posted with the key): an execution fails when that request fails - the
engine is down or failing, refuses the key, or the workflow fails on a node - and the queue
grows while an engine is slow or down. POST /api/v1/workflows/<orchestrator id>/executions on
the gateway runs one now, counted the same way. Every failed execution is also logged as the
execution-service's engine adapter would (`kubectl logs` of execution-service pods: kwok's file
$DRILL_RUN/cluster-<name>/logs/execution-service.log, lines like `[error    ] workflow execution
failed  engine=n8n workflow_id=9 workflow=n8n-support-triage execution=1008 node=OpenAI
error="..."`; at most 5 lines/s). Synthetic requests carry the X-Drill-Synthetic
header: they are counted in the metrics but never recorded for GET /requests, and they have
their own share of a flaky mode's failures, so what a test sends fails exactly as often as it
asked.

Adding a service is one entry in SERVICES plus its handler functions.
Standard library only, so it runs with any Python 3.11.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

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
    """The API the platform's users call most: the active workflows (what the cache holds).
    503 while PostgreSQL does not answer; CACHE_MISS_DELAY slower while the critical keys are
    missing from Redis (loaded from the database instead)."""
    down = database_down()
    if down:
        return down
    active = CRITICAL_KEYS["workflows:active"][1]
    body = {"workflows": [{"id": int(i), "active": True} for i in active], "count": len(active)}
    missing = CACHE_STATE.missing()
    if missing:
        time.sleep(CACHE_MISS_DELAY)
        GATEWAY_LOG.write("warning", "cache miss", f"route=/api/v1/workflows keys={','.join(missing)}"
                          ' detail="cache miss: loaded from the database"')
        body["cache"] = "miss: loaded from the database"
    return 200, body


def gateway_executions(req):
    """GET /api/v1/workflows/<id>/executions: the workflow's newest executions, read from
    PostgreSQL by a real query (slow while `drill/fault.sh db slow-query` is on)."""
    try:
        orchestrator_id = int(req["params"]["id"])
        ORCHESTRATOR_WORKFLOWS[orchestrator_id]
    except (ValueError, KeyError):
        return 404, {"error": f"no workflow {req['params']['id']}"}
    down = database_down()
    if down:
        return down
    try:
        rows = DATABASE.executions(orchestrator_id)
    except RuntimeError as exc:
        return 503, {"error": f"database unavailable: {exc}"}
    return 200, {"workflow_id": orchestrator_id, "executions": rows, "count": len(rows)}


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
    finally:
        CACHE_STATE.forget()  # the next request checks the keys again
    return 200, {"status": "ok", "keys_written": [*CRITICAL_KEYS, "cache:warmed_at"],
                 "duration_ms": round((time.monotonic() - start) * 1000, 1)}


# --- The gateway's dependencies and pods: what makes its requests fail or slow --------
# Drill causes of High Error Rate / High Response Time on api-gateway (drill/fault.sh):
# its pods (PodBehaviour, set by the load controller's pod link from the pods of the
# Deployments annotated drill.incident-response.io/serves), PostgreSQL (Database: down ->
# 503, slow query -> latency), Redis (CacheState: cold -> latency) and the engines' keys
# (POST executions -> 502 when an engine rejects the gateway's credentials).

POD_SLOW_DELAY = 3.0  # seconds a request served by a slow (or CPU-saturated) pod takes
CACHE_MISS_DELAY = 2.5  # seconds a cache-backed request takes while the critical keys are missing
DEPENDENCY_CHECK_TTL = 1.0  # the gateway's PostgreSQL and cache checks are cached this long
SLOW_QUERY_SLEEP = 2.5  # what the slow statement adds (an expensive recount, planned badly)
POD_BEHAVIOUR_KEYS = ("errors", "slow", "hot")


class PodBehaviour:
    """Per stand-in, what the ready pods of the Deployments that serve it do to its API requests:
    `errors`, `slow` and `hot` are shares of requests (0..1) that a pod with
    drill.incident-response.io/http-fault=errors (500), =slow (POD_SLOW_DELAY) or
    drill.incident-response.io/usage=high (POD_SLOW_DELAY, CPU saturated) serves; `build` is the
    image tag of the faulty pods (named in the error). Set by PUT /pods/<service>; spread evenly
    (error diffusion, one counter per kind for synthetic requests and one for the rest)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state: dict[str, dict] = {}
        self.debt: dict[tuple, float] = {}

    @staticmethod
    def parse(body: dict) -> dict:
        if not isinstance(body, dict):
            raise ValueError("body must be an object")
        out = {"ready": int(body.get("ready") or 0), "build": str(body.get("build") or "")[:128]}
        for key in POD_BEHAVIOUR_KEYS:
            share = float(body.get(key) or 0)
            if not 0 <= share <= 1:
                raise ValueError(f"{key} must be a share between 0 and 1")
            out[key] = round(share, 4)
        by = body.get("by")
        if by is not None:
            if not (isinstance(by, str) and 0 < len(by) <= 64):
                raise ValueError("by must be a short string")
            out["by"] = by
        return out

    def set(self, service: str, body: dict) -> dict:
        parsed = self.parse(body)
        with self.lock:
            if any(parsed[k] for k in POD_BEHAVIOUR_KEYS):
                self.state[service] = parsed
            else:
                self.state.pop(service, None)
            self.debt = {k: v for k, v in self.debt.items() if k[0] != service}
        return self.get(service)

    def get(self, service: str) -> dict:
        with self.lock:
            return dict(self.state.get(service) or {"ready": 0, "build": "", **dict.fromkeys(POD_BEHAVIOUR_KEYS, 0.0)})

    def reset(self) -> None:
        with self.lock:
            self.state.clear()
            self.debt.clear()

    def _hit(self, service: str, kind: str, share: float, synthetic: bool) -> bool:
        key = (service, kind, synthetic)
        debt = self.debt.get(key, 0.0) + share
        hit = debt >= 1
        self.debt[key] = debt - 1 if hit else debt
        return hit

    def effect(self, service: str, synthetic: bool) -> tuple[str, str] | None:
        """("errors", build), ("slow", build) or ("hot", "") for this request, or None."""
        with self.lock:
            state = self.state.get(service)
            if not state:
                return None
            for kind in POD_BEHAVIOUR_KEYS:
                if state[kind] and self._hit(service, kind, state[kind], synthetic):
                    return kind, state["build"]
        return None


POD_BEHAVIOUR = PodBehaviour()


def pod_fault(service: str, path: str, synthetic: bool) -> tuple[int, dict] | None:
    """What the pods serving `service` do to an API request (/api/...): a 500 from a pod of the
    bad release, or a 3 s answer from a slow or CPU-saturated pod (None: go on)."""
    if not path.startswith("/api/"):
        return None  # health, readiness and admin endpoints: Kubernetes sees healthy pods
    effect = POD_BEHAVIOUR.effect(service, synthetic)
    if effect is None:
        return None
    kind, build = effect
    if kind == "errors":
        return 500, {"error": f"NullPointer in WorkflowSerializer.serialize (build {build or 'unknown'})"}
    time.sleep(POD_SLOW_DELAY)
    return None


def _cached(holder: dict, compute):
    """holder["value"] when computed within DEPENDENCY_CHECK_TTL, else compute() again."""
    now = time.monotonic()
    with holder["lock"]:
        if now - holder.get("at", -1e9) <= DEPENDENCY_CHECK_TTL:
            return holder["value"]
    value = compute()
    with holder["lock"]:
        holder["at"], holder["value"] = time.monotonic(), value
    return value


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    return str(exc) or type(exc).__name__


class Database:
    """The gateway's PostgreSQL (database orchestrator, psql as the client): availability from
    postgres_probe, cached DEPENDENCY_CHECK_TTL; `slow_query` (PUT /db) makes the executions
    route's statement an expensive one (SLOW_QUERY_SLEEP) that pg_stat_statements shows."""

    FAST = ("SELECT e.id, e.status, e.started_at, e.duration_ms, e.error FROM executions e"
            " WHERE e.workflow_id = {id} ORDER BY e.started_at DESC LIMIT 20")
    SLOW = ("WITH history AS MATERIALIZED (SELECT count(*) AS total, max(h.started_at) AS latest,"
            " pg_sleep({sleep}) AS recount FROM executions h WHERE h.workflow_id = {id})"
            " SELECT e.id, e.status, e.started_at, e.duration_ms, e.error, history.total"
            " FROM executions e CROSS JOIN history WHERE e.workflow_id = {id}"
            " ORDER BY e.started_at DESC LIMIT 20")

    def __init__(self):
        self.slow_query = False
        self.probe = {"lock": threading.Lock()}

    def unavailable(self) -> str:
        """"" when PostgreSQL answers, else why not (cached)."""
        def probe():
            try:
                return postgres_probe(timeout=1.0)
            except OSError as exc:
                return _reason(exc)
        return _cached(self.probe, probe)

    def executions(self, workflow_id: int) -> list[dict]:
        """The workflow's newest executions, by a real query (RuntimeError: the query failed)."""
        sql = (self.SLOW if self.slow_query else self.FAST).format(id=int(workflow_id), sleep=SLOW_QUERY_SLEEP)
        bindir = os.environ.get("DRILL_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
        psql = os.path.join(bindir, "psql") if os.path.exists(os.path.join(bindir, "psql")) else "psql"
        env = {**os.environ, "PGPASSWORD": (drill_run() / "secrets" / "postgres_password").read_text().strip(),
               "PGCONNECT_TIMEOUT": "2", "PGAPPNAME": "api-gateway"}
        try:
            done = subprocess.run([psql, "-h", HOST, "-p", str(env_port("DRILL_PG_PORT", 55432)), "-U", "postgres",
                                   "-d", "orchestrator", "-X", "-q", "-tA", "-F", "\t", "-c", sql],
                                  capture_output=True, text=True, timeout=SYNTHETIC_TIMEOUT, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(str(exc)) from exc
        if done.returncode:
            error = done.stderr.strip().splitlines()[-1:] or ["psql failed"]
            raise RuntimeError("connection refused" if "refused" in error[0] else error[0])
        rows = [line.split("\t") for line in done.stdout.splitlines() if line]
        return [{"id": int(r[0]), "status": r[1], "started_at": r[2], "duration_ms": int(r[3]) if r[3] else None,
                 "error": r[4] or None} for r in rows]

    def state(self) -> dict:
        return {"slow_query": self.slow_query, "available": not self.unavailable()}


DATABASE = Database()


class CacheState:
    """Whether the gateway's critical keys (CRITICAL_KEYS) are in Redis, checked at most every
    DEPENDENCY_CHECK_TTL: the missing ones ([] when warm; None when Redis does not answer)."""

    def __init__(self):
        self.check = {"lock": threading.Lock()}

    def missing(self) -> list[str] | None:
        def probe():
            try:
                found = redis_call(*(("EXISTS", key) for key in CRITICAL_KEYS), timeout=1.0)
            except (OSError, RedisError):
                return None
            return [key for key, n in zip(CRITICAL_KEYS, found) if not n]
        return _cached(self.check, probe)

    def forget(self) -> None:
        with self.check["lock"]:
            self.check.pop("at", None)


CACHE_STATE = CacheState()


def log_failed_request(route: str, method: str, status: int, payload) -> None:
    """An api-gateway request answered 5xx, as its pods log it (GATEWAY_LOG, `kubectl logs`)."""
    error = (payload or {}).get("error") if isinstance(payload, dict) else None
    GATEWAY_LOG.write("error", "request failed", f"route={route} method={method} status={status}"
                      f" request_id={uuid.uuid4().hex[:16]} error={json.dumps(str(error or 'internal error'))}")


def database_down() -> tuple[int, dict] | None:
    reason = DATABASE.unavailable()
    return (503, {"error": f"database unavailable: {reason}"}) if reason else None


# --- Engine APIs: API keys, workflows, executions, traces -------------------------------
# What runbook section 4 (Workflow Execution Failures) reads, shaped like the real products:
# n8n's public API v1, Langflow's /api/v1 and LangSmith's /api/v1, each behind its API key.

API_KEY_HEADERS = {"langflow": "x-api-key", "n8n": "X-N8N-API-KEY", "langsmith": "x-api-key"}
# What an engine serves without a key, as the real products do (n8n webhooks carry their own
# authentication, configured per webhook node; the drill's have none).
PUBLIC_PATHS = {"langflow": ("/health", "/health_check", "/api/v1/version"),
                "n8n": ("/healthz", "/healthz/readiness", "/types/nodes.json", "/webhook/"),
                "langsmith": ("/ok", "/info", "/api/v1/info")}
TRACE_PROJECT = "ai-orchestrator"  # engine_configs.settings of langsmith in orchestrator.sql
OWNER_TAG = "owner:"  # n8n tags and Langflow flow tags "owner:<team>" name a workflow's owner
EXECUTIONS_KEPT = 5000  # per engine, newest kept (n8n prunes too: EXECUTIONS_DATA_MAX_COUNT)
RUNS_KEPT = 10000  # LangSmith runs kept
RETIRED_MODELS = ("gpt-4-0314", "text-davinci-003")  # a model parameter set to one of them fails


def is_public(service: str, path: str) -> bool:
    if service not in API_KEY_HEADERS:
        return True
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC_PATHS[service])


class ApiKeys:
    """The key each engine accepts: the one in its secret file ($DRILL_RUN/secrets/<engine>_api_key,
    made by dataplane.sh), or one a control call rotated in. The platform's own clients (the
    gateway, the engines' tracers) keep using the file's key: a rotation is "bad credentials"."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rotated: dict[str, str] = {}

    @staticmethod
    def configured(service: str) -> str | None:
        try:
            return (drill_run() / "secrets" / f"{service}_api_key").read_text().strip() or None
        except OSError:
            return None

    def accepted(self, service: str) -> str | None:
        with self.lock:
            rotated = self.rotated.get(service)
        return rotated or self.configured(service)

    def valid(self, service: str, presented: str | None) -> bool:
        accepted = self.accepted(service)
        return bool(accepted and presented) and hmac.compare_digest(presented.encode(), accepted.encode())

    def rotate(self, service: str, key: str | None) -> None:
        with self.lock:
            if key is None:
                self.rotated.pop(service, None)
            else:
                self.rotated[service] = key

    def state(self) -> dict:
        with self.lock:
            rotated = set(self.rotated)
        return {s: {"header": h, "rotated": s in rotated, "configured": self.configured(s) is not None}
                for s, h in API_KEY_HEADERS.items()}


KEYS = ApiKeys()


def unauthorized(service: str, presented: str | None) -> tuple[int, dict]:
    """The engine's own answer to a missing or wrong key."""
    if service == "n8n":
        return 401, {"message": "'X-N8N-API-KEY' header required" if not presented else "unauthorized"}
    if service == "langflow":
        return 403, {"detail": "Invalid or missing API key"}
    return 401, {"detail": "Invalid token"}


def stable_uuid(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "drill/" + "/".join(str(p) for p in parts)))


def short_id(*parts, size: int = 16) -> str:
    """n8n-style ids (16 letters and digits), stable across restarts."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int(hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest(), 16)
    out = ""
    while len(out) < size:
        number, digit = divmod(number, len(alphabet))
        out += alphabet[digit]
    return out


def parse_time(text: str) -> float:
    try:
        stamp = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"not an ISO 8601 time: {text}")
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The orchestrator's workflows (drill/dataplane/orchestrator.sql): 8 per engine, ids 1-8
# langflow, 9-16 n8n, 17-24 langsmith; the 8th of each is retired (inactive).
WORKFLOW_SEEDS = ((1, "support-triage", "webhook"), (2, "doc-summarizer", "api"),
                  (3, "lead-enrichment", "schedule"), (4, "invoice-extract", "webhook"),
                  (5, "rag-answer", "api"), (6, "nightly-report", "schedule"),
                  (7, "slack-digest", "schedule"), (8, "legacy-import", "api"))
ORCHESTRATOR_ID_BASE = {"langflow": 0, "n8n": 8, "langsmith": 16}
# Owner tags; slack-digest has none, so an operator's owners map is what names its owner.
TEAMS = {"support-triage": "team-support", "doc-summarizer": "team-knowledge", "lead-enrichment": "team-sales",
         "invoice-extract": "team-payments", "rag-answer": "team-knowledge", "nightly-report": "team-data",
         "slack-digest": None, "legacy-import": "team-data"}
SEEDED_AT = time.time()


def seed_times(n: int, versions: int) -> list[float]:
    """When each version of workflow n was saved: created 60 - 5n days ago, then every few days."""
    created = SEEDED_AT - (60 - n * 5) * 86400
    return [created + v * 3 * 86400 + n * 600 for v in range(versions)]


# -- n8n ----------------------------------------------------------------------------------

# The installed node types (what /types/nodes.json lists): type -> (displayName, version, group,
# credential type the node needs or None).
N8N_NODE_TYPES = {
    "n8n-nodes-base.webhook": ("Webhook", 2, "trigger", None),
    "n8n-nodes-base.scheduleTrigger": ("Schedule Trigger", 1.2, "trigger", None),
    "n8n-nodes-base.respondToWebhook": ("Respond to Webhook", 1.1, "transform", None),
    "n8n-nodes-base.set": ("Edit Fields (Set)", 3.4, "input", None),
    "n8n-nodes-base.httpRequest": ("HTTP Request", 4.2, "output", None),
    "@n8n/n8n-nodes-langchain.openAi": ("OpenAI", 1.8, "transform", "openAiApi"),
    "n8n-nodes-base.postgres": ("Postgres", 2.5, "input", "postgres"),
    "n8n-nodes-base.if": ("If", 2.2, "transform", None),
    "n8n-nodes-base.code": ("Code", 2, "transform", None),
    "n8n-nodes-base.slack": ("Slack", 2.2, "output", "slackApi"),
    "n8n-nodes-base.noOp": ("No Operation, do nothing", 1, "organization", None),
}
N8N_CREDENTIALS = {"openAiApi": ("Vd3kq9OpenAiProd", "OpenAI account"),
                   "postgres": ("Pq7OrchestratorDb", "orchestrator database"),
                   "slackApi": ("Sl4ckOpsBotToken", "Slack ops bot")}
# The steps a workflow is made of, in turn: (name, type, parameters).
N8N_STEPS = (
    ("Edit Fields", "n8n-nodes-base.set",
     {"mode": "manual", "includeOtherFields": True,
      "assignments": {"assignments": [{"id": "source", "name": "source", "value": "api-gateway", "type": "string"}]}}),
    ("Fetch Context", "n8n-nodes-base.httpRequest",
     {"method": "GET", "url": "http://workflow-service:8082/api/v1/context", "options": {"timeout": 10000}}),
    ("OpenAI", "@n8n/n8n-nodes-langchain.openAi",
     {"resource": "text", "operation": "message", "modelId": "gpt-4o-mini",
      "messages": {"values": [{"content": "={{ $json.body.text }}"}]}}),
    ("Store Result", "n8n-nodes-base.postgres",
     {"operation": "insert", "schema": "public", "table": "workflow_results", "columns": "workflow,result"}),
    ("Check Result", "n8n-nodes-base.if",
     {"conditions": {"conditions": [{"leftValue": "={{ $json.ok }}", "operator": {"type": "boolean", "operation": "true"}}]}}),
    ("Shape Output", "n8n-nodes-base.code", {"language": "javaScript", "jsCode": "return $input.all();"}),
    ("Notify Slack", "n8n-nodes-base.slack",
     {"select": "channel", "channelId": "#ai-orchestrator", "text": "={{ $json.summary }}"}),
)


def n8n_node(wf_name: str, name: str, node_type: str, parameters: dict, x: int, y: int = 300) -> dict:
    node = {"parameters": json.loads(json.dumps(parameters)), "id": stable_uuid("n8n", wf_name, name),
            "name": name, "type": node_type, "typeVersion": N8N_NODE_TYPES[node_type][1], "position": [x, y]}
    cred = N8N_NODE_TYPES[node_type][3]
    if cred:
        cred_id, cred_name = N8N_CREDENTIALS[cred]
        node["credentials"] = {cred: {"id": cred_id, "name": cred_name}}
    if node_type == "n8n-nodes-base.webhook":
        node["webhookId"] = stable_uuid("n8n-webhook", wf_name)
    return node


def n8n_definition(n: int, name: str, trigger: str, steps: int) -> dict:
    """nodes and connections of version `steps` of a seeded workflow."""
    path = name.split("-", 1)[1]
    first = n8n_node(name, "Webhook", "n8n-nodes-base.webhook",
                     {"httpMethod": "POST", "path": path, "responseMode": "lastNode", "options": {}}, 0)
    middle = [n8n_node(name, *N8N_STEPS[(n + i) % len(N8N_STEPS)], 220 * (i + 1)) for i in range(steps)]
    last = n8n_node(name, "Respond to Webhook", "n8n-nodes-base.respondToWebhook",
                    {"respondWith": "json", "responseBody": "={{ $json }}", "options": {}}, 220 * (steps + 1))
    nodes = [first]
    if trigger == "schedule":
        nodes.append(n8n_node(name, "Schedule Trigger", "n8n-nodes-base.scheduleTrigger",
                              {"rule": {"interval": [{"field": "hours", "hoursInterval": 6}]}}, 0, 500))
    nodes += middle + [last]
    chain = [first] + middle + [last]
    connections = {a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]}
                   for a, b in zip(chain, chain[1:])}
    if trigger == "schedule":
        connections["Schedule Trigger"] = {"main": [[{"node": chain[1]["name"], "type": "main", "index": 0}]]}
    return {"nodes": nodes, "connections": connections}


def n8n_nodes_json() -> list[dict]:
    """What n8n's editor loads from /types/nodes.json (a few fields of each description)."""
    out = []
    for node_type, (display, version, group, cred) in N8N_NODE_TYPES.items():
        entry = {"name": node_type, "displayName": display, "version": version, "group": [group],
                 "defaults": {"name": display}, "inputs": [] if group == "trigger" else ["main"],
                 "outputs": ["main"]}
        if cred:
            entry["credentials"] = [{"name": cred, "required": True}]
        out.append(entry)
    return out


# -- Langflow -------------------------------------------------------------------------------

CRED = object()  # a template field that holds a credential (a global variable's name)
# type -> (category of /api/v1/all, display name, {field: default value})
LANGFLOW_COMPONENTS = {
    "ChatInput": ("inputs", "Chat Input", {"input_value": "", "sender": "User", "should_store_message": True}),
    "TextInput": ("inputs", "Text Input", {"input_value": ""}),
    "URL": ("data", "URL", {"urls": ["https://docs.ai-orchestrator.com/"], "format": "Text"}),
    "ParseData": ("processing", "Parse Data", {"template": "{text}", "sep": "\n"}),
    "Prompt": ("prompts", "Prompt", {"template": "Answer from the context.\n{context}\nQuestion: {question}"}),
    "OpenAIModel": ("models", "OpenAI", {"model_name": "gpt-4o-mini", "temperature": 0.1, "api_key": CRED}),
    "SplitText": ("processing", "Split Text", {"chunk_size": 1000, "chunk_overlap": 200}),
    "Memory": ("helpers", "Message History", {"n_messages": 100, "order": "Ascending"}),
    "ConditionalRouter": ("logic", "If-Else", {"operator": "equals", "match_text": "ok"}),
    "ChatOutput": ("outputs", "Chat Output", {"sender": "Machine", "should_store_message": True}),
}
LANGFLOW_STEPS = ("URL", "ParseData", "Prompt", "OpenAIModel", "SplitText", "Memory", "ConditionalRouter")


def langflow_field(name: str, value) -> dict:
    if value is CRED:
        return {"name": name, "display_name": "OpenAI API Key", "type": "str", "required": True, "show": True,
                "password": True, "load_from_db": True, "value": "OPENAI_API_KEY", "advanced": False}
    kind = {bool: "bool", int: "int", float: "float", list: "str", str: "str"}[type(value)]
    return {"name": name, "display_name": name.replace("_", " ").title(), "type": kind, "required": False,
            "show": True, "password": False, "value": value, "advanced": False, "list": isinstance(value, list)}


def langflow_node(flow: str, component: str, x: int) -> dict:
    category, display, fields = LANGFLOW_COMPONENTS[component]
    node_id = f"{component}-{short_id('langflow', flow, component, size=5)}"
    template = {name: langflow_field(name, value) for name, value in fields.items()}
    template["_type"] = "Component"
    return {"id": node_id, "type": "genericNode", "position": {"x": x, "y": 200},
            "data": {"id": node_id, "type": component,
                     "node": {"display_name": display, "description": "", "template": template,
                              "base_classes": ["Message"], "outputs": [{"name": "message", "types": ["Message"]}]}}}


def langflow_edge(source: dict, target: dict) -> dict:
    src, tgt = source["id"], target["id"]
    return {"id": f"reactflow__edge-{src}-{tgt}", "source": src, "target": tgt,
            "sourceHandle": f"{{œdataTypeœ:œ{source['data']['type']}œ,œidœ:œ{src}œ}}",
            "targetHandle": f"{{œfieldNameœ:œinput_valueœ,œidœ:œ{tgt}œ}}",
            "data": {"sourceHandle": {"dataType": source["data"]["type"], "id": src, "name": "message",
                                      "output_types": ["Message"]},
                     "targetHandle": {"fieldName": "input_value", "id": tgt, "inputTypes": ["Message"],
                                      "type": "str"}}}


def langflow_definition(n: int, name: str, trigger: str, steps: int) -> dict:
    chain = [langflow_node(name, "TextInput" if trigger == "schedule" else "ChatInput", 0)]
    chain += [langflow_node(name, LANGFLOW_STEPS[(n + i) % len(LANGFLOW_STEPS)], 320 * (i + 1))
              for i in range(steps)]
    chain.append(langflow_node(name, "ChatOutput", 320 * (steps + 1)))
    return {"nodes": chain, "edges": [langflow_edge(a, b) for a, b in zip(chain, chain[1:])],
            "viewport": {"x": 0, "y": 0, "zoom": 0.8}}


def langflow_all() -> dict:
    """GET /api/v1/all: the installed components by category."""
    out: dict[str, dict] = {}
    for component, (category, display, fields) in LANGFLOW_COMPONENTS.items():
        template = {name: langflow_field(name, value) for name, value in fields.items()}
        out.setdefault(category, {})[component] = {"display_name": display, "template": template,
                                                   "base_classes": ["Message"], "beta": False}
    return out


# -- Workflows of both engines ------------------------------------------------------------

BREAKS = ("node_type", "remove_node", "credentials", "parameter")


class Workflow:
    """One workflow on an engine: its current definition (the engine's own JSON), its versions
    and what a drill break changed."""

    def __init__(self, engine: str, n: int, base: str, trigger: str):
        self.engine, self.n, self.trigger = engine, n, trigger
        self.name = f"{engine}-{base}"
        self.orchestrator_id = ORCHESTRATOR_ID_BASE[engine] + n
        self.id = short_id("n8n", self.name) if engine == "n8n" else stable_uuid("langflow", self.name)
        self.team = TEAMS[base]
        self.path = base
        self.versions: list[dict] = []
        steps = 2 + n % 5  # the `steps` of orchestrator.sql's definition
        count = 1 + n % 3  # and its `version`: earlier versions had fewer steps
        for v, when in enumerate(seed_times(n, count)):
            self.save(self.build(max(1, steps - (count - 1 - v))), when, "ben@ai-orchestrator.com",
                      "created" if v == 0 else "added a step")
        self.active = n < 8
        self.broken: dict | None = None
        self.before_break: dict | None = None

    def build(self, steps: int) -> dict:
        builder = n8n_definition if self.engine == "n8n" else langflow_definition
        return builder(self.n, self.name, self.trigger, steps)

    def save(self, definition: dict, when: float, author: str, note: str) -> None:
        version = stable_uuid(self.engine, self.name, len(self.versions) + 1) if when <= SEEDED_AT else str(uuid.uuid4())
        self.versions.append({"version": version, "number": len(self.versions) + 1, "at": when,
                              "author": author, "note": note, "definition": json.loads(json.dumps(definition))})

    @property
    def definition(self) -> dict:
        return self.versions[-1]["definition"]

    @property
    def created(self) -> float:
        return self.versions[0]["at"]

    def tags(self) -> list[str]:
        return [f"{OWNER_TAG}{self.team}"] if self.team else []

    def raw(self) -> dict:
        """The workflow as the engine's API returns it."""
        current = self.versions[-1]
        definition = json.loads(json.dumps(current["definition"]))
        if self.engine == "n8n":
            return {"id": self.id, "name": self.name, "active": self.active,
                    "createdAt": iso(self.created), "updatedAt": iso(current["at"]),
                    "nodes": definition["nodes"], "connections": definition["connections"],
                    "settings": {"executionOrder": "v1", "saveDataErrorExecution": "all",
                                 "saveDataSuccessExecution": "all", "callerPolicy": "workflowsFromSameOwner"},
                    "staticData": None, "meta": {"templateCredsSetupCompleted": True}, "pinData": {},
                    "versionId": current["version"], "triggerCount": 1,
                    "tags": [{"id": short_id("tag", t), "name": t, "createdAt": iso(self.created),
                              "updatedAt": iso(self.created)} for t in self.tags()]}
        return {"id": self.id, "name": self.name, "description": f"{self.name} ({self.trigger})",
                "icon": None, "icon_bg_color": None, "gradient": None, "data": definition,
                "is_component": False, "updated_at": iso(current["at"]), "webhook": self.trigger == "webhook",
                "endpoint_name": self.name, "tags": self.tags(), "locked": False,
                "user_id": stable_uuid("langflow-user", "ben"), "folder_id": stable_uuid("langflow-folder", "ai-orchestrator")}

    def summary(self) -> dict:
        return {"engine": self.engine, "id": self.id, "name": self.name, "orchestrator_id": self.orchestrator_id,
                "active": self.active, "owner": self.team, "version": self.versions[-1]["version"],
                "versions": len(self.versions), "broken": self.broken}

    def history(self) -> list[dict]:
        return [{k: (iso(v) if k == "at" else v) for k, v in version.items() if k != "definition"}
                for version in self.versions]

    # Breaks: what a careless edit does to a definition.
    def steps(self) -> list[dict]:
        nodes = self.definition["nodes"]
        if self.engine == "n8n":
            return [x for x in nodes if N8N_NODE_TYPES.get(x["type"], ("", 0, ""))[2] != "trigger"
                    and x["type"] != "n8n-nodes-base.respondToWebhook"]
        return [x for x in nodes if x["data"]["type"] not in ("ChatInput", "TextInput", "ChatOutput")]

    def node_name(self, node: dict) -> str:
        return node["name"] if self.engine == "n8n" else node["id"]

    def needs_credentials(self, node: dict) -> bool:
        if self.engine == "n8n":
            return bool(node.get("credentials"))
        return any(isinstance(f, dict) and f.get("password") for f in node["data"]["node"]["template"].values())

    def break_definition(self, how: str, node_name: str | None) -> tuple[dict, str]:
        definition = json.loads(json.dumps(self.definition))
        steps = self.steps()
        if node_name:
            target = next((x for x in steps if node_name in (self.node_name(x), x.get("name"),
                                                             x.get("data", {}).get("type"))), None)
            if target is None:
                raise ValueError(f"{self.name} has no step {node_name!r}; steps: "
                                 + ", ".join(self.node_name(x) for x in steps))
        elif how in ("credentials", "node_type"):
            target = next((x for x in steps if self.needs_credentials(x)), None)
            if target is None and how == "credentials":
                raise ValueError(f"no step of {self.name} uses credentials")
            target = target or steps[0]
        elif how == "parameter":
            target = next((x for x in steps if self.parameter_to_break(x)), None)
            if target is None:
                raise ValueError(f"no step of {self.name} has a URL or model parameter")
        else:
            target = steps[0]
        name = self.node_name(target)
        nodes = definition["nodes"]
        node = next(x for x in nodes if self.node_name(x) == name)
        if how == "node_type":  # a community node that is not installed here
            if self.engine == "n8n":
                node["type"] = "n8n-nodes-community." + node["type"].rsplit(".", 1)[1]
            else:
                node["data"]["type"] = node["data"]["type"] + "Legacy"
        elif how == "remove_node":  # deleted, but what led to it still points at it
            nodes.remove(node)
            if self.engine == "n8n":
                definition["connections"].pop(name, None)
            else:
                definition["edges"] = [e for e in definition["edges"] if e["source"] != name]
        elif how == "credentials":
            if self.engine == "n8n":
                node.pop("credentials", None)
            else:
                for field in node["data"]["node"]["template"].values():
                    if isinstance(field, dict) and field.get("password"):
                        field["value"] = ""
        elif how == "parameter":
            key, value = self.parameter_to_break(node)
            if self.engine == "n8n":
                node["parameters"][key] = value
            else:
                node["data"]["node"]["template"][key]["value"] = value
        else:
            raise ValueError(f"how must be one of {', '.join(BREAKS)}")
        return definition, name

    def parameter_to_break(self, node: dict):
        params = node["parameters"] if self.engine == "n8n" else {
            k: v.get("value") for k, v in node["data"]["node"]["template"].items() if isinstance(v, dict)}
        if "url" in params:
            return "url", params["url"].replace("workflow-service", "workflow-service.invalid")
        if "urls" in params:
            return "urls", ["https://docs.ai-orchestrator.invalid/"]
        for key in ("modelId", "model_name"):
            if key in params:
                return key, RETIRED_MODELS[0]
        return None

    def break_it(self, how: str, node_name: str | None) -> dict:
        definition, name = self.break_definition(how, node_name)
        if self.broken is None:
            self.before_break = json.loads(json.dumps(self.definition))
        self.save(definition, time.time(), "eva@ai-orchestrator.com", f"edited {name}")
        self.broken = {"how": how, "node": name}
        return {**self.summary(), "node": name}

    def repair(self) -> dict:
        repaired = self.broken is not None
        if repaired:
            self.save(self.before_break, time.time(), "ben@ai-orchestrator.com", "restored the last good version")
            self.broken, self.before_break = None, None
        return {**self.summary(), "repaired": repaired}


def run_graph(wf: Workflow, definition: dict) -> tuple[list[str], str | None, str | None, str]:
    """Run a definition as the engine would: (nodes run in order, the node that failed, its error,
    the error's class name). Stops at the first failure."""
    n8n = wf.engine == "n8n"
    if n8n:
        nodes = {x["name"]: x for x in definition["nodes"]}
        nexts = {src: [c["node"] for out in conn.get("main", []) for c in out or []]
                 for src, conn in definition["connections"].items()}
        start = [x["name"] for x in definition["nodes"] if x["type"] == "n8n-nodes-base.webhook"]
    else:
        nodes = {x["id"]: x for x in definition["nodes"]}
        nexts: dict[str, list[str]] = {}
        for edge in definition["edges"]:
            nexts.setdefault(edge["source"], []).append(edge["target"])
        start = [x["id"] for x in definition["nodes"]
                 if LANGFLOW_COMPONENTS.get(x["data"]["type"], ("",))[0] == "inputs"]
    ran: list[str] = []
    queue, seen = list(start), set(start)
    while queue:
        name = queue.pop(0)
        node = nodes[name]
        error, kind = node_error(wf, node)
        ran.append(name)
        if error:
            return ran, name, error, kind
        for target in nexts.get(name, []):
            if target not in nodes:
                where = f'Node "{name}" is connected to "{target}"' if n8n else f"Edge from {name} targets {target}"
                return ran, name, f"{where}, which does not exist in the workflow", "WorkflowOperationError"
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return ran, None, None, ""


def node_error(wf: Workflow, node: dict) -> tuple[str | None, str]:
    if wf.engine == "n8n":
        if node.get("disabled"):
            return None, ""
        spec = N8N_NODE_TYPES.get(node["type"])
        if spec is None:
            return f"Unrecognized node type: {node['type']}", "NodeOperationError"
        if spec[3] and spec[3] not in (node.get("credentials") or {}):
            return f'Node "{node["name"]}" does not have any credentials set for "{spec[3]}"', "NodeOperationError"
        params = node.get("parameters") or {}
    else:
        component = node["data"]["type"]
        display = node["data"]["node"].get("display_name", component)
        if component not in LANGFLOW_COMPONENTS:
            return (f"Error building Component {display}: component type '{component}' is not installed",
                    "ComponentBuildError")
        template = node["data"]["node"]["template"]
        for field in template.values():
            if isinstance(field, dict) and field.get("required") and field.get("value") in ("", None):
                return f"Error building Component {display}: {field['name']} is required", "ComponentBuildError"
        params = {k: v.get("value") for k, v in template.items() if isinstance(v, dict)}
    for value in params.values():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and ".invalid" in text:
                host = urlsplit(text).hostname or text
                prefix = "" if wf.engine == "n8n" else f"Error building Component {display}: "
                return f"{prefix}getaddrinfo ENOTFOUND {host}", "NodeApiError"
            if text in RETIRED_MODELS:
                prefix = "" if wf.engine == "n8n" else f"Error building Component {display}: "
                return f"{prefix}The model `{text}` has been deprecated", "NodeApiError"
    return None, ""


class Engines:
    """Every engine's workflows, executions and traces; one lock for all of it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seed()
        self.n8n_executions: deque = deque(maxlen=EXECUTIONS_KEPT)
        self.next_execution = 1000
        self.langflow_runs: deque = deque(maxlen=EXECUTIONS_KEPT)
        self.runs: deque = deque(maxlen=RUNS_KEPT)
        self.project = {"id": stable_uuid("langsmith", TRACE_PROJECT), "name": TRACE_PROJECT,
                        "tenant_id": stable_uuid("langsmith", "tenant"), "start_time": iso(SEEDED_AT - 90 * 86400),
                        "description": "Runs of the AI Orchestrator's workflows", "reference_dataset_id": None}

    def seed(self) -> None:
        self.workflows = {e: {} for e in ("n8n", "langflow")}
        for engine in self.workflows:
            for n, base, trigger in WORKFLOW_SEEDS:
                wf = Workflow(engine, n, base, trigger)
                self.workflows[engine][wf.id] = wf

    def reset(self) -> None:
        """Every workflow as shipped (history of executions and runs kept)."""
        with self.lock:
            self.seed()

    def find(self, engine: str, ref: str) -> Workflow:
        if engine not in self.workflows:
            raise LookupError(f"{engine} has no workflow definitions (engines with them: n8n, langflow)")
        found = self.workflows[engine].get(ref) or next(
            (w for w in self.workflows[engine].values() if ref in (w.name, w.path, str(w.orchestrator_id))), None)
        if found is None:
            raise LookupError(f"no {engine} workflow {ref}")
        return found

    def by_path(self, path: str) -> Workflow | None:
        return next((w for w in self.workflows["n8n"].values() if w.active and any(
            x["type"] == "n8n-nodes-base.webhook" and x["parameters"].get("path") == path
            for x in w.definition["nodes"])), None)

    # -- running ---------------------------------------------------------------------------

    def execute(self, wf: Workflow, mode: str) -> dict:
        """Run a workflow now; record the execution (and its trace). Returns the record."""
        started = time.time()
        with self.lock:
            definition = json.loads(json.dumps(wf.definition))
        ran, failed, error, kind = run_graph(wf, definition)
        stopped = time.time()
        with self.lock:
            if wf.engine == "n8n":
                record = self.n8n_record(wf, definition, mode, started, stopped, ran, failed, error, kind)
                self.n8n_executions.append(record)
                execution_id = str(record["id"])
            else:
                record = self.langflow_record(wf, definition, started, ran, failed, error)
                self.langflow_runs.append(record)
                execution_id = record["id"]
        self.trace(wf.engine, wf.name, wf.id, wf.orchestrator_id, execution_id, started, stopped, error, failed)
        return record

    def n8n_record(self, wf, definition, mode, started, stopped, ran, failed, error, kind) -> dict:
        self.next_execution += 1
        nodes = {x["name"]: x for x in definition["nodes"]}
        run_data = {name: [{"startTime": int(started * 1000), "executionTime": 1, "source": [],
                            "executionStatus": "error" if name == failed else "success",
                            **({"error": {"message": error}} if name == failed else
                               {"data": {"main": [[{"json": {"ok": True}}]]}})}] for name in ran}
        result: dict = {"runData": run_data, "lastNodeExecuted": ran[-1] if ran else None}
        if failed:
            result["error"] = {"message": error, "name": kind, "node": nodes[failed],
                               "timestamp": int(stopped * 1000), "description": None,
                               "stack": f"{kind}: {error}\n    at ExecuteContext.execute"}
        return {"id": self.next_execution, "finished": not failed, "mode": mode, "retryOf": None,
                "retrySuccessId": None, "startedAt": iso(started), "stoppedAt": iso(stopped),
                "workflowId": wf.id, "waitTill": None, "customData": {},
                "status": "error" if failed else "success",
                "data": {"startData": {}, "resultData": result,
                         "executionData": {"contextData": {}, "nodeExecutionStack": [], "waitingExecution": {}}},
                "_ts": started}

    def langflow_record(self, wf, definition, started, ran, failed, error) -> dict:
        run_id = str(uuid.uuid4())
        nodes = {x["id"]: x for x in definition["nodes"]}
        targets = {e["source"]: e["target"] for e in definition["edges"]}
        transactions, builds = [], {}
        for i, vertex in enumerate(ran):
            ts = iso(started + i * 0.001)
            bad = vertex == failed
            transactions.append({"id": str(uuid.uuid4()), "timestamp": ts, "vertex_id": vertex,
                                 "target_id": None if bad else targets.get(vertex),
                                 "inputs": {"input_value": "drill"}, "outputs": None if bad else {"message": "ok"},
                                 "status": "error" if bad else "success", "error": error if bad else None,
                                 "flow_id": wf.id})
            builds[vertex] = {"id": vertex, "valid": not bad, "params": error if bad else None,
                              "data": {"results": {}} if bad else {"results": {"message": {"text": "ok"}}},
                              "artifacts": {}, "timestamp": ts, "flow_id": wf.id, "build_id": str(uuid.uuid4()),
                              "node_type": nodes[vertex]["data"]["type"]}
        return {"id": run_id, "flow_id": wf.id, "_ts": started, "failed": failed, "error": error,
                "transactions": transactions, "builds": builds}

    def last_failure(self, engine: str, name: str, since: float) -> dict | None:
        """The newest failed execution of a workflow that started at `since` or later:
        {execution, node, error}, or None (the request failed before the engine ran it)."""
        with self.lock:
            records = self.n8n_executions if engine == "n8n" else self.langflow_runs if engine == "langflow" else ()
            wf = next((w for w in self.workflows.get(engine, {}).values() if w.name == name), None)
            for record in reversed(records):
                if record["_ts"] < since - 0.001:
                    return None
                if wf is not None and record.get("workflowId", record.get("flow_id")) == wf.id:
                    if engine == "n8n" and record["status"] == "error":
                        error = record["data"]["resultData"]["error"]
                        return {"execution": record["id"], "node": error["node"]["name"], "error": error["message"]}
                    if engine == "langflow" and record["failed"]:
                        return {"execution": record["id"], "node": record["failed"], "error": record["error"]}
        return None

    def trace(self, engine, name, wf_id, orchestrator_id, execution_id, started, stopped, error, failed) -> None:
        """The engine's LangSmith tracer: lost while LangSmith is down, failing or refuses the key."""
        service = SERVICE_REGISTRY.get("langsmith")
        if service is not None and service.mode["mode"] in ("down", "error"):
            return
        if not KEYS.valid("langsmith", KEYS.configured("langsmith")):
            return
        run_id = str(uuid.uuid4())
        self.add_run({"id": run_id, "trace_id": run_id, "name": name, "run_type": "chain",
                      "start_time": iso(started), "end_time": iso(stopped),
                      "status": "error" if error else "success", "error": error,
                      "inputs": {"engine": engine}, "outputs": None if error else {"ok": True},
                      "extra": {"metadata": {"engine": engine, "workflow_id": wf_id,
                                             "orchestrator_workflow_id": orchestrator_id,
                                             "execution_id": execution_id, "failed_node": failed}},
                      "tags": [engine]})

    def add_run(self, run: dict) -> dict:
        run = {"parent_run_id": None, "session_id": self.project["id"], "tags": [], "extra": {},
               "events": [], "feedback_stats": None, **run}
        run.setdefault("id", str(uuid.uuid4()))
        run.setdefault("trace_id", run["id"])
        run.setdefault("start_time", now_iso())
        run.setdefault("status", "error" if run.get("error") else "success")
        run["dotted_order"] = run["start_time"].replace("-", "").replace(":", "").replace(".", "") + run["id"]
        with self.lock:
            self.runs.append(run)
        return run


ENGINES_STATE = Engines()
SERVICE_REGISTRY: dict[str, "Service"] = {}


def query_flag(req, name: str) -> bool | None:
    value = (req["query"].get(name) or [None])[0]
    return None if value is None else value.lower() in ("true", "1", "yes")


def query_int(req, name: str, default: int, low: int = 1, high: int = 250) -> int:
    try:
        value = int((req["query"].get(name) or [default])[0])
    except ValueError:
        raise BadRequest(f"{name} must be a number")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


class BadRequest(ValueError):
    pass


def paginate_cursor(items: list, req, limit_default: int = 100) -> tuple[list, str | None]:
    """n8n's cursor pagination: the cursor encodes the offset."""
    limit = query_int(req, "limit", limit_default)
    cursor = (req["query"].get("cursor") or [None])[0]
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("cursor is not valid")
    page = items[offset:offset + limit]
    more = offset + limit < len(items)
    return page, base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None


# -- n8n handlers ---------------------------------------------------------------------------


def n8n_workflows(req):
    state = ENGINES_STATE
    active = query_flag(req, "active")
    tags = [t for t in ",".join(req["query"].get("tags") or []).split(",") if t]
    name = (req["query"].get("name") or [None])[0]
    with state.lock:
        items = [w.raw() for w in state.workflows["n8n"].values()]
    items = [w for w in items if (active is None or w["active"] == active) and (name is None or w["name"] == name)
             and all(t in {x["name"] for x in w["tags"]} for t in tags)]
    page, cursor = paginate_cursor(items, req)
    return 200, {"data": page, "nextCursor": cursor}


def n8n_workflow(req):
    state = ENGINES_STATE
    with state.lock:
        wf = state.workflows["n8n"].get(req["params"]["id"])
        return (200, wf.raw()) if wf else (404, {"message": "Not Found"})


def n8n_set_active(active: bool):
    def handler(req):
        state = ENGINES_STATE
        with state.lock:
            wf = state.workflows["n8n"].get(req["params"]["id"])
            if wf is None:
                return 404, {"message": "Not Found"}
            wf.active = active
            return 200, wf.raw()
    return handler


def n8n_public_execution(record: dict, include_data: bool) -> dict:
    out = {k: v for k, v in record.items() if not k.startswith("_") and k != "data"}
    if include_data:
        out["data"] = record["data"]
    return out


def n8n_executions(req):
    state = ENGINES_STATE
    status = (req["query"].get("status") or [None])[0]
    if status not in (None, "error", "success", "waiting", "running", "canceled"):
        raise BadRequest("status must be one of error, success, waiting, running, canceled")
    workflow = (req["query"].get("workflowId") or [None])[0]
    include = bool(query_flag(req, "includeData"))
    with state.lock:
        items = list(reversed(state.n8n_executions))  # newest first
    items = [e for e in items if (status is None or e["status"] == status)
             and (workflow is None or e["workflowId"] == workflow)]
    page, cursor = paginate_cursor(items, req)
    return 200, {"data": [n8n_public_execution(e, include) for e in page], "nextCursor": cursor}


def n8n_execution(req):
    state = ENGINES_STATE
    try:
        wanted = int(req["params"]["id"])
    except ValueError:
        return 404, {"message": "Not Found"}
    with state.lock:
        record = next((e for e in state.n8n_executions if e["id"] == wanted), None)
    if record is None:
        return 404, {"message": "Not Found"}
    return 200, n8n_public_execution(record, bool(query_flag(req, "includeData")))


def n8n_nodes(req):
    return 200, n8n_nodes_json()


def n8n_webhook(req):
    path = req["params"]["path"]
    wf = ENGINES_STATE.by_path(path)
    if wf is None:
        return 404, {"code": 404, "message": f'The requested webhook "{req["method"]} {path}" is not registered.',
                     "hint": "The workflow must be active for a production URL to run successfully."}
    record = ENGINES_STATE.execute(wf, "webhook")
    if record["status"] == "error":
        return 500, {"code": 0, "message": "Error in workflow"}
    return 200, {"ok": True, "executionId": str(record["id"]), "workflow": wf.name}


# -- Langflow handlers ----------------------------------------------------------------------


def langflow_flows(req):
    state = ENGINES_STATE
    with state.lock:
        items = [w.raw() for w in state.workflows["langflow"].values()]
    if query_flag(req, "get_all") is False:
        size = query_int(req, "size", 50, high=1000)
        page = query_int(req, "page", 1, high=100000)
        return 200, {"items": items[(page - 1) * size:page * size], "total": len(items), "page": page,
                     "size": size, "pages": -(-len(items) // size)}
    return 200, items


def langflow_find(ref: str) -> Workflow | None:
    try:
        return ENGINES_STATE.find("langflow", ref)
    except LookupError:
        return None


def langflow_flow(req):
    with ENGINES_STATE.lock:
        wf = langflow_find(req["params"]["id"])
        return (200, wf.raw()) if wf else (404, {"detail": "Flow not found"})


def langflow_run(req):
    wf = langflow_find(req["params"]["id"])
    if wf is None:
        return 404, {"detail": f"Flow identifier {req['params']['id']} not found"}
    record = ENGINES_STATE.execute(wf, "api")
    if record["failed"]:
        return 500, {"detail": record["error"]}
    last = record["transactions"][-1]["vertex_id"] if record["transactions"] else None
    return 200, {"session_id": record["id"], "outputs": [
        {"inputs": {"input_value": (req.get("json") or {}).get("input_value", "")},
         "outputs": [{"results": {"message": {"text": "ok"}}, "artifacts": {}, "outputs": {},
                      "logs": {}, "messages": [], "component_display_name": "Chat Output",
                      "component_id": last}]}]}


def langflow_flow_id(req) -> str:
    flow_id = (req["query"].get("flow_id") or [None])[0]
    if not flow_id:
        raise BadRequest("flow_id is required")
    return flow_id


def langflow_transactions(req):
    flow_id = langflow_flow_id(req)
    size = query_int(req, "size", 50, high=100)
    page = query_int(req, "page", 1, high=1000000)
    with ENGINES_STATE.lock:
        runs = [r for r in ENGINES_STATE.langflow_runs if r["flow_id"] == flow_id]
    items = [t for r in reversed(runs) for t in reversed(r["transactions"])]  # newest first
    return 200, {"items": items[(page - 1) * size:page * size], "total": len(items), "page": page,
                 "size": size, "pages": -(-len(items) // size)}


def langflow_builds(req):
    flow_id = langflow_flow_id(req)
    with ENGINES_STATE.lock:
        runs = [r for r in ENGINES_STATE.langflow_runs if r["flow_id"] == flow_id]
    builds: dict[str, list] = {}
    for run in runs[-2:]:  # Langflow keeps the last builds of each vertex only
        for vertex, build in run["builds"].items():
            builds.setdefault(vertex, []).append(build)
    return 200, {"vertex_builds": builds}


def langflow_components(req):
    return 200, langflow_all()


# -- LangSmith handlers -----------------------------------------------------------------------


def langsmith_sessions(req):
    name = (req["query"].get("name") or [None])[0]
    project = ENGINES_STATE.project
    with ENGINES_STATE.lock:
        count = len(ENGINES_STATE.runs)
    items = [{**project, "run_count": count}] if name in (None, project["name"]) else []
    return 200, items[:query_int(req, "limit", 100, high=100)]


FILTER_EQ = re.compile(r'^eq\((\w+),\s*"([^"]*)"\)$')


def langsmith_filter(text: str | None):
    """The part of LangSmith's filter language the drill needs: eq(field, "value") and and(...)."""
    if not text:
        return lambda run: True
    text = text.strip()
    if text.startswith("and(") and text.endswith(")"):
        parts = [langsmith_filter(p) for p in re.split(r",\s*(?=eq\()", text[4:-1])]
        return lambda run: all(p(run) for p in parts)
    match = FILTER_EQ.match(text)
    if not match:
        raise BadRequest(f"unsupported filter {text!r} (the drill knows eq(field, \"value\") and and(...))")
    field, value = match.groups()
    return lambda run: str(run.get(field) if field in run else run["extra"].get("metadata", {}).get(field)) == value


def langsmith_runs_query(req):
    body = req.get("json") or {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    sessions = body.get("session")
    error = body.get("error")
    is_root = body.get("is_root")
    start = body.get("start_time")
    trace = body.get("trace")
    limit = int(body.get("limit") or 100)
    if not 1 <= limit <= 100:
        raise BadRequest("limit must be between 1 and 100")
    keep = langsmith_filter(body.get("filter"))
    with ENGINES_STATE.lock:
        runs = list(reversed(ENGINES_STATE.runs))
    runs = [r for r in runs if (not sessions or r["session_id"] in sessions)
            and (error is None or bool(r.get("error")) == bool(error))
            and (is_root is None or (r.get("parent_run_id") is None) == bool(is_root))
            and (not start or parse_time(r["start_time"]) >= parse_time(start))
            and (not trace or r["trace_id"] == trace) and keep(r)]
    try:
        offset = int(body.get("cursor") or 0)
    except ValueError:
        raise BadRequest("cursor is not valid")
    page = runs[offset:offset + limit]
    return 200, {"runs": page, "cursors": {"next": str(offset + limit) if offset + limit < len(runs) else None,
                                           "prev": None}}


def langsmith_create_run(req):
    body = req.get("json")
    if not isinstance(body, dict) or not body.get("name"):
        raise BadRequest("a run needs at least a name")
    ENGINES_STATE.add_run({k: v for k, v in body.items() if k != "session_name"})
    return 202, {}


def langsmith_batch(req):
    body = req.get("json") or {}
    for run in (body.get("post") or []):
        if isinstance(run, dict) and run.get("name"):
            ENGINES_STATE.add_run({k: v for k, v in run.items() if k != "session_name"})
    return 202, {}


def langsmith_run(req):
    with ENGINES_STATE.lock:
        run = next((r for r in ENGINES_STATE.runs if r["id"] == req["params"]["id"]), None)
    return (200, run) if run else (404, {"detail": "Run not found"})


# -- The gateway running workflows on the engines ----------------------------------------------

ORCHESTRATOR_WORKFLOWS = {ORCHESTRATOR_ID_BASE[e] + n: (e, n, f"{e}-{base}", n < 8)
                          for e in ("langflow", "n8n", "langsmith") for n, base, _t in WORKFLOW_SEEDS}


def engine_call(service: str, method: str, path: str, body=None, headers=None,
                timeout: float = SYNTHETIC_TIMEOUT, synthetic: bool = True) -> str:
    """One request of the gateway to an engine: "" when it succeeded, else why not."""
    spec = SERVICES[service]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{HOST}:{spec['port']}{path}", data=data, method=method,
                                     headers={**({SYNTHETIC_HEADER: "1"} if synthetic else {}),
                                              **({"Content-Type": "application/json"} if data else {}),
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            resp.read()
            return ""
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}")
        except ValueError:
            detail = {}
        message = detail.get("message") or detail.get("detail") or detail.get("error") or ""
        return f"HTTP {exc.code}" + (f": {message}" if message else "")
    except (OSError, urllib.error.URLError) as exc:
        return str(getattr(exc, "reason", exc))


class AdapterLog:
    """What the execution-service's engine adapter logs when an execution fails: lines appended
    to the file kwok serves as `kubectl logs` of its containers (drill/kwok/logs.yaml, CRI
    format), at most LINES_PER_SECOND (a burst of failures is summarised by its count), the
    file kept to its last KEEP_LINES lines. Nothing is written while the cluster is not up."""

    LINES_PER_SECOND = 5
    KEEP_LINES = 2000

    def __init__(self, container: str = "execution-service"):
        self.container = container  # the log file kwok serves for this container name
        self.lock = threading.Lock()
        self.second, self.written, self.dropped, self.appended = 0, 0, 0, 0

    def path(self) -> Path:
        logs = os.environ.get("DRILL_KWOK_LOGS") or str(
            drill_run() / f"cluster-{os.environ.get('DRILL_CLUSTER_NAME', 'aio-drill')}" / "logs")
        return Path(logs) / f"{self.container}.log"

    def failed(self, engine: str, orchestrator_id: int, name: str, error: str, detail: dict | None) -> None:
        fields = {"engine": engine, "workflow_id": orchestrator_id, "workflow": name,
                  "execution": (detail or {}).get("execution") or "-", "node": (detail or {}).get("node") or "-"}
        message = (detail or {}).get("error") or error
        text = " ".join(f"{k}={json.dumps(v) if ' ' in str(v) else v}" for k, v in fields.items())
        text += f" error={json.dumps(message)}"
        self.write("error", "workflow execution failed", text)

    def write(self, level: str, event: str, fields: str) -> None:
        path = self.path()
        if not path.parent.is_dir():
            return
        now = time.time()
        with self.lock:
            if int(now) != self.second:
                self.second, self.written = int(now), 0
            if self.written >= self.LINES_PER_SECOND:
                self.dropped += 1
                return
            self.written += 1
            stamp = datetime.fromtimestamp(now, timezone.utc)
            cri = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}000Z"
            lines = []
            if self.dropped:
                lines.append(f"{cri} stderr F {iso(now)} [warning  ] {'log lines suppressed':<30} count={self.dropped}")
                self.dropped = 0
            lines.append(f"{cri} stderr F {iso(now)} [{level:<9}] {event:<30} {fields}")
            try:
                with open(path, "a") as handle:
                    handle.write("".join(line + "\n" for line in lines))
                self.appended += len(lines)
                if self.appended >= 500:
                    self.appended = 0
                    self.trim(path)
            except OSError:
                pass  # the cluster went down meanwhile

    def trim(self, path: Path) -> None:
        with open(path) as handle:
            lines = handle.readlines()
        if len(lines) > self.KEEP_LINES:
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(lines[-self.KEEP_LINES:]))
            os.replace(tmp, path)


ADAPTER_LOG = AdapterLog()
GATEWAY_LOG = AdapterLog("api-gateway")  # the api-gateway pods' `kubectl logs`: its failed requests


def gateway_execute(orchestrator_id: int, synthetic: bool = True) -> str:
    """Run one of the orchestrator's workflows on its engine, as the gateway does; a failure is
    logged by the engine adapter (AdapterLog) with what the engine recorded about it."""
    engine, _n, name, _active = ORCHESTRATOR_WORKFLOWS[orchestrator_id]
    started = time.time()
    error = gateway_request(engine, name, orchestrator_id, synthetic)
    if error:
        detail = ENGINES_STATE.last_failure(engine, name, started)
        ADAPTER_LOG.failed(engine, orchestrator_id, name, error, detail)
    return error


def gateway_request(engine: str, name: str, orchestrator_id: int, synthetic: bool) -> str:
    if engine == "n8n":
        return engine_call("n8n", "POST", f"/webhook/{name.split('-', 1)[1]}", {"source": "api-gateway"},
                           synthetic=synthetic)
    key = {API_KEY_HEADERS[engine]: KEYS.configured(engine) or ""}
    if engine == "langflow":
        return engine_call("langflow", "POST", f"/api/v1/run/{stable_uuid('langflow', name)}?stream=false",
                           {"input_value": "drill", "input_type": "chat", "output_type": "chat"}, key,
                           synthetic=synthetic)
    now = now_iso()
    return engine_call("langsmith", "POST", "/api/v1/runs",
                       {"name": name, "run_type": "chain", "start_time": now, "end_time": now,
                        "session_name": TRACE_PROJECT, "inputs": {"source": "api-gateway"}, "outputs": {"ok": True},
                        "extra": {"metadata": {"engine": "langsmith", "orchestrator_workflow_id": orchestrator_id}},
                        "tags": ["langsmith"]}, key, synthetic=synthetic)


def gateway_run_workflow(req):
    """POST /api/v1/workflows/<id>/executions: run a workflow now (counted like the scheduled runs)."""
    try:
        orchestrator_id = int(req["params"]["id"])
        engine, _n, name, active = ORCHESTRATOR_WORKFLOWS[orchestrator_id]
    except (ValueError, KeyError):
        return 404, {"error": f"no workflow {req['params']['id']}"}
    if not active:
        return 409, {"error": f"workflow {orchestrator_id} ({name}) is retired"}
    down = database_down()
    if down:
        return down
    synthetic = (req.get("headers") or {}).get(SYNTHETIC_HEADER) == "1"
    rejected = engine_credentials_rejected(engine, name, synthetic)
    if rejected:
        return 502, {"error": f"engine {engine} rejected the gateway's credentials ({rejected})"}
    began = time.monotonic()
    error = gateway_execute(orchestrator_id, synthetic=synthetic)
    record_execution(engine, error, time.monotonic() - began)
    return 200, {"workflow_id": orchestrator_id, "name": name, "engine": engine,
                 "status": "failure" if error else "success", "error": error or None}


def engine_credentials_rejected(engine: str, name: str, synthetic: bool) -> str:
    """The status ("401", "403") with which n8n refuses the gateway's configured API key, or ""
    (accepted, or n8n fails otherwise: the execution then fails as it would). n8n runs go through
    the workflow's webhook, which takes no key: the gateway first looks the workflow up with its
    key (public API). Langflow and LangSmith runs carry the key themselves: a refused key fails
    the execution (200, "status": "failure", counted in workflow_executions_total)."""
    if engine != "n8n":
        return ""
    key = {API_KEY_HEADERS[engine]: KEYS.configured(engine) or ""}
    error = engine_call(engine, "GET", "/api/v1/workflows?limit=1", headers=key, timeout=5, synthetic=synthetic)
    for status in ("401", "403"):
        if error.startswith(f"HTTP {status}"):
            return status
    return ""


def record_execution(engine: str, error: str, seconds: float) -> None:
    metrics = SERVICE_REGISTRY["gateway"].metrics
    if "workflow_executions_total" in metrics.families:
        metrics.inc("workflow_executions_total", (engine, "failure" if error else "success"))
        metrics.observe("workflow_execution_duration_seconds", (engine,), seconds)


SERVICES = {
    "langflow": {"port": env_port("DRILL_LANGFLOW_PORT", 57860), "health": "/health", "routes": {
        ("GET", "/health"): langflow_health,
        ("GET", "/health_check"): langflow_health_check,
        ("GET", "/api/v1/version"): langflow_version,
        ("GET", "/api/v1/flows/"): langflow_flows,
        ("GET", "/api/v1/flows"): langflow_flows,
        ("GET", "/api/v1/flows/{id}"): langflow_flow,
        ("POST", "/api/v1/run/{id}"): langflow_run,
        ("GET", "/api/v1/monitor/builds"): langflow_builds,
        ("GET", "/api/v1/monitor/transactions"): langflow_transactions,
        ("GET", "/api/v1/all"): langflow_components}},
    "n8n": {"port": env_port("DRILL_N8N_PORT", 55678), "health": "/healthz", "routes": {
        ("GET", "/healthz"): n8n_healthz,
        ("GET", "/healthz/readiness"): n8n_healthz,
        ("GET", "/types/nodes.json"): n8n_nodes,
        ("GET", "/api/v1/workflows"): n8n_workflows,
        ("GET", "/api/v1/workflows/{id}"): n8n_workflow,
        ("POST", "/api/v1/workflows/{id}/activate"): n8n_set_active(True),
        ("POST", "/api/v1/workflows/{id}/deactivate"): n8n_set_active(False),
        ("GET", "/api/v1/executions"): n8n_executions,
        ("GET", "/api/v1/executions/{id}"): n8n_execution,
        ("POST", "/webhook/{path}"): n8n_webhook}},
    "langsmith": {"port": env_port("DRILL_LANGSMITH_PORT", 51984), "health": "/ok", "routes": {
        ("GET", "/ok"): langsmith_ok,
        ("GET", "/info"): langsmith_info,
        ("GET", "/api/v1/info"): langsmith_info,
        ("GET", "/api/v1/sessions"): langsmith_sessions,
        ("POST", "/api/v1/runs/query"): langsmith_runs_query,
        ("POST", "/api/v1/runs"): langsmith_create_run,
        ("POST", "/api/v1/runs/batch"): langsmith_batch,
        ("GET", "/api/v1/runs/{id}"): langsmith_run}},
    "gateway": {"port": env_port("DRILL_GATEWAY_PORT", 58080), "health": "/health", "routes": {
        ("GET", "/health"): gateway_health,
        ("GET", "/api/v1/workflows"): gateway_workflows,
        ("GET", "/api/v1/workflows/{id}/executions"): gateway_executions,
        ("POST", "/api/v1/workflows/{id}/executions"): gateway_run_workflow,
        ("POST", "/admin/cache/warmup"): gateway_warmup}},
}


def match_route(routes: dict, method: str, path: str):
    """(handler, path parameters, route label) for a request; handler None when no route of that
    method matches (the label is then the route's pattern, or "unmatched"). Exact routes first."""
    label = "unmatched"
    for exact in (True, False):
        for (verb, pattern), handler in routes.items():
            if ("{" not in pattern) != exact:
                continue
            params = match_pattern(pattern, path)
            if params is None:
                continue
            if verb == method:
                return handler, params, pattern
            label = pattern
    return None, {}, label


def match_pattern(pattern: str, path: str) -> dict | None:
    if "{" not in pattern:
        return {} if pattern == path else None
    want, got = pattern.split("/"), path.split("/")
    if len(want) != len(got):
        return None
    params = {}
    for w, g in zip(want, got):
        if w.startswith("{") and w.endswith("}"):
            if not g:
                return None
            params[w[1:-1]] = unquote(g)
        elif w != g:
            return None
    return params


# What the synthetic traffic asks for, in turn: cheap reads, as most real traffic is (the
# gateway's /health would open PostgreSQL and Redis connections five times a second).
SYNTHETIC_PATHS = {
    "langflow": ("/health", "/api/v1/version", "/health_check"),
    "n8n": ("/healthz", "/healthz/readiness"),
    "langsmith": ("/ok", "/info"),
    # The gateway: its cache-backed list, a DB read and a run on each engine in turn (so that a
    # down database, a slow query, a cold cache and an engine refusing the key all show).
    "gateway": tuple(p for wf in (3, 12, 21) for p in (
        "/api/v1/workflows", f"/api/v1/workflows/{wf}/executions", ("POST", f"/api/v1/workflows/{wf}/executions"))),
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

    def count(self, method: str, route: str, status: int, seconds: float) -> None:
        # The route's pattern is its label (/api/v1/workflows/{id}); anything else counts as
        # "unmatched", so a scanner cannot grow the label set without bound.
        self.metrics.inc("http_requests_total", (route, method, str(status)))
        self.metrics.observe("http_request_duration_seconds", (route, method), seconds)


def parse_mode(body: dict) -> dict:
    """A mode from the control API's body; `by` (optional) names who set it (the pod link sets
    "pod-link" and only ever undoes a mode it set)."""
    mode = body.get("mode")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    by = body.get("by")
    if by is not None and not (isinstance(by, str) and 0 < len(by) <= 64):
        raise ValueError("by must be a short string")
    parsed = parse_mode_options(mode, body)
    return {**parsed, "by": by} if by else parsed


def parse_mode_options(mode: str, body: dict) -> dict:
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
        TRACER.begin(service.name, self.headers)  # tracing: this request's server span starts
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
        handler, record["params"], label = match_route(service.routes, self.command, url.path)
        status, payload = (service.fault(synthetic) or pod_fault(service.name, url.path, synthetic)
                           or self.route(service, handler, label, record))
        record["status"] = status
        if service.name == "gateway" and status >= 500 and url.path.startswith("/api/"):
            log_failed_request(label, self.command, status, payload)
        self.send_json(status, payload)
        service.count(self.command, label, status, time.monotonic() - start)
        TRACER.end(self.command, label, status, payload)  # tracing: ... and is queued for Jaeger

    def route(self, service: Service, handler, label: str, record: dict):
        if service.name in API_KEY_HEADERS and not is_public(service.name, record["path"]):
            presented = self.headers.get(API_KEY_HEADERS[service.name])
            if not KEYS.valid(service.name, presented):
                return unauthorized(service.name, presented)
        if handler is None:
            if label != "unmatched":
                return 405, {"detail": "Method Not Allowed"}
            return 404, {"detail": "Not Found"}
        try:
            return handler(record)
        except BadRequest as exc:
            return (400, {"message": str(exc)}) if service.name == "n8n" else (422, {"detail": str(exc)})


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
                for engine in API_KEY_HEADERS:
                    KEYS.rotate(engine, None)
                ENGINES_STATE.reset()
                POD_BEHAVIOUR.reset()  # the pod link sets it again from the pods within its poll
                DATABASE.slow_query = False
                return self.send_json(200, {n: s.state() for n, s in services.items()})
            if self.command == "GET" and parts == ["pods"]:
                return self.send_json(200, {n: POD_BEHAVIOUR.get(n) for n in services})
            if self.command == "PUT" and len(parts) == 2 and parts[0] == "pods":
                if parts[1] not in services:
                    return self.send_json(404, {"error": f"unknown service {parts[1]}"})
                return self.send_json(200, {parts[1]: POD_BEHAVIOUR.set(parts[1], json.loads(self.read_body() or b"{}"))})
            if parts == ["db"] and self.command in ("GET", "PUT"):
                if self.command == "PUT":
                    body = json.loads(self.read_body() or b"{}")
                    if not isinstance(body, dict) or not isinstance(body.get("slow_query"), bool):
                        raise ValueError('body must be {"slow_query": true|false}')
                    DATABASE.slow_query = body["slow_query"]
                return self.send_json(200, DATABASE.state())
            if parts and parts[0] == "keys":
                return self.keys(parts)
            if parts and parts[0] == "workflows":
                return self.workflows(parts, parse_qs(url.query))
            return self.send_json(404, {"error": f"no route {self.command} {url.path}"})
        except LookupError as exc:
            return self.send_json(404, {"error": str(exc).strip("'\"")})
        except (ValueError, TypeError) as exc:
            return self.send_json(400, {"error": str(exc)})
        except OSError as exc:  # e.g. the port was taken while the service was down
            return self.send_json(409, {"error": str(exc)})

    def keys(self, parts: list[str]):
        if self.command == "GET" and parts == ["keys"]:
            return self.send_json(200, KEYS.state())
        if self.command == "PUT" and len(parts) == 2:
            if parts[1] not in API_KEY_HEADERS:
                raise LookupError(f"unknown engine {parts[1]} (engines with API keys: {', '.join(API_KEY_HEADERS)})")
            body = json.loads(self.read_body() or b"{}")
            if not isinstance(body, dict) or "api_key" not in body:
                raise ValueError('body must be {"api_key": "<key>"} or {"api_key": null}')
            key = body["api_key"]
            if key is not None and not (isinstance(key, str) and key.strip()):
                raise ValueError("api_key must be a non-empty string or null")
            KEYS.rotate(parts[1], key)
            return self.send_json(200, {parts[1]: KEYS.state()[parts[1]]})
        return self.send_json(404, {"error": f"no route {self.command} /{'/'.join(parts)}"})

    def workflows(self, parts: list[str], query: dict):
        state = ENGINES_STATE
        if self.command == "GET" and parts == ["workflows"]:
            wanted = query.get("engine") or list(state.workflows)
            with state.lock:
                return self.send_json(200, [w.summary() for e in wanted for w in state.workflows.get(e, {}).values()])
        if len(parts) < 3:
            return self.send_json(404, {"error": f"no route {self.command} /{'/'.join(parts)}"})
        with state.lock:
            wf = state.find(parts[1], parts[2])
            if self.command == "GET" and len(parts) == 3:
                return self.send_json(200, {**wf.summary(), "path": wf.path, "workflow": wf.raw(),
                                            "history": wf.history()})
            if self.command == "POST" and parts[3:] == ["break"]:
                body = json.loads(self.read_body() or b"{}")
                how = body.get("how", "node_type")
                if how not in BREAKS:
                    raise ValueError(f"how must be one of {', '.join(BREAKS)}")
                return self.send_json(200, wf.break_it(how, body.get("node")))
            if self.command == "POST" and parts[3:] == ["repair"]:
                return self.send_json(200, wf.repair())
        return self.send_json(404, {"error": f"no route {self.command} /{'/'.join(parts)}"})


# --- Tracing: one span per request, sent to the drill's Jaeger over OTLP/HTTP ------------
#
# Every counted request (not /metrics) becomes one SERVER span: resource service.name the
# Prometheus `service` label (gateway -> api-gateway), name "<METHOD> <route>", attributes
# http.route, http.request.method, http.response.status_code, status ERROR on a 5xx. What
# the gateway calls while it answers (an engine, Redis, PostgreSQL) becomes a CLIENT child
# span; an engine call carries a W3C `traceparent`, so the engine's own server span joins the
# gateway's trace. Calls made outside a request (the workflow runner) are traces of their own.
# Spans are batched and POSTed as OTLP JSON to 127.0.0.1:DRILL_JAEGER_OTLP_PORT/v1/traces
# about every TRACE_INTERVAL seconds by one thread; a request never waits for it: when Jaeger
# is down the batch is dropped, and at most TRACE_QUEUE_LIMIT spans wait (the oldest go
# first). DRILL_JAEGER_OTLP_PORT=0 turns tracing off. Other dependency calls can be traced
# with `with trace_dependency("SELECT orchestrator.workflow_executions", **attributes):`.

TRACE_SERVICE_NAMES = {"gateway": "api-gateway"}  # stand-in -> Prometheus `service` label
TRACE_INTERVAL = 1.0
TRACE_QUEUE_LIMIT = 20000
TRACE_BATCH_LIMIT = 2000  # spans per POST
TRACE_TIMEOUT = 2.0
SPAN_SERVER, SPAN_CLIENT = 2, 3  # OTLP SpanKind
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def _otlp_value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _otlp_attributes(attributes: dict) -> list[dict]:
    return [{"key": k, "value": _otlp_value(v)} for k, v in attributes.items() if v is not None]


class Tracer:
    """Spans of the stand-ins, exported as OTLP/HTTP JSON (see the section's comment)."""

    def __init__(self, port: int):
        self.url = f"http://{HOST}:{port}/v1/traces" if port else None
        self.queue: deque = deque(maxlen=TRACE_QUEUE_LIMIT)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.sent = self.dropped = 0

    # -- the request hooks (ServiceHandler.dispatch) --

    def begin(self, service: str, headers) -> None:
        """A request starts on this thread; `headers` may carry the caller's traceparent."""
        if not self.url:
            return
        try:
            found = _TRACEPARENT.match((headers.get("traceparent") or "").strip().lower())
            self.local.request = {
                "service": TRACE_SERVICE_NAMES.get(service, service),
                "trace_id": found.group(1) if found else os.urandom(16).hex(),
                "parent_id": found.group(2) if found else "",
                "span_id": os.urandom(8).hex(),
                "start_ns": time.time_ns(),
                "synthetic": headers.get(SYNTHETIC_HEADER) == "1",
            }
        except Exception:  # tracing never fails a request
            self.local.request = None

    def end(self, method: str, route: str, status: int, payload=None) -> None:
        """The request on this thread was answered: its server span is queued."""
        ctx = getattr(self.local, "request", None)
        self.local.request = None
        if not self.url or ctx is None:
            return
        try:
            error = status >= 500
            message = ""
            if error and isinstance(payload, dict):
                message = str(payload.get("error") or payload.get("detail") or payload.get("message") or "")
            self.add({
                "service": ctx["service"], "trace_id": ctx["trace_id"], "span_id": ctx["span_id"],
                "parent_id": ctx["parent_id"], "name": f"{method} {route}", "kind": SPAN_SERVER,
                "start_ns": ctx["start_ns"], "end_ns": time.time_ns(),
                "attributes": {"http.route": route, "http.request.method": method,
                               "http.response.status_code": int(status),
                               "drill.synthetic": ctx["synthetic"]},
                "error": error, "message": message or (f"HTTP {status}" if error else "")})
        except Exception:
            pass

    # -- dependency calls --

    def child(self, name: str, attributes: dict | None = None) -> "DependencySpan":
        return DependencySpan(self, name, attributes or {})

    # -- export --

    def add(self, span: dict) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(span)  # deque(maxlen): the oldest span goes when it is full
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self.loop, name="otlp-exporter", daemon=True)
                    self.thread.start()

    def loop(self) -> None:
        while True:
            time.sleep(TRACE_INTERVAL)
            while self.queue:
                batch = []
                while self.queue and len(batch) < TRACE_BATCH_LIMIT:
                    batch.append(self.queue.popleft())
                self.post(batch)

    @staticmethod
    def payload(spans: list[dict]) -> dict:
        """The OTLP/JSON body (ExportTraceServiceRequest) for spans of any services."""
        by_service: dict[str, list] = {}
        for s in spans:
            otlp = {"traceId": s["trace_id"], "spanId": s["span_id"], "name": s["name"], "kind": s["kind"],
                    "startTimeUnixNano": str(s["start_ns"]), "endTimeUnixNano": str(s["end_ns"]),
                    "attributes": _otlp_attributes(s["attributes"]),
                    "status": {"code": 2, "message": s["message"]} if s["error"] else {"code": 0}}
            if s["parent_id"]:
                otlp["parentSpanId"] = s["parent_id"]
            by_service.setdefault(s["service"], []).append(otlp)
        return {"resourceSpans": [
            {"resource": {"attributes": _otlp_attributes({"service.name": name, "service.namespace": "ai-orchestrator",
                                                          "deployment.environment": "drill"})},
             "scopeSpans": [{"scope": {"name": "drill.platform_http"}, "spans": items}]}
            for name, items in by_service.items()]}

    def post(self, batch: list[dict]) -> None:
        data = json.dumps(self.payload(batch)).encode()
        request = urllib.request.Request(self.url, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TRACE_TIMEOUT) as resp:
                resp.read()
            self.sent += len(batch)
        except (OSError, urllib.error.URLError, ValueError):
            self.dropped += len(batch)  # Jaeger down or refusing: these spans are lost, as an SDK would lose them


class DependencySpan:
    """A CLIENT span around one call of the gateway to a dependency: the child of the request
    on this thread, or a trace of its own outside a request. `traceparent()` is the header that
    makes the callee's server span its child."""

    def __init__(self, tracer: Tracer, name: str, attributes: dict):
        self.tracer, self.name, self.attributes = tracer, name, dict(attributes)
        self.error, self.message = False, ""
        ctx = getattr(tracer.local, "request", None) if tracer.url else None
        self.service = ctx["service"] if ctx else TRACE_SERVICE_NAMES["gateway"]
        self.trace_id = ctx["trace_id"] if ctx else os.urandom(16).hex()
        self.parent_id = ctx["span_id"] if ctx else ""
        self.span_id = os.urandom(8).hex()

    def traceparent(self) -> dict:
        return {"traceparent": f"00-{self.trace_id}-{self.span_id}-01"} if self.tracer.url else {}

    def fail(self, message: str) -> None:
        self.error, self.message = True, str(message)[:300]

    def __enter__(self) -> "DependencySpan":
        self.start_ns = time.time_ns()
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None:
            self.fail(str(exc) or kind.__name__)
        if self.tracer.url:
            try:
                self.tracer.add({"service": self.service, "trace_id": self.trace_id, "span_id": self.span_id,
                                 "parent_id": self.parent_id, "name": self.name, "kind": SPAN_CLIENT,
                                 "start_ns": self.start_ns, "end_ns": time.time_ns(),
                                 "attributes": self.attributes, "error": self.error, "message": self.message})
            except Exception:
                pass
        return False


try:
    TRACER = Tracer(env_port("DRILL_JAEGER_OTLP_PORT", 54318))
except ValueError:
    TRACER = Tracer(0)


def trace_dependency(name: str, **attributes) -> DependencySpan:
    """`with trace_dependency("SELECT orchestrator.workflow_executions", **{"db.system": "postgresql"}):`"""
    return TRACER.child(name, attributes)


def _traced_engine_call(call):
    """engine_call with a CLIENT span "<METHOD> <engine>" whose traceparent the engine receives."""
    def traced(service: str, method: str, path: str, body=None, headers=None, *args, **kwargs) -> str:
        attributes = {"peer.service": service, "http.request.method": method,
                      "url.path": urlsplit(path).path, "server.address": HOST,
                      "server.port": SERVICES[service]["port"]}
        with TRACER.child(f"{method} {service}", attributes) as span:
            error = call(service, method, path, body, {**(headers or {}), **span.traceparent()}, *args, **kwargs)
            if error:
                span.fail(error)
            return error
    traced.__doc__ = call.__doc__
    return traced


def _traced_redis_call(call):
    def traced(*commands, **kwargs) -> list:
        names = " ".join(dict.fromkeys(str(c[0]).upper() for c in commands if c)) or "PING"
        with TRACER.child(f"redis {names}", {"db.system": "redis", "db.operation.name": names,
                                              "server.address": HOST,
                                              "server.port": env_port("DRILL_REDIS_PORT", 56379)}):
            return call(*commands, **kwargs)
    traced.__doc__ = call.__doc__
    return traced


def _traced_postgres_probe(call):
    def traced(*args, **kwargs) -> str:
        with TRACER.child("postgres connect", {"db.system": "postgresql", "db.namespace": "orchestrator",
                                               "server.address": HOST,
                                               "server.port": env_port("DRILL_PG_PORT", 55432)}) as span:
            error = call(*args, **kwargs)
            if error:
                span.fail(error)
            return error
    traced.__doc__ = call.__doc__
    return traced


def _traced_executions_query(query):
    """Database.executions with a CLIENT span "SELECT orchestrator.executions" (the statement
    it runs, the slow one while PUT /db slow_query is on, in db.query.text)."""
    def traced(self, workflow_id, *args, **kwargs):
        statement = getattr(self, "SLOW" if getattr(self, "slow_query", False) else "FAST", "")
        with TRACER.child("SELECT orchestrator.executions",
                          {"db.system": "postgresql", "db.namespace": "orchestrator",
                           "db.operation.name": "SELECT", "db.collection.name": "executions",
                           "db.query.text": statement or None, "server.address": HOST,
                           "server.port": env_port("DRILL_PG_PORT", 55432)}):
            return query(self, workflow_id, *args, **kwargs)
    traced.__doc__ = query.__doc__
    return traced


# The gateway's dependency calls, traced where they are defined above (the callers look the
# names up when they run, so they get the traced versions).
engine_call = _traced_engine_call(engine_call)
redis_call = _traced_redis_call(redis_call)
postgres_probe = _traced_postgres_probe(postgres_probe)
if callable(getattr(globals().get("Database"), "executions", None)):
    Database.executions = _traced_executions_query(Database.executions)


# --- Synthetic load: what makes the metrics move -----------------------------------


def synthetic_get(port: int, path: str, timeout: float = SYNTHETIC_TIMEOUT, method: str = "GET") -> None:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers={SYNTHETIC_HEADER: "1"}, method=method,
                                     data=b"{}" if method == "POST" else None)
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

    def one(path) -> None:
        method, path = path if isinstance(path, tuple) else ("GET", path)
        try:
            synthetic_get(service.port, path, method=method)
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
    waits in the queue; one worker runs them in turn, the engine's active workflows round-robin,
    through the engine's API (n8n: the workflow's webhook; Langflow: /api/v1/run/<flow> with the
    API key; LangSmith: the run posted to /api/v1/runs with the API key). An execution fails when
    the engine fails the request or the workflow fails on a node. A slow engine drains the queue
    slower than it fills; a refused connection makes the worker wait ENGINE_RETRY_DELAY, so a
    down engine's queue grows too."""

    def __init__(self, engine: str, metrics: Metrics, interval: float):
        self.engine, self.metrics, self.interval = engine, metrics, interval
        self.workflows = sorted(i for i, (e, _n, _name, active) in ORCHESTRATOR_WORKFLOWS.items()
                                if e == engine and active)
        self.turn = 0
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
        workflow = self.workflows[self.turn % len(self.workflows)]
        self.turn += 1
        error = gateway_execute(workflow)
        record_execution(self.engine, error, time.monotonic() - began)
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
    SERVICE_REGISTRY.update(services)
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
