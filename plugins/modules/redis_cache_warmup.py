#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_cache_warmup
short_description: Warm a Redis cache up with a declared key set, or restore the keys a flush saved
version_added: 0.3.0
description:
  - The runbook's "warm up cache with critical data" as keys written straight to Redis - strings, hashes, lists, sets
    and sorted sets given in O(keys) or a O(src) file - or the protected keys that
    M(ai_orchestrator.incident_response.redis_cache_flush) saved to its O(ai_orchestrator.incident_response.redis_cache_flush#module:save_to)
    file, restored byte for byte (C(RESTORE) of their C(DUMP)) with what was left of their time to live.
  - Pipelined in batches of O(batch_size) keys - with O(replace=false) one round trip to find the keys that exist
    (C(EXISTS)) and one to write the others; with O(replace=true) one C(MULTI)/C(EXEC) per batch that deletes and
    writes each key, so no client reads a half-written key.
  - With O(replace=false) (the default) keys that exist are left as they are (RV(skipped_existing)), so a second run
    changes nothing. Strings are written with C(SET NX) and saved keys with C(RESTORE) without C(REPLACE), so a key
    the application wrote meanwhile wins; a hash, list, set or sorted set it created between the check and the write
    would be added to.
  - Afterwards every key of O(verify) must exist; a key that could not be written (an ACL user without write
    permission, a server at C(maxmemory) with C(noeviction), a C(DUMP) from a newer Redis) fails the module with
    RV(missing) and the server's errors in RV(errors).
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.redis
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: Reads which keys exist (C(EXISTS)) and counts what would be written in RV(written); writes nothing.
  diff_mode:
    support: none
    description: No diff; RV(written), RV(by_type) and RV(skipped_existing) say what changed.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node and connects to Redis from there (or through the Kubernetes API, O(connect_via)).
options:
  keys:
    description:
      - Keys to write, in order (before those of O(src)). Each has O(keys[].key) and either O(keys[].value) (with
        O(keys[].type) and O(keys[].ttl)) or O(keys[].dump) (with O(keys[].pttl)).
    type: list
    elements: dict
    suboptions:
      key:
        description: The key's name.
        type: str
        required: true
      key_base64:
        description: O(keys[].key) is the base64 of the name (a name that is not UTF-8, as save files write it).
        type: bool
        default: false
      type:
        description:
          - The value's type - V(string) (when not given), V(hash), V(list), V(set) or V(zset). For a O(keys[].dump)
            entry it is only reported in RV(by_type) (a save file also has V(stream)).
          - V(string) - O(keys[].value) text (a number is written as its decimal text, a list or dict as JSON).
          - V(hash) - a dict of field to value. V(list) - a list (pushed in order). V(set) - a list of members.
            V(zset) - a dict of member to score (a number, or V(+inf)/V(-inf)).
          - Collections must not be empty (Redis stores no empty collection).
        type: str
      value:
        description: The value, as O(keys[].type) says.
        type: raw
      ttl:
        description: Seconds to live (more than 0; fractions are milliseconds). No expiry when not given.
        type: float
      dump:
        description: Base64 of the key's C(DUMP) (from a save file); restored with C(RESTORE). Not with O(keys[].value).
        type: str
      pttl:
        description: Milliseconds the dumped key had left to live when saved, -1 (the default) for no expiry.
        type: int
      saved_at:
        description:
          - When the dump was saved (milliseconds since the epoch). With it the key keeps its original expiry time -
            it gets O(keys[].pttl) less the time since O(keys[].saved_at), and is not written (RV(skipped_expired))
            when that ran out.
        type: int
      db:
        description: The database for this key; the connection's (O(db)) when not given. A save file of a
          C(FLUSHALL) names each key's database.
        type: int
  src:
    description:
      - File on the control node with more entries like O(keys) - a JSON list, a YAML list, or JSON lines (one object
        per line, as a flush's save file is).
    type: path
  replace:
    description:
      - V(false) - write only keys that do not exist. V(true) - delete and write every key (each batch in one
        C(MULTI)/C(EXEC)); saved keys are restored with C(RESTORE ... REPLACE).
    type: bool
    default: false
  batch_size:
    description:
      - Keys per round trip (per C(MULTI) with O(replace=true)). 1 to 10000. Collections are sent in commands of at
        most 1000 elements whatever the batch.
    type: int
    default: 500
  verify:
    description:
      - Keys (of the connection's database) that must exist afterwards, or the module fails.
      - By default every key of O(keys) and O(src), in its database, except those not written because their saved time
        to live ran out. V([]) checks nothing.
    type: list
    elements: str
  command_names:
    description:
      - 'Renamed commands of this server, command to its new name (C({SET: OPS_SET})); an empty name (disabled) fails
        the module before anything is written when warm-up needs that command.'
    type: dict
notes:
  - The ACL user needs C(EXISTS) and the write commands of the types written (C(SET), C(HSET), C(RPUSH), C(SADD),
    C(ZADD), C(PEXPIRE), C(DEL) with O(replace=true), C(RESTORE) for dumps; C(MULTI) and C(EXEC)).
  - Saved keys (C(dump)) need a binary-safe transport - not O(connect_via=exec) - and a Redis whose C(RESTORE) reads
    the C(DUMP) format of the server they came from (the same or a newer version).
  - RV(keys_per_second) on this collection's benchmark machine is in docs/benchmarks.md ("Cache warm-up"), beside
    C(redis-cli --pipe).
seealso:
  - module: ai_orchestrator.incident_response.redis_cache_flush
  - module: ai_orchestrator.incident_response.redis_health_info
"""

EXAMPLES = r"""
- name: Warm the critical keys up (those already there are left alone)
  ai_orchestrator.incident_response.redis_cache_warmup:
    redis_host: redis.ai-orchestrator.svc
    password: "{{ redis_password }}"
    keys:
      - key: config:feature_flags
        type: hash
        value: {new_editor: "on", beta: "off"}
      - key: workflows:catalog
        value: {count: 42, updated: "2026-11-28"}   # a dict is stored as its JSON
        ttl: 3600
      - key: cache:popular
        type: zset
        value: {flow-7: 120, flow-3: 87}

- name: Restore what a forced flush saved
  ai_orchestrator.incident_response.redis_cache_warmup:
    redis_host: redis.ai-orchestrator.svc
    password: "{{ redis_password }}"
    src: "{{ flushed.saved.path }}"
  register: restored

- name: Rebuild a cache from a file, replacing what is there, checking two keys
  ai_orchestrator.incident_response.redis_cache_warmup:
    connect_via: port_forward
    pod: statefulset/redis
    pod_namespace: ai-orchestrator
    password: "{{ redis_password }}"
    src: files/cache-seed.yml
    replace: true
    batch_size: 1000
    verify: [config:feature_flags, workflows:catalog]
"""

RETURN = r"""
written:
  description: Keys written (in check mode, that would be written).
  returned: always
  type: int
  sample: 1200
skipped_existing:
  description: Keys left alone because they existed (O(replace=false)).
  returned: always
  type: int
  sample: 3
skipped_expired:
  description: Saved keys not written because their time to live ran out since they were saved.
  returned: always
  type: int
  sample: 0
failed_keys:
  description: Keys the server refused to write (see RV(errors)).
  returned: always
  type: int
  sample: 0
errors:
  description: The first 20 refused keys - C(key), C(db) and the server's C(error).
  returned: always
  type: list
  elements: dict
  sample: [{key: "config:feature_flags", db: 0, error: "OOM command not allowed when used memory > 'maxmemory'."}]
by_type:
  description: Keys written per type.
  returned: always
  type: dict
  sample: {string: 1000, hash: 150, zset: 50}
batches:
  description: Write round trips (C(MULTI)/C(EXEC) transactions with O(replace=true)).
  returned: always
  type: int
  sample: 3
duration_seconds:
  description: Seconds from the first write to the end of the verification.
  returned: always
  type: float
  sample: 0.31
write_seconds:
  description: Seconds of the existence checks and writes.
  returned: always
  type: float
  sample: 0.27
keys_per_second:
  description: RV(written) per second of RV(write_seconds); null when nothing was written.
  returned: always
  type: float
  sample: 4444.4
verified:
  description: Keys checked after the write (0 in check mode).
  returned: always
  type: int
  sample: 1203
missing:
  description: Keys of O(verify) that do not exist after the write, with their C(db). Not empty means the module failed.
  returned: always
  type: list
  elements: dict
  sample: []
msg:
  description: What was written, skipped, refused and verified, in one line.
  returned: always
  type: str
  sample: "wrote 1200 key(s) (hash 150, string 1000, zset 50) in 3 batch(es), 0.27 s (4444 keys/s); 3 already existed
    (left as they are; replace=true overwrites them); all 1203 verified key(s) exist"
error_kind:
  description:
    - Why the module failed - V(verification_failed) (RV(missing) is not empty), V(invalid_input) (an entry or option is
      unusable; nothing was written), or a connection kind of the redis doc fragment (V(connection), V(auth),
      V(permission), ...).
  returned: failure
  type: str
  sample: verification_failed
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import warmup
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import (
    error_kind,
    open_redis,
    redis_argument_spec,
    settings,
)


def argspec():
    spec = cluster_argument_spec()
    spec.update(redis_argument_spec())
    spec.update(
        keys=dict(type="list", elements="dict", no_log=False, options=dict(
            key=dict(type="str", required=True, no_log=False),
            key_base64=dict(type="bool", default=False, no_log=False),
            type=dict(type="str"),
            value=dict(type="raw"),
            ttl=dict(type="float"),
            dump=dict(type="str"),
            pttl=dict(type="int"),
            saved_at=dict(type="int"),
            db=dict(type="int"),
        )),
        src=dict(type="path"),
        replace=dict(type="bool", default=False),
        batch_size=dict(type="int", default=500),
        verify=dict(type="list", elements="str"),
        command_names=dict(type="dict"),
    )
    return spec


def entries(params, default_db):
    """The entries of keys and then src, checked (InvalidInput names the first unusable one)."""
    items = list(params.get("keys") or [])
    if params.get("src"):
        items += warmup.load_src(params["src"])
    return warmup.normalize_entries(items, default_db=default_db, now_ms=int(time.time() * 1000))


def run(params, check_mode):
    # Every option and entry is checked before connecting: an unusable one writes nothing.
    if not 1 <= params["batch_size"] <= warmup.MAX_BATCH:
        raise InvalidInput("batch_size must be between 1 and %d, got %s" % (warmup.MAX_BATCH, params["batch_size"]))
    warmup.command_namer(params.get("command_names"))
    default_db = settings(params)["db"]
    todo = entries(params, default_db)
    with open_redis(params, kube_params=params) as conn:
        return warmup.warmup(conn, todo, replace=params["replace"], batch_size=params["batch_size"],
                             verify=params.get("verify"), command_names=params.get("command_names"),
                             check_mode=check_mode, default_db=conn.db, select_db=conn.select_db)


def main():
    module = AnsibleModule(argument_spec=argspec(), required_one_of=[["keys", "src"]], supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc), error_kind=error_kind(exc))
    if result["missing"]:
        module.fail_json(error_kind="verification_failed", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
