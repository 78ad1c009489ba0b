# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One HTTP request with retries, for probes and notifications: ``http_request()``.

Requests go through ``ansible.module_utils.urls.Request`` (what ``uri`` uses), so
``validate_certs``, ``ca_path``, client certificates and the standard ``https_proxy`` /
``no_proxy`` variables behave exactly as in Ansible's own modules; no extra library is
needed on the control node.

``http_request()`` never raises for a network or HTTP problem: the ``HttpResult`` says what
happened, with ``error_kind`` one of ``refused``, ``timeout``, ``tls``, ``dns``,
``connection`` (no HTTP answer) or ``http`` (an answer with status 400 or above). Only
unusable arguments raise ``InvalidInput``, before anything is sent.

Retries: connection refused, timeouts and dropped connections, and the ``retry_on``
statuses, are tried again after ``backoff * 2 ** (n - 1)`` seconds (at most
``max_backoff``); a ``Retry-After`` on a retried status replaces that wait, capped at
``max_retry_after``. TLS and DNS failures are not retried: they are configuration, and
trying again only delays the answer.

Secrets: the value of every header the caller sends (but the harmless ``Accept``,
``Content-Type``, ``User-Agent``), the token of an ``Authorization`` value, a URL's
user info and secret-looking query values are masked in every message and URL the
result carries. The engine kinds of the AI platform (Langflow, n8n, LangSmith, the API
gateway) are described once here, for every module that talks to them.
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import re
import socket
import ssl
import time
from http import HTTPStatus
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput

USER_AGENT = "ai_orchestrator.incident_response"
MASK = "********"
MAX_REDIRECTS = 5
MAX_BODY = 8 * 1024 * 1024  # a health or API reply; more is a misdirected URL, not worth the memory
RETRY_ON = (429, 502, 503, 504)
# The engine modules also retry a 500: a health endpoint failing once is flaky, failing every time is down.
ENGINE_RETRY_ON = (429, 500, 502, 503, 504)
# Headers whose values are never secrets (everything else the caller sends is treated as one).
PLAIN_HEADERS = frozenset(("accept", "accept-encoding", "content-type", "content-length", "user-agent"))
# Values shorter than this are not masked: masking "1" or "on" would garble every message.
MIN_SECRET = 4
ERROR_KINDS = ("refused", "timeout", "tls", "dns", "connection", "http")
RETRIED_KINDS = ("refused", "timeout", "connection")
_SECRET_KEY = re.compile(r"token|secret|password|passwd|key|auth|signature|sig$", re.IGNORECASE)


# --- the AI platform's engines: one home for their HTTP facts --------------------

# health_path: what answers "are you up"; auth_header/auth_scheme: where an API key goes;
# credentials_path: a cheap authenticated read that proves the key is accepted (None: no
# such call, the health answer alone is judged); version_path: a reply with "version".
ENGINE_KINDS = {
    "langflow": dict(health_path="/health", auth_header="x-api-key", auth_scheme="",
                     credentials_path="/api/v1/flows/", version_path="/api/v1/version"),
    "n8n": dict(health_path="/healthz", auth_header="X-N8N-API-KEY", auth_scheme="",
                credentials_path="/api/v1/workflows?limit=1", version_path=None),
    "langsmith": dict(health_path="/ok", auth_header="x-api-key", auth_scheme="",
                      credentials_path="/api/v1/sessions?limit=1", version_path="/info"),
    "gateway": dict(health_path="/health", auth_header="Authorization", auth_scheme="Bearer",
                    credentials_path=None, version_path=None),
    "generic": dict(health_path="/health", auth_header="Authorization", auth_scheme="Bearer",
                    credentials_path=None, version_path=None),
}


def engine_auth_headers(kind, api_key):
    """{header: value} carrying ``api_key`` the way an engine of ``kind`` expects it ({} without a key)."""
    if not api_key:
        return {}
    spec = ENGINE_KINDS[kind]
    value = "%s %s" % (spec["auth_scheme"], api_key) if spec["auth_scheme"] else api_key
    return {spec["auth_header"]: value}


def engine_argument_spec():
    """HTTP settings shared by the engine modules, documented by the ``engine`` doc fragment.

    tests/unit/test_collection_meta.py checks that the two agree.
    """
    return dict(
        timeout=dict(type="float", default=5.0),
        retries=dict(type="int", default=2),
        backoff=dict(type="float", default=0.5),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
    )


def engine_override_spec():
    """The same settings without defaults, for a per-engine entry that overrides the module's."""
    spec = engine_argument_spec()
    for option in spec.values():
        option.pop("default", None)
    return spec


# --- redaction --------------------------------------------------------------------


def _variants(secret):
    """A secret as it may appear in text: as is, URL-encoded, JSON-escaped."""
    found = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    return [v for v in found if v]


def redact(text, secrets):
    """``text`` with every secret (at least MIN_SECRET characters) replaced by the mask."""
    if text is None:
        return None
    text = str(text)
    variants = set()
    for secret in secrets or ():
        if secret and len(str(secret)) >= MIN_SECRET:
            variants.update(_variants(str(secret)))
    for variant in sorted(variants, key=len, reverse=True):  # longest first: a token inside "Bearer <token>"
        text = text.replace(variant, MASK)
    return text


def redact_value(value, secrets):
    """A JSON-like value with every string (keys too) redacted."""
    if isinstance(value, dict):
        return dict((redact_value(k, secrets), redact_value(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [redact_value(v, secrets) for v in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value


def header_secrets(headers):
    """The secrets a set of headers carries: every value but those of PLAIN_HEADERS, and the token
    of an ``Authorization`` value (and Basic's password) on its own."""
    found = []
    for name, value in (headers or {}).items():
        if str(name).lower() in PLAIN_HEADERS or value is None:
            continue
        value = str(value)
        found.append(value)
        scheme, sep, rest = value.partition(" ")
        if sep and rest.strip():
            found.append(rest.strip())
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    decoded = ""
                found.extend(p for p in (decoded, decoded.partition(":")[2]) if p)
    return found


def url_secrets(url):
    """A URL's user info (and password) and the values of its secret-looking query keys."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found.extend([userinfo, userinfo.partition(":")[2]])
    found.extend(v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_KEY.search(k))
    return [s for s in found if s]


def safe_url(url):
    """The URL as it may be shown: no user info, secret-looking query values masked."""
    try:
        parts = urlsplit(url or "")
    except ValueError:  # such as an unclosed [ of an IPv6 address
        return "(not a URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        query = "&".join("%s=%s" % (k, MASK if _SECRET_KEY.search(k) else v)
                         for k, v in parse_qsl(query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --- the result ---------------------------------------------------------------------


class HttpResult(object):
    """What one http_request() call found (see the module docstring)."""

    def __init__(self, url, secrets=None):
        self.url = url
        self._secrets = list(secrets or ())
        self.status = None
        self.body = b""
        self.json = None
        self.headers = {}
        self.latency_ms = None
        self.elapsed_ms = None
        self.attempts = 0
        self.waits = []
        self.failures = []  # the attempts before the last, oldest first: {status, error_kind, error (redacted)}
        self.error = None
        self.error_kind = None

    @property
    def ok(self):
        return self.error_kind is None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def as_dict(self):
        """The result as plain data to return: no body or headers, the JSON body with secrets masked
        (a server may repeat what it was sent)."""
        return dict(url=self.url, status=self.status, json=redact_value(self.json, self._secrets),
                    latency_ms=self.latency_ms,
                    elapsed_ms=self.elapsed_ms, attempts=self.attempts, waits=list(self.waits),
                    failures=list(self.failures), error=self.error, error_kind=self.error_kind)

    def __repr__(self):
        return "HttpResult(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.as_dict().items()) if kv[0] != "json")


# --- checks -------------------------------------------------------------------------


def check_request_options(url, timeout=5.0, retries=0, backoff=0.5, max_backoff=8.0, max_retry_after=30.0,
                          ca_path=None, client_cert=None, client_key=None):
    """Raise InvalidInput for arguments no request could be made with; nothing is sent."""
    shown = safe_url(url)
    try:
        scheme, host, port = _origin(url or "")  # a port out of range raises ValueError
    except ValueError as exc:
        raise InvalidInput("url %s is not a URL (%s)" % (shown, redact(exc, url_secrets(url))))
    if scheme not in ("http", "https") or not host or not port:
        raise InvalidInput("url must be an http:// or https:// URL with a host, got %r" % shown)
    if timeout is None or timeout <= 0:
        raise InvalidInput("timeout must be a number of seconds above 0, got %r" % (timeout,))
    if retries is None or retries < 0:
        raise InvalidInput("retries must be 0 or more, got %r" % (retries,))
    for name, value in (("backoff", backoff), ("max_backoff", max_backoff), ("max_retry_after", max_retry_after)):
        if value is None or value < 0:
            raise InvalidInput("%s must be 0 or more seconds, got %r" % (name, value))
    for name, path in (("ca_path", ca_path), ("client_cert", client_cert), ("client_key", client_key)):
        if path and not os.path.isfile(path):
            raise InvalidInput("%s %s is not a file: give the path of a PEM file on the control node" % (name, path))
    if client_key and not client_cert:
        raise InvalidInput("client_key is set without client_cert: give the client certificate too")


# --- classification -----------------------------------------------------------------


def _kinds(exc):
    """Names of an exception's classes. http.client's exceptions are recognised by name: this package is
    named ``http`` too, and code checkers that put module_utils on their path would take ours for the
    standard library's."""
    return set(cls.__name__ for cls in type(exc).__mro__)


def is_network_error(exc):
    """True for what a request can raise when the network or the server misbehaves (not for a bug)."""
    return isinstance(exc, (URLError, UrlsConnectionError, OSError, ValueError)) or "HTTPException" in _kinds(exc)


def classify(exc, timeout):
    """(error_kind, message) for an exception that left no HTTP answer."""
    reason = getattr(exc, "reason", None) if isinstance(exc, URLError) else exc
    reason = reason if reason is not None else exc
    text = str(reason)
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        detail = getattr(reason, "verify_message", None) or text
        return "tls", ("TLS certificate not trusted (%s): set ca_path to the CA bundle that signs it "
                       "(or validate_certs: false for a test server)" % detail)
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in text:
        return "timeout", "no answer within %g s (timeout)" % timeout
    if isinstance(reason, ssl.SSLError):
        return "tls", ("TLS failed (%s): check that the URL's scheme and port match the server, and the "
                       "client certificate if it asks for one" % (getattr(reason, "reason", None) or text))
    if isinstance(reason, ConnectionRefusedError) or "refused" in text.lower():
        return "refused", "connection refused (is it running, on this host and port?)"
    if isinstance(reason, socket.gaierror):
        return "dns", "the host name does not resolve (%s)" % (reason.strerror or text)
    if isinstance(reason, ConnectionResetError) or _kinds(reason) & {"RemoteDisconnected", "BadStatusLine"}:
        return "connection", "the connection closed without an HTTP reply (is the scheme right, and the port an HTTP server?)"
    if "IncompleteRead" in _kinds(reason):
        return "connection", "the connection closed in the middle of the reply"
    detail = getattr(reason, "strerror", None) or text or type(reason).__name__
    return "connection", "connection failed (%s)" % detail


def status_phrase(status):
    """The standard phrase of a status ('Service Unavailable'), for servers (and HTTP/2 proxies) that send none.

    Keep this use of http.HTTPStatus: ansible-test's pylint names this file ``http.client`` (the package is
    named ``http``) and astroid then adds ``from http import HTTPStatus`` to it, unused without this."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def http_error_message(status, reason, body_json, text, secrets=None):
    """'HTTP 503 Service Unavailable: <what the body says>' in one short line, secrets masked (before
    the body is cut short, so no part of a secret survives)."""
    said = None
    if isinstance(body_json, dict):
        for key in ("error", "detail", "message", "msg", "status"):
            if isinstance(body_json.get(key), (str, int, float)) and str(body_json.get(key)).strip():
                said = str(body_json[key])
                break
    if said is None:
        said = " ".join((text or "").split())
    said = redact(said, secrets)
    said = said[:200] + ("..." if len(said) > 200 else "")
    reason = reason or status_phrase(status)
    head = "HTTP %d%s" % (status, " " + reason if reason else "")
    return "%s: %s" % (head, said) if said else head


def retry_after_seconds(value, now=None):
    """Seconds a Retry-After value (delta-seconds or an HTTP date) asks for; None when unreadable."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(retry, backoff, max_backoff):
    """Seconds before retry number ``retry`` (1 for the first): exponential, capped."""
    return min(backoff * (2 ** (retry - 1)), max_backoff)


# --- the request --------------------------------------------------------------------


def _encode_body(body, headers):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, (dict, list)):
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return json.dumps(body).encode("utf-8")
    return str(body).encode("utf-8")


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _send_once(request, method, url, data, headers):
    """(status, reason, headers, body) of one attempt, following redirects; raises on network errors."""
    target, sent = url, dict(headers)
    for hop in range(MAX_REDIRECTS + 1):
        try:
            response = request.open(method, target, data=data, headers=sent)
        except HTTPError as exc:  # an answer all the same (4xx/5xx, or a redirect not followed by urllib)
            response = exc
        status = getattr(response, "status", None) or getattr(response, "code", None)
        reply_headers = dict((k.lower(), v) for k, v in (response.headers or {}).items())
        location = reply_headers.get("location")
        if status in (301, 302, 303, 307, 308) and location and hop < MAX_REDIRECTS:
            following = urljoin(target, location)
            if urlsplit(following).scheme in ("http", "https"):
                response.close()
                if _origin(following) != _origin(target):
                    # Never carry credentials to another host, scheme or port.
                    sent = dict((k, v) for k, v in sent.items() if k.lower() in PLAIN_HEADERS)
                if status in (301, 302, 303) and method not in ("GET", "HEAD"):
                    method, data = "GET", None
                    sent = dict((k, v) for k, v in sent.items() if k.lower() != "content-type")
                target = following
                continue
        try:
            body = response.read(MAX_BODY)
        finally:
            response.close()
        return status, getattr(response, "reason", None) or getattr(response, "msg", None) or "", reply_headers, body or b""
    raise AssertionError("unreachable")  # the loop always returns


def http_request(url, method="GET", headers=None, body=None, timeout=5.0, validate_certs=True, ca_path=None,
                 client_cert=None, client_key=None, retries=0, backoff=0.5, max_backoff=8.0, retry_on=RETRY_ON,
                 honour_retry_after=True, max_retry_after=30.0, secrets=None, sleep=time.sleep, retry_kinds=RETRIED_KINDS):
    """Send one request (with retries); return an HttpResult. See the module docstring.

    ``secrets``: more strings to mask in the result's messages beside those found in
    ``headers`` and ``url``. ``sleep``: how to wait between attempts (tests may record).
    ``retry_kinds``: the network failures tried again; a request that must not be carried out
    twice (a chat message) passes ``("refused",)``: after a timeout or a dropped connection the
    server may have acted, and only a later reconciliation can tell.
    """
    check_request_options(url, timeout=timeout, retries=retries, backoff=backoff, max_backoff=max_backoff,
                          max_retry_after=max_retry_after, ca_path=ca_path, client_cert=client_cert,
                          client_key=client_key)
    method = (method or "GET").upper()
    sent = {"Accept": "application/json, */*;q=0.5"}
    sent.update((str(k), str(v)) for k, v in (headers or {}).items())
    hidden = header_secrets(sent) + url_secrets(url) + [str(s) for s in secrets or () if s]
    data = _encode_body(body, sent)
    result = HttpResult(safe_url(url), hidden)
    request = Request(timeout=timeout, validate_certs=validate_certs, ca_path=ca_path, client_cert=client_cert,
                      client_key=client_key, http_agent=USER_AGENT, use_netrc=False, follow_redirects="none")
    started = time.monotonic()
    while True:
        result.attempts += 1
        began = time.monotonic()
        status, kind, message, reply_headers, reply = None, None, None, {}, b""
        try:
            status, reason, reply_headers, reply = _send_once(request, method, url, data, sent)
        except Exception as exc:  # anything a broken network or server raises; a bug is raised again below
            if not is_network_error(exc):
                raise
            kind, message = classify(exc, timeout)
        result.latency_ms = round((time.monotonic() - began) * 1000, 1)
        if kind is None:
            parsed = _parse_json(reply)
            if status >= 400 or 300 <= status < 400:
                kind, message = "http", http_error_message(status, reason, parsed, reply.decode("utf-8", "replace"), hidden)
            result.status, result.body, result.json, result.headers = status, reply, parsed, reply_headers
        else:
            result.status, result.body, result.json, result.headers = None, b"", None, {}
        result.error, result.error_kind = redact(message, hidden), kind
        retryable = kind in retry_kinds or (status in retry_on)
        if not retryable or result.attempts > retries:
            break
        delay = backoff_delay(result.attempts, backoff, max_backoff)
        if honour_retry_after and status in retry_on:
            asked = retry_after_seconds(reply_headers.get("retry-after"))
            if asked is not None:
                delay = min(asked, max_retry_after)
        result.failures.append(dict(status=result.status, error_kind=kind, error=result.error))
        result.waits.append(round(delay, 3))
        if delay > 0:
            sleep(delay)
    result.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return result


def _parse_json(data):
    if not data:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
