# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""engine_health_info through AnsibleModule, against real loopback HTTP(S) servers.

Each engine is a ScriptedServer (tests/unit/plugins/module_utils/http/scripted_server.py)
answering like Langflow, n8n, LangSmith or the API gateway; retries wait hundredths of a
second, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import engine_health_info

from ..module_utils.http.scripted_server import ScriptedServer
from .incident_runner import run_module
from .prometheus_server import closed_port, self_signed

KEY = "lf-key-5d4c3b2a19"
PROXY_TOKEN = "proxy-tok-8e7f6a5b"
GATEWAY_CHECKS = {"postgres": {"status": "up", "latency_ms": 1.2}, "redis": {"status": "up", "latency_ms": 0.4},
                  "n8n": {"status": "down", "latency_ms": 0.3, "error": "connection refused"}}


@pytest.fixture(scope="module")
def servers():
    with ScriptedServer() as one, ScriptedServer() as two, ScriptedServer() as three:
        yield one, two, three


@pytest.fixture
def engine(servers):
    for server in servers:
        server.clear()
    yield servers[0]
    for server in servers:
        server.clear()


@pytest.fixture
def run(capsys):
    def _run(engines, check=False, **args):
        args.setdefault("backoff", 0.01)
        return run_module(engine_health_info, capsys, dict(args, engines=engines), check=check)
    return _run


def langflow(server, key=KEY):
    server.script("/health", {"json": {"status": "ok"}})
    server.script("/api/v1/version", {"json": {"version": "1.1.1", "package": "Langflow"}})
    server.script("/api/v1/flows/", {"json": []})
    if key:
        server.require_header("x-api-key", key, paths=["/api/v1/flows/"])
    return dict(name="langflow", kind="langflow", url=server.url + "/", api_key=key)


def by_name(result):
    return dict((e["name"], e) for e in result["engines"])


# --- the verdicts ---------------------------------------------------------------------


def test_every_engine_up_in_one_call(run, servers, engine):
    lf, n8n, other = servers
    n8n.script("/healthz", {"json": {"status": "ok"}}).script("/api/v1/workflows", {"json": {"data": []}})
    n8n.require_header("X-N8N-API-KEY", "n8n-key-1234", paths=["/api/v1/workflows"])
    other.script("/ok", {"json": {"ok": True}}).script("/info", {"json": {"version": "0.8.12"}})
    result = run([langflow(lf), dict(name="n8n", kind="n8n", url=n8n.url, api_key="n8n-key-1234"),
                  dict(name="langsmith", kind="langsmith", url=other.url)])
    assert not result.get("failed") and result["changed"] is False and result["healthy"] is True
    assert result["down"] == result["degraded"] == result["credentials_rejected"] == []
    assert result["msg"] == "3 engines: 3 up"
    engines = by_name(result)
    assert [e["name"] for e in result["engines"]] == ["langflow", "n8n", "langsmith"]
    assert engines["langflow"]["status"] == "up" and engines["langflow"]["version"] == "1.1.1"
    assert engines["langflow"]["credentials"] == "accepted" and engines["langflow"]["credentials_status"] == 200
    assert engines["langflow"]["url"] == lf.url and engines["langflow"]["http_status"] == 200
    assert engines["n8n"]["credentials"] == "accepted" and engines["n8n"]["version"] is None
    assert n8n.requests[-1]["query"] == {"limit": ["1"]}
    assert engines["langsmith"]["version"] == "0.8.12" and engines["langsmith"]["credentials"] == "not_checked"
    assert engines["langsmith"]["message"].startswith("langsmith is up (HTTP 200 in ")
    assert all(e["attempts"] == 1 and e["error"] is None and e["error_kind"] is None for e in result["engines"])


def test_an_engine_that_is_down_is_a_result_not_a_failure(run, engine):
    result = run([dict(name="n8n", kind="n8n", url="http://127.0.0.1:%d" % closed_port(), api_key="k-123456")])
    assert not result.get("failed") and result["healthy"] is False and result["down"] == ["n8n"]
    n8n = result["engines"][0]
    assert (n8n["status"], n8n["error_kind"], n8n["attempts"], n8n["http_status"]) == ("down", "refused", 3, None)
    assert n8n["credentials"] == "not_checked" and n8n["version"] is None
    assert n8n["message"] == "n8n is down: connection refused (is it running, on this host and port?)"
    assert result["msg"] == "1 engine: 0 up, 1 down (n8n)"


def test_a_failing_health_endpoint_is_down_after_the_retries(run, engine):
    engine.script("/health", {"status": 503, "json": {"status": "error", "error": "langflow: injected failure"}})
    result = run([dict(name="lf", kind="langflow", url=engine.url)], retries=1)
    lf = result["engines"][0]
    assert (lf["status"], lf["http_status"], lf["attempts"], lf["error_kind"]) == ("down", 503, 2, "http")
    assert lf["error"] == "HTTP 503 Service Unavailable: langflow: injected failure"
    assert [r["path"] for r in engine.requests] == ["/health", "/health"]  # no version read from a 5xx engine


def test_a_flaky_engine_is_degraded(run, engine):
    engine.script("/healthz", {"status": 500, "json": {"error": "n8n: injected intermittent failure"}},
                  {"json": {"status": "ok"}})
    result = run([dict(name="n8n", kind="n8n", url=engine.url)])
    n8n = result["engines"][0]
    assert (n8n["status"], n8n["http_status"], n8n["attempts"], n8n["error_kind"]) == ("degraded", 200, 2, "http")
    assert n8n["error"] == ("answered only on attempt 2 (before: HTTP 500 Internal Server Error: "
                            "n8n: injected intermittent failure)")
    assert result["degraded"] == ["n8n"] and result["healthy"] is False


def test_the_gateways_own_checks_are_returned(run, engine):
    engine.script("/health", {"json": {"status": "degraded", "checks": GATEWAY_CHECKS, "timestamp": "t"}})
    result = run([dict(name="api-gateway", kind="gateway", url=engine.url)])
    gateway = result["engines"][0]
    assert gateway["status"] == "degraded" and gateway["detail"] == {"status": "degraded", "checks": GATEWAY_CHECKS}
    assert gateway["error"] == "HTTP 200, but the engine says it is degraded"
    assert gateway["message"] == "api-gateway is degraded: HTTP 200, but the engine says it is degraded (its checks failing: n8n)"


def test_an_unhealthy_gateway_is_down_with_its_checks(run, engine):
    checks = dict(GATEWAY_CHECKS, redis={"status": "down", "latency_ms": 2.0, "error": "connection refused"})
    engine.script("/health", {"status": 503, "json": {"status": "unhealthy", "checks": checks}})
    gateway = run([dict(name="gw", kind="gateway", url=engine.url, retries=0)])["engines"][0]
    assert gateway["status"] == "down" and gateway["detail"]["checks"]["redis"]["status"] == "down"


@pytest.mark.parametrize("reply, status, error", [
    ({"json": {"status": "unhealthy"}}, "down", "HTTP 200, but the engine says it is unhealthy"),
    ({"json": {"ok": False}}, "down", "HTTP 200, but the engine says it is not ok"),
    ({"json": {"status": "warn"}}, "degraded", "HTTP 200, but the engine says it is warn"),
    (None, "degraded", "HTTP 404 Not Found: Not Found (is the URL and health_path right?)"),
    ({"status": 429}, "degraded", "HTTP 429 Too Many Requests"),
])
def test_what_the_health_answer_says(run, engine, reply, status, error):
    if reply:  # else the path is unknown to the server: 404
        engine.script("/health", reply)
    result = run([dict(name="x", url=engine.url)], retries=0)
    assert (result["engines"][0]["status"], result["engines"][0]["error"]) == (status, error)


def test_expect_status(run, engine):
    engine.script("/live", {"status": 204})
    result = run([dict(name="a", url=engine.url, health_path="/live", expect_status=[204]),
                  dict(name="b", url=engine.url, health_path="/live")])
    engines = by_name(result)
    assert engines["a"]["status"] == "up"
    assert engines["b"]["status"] == "degraded" and engines["b"]["error"] == "HTTP 204, expected 200"


def test_a_slow_engine_times_out(run, engine):
    engine.script("/health", {"delay": 0.4})
    began = time.monotonic()
    result = run([dict(name="slow", url=engine.url, timeout=0.1, retries=0)], timeout=5)
    slow = result["engines"][0]
    assert (slow["status"], slow["error_kind"], slow["attempts"]) == ("down", "timeout", 1)
    assert slow["error"] == "no answer within 0.1 s (timeout)" and time.monotonic() - began < 0.4


def test_engines_are_checked_at_the_same_time(run, servers, engine):
    """Eight engines that each take 0.3 s take about 0.3 s together, not 2.4 s."""
    delay = 0.3
    engines = []
    for server in servers:
        server.script("/health", {"delay": delay, "json": {"status": "ok"}})
    for n in range(8):
        engines.append(dict(name="e%d" % n, url=servers[n % len(servers)].url))
    began = time.monotonic()
    result = run(engines)
    took = time.monotonic() - began
    assert result["healthy"] and len(result["engines"]) == 8
    # One after the other they would take 8 delays; together about one (plus the module's own start-up).
    assert delay <= took < 3 * delay, "8 engines of %.1f s took %.2f s" % (delay, took)


# --- credentials ----------------------------------------------------------------------


def test_a_rejected_key_is_named(run, engine):
    entry = langflow(engine, key="the-right-key")
    result = run([dict(entry, api_key="a-rotated-key")])
    lf = result["engines"][0]
    assert lf["status"] == "up" and lf["credentials"] == "rejected" and lf["credentials_status"] == 403
    assert result["credentials_rejected"] == ["langflow"] and result["healthy"] is False
    assert lf["message"].endswith("; its credentials are rejected (HTTP 403 on /api/v1/flows/)")
    assert result["msg"] == "1 engine: 1 up; credentials rejected by langflow"
    assert engine.requests[-1]["headers"]["x-api-key"] == "a-rotated-key"


def test_a_health_endpoint_behind_authentication(run, engine):
    engine.script("/health", {"json": {"status": "healthy"}}).require_header("Authorization", "Bearer gw-token-1")
    result = run([dict(name="gw", kind="gateway", url=engine.url, api_key="gw-token-0")])
    gateway = result["engines"][0]
    assert (gateway["status"], gateway["credentials"], gateway["credentials_status"]) == ("degraded", "rejected", 403)
    assert gateway["attempts"] == 1  # a 403 is not retried
    ok = run([dict(name="gw", kind="gateway", url=engine.url, api_key="gw-token-1")])["engines"][0]
    assert (ok["status"], ok["credentials"]) == ("up", "not_checked")


def test_credentials_that_cannot_be_checked(run, engine):
    langflow(engine, key=None)
    engine.script("/api/v1/flows/", {"status": 500, "json": {"detail": "database is locked"}})
    lf = run([dict(name="lf", kind="langflow", url=engine.url, api_key=KEY, retries=0)])["engines"][0]
    assert (lf["credentials"], lf["credentials_status"]) == ("error", 500)
    assert lf["message"].endswith("the credentials could not be checked: HTTP 500 Internal Server Error: database is locked")


def test_an_empty_credentials_path_checks_nothing_more(run, engine):
    langflow(engine)
    lf = run([dict(name="lf", kind="langflow", url=engine.url, api_key=KEY, credentials_path="")])["engines"][0]
    assert lf["credentials"] == "not_checked"
    assert "/api/v1/flows/" not in [r["path"] for r in engine.requests]


def test_a_credential_header_is_checked_like_an_api_key(run, engine):
    langflow(engine, key=None)
    engine.require_header("X-Auth-Proxy-Token", PROXY_TOKEN, paths=["/api/v1/flows/"])
    lf = run([dict(name="lf", kind="langflow", url=engine.url, headers={"X-Auth-Proxy-Token": PROXY_TOKEN})])
    assert lf["engines"][0]["credentials"] == "accepted"


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_reach_a_returned_value(engine):
    """An engine that repeats every header it got, in errors and in its health JSON: nothing of the
    API key, the extra headers or the URL's password is returned (the module's own code, without the
    masking AnsibleModule adds for no_log options)."""
    engine.script("/health", {"status": 200, "echo": True})
    engine.script("/api/v1/version", {"status": 503, "echo": True})
    engine.script("/api/v1/flows/", {"status": 500, "echo": True})
    url = engine.url.replace("http://", "http://ops:url-pass-1234@")
    params = dict(engine_health_info_defaults(), engines=[dict(
        entry_defaults(), name="lf", kind="langflow", url=url, api_key=KEY,
        headers={"X-Auth-Proxy-Token": PROXY_TOKEN, "Authorization": "Bearer " + PROXY_TOKEN[::-1]})])
    result = engine_health_info.check_engines(params)
    sent = engine.requests[0]["headers"]
    assert sent["x-api-key"] == KEY and sent["x-auth-proxy-token"] == PROXY_TOKEN
    assert result["engines"][0]["credentials"] == "error"
    text = json.dumps(result)
    for secret in (KEY, PROXY_TOKEN, PROXY_TOKEN[::-1], "url-pass-1234"):
        assert secret not in text, "%s leaked: %s" % (secret, text)
    assert "********" in text


def engine_health_info_defaults():
    return dict((name, option.get("default")) for name, option in engine_health_info.argspec().items())


def entry_defaults():
    options = engine_health_info.argspec()["engines"]["options"]
    return dict((name, option.get("default")) for name, option in options.items())


def test_secrets_through_the_module(run, engine):
    engine.script("/health", {"status": 503, "echo": True})
    result = run([dict(name="lf", kind="langflow", url=engine.url, api_key=KEY, retries=0,
                       headers={"X-Auth-Proxy-Token": PROXY_TOKEN})])
    text = json.dumps(result)
    assert KEY not in text and PROXY_TOKEN not in text and result["engines"][0]["status"] == "down"


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("engine-tls"))
    with ScriptedServer(tls=(cert, key)) as server:
        server.script("/healthz", {"json": {"status": "ok"}})
        server.ca = cert
        yield server


def test_tls_settings_per_engine_and_for_all(run, tls_engine):
    result = run([dict(name="untrusted", kind="n8n", url=tls_engine.url),
                  dict(name="with-ca", kind="n8n", url=tls_engine.url, ca_path=tls_engine.ca),
                  dict(name="unverified", kind="n8n", url=tls_engine.url, validate_certs=False)])
    engines = by_name(result)
    assert (engines["untrusted"]["status"], engines["untrusted"]["error_kind"]) == ("down", "tls")
    assert engines["untrusted"]["attempts"] == 1 and "set ca_path" in engines["untrusted"]["error"]
    assert engines["with-ca"]["status"] == engines["unverified"]["status"] == "up"
    everyone = run([dict(name="n8n", kind="n8n", url=tls_engine.url)], ca_path=tls_engine.ca)
    assert everyone["healthy"]


# --- options -----------------------------------------------------------------------------


def test_an_engine_overrides_the_modules_settings(run, engine):
    engine.script("/health", {"status": 503})
    result = run([dict(name="a", url=engine.url), dict(name="b", url=engine.url, retries=0)], retries=3)
    engines = by_name(result)
    assert engines["a"]["attempts"] == 4 and engines["b"]["attempts"] == 1


def test_check_mode_checks_the_same(run, engine):
    engine.script("/health", {"json": {"status": "ok"}})
    result = run([dict(name="x", url=engine.url)], check=True)
    assert result["healthy"] and result["changed"] is False and len(engine.requests) == 1


@pytest.mark.parametrize("engines, message", [
    ([], "engines is empty"),
    ([{"name": "a", "url": "URL"}, {"name": "a", "url": "URL"}], "engine name 'a' is given twice"),
    ([{"name": "a", "url": "ftp://host"}], "engines[a]: url must be an http:// or https:// URL"),
    ([{"name": "a", "url": "URL", "health_path": "health"}], "engines[a].health_path must be a path starting with /"),
    ([{"name": "a", "url": "URL", "kind": "n8n", "api_key": KEY, "headers": {"x-n8n-api-key": KEY}}],
     "engines[a]: header x-n8n-api-key is given in headers and by api_key"),
    ([{"name": "a", "url": "URL", "timeout": 0}], "engines[a]: timeout must be a number of seconds above 0"),
    ([{"name": "a", "url": "URL", "ca_path": "/nonexistent.pem"}], "engines[a]: ca_path /nonexistent.pem is not a file"),
    ([{"name": "a", "url": "URL", "expect_status": [42]}], "engines[a].expect_status must hold HTTP statuses"),
])
def test_unusable_options_fail_before_anything_is_sent(run, engine, engines, message):
    engines = [dict(e, url=e["url"].replace("URL", engine.url)) for e in engines]
    result = run(engines)
    assert result["failed"] and result["error_kind"] == "invalid_input"
    assert result["msg"].startswith(message) and engine.requests == [] and KEY not in json.dumps(result)
