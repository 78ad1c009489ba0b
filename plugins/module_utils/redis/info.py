# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A Redis server's health as the cache runbook reads it (redis_health_info).

Few round trips, whatever the transport: INFO once (twice with a sampling window, whose
interval counters give the hit rate, the operations and the evictions of that window, with
the latency probe spread across it), the critical keys in one pipeline, the commands in one
COMMAND INFO, the keyspace scan in one SCAN plus one pipelined TYPE per batch. INFO that
cannot be read fails (RedisError); any other section that cannot be read is reported in
``unavailable`` with the reason.
"""

from __future__ import annotations

import json
import statistics
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import keyspace as ks
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import (
    RedisError,
    commands_available,
    parse_info,
)

DEFAULTS = {
    "latency_samples": 10,
    "sample_seconds": 1.0,
    "keyspace_scan_limit": 10000,
    "memory_percent": 90.0,
    "fragmentation_ratio": 1.5,
    "min_hit_rate": 0.8,
    "max_latency_ms": 50.0,
}
KEY_TYPES = ("string", "hash", "list", "set", "zset", "stream")
# The commands the cache runbook uses, reported as available or not (renamed/disabled).
COMMANDS_CHECKED = ("FLUSHALL", "FLUSHDB", "UNLINK", "DEL", "SCAN", "KEYS", "DUMP", "RESTORE", "EVAL", "CONFIG", "INFO")
# A hit rate is judged only over at least this many lookups (window, else lifetime).
MIN_WINDOW_LOOKUPS = 20
MIN_LOOKUPS = 100
# Fragmentation is judged only when the memory it wastes is at least this much.
FRAGMENTATION_MIN_BYTES = 16 * 1024 * 1024
CLIENTS_PERCENT = 90.0
SCAN_TIME_BUDGET = 10.0


def check_options(options):
    """The diagnosis options with defaults filled in, checked; InvalidInput for unusable ones."""
    opts = dict(DEFAULTS)
    opts.update((k, v) for k, v in options.items() if v is not None)
    if not 0 <= int(opts["latency_samples"]) <= 1000:
        raise InvalidInput("latency_samples must be between 0 and 1000, got %s" % opts["latency_samples"])
    if not 0 <= float(opts["sample_seconds"]) <= 60:
        raise InvalidInput("sample_seconds must be between 0 and 60, got %s" % opts["sample_seconds"])
    if int(opts["keyspace_scan_limit"]) < 0:
        raise InvalidInput("keyspace_scan_limit must be 0 (no scan) or more, got %s" % opts["keyspace_scan_limit"])
    if not 0 < float(opts["memory_percent"]) <= 100:
        raise InvalidInput("memory_percent must be more than 0 and at most 100, got %s" % opts["memory_percent"])
    if float(opts["fragmentation_ratio"]) <= 1:
        raise InvalidInput("fragmentation_ratio must be more than 1, got %s" % opts["fragmentation_ratio"])
    if not 0 <= float(opts["min_hit_rate"]) <= 1:
        raise InvalidInput("min_hit_rate must be between 0 and 1, got %s" % opts["min_hit_rate"])
    if float(opts["max_latency_ms"]) <= 0:
        raise InvalidInput("max_latency_ms must be more than 0, got %s" % opts["max_latency_ms"])
    opts["keyspace_patterns"] = ks.merge_patterns(opts.get("keyspace_patterns"))
    opts["keys"] = check_key_specs(opts.get("keys") or [])
    return opts


def check_key_specs(specs):
    """The ``keys`` option, checked: [{name, type, json, fields}]."""
    if not isinstance(specs, list):
        raise InvalidInput("keys must be a list of {name, type, json, fields}")
    out = []
    for index, spec in enumerate(specs):
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec.get("name"):
            raise InvalidInput("keys[%d] needs a name" % index)
        unknown = set(spec) - {"name", "type", "json", "fields"}
        if unknown:
            raise InvalidInput("keys[%d] (%s): unknown field(s) %s; a key takes name, type, json, fields"
                               % (index, spec["name"], ", ".join(sorted(unknown))))
        key_type = spec.get("type")
        fields = spec.get("fields") or []
        if key_type is not None and key_type not in KEY_TYPES:
            raise InvalidInput("keys[%d] (%s): type must be one of %s, got %r" % (index, spec["name"], ", ".join(KEY_TYPES), key_type))
        if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
            raise InvalidInput("keys[%d] (%s): fields must be a list of hash field names" % (index, spec["name"]))
        if fields and key_type not in (None, "hash"):
            raise InvalidInput("keys[%d] (%s): fields apply to a hash, not a %s" % (index, spec["name"], key_type))
        if spec.get("json") and key_type not in (None, "string", "hash"):
            raise InvalidInput("keys[%d] (%s): json applies to a string (its value) or a hash (each field), not a %s"
                               % (index, spec["name"], key_type))
        out.append({"name": spec["name"], "type": key_type or ("hash" if fields else None),
                    "json": bool(spec.get("json")), "fields": list(fields)})
    return out


# -- reading ----------------------------------------------------------------------------------


def _read_command(spec, key_type):
    """The command that reads what a key's checks need, for a key of ``key_type`` (None: none)."""
    if key_type == "string" and spec["json"]:
        return ("GET", spec["name"])
    if key_type == "hash" and spec["json"]:
        return ("HGETALL", spec["name"])
    if key_type == "hash" and spec["fields"]:
        return ("HMGET", spec["name"]) + tuple(spec["fields"])
    return None


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def check_keys(conn, specs):
    """[{name, exists, type, ttl, valid, problem}] for the critical keys: TYPE, PTTL and the read
    their checks need in one pipeline (a second one only for keys whose type was not given)."""
    if not specs:
        return []
    commands, slots = [], []
    for spec in specs:
        read = _read_command(spec, spec["type"])
        slots.append((len(commands), read is not None))
        commands += [("TYPE", spec["name"]), ("PTTL", spec["name"])] + ([read] if read else [])
    replies = conn.pipeline_execute(commands)
    results, later = [], []
    for spec, (start, has_read) in zip(specs, slots):
        key_type, pttl = replies[start], replies[start + 1]
        for reply in (key_type, pttl):
            if isinstance(reply, RedisError):
                raise reply
        key_type = _text(key_type)
        value = replies[start + 2] if has_read else None
        if not has_read and spec["type"] is None and _read_command(spec, key_type):
            later.append((len(results), _read_command(spec, key_type)))
        results.append([spec, key_type, pttl, value])
    if later:
        values = conn.pipeline_execute([command for _index, command in later])
        for (index, _command), value in zip(later, values):
            results[index][3] = value
    return [_judge_key(spec, key_type, pttl, value) for spec, key_type, pttl, value in results]


def _judge_key(spec, key_type, pttl, value):
    exists = key_type != "none"
    result = {"name": spec["name"], "exists": exists, "type": key_type if exists else None,
              "ttl": None, "valid": True, "problem": None}
    if not exists:
        result.update(valid=False, problem="missing")
        return result
    pttl = int(pttl)
    result["ttl"] = -1 if pttl == -1 else round(pttl / 1000.0, 3)
    problem = None
    if spec["type"] and key_type != spec["type"]:
        problem = "wrong type: %s, expected %s" % (key_type, spec["type"])
    elif isinstance(value, RedisError):
        problem = "could not be read: %s" % value
    elif spec["json"] and key_type not in ("string", "hash"):
        problem = "a %s cannot be checked as JSON (a string or a hash can)" % key_type
    elif spec["fields"] and key_type != "hash":
        problem = "a %s has no fields, expected a hash" % key_type
    elif key_type == "hash" and (spec["fields"] or spec["json"]):
        fields = _hash_fields(spec, value)
        missing = [f for f in spec["fields"] if f not in fields]
        bad = sorted(name for name, raw in fields.items() if spec["json"] and not _is_json(raw))
        if missing:
            problem = "missing fields: %s" % ", ".join(missing)
        elif bad:
            problem = "fields not JSON: %s" % ", ".join(bad[:10]) + (" (and %d more)" % (len(bad) - 10) if len(bad) > 10 else "")
    elif key_type == "string" and spec["json"]:
        error = _json_error(value)
        if error:
            problem = "not JSON: %s" % error
    if problem:
        result.update(valid=False, problem=problem)
    return result


def _hash_fields(spec, value):
    """{field: raw value} from HGETALL's flat list or HMGET's values (missing fields left out)."""
    if spec["json"]:
        items = value or []
        return dict((_text(items[i]), items[i + 1]) for i in range(0, len(items) - 1, 2))
    return dict((name, raw) for name, raw in zip(spec["fields"], value or []) if raw is not None)


def _json_error(raw):
    """Why a value is not JSON (the parser's words and position, never the value), or None."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return "not UTF-8 text"
    try:
        json.loads(text)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def _is_json(raw):
    return _json_error(raw) is None


def probe_latency(conn, samples, window, clock=time.perf_counter, sleep=time.sleep):
    """Round trips of PING. Over exec, ``redis-cli --latency`` in the pod for ``window`` seconds
    (the exec's own cost left out); otherwise ``samples`` PINGs spread over ``window`` seconds."""
    if samples <= 0:
        return None
    if conn.via == "exec" and hasattr(conn, "latency"):
        result = conn.latency(window if window > 0 else 0.5)
        result.update(p50_ms=None, source="redis-cli --latency in the pod")
        return result
    times = []
    step = window / samples if window > 0 else 0.0
    start = clock()
    for index in range(samples):
        due = start + index * step
        now = clock()
        if due > now:
            sleep(due - now)
        began = clock()
        conn.execute("PING")
        times.append((clock() - began) * 1000.0)
    return {"samples": len(times), "min_ms": round(min(times), 3), "avg_ms": round(sum(times) / len(times), 3),
            "p50_ms": round(statistics.median(times), 3), "max_ms": round(max(times), 3),
            "source": "PING from the control node"}


# -- the report -------------------------------------------------------------------------------


def _num(info, key, default=0):
    value = info.get(key, default)
    return value if isinstance(value, (int, float)) else default


def _role(value):
    return {"master": "primary", "slave": "replica"}.get(value, value)


def server_section(info, where, cluster_state=None):
    return {"version": info.get("redis_version"), "mode": info.get("redis_mode") or "standalone",
            "role": _role(info.get("role")), "uptime_seconds": info.get("uptime_in_seconds"), "address": where,
            "cluster_state": cluster_state}


def memory_section(info):
    used, limit = _num(info, "used_memory"), _num(info, "maxmemory")
    return {"used_bytes": used, "rss_bytes": info.get("used_memory_rss"), "peak_bytes": info.get("used_memory_peak"),
            "maxmemory_bytes": limit, "percent": round(100.0 * used / limit, 1) if limit else None,
            "policy": info.get("maxmemory_policy"), "fragmentation_ratio": info.get("mem_fragmentation_ratio"),
            "fragmentation_bytes": info.get("mem_fragmentation_bytes"), "evicted_keys": _num(info, "evicted_keys")}


def _rate(hits, misses):
    return round(float(hits) / (hits + misses), 4) if hits + misses > 0 else None


def stats_section(first, last, elapsed, own_commands):
    """Lifetime counters of ``last``; interval ones between ``first`` and ``last`` (None without a window)."""
    hits, misses = _num(last, "keyspace_hits"), _num(last, "keyspace_misses")
    stats = {"hit_rate": _rate(hits, misses), "hit_rate_window": None, "hits": hits, "misses": misses,
             "lookups_window": None, "ops_per_sec": last.get("instantaneous_ops_per_sec"), "evicted_keys_window": None,
             "expired_keys": _num(last, "expired_keys"), "rejected_connections": _num(last, "rejected_connections"),
             "rejected_connections_window": None, "window_seconds": None}
    if first is not None and elapsed and elapsed > 0:
        d_hits = max(0, hits - _num(first, "keyspace_hits"))
        d_misses = max(0, misses - _num(first, "keyspace_misses"))
        d_ops = max(0, _num(last, "total_commands_processed") - _num(first, "total_commands_processed") - own_commands)
        stats.update(hit_rate_window=_rate(d_hits, d_misses), lookups_window=d_hits + d_misses,
                     ops_per_sec=round(d_ops / elapsed, 1),
                     evicted_keys_window=max(0, _num(last, "evicted_keys") - _num(first, "evicted_keys")),
                     rejected_connections_window=max(0, _num(last, "rejected_connections")
                                                     - _num(first, "rejected_connections")),
                     window_seconds=round(elapsed, 3))
    return stats


def clients_section(info):
    connected, limit = _num(info, "connected_clients"), info.get("maxclients")
    return {"connected": connected, "blocked": _num(info, "blocked_clients"), "maxclients": limit,
            "percent": round(100.0 * connected / limit, 1) if isinstance(limit, int) and limit else None}


def persistence_section(info):
    return {"rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"), "aof_enabled": bool(_num(info, "aof_enabled")),
            "aof_last_write_status": info.get("aof_last_write_status"),
            "aof_last_bgrewrite_status": info.get("aof_last_bgrewrite_status"),
            "rdb_changes_since_last_save": info.get("rdb_changes_since_last_save"), "loading": bool(_num(info, "loading"))}


def replication_section(info):
    replicas = []
    for index in range(_num(info, "connected_slaves")):
        entry = info.get("slave%d" % index)
        if isinstance(entry, dict):
            replicas.append({"address": "%s:%s" % (entry.get("ip"), entry.get("port")), "state": entry.get("state"),
                             "offset": entry.get("offset"), "lag": entry.get("lag")})
    replica = info.get("role") == "slave"
    return {"role": _role(info.get("role")), "connected_replicas": _num(info, "connected_slaves"),
            "replicas": replicas,
            "master_host": info.get("master_host") if replica else None,
            "master_port": info.get("master_port") if replica else None,
            "master_link_status": info.get("master_link_status") if replica else None,
            "master_link_down_seconds": info.get("master_link_down_since_seconds") if replica else None}


def databases_section(info):
    return dict((key, {"keys": value.get("keys", 0), "expires": value.get("expires", 0), "avg_ttl": value.get("avg_ttl", 0)})
                for key, value in sorted(info.items(), key=lambda kv: (len(kv[0]), kv[0]))
                if key.startswith("db") and key[2:].isdigit() and isinstance(value, dict))


def _size(value):
    value = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024.0


def findings(report, options):
    """Plain-language problems: [{check, severity (info | warning | critical), message}]."""
    out = []

    def add(check, severity, message):
        out.append({"check": check, "severity": severity, "message": message})

    memory, stats, clients = report["memory"], report["stats"], report["clients"]
    persistence, replication, server = report["persistence"], report["replication"], report["server"]
    if memory["percent"] is not None and memory["percent"] >= options["memory_percent"]:
        full = memory["percent"] >= 100 or (memory["policy"] == "noeviction" and memory["percent"] >= options["memory_percent"])
        consequence = ("writes fail with OOM (maxmemory-policy noeviction)" if memory["policy"] == "noeviction"
                       else "keys are evicted (maxmemory-policy %s)" % memory["policy"])
        add("memory", "critical" if full else "warning",
            "memory is at %.1f %% of maxmemory (%s of %s, threshold %s %%): %s"
            % (memory["percent"], _size(memory["used_bytes"]), _size(memory["maxmemory_bytes"]),
               _fmt(options["memory_percent"]), consequence))
    ratio, wasted = memory["fragmentation_ratio"], memory["fragmentation_bytes"] or 0
    if isinstance(ratio, (int, float)) and ratio >= options["fragmentation_ratio"] and wasted >= FRAGMENTATION_MIN_BYTES:
        add("fragmentation", "warning",
            "memory fragmentation ratio is %.2f (RSS %s for %s of data, threshold %s): consider activedefrag, or a "
            "restart (replica first)" % (ratio, _size(memory["rss_bytes"]), _size(memory["used_bytes"]),
                                         _fmt(options["fragmentation_ratio"])))
    if stats["evicted_keys_window"]:
        add("evictions", "warning", "%d keys were evicted in the last %.1f s (maxmemory reached, policy %s)"
            % (stats["evicted_keys_window"], stats["window_seconds"], memory["policy"]))
    elif memory["evicted_keys"] and stats["evicted_keys_window"] is None:
        add("evictions", "warning", "%d keys have been evicted since the server started (maxmemory reached, policy %s)"
            % (memory["evicted_keys"], memory["policy"]))
    elif memory["evicted_keys"]:
        add("evictions", "info", "%d keys have been evicted since the server started, none in the last %.1f s"
            % (memory["evicted_keys"], stats["window_seconds"]))
    rate, over = None, None
    if stats["hit_rate_window"] is not None and (stats["lookups_window"] or 0) >= MIN_WINDOW_LOOKUPS:
        rate, over = stats["hit_rate_window"], "the last %.1f s (%d lookups)" % (stats["window_seconds"], stats["lookups_window"])
    elif stats["hit_rate"] is not None and stats["hits"] + stats["misses"] >= MIN_LOOKUPS:
        rate, over = stats["hit_rate"], "the server's lifetime (%d lookups)" % (stats["hits"] + stats["misses"])
    if rate is not None and rate < options["min_hit_rate"]:
        add("hit_rate", "warning", "cache hit rate is %.1f %% over %s, below %s %%: reads miss the cache and go to "
            "the backing services" % (100 * rate, over, _fmt(100 * options["min_hit_rate"])))
    if clients["blocked"] and clients["blocked"] * 2 >= clients["connected"]:
        add("blocked_clients", "info", "%d of %d clients are blocked in BLPOP/XREAD/WAIT-like commands (normal for idle "
            "queue workers)" % (clients["blocked"], clients["connected"]))
    if clients["percent"] is not None and clients["percent"] >= CLIENTS_PERCENT:
        add("clients", "warning", "%d of maxclients %d connections are in use (%.1f %%)"
            % (clients["connected"], clients["maxclients"], clients["percent"]))
    if stats["rejected_connections_window"]:
        add("clients", "critical", "%d connections were refused in the last %.1f s: maxclients (%s) is reached"
            % (stats["rejected_connections_window"], stats["window_seconds"], clients["maxclients"]))
    if persistence["rdb_last_bgsave_status"] not in (None, "ok"):
        add("persistence", "critical", "the last RDB save failed (rdb_last_bgsave_status %s): with "
            "stop-writes-on-bgsave-error the server refuses writes (MISCONF); check its disk and log"
            % persistence["rdb_last_bgsave_status"])
    if persistence["aof_enabled"] and persistence["aof_last_write_status"] not in (None, "ok"):
        add("persistence", "critical", "writing the AOF failed (aof_last_write_status %s): check the disk"
            % persistence["aof_last_write_status"])
    if persistence["aof_enabled"] and persistence["aof_last_bgrewrite_status"] not in (None, "ok"):
        add("persistence", "warning", "the last AOF rewrite failed (aof_last_bgrewrite_status %s)"
            % persistence["aof_last_bgrewrite_status"])
    if persistence["loading"]:
        add("persistence", "warning", "the server is loading its dataset: it answers LOADING until it is done")
    if replication["role"] == "replica" and replication["master_link_status"] != "up":
        down = replication.get("master_link_down_seconds")
        add("replication", "critical", "the replica's link to its primary %s:%s is %s%s: it serves stale data"
            % (replication["master_host"], replication["master_port"], replication["master_link_status"],
               " (for %s s)" % down if isinstance(down, int) and down >= 0 else ""))
    if server.get("cluster_state") not in (None, "ok"):
        add("cluster", "critical", "cluster_state is %s: the cluster refuses commands (CLUSTERDOWN) until every slot "
            "is served" % server["cluster_state"])
    latency = report.get("latency")
    if latency:
        value = latency.get("p50_ms") if latency.get("p50_ms") is not None else latency.get("avg_ms")
        if value is not None and value > options["max_latency_ms"]:
            add("latency", "warning", "round trips take %.1f ms (%s of %d PINGs, %s), above %s ms"
                % (value, "median" if latency.get("p50_ms") is not None else "average", latency["samples"],
                   latency.get("source"), _fmt(options["max_latency_ms"])))
    for key in report.get("keys") or []:
        if not key["valid"]:
            add("keys", "warning" if key["problem"] == "missing" else "critical",
                "critical key %s: %s" % (key["name"], key["problem"]))
    return out


def _fmt(number):
    return ("%g" % number) if isinstance(number, float) else str(number)


def collect(conn, options, clock=time.monotonic, sleep=time.sleep):
    """The whole report (see redis_health_info's RETURN). Raises RedisError when INFO cannot be read."""
    unavailable = {}
    first = conn.info()
    started = clock()
    window = float(options["sample_seconds"])
    latency, last, elapsed, own = None, first, None, 0
    try:
        latency = probe_latency(conn, int(options["latency_samples"]), window, sleep=sleep)
    except RedisError as exc:
        unavailable["latency"] = str(exc)
    if window > 0:
        remaining = window - (clock() - started)
        if remaining > 0:
            sleep(remaining)
        last = conn.info()
        elapsed = clock() - started
        # Commands of our own between the two INFOs: the first INFO, the PINGs (and over exec each
        # redis-cli's AUTH and SELECT).
        own = 1 + ((latency or {}).get("samples") or 0)
        if conn.via == "exec":
            own += (2 if conn.settings.get("password") else 0) + (2 if conn.db else 0)
    cluster_state = None
    if last.get("redis_mode") == "cluster" or _num(last, "cluster_enabled"):
        try:
            cluster_state = parse_info(conn.execute("CLUSTER", "INFO")).get("cluster_state")
        except RedisError as exc:
            unavailable["cluster"] = str(exc)
    report = {
        "server": server_section(last, conn.where, cluster_state),
        "memory": memory_section(last),
        "stats": stats_section(first if window > 0 else None, last, elapsed, own),
        "clients": clients_section(last),
        "persistence": persistence_section(last),
        "replication": replication_section(last),
        "databases": databases_section(last),
        "latency": latency,
        "keys": [],
        "commands": None,
        "keyspace": None,
    }
    if options["keys"]:
        try:
            report["keys"] = check_keys(conn, options["keys"])
        except RedisError as exc:
            report["keys"] = None
            unavailable["keys"] = str(exc)
    try:
        report["commands"] = {"available": commands_available(conn, COMMANDS_CHECKED)}
    except RedisError as exc:
        unavailable["commands"] = str(exc)
    if int(options["keyspace_scan_limit"]) > 0:
        try:
            report["keyspace"] = ks.scan_keyspace(conn, options["keyspace_patterns"], limit=int(options["keyspace_scan_limit"]),
                                                  time_budget=SCAN_TIME_BUDGET)
        except RedisError as exc:
            unavailable["keyspace"] = str(exc)
    report["findings"] = findings(report, options)
    report["healthy"] = not any(f["severity"] in ("warning", "critical") for f in report["findings"])
    report["unavailable"] = unavailable or False
    return report
