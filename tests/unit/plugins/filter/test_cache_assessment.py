# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cache_request and cache_assessment: the cache runbook's inputs and what a diagnosis means."""

from __future__ import annotations

import random

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import cache as cflt


def key(name, valid=True, exists=True, problem=None):
    return {"name": name, "exists": exists, "valid": valid, "problem": problem, "type": "hash" if exists else None}


def health(keys=(), findings=(), hit_rate=0.95, memory=40.0):
    return {"changed": False, "server": {"address": "127.0.0.1:6379", "role": "master"},
            "stats": {"hit_rate": hit_rate, "hit_rate_window": None}, "memory": {"percent": memory},
            "keys": list(keys), "findings": list(findings)}


def test_healthy_cache_does_nothing():
    result = cflt.cache_assessment(health([key("config:engines")]))
    assert result["status"] == "healthy" and result["signal"] is None and result["severity"] is None
    assert result["flush"] == "none" and not result["warmup"] and not result["escalate"]
    assert result["hit_rate"] == 0.95 and result["address"] == "127.0.0.1:6379"


def test_corrupted_keys_get_a_scoped_flush_and_a_warmup_never_flushall():
    result = cflt.cache_assessment(health([key("config:engines", valid=False, problem="wrong type string, expected hash")]))
    assert result["status"] == "corrupted" and result["severity"] == "P2"
    assert result["flush"] == "pattern" and result["warmup"] and not result["escalate"]
    assert "config:engines (wrong type string, expected hash)" in result["reason"]


def test_missing_keys_are_warmed_without_a_flush():
    result = cflt.cache_assessment(health([key("workflows:active", valid=False, exists=False)]))
    assert result["status"] == "cold" and result["signal"] == "slow_responses"
    assert result["flush"] == "none" and result["warmup"] and result["missing"] == ["workflows:active"]


def test_server_findings_escalate_because_a_flush_does_not_fix_memory_pressure():
    result = cflt.cache_assessment(health(findings=[{"check": "memory", "severity": "critical", "message": "memory at 97% of maxmemory"}]))
    assert result["status"] == "degraded" and result["escalate"] and result["flush"] == "none"
    assert "memory at 97%" in result["reason"] and result["owner"]


def test_ok_findings_are_not_problems():
    result = cflt.cache_assessment(health(findings=[{"check": "memory", "severity": "ok", "message": "fine"}]))
    assert result["status"] == "healthy"


@pytest.mark.parametrize("kind", ["connection", "auth", "timeout", "tls", "permission"])
def test_unreachable_cache_is_p1_and_escalated(kind):
    result = cflt.cache_assessment({"failed": True, "error_kind": kind, "msg": "boom"})
    assert result["status"] == "unavailable" and result["severity"] == "P1" and result["escalate"]
    assert result["flush"] == "none" and not result["warmup"] and "boom" in result["reason"]


@pytest.mark.parametrize("kind", ["invalid_input", "library"])
def test_input_errors_stop_without_an_incident(kind):
    assert cflt.cache_assessment({"failed": True, "error_kind": kind, "msg": "x"})["status"] == "input_error"


def test_operator_flush_is_honoured_even_on_a_healthy_cache():
    result = cflt.cache_assessment(health(), None, {"flush": "all", "force": True})
    assert result["flush"] == "all" and result["force"] and result["warmup"]


def test_policy_changes_the_severity():
    result = cflt.cache_assessment({"failed": True, "error_kind": "connection"}, {"signals": {"cache_unavailable": "P0"}})
    assert result["severity"] == "P0"


@pytest.mark.parametrize("request_, message", [
    ({"flush": "everything"}, "is not one of"),
    ({"warmup": "maybe"}, "is not one of"),
    ({"flush": "auto", "force": True}, "only applies to an explicit flush"),
    ({"flush": "pattern", "patterns": ["*"]}, "every key"),
    ({"force": "perhaps", "flush": "all"}, "true or false"),
])
def test_bad_requests_are_refused_with_what_to_fix(request_, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cflt.cache_request(request_)


def test_request_defaults_and_comma_patterns():
    assert cflt.cache_request({}) == {"flush": "auto", "force": False, "warmup": "auto", "patterns": []}
    assert cflt.cache_request({"flush": "PATTERN", "patterns": "cache:*, config:*"})["patterns"] == ["cache:*", "config:*"]


def test_invariants_over_random_diagnoses():
    rng = random.Random(11)
    for _i in range(500):
        keys = [key("k%d" % i, valid=rng.random() > 0.3, exists=rng.random() > 0.3, problem="p") for i in range(rng.randint(0, 5))]
        findings = [{"check": "memory", "severity": "warning", "message": "m"}] if rng.random() < 0.3 else []
        request = {"flush": rng.choice(["auto", "none", "pattern", "db", "all"]), "warmup": rng.choice(["auto", "none", "keys"])}
        result = cflt.cache_assessment(health(keys, findings), None, request)
        corrupted = [k for k in keys if k["exists"] and not k["valid"]]
        # An automatic decision never flushes more than the cache's own keys, and only for corruption.
        if request["flush"] == "auto":
            assert result["flush"] == ("pattern" if corrupted else "none")
        if request["flush"] == "none":
            assert result["flush"] == "none"
        # A flush is always followed by a warm-up unless warm-up is off.
        if result["flush"] != "none":
            assert result["warmup"] == (request["warmup"] != "none")
        assert (result["status"] == "healthy") == (all(k["valid"] for k in keys) and not findings)
        assert result["escalate"] == bool(findings)
        assert (result["severity"] is None) == (result["signal"] is None)
