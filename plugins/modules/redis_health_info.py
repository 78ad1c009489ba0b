#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_health_info
short_description: Diagnose a Redis cache in one call
version_added: 0.3.0
description:
  - Connects to a Redis server and reports what the runbook's "Cache Recovery" looks at before anything is
    flushed - memory against C(maxmemory) and evictions, the hit rate, clients, persistence errors, replication,
    latency, the critical keys the services need (present, of the right type, valid JSON, with their fields),
    which of the runbook's commands the server offers (renamed or disabled ones show as unavailable) and what
    the keyspace holds by class (cache, queues, sessions, locks, rate limits) - with plain-language
    RV(findings) and a RV(healthy) verdict.
  - Few round trips - C(INFO) once (twice with O(sample_seconds), whose interval gives the current hit rate,
    operations and evictions), the key checks in one pipeline, the keyspace by C(SCAN) with one pipelined
    C(TYPE) per batch (never C(KEYS)) - so it is safe on a struggling server.
  - A section that cannot be read (a command the ACL user may not run, a renamed command) is reported in
    RV(unavailable) instead of failing. A server that cannot be reached, refuses the credentials or does not let
    the user run C(INFO) fails the module with RV(error_kind), which a playbook turns into the incident's evidence.
  - Read-only. The same in check mode.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.redis
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node and connects to Redis from there.
options:
  latency_samples:
    description:
      - How many C(PING) round trips RV(latency) measures, spread over O(sample_seconds). V(0) skips the probe.
      - Over O(connect_via=exec) the probe is C(redis-cli --latency) in the pod for O(sample_seconds) (at least
        0.5 s), which measures from inside the pod without the exec's own cost; this number then only switches it
        on or off.
    type: int
    default: 10
  sample_seconds:
    description:
      - The window for interval rates - RV(stats.hit_rate_window), RV(stats.ops_per_sec),
        RV(stats.evicted_keys_window), RV(stats.rejected_connections_window) - between two C(INFO) readings; the
        latency probe runs inside it. V(0) reads C(INFO) once and reports lifetime counters only. At most 60.
    type: float
    default: 1.0
  keyspace_scan_limit:
    description:
      - At most this many keys of the database (O(db)) are scanned and classified for RV(keyspace) (the scan also
        stops after 10 seconds). V(0) skips the scan (RV(keyspace) is null).
    type: int
    default: 10000
  keyspace_patterns:
    description:
      - Key classes and their name globs (case-sensitive, C(fnmatch) rules), checked in order - the first class
        with a matching glob wins; keys no glob claims are V(queue) when they are lists or streams, else
        V(unclassified).
      - The defaults are V(cache) (V(cache:*), V(config:*), V(workflows:*), V(workflow:*:stats)), V(queue)
        (V(queue:*), V(bull:*), V(celery*), V(*:queue)), V(session) (V(session:*), V(sess:*)), V(lock)
        (V(lock:*), V(*:lock), V(locks:*)) and V(rate_limit) (V(ratelimit:*), V(rate_limit:*), V(rl:*)).
      - A dict given here replaces only the classes it names (an empty list switches a class off); classes of
        its own are checked after the default ones.
    type: dict
  keys:
    description:
      - The critical keys the services need. Each is checked for existence, its type, and optionally its value;
        the results are in RV(keys) and each invalid key is a finding.
      - Values are read only as far as the checks need and are never returned.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The key's name.
        type: str
        required: true
      type:
        description: The type the key must have.
        type: str
        choices: [string, hash, list, set, zset, stream]
      json:
        description: The value (a string) or every field's value (a hash) must be valid JSON.
        type: bool
        default: false
      fields:
        description: Hash fields that must exist (the key must then be a hash).
        type: list
        elements: str
  memory_percent:
    description:
      - Memory use at or above this percentage of C(maxmemory) is a finding (critical at 100 %, or with
        C(maxmemory-policy noeviction), where writes then fail). Only judged when C(maxmemory) is set.
    type: float
    default: 90.0
  fragmentation_ratio:
    description:
      - C(mem_fragmentation_ratio) at or above this is a finding, when the memory it wastes is at least 16 MiB.
        More than 1.
    type: float
    default: 1.5
  min_hit_rate:
    description:
      - A cache hit rate below this (0 to 1) is a finding - over the sampling window when it saw at least 20
        lookups, else over the server's lifetime when it saw at least 100.
    type: float
    default: 0.8
  max_latency_ms:
    description:
      - A median round trip (the average over exec) above this many milliseconds is a finding.
    type: float
    default: 50.0
notes:
  - The keyspace scan reads one database (O(db)); RV(databases) counts the keys of all of them. In cluster mode
    it covers the keys of the node connected to only.
  - A scan with C(SCAN) may miss keys written while it runs, and see a key twice; its numbers are a picture of
    the keyspace, not an exact count (RV(databases) has the exact totals).
  - Redis counts the scan's C(TYPE) reads and the key checks' reads as keyspace hits or misses. The sampling window
    closes before they run, so RV(stats.hit_rate_window) is the application's alone; the lifetime
    RV(stats.hit_rate) of later runs includes them.
seealso:
  - module: ai_orchestrator.incident_response.postgresql_health_info
  - name: INFO
    description: The fields of Redis's INFO read here.
    link: https://redis.io/docs/latest/commands/info/
"""

EXAMPLES = r"""
- name: Diagnose the cache
  ai_orchestrator.incident_response.redis_health_info:
    redis_host: redis.ai-orchestrator.svc
    password: "{{ redis_password }}"
    keys:
      - name: config:feature-flags
        type: string
        json: true
      - name: workflows:registry
        type: hash
        fields: [default]
  register: cache

- name: Say what is wrong
  ansible.builtin.debug:
    msg: "{{ cache.findings | map(attribute='message') | list }}"
  when: not cache.healthy

- name: Diagnose through the Kubernetes API server, from outside the cluster's network
  ai_orchestrator.incident_response.redis_health_info:
    connect_via: port_forward
    pod: statefulset/redis
    pod_namespace: ai-orchestrator
    password: "{{ redis_password }}"
  register: cache

- name: As the runbook's kubectl exec ... redis-cli does, with the pod's own credentials
  ai_orchestrator.incident_response.redis_health_info:
    connect_via: exec
    pod: redis-0
    pod_namespace: ai-orchestrator
    sample_seconds: 0
  register: cache

- name: Escalate when the cache cannot be reached at all
  ai_orchestrator.incident_response.redis_health_info:
    url: "rediss://redis.ai-orchestrator.svc:6380/0"
    tls_ca_cert: /etc/ssl/redis-ca.pem
  register: cache
  failed_when: cache.failed and cache.error_kind not in ['connection', 'timeout', 'auth', 'tls']
"""

RETURN = r"""
healthy:
  description: True when no finding is a V(warning) or V(critical).
  returned: success
  type: bool
  sample: false
findings:
  description:
    - Plain-language problems, each with its C(check) - V(memory), V(fragmentation), V(evictions), V(hit_rate),
      V(blocked_clients), V(clients), V(persistence), V(replication), V(cluster), V(latency), V(keys) (one per
      invalid critical key) - its C(severity) (V(info), V(warning), V(critical)) and a C(message) with the numbers.
  returned: success
  type: list
  elements: dict
  sample:
    - check: memory
      severity: critical
      message: "memory is at 99.2 % of maxmemory (1.9 MiB of 2.0 MiB, threshold 90 %): keys are evicted
        (maxmemory-policy allkeys-lru)"
    - check: keys
      severity: warning
      message: "critical key config:feature-flags: missing"
server:
  description: The server.
  returned: success
  type: dict
  contains:
    version:
      description: C(redis_version).
      type: str
      sample: 7.0.15
    mode:
      description: V(standalone), V(cluster) or V(sentinel) (C(redis_mode)).
      type: str
      sample: standalone
    role:
      description: V(primary) or V(replica).
      type: str
      sample: primary
    uptime_seconds:
      description: Seconds since the server started.
      type: int
      sample: 86400
    address:
      description: Where the module connected, and how.
      type: str
      sample: "pod ai-orchestrator/redis-0 port 6379 db 0 via port-forward"
    cluster_state:
      description: In cluster mode, C(cluster_state) of C(CLUSTER INFO) (V(ok) or V(fail)); null otherwise.
      type: str
      sample: ok
memory:
  description: Memory use.
  returned: success
  type: dict
  contains:
    used_bytes:
      description: C(used_memory).
      type: int
      sample: 1048576
    rss_bytes:
      description: C(used_memory_rss).
      type: int
      sample: 9437184
    peak_bytes:
      description: C(used_memory_peak).
      type: int
      sample: 2097152
    maxmemory_bytes:
      description: C(maxmemory); 0 when not set.
      type: int
      sample: 2097152
    percent:
      description: RV(memory.used_bytes) as a percentage of RV(memory.maxmemory_bytes); null without C(maxmemory).
      type: float
      sample: 50.0
    policy:
      description: C(maxmemory-policy).
      type: str
      sample: allkeys-lru
    fragmentation_ratio:
      description: C(mem_fragmentation_ratio).
      type: float
      sample: 1.12
    fragmentation_bytes:
      description: C(mem_fragmentation_bytes) (RSS less used memory).
      type: int
      sample: 120000
    evicted_keys:
      description: Keys evicted since the server started.
      type: int
      sample: 0
stats:
  description: Hits, misses and operations; the C(_window) values are over O(sample_seconds) (null when it is 0).
  returned: success
  type: dict
  contains:
    hit_rate:
      description: C(keyspace_hits / (hits + misses)) since the server started, 4 places; null without lookups.
      type: float
      sample: 0.9731
    hit_rate_window:
      description: The same over the sampling window; null without a window or without lookups in it.
      type: float
      sample: 0.41
    lookups_window:
      description: Lookups (hits and misses) in the window.
      type: int
      sample: 250
    hits:
      description: C(keyspace_hits).
      type: int
      sample: 120034
    misses:
      description: C(keyspace_misses).
      type: int
      sample: 3321
    ops_per_sec:
      description: Commands per second over the window (the module's own left out); without a window the
        server's C(instantaneous_ops_per_sec).
      type: float
      sample: 1520.0
    evicted_keys_window:
      description: Keys evicted in the window.
      type: int
      sample: 0
    expired_keys:
      description: C(expired_keys).
      type: int
      sample: 4100
    rejected_connections:
      description: Connections refused at C(maxclients) since the server started.
      type: int
      sample: 0
    rejected_connections_window:
      description: The same in the window.
      type: int
      sample: 0
    window_seconds:
      description: The window's actual length.
      type: float
      sample: 1.002
clients:
  description: Client connections.
  returned: success
  type: dict
  contains:
    connected:
      description: C(connected_clients) (the module's own connection included).
      type: int
      sample: 42
    blocked:
      description: C(blocked_clients) (in C(BLPOP), C(XREAD BLOCK), C(WAIT), ...).
      type: int
      sample: 3
    maxclients:
      description: C(maxclients).
      type: int
      sample: 10000
    percent:
      description: RV(clients.connected) as a percentage of RV(clients.maxclients).
      type: float
      sample: 0.4
persistence:
  description: Persistence state.
  returned: success
  type: dict
  contains:
    rdb_last_bgsave_status:
      description: V(ok) or V(err).
      type: str
      sample: ok
    aof_enabled:
      description: Whether the AOF is on.
      type: bool
      sample: false
    aof_last_write_status:
      description: V(ok) or V(err).
      type: str
      sample: ok
    aof_last_bgrewrite_status:
      description: V(ok) or V(err).
      type: str
      sample: ok
    rdb_changes_since_last_save:
      description: Writes not yet in an RDB snapshot.
      type: int
      sample: 120
    loading:
      description: True while the server loads its dataset.
      type: bool
      sample: false
replication:
  description: Replication as this server sees it.
  returned: success
  type: dict
  contains:
    role:
      description: V(primary) or V(replica).
      type: str
      sample: replica
    connected_replicas:
      description: Replicas connected to this primary.
      type: int
      sample: 0
    replicas:
      description: On a primary, each replica's C(address), C(state), C(offset) and C(lag) (seconds).
      type: list
      elements: dict
      sample: [{address: "10.0.3.7:6379", state: online, offset: 1200, lag: 0}]
    master_host:
      description: On a replica, its primary's host; null on a primary.
      type: str
      sample: 10.0.3.5
    master_port:
      description: On a replica, its primary's port.
      type: int
      sample: 6379
    master_link_status:
      description: On a replica, V(up) or V(down).
      type: str
      sample: up
    master_link_down_seconds:
      description: On a replica whose link is down, for how long (C(-1) when it never came up).
      type: int
      sample: 12
databases:
  description: Per database with keys (C(INFO keyspace)) its C(keys), C(expires) (keys with a TTL) and C(avg_ttl)
    (milliseconds).
  returned: success
  type: dict
  sample: {db0: {keys: 1520, expires: 1200, avg_ttl: 3550000}}
keyspace:
  description: What the database holds, from a C(SCAN) of at most O(keyspace_scan_limit) keys; null when skipped
    or unavailable.
  returned: success
  type: dict
  contains:
    scanned:
      description: Keys classified.
      type: int
      sample: 1520
    complete:
      description: Whether every key was seen (the scan was not stopped by the limit or the 10 s budget).
      type: bool
      sample: true
    stopped_by:
      description: V(limit) or V(time_budget) when the scan stopped early; null when complete.
      type: str
      sample: null
    by_type:
      description: Keys per type.
      type: dict
      sample: {hash: 20, list: 3, string: 1497}
    classes:
      description: Per class (see O(keyspace_patterns); V(unclassified) for the rest) its C(keys), a C(sample) of
        up to 5 names and its C(types).
      type: dict
      sample: {cache: {keys: 1200, sample: ["cache:user:1"], types: {string: 1200}},
               queue: {keys: 3, sample: ["queue:emails"], types: {list: 3}}}
    queues:
      description: The 20 longest queue-class lists, streams and sorted sets - C(key), C(type), C(length)
        (C(LLEN), C(XLEN), C(ZCARD)) - longest first.
      type: list
      elements: dict
      sample: [{key: "queue:emails", type: list, length: 1200}]
    non_cache:
      description: The classes present that a cache flush must not delete (V(queue), V(session), V(lock)).
      type: list
      elements: str
      sample: [queue, session]
    match:
      description: The SCAN pattern (V(*)).
      type: str
      sample: "*"
    duration_seconds:
      description: How long the scan took.
      type: float
      sample: 0.12
latency:
  description: Round trips of C(PING) (see O(latency_samples)); null when skipped or unavailable.
  returned: success
  type: dict
  contains:
    samples:
      description: Round trips measured.
      type: int
      sample: 10
    min_ms:
      description: Fastest, milliseconds.
      type: float
      sample: 0.21
    avg_ms:
      description: Average.
      type: float
      sample: 0.35
    p50_ms:
      description: Median (null over exec, where redis-cli reports none).
      type: float
      sample: 0.3
    max_ms:
      description: Slowest.
      type: float
      sample: 1.2
    source:
      description: How it was measured.
      type: str
      sample: PING from the control node
keys:
  description: The O(keys) checks, in order; null when they could not be read (see RV(unavailable)).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The key.
      type: str
      sample: config:feature-flags
    exists:
      description: Whether it exists.
      type: bool
      sample: true
    type:
      description: Its type (null when missing).
      type: str
      sample: string
    ttl:
      description: Seconds to live (3 places), V(-1) without an expiry, null when missing.
      type: float
      sample: -1
    valid:
      description: False when missing, of another type, not valid JSON, or lacking fields.
      type: bool
      sample: false
    problem:
      description: >-
        Why it is not valid - V(missing), V(wrong type: hash, expected string), V(not JSON: ...),
        V(missing fields: a, b), V(fields not JSON: ...); null when valid.
      type: str
      sample: "not JSON: Expecting value: line 1 column 1 (char 0)"
commands:
  description: The runbook's commands and whether the server offers them under their own name
    (C(COMMAND INFO)); a renamed or disabled command is false. Null when unavailable.
  returned: success
  type: dict
  contains:
    available:
      description: C(FLUSHALL), C(FLUSHDB), C(UNLINK), C(DEL), C(SCAN), C(KEYS), C(DUMP), C(RESTORE), C(EVAL),
        C(CONFIG), C(INFO) - true or false.
      type: dict
      sample: {FLUSHALL: false, FLUSHDB: true, UNLINK: true, SCAN: true, KEYS: false}
unavailable:
  description: False when every section was read; else the sections that could not be (V(latency), V(keys),
    V(commands), V(keyspace), V(cluster)) with the reason.
  returned: success
  type: raw
  sample: {keyspace: "127.0.0.1:6379 db 0: NOPERM this user has no permissions to run the 'scan' command (...)"}
error_kind:
  description:
    - Why the module failed - V(connection), V(timeout), V(tls), V(auth), V(permission) (the user may not run
      C(INFO), or the Kubernetes identity may not reach the pod), V(not_found) (the pod), V(library), V(error), or
      V(invalid_input) (an option is unusable; nothing was sent).
  returned: failure
  type: str
  sample: auth
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import info
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import (
    RedisError,
    error_kind,
    open_redis,
    redis_argument_spec,
)

OPTIONS = ("latency_samples", "sample_seconds", "keyspace_scan_limit", "keyspace_patterns", "keys", "memory_percent",
           "fragmentation_ratio", "min_hit_rate", "max_latency_ms")


def argspec():
    spec = cluster_argument_spec()
    spec.update(redis_argument_spec())
    spec.update(
        latency_samples=dict(type="int", default=info.DEFAULTS["latency_samples"]),
        sample_seconds=dict(type="float", default=info.DEFAULTS["sample_seconds"]),
        # "key" here is a Redis key, not a secret.
        keyspace_scan_limit=dict(type="int", default=info.DEFAULTS["keyspace_scan_limit"], no_log=False),
        keyspace_patterns=dict(type="dict", no_log=False),
        keys=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
            name=dict(type="str", required=True),
            type=dict(type="str", choices=list(info.KEY_TYPES)),
            json=dict(type="bool", default=False),
            fields=dict(type="list", elements="str"),
        )),
        memory_percent=dict(type="float", default=info.DEFAULTS["memory_percent"]),
        fragmentation_ratio=dict(type="float", default=info.DEFAULTS["fragmentation_ratio"]),
        min_hit_rate=dict(type="float", default=info.DEFAULTS["min_hit_rate"]),
        max_latency_ms=dict(type="float", default=info.DEFAULTS["max_latency_ms"]),
    )
    return spec


def diagnose(params):
    options = info.check_options(dict((name, params.get(name)) for name in OPTIONS))
    with open_redis(params, kube_params=params) as conn:
        return info.collect(conn, options)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = diagnose(module.params)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input")
    except RedisError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc), error_kind=error_kind(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
