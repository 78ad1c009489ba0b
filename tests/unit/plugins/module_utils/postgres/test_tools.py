# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client-program transports: options, output parsing, where the password goes, and the
argument vectors that reach a pod. Real pg_dump/pg_restore runs, locally and in the drill pod,
are in tests/integration/test_postgres_backup_restore.py.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import stat

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import podexec
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import tools as pt
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError


def params(**values):
    spec = {name: option.get("default") for name, option in pt.postgres_tools_argument_spec().items()}
    spec.update(pod=None, pod_namespace=None)
    spec.update(values)
    return spec


def test_the_doc_fragment_documents_exactly_the_argspec():
    fragment = importlib.import_module(
        "ansible_collections.ai_orchestrator.incident_response.plugins.doc_fragments.postgres_tools").ModuleDocFragment
    documented = yaml.safe_load(fragment.DOCUMENTATION)["options"]
    spec = pt.postgres_tools_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option.get("type", "str"), name
        assert documented[name].get("default") == option.get("default"), name
        assert sorted(documented[name].get("choices") or []) == sorted(option.get("choices") or []), name


@pytest.mark.parametrize("values, message", [
    ({"tools_via": "local"}, "backup_dir is required"),
    ({"tools_via": "exec", "pod": "postgres-0"}, "needs pod and pod_namespace"),
    ({"tools_via": "local", "backup_dir": "backups"}, "absolute path"),
    ({"tools_via": "local", "backup_dir": "/b", "tools_timeout": 5}, "at least 10"),
])
def test_unusable_options_are_refused_before_anything_runs(values, message):
    with pytest.raises(InvalidInput, match=message):
        pt.check_tools_params(params(**values))


def test_exec_defaults_to_the_pods_backups_volume():
    p = params(tools_via="exec", pod="statefulset/postgres", pod_namespace="db")
    pt.check_tools_params(p)
    assert pt.backup_dir_of(p) == "/backups"
    assert pt.backup_dir_of(params(backup_dir="/var/backups/pg/")) == "/var/backups/pg"


def test_versions_are_read_from_the_programs_own_words():
    v = pt.parse_version("pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")
    assert (v["major"], v["minor"], v["num"]) == (15, 18, 150018)
    assert pt.parse_version("psql (PostgreSQL) 17beta1")["major"] == 17
    with pytest.raises(PostgresError) as err:
        pt.parse_version("bash: pg_dump: command not found")
    assert err.value.kind == "tool"


def test_df_and_stat_output():
    df = ("Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
          "/dev/vda         264212084 24391360  71109904      26% /\n")
    assert pt.parse_df(df) == (71109904 * 1024, "/dev/vda", "/")
    wrapped = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
               "/dev/mapper/very-long-volume-name\n 1000 10 990 1% /backups\n")
    assert pt.parse_df(wrapped) == (990 * 1024, "/dev/mapper/very-long-volume-name", "/backups")
    assert pt.parse_stat("16728 1795787481 65024 regular file\n") == {
        "size": 16728, "mtime": 1795787481, "device": "65024", "type": "file"}
    assert pt.parse_stat("4096 1 2049 directory")["type"] == "directory"


def test_the_format_comes_from_the_content_never_the_name():
    assert pt.detect_format(b"PGDMP\x01\x0e\x00") == "custom"
    tar = bytearray(512)
    tar[257:262] = b"ustar"
    assert pt.detect_format(bytes(tar)) == "tar"
    assert pt.detect_format(b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.18\n") == "plain"
    assert pt.detect_format(b"", is_dir=True, has_toc=True) == "directory"
    assert pt.detect_format(b"", is_dir=True, has_toc=False) is None
    assert pt.detect_format(b"\x1f\x8b\x08\x00") is None
    assert "gunzip" in pt.format_problem(b"\x1f\x8b\x08\x00")
    assert pt.detect_format(b"SELECT 1;\n") is None
    assert pt.format_problem(b"") == "empty file"


def test_the_password_goes_to_a_private_file_never_the_environment_or_argv(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    kwargs = {"host": "db.example.com", "hostaddr": "127.0.0.1", "port": 41234, "user": "sre",
              "password": "pa:ss\\word", "dbname": "app", "sslmode": "verify-full", "connect_timeout": 5,
              "options": "-c statement_timeout=30s"}
    tools = pt.LocalTools(str(tmp_path), kwargs, pg_bindir=None, server_major=None)
    try:
        env = tools.env
        assert "PGPASSWORD" not in env and "pa:ss" not in repr(sorted(env.items()))
        assert (env["PGHOST"], env["PGHOSTADDR"], env["PGPORT"], env["PGUSER"], env["PGSSLMODE"]) == (
            "db.example.com", "127.0.0.1", "41234", "sre", "verify-full")
        assert "PGOPTIONS" not in env or env["PGOPTIONS"] == os.environ.get("PGOPTIONS")
        assert env["TZ"] == "UTC"
        passfile = env["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(passfile).st_mode) == 0o600
        with open(passfile) as handle:
            assert handle.read() == "*:*:*:*:pa\\:ss\\\\word\n"
    finally:
        tools.close()
    assert not os.path.exists(passfile)


def test_without_a_password_option_libpq_keeps_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    tools = pt.LocalTools(str(tmp_path), {"port": 5432}, server_major=None)
    assert tools.passfile is None and tools.env["PGPASSWORD"] == "from-the-environment"


def test_local_file_operations(tmp_path):
    tools = pt.LocalTools(str(tmp_path), {}, server_major=None)
    path = tools.path("x.manifest.json")
    tools.write_text(path, '{"id": "x"}\n')
    assert tools.read_text(path) == '{"id": "x"}\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not os.path.exists(path + ".partial")
    assert tools.stat(path)["type"] == "file" and tools.stat(tools.path("missing")) is None
    assert tools.listdir(str(tmp_path)) == ["x.manifest.json"]
    assert tools.sha256(path) == hashlib.sha256(b'{"id": "x"}\n').hexdigest()
    free, fs = tools.free(str(tmp_path))
    assert free > 0 and fs.startswith("dev:")
    tools.remove(path)
    tools.remove(path)  # already gone: fine
    assert tools.listdir(str(tmp_path)) == []
    with pytest.raises(PostgresError) as err:
        tools.listdir(str(tmp_path / "nope"))
    assert err.value.kind == "not_found"


def test_a_failing_program_is_a_tool_error_with_its_stderr(tmp_path):
    tools = pt.LocalTools(str(tmp_path), {}, server_major=None)
    with pytest.raises(PostgresError) as err:
        tools.checked(["sh", "-c", "echo 'pg_restore: error: could not read' >&2; exit 1"], "pg_restore of x")
    assert err.value.kind == "tool" and "could not read" in str(err.value) and "exit code 1" in str(err.value)


class FakePodExec(object):
    """Records argument vectors; answers from a table of (argv[3] program -> ExecResult)."""

    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def describe(self):
        return "pod db/postgres-0 (container postgres)"

    def run(self, argv, stdin=None, timeout=None):
        self.calls.append((list(argv), stdin))
        program = argv[2]
        answer = self.answers.get(program)
        if callable(answer):
            return answer(argv)
        return answer or podexec.ExecResult(0, b"", b"")


def test_exec_runs_argument_vectors_through_env_never_a_shell():
    pod = FakePodExec({"sha256sum": podexec.ExecResult(0, b"%s  /real/path/x.dump\n" % (b"ab" * 32), b""),
                       "stat": lambda argv: podexec.ExecResult(
                           1, b"", b"stat: cannot statx '/backups/missing': No such file or directory")})
    tools = pt.ExecTools("/backups", pod, login_user="postgres")
    assert tools.sha256("/backups/x.dump") == "ab" * 32
    assert tools.stat("/backups/missing") is None
    tools.dump("orchestrator", "/backups/o.dump.partial", snapshot="00000004-0000002A-1", lock_wait_seconds=5)
    argv = pod.calls[-1][0]
    assert argv[:2] == ["env", "TZ=UTC"] and argv[2] == "pg_dump"
    assert "--file=/backups/o.dump.partial" in argv and "--snapshot=00000004-0000002A-1" in argv
    assert argv[argv.index("-U") + 1] == "postgres" and "-w" in argv and "--lock-wait-timeout=5s" in argv
    assert not any(a.startswith("-h") or a.startswith("--host") or "password" in a.lower() for a in argv)


def test_exec_writes_a_file_with_dd_of_its_exact_length_then_renames_it():
    pod = FakePodExec()
    tools = pt.ExecTools("/backups", pod)
    tools.write_text("/backups/a.manifest.json", '{"id": "a"}\n')
    (dd, stdin), (mv, unused1) = pod.calls
    assert dd[2:] == ["dd", "of=/backups/a.manifest.json.partial", "bs=12", "count=1", "iflag=fullblock", "status=none"]
    assert stdin == b'{"id": "a"}\n'
    assert mv[2:] == ["mv", "-f", "/backups/a.manifest.json.partial", "/backups/a.manifest.json"]


def test_exec_restore_uses_parallel_jobs_for_custom_and_psql_for_plain():
    pod = FakePodExec()
    tools = pt.ExecTools("/backups", pod, login_user="app_owner")
    tools.restore("/backups/x.dump", "db__restoring_1", jobs=4, fmt="custom")
    argv = pod.calls[-1][0][2:]
    assert argv[:2] == ["pg_restore", "--exit-on-error"] and argv[argv.index("-j") + 1] == "4"
    assert argv[argv.index("-d") + 1] == "db__restoring_1" and argv[-1] == "/backups/x.dump"
    tools.restore("/backups/x.tar", "db__restoring_1", jobs=4, fmt="tar")
    assert "-j" not in pod.calls[-1][0]
    tools.restore("/backups/x.sql", "db__restoring_1", fmt="plain")
    argv = pod.calls[-1][0][2:]
    assert argv[0] == "psql" and "ON_ERROR_STOP=1" in argv and "--single-transaction" in argv
    assert argv[argv.index("-f") + 1] == "/backups/x.sql"


@pytest.mark.parametrize("status, expected", [
    ({"metadata": {}, "status": "Success"}, 0),
    ({"status": "Failure", "reason": "NonZeroExitCode",
      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}, 3),
    ({"status": "Failure", "reason": "InternalError", "message": "Internal error occurred: error executing command in "
      "container: cmd wait: sh -c exit 3: exit status 3"}, 3),
    ({"status": "Failure", "message": "cmd start: nope : exec: \"nope\": executable file not found in $PATH"}, 127),
    (None, -1),
])
def test_the_exit_code_comes_from_the_status_channel(status, expected):
    assert podexec.exit_code(status)[0] == expected


def test_a_plain_file_acting_outside_its_database_is_found(tmp_path):
    path = tmp_path / "all.sql"
    path.write_text("SET statement_timeout = 0;\nCREATE TABLE t (x int);\n\\connect orchestrator\n"
                    "CREATE ROLE app;\nCOPY t FROM stdin;\nCREATE DATABASE-looking data\n\\.\n")
    tools = pt.LocalTools(str(tmp_path), {}, server_major=None)
    assert tools.outside_database(str(path)) == ["3:\\connect orchestrator", "4:CREATE ROLE app;",
                                                 "6:CREATE DATABASE-looking data"]
    (tmp_path / "one.sql").write_text("CREATE TABLE t (x int);\n")
    assert tools.outside_database(str(tmp_path / "one.sql")) == []
    pod = FakePodExec({"grep": podexec.ExecResult(1, b"", b"")})
    assert pt.ExecTools("/backups", pod).outside_database("/backups/x.sql") == []
    assert pod.calls[0][0][2:6] == ["grep", "-n", "-m", "5"] and pod.calls[0][0][-1] == "/backups/x.sql"
