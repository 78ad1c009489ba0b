# SPDX-License-Identifier: GPL-3.0-or-later
"""The remediation budget holds when runs act on one workload at the same moment.

Works in a namespace of its own (budget-<hex>) with plain Deployments that kwok runs,
created and deleted here; the platform fixture is not touched.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import drill
from playbook import module

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"
RACERS = 4


@pytest.fixture
def ns():
    name = "budget-" + secrets.token_hex(4)
    drill.kubectl("create", "namespace", name, namespace=None)
    yield name
    drill.kubectl("delete", "namespace", name, "--wait=false", namespace=None, check=False)


def deployment(ns, name, replicas=1):
    drill.kubectl("create", "deployment", name, "--image=ghcr.io/ai-orchestrator/%s:1.0.0" % name, "--replicas=%d" % replicas, namespace=ns)
    drill.kubectl("rollout", "status", "deployment/" + name, "--timeout=90s", namespace=ns, timeout=120)


def history(ns, name):
    annotations = drill.kubectl_json("get", "deployment", name, namespace=ns)["metadata"].get("annotations") or {}
    return json.loads(annotations.get(HISTORY) or "[]")


def race(ns, count=RACERS, **args):
    def one(index):
        return module("workload_remediation", kubeconfig=drill.kubeconfig(), namespace=ns, incident_id="incident-race-%d" % index,
                      budget_max_actions=1, metrics_timeout=0, wait_timeout=120, **args)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_scales_with_a_budget_of_one_act_once(ns):
    deployment(ns, "web")
    results = race(ns, action="scale", service="web", scale_by=1)
    assert not any(r["failed"] for r in results), [r["msg"] for r in results]
    acted = [r for r in results if r["changed"]]
    assert len(acted) == 1, [r["msg"] for r in results]
    assert acted[0]["verified"] is True and not acted[0]["budget_exhausted"]
    for r in results:
        if r is not acted[0]:
            assert r["budget_exhausted"] and "remediation budget of Deployment/web used up (1 actions in 60 minutes)" in r["msg"], r
    assert drill.kubectl_json("get", "deployment", "web", namespace=ns)["spec"]["replicas"] == 2
    [entry] = history(ns, "web")
    assert entry["action"] == "scale" and entry["replicas"] == 2


@pytest.fixture(scope="module")
def collection():
    """The collection's module code, imported in this process (for races tighter than process start-up allows)."""
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader([os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(Path.home() / ".cache/aio-collections")])
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import KubeClient
    from ansible_collections.ai_orchestrator.incident_response.plugins.modules import workload_remediation

    return workload_remediation, KubeClient


def lockstep_race(collection, ns, count=RACERS, **args):
    """Runs whose first write waits until every run has read the workload: all of them saw the budget unused."""
    workload_remediation, KubeClient = collection
    barrier = threading.Barrier(count, timeout=30)

    class Racer(KubeClient):
        first = True

        def request(self, method, path, *a, **kw):
            if method != "GET" and self.first:
                self.first = False
                barrier.wait()
            return super(Racer, self).request(method, path, *a, **kw)

    def one(index):
        params = dict((name, spec.get("default")) for name, spec in workload_remediation.argspec().items())
        params.update(kubeconfig=drill.kubeconfig(), namespace=ns, incident_id="incident-race-%d" % index,
                      budget_max_actions=1, metrics_timeout=0, wait_timeout=120, **args)
        client = Racer.from_params(params)
        return workload_remediation.run(client, params)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize("action,args", [
    ("scale", {"scale_by": 1}),
    ("rollout_restart", {"min_restart_interval": 0}),
    ("delete_pod", {}),
])
def test_runs_that_all_read_the_budget_unused_still_act_once(ns, collection, action, args):
    deployment(ns, "svc", replicas=2)
    if action == "delete_pod":
        args = {"pods": [drill.pods(None, namespace=ns)[0].metadata.name]}
    results = lockstep_race(collection, ns, action=action, service="svc", **args)
    acted = [r for r in results if r["changed"]]
    assert len(acted) == 1, [r["msg"] for r in results]
    assert len([r for r in results if r["budget_exhausted"]]) == RACERS - 1, [r["msg"] for r in results]
    [entry] = history(ns, "svc")
    assert entry["action"] == action


def test_concurrent_restarts_with_a_budget_of_one_restart_once(ns):
    deployment(ns, "api")
    results = race(ns, action="rollout_restart", service="api", min_restart_interval=0)
    assert not any(r["failed"] for r in results), [r["msg"] for r in results]
    assert len([r for r in results if r["changed"]]) == 1, [r["msg"] for r in results]
    assert len([r for r in results if r["budget_exhausted"]]) == RACERS - 1
    assert len(history(ns, "api")) == 1


def test_a_namespace_wide_restart_skips_a_deployment_whose_budget_is_used_up(ns):
    deployment(ns, "spent")
    deployment(ns, "fresh")
    first = module("workload_remediation", kubeconfig=drill.kubeconfig(), namespace=ns, action="scale", service="spent",
                   replicas=2, budget_max_actions=1, metrics_timeout=0)
    assert first["changed"] and not first["failed"], first["msg"]
    result = module("workload_remediation", kubeconfig=drill.kubeconfig(), namespace=ns, action="rollout_restart",
                    all_deployments=True, budget_max_actions=1, min_restart_interval=0, wait_timeout=120)
    assert not result["failed"] and result["changed"], result["msg"]
    assert result["plan"]["fresh"] == "restart"
    assert result["plan"]["spent"].startswith("remediation budget used up (1 actions in 60 minutes)")
    assert any(s.startswith("skipped Deployment/spent: remediation budget used up") for s in result["steps"]), result["steps"]
    assert result["budget_exhausted"] is True
    assert len(history(ns, "spent")) == 1 and len(history(ns, "fresh")) == 1
