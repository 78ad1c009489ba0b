# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore's pure parts: its lock key, markers, names, SQL quoting of copied settings and
grants, row differences and operator checks. The whole sequence (and its failures) runs against
real servers in tests/integration/test_postgres_backup_restore.py.
"""
from __future__ import annotations

import contextlib
import decimal
import hashlib

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import restore as pr
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError


def test_the_lock_key_is_the_documented_sql_formula():
    # ('x' || left(encode(sha256(...), 'hex'), 16))::bit(64)::bigint: the first 8 bytes, two's complement.
    for db in ("orchestrator", "t_rst_0a1b2c3d", "ümlaut"):
        hex16 = hashlib.sha256(("ai_orchestrator.restore:" + db).encode("utf-8")).hexdigest()[:16]
        value = int(hex16, 16)
        assert pr.lock_key(db) == (value - (1 << 64) if value >= 1 << 63 else value)
    assert pr.lock_key("a") != pr.lock_key("b")


def test_markers_are_recognised_and_nothing_else_is():
    text = pr.marker("stopping", database="orchestrator", run="ab12cd34", original_comment="keep me")
    assert text.startswith("ai_orchestrator.restore {")
    assert pr.read_marker(text) == {"database": "orchestrator", "run": "ab12cd34", "original_comment": "keep me",
                                    "state": "stopping"}
    for other in (None, "", "orders database", "ai_orchestrator.restore not json", "ai_orchestrator.restore [1]"):
        assert pr.read_marker(other) is None


@pytest.mark.parametrize("name, message", [
    ("", "database is required"),
    ("postgres", "cannot be restored"),
    ("template1", "cannot be restored"),
    ("x" * 34, "longer than 33 bytes"),
])
def test_database_names_that_cannot_be_restored(name, message):
    with pytest.raises(InvalidInput, match=message):
        pr.check_database_name(name)


def test_the_longest_name_still_fits_its_previous_copy():
    name = "x" * pr.MAX_DB_NAME
    pr.check_database_name(name)
    assert len(name + pr.PREVIOUS + "20260509090102" + "_2") <= 63
    assert len(name + pr.RESTORING + "0a1b2c3d") <= 63


def test_literals_are_quoted_whatever_standard_conforming_strings_says():
    assert pr.quote_literal("it's") == "'it''s'"
    assert pr.quote_literal("C:\\path") == "E'C:\\\\path'"
    assert pr.quote_literal(None) == "''"


def test_copied_settings_are_quoted_like_pg_dumpall():
    assert pr.setting_sql("work_mem=7MB", pr.quote_literal) == "work_mem TO '7MB'"
    assert pr.setting_sql('search_path="$user", public, "odd, name"', pr.quote_literal) == \
        "search_path TO '$user', 'public', 'odd, name'"
    assert pr.split_list_setting('"a""b", c') == ['a"b', "c"]
    assert pr.setting_sql("search_path=", pr.quote_literal) == "search_path TO ''"


def test_grants_are_read_from_the_acl():
    grants = pr.acl_grants(["postgres=CTc/postgres", "reader=c*/postgres", "=T/postgres", '"odd ""role"=Cc/postgres'])
    assert grants == [("postgres", ["CREATE", "TEMPORARY", "CONNECT"], False), ("reader", ["CONNECT"], True),
                      (None, ["TEMPORARY"], False), ('odd "role', ["CREATE", "CONNECT"], False)]


def test_row_differences_say_what_the_restore_will_not_bring_back():
    diffs, lost = pr.row_differences({"public.a": 10, "public.b": 0, "public.new": 4},
                                     {"public.a": 7, "public.b": 500, "public.gone": 3})
    assert diffs["public.a"] == {"current": 10, "backup": 7, "difference": 3}
    assert diffs["public.b"]["difference"] == -500
    assert diffs["public.new"] == {"current": 4, "backup": None, "difference": None}
    assert diffs["public.gone"] == {"current": None, "backup": 3, "difference": None}
    assert lost == 3 + 4


def test_operator_checks():
    assert pr.check_result({"expect_equal": 50}, 50)
    assert pr.check_result({"expect_equal": 50}, decimal.Decimal("50"))
    assert pr.check_result({"expect_equal": "ok"}, "ok")
    assert not pr.check_result({"expect_equal": 50}, 49)
    assert pr.check_result({"expect_min": 1}, 3) and not pr.check_result({"expect_min": 1}, 0)
    assert not pr.check_result({"expect_min": 1}, None) and not pr.check_result({"expect_min": 1}, "many")
    assert pr.check_result({}, None)
    assert pr.jsonable(decimal.Decimal("2.50")) == 2.5 and pr.jsonable(decimal.Decimal("3")) == 3
    pr.validate_checks([{"name": "n", "sql": "SELECT 1", "expect_min": 1}])
    with pytest.raises(InvalidInput, match="needs sql"):
        pr.validate_checks([{"name": "n"}])
    with pytest.raises(InvalidInput, match="unknown keys expect_max"):
        pr.validate_checks([{"sql": "SELECT 1", "expect_max": 3}])


# --- the swap's failure paths, on a fake server ----------------------------------------------

CURRENT = {"oid": 16384, "datname": "orders", "owner": "app", "comment": "orders, do not drop", "allowconn": True,
           "connlimit": -1, "acl": None, "size": 1000}


class FakeMaint(object):
    """Records statements; ``fail`` maps a statement prefix to the errors its next runs raise."""

    server_version_num = 150018

    def __init__(self, fail=None):
        self.statements = []
        self.fail = dict(fail or {})

    @contextlib.contextmanager
    def transaction(self, isolation=None):
        self.statements.append("BEGIN")
        try:
            yield self
        except BaseException:
            self.statements.append("ROLLBACK")
            raise
        self.statements.append("COMMIT")

    def execute(self, sql, args=None):
        for prefix, errors in self.fail.items():
            if sql.startswith(prefix) and errors:
                raise errors.pop(0)
        self.statements.append(sql)

    def query(self, sql, args=None):
        return []

    def one(self, sql, args=None):
        return dict(CURRENT) if "FROM pg_database d" in sql and args == ("orders",) else None

    def scalar(self, sql, args=None):
        return 1


class NoSleep(object):
    @staticmethod
    def monotonic():
        return 0.0

    @staticmethod
    def sleep(seconds):
        pass


def restore_with(maint):
    @contextlib.contextmanager
    def connect(name):
        yield maint

    params = {"database": "orders", "writers_timeout": 5, "backup": "b", "safety_backup": True, "jobs": 2}
    run = pr.Restore(params, maint, tools=None, connect=connect, quote=lambda n: '"%s"' % n,
                     quote_literal=pr.quote_literal, clock=NoSleep)
    run.result["plan"] = {"write_window": {}}
    return run


def test_a_failed_swap_lets_the_current_database_serve_again():
    denied = PostgresError("permission denied", kind="permission", sqlstate="42501")
    maint = FakeMaint(fail={'ALTER DATABASE "orders" RENAME': [denied]})
    run = restore_with(maint)
    with pytest.raises(PostgresError):
        run.swap_in(dict(CURRENT), "orders__restoring_0a1b2c3d", {"id": "b", "created_at": None})
    stop = maint.statements.index('ALTER DATABASE "orders" ALLOW_CONNECTIONS false')
    assert maint.statements[stop + 1] == "COMMIT"
    assert maint.statements[stop + 2:] == ["BEGIN", "ROLLBACK", "BEGIN", 'ALTER DATABASE "orders" ALLOW_CONNECTIONS true',
                                           "COMMENT ON DATABASE \"orders\" IS 'orders, do not drop'", "COMMIT"]
    assert "previous_database" not in run.result


def test_a_session_that_got_in_during_the_swap_is_ended_and_the_swap_retried():
    busy = PostgresError('database "orders" is being accessed by other users', kind="server", sqlstate="55006")
    maint = FakeMaint(fail={'ALTER DATABASE "orders" RENAME': [busy]})
    run = restore_with(maint)
    run.swap_in(dict(CURRENT), "orders__restoring_0a1b2c3d", {"id": "b", "created_at": None})
    previous = run.result["previous_database"]
    assert previous.startswith("orders_pre_restore_") and run.result["serving"]
    renames = [s for s in maint.statements if "RENAME" in s]
    assert renames == ['ALTER DATABASE "orders" RENAME TO "%s"' % previous,
                       'ALTER DATABASE "orders__restoring_0a1b2c3d" RENAME TO "orders"']
    marker = [s for s in maint.statements if s.startswith('COMMENT ON DATABASE "%s"' % previous)][0]
    assert '"state": "previous"' in marker and "orders, do not drop" in marker
