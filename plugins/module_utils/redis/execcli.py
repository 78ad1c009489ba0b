# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redis commands run as ``redis-cli`` in the Redis pod, through the Kubernetes API's exec.

What the runbook's ``kubectl exec -it <redis-pod> -- redis-cli ...`` does, without kubectl and
without a shell: each command is one exec (module_utils/k8s/podexec.py) of

    redis-cli --no-auth-warning --json -2 -n DB [--user U] [--askpass] [-p PORT] [TLS options] CMD ARGS...

- The password, when one is configured, is written to the exec's stdin for ``--askpass``
  (redis-cli reads one line): never on a command line, never in the environment. Without one,
  the pod's own authentication applies (``REDISCLI_AUTH`` in the container).
- ``--json -2`` prints the RESP2 reply as JSON, except that error replies are ``error:"..."``
  and bytes from 0x7f up are written as they are: ``parse_cli_json`` reads that exactly, so
  replies are the same bytes as a redis-py client gets (key names and values that are not
  UTF-8 included). Arguments travel as a command line, so they cannot carry arbitrary bytes:
  ``supports_binary`` is False (no RESTORE of DUMP payloads this way).
- ``pipeline_execute`` sends a batch (at most BATCH commands and BATCH_BYTES of arguments) as
  ONE ``EVAL`` of PIPELINE_SCRIPT, which runs the commands in order with ``redis.pcall`` and
  returns their replies, an error in its own slot. A user that may not run EVAL (or a server
  where it is renamed) gets one exec per command instead.
- Redis needs redis-cli 7.0 or later in the container (``--json``).
"""

from __future__ import annotations

import math
import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    ClusterUnreachable,
    InvalidInput,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis.connection import (
    DEFAULT_PORT,
    RedisConn,
    RedisError,
    kind_of_reply,
)

BATCH = 200
BATCH_BYTES = 256 * 1024
# Runs ARGV as commands: each is its argument count followed by its arguments. redis.pcall
# returns an error as a table {err = ...}, which becomes an error reply in its slot; a nil
# reply becomes false (nil in the reply), so the reply keeps one slot per command.
PIPELINE_SCRIPT = """local out, i, n = {}, 1, #ARGV
while i <= n do
  local argc = tonumber(ARGV[i])
  out[#out + 1] = redis.pcall(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
return out
"""

_AUTH_FAILED = re.compile(r"AUTH failed: *(.*)")
_NO_CONNECTION = re.compile(r"(Could not connect to Redis at .*|Error: Server closed the connection.*|"
                            r"Error: Connection reset by peer.*|I/O error.*)")
_TOO_OLD = re.compile(r"Unrecognized option or bad number of args for: '(--json|-2|--askpass|--user)'")
_TLS = re.compile(r"(Could not negotiate a TLS connection.*|.*SSL_connect.*|.*TLS.*(failed|error).*)", re.I)


# redis-cli prints the replies of these commands raw (their text), whatever the output format.
_RAW_COMMANDS = {"INFO": None, "LOLWUT": None, "DEBUG": ("HTSTATS", "HTSTATS-KEY", "CLIENT-EVICTION"),
                 "MEMORY": ("MALLOC-STATS", "DOCTOR"), "CLUSTER": ("NODES", "INFO"), "CLIENT": ("LIST", "INFO"),
                 "LATENCY": ("GRAPH", "DOCTOR"), "PROXY": ("INFO",)}
_ERROR_LINE = re.compile(r"^[A-Z][A-Z_-]+ [^\r\n]*$")


def prints_raw(command):
    """Whether redis-cli prints this command's reply as raw text (not JSON)."""
    words = [_arg(a).upper() for a in command[:2]]
    if not words or words[0] not in _RAW_COMMANDS:
        return False
    subcommands = _RAW_COMMANDS[words[0]]
    return subcommands is None or (len(words) > 1 and words[1] in subcommands)


def parse_raw(data):
    """A reply redis-cli printed raw: the bulk's bytes (one newline added by redis-cli removed),
    or a ReplyError for an error line."""
    if data.endswith(b"\n"):
        data = data[:-1]
    text = data.decode("utf-8", "replace")
    if _ERROR_LINE.match(text) and not text.startswith("# "):
        return ReplyError(text)
    return data


class ReplyError(object):
    """An error reply inside redis-cli's JSON output (``error:"..."``)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return "ReplyError(%r)" % self.text

    def __eq__(self, other):
        return isinstance(other, ReplyError) and other.text == self.text


class CliOutputError(ValueError):
    """redis-cli printed something that is not its JSON."""


_ESCAPES = {ord('"'): b'"', ord("\\"): b"\\", ord("/"): b"/", ord("b"): b"\b", ord("f"): b"\f",
            ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}
_NUMBER = re.compile(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def parse_cli_json(data):
    """The reply redis-cli printed with ``--json``: bytes for strings (exactly), int, float,
    None, list, dict (RESP3 maps), ReplyError for error replies."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    value, pos = _value(data, _skip(data, 0))
    if _skip(data, pos) != len(data):
        raise CliOutputError("unexpected text after the reply: %r" % data[pos:pos + 80])
    return value


def _skip(data, pos):
    while pos < len(data) and data[pos] in b" \t\r\n":
        pos += 1
    return pos


def _value(data, pos):
    if pos >= len(data):
        raise CliOutputError("the output ended before a reply")
    char = data[pos]
    if char == ord('"'):
        return _string(data, pos)
    if char == ord("["):
        items, pos = [], _skip(data, pos + 1)
        if data[pos:pos + 1] == b"]":
            return items, pos + 1
        while True:
            item, pos = _value(data, _skip(data, pos))
            items.append(item)
            pos = _skip(data, pos)
            if data[pos:pos + 1] == b",":
                pos += 1
            elif data[pos:pos + 1] == b"]":
                return items, pos + 1
            else:
                raise CliOutputError("expected , or ] at %d" % pos)
    if char == ord("{"):
        items, pos = {}, _skip(data, pos + 1)
        if data[pos:pos + 1] == b"}":
            return items, pos + 1
        while True:
            key, pos = _value(data, _skip(data, pos))
            pos = _skip(data, pos)
            if data[pos:pos + 1] != b":":
                raise CliOutputError("expected : at %d" % pos)
            item, pos = _value(data, _skip(data, pos + 1))
            items[key if not isinstance(key, list) else tuple(key)] = item
            pos = _skip(data, pos)
            if data[pos:pos + 1] == b",":
                pos += 1
            elif data[pos:pos + 1] == b"}":
                return items, pos + 1
            else:
                raise CliOutputError("expected , or } at %d" % pos)
    if data.startswith(b"error:", pos):
        text, pos = _string(data, _skip(data, pos + 6))
        return ReplyError(text.decode("utf-8", "replace")), pos
    for word, value in ((b"null", None), (b"true", True), (b"false", False)):
        if data.startswith(word, pos):
            return value, pos + len(word)
    match = _NUMBER.match(data, pos)
    if match:
        text = match.group(0)
        return (float(text) if (match.group(1) or match.group(2)) else int(text)), match.end()
    raise CliOutputError("unexpected output at %d: %r" % (pos, data[pos:pos + 40]))


def _string(data, pos):
    if data[pos:pos + 1] != b'"':
        raise CliOutputError("expected a string at %d" % pos)
    out = bytearray()
    pos += 1
    while True:
        end = pos
        while end < len(data) and data[end] not in (34, 92):  # '"' and '\\'
            end += 1
        out += data[pos:end]
        if end >= len(data):
            raise CliOutputError("unterminated string")
        if data[end] == 34:
            return bytes(out), end + 1
        code = data[end + 1] if end + 1 < len(data) else None
        if code in _ESCAPES:
            out += _ESCAPES[code]
            pos = end + 2
        elif code == ord("u"):
            point = int(data[end + 2:end + 6], 16)
            # redis-cli escapes control bytes as \\u00XX: one byte each.
            out += bytes([point]) if point < 0x100 else chr(point).encode("utf-8")
            pos = end + 6
        else:
            raise CliOutputError("bad escape at %d" % end)


def _arg(value):
    """A command argument as text for the command line; bytes must be UTF-8 without NUL."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise RedisError("connect_via=exec cannot send arguments that are not UTF-8 text (they travel as a "
                             "command line): use connect_via=direct or port_forward", kind="invalid_input")
    elif isinstance(value, float):
        value = repr(value)
    else:
        value = str(value)
    if "\x00" in value:
        raise RedisError("connect_via=exec cannot send arguments with NUL bytes: use connect_via=direct or "
                         "port_forward", kind="invalid_input")
    return value


class ExecConn(RedisConn):
    """Commands as redis-cli in the pod, one exec each (a batch as one EVAL)."""

    via = "exec"
    supports_binary = False

    def __init__(self, settings, pod_exec, db=None):
        db = settings["db"] if db is None else db
        self.pod_exec = pod_exec
        where = "%s via exec db %s" % (pod_exec.describe(), db)
        super(ExecConn, self).__init__(settings, where, db)
        self._eval = True

    def _options(self):
        s = self.settings
        argv = ["redis-cli", "--no-auth-warning", "--json", "-2", "-n", str(self.db)]
        if s.get("username"):
            argv += ["--user", s["username"]]
        if s.get("password"):
            argv.append("--askpass")
        if int(s.get("pod_port") or DEFAULT_PORT) != DEFAULT_PORT:
            argv += ["-p", str(s["pod_port"])]
        if s.get("tls"):
            # Paths in the pod's file system.
            argv.append("--tls")
            for flag, key in (("--cacert", "ca_cert"), ("--cert", "client_cert"), ("--key", "client_key")):
                if s.get(key):
                    argv += [flag, s[key]]
            if not s.get("validate_certs"):
                argv.append("--insecure")
        return argv

    def _timeout(self, extra=0.0):
        s = self.settings
        return int(math.ceil(s["connect_timeout"] + s["socket_timeout"] + extra)) + 5

    def _run(self, argv, command, extra_timeout=0.0):
        """stdout of redis-cli in the pod; RedisError for what keeps it from answering."""
        password = self.settings.get("password")
        stdin = (password + "\n").encode("utf-8") if password else None
        try:
            result = self.pod_exec.run(argv, stdin=stdin, timeout=self._timeout(extra_timeout))
        except NotFound as exc:
            raise RedisError("%s: %s" % (self.where, exc), kind="not_found", command=command)
        except ClusterUnreachable as exc:
            raise RedisError("%s: %s" % (self.where, exc), kind="connection", command=command)
        except ClusterError as exc:
            kind = "permission" if getattr(exc, "status", None) == 403 else "connection"
            if "did not finish within" in str(exc):
                kind = "timeout"
            raise RedisError("%s: %s" % (self.where, exc), kind=kind, command=command)
        err = result.error_text
        match = _AUTH_FAILED.search(err)
        if match:
            raise self.error("auth", match.group(1).strip(), command)
        if result.rc == 127 or (not result.stdout and re.search(r"executable file not found|not found", err)):
            raise RedisError("%s: redis-cli could not run in the container (%s): connect_via=exec needs redis-cli "
                             "7.0 or later in it; use pod_container for another container, or connect_via="
                             "port_forward" % (self.where, err or "exit %s" % result.rc), kind="error", command=command)
        match = _TOO_OLD.search(err)
        if match:
            raise RedisError("%s: the container's redis-cli does not know %s: connect_via=exec needs redis-cli 7.0 or "
                             "later; use connect_via=port_forward" % (self.where, match.group(1)), kind="error",
                             command=command)
        match = _TLS.search(err) if self.settings.get("tls") else None
        if match and not result.stdout.strip():
            raise self.error("tls", match.group(1).strip(), command)
        match = _NO_CONNECTION.search(err)
        if match and not result.stdout.strip():
            raise self.error("connection", match.group(1).strip(), command)
        if result.rc != 0 and not result.stdout.strip():
            raise RedisError("%s: redis-cli exited %s: %s" % (self.where, result.rc, err or "no output"),
                             kind="error", command=command)
        return result.stdout

    def _reply(self, out, command):
        if prints_raw(command):
            return parse_raw(out)
        try:
            return parse_cli_json(out)
        except CliOutputError as exc:
            raise RedisError("%s: cannot read what redis-cli printed for %s (%s): is it redis-cli 7.0 or later?"
                             % (self.where, command[0] if command else "the command", exc), kind="error")

    def _convert(self, value, command):
        if isinstance(value, ReplyError):
            return self.error(kind_of_reply(value.text), value.text, command)
        return value

    def execute(self, *args):
        if not args:
            raise InvalidInput("no command to run")
        argv = self._options() + [_arg(a) for a in args]
        value = self._convert(self._reply(self._run(argv, args), args), args)
        if isinstance(value, RedisError):
            raise value
        return value

    def pipeline_execute(self, commands, transaction=False):
        commands = [tuple(c) for c in commands]
        if not commands:
            return []
        out = []
        for batch in ([commands] if transaction else _batches(commands)):
            out.extend(self._batch(batch, transaction))
        return out

    def _batch(self, commands, transaction):
        if self._eval:
            args = ["EVAL", PIPELINE_SCRIPT, "0"]
            for command in commands:
                args.append(str(len(command)))
                args.extend(command)
            try:
                replies = self.execute(*args)
            except RedisError as exc:
                if transaction or exc.kind not in ("permission", "unknown_command"):
                    raise
                # No EVAL for this user (or renamed): one exec per command.
                self._eval = False
            else:
                if not isinstance(replies, list) or len(replies) != len(commands):
                    raise RedisError("%s: the pipeline script returned %d replies for %d commands"
                                     % (self.where, len(replies) if isinstance(replies, list) else -1, len(commands)))
                return [self._convert(reply, command) for reply, command in zip(replies, commands)]
        replies = []
        for command in commands:
            try:
                replies.append(self.execute(*command))
            except RedisError as exc:
                if exc.kind in ("connection", "timeout", "auth", "not_found", "tls", "invalid_input"):
                    raise
                replies.append(exc)
        return replies

    def latency(self, seconds):
        """``redis-cli --latency`` in the pod for ``seconds``: {samples, min_ms, avg_ms, max_ms}
        (round trips from inside the pod, without the exec's own cost)."""
        seconds = max(0.1, float(seconds))
        argv = self._options() + ["--latency", "--raw", "-i", "%g" % seconds]
        argv.remove("--json")
        argv.remove("-2")
        out = self._run(argv, ("--latency",), extra_timeout=seconds).decode("utf-8", "replace").split()
        try:
            low, high, avg, count = float(out[0]), float(out[1]), float(out[2]), int(out[3])
        except (IndexError, ValueError):
            raise RedisError("%s: redis-cli --latency printed %r" % (self.where, " ".join(out)[:200]), kind="error",
                             command="--latency")
        return {"samples": count, "min_ms": low, "avg_ms": avg, "max_ms": high}

    def _for_db(self, db):
        return ExecConn(self.settings, self.pod_exec, db=db)


def _batches(commands):
    """Batches of at most BATCH commands and about BATCH_BYTES of arguments."""
    batch, size = [], 0
    for command in commands:
        length = sum(len(a) if isinstance(a, (bytes, str)) else 8 for a in command) + 8 * len(command)
        if batch and (len(batch) >= BATCH or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(command)
        size += length
    if batch:
        yield batch


def open_exec(settings, kube_params, pod_exec=None):
    """An ExecConn for the pod of these settings (the pod and its container resolved once)."""
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import podexec
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podref import PodUnavailable

    if pod_exec is None:
        if not podexec.HAS_WEBSOCKET:
            raise RedisError("connect_via=exec needs the kubernetes and websocket-client Python libraries on the "
                             "control node: %s" % podexec.WEBSOCKET_IMPORT_ERROR, kind="library")
        where = "pod %s in namespace %s" % (settings["pod"], settings["pod_namespace"])
        try:
            pod_exec = podexec.PodExec.from_params(kube_params or {}, settings["pod_namespace"], settings["pod"],
                                                   container=settings.get("pod_container"))
        except InvalidInput:
            raise
        except NotFound as exc:
            raise RedisError("exec in %s: %s" % (where, exc), kind="not_found")
        except PodUnavailable as exc:
            raise RedisError("exec in %s: %s" % (where, exc), kind="connection")
        except ClusterError as exc:
            kind = "permission" if getattr(exc, "status", None) == 403 else "connection"
            raise RedisError("exec in %s: %s" % (where, exc), kind=kind)
    return ExecConn(settings, pod_exec)
