# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""prometheus_query_info through AnsibleModule, against a real loopback HTTP server.

The server (prometheus_server.py) answers with replies recorded from Prometheus 2.42 and
records what the module sent: method, path, parameters and headers.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import prometheus_query_info

from .incident_runner import run_module
from .prometheus_server import FakePrometheus, closed_port, self_signed

TOKEN = "tok-5e1f2a3b4c"
PASSWORD = "pa55-w0rd-x"


@pytest.fixture
def prom():
    with FakePrometheus() as server:
        yield server


@pytest.fixture
def run(capsys, prom):
    def _run(check=False, **args):
        args.setdefault("url", prom.url)
        args.setdefault("query", "up")
        return run_module(prometheus_query_info, capsys, args, check=check)
    return _run


def no_secrets(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text, "a credential leaked into the result: %s" % text


# --- success -------------------------------------------------------------------


def test_instant_query_returns_labelled_series(run, prom):
    before = time.time()
    result = run(query='up{job="prometheus"}')
    assert not result.get("failed") and result["changed"] is False
    assert result["result_type"] == "vector" and result["empty"] is False
    assert result["series"] == [{"labels": {"__name__": "up", "instance": "127.0.0.1:59990", "job": "prometheus",
                                            "service": "self"}, "value": 1.0, "time": "2026-11-27T20:20:00Z"}]
    assert result["url"] == prom.url and result["query"] == 'up{job="prometheus"}'
    assert result["prometheus_warnings"] == [] and result["start"] is None and result["step"] is None
    sent = prom.requests[-1]
    assert (sent["method"], sent["path"]) == ("GET", "/api/v1/query")
    assert sent["params"]["query"] == 'up{job="prometheus"}' and sent["params"]["timeout"] == "10s"
    assert before - 1 <= float(sent["params"]["time"]) <= time.time() + 1
    assert sent["headers"]["accept"] == "application/json" and "authorization" not in sent["headers"]


def test_range_query_with_relative_start(run, prom):
    prom.reply = "matrix"
    result = run(query="job:up:sum", start="-10m", step="1m")
    assert result["result_type"] == "matrix" and not result["empty"]
    series = result["series"][0]
    assert series["labels"] == {"__name__": "job:up:sum", "job": "prometheus"}
    assert [p["value"] for p in series["values"]] == [1.0, 1.0, 1.0, 1.0]
    assert series["values"][0]["time"] == "2026-11-27T20:20:00Z"
    assert (series["last"], series["min"], series["max"]) == (1.0, 1.0, 1.0)
    sent = prom.requests[-1]
    assert sent["path"] == "/api/v1/query_range" and sent["params"]["step"] == "60"
    start, end = float(sent["params"]["start"]), float(sent["params"]["end"])
    assert end - start == pytest.approx(600, abs=0.01) and abs(end - time.time()) < 5
    assert result["step"] == 60 and result["start"].endswith("Z") and result["time"] is None


def test_no_data_is_empty(run, prom):
    prom.reply = "vector_empty"
    result = run(query="nope_metric")
    assert not result.get("failed") and result["empty"] is True and result["series"] == []


@pytest.mark.parametrize("reply, raw", [("scalar_nan", "NaN"), ("scalar_inf", "+Inf"), ("vector_minus_inf", "-Inf")])
def test_non_finite_values_are_null_with_raw(run, prom, reply, raw):
    prom.reply = reply
    result = run(query="x")
    assert result["series"][0]["value"] is None and result["series"][0]["raw"] == raw and result["empty"] is False


def test_nan_points_of_a_range(run, prom):
    prom.reply = "matrix_nan"
    series = run(query="(up-1)/(up-1)", start="-3s", step=1)["series"][0]
    assert {p["raw"] for p in series["values"]} == {"NaN"}
    assert (series["last"], series["min"], series["max"]) == (None, None, None)


def test_check_mode_runs_the_query(run, prom):
    result = run(check=True)
    assert not result.get("failed") and result["series"] and len(prom.requests) == 1


def test_prometheus_warnings_are_returned(run, prom):
    # Under ansible-playbook they are task warnings too (result.warnings, "Prometheus: ..."); in-process,
    # AnsibleModule hands warnings to the controller's display instead of the result.
    prom.reply = "warnings"
    result = run()
    assert not result.get("failed") and result["empty"] is True
    assert result["prometheus_warnings"] == ["remote_read: store-eu: connection refused"]


@pytest.fixture
def tls_prom(tmp_path):
    cert, key = self_signed(tmp_path)
    with FakePrometheus(tls=(cert, key)) as server:
        server.ca = cert
        yield server


def test_tls_with_the_servers_ca(run, tls_prom):
    result = run(url=tls_prom.url, ca_path=tls_prom.ca)
    assert not result.get("failed") and result["series"] and result["url"].startswith("https://")


def test_tls_certificate_not_trusted(run, tls_prom):
    result = run(url=tls_prom.url)
    assert result.get("failed") and result["error_kind"] == "unreachable"
    assert result["msg"].startswith("Prometheus at %s is unreachable: its TLS certificate is not trusted (" % tls_prom.url)
    assert "set ca_path" in result["msg"] and tls_prom.requests == []


def test_tls_without_verification(run, tls_prom):
    result = run(url=tls_prom.url, validate_certs=False)
    assert not result.get("failed") and result["series"]


def test_a_long_query_goes_as_a_form_post(run, prom):
    long_query = "up{service=~\"%s\"}" % "|".join("service-%04d" % i for i in range(300))
    result = run(query=long_query)
    sent = prom.requests[-1]
    assert sent["method"] == "POST" and sent["params"]["query"] == long_query and sent["url_length"] < 100
    assert sent["headers"]["content-type"] == "application/x-www-form-urlencoded" and not result.get("failed")


# --- auth --------------------------------------------------------------------------


def test_bearer_token_is_sent(run, prom):
    run(bearer_token=TOKEN, headers={"X-Scope-OrgID": "tenant-a"})
    headers = prom.requests[-1]["headers"]
    assert headers["authorization"] == "Bearer " + TOKEN and headers["x-scope-orgid"] == "tenant-a"


def test_basic_auth_is_sent_with_the_first_request(run, prom):
    run(url_username="incident-response", url_password=PASSWORD)
    assert len(prom.requests) == 1
    expected = base64.b64encode(("incident-response:" + PASSWORD).encode()).decode()
    assert prom.requests[-1]["headers"]["authorization"] == "Basic " + expected


def test_credentials_in_the_url_are_used_and_never_returned(run, prom):
    url = prom.url.replace("http://", "http://alice:%s@" % PASSWORD)
    result = run(url=url)
    assert prom.requests[-1]["headers"]["authorization"] == "Basic " + base64.b64encode(
        ("alice:" + PASSWORD).encode()).decode()
    assert result["url"] == prom.url
    no_secrets(result, PASSWORD)  # the invocation's module_args included


def test_credentials_do_not_follow_a_redirect(run, prom):
    with FakePrometheus() as other:
        prom.redirect = other.url
        result = run(bearer_token=TOKEN)
        assert not result.get("failed") and result["series"]
        assert prom.requests[-1]["headers"]["authorization"] == "Bearer " + TOKEN
        assert "authorization" not in other.requests[-1]["headers"]


def test_401_without_credentials(run, prom):
    prom.reply = "unauthorized"
    result = run()
    assert result.get("failed") and result["error_kind"] == "auth" and result["http_status"] == 401
    assert result["msg"] == ("Prometheus at %s requires authentication (HTTP 401 Unauthorized) and none was given: "
                             "set bearer_token, or url_username and url_password. Server said: text/plain: Unauthorized."
                             % prom.url)


def test_401_with_wrong_credentials_in_the_url(run, prom):
    prom.reply = "unauthorized"
    result = run(url=prom.url.replace("http://", "http://alice:%s@" % PASSWORD))
    assert result.get("failed") and "rejected the credentials (HTTP 401 Unauthorized)" in result["msg"]
    assert prom.url in result["msg"]
    no_secrets(result, PASSWORD)


def test_403(run, prom):
    prom.reply = "forbidden"
    result = run(bearer_token=TOKEN)
    assert result.get("failed") and result["error_kind"] == "auth" and result["http_status"] == 403
    assert "refused access (HTTP 403 Forbidden)" in result["msg"]
    no_secrets(result, TOKEN)


# --- failures ------------------------------------------------------------------------


@pytest.mark.parametrize("reply, kind, status, error_type, message", [
    ("bad_data", "bad_query", 400, "bad_data",
     'rejected the query (bad_data): invalid parameter "query": 1:3: parse error: unexpected end of input'),
    ("execution", "bad_query", 422, "execution",
     "could not evaluate the query (execution): found duplicate series for the match group"),
    ("timeout_503", "server", 503, "timeout", "Prometheus failed: HTTP 503 from {url}: timeout: query timed out"),
    ("not_ready_503", "server", 503, None, "Prometheus failed: HTTP 503 from {url}, answering with text/plain: Service Unavailable"),
    ("proxy_bad_gateway", "server", 502, None, 'answering with an HTML page titled "502 Bad Gateway"'),
    ("proxy_login", "not_prometheus", 200, None,
     'did not answer like the Prometheus API (HTTP 200, an HTML page titled "Sign In"): check that url points at Prometheus'),
    ("not_found", "not_prometheus", 404, None, "has no API at /api/v1/query (HTTP 404"),
])
def test_failures_say_what_happened(run, prom, reply, kind, status, error_type, message):
    prom.reply = reply
    result = run(query="1+", url_username="alice", url_password=PASSWORD)
    assert result.get("failed"), result
    assert (result["error_kind"], result["http_status"], result["error_type"]) == (kind, status, error_type)
    assert message.format(url=prom.url) in result["msg"]
    assert result["query"] == "1+" and result["url"] == prom.url
    no_secrets(result, PASSWORD)


def test_connection_refused_on_a_closed_port(run):
    url = "http://alice:%s@127.0.0.1:%d" % (PASSWORD, closed_port())
    result = run(url=url)
    assert result.get("failed") and result["error_kind"] == "unreachable" and result["http_status"] is None
    assert result["msg"] == ("Prometheus at http://127.0.0.1:%s is unreachable: connection refused "
                             "(is it running, on this host and port?)" % url.rsplit(":", 1)[1])
    no_secrets(result, PASSWORD)


def test_a_server_that_does_not_answer_in_time(run, prom):
    prom.delay = 2
    started = time.monotonic()
    result = run(timeout=1, bearer_token=TOKEN)
    assert time.monotonic() - started < 1.9
    assert result.get("failed") and result["error_kind"] == "unreachable"
    assert result["msg"] == "Prometheus at %s is unreachable: no answer within 1 s (timeout)" % prom.url
    assert prom.requests[-1]["params"]["timeout"] == "1s"
    no_secrets(result, TOKEN)


def test_a_reply_that_stalls_after_its_headers(run, prom):
    prom.body_delay = 2
    result = run(timeout=1)
    assert result.get("failed") and result["error_kind"] == "unreachable"
    assert result["msg"] == "Prometheus at %s is unreachable: no answer within 1 s (timeout)" % prom.url


@pytest.mark.parametrize("args, message", [
    ({"url": "http://[::1:9090"}, "url is not a URL"),
    ({"url": "prometheus:9090"}, "url must be an http:// or https:// URL"),
    ({"ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem is not a file"),
    ({"time": "now", "start": "-5m"}, "time is for instant queries and start for range queries"),
    ({"start": "yesterday"}, "start: cannot read 'yesterday' as a time"),
    ({"timeout": 0}, "timeout must be a number of seconds above 0"),
    ({"bearer_token": TOKEN, "url_username": "alice", "url_password": PASSWORD}, "both set"),
])
def test_unusable_options_fail_before_anything_is_sent(run, prom, args, message):
    result = run(**args)
    assert result.get("failed") and result["error_kind"] == "invalid_input" and message in result["msg"]
    assert prom.requests == []
    no_secrets(result, TOKEN, PASSWORD)
