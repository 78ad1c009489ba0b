# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Where pg_dump, pg_restore and psql run and where backup files live, for the backup and
    # restore modules. Kept in step with module_utils/postgres/tools.py
    # postgres_tools_argument_spec() (a unit test checks it).
    DOCUMENTATION = r"""
options:
  tools_via:
    description:
      - Where PostgreSQL's client programs (C(pg_dump), C(pg_restore), C(psql)) run.
      - V(local) runs them on the control node against the module's own connection (direct, or the local end of
        O(connect_via=port_forward)). The password reaches them through a temporary password file (mode 0600,
        removed after) or libpq's environment, never a command line. Backup files are on the control node.
      - V(exec) runs them in the database pod O(pod) (namespace O(pod_namespace)) through the Kubernetes API's
        exec, as C(kubectl exec) does, with the pod's own authentication (C(-U login_user) only; no password
        is sent, no host or port - the pod's defaults and environment apply). Backup files are on the pod's
        volume. It needs RBAC C(create) on C(pods/exec) in that namespace, and C(env), C(stat), C(df), C(dd),
        C(sha256sum), C(grep), C(mv), C(rm), C(ls) in the image (any Debian or Alpine based PostgreSQL image has them).
    type: str
    choices: [local, exec]
    default: local
  pod_container:
    description:
      - With O(tools_via=exec), the container of O(pod) to run in. Default the pod's default container
        (annotation C(kubectl.kubernetes.io/default-container)), else its first.
    type: str
  backup_dir:
    description:
      - Directory of the backup files, an absolute path. With O(tools_via=exec) a directory in the pod,
        default V(/backups); with O(tools_via=local) a directory on the control node, required.
      - The backups this collection takes are C(<backup_dir>/<db>-<YYYYmmddTHHMMSSZ>.dump) with a manifest
        C(<same>.manifest.json) beside them.
    type: str
  pg_bindir:
    description:
      - With O(tools_via=local), the directory of C(pg_dump), C(pg_restore) and C(psql). Default
        C(/usr/lib/postgresql/<server major>/bin) when it exists (Debian's layout), else the C(PATH).
      - The programs must be the server's major version or newer.
    type: path
  tools_timeout:
    description:
      - Seconds one client program (a dump, a restore, a checksum) may run before the module gives up on it.
        At least 10.
    type: int
    default: 3600
"""
