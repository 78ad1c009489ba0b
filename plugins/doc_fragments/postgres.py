# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # PostgreSQL connection options, the same for every module in the
    # ai_orchestrator.incident_response.postgres action group.
    # Kept in step with module_utils/postgres/connection.py postgres_argument_spec() (a unit test checks it).
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server, or the directory of its Unix socket
        (such as V(/var/run/postgresql)).
      - When not set, libpq's C(PGHOST) applies, then its default (the local Unix socket).
      - With O(connect_via=port_forward) the session connects to the forward's local end; this name is
        then only what O(ssl_mode=verify-full) checks the server's certificate against (the name the
        certificate was issued for, such as V(postgres.ai-orchestrator.svc)).
    type: str
    aliases: [login_unix_socket]
  login_port:
    description:
      - TCP port of the server. When not set, C(PGPORT), then V(5432).
    type: int
  login_user:
    description:
      - Role to connect as. When not set, C(PGUSER), then the operating system user running the module.
      - Diagnosis needs C(pg_monitor) (or C(pg_read_all_stats)); ending sessions needs C(pg_signal_backend)
        or a superuser; restores need the database's owner with C(CREATEDB) or a superuser.
    type: str
  login_password:
    description:
      - Password of O(login_user). When not set, C(PGPASSWORD), then the password file (C(PGPASSFILE),
        default C(~/.pgpass)), as any libpq client does.
      - Never logged, never part of a message or a returned value; prefer an Ansible Vault variable or the
        environment of the control node.
    type: str
  login_db:
    description:
      - Database to connect to. When not set, C(PGDATABASE), then a database named like the role.
    type: str
  ssl_mode:
    description:
      - TLS for the connection, as libpq's C(sslmode). When not set, C(PGSSLMODE), then V(prefer) (TLS if the
        server offers it, without checking who the server is).
      - V(verify-full) with O(ssl_rootcert) proves the server is the one named by O(login_host); use it
        across any network you do not control.
      - A certificate that does not verify fails the module with C(error_kind=auth) and libpq's reason.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ssl_rootcert:
    description:
      - PEM file of the CA certificates that sign the server's certificate, for O(ssl_mode=verify-ca) and
        V(verify-full). When not set, C(PGSSLROOTCERT), then C(~/.postgresql/root.crt).
    type: path
  ssl_cert:
    description:
      - Client certificate (PEM) for servers that authenticate clients by certificate (C(cert) in
        C(pg_hba.conf)). When not set, C(PGSSLCERT), then C(~/.postgresql/postgresql.crt).
    type: path
  ssl_key:
    description:
      - Private key of O(ssl_cert). When not set, C(PGSSLKEY), then C(~/.postgresql/postgresql.key).
        libpq refuses a key file readable by others.
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the server to answer before the module fails with C(error_kind=unreachable).
        At least 1. Keep it short; a server that does not answer in seconds is down or unreachable, and
        the runbook escalates rather than waits.
    type: int
    default: 5
  statement_timeout:
    description:
      - Seconds any one statement of the module may run (the session's C(statement_timeout)); a statement
        cut short fails the module with C(error_kind=timeout). At least 1.
      - Also bounds the session's C(idle_in_transaction_session_timeout) (twice this, at least 60 s), so
        the module's own sessions never hold locks for long.
    type: int
    default: 30
  lock_timeout:
    description:
      - Seconds a statement of the module waits for a lock (the session's C(lock_timeout)) before it fails
        with C(error_kind=timeout) instead of queueing behind, and blocking, the application's sessions.
        At least 1.
    type: int
    default: 5
  application_name:
    description:
      - The session's C(application_name), as C(pg_stat_activity) and the server log show it. It tells the DBA
        who is connected, and the connection-relief module never ends sessions named like this collection's.
      - Printable, at most 63 characters.
    type: str
    default: ai_orchestrator.incident_response
  connect_via:
    description:
      - V(direct) connects to O(login_host) (or C(PGHOST)) as any client would.
      - V(port_forward) reaches the database pod through the Kubernetes API server, as
        C(kubectl port-forward) does, for a control node outside the cluster's network. It needs O(pod) and
        O(pod_namespace), the cluster options (O(kubeconfig), O(context), ...), the kubernetes Python library,
        and RBAC in that namespace of C(get) on C(pods) and both C(get) and C(create) on C(pods/portforward)
        (Kubernetes 1.35 checks both for a websocket port-forward); a workload in O(pod) also needs C(get) on
        C(statefulsets) or C(deployments) and C(list) on C(pods) (and C(replicasets)). Each database connection
        opens its own stream, so parallel clients work through one forward.
      - Through a port-forward libpq connects to a local port chosen at run time; a password file
        (C(PGPASSFILE)) entry for it needs V(*) as its port.
    type: str
    choices: [direct, port_forward]
    default: direct
  pod:
    description:
      - With O(connect_via=port_forward), the database pod, as a pod name or V(statefulset/NAME) or
        V(deployment/NAME) for a Ready pod of that workload (the StatefulSet's first ordinal when it is Ready).
    type: str
  pod_namespace:
    description:
      - Namespace of O(pod).
    type: str
  pod_port:
    description:
      - The port PostgreSQL listens on inside the pod, for O(connect_via=port_forward).
    type: int
    default: 5432
requirements:
  - psycopg2 >= 2.8 (Python library, on the control node)
notes:
  - The module runs on the control node (or the AWX execution node) and connects to PostgreSQL from there, so
    run it with a local connection or delegate it to localhost.
  - Options not set fall back to libpq's own environment variables and files (C(PGHOST), C(PGPORT), C(PGUSER),
    C(PGPASSWORD), C(PGPASSFILE), C(PGDATABASE), C(PGSSLMODE), C(PGSSLROOTCERT), C(PGSERVICE) and
    C(PGSERVICEFILE), ...), so an execution environment configured for psql needs no options at all.
  - Every failure to connect or to run a step returns C(error_kind), one of V(unreachable), V(auth),
    V(not_found), V(permission), V(too_many_connections), V(timeout), V(standby), V(server), V(library), with a
    message that says what to check. A playbook branches on C(error_kind), never on the message.
  - When C(max_connections) is reached, only roles with reserved connections get in (a superuser;
    C(pg_use_reserved_connections) from PostgreSQL 16); diagnose as one of those.
  - Set the options once for a play with C(module_defaults) and the group
    C(group/ai_orchestrator.incident_response.postgres).
"""
