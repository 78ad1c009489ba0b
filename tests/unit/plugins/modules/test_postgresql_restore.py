# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""postgresql_restore's options: disk_check's spellings and the shared option groups.
The module itself runs against real servers in tests/integration/test_postgres_backup_restore.py."""
from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.connection import (
    postgres_argument_spec,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres.tools import (
    postgres_tools_argument_spec,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import (
    postgresql_backup,
    postgresql_backup_info,
    postgresql_restore,
)


@pytest.mark.parametrize("value, expected", [
    (True, "required"), ("true", "required"), ("True", "required"), ("yes", "required"), ("required", "required"),
    ("skip", "skip"), ("SKIP", "skip"),
])
def test_disk_check_spellings(value, expected):
    assert postgresql_restore.disk_check(value) == expected


@pytest.mark.parametrize("value", [False, "false", "no", "off", ""])
def test_disk_check_cannot_be_turned_off(value):
    with pytest.raises(InvalidInput, match="disk_check must be true"):
        postgresql_restore.disk_check(value)


@pytest.mark.parametrize("module", [postgresql_backup, postgresql_backup_info, postgresql_restore])
def test_every_module_takes_the_connection_and_tool_options(module):
    spec = module.argspec()
    assert set(postgres_argument_spec()) <= set(spec)
    assert set(postgres_tools_argument_spec()) <= set(spec)
    assert spec["login_password"]["no_log"] is True
