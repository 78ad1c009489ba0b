# SPDX-License-Identifier: GPL-3.0-or-later
"""Private Redis servers for the cache runbook's tests (unit and integration).

A test that stops, fills, reconfigures or breaks a server uses a PrivateRedis, never the
drill's Redis: a real redis-server of its own on a free loopback port, in a directory of its
own, with what the test needs:

    with PrivateRedis(tmp_path, password="pw", maxmemory="2mb", policy="allkeys-lru") as srv:
        srv.cli("SET", "k", "v")
        run_module("redis_health_info", **srv.params())

Options: ``password`` (the default user's), ``users`` ({"reader": "on >pw ~* +@read"}: ACL
rules as in ``ACL SETUSER``), ``tls`` (a CA and a server certificate for localhost/127.0.0.1
made with openssl in the directory; ``tls_auth_clients`` also makes a client certificate and
requires it), ``rename`` ({"FLUSHALL": ""} disables, {"FLUSHALL": "MYFLUSHALL"} renames),
``replicaof`` (another PrivateRedis: this one is its replica), ``cluster`` (cluster-enabled
with every slot on this one node), ``maxmemory``/``policy``, ``conf`` (any other directive).

Imported by tests/integration as ``import redisenv`` and by tests/unit through
``tests/unit/plugins/module_utils/redis/redis_server.py``; it needs nothing but the standard
library, redis-py, redis-server, redis-cli and openssl.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ports import drill_ports, free_port  # free_port is re-exported: tests/unit's redis_server uses it

REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = os.environ.get("REDIS_CLI_BIN") or shutil.which("redis-cli") or "/usr/bin/redis-cli"
# redis-cli prints an error reply as its text and exits 0.
ERROR_REPLY = re.compile(r"^(\(error\) )?(ERR|WRONGTYPE|NOPERM|NOAUTH|WRONGPASS|READONLY|MOVED|ASK|OOM|LOADING|CLUSTERDOWN|"
                         r"BUSY|NOSCRIPT|EXECABORT|MASTERDOWN|TRYAGAIN|CROSSSLOT) ")


def free_cluster_port() -> int:
    """A free port for a cluster node: Redis refuses ports above 55535 there (its bus is port + 10000),
    and the bus port must be free too."""
    for _attempt in range(200):
        port = free_port(55535)
        if port + 10000 in drill_ports():
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port pair (port, port + 10000) for a cluster node")


def available() -> bool:
    return os.path.exists(REDIS_SERVER) and os.path.exists(REDIS_CLI)


# EC keys: made in milliseconds where RSA takes a good part of a second.
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), proc.stderr[-2000:]))


def make_tls(directory: Path, names=("localhost", "redis.test"), client: bool = False) -> dict:
    """A CA (ca.crt) and a server certificate (server.crt/server.key) for ``names`` and
    127.0.0.1, signed by it; with ``client`` a client certificate too. Returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *EC_KEY, "-nodes", "-days", "2", "-subj", "/CN=private-redis-test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    san = ",".join(["DNS:%s" % n for n in names] + ["IP:127.0.0.1"])
    (directory / "server.ext").write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    _openssl("req", *EC_KEY, "-nodes", "-subj", "/CN=%s" % names[0], "-keyout", "server.key",
             "-out", "server.csr", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", "server.ext", "-out", "server.crt", cwd=directory)
    paths = {"ca": directory / "ca.crt", "cert": directory / "server.crt", "key": directory / "server.key"}
    if client:
        (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        _openssl("req", *EC_KEY, "-nodes", "-subj", "/CN=automation", "-keyout", "client.key",
                 "-out", "client.csr", cwd=directory)
        _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", "client.ext", "-out", "client.crt", cwd=directory)
        paths.update(client_cert=directory / "client.crt", client_key=directory / "client.key")
    return paths


class PrivateRedis:
    """A redis-server of its own on 127.0.0.1:`port`; a context manager (started on enter,
    stopped, or killed if it will not stop, on exit)."""

    def __init__(self, tmp_path, name: str | None = None, password: str | None = None, users: dict | None = None,
                 tls: bool = False, tls_auth_clients: bool = False, rename: dict | None = None,
                 replicaof: "PrivateRedis | None" = None, cluster: bool = False, maxmemory=None,
                 policy: str | None = None, conf: dict | None = None, port: int | None = None):
        self.port = port or (free_cluster_port() if cluster else free_port())
        self.name = name or str(self.port)
        self.dir = Path(tmp_path) / ("redis-%s" % self.name)
        self.password = password
        self.users = dict(users or {})
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self.rename = dict(rename or {})
        self.primary = replicaof
        self.cluster = cluster
        self.maxmemory = maxmemory
        self.policy = policy
        self.conf = dict(conf or {})
        self.host = "127.0.0.1"
        self.proc = None
        self.tls_paths = {}
        self.log = self.dir / "redis.log"

    # -- what tests use ----------------------------------------------------------------

    def params(self, **overrides) -> dict:
        """Module options (redis_argument_spec) for this server as the default user."""
        params = {"redis_host": self.host, "port": self.port}
        if self.password:
            params["password"] = self.password
        if self.tls:
            params.update(tls=True, tls_ca_cert=str(self.tls_paths["ca"]))
            if self.tls_auth_clients:
                params.update(tls_client_cert=str(self.tls_paths["client_cert"]),
                              tls_client_key=str(self.tls_paths["client_key"]))
        params.update(overrides)
        return params

    @property
    def url(self) -> str:
        auth = (":%s@" % self.password) if self.password else ""
        return "%s://%s%s:%d/0" % ("rediss" if self.tls else "redis", auth, self.host, self.port)

    def client(self, db: int = 0, username: str | None = None, password: str | None = None, **kwargs):
        """A raw redis-py client (RESP2, bytes) as the default user, or ``username``/``password``."""
        import redis

        options = dict(host=self.host, port=self.port, db=db, socket_timeout=10, protocol=2,
                       username=username, password=password if username else (password or self.password))
        if self.tls:
            options.update(ssl=True, ssl_ca_certs=str(self.tls_paths["ca"]))
            if self.tls_auth_clients:
                options.update(ssl_certfile=str(self.tls_paths["client_cert"]),
                               ssl_keyfile=str(self.tls_paths["client_key"]))
        options.update(kwargs)
        return redis.Redis(**options)

    def cli_argv(self, *args: str, db: int | None = None) -> list[str]:
        argv = [REDIS_CLI, "--no-auth-warning", "-h", self.host, "-p", str(self.port)]
        if self.tls:
            argv += ["--tls", "--cacert", str(self.tls_paths["ca"])]
            if self.tls_auth_clients:
                argv += ["--cert", str(self.tls_paths["client_cert"]), "--key", str(self.tls_paths["client_key"])]
        if db is not None:
            argv += ["-n", str(db)]
        return argv + [str(a) for a in args]

    def cli(self, *args, db: int | None = None, input: str | bytes | None = None, check: bool = True) -> str:
        """redis-cli ARGS against this server as the default user; its stdout, stripped."""
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        text = not isinstance(input, bytes)
        proc = subprocess.run(self.cli_argv(*args, db=db), input=input, capture_output=True, text=text, env=env,
                              timeout=30, check=False)
        out = proc.stdout if text else proc.stdout.decode("utf-8", "replace")
        if check and (proc.returncode != 0 or ERROR_REPLY.match(out)):
            raise RuntimeError("redis-cli %s: rc %s %s %s" % (" ".join(map(str, args)), proc.returncode, out,
                                                              proc.stderr))
        return out.strip()

    # -- lifecycle ------------------------------------------------------------------------

    def _config(self) -> str:
        # A replica's first sync starts at once (the default waits 5 s for more replicas).
        lines = ["bind 127.0.0.1", "protected-mode no", "daemonize no", "dir %s" % self.dir,
                 "logfile %s" % self.log, 'save ""', "appendonly no", "loglevel warning",
                 "dbfilename dump.rdb", "repl-diskless-sync-delay 0"]
        if self.tls:
            if not self.tls_paths:
                self.tls_paths = make_tls(self.dir / "tls", client=self.tls_auth_clients)
            lines += ["port 0", "tls-port %d" % self.port, "tls-cert-file %s" % self.tls_paths["cert"],
                      "tls-key-file %s" % self.tls_paths["key"], "tls-ca-cert-file %s" % self.tls_paths["ca"],
                      "tls-auth-clients %s" % ("yes" if self.tls_auth_clients else "no"),
                      "tls-replication yes"]
        else:
            lines.append("port %d" % self.port)
        if self.password:
            lines.append('requirepass "%s"' % self.password)
        for user, rules in self.users.items():
            lines.append("user %s %s" % (user, rules))
        for command, new in self.rename.items():
            lines.append('rename-command %s "%s"' % (command, new))
        if self.primary is not None:
            lines.append("replicaof %s %d" % (self.primary.host, self.primary.port))
            if self.primary.password:
                lines.append('masterauth "%s"' % self.primary.password)
        if self.cluster:
            lines += ["cluster-enabled yes", "cluster-config-file %s" % (self.dir / "nodes.conf"),
                      "cluster-node-timeout 5000"]
        if self.maxmemory is not None:
            lines.append("maxmemory %s" % self.maxmemory)
        if self.policy:
            lines.append("maxmemory-policy %s" % self.policy)
        for key, value in self.conf.items():
            lines.append("%s %s" % (key, value))
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15) -> "PrivateRedis":
        if self.running():
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text(self._config())
        self.proc = subprocess.Popen([REDIS_SERVER, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited (%s): %s %s" % (self.proc.returncode,
                                                                        self.proc.stderr.read().decode(errors="replace"),
                                                                        self.log_tail()))
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                if self.cli("PING", check=False) == "PONG":
                    break
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server on port %d did not answer PING within %ss: %s"
                                   % (self.port, timeout, self.log_tail()))
            time.sleep(0.05)
        if self.cluster and "cluster_state:ok" not in self.cli("CLUSTER", "INFO"):
            self.cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
            self.wait_for(lambda: "cluster_state:ok" in self.cli("CLUSTER", "INFO"), "cluster_state ok")
        return self

    def wait_for(self, condition, what: str, timeout: float = 15, step: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s (port %d)" % (what, self.port))
            time.sleep(step)

    def wait_replica_synced(self, timeout: float = 15) -> None:
        """Until this replica's link to its primary is up."""
        self.wait_for(lambda: "master_link_status:up" in self.cli("INFO", "replication"), "replication link up", timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (Redis saves nothing: save "" and no AOF), SIGKILL when it will not stop."""
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> "PrivateRedis":
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "PrivateRedis":
        try:
            return self.start()
        except BaseException:
            self.kill()
            raise

    def __exit__(self, *exc) -> bool:
        self.stop()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        return False


def new_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)
