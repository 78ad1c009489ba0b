# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The workloads layer: paths, selectors, ownership, revisions, readiness."""
from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f


@pytest.mark.parametrize("args, path", [
    (("Pod", "ns"), "/api/v1/namespaces/ns/pods"),
    (("Pod", "ns", "p-1", "eviction"), "/api/v1/namespaces/ns/pods/p-1/eviction"),
    (("Deployment", "ns", "api", "scale"), "/apis/apps/v1/namespaces/ns/deployments/api/scale"),
    (("StatefulSet", "ns", "postgres"), "/apis/apps/v1/namespaces/ns/statefulsets/postgres"),
    (("Node",), "/api/v1/nodes"),
    (("Namespace", None, "ns"), "/api/v1/namespaces/ns"),
    (("PodMetrics", "ns"), "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods"),
])
def test_api_paths(args, path):
    assert wl.api_path(*args) == path


def test_namespaced_kinds_need_a_namespace():
    with pytest.raises(ValueError, match="namespaced"):
        wl.api_path("Pod")


def test_selector_string_covers_match_expressions():
    sel = {"matchLabels": {"a": "1"}, "matchExpressions": [
        {"key": "b", "operator": "In", "values": ["y", "x"]},
        {"key": "c", "operator": "NotIn", "values": ["z"]},
        {"key": "d", "operator": "Exists"},
        {"key": "e", "operator": "DoesNotExist"},
    ]}
    assert wl.selector_string(sel) == "a=1,b in (x,y),c notin (z),d,!e"
    assert wl.selector_string(None) == ""


def test_pods_belong_by_owner_references_not_labels():
    dep, other = f.deployment("api"), f.deployment("api-canary", uid="uid-canary")
    rs, rs_other = f.replicaset(dep, 1, "h1"), f.replicaset(other, 1, "h2")
    mine = f.pod(rs, "a")
    # Same labels as api's pods, owned by another Deployment's ReplicaSet.
    theirs = f.pod(rs_other, "b")
    theirs["metadata"]["labels"] = dict(mine["metadata"]["labels"])
    pods, replicasets = [mine, theirs], [rs, rs_other]
    assert wl.pods_of("Deployment", dep, pods, replicasets) == [mine]
    assert wl.pods_of("Deployment", other, pods, replicasets) == [theirs]


def test_statefulset_pods_are_owned_directly():
    sts = {"metadata": {"name": "db", "uid": "uid-db"}}
    pod = {"metadata": {"name": "db-0", "ownerReferences": [{"kind": "StatefulSet", "name": "db", "uid": "uid-db"}]}}
    stranger = {"metadata": {"name": "db-x", "ownerReferences": [{"kind": "StatefulSet", "name": "db", "uid": "uid-old"}]}}
    assert wl.pods_of("StatefulSet", sts, [pod, stranger]) == [pod]


def test_revisions_of_owned_replicasets_only():
    dep = f.deployment("api", revision=3)
    rs2, rs3 = f.replicaset(dep, 2, "old"), f.replicaset(dep, 3, "new")
    foreign = f.replicaset(f.deployment("x", uid="uid-x"), 1, "zz")
    assert wl.revisions(dep, [rs2, rs3, foreign]) == {2: rs2, 3: rs3}
    assert wl.revision(dep) == 3
    dep["metadata"]["annotations"][wl.REVISION_ANNOTATION] = "garbage"
    assert wl.revision(dep) == 0


def test_settled_needs_ready_updated_and_observed():
    assert wl.settled("Deployment", f.deployment("x", replicas=2, ready=2))
    dep = f.deployment("x", replicas=2, ready=2)
    dep["metadata"]["generation"] = 2
    assert not wl.settled("Deployment", dep)
    assert not wl.settled("Deployment", f.deployment("x", replicas=2, ready=1))
    assert not wl.settled("Deployment", f.deployment("x", replicas=2, ready=2, updated=1))
    assert wl.settled("Deployment", f.deployment("x", replicas=0, ready=0))


def test_statefulset_settles_only_on_its_update_revision():
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                      "currentRevision": "db-1", "updateRevision": "db-2"}}
    assert not wl.settled("StatefulSet", sts)
    sts["status"]["currentRevision"] = "db-2"
    assert wl.settled("StatefulSet", sts)
