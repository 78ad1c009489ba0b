# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Backups: names, table-of-contents headers, ids, verification and the free-space rule, on a
fake file system. Real dumps are taken in tests/integration/test_postgres_backup_restore.py.
"""
from __future__ import annotations

import datetime
import hashlib
import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import GuardrailError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import backup as pb
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import PostgresError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 5, 9, 9, 0, 0, tzinfo=UTC)

TOC = """;
; Archive created at 2026-05-09 07:35:25 UTC
;     dbname: orchestrator
;     TOC Entries: 33
;     Compression: -1
;     Dump Version: 1.14-0
;     Format: CUSTOM
;     Integer: 4 bytes
;     Offset: 8 bytes
;     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)
;     Dumped by pg_dump version: 15.18 (Debian 15.18-0+deb12u1)
;
;
; Selected TOC Entries:
;
2; 3079 16416 EXTENSION - pg_stat_statements
219; 1259 16460 TABLE public engine_configs postgres
223; 1259 16500 TABLE public executions postgres
3406; 0 16460 TABLE DATA public engine_configs postgres
3410; 0 16500 TABLE DATA public executions postgres
"""


class FakeTools(object):
    """An in-memory backup directory; ``toc`` answers for custom dumps whose bytes are not 'BROKEN'."""

    via = "local"

    def __init__(self, files=None, free=10 ** 9):
        self.files = dict(files or {})
        self.backup_dir = "/b"
        self._free = free
        self.removed = []
        self.renamed = []

    def where(self):
        return "the control node"

    def path(self, name):
        return "/b/" + name

    def stat(self, path):
        if path not in self.files:
            return None
        return {"size": len(self.files[path]), "mtime": 1778310000, "device": "1", "type": "file"}

    def head(self, path, size=4096):
        return self.files[path][:size]

    def read_text(self, path, limit=1024 * 1024):
        return self.files[path][:limit].decode()

    def sha256(self, path):
        return hashlib.sha256(self.files[path]).hexdigest()

    def listdir(self, directory):
        return sorted(p.rsplit("/", 1)[1] for p in self.files)

    def toc(self, path):
        if b"BROKEN" in self.files[path]:
            raise PostgresError("pg_restore --list failed: input file does not appear to be a valid archive", kind="tool")
        return TOC

    def free(self, directory):
        return self._free, "dev:1"

    def remove(self, path):
        self.removed.append(path)
        self.files.pop(path, None)

    def rename(self, source, target):
        self.renamed.append((source, target))
        self.files[target] = self.files.pop(source)


def manifest_for(stem, content, **extra):
    body = {"id": stem, "database": "orchestrator", "format": "custom", "created_at": "2026-05-09T08:00:00Z",
            "sha256": hashlib.sha256(content).hexdigest(), "size_bytes": len(content), "kind": "scheduled",
            "tables": {"public.users": 3}}
    body.update(extra)
    return json.dumps(body).encode()


def test_names_and_stems():
    moment = datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)
    assert pb.backup_stem("orchestrator", moment) == "orchestrator-20260509T073525Z"
    assert pb.backup_stem("my db/äö", moment) == "my_db___-20260509T073525Z"
    assert pb.manifest_path_of("/b/x-20260509T073525Z.dump") == "/b/x-20260509T073525Z.manifest.json"
    assert pb.manifest_path_of("/b/latest.sql") == "/b/latest.sql.manifest.json"
    assert [pb.is_candidate(n) for n in ("a.dump", "a.manifest.json", "a.dump.partial", ".hidden")] == [
        True, False, False, False]
    assert pb.foreign_id("latest.dump", "5f541512f026a4d3" + "0" * 48) == "latest.dump@5f541512f026"


def test_the_table_of_contents_header():
    toc = pb.parse_toc(TOC)
    assert toc["archive_created_at"] == "2026-05-09 07:35:25 UTC"
    assert toc["dbname"] == "orchestrator" and toc["archive_format"] == "CUSTOM"
    assert toc["pg_dump_version"] == "15.18 (Debian 15.18-0+deb12u1)"
    assert (toc["entries"], toc["tables"], toc["table_data"]) == (5, 2, 2)
    assert pb.parse_archive_time(toc["archive_created_at"]) == datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)
    assert pb.parse_archive_time("2026-05-09 09:35:25 +02:00") == datetime.datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)
    assert pb.parse_archive_time("2026-05-09 09:35:25 CEST") is None
    assert pb.version_major(toc["server_version"]) == 15
    plain = pb.parse_plain_header("--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 14.9\n"
                                  "-- Dumped by pg_dump version 15.2\n")
    assert plain == {"server_version": "14.9", "pg_dump_version": "15.2"}


def test_a_manifest_backup_is_verified_against_its_checksum():
    content = b"PGDMP" + b"\x00" * 100
    stem = "orchestrator-20260509T080000Z"
    tools = FakeTools({"/b/%s.dump" % stem: content, "/b/%s.manifest.json" % stem: manifest_for(stem, content)})
    entry = pb.inspect(tools, "/b/%s.dump" % stem, now=NOW)
    assert entry["id"] == stem and not entry["foreign"] and entry["verified"] and entry["problems"] == []
    assert (entry["created_at"], entry["created_at_source"], entry["age_seconds"]) == ("2026-05-09T08:00:00Z", "manifest", 3600)
    tools.files["/b/%s.dump" % stem] = b"PGDMP" + b"\x01" * 100
    entry = pb.inspect(tools, "/b/%s.dump" % stem, now=NOW)
    assert not entry["verified"] and "does not match the manifest" in entry["problems"][0]


def test_a_foreign_dump_is_named_by_its_content_and_timed_by_its_archive():
    content = b"PGDMP custom dump named .sql"
    tools = FakeTools({"/b/nightly.sql": content, "/b/notes.txt": b"hello", "/b/broken.dump": b"PGDMP BROKEN"})
    entries, skipped = pb.list_backups(tools, "/b", now=NOW)
    by_name = {e["name"]: e for e in entries}
    assert set(by_name) == {"nightly.sql", "broken.dump"} and skipped == []
    nightly = by_name["nightly.sql"]
    assert nightly["format"] == "custom" and nightly["foreign"] and nightly["verified"]
    assert nightly["id"] == "nightly.sql@" + hashlib.sha256(content).hexdigest()[:12]
    assert (nightly["created_at"], nightly["created_at_source"]) == ("2026-05-09T07:35:25Z", "archive")
    assert nightly["database"] == "orchestrator"
    broken = by_name["broken.dump"]
    assert not broken["verified"] and "table of contents is not readable" in broken["problems"][0]


def test_newest_first_and_resolving_what_the_operator_typed():
    old, new = b"PGDMP old", b"PGDMP new"
    tools = FakeTools({
        "/b/db-20260509T070000Z.dump": old,
        "/b/db-20260509T070000Z.manifest.json": manifest_for("db-20260509T070000Z", old, created_at="2026-05-09T07:00:00Z"),
        "/b/db-20260509T080000Z.dump": new,
        "/b/db-20260509T080000Z.manifest.json": manifest_for("db-20260509T080000Z", new, created_at="2026-05-09T08:00:00Z"),
        "/b/latest.dump": b"PGDMP foreign",
    })
    entries, unused1 = pb.list_backups(tools, "/b", now=NOW, database="orchestrator")
    # The foreign dump's own archive time (07:35:25) places it between the two.
    assert [e["id"] for e in entries] == ["db-20260509T080000Z", pb.foreign_id("latest.dump", hashlib.sha256(
        b"PGDMP foreign").hexdigest()), "db-20260509T070000Z"]
    assert pb.resolve(tools, "/b", "db-20260509T070000Z")["path"] == "/b/db-20260509T070000Z.dump"
    assert pb.resolve(tools, "/b", "/b/latest.dump")["foreign"]
    fid = pb.resolve(tools, "/b", "latest.dump")["id"]
    assert pb.resolve(tools, "/b", fid)["path"] == "/b/latest.dump"
    tools.files["/b/latest.dump"] = b"PGDMP replaced since"
    with pytest.raises(GuardrailError, match="has changed since"):
        pb.resolve(tools, "/b", fid)
    with pytest.raises(PostgresError) as err:
        pb.resolve(tools, "/b", "db-20990101T000000Z")
    assert err.value.kind == "not_found"


class FakeSession(object):
    server_version_num = 150018

    def __init__(self, size):
        self.size = size
        self.statements = []

    def scalar(self, sql, args=None):
        self.statements.append(sql)
        return self.size


def test_no_room_is_refused_with_the_numbers_before_anything_is_dumped():
    tools = FakeTools(free=1000)
    plan = pb.plan_backup(FakeSession(10000), tools, "orchestrator", now=NOW)
    assert plan["path"] == "/b/orchestrator-20260509T090000Z.dump"
    assert (plan["required_free_bytes"], plan["free_bytes"], plan["enough_space"]) == (12000, 1000, False)
    with pytest.raises(GuardrailError) as err:
        pb.take_backup(FakeSession(10000), tools, "orchestrator", quote=str, plan=plan)
    assert err.value.kind == "disk" and "1000 bytes free, 12000 needed" in str(err.value)
    assert tools.files == {}


def test_a_second_backup_in_the_same_second_gets_its_own_name():
    tools = FakeTools({"/b/orchestrator-20260509T090000Z.dump": b"PGDMP"})
    assert pb.plan_backup(FakeSession(1), tools, "orchestrator", now=NOW)["path"] == "/b/orchestrator-20260509T090000Z-2.dump"
