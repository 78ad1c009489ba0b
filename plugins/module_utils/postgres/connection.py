# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PostgreSQL sessions for the collection's modules (psycopg2).

Where the connection comes from, in libpq's own order: the module's ``login_*`` and
``ssl_*`` options when set, else libpq's environment (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``, ``PGPASSFILE``, ``PGDATABASE``, ``PGSSLMODE``, ``PGSERVICE``, ...), else
libpq's defaults. With ``connect_via: port_forward`` the session goes through a
port-forward to the database pod over the Kubernetes API server (module_utils/k8s/
portforward.py), for a control node that cannot reach the database network.

Every session is gentle with a struggling server: ``connect_timeout``, and as session
settings ``statement_timeout``, ``lock_timeout`` and ``idle_in_transaction_session_timeout``,
with an ``application_name`` that tells the DBA (and the connection-relief module) who it
is. Failures are ``PostgresError`` with a ``kind`` (see KINDS) and a message that says what
to fix; no message ever carries a password.
"""

from __future__ import annotations

import contextlib
import re
import signal

try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras

    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterUnreachable,
    GuardrailError,
    IncidentResponseError,
    InvalidInput,
    NotFound,
)

APPLICATION_NAME = "ai_orchestrator.incident_response"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# What a PostgresError's kind means, and so what the caller does about it.
KINDS = {
    "unreachable": "no answer: host, port, network, firewall or the server is down",
    "auth": "the server refused the credentials",
    "not_found": "the database does not exist",
    "permission": "the role lacks a privilege the step needs",
    "too_many_connections": "max_connections reached",
    "timeout": "a statement or lock timeout ended the step",
    "standby": "the server is a standby (read-only)",
    "server": "any other error the server reported",
    "library": "psycopg2 is not installed",
}

# SQLSTATEs (errors after the connection is made) and their kinds.
_SQLSTATE_KINDS = {
    "28P01": "auth",
    "28000": "auth",
    "3D000": "not_found",
    "42501": "permission",
    "53300": "too_many_connections",
    "57P03": "unreachable",  # cannot_connect_now: starting up or shutting down
    "57014": "timeout",
    "55P03": "timeout",
    "25006": "standby",
}

# Connection-time errors come without a SQLSTATE in psycopg2: libpq's text says it.
_TEXT_KINDS = (
    (re.compile(r"password authentication failed|authentication failed|no password supplied|"
                r"no pg_hba\.conf entry|role \".*\" does not exist|certificate", re.I), "auth"),
    (re.compile(r"database \".*\" does not exist", re.I), "not_found"),
    (re.compile(r"too many clients|remaining connection slots are reserved|"
                r"too many connections", re.I), "too_many_connections"),
    (re.compile(r"the database system is (starting up|shutting down|in recovery mode)", re.I), "unreachable"),
    (re.compile(r"could not connect|connection refused|timeout expired|could not translate host name|"
                r"server closed the connection|no route to host|network is unreachable|"
                r"connection to server .* failed|terminating connection", re.I), "unreachable"),
)

_FIXES = {
    "unreachable": "check login_host/login_port (or PGHOST/PGPORT), that PostgreSQL runs, and the network path; "
                   "from outside the database network use connect_via=port_forward",
    "auth": "check login_user and the password (login_password, PGPASSWORD or PGPASSFILE) and pg_hba.conf",
    "not_found": "check login_db (or PGDATABASE)",
    "permission": "grant the role the privilege named above (docs/database.md lists what each step needs)",
    "too_many_connections": "connect as a role with reserved connections (a superuser, or pg_use_reserved_connections "
                            "from PostgreSQL 16) to diagnose, or relieve connections first",
    "timeout": "the server is slow or a lock is held; raise statement_timeout/lock_timeout only if waiting is safe",
    "standby": "connect to the primary",
}


def error_kind(exc):
    """The ``error_kind`` a module returns for one of the collection's errors (see KINDS)."""
    if isinstance(exc, InvalidInput):
        return "invalid_input"
    if isinstance(exc, PostgresError):
        return exc.kind
    if isinstance(exc, GuardrailError):
        return getattr(exc, "kind", "guardrail")
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, ClusterUnreachable):
        return "unreachable"
    return "cluster"


def _terminated(signum, frame):
    raise SystemExit("terminated by signal %d" % signum)


def unwind_on_sigterm():
    """Make SIGTERM (a task timeout, a cancelled job) unwind like an error, so a module's cleanup runs:
    the current database is allowed connections again, partial files and databases are removed."""
    signal.signal(signal.SIGTERM, _terminated)


class PostgresError(IncidentResponseError):
    """A PostgreSQL step that did not happen; ``kind`` is one of KINDS."""

    def __init__(self, message, kind="server", sqlstate=None):
        super(PostgresError, self).__init__(message)
        self.kind = kind
        self.sqlstate = sqlstate


def postgres_argument_spec():
    """Connection options shared by the PostgreSQL modules.

    Documented by the ``ai_orchestrator.incident_response.postgres`` doc fragment;
    tests/unit checks that the two agree. Unset options fall back to libpq's environment.
    """
    return dict(
        login_host=dict(type="str", aliases=["login_unix_socket"]),
        login_port=dict(type="int"),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        login_db=dict(type="str"),
        ssl_mode=dict(type="str", choices=list(SSL_MODES)),
        ssl_rootcert=dict(type="path"),
        ssl_cert=dict(type="path"),
        ssl_key=dict(type="path", no_log=False),
        connect_timeout=dict(type="int", default=5),
        statement_timeout=dict(type="int", default=30),
        lock_timeout=dict(type="int", default=5),
        application_name=dict(type="str", default=APPLICATION_NAME),
        connect_via=dict(type="str", choices=["direct", "port_forward"], default="direct"),
        pod=dict(type="str"),
        pod_namespace=dict(type="str"),
        pod_port=dict(type="int", default=5432),
    )


def check_params(params):
    """Raise InvalidInput for options no session could use; touches nothing."""
    for name in ("connect_timeout", "statement_timeout", "lock_timeout"):
        value = params.get(name)
        if value is not None and value < 1:
            raise InvalidInput("%s must be at least 1 second, got %s" % (name, value))
    port = params.get("login_port")
    if port is not None and not 0 < port < 65536:
        raise InvalidInput("login_port must be between 1 and 65535, got %s" % port)
    if params.get("connect_via") == "port_forward":
        if not params.get("pod") or not params.get("pod_namespace"):
            raise InvalidInput("connect_via=port_forward needs pod and pod_namespace (the database pod to forward to)")
        if not 0 < (params.get("pod_port") or 0) < 65536:
            raise InvalidInput("pod_port must be between 1 and 65535")
    name = params.get("application_name") or ""
    if len(name) > 63 or not name.isprintable():
        raise InvalidInput("application_name must be printable and at most 63 characters")


def connect_kwargs(params, database=None, host=None, port=None):
    """The psycopg2.connect() keywords for these options: only what is set (libpq fills in the rest).

    ``database``, ``host`` and ``port`` override the options (another database of the same
    server; the local end of a tunnel).
    """
    kwargs = {}
    for option, keyword in (("login_host", "host"), ("login_port", "port"), ("login_user", "user"),
                            ("login_password", "password"), ("login_db", "dbname"), ("ssl_mode", "sslmode"),
                            ("ssl_rootcert", "sslrootcert"), ("ssl_cert", "sslcert"), ("ssl_key", "sslkey")):
        if params.get(option) not in (None, ""):
            kwargs[keyword] = params[option]
    if database:
        kwargs["dbname"] = database
    if host is not None:
        # Through a tunnel: connect to the local end, but keep the server's name for
        # verify-full (libpq checks the certificate against host, connects to hostaddr).
        kwargs["hostaddr"] = host
        if str(kwargs.get("host", "")).startswith("/"):
            # A socket directory names no server: the tunnel's end is all there is.
            del kwargs["host"]
        kwargs.setdefault("host", host)
        kwargs["port"] = port
    kwargs["connect_timeout"] = params.get("connect_timeout") or 5
    kwargs["application_name"] = params.get("application_name") or APPLICATION_NAME
    # Session settings sent in the startup packet: they apply before the first statement.
    kwargs["options"] = " ".join((
        "-c statement_timeout=%ds" % (params.get("statement_timeout") or 30),
        "-c lock_timeout=%ds" % (params.get("lock_timeout") or 5),
        # A session this collection leaves idle in a transaction must not hold locks for long.
        "-c idle_in_transaction_session_timeout=%ds" % max(60, 2 * (params.get("statement_timeout") or 30)),
    ))
    return kwargs


def describe(kwargs):
    """user@host:port/db for messages, from connect keywords (never the password)."""
    return "%s@%s:%s/%s" % (kwargs.get("user", "$PGUSER"), kwargs.get("host", "$PGHOST"),
                            kwargs.get("port", "$PGPORT"), kwargs.get("dbname", "$PGDATABASE"))


def classify(exc):
    """The kind of a psycopg2 error (see KINDS)."""
    code = getattr(exc, "pgcode", None)
    if code in _SQLSTATE_KINDS:
        return _SQLSTATE_KINDS[code]
    text = str(exc)
    for pattern, kind in _TEXT_KINDS:
        if pattern.search(text):
            return kind
    return "server"


# A server certificate that did not verify (or a TLS setting libpq could not use).
_TLS_TEXT = re.compile(r"certificate|SSL error|does not support SSL|sslmode|sslrootcert", re.I)
_TLS_FIX = ("TLS did not work out: with ssl_mode verify-ca/verify-full, ssl_rootcert must hold the CA that signed "
            "the server's certificate and (verify-full) login_host must be a name the certificate carries; "
            "ssl_mode require or stricter needs a server with ssl=on")
_TUNNEL_FIX = ("the port-forward reached the pod but nothing answered there: check pod_port and that PostgreSQL "
               "runs in the pod")


def error_from(exc, where, fix=None):
    """A PostgresError for a psycopg2 exception, with what to fix (``fix`` overrides the kind's)."""
    kind = classify(exc)
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if fix is None and kind in ("auth", "unreachable") and _TLS_TEXT.search(text):
        fix = _TLS_FIX
    fix = fix or _FIXES.get(kind)
    message = "%s: %s" % (where, text)
    if fix:
        message += " (%s)" % fix
    return PostgresError(message, kind=kind, sqlstate=getattr(exc, "pgcode", None))


class Session(object):
    """One psycopg2 connection; rows come back as dicts. Autocommit unless in transaction()."""

    def __init__(self, conn, kwargs):
        self.conn = conn
        self.where = describe(kwargs)
        self.kwargs = kwargs

    @property
    def server_version_num(self):
        return self.conn.server_version

    @property
    def pid(self):
        return self.conn.get_backend_pid()

    def query(self, sql, args=None):
        """All rows of one statement, as dicts."""
        try:
            with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql, args)
                return [dict(row) for row in cur.fetchall()] if cur.description else []
        except psycopg2.Error as exc:
            raise error_from(exc, self.where)

    def one(self, sql, args=None):
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def scalar(self, sql, args=None):
        row = self.one(sql, args)
        return next(iter(row.values())) if row else None

    def execute(self, sql, args=None):
        """Run a statement without rows; return its status line (e.g. ``ALTER DATABASE``)."""
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.statusmessage
        except psycopg2.Error as exc:
            raise error_from(exc, self.where)

    @contextlib.contextmanager
    def transaction(self, isolation=None):
        """A transaction block: committed when the body returns, rolled back when it raises."""
        self.conn.autocommit = False
        if isolation:
            self.conn.set_session(isolation_level=isolation)
        try:
            yield self
            self.conn.commit()
        except BaseException:
            try:
                self.conn.rollback()
            except psycopg2.Error:
                pass
            raise
        finally:
            self.conn.autocommit = True
            if isolation:
                self.conn.set_session(isolation_level="DEFAULT")

    def close(self):
        try:
            self.conn.close()
        except psycopg2.Error:
            pass


def quote_ident(name, session):
    """An identifier quoted by the server's own rules (psycopg2.extensions.quote_ident)."""
    return psycopg2.extensions.quote_ident(name, session.conn)


@contextlib.contextmanager
def open_session(params, database=None, kube_params=None):
    """A Session for these options, closed (and its tunnel with it) on exit.

    ``database`` opens another database of the same server (restore, maintenance).
    ``kube_params`` are the cluster options used by ``connect_via: port_forward``.
    """
    if not HAS_PSYCOPG2:
        raise PostgresError("the psycopg2 Python library is required on the control node: %s"
                            % PSYCOPG2_IMPORT_ERROR, kind="library")
    check_params(params)
    with _endpoint(params, kube_params) as (tunnel, (host, port)):
        kwargs = connect_kwargs(params, database=database, host=host, port=port)
        where = describe(kwargs)
        if tunnel is not None:
            where = "%s through the port-forward to %s" % (where, tunnel.where)
        try:
            conn = psycopg2.connect(**kwargs)
        except psycopg2.Error as exc:
            tunnel_fix = _TUNNEL_FIX if tunnel is not None and classify(exc) == "unreachable" else None
            error = error_from(exc, "cannot connect to PostgreSQL %s" % where, fix=tunnel_fix)
            if tunnel is not None and tunnel.last_error:
                # What the pod's end said (nothing listening on the port, the pod gone).
                error = PostgresError("%s; %s" % (error, tunnel.last_error), kind=error.kind, sqlstate=error.sqlstate)
            raise error
        conn.autocommit = True
        session = Session(conn, kwargs)
        session.where = where
        try:
            yield session
        finally:
            session.close()


class _Tunnel(object):
    """A PortForward as the (tunnel, (host, port)) open_session connects to; its failures
    become PostgresError (kind ``library`` when a library is missing, else ``unreachable``)."""

    def __init__(self, forward):
        self.forward = forward

    def __enter__(self):
        from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import (
            PortForwardError,
        )

        try:
            return self.forward, self.forward.__enter__()
        except PortForwardError as exc:
            raise PostgresError(str(exc), kind="library" if exc.kind == "library" else "unreachable")

    def __exit__(self, *exc):
        return self.forward.__exit__(*exc)


def _endpoint(params, kube_params):
    """A context manager of (tunnel, (host, port)) to connect to: (None, (None, None)) for
    direct; else the PortForward and its local end (closed on exit)."""
    if params.get("connect_via") != "port_forward":
        return contextlib.nullcontext((None, (None, None)))
    # Imported here: direct connections need no Kubernetes library.
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import (
        PortForward,
    )

    return _Tunnel(PortForward(kube_params or {}, params["pod_namespace"], params["pod"], params["pod_port"]))
