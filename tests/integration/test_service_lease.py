# SPDX-License-Identifier: GPL-3.0-or-later
"""service_lease against the drill API server: one actor at a time on a service.

Works in a namespace of its own (lease-<hex>), created and deleted here; the Lease
needs no workload, but the service name is one of the platform's.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

import drill
from playbook import module

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
SERVICE = "api-gateway"
LEASE = "incident-response-" + SERVICE
INCIDENT_ANNOTATION = "incident-response.ai-orchestrator.io/incident"
A, B = "awx-job-42@node1", "alice@laptop:4711"


@pytest.fixture(scope="module")
def namespace():
    name = "lease-" + secrets.token_hex(4)
    drill.kubectl("create", "namespace", name, namespace=None)
    yield name
    drill.kubectl("delete", "namespace", name, "--wait=false", namespace=None, check=False)


@pytest.fixture
def ns(namespace):
    """The test namespace without a Lease in it."""
    drill.kubectl("delete", "lease", LEASE, "--ignore-not-found", namespace=namespace)
    return namespace


def lease(ns, check=False, **args):
    return module("service_lease", check=check, kubeconfig=drill.kubeconfig(), namespace=ns, service=SERVICE, **args)


def stored(ns):
    proc = drill.kubectl("get", "lease", LEASE, "-o", "json", namespace=ns, check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    import json

    return json.loads(proc.stdout)


def test_acquire_then_held_for_another_then_renewed(ns):
    first = lease(ns, holder=A, incident_id="incident-2026-11-26-031500")
    assert not first["failed"] and first["changed"] and first["acquired"] and first["action"] == "created", first
    assert first["lease"] == {"name": LEASE, "namespace": ns}
    created = stored(ns)
    assert created["spec"]["holderIdentity"] == A and created["spec"]["leaseDurationSeconds"] == 900
    assert created["metadata"]["annotations"][INCIDENT_ANNOTATION] == "incident-2026-11-26-031500"
    assert created["spec"]["renewTime"].endswith("Z") and "." in created["spec"]["renewTime"]  # MicroTime

    second = lease(ns, holder=B, incident_id="incident-2026-11-26-031700")
    assert not second["failed"] and not second["changed"] and not second["acquired"] and second["action"] == "held", second
    assert second["held_by"]["holder"] == A and second["held_by"]["incident_id"] == "incident-2026-11-26-031500"
    assert 800 < second["held_by"]["expires_in_seconds"] <= 900
    assert stored(ns)["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    renewed = lease(ns, holder=A)
    assert renewed["acquired"] and renewed["action"] == "renewed" and renewed["changed"]
    after = stored(ns)
    assert after["spec"]["acquireTime"] == created["spec"]["acquireTime"]
    assert after["spec"]["renewTime"] > created["spec"]["renewTime"]
    assert after["metadata"]["annotations"][INCIDENT_ANNOTATION] == "incident-2026-11-26-031500"  # kept


def test_an_expired_lease_is_taken_over(ns):
    assert lease(ns, holder=A, incident_id="incident-old", duration_seconds=30)["acquired"]
    long_ago = (datetime.now(timezone.utc) - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    drill.kubectl("patch", "lease", LEASE, "--type=merge", "-p",
                  '{"spec":{"renewTime":"%s","acquireTime":"%s"}}' % (long_ago, long_ago), namespace=ns)
    result = lease(ns, holder=B, incident_id="incident-new")
    assert result["acquired"] and result["action"] == "taken_over" and result["changed"], result
    after = stored(ns)
    assert after["spec"]["holderIdentity"] == B and after["spec"]["leaseTransitions"] == 1
    assert after["spec"]["leaseDurationSeconds"] == 900
    assert after["metadata"]["annotations"][INCIDENT_ANNOTATION] == "incident-new"


def test_release_by_a_non_holder_changes_nothing_and_by_the_holder_deletes(ns):
    assert lease(ns, holder=A)["acquired"]
    before = stored(ns)
    other = lease(ns, holder=B, state="absent")
    assert not other["failed"] and not other["changed"] and other["action"] == "not_holder", other
    assert other["held_by"]["holder"] == A and "not by this run" in other["msg"]
    assert stored(ns)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    mine = lease(ns, holder=A, state="absent")
    assert mine["changed"] and mine["action"] == "released" and mine["held_by"] is None, mine
    assert stored(ns) is None
    again = lease(ns, holder=A, state="absent")
    assert not again["changed"] and again["action"] == "absent"


def test_check_mode_writes_nothing(ns):
    would = lease(ns, check=True, holder=A)
    assert not would["failed"] and would["acquired"] and would["action"] == "created" and would["changed"], would
    assert "check mode" in would["msg"] and stored(ns) is None

    assert lease(ns, holder=A)["acquired"]
    before = stored(ns)["metadata"]["resourceVersion"]
    assert lease(ns, check=True, holder=B)["action"] == "held"
    assert lease(ns, check=True, holder=A)["action"] == "renewed"
    release = lease(ns, check=True, holder=A, state="absent")
    assert release["action"] == "released" and release["changed"]
    assert stored(ns)["metadata"]["resourceVersion"] == before


def test_an_unknown_namespace_fails_clearly(ns):
    missing = ns + "-missing"
    result = module("service_lease", kubeconfig=drill.kubeconfig(), namespace=missing, service=SERVICE, holder=A)
    assert result["failed"] and "namespace %r does not exist" % missing in result["msg"], result


def test_bad_input_fails_before_the_cluster_is_touched(ns):
    result = lease(ns, holder=A, duration_seconds=10)
    assert result["failed"] and "duration_seconds must be at least 30, not 10" in result["msg"]
    result = module("service_lease", kubeconfig=drill.kubeconfig(), namespace=ns, service="Api_Gateway", holder=A)
    assert result["failed"] and "not a DNS-1123 name" in result["msg"]
    assert stored(ns) is None


def test_racing_runs_exactly_one_acquires(ns):
    holders = ["racer-%d@node%d" % (i, i) for i in range(6)]
    with ThreadPoolExecutor(max_workers=len(holders)) as pool:
        results = list(pool.map(lambda h: lease(ns, holder=h, incident_id="incident-" + h.split("@")[0]), holders))
    assert not any(r["failed"] for r in results), [r["msg"] for r in results if r["failed"]]
    winners = [h for h, r in zip(holders, results) if r["acquired"]]
    assert len(winners) == 1, [r["msg"] for r in results]
    [winner] = winners
    for h, r in zip(holders, results):
        if h != winner:
            assert r["action"] == "held" and r["held_by"]["holder"] == winner, r
            assert r["held_by"]["incident_id"] == "incident-" + winner.split("@")[0]
    assert stored(ns)["spec"]["holderIdentity"] == winner
