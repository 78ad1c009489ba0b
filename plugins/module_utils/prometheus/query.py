# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PromQL queries: the times and step a user writes, and the series shape playbooks read.

Times are epoch seconds inside; they go to Prometheus as epoch seconds (millisecond
precision) and come back to the user as RFC 3339 UTC stamps. Relative times
("now", "-10m", "now-1h30m") are taken against the control node's clock.

Sample values are strings in the API ("1", "NaN", "+Inf"); a finite one becomes a float,
a non-finite one ``None`` with the API's string kept as ``raw`` (JSON has no NaN, and
Jinja comparisons on None fail loudly instead of silently).
"""

from __future__ import annotations

import datetime
import math
import re
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import to_utc

# Prometheus refuses range queries of more points than this per series.
MAX_POINTS = 11000
# Points per series when step is not given: enough to see a trend, small enough to record.
AUTO_POINTS = 250

# Seconds per unit of a Prometheus duration, in the order the units must appear.
_UNIT_SECONDS = (31536000, 604800, 86400, 3600, 60, 1, 0.001)
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_RELATIVE = re.compile(r"^(?:now)?\s*-\s*(\S+)$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def parse_duration(value, name):
    """Seconds of a Prometheus duration ("90s", "1h30m", "500ms") or a plain number of seconds."""
    if isinstance(value, bool):
        raise InvalidInput("%s must be a duration such as 15s or 1m, got %r" % (name, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        match = _DURATION.match(text)
        if _NUMBER.match(text):
            seconds = float(text)
        elif text and match:
            seconds = sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS) if n)
        else:
            raise InvalidInput("%s must be a duration such as 15s, 1m or 1h30m (or seconds), got %r" % (name, value))
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput("%s must be above 0, got %r" % (name, value))
    return seconds


def resolve_time(value, now, name):
    """Epoch seconds of a time option: RFC 3339, unix seconds, "now", "-10m" or "now-10m"; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput("%s: %r is not a time" % (name, value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return to_utc(value).timestamp()
    text = str(value).strip()
    if text.lower() == "now":
        return now
    relative = _RELATIVE.match(text.lower())
    if relative:
        return now - parse_duration(relative.group(1), name)
    if _NUMBER.match(text):
        return float(text)
    try:
        return to_utc(text).timestamp()
    except InvalidInput:
        raise InvalidInput("%s: cannot read %r as a time: use RFC 3339 (2026-05-09T07:35:25Z), unix seconds, "
                           "now, or a relative time such as -10m" % (name, value))


def rfc3339(seconds):
    """Epoch seconds as RFC 3339 UTC, with milliseconds only when the time has them."""
    moment = datetime.datetime.fromtimestamp(round(seconds, 3), datetime.timezone.utc)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def api_number(seconds):
    """A number as the API takes it: at most millisecond precision, no trailing zeros."""
    return ("%.3f" % seconds).rstrip("0").rstrip(".")


def plan(params, now=None):
    """The API call a module's parameters ask for: (path, API params, what to report about times).

    An instant query when ``start`` is not given (at ``time``, default now); a range
    query from ``start`` to ``end`` (default now) every ``step`` (default: the range in
    about 250 points, at least 1 s). Refused before anything is sent: a query that is
    blank, times that cannot be read, a range that ends before it starts, options of the
    other query kind, more points than Prometheus serves.
    """
    now = time.time() if now is None else now
    query = (params.get("query") or "").strip()
    if not query:
        raise InvalidInput("query is empty: give a PromQL expression such as up{job=\"api\"}")
    timeout = "%ds" % params["timeout"] if params.get("timeout") else None
    if params.get("start") is None:
        extra = [k for k in ("end", "step") if params.get(k) is not None]
        if extra:
            raise InvalidInput("%s apply to range queries: set start too (or drop them for an instant query)" % " and ".join(extra))
        at = resolve_time("now" if params.get("time") is None else params["time"], now, "time")
        api = {"query": query, "time": api_number(at), "timeout": timeout}
        return "/api/v1/query", api, {"time": rfc3339(at), "start": None, "end": None, "step": None}
    if params.get("time") is not None:
        raise InvalidInput("time is for instant queries and start for range queries: set one of them")
    start = resolve_time(params["start"], now, "start")
    end = resolve_time("now" if params.get("end") is None else params["end"], now, "end")
    if end < start:
        raise InvalidInput("end (%s) is before start (%s)" % (rfc3339(end), rfc3339(start)))
    if params.get("step") is None:
        step = float(max(1, math.ceil((end - start) / AUTO_POINTS)))
    else:
        step = parse_duration(params["step"], "step")
    points = (end - start) / step + 1
    if points > MAX_POINTS:
        raise InvalidInput("start to end every %ss is %d points, more than the %d Prometheus serves per series: "
                           "use a larger step (at least %ds)" % (api_number(step), points, MAX_POINTS,
                                                                 math.ceil((end - start) / (MAX_POINTS - 1))))
    api = {"query": query, "start": api_number(start), "end": api_number(end), "step": api_number(step),
           "timeout": timeout}
    step_out = int(step) if step == int(step) else step
    return "/api/v1/query_range", api, {"time": None, "start": rfc3339(start), "end": rfc3339(end), "step": step_out}


# --- results ---------------------------------------------------------------


def sample(pair):
    """{time, value} of an API sample [epoch, "value"]; a non-finite value is None with raw kept."""
    stamp, raw = pair[0], pair[1]
    point = {"time": rfc3339(float(stamp))}
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or not math.isfinite(value):
        point.update(value=None, raw=str(raw))
    else:
        point["value"] = value
    return point


def histogram_sample(pair):
    """A native histogram sample: no single value; Prometheus's object kept as is."""
    return {"time": rfc3339(float(pair[0])), "value": None, "raw": "histogram", "histogram": pair[1]}


def instant_series(item):
    point = histogram_sample(item["histogram"]) if "histogram" in item else sample(item["value"])
    return dict(labels=dict(item.get("metric") or {}), **point)


def range_series(item):
    floats, histograms = item.get("values") or [], item.get("histograms") or []
    points = [sample(p) for p in floats] + [histogram_sample(p) for p in histograms]
    if floats and histograms:  # a series that changed sample type: one list in time order
        stamps = [float(p[0]) for p in floats] + [float(p[0]) for p in histograms]
        points = [point for _stamp, point in sorted(zip(stamps, points), key=lambda pair: pair[0])]
    finite = [p["value"] for p in points if p["value"] is not None]
    return {
        "labels": dict(item.get("metric") or {}),
        "values": points,
        "last": points[-1]["value"] if points else None,
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
    }


def shape(data):
    """The module's result keys from an API reply's ``data``: result_type, series, empty."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        series = [instant_series(item) for item in result or []]
    elif kind == "matrix":
        series = [range_series(item) for item in result or []]
    elif kind == "scalar":
        series = [dict(labels={}, **sample(result))]
    elif kind == "string":
        series = [{"labels": {}, "time": rfc3339(float(result[0])), "value": result[1]}]
    else:
        raise ValueError("unknown resultType %r" % (kind,))
    return {"result_type": kind, "series": series, "empty": kind in ("vector", "matrix") and not series}


def run_query(client, params, now=None):
    """Plan, send and shape one query; the module's result (raises InvalidInput or PrometheusError)."""
    path, api, times = plan(params, now)
    data, warnings = client.get_data(path, api)
    try:
        shaped = shape(data)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise client.fail("Prometheus at %s answered %s with data this module cannot read (%s)"
                          % (client.url, path, exc), "not_prometheus")
    result = dict(url=client.url, query=api["query"], prometheus_warnings=warnings)
    result.update(shaped)
    result.update(times)
    return result
