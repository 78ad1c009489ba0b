# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Severity is judged on the namespace, also when only one service is diagnosed.

Each namespace is served by the in-memory API (fake_k8s), read by ``diagnosis.fetch``
and joined by ``diagnosis.build_report`` exactly as workload_health_info does, once
for the whole namespace and once per service (``service: X``).
"""

from __future__ import annotations

import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s.fake_k8s import NAMESPACE, FakeClient

# How the pods that are not ready fail.
BAD = {
    "crash": dict(ready=False, waiting="CrashLoopBackOff", last=("Error", 1), restarts=6),
    "unready": dict(ready=False),
}
NAMES = ("api-gateway", "auth-service", "workflow-service", "execution-service", "postgres", "redis", "n8n", "langflow", "web-ui")


def statefulset(name, replicas, ready):
    labels = {"app.kubernetes.io/name": name}
    return {
        "metadata": {"name": name, "uid": "uid-" + name, "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": "%s:1" % name}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas,
                   "currentRevision": name + "-1", "updateRevision": name + "-1"},
    }


def sts_pod(sts, ordinal, **state):
    # A StatefulSet pod has the same shape as a ReplicaSet's, owned by the StatefulSet.
    owner = {"metadata": {"name": sts["metadata"]["name"], "uid": sts["metadata"]["uid"],
                          "labels": dict(sts["spec"]["selector"]["matchLabels"])}}
    pod = f.pod(owner, str(ordinal), **state)
    pod["metadata"]["name"] = "%s-%d" % (sts["metadata"]["name"], ordinal)
    pod["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": sts["metadata"]["name"], "uid": sts["metadata"]["uid"]}]
    return pod


def namespace(workloads):
    """A fake API server holding ``workloads``: (kind, name, desired, ready, how the others fail)."""
    client = FakeClient()
    for kind, name, desired, ready, bad in workloads:
        if kind == "Deployment":
            dep = f.deployment(name, replicas=desired, ready=ready)
            rs = f.replicaset(dep, 1, "abc")
            pods = [f.pod(rs, "r%d" % i) for i in range(ready)] + [f.pod(rs, "b%d" % i, **BAD[bad]) for i in range(desired - ready)]
            client.add("Deployment", dep).add("ReplicaSet", rs)
        else:
            sts = statefulset(name, desired, ready)
            pods = [sts_pod(sts, i, **(dict() if i < ready else BAD[bad])) for i in range(desired)]
            client.add("StatefulSet", sts)
        if pods:
            client.add("Pod", *pods)
    return client


def judge(client, service=None, policy=None):
    raw = diagnosis.fetch(client, NAMESPACE, service, metrics=False)
    return diagnosis.build_report(raw, NAMESPACE, f.NOW, policy=policy)["severity"]


HEALTHY_PLATFORM = [
    ("Deployment", "api-gateway", 2, 2, "crash"),
    ("Deployment", "auth-service", 2, 2, "crash"),
    ("Deployment", "n8n", 1, 0, "crash"),
    ("StatefulSet", "postgres", 1, 1, "crash"),
]


def test_one_service_down_among_healthy_ones_is_not_all_services_down():
    """The bug: `service: n8n` judged n8n alone and said "P0 all services down"."""
    client = namespace(HEALTHY_PLATFORM)
    scoped = judge(client, "n8n")
    assert scoped["severity"] == "P2" and scoped["rule"] == "service_down"
    assert scoped["down"] == ["n8n"] and scoped["workloads_judged"] == 4
    assert "all services down" not in scoped["reason"]
    assert scoped == judge(client)


def test_a_scoped_run_of_a_healthy_service_still_sees_the_namespace():
    client = namespace(HEALTHY_PLATFORM)
    scoped = judge(client, "api-gateway")
    # n8n's pods were not read, but its readiness was: it is down.
    assert scoped["severity"] == "P2" and scoped["down"] == ["n8n"]


def test_a_scoped_major_service_down_is_p1_and_the_whole_namespace_down_is_p0():
    client = namespace([("Deployment", "api-gateway", 2, 0, "crash"), ("Deployment", "n8n", 1, 1, "crash")])
    assert judge(client, "api-gateway")["severity"] == "P1"
    client = namespace([("Deployment", "api-gateway", 2, 0, "crash"), ("StatefulSet", "postgres", 1, 0, "unready")])
    for service in ("api-gateway", "postgres", None):
        assert judge(client, service)["rule"] == "all_services_down"


def test_scoped_run_costs_no_request_per_pod():
    small, large = namespace(HEALTHY_PLATFORM), namespace(HEALTHY_PLATFORM + [("Deployment", "web-ui", 30, 30, "crash")])
    judge(small, "n8n")
    judge(large, "n8n")
    assert small.requests == large.requests


def test_the_policy_reaches_the_scoped_severity():
    client = namespace(HEALTHY_PLATFORM)
    assert judge(client, "api-gateway", policy={"major_services": ["n8n"]})["severity"] == "P1"


def test_unknown_service_still_names_the_existing_ones():
    with pytest.raises(Exception) as err:
        judge(namespace(HEALTHY_PLATFORM), "nope")
    assert "api-gateway" in str(err.value) and "postgres" in str(err.value)


@pytest.mark.parametrize("seed", range(12))
def test_a_scoped_run_never_derives_a_higher_severity_than_the_unscoped_run(seed):
    rnd = random.Random(seed)
    for dummy in range(6):
        names = rnd.sample(NAMES, rnd.randint(1, 6))
        workloads = []
        for name in names:
            desired = rnd.choice((0, 1, 1, 2, 3))
            ready = rnd.choice((0, desired, desired, rnd.randint(0, desired)))
            workloads.append((rnd.choice(("Deployment", "Deployment", "StatefulSet")), name, desired, ready, rnd.choice(tuple(BAD))))
        policy = {"major_services": rnd.sample(NAMES, rnd.randint(0, 4))}
        client = namespace(workloads)
        whole = judge(client, policy=policy)
        for _kind, name, _desired, _ready, _bad in workloads:
            scoped = judge(client, name, policy)
            context = (seed, workloads, policy["major_services"], name, scoped, whole)
            assert sev.rank(scoped["severity"]) >= sev.rank(whole["severity"]), context
            # Readiness is the namespace's in both: the same services are down.
            assert scoped["down"] == whole["down"] and scoped["workloads_judged"] == whole["workloads_judged"], context


def test_the_module_checks_the_policy_before_the_cluster_is_read():
    from ansible_collections.ai_orchestrator.incident_response.plugins.modules import workload_health_info as module

    spec = module.argspec()
    assert spec["policy"] == {"type": "dict", "default": {}}
    params = dict((k, v.get("default")) for k, v in spec.items())
    params.update(namespace=NAMESPACE, policy={"owners": {"crashlop": "development"}})
    client = namespace(HEALTHY_PLATFORM)
    with pytest.raises(InvalidInput, match="incident_policy.owners.crashlop"):
        module.diagnose(client, params)
    assert client.requests == 0
    params["policy"] = {"major_services": ["n8n"]}
    params["service"] = "api-gateway"
    assert module.diagnose(client, params)["severity"]["severity"] == "P1"
