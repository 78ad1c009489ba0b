# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which pod and container a ``pod`` option names (module_utils/k8s/podref.py)."""
from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    InvalidInput,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import podref
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fake_k8s as fake
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NS = fake.NAMESPACE


def sts_pod(name, ordinal, ready=True, phase="Running", owner_uid="uid-postgres", containers=("postgres", "exporter"),
            annotations=None):
    return {
        "metadata": {"name": "%s-%d" % (name, ordinal), "labels": {"app.kubernetes.io/name": name},
                     "annotations": annotations or {}, "creationTimestamp": f.ts(100 - ordinal),
                     "ownerReferences": [{"kind": "StatefulSet", "name": name, "uid": owner_uid}]},
        "spec": {"containers": [{"name": c} for c in containers]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": containers[0], "ready": ready,
                                          "state": {"running": {}} if ready else {"waiting": {"reason": "CrashLoopBackOff"}}}]},
    }


def statefulset(name="postgres"):
    return {"metadata": {"name": name, "uid": "uid-" + name},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}}


@pytest.fixture
def cluster():
    client = fake.FakeClient()
    client.add("StatefulSet", statefulset())
    return client


@pytest.mark.parametrize("ref, expected", [
    ("postgres-0", ("Pod", "postgres-0")), ("pod/postgres-0", ("Pod", "postgres-0")),
    ("statefulset/postgres", ("StatefulSet", "postgres")), ("sts/postgres", ("StatefulSet", "postgres")),
    ("deployment/api", ("Deployment", "api")), ("deploy/api", ("Deployment", "api")),
])
def test_references_kubectl_accepts(ref, expected):
    assert podref.parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "service/postgres", "statefulset/", "Postgres-0", "a b", "daemonset/x"])
def test_other_references_are_refused(ref):
    with pytest.raises(InvalidInput):
        podref.parse_ref(ref)


def test_a_pod_by_name_and_its_default_container(cluster):
    cluster.add("Pod", sts_pod("postgres", 0, annotations={"kubectl.kubernetes.io/default-container": "exporter"}))
    assert podref.resolve_pod(cluster, NS, "postgres-0") == ("postgres-0", "exporter")
    assert podref.resolve_pod(cluster, NS, "pod/postgres-0", container="postgres") == ("postgres-0", "postgres")


def test_without_a_default_container_the_first(cluster):
    cluster.add("Pod", sts_pod("postgres", 0))
    assert podref.resolve_pod(cluster, NS, "postgres-0") == ("postgres-0", "postgres")


def test_a_container_the_pod_does_not_have(cluster):
    cluster.add("Pod", sts_pod("postgres", 0))
    with pytest.raises(NotFound, match="container 'pgbouncer' is not in pod postgres-0; its containers: postgres, exporter"):
        podref.resolve_pod(cluster, NS, "postgres-0", container="pgbouncer")


def test_a_missing_pod_is_named(cluster):
    with pytest.raises(NotFound, match="pod 'postgres-9' not found in namespace 'ai-orchestrator'"):
        podref.resolve_pod(cluster, NS, "postgres-9")


def test_a_pod_that_is_not_running_cannot_be_used(cluster):
    cluster.add("Pod", sts_pod("postgres", 0, ready=False, phase="Pending"))
    with pytest.raises(podref.PodUnavailable, match="postgres-0 is Pending, not Running"):
        podref.resolve_pod(cluster, NS, "postgres-0")


def test_a_running_pod_by_name_is_used_even_when_not_ready(cluster):
    # A database in crash recovery is not Ready yet: the operator may still want to look.
    cluster.add("Pod", sts_pod("postgres", 0, ready=False))
    assert podref.resolve_pod(cluster, NS, "postgres-0")[0] == "postgres-0"


def test_a_statefulset_means_its_lowest_ready_ordinal(cluster):
    cluster.add("Pod", sts_pod("postgres", 2), sts_pod("postgres", 0, ready=False), sts_pod("postgres", 1))
    assert podref.resolve_pod(cluster, NS, "statefulset/postgres") == ("postgres-1", "postgres")


def test_pods_the_statefulset_does_not_own_are_not_used(cluster):
    # Same labels, another owner: a leftover or an impostor.
    cluster.add("Pod", sts_pod("postgres", 0, owner_uid="uid-other"))
    with pytest.raises(podref.PodUnavailable, match="statefulset/postgres .* has no Ready pod; its pods: none"):
        podref.resolve_pod(cluster, NS, "statefulset/postgres")


def test_no_ready_pod_lists_the_pods_states(cluster):
    cluster.add("Pod", sts_pod("postgres", 0, ready=False), sts_pod("postgres", 1, ready=False, phase="Pending"))
    with pytest.raises(podref.PodUnavailable) as err:
        podref.resolve_pod(cluster, NS, "sts/postgres")
    assert "postgres-0 (Running, CrashLoopBackOff, not Ready), postgres-1 (Pending, CrashLoopBackOff, not Ready)" in str(err.value)
    assert isinstance(err.value, ClusterError)


def test_a_missing_workload_is_named(cluster):
    with pytest.raises(NotFound, match="StatefulSet 'pg' not found in namespace 'ai-orchestrator'"):
        podref.resolve_pod(cluster, NS, "statefulset/pg")


def test_a_deployment_means_its_oldest_ready_pod():
    client = fake.FakeClient()
    dep = f.deployment("pgbouncer")
    rs = f.replicaset(dep, 1, "abc12")
    rs["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "pgbouncer", "uid": dep["metadata"]["uid"]}]
    client.add("Deployment", dep).add("ReplicaSet", rs)
    client.add("Pod", f.pod(rs, "young", age=60), f.pod(rs, "old", age=900), f.pod(rs, "oldest", ready=False, age=5000))
    assert podref.resolve_pod(client, NS, "deployment/pgbouncer") == ("pgbouncer-abc12-old", "pgbouncer")


def test_a_forbidden_read_is_the_clients_message(cluster):
    denied = ClusterError("permission denied (403 Forbidden): this identity may not get pods", status=403)
    cluster.errors[("GET", cluster.path("Pod", "postgres-0"))] = denied
    with pytest.raises(ClusterError, match="may not get pods"):
        podref.resolve_pod(cluster, NS, "postgres-0")
