# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Last-good workflow definitions on disk: ``<baseline_dir>/<engine name>/<workflow id>.json``.

A file holds the workflow exactly as the engine's API returns it (n8n's
``export:workflow --separate`` writes the same shape, so an operator's git checkout of n8n
exports is a baseline directory as it is), as JSON with sorted keys and two-space indents,
so that saving an unchanged workflow rewrites nothing. A file may also hold a list of
workflows (n8n's ``export:workflow --all``); the one with the id is used.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time

UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class BaselineError(InvalidInput):
    """A baseline file that cannot be read or written."""


def file_name(text):
    """A path component from an engine or workflow name/id: never a separator, never . or .."""
    name = UNSAFE.sub("_", str(text))
    return "_" + name if name in ("", ".", "..") else name


def baseline_path(directory, engine_name, workflow_id):
    return os.path.join(directory, file_name(engine_name), file_name(workflow_id) + ".json")


def render(raw):
    """The file content of a workflow: stable, so an unchanged workflow is byte-for-byte the same."""
    return json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_baseline(directory, engine_name, workflow_id, name=None):
    """{path, raw, saved_at} of the baseline of a workflow (by id, else by name), or None."""
    candidates = [baseline_path(directory, engine_name, workflow_id)]
    if name:
        candidates.append(baseline_path(directory, engine_name, name))
    for path in candidates:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                content = json.load(handle)
        except (OSError, ValueError) as exc:
            raise BaselineError("cannot read the baseline %s: %s" % (path, exc))
        if isinstance(content, list):
            content = next((w for w in content if isinstance(w, dict) and str(w.get("id")) == str(workflow_id)), None)
            if content is None:
                continue
        if not isinstance(content, dict):
            raise BaselineError("the baseline %s does not hold a workflow (a JSON object)" % path)
        saved = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        return {"path": path, "raw": content, "saved_at": format_time(saved)}
    return None


def write_baseline(path, content, check_mode=False):
    """Write ``content`` to ``path`` atomically unless it is already there; True when it changed
    (or, in check mode, would). Directories are created as needed (not in check mode)."""
    try:
        with open(path, encoding="utf-8") as handle:
            before = handle.read()
    except FileNotFoundError:
        before = None
    except OSError as exc:
        raise BaselineError("cannot read %s: %s" % (path, exc))
    if before == content:
        return False
    if check_mode:
        return True
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".baseline-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(content)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise BaselineError("cannot write %s: %s" % (path, exc))
    return True


def previous_content(path):
    """The current file content for a diff ("" when there is none)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""
