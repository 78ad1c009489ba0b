# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill's Jaeger (drill/monitoring.sh) and jaeger_trace_info against it.

The HTTP stand-ins (drill/dataplane/platform_http.py) send one server span per request over
OTLP/HTTP, the gateway a client span per call to an engine, PostgreSQL or Redis, and the
engines join the gateway's trace through the `traceparent` it sends. A slow engine must
show as the gateway's slowest operation, with the engine's span inside its slowest trace.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request

import pytest

import dataplane as dp
import drill
from playbook import module
from ports import free_port

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]

STAND_INS = ("api-gateway", "langflow", "n8n", "langsmith")
EXECUTIONS = "POST /api/v1/workflows/{id}/executions"
N8N_DELAY = 4.0  # above the 2.5-3 s of the gateway's own drill faults, so it stays the slowest


@pytest.fixture(scope="module")
def jaeger_url():
    return "http://127.0.0.1:%s" % drill.env()["DRILL_JAEGER_QUERY_PORT"]


def api(url: str, path: str):
    with urllib.request.urlopen(url + path, timeout=10) as resp:
        return json.loads(resp.read())


def trace_info(url: str, **args) -> dict:
    return module("jaeger_trace_info", url=url, **args)


def wait_for(what, probe, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            assert found, "no %s within %g s" % (what, seconds)
            return found
        time.sleep(1)


def test_monitoring_runs_jaeger_on_loopback():
    proc = subprocess.run(["bash", str(drill.DRILL / "monitoring.sh"), "status"], capture_output=True, text=True,
                          timeout=60, check=False)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("jaeger ")), "")
    assert "running  127.0.0.1:%s" % drill.env()["DRILL_JAEGER_QUERY_PORT"] in line, proc.stdout


def test_every_stand_in_sends_its_spans(jaeger_url):
    services = wait_for("services of every stand-in",
                        lambda: set(STAND_INS) <= set(api(jaeger_url, "/api/services")["data"] or []) and
                        api(jaeger_url, "/api/services")["data"])
    assert set(STAND_INS) <= set(services)
    result = trace_info(jaeger_url, service="api-gateway", lookback_minutes=2, limit=500, top=50)
    assert not result["failed"], result
    assert result["changed"] is False and result["traces_read"] > 0
    names = [o["name"] for o in result["operations"]]
    assert "GET /api/v1/workflows" in names and EXECUTIONS in names, names
    assert not any(n.startswith(("POST n8n", "redis ", "postgres ", "SELECT ")) for n in names), \
        "client spans must not count as operations: %s" % names
    for op in result["operations"]:
        assert op["count"] >= 1 and 0 <= op["p50_ms"] <= op["p95_ms"] <= op["max_ms"]
        assert 0 <= op["errors"] <= op["count"]
    slowest = result["slowest_traces"][0]
    assert slowest["url"] == "%s/trace/%s" % (jaeger_url, slowest["trace_id"])
    # A span's attributes, as the contract names them.
    trace = api(jaeger_url, "/api/traces/%s" % slowest["trace_id"])["data"][0]
    server = [s for s in trace["spans"] if {"key": "span.kind", "type": "string", "value": "server"} in s["tags"]]
    tags = dict((t["key"], t["value"]) for t in server[0]["tags"])
    assert {"http.route", "http.request.method", "http.response.status_code"} <= set(tags)


def test_check_mode_and_unknown_service(jaeger_url):
    result = module("jaeger_trace_info", check=True, url=jaeger_url, service="n8n", lookback_minutes=1)
    assert not result["failed"] and result["changed"] is False
    result = trace_info(jaeger_url, service="api-gatewy")
    assert result["failed"] and result["error_kind"] == "unknown_service"
    assert "api-gateway" in result["msg"] and "api-gateway" in result["services"]


def test_jaeger_down_is_a_clear_failure():
    result = trace_info("http://127.0.0.1:%d" % free_port(), service="api-gateway", retries=0, timeout=3)
    assert result["failed"] and result["error_kind"] == "unreachable"
    assert "could not be reached" in result["msg"]


def test_a_slow_engine_is_the_gateways_slowest_operation(jaeger_url):
    n8n = sorted(i for i in (w.get("orchestrator_id") for w in dp.workflows("n8n") if w.get("active")) if i)
    assert n8n, "no active n8n workflow"
    before = dp.modes()["n8n"]
    restore = {k: v for k, v in before.items() if k in ("mode", "delay", "status", "fraction", "by")}
    calls = []
    try:
        dp.set_mode("n8n", "slow", delay=N8N_DELAY)
        threads = [threading.Thread(target=lambda i=i: calls.append(dp.run_workflow(i))) for i in n8n[:3]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        dp.set_mode("n8n", restore.pop("mode", "ok"), **restore)
    assert calls, "no execution answered"

    # The route also serves the gateway's own traffic (about 100 fast calls a minute), so the three
    # slow runs show in its maximum and its slowest trace, not necessarily in its p95.
    def slow_op():
        got = trace_info(jaeger_url, service="api-gateway", lookback_minutes=1, limit=1000, top=20)
        ops = [o for o in got.get("operations") or [] if o["name"] == EXECUTIONS and o["max_ms"] >= N8N_DELAY * 1000]
        return (got, ops[0]) if ops else None

    result, top = wait_for("slow %s among api-gateway's operations" % EXECUTIONS, slow_op)
    assert top["max_ms"] == max(o["max_ms"] for o in result["operations"]), result["operations"]
    # Its slowest trace crosses into n8n: gateway server span -> client span -> n8n's server span.
    trace = api(jaeger_url, "/api/traces/%s" % top["slowest_trace_id"])["data"][0]
    by_service = {}
    for s in trace["spans"]:
        by_service.setdefault(trace["processes"][s["processID"]]["serviceName"], []).append(s)
    names = dict((svc, [s["operationName"] for s in spans]) for svc, spans in by_service.items())
    assert EXECUTIONS in names["api-gateway"] and "POST n8n" in names["api-gateway"], names
    assert "POST /webhook/{path}" in names.get("n8n", []), names
    webhook = next(s for s in by_service["n8n"] if s["operationName"] == "POST /webhook/{path}")
    client = next(s for s in by_service["api-gateway"] if s["operationName"] == "POST n8n")
    assert webhook["references"][0]["spanID"] == client["spanID"]
    assert webhook["duration"] >= N8N_DELAY * 1e6
