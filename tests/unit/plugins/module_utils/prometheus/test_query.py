# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Times, steps and the series shape of prometheus_query_info (pure functions, no server)."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.prometheus import query as q

NOW = 1795810800.0  # 2026-11-27T20:20:00Z


def params(**kwargs):
    base = {"query": "up", "time": None, "start": None, "end": None, "step": None, "timeout": 10}
    base.update(kwargs)
    return base


@pytest.mark.parametrize("text, seconds", [
    ("15s", 15), ("1m", 60), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800), ("1w", 604800),
    ("30", 30), (30, 30), (0.5, 0.5), ("1.5", 1.5),
])
def test_durations_in_prometheus_form_or_seconds(text, seconds):
    assert q.parse_duration(text, "step") == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-5s", "5 minutes", "1m1h", True, "nan", "inf"])
def test_bad_durations_are_refused_naming_the_option(text):
    with pytest.raises(InvalidInput, match="^step"):
        q.parse_duration(text, "step")


@pytest.mark.parametrize("value, expected", [
    ("now", NOW),
    ("NOW", NOW),
    ("-10m", NOW - 600),
    ("now-1h30m", NOW - 5400),
    ("now - 30s", NOW - 30),
    ("-90", NOW - 90),
    (1795810000, 1795810000.0),
    ("1795810000.5", 1795810000.5),
    ("2026-11-27T20:00:00Z", NOW - 1200),
    ("2026-11-27T21:00:00+01:00", NOW - 1200),
    ("2026-11-27T20:00:00.250Z", NOW - 1199.75),
    (datetime.datetime(2026, 11, 27, 20, 0, tzinfo=datetime.timezone.utc), NOW - 1200),
])
def test_times_absolute_and_relative(value, expected):
    assert q.resolve_time(value, NOW, "start") == pytest.approx(expected)


@pytest.mark.parametrize("value", ["yesterday", "10m", "+5m", "2026-13-01T00:00:00Z", False])
def test_unreadable_times_name_the_option_and_the_forms(value):
    with pytest.raises(InvalidInput, match="start"):
        q.resolve_time(value, NOW, "start")


def test_rfc3339_shows_milliseconds_only_when_there_are_some():
    assert q.rfc3339(NOW) == "2026-11-27T20:20:00Z"
    assert q.rfc3339(NOW + 0.046) == "2026-11-27T20:20:00.046Z"
    assert q.rfc3339(NOW + 0.0004) == "2026-11-27T20:20:00Z"


def test_instant_query_at_now_by_default():
    path, api, times = q.plan(params(), now=NOW + 0.25)
    assert path == "/api/v1/query"
    assert api == {"query": "up", "time": "1795810800.25", "timeout": "10s"}
    assert times == {"time": "2026-11-27T20:20:00.250Z", "start": None, "end": None, "step": None}


def test_instant_query_at_a_given_time():
    _path, api, times = q.plan(params(time="-5m"), now=NOW)
    assert api["time"] == "1795810500" and times["time"] == "2026-11-27T20:15:00Z"


def test_range_query_with_relative_start_and_explicit_step():
    path, api, times = q.plan(params(start="-10m", step="1m"), now=NOW)
    assert path == "/api/v1/query_range"
    assert api == {"query": "up", "start": "1795810200", "end": "1795810800", "step": "60", "timeout": "10s"}
    assert times == {"time": None, "start": "2026-11-27T20:10:00Z", "end": "2026-11-27T20:20:00Z", "step": 60}


@pytest.mark.parametrize("span, step", [(60, 1), (600, 3), (86400, 346)])
def test_range_step_defaults_to_about_250_points(span, step):
    _path, api, times = q.plan(params(start=NOW - span, end=NOW), now=NOW)
    assert api["step"] == str(step) and times["step"] == step
    assert span / step + 1 <= q.AUTO_POINTS + 1


@pytest.mark.parametrize("kwargs, message", [
    ({"query": "  "}, "query is empty"),
    ({"end": "now"}, "end apply to range queries: set start"),
    ({"step": "1m", "end": "now"}, "end and step apply to range queries"),
    ({"time": "now", "start": "-5m"}, "time is for instant queries and start for range queries"),
    ({"start": "-5m", "end": "-10m"}, r"end \(2026-11-27T20:10:00Z\) is before start \(2026-11-27T20:15:00Z\)"),
    ({"start": "-7d", "step": "1s"}, r"more than the 11000 Prometheus serves per series: use a larger step \(at least 55s\)"),
    ({"start": "-1h", "step": "fast"}, "step must be a duration"),
])
def test_plans_refused_before_anything_is_sent(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        q.plan(params(**kwargs), now=NOW)


# --- shaping replies (bodies recorded from Prometheus 2.42) -------------------


def test_vector_keeps_labels_and_gives_float_values():
    data = {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "job": "prometheus", "service": "self"}, "value": [1795810800, "1"]},
        {"metric": {"service": "api-gateway"}, "value": [1795810800.123, "0.25"]},
    ]}
    assert q.shape(data) == {"result_type": "vector", "empty": False, "series": [
        {"labels": {"__name__": "up", "job": "prometheus", "service": "self"}, "value": 1.0, "time": "2026-11-27T20:20:00Z"},
        {"labels": {"service": "api-gateway"}, "value": 0.25, "time": "2026-11-27T20:20:00.123Z"},
    ]}


def test_empty_vector_and_matrix_are_empty():
    assert q.shape({"resultType": "vector", "result": []}) == {"result_type": "vector", "series": [], "empty": True}
    assert q.shape({"resultType": "matrix", "result": []})["empty"] is True


@pytest.mark.parametrize("raw", ["NaN", "+Inf", "-Inf"])
def test_non_finite_values_are_null_with_the_raw_text(raw):
    shaped = q.shape({"resultType": "vector", "result": [{"metric": {}, "value": [NOW, raw]}]})
    assert shaped["series"][0] == {"labels": {}, "time": "2026-11-27T20:20:00Z", "value": None, "raw": raw}
    json.dumps(shaped, allow_nan=False)  # what Ansible's JSON output can carry


def test_matrix_points_with_last_min_max_over_finite_values():
    data = {"resultType": "matrix", "result": [{"metric": {"service": "api-gateway"}, "values": [
        [1795810800, "0.5"], [1795810801, "NaN"], [1795810802, "0.1"], [1795810803, "0.3"]]}]}
    series = q.shape(data)["series"][0]
    assert series["values"] == [
        {"time": "2026-11-27T20:20:00Z", "value": 0.5},
        {"time": "2026-11-27T20:20:01Z", "value": None, "raw": "NaN"},
        {"time": "2026-11-27T20:20:02Z", "value": 0.1},
        {"time": "2026-11-27T20:20:03Z", "value": 0.3},
    ]
    assert (series["last"], series["min"], series["max"]) == (0.3, 0.1, 0.5)


def test_matrix_of_only_nan_has_no_min_max_or_last():
    data = {"resultType": "matrix", "result": [{"metric": {}, "values": [[NOW, "NaN"], [NOW + 1, "NaN"]]}]}
    series = q.shape(data)["series"][0]
    assert (series["last"], series["min"], series["max"]) == (None, None, None)


def test_scalar_and_string_are_one_unlabelled_entry_never_empty():
    scalar = q.shape({"resultType": "scalar", "result": [1795810662.426, "+Inf"]})
    assert scalar == {"result_type": "scalar", "empty": False,
                      "series": [{"labels": {}, "time": "2026-11-27T20:17:42.426Z", "value": None, "raw": "+Inf"}]}
    text = q.shape({"resultType": "string", "result": [1795810653.499, "hi"]})
    assert text["series"] == [{"labels": {}, "time": "2026-11-27T20:17:33.499Z", "value": "hi"}] and not text["empty"]


def test_native_histograms_have_no_value_but_keep_the_histogram():
    histogram = {"count": "3", "sum": "1.5", "buckets": [[0, "0.5", "1", "3"]]}
    vector = q.shape({"resultType": "vector", "result": [{"metric": {"le": "x"}, "histogram": [NOW, histogram]}]})
    assert vector["series"][0]["value"] is None and vector["series"][0]["histogram"] == histogram
    matrix = q.shape({"resultType": "matrix", "result": [{"metric": {}, "values": [[NOW + 1, "2"]],
                                                          "histograms": [[NOW, histogram]]}]})
    assert [p.get("raw") for p in matrix["series"][0]["values"]] == ["histogram", None]
    assert matrix["series"][0]["last"] == 2.0


def test_unknown_result_type_is_refused():
    with pytest.raises(ValueError, match="unknown resultType"):
        q.shape({"resultType": "table", "result": []})
