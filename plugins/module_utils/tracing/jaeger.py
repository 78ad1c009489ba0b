# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read a service's recent traces from the Jaeger query API and summarise them.

Two calls of the query service's HTTP JSON API (what the Jaeger UI uses, Jaeger 1.x and
2.x alike): ``GET /api/services`` (the services that reported spans) and ``GET /api/traces``
with ``service``, ``start``/``end`` (microseconds), ``limit`` and optionally ``operation``
and ``minDuration``. Requests go through ``module_utils/http/client.py`` ``http_request()``
(retries, TLS options, secrets masked in every message).

``summarise()`` is plain data in, plain data out (no I/O): per operation of the service
(its entry spans: span kind server or consumer, or a span with no parent in the same
service when the instrumentation sets no kind) the count, errors and the nearest-rank
p50/p95/max of the durations; and the slowest traces. Every failure is a ``JaegerError``
whose ``kind`` says what to do: ``unreachable`` (no HTTP answer), ``auth`` (401/403),
``not_jaeger`` (404 or a reply that is not the API's JSON), ``server`` (5xx), ``bad_query``
(another 4xx), ``unknown_service`` (the service reported no spans).
"""

from __future__ import annotations

import math
import time
from urllib.parse import quote, urlencode

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import (
    http_request,
    safe_url,
)

ENTRY_KINDS = ("server", "consumer")
ERROR_KINDS = ("unreachable", "auth", "not_jaeger", "server", "bad_query", "unknown_service")


class JaegerError(IncidentResponseError):
    """The traces could not be read; ``kind`` is one of ERROR_KINDS (see the module docstring)."""

    def __init__(self, message, kind, status=None, services=None):
        super(JaegerError, self).__init__(message, status=status)
        self.kind = kind
        self.services = services


def jaeger_argument_spec():
    """The options of the jaeger_trace_info module (documented in its DOCUMENTATION)."""
    return dict(
        url=dict(type="str", required=True),
        service=dict(type="str", required=True),
        lookback_minutes=dict(type="int", default=15),
        limit=dict(type="int", default=200),
        top=dict(type="int", default=10),
        min_duration_ms=dict(type="float"),
        operation=dict(type="str"),
        timeout=dict(type="float", default=10.0),
        retries=dict(type="int", default=2),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        headers=dict(type="dict", default={}),
        bearer_token=dict(type="str", no_log=True),
    )


def check_params(params):
    """Raise InvalidInput for options no query could be made with; nothing is sent."""
    if not (params.get("service") or "").strip():
        raise InvalidInput("service must name a service as it reports its spans (service.name), got an empty string")
    for name in ("lookback_minutes", "limit", "top"):
        value = params.get(name)
        if value is None or value < 1:
            raise InvalidInput("%s must be 1 or more, got %r" % (name, value))
    if params.get("min_duration_ms") is not None and params["min_duration_ms"] < 0:
        raise InvalidInput("min_duration_ms must be 0 or more, got %r" % (params["min_duration_ms"],))
    if params.get("timeout") is None or params["timeout"] <= 0:
        raise InvalidInput("timeout must be a number of seconds above 0, got %r" % (params.get("timeout"),))
    if params.get("retries") is None or params["retries"] < 0:
        raise InvalidInput("retries must be 0 or more, got %r" % (params.get("retries"),))
    headers = params.get("headers") or {}
    if params.get("bearer_token") and any(str(k).lower() == "authorization" for k in headers):
        raise InvalidInput("give the token either as bearer_token or as an Authorization header, not both")
    url = (params.get("url") or "").strip()
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("url must be the http:// or https:// base URL of the Jaeger query service "
                           "(for example http://jaeger-query:16686), got %r" % safe_url(url))


class JaegerClient(object):
    """The Jaeger query API at a base URL (with its path prefix, if it has one)."""

    def __init__(self, url, timeout=10.0, retries=2, validate_certs=True, ca_path=None, headers=None,
                 bearer_token=None, request=http_request):
        self.base = url.strip().rstrip("/")
        self.timeout, self.retries = timeout, retries
        self.validate_certs, self.ca_path = validate_certs, ca_path
        self.headers = dict((str(k), str(v)) for k, v in (headers or {}).items())
        if bearer_token:
            self.headers["Authorization"] = "Bearer %s" % bearer_token
        self._request = request

    @classmethod
    def from_params(cls, params):
        check_params(params)
        return cls(params["url"], timeout=params["timeout"], retries=params["retries"],
                   validate_certs=params["validate_certs"], ca_path=params.get("ca_path"),
                   headers=params.get("headers"), bearer_token=params.get("bearer_token"))

    @property
    def safe_base(self):
        return safe_url(self.base)

    def get(self, path, query=None):
        """The ``data`` of a JSON API reply; JaegerError otherwise."""
        url = self.base + path + ("?" + urlencode(query) if query else "")
        result = self._request(url, headers=self.headers, timeout=self.timeout, retries=self.retries,
                               validate_certs=self.validate_certs, ca_path=self.ca_path)
        where = "Jaeger at %s" % self.safe_base
        if not result.ok:
            if result.error_kind != "http":
                raise JaegerError("%s could not be reached: %s" % (where, result.error), "unreachable")
            status = result.status
            if status in (401, 403):
                raise JaegerError("%s refused the credentials (%s): check bearer_token or headers" % (where, result.error),
                                  "auth", status=status)
            if status == 404:
                raise JaegerError("%s has no %s (%s): is url the query service's base URL (the UI's address, "
                                  "port 16686 by default) with its path prefix?" % (where, path, result.error),
                                  "not_jaeger", status=status)
            if status >= 500:
                raise JaegerError("%s failed: %s" % (where, result.error), "server", status=status)
            raise JaegerError("%s rejected the query: %s" % (where, result.error), "bad_query", status=status)
        body = result.json
        if not isinstance(body, dict) or "data" not in body:
            raise JaegerError("%s answered %s with something that is not the Jaeger query API's JSON: is url the "
                              "query service's base URL?" % (where, path), "not_jaeger", status=result.status)
        errors = body.get("errors") or []
        if errors and not body.get("data"):
            said = "; ".join(str(e.get("msg") if isinstance(e, dict) else e) for e in errors)
            raise JaegerError("%s: %s" % (where, said), "bad_query", status=result.status)
        return body["data"] or []

    def services(self):
        return sorted(str(s) for s in self.get("/api/services"))

    def traces(self, service, lookback_minutes, limit, operation=None, min_duration_ms=None, now=None):
        end = int((time.time() if now is None else now) * 1000000)
        query = [("service", service), ("start", str(end - lookback_minutes * 60 * 1000000)), ("end", str(end)),
                 ("limit", str(limit))]
        if operation:
            query.append(("operation", operation))
        if min_duration_ms:
            query.append(("minDuration", "%gms" % min_duration_ms))
        return self.get("/api/traces", query)

    def trace_url(self, trace_id):
        return "%s/trace/%s" % (self.safe_base, quote(str(trace_id), safe=""))


# --- summarising (no I/O) -----------------------------------------------------------


def _tags(span):
    found = {}
    for tag in span.get("tags") or ():
        if isinstance(tag, dict) and "key" in tag:
            found[tag["key"]] = tag.get("value")
    return found


def _is_error(tags):
    if tags.get("error") in (True, "true", "True"):
        return True
    if str(tags.get("otel.status_code", "")).upper() == "ERROR":
        return True
    for key in ("http.response.status_code", "http.status_code"):
        try:
            if int(tags.get(key) or 0) >= 500:
                return True
        except (TypeError, ValueError):
            pass
    return False


def _parent(span):
    for ref in span.get("references") or ():
        if isinstance(ref, dict) and ref.get("refType", "CHILD_OF") == "CHILD_OF" and ref.get("spanID"):
            return ref["spanID"]
    return None


def percentile(values, q):
    """Nearest-rank percentile (0 < q <= 1) of a non-empty list of numbers."""
    ordered = sorted(values)
    rank = max(1, int(math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def _ms(micros):
    return round(float(micros or 0) / 1000.0, 3)


def entry_spans(trace, service):
    """The spans by which requests enter ``service`` in one trace (see the module docstring)."""
    processes = trace.get("processes") or {}
    spans = trace.get("spans") or []

    def service_of(span):
        process = processes.get(span.get("processID")) or span.get("process") or {}
        return process.get("serviceName")

    own = dict((s.get("spanID"), s) for s in spans if service_of(s) == service)
    found = []
    for span in own.values():
        kind = str(_tags(span).get("span.kind") or "").lower()
        if kind in ENTRY_KINDS or (not kind and _parent(span) not in own):
            found.append(span)
    return found


def summarise(traces, service, top, trace_url=None):
    """(operations, slowest_traces, spans_read) of traces from /api/traces (see the module docstring)."""
    stats = {}
    slowest = []
    spans_read = 0
    for trace in traces:
        if not isinstance(trace, dict):
            continue
        spans = [s for s in trace.get("spans") or [] if isinstance(s, dict)]
        spans_read += len(spans)
        if not spans:
            continue
        trace_id = trace.get("traceID") or spans[0].get("traceID")
        for span in entry_spans(trace, service):
            entry = stats.setdefault(span.get("operationName") or "(unnamed)",
                                     {"durations": [], "errors": 0, "slowest": (-1, None)})
            duration = span.get("duration") or 0
            entry["durations"].append(duration)
            entry["errors"] += 1 if _is_error(_tags(span)) else 0
            if duration > entry["slowest"][0]:
                entry["slowest"] = (duration, trace_id)
        start = min(s.get("startTime") or 0 for s in spans)
        end = max((s.get("startTime") or 0) + (s.get("duration") or 0) for s in spans)
        ids = set(s.get("spanID") for s in spans)
        roots = [s for s in spans if _parent(s) not in ids] or spans
        root = min(roots, key=lambda s: s.get("startTime") or 0)
        slowest.append({
            "trace_id": trace_id,
            "operation": root.get("operationName"),
            "duration_ms": _ms(end - start),
            "error": any(_is_error(_tags(s)) for s in spans),
            "spans": len(spans),
            "url": trace_url(trace_id) if trace_url else None,
        })
    operations = []
    for name, entry in stats.items():
        durations = entry["durations"]
        operations.append({
            "name": name,
            "count": len(durations),
            "errors": entry["errors"],
            "error_ratio": round(float(entry["errors"]) / len(durations), 4),
            "p50_ms": _ms(percentile(durations, 0.5)),
            "p95_ms": _ms(percentile(durations, 0.95)),
            "max_ms": _ms(max(durations)),
            "slowest_trace_id": entry["slowest"][1],
        })
    operations.sort(key=lambda o: (-o["p95_ms"], -o["max_ms"], o["name"]))
    slowest.sort(key=lambda t: (-t["duration_ms"], str(t["trace_id"])))
    return operations[:top], slowest[:top], spans_read


def read_traces(client, params):
    """The module's result (without ``changed``): services, operations, slowest_traces..."""
    service = params["service"].strip()
    services = client.services()
    if service not in services:
        known = ", ".join(services) if services else "none yet"
        raise JaegerError("Jaeger at %s has no traces of service %r (services it knows: %s): check the name "
                          "(the service.name its spans carry) and that the service sends spans to this Jaeger"
                          % (client.safe_base, service, known), "unknown_service", services=services)
    traces = client.traces(service, params["lookback_minutes"], params["limit"], operation=params.get("operation"),
                           min_duration_ms=params.get("min_duration_ms"))
    operations, slowest, spans_read = summarise(traces, service, params["top"], trace_url=client.trace_url)
    return dict(url=client.safe_base, service=service, services=services, traces_read=len(traces),
                spans_read=spans_read, limited=len(traces) >= params["limit"],
                lookback_minutes=params["lookback_minutes"], operations=operations, slowest_traces=slowest)
