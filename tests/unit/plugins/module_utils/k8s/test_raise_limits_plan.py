# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""raise_limits in the plans: with the operator's limits_bound, where the runbook would otherwise escalate.

Every case goes the playbook's way: raw API objects through ``diagnosis.build_report``,
then ``classify.plan_namespace`` with the report's pod summaries. Without a bound the
plans stay exactly what they were; a random-namespace invariant checks both sides.
"""

from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import random_workloads as rw
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import test_workload_shapes as shapes

OK = shapes.OK
MAIN = shapes.MAIN
BOUND = {"memory": "4Gi", "cpu": "4"}
OOM = {"statuses": {MAIN: shapes.crashing(reason="OOMKilled", exit_code=137)}}


def plans_for(raw, bound=None, max_replicas=10, **kw):
    bound = BOUND if bound is None else bound
    report = diagnosis.build_report(raw, shapes.NS, f.NOW, **kw)
    plans = classify.plan_namespace(report["workloads"], max_replicas, 1, report["others"], None, bound, report["pods"])
    shapes.assert_sane(report, plans)
    return report, plans


def only(plans):
    [plan] = plans
    return plan


def app_with(name, memory="512Mi", cpu="500m", states=(OOM, OOM), kind="Deployment", **kw):
    containers = [shapes.ctr(name, limits={"cpu": cpu, "memory": memory})]
    if kind == "StatefulSet":
        return shapes.statefulset_app(name, list(states), containers=containers)
    return shapes.deployment_app(name, list(states), containers=containers, **kw)


# --- the bound -----------------------------------------------------------------------


@pytest.mark.parametrize("bound, message", [
    ("4Gi", "limits_bound must be a dict"),
    ({"memory": "4Gi", "mem": "1Gi"}, "unknown key\\(s\\) mem"),
    ({"memory": "four"}, "limits_bound.memory must be a Kubernetes quantity above 0"),
    ({"cpu": "0"}, "limits_bound.cpu must be a Kubernetes quantity above 0"),
    ({"memory": "4Gi", "factor": 1}, "limits_bound.factor must be a number above 1"),
    ({"memory": "4Gi", "factor": "x"}, "limits_bound.factor must be a number above 1"),
    ({"memory": "4Gi", "usage_threshold": 90}, "limits_bound.usage_threshold must be a share of the limit"),
])
def test_an_unusable_bound_is_refused_before_any_plan(bound, message):
    with pytest.raises(InvalidInput, match=message):
        classify.limits_bound_spec(bound)
    with pytest.raises(InvalidInput, match=message):
        classify.plan_namespace([], limits_bound=bound, pods=[])


def test_the_bound_takes_strings_from_jinja_and_defaults():
    spec = classify.limits_bound_spec({"memory": "4Gi", "cpu": 2, "factor": "2"})
    assert spec == {"memory": (4 * 2 ** 30, "4Gi"), "cpu": (2.0, "2"), "factor": 2.0, "usage_threshold": 0.9}
    assert classify.limits_bound_spec({})["factor"] == classify.DEFAULT_LIMITS_FACTOR == 1.5


@pytest.mark.parametrize("resource, value, text", [
    ("memory", 768 * 2 ** 20, "768Mi"), ("memory", 2 ** 30, "1Gi"), ("memory", 1.5 * 2 ** 30, "1536Mi"),
    ("memory", 750e6, "716Mi"), ("memory", 3379.2 * 2 ** 20, "3380Mi"),
    ("cpu", 0.75, "750m"), ("cpu", 3.0, "3"), ("cpu", 0.3125, "313m"), ("cpu", 1.65, "1650m"),
])
def test_new_limits_are_written_rounded_up(resource, value, text):
    assert classify.format_quantity(resource, value) == text
    assert classify.parse_quantity(text) >= value


@pytest.mark.parametrize("resource, current, bound, expected", [
    ("memory", "512Mi", {"memory": "4Gi"}, ("768Mi", None)),
    ("memory", "3Gi", {"memory": "4Gi"}, ("4Gi", None)),                       # x1.5 is above the bound: capped
    ("memory", "3Gi", {"memory": "4000Mi"}, ("4000Mi", None)),
    ("memory", "4Gi", {"memory": "4Gi"}, (None, "memory limit 4Gi is already at or above the bound 4Gi")),
    ("memory", "6Gi", {"memory": "4Gi"}, (None, "memory limit 6Gi is already at or above the bound 4Gi")),
    ("cpu", "500m", {"memory": "4Gi"}, (None, "limits_bound has no cpu bound")),
    ("memory", None, {"memory": "4Gi"}, (None, "there is no memory limit to raise")),
    ("cpu", "1", {"cpu": "4", "factor": 2}, ("2", None)),
])
def test_one_raise_multiplies_by_the_factor_and_stops_at_the_bound(resource, current, bound, expected):
    assert classify.raised_limit(resource, current, classify.limits_bound_spec(bound)) == expected


# --- OOM kills -----------------------------------------------------------------------


def test_every_replica_oom_killed_raises_the_memory_limit():
    report, plans = plans_for(shapes.raw_namespace(app_with("n8n")))
    plan = only(plans)
    assert (plan["classification"], plan["action"]) == ("oom", "raise_limits")
    assert plan["limits"] == {"n8n": {"memory": "768Mi"}} and plan["previous_limits"] == {"n8n": {"memory": "512Mi"}}
    assert (plan["pods"], plan["replicas"], plan["proposed"], plan["owner"]) == ([], None, None, "development")
    assert plan["reason"] == ("Deployment/n8n: every replica OOM-killed (container n8n) and no recent rollout explains it; "
                              "raise the limits (x1.5, bound memory 4Gi): n8n memory 512Mi -> 768Mi")


def test_without_a_bound_the_same_workload_escalates_as_before():
    raw = shapes.raw_namespace(app_with("n8n"))
    report = diagnosis.build_report(raw, shapes.NS, f.NOW)
    plan = only(classify.plan_namespace(report["workloads"], others=report["others"]))
    assert plan["action"] == "escalate" and "persistent fault" in plan["reason"]
    assert "limits" not in plan and "previous_limits" not in plan
    for empty in (None, {}):
        assert classify.plan_namespace(report["workloads"], 10, 1, report["others"], None, empty, report["pods"]) == [plan]


def test_a_memory_limit_already_at_the_bound_escalates_saying_so():
    _report, plans = plans_for(shapes.raw_namespace(app_with("n8n", memory="4Gi")))
    plan = only(plans)
    assert plan["action"] == "escalate" and plan["limits"] is None and plan["previous_limits"] is None
    assert "persistent fault" in plan["reason"]
    assert plan["reason"].endswith("limits not raised: container n8n: memory limit 4Gi is already at or above the bound 4Gi")


def test_an_oom_kill_without_a_memory_limit_is_not_a_limit_to_raise():
    app = shapes.deployment_app("n8n", [OOM, OOM], containers=[shapes.ctr("n8n", limits={"cpu": "500m"})])
    plan = only(plans_for(shapes.raw_namespace(app))[1])
    assert plan["action"] == "escalate" and "container n8n: there is no memory limit to raise" in plan["reason"]


def test_one_oom_killed_replica_among_healthy_ones_is_still_deleted():
    app = app_with("n8n", states=(OK, OOM, OK))
    plan = only(plans_for(shapes.raw_namespace(app))[1])
    assert (plan["action"], plan["pods"], plan["limits"]) == ("delete_pod", [app["pods"][1]["metadata"]["name"]], None)
    assert "limits not raised" not in plan["reason"]


def test_a_single_oom_killed_replica_gets_its_limit_raised_not_a_delete():
    plan = only(plans_for(shapes.raw_namespace(app_with("redis", kind="StatefulSet", states=(OOM,))))[1])
    assert (plan["kind"], plan["action"], plan["owner"]) == ("StatefulSet", "raise_limits", "database")
    assert plan["limits"] == {"redis": {"memory": "768Mi"}}


def test_a_single_replica_at_the_bound_keeps_its_one_delete():
    plan = only(plans_for(shapes.raw_namespace(app_with("redis", memory="8Gi", kind="StatefulSet", states=(OOM,))))[1])
    assert plan["action"] == "delete_pod" and plan["pods"] == ["redis-0"]
    assert "limits not raised: container redis: memory limit 8Gi is already at or above the bound 4Gi" in plan["reason"]


def test_replicas_failing_in_different_ways_are_not_an_oom_to_raise():
    app = app_with("n8n", states=(OOM, {"statuses": {MAIN: shapes.crashing()}}))
    plan = only(plans_for(shapes.raw_namespace(app))[1])
    assert plan["classification"] == "oom" and plan["action"] == "escalate"
    assert plan["reason"].endswith("limits not raised: not every replica was OOM-killed")


def test_only_the_containers_killed_are_raised():
    containers = [shapes.ctr("api-gateway", limits={"cpu": "500m", "memory": "512Mi"}),
                  shapes.ctr("istio-proxy", "docker.io/istio/proxyv2:1.22.3", limits={"cpu": "200m", "memory": "256Mi"})]
    killed = {"statuses": {"istio-proxy": shapes.crashing(reason="OOMKilled", exit_code=137)}}
    app = shapes.deployment_app("api-gateway", [killed, killed], containers=containers,
                                pod_annotations={"kubectl.kubernetes.io/default-container": "api-gateway"})
    plan = only(plans_for(shapes.raw_namespace(app))[1])
    assert plan["action"] == "raise_limits"
    assert plan["limits"] == {"istio-proxy": {"memory": "384Mi"}} and plan["previous_limits"] == {"istio-proxy": {"memory": "256Mi"}}


def test_a_recent_rollout_that_oom_kills_is_rolled_back_not_raised():
    dep = shapes.deployment("n8n", containers=[shapes.ctr("n8n")], replicas=2, revision=2)
    old = shapes.replicaset(dep, 1, "5c6d7e8f9", age=shapes.DAY)
    new = shapes.replicaset(dep, 2, "7d4b9c8f6", age=300)
    pods = shapes.rs_pods(new, [OOM, OOM])
    dep["status"] = shapes._workload_status(pods, 2)
    plan = only(plans_for(shapes.raw_namespace({"deployments": [dep], "replicasets": [old, new], "pods": pods}))[1])
    assert (plan["action"], plan["limits"]) == ("rollback", None)


def test_a_recreate_deployment_is_not_planned_a_raise_its_rollout_would_be_an_outage():
    plan = only(plans_for(shapes.raw_namespace(app_with("n8n", strategy="Recreate")))[1])
    assert plan["action"] == "escalate"
    assert plan["reason"].endswith("limits not raised: its Recreate strategy would stop every replica at once to roll new limits out")


def test_gitops_managed_workloads_get_the_raise_proposed_not_made():
    marker = {"annotations": {"argocd.argoproj.io/tracking-id": "platform:apps/Deployment:ai-orchestrator/n8n"}}
    plan = only(plans_for(shapes.raw_namespace(app_with("n8n", **marker)))[1])
    assert (plan["action"], plan["proposed"], plan["limits"], plan["previous_limits"]) == ("escalate", "raise_limits", None, None)
    assert "Argo CD" in plan["reason"] and "n8n memory 512Mi -> 768Mi" in plan["reason"]


# --- resource exhaustion -------------------------------------------------------------


def hot(app, usage, container=None):
    name = container or app.get("deployments", app.get("statefulsets"))[0]["metadata"]["name"]
    return shapes.hot(app, name, usage)


def test_an_exhausted_statefulset_gets_the_exhausted_resource_raised():
    app = app_with("postgres", kind="StatefulSet", states=(OK, OK))
    report, plans = plans_for(shapes.raw_namespace(app, metrics=hot(app, {"cpu": "490m", "memory": "100Mi"})))
    plan = only(plans)
    assert (plan["classification"], plan["action"]) == ("resource_exhaustion", "raise_limits")
    assert plan["owner"] == classify.owner_for("StatefulSet", "resource_exhaustion")  # who gets it when the raise is not enough
    assert plan["limits"] == {"postgres": {"cpu": "750m"}} and plan["previous_limits"] == {"postgres": {"cpu": "500m"}}
    assert "more replicas would not relieve it; container postgres at the limit" in plan["reason"]


def test_both_exhausted_resources_are_raised_together():
    app = app_with("postgres", kind="StatefulSet", states=(OK,))
    plan = only(plans_for(shapes.raw_namespace(app, metrics=hot(app, {"cpu": "490m", "memory": "500Mi"})))[1])
    assert plan["limits"] == {"postgres": {"cpu": "750m", "memory": "768Mi"}}


def test_half_a_fix_is_not_planned():
    """CPU can be raised, memory is at its bound: raising CPU alone would leave the exhaustion."""
    app = app_with("postgres", memory="4Gi", kind="StatefulSet", states=(OK,))
    plan = only(plans_for(shapes.raw_namespace(app, metrics=hot(app, {"cpu": "490m", "memory": "3990Mi"})))[1])
    assert plan["action"] == "escalate" and plan["limits"] is None
    assert plan["reason"].endswith("limits not raised: container postgres: memory limit 4Gi is already at or above the bound 4Gi")


@pytest.mark.parametrize("current, maximum", [(3, 3), (2, 10)])
def test_an_hpa_managed_deployment_gets_its_limits_raised(current, maximum):
    app = app_with("api-gateway", states=[OK] * current)
    raw = shapes.raw_namespace(app, hpas=[shapes.hpa("api-gateway", 1, maximum, current)], metrics=hot(app, {"cpu": "480m", "memory": "10Mi"}))
    plan = only(plans_for(raw)[1])
    assert (plan["action"], plan["limits"]) == ("raise_limits", {"api-gateway": {"cpu": "750m"}})


def test_a_deployment_below_its_maximum_is_still_scaled():
    app = app_with("api-gateway", states=(OK, OK))
    plan = only(plans_for(shapes.raw_namespace(app, metrics=hot(app, {"cpu": "480m", "memory": "10Mi"})))[1])
    assert (plan["action"], plan["replicas"], plan["limits"]) == ("scale", 3, None)


def test_a_deployment_at_the_maximum_replicas_gets_its_limits_raised():
    app = app_with("api-gateway", states=(OK, OK))
    plan = only(plans_for(shapes.raw_namespace(app, metrics=hot(app, {"cpu": "480m", "memory": "10Mi"})), max_replicas=2)[1])
    assert (plan["action"], plan["replicas"], plan["limits"]) == ("raise_limits", None, {"api-gateway": {"cpu": "750m"}})


SIDECAR_APP = [shapes.ctr("api-gateway"), shapes.ctr("istio-proxy", "docker.io/istio/proxyv2:1.22.3", limits={"cpu": "200m", "memory": "256Mi"})]


def sidecar_app(usage):
    app = shapes.deployment_app("api-gateway", [OK, OK], containers=SIDECAR_APP,
                                pod_annotations={"kubectl.kubernetes.io/default-container": "api-gateway"})
    metrics = shapes.pod_metrics(dict((p["metadata"]["name"], usage) for p in app["pods"]))
    return shapes.raw_namespace(app, metrics=metrics)


def test_only_a_sidecar_at_its_limit_gets_the_sidecar_raised_and_keeps_its_owner():
    plan = only(plans_for(sidecar_app({"api-gateway": {"cpu": "10m", "memory": "10Mi"}, "istio-proxy": {"cpu": "195m", "memory": "10Mi"}}))[1])
    assert (plan["action"], plan["limits"]) == ("raise_limits", {"istio-proxy": {"cpu": "300m"}})
    assert plan["owner"] == classify.owner_for("Deployment", "sidecar_exhaustion")
    assert "sidecar istio-proxy at the limit" in plan["reason"]


def test_main_and_sidecar_at_their_limits_raise_the_main_container_only():
    plan = only(plans_for(sidecar_app({"api-gateway": {"cpu": "495m", "memory": "10Mi"}, "istio-proxy": {"cpu": "195m", "memory": "10Mi"}}),
                          max_replicas=2)[1])
    assert (plan["action"], plan["limits"]) == ("raise_limits", {"api-gateway": {"cpu": "750m"}})


def test_usage_below_the_bound_threshold_is_not_raised():
    """The diagnosis judged at 80%; a bound that says 90% finds nothing to raise and says so."""
    app = app_with("postgres", kind="StatefulSet", states=(OK,))
    raw = shapes.raw_namespace(app, metrics=hot(app, {"cpu": "425m", "memory": "10Mi"}))
    plan = only(plans_for(raw, usage_threshold=0.8)[1])
    assert plan["action"] == "escalate" and plan["reason"].endswith("limits not raised: no container is at 90% of a limit in the pod summaries")
    plan = only(plans_for(raw, bound=dict(BOUND, usage_threshold=0.8), usage_threshold=0.8)[1])
    assert plan["action"] == "raise_limits"


def test_plans_for_other_controllers_carry_the_limit_fields_too():
    daemon = shapes.make_pod("fluentd-x7k2p", shapes.owner_ref("DaemonSet", "fluentd", "ds-uid"), [shapes.ctr("fluentd")],
                             statuses={MAIN: shapes.crashing()})
    plan = only(plans_for(shapes.raw_namespace(extra_pods=[daemon]))[1])
    assert (plan["kind"], plan["action"], plan["limits"], plan["previous_limits"]) == ("DaemonSet", "escalate", None, None)


def test_without_pod_summaries_a_bound_raises_nothing_and_says_why():
    report = diagnosis.build_report(shapes.raw_namespace(app_with("n8n")), shapes.NS, f.NOW)
    plan = classify.plan_remediation(report["workloads"][0], limits_bound=BOUND)
    assert plan["action"] == "escalate" and plan["reason"].endswith("limits not raised: no pod summaries were given to read the containers' limits from")


# --- any namespace ---------------------------------------------------------------------


SEEDS = range(300)


@pytest.mark.parametrize("chunk", range(4))
def test_random_namespaces_never_raise_above_the_bound_never_lower_and_never_without_one(chunk):
    """Over random diagnosed namespaces: with a bound every proposed limit is at most the bound and above
    the limit it replaces; without one no plan raises limits and no plan has limit fields."""
    raised = 0
    for seed in SEEDS[chunk::4]:
        report, rng = rw.diagnose_random(seed)
        bound = rw.random_bound(rng)
        max_replicas = rng.randint(1, 6)
        plain = classify.plan_namespace(report["workloads"], max_replicas, 1, report["others"])
        shapes.assert_sane(report, plain)
        assert all(p["action"] != "raise_limits" and "limits" not in p and "previous_limits" not in p for p in plain), seed
        bounded = classify.plan_namespace(report["workloads"], max_replicas, 1, report["others"], None, bound, report["pods"])
        shapes.assert_sane(report, bounded)
        if not bound:  # an empty bound is no bound
            assert bounded == plain, seed
            continue
        spec = classify.limits_bound_spec(bound)
        assert len(bounded) == len(plain), seed
        for before, plan in zip(plain, bounded):
            assert (plan["workload"], plan["kind"]) == (before["workload"], before["kind"])
            if plan["action"] != "raise_limits":
                assert plan["limits"] is None and plan["previous_limits"] is None, seed
                # A bound changes only plans that would escalate, or keep deleting a single replica's pod.
                assert (plan["action"], plan["pods"], plan["replicas"]) == (before["action"], before["pods"], before["replicas"]), seed
                continue
            raised += 1
            assert before["action"] in ("escalate", "delete_pod") and plan["pods"] == [] and plan["replicas"] is None, seed
            assert plan["classification"] in ("oom", "resource_exhaustion") and not plan["proposed"], seed
            assert plan["limits"] and set(plan["limits"]) == set(plan["previous_limits"]), seed
            for container, limits in plan["limits"].items():
                assert set(limits) == set(plan["previous_limits"][container]), seed
                for resource, text in limits.items():
                    new, old = classify.parse_quantity(text), classify.parse_quantity(plan["previous_limits"][container][resource])
                    assert spec[resource] is not None and new <= spec[resource][0], (seed, plan)
                    assert new > old, (seed, plan)
                    assert new <= max(old * spec["factor"] * 1.001 + 2 ** 20, spec[resource][0]), (seed, plan)
                    assert classify.format_quantity(resource, new) == text or text == spec[resource][1], (seed, plan)
            if plan["classification"] == "oom":
                assert all(set(limits) == {"memory"} for limits in plan["limits"].values()), seed
    assert raised > 10  # the generator does reach the interesting cases
