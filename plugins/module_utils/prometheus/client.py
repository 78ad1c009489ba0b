# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small client for the Prometheus HTTP API (``/api/v1``).

Requests go through ``ansible.module_utils.urls.Request`` (what ``uri`` and ``get_url``
use) rather than bare urllib: it honours ``ca_path``, ``validate_certs`` and the
standard ``https_proxy``/``no_proxy`` variables exactly as Ansible's own modules do, so
a Prometheus that ``uri`` reaches is reached here too; its failures are still plain
urllib exceptions, which map one to one onto the messages below. No extra library is
needed on the control node.

Every failure is a ``PrometheusError`` whose ``kind`` says what to do about it:
``unreachable`` (no HTTP answer: refused, DNS, TLS, timeout), ``auth`` (401/403),
``bad_query`` (Prometheus's 400/422 with its ``errorType`` and ``error``), ``server``
(5xx), ``not_prometheus`` (a 404 or a reply that is not the API's JSON, such as a
proxy's login page). Messages carry the URL without credentials and never a secret.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)

USER_AGENT = "ai_orchestrator.incident_response"
# Longer query strings go as a POST form: proxies and load balancers commonly cap the
# request line at 4-8 KiB, and Prometheus accepts the same parameters form-encoded.
MAX_GET_URL = 2048
# Query-string keys whose values are masked wherever a URL is shown.
_SECRET_KEY = re.compile(r"token|secret|password|passwd|key|auth|signature|sig$", re.IGNORECASE)
MASK = "********"


class PrometheusError(IncidentResponseError):
    """A query that did not produce a result; ``kind`` says why (see the module docstring)."""

    def __init__(self, message, kind, status=None, error_type=None):
        super(PrometheusError, self).__init__(message, status=status)
        self.kind = kind
        self.error_type = error_type


def prometheus_argument_spec():
    """Connection options shared by the modules of the ``prometheus`` action group.

    Documented by the ``ai_orchestrator.incident_response.prometheus`` doc fragment;
    tests/unit checks that the two agree.
    """
    return dict(
        url=dict(type="str", required=True),
        timeout=dict(type="int", default=10),
        bearer_token=dict(type="str", no_log=True),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        headers=dict(type="dict", default={}),
    )


def safe_url(url):
    """The URL as it may be shown: no user or password, secret-looking query values masked."""
    try:
        parts = urlsplit(url or "")
    except ValueError:  # such as an unclosed [ of an IPv6 address
        return "(not a URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        query = "&".join(
            "%s=%s" % (key, MASK if _SECRET_KEY.search(key) else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def split_credentials(url):
    """(url without user info, user or None, password or None): a URL's own credentials."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidInput("url is not a URL (%s): give the Prometheus server's base URL such as "
                           "https://prometheus.example.com" % exc)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if _sep else None


class PrometheusClient(object):
    """One Prometheus server: base URL, auth, TLS settings; ``get_data`` runs one API call."""

    def __init__(self, url, timeout=10, bearer_token=None, url_username=None, url_password=None,
                 validate_certs=True, ca_path=None, headers=None):
        base, user, password = split_credentials((url or "").strip())
        if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).hostname:
            raise InvalidInput("url must be an http:// or https:// URL of the Prometheus server, got %r" % safe_url(url))
        if timeout is None or timeout <= 0:
            raise InvalidInput("timeout must be a number of seconds above 0, got %r" % (timeout,))
        if ca_path and not os.path.isfile(ca_path):
            raise InvalidInput("ca_path %s is not a file: give the PEM file of the CA certificates that sign "
                               "the server's certificate" % ca_path)
        self.base = base.rstrip("/")
        self.url = safe_url(self.base)
        self.timeout = timeout
        self.username = url_username if url_username is not None else user
        self.password = url_password if url_password is not None else password
        self.headers = self._build_headers(headers or {}, bearer_token)
        self.secrets = [s for s in (bearer_token, self.password) if s]
        # Whatever the Authorization header carries (also one given in headers) is a secret.
        self.secrets += [v.split(" ", 1)[-1] for k, v in self.headers.items() if k.lower() == "authorization" and v]
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.requests = 0

    @classmethod
    def from_params(cls, params):
        return cls(params["url"], timeout=params.get("timeout"), bearer_token=params.get("bearer_token"),
                   url_username=params.get("url_username"), url_password=params.get("url_password"),
                   validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
                   headers=params.get("headers"))

    def _build_headers(self, extra, bearer_token):
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        headers.update((str(k), str(v)) for k, v in extra.items())
        given = any(k.lower() == "authorization" for k in extra)
        if given and (bearer_token or self.username):
            raise InvalidInput("credentials given twice: an Authorization header in headers and bearer_token or "
                               "url_username; keep one of them")
        if bearer_token and self.username:
            raise InvalidInput("bearer_token and url_username/url_password are both set; Prometheus takes one of them")
        if self.password and not self.username:
            raise InvalidInput("url_password is set without url_username: basic authentication needs both")
        if bearer_token:
            headers["Authorization"] = "Bearer " + bearer_token
        elif self.username:
            raw = "%s:%s" % (self.username, self.password or "")
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")
        return headers

    @property
    def authenticated(self):
        return any(k.lower() == "authorization" for k in self.headers)

    def scrub(self, text):
        """Text with every secret this client knows replaced by the mask."""
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def fail(self, message, kind, status=None, error_type=None):
        return PrometheusError(self.scrub(message), kind, status=status, error_type=error_type)

    def get_data(self, path, params):
        """Call ``<url><path>`` with ``params``; return (data, warnings) of a successful reply."""
        query = urlencode([(k, v) for k, v in params.items() if v is not None])
        target = self.base + path
        if len(target) + 1 + len(query) <= MAX_GET_URL:
            method, target, body = "GET", target + "?" + query, None
            headers = self.headers
        else:
            method, body = "POST", query
            headers = dict(self.headers, **{"Content-Type": "application/x-www-form-urlencoded"})
        self.requests += 1
        status, content_type, text = self._send(method, target, body, headers, path)
        return parse_reply(status, content_type, text, self, path)

    def _send(self, method, target, body, headers, path):
        request = Request(timeout=self.timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                          http_agent=USER_AGENT, use_netrc=False, follow_redirects="safe",
                          # Redirects must not carry the credentials to another host.
                          unredirected_headers=["Authorization"])
        try:
            try:
                response = request.open(method, target, data=body, headers=headers)
            except HTTPError as exc:
                response = exc  # an HTTP answer all the same: its status and body say what went wrong
            text = response.read().decode("utf-8", "replace")
            return response.status, (response.headers or {}).get("Content-Type", ""), text
        except (URLError, UrlsConnectionError, OSError, http.client.HTTPException) as exc:
            raise self.fail("Prometheus at %s is unreachable: %s" % (self.url, unreachable_reason(exc, self.timeout)),
                            "unreachable")


def unreachable_reason(exc, timeout):
    """Why no HTTP answer came, in words an operator acts on."""
    reason = getattr(exc, "reason", None) if isinstance(exc, URLError) else exc
    reason = reason if reason is not None else exc
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
        detail = getattr(reason, "verify_message", None) or str(reason)
        return ("its TLS certificate is not trusted (%s): set ca_path to the CA bundle that signs it "
                "(or validate_certs: false for a test server)" % detail)
    if isinstance(reason, ssl.SSLError):
        return "TLS handshake failed (%s): check that the URL's scheme and port match the server" % (
            getattr(reason, "reason", None) or reason)
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return "no answer within %s s (timeout)" % timeout
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is it running, on this host and port?)"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve (%s)" % (reason.strerror or reason)
    if isinstance(reason, (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)):
        return "the connection closed without an HTTP reply (is the port a Prometheus, and the scheme right?)"
    text = getattr(reason, "strerror", None) or str(reason)
    return text or type(reason).__name__


# --- replies ---------------------------------------------------------------

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def describe_body(content_type, text, limit=200):
    """A short, readable account of a reply body that is not the API's JSON."""
    looks_html = "html" in (content_type or "").lower() or text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))
    if looks_html:
        title = _TITLE.search(text)
        words = " ".join((_TAGS.sub(" ", title.group(1)) if title else "").split())
        return 'an HTML page titled "%s"' % words[:limit] if words else "an HTML page"
    words = " ".join(text.split())
    if not words:
        return "an empty body"
    return "%s: %s" % (content_type.split(";")[0].strip() or "a body", words[:limit])


def _json(text):
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) and payload.get("status") in ("success", "error") else None


def parse_reply(status, content_type, text, client, path):
    """(data, warnings) of a successful API reply; otherwise the PrometheusError that says why."""
    payload = _json(text)
    where = client.url
    if status in (401, 403):
        raise auth_error(status, client, payload, content_type, text)
    if payload is not None and payload["status"] == "error":
        error_type, error = payload.get("errorType") or "error", payload.get("error") or "(no message)"
        if status >= 500:
            raise client.fail("Prometheus failed: HTTP %d from %s: %s: %s" % (status, where, error_type, error),
                              "server", status, error_type)
        verb = "could not evaluate" if status == 422 or error_type == "execution" else "rejected"
        raise client.fail("Prometheus at %s %s the query (%s): %s" % (where, verb, error_type, error),
                          "bad_query", status, error_type)
    if status >= 500:
        raise client.fail("Prometheus failed: HTTP %d from %s, answering with %s (a proxy in front of it, or "
                          "Prometheus itself, cannot serve the query now)" % (status, where, describe_body(content_type, text)),
                          "server", status)
    if status == 404:
        raise client.fail("Prometheus at %s has no API at %s (HTTP 404, %s): url must be the server's base URL, "
                          "with its path prefix when it runs under one (such as https://host/prometheus)"
                          % (where, path, describe_body(content_type, text)), "not_prometheus", status)
    if payload is None or status >= 300 or not isinstance(payload.get("data"), dict):
        raise client.fail("Prometheus at %s did not answer like the Prometheus API (HTTP %d, %s): check that url "
                          "points at Prometheus itself, not a login page or another service"
                          % (where, status, describe_body(content_type, text)), "not_prometheus", status)
    return payload["data"], [str(w) for w in payload.get("warnings") or []]


def auth_error(status, client, payload, content_type, text):
    said = (payload or {}).get("error") or (describe_body(content_type, text, 120) if text.strip() else "")
    said = " Server said: %s." % said if said else ""
    if status == 401 and not client.authenticated:
        message = ("Prometheus at %s requires authentication (HTTP 401 Unauthorized) and none was given: "
                   "set bearer_token, or url_username and url_password.%s" % (client.url, said))
    elif status == 401:
        message = ("Prometheus at %s rejected the credentials (HTTP 401 Unauthorized): check bearer_token, "
                   "or url_username and url_password.%s" % (client.url, said))
    else:
        message = ("Prometheus at %s refused access (HTTP 403 Forbidden): the credentials are accepted but may not "
                   "run queries; use credentials allowed to read the query API.%s" % (client.url, said))
    return client.fail(message, "auth", status)
