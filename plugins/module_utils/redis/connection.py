# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redis connections for the collection's modules, the same API over three transports.

``open_redis(params)`` yields a ``RedisConn``:

- ``direct``: a redis-py client to ``redis_host:port`` (or the ``url``), TLS included.
- ``port_forward``: the same client through a port-forward to the Redis pod over the
  Kubernetes API server (module_utils/k8s/portforward.py), for a control node outside the
  cluster's network; every connection opens its own stream.
- ``exec``: each command is ``redis-cli --json`` run in the pod through the API's exec
  (module_utils/redis/execcli.py), as the runbook's ``kubectl exec ... redis-cli`` does; the
  password, when one is configured, goes to redis-cli's ``--askpass`` on stdin.

Replies are raw and alike on every transport (RESP2: bytes, int, list, None; a status such as
``OK`` as bytes): redis-py's reply callbacks are switched off. Failures are ``RedisError`` with a
``kind`` (see KINDS) and a message that says what to fix; no message ever carries a password.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import ssl
from urllib.parse import parse_qsl, unquote, urlsplit

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = exc

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
VIAS = ("direct", "port_forward", "exec")
# Read, in this order, when neither the password option nor the url gives a password.
PASSWORD_ENV = ("REDISCLI_AUTH", "REDIS_PASSWORD")

# What a RedisError's kind means, and so what the caller does about it.
KINDS = {
    "connection": "no answer: host, port, network, the server is down or loading, or maxclients is reached",
    "timeout": "the server did not answer within socket_timeout",
    "tls": "the TLS handshake failed (certificate, CA, TLS on one side only)",
    "auth": "the server refused the credentials (WRONGPASS, NOAUTH)",
    "permission": "the ACL user may not run a command (NOPERM), or the Kubernetes identity may not reach the pod",
    "unknown_command": "the command is renamed or disabled on this server (rename-command)",
    "readonly": "the server is a read-only replica",
    "cluster": "a cluster redirection or a cluster that is down (MOVED, ASK, CLUSTERDOWN)",
    "not_found": "the pod (or workload) does not exist",
    "library": "redis-py, or for the Kubernetes transports the kubernetes/websocket-client library, is missing",
    "invalid_input": "an option is unusable; nothing was sent",
    "error": "any other error the server reported",
}

_CLUSTER_CODES = ("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "CROSSSLOT", "MASTERDOWN")
_TLS_TEXT = re.compile(r"SSL|TLS|certificate|wrong version number|handshake", re.I)


def _fixes(kind, text, command=None, username=None, settings=None):
    """What to do about an error of this kind (appended to its message)."""
    settings = settings or {}
    command = (command or "the command").upper()
    user = username or "default"
    if kind == "connection" and re.search(r"max number of clients", text or ""):
        return ("every connection the server allows (maxclients) is in use: find the client that holds them "
                "(CLIENT LIST from an open session) or raise maxclients")
    if kind == "connection" and re.search(r"Connection not ready", text or ""):
        # redis-py's words for a server that wrote before any command: Redis does so only to refuse.
        return ("the server refused the connection as soon as it was made: every connection it allows (maxclients) "
                "is in use, or it runs in protected mode (DENIED) and refuses this address")
    if kind == "connection" and re.search(r"LOADING|loading the dataset", text or ""):
        return "Redis is loading its dataset into memory after a restart: it answers once loading is done"
    if kind == "connection":
        fix = ("check redis_host/port (or url), that Redis runs and listens there, and the network path; from outside "
               "the cluster's network use connect_via=port_forward or exec")
        if not settings.get("tls") and re.search(r"closed by server|reset by peer", text or "", re.I):
            fix += "; a server that only speaks TLS closes plain connections: set tls=true"
        return fix
    if kind == "timeout":
        if re.search(r"connecting", text or "", re.I):
            fix = "Redis did not accept the connection within connect_timeout=%s s" % settings.get("connect_timeout")
            if settings.get("tls"):
                fix += "; a server without TLS does not answer a TLS handshake either: check tls"
            return fix
        return ("Redis did not answer within socket_timeout=%s s: it is blocked (a slow command, a long script, "
                "a fork for persistence) or overloaded" % settings.get("socket_timeout"))
    if kind == "permission" and re.search(r"access one of the keys|one of the channels", text or ""):
        return ("the ACL user %r may not access the keys (or channels) %s uses: grant their patterns "
                "(ACL SETUSER %s ~pattern) or connect as a user that may" % (user, command, user))
    if kind == "tls" and re.search(r"certificate required|CERTIFICATE_REQUIRED", text or "", re.I):
        return "the server requires a client certificate (tls-auth-clients): set tls_client_cert and tls_client_key"
    if kind == "auth":
        fix = "check username and password (or the url's credentials, or REDISCLI_AUTH/REDIS_PASSWORD)"
        if settings.get("via") == "exec" and not settings.get("password"):
            fix += "; over exec without a password redis-cli uses the container's own REDISCLI_AUTH"
        return fix
    return {
        "tls": "check tls (the server and the client must both use TLS), tls_ca_cert (the CA that signed the "
               "server's certificate), that the certificate names redis_host, and tls_client_cert/tls_client_key "
               "when the server requires client certificates; tls_validate_certs=false skips the server check "
               "(never across a network you do not control)",
        "permission": "the ACL user %r may not run %s: grant it (ACL SETUSER %s +%s) or connect as a user "
                      "that may" % (user, command, user, command.split()[0].lower()),
        "unknown_command": "%s is not available on this server: it was renamed or disabled with rename-command; "
                           "tell the module its new name with command_names" % command,
        "readonly": "the server is a read-only replica: connect to the primary",
        "cluster": "the server runs in cluster mode and the key lives on another node, or the cluster is down: "
                   "connect to the node that owns the slot (this collection does not follow redirections)",
    }.get(kind)


class RedisError(IncidentResponseError):
    """A Redis step that did not happen; ``kind`` is one of KINDS, ``command`` the command name (upper case)."""

    def __init__(self, message, kind="error", command=None):
        super(RedisError, self).__init__(message)
        self.kind = kind
        self.command = command


def error_kind(exc):
    """The ``error_kind`` a module returns for any exception."""
    if isinstance(exc, InvalidInput):
        return "invalid_input"
    if isinstance(exc, RedisError):
        return exc.kind
    kind = getattr(exc, "kind", None)
    if kind in KINDS:
        return kind
    if HAS_REDIS and isinstance(exc, redis.RedisError):
        return classify(exc)[0]
    return "error"


def redis_argument_spec():
    """Connection options shared by the Redis modules.

    Documented by the ``ai_orchestrator.incident_response.redis`` doc fragment; tests/unit
    checks that the two agree. ``redis_host``, ``tls_ca_cert`` and ``tls_validate_certs`` are
    named so because ``host``, ``ca_cert`` and ``validate_certs`` are the Kubernetes API
    server's options (cluster_argument_spec), which the Redis modules take as well.
    """
    return dict(
        url=dict(type="str", no_log=True),
        redis_host=dict(type="str"),
        port=dict(type="int"),
        db=dict(type="int"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        tls=dict(type="bool"),
        tls_ca_cert=dict(type="path"),
        tls_client_cert=dict(type="path"),
        tls_client_key=dict(type="path", no_log=False),
        tls_validate_certs=dict(type="bool", default=True),
        connect_timeout=dict(type="float", default=5.0),
        socket_timeout=dict(type="float", default=10.0),
        connect_via=dict(type="str", choices=list(VIAS), default="direct"),
        pod=dict(type="str"),
        pod_namespace=dict(type="str"),
        pod_port=dict(type="int", default=DEFAULT_PORT),
        pod_container=dict(type="str"),
    )


def parse_url(url):
    """host, port, db, username, password and tls of a redis:// or rediss:// URL (None when absent)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("url is not a valid redis:// or rediss:// URL (%s)" % _scrub(str(exc), _url_secrets(url)))
    if parts.scheme not in ("redis", "rediss"):
        raise InvalidInput("url must start with redis:// or rediss:// (TLS), not %r" % (parts.scheme + "://"))
    db = None
    path = (parts.path or "").strip("/")
    if path:
        if not path.isdigit():
            raise InvalidInput("url: the path must be a database number (redis://host:6379/0), not %r" % path)
        db = int(path)
    for name, value in parse_qsl(parts.query or "", keep_blank_values=True):
        if name != "db":
            raise InvalidInput("url: the query parameter %r is not supported (only db); use the module's options" % name)
        if not value.isdigit():
            raise InvalidInput("url: db must be a database number, not %r" % value)
        db = int(value)
    return {
        "host": parts.hostname or None,
        "port": port,
        "db": db,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "tls": parts.scheme == "rediss",
    }


def _url_secrets(url):
    try:
        parts = urlsplit(url or "")
        return [s for s in (parts.password, unquote(parts.password or "")) if s]
    except ValueError:
        return []


def settings(params, environ=None):
    """The effective connection settings: explicit options, then the url, then the environment
    (password only), then the defaults. Raises InvalidInput for options no connection could use."""
    environ = os.environ if environ is None else environ
    url = parse_url(params["url"]) if params.get("url") else {}

    def pick(option, key, default=None):
        value = params.get(option)
        if value is not None and value != "":
            return value
        if url.get(key) is not None:
            return url[key]
        return default

    password = pick("password", "password")
    if password is None:
        for name in PASSWORD_ENV:
            if environ.get(name):
                password = environ[name]
                break
    tls = params.get("tls")
    s = {
        "host": pick("redis_host", "host", DEFAULT_HOST),
        "port": pick("port", "port", DEFAULT_PORT),
        "db": pick("db", "db", 0),
        "username": pick("username", "username"),
        "password": password,
        "tls": bool(url.get("tls")) if tls is None else bool(tls),
        "ca_cert": params.get("tls_ca_cert"),
        "client_cert": params.get("tls_client_cert"),
        "client_key": params.get("tls_client_key"),
        "validate_certs": params.get("tls_validate_certs") is not False,
        "connect_timeout": float(5.0 if params.get("connect_timeout") is None else params["connect_timeout"]),
        "socket_timeout": float(10.0 if params.get("socket_timeout") is None else params["socket_timeout"]),
        "via": params.get("connect_via") or "direct",
        "pod": params.get("pod"),
        "pod_namespace": params.get("pod_namespace"),
        "pod_port": params.get("pod_port") or DEFAULT_PORT,
        "pod_container": params.get("pod_container"),
    }
    check_settings(s)
    return s


def check_settings(s):
    """Raise InvalidInput for settings no connection could use; touches nothing."""
    if not 0 < int(s["port"]) < 65536:
        raise InvalidInput("port must be between 1 and 65535, got %s" % s["port"])
    if not 0 <= int(s["db"]) <= 1 << 20:
        raise InvalidInput("db must be a database number (0, 1, ...), got %s" % s["db"])
    for name in ("connect_timeout", "socket_timeout"):
        if not s[name] > 0:
            raise InvalidInput("%s must be more than 0 seconds, got %s" % (name, s[name]))
    if s["via"] not in VIAS:
        raise InvalidInput("connect_via must be one of %s, got %r" % (", ".join(VIAS), s["via"]))
    if s["via"] != "direct":
        if not s["pod"] or not s["pod_namespace"]:
            raise InvalidInput("connect_via=%s needs pod and pod_namespace (the Redis pod)" % s["via"])
        if not 0 < int(s["pod_port"]) < 65536:
            raise InvalidInput("pod_port must be between 1 and 65535, got %s" % s["pod_port"])
    if (s["client_cert"] or s["client_key"] or s["ca_cert"]) and not s["tls"]:
        raise InvalidInput("tls_ca_cert, tls_client_cert and tls_client_key need tls=true (or a rediss:// url)")
    if bool(s["client_cert"]) != bool(s["client_key"]):
        raise InvalidInput("tls_client_cert and tls_client_key go together")
    if s["password"] is not None and ("\n" in s["password"] or "\r" in s["password"]):
        raise InvalidInput("password must not contain a line break")


def describe(s, host=None, port=None):
    """127.0.0.1:6379 db 0 (tls) for messages (never the password)."""
    return "%s:%s db %s%s" % (host or s["host"], port or s["port"], s["db"], " (TLS)" if s["tls"] else "")


def _scrub(text, secrets):
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "********")
    return text


def _command_name(command):
    """The name of a command for messages: ``CONFIG GET`` for container commands, else ``INFO``."""
    if not command:
        return None
    words = [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in command[:2]]
    name = words[0].upper()
    if name in ("CONFIG", "CLIENT", "CLUSTER", "COMMAND", "ACL", "MEMORY", "OBJECT", "SCRIPT", "XINFO",
                "LATENCY", "SLOWLOG", "MODULE", "FUNCTION") and len(words) > 1:
        name += " " + words[1].upper()
    return name


def reply_text(exc):
    """The server's error line (``NOPERM this user ...``): redis-py strips the code from the message."""
    text = " ".join(str(exc).split())
    code = getattr(exc, "status_code", None)
    if code and not text.startswith(code):
        text = "%s %s" % (code, text)
    return text


def kind_of_reply(text):
    """The kind of a server error line."""
    code = text.split(" ", 1)[0] if text else ""
    if code in ("WRONGPASS", "NOAUTH") or text.startswith("ERR invalid password") or "invalid username-password" in text:
        return "auth"
    if code == "NOPERM":
        return "permission"
    if code == "READONLY":
        return "readonly"
    if code in _CLUSTER_CODES:
        return "cluster"
    if code == "LOADING" or "max number of clients reached" in text:
        return "connection"
    if re.search(r"unknown command|unknown subcommand|Unknown Redis command", text, re.I):
        return "unknown_command"
    return "error"


def classify(exc):
    """(kind, server text) of a redis-py exception."""
    text = reply_text(exc)
    if isinstance(exc, redis.AuthenticationError) or isinstance(exc, getattr(redis.exceptions, "AuthorizationError", ())):
        return "auth", text
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return "permission", text
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return "readonly", text
    if isinstance(exc, (redis.exceptions.AskError, redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError,
                        redis.exceptions.ClusterCrossSlotError, redis.exceptions.ClusterError)):
        return "cluster", text
    if isinstance(exc, redis.TimeoutError):
        return "timeout", text
    if isinstance(exc, redis.ConnectionError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLError) or (_TLS_TEXT.search(text) and "Connection refused" not in text):
            return "tls", text
        return "connection", text
    if isinstance(exc, redis.exceptions.DataError):
        return "invalid_input", text
    if isinstance(exc, redis.ResponseError):
        return kind_of_reply(text), text
    return "error", text


def make_error(kind, text, where, command=None, username=None, settings=None, secrets=(), fix=None):
    """A RedisError with the server's text, where it happened and what to fix (``fix`` overrides the kind's)."""
    name = _command_name(command)
    text = " ".join(str(text).split())
    message = "%s: %s" % (where, text)
    fix = fix or _fixes(kind, text, command=name, username=username, settings=settings)
    if fix:
        message += " (%s)" % fix
    return RedisError(_scrub(message, secrets), kind=kind, command=name)


def parse_info(reply):
    """INFO's text as a dict, the way redis-py parses it: numbers become int/float, ``a=1,b=2``
    values dicts, comma lists lists, ``# Section`` lines are skipped."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")

    def value_of(value):
        if "," not in value and "=" not in value:
            try:
                return float(value) if "." in value else int(value)
            except ValueError:
                return value
        if "=" not in value:
            return [value_of(v) for v in value.split(",") if v]
        sub = {}
        for item in value.split(","):
            if not item:
                continue
            if "=" in item:
                key, val = item.rsplit("=", 1)
                sub[key] = value_of(val)
            else:
                sub[item] = True
        return sub

    info = {}
    for line in (reply or "").splitlines():
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            info.setdefault("__raw__", []).append(line)
            continue
        key, value = line.split(":", 1)
        if key == "cmdstat_host":
            key, value = line.rsplit(":", 1)
        if key == "module":
            info.setdefault("modules", []).append(value_of(value))
        else:
            info[key] = value_of(value)
    return info


class RedisConn(object):
    """One Redis database on one server, through one transport.

    ``where`` says which (for messages), ``via`` how, ``db`` which database. ``supports_binary``
    is False where arguments cannot carry arbitrary bytes (exec: they travel as a command line).
    """

    via = "direct"
    supports_binary = True

    def __init__(self, settings, where, db):
        self.settings = settings
        self.where = where
        self.db = db
        self.username = settings.get("username")
        self._children = []

    # -- what transports implement ------------------------------------------------------

    def execute(self, *args):
        """One command; its raw reply. Raises RedisError."""
        raise NotImplementedError

    def pipeline_execute(self, commands, transaction=False):
        """Replies of several commands in one round trip, in order; a command's error is a
        RedisError in its slot (not raised). ``transaction``: all or nothing (MULTI/EXEC)."""
        raise NotImplementedError

    def _for_db(self, db):
        raise NotImplementedError

    def _close(self):
        pass

    # -- shared ---------------------------------------------------------------------------

    def info(self, section=None):
        """INFO (default sections, or ``section``: ``all``, ``everything``, ``memory``, ...) as a dict."""
        return parse_info(self.execute("INFO", section) if section else self.execute("INFO"))

    def select_db(self, db):
        """A RedisConn for database ``db`` of the same server, through the same transport; closed with this one."""
        if int(db) == int(self.db):
            return self
        conn = self._for_db(int(db))
        self._children.append(conn)
        return conn

    def close(self):
        for child in self._children:
            child.close()
        self._children = []
        self._close()

    def error(self, kind, text, command=None, fix=None):
        return make_error(kind, text, self.where, command=command, username=self.username, settings=self.settings,
                          secrets=self._secrets(), fix=fix)

    def _secrets(self):
        return [self.settings.get("password")]


def _client_options():
    """Keywords this redis-py version takes that switch off what the modules do not want: CLIENT
    SETINFO at connect (two extra round trips, refused by older servers and strict ACLs)."""
    params = inspect.signature(redis.Redis.__init__).parameters
    options = {}
    if "driver_info" in params:
        options["driver_info"] = None
    elif "lib_name" in params:
        options.update(lib_name=None, lib_version=None)
    if "protocol" in params:
        options["protocol"] = 2
    return options


class ClientConn(RedisConn):
    """A redis-py client (direct, or to the local end of a port-forward)."""

    def __init__(self, settings, db=None, host=None, port=None, tunnel=None, tls_server_name=None):
        self.host = host or settings["host"]
        self.port = port or settings["port"]
        self.tunnel = tunnel
        self.tls_server_name = tls_server_name
        db = settings["db"] if db is None else db
        if tunnel is not None:
            where = "%s db %s via port-forward%s" % (tunnel.where, db, " (TLS)" if settings["tls"] else "")
            self.via = "port_forward"
        else:
            where = describe(dict(settings, db=db))
        super(ClientConn, self).__init__(settings, where, db)
        self.client = self._client()

    def _client(self):
        s = self.settings
        kwargs = dict(host=self.host, port=int(self.port), db=int(self.db), username=s["username"] or None,
                      password=s["password"] or None, socket_connect_timeout=s["connect_timeout"],
                      socket_timeout=s["socket_timeout"], retry=Retry(NoBackoff(), 0), health_check_interval=0)
        kwargs.update(_client_options())
        if s["tls"]:
            kwargs.update(ssl=True, ssl_ca_certs=s["ca_cert"], ssl_certfile=s["client_cert"],
                          ssl_keyfile=s["client_key"], ssl_cert_reqs="required" if s["validate_certs"] else "none",
                          ssl_check_hostname=bool(s["validate_certs"]))
        client = redis.Redis(**kwargs)
        if s["tls"] and self.tls_server_name:
            # Through a port-forward the client connects to 127.0.0.1; the certificate names the service.
            client.connection_pool.connection_class = _named_ssl_connection(self.tls_server_name)
        # Raw replies on every transport: the same types whatever the command.
        client.response_callbacks = {}
        return client

    def _fail(self, exc, command=None):
        kind, text = classify(exc)
        fix = _TUNNEL_FIX if kind == "connection" and self.tunnel is not None else None
        error = self.error(kind, text, command, fix=fix)
        if kind in ("connection", "timeout") and self.tunnel is not None and self.tunnel.last_error:
            # What the pod's end said (nothing listening on the port, the pod gone).
            error = RedisError("%s; %s" % (error, self.tunnel.last_error), kind=kind, command=error.command)
        return error

    def execute(self, *args):
        try:
            return self.client.execute_command(*args)
        except redis.RedisError as exc:
            raise self._fail(exc, args)

    def pipeline_execute(self, commands, transaction=False):
        commands = [tuple(c) for c in commands]
        if not commands:
            return []
        pipe = self.client.pipeline(transaction=transaction)
        for command in commands:
            pipe.execute_command(*command)
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise self._fail(exc, commands[0] if len(commands) == 1 else None)
        finally:
            pipe.reset()
        out = []
        for command, reply in zip(commands, replies):
            if isinstance(reply, redis.RedisError):
                kind, text = classify(reply)
                reply = self.error(kind, text, command)
            out.append(reply)
        return out

    def _for_db(self, db):
        return ClientConn(self.settings, db=db, host=self.host, port=self.port, tunnel=self.tunnel,
                          tls_server_name=self.tls_server_name)

    def _close(self):
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
            pass


def _named_ssl_connection(server_name):
    """An SSLConnection class that checks the certificate against ``server_name`` instead of the
    address it connects to (the local end of a port-forward)."""

    class NamedSSLConnection(redis.connection.SSLConnection):
        def _wrap_socket_with_ssl(self, sock):
            host, self.host = self.host, server_name
            try:
                return super(NamedSSLConnection, self)._wrap_socket_with_ssl(sock)
            finally:
                self.host = host

    return NamedSSLConnection


_TUNNEL_FIX = ("the port-forward reached the pod but Redis did not answer there: check pod_port and that Redis runs "
               "in the pod")
_FORWARD_KINDS = {"not_found": "not_found", "permission": "permission", "library": "library",
                  "unavailable": "connection", "unreachable": "connection"}


@contextlib.contextmanager
def open_redis(params, kube_params=None):
    """A RedisConn for these options (redis_argument_spec), closed (its tunnel too) on exit.

    ``kube_params`` are the cluster options (kubeconfig, context, ...) used by
    ``connect_via`` port_forward and exec; by default ``params`` itself.
    """
    s = settings(params)
    kube_params = params if kube_params is None else kube_params
    if s["via"] == "exec":
        from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.execcli import open_exec

        conn = open_exec(s, kube_params)
        try:
            yield conn
        finally:
            conn.close()
        return
    if not HAS_REDIS:
        raise RedisError("the redis Python library (redis-py) is required on the control node: %s"
                         % REDIS_IMPORT_ERROR, kind="library")
    if s["via"] == "direct":
        conn = ClientConn(s)
        try:
            yield conn
        finally:
            conn.close()
        return
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import (
        PortForward,
        PortForwardError,
    )

    forward = PortForward(kube_params or {}, s["pod_namespace"], s["pod"], s["pod_port"])
    try:
        host, port = forward.__enter__()
    except PortForwardError as exc:
        raise RedisError(str(exc), kind=_FORWARD_KINDS.get(exc.kind, "connection"))
    try:
        # The server's certificate is checked against redis_host (or the url's host), not 127.0.0.1.
        conn = ClientConn(s, host=host, port=port, tunnel=forward, tls_server_name=s["host"])
        try:
            yield conn
        finally:
            conn.close()
    finally:
        forward.__exit__(None, None, None)


# -- renamed and disabled commands ------------------------------------------------------------


def commands_available(conn, names):
    """{NAME: True | False} for each command name, in one COMMAND INFO: False when the server does not
    know it (renamed or disabled with rename-command). Raises RedisError when COMMAND itself fails."""
    names = [n.upper() for n in names]
    if not names:
        return {}
    reply = conn.execute("COMMAND", "INFO", *names)
    if not isinstance(reply, list) or len(reply) != len(names):
        raise RedisError("%s: COMMAND INFO gave an unexpected reply" % conn.where, kind="error", command="COMMAND INFO")
    return dict((name, bool(entry)) for name, entry in zip(names, reply))


def command_available(conn, name):
    """Whether the server knows ``name`` (COMMAND INFO name is nil for a renamed or disabled command)."""
    return commands_available(conn, [name])[name.upper()]


def resolve_command(conn, name, command_names=None):
    """The name to send for command ``name``, or None when it cannot be sent.

    ``command_names`` is the operator's map for renamed commands ({"FLUSHALL": "MYFLUSHALL",
    "KEYS": ""}, "" = disabled; names are case-insensitive). A mapped name is trusted as given
    (None when mapped to ""); an unmapped one is checked with COMMAND INFO (None when the
    server does not know it). Raises RedisError when that check itself fails.
    """
    mapped = dict((str(k).upper(), v) for k, v in (command_names or {}).items())
    key = name.upper()
    if key in mapped:
        return mapped[key] or None
    return name if command_available(conn, name) else None
