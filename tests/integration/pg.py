# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL fixtures for the database runbook's tests.

Two kinds of server:

- the drill's shared PostgreSQL 15 (drill/dataplane.sh, 127.0.0.1:$DRILL_PG_PORT): `admin()`,
  `scratch_db()`, `seeded_db()` and `drill_params()`. Tests work in scratch databases
  `t_<prefix>_<hex>` they create and drop, never in `orchestrator`, and never stop the server.
- a PRIVATE PostgreSQL 15 per test (`PrivateServer`): a real server of its own on a free
  loopback port that a test may crash (`kill()`), stop, restart, fill, or stream to a standby
  (`standby()`). `small_tmpfs()` gives a tiny file system for disk-full drills.

    with PrivateServer(tmp_path, conf={"max_connections": 20}) as srv:
        run_module("postgresql_health_info", **srv.params)
        with scratch_db("relief", server=srv) as db: ...

PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user with
CAP_DAC_READ_SEARCH only (as drill/dataplane.sh does), so it can reach pytest's 0700 tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

import dataplane as dp
from ports import free_port

PG_BINDIR = Path(os.environ.get("DRILL_PG_BINDIR") or "/usr/lib/postgresql/15/bin")
PG_OS_USER = os.environ.get("DRILL_PG_OS_USER", "postgres")

# --- the drill's shared PostgreSQL ---------------------------------------------------------


def drill_port() -> int:
    return int(dp.drill_env()["DRILL_PG_PORT"])


def drill_password() -> str:
    return dp.secret("postgres_password")


def drill_params(**overrides) -> dict:
    """Module options (postgres_argument_spec) for the drill PostgreSQL as postgres."""
    params = {"login_host": "127.0.0.1", "login_port": drill_port(), "login_user": "postgres",
              "login_password": drill_password(), "login_db": "postgres"}
    params.update(overrides)
    return params


def admin(dbname: str = "postgres", server: "PrivateServer | None" = None):
    """An autocommit psycopg2 connection as postgres (to the drill PG, or to `server`)."""
    if server is not None:
        return server.connect(dbname)
    conn = psycopg2.connect(host="127.0.0.1", port=drill_port(), user="postgres", password=drill_password(),
                            dbname=dbname, connect_timeout=5, application_name="pytest-pg-admin")
    conn.autocommit = True
    return conn


def query(sql: str, args=None, dbname: str = "postgres", server: "PrivateServer | None" = None) -> list[tuple]:
    """All rows of one statement, in an autocommit connection of its own."""
    conn = admin(dbname, server)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def database_exists(name: str, server: "PrivateServer | None" = None) -> bool:
    return bool(query("SELECT 1 FROM pg_database WHERE datname = %s", (name,), server=server))


def drop_database(name: str, server: "PrivateServer | None" = None) -> None:
    """DROP DATABASE IF EXISTS ... WITH (FORCE): its sessions are terminated."""
    conn = admin("postgres", server)
    try:
        with conn.cursor() as cur:
            # A database with ALLOW_CONNECTIONS false (a restore's leftover) drops all the same.
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


@contextlib.contextmanager
def scratch_db(prefix: str, server: "PrivateServer | None" = None, drop_also=()):
    """A new empty database `t_<prefix>_<hex>` (from template0, UTF8); dropped (FORCE) on exit.

    Databases whose names start with the scratch name (a restore's `<db>_pre_restore_*`,
    `<db>__restoring_*`) are dropped too, and any listed in `drop_also`.
    """
    name = "t_%s_%s" % (prefix, secrets.token_hex(4))
    assert len(name) <= 40, "scratch database prefix too long: %s" % prefix
    conn = admin("postgres", server)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    finally:
        conn.close()
    try:
        yield name
    finally:
        leftovers = [r[0] for r in query("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                         (name.replace("_", r"\_") + "%",), server=server)]
        for db in sorted(set(leftovers) | {name} | set(drop_also)):
            drop_database(db, server)


SEED_SQL = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE workflows (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name    text NOT NULL UNIQUE,
    payload jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE executions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    output      text
);
CREATE INDEX executions_workflow_idx ON executions (workflow_id);
INSERT INTO workflows (name, payload)
SELECT format('workflow-%s', n), jsonb_build_object('n', n, 'steps', n % 7)
FROM generate_series(1, @WORKFLOWS@) AS n;
INSERT INTO executions (workflow_id, status, started_at, output)
SELECT 1 + (n % @WORKFLOWS@), (ARRAY['queued', 'running', 'succeeded', 'failed'])[1 + n % 4],
       now() - n * interval '1 minute', repeat(md5(n::text), 2)
FROM generate_series(1, @EXECUTIONS@) AS n;
ANALYZE;
"""


def seed(dbname: str, workflows: int = 50, executions: int = 500, server: "PrivateServer | None" = None) -> dict:
    """Create and fill workflows(id, name, payload) and executions(id, workflow_id, status,
    started_at, output) in `dbname`; returns {"public.workflows": n, "public.executions": m}."""
    assert workflows >= 1 and executions >= 0
    conn = admin(dbname, server)
    try:
        with conn.cursor() as cur:
            cur.execute(SEED_SQL.replace("@WORKFLOWS@", str(int(workflows))).replace("@EXECUTIONS@", str(int(executions))))
    finally:
        conn.close()
    return {"public.workflows": workflows, "public.executions": executions}


def row_counts(dbname: str, server: "PrivateServer | None" = None) -> dict:
    """Exact row counts of every user table: {"schema.table": n}."""
    conn = admin(dbname, server)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2")
            tables = cur.fetchall()
            counts = {}
            for schema, table in tables:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
                counts["%s.%s" % (schema, table)] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


@contextlib.contextmanager
def seeded_db(prefix: str, rows: int = 500, workflows: int = 50, server: "PrivateServer | None" = None):
    """A scratch database with `workflows` workflows and `rows` executions (see seed());
    yields its name; dropped on exit."""
    with scratch_db(prefix, server=server) as name:
        seed(name, workflows=workflows, executions=rows, server=server)
        yield name


# --- a private PostgreSQL --------------------------------------------------------------------


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _as_pg(cmd: list[str]) -> list[str]:
    """The command as the postgres OS user when we are root (PostgreSQL refuses root)."""
    if os.getuid() != 0:
        return cmd
    return ["setpriv", "--reuid=%s" % PG_OS_USER, "--regid=%s" % PG_OS_USER, "--init-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"] + cmd


def _chown_pg(path: Path) -> None:
    if os.getuid() == 0:
        shutil.chown(path, PG_OS_USER, PG_OS_USER)


def _children(pid: int) -> list[int]:
    """Direct child processes of `pid` (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _conf_value(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'%s'" % str(value).replace("'", "''")


class PrivateServer:
    """A private PostgreSQL 15 cluster on 127.0.0.1:`port` (a free one by default).

    Directory: `tmp_path/pg-<name>` (data in `data/` unless `data_dir` is given, e.g. on a
    small_tmpfs; its log in `server.log`). Superuser `postgres` with a SCRAM password
    (`password`, also in `pwfile`); pg_hba: scram on loopback, replication included;
    pg_stat_statements preloaded unless `conf` says otherwise. `conf` adds or overrides
    postgresql.conf settings ({"max_connections": 20, "shared_preload_libraries": ""});
    they live in `private.conf`, rewritten at every start() (`set_conf()` changes them).

    Use as a context manager: started on enter, stopped (killed if it will not stop) on exit.
    """

    DEFAULT_CONF = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "password_encryption": "scram-sha-256",
        "shared_preload_libraries": "pg_stat_statements",
        "pg_stat_statements.track": "all",
        "max_connections": 30,
        "shared_buffers": "16MB",
        "max_wal_senders": 5,
        "wal_level": "replica",
        # A process crash (kill()) loses nothing without fsync; only an OS crash would.
        "fsync": False,
        "logging_collector": False,
        "log_min_messages": "warning",
    }

    def __init__(self, tmp_path, port: int | None = None, data_dir=None, conf: dict | None = None,
                 name: str | None = None, password: str | None = None, _basebackup_from=None):
        self._fixed_port = port is not None
        self.port = port or free_port()
        self.name = name or str(self.port)
        self.dir = Path(tmp_path) / ("pg-%s" % self.name)
        self.data_dir = Path(data_dir) if data_dir else self.dir / "data"
        self.log = self.dir / "server.log"
        self.password = password or secrets.token_urlsafe(18)
        self.pwfile = self.dir / "pwfile"
        self.conf = dict(self.DEFAULT_CONF)
        self.conf.update(conf or {})
        self.user = "postgres"
        self.host = "127.0.0.1"
        self._primary = _basebackup_from
        self._prepared = False

    # -- what tests use ----------------------------------------------------------------

    @property
    def params(self) -> dict:
        """Module options for this server as postgres (login_db postgres)."""
        return {"login_host": self.host, "login_port": self.port, "login_user": self.user,
                "login_password": self.password, "login_db": "postgres"}

    def env(self, dbname: str = "postgres") -> dict:
        """PG* environment for a client subprocess (adds to os.environ)."""
        return dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user,
                    PGPASSWORD=self.password, PGDATABASE=dbname)

    def connect(self, dbname: str = "postgres", **kwargs):
        """An autocommit psycopg2 connection as postgres."""
        kwargs.setdefault("connect_timeout", 5)
        kwargs.setdefault("application_name", "pytest-pg-admin")
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=dbname, **kwargs)
        conn.autocommit = True
        return conn

    def query(self, sql: str, args=None, dbname: str = "postgres") -> list[tuple]:
        return query(sql, args, dbname=dbname, server=self)

    @property
    def bindir(self) -> Path:
        return PG_BINDIR

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (None when not running)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid is not None

    def ready(self) -> bool:
        return subprocess.run([str(PG_BINDIR / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)],
                              check=False).returncode == 0

    def in_recovery(self) -> bool:
        return self.query("SELECT pg_is_in_recovery()")[0][0]

    # -- lifecycle ------------------------------------------------------------------------

    def _run(self, cmd: list[str], timeout: float = 120, env: dict | None = None, what: str = "") -> str:
        proc = subprocess.run(_as_pg(cmd), capture_output=True, text=True, timeout=timeout, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%s): %s\n%s\n%s" % (what or cmd[0], proc.returncode, " ".join(cmd),
                                                               proc.stderr[-3000:], self.log_tail()))
        return proc.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _prepare_dirs(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        _chown_pg(self.dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        _chown_pg(self.data_dir)
        self.pwfile.write_text(self.password + "\n")
        self.pwfile.chmod(0o600)
        _chown_pg(self.pwfile)

    def _write_hba(self) -> None:
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text("# TYPE  DATABASE     USER  ADDRESS       METHOD\n"
                       "local   all          all                 scram-sha-256\n"
                       "host    all          all   127.0.0.1/32  scram-sha-256\n"
                       "host    replication  all   127.0.0.1/32  scram-sha-256\n")
        _chown_pg(hba)

    def _write_conf(self) -> None:
        private = self.data_dir / "private.conf"
        lines = ["%s = %s" % (k, _conf_value(v)) for k, v in self.conf.items()]
        lines.append("port = %d" % self.port)
        private.write_text("# written by tests/integration/pg.py at every start\n" + "\n".join(lines) + "\n")
        _chown_pg(private)

    def init(self) -> None:
        """initdb (or, for a standby, pg_basebackup -R from the primary); idempotent."""
        if self._prepared or (self.data_dir / "PG_VERSION").exists():
            self._prepared = True
            return
        self._prepare_dirs()
        if self._primary is None:
            self._run([str(PG_BINDIR / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                       "--pwfile=%s" % self.pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                       "--no-sync"], what="initdb")
            conf = self.data_dir / "postgresql.conf"
            with open(conf, "a") as handle:
                handle.write("\ninclude_if_exists = 'private.conf'\n")
            self._write_hba()
        else:
            primary = self._primary
            env = dict(os.environ, PGPASSWORD=primary.password)
            # -R writes standby.signal and primary_conninfo (with the password it connected with).
            self._run([str(PG_BINDIR / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port), "-U",
                       primary.user, "-D", str(self.data_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"],
                      env=env, what="pg_basebackup")
        self._prepared = True

    def start(self, timeout: float = 60) -> "PrivateServer":
        """Start (initdb first if needed); returns when it accepts connections."""
        self.init()
        if self.running():
            return self
        for attempt in range(3):
            self._write_conf()
            try:
                self._run([str(PG_BINDIR / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log), "-w", "-t",
                           str(int(timeout)), "start"], timeout=timeout + 10, what="pg_ctl start")
                break
            except RuntimeError as exc:
                # The free port was taken meanwhile (parallel test workers): another one.
                if self._fixed_port or attempt == 2 or "could not bind" not in str(exc):
                    raise
                self.port = free_port()
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("private PostgreSQL on port %d not ready:\n%s" % (self.port, self.log_tail()))
            time.sleep(0.1)
        return self

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """pg_ctl stop (-m fast by default); nothing when not running."""
        if not self.running():
            return
        self._run([str(PG_BINDIR / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(timeout)),
                   "stop"], timeout=timeout + 10, what="pg_ctl stop")

    def restart(self) -> "PrivateServer":
        self.stop()
        return self.start()

    def kill(self, timeout: float = 30) -> None:
        """Crash: SIGKILL the postmaster and every server process, as an OOM kill or a node loss
        would. The next start() runs crash recovery."""
        pid = self.pid
        if pid is None:
            return
        family = [pid] + _children(pid)
        for member in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        # Until they are gone from the process table: a zombie's pid still counts for
        # PostgreSQL's own "another postmaster is running" check.
        deadline = time.monotonic() + timeout
        while any(os.path.exists("/proc/%d" % member) for member in family):
            if time.monotonic() > deadline:
                raise RuntimeError("server processes %s still alive after SIGKILL" % family)
            time.sleep(0.05)

    def reload(self) -> None:
        self._write_conf()
        self.query("SELECT pg_reload_conf()")

    def set_conf(self, **settings) -> None:
        """Change settings for the next start() (or reload())."""
        self.conf.update(settings)

    def standby(self, tmp_path, port: int | None = None, name: str | None = None, conf: dict | None = None,
                start: bool = True) -> "PrivateServer":
        """Another PrivateServer streaming from this one (pg_basebackup -R), started unless
        start=False. Stop it yourself (or use it as a context manager)."""
        settings = dict(self.conf)
        settings.update(conf or {})
        # Same password: the base backup copies the primary's roles.
        replica = PrivateServer(tmp_path, port=port, conf=settings, name=name or "standby-%s" % secrets.token_hex(3),
                                password=self.password, _basebackup_from=self)
        if start:
            replica.start()
        return replica

    def wait_replayed(self, standby: "PrivateServer", timeout: float = 30) -> None:
        """Until `standby` has replayed everything this primary has written so far."""
        lsn = self.query("SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while True:
            done = standby.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]
            if done:
                return
            if time.monotonic() > deadline:
                raise AssertionError("standby on port %d did not replay up to %s" % (standby.port, lsn))
            time.sleep(0.1)

    def destroy(self) -> None:
        """Stop (kill if it will not stop) and leave no process behind."""
        pid = self.pid
        try:
            self.stop(mode="immediate", timeout=20)
        except Exception:  # noqa: BLE001 - the kill below is the fallback
            self.kill()
        if self.running():
            self.kill()
        deadline = time.monotonic() + 10
        while pid and os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> "PrivateServer":
        try:
            return self.start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return "PrivateServer(127.0.0.1:%d, %s)" % (self.port, self.data_dir)


def _size_option(size) -> str:
    return str(size) if isinstance(size, str) else "%dk" % max(1, int(size) // 1024)


@contextlib.contextmanager
def small_tmpfs(path, size="16m", owner: str | None = None):
    """A tmpfs of `size` (bytes, or "16m") mounted on `path` (created); unmounted on exit.
    `owner` (e.g. "postgres") chowns its root; otherwise it is world-writable (mode 1777)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=1777" % _size_option(size), "tmpfs", str(path)],
                   check=True, capture_output=True, text=True)
    try:
        if owner:
            shutil.chown(path, owner, owner)
            path.chmod(0o700)
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False, capture_output=True).returncode != 0:
            # Something still holds it (a server killed a moment ago): detach it now.
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
