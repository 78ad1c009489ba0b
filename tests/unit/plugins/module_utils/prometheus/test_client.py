# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus client: URLs without credentials, auth headers, and one clear error per way a query fails.

Pure: replies are fed to parse_reply() as recorded (tests/unit/plugins/modules/fixtures/prometheus/
replies.json); the module's test runs the same replies through a real loopback HTTP server.
"""

from __future__ import annotations

import base64
import http.client
import json
import pathlib
import socket
import ssl
from urllib.error import URLError

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.prometheus import client as pc

REPLIES = json.loads((pathlib.Path(__file__).resolve().parents[2] / "modules/fixtures/prometheus/replies.json").read_text())
TOKEN = "tok-9f8e7d6c5b4a"


def reply(name, client):
    r = REPLIES[name]
    return pc.parse_reply(r["status"], r["content_type"], r["body"], client, "/api/v1/query")


def failure(name, client):
    with pytest.raises(pc.PrometheusError) as caught:
        reply(name, client)
    return caught.value


@pytest.fixture
def anonymous():
    return pc.PrometheusClient("https://prometheus.example.com/")


@pytest.fixture
def with_token():
    return pc.PrometheusClient("https://prometheus.example.com", bearer_token=TOKEN)


# --- URLs and credentials -----------------------------------------------------


@pytest.mark.parametrize("url, shown", [
    ("https://alice:s3cr%40t@prom.example.com:9090/prometheus", "https://prom.example.com:9090/prometheus"),
    ("http://alice@127.0.0.1:9090", "http://127.0.0.1:9090"),
    ("https://prom.example.com/?tenant=a&access_token=xyz&api_key=k", "https://prom.example.com/?tenant=a&access_token=********&api_key=********"),
    ("https://prom.example.com", "https://prom.example.com"),
])
def test_shown_urls_carry_no_credentials(url, shown):
    assert pc.safe_url(url) == shown


def test_credentials_in_the_url_become_basic_auth():
    client = pc.PrometheusClient("https://alice:s3cr%40t@prom.example.com:9090/prometheus/")
    assert client.base == "https://prom.example.com:9090/prometheus" and client.url == client.base
    assert client.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()
    assert "s3cr@t" in client.secrets


def test_explicit_options_win_over_the_urls_credentials():
    client = pc.PrometheusClient("https://alice:old@prom.example.com", url_username="bob", url_password="new")
    assert client.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:new").decode()


def test_bearer_token_and_extra_headers(with_token):
    client = pc.PrometheusClient("http://127.0.0.1:9090", bearer_token=TOKEN, headers={"X-Scope-OrgID": "tenant-a"})
    assert client.headers["Authorization"] == "Bearer " + TOKEN
    assert client.headers["X-Scope-OrgID"] == "tenant-a" and client.headers["Accept"] == "application/json"
    assert not pc.PrometheusClient("http://127.0.0.1:9090").authenticated


@pytest.mark.parametrize("kwargs, message", [
    ({"bearer_token": TOKEN, "url_username": "u", "url_password": "p"}, "bearer_token and url_username/url_password are both set"),
    ({"bearer_token": TOKEN, "headers": {"authorization": "Bearer other"}}, "credentials given twice"),
    ({"url_password": "p"}, "url_password is set without url_username"),
    ({"timeout": 0}, "timeout must be a number of seconds above 0"),
])
def test_conflicting_or_unusable_options_are_refused(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        pc.PrometheusClient("http://127.0.0.1:9090", **kwargs)


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://host/", "http://", "https://u:hunter2@"])
def test_urls_that_are_not_http_are_refused_without_showing_credentials(url):
    with pytest.raises(InvalidInput, match="url must be an http:// or https:// URL") as caught:
        pc.PrometheusClient(url)
    assert "hunter2" not in str(caught.value)


def test_argspec_never_logs_secrets():
    spec = pc.prometheus_argument_spec()
    assert spec["bearer_token"]["no_log"] is True and spec["url_password"]["no_log"] is True
    assert spec["validate_certs"]["default"] is True and spec["timeout"]["default"] == 10


# --- replies -------------------------------------------------------------------


def test_success_gives_data_and_warnings(anonymous):
    data, warnings = reply("vector", anonymous)
    assert data["resultType"] == "vector" and warnings == []
    assert reply("warnings", anonymous)[1] == ["remote_read: store-eu: connection refused"]


def test_bad_promql_gives_prometheus_error_type_and_message(anonymous):
    err = failure("bad_data", anonymous)
    assert (err.kind, err.status, err.error_type) == ("bad_query", 400, "bad_data")
    assert str(err) == ('Prometheus at https://prometheus.example.com rejected the query (bad_data): '
                        'invalid parameter "query": 1:3: parse error: unexpected end of input')


def test_execution_errors_say_the_query_could_not_be_evaluated(anonymous):
    err = failure("execution", anonymous)
    assert (err.kind, err.status, err.error_type) == ("bad_query", 422, "execution")
    assert str(err).startswith("Prometheus at https://prometheus.example.com could not evaluate the query (execution): "
                               "found duplicate series")
    assert "context deadline exceeded" in str(failure("deadline", anonymous))


def test_server_errors(anonymous):
    err = failure("timeout_503", anonymous)
    assert (err.kind, err.status, err.error_type) == ("server", 503, "timeout")
    assert str(err) == ("Prometheus failed: HTTP 503 from https://prometheus.example.com: timeout: "
                        "query timed out in expression evaluation")
    err = failure("not_ready_503", anonymous)
    assert err.kind == "server" and "HTTP 503" in str(err) and "text/plain: Service Unavailable" in str(err)


def test_a_proxys_error_page_is_named_by_its_title(anonymous):
    err = failure("proxy_bad_gateway", anonymous)
    assert err.kind == "server" and err.status == 502
    assert 'Prometheus failed: HTTP 502 from https://prometheus.example.com, answering with an HTML page titled ' \
           '"502 Bad Gateway"' in str(err)


def test_a_login_page_is_not_prometheus(anonymous):
    err = failure("proxy_login", anonymous)
    assert err.kind == "not_prometheus" and err.status == 200
    assert 'did not answer like the Prometheus API (HTTP 200, an HTML page titled "Sign In")' in str(err)


def test_a_missing_api_path_suggests_the_path_prefix(anonymous):
    err = failure("not_found", anonymous)
    assert err.kind == "not_prometheus" and err.status == 404
    assert "has no API at /api/v1/query (HTTP 404, text/plain: 404 page not found)" in str(err)
    assert "path prefix" in str(err)


def test_json_that_is_not_an_api_reply_is_not_prometheus(anonymous):
    with pytest.raises(pc.PrometheusError, match="did not answer like the Prometheus API") as caught:
        pc.parse_reply(200, "application/json", '{"hello": "world"}', anonymous, "/api/v1/query")
    assert caught.value.kind == "not_prometheus"


def test_401_without_credentials_says_to_give_some(anonymous):
    err = failure("unauthorized", anonymous)
    assert (err.kind, err.status) == ("auth", 401)
    assert "requires authentication (HTTP 401 Unauthorized) and none was given: set bearer_token, or url_username " \
           "and url_password" in str(err)


def test_401_with_credentials_says_they_were_rejected(with_token):
    err = failure("unauthorized", with_token)
    assert "rejected the credentials (HTTP 401 Unauthorized): check bearer_token" in str(err)


def test_403_says_the_credentials_may_not_query(with_token):
    err = failure("forbidden", with_token)
    assert (err.kind, err.status) == ("auth", 403)
    assert "refused access (HTTP 403 Forbidden)" in str(err) and "may not GET /api/v1/query" in str(err)


def test_a_server_that_echoes_the_secret_never_shows_it(with_token):
    basic = pc.PrometheusClient("https://u:pa55word@prom.example.com")
    custom = pc.PrometheusClient("https://prom.example.com", headers={"authorization": "Token s3cr3t-header"})
    for client, secret in ((with_token, TOKEN), (basic, "pa55word"), (basic, basic.headers["Authorization"][6:]),
                           (custom, "s3cr3t-header")):
        auth = next(v for k, v in client.headers.items() if k.lower() == "authorization")
        body = json.dumps({"status": "error", "errorType": "bad_data", "error": "bad header %s" % auth})
        with pytest.raises(pc.PrometheusError) as caught:
            pc.parse_reply(400, "application/json", body, client, "/api/v1/query")
        assert secret not in str(caught.value) and pc.MASK in str(caught.value)


# --- no HTTP answer --------------------------------------------------------------


@pytest.mark.parametrize("exc, text", [
    (URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
    (URLError(socket.gaierror(-2, "Name or service not known")), "the host name does not resolve (Name or service not known)"),
    (URLError(socket.timeout("timed out")), "no answer within 3 s (timeout)"),
    (TimeoutError("The read operation timed out"), "no answer within 3 s (timeout)"),
    (http.client.RemoteDisconnected("Remote end closed connection without response"), "closed without an HTTP reply"),
    (URLError(ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")),
     "its TLS certificate is not trusted"),
    (URLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")), "TLS handshake failed"),
])
def test_no_answer_reasons(exc, text):
    assert text in pc.unreachable_reason(exc, 3)


def test_untrusted_certificate_says_how_to_trust_it():
    reason = pc.unreachable_reason(URLError(ssl.SSLCertVerificationError(1, "CERTIFICATE_VERIFY_FAILED")), 3)
    assert "set ca_path" in reason and "validate_certs: false" in reason


@pytest.mark.parametrize("content_type, body, text", [
    ("text/html", "<html><head><title>\n  Access   denied </title></head></html>", 'an HTML page titled "Access denied"'),
    ("", "<!DOCTYPE html><html><body>x</body></html>", "an HTML page"),
    ("text/plain", "   ", "an empty body"),
    ("text/plain; charset=utf-8", "line one\nline two", "text/plain: line one line two"),
])
def test_bodies_are_described_briefly(content_type, body, text):
    assert pc.describe_body(content_type, body) == text
