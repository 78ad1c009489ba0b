#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_connection_relief
short_description: End PostgreSQL sessions left idle in a transaction, within guardrails
version_added: 0.2.0
description:
  - Frees connection slots, locks and vacuum's horizon held by sessions that have been idle in a transaction
    (or an aborted one) for longer than O(idle_in_transaction_seconds), by ending them with
    C(pg_terminate_backend()). Their open transactions are rolled back; nothing they committed is lost.
  - Never ends the module's own session, a superuser's session, a backend that is not a client backend
    (WAL senders, autovacuum, background workers), a backup or restore in progress (C(application_name)
    V(pg_dump), V(pg_dumpall), V(pg_restore), V(pg_basebackup)), other automation (C(application_name) matching
    the built-in patterns or O(protected_applications)) or a role in O(protected_roles). Each of them is
    listed in RV(spared) with the reason.
  - Ends at most O(max_terminate) sessions per run, the longest idle first; the others are spared, with the
    reason and a later run can end them.
  - Each session is re-checked in the statement that ends it - same backend, same transaction, still idle -
    so a session that committed or disconnected meanwhile is reported in RV(gone), not ended and not an error.
  - A second run with the same options changes nothing, because the sessions it ended are gone.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.postgres
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: Reports in RV(would_terminate) what a real run would end, and ends nothing.
  diff_mode:
    support: none
    description: No diff; RV(terminated) lists what changed.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node and connects to PostgreSQL from there.
options:
  idle_in_transaction_seconds:
    description:
      - Only sessions idle in a transaction for longer than this are ended. At least 10.
    type: int
    default: 300
  max_terminate:
    description:
      - End at most this many sessions in one run, the longest idle first. At least 1.
    type: int
    default: 10
  database:
    description:
      - Only sessions connected to this database. All databases of the server when not set.
    type: str
  only_when_usage_percent:
    description:
      - Act only when connection use (as C(connections_before.usage_percent), the share of the slots ordinary
        roles may use) is at least this percentage; below it nothing is ended, RV(allowed) is false and every
        candidate is in RV(spared) with the reason. V(0) (the default) always acts. Between 0 and 100.
    type: float
    default: 0
  protected_applications:
    description:
      - Regular expressions (Python syntax, matched against the whole C(application_name), ignoring case) of
        applications whose sessions are never ended, in addition to the built-in ones - V(ai_orchestrator.*)
        (this collection), V(pg_rewind), V(pg_upgrade), V(pg_repack.*), V(pgcopydb.*), V(pgbackrest.*),
        V(barman.*), V(wal-?g.*), V(wal-e.*), V(patroni.*), V(repmgr.*), V(pg_auto_failover.*), V(pglogical.*),
        V(pg_cron.*) - and the backup tools named in the description.
      - An invalid pattern fails the module before anything is read.
    type: list
    elements: str
    default: []
  protected_roles:
    description:
      - Roles (exact names) whose sessions are never ended. Superusers' sessions never are anyway.
    type: list
    elements: str
    default: []
  query_max_chars:
    description:
      - Query texts in the result are redacted (the collection's built-in patterns, as
        O(ai_orchestrator.incident_response.incident_event#module:redact_defaults) applies them) and cut to this
        many characters (followed by V(...)). At least 20.
    type: int
    default: 300
notes:
  - The login role must be a superuser or have C(pg_signal_backend) (then it cannot end superusers' sessions,
    which this module never does anyway) and should see every session (C(pg_read_all_stats) or C(pg_monitor)).
    A session the role may not end is listed in RV(refused) and the module fails after ending the others.
  - When every connection slot is taken, connect as a superuser (who has reserved slots) to relieve.
  - Applications that leave transactions open by design should be fixed; in the meantime name them in
    O(protected_applications). The server's own C(idle_in_transaction_session_timeout) is the lasting fix for
    clients that forget to commit.
seealso:
  - module: ai_orchestrator.incident_response.postgresql_health_info
  - name: pg_terminate_backend
    description: The server signalling functions.
    link: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL
"""

EXAMPLES = r"""
- name: Diagnose
  ai_orchestrator.incident_response.postgresql_health_info:
    login_db: orchestrator
  register: db

- name: What relief would do
  ai_orchestrator.incident_response.postgresql_connection_relief:
    login_db: orchestrator
    database: orchestrator
  check_mode: true
  register: plan

- name: End sessions idle in a transaction for 5 minutes, only when the connections run out
  ai_orchestrator.incident_response.postgresql_connection_relief:
    login_user: postgres
    login_password: "{{ postgres_password }}"
    login_db: orchestrator
    idle_in_transaction_seconds: 300
    max_terminate: 20
    only_when_usage_percent: 90
    protected_applications: [nightly-report, "etl-.*"]
    protected_roles: [replicator]
  register: relief

- name: Say what was ended
  ansible.builtin.debug:
    msg: >-
      ended {{ relief.terminated | length }} session(s); connections
      {{ relief.connections_before.usage_percent }} % -> {{ relief.connections_after.usage_percent }} %
"""

RETURN = r"""
allowed:
  description: False when O(only_when_usage_percent) was not reached, so nothing was ended.
  returned: success
  type: bool
  sample: true
reason:
  description: Why nothing was ended when RV(allowed) is false; null otherwise.
  returned: success
  type: str
  sample: "connection usage 12.8 % is below only_when_usage_percent 90 %: nothing is ended"
criteria:
  description: The criteria applied - idle_in_transaction_seconds, max_terminate, database,
    only_when_usage_percent, protected_applications (built-in and given), protected_roles.
  returned: success
  type: dict
  sample: {idle_in_transaction_seconds: 300, max_terminate: 10, database: orchestrator, only_when_usage_percent: 0}
would_terminate:
  description: The sessions chosen to be ended, longest idle first (in check mode nothing is ended; in a real
    run they are then in RV(terminated) or RV(gone)). Entries as in RV(terminated).
  returned: success
  type: list
  elements: dict
  sample: [{pid: 4100, user: app, database: orchestrator, application: workflow-service, idle_seconds: 612.4}]
terminated:
  description: The sessions ended. Empty in check mode.
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
      sample: app
    database:
      description: Database.
      type: str
      sample: orchestrator
    application:
      description: C(application_name).
      type: str
      sample: workflow-service
    client:
      description: Client address, V(local) for a Unix socket.
      type: str
      sample: 10.0.3.7
    backend_type:
      description: Always C(client backend) here.
      type: str
      sample: client backend
    state:
      description: C(idle in transaction) or C(idle in transaction (aborted)).
      type: str
      sample: idle in transaction
    idle_seconds:
      description: Time idle in the transaction.
      type: float
      sample: 612.4
    xact_age_seconds:
      description: Age of the transaction.
      type: float
      sample: 613.0
    query:
      description: Its last statement, redacted and cut to O(query_max_chars).
      type: str
      sample: SELECT * FROM workflows WHERE id = 7 FOR UPDATE
gone:
  description: Chosen sessions that were not ended because they ended by themselves or committed meanwhile,
    with C(reason) (V(ended by itself), V(no longer idle in the same transaction)).
  returned: success
  type: list
  elements: dict
  sample: []
spared:
  description: Sessions idle in a transaction longer than O(idle_in_transaction_seconds) that were not ended, with
    C(reason) - the protection that applies (own session, superuser, not a client backend, backup or restore,
    protected role, protected application), the O(max_terminate) limit, or O(only_when_usage_percent).
  returned: success
  type: list
  elements: dict
  sample: [{pid: 4200, user: postgres, application: psql, idle_seconds: 900.0, reason: "superuser session (role postgres)"}]
refused:
  description: Chosen sessions the server refused to end (usually a missing privilege), with C(reason). When not
    empty the module fails, after ending the others.
  returned: success
  type: list
  elements: dict
  sample: []
connections_before:
  description: Connection use before, as RV(ai_orchestrator.incident_response.postgresql_health_info#module:connections)
    (by_application lists every application here, not only the top ones). The module's own session is not counted.
  returned: success
  type: dict
  sample: {max_connections: 50, client_limit: 47, total: 46, available: 1, usage_percent: 97.9}
connections_after:
  description: Connection use after the sessions ended (once they have left C(pg_stat_activity), waiting up to
    5 seconds); the same as RV(connections_before) when nothing was ended; null in check mode.
  returned: success
  type: dict
  sample: {max_connections: 50, client_limit: 47, total: 36, available: 11, usage_percent: 76.6}
error_kind:
  description:
    - Why the module failed - C(unreachable), C(auth), C(not_found), C(permission) (also when a chosen session
      could not be ended), C(too_many_connections), C(timeout), C(server), C(library), or C(invalid_input) (an
      option is unusable; nothing was sent).
  returned: failure
  type: str
  sample: permission
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import Redactor
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import cluster_argument_spec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import relief
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    PostgresError,
    open_session,
    postgres_argument_spec,
)

OPTIONS = ("idle_in_transaction_seconds", "max_terminate", "database", "only_when_usage_percent",
           "protected_applications", "protected_roles", "query_max_chars")


def argspec():
    spec = cluster_argument_spec()
    spec.update(postgres_argument_spec())
    spec.update(
        idle_in_transaction_seconds=dict(type="int", default=300),
        max_terminate=dict(type="int", default=10),
        database=dict(type="str"),
        only_when_usage_percent=dict(type="float", default=0),
        protected_applications=dict(type="list", elements="str", default=[]),
        protected_roles=dict(type="list", elements="str", default=[]),
        query_max_chars=dict(type="int", default=300),
    )
    return spec


def run(params, check_mode):
    options = dict((name, params[name]) for name in OPTIONS)
    relief.check_options(options)
    if params["query_max_chars"] < 20:
        raise InvalidInput("query_max_chars must be at least 20, got %s" % params["query_max_chars"])
    redactor = Redactor()
    with open_session(params, database=None, kube_params=params) as session:
        return relief.relieve(session, options, check_mode=check_mode, redactor=redactor)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input")
    except PostgresError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc), error_kind="unreachable")
    if result["refused"]:
        module.fail_json(msg="could not end %d session(s): %s" % (
            len(result["refused"]), "; ".join("pid %s: %s" % (f["pid"], f["reason"]) for f in result["refused"])),
            error_kind="permission", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
