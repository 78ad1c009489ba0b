# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""jaeger_trace_info: argument checks and the summary's arithmetic, against a small fake.

The fake is a loopback HTTP server that answers /api/services and /api/traces with the
traces a test gives it, in the shape of Jaeger's query API, and records what it was sent.
Whether the module reads a real Jaeger is tests/integration/test_jaeger.py's job.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.tracing import jaeger
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import jaeger_trace_info

from .incident_runner import run_module
from .prometheus_server import closed_port

TOKEN = "tok-9a8b7c6d5e"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        parts = urlsplit(self.path)
        server.requests.append({"path": parts.path, "params": {k: v[0] for k, v in parse_qs(parts.query).items()},
                                "headers": {k.lower(): v for k, v in self.headers.items()}})
        status, content_type, body = server.answer(parts.path)
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeJaeger(object):
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []
        self.server.answer = self.answer
        self.services = ["api-gateway", "n8n"]
        self.traces = []
        self.status = 200
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    @property
    def requests(self):
        return self.server.requests

    def answer(self, path):
        if self.status != 200:
            return self.status, "application/json", {"data": None, "errors": [{"code": self.status, "msg": "no"}]}
        if path == "/api/services":
            return 200, "application/json", {"data": self.services, "total": len(self.services), "errors": None}
        if path == "/api/traces":
            return 200, "application/json", {"data": self.traces, "total": 0, "errors": None}
        return 404, "text/plain", "404 page not found"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def span(span_id, name, duration_ms, process="p1", kind="server", parent=None, status=None, error=False, start=0):
    tags = []
    if kind:
        tags.append({"key": "span.kind", "type": "string", "value": kind})
    if status is not None:
        tags.append({"key": "http.response.status_code", "type": "int64", "value": status})
    if error:
        tags.append({"key": "error", "type": "bool", "value": True})
    refs = [{"refType": "CHILD_OF", "traceID": "t", "spanID": parent}] if parent else []
    return {"spanID": span_id, "operationName": name, "duration": int(duration_ms * 1000),
            "startTime": 1764300000000000 + int(start * 1000), "processID": process, "tags": tags, "references": refs}


def trace(trace_id, *spans):
    return {"traceID": trace_id, "spans": list(spans),
            "processes": {"p1": {"serviceName": "api-gateway", "tags": []},
                          "p2": {"serviceName": "n8n", "tags": []}}}


@pytest.fixture
def fake():
    with FakeJaeger() as server:
        yield server


@pytest.fixture
def run(capsys, fake):
    def _run(check=False, **args):
        args.setdefault("url", fake.url)
        args.setdefault("service", "api-gateway")
        return run_module(jaeger_trace_info, capsys, args, check=check)
    return _run


# --- arguments: refused before anything is sent ---------------------------------------


@pytest.mark.parametrize("args, says", [
    ({"limit": 0}, "limit must be 1 or more"),
    ({"top": 0}, "top must be 1 or more"),
    ({"lookback_minutes": 0}, "lookback_minutes must be 1 or more"),
    ({"min_duration_ms": -1}, "min_duration_ms must be 0 or more"),
    ({"timeout": 0}, "timeout must be a number of seconds above 0"),
    ({"retries": -1}, "retries must be 0 or more"),
    ({"service": "  "}, "service must name a service"),
    ({"url": "jaeger:16686"}, "url must be the http:// or https:// base URL"),
    ({"bearer_token": TOKEN, "headers": {"Authorization": "Bearer x-other"}}, "either as bearer_token or"),
])
def test_unusable_arguments_fail_before_any_request(run, fake, args, says):
    result = run(**args)
    assert result["failed"] and result["error_kind"] == "invalid_input"
    assert says in result["msg"]
    assert fake.requests == []
    assert TOKEN not in json.dumps(result)


def test_argspec_is_the_module_utils_one():
    assert jaeger_trace_info.argspec() == jaeger.jaeger_argument_spec()
    spec = jaeger.jaeger_argument_spec()
    assert spec["bearer_token"]["no_log"] is True
    assert (spec["lookback_minutes"]["default"], spec["limit"]["default"], spec["top"]["default"]) == (15, 200, 10)


# --- the summary's arithmetic ----------------------------------------------------------


def test_percentiles_are_nearest_rank():
    values = list(range(1, 21))  # 1..20
    assert jaeger.percentile(values, 0.5) == 10
    assert jaeger.percentile(values, 0.95) == 19
    assert jaeger.percentile(values, 1.0) == 20
    assert jaeger.percentile([7], 0.95) == 7
    assert jaeger.percentile([3, 1, 2], 0.5) == 2


def test_operations_are_counted_from_the_services_entry_spans(run, fake):
    fake.traces = [
        # 20 fast GETs, 10 ms .. 200 ms, one of them a 500
        *[trace("g%02d" % i, span("s%d" % i, "GET /api/v1/workflows", 10 * i, status=500 if i == 3 else 200))
          for i in range(1, 21)],
        # 4 slow executions, each with a client span to n8n and n8n's server span (not ours)
        *[trace("x%d" % i,
                span("a%d" % i, "POST /api/v1/workflows/{id}/executions", 2000 + 100 * i, status=502 if i == 4 else 200),
                span("b%d" % i, "POST n8n", 1900 + 100 * i, kind="client", parent="a%d" % i, start=5),
                span("c%d" % i, "POST /webhook/{path}", 1800 + 100 * i, process="p2", parent="b%d" % i, start=10))
          for i in range(1, 5)],
    ]
    result = run(top=5)
    assert not result.get("failed") and result["changed"] is False
    ops = result["operations"]
    assert [o["name"] for o in ops] == ["POST /api/v1/workflows/{id}/executions", "GET /api/v1/workflows"]
    slow, fast = ops
    assert (slow["count"], slow["errors"], slow["p50_ms"], slow["p95_ms"], slow["max_ms"]) == (4, 1, 2200.0, 2400.0, 2400.0)
    assert slow["slowest_trace_id"] == "x4" and slow["error_ratio"] == 0.25  # the 502
    assert (fast["count"], fast["errors"], fast["error_ratio"]) == (20, 1, 0.05)
    assert (fast["p50_ms"], fast["p95_ms"], fast["max_ms"], fast["slowest_trace_id"]) == (100.0, 190.0, 200.0, "g20")
    assert result["traces_read"] == 24 and result["spans_read"] == 20 + 4 * 3
    assert result["limited"] is False and result["services"] == ["api-gateway", "n8n"]
    first = result["slowest_traces"][0]
    assert first == {"trace_id": "x4", "operation": "POST /api/v1/workflows/{id}/executions", "duration_ms": 2400.0,
                     "error": True, "spans": 3, "url": fake.url + "/trace/x4"}
    assert [t["trace_id"] for t in result["slowest_traces"]] == ["x4", "x3", "x2", "x1", "g20"]


def test_error_tags_and_top(run, fake):
    fake.traces = [trace("e1", span("s1", "GET /a", 5, error=True)), trace("e2", span("s2", "GET /b", 9)),
                   trace("e3", span("s3", "GET /c", 1))]
    result = run(top=1)
    assert [o["name"] for o in result["operations"]] == ["GET /b"]
    assert len(result["slowest_traces"]) == 1 and result["slowest_traces"][0]["trace_id"] == "e2"
    result = run()
    errors = dict((o["name"], o["errors"]) for o in result["operations"])
    assert errors == {"GET /a": 1, "GET /b": 0, "GET /c": 0}
    assert [t["error"] for t in result["slowest_traces"]] == [False, True, False]


def test_spans_without_a_kind_count_when_they_enter_the_service(run, fake):
    fake.traces = [trace("k1", span("r", "handle", 30, kind=None), span("i", "inner", 10, kind=None, parent="r"))]
    assert [o["name"] for o in run()["operations"]] == ["handle"]


def test_no_traces_in_the_window(run, fake):
    result = run()
    assert result["operations"] == [] and result["slowest_traces"] == [] and result["traces_read"] == 0


def test_limited_when_limit_traces_were_read(run, fake):
    fake.traces = [trace("t%d" % i, span("s%d" % i, "GET /", 1)) for i in range(3)]
    assert run(limit=3)["limited"] is True


# --- what is sent ---------------------------------------------------------------------


def test_query_parameters_and_credentials(run, fake):
    before = time.time()
    result = run(lookback_minutes=30, limit=50, min_duration_ms=1500, operation="GET /x", bearer_token=TOKEN,
                 headers={"X-Scope-OrgID": "tenant-a"}, url=fake.url + "/")
    assert not result.get("failed")
    services, traces = fake.requests
    assert services["path"] == "/api/services"
    sent = traces["params"]
    assert traces["path"] == "/api/traces"
    assert (sent["service"], sent["limit"], sent["minDuration"], sent["operation"]) == ("api-gateway", "50", "1500ms", "GET /x")
    start, end = int(sent["start"]), int(sent["end"])
    assert end - start == 30 * 60 * 1000000 and before - 1 <= end / 1e6 <= time.time() + 1
    assert traces["headers"]["authorization"] == "Bearer " + TOKEN and traces["headers"]["x-scope-orgid"] == "tenant-a"
    assert TOKEN not in json.dumps(result) and result["url"] == fake.url


def test_check_mode_reads_the_same(run, fake):
    fake.traces = [trace("t1", span("s1", "GET /", 12))]
    assert run(check=True)["operations"] == run()["operations"]


# --- failures ---------------------------------------------------------------------------


def test_unknown_service_lists_the_known_ones(run, fake):
    result = run(service="api-gatewy")
    assert result["failed"] and result["error_kind"] == "unknown_service"
    assert "api-gateway, n8n" in result["msg"] and result["services"] == ["api-gateway", "n8n"]
    assert [r["path"] for r in fake.requests] == ["/api/services"]


def test_unreachable(capsys):
    result = run_module(jaeger_trace_info, capsys, {"url": "http://127.0.0.1:%d" % closed_port(),
                                                    "service": "api-gateway", "retries": 0, "timeout": 2})
    assert result["failed"] and result["error_kind"] == "unreachable" and result["http_status"] is None
    assert "could not be reached" in result["msg"] and "refused" in result["msg"]


@pytest.mark.parametrize("status, kind", [(401, "auth"), (403, "auth"), (404, "not_jaeger"), (500, "server"),
                                          (400, "bad_query")])
def test_http_failures(run, fake, status, kind):
    fake.status = status
    result = run(retries=0, bearer_token=TOKEN)
    assert result["failed"] and result["error_kind"] == kind and result["http_status"] == status
    assert TOKEN not in json.dumps(result)


def test_a_reply_that_is_not_the_api(run, fake):
    result = run(url=fake.url + "/elsewhere")
    assert result["failed"] and result["error_kind"] == "not_jaeger"
    fake.answer = None
    fake.server.answer = lambda path: (200, "text/html", "<html>login</html>")
    result = run()
    assert result["failed"] and result["error_kind"] == "not_jaeger" and "not the Jaeger query API" in result["msg"]
