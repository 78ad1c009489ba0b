# SPDX-License-Identifier: GPL-3.0-or-later
"""Test helpers for the drill's data plane (drill/dataplane.sh).

Settings come from drill/drill.env (as the shell scripts read it) and passwords
from $DRILL_RUN/secrets. The session fixture `dataplane` starts the data plane
unless it is already up; import it from conftest.py:

    from dataplane import dataplane  # noqa: F401  (pytest fixture)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DRILL = REPO / "drill"
DATAPLANE_SH = DRILL / "dataplane.sh"
PODBIN = {"postgres": DRILL / "podbin" / "postgres", "redis": DRILL / "podbin" / "redis"}
HEALTH_PATHS = {"langflow": "/health", "n8n": "/healthz", "langsmith": "/ok", "gateway": "/health"}
PORT_VARS = {"langflow": "DRILL_LANGFLOW_PORT", "n8n": "DRILL_N8N_PORT",
             "langsmith": "DRILL_LANGSMITH_PORT", "gateway": "DRILL_GATEWAY_PORT",
             "control": "DRILL_DRILLCTL_PORT"}


@lru_cache(maxsize=1)
def drill_env() -> dict[str, str]:
    """DRILL_* settings exactly as drill/dataplane.sh sees them (bash expands drill.env)."""
    script = 'set -a; source "$1"; : "${DRILL_DRILLCTL_PORT:=58099}"; env -0'
    out = subprocess.run(["bash", "-c", script, "-", str(DRILL / "drill.env")],
                         check=True, capture_output=True).stdout.decode()
    return dict(v.split("=", 1) for v in out.split("\0") if v.startswith("DRILL_"))


def run_dir() -> Path:
    return Path(drill_env()["DRILL_RUN"])


def secret(name: str) -> str:
    return (run_dir() / "secrets" / name).read_text().strip()


def port(service: str) -> int:
    return int(drill_env()[PORT_VARS[service]])


def pg_connect(dbname: str = "orchestrator", password: str | None = None, **kwargs):
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=int(drill_env()["DRILL_PG_PORT"]),
                            user="postgres", dbname=dbname, connect_timeout=5,
                            password=secret("postgres_password") if password is None else password,
                            **kwargs)


def pg_query(sql: str, params=None, dbname: str = "orchestrator", autocommit: bool = False) -> list[tuple]:
    """Run one statement in its own connection (autocommit for e.g. DROP DATABASE)."""
    conn = pg_connect(dbname)
    conn.autocommit = autocommit
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        if not autocommit:
            conn.commit()
        return rows
    finally:
        conn.close()


def redis_client(**kwargs):
    import redis

    return redis.Redis(host="127.0.0.1", port=int(drill_env()["DRILL_REDIS_PORT"]),
                       password=secret("redis_password"), decode_responses=True,
                       socket_timeout=5, **kwargs)


def pod_env() -> dict[str, str]:
    """Environment in which the podbin wrappers shadow the real clients, as on the pods."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(PODBIN["postgres"]), str(PODBIN["redis"]), env.get("PATH", "")])
    return env


def pod_exec(command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a runbook command line as `kubectl exec <pod> -- <command>` would on a drill pod."""
    return subprocess.run(shlex.split(command), env=pod_env(), capture_output=True, text=True, check=False,
                          timeout=timeout)


@dataclass
class Response:
    status: int
    body: object
    elapsed: float


def http(method: str, url: str, body=None, timeout: float = 10) -> Response:
    """One HTTP request; 4xx/5xx are returned, connection errors raised (URLError)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Response(status, parsed, time.monotonic() - start)


def url(service: str, path: str = "") -> str:
    return f"http://127.0.0.1:{port(service)}{path or HEALTH_PATHS.get(service, '')}"


def set_mode(service: str, mode: str, **kw) -> dict:
    """Switch a stand-in's failure mode: ok, down, slow (delay=s), error (status=503), flaky (fraction=0.5)."""
    resp = http("PUT", url("control", f"/modes/{service}"), {"mode": mode, **kw})
    assert resp.status == 200, resp.body
    return resp.body[service]


def modes() -> dict:
    return http("GET", url("control", "/modes")).body


def requests_for(service: str) -> list[dict]:
    """Every request the stand-in received since the last reset, oldest first."""
    resp = http("GET", url("control", f"/requests?service={service}"))
    assert resp.status == 200, resp.body
    return resp.body


def reset() -> None:
    """All stand-ins back to `ok`, recordings cleared."""
    assert http("POST", url("control", "/reset")).status == 200


# --- Engine API keys and workflows (platform_http.py's control API) ---------------------------

API_KEY_HEADERS = {"langflow": "x-api-key", "n8n": "X-N8N-API-KEY", "langsmith": "x-api-key"}


def api_key(service: str) -> str:
    """The engine's API key as the platform's clients have it (its secret file)."""
    return secret(f"{service}_api_key")


def set_api_key(service: str, key: str | None) -> dict:
    """Make the engine accept only `key` (clients with the secret file's key are rejected: the
    "bad credentials" fault); None accepts the secret file's key again."""
    resp = http("PUT", url("control", f"/keys/{service}"), {"api_key": key})
    assert resp.status == 200, resp.body
    return resp.body[service]


def engine_api(service: str, method: str, path: str, body=None, key: str | None = "", timeout: float = 10) -> Response:
    """A request to an engine's API with its key in the engine's header ("" = the secret file's
    key, None = no key)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if key is not None:
        headers[API_KEY_HEADERS[service]] = key or api_key(service)
    req = urllib.request.Request(url(service, path), data=data, method=method, headers=headers)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return Response(status, json.loads(raw) if raw else None, time.monotonic() - start)


def workflows(engine: str | None = None) -> list[dict]:
    """The seeded workflows (control API): engine, id, name, orchestrator_id, active, owner, version, broken."""
    resp = http("GET", url("control", "/workflows" + (f"?engine={engine}" if engine else "")))
    assert resp.status == 200, resp.body
    return resp.body


def workflow(engine: str, ref: str) -> dict:
    """One workflow by id or name: its summary, `workflow` (the engine's JSON) and `history`."""
    resp = http("GET", url("control", f"/workflows/{engine}/{ref}"))
    assert resp.status == 200, resp.body
    return resp.body


def break_workflow(engine: str, ref: str, how: str = "node_type", node: str | None = None) -> dict:
    """Save a broken version of a workflow (how: node_type, remove_node, credentials, parameter);
    its executions fail on that node from now on. Returns its summary with `node`."""
    resp = http("POST", url("control", f"/workflows/{engine}/{ref}/break"),
                {"how": how, **({"node": node} if node else {})})
    assert resp.status == 200, resp.body
    return resp.body


def repair_workflow(engine: str, ref: str) -> dict:
    """Save the definition as it was before the break as a new version (`repaired`: whether it was broken)."""
    resp = http("POST", url("control", f"/workflows/{engine}/{ref}/repair"))
    assert resp.status == 200, resp.body
    return resp.body


def run_workflow(orchestrator_id: int) -> dict:
    """Have the gateway run one of the orchestrator's workflows now (counted in workflow_executions_total)."""
    resp = http("POST", url("gateway", f"/api/v1/workflows/{orchestrator_id}/executions"))
    assert resp.status == 200, resp.body
    return resp.body


def dataplane_sh(command: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(DATAPLANE_SH), command], capture_output=True, text=True, check=False,
                          timeout=timeout)


@pytest.fixture(scope="session")
def dataplane():
    """The running data plane (PostgreSQL, Redis, HTTP stand-ins); started when it is not up.
    Stopped at the end only if this session started it and DRILL_KEEP is not set."""
    started = dataplane_sh("status").returncode != 0
    if started:
        proc = dataplane_sh("up")
        if proc.returncode != 0:
            pytest.fail(f"drill/dataplane.sh up failed:\n{proc.stderr}")
    yield drill_env()
    if started and not os.environ.get("DRILL_KEEP"):
        dataplane_sh("down")


# --- the gateway's dependencies (drill/fault.sh db, the control API's /db and /pods) ----------


def db_slow(on: bool) -> dict:
    """The gateway's executions query slow (on) or cheap again: drill/fault.sh db slow-query|fast."""
    proc = subprocess.run(["bash", str(DRILL / "fault.sh"), "db", "slow-query" if on else "fast"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return http("GET", url("control", "/db")).body


def pod_behaviour() -> dict:
    """Per stand-in, the shares of its API requests its serving pods spoil (the pod link's PUT /pods)."""
    return http("GET", url("control", "/pods")).body


def stop_postgres() -> None:
    """Stop the drill's PostgreSQL only (an outage; tests marked `alone`). start_postgres() heals."""
    proc = dataplane_sh("stop-postgres")
    assert proc.returncode == 0, proc.stderr


def start_postgres() -> None:
    """What is not running starts again: drill/dataplane.sh up (idempotent)."""
    proc = dataplane_sh("up")
    assert proc.returncode == 0, proc.stderr
