# SPDX-License-Identifier: GPL-3.0-or-later
"""engine_health_info through `ansible localhost -m`, against the drill's HTTP stand-ins
(drill/dataplane/platform_http.py): Langflow, n8n, LangSmith and the API gateway, with the API
keys of the drill's secret files, in every failure mode of the control API, and with a key the
engine no longer accepts."""

from __future__ import annotations

import json

import pytest

import dataplane as dp
from playbook import module

pytestmark = [pytest.mark.drill]

KINDS = {"langflow": "langflow", "n8n": "n8n", "langsmith": "langsmith", "gateway": "gateway"}
KEYED = ("langflow", "n8n", "langsmith")


@pytest.fixture
def stand_ins(dataplane):  # noqa: F811 - the data plane's session fixture
    """Every stand-in starts and ends the test in mode ok, with the secret files' keys."""
    dp.reset()
    yield
    dp.reset()


def engine(service, **extra):
    entry = dict(name=service, kind=KINDS[service], url=dp.url(service, "/"))
    if service in KEYED:
        entry["api_key"] = dp.secret("%s_api_key" % service)
    entry.update(extra)
    return entry


def check(*engines, **options) -> dict:
    options.setdefault("backoff", 0.05)
    result = module("engine_health_info", engines=list(engines), **options)
    assert not result["failed"], result
    return result


def by_name(result):
    return dict((e["name"], e) for e in result["engines"])


def no_keys_in(result):
    text = json.dumps(result)
    for service in KEYED:
        assert dp.secret("%s_api_key" % service) not in text


def test_the_platforms_engines_are_up_and_accept_their_keys(stand_ins):
    result = check(*(engine(s) for s in ("langflow", "n8n", "langsmith", "gateway")))
    engines = by_name(result)
    for service in KEYED:
        assert engines[service]["status"] == "up", engines[service]
        assert (engines[service]["credentials"], engines[service]["credentials_status"]) == ("accepted", 200)
    assert engines["langflow"]["version"] and engines["langsmith"]["version"]
    gateway = engines["gateway"]
    # The gateway's own verdict depends on PostgreSQL and Redis; its checks are there either way.
    assert set(gateway["detail"]["checks"]) >= {"postgres", "redis", "langflow", "n8n", "langsmith"}
    assert gateway["credentials"] == "not_checked"
    sent = [r for r in dp.requests_for("n8n") if r["path"] == "/api/v1/workflows"]
    assert sent and sent[-1]["query"] == {"limit": ["1"]}
    no_keys_in(result)


def test_each_failure_mode_in_one_task(stand_ins):
    dp.set_mode("langflow", "down")
    dp.set_mode("n8n", "flaky", fraction=0.5)
    dp.http("GET", dp.url("n8n"))  # a flaky stand-in fails every 2nd request: the module's first one fails
    dp.set_mode("langsmith", "slow", delay=2)
    dp.set_mode("gateway", "error", status=503)
    result = check(engine("langflow"), engine("n8n"), engine("langsmith", timeout=0.5, retries=0), engine("gateway"))
    engines = by_name(result)
    assert (engines["langflow"]["status"], engines["langflow"]["error_kind"]) == ("down", "refused")
    assert engines["langflow"]["attempts"] == 3 and engines["langflow"]["credentials"] == "not_checked"
    assert (engines["n8n"]["status"], engines["n8n"]["attempts"], engines["n8n"]["http_status"]) == ("degraded", 2, 200)
    assert engines["n8n"]["error"].startswith("answered only on attempt 2 (before: HTTP 500")
    assert (engines["langsmith"]["status"], engines["langsmith"]["error_kind"]) == ("down", "timeout")
    assert (engines["gateway"]["status"], engines["gateway"]["http_status"]) == ("down", 503)
    assert engines["gateway"]["error"] == "HTTP 503 Service Unavailable: gateway: injected failure"
    assert sorted(result["down"]) == ["gateway", "langflow", "langsmith"] and result["degraded"] == ["n8n"]
    assert result["healthy"] is False
    no_keys_in(result)


def test_a_rotated_key_is_rejected_and_named(stand_ins):
    dp.set_api_key("n8n", "rotated-by-the-drill-0001")
    result = check(engine("n8n"), engine("langflow"))
    engines = by_name(result)
    assert (engines["n8n"]["status"], engines["n8n"]["credentials"]) == ("up", "rejected")
    assert engines["n8n"]["credentials_status"] == 401 and engines["langflow"]["credentials"] == "accepted"
    assert result["credentials_rejected"] == ["n8n"] and result["healthy"] is False
    no_keys_in(result)
    dp.set_api_key("n8n", None)
    again = check(engine("n8n"))
    assert again["engines"][0]["credentials"] == "accepted" and again["healthy"] is True
