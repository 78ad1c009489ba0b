#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_health_info
short_description: Diagnose a PostgreSQL server in one call
version_added: 0.2.0
description:
  - Connects to one database of a PostgreSQL server (O(login_db), else C(PGDATABASE), else libpq's default) and
    reports what the runbook's "Database issues" section looks at - connection use, sessions waiting for locks
    and who blocks them, long and idle-in-transaction sessions, the slowest statements (C(pg_stat_statements)),
    cache hit ratios, database sizes, the server's state, replication and recovery - with plain-language
    RV(findings) and a RV(healthy) verdict.
  - One statement per section, on the statistics views and catalogs only. Nothing is written and no lock beyond
    C(AccessShare) on a catalog is taken, so it is safe on a struggling server.
  - A section the role may not read (or that times out) is reported as unavailable, with the reason in
    RV(unavailable), instead of failing the module. A server that cannot be reached or refuses the login fails
    the module with RV(error_kind), which a playbook turns into an escalation.
  - Read-only. The same in check mode.
  - Needs PostgreSQL 10 or later. Superusers see everything; other roles need C(pg_monitor) (or
    C(pg_read_all_stats) and C(pg_read_all_settings)) to see other roles' sessions, statements and the
    server's data directory.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.postgres
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
    description: Runs on the control node and connects to PostgreSQL from there.
options:
  long_transaction_seconds:
    description:
      - A session whose transaction has been open longer than this is listed in RV(long_transactions) and is
        a warning. At least 0.
    type: int
    default: 300
  idle_in_transaction_seconds:
    description:
      - A session idle in a transaction for longer than this is listed in RV(idle_in_transaction) and is a
        warning. At least 0.
    type: int
    default: 60
  slow_statement_ms:
    description:
      - A statement of RV(slow_statements) whose mean execution time is at least this many milliseconds is a
        warning. At least 0.
    type: int
    default: 1000
  replication_lag_seconds:
    description:
      - A replica (or this standby) replaying more than this many seconds behind is a warning. At least 0.
    type: int
    default: 60
  top:
    description:
      - How many statements RV(slow_statements) lists (slowest mean time first), and how many applications
        RV(connections.by_application) lists. At least 1.
    type: int
    default: 10
  max_sessions:
    description:
      - At most this many sessions are listed in each of RV(waiting), RV(long_transactions) and
        RV(idle_in_transaction) (oldest first). The findings count them all. At least 1.
    type: int
    default: 50
  query_max_chars:
    description:
      - Query texts are cut to this many characters (followed by V(...)) after redaction (see the notes) and
        after runs of white space are collapsed to one space. At least 20.
    type: int
    default: 300
notes:
  - Connection use counts client backends only (not WAL senders, autovacuum or background workers, which have
    slots of their own) and not the module's own session, against the slots ordinary roles may use -
    C(max_connections) less C(superuser_reserved_connections) (and C(reserved_connections) from
    PostgreSQL 16). At 80 % it is a warning, at 95 % critical. When they are all in use, connect as a
    superuser to diagnose.
  - C(pg_stat_statements) must be in C(shared_preload_libraries) and created in O(login_db)
    (C(CREATE EXTENSION pg_stat_statements)); RV(pg_stat_statements.reason) says which is missing.
    It reports statements of every database of the server.
  - Query texts (from C(pg_stat_activity) and C(pg_stat_statements)) pass through the collection's built-in
    redaction before they are returned - the patterns of
    O(ai_orchestrator.incident_response.incident_event#module:redact_defaults) (passwords, tokens, keys in
    C(key=value) and JSON form, credentials in URLs, private keys, ...) replace secrets by V([REDACTED]).
  - A cache hit ratio is only judged for databases with at least 10000 block requests since the statistics
    were reset.
seealso:
  - module: ai_orchestrator.incident_response.postgresql_connection_relief
  - name: The statistics views of PostgreSQL
    description: pg_stat_activity, pg_stat_replication, pg_stat_database and the others read here.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html
"""

EXAMPLES = r"""
- name: Diagnose the database
  ai_orchestrator.incident_response.postgresql_health_info:
    login_host: postgres.ai-orchestrator.svc
    login_user: postgres
    login_password: "{{ postgres_password }}"
    login_db: orchestrator
  register: db

- name: Say what is wrong
  ansible.builtin.debug:
    msg: "{{ db.findings | rejectattr('severity', 'equalto', 'ok') | map(attribute='message') | list }}"
  when: not db.healthy

- name: Diagnose through the Kubernetes API server, from outside the cluster's network
  ai_orchestrator.incident_response.postgresql_health_info:
    connect_via: port_forward
    pod: statefulset/postgres
    pod_namespace: ai-orchestrator
    login_user: postgres
    login_password: "{{ postgres_password }}"
    login_db: orchestrator
  register: db

- name: Escalate when the database cannot be reached at all
  ai_orchestrator.incident_response.postgresql_health_info:
    login_db: orchestrator
  register: db
  failed_when: db.failed and db.error_kind not in ['unreachable', 'auth', 'too_many_connections']

- name: Who blocks the sessions waiting for locks
  ansible.builtin.debug:
    msg: "pid {{ item.pid }} ({{ item.application }}, {{ item.state }}) blocks {{ item.blocks }} session(s)"
  loop: "{{ db.blocking }}"
"""

RETURN = r"""
healthy:
  description: True when every finding is V(ok).
  returned: success
  type: bool
  sample: false
findings:
  description:
    - Plain-language conclusions, one per check - V(connections), V(blocked_sessions), V(long_transactions),
      V(idle_in_transaction), V(slow_statements), V(cache_hit_ratio), V(replication), V(recovery) (only when
      replay is paused) - and a warning for each of V(connections), V(waiting), V(long_transactions),
      V(idle_in_transaction) and V(replication) that could not be checked.
  returned: success
  type: list
  elements: dict
  contains:
    check:
      description: What was checked.
      type: str
      sample: connections
    severity:
      description: V(ok), V(warning) or V(critical).
      type: str
      sample: critical
    message:
      description: What was found, with the numbers.
      type: str
      sample: "46 of 47 connections ordinary roles may use are in use (97.9 %; max_connections 50, 3 reserved):
        new connections are refused or about to be"
server:
  description: The server. Null when it could not be read (see RV(unavailable)).
  returned: success
  type: dict
  contains:
    version:
      description: Server version.
      type: str
      sample: "15.18"
    version_num:
      description: C(server_version_num).
      type: int
      sample: 150018
    version_full:
      description: What C(version()) says.
      type: str
      sample: PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, ...
    in_recovery:
      description: True on a standby (or a server still recovering).
      type: bool
      sample: false
    uptime_seconds:
      description: Seconds since the server started.
      type: float
      sample: 86400.5
    started_at:
      description: When the server started, ISO 8601 UTC.
      type: str
      sample: "2026-11-27T23:17:49.276665Z"
    data_directory:
      description: The data directory; null when the role may not read it (C(pg_read_all_settings)).
      type: str
      sample: /var/lib/postgresql/data
    database:
      description: The database the module connected to.
      type: str
      sample: orchestrator
    user:
      description: The role the module connected as.
      type: str
      sample: postgres
    superuser:
      description: Whether that role is a superuser.
      type: bool
      sample: true
    reads_all_stats:
      description: Whether that role sees every session and statement (a superuser or C(pg_read_all_stats)).
      type: bool
      sample: true
recovery:
  description: Recovery state. Null when the server could not be read.
  returned: success
  type: dict
  contains:
    in_recovery:
      description: True on a standby.
      type: bool
      sample: true
    paused:
      description: True when WAL replay is paused (always false on a primary).
      type: bool
      sample: false
connections:
  description: Connection use. Null when unavailable. The module's own session is not counted.
  returned: success
  type: dict
  contains:
    max_connections:
      description: C(max_connections).
      type: int
      sample: 50
    superuser_reserved_connections:
      description: C(superuser_reserved_connections).
      type: int
      sample: 3
    reserved_connections:
      description: C(reserved_connections) (PostgreSQL 16 and later, else 0).
      type: int
      sample: 0
    client_limit:
      description: Connections ordinary roles may use - max_connections less the reserved ones.
      type: int
      sample: 47
    total:
      description: Client backends connected (the module's own session not counted).
      type: int
      sample: 12
    available:
      description: Slots still free for ordinary roles (0 when none).
      type: int
      sample: 35
    usage_percent:
      description: RV(connections.total) as a percentage of RV(connections.client_limit); over 100 when
        superusers use reserved slots.
      type: float
      sample: 25.5
    by_state:
      description: Sessions per state (V(active), V(idle), V(idle in transaction), ...; V(unknown) for sessions
        of other roles the role may not see).
      type: dict
      sample: {active: 2, idle: 8, idle in transaction: 2}
    by_database:
      description: Sessions per database.
      type: dict
      sample: {orchestrator: 11, postgres: 1}
    by_application:
      description: The O(top) applications by sessions, most first (an empty name for clients that set none).
      type: list
      elements: dict
      sample: [{application: workflow-service, sessions: 8}, {application: "", sessions: 2}]
waiting:
  description:
    - Sessions waiting for a lock, longest first (at most O(max_sessions)), each like RV(long_transactions)'s
      entries with C(age_seconds) the time since its statement started, plus C(blocked_by) (the
      pids holding or queued ahead for the lock, from C(pg_blocking_pids())) and C(blockers) (those sessions -
      pid, user, database, application, client, backend_type, state, waiting, xact_age_seconds,
      state_age_seconds, query).
  returned: success
  type: list
  elements: dict
  sample:
    - pid: 4242
      user: app
      database: orchestrator
      application: workflow-service
      client: 10.0.3.7
      state: active
      wait_event_type: Lock
      wait_event: transactionid
      age_seconds: 42.0
      query: UPDATE workflows SET payload = $1 WHERE id = $2
      blocked_by: [4100]
      blockers: [{pid: 4100, user: ops, application: psql, state: idle in transaction, waiting: false,
                  xact_age_seconds: 610.2, query: "UPDATE workflows SET name = 'x' WHERE id = 7"}]
blocking:
  description:
    - The sessions at the head of the lock queues - they block waiting sessions and wait for no lock
      themselves - most blocking first, each with C(blocks) (the number of waiting sessions they block
      directly) and the fields of C(waiting[].blockers).
  returned: success
  type: list
  elements: dict
  sample: [{pid: 4100, user: ops, application: psql, state: idle in transaction, blocks: 3, xact_age_seconds: 610.2}]
long_transactions:
  description: Sessions (any backend type) whose transaction is older than O(long_transaction_seconds), oldest
    first (at most O(max_sessions)).
  returned: success
  type: list
  elements: dict
  contains:
    pid:
      description: Backend pid.
      type: int
      sample: 4100
    user:
      description: Role.
      type: str
      sample: ops
    database:
      description: Database.
      type: str
      sample: orchestrator
    application:
      description: C(application_name).
      type: str
      sample: psql
    client:
      description: Client address, V(local) for a Unix socket, null for a background process.
      type: str
      sample: 10.0.3.9
    backend_type:
      description: C(client backend), C(autovacuum worker), C(walsender), ...
      type: str
      sample: client backend
    state:
      description: C(active), C(idle in transaction), ...
      type: str
      sample: idle in transaction
    wait_event_type:
      description: What it waits for, if anything (C(Lock), C(IO), C(Client), ...).
      type: str
      sample: Client
    wait_event:
      description: The wait event.
      type: str
      sample: ClientRead
    age_seconds:
      description: In RV(long_transactions) the transaction's age; in RV(idle_in_transaction) the time idle
        in it; in RV(waiting) the time since the waiting statement started.
      type: float
      sample: 610.2
    xact_age_seconds:
      description: Age of the open transaction.
      type: float
      sample: 610.2
    query_age_seconds:
      description: Time since the last statement started.
      type: float
      sample: 609.8
    state_age_seconds:
      description: Time since the state last changed.
      type: float
      sample: 609.8
    query:
      description: The last statement, redacted and cut to O(query_max_chars).
      type: str
      sample: UPDATE workflows SET name = 'x' WHERE id = 7
idle_in_transaction:
  description: Sessions idle in a transaction (or an aborted one) for longer than O(idle_in_transaction_seconds),
    longest idle first (at most O(max_sessions)); entries as in RV(long_transactions).
  returned: success
  type: list
  elements: dict
  sample: [{pid: 4100, user: ops, application: psql, state: idle in transaction, age_seconds: 609.8}]
slow_statements:
  description: The O(top) statements of C(pg_stat_statements) (every database) by mean execution time, slowest
    first; empty when it is not available (see RV(pg_stat_statements)).
  returned: success
  type: list
  elements: dict
  contains:
    queryid:
      description: C(pg_stat_statements) query id.
      type: int
      sample: -5499623326652275079
    database:
      description: Database it ran in.
      type: str
      sample: orchestrator
    user:
      description: Role it ran as.
      type: str
      sample: app
    calls:
      description: Times executed.
      type: int
      sample: 118
    mean_ms:
      description: Mean execution time (C(mean_exec_time), C(mean_time) before PostgreSQL 13).
      type: float
      sample: 1234.5
    total_ms:
      description: Total execution time.
      type: float
      sample: 145671.0
    max_ms:
      description: Longest execution.
      type: float
      sample: 5012.2
    rows:
      description: Rows returned or affected in total.
      type: int
      sample: 118
    query:
      description: Normalised statement text, redacted and cut to O(query_max_chars).
      type: str
      sample: SELECT * FROM executions WHERE status = $1 ORDER BY started_at
pg_stat_statements:
  description: Whether RV(slow_statements) could be read and why not.
  returned: success
  type: dict
  contains:
    available:
      description: True when the view was read.
      type: bool
      sample: false
    reason:
      description:
        - Why it is not available, or (when available) what the role does not see; null otherwise.
        - >-
          For example V(extension not installed in database orchestrator (CREATE EXTENSION pg_stat_statements\)),
          V(not in shared_preload_libraries (add it and restart PostgreSQL\)) or
          V(no privilege: grant pg_read_all_stats ...).
      type: str
      sample: not in shared_preload_libraries (add it and restart PostgreSQL)
    version:
      description: The extension's version in O(login_db), null when not installed.
      type: str
      sample: "1.10"
    schema:
      description: Schema the extension is installed in.
      type: str
      sample: public
    preloaded:
      description: Whether C(shared_preload_libraries) has it; null when the role may not read the setting.
      type: bool
      sample: true
    all_roles_visible:
      description: Whether the role sees other roles' statement texts.
      type: bool
      sample: true
cache_hit_ratio:
  description: Per database, C(blks_hit / (blks_hit + blks_read)) since the statistics were reset, rounded to 4
    places; null for a database without block requests. Null when unavailable.
  returned: success
  type: dict
  sample: {orchestrator: 0.987, postgres: 0.9631}
database_sizes:
  description: Per database (templates left out), C(bytes) and C(pretty); C(bytes) is null for a database the
    role may not connect to. Null when unavailable.
  returned: success
  type: dict
  sample: {orchestrator: {bytes: 8289639, pretty: 8095 kB}}
replication:
  description: Replication as seen from this server. Null when unavailable.
  returned: success
  type: dict
  contains:
    role:
      description: V(primary) or V(standby).
      type: str
      sample: primary
    replicas:
      description:
        - On a primary, one entry per C(pg_stat_replication) row - pid, user, application, client, state,
          sync_state, sent_lsn, write_lsn, flush_lsn, replay_lsn, sent_lag_bytes, write_lag_bytes,
          flush_lag_bytes, replay_lag_bytes (behind the primary's current WAL position), write_lag_seconds,
          flush_lag_seconds, replay_lag_seconds (PostgreSQL's own lag times, null when idle).
      type: list
      elements: dict
      sample: [{application: standby1, state: streaming, replay_lag_bytes: 0, replay_lag_seconds: null}]
    slots:
      description: On a primary, the replication slots - slot_name, slot_type, active, database, retained_bytes
        (WAL kept for it).
      type: list
      elements: dict
      sample: []
    current_lsn:
      description: The primary's current WAL position (null on a standby).
      type: str
      sample: 0/90A4000
    wal_receiver:
      description: On a standby, C(pg_stat_wal_receiver) - status, sender_host, sender_port, slot_name,
        flushed_lsn, latest_end_lsn, last_message_age_seconds; null when no WAL receiver runs (or on a primary).
      type: dict
      sample: {status: streaming, sender_host: 10.0.3.5, sender_port: 5432}
    receive_lsn:
      description: On a standby, the last WAL position received.
      type: str
      sample: 0/90A4000
    replay_lsn:
      description: On a standby, the last WAL position replayed.
      type: str
      sample: 0/90A4000
    replay_lag_bytes:
      description: On a standby, WAL received but not replayed yet.
      type: float
      sample: 0
    replay_lag_seconds:
      description: On a standby, 0 when everything received is replayed, else the age of the last replayed
        transaction.
      type: float
      sample: 0
    last_replay_at:
      description: On a standby, commit time of the last replayed transaction, ISO 8601 UTC.
      type: str
      sample: "2026-11-27T23:40:00.123Z"
unavailable:
  description: Sections that could not be read, with the reason (usually a missing privilege).
  returned: success
  type: dict
  sample: {slow_statements: extension not installed in database orchestrator (CREATE EXTENSION pg_stat_statements)}
error_kind:
  description:
    - Why the module failed - C(unreachable), C(auth), C(not_found), C(permission), C(too_many_connections),
      C(timeout), C(standby), C(server), C(library) (see the notes), or C(invalid_input) (an option is unusable;
      nothing was sent).
  returned: failure
  type: str
  sample: unreachable
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import Redactor
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import diagnosis
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    PostgresError,
    open_session,
    postgres_argument_spec,
    quote_ident,
)

OPTIONS = ("long_transaction_seconds", "idle_in_transaction_seconds", "slow_statement_ms", "replication_lag_seconds",
           "top", "max_sessions", "query_max_chars")


def argspec():
    spec = cluster_argument_spec()
    spec.update(postgres_argument_spec())
    spec.update((name, dict(type="int", default=diagnosis.DEFAULTS[name])) for name in OPTIONS)
    return spec


def diagnose(params):
    options = diagnosis.check_options(dict((name, params[name]) for name in OPTIONS))
    redactor = Redactor()
    with open_session(params, database=None, kube_params=params) as session:
        return diagnosis.collect(session, options, redactor, quote=lambda name: quote_ident(name, session))


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = diagnose(module.params)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input")
    except PostgresError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc), error_kind="unreachable")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
