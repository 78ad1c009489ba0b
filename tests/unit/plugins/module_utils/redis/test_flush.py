# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guarded flush without a server: what it would delete, what it refuses and why, the
commands it picks, saving protected keys first, check mode and a second run.

FakeRedis is in test_warmup.py. tests/integration/test_redis_flush_warmup.py runs the same
against real redis-servers (renamed commands, a replica, a cluster node, ACL users).
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import flush as fl
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import warmup as wu

from .test_warmup import FakeRedis, FakeServer


def params(**over):
    base = {"scope": "pattern", "patterns": ["cache:*"], "force": False, "save_to": None, "asynchronous": True,
            "keyspace_patterns": None, "protected_classes": None, "command_names": None, "scan_count": 3,
            "max_keys": 0}
    base.update(over)
    return base


def seeded(server=None, db=0):
    conn = FakeRedis(server or FakeServer(), db)
    for n in range(7):
        conn._set("cache:user:%d" % n, "u%d" % n)
    conn._hset("config:flags", "a", "1")
    conn._rpush("queue:jobs", "j1", "j2")
    conn._rpush("pending", "p1")  # an unmatched list: a queue by its type
    conn._set("session:abc", "s")
    conn._set("other", "o")
    return conn


def do(conn, check=False, **over):
    return fl.flush(conn, params(**over), check_mode=check, select_db=conn.select_db)


def refused(conn, check=False, **over):
    with pytest.raises(fl.FlushRefused) as exc:
        do(conn, check=check, **over)
    assert exc.value.result["refused"] == exc.value.reason
    return exc.value


# --- options --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("over, message", [
    ({"scope": "everything"}, "scope must be one of pattern, db, all"),
    ({"patterns": []}, "scope=pattern needs patterns"),
    ({"patterns": [""]}, "patterns must be non-empty globs"),
    ({"scope": "db", "patterns": ["cache:*"]}, "patterns only apply to scope=pattern"),
    ({"scan_count": 0}, "scan_count must be at least 1"),
    ({"max_keys": -1}, "max_keys must be >= 0"),
    ({"protected_classes": ["queue", "jobs"]}, "protected_classes jobs are not classes"),
    ({"keyspace_patterns": {"cache": 3}}, "keyspace_patterns.cache must be a list of key globs"),
])
def test_unusable_options(over, message):
    with pytest.raises(InvalidInput, match=message):
        fl.check_options(params(**over))


def test_partial_keyspace_patterns_replace_only_their_class():
    conn = seeded()
    conn._set("app:1", "x")
    conn._set("work:1", "x")
    exc = refused(conn, check=True, scope="db", patterns=[], protected_classes=["jobs"],
                  keyspace_patterns={"cache": ["app:*"], "jobs": ["work:*"]})
    assert exc.result["protected"] == {"jobs": 1}
    classes = exc.result["classes"]
    assert classes["cache"]["sample"] == ["app:1"] and classes["queue"]["keys"] == 2  # queue:* kept its default
    assert classes["unclassified"]["keys"] == 9  # cache:* and config:* are no longer cache


# --- pure decisions ----------------------------------------------------------------------------------------


ALL = dict((c, c) for c in ("SCAN", "TYPE", "DBSIZE", "DUMP", "PTTL", "UNLINK", "DEL", "FLUSHDB", "FLUSHALL"))


def test_plan_picks_the_commands_by_scope_and_mode():
    assert fl.plan_commands("pattern", True, ALL)["text"] == "SCAN MATCH + UNLINK"
    assert fl.plan_commands("pattern", False, ALL)["text"] == "SCAN MATCH + DEL"
    assert fl.plan_commands("db", True, ALL)["text"] == "FLUSHDB ASYNC"
    assert fl.plan_commands("all", False, ALL, version="7.0.15")["text"] == "FLUSHALL SYNC"
    assert fl.plan_commands("all", False, ALL, version="6.0.9")["text"] == "FLUSHALL"
    renamed = dict(ALL, FLUSHALL="OPS_FLUSHALL")
    assert fl.plan_commands("all", True, renamed)["text"] == "OPS_FLUSHALL ASYNC"


def test_pattern_scope_falls_back_to_del_when_only_unlink_is_missing():
    plan = fl.plan_commands("pattern", True, dict(ALL, UNLINK=None))
    assert plan["delete"] == "DEL" and plan["text"] == "SCAN MATCH + DEL (UNLINK unavailable)"
    with pytest.raises(fl.FlushRefused) as exc:
        fl.plan_commands("pattern", True, dict(ALL, UNLINK=None, DEL=None))
    assert exc.value.reason == "command_unavailable" and "UNLINK is renamed or disabled" in str(exc.value)


def test_a_missing_command_names_command_names():
    with pytest.raises(fl.FlushRefused) as exc:
        fl.plan_commands("all", True, dict(ALL, FLUSHALL=None))
    assert "FLUSHALL is renamed or disabled" in str(exc.value) and "command_names" in str(exc.value)
    with pytest.raises(fl.FlushRefused, match="DUMP, PTTL are renamed"):
        fl.plan_commands("db", True, dict(ALL, DUMP=None, PTTL=None), save=True)


def test_server_refusals():
    assert fl.server_refusal({"mode": "standalone", "role": "master"}) is None
    reason, message = fl.server_refusal({"mode": "standalone", "role": "replica", "primary": "10.0.0.5:6379"})
    assert reason == "replica" and "connect to the primary 10.0.0.5:6379" in message
    reason, message = fl.server_refusal({"mode": "cluster", "role": "master"})
    assert reason == "cluster" and message.startswith("cluster mode:") and "each primary" in message


def test_protection_refusals(tmp_path):
    opts = {"force": False, "save_to": None}
    assert fl.protection_refusal({}, opts) is None
    assert fl.protection_refusal({"queue": 2}, opts)[0] == "protected"
    assert fl.protection_refusal({"queue": 2}, dict(opts, force=True))[0] == "save_required"
    save = str(tmp_path / "s.jsonl")
    assert fl.protection_refusal({"queue": 2}, dict(opts, force=True, save_to=save), supports_binary=False)[0] == \
        "binary_transport"
    assert fl.protection_refusal({"queue": 2}, dict(opts, force=True, save_to=save)) is None
    open(save, "w").close()
    assert fl.protection_refusal({"queue": 2}, dict(opts, force=True, save_to=save))[0] == "save_exists"


# --- against the fake server -------------------------------------------------------------------------------


def test_pattern_flush_deletes_only_matching_keys_then_nothing():
    conn = seeded()
    result = do(conn, patterns=["cache:*", "cache:user:*"])  # overlapping: each key counts once
    assert result["changed"] and result["would_delete"] == 7 and result["deleted"] == 7
    assert result["classes"]["cache"]["keys"] == 7 and len(result["classes"]["cache"]["sample"]) == 5
    assert result["command"] == "SCAN MATCH + UNLINK" and result["protected"] == {}
    assert (result["dbsize_before"], result["dbsize_after"]) == (12, 5)
    assert sorted(conn.data) == [b"config:flags", b"other", b"pending", b"queue:jobs", b"session:abc"]
    again = do(conn)
    assert not again["changed"] and again["deleted"] == 0 and again["msg"].startswith("nothing to delete")


def test_check_mode_deletes_nothing_and_says_what_would_go():
    conn = seeded()
    result = do(conn, check=True, patterns=["cache:*", "config:*"])
    assert result["changed"] and result["would_delete"] == 8 and result["deleted"] == 0
    assert result["msg"].startswith("would delete 8 key(s) (cache 8)")
    assert len(conn.data) == 12
    writes = [name for _db, name, _args in conn.server.log if name in ("UNLINK", "DEL", "FLUSHDB", "FLUSHALL")]
    assert writes == []


def test_protected_keys_refuse_the_flush_with_what_was_found():
    conn = seeded()
    exc = refused(conn, scope="db", patterns=[])
    assert exc.reason == "protected" and exc.result["protected"] == {"queue": 2, "session": 1}
    assert "queue 2, session 1" in str(exc) and "force=true with save_to" in str(exc)
    assert exc.result["classes"]["queue"]["types"] == {"list": 2}
    assert len(conn.data) == 12  # nothing deleted
    exc = refused(conn, check=True, scope="all", patterns=[], force=True)
    assert exc.reason == "save_required"


def test_the_protected_classes_are_the_operators():
    conn = seeded()
    result = do(conn, check=True, scope="db", patterns=[], protected_classes=["lock"])
    assert result["changed"] and result["protected"] == {}
    exc = refused(conn, check=True, patterns=["o*"], protected_classes=["unclassified"])
    assert exc.result["protected"] == {"unclassified": 1}


def test_forced_flush_saves_protected_keys_first_and_warmup_restores_them(tmp_path):
    server = FakeServer()
    conn = seeded(server)
    other = seeded(server, db=3)
    other._pexpire("queue:jobs", 50_000)
    protected = (b"queue:jobs", b"pending", b"session:abc")
    before = dict((db, {k: (v[0], v[1]) for k, v in server.db(db).items() if k in protected}) for db in (0, 3))
    save = tmp_path / "incident" / "saved.jsonl"
    result = do(conn, scope="all", patterns=[], force=True, save_to=str(save))
    assert result["deleted"] == 24 and result["dbsize_after"] == 0 and result["command"] == "FLUSHALL ASYNC"
    assert result["saved"]["keys"] == 6 and result["saved"]["path"] == str(save) and result["db"] is None
    assert os.stat(save).st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in save.read_text().splitlines()]
    assert sorted((r["db"], r["key"], r["type"]) for r in lines) == [
        (0, "pending", "list"), (0, "queue:jobs", "list"), (0, "session:abc", "string"),
        (3, "pending", "list"), (3, "queue:jobs", "list"), (3, "session:abc", "string")]
    assert [r["pttl"] for r in lines if r["db"] == 3 and r["key"] == "queue:jobs"] == [50_000]
    later = lines[0]["saved_at"] + 10_000  # restored 10 s after the save
    restored = wu.warmup(conn, wu.normalize_entries(wu.load_src(str(save)), now_ms=later), select_db=conn.select_db)
    assert restored["written"] == 6 and restored["missing"] == []
    after = dict((db, {k: (v[0], v[1]) for k, v in server.db(db).items()}) for db in (0, 3))
    assert after == before
    assert other._pttl("queue:jobs") == 40_000
    # an existing save file is never overwritten
    seeded(server)
    exc = refused(conn, scope="db", patterns=[], force=True, save_to=str(save))
    assert exc.reason == "save_exists"


def test_pattern_flush_spares_protected_keys_that_appear_after_the_inspection(tmp_path):
    conn = FakeRedis()
    conn._rpush("jobs:1", "a")  # an unmatched list: a queue
    conn._set("jobs:2", "x")
    original = fl.inspect

    def inspect_then_a_queue_appears(*args, **kwargs):
        tally = original(*args, **kwargs)
        conn._rpush("jobs:3", "late")
        return tally
    fl.inspect = inspect_then_a_queue_appears
    try:
        result = do(conn, patterns=["jobs:*"], force=True, save_to=str(tmp_path / "s.jsonl"))
    finally:
        fl.inspect = original
    assert result["saved"]["keys"] == 1 and result["deleted"] == 2 and result["spared"] == 1
    assert result["spared_sample"] == ["jobs:3"] and sorted(conn.data) == [b"jobs:3"]


def test_max_keys_refuses_a_pattern_flush_that_is_too_big():
    conn = seeded()
    exc = refused(conn, max_keys=6)
    assert exc.reason == "max_keys" and "7 keys match cache:*, more than max_keys 6" in str(exc)
    assert do(conn, max_keys=7)["deleted"] == 7


def test_db_scope_leaves_other_dbs_and_counts_in_the_same_transaction():
    server = FakeServer()
    seeded(server, db=1)
    conn = FakeRedis(server, 2)
    conn._set("cache:x", "1")
    result = do(conn, scope="db", patterns=[])
    assert result["deleted"] == 1 and result["db"] == 2 and result["command"] == "FLUSHDB ASYNC"
    assert len(server.db(1)) == 12 and server.db(2) == {}
    assert not do(conn, scope="db", patterns=[])["changed"]


def test_replica_and_cluster_are_refused_before_anything_is_read():
    conn = seeded()
    conn.server.role, conn.server.primary = "slave", "10.1.2.3:6379"
    exc = refused(conn, check=True)
    assert exc.reason == "replica" and "10.1.2.3:6379" in str(exc) and exc.result["server"]["primary"] == "10.1.2.3:6379"
    conn.server.role, conn.server.cluster = "master", True
    exc = refused(conn)
    assert exc.reason == "cluster" and exc.result["would_delete"] == 0
    assert not any(name == "SCAN" for _db, name, _args in conn.server.log)


def test_renamed_flushall_is_refused_then_works_when_mapped():
    conn = seeded()
    conn.server.renamed = {"FLUSHALL": "OPS_FLUSHALL"}
    exc = refused(conn, scope="all", patterns=[], protected_classes=[])
    assert exc.reason == "command_unavailable" and "FLUSHALL" in str(exc) and "command_names" in str(exc)
    wrong = refused(conn, scope="all", patterns=[], protected_classes=[], command_names={"FLUSHALL": "FLUSH_EVERYTHING"})
    assert wrong.reason == "command_unavailable"  # a wrong mapping is caught before anything goes
    result = do(conn, scope="all", patterns=[], protected_classes=[], command_names={"flushall": "OPS_FLUSHALL"})
    assert result["command"] == "OPS_FLUSHALL ASYNC" and result["deleted"] == 12 and conn.data == {}


def test_unlink_disabled_falls_back_to_del():
    conn = seeded()
    conn.server.renamed = {"UNLINK": ""}
    result = do(conn)
    assert result["command"] == "SCAN MATCH + DEL (UNLINK unavailable)" and result["deleted"] == 7


def test_save_over_exec_is_refused(tmp_path):
    conn = seeded()
    conn.supports_binary = False
    exc = refused(conn, scope="db", patterns=[], force=True, save_to=str(tmp_path / "s.jsonl"))
    assert exc.reason == "binary_transport" and "connect_via=exec" in str(exc)
