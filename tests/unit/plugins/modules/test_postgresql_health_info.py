# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""postgresql_health_info's failures before and at connecting, through AnsibleModule, no server needed.

The diagnosis itself runs against real servers in tests/integration/test_postgres_health.py.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import postgresql_health_info

from .incident_runner import run_module
from ports import free_port  # never a drill port (tests/integration/ports.py)

PASSWORD = "pg-pa55-9f8e7d"


def closed_port():
    return free_port()


@pytest.fixture
def run(capsys):
    def _run(check=False, **args):
        args.setdefault("login_host", "127.0.0.1")
        args.setdefault("login_port", closed_port())
        args.setdefault("login_password", PASSWORD)
        return run_module(postgresql_health_info, capsys, args, check=check)
    return _run


@pytest.mark.parametrize("option, value, message", [
    ("top", 0, "top must be at least 1, got 0"),
    ("query_max_chars", 5, "query_max_chars must be at least 20, got 5"),
    ("idle_in_transaction_seconds", -1, "idle_in_transaction_seconds must be at least 0, got -1"),
    ("connect_timeout", 0, "connect_timeout must be at least 1 second, got 0"),
])
def test_unusable_options_fail_before_connecting(run, option, value, message):
    result = run(**{option: value})
    assert result["failed"] and result["error_kind"] == "invalid_input" and result["msg"] == message


def test_nothing_listening_is_unreachable_without_the_password(run):
    result = run(check=True, login_user="monitor", login_db="orchestrator")
    assert result["failed"] and result["error_kind"] == "unreachable"
    assert result["msg"].startswith("cannot connect to PostgreSQL monitor@127.0.0.1:")
    assert PASSWORD not in json.dumps(result)
