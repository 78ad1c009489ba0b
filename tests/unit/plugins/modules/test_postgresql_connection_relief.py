# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""postgresql_connection_relief's guardrails on its options, through AnsibleModule, no server needed.

Relief itself runs against real sessions in tests/integration/test_postgres_relief.py.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.modules import postgresql_connection_relief

from .incident_runner import run_module
from ports import free_port  # never a drill port (tests/integration/ports.py)

PASSWORD = "pg-pa55-1a2b3c"


def closed_port():
    return free_port()


@pytest.fixture
def run(capsys):
    def _run(check=False, **args):
        args.setdefault("login_host", "127.0.0.1")
        args.setdefault("login_port", closed_port())
        args.setdefault("login_password", PASSWORD)
        return run_module(postgresql_connection_relief, capsys, args, check=check)
    return _run


@pytest.mark.parametrize("args, message", [
    ({"idle_in_transaction_seconds": 5}, "idle_in_transaction_seconds must be at least 10, got 5"),
    ({"max_terminate": 0}, "max_terminate must be at least 1, got 0"),
    ({"only_when_usage_percent": 120}, "only_when_usage_percent must be between 0 and 100, got 120.0"),
    ({"protected_applications": ["batch-("]}, "invalid protected_applications pattern 'batch-('"),
    ({"query_max_chars": 3}, "query_max_chars must be at least 20, got 3"),
])
def test_unusable_options_fail_before_connecting(run, args, message):
    result = run(**args)
    assert result["failed"] and result["error_kind"] == "invalid_input"
    assert result["msg"].startswith(message) and result.get("changed") in (None, False)


def test_nothing_listening_is_unreachable_without_the_password(run):
    result = run(check=True)
    assert result["failed"] and result["error_kind"] == "unreachable"
    assert PASSWORD not in json.dumps(result)
