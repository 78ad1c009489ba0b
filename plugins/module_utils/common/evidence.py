# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Small checks the scenario assessments share: evidence shapes and the owner of a failure class."""

from __future__ import annotations

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput


def as_list(value, name):
    """``value`` as a list (None: empty); anything else is a caller's mistake, named."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("%s must be a list, not %s" % (name, type(value).__name__))
    return value


def as_dict(value, name):
    """``value`` as a dict (None: empty); anything else is a caller's mistake, named."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("%s must be a dict, not %s" % (name, type(value).__name__))
    return value


def owner(policy, cls):
    """The team the effective policy gives a failure class, else its default, else development."""
    owners = policy.get("owners") or {}
    return owners.get(cls) or owners.get("default") or "development"
