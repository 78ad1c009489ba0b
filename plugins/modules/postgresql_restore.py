#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_restore
short_description: Restore a PostgreSQL database from a backup without ever dropping the current one
version_added: 0.2.0
description:
  - Replaces O(database) with the content of O(backup), guarded at every step. The current database is never dropped
    and serves again whatever fails - it is only renamed, at the very end, to C(<db>_pre_restore_<YYYYmmddHHMMSS>)
    (kept, connections disallowed, a comment saying what it is).
  - Without O(confirm) equal to the backup's id nothing changes - the module fails with C(error_kind=confirm_required),
    RV(plan) and the id to confirm. Check mode returns the plan and changes nothing.
  - "The plan says: when the backup was taken and the write window (writes after it that the restore will not bring
    back), with a manifest the row-count differences between the current database and the backup per table, the
    free space needed and found, and the steps."
  - "The steps, under a session advisory lock (a second restore of the same database is refused with
    C(error_kind=busy)): 0 repair what an interrupted run left (RV(cleaned_up)); 1 refuse on a standby, refuse
    a pg_restore older than the dump or the server, verify the backup (sha256 against the manifest, table of
    contents, every byte readable) - a corrupt backup is refused before anything changes; 2 check free space for
    the safety backup and the new database; 3 take a safety backup of the current database (O(safety_backup));
    4 create C(<db>__restoring_<run>) (template0, the same owner, encoding, locale and tablespace) and restore into
    it (C(pg_restore -j) O(jobs), or C(psql) in one transaction for plain SQL) - on failure it is dropped and the
    current database was never touched; 5 verify the row counts against the manifest and run O(checks); 6 copy the
    current database's settings, grants and connection limit; 7 stop writers (connections disallowed, sessions ended)
    and, in one transaction, rename the current database away and the new one into its name."
  - The downtime is step 7 only, reported in RV(downtime_seconds).
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.postgres
  - ai_orchestrator.incident_response.postgres_tools
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: Check mode verifies the backup and returns the plan; nothing changes (not even leftovers are repaired).
  diff_mode:
    support: none
    description: The plan (RV(plan)) says what changes.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node; with O(tools_via=exec) pg_restore runs in the database pod.
options:
  database:
    description:
      - The database to replace. Default O(login_db). Not V(postgres), V(template0) or V(template1) (the module works
        from the V(postgres) database); at most 33 bytes, so its previous copy's name fits.
    type: str
  backup:
    description:
      - The backup - an id (C(orchestrator-20260509T073525Z)), a foreign id (C(latest.dump@5f541512f026), whose content
        must still match), a file name in O(backup_dir) or an absolute path.
      - The format is recognised by content (custom, tar, directory or plain SQL), whatever the file is called.
      - A plain SQL file that acts outside its database - C(\\connect), C(CREATE)/C(ALTER)/C(DROP) C(DATABASE) or
        C(ROLE), as pg_dumpall and C(pg_dump --create) write - is refused (C(error_kind=corrupt)).
    type: str
    required: true
  confirm:
    description:
      - Must equal the backup's id (RV(plan.confirm)) for anything to change - the id names the exact content, so
        a confirmation never applies to another file.
    type: str
  jobs:
    description:
      - Parallel jobs of C(pg_restore) for custom and directory formats. 1 to 64.
    type: int
    default: 2
  safety_backup:
    description:
      - Take a verified backup of the current database (kind V(safety)) into O(backup_dir) before anything changes.
    type: bool
    default: true
  checks:
    description:
      - Operator checks run on the restored database before the swap, each in a read-only transaction. A check that
        fails or errors stops the restore (C(error_kind=verification_failed)); the current database is not touched.
    type: list
    elements: dict
    suboptions:
      name:
        description: A name for the report.
        type: str
      sql:
        description: A query; its first column of its first row is the value.
        type: str
        required: true
      expect_min:
        description: The value must be a number at least this.
        type: float
      expect_equal:
        description: The value must equal this (as a number or as text).
        type: raw
  critical_tables:
    description:
      - Verify the counts of these tables only (C(schema.table) or C(table) for C(public)). Default every table
        of the manifest; for a foreign dump, every table restored (their counts are reported, not compared).
    type: list
    elements: str
  stop_writers:
    description:
      - How writers are stopped before the swap - V(terminate) disallows connections to O(database)
        (C(ALLOW_CONNECTIONS false)) and ends its sessions (C(pg_terminate_backend)). The only method.
    type: str
    choices: [terminate]
    default: terminate
  writers_timeout:
    description:
      - Seconds to wait for the database's sessions to end before giving up (the database then serves again).
    type: int
    default: 30
  disk_check:
    description:
      - V(true) (or V(required)) refuses unless the free space for the safety backup and the new database can be
        measured and suffices (1.2 times the sizes). The server's data directory is measured in the pod with
        O(tools_via=exec), or on the control node when the server runs there and its data_directory is readable.
      - V(skip) goes on when the data directory's free space cannot be measured (said in the plan); whatever can be
        measured is still checked. The check cannot be turned off.
    type: raw
    default: "true"
  lock_timeout_seconds:
    description:
      - Overrides O(lock_timeout) for this restore (the waits for locks of its statements, and pg_dump's lock wait
        for the safety backup).
    type: int
  if_missing:
    description:
      - What to do when O(database) does not exist - V(fail), or V(create) it from the backup (no safety backup,
        no previous database).
    type: str
    choices: [fail, create]
    default: fail
  repeat:
    description:
      - Restore even when O(backup) is the one O(database) was last restored from by this module (its newest kept
        previous copy names it). By default that run changes nothing and returns RV(already_restored), so a retried
        job never restores twice and loses what was written since.
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - The role must be a superuser, or own the database and have C(CREATEDB) and C(pg_signal_backend) (and own every
    object the dump creates).
  - The advisory lock is taken on the C(postgres) database with the key
    C(('x' || left(encode(sha256(convert_to('ai_orchestrator.restore:' || db, 'UTF8')), 'hex'), 16))::bit(64)::bigint),
    so a DBA can see (C(pg_locks)) which session holds it.
  - "A run killed between stopping writers and the swap leaves the database with connections disallowed and a
    marker comment; the next run (any restore of that database) allows connections again first. Leftover
    C(<db>__restoring_*) databases carrying the marker are dropped by the next run too."
  - Previous databases are never dropped by this module; drop C(<db>_pre_restore_*) yourself once the restore is
    accepted.
  - C(pg_restore) runs with C(--exit-on-error) - any error (a missing role the dump names as an owner, an extension
    that is not installed on the server) fails the restore and the restoring database is dropped. The versions are
    compared by major version - C(pg_restore) must be at least the dump's C(pg_dump) major and the server's.
  - The restore's own session (to the C(postgres) database) holds the lock for the whole run and waits idle while
    C(pg_restore) works; a server C(idle_session_timeout) shorter than the restore ends it, and the run fails with the
    current database untouched.
seealso:
  - module: ai_orchestrator.incident_response.postgresql_backup
  - module: ai_orchestrator.incident_response.postgresql_backup_info
"""

EXAMPLES = r"""
- name: What would restoring orchestrator from its newest backup do?
  ai_orchestrator.incident_response.postgresql_restore:
    login_host: db.example.com
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    database: orchestrator
    backup_dir: /var/backups/postgres
    backup: orchestrator-20260509T073525Z
  check_mode: true
  register: plan

- name: Show the write window and the rows that would not come back
  ansible.builtin.debug:
    msg: >-
      backup taken {{ plan.plan.backup.created_at }}; {{ plan.plan.write_window.seconds }} s of writes
      ({{ plan.plan.rows_not_in_backup }} rows) will be only in the previous database

- name: Restore it, confirmed by the operator, with a check of our own
  ai_orchestrator.incident_response.postgresql_restore:
    login_host: db.example.com
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    database: orchestrator
    backup_dir: /var/backups/postgres
    backup: orchestrator-20260509T073525Z
    confirm: "{{ confirmed_backup_id }}"
    checks:
      - name: there are users
        sql: SELECT count(*) FROM users
        expect_min: 1
  register: restored

- name: Restore inside the pod from the nightly dump on its volume
  ai_orchestrator.incident_response.postgresql_restore:
    connect_via: port_forward
    pod: statefulset/postgres
    pod_namespace: ai-orchestrator
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    tools_via: exec
    database: orchestrator
    backup: latest.dump@5f541512f026
    confirm: latest.dump@5f541512f026
"""

RETURN = r"""
plan:
  description: What the restore does (and did); returned in check mode, on a missing confirmation and after a run.
  returned: when the backup could be resolved
  type: dict
  contains:
    database:
      description: The database replaced.
      type: str
    confirm:
      description: The id O(confirm) must equal.
      type: str
      sample: orchestrator-20260509T073525Z
    backup:
      description:
        - The backup - id, path, created_at, created_at_source (manifest, archive, mtime), age_seconds, format, foreign,
          size_bytes, pg_dump_version, database.
      type: dict
    write_window:
      description:
        - C(from) (the backup's time), C(to) (now; after a run the moment writers were stopped), C(seconds), and C(meaning)
          - writes in this window are not in the restored data (they stay in the previous database).
      type: dict
      sample: {from: "2026-05-09T07:35:25Z", to: "2026-05-09T09:01:02Z", seconds: 5137}
    row_differences:
      description:
        - With a manifest, per table C(current) rows, C(backup) rows and C(difference) (current - backup, net); null for a
          foreign dump.
      type: dict
      sample: {public.executions: {current: 0, backup: 500, difference: -500}}
    rows_not_in_backup:
      description: Sum of the positive differences (and of tables the backup lacks) - rows that will not be in the restored data.
      type: int
    row_differences_note:
      description: What the differences mean, or why there are none.
      type: str
    disk:
      description: C(checks) (what, where, needed_bytes, free_bytes, ok), C(skipped) (what could not be measured, why), C(ok), C(needed_bytes).
      type: dict
    would_refuse:
      description: Reasons a real run would refuse (space), empty when none.
      type: list
      elements: str
    leftovers:
      description: What an interrupted run left that this run repairs first (action drop, allow or rename_back, database, reason).
      type: list
      elements: dict
    writers:
      description: The method (terminate) and what the downtime is.
      type: dict
    steps:
      description: The steps in order, in words.
      type: list
      elements: str
    current:
      description: The current database - exists, size_bytes, owner.
      type: dict
    server:
      description: Server version, tools_via and the restore program's version.
      type: dict
backup:
  description: The backup used - id and path.
  returned: when the backup could be resolved
  type: dict
database:
  description: The database the restore is about (O(database), else O(login_db)).
  returned: always
  type: str
  sample: orchestrator
write_window_end:
  description: When writers were stopped - the end of the write window (UTC).
  returned: success with a previous database
  type: str
  sample: "2026-05-09T09:01:02Z"
serving_error:
  description: Why a new session to the restored database did not answer right after the swap (RV(serving) false).
  returned: when serving is false
  type: str
reallow_failed:
  description:
    - After a failure while writers were stopped, why connections could not be allowed again (the server went away);
      the next run allows them first.
  returned: rarely, on failure
  type: str
restored_database:
  description: The database now serving the restored data (O(database)).
  returned: success, not in check mode
  type: str
previous_database:
  description: The replaced database's new name (kept, connections disallowed); null when O(database) did not exist.
  returned: success, not in check mode
  type: str
  sample: orchestrator_pre_restore_20260509090102
safety_backup:
  description: The safety backup of the replaced database - id, path, manifest_path.
  returned: when taken
  type: dict
verification:
  description:
    - C(counts) per table (expected, actual, ok), C(checks) (name, sql, value, ok, error), C(compared) (false for a foreign
      dump, with C(note) "foreign dump - counts could not be compared"), C(ok) and C(failed).
  returned: when the restore into the new database finished
  type: dict
settings_copied:
  description: Database-level properties copied from the replaced database (settings, grants, connection limit).
  returned: success with a previous database
  type: list
  elements: str
downtime_seconds:
  description: Seconds from stopping writers to the end of the swap.
  returned: success, not in check mode
  type: float
  sample: 0.412
sessions_ended:
  description: Sessions of the replaced database that were ended to stop writers.
  returned: success with a previous database
  type: int
serving:
  description: True when a new session to the restored database answered after the swap.
  returned: success, not in check mode
  type: bool
msg:
  description: What was restored, what was kept (previous database, safety backup), the verification and the downtime.
  returned: after a real restore, or when the backup was already restored
  type: str
  sample: "Restored orchestrator from backup orchestrator-20261127T020000Z (taken 2026-11-27T02:00:00Z); the database
    it replaced is kept as orchestrator_pre_restore_20261127031522; safety backup orchestrator-20261127T031510Z; row
    counts of 12 table(s) match the backup's manifest; checks: workflows=40; writers stopped for 0.4 s"
already_restored:
  description:
    - Set when O(database) was already restored from this backup by this module and O(repeat) is false; nothing was
      changed. C(previous_database) is the copy that restore kept, C(restored_at) when it was swapped in.
  returned: when the backup was already restored
  type: dict
  sample: {previous_database: orchestrator_pre_restore_20261127031522, backup: orchestrator-20261127T020000Z,
           restored_at: "2026-11-27T03:15:22Z"}
cleaned_up:
  description: What an interrupted run had left and this run repaired (action, database, reason).
  returned: always
  type: list
  elements: dict
dropped_restoring_database:
  description: After a failure, the restoring database that was dropped (null if it could not be, see RV(leftover)).
  returned: on failure after the restoring database was created
  type: str
leftover:
  description: After a failure, what could not be cleaned up (the next run does it).
  returned: sometimes, on failure
  type: str
error_kind:
  description:
    - Why nothing (or not everything) was done - C(confirm_required), C(busy) (another restore runs), C(standby),
      C(corrupt) (the backup failed verification), C(version) (pg_restore too old), C(disk), C(tool) (pg_restore or
      psql failed; the current database untouched), C(verification_failed), C(writers) (sessions would not end; the
      database serves again), C(not_found), C(invalid_input), C(cluster), or a connection kind (C(unreachable), C(auth),
      C(permission), C(timeout), ...).
  returned: failure
  type: str
  sample: confirm_required
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    GuardrailError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import restore as pgrestore
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    PostgresError,
    error_kind,
    open_session,
    postgres_argument_spec,
    quote_ident,
    unwind_on_sigterm,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.tools import (
    check_tools_params,
    make_tools,
    postgres_tools_argument_spec,
)


def argspec():
    spec = cluster_argument_spec()
    spec.update(postgres_argument_spec())
    spec.update(postgres_tools_argument_spec())
    spec.update(
        database=dict(type="str"),
        backup=dict(type="str", required=True),
        confirm=dict(type="str"),
        jobs=dict(type="int", default=2),
        safety_backup=dict(type="bool", default=True),
        checks=dict(type="list", elements="dict", options=dict(
            name=dict(type="str"),
            sql=dict(type="str", required=True),
            expect_min=dict(type="float"),
            expect_equal=dict(type="raw"),
        )),
        critical_tables=dict(type="list", elements="str"),
        stop_writers=dict(type="str", choices=["terminate"], default="terminate"),
        writers_timeout=dict(type="int", default=30),
        disk_check=dict(type="raw", default="true"),
        lock_timeout_seconds=dict(type="int"),
        if_missing=dict(type="str", choices=["fail", "create"], default="fail"),
        repeat=dict(type="bool", default=False),
    )
    return spec


def disk_check(value):
    """'required' or 'skip' from the option (true, "true", "yes", "required", "skip")."""
    text = str(value).strip().lower()
    if value is True or text in ("true", "yes", "on", "1", "required"):
        return "required"
    if text == "skip":
        return "skip"
    raise InvalidInput("disk_check must be true (check free space) or skip (go on where it cannot be measured), got %r"
                       % (value,))


def run(params, check_mode, holder):
    params = dict(params)
    params["disk_check"] = disk_check(params.get("disk_check"))
    if params.get("lock_timeout_seconds"):
        params["lock_timeout"] = params["lock_timeout_seconds"]
    if params["writers_timeout"] < 1:
        raise InvalidInput("writers_timeout must be at least 1 second")
    pgrestore.check_database_name(params.get("database") or params.get("login_db"))
    check_tools_params(params)
    with open_session(params, database=pgrestore.MAINTENANCE_DB, kube_params=params) as maint:
        with make_tools(params, maint, kube_params=params) as tools:
            restore = pgrestore.Restore(params, maint, tools,
                                        connect=lambda name: pgrestore.sibling_session(maint, name),
                                        quote=lambda name: quote_ident(name, maint),
                                        quote_literal=pgrestore.quote_literal, check_mode=check_mode)
            holder["restore"] = restore
            return restore.run()


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    unwind_on_sigterm()
    holder = {}
    try:
        result = run(module.params, module.check_mode, holder)
    except (InvalidInput, PostgresError, GuardrailError, ClusterError) as exc:
        partial = holder["restore"].result if "restore" in holder else {"changed": False, "cleaned_up": []}
        module.fail_json(msg=str(exc), error_kind=error_kind(exc), **partial)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
