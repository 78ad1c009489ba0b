# SPDX-License-Identifier: GPL-3.0-or-later
"""Molecule drills on production-shaped workloads (namespace drill-workloads, drill/fixture-workloads).

workloads_transient: a StatefulSet pod, two of four web pods (one only in its sidecar), a matchExpressions
workload and a node-local image pull are all fixed in one run, each pod verified by uid, nothing else touched,
and the second run (molecule's idempotence step) opens no incident and acts on nothing.
workloads_hands_off: exhaustion on a StatefulSet and on an HPA-managed Deployment, a GitOps-owned crash, a
node that stopped reporting, a quota, and a persistent init-container crash after a ConfigMap change: each
escalated to its owner with its evidence, and nothing evicted, scaled or rolled back.
"""

from __future__ import annotations

import pytest

from playbook import molecule

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]


# workloads_transient runs in the long tier: the short campaign (test_campaign.py) fixes transient faults on
# every workload shape (StatefulSets, sidecars, init containers, matchExpressions) in make test already.
@pytest.mark.parametrize("scenario", [pytest.param("workloads_transient", marks=pytest.mark.long), "workloads_hands_off"])
def test_workload_drill(scenario):
    result = molecule(scenario)
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
