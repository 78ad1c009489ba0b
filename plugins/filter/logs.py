# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Log lines grouped into error patterns, as a Jinja filter (documented in log_patterns.yml)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common import logpatterns


def log_patterns(lines, match=logpatterns.DEFAULT_MATCH, top=10):
    """Error lines grouped by pattern (numbers, ids, timestamps masked), each with a count and a sample."""
    if lines is not None and not isinstance(lines, (str, list)):
        raise AnsibleFilterError("ai_orchestrator.incident_response.log_patterns: expects a list of lines or a string, not %s"
                                 % type(lines).__name__)
    try:
        return logpatterns.log_patterns(lines, match, int(top))
    except (re.error, ValueError, TypeError) as exc:
        raise AnsibleFilterError("ai_orchestrator.incident_response.log_patterns: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"log_patterns": log_patterns}
