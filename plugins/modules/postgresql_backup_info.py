#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_backup_info
short_description: List and inspect PostgreSQL backups
version_added: 0.2.0
description:
  - Lists the dumps in O(backup_dir), newest first, or inspects one (O(backup), or the newest with O(latest)).
  - Each is described by its content, never its file name - the format (C(custom), C(tar), C(directory), C(plain)),
    the versions from its header, the time it was taken, its manifest when this collection took it, and whether it
    is C(verified) (its sha256 matches the manifest and its table of contents is readable).
  - A dump this collection did not take (a "foreign" one) has the id C(<file name>@<sha256 first 12>), so a restore's
    confirmation names exactly that content.
  - Read-only. The same in check mode. No database connection is needed with O(tools_via=local); with
    O(tools_via=exec) only the cluster options and O(pod)/O(pod_namespace) are used.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.postgres
  - ai_orchestrator.incident_response.postgres_tools
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
    description: Runs on the control node; with O(tools_via=exec) the reads run in the database pod.
options:
  backup:
    description:
      - Inspect this backup only - a backup id (C(orchestrator-20260509T073525Z)), a foreign id
        (C(latest.dump@5f541512f026)), a file name in O(backup_dir) or an absolute path.
      - Not with O(latest).
    type: str
  latest:
    description:
      - Inspect the newest backup only (of O(database) when set). Fails with C(error_kind=not_found) when there is none.
      - Safety backups (the copies a restore takes of the database it replaces) are not the newest unless
        O(include_safety) - after a restore the newest safety backup holds the data the restore replaced.
    type: bool
    default: false
  include_safety:
    description:
      - Let O(latest) choose a safety backup too. Listing always shows them.
    type: bool
    default: false
  database:
    description:
      - List only the backups of this database (by the manifest, else the archive's own database name).
    type: str
  verify:
    description:
      - Compute each backup's sha256 and compare it with its manifest. Reading large dumps takes time; V(false)
        lists without it (foreign dumps are still hashed, for their id).
    type: bool
    default: true
notes:
  - A backup's time is its manifest's snapshot time, else the archive's own C(Archive created at)
    (C(pg_restore --list)), else the file's modification time; RV(backups[].created_at_source) says which.
seealso:
  - module: ai_orchestrator.incident_response.postgresql_backup
  - module: ai_orchestrator.incident_response.postgresql_restore
"""

EXAMPLES = r"""
- name: What backups are there, and how old is the newest?
  ai_orchestrator.incident_response.postgresql_backup_info:
    backup_dir: /var/backups/postgres
  register: found

- name: Say it
  ansible.builtin.debug:
    msg: "{{ found.backups[0].id }} taken {{ found.backups[0].age_seconds }} s ago"
  when: found.backups | length > 0

- name: The newest backup of orchestrator on the database pod's volume
  ai_orchestrator.incident_response.postgresql_backup_info:
    tools_via: exec
    pod: statefulset/postgres
    pod_namespace: ai-orchestrator
    database: orchestrator
    latest: true
  register: newest
"""

RETURN = r"""
backups:
  description:
    - The backups found (or the one inspected), newest first. Files that are not dumps are left out; those that could
      not be read are in RV(skipped).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The backup's id - the manifest's, or C(<name>@<sha256 first 12>) for a foreign dump.
      type: str
      sample: orchestrator-20260509T073525Z
    name:
      description: The file (or directory) name.
      type: str
    path:
      description: Its full path.
      type: str
    format:
      description: C(custom), C(tar), C(directory) or C(plain), by content; null when the content is not a dump.
      type: str
    size_bytes:
      description: Size of the file (of the directory entry for a directory dump).
      type: int
    created_at:
      description: When the backup was taken, UTC.
      type: str
      sample: "2026-05-09T07:35:25Z"
    created_at_source:
      description: Where RV(backups[].created_at) comes from - C(manifest), C(archive) or C(mtime).
      type: str
    age_seconds:
      description: Seconds since RV(backups[].created_at).
      type: int
    database:
      description: The database dumped (manifest, else the archive header).
      type: str
    server_version:
      description: The server version the dump was taken from.
      type: str
    pg_dump_version:
      description: The pg_dump version that wrote it.
      type: str
    toc:
      description: The archive's table of contents summary (dbname, entries, tables, table_data, compression, ...); null for plain dumps.
      type: dict
    manifest:
      description: The manifest (see M(ai_orchestrator.incident_response.postgresql_backup)), or null for a foreign dump.
      type: dict
    manifest_path:
      description: The manifest's path, or null.
      type: str
    foreign:
      description: True when the dump has no manifest.
      type: bool
    kind:
      description: The manifest's kind (scheduled, safety), or null.
      type: str
    sha256:
      description: The content's sha256 (of the file; for a directory dump, of its files' names and sha256s); null when not computed.
      type: str
    verified:
      description: True when the content was hashed and matches its manifest (if any) and the table of contents is readable.
      type: bool
    problems:
      description: What is wrong with it, in words (checksum mismatch, unreadable TOC, not a dump, ...).
      type: list
      elements: str
  sample:
    - id: orchestrator-20260509T073525Z
      name: orchestrator-20260509T073525Z.dump
      path: /backups/orchestrator-20260509T073525Z.dump
      format: custom
      size_bytes: 16728
      created_at: "2026-05-09T07:35:25Z"
      created_at_source: manifest
      age_seconds: 3600
      database: orchestrator
      foreign: false
      verified: true
      problems: []
backup:
  description: With O(backup) or O(latest), the one backup inspected (the same as RV(backups[0])).
  returned: when backup or latest is set
  type: dict
skipped:
  description: Entries of O(backup_dir) that could not be read, each with C(name) and C(reason).
  returned: success
  type: list
  elements: dict
backup_dir:
  description: The directory listed.
  returned: always
  type: str
  sample: /backups
error_kind:
  description: Why it failed - C(not_found), C(tool), C(invalid_input), C(cluster), C(unreachable), ...
  returned: failure
  type: str
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
    postgres_argument_spec,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.tools import (
    backup_dir_of,
    make_tools,
    postgres_tools_argument_spec,
)


def argspec():
    spec = cluster_argument_spec()
    spec.update(postgres_argument_spec())
    spec.update(postgres_tools_argument_spec())
    spec.update(
        backup=dict(type="str"),
        latest=dict(type="bool", default=False),
        database=dict(type="str"),
        verify=dict(type="bool", default=True),
        include_safety=dict(type="bool", default=False),
    )
    return spec


def run(params, result):
    if params.get("backup") and params.get("latest"):
        raise InvalidInput("backup and latest are mutually exclusive")
    # No database session: the files are read where the programs run.
    with make_tools(params, None, kube_params=params) as tools:
        if params.get("backup"):
            entry = pgbackup.resolve(tools, tools.backup_dir, params["backup"], verify=params["verify"])
            result.update(backups=[entry], backup=entry, skipped=[])
            return result
        entries, skipped = pgbackup.list_backups(tools, tools.backup_dir, verify=params["verify"],
                                                 database=params.get("database"))
        result.update(backups=entries, skipped=skipped)
        if params.get("latest"):
            if not params.get("include_safety"):
                entries = [e for e in entries if e.get("kind") != "safety"]
            if not entries:
                raise PostgresError("no backups%s in %s on %s" % (
                    " of %s" % params["database"] if params.get("database") else "", tools.backup_dir, tools.where()),
                    kind="not_found")
            result["backup"] = entries[0]
            result["backups"] = entries[:1]
    return result


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    result = {"changed": False, "backup_dir": backup_dir_of(module.params)}
    try:
        run(module.params, result)
    except (InvalidInput, PostgresError, GuardrailError, ClusterError) as exc:
        module.fail_json(msg=str(exc), error_kind=error_kind(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
