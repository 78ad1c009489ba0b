# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PostgreSQL's client programs (pg_dump, pg_restore, psql) and the backup files they write.

Two transports, one interface (``Tools``):

- ``LocalTools`` (``tools_via: local``) runs the binaries on the control node against the
  module's own connection (direct, or the local end of its port-forward). The password goes
  through a temporary password file (mode 0600, removed after) or libpq's environment, never
  on a command line. Files live in ``backup_dir`` on the control node.
- ``ExecTools`` (``tools_via: exec``) runs them in the database pod through the Kubernetes
  API's exec (module_utils/k8s/podexec.py) with the pod's own authentication (``-U login_user``
  only; no password is sent). Files live in ``backup_dir`` on the pod's volume and are
  handled with coreutils (``stat``, ``df``, ``sha256sum``, ``dd``, ``mv``, ``rm``, ``ls``,
  ``cat``) called with argument vectors, never a shell.

Every failure is a PostgresError of kind ``tool`` (a program failed or is missing; the
message has its stderr) or ``not_found`` (a file is missing).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    PostgresError,
)

TOOLS = ("pg_dump", "pg_restore", "psql")
DEFAULT_EXEC_BACKUP_DIR = "/backups"
FORMATS = ("custom", "tar", "directory", "plain")
HEAD_BYTES = 4096
STDERR_TAIL = 2000
# libpq environment for the client programs, from psycopg2 connect keywords.
_ENV_OF_KEYWORD = (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR"), ("port", "PGPORT"), ("user", "PGUSER"),
                   ("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"),
                   ("sslkey", "PGSSLKEY"), ("connect_timeout", "PGCONNECT_TIMEOUT"))
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
# Lines of a plain SQL file that act outside the database it is restored into: another
# connection (pg_dumpall, pg_dump --create), databases, roles. Such a file is refused.
OUTSIDE_DATABASE = r"^(\\connect|\\c |CREATE DATABASE|DROP DATABASE|ALTER DATABASE|CREATE ROLE|ALTER ROLE|DROP ROLE)"


def postgres_tools_argument_spec():
    """Where the client programs run and where backup files live.

    Documented by the ``ai_orchestrator.incident_response.postgres_tools`` doc fragment;
    tests/unit checks that the two agree. ``pod`` and ``pod_namespace`` are the connection
    options' (postgres_argument_spec).
    """
    return dict(
        tools_via=dict(type="str", choices=["local", "exec"], default="local"),
        pod_container=dict(type="str"),
        backup_dir=dict(type="str"),
        pg_bindir=dict(type="path"),
        tools_timeout=dict(type="int", default=3600),
    )


def check_tools_params(params):
    """Raise InvalidInput for tool options no run could use; touches nothing."""
    via = params.get("tools_via") or "local"
    if via == "exec":
        if not params.get("pod") or not params.get("pod_namespace"):
            raise InvalidInput("tools_via=exec needs pod and pod_namespace (the database pod to run pg_dump/pg_restore in)")
    elif not params.get("backup_dir"):
        raise InvalidInput("backup_dir is required with tools_via=local (a directory on the control node)")
    backup_dir = backup_dir_of(params)
    if not posixpath.isabs(backup_dir):
        raise InvalidInput("backup_dir must be an absolute path, got %r" % backup_dir)
    if (params.get("tools_timeout") or 0) < 10:
        raise InvalidInput("tools_timeout must be at least 10 seconds")


def backup_dir_of(params):
    path = params.get("backup_dir") or (DEFAULT_EXEC_BACKUP_DIR if params.get("tools_via") == "exec" else "")
    return posixpath.normpath(path) if path else path


def parse_version(text):
    """{text, major, minor, num} of ``pg_dump --version`` style output (major 15 -> num 150000+minor)."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    match = _VERSION.search(line)
    if not match:
        raise PostgresError("cannot read a PostgreSQL version from %r" % line[:200], kind="tool")
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return {"text": line, "major": major, "minor": minor, "num": major * 10000 + minor}


def parse_df(text):
    """(available bytes, filesystem, mount point) of ``df -Pk PATH`` output."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if len(lines) < 2:
        raise PostgresError("unexpected df output: %r" % (text or "")[:200], kind="tool")
    # A long device name may wrap onto its own line in some df builds: join what follows the header.
    fields = " ".join(lines[1:]).split()
    if len(fields) < 6:
        raise PostgresError("unexpected df output: %r" % (text or "")[:200], kind="tool")
    return int(fields[3]) * 1024, fields[0], fields[5]


def parse_stat(text):
    """{size, mtime, type, device} of ``stat -L -c '%s %Y %d %F'`` output."""
    parts = (text or "").strip().split(" ", 3)
    if len(parts) != 4:
        raise PostgresError("unexpected stat output: %r" % (text or "")[:200], kind="tool")
    kind = {"regular file": "file", "regular empty file": "file", "directory": "directory"}.get(parts[3], "other")
    return {"size": int(parts[0]), "mtime": int(parts[1]), "device": parts[2], "type": kind}


def detect_format(head, is_dir=False, has_toc=False):
    """A dump's format by its content: custom, tar, directory or plain; None when it is none of them.

    custom starts with ``PGDMP``; a tar archive has ``ustar`` at byte 257; a directory dump holds
    ``toc.dat``; a plain dump is pg_dump's SQL text with its header comment.
    """
    if is_dir:
        return "directory" if has_toc else None
    head = head or b""
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[257:262] == b"ustar":
        return "tar"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "PostgreSQL database dump" in text or re.search(r"^-- Dumped (from|by) ", text, re.M):
        return "plain"
    return None


def format_problem(head, is_dir=False):
    """Why a file that is not a dump is not one, for the ``problems`` list."""
    if is_dir:
        return "a directory without toc.dat: not a pg_dump directory-format dump"
    head = head or b""
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed file: decompress it (gunzip) before restoring"
    if not head:
        return "empty file"
    return "not a PostgreSQL dump (no PGDMP, tar or pg_dump SQL header)"


def passfile_line(password):
    """A .pgpass line that matches any server, with ':' and '\\' escaped."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return "*:*:*:*:%s\n" % escaped


def tool_env(kwargs, base=None, passfile=None):
    """The client programs' environment: libpq's PG* variables for this connection.

    Options the module set win over the inherited environment; what it did not set stays as
    the environment says (libpq's own order). The password only ever goes to ``passfile``.
    """
    env = dict(os.environ if base is None else base)
    for keyword, name in _ENV_OF_KEYWORD:
        if kwargs.get(keyword) not in (None, ""):
            env[name] = str(kwargs[keyword])
    if passfile:
        env.pop("PGPASSWORD", None)
        env["PGPASSFILE"] = passfile
    # pg_dump writes its archive time as local wall clock: UTC keeps it unambiguous.
    env["TZ"] = "UTC"
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def tail(data, limit=STDERR_TAIL):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class Tools(object):
    """The operations the backup and restore modules need, wherever they run."""

    via = None

    def __init__(self, backup_dir, login_user=None, timeout=3600):
        self.backup_dir = backup_dir
        self.login_user = login_user
        self.timeout = timeout
        self._versions = {}

    # -- to be provided by a transport --------------------------------------------------------

    def run(self, argv, stdin=None, timeout=None, env=None):  # pragma: no cover - abstract
        """(rc, stdout bytes, stderr text) of one program."""
        raise NotImplementedError

    def where(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def program(self, name):
        return name

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- shared -----------------------------------------------------------------------------

    def path(self, name):
        return posixpath.join(self.backup_dir, name)

    def checked(self, argv, what, stdin=None, timeout=None, env=None):
        rc, out, err = self.run(argv, stdin=stdin, timeout=timeout, env=env)
        if rc != 0:
            raise PostgresError("%s failed on %s (exit code %s): %s" % (what, self.where(), rc, tail(err) or "no output"),
                                kind="tool")
        return out

    def version(self, name):
        """{text, major, minor, num} of one client program."""
        if name not in self._versions:
            out = self.checked([self.program(name), "--version"], "%s --version" % name)
            self._versions[name] = parse_version(out.decode("utf-8", "replace"))
        return self._versions[name]

    def _conn_args(self, database):
        args = ["-w", "-d", database]
        if self.login_user:
            args += ["-U", self.login_user]
        return args

    def dump(self, database, path, snapshot=None, lock_wait_seconds=None):
        """pg_dump -Fc of ``database`` into ``path`` (under the exported ``snapshot`` when given)."""
        argv = [self.program("pg_dump"), "-Fc", "--file=%s" % path] + self._conn_args(database)
        if snapshot:
            argv.append("--snapshot=%s" % snapshot)
        if lock_wait_seconds:
            argv.append("--lock-wait-timeout=%ds" % lock_wait_seconds)
        self.checked(argv, "pg_dump of %s" % database)

    def toc(self, path):
        """pg_restore --list of an archive (custom, tar, directory), as text."""
        out = self.checked([self.program("pg_restore"), "--list", path], "pg_restore --list %s" % path)
        return out.decode("utf-8", "replace")

    def read_through(self, path):
        """Read every byte of an archive, data included (pg_restore to /dev/null): proves it whole."""
        self.checked([self.program("pg_restore"), "--file=/dev/null", path], "reading %s through" % path)

    def outside_database(self, path, limit=5):
        """Lines of a plain SQL file that would act outside its database (see OUTSIDE_DATABASE)."""
        rc, out, err = self.run(["grep", "-n", "-m", str(limit), "-E", OUTSIDE_DATABASE, path], timeout=self.timeout)
        if rc == 1:
            return []
        if rc != 0:
            raise PostgresError("grep %s failed on %s: %s" % (path, self.where(), tail(err)), kind="tool")
        return [line[:200] for line in out.decode("utf-8", "replace").splitlines()]

    def restore(self, path, database, jobs=1, fmt="custom"):
        """Restore an archive (pg_restore -j) or a plain dump (psql, one transaction) into ``database``."""
        if fmt == "plain":
            argv = [self.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                    "-f", path] + self._conn_args(database)
            self.checked(argv, "psql -f %s into %s" % (path, database))
            return
        argv = [self.program("pg_restore"), "--exit-on-error"] + self._conn_args(database)
        if jobs > 1 and fmt in ("custom", "directory"):
            argv += ["-j", str(jobs)]
        argv.append(path)
        self.checked(argv, "pg_restore of %s into %s" % (path, database))


class LocalTools(Tools):
    """The programs on the control node, against the module's own connection."""

    via = "local"

    def __init__(self, backup_dir, kwargs, pg_bindir=None, server_major=None, timeout=3600):
        super(LocalTools, self).__init__(backup_dir, login_user=None, timeout=timeout)
        self.bindir = self._bindir(pg_bindir, server_major)
        self.passfile = None
        if kwargs.get("password"):
            fd, self.passfile = tempfile.mkstemp(prefix="aio-pgpass-")
            with os.fdopen(fd, "w") as handle:
                handle.write(passfile_line(kwargs["password"]))
        self.env = tool_env(kwargs, passfile=self.passfile)

    @staticmethod
    def _bindir(pg_bindir, server_major):
        if pg_bindir:
            if not os.path.isdir(pg_bindir):
                raise InvalidInput("pg_bindir %s is not a directory" % pg_bindir)
            return pg_bindir
        if server_major:
            candidate = "/usr/lib/postgresql/%s/bin" % server_major
            if os.path.isfile(os.path.join(candidate, "pg_restore")):
                return candidate
            return None
        # No server to match (reading files only): the newest installed major, if any.
        try:
            majors = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True)
        except OSError:
            majors = []
        for major in majors:
            candidate = "/usr/lib/postgresql/%d/bin" % major
            if os.path.isfile(os.path.join(candidate, "pg_restore")):
                return candidate
        return None

    def where(self):
        return "the control node"

    def outside_database(self, path, limit=5):
        pattern = re.compile(OUTSIDE_DATABASE)
        found = []
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if pattern.match(line):
                    found.append("%d:%s" % (number, line[:200]))
                    if len(found) >= limit:
                        break
        return found

    def program(self, name):
        if self.bindir:
            path = os.path.join(self.bindir, name)
            if not os.access(path, os.X_OK):
                raise PostgresError("%s not found in pg_bindir %s" % (name, self.bindir), kind="tool")
            return path
        found = shutil.which(name)
        if not found:
            raise PostgresError("%s not found on the control node's PATH: install the PostgreSQL client "
                                "(the server's major version or newer) or set pg_bindir" % name, kind="tool")
        return found

    def run(self, argv, stdin=None, timeout=None, env=None):
        try:
            proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=dict(self.env, **(env or {})), timeout=timeout or self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PostgresError("%s did not finish within %d s" % (os.path.basename(argv[0]), timeout or self.timeout),
                                kind="tool")
        except OSError as exc:
            raise PostgresError("cannot run %s: %s" % (argv[0], exc), kind="tool")
        return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")

    def close(self):
        if self.passfile:
            try:
                os.unlink(self.passfile)
            except OSError:
                pass
            self.passfile = None

    # -- files --------------------------------------------------------------------------------

    def stat(self, path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PostgresError("cannot stat %s: %s" % (path, exc), kind="tool")
        kind = "directory" if os.path.isdir(path) else ("file" if os.path.isfile(path) else "other")
        return {"size": st.st_size, "mtime": int(st.st_mtime), "device": str(st.st_dev), "type": kind}

    def free(self, directory):
        """(available bytes, filesystem id) of the file system holding ``directory``."""
        try:
            st = os.statvfs(directory)
        except FileNotFoundError:
            raise PostgresError("%s does not exist on the control node" % directory, kind="not_found")
        except OSError as exc:
            raise PostgresError("cannot measure free space of %s: %s" % (directory, exc), kind="tool")
        return st.f_bavail * st.f_frsize, "dev:%s" % os.stat(directory).st_dev

    def head(self, path, size=HEAD_BYTES):
        with open(path, "rb") as handle:
            return handle.read(size)

    def sha256(self, path):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(block)
        except OSError as exc:
            raise PostgresError("cannot read %s: %s" % (path, exc), kind="tool")
        return digest.hexdigest()

    def listdir(self, directory):
        try:
            return sorted(os.listdir(directory))
        except FileNotFoundError:
            raise PostgresError("backup_dir %s does not exist on the control node" % directory, kind="not_found")
        except OSError as exc:
            raise PostgresError("cannot list %s: %s" % (directory, exc), kind="tool")

    def read_text(self, path, limit=1024 * 1024):
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")

    def write_text(self, path, text):
        """Write a small file atomically (a temporary name, then rename), mode 0600."""
        partial = path + ".partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.rename(partial, path)

    def rename(self, source, target):
        os.rename(source, target)

    def remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PostgresError("cannot remove %s: %s" % (path, exc), kind="tool")

    def prepare_write(self):
        """New backup files are readable by their owner only."""
        os.umask(0o077)


class ExecTools(Tools):
    """The programs in the database pod, with the pod's own authentication."""

    via = "exec"

    def __init__(self, backup_dir, pod_exec, login_user=None, timeout=3600):
        super(ExecTools, self).__init__(backup_dir, login_user=login_user, timeout=timeout)
        self.pod_exec = pod_exec

    def where(self):
        return self.pod_exec.describe()

    def run(self, argv, stdin=None, timeout=None, env=None):
        # The pod's environment plus TZ (pg_dump's archive time) through env(1): no shell.
        settings = dict({"TZ": "UTC"}, **(env or {}))
        argv = ["env"] + ["%s=%s" % item for item in sorted(settings.items())] + list(argv)
        result = self.pod_exec.run(argv, stdin=stdin, timeout=timeout or self.timeout)
        return result.rc, result.stdout, result.error_text

    # -- files --------------------------------------------------------------------------------

    def stat(self, path):
        rc, out, err = self.run(["stat", "-L", "-c", "%s %Y %d %F", path], timeout=60)
        if rc != 0:
            if "No such file" in err or "can't stat" in err or "cannot stat" in err:
                return None
            raise PostgresError("stat %s failed on %s: %s" % (path, self.where(), tail(err)), kind="tool")
        return parse_stat(out.decode("utf-8", "replace"))

    def free(self, directory):
        out = self.checked(["df", "-Pk", directory], "df %s" % directory, timeout=60)
        available, filesystem, mount = parse_df(out.decode("utf-8", "replace"))
        return available, "%s:%s" % (filesystem, mount)

    def head(self, path, size=HEAD_BYTES):
        return self.checked(["dd", "if=%s" % path, "bs=%d" % size, "count=1", "status=none"], "reading %s" % path,
                            timeout=60)

    def sha256(self, path):
        out = self.checked(["sha256sum", path], "sha256sum %s" % path)
        digest = out.decode("utf-8", "replace").split(" ", 1)[0].strip().lstrip("\\")
        if not re.match(r"^[0-9a-f]{64}$", digest):
            raise PostgresError("unexpected sha256sum output for %s" % path, kind="tool")
        return digest

    def listdir(self, directory):
        rc, out, err = self.run(["ls", "-1A", directory], timeout=60)
        if rc != 0:
            if "No such file" in err or "cannot access" in err:
                raise PostgresError("backup_dir %s does not exist in %s" % (directory, self.where()), kind="not_found")
            raise PostgresError("ls %s failed on %s: %s" % (directory, self.where(), tail(err)), kind="tool")
        return sorted(line for line in out.decode("utf-8", "replace").splitlines() if line)

    def read_text(self, path, limit=1024 * 1024):
        out = self.checked(["dd", "if=%s" % path, "bs=%d" % limit, "count=1", "status=none"], "reading %s" % path,
                           timeout=60)
        return out.decode("utf-8", "replace")

    def write_text(self, path, text):
        """Write a small file through stdin: dd reads exactly its length (no end of file needed)."""
        data = text.encode("utf-8")
        partial = path + ".partial"
        self.checked(["dd", "of=%s" % partial, "bs=%d" % len(data), "count=1", "iflag=fullblock", "status=none"],
                     "writing %s" % path, stdin=data, timeout=60)
        self.rename(partial, path)

    def rename(self, source, target):
        self.checked(["mv", "-f", source, target], "mv %s %s" % (source, target), timeout=60)

    def remove(self, path):
        self.checked(["rm", "-f", path], "rm %s" % path, timeout=60)

    def prepare_write(self):
        pass


def make_tools(params, session, kube_params=None, pod_exec=None):
    """The Tools for these options, for the server ``session`` is connected to."""
    check_tools_params(params)
    backup_dir = backup_dir_of(params)
    timeout = params.get("tools_timeout") or 3600
    if params.get("tools_via") == "exec":
        if pod_exec is None:
            from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podexec import PodExec

            pod_exec = PodExec.from_params(kube_params if kube_params is not None else params, params["pod_namespace"],
                                           params["pod"], params.get("pod_container"), timeout=timeout)
        return ExecTools(backup_dir, pod_exec, login_user=params.get("login_user"), timeout=timeout)
    major = session.server_version_num // 10000 if session is not None else None
    return LocalTools(backup_dir, session.kwargs if session is not None else {}, pg_bindir=params.get("pg_bindir"),
                      server_major=major, timeout=timeout)
