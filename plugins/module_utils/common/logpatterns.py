# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Error lines of a log grouped into patterns (runbook: "identify failure patterns").

A pattern is a line with what varies between occurrences masked - timestamps, UUIDs,
hexadecimal ids, IP addresses, quoted values, numbers - so a thousand "execution 8812
failed" lines are one pattern with a count and one sample line. Pure functions.
"""

from __future__ import annotations

import re

DEFAULT_MATCH = r"(?i)\b(error|exception|fail(ed|ure)?|fatal|panic|timeout|timed out|refused|denied|unauthori[sz]ed|traceback)\b"

# Order matters: the most specific masks first (a timestamp contains numbers).
_MASKS = (
    (re.compile(r"^\S+ (stdout|stderr) [FP] "), ""),  # the CRI log prefix (kubelet's log files)
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"), "<ip>"),
    (re.compile(r"\b(0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b(0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b"), "<hex>"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "<n>"),
)
_SPACES = re.compile(r"\s+")


def mask(line):
    """``line`` with its varying parts masked (the pattern it belongs to)."""
    text = line
    for regex, replacement in _MASKS:
        text = regex.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()


def log_patterns(lines, match=DEFAULT_MATCH, top=10, max_chars=300):
    """``[{pattern, count, sample, first, last}]`` of the lines that match ``match``, most frequent first.

    ``lines`` is a list of strings or one string; ``first``/``last`` are the indexes of the
    first and last occurrence (the log's order), ``sample`` the last occurrence as it was.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    regex = re.compile(match) if match else None
    groups = {}
    for index, line in enumerate(lines or []):
        if not isinstance(line, str) or not line.strip():
            continue
        if regex is not None and not regex.search(line):
            continue
        key = mask(line)[:max_chars]
        group = groups.get(key)
        if group is None:
            groups[key] = {"pattern": key, "count": 1, "sample": line.strip()[:max_chars], "first": index, "last": index}
        else:
            group["count"] += 1
            group["sample"] = line.strip()[:max_chars]
            group["last"] = index
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["first"]))
    return ranked[:top] if top else ranked
