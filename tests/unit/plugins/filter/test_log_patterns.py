# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""log_patterns: error lines grouped with what varies masked."""

from __future__ import annotations

import random
import uuid

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.filter import logs


def test_occurrences_that_differ_only_in_ids_numbers_and_times_are_one_pattern():
    lines = ["2026-11-28T03:00:0%dZ stderr F 2026-11-28T03:00:0%dZ ERROR engine=n8n workflow=7 execution=%d id=%s from 10.0.0.%d: "
             "node HTTP failed after %d ms" % (i, i, 8800 + i, uuid.uuid4(), i, 100 * i) for i in range(5)]
    lines.insert(2, "2026-11-28T03:00:00Z stdout F INFO all good")
    result = logs.log_patterns(lines)
    assert len(result) == 1 and result[0]["count"] == 5
    assert "<uuid>" in result[0]["pattern"] and "<n>" in result[0]["pattern"] and "stderr F" not in result[0]["pattern"]
    assert "execution=8804" in result[0]["sample"] and result[0]["first"] == 0 and result[0]["last"] == 5


def test_different_errors_stay_apart_and_rank_by_count():
    lines = ["ERROR connection refused to langflow"] * 3 + ["ERROR credentials rejected by n8n: HTTP 401"] * 5
    result = logs.log_patterns(lines)
    assert [r["count"] for r in result] == [5, 3] and "401" not in result[0]["pattern"]


def test_counts_add_up_over_random_logs():
    rng = random.Random(7)
    templates = ["ERROR job %d failed", "WARN queue depth %d", "Exception in thread %d", "INFO ok %d"]
    for _i in range(200):
        lines = [rng.choice(templates) % rng.randint(0, 99999) for _j in range(rng.randint(0, 60))]
        result = logs.log_patterns(lines, top=0)
        matching = [line for line in lines if not line.startswith(("INFO", "WARN"))]
        assert sum(r["count"] for r in result) == len(matching)
        assert len(result) == len({line.split()[0] for line in matching})


def test_a_string_and_an_empty_match_work():
    assert logs.log_patterns("a 1\na 2\nb", "", 0)[0] == {"pattern": "a <n>", "count": 2, "sample": "a 2", "first": 0, "last": 1}


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="list of lines"):
        logs.log_patterns({"x": 1})
    with pytest.raises(AnsibleFilterError):
        logs.log_patterns(["x"], "(")
