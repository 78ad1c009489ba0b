# SPDX-License-Identifier: GPL-3.0-or-later
"""How the collection's PostgreSQL modules reach a server (module_utils/postgres/connection.py
and module_utils/k8s/portforward.py), and the shared fixtures of tests/integration/pg.py they are tested with."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

import pg

pytestmark = [pytest.mark.drill]


# --- the fixtures themselves ----------------------------------------------------------------


def test_scratch_and_seeded_databases_are_dropped_after_use(drill_env):
    with pg.seeded_db("selftest", rows=120, workflows=12) as name:
        assert name.startswith("t_selftest_")
        assert pg.row_counts(name) == {"public.workflows": 12, "public.executions": 120}
        # A restore's leftovers named after the scratch database go with it.
        pg.query('CREATE DATABASE "%s_pre_restore_1" TEMPLATE template0' % name)
    assert not pg.database_exists(name)
    assert not pg.database_exists(name + "_pre_restore_1")


# Long tier: the fixture's crash and standby are used (and so proven) by the restore and health drills.
@pytest.mark.long
def test_private_server_survives_a_crash_and_streams_to_a_standby(tmp_path):
    with pg.PrivateServer(tmp_path, conf={"max_connections": 20}) as srv:
        assert srv.query("SHOW max_connections") == [("20",)]
        assert srv.query("SHOW shared_preload_libraries") == [("pg_stat_statements",)]
        srv.query("CREATE TABLE kept (n int)")
        srv.query("INSERT INTO kept VALUES (1), (2)")
        srv.kill()
        assert not srv.running()
        with pytest.raises(psycopg2.OperationalError):
            srv.connect()
        srv.start()
        assert srv.query("SELECT count(*) FROM kept") == [(2,)]
        with srv.standby(tmp_path) as standby:
            assert standby.in_recovery() and not srv.in_recovery()
            srv.query("INSERT INTO kept VALUES (3)")
            srv.wait_replayed(standby)
            assert standby.query("SELECT count(*) FROM kept") == [(3,)]
            assert srv.query("SELECT state FROM pg_stat_replication") == [("streaming",)]
        pid = srv.pid
    assert not os.path.exists("/proc/%d" % pid)


def test_small_tmpfs_runs_out_of_space(tmp_path):
    with pg.small_tmpfs(tmp_path / "fs", "1m") as fs:
        with pytest.raises(OSError) as err, open(fs / "fill", "wb") as handle:
            handle.write(b"\0" * (2 << 20))
            handle.flush()
        assert err.value.errno == 28  # ENOSPC
    assert not os.path.ismount(tmp_path / "fs")


# --- connecting: options, environment, TLS, failures ---------------------------------------

PG_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGDATABASE", "PGSSLMODE",
          "PGSSLROOTCERT", "PGSERVICE", "PGSERVICEFILE", "PGAPPNAME", "PGOPTIONS", "PGCONNECT_TIMEOUT")


def pc():
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import connection

    return connection


def options(**params) -> dict:
    """Module params as AnsibleModule passes them: every option, defaults applied, then these."""
    values = {name: spec.get("default") for name, spec in pc().postgres_argument_spec().items()}
    values.update(params)
    return values


def drill_options(**params) -> dict:
    return options(**dict(pg.drill_params(), **params))


def failure(params, **kwargs):
    """The PostgresError open_session raises for these params."""
    with pytest.raises(pc().PostgresError) as err:
        with pc().open_session(params, **kwargs):
            pass
    return err.value


@pytest.fixture(scope="module")
def kube(drill_env):
    import drill

    return {"kubeconfig": drill.kubeconfig()}


@pytest.fixture
def clean_pg_env(monkeypatch):
    for name in PG_ENV:
        monkeypatch.delenv(name, raising=False)


def ca_file():
    import dataplane

    return str(dataplane.run_dir() / "secrets" / "pg-tls" / "ca.crt")


def test_explicit_options_and_the_sessions_settings(drill_env, clean_pg_env):
    app = "ai_orchestrator.test-" + os.urandom(3).hex()
    params = drill_options(login_db="orchestrator", statement_timeout=7, lock_timeout=3, application_name=app)
    with pc().open_session(params) as session:
        assert session.scalar("SHOW statement_timeout") == "7s"
        assert session.scalar("SHOW lock_timeout") == "3s"
        assert session.scalar("SHOW idle_in_transaction_session_timeout") == "1min"
        assert session.scalar("SELECT current_database()") == "orchestrator"
        # What the DBA (and the connection-relief module) sees from another session.
        seen = pg.query("SELECT application_name, usename FROM pg_stat_activity WHERE pid = %s", (session.pid,))
        assert seen == [(app, "postgres")]


def test_a_statement_over_statement_timeout_is_cut_short(drill_env, clean_pg_env):
    with pc().open_session(drill_options(statement_timeout=1)) as session:
        started = time.monotonic()
        with pytest.raises(pc().PostgresError) as err:
            session.scalar("SELECT pg_sleep(5)")
    assert err.value.kind == "timeout" and time.monotonic() - started < 3
    assert "statement timeout" in str(err.value)


def test_a_lock_held_elsewhere_fails_after_lock_timeout_instead_of_queueing(drill_env, clean_pg_env):
    with pg.scratch_db("locks") as db:
        pg.query("CREATE TABLE t (n int)", dbname=db)
        holder = pg.admin(db)
        try:
            holder.autocommit = False
            holder.cursor().execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            with pc().open_session(drill_options(login_db=db, lock_timeout=1)) as session:
                started = time.monotonic()
                with pytest.raises(pc().PostgresError) as err:
                    session.query("SELECT count(*) FROM t")
            assert err.value.kind == "timeout" and 0.8 < time.monotonic() - started < 3
            assert "lock timeout" in str(err.value)
        finally:
            holder.close()


def run_session(env: dict, params: dict) -> dict:
    """open_session in a fresh process with exactly this PG* environment; what it saw, or its error."""
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import connection as pc\n"
        "try:\n"
        "    with pc.open_session(json.loads(sys.argv[2])) as s:\n"
        "        print(json.dumps(s.one(\"SELECT current_user AS user, current_database() AS db, \"\n"
        "                              \"current_setting('port') AS port, current_setting('application_name') AS app\")))\n"
        "except pc.PostgresError as e:\n"
        "    print(json.dumps({'kind': e.kind, 'message': str(e)}))\n"
    )
    collections = (os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.expanduser("~/.cache/aio-collections")).split(":")[0]
    clean = {k: v for k, v in os.environ.items() if k not in PG_ENV}
    proc = subprocess.run([sys.executable, "-c", script, collections, json.dumps(params)], env=dict(clean, **env),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_pg_environment_alone_is_enough(drill_env):
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(pg.drill_port()), "PGUSER": "postgres",
           "PGPASSWORD": pg.drill_password(), "PGDATABASE": "orchestrator"}
    seen = run_session(env, options())
    assert seen == {"user": "postgres", "db": "orchestrator", "port": str(pg.drill_port()),
                    "app": "ai_orchestrator.incident_response"}
    # An option set wins over the environment.
    assert run_session(env, options(login_db="postgres"))["db"] == "postgres"


def test_a_password_file_is_used(drill_env, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text("127.0.0.1:%d:*:postgres:%s\n" % (pg.drill_port(), pg.drill_password()))
    passfile.chmod(0o600)
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(pg.drill_port()), "PGUSER": "postgres", "PGPASSFILE": str(passfile)}
    assert run_session(env, options(login_db="postgres"))["user"] == "postgres"
    # Without it, the server's refusal is an auth failure.
    env.pop("PGPASSFILE")
    env["HOME"] = str(tmp_path)  # no ~/.pgpass either
    assert run_session(env, options(login_db="postgres"))["kind"] == "auth"


def test_tls_verify_full_against_the_drill_ca(drill_env, clean_pg_env):
    assert pg.query("SHOW ssl") == [("on",)], "the drill PostgreSQL has no TLS yet: run drill/env.sh up"
    for host in ("localhost", "127.0.0.1"):
        with pc().open_session(drill_options(login_host=host, ssl_mode="verify-full", ssl_rootcert=ca_file())) as session:
            assert session.one("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")["ssl"] is True
    # Plain connections keep working.
    with pc().open_session(drill_options(ssl_mode="disable")) as session:
        assert session.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is False


def test_tls_with_the_wrong_ca_is_refused_and_says_why(drill_env, clean_pg_env, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", "/CN=some other CA", "-keyout", str(tmp_path / "other.key"),
                    "-out", str(tmp_path / "other.crt")], check=True, capture_output=True)
    error = failure(drill_options(ssl_mode="verify-full", ssl_rootcert=str(tmp_path / "other.crt")))
    assert error.kind == "auth"
    assert "certificate verify failed" in str(error) and "ssl_rootcert must hold the CA" in str(error)
    missing = failure(drill_options(ssl_mode="verify-ca", ssl_rootcert=str(tmp_path / "absent.crt")))
    assert missing.kind == "auth" and "absent.crt" in str(missing)


def test_a_wrong_password_is_auth_and_never_shown(drill_env, clean_pg_env):
    secret = "not-the-password-" + os.urandom(4).hex()
    error = failure(drill_options(login_password=secret))
    assert error.kind == "auth"
    assert "password authentication failed" in str(error) and secret not in str(error)


def test_an_unknown_database_is_not_found(drill_env, clean_pg_env):
    error = failure(drill_options(login_db="no_such_db_here"))
    assert error.kind == "not_found" and '"no_such_db_here" does not exist' in str(error)


def test_nothing_listening_is_unreachable_at_once(clean_pg_env):
    port = pg.free_port()
    started = time.monotonic()
    error = failure(options(login_host="127.0.0.1", login_port=port, login_user="x", login_password="y", connect_timeout=3))
    assert error.kind == "unreachable" and time.monotonic() - started < 2
    assert "Connection refused" in str(error) and "127.0.0.1:%d" % port in str(error)


def test_a_server_that_never_answers_is_given_up_after_connect_timeout(clean_pg_env):
    # A listener that accepts nothing: TCP connects (the kernel's backlog), PostgreSQL never speaks.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        error = failure(options(login_host="127.0.0.1", login_port=silent.getsockname()[1], login_user="x",
                                login_password="y", connect_timeout=2))
        elapsed = time.monotonic() - started
    assert error.kind == "unreachable" and "timeout expired" in str(error)
    assert 1.5 < elapsed < 2 + 2


# --- through the Kubernetes API server --------------------------------------------------------


def forward_options(**params):
    return drill_options(**dict(dict(connect_via="port_forward", pod="statefulset/postgres",
                                     pod_namespace="ai-orchestrator"), **params))


def test_port_forward_reaches_the_database_pod(kube, clean_pg_env):
    with pc().open_session(forward_options(login_db="orchestrator"), kube_params=kube) as session:
        # The drill's postgres-0 is its loopback PostgreSQL: same server, reached through kwok.
        assert session.scalar("SELECT current_setting('port')") == str(pg.drill_port())
        assert session.scalar("SELECT count(*) FROM workflows") > 0
        assert "through the port-forward to pod ai-orchestrator/postgres-0 port 5432" in session.where


def test_parallel_connections_through_one_port_forward(kube):
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import PortForward

    with PortForward(kube, "ai-orchestrator", "postgres-0", 5432) as (host, port):
        pids, errors = [], []

        def work():
            try:
                conn = psycopg2.connect(host=host, port=port, user="postgres", password=pg.drill_password(),
                                        dbname="orchestrator", connect_timeout=5)
                with conn, conn.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid(), pg_sleep(1)")
                    pids.append(cur.fetchone()[0])
                conn.close()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        elapsed = time.monotonic() - started
    assert not errors and len(set(pids)) == 4
    assert elapsed < 2.5, "the four 1 s queries ran one after another (%.1fs)" % elapsed


def test_tls_verify_full_through_the_port_forward_checks_the_service_name(kube, clean_pg_env):
    params = forward_options(login_host="postgres.ai-orchestrator.svc", ssl_mode="verify-full", ssl_rootcert=ca_file())
    with pc().open_session(params, kube_params=kube) as session:
        assert session.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    error = failure(dict(params, login_host="db.elsewhere.example"), kube_params=kube)
    assert error.kind == "auth" and "db.elsewhere.example" in str(error)


def test_port_forward_to_an_unknown_pod_says_so(kube):
    error = failure(forward_options(pod="postgres-7"), kube_params=kube)
    assert error.kind == "unreachable"
    assert str(error) == ("port-forward to pod ai-orchestrator/postgres-7 port 5432: "
                          "pod 'postgres-7' not found in namespace 'ai-orchestrator'")
    error = failure(forward_options(pod="statefulset/pg"), kube_params=kube)
    assert "StatefulSet 'pg' not found in namespace 'ai-orchestrator'" in str(error)


def test_port_forward_to_a_port_nothing_serves_passes_on_the_pods_answer(kube):
    # redis-0 forwards 6379 only: the pod's end refuses 5432, and the message says so.
    error = failure(forward_options(pod="redis-0", connect_timeout=3), kube_params=kube)
    assert error.kind == "unreachable"
    assert "no forward found for port 5432" in str(error) and "check pod_port" in str(error)


def test_port_forward_without_the_permission_names_the_verb(kube, tmp_path):
    import rbac

    name = "pf-" + os.urandom(3).hex()
    reader = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    roles = {"none": reader,
             "get": reader + [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get"]}],
             "both": reader + [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get", "create"]}]}
    objects = [o for suffix, rules in roles.items() for o in rbac.service_account("ai-orchestrator", "%s-%s" % (name, suffix), rules)]
    rbac.apply(objects)
    grant = '{apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"]}'
    try:
        identity = {suffix: {"kubeconfig": rbac.kubeconfig(tmp_path, "ai-orchestrator", "%s-%s" % (name, suffix))}
                    for suffix in roles}
        error = failure(forward_options(pod="postgres-0"), kube_params=identity["none"])
        assert error.kind == "unreachable"
        assert 'may not get pods/portforward in namespace "ai-orchestrator"' in str(error) and grant in str(error)
        # Kubernetes 1.35 wants create as well for a websocket port-forward.
        error = failure(forward_options(pod="postgres-0"), kube_params=identity["get"])
        assert "may not create pods/portforward" in str(error) and grant in str(error)
        # get on pods and get+create on pods/portforward are all a pod name needs (as documented).
        with pc().open_session(forward_options(pod="postgres-0"), kube_params=identity["both"]) as session:
            assert session.scalar("SELECT 1") == 1
    finally:
        import drill

        for obj in objects:
            drill.kubectl("delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found", check=False)


def test_the_drill_forwards_redis_too(kube):
    """drill/kwok/portforward.yaml also forwards redis-0:6379 (the cache runbook's way in)."""
    import dataplane
    import redis
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import PortForward

    with PortForward(kube, "ai-orchestrator", "statefulset/redis", 6379) as (host, port):
        client = redis.Redis(host=host, port=port, password=dataplane.secret("redis_password"), socket_timeout=5)
        assert client.ping() is True
        assert client.config_get("port") == {"port": dataplane.drill_env()["DRILL_REDIS_PORT"]}


def test_pg_dump_and_a_parallel_pg_restore_through_one_forward(kube, tmp_path):
    """What the restore runbook does from outside the cluster: the tools on the control node,
    their connections (pg_restore -j 4 opens five) through one port-forward."""
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.portforward import PortForward

    bindir = pg.PG_BINDIR
    dump = tmp_path / "src.dump"
    with pg.seeded_db("pfsrc", rows=20000, workflows=200) as src, pg.scratch_db("pfdst") as dst:
        with PortForward(kube, "ai-orchestrator", "statefulset/postgres", 5432) as (host, port):
            env = dict(os.environ, PGHOST=host, PGPORT=str(port), PGUSER="postgres", PGPASSWORD=pg.drill_password())
            subprocess.run([str(bindir / "pg_dump"), "-Fc", "-d", src, "-f", str(dump)], env=env, check=True,
                           capture_output=True, timeout=60)
            restore = subprocess.run([str(bindir / "pg_restore"), "-j", "4", "-d", dst, str(dump)], env=env,
                                     capture_output=True, text=True, timeout=60)
            assert restore.returncode == 0, restore.stderr
        assert pg.row_counts(dst) == pg.row_counts(src) == {"public.workflows": 200, "public.executions": 20000}


def test_a_module_takes_the_port_forward_and_cluster_options_from_its_own_arguments(kube):
    """connect_via=port_forward end to end through ansible: the module's kubeconfig option is the
    forward's (any module of the postgres group would do; the read-only health module is used)."""
    import playbook

    args = dict(pg.drill_params(), login_db="orchestrator", connect_via="port_forward", pod="statefulset/postgres",
                pod_namespace="ai-orchestrator", kubeconfig=kube["kubeconfig"])
    result = playbook.module("postgresql_health_info", **args)
    assert not result.get("failed"), result.get("msg")
    assert result["server"]["version_num"] // 10000 == 15
    missing = playbook.module("postgresql_health_info", **dict(args, pod="postgres-9"))
    assert missing["failed"] and missing["error_kind"] == "unreachable"
    assert missing["msg"] == ("port-forward to pod ai-orchestrator/postgres-9 port 5432: "
                              "pod 'postgres-9' not found in namespace 'ai-orchestrator'")
    assert pg.drill_password() not in json.dumps(missing)
