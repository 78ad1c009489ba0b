# SPDX-License-Identifier: GPL-3.0-or-later
"""postgresql_backup, postgresql_backup_info and postgresql_restore through `ansible localhost -m`.

On the drill PostgreSQL, in scratch databases (tests/integration/pg.py) with the client programs
on the control node (tools_via=local, backup_dir in pytest's tmp_path), and once with the programs
in the drill's postgres-0 pod (tools_via=exec through the API server; drill/podbin maps the pod's
/backups to $DRILL_RUN/backups). On private servers: a server killed while pg_restore runs, a
standby. What a user cares about: the restored data is the backup's, the current database is never
destroyed and always serves again, nothing changes without the confirmation or on a bad backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import psycopg2
import pytest

import dataplane
import drill
import pg
from playbook import module

pytestmark = [pytest.mark.drill]


def backup(params, check=False, **options) -> dict:
    return module("postgresql_backup", check=check, **params, **options)


def info(params, **options) -> dict:
    return module("postgresql_backup_info", **params, **options)


def restore(params, check=False, **options) -> dict:
    return module("postgresql_restore", check=check, **params, **options)


def databases(prefix: str, server=None) -> dict:
    """{name: (allow connections, comment)} of the databases whose names start with prefix."""
    rows = pg.query("SELECT datname, datallowconn, shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname LIKE %s", (prefix.replace("_", r"\_") + "%",), server=server)
    return {name: (allow, comment) for name, allow, comment in rows}


def files(folder: Path) -> set:
    return {p.name for p in folder.iterdir()}


def lock_key(database: str) -> int:
    """The restore's advisory lock key, as the module documents it."""
    return int.from_bytes(hashlib.sha256(("ai_orchestrator.restore:" + database).encode()).digest()[:8], "big", signed=True)


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "backups"
    path.mkdir()
    return path


def test_backup_then_a_truncated_table_is_restored_and_the_previous_database_kept(drill_env, folder):
    with pg.seeded_db("rst", rows=500) as db:
        params = pg.drill_params(backup_dir=str(folder), database=db)
        seeded = pg.row_counts(db)
        # Database-level properties the restore must carry over to the new database.
        role = "t_rst_role_" + db[-8:]
        pg.query('CREATE ROLE "%s"' % role)
        try:
            pg.query('ALTER DATABASE "%s" SET work_mem = \'7MB\'' % db)
            pg.query('ALTER DATABASE "%s" SET search_path = "$user", public, "odd, name"' % db)
            pg.query('ALTER ROLE "%s" IN DATABASE "%s" SET statement_timeout = \'11s\'' % (role, db))
            pg.query('REVOKE ALL ON DATABASE "%s" FROM PUBLIC' % db)
            pg.query('GRANT CONNECT ON DATABASE "%s" TO "%s" WITH GRANT OPTION' % (db, role))
            pg.query('ALTER DATABASE "%s" OWNER TO "%s"' % (db, role))
            pg.query('ALTER DATABASE "%s" CONNECTION LIMIT 40' % db)
            pg.query("COMMENT ON DATABASE \"%s\" IS 'orders, do not drop'" % db)
            props_sql = ("SELECT pg_get_userbyid(datdba), datacl::text, datconnlimit, shobj_description(oid, 'pg_database'), "
                         "(SELECT array_agg(setrole::regrole::text || ':' || array_to_string(setconfig, ';') ORDER BY setrole) "
                         " FROM pg_db_role_setting WHERE setdatabase = d.oid) FROM pg_database d WHERE datname = %s")
            props = pg.query(props_sql, (db,))

            # Check mode plans the backup and writes nothing.
            plan = backup(params, check=True)
            assert not plan["failed"], plan
            assert plan["plan"]["enough_space"] and plan["plan"]["estimated_size_bytes"] > 0
            assert files(folder) == set()

            taken = backup(params)
            assert not taken["failed"], taken
            manifest = taken["backup"]["manifest"]
            assert manifest["tables"] == seeded and manifest["database"] == db and manifest["kind"] == "scheduled"
            assert files(folder) == {taken["backup"]["id"] + ".dump", taken["backup"]["id"] + ".manifest.json"}
            assert oct(os.stat(taken["backup"]["path"]).st_mode & 0o777) == "0o600"

            listed = info(pg.drill_params(backup_dir=str(folder)), latest=True)
            assert listed["backup"]["id"] == taken["backup"]["id"]
            assert listed["backup"]["verified"] and listed["backup"]["format"] == "custom"
            assert listed["backup"]["problems"] == [] and listed["backup"]["created_at_source"] == "manifest"

            # The incident: a table emptied, a row added to another after the backup.
            pg.query("TRUNCATE executions", dbname=db)
            pg.query("INSERT INTO workflows (name) VALUES ('after-the-backup')", dbname=db)
            damaged = pg.row_counts(db)
            bid = taken["backup"]["id"]
            ropts = dict(params, backup=bid)

            planned = restore(ropts, check=True)
            assert not planned["failed"], planned
            p = planned["plan"]
            assert p["confirm"] == bid and p["backup"]["created_at"] == manifest["created_at"]
            assert p["write_window"]["from"] == manifest["created_at"] and p["write_window"]["seconds"] >= 0
            assert p["row_differences"]["public.executions"] == {"current": 0, "backup": 500, "difference": -500}
            assert p["row_differences"]["public.workflows"]["difference"] == 1
            assert p["rows_not_in_backup"] == 1
            assert p["disk"]["ok"] and p["would_refuse"] == []
            assert pg.row_counts(db) == damaged and set(databases(db)) == {db}
            assert files(folder) == {bid + ".dump", bid + ".manifest.json"}

            for confirm in (None, "wrong-id"):
                refused = restore(dict(ropts, confirm=confirm) if confirm else ropts)
                assert refused["failed"] and refused["error_kind"] == "confirm_required", refused
                assert bid in refused["msg"] and refused["plan"]["confirm"] == bid
            assert pg.row_counts(db) == damaged and set(databases(db)) == {db}
            assert files(folder) == {bid + ".dump", bid + ".manifest.json"}

            writer = pg.admin(db)  # an application session: ended at the swap
            done = restore(dict(ropts, confirm=bid, checks=[
                {"name": "workflows are back", "sql": "SELECT count(*) FROM workflows", "expect_equal": 50},
                {"name": "executions", "sql": "SELECT count(*) FROM executions", "expect_min": 1}]))
            assert not done["failed"], (done.get("msg"), done.get("error_kind"), done)
            assert pg.row_counts(db) == seeded
            assert done["verification"]["compared"] and done["verification"]["ok"]
            assert all(c["ok"] for c in done["verification"]["counts"].values())
            assert [c["ok"] for c in done["verification"]["checks"]] == [True, True]
            assert done["sessions_ended"] >= 1 and 0 <= done["downtime_seconds"] < 10 and done["serving"]
            with pytest.raises(psycopg2.Error):
                writer.cursor().execute("SELECT 1")
            previous = done["previous_database"]
            assert previous.startswith(db + "_pre_restore_")
            kept = databases(db)
            assert set(kept) == {db, previous}
            assert kept[previous][0] is False and kept[previous][1].startswith("ai_orchestrator.restore ")
            assert json.loads(kept[previous][1].split(" ", 1)[1])["original_comment"] == "orders, do not drop"
            # The previous database holds the damaged data (let us look: allow a moment).
            pg.query('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % previous)
            assert pg.row_counts(previous) == damaged
            # Owner, grants, settings, connection limit and comment carried over.
            assert pg.query(props_sql, (db,)) == props
            safety = done["safety_backup"]
            assert Path(safety["path"]).exists()
            assert json.loads(Path(safety["manifest_path"]).read_text())["tables"] == damaged
            # The newest backup is now the safety copy of the damaged data: `latest` does not pick it.
            assert info(pg.drill_params(backup_dir=str(folder)), latest=True)["backup"]["id"] == bid
            assert info(pg.drill_params(backup_dir=str(folder)), latest=True, include_safety=True)["backup"]["id"] == safety["id"]
        finally:
            for name in databases(db):
                pg.drop_database(name)
            pg.query('DROP ROLE IF EXISTS "%s"' % role)


def test_a_corrupt_backup_is_refused_before_anything_changes(drill_env, folder):
    with pg.seeded_db("rstc", rows=300) as db:
        params = pg.drill_params(backup_dir=str(folder), database=db)
        taken = backup(params)
        assert not taken["failed"], taken
        path = Path(taken["backup"]["path"])
        data = bytearray(path.read_bytes())
        for offset in range(len(data) * 2 // 3, len(data) * 2 // 3 + 64):
            data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
        # A foreign copy (no manifest) corrupted the same way: only reading it through finds out.
        foreign = folder / "copy.dump"
        foreign.write_bytes(bytes(data))
        pg.query("DELETE FROM executions WHERE id > 100", dbname=db)
        before = pg.row_counts(db)
        listed = info(pg.drill_params(backup_dir=str(folder)), backup=taken["backup"]["id"])
        assert not listed["backup"]["verified"] and "sha256" in listed["backup"]["problems"][0]
        refused = restore(dict(params, backup=taken["backup"]["id"], confirm=taken["backup"]["id"]))
        assert refused["failed"] and refused["error_kind"] == "corrupt", refused
        assert "nothing was changed" in refused["msg"]
        fid = "copy.dump@" + hashlib.sha256(bytes(data)).hexdigest()[:12]
        refused = restore(dict(params, backup=fid, confirm=fid))
        assert refused["failed"] and refused["error_kind"] == "corrupt", refused
        assert pg.row_counts(db) == before and set(databases(db)) == {db}
        # No safety backup was taken either.
        assert files(folder) == {path.name, taken["backup"]["id"] + ".manifest.json", "copy.dump"}


def test_a_restore_already_running_is_refused(drill_env, folder):
    with pg.seeded_db("rstl", rows=10) as db:
        params = pg.drill_params(backup_dir=str(folder), database=db)
        taken = backup(params)
        holder = pg.admin("postgres")
        pid = holder.get_backend_pid()
        try:
            with holder.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (lock_key(db),))
            refused = restore(dict(params, backup=taken["backup"]["id"], confirm=taken["backup"]["id"]))
        finally:
            holder.close()
        assert refused["failed"] and refused["error_kind"] == "busy", refused
        assert "another restore of %s is running (pid %d" % (db, pid) in refused["msg"]
        assert set(databases(db)) == {db}


def test_leftovers_of_a_killed_run_are_repaired_first(drill_env, folder):
    with pg.seeded_db("rstk", rows=20) as db:
        params = pg.drill_params(backup_dir=str(folder), database=db)
        taken = backup(params)
        bid = taken["backup"]["id"]
        # What a run killed at two different moments leaves: a restoring database with the marker,
        # and the current database with connections disallowed by stop_writers.
        ghost = db + "__restoring_deadbeef"
        pg.query('CREATE DATABASE "%s" TEMPLATE template0' % ghost)
        pg.query("COMMENT ON DATABASE \"%s\" IS %%s" % ghost,
                 ('ai_orchestrator.restore {"database": "%s", "run": "deadbeef", "state": "restoring"}' % db,))
        pg.query("COMMENT ON DATABASE \"%s\" IS %%s" % db,
                 ('ai_orchestrator.restore {"database": "%s", "original_comment": "keep me", "run": "deadbeef", '
                  '"state": "stopping"}' % db,))
        pg.query('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % db)
        # Not ours (no marker): never touched.
        stranger = db + "__restoring_other"
        pg.query('CREATE DATABASE "%s" TEMPLATE template0' % stranger)

        planned = restore(dict(params, backup=bid), check=True)
        assert not planned["failed"], planned
        assert {(a["action"], a["database"]) for a in planned["plan"]["leftovers"]} == {("drop", ghost), ("allow", db)}
        assert databases(db)[db][0] is False  # check mode repaired nothing

        done = restore(dict(params, backup=bid, confirm=bid))
        assert not done["failed"], (done.get("msg"), done.get("error_kind"), done)
        assert {(a["action"], a["database"]) for a in done["cleaned_up"]} == {("drop", ghost), ("allow", db)}
        now = databases(db)
        assert ghost not in now and stranger in now
        assert now[db] == (True, "keep me")
        assert pg.row_counts(db) == {"public.workflows": 50, "public.executions": 20}


def test_a_failed_check_leaves_the_current_database_untouched(drill_env, folder):
    with pg.seeded_db("rstv", rows=30) as db:
        params = pg.drill_params(backup_dir=str(folder), database=db)
        bid = backup(params)["backup"]["id"]
        pg.query("DELETE FROM executions WHERE id > 10", dbname=db)
        failed = restore(dict(params, backup=bid, confirm=bid, safety_backup=False, checks=[
            {"name": "impossible", "sql": "SELECT count(*) FROM executions", "expect_min": 1000},
            {"name": "broken", "sql": "SELECT * FROM no_such_table"}]))
        assert failed["failed"] and failed["error_kind"] == "verification_failed", failed
        checks = failed["verification"]["checks"]
        assert [c["ok"] for c in checks] == [False, False] and checks[0]["value"] == 30
        assert "no_such_table" in checks[1]["error"]
        assert failed["dropped_restoring_database"].startswith(db + "__restoring_")
        assert set(databases(db)) == {db} and databases(db)[db][0] is True
        assert pg.row_counts(db)["public.executions"] == 10


def test_a_foreign_custom_dump_named_sql_is_restored_without_counts_to_compare(drill_env, folder):
    latest = dataplane.run_dir() / "backups" / "latest.dump"
    shutil.copy(latest, folder / "nightly.sql")
    shutil.copy(latest, folder / "nightly.dump")
    listed = info(pg.drill_params(backup_dir=str(folder)))
    assert not listed["failed"], listed
    by_name = {b["name"]: b for b in listed["backups"]}
    assert set(by_name) == {"nightly.sql", "nightly.dump"}
    for entry in by_name.values():
        assert entry["format"] == "custom" and entry["foreign"] and entry["verified"]
        assert entry["database"] == "orchestrator" and entry["created_at_source"] == "archive"
    fid = by_name["nightly.sql"]["id"]
    assert fid == "nightly.sql@" + hashlib.sha256(latest.read_bytes()).hexdigest()[:12]
    with pg.seeded_db("rstf", rows=5) as db:
        done = restore(pg.drill_params(backup_dir=str(folder), database=db, backup=fid, confirm=fid))
        assert not done["failed"], (done.get("msg"), done.get("error_kind"), done)
        v = done["verification"]
        assert v["compared"] is False and "could not be compared" in v["note"]
        expected = pg.row_counts("orchestrator")
        assert {k: c["actual"] for k, c in v["counts"].items()} == pg.row_counts(db) == expected
        assert done["plan"]["row_differences"] is None and done["plan"]["backup"]["foreign"]


# Long tier: the custom dump named .sql (above) proves the format is read from the content in make test.
@pytest.mark.long
def test_a_plain_sql_dump_named_dump_is_restored_with_psql_as_a_new_database(drill_env, folder):
    with pg.seeded_db("rsto", rows=40) as source, pg.scratch_db("rstn") as target:
        env = dict(os.environ, PGPASSWORD=pg.drill_password())
        subprocess.run([str(pg.PG_BINDIR / "pg_dump"), "-Fp", "-h", "127.0.0.1", "-p", str(pg.drill_port()), "-U",
                        "postgres", "-d", source, "-f", str(folder / "plain.dump")], env=env, check=True)
        pg.drop_database(target)  # restored as a new database of that name
        listed = info(pg.drill_params(backup_dir=str(folder)), backup="plain.dump")
        entry = listed["backup"]
        assert entry["format"] == "plain" and entry["foreign"] and entry["pg_dump_version"].startswith("15.")
        params = pg.drill_params(backup_dir=str(folder), database=target, backup=entry["id"], confirm=entry["id"])
        refused = restore(params)
        assert refused["failed"] and refused["error_kind"] == "not_found" and "if_missing" in refused["msg"]
        done = restore(dict(params, if_missing="create"))
        assert not done["failed"], done
        assert done["previous_database"] is None and done["serving"] and "safety_backup" not in done
        assert pg.row_counts(target) == pg.row_counts(source) == {"public.workflows": 50, "public.executions": 40}
        # pg_dump --create writes CREATE DATABASE and \connect: it would restore over the source itself.
        subprocess.run([str(pg.PG_BINDIR / "pg_dump"), "-Fp", "--create", "-h", "127.0.0.1", "-p", str(pg.drill_port()),
                        "-U", "postgres", "-d", source, "-f", str(folder / "create.sql")], env=env, check=True)
        refused = restore(dict(params, backup="create.sql", confirm="create.sql"))
        assert refused["failed"] and refused["error_kind"] == "corrupt" and "\\connect" in refused["msg"], refused


def test_local_tools_through_a_port_forward_to_the_database_pod(drill_env, folder):
    with pg.seeded_db("rstp", rows=300) as db:
        params = dict(pg.drill_params(), connect_via="port_forward", pod="statefulset/postgres",
                      pod_namespace=drill.NAMESPACE, kubeconfig=drill.kubeconfig(), backup_dir=str(folder), database=db)
        params.pop("login_port")
        taken = backup(params)
        assert not taken["failed"], taken
        bid = taken["backup"]["id"]
        pg.query("TRUNCATE executions", dbname=db)
        # Three pg_restore connections at once through the one forward.
        done = restore(dict(params, backup=bid, confirm=bid, jobs=3))
        assert not done["failed"], done
        assert pg.row_counts(db) == {"public.workflows": 50, "public.executions": 300}


def test_backup_and_restore_inside_the_database_pod(drill_env):
    kube = {"kubeconfig": drill.kubeconfig(), "tools_via": "exec", "pod": "statefulset/postgres",
            "pod_namespace": drill.NAMESPACE}
    pod_backups = dataplane.run_dir() / "backups"
    made = []
    try:
        with pg.seeded_db("rstx", rows=200) as db:
            params = pg.drill_params(database=db, **kube)
            taken = backup(params)
            assert not taken["failed"], taken
            bid = taken["backup"]["id"]
            made += [bid + ".dump", bid + ".manifest.json"]
            assert taken["backup"]["path"] == "/backups/%s.dump" % bid
            assert (pod_backups / (bid + ".dump")).exists()
            newest = info(dict(kube, database=db), latest=True)
            assert newest["backup"]["id"] == bid and newest["backup"]["verified"], newest
            pg.query("DELETE FROM executions WHERE id % 2 = 0", dbname=db)
            done = restore(dict(params, backup=bid, confirm=bid))
            if done.get("safety_backup"):
                made += [done["safety_backup"]["id"] + ".dump", done["safety_backup"]["id"] + ".manifest.json"]
            assert not done["failed"], (done.get("msg"), done.get("error_kind"), done)
            assert pg.row_counts(db) == {"public.workflows": 50, "public.executions": 200}
            assert "pod" in done["plan"]["disk"]["checks"][0]["where"]
        missing = info(dict(kube, pod="postgres-9"))
        assert missing["failed"] and missing["error_kind"] == "not_found" and "postgres-9" in missing["msg"], missing
    finally:
        for name in made:
            (pod_backups / name).unlink(missing_ok=True)


def test_no_room_for_the_backups_is_refused_with_the_numbers(drill_env, folder, tmp_path):
    with pg.seeded_db("rstd", rows=50) as db, pg.small_tmpfs(tmp_path / "tiny", "1m") as tiny:
        params = pg.drill_params(backup_dir=str(folder), database=db)
        bid = backup(params)["backup"]["id"]
        refused = backup(dict(params, backup_dir=str(tiny)))
        assert refused["failed"] and refused["error_kind"] == "disk", refused
        assert "bytes free" in refused["msg"] and os.listdir(tiny) == []
        for name in (bid + ".dump", bid + ".manifest.json"):
            shutil.copy(folder / name, tiny / name)
        pg.query("TRUNCATE executions", dbname=db)
        refused = restore(dict(params, backup_dir=str(tiny), backup=bid, confirm=bid))
        assert refused["failed"] and refused["error_kind"] == "disk", refused
        assert "safety backup" in refused["msg"] and "nothing was changed" in refused["msg"]
        assert set(os.listdir(tiny)) == {bid + ".dump", bid + ".manifest.json"}
        assert set(databases(db)) == {db} and pg.row_counts(db)["public.executions"] == 0


def test_a_standby_is_refused(tmp_path, folder):
    with pg.PrivateServer(tmp_path) as primary:
        with primary.standby(tmp_path) as standby:
            shutil.copy(dataplane.run_dir() / "backups" / "latest.dump", folder / "latest.dump")
            refused = restore(dict(standby.params, backup_dir=str(folder), database="orchestrator",
                                   backup="latest.dump", confirm="latest.dump"))
            assert refused["failed"] and refused["error_kind"] == "standby", refused


def test_server_killed_during_pg_restore_then_a_rerun_completes(tmp_path, folder):
    with pg.PrivateServer(tmp_path) as srv, pg.seeded_db("rsts", rows=200000, workflows=500, server=srv) as db:
        params = dict(srv.params, backup_dir=str(folder), database=db)
        taken = backup(params)
        assert not taken["failed"], taken
        bid = taken["backup"]["id"]
        pg.query("TRUNCATE executions", dbname=db, server=srv)
        result = {}
        runner = threading.Thread(target=lambda: result.update(restore(dict(params, backup=bid, confirm=bid, jobs=1))))
        runner.start()
        try:
            drill.wait_for(lambda: not runner.is_alive() or srv.query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_restore' AND datname LIKE %s",
                (db + "\\_\\_restoring\\_%",)), timeout=60, interval=0.05, message="pg_restore to run")
            assert runner.is_alive(), "the restore ended before pg_restore could be caught running: %s" % result
            srv.kill()
        finally:
            runner.join(120)
        assert result["failed"] and result["error_kind"] in ("tool", "unreachable"), result
        srv.start()
        # The current database was never touched: it serves, with the data it had.
        assert pg.row_counts(db, server=srv) == {"public.workflows": 500, "public.executions": 0}
        left = databases(db, server=srv)
        assert left[db][0] is True and any(n.startswith(db + "__restoring_") for n in left)
        done = restore(dict(params, backup=bid, confirm=bid))
        assert not done["failed"], (done.get("msg"), done.get("error_kind"), done)
        assert [a["action"] for a in done["cleaned_up"]] == ["drop"]
        assert pg.row_counts(db, server=srv) == {"public.workflows": 500, "public.executions": 200000}
        assert set(databases(db, server=srv)) == {db, done["previous_database"]}
