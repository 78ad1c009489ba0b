# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration tests run against the drill environment (drill/env.sh).

`drill_env` brings the environment up once per pytest session and down at the end:

    DRILL_REUSE=1   use an environment that is already up instead of (re)starting it
    DRILL_KEEP=1    leave the environment running after the session

With pytest-xdist every worker shares one environment: the first worker brings it up,
the last one to finish brings it down (a reference count under a file lock).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

import dataplane as dataplane_helpers
import drill

# The data plane's session fixture (tests/integration/dataplane.py), for every test here.
dataplane = dataplane_helpers.dataplane

ENV_SH = drill.DRILL / "env.sh"


# Which tests may run beside which (make test runs pytest-xdist with --dist loadgroup): each
# group works in namespaces of its own, so groups run in parallel and a group's tests in order.
#   platform   the ai-orchestrator fixture and the data plane's stand-ins it checks
#   workloads  the drill-workloads namespace (production-shaped workloads, node faults on the reserved node)
#   campaign   generated namespaces camp-<seed>
#   own        tests that create and delete namespaces of their own (lease-, budget-, team-, shop-, lab-<hex>)
PARALLEL_GROUPS = {"test_campaign": "campaign", "test_drill_workloads": "workloads", "test_molecule_workloads": "workloads",
                   "test_service_lease": "own", "test_remediation_budget_race": "own", "test_namespace_credentials": "own",
                   "test_shared_incidents": "own", "test_notifications": "own", "test_escalation_check": "own", "test_eda_rulebook": "own", "test_alert_loop": "own", "test_raise_limits": "own",
                   "test_hotfix": "own",
                   "test_prometheus_query": "prometheus"}


# The molecule default scenario's destroy stops the shared environment: it runs last,
# whatever the test files' names.
LAST = "test_molecule_default_creates_and_destroys_the_drill_cluster"


def pytest_collection_modifyitems(config, items):
    items[:] = [i for i in items if i.name != LAST] + [i for i in items if i.name == LAST]
    for item in items:
        group = PARALLEL_GROUPS.get(item.module.__name__.rsplit(".", 1)[-1], "platform")
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config):
    config.addinivalue_line("markers", "drill: needs the drill environment (drill/env.sh: cluster and data plane)")
    config.addinivalue_line("markers", "long: only in the longer tier (make test-long): every drill, long campaigns")
    config.addinivalue_line("markers", "alone: stops a shared server (API server, PostgreSQL, Redis); runs after the others, by itself")


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _env_sh(command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ENV_SH), command], capture_output=True, text=True, timeout=timeout, check=False)


def _users(handle, delta: int) -> int:
    handle.seek(0)
    count = int(handle.read().strip() or 0) + delta
    handle.seek(0)
    handle.truncate()
    handle.write(str(max(count, 0)))
    handle.flush()
    return count


@pytest.fixture(scope="session")
def drill_env() -> dict[str, str]:
    """The running drill environment; yields its settings (drill/drill.env)."""
    settings = drill.env()
    # One count per test run (xdist gives its workers a shared run id), so a crashed
    # earlier run cannot leave a stale count behind.
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid{os.getpid()}")
    lock = Path(settings["DRILL_HOME"]) / f"pytest-env-{run_id}.lock"
    with _locked(lock) as handle:
        first = _users(handle, +1) == 1
        up = _env_sh("status", 60).returncode == 0
        # `env.sh up` is a no-op on a healthy environment; it also repairs a broken one.
        if not up or (first and os.environ.get("DRILL_REUSE") != "1"):
            proc = _env_sh("up", 900)
            if proc.returncode != 0:
                _users(handle, -1)
                pytest.fail(f"drill/env.sh up failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    yield settings
    with _locked(lock) as handle:
        last = _users(handle, -1) <= 0
        if last:
            lock.unlink(missing_ok=True)
            if os.environ.get("DRILL_KEEP") != "1":
                proc = _env_sh("down", 300)
                assert proc.returncode == 0, f"drill/env.sh down failed:\n{proc.stderr[-4000:]}"
