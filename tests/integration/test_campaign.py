# SPDX-License-Identifier: GPL-3.0-or-later
"""The randomized Service Down campaign (tests/integration/campaign.py) on namespaces the fixture does not have.

The short campaign runs in `make test` with fixed seeds that together cover every fault kind,
transient and persistent, several pods at once, StatefulSets, sidecars, PDBs and HPAs. The long
campaign (`make test-long`) runs fresh seeds: CAMPAIGN_COUNT of them (default 12), or exactly
CAMPAIGN_SEEDS (comma-separated) to replay a failure.
"""

from __future__ import annotations

import os
import random

import pytest

import campaign

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]

# Chosen (the two smallest, 7 pods in all, of seeds 1-3000) so that together they cover: crashloop,
# oomkilled, imagepull, notready; transient and persistent; several pods of one workload; StatefulSets;
# sidecars; PDBs; HPAs; usage at the limit (hands off: an HPA-managed Deployment is not scaled).
SHORT_SEEDS = (71, 281)


def test_short_seeds_cover_every_fault_kind_and_shape():
    """The fixed seeds are worth their minutes: together they exercise every fault and shape."""
    scenarios = [campaign.generate(seed) for seed in SHORT_SEEDS]
    transient = {f for s in scenarios for _, f, _ in s.transient}
    persistent = {w.persistent for s in scenarios for w in s.workloads if w.persistent}
    assert transient | persistent == set(campaign.FAULTS), (transient, persistent)
    assert transient and persistent
    assert any(n > 1 for s in scenarios for _, _, n in s.transient), "several pods of one workload"
    assert any(w.kind == "StatefulSet" for s in scenarios for w in s.workloads)
    assert any(w.sidecar for s in scenarios for w in s.workloads)
    assert any(w.pdb for s in scenarios for w in s.workloads)
    assert any(w.hpa for s in scenarios for w in s.workloads)
    assert any(s.usage for s in scenarios), "usage at the limit"


def test_generation_is_reproducible():
    assert campaign.generate(1234) == campaign.generate(1234)
    assert campaign.generate(1234) != campaign.generate(1235)


@pytest.mark.parametrize("seed", SHORT_SEEDS)
def test_short_campaign(seed, tmp_path):
    scenario, problems = campaign.play(seed, tmp_path)
    assert not problems, "\n".join(problems)


def _long_seeds():
    if os.environ.get("CAMPAIGN_SEEDS"):
        return [int(s) for s in os.environ["CAMPAIGN_SEEDS"].split(",") if s.strip()]
    rng = random.Random()
    return [rng.randrange(1, 10 ** 6) for _ in range(int(os.environ.get("CAMPAIGN_COUNT", "12")))]


@pytest.mark.long
@pytest.mark.parametrize("seed", _long_seeds(), ids=lambda seed: "replay-%d" % seed)
def test_long_campaign(seed, tmp_path):
    scenario, problems = campaign.play(seed, tmp_path)
    assert not problems, "\n".join(problems)
