# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a cache diagnosis means for the incident, and the cache runbook's inputs.

Pure functions over the result of ``redis_health_info`` (a failed one too: a cache that
cannot be reached is the first finding). The playbook decides nothing itself:

status     healthy | cold (critical keys missing) | corrupted (critical keys present but
           wrong: type, JSON, fields) | degraded (memory, evictions, latency, persistence,
           replication findings) | unavailable (no connection, wrong credentials)
signal     cache_unavailable (P1: every service reads the cache), intermittent_failures (P2: a
           corrupted cache serves wrong data now and then), slow_responses (P2: a cold cache
           sends every read to the database), non_critical_degradation (P2), None when healthy
flush      none | pattern | db | all: the runbook's "clear the cache if corrupted" as a scoped
           flush of the cache's own keys by default (FLUSHALL only when the operator asks)
warmup     the runbook's warm-up follows any flush and fills missing critical keys
escalate   what a flush and a warm-up do not fix (an unreachable server, memory pressure,
           evictions, a replica whose link is down) goes to the cache owners with the evidence
"""

from __future__ import annotations

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev

FLUSH_SCOPES = ("auto", "none", "pattern", "db", "all")
WARMUP_METHODS = ("auto", "endpoint", "keys", "both", "none")

# Errors that mean the cache cannot be used, and what the operator is told.
_UNAVAILABLE = {
    "connection": "Redis does not answer",
    "timeout": "Redis is too slow to answer",
    "tls": "the TLS handshake with Redis failed",
    "auth": "Redis refused the automation's credentials",
    "permission": "the automation's Redis user lacks a command the diagnosis needs",
    "cluster": "Redis answered with a cluster redirection",
    "not_found": "the Redis pod was not found",
}
# Errors in what the operator gave: the run stops before anything is recorded.
INPUT_ERRORS = ("invalid_input", "library")
# Findings about the keys themselves; the others are about the server.
_KEY_CHECKS = ("keys",)


def _bool(value, name):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0", ""):
        return value.strip().lower() in ("true", "yes", "1")
    raise InvalidInput("%s must be true or false, not %r" % (name, value))


def validate_cache_request(request):
    """The cache scenario's inputs, checked: flush, force, warmup, patterns."""
    if not isinstance(request, dict):
        raise InvalidInput("the cache request must be a mapping, not %s" % type(request).__name__)
    flush = str(request.get("flush") or "auto").strip().lower()
    if flush not in FLUSH_SCOPES:
        raise InvalidInput("flush=%r is not one of %s (auto: a scoped flush of the cache's keys only when "
                           "critical keys are corrupted; pattern, db or all: flush as asked, guarded)"
                           % (request.get("flush"), ", ".join(FLUSH_SCOPES)))
    warmup = str(request.get("warmup") or "auto").strip().lower()
    if warmup not in WARMUP_METHODS:
        raise InvalidInput("warmup=%r is not one of %s" % (request.get("warmup"), ", ".join(WARMUP_METHODS)))
    force = _bool(request.get("force", False), "force")
    if force and flush not in ("pattern", "db", "all"):
        raise InvalidInput("force=true only applies to an explicit flush (-e flush=pattern|db|all); "
                           "an automatic flush never deletes queues, sessions or locks")
    patterns = request.get("patterns") or []
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise InvalidInput("patterns must be a list of key globs such as ['cache:*']")
    if any(p.strip() == "*" for p in patterns):
        raise InvalidInput("patterns=['*'] would delete every key: ask for -e flush=all instead, "
                           "which checks the keyspace for queues and sessions first")
    return {"flush": flush, "force": force, "warmup": warmup, "patterns": patterns}


def _reason_unavailable(health):
    kind = health.get("error_kind") or "error"
    what = _UNAVAILABLE.get(kind, "Redis could not be diagnosed")
    return "%s (%s): %s" % (what, kind, health.get("msg") or "no detail")


def _key_problems(health):
    corrupted, missing = [], []
    for key in health.get("keys") or []:
        if not isinstance(key, dict) or key.get("valid", True):
            continue
        if key.get("exists"):
            corrupted.append("%s (%s)" % (key.get("name"), key.get("problem") or "invalid"))
        else:
            missing.append(key.get("name"))
    return corrupted, missing


def assess(health, policy=None, request=None):
    """Status, signal, severity, flush scope, warm-up and escalation of one redis_health_info result."""
    if not isinstance(health, dict):
        raise InvalidInput("cache_assessment expects the registered result of redis_health_info, not %s"
                           % type(health).__name__)
    policy = sev.effective_policy(policy)
    request = validate_cache_request(request or {})
    owners = policy.get("owners") or {}
    owner = owners.get("cache") or owners.get("default") or "development"
    result = {"status": "healthy", "signal": None, "severity": None, "reason": "", "findings": [], "corrupted": [],
              "missing": [], "flush": "none", "force": request["force"], "warmup": False, "escalate": False,
              "owner": owner, "error_kind": None, "hit_rate": None, "memory_percent": None, "address": None}
    if health.get("failed"):
        kind = health.get("error_kind") or "error"
        result.update(error_kind=kind, reason=_reason_unavailable(health))
        if kind in INPUT_ERRORS:
            result["status"] = "input_error"
            return result
        result.update(status="unavailable", signal="cache_unavailable", escalate=True)
        result["severity"] = _severity(policy, "cache_unavailable")
        return result

    stats = health.get("stats") or {}
    memory = health.get("memory") or {}
    server = health.get("server") or {}
    result.update(hit_rate=stats.get("hit_rate_window") if stats.get("hit_rate_window") is not None else stats.get("hit_rate"),
                  memory_percent=memory.get("percent"), address=server.get("address"))
    corrupted, missing = _key_problems(health)
    server_findings = [f.get("message") or str(f.get("check")) for f in health.get("findings") or []
                       if isinstance(f, dict) and f.get("check") not in _KEY_CHECKS
                       and f.get("severity", "warning") not in ("ok", "info")]
    result.update(corrupted=corrupted, missing=missing, findings=server_findings)

    reasons = []
    if corrupted:
        result.update(status="corrupted", signal="intermittent_failures")
        reasons.append("critical cache keys are corrupted: " + ", ".join(corrupted))
    if missing:
        if not corrupted:
            result.update(status="cold", signal="slow_responses")
        reasons.append("critical cache keys are missing: " + ", ".join(missing))
    if server_findings:
        if result["status"] == "healthy":
            result.update(status="degraded", signal="non_critical_degradation")
        # A flush or a warm-up does not relieve memory pressure, evictions or a broken replica link.
        result["escalate"] = True
        reasons.append("; ".join(server_findings))

    if request["flush"] in ("pattern", "db", "all"):
        result["flush"] = request["flush"]
        reasons.append("a %s flush was asked for by the operator" % request["flush"])
    elif request["flush"] == "auto" and corrupted:
        result["flush"] = "pattern"
    result["warmup"] = request["warmup"] != "none" and (result["flush"] != "none" or bool(missing))
    if result["signal"]:
        result["severity"] = _severity(policy, result["signal"])
    result["reason"] = "; ".join(reasons) if reasons else "the cache is healthy"
    return result


def _severity(policy, signal):
    value = (policy.get("signals") or {}).get(signal)
    return value if value in sev.SEVERITIES else "P2"
