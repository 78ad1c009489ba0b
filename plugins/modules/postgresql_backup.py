#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_backup
short_description: Take a verified PostgreSQL backup with a manifest of its row counts
version_added: 0.2.0
description:
  - Dumps one database with C(pg_dump -Fc) into O(backup_dir) as C(<db>-<YYYYmmddTHHMMSSZ>.dump) and writes
    C(<same>.manifest.json) beside it - the id, database, time, server and pg_dump versions, size, sha256 and the
    exact row count of every user table (or of O(critical_tables)).
  - The counts and the dump see the same data - a REPEATABLE READ transaction exports its snapshot, counts the
    tables in it, and pg_dump reads that snapshot (C(--snapshot)) while the transaction stays open. The restore
    module compares the restored database against these counts.
  - After the dump the backup is verified - its table of contents must be readable (C(pg_restore --list)) and its
    sha256 is recorded. A dump that fails any step is removed, and no manifest is written.
  - Refuses (C(error_kind=disk)) when the free space in O(backup_dir) is below 1.2 times the database's size
    (C(pg_database_size)), saying both numbers.
  - In check mode nothing is written; RV(plan) says where the backup would go, its estimated size and the free space.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.postgres
  - ai_orchestrator.incident_response.postgres_tools
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: Check mode measures and plans; nothing is dumped or written.
  diff_mode:
    support: none
    description: A backup adds files; there is no diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node; with O(tools_via=exec) the programs run in the database pod.
options:
  database:
    description:
      - The database to back up. Default O(login_db) (then C(PGDATABASE)).
    type: str
  kind:
    description:
      - Recorded in the manifest - V(scheduled) for routine backups, V(safety) for the copy a restore takes of the
        database it replaces.
    type: str
    choices: [scheduled, safety]
    default: scheduled
  critical_tables:
    description:
      - Count only these tables (C(schema.table), or C(table) for schema C(public)) in the manifest instead of every
        user table. Counting is exact (C(count(*))), so on very large databases name the tables that matter.
      - A table that does not exist fails the module before anything is dumped.
    type: list
    elements: str
notes:
  - The connection's role needs to read every table (the database owner, C(pg_read_all_data), or a superuser),
    as pg_dump does.
  - The dump's transaction runs without a statement timeout (counting and dumping take as long as they take);
    O(lock_timeout) becomes pg_dump's C(--lock-wait-timeout), so a table locked by a long migration fails the backup
    instead of queueing behind it.
  - Files are created readable by their owner only (O(tools_via=local)).
seealso:
  - module: ai_orchestrator.incident_response.postgresql_backup_info
  - module: ai_orchestrator.incident_response.postgresql_restore
"""

EXAMPLES = r"""
- name: Back up the orchestrator database on the control node
  ai_orchestrator.incident_response.postgresql_backup:
    login_host: db.example.com
    login_user: backup
    login_password: "{{ vault_backup_password }}"
    database: orchestrator
    backup_dir: /var/backups/postgres
  register: taken

- name: Back up inside the database pod, onto its /backups volume
  ai_orchestrator.incident_response.postgresql_backup:
    connect_via: port_forward
    pod: statefulset/postgres
    pod_namespace: ai-orchestrator
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    database: orchestrator
    tools_via: exec
    critical_tables: [public.users, public.workflows, public.executions]

- name: Say where it went
  ansible.builtin.debug:
    msg: "{{ taken.backup.id }}: {{ taken.backup.manifest.tables }}"
"""

RETURN = r"""
backup:
  description:
    - The backup taken. In check mode only RV(backup.id) and RV(backup.path) (what they would be).
  returned: success
  type: dict
  contains:
    id:
      description: The backup's id, the file name without C(.dump); a restore's O(ai_orchestrator.incident_response.postgresql_restore#module:confirm) names it.
      type: str
      sample: orchestrator-20260509T073525Z
    path:
      description: The dump file (on the control node, or in the pod with O(tools_via=exec)).
      type: str
      sample: /backups/orchestrator-20260509T073525Z.dump
    manifest_path:
      description: The manifest file.
      type: str
      sample: /backups/orchestrator-20260509T073525Z.manifest.json
    manifest:
      description:
        - The manifest written. C(created_at) is the snapshot's time (the server's clock, UTC); C(tables) the exact
          row counts in that snapshot; C(database_size_bytes) what a restore needs on the server.
      type: dict
      sample:
        id: orchestrator-20260509T073525Z
        database: orchestrator
        format: custom
        created_at: "2026-05-09T07:35:25Z"
        server_version: "15.18 (Debian 15.18-0+deb12u1)"
        pg_dump_version: "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        size_bytes: 16728
        sha256: 5f541512f026a4d396e699f48cde14584aab2dca645250c63553ed6fd6f90383
        database_size_bytes: 8135139
        snapshot: 00000004-0000002A-1
        tables: {public.users: 12, public.workflows: 50, public.executions: 500}
        tables_scope: all
        kind: scheduled
        toc_entries: 33
        tools_via: local
    verified:
      description: True when the dump's table of contents was read back and its sha256 recorded.
      type: bool
      sample: true
plan:
  description: What the backup needs and has, measured before dumping (also in check mode).
  returned: success and on a refusal for space
  type: dict
  contains:
    database:
      description: The database.
      type: str
    path:
      description: Where the dump goes.
      type: str
    estimated_size_bytes:
      description: C(pg_database_size) of the database, the estimate.
      type: int
    required_free_bytes:
      description: 1.2 times the estimate.
      type: int
    free_bytes:
      description: Free space in O(backup_dir).
      type: int
    enough_space:
      description: Whether free_bytes >= required_free_bytes.
      type: bool
    where:
      description: Where the programs run (V(the control node) or the pod).
      type: str
  sample:
    database: orchestrator
    path: /backups/orchestrator-20260509T073525Z.dump
    estimated_size_bytes: 8135139
    required_free_bytes: 9762166
    free_bytes: 72816541696
    enough_space: true
    where: pod ai-orchestrator/postgres-0 (container postgres)
error_kind:
  description:
    - Why the backup failed - C(disk) (not enough space), C(tool) (pg_dump or another program failed, its message
      included), C(version) (pg_dump older than the server), C(not_found) (O(backup_dir) or the database missing),
      C(invalid_input), C(cluster) (the pod exec failed), or a connection kind (C(unreachable), C(auth), ...).
  returned: failure
  type: str
  sample: disk
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    GuardrailError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import backup as pgbackup
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
        kind=dict(type="str", choices=list(pgbackup.KINDS), default="scheduled"),
        critical_tables=dict(type="list", elements="str"),
    )
    return spec


def run(params, check_mode, result):
    database = params.get("database") or params.get("login_db")
    if not database:
        raise InvalidInput("database is required (or login_db): the database to back up")
    check_tools_params(params)
    with open_session(params, database=database, kube_params=params) as session:
        with make_tools(params, session, kube_params=params) as tools:
            plan = pgbackup.plan_backup(session, tools, database)
            result["plan"] = plan
            if check_mode:
                stem = plan["path"].rsplit("/", 1)[-1][:-len(pgbackup.DUMP_SUFFIX)]
                result["backup"] = {"id": stem, "path": plan["path"], "manifest_path": plan["manifest_path"],
                                    "manifest": None, "verified": False}
                result["changed"] = True
                return result
            result["backup"] = pgbackup.take_backup(session, tools, database, lambda name: quote_ident(name, session),
                                                    kind=params["kind"], critical_tables=params.get("critical_tables"),
                                                    lock_wait_seconds=params.get("lock_timeout"), plan=plan)
            result["changed"] = True
    return result


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    unwind_on_sigterm()
    result = {"changed": False}
    try:
        run(module.params, module.check_mode, result)
    except (InvalidInput, PostgresError, GuardrailError, ClusterError) as exc:
        module.fail_json(msg=str(exc), error_kind=error_kind(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
