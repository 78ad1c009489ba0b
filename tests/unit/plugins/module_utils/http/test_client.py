# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""http_request() against real loopback HTTP and HTTPS servers (scripted_server.py).

Waits are real but small (hundredths of a second): each retry test measures that the
wait happened and how long it was, without making the suite slow.
"""

from __future__ import annotations

import base64
import email.utils
import importlib
import json
import time

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http import client as hc

from ...modules.prometheus_server import closed_port, self_signed
from .scripted_server import ScriptedServer

SECRET = "sk-live-7f3a9c2e1d"
TOKEN = "tok-0a1b2c3d4e5f"
PASSWORD = "pw-x9y8z7w6"


@pytest.fixture(scope="module")
def plain():
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def srv(plain):
    plain.clear()
    yield plain
    plain.clear()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    (folder / "server").mkdir()
    (folder / "client").mkdir()
    return {"server": self_signed(folder / "server"), "client": self_signed(folder / "client")}


@pytest.fixture(scope="module")
def tls(certs):
    with ScriptedServer(tls=certs["server"]) as server:
        server.script("/health", {"json": {"status": "ok"}})
        yield server


@pytest.fixture(scope="module")
def mtls(certs):
    with ScriptedServer(tls=certs["server"], client_ca=certs["client"][0]) as server:
        server.script("/health", {"json": {"status": "ok"}})
        yield server


def no_secret_in(result, *secrets):
    text = json.dumps(result.as_dict()) + repr(result)
    for secret in secrets:
        assert secret not in text, "a secret leaked into the result: %s" % text


# --- success --------------------------------------------------------------------------


def test_a_json_answer(srv):
    srv.script("/health", {"json": {"status": "ok"}, "headers": {"X-Version": "1.2"}})
    result = hc.http_request(srv.url + "/health")
    assert result.ok and result.status == 200 and result.json == {"status": "ok"}
    assert result.headers["x-version"] == "1.2" and result.attempts == 1 and result.waits == []
    assert result.error is None and result.error_kind is None and result.latency_ms >= 0
    assert srv.requests[0]["headers"]["user-agent"] == hc.USER_AGENT


def test_a_dict_body_is_sent_as_json(srv):
    srv.script("/hook", {"status": 202, "body": "queued"})
    result = hc.http_request(srv.url + "/hook", method="post", body={"alert": "down"})
    assert result.ok and result.status == 202 and result.json is None and result.text == "queued"
    sent = srv.requests[0]
    assert sent["method"] == "POST" and json.loads(sent["body"]) == {"alert": "down"}
    assert sent["headers"]["content-type"] == "application/json"


def test_a_text_body_keeps_the_callers_content_type(srv):
    srv.script("/hook", {})
    hc.http_request(srv.url + "/hook", method="PUT", body="a=1", headers={"Content-Type": "text/plain"})
    assert srv.requests[0]["body"] == b"a=1" and srv.requests[0]["headers"]["content-type"] == "text/plain"


# --- retries ---------------------------------------------------------------------------


def test_retried_statuses_back_off_exponentially_until_an_answer(srv):
    srv.script("/health", {"status": 503}, {"status": 502}, {"status": 200, "json": {"status": "ok"}})
    began = time.monotonic()
    result = hc.http_request(srv.url + "/health", retries=3, backoff=0.02)
    took = time.monotonic() - began
    assert result.ok and result.status == 200 and result.attempts == 3 and len(srv.requests) == 3
    assert result.waits == [0.02, 0.04] and took >= 0.06
    assert [f["status"] for f in result.failures] == [503, 502] and result.failures[0]["error_kind"] == "http"
    assert result.failures[0]["error"].startswith("HTTP 503 Service Unavailable")
    assert result.elapsed_ms >= 60 and result.latency_ms < result.elapsed_ms


def test_retries_end_with_the_last_answer(srv):
    srv.script("/health", {"status": 503, "json": {"error": "redis unavailable"}})
    result = hc.http_request(srv.url + "/health", retries=2, backoff=0.01)
    assert not result.ok and result.error_kind == "http" and result.status == 503
    assert result.attempts == 3 and result.waits == [0.01, 0.02] and len(srv.requests) == 3
    assert result.error == "HTTP 503 Service Unavailable: redis unavailable"
    assert result.json == {"error": "redis unavailable"}


def test_a_status_without_its_phrase_gets_the_standard_one(srv):
    srv.script("/x", {"status": 503, "reason": "", "json": {"detail": "maintenance"}})
    assert hc.http_request(srv.url + "/x").error == "HTTP 503 Service Unavailable: maintenance"
    assert hc.status_phrase(599) == ""


def test_backoff_is_capped(srv):
    srv.script("/health", {"status": 504})
    result = hc.http_request(srv.url + "/health", retries=4, backoff=0.01, max_backoff=0.025)
    assert result.waits == [0.01, 0.02, 0.025, 0.025] and result.attempts == 5


@pytest.mark.parametrize("status", [500, 404, 401])
def test_statuses_not_in_retry_on_are_not_retried(srv, status):
    srv.script("/x", {"status": status})
    result = hc.http_request(srv.url + "/x", retries=3, backoff=0.01)
    assert result.attempts == 1 and result.status == status and result.error_kind == "http"


def test_retry_on_is_the_callers_choice(srv):
    srv.script("/x", {"status": 500}, {"status": 200})
    result = hc.http_request(srv.url + "/x", retries=1, backoff=0.01, retry_on=(500,))
    assert result.ok and result.attempts == 2


def test_retry_after_is_honoured(srv):
    srv.script("/x", {"status": 429, "headers": {"Retry-After": "0.15"}}, {"status": 200})
    began = time.monotonic()
    result = hc.http_request(srv.url + "/x", retries=1, backoff=0.01)
    assert result.ok and result.waits == [0.15] and time.monotonic() - began >= 0.15


def test_retry_after_is_capped(srv):
    srv.script("/x", {"status": 503, "headers": {"Retry-After": "3600"}}, {"status": 200})
    began = time.monotonic()
    result = hc.http_request(srv.url + "/x", retries=1, backoff=0.01, max_retry_after=0.1)
    took = time.monotonic() - began
    assert result.ok and result.waits == [0.1] and 0.1 <= took < 1.0


def test_retry_after_can_be_ignored(srv):
    srv.script("/x", {"status": 503, "headers": {"Retry-After": "3600"}}, {"status": 200})
    result = hc.http_request(srv.url + "/x", retries=1, backoff=0.01, honour_retry_after=False)
    assert result.ok and result.waits == [0.01]


def test_retry_after_as_an_http_date():
    now = time.time()
    later = email.utils.formatdate(now + 120, usegmt=True)
    assert 118 <= hc.retry_after_seconds(later, now=now) <= 121
    assert hc.retry_after_seconds(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0
    assert hc.retry_after_seconds("7") == 7 and hc.retry_after_seconds("soon") is None
    assert hc.retry_after_seconds(None) is None


def test_the_sleep_can_be_recorded(srv):
    srv.script("/x", {"status": 503})
    waited = []
    result = hc.http_request(srv.url + "/x", retries=3, backoff=1.0, max_backoff=3.0, sleep=waited.append)
    assert waited == [1.0, 2.0, 3.0] == result.waits


# --- no answer ---------------------------------------------------------------------------


def test_connection_refused_is_retried_and_classified():
    port = closed_port()
    result = hc.http_request("http://127.0.0.1:%d/health" % port, retries=2, backoff=0.01)
    assert result.error_kind == "refused" and result.status is None and result.attempts == 3
    assert result.error == "connection refused (is it running, on this host and port?)"
    assert result.waits == [0.01, 0.02] and len(result.failures) == 2


def test_timeout_is_classified_and_retried(srv):
    srv.script("/slow", {"delay": 0.5})
    began = time.monotonic()
    result = hc.http_request(srv.url + "/slow", timeout=0.1, retries=1, backoff=0.01)
    assert result.error_kind == "timeout" and result.attempts == 2
    assert result.error == "no answer within 0.1 s (timeout)"
    assert time.monotonic() - began < 0.5


def test_a_name_that_does_not_resolve_is_dns_and_not_retried():
    result = hc.http_request("http://engine.invalid/health", retries=2, backoff=0.01)
    assert result.error_kind == "dns" and result.attempts == 1
    assert result.error.startswith("the host name does not resolve")


# --- TLS ---------------------------------------------------------------------------------


def test_an_untrusted_certificate_is_tls_and_not_retried(tls):
    before = len(tls.requests)
    result = hc.http_request(tls.url + "/health", retries=2, backoff=0.01)
    assert result.error_kind == "tls" and result.attempts == 1 and result.status is None
    assert result.error.startswith("TLS certificate not trusted (") and "set ca_path" in result.error
    assert len(tls.requests) == before


def test_the_ca_path_makes_it_trusted(tls, certs):
    result = hc.http_request(tls.url + "/health", ca_path=certs["server"][0])
    assert result.ok and result.json == {"status": "ok"}


def test_validate_certs_false_skips_verification(tls):
    assert hc.http_request(tls.url + "/health", validate_certs=False).ok


def test_https_to_a_plain_http_port_is_tls(srv):
    srv.script("/health", {})
    result = hc.http_request(srv.url.replace("http://", "https://") + "/health", validate_certs=False)
    assert result.error_kind == "tls" and "scheme and port" in result.error


def test_a_server_that_requires_a_client_certificate(mtls, certs):
    ca = certs["server"][0]
    refused = hc.http_request(mtls.url + "/health", ca_path=ca)
    assert refused.error_kind in ("tls", "connection") and not refused.ok
    cert, key = certs["client"]
    result = hc.http_request(mtls.url + "/health", ca_path=ca, client_cert=cert, client_key=key)
    assert result.ok and result.json == {"status": "ok"} and mtls.requests[-1]["peer_cert"]


# --- secrets -----------------------------------------------------------------------------


def test_secrets_never_reach_a_message_or_url(srv):
    """The server repeats every header it got, in a retried error: the secrets are masked everywhere."""
    srv.script("/echo", {"status": 503, "echo": True})
    basic = base64.b64encode(("ops:" + PASSWORD).encode()).decode()
    url = "http://admin:%s@127.0.0.1:%d/echo?api_key=%s&page=2" % (PASSWORD, srv.server_address[1], TOKEN)
    result = hc.http_request(url, headers={"X-Api-Key": SECRET, "Authorization": "Bearer " + TOKEN,
                                           "X-Basic": "Basic " + basic}, retries=1, backoff=0.01)
    sent = srv.requests[0]["headers"]
    assert sent["x-api-key"] == SECRET and sent["authorization"] == "Bearer " + TOKEN  # they were sent
    assert result.error.startswith("HTTP 503") and len(result.failures) == 1
    no_secret_in(result, SECRET, TOKEN, PASSWORD, basic)
    assert result.url == "http://127.0.0.1:%d/echo?api_key=********&page=2" % srv.server_address[1]


def test_a_secret_cut_by_the_message_length_leaves_no_part_behind(srv):
    srv.script("/x", {"status": 500, "body": "x" * 190 + " key=" + SECRET})
    result = hc.http_request(srv.url + "/x", headers={"X-Api-Key": SECRET})
    assert " key=*****" in result.error and SECRET[:5] not in result.error


def test_more_secrets_can_be_named(srv):
    srv.script("/x", {"status": 400, "json": {"error": "bad signature for hook hk-12345678"}})
    result = hc.http_request(srv.url + "/x", secrets=["hk-12345678"])
    assert result.error == "HTTP 400 Bad Request: bad signature for hook ********"


def test_credentials_stay_on_their_origin_through_redirects(srv):
    with ScriptedServer() as other:
        other.script("/landing", {"json": {"ok": True}})
        srv.script("/same", {"status": 307, "headers": {"Location": "/moved"}})
        srv.script("/moved", {"status": 302, "headers": {"Location": other.url + "/landing"}})
        result = hc.http_request(srv.url + "/same", headers={"X-Api-Key": SECRET})
        assert result.ok and result.json == {"ok": True}
        assert [r["path"] for r in srv.requests] == ["/same", "/moved"]
        assert all(r["headers"]["x-api-key"] == SECRET for r in srv.requests)
        assert "x-api-key" not in other.requests[0]["headers"]


def test_a_post_redirected_with_303_becomes_a_get(srv):
    srv.script("/submit", {"status": 303, "headers": {"Location": "/result"}})
    srv.script("/result", {"json": {"done": True}})
    result = hc.http_request(srv.url + "/submit", method="POST", body={"a": 1})
    assert result.json == {"done": True} and [r["method"] for r in srv.requests] == ["POST", "GET"]


@pytest.mark.parametrize("text, secrets, shown", [
    ("key abcd1234 and %s" % "abcd1234", ["abcd1234"], "key ******** and ********"),
    ("short x1 stays", ["x1"], "short x1 stays"),
    ('{"token": "a\\"b/c d"}', ['a"b/c d'], '{"token": "********"}'),
    ("q=a%2Fb%20c", ["a/b c"], "q=********"),
    (None, ["abcd"], None),
])
def test_redact(text, secrets, shown):
    assert hc.redact(text, secrets) == shown


def test_header_secrets():
    basic = base64.b64encode(b"ops:" + PASSWORD.encode()).decode()
    found = hc.header_secrets({"Authorization": "Basic " + basic, "Accept": "application/json",
                               "X-N8N-API-KEY": SECRET, "Content-Type": "text/plain"})
    assert PASSWORD in found and SECRET in found and basic in found
    assert "application/json" not in found and "text/plain" not in found


def test_redact_value_walks_json():
    value = {"checks": [{"error": "token %s refused" % TOKEN}], TOKEN: 1, "n": 2}
    assert hc.redact_value(value, [TOKEN]) == {"checks": [{"error": "token ******** refused"}], "********": 1, "n": 2}


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("url, kwargs, message", [
    ("ftp://host/x", {}, "url must be an http:// or https:// URL"),
    ("127.0.0.1:8080/health", {}, "url must be an http:// or https:// URL"),
    ("http://u:%s@host:99999/" % PASSWORD, {}, "is not a URL"),
    ("http://host/", {"timeout": 0}, "timeout must be a number of seconds above 0"),
    ("http://host/", {"retries": -1}, "retries must be 0 or more"),
    ("http://host/", {"backoff": -1}, "backoff must be 0 or more"),
    ("http://host/", {"ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem is not a file"),
    ("http://host/", {"client_key": __file__}, "client_key is set without client_cert"),
])
def test_unusable_arguments_raise_before_anything_is_sent(url, kwargs, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        hc.http_request(url, **kwargs)
    assert PASSWORD not in str(caught.value)


def test_safe_url():
    assert hc.safe_url("https://a:b@h:8443/p?token=t&x=1") == "https://h:8443/p?token=********&x=1"
    assert hc.safe_url("http://[::1") == "(not a URL)"


# --- engines and the doc fragment -----------------------------------------------------------


def test_engine_auth_headers():
    assert hc.engine_auth_headers("n8n", SECRET) == {"X-N8N-API-KEY": SECRET}
    assert hc.engine_auth_headers("langflow", SECRET) == {"x-api-key": SECRET}
    assert hc.engine_auth_headers("gateway", SECRET) == {"Authorization": "Bearer " + SECRET}
    assert hc.engine_auth_headers("generic", None) == {}
    assert set(hc.ENGINE_KINDS) == {"langflow", "n8n", "langsmith", "gateway", "generic"}


def test_the_engine_fragment_documents_exactly_the_argspec():
    fragment = importlib.import_module(
        "ansible_collections.ai_orchestrator.incident_response.plugins.doc_fragments.engine").ModuleDocFragment
    documented = yaml.safe_load(fragment.DOCUMENTATION)["options"]
    spec = hc.engine_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
    assert all("default" not in option for option in hc.engine_override_spec().values())
    assert set(hc.engine_override_spec()) == set(spec)
