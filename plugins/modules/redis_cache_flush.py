#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_cache_flush
short_description: Flush a Redis cache - by pattern, one database or all - after checking what would go
version_added: 0.3.0
description:
  - The runbook's "Cache Recovery" (C(redis-cli FLUSHALL)) with guardrails. Before anything is deleted the module
    looks at the server and at every key in scope, and refuses - fails with RV(refused), a message saying what to do,
    and nothing deleted - in these cases.
  - A replica (the message names its primary - flush there, replicas follow), or a cluster node (a flush acts on one
    node only; flush each primary on its own).
  - A command the flush needs is renamed or disabled (C(rename-command)) and not mapped in O(command_names) - a
    renamed command is never guessed.
  - The keys in scope include protected classes (O(protected_classes) - job queues, sessions and locks by default, work
    in flight, not cache) and O(force) is false. With O(force) they are saved first to O(save_to) (each key's C(DUMP)
    and C(PTTL), as JSON lines), which M(ai_orchestrator.incident_response.redis_cache_warmup) restores with
    O(ai_orchestrator.incident_response.redis_cache_warmup#module:src).
  - O(scope=pattern) would delete more than O(max_keys) keys.
  - "Keys are classified by name with O(keyspace_patterns) (globs, the first class that matches wins, in the order
    cache, queue, session, lock, rate_limit) and by type: an unmatched list or stream is a V(queue), any other unmatched
    key V(unclassified)."
  - O(scope=pattern) deletes the keys matching O(patterns) in the connection's database with C(SCAN) and C(UNLINK)
    (C(DEL) when O(asynchronous=false), or when only C(UNLINK) is unavailable), batch by batch, never C(KEYS).
    Each batch is classified again before it is deleted, so a protected key that appeared after the inspection and was
    not saved is spared (RV(spared)). O(scope=db) runs C(FLUSHDB) on the connection's database, O(scope=all)
    C(FLUSHALL) (C(ASYNC) unless O(asynchronous=false)).
  - Nothing in scope - nothing to do, C(changed) false; a second run changes nothing.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.redis
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: The same inspection and the same refusals; RV(would_delete) and RV(classes) say what a real run deletes.
      Nothing is deleted and no save file is written.
  diff_mode:
    support: none
    description: No diff; RV(classes) lists what was (or would be) deleted, with samples.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node and connects to Redis from there (or through the Kubernetes API, O(connect_via)).
options:
  scope:
    description:
      - V(pattern) - the keys matching O(patterns) in the connection's database (O(db)).
      - V(db) - every key of the connection's database (C(FLUSHDB)).
      - V(all) - every key of every database (C(FLUSHALL)).
    type: str
    choices: [pattern, db, all]
    required: true
  patterns:
    description:
      - Redis glob patterns (C(SCAN MATCH) syntax) of the keys to delete, such as V(cache:*). Required with
        O(scope=pattern), not allowed with the other scopes. A key matching several counts once.
    type: list
    elements: str
  force:
    description:
      - Delete keys of protected classes too. They are saved to O(save_to) first, which is then required.
    type: bool
    default: false
  save_to:
    description:
      - File on the control node for the protected keys a forced flush deletes - one JSON object per line with C(key),
        C(db), C(type), C(pttl) (milliseconds left to live, -1 for none), C(dump) (base64 of C(DUMP)) and C(saved_at)
        (milliseconds since the epoch); a key name that is not UTF-8 is base64 with C(key_base64) true.
      - Written (mode 0600, missing folders created 0700) to a temporary file beside it and renamed, before anything
        is deleted. An existing file is never overwritten (the flush is refused). Not written in check mode, nor when
        no protected key is in scope.
      - Needs a binary-safe transport (not O(connect_via=exec)).
    type: path
  asynchronous:
    description:
      - V(true) - C(FLUSHDB ASYNC), C(FLUSHALL ASYNC) and C(UNLINK) - the keys are gone at once and the server frees
        their memory in the background.
      - V(false) - C(FLUSHDB SYNC), C(FLUSHALL SYNC) (plain on Redis before 6.2) and C(DEL), which block the server
        until the memory is freed.
    type: bool
    default: true
  keyspace_patterns:
    description:
      - Globs (Python C(fnmatchcase) syntax) that classify key names, by class - V(cache), V(queue), V(session),
        V(lock), V(rate_limit) or a class of your own. A class given replaces that class's default globs only; the
        others keep theirs (see RV(ai_orchestrator.incident_response.redis_health_info#module:keyspace)).
      - "Defaults: cache C(cache:*), C(config:*), C(workflows:*), C(workflow:*:stats); queue C(queue:*), C(bull:*),
        C(celery*), C(*:queue); session C(session:*), C(sess:*); lock C(lock:*), C(*:lock), C(locks:*); rate_limit
        C(ratelimit:*), C(rate_limit:*), C(rl:*)."
    type: dict
  protected_classes:
    description:
      - Classes that are refused without O(force) (and saved with it). V(unclassified) may be named too.
    type: list
    elements: str
    default: [queue, session, lock]
  command_names:
    description:
      - 'Renamed commands of this server, command to the name it was renamed to, for example
        C({FLUSHALL: OPS_FLUSHALL, UNLINK: ""}) (an empty name means disabled). Every command the flush sends is
        looked up with C(COMMAND INFO) first; one that is unknown under the name it is sent as refuses the flush.'
    type: dict
  scan_count:
    description:
      - C(COUNT) hint of each C(SCAN) (keys per round trip, roughly). At least 1.
    type: int
    default: 1000
  max_keys:
    description:
      - With O(scope=pattern), refuse when more keys than this match. V(0) - no limit.
    type: int
    default: 0
notes:
  - The inspection reads every key's name and type in scope (C(SCAN) plus a pipelined C(TYPE) per batch, about two
    round trips per O(scan_count) keys) - on a database of millions of keys that takes seconds, and it is what makes
    the refusal trustworthy.
  - O(scope=db) and O(scope=all) delete everything present when the flush command runs, including keys written after
    the inspection.
  - The ACL user needs C(SCAN), C(TYPE), C(DBSIZE), C(INFO), C(COMMAND) and the flush's own commands, plus C(DUMP)
    and C(PTTL) to save. A command it may not run fails the module with RV(error_kind) V(permission) and nothing deleted.
seealso:
  - module: ai_orchestrator.incident_response.redis_cache_warmup
  - module: ai_orchestrator.incident_response.redis_health_info
  - name: FLUSHALL
    description: The command and its ASYNC and SYNC modes.
    link: https://redis.io/docs/latest/commands/flushall/
"""

EXAMPLES = r"""
- name: What would a cache flush delete?
  ai_orchestrator.incident_response.redis_cache_flush:
    redis_host: redis.ai-orchestrator.svc
    password: "{{ redis_password }}"
    scope: pattern
    patterns: ["cache:*", "workflows:*"]
  check_mode: true
  register: plan

- name: Delete the cache's own keys, at most 500000
  ai_orchestrator.incident_response.redis_cache_flush:
    redis_host: redis.ai-orchestrator.svc
    password: "{{ redis_password }}"
    scope: pattern
    patterns: ["cache:*", "workflows:*"]
    max_keys: 500000

- name: The runbook's FLUSHALL, through the pod, on a server where it was renamed; queues saved first
  ai_orchestrator.incident_response.redis_cache_flush:
    connect_via: port_forward
    pod: statefulset/redis
    pod_namespace: ai-orchestrator
    password: "{{ redis_password }}"
    scope: all
    force: true
    save_to: "{{ incident_dir }}/cache/saved-keys.jsonl"
    command_names:
      FLUSHALL: OPS_FLUSHALL
  register: flushed

- name: Put the saved queues back
  ai_orchestrator.incident_response.redis_cache_warmup:
    connect_via: port_forward
    pod: statefulset/redis
    pod_namespace: ai-orchestrator
    password: "{{ redis_password }}"
    src: "{{ flushed.saved.path }}"
  when: flushed.saved
"""

RETURN = r"""
scope:
  description: O(scope).
  returned: always
  type: str
  sample: pattern
db:
  description: The database flushed (the connection's); null for O(scope=all).
  returned: always
  type: int
  sample: 0
patterns:
  description: O(patterns).
  returned: always
  type: list
  elements: str
  sample: ["cache:*"]
would_delete:
  description: Keys in scope at the inspection (in check mode, what a real run deletes).
  returned: always
  type: int
  sample: 1532
deleted:
  description: Keys deleted (0 in check mode) - the replies of C(UNLINK)/C(DEL), the database size in the same
    transaction as C(FLUSHDB), or the key counts of every database just before C(FLUSHALL).
  returned: always
  type: int
  sample: 1532
classes:
  description: The classes of the keys in scope, with C(keys) (count), C(types) (count per type) and C(sample)
    (up to 5 names).
  returned: always
  type: dict
  sample: {cache: {keys: 1530, types: {string: 1500, hash: 30}, sample: ["cache:user:1", "cache:user:2"]},
           queue: {keys: 2, types: {list: 2}, sample: ["queue:jobs", "queue:retry"]}}
by_type:
  description: Keys in scope per type.
  returned: always
  type: dict
  sample: {string: 1500, hash: 30, list: 2}
protected:
  description: Protected classes in scope, with their key counts (what a flush without O(force) is refused for).
  returned: always
  type: dict
  sample: {queue: 2}
saved:
  description: The save file written before the flush - C(path), C(keys) (saved), C(bytes), C(gone) (keys deleted by
    someone else between the inspection and the save); null when nothing was saved.
  returned: always
  type: dict
  sample: {path: /var/lib/incidents/INC-1/cache/saved-keys.jsonl, keys: 2, bytes: 812, gone: 0}
would_save:
  description: Protected keys a real run would save to O(save_to) first.
  returned: in check mode, when protected keys are in scope
  type: int
  sample: 2
command:
  description: What deletes the keys, by the names sent.
  returned: always
  type: str
  sample: SCAN MATCH + UNLINK
dbsize_before:
  description: Keys in the database (all databases for O(scope=all)) before.
  returned: always
  type: int
  sample: 1640
dbsize_after:
  description: Keys in the database (all databases for O(scope=all)) after; as before in check mode.
  returned: always
  type: int
  sample: 108
spared:
  description: Protected keys found by the deleting C(SCAN) that were not in the inspection (so not saved) and
    were left in place; C(spared_sample) names up to 5 of them.
  returned: always
  type: int
  sample: 0
server:
  description: What the refusals are decided on - C(version), C(mode) (standalone, cluster, sentinel), C(role)
    (master or replica) and C(primary) (C(host:port) of a replica's primary).
  returned: when the server answered
  type: dict
  sample: {version: 7.0.15, mode: standalone, role: master, primary: null}
duration_seconds:
  description: Seconds from the inspection's start to the end.
  returned: always
  type: float
  sample: 0.42
refused:
  description:
    - Why the flush was refused (the module failed, nothing was deleted) - V(replica), V(cluster),
      V(command_unavailable), V(protected), V(save_required), V(save_exists), V(binary_transport), V(max_keys);
      null otherwise.
  returned: always
  type: str
  sample: protected
msg:
  description: What was deleted (or would be, or why not), in one line.
  returned: always
  type: str
  sample: "deleted 1532 key(s) (cache 1530, queue 2) from every database with FLUSHALL ASYNC; 2 protected key(s) saved
    to /var/lib/incidents/INC-1/cache/saved-keys.jsonl first (redis_cache_warmup src=... restores them)"
error_kind:
  description:
    - Why the module failed - V(refused) (see RV(refused)), V(invalid_input) (nothing was sent), or a connection kind
      of the redis doc fragment (V(connection), V(timeout), V(tls), V(auth), V(permission), V(unknown_command),
      V(readonly), V(cluster), V(not_found), V(library), V(error)).
  returned: failure
  type: str
  sample: refused
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import flush
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import (
    error_kind,
    open_redis,
    redis_argument_spec,
)


def argspec():
    spec = cluster_argument_spec()
    spec.update(redis_argument_spec())
    spec.update(
        scope=dict(type="str", choices=list(flush.SCOPES), required=True),
        patterns=dict(type="list", elements="str"),
        force=dict(type="bool", default=False),
        save_to=dict(type="path"),
        asynchronous=dict(type="bool", default=True),
        keyspace_patterns=dict(type="dict", no_log=False),
        protected_classes=dict(type="list", elements="str", default=["queue", "session", "lock"]),
        command_names=dict(type="dict"),
        scan_count=dict(type="int", default=1000),
        max_keys=dict(type="int", default=0, no_log=False),
    )
    return spec


def run(params, check_mode):
    flush.check_options(params)  # before connecting: an unusable option sends nothing
    with open_redis(params, kube_params=params) as conn:
        return flush.flush(conn, params, check_mode=check_mode, select_db=conn.select_db)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except flush.FlushRefused as exc:
        module.fail_json(msg=str(exc), error_kind="refused", **exc.result)
    except IncidentResponseError as exc:
        # What was found (and a save file already written) comes back with the error.
        module.fail_json(msg=str(exc), error_kind=error_kind(exc), **dict(getattr(exc, "result", None) or {}, refused=None))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
