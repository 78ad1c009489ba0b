# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""workload_remediation action=raise_limits end to end on the in-memory cluster (fake_k8s).

The limits and the history entry go in one conditional strategic merge patch; the
Deployment controller rolls the new template out, the module waits for it and judges
fresh usage. Guardrails refuse anything above limits_max, anything lower, and templates
whose rollout would not be safe; check mode sends a dry run and waits for nothing.
"""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    GuardrailError,
    InvalidInput,
    NotFound,
    VerificationFailed,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import remediation as rem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import workload_remediation
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fake_k8s as fake
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NS = fake.NAMESPACE
TIMEOUT = 30
RESOURCES = {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
MAX = {"memory": "4Gi", "cpu": "4"}


@pytest.fixture
def clock(monkeypatch):
    return fake.injected_clock(monkeypatch)


def n8n(clock, pods=("oom", "oom"), dry_run=False, strategy="RollingUpdate", sidecar=None):
    """Deployment n8n whose template sets its resources; its pods (fake.POD_STATES) carry the same."""
    client = fake.FakeClient(clock=clock, dry_run=dry_run)
    dep = f.deployment("n8n", replicas=len(pods), ready=len([p for p in pods if p == "ready"]), strategy=strategy)
    dep["metadata"]["resourceVersion"] = "1001"
    template = dep["spec"]["template"]["spec"]
    template["containers"][0]["resources"] = copy.deepcopy(RESOURCES)
    if sidecar:
        template["initContainers"] = [dict(sidecar)]
    rs = f.replicaset(dep, 1, "7d9c6f8b5")
    client.add("Deployment", dep).add("ReplicaSet", rs)
    for suffix, state in zip(("x2k4q", "b8m2z", "c7n4r"), pods):
        client.add("Pod", f.pod(rs, suffix, **fake.POD_STATES[state]))
    return client


def params(**kw):
    p = dict((name, spec.get("default")) for name, spec in workload_remediation.argspec().items())
    p.update(namespace=NS, service="n8n", action="raise_limits", limits={"n8n": {"memory": "768Mi"}}, limits_max=dict(MAX),
             incident_id="incident-2027-01-15-080000", reason="every replica OOM-killed", wait_timeout=TIMEOUT, metrics_timeout=0)
    p.update(kw)
    return p


def run(client, **kw):
    return workload_remediation.run(client, params(**kw), clock=client.clock)


def sent(client):
    return [(write[0], write[1], write[3]) for write in client.writes]


def dep_path(name="n8n"):
    return wl.api_path("Deployment", NS, name)


def template_limits(client, name="n8n", field="containers"):
    return dict((c["name"], (c.get("resources") or {}).get("limits")) for c in client.obj("Deployment", name)["spec"]["template"]["spec"][field])


def history(client, name="n8n"):
    return rem.history(client.obj("Deployment", name))


def test_raise_limits_patches_the_template_once_rolls_out_and_verifies(clock):
    client = n8n(clock)
    client.new_pods = "ready"  # with the higher limit the replacements stay up
    result = run(client)
    assert result["changed"] is True and result["verified"] is True
    assert result["msg"] == "raise_limits on Deployment/n8n: verified healthy"
    # One strategic merge patch: the new limit and the history entry, conditional on the resourceVersion read.
    assert sent(client) == [("PATCH", dep_path(), False)]
    body = client.writes[0][2]
    assert body["spec"] == {"template": {"spec": {"containers": [{"name": "n8n", "resources": {"limits": {"memory": "768Mi"}}}]}}}
    assert body["metadata"]["resourceVersion"] == "1001"
    assert template_limits(client) == {"n8n": {"cpu": "500m", "memory": "768Mi"}}  # cpu kept: the containers merged by name
    assert client.obj("Deployment", "n8n")["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == RESOURCES["requests"]
    assert wl.revision(client.obj("Deployment", "n8n")) == 2
    pods = client.of_kind("Pod")
    assert len(pods) == 2 and all(wl.pod_ready(p) and p["spec"]["containers"][0]["resources"]["limits"]["memory"] == "768Mi" for p in pods)
    [entry] = history(client)
    assert entry == {"at": f.ts(0), "action": "raise_limits", "incident": "incident-2027-01-15-080000", "reason": "every replica OOM-killed",
                     "limits": {"n8n": {"memory": "768Mi"}}}
    assert result["limits_before"] == {"n8n": {"memory": "512Mi"}} and result["limits_after"] == {"n8n": {"memory": "768Mi"}}
    assert result["diff"] == {"before": {"limits": {"n8n": {"memory": "512Mi"}}}, "after": {"limits": {"n8n": {"memory": "768Mi"}}}}
    assert result["plan"] == {"skip": None, "limits_before": {"n8n": {"memory": "512Mi"}}, "limits_after": {"n8n": {"memory": "768Mi"}},
                              "changes": ["container n8n memory 512Mi -> 768Mi"]}
    assert result["steps"] == ["raised the limits of Deployment/n8n: container n8n memory 512Mi -> 768Mi",
                               "Deployment/n8n healthy: 2/2 ready, 2 updated"]
    assert result["budget"] == {"used": 0, "max_actions": 3, "window_minutes": 60, "exhausted": False}


def test_new_pods_killed_again_fail_fast(clock):
    client = n8n(clock)
    client.new_pods = "oom"
    with pytest.raises(VerificationFailed, match=r"new pod n8n-rev2-n\d+ is failing: CrashLoopBackOff .*; the fault is not transient"):
        run(client)
    assert clock.now < f.NOW + TIMEOUT
    assert len(history(client)) == 1  # a raise that did not help still counts against the budget


def test_raised_limits_judged_on_fresh_metrics(clock):
    client = n8n(clock, pods=("ready", "ready"))
    client.new_pods = "ready"
    client.metrics_usage = {"cpu": "100m", "memory": "600Mi"}  # 117% of 512Mi, 78% of 768Mi
    result = run(client, metrics_timeout=60)
    assert result["verified"] is True and result["usage"]["fresh"] is True and result["usage"]["saturated"] == []
    client = n8n(clock, pods=("ready", "ready"))
    client.new_pods = "ready"
    client.metrics_usage = {"cpu": "100m", "memory": "740Mi"}  # still 96% of 768Mi
    with pytest.raises(VerificationFailed, match=r"limits raised \(container n8n memory 512Mi -> 768Mi\), all pods ready, but metrics sampled "
                                                 r"since still show pod n8n-rev2-n\d+ container n8n: memory at 96% of its limit; .*not enough"):
        run(client, metrics_timeout=60)


def test_check_mode_sends_one_dry_run_and_changes_nothing(clock):
    client = n8n(clock, dry_run=True)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client, metrics_timeout=60)
    assert sent(client) == [("PATCH", dep_path(), True)]
    assert json.dumps(client.objects, sort_keys=True) == before and clock.slept == []
    assert result["steps"] == ["would raise the limits of Deployment/n8n: container n8n memory 512Mi -> 768Mi (dry run)"]
    assert result["changed"] is True and result["verified"] is None
    assert result["limits_after"] == {"n8n": {"memory": "768Mi"}}
    assert result["msg"] == "raise_limits on Deployment/n8n: planned (check mode, server-side dry run passed)"


def test_limits_already_as_asked_change_nothing(clock):
    client = n8n(clock)
    result = run(client, limits={"n8n": {"memory": "512Mi", "cpu": "0.5"}})
    assert result["changed"] is False and client.writes == [] and result["verified"] is None
    assert result["steps"] == ["skipped Deployment/n8n: every limit already has the value asked for"]
    assert result["limits_before"] == result["limits_after"] == {"n8n": {"cpu": "500m", "memory": "512Mi"}}
    assert result["msg"] == "raise_limits on Deployment/n8n: nothing to do"


@pytest.mark.parametrize("options, error, message", [
    (dict(limits={"n8n": {"memory": "5Gi"}}), GuardrailError,
     "refusing to raise the memory limit of container n8n of Deployment/n8n to 5Gi: above limits_max.memory=4Gi"),
    (dict(limits={"n8n": {"memory": "256Mi"}}), GuardrailError,
     "refusing to lower the memory limit of container n8n of Deployment/n8n from 512Mi to 256Mi: raise_limits only raises"),
    (dict(limits_max={"memory": "4Gi"}, limits={"n8n": {"cpu": "1"}}), GuardrailError,
     "refusing to raise the cpu limit of container n8n of Deployment/n8n: limits_max has no cpu maximum"),
    (dict(limits={"worker": {"memory": "1Gi"}}), NotFound, "container\\(s\\) worker not in the pod template of Deployment/n8n; its containers: n8n"),
])
def test_guardrails_refuse_before_any_write(clock, options, error, message):
    client = n8n(clock)
    with pytest.raises(error, match=message):
        run(client, **options)
    assert client.writes == [] and template_limits(client) == {"n8n": RESOURCES["limits"]}


def test_a_container_without_a_limit_is_not_given_one(clock):
    client = n8n(clock)
    del client.obj("Deployment", "n8n")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    with pytest.raises(GuardrailError, match="it has none, so 1Gi would lower it from unbounded"):
        run(client, limits={"n8n": {"memory": "1Gi"}})
    assert client.writes == []


def test_a_recreate_deployment_is_refused(clock):
    client = n8n(clock, strategy="Recreate")
    with pytest.raises(GuardrailError, match="refusing to change the limits of Deployment/n8n: its Recreate strategy stops every replica"):
        run(client)
    assert client.writes == []


@pytest.mark.parametrize("strategy, message", [
    ({"type": "OnDelete"}, "OnDelete update strategy does not roll a template change out"),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, "a partitioned rollout \\(partition 2\\) is in progress"),
])
def test_a_statefulset_that_would_not_roll_the_change_out_is_refused(clock, strategy, message):
    client = fake.FakeClient(clock=clock)
    sts = {"metadata": {"name": "redis", "uid": "uid-redis", "generation": 1},
           "spec": {"replicas": 1, "serviceName": "redis", "selector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
                    "updateStrategy": strategy,
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": "redis"}},
                                 "spec": {"containers": [{"name": "redis", "image": "redis:7.0", "resources": copy.deepcopy(RESOURCES)}]}}},
           "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1}}
    client.add("StatefulSet", sts)
    with pytest.raises(GuardrailError, match=message):
        run(client, service="redis", limits={"redis": {"memory": "768Mi"}})
    assert client.writes == []


def test_a_native_sidecar_is_raised_in_the_init_containers(clock):
    shipper = {"name": "log-shipper", "image": "cr.fluentbit.io/fluent/fluent-bit:3.1.4", "restartPolicy": "Always",
               "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}}}
    client = n8n(clock, pods=("ready", "ready"), sidecar=shipper)
    client.new_pods = "ready"
    result = run(client, limits={"log-shipper": {"cpu": "150m"}, "n8n": {"memory": "1Gi"}})
    assert result["verified"] is True
    assert client.writes[0][2]["spec"]["template"]["spec"] == {
        "containers": [{"name": "n8n", "resources": {"limits": {"memory": "1Gi"}}}],
        "initContainers": [{"name": "log-shipper", "resources": {"limits": {"cpu": "150m"}}}]}
    assert template_limits(client, field="initContainers") == {"log-shipper": {"cpu": "150m", "memory": "128Mi"}}
    assert result["limits_before"] == {"log-shipper": {"cpu": "100m"}, "n8n": {"memory": "512Mi"}}


def test_a_conflict_reads_again_and_plans_again(clock):
    """Another writer raised the limit between our read and our write: the 409 makes us read again; now there is nothing to do."""
    client = n8n(clock)
    real_patch = client.patch
    calls = []

    def racing_patch(path, body, patch_type="merge"):
        calls.append(body)
        if len(calls) == 1:
            stored = client.obj("Deployment", "n8n")
            stored["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "768Mi"
            stored["metadata"]["resourceVersion"] = "1002"
            raise ClusterError("PATCH %s: conflict (409)" % path, status=409)
        return real_patch(path, body, patch_type)

    client.patch = racing_patch
    result = run(client)
    assert len(calls) == 1 and result["changed"] is False
    assert result["steps"] == ["skipped Deployment/n8n: every limit already has the value asked for"]
    assert history(client) == []


def test_an_exhausted_budget_raises_nothing(clock):
    client = n8n(clock)
    entries = [{"at": f.ts(age), "action": "delete_pod"} for age in (3000, 1200, 60)]
    client.obj("Deployment", "n8n")["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = json.dumps(entries)
    result = run(client)
    assert result["budget_exhausted"] is True and result["changed"] is False and client.writes == []
    assert result["msg"] == "remediation budget of Deployment/n8n used up (3 actions in 60 minutes): not acting; escalate"


@pytest.mark.parametrize("options, message", [
    (dict(limits=None), "action raise_limits needs limits"),
    (dict(limits={"n8n": {}}), "limits.n8n must be a dict of resource -> quantity"),
    (dict(limits={"n8n": {"gpu": "1"}}), "limits.n8n: unknown resource\\(s\\) gpu"),
    (dict(limits={"n8n": {"memory": "lots"}}), "limits.n8n.memory must be a Kubernetes quantity above 0"),
    (dict(limits={"n8n": {"memory": "0"}}), "limits.n8n.memory must be a Kubernetes quantity above 0"),
    (dict(limits_max={"disk": "1Ti"}), "limits_max: unknown resource\\(s\\) disk"),
    (dict(limits_max={"memory": "-1Gi"}), "limits_max.memory must be a Kubernetes quantity above 0"),
    (dict(action="scale", limits={"n8n": {"memory": "1Gi"}}), "limits goes only with action=raise_limits"),
])
def test_invalid_params_are_refused_before_any_request(clock, options, message):
    client = n8n(clock)
    with pytest.raises(InvalidInput, match=message):
        run(client, **options)
    assert client.requests == 0


def test_other_actions_ignore_limits_max(clock):
    client = n8n(clock, pods=("ready", "ready"))
    result = run(client, action="scale", limits=None)
    assert result["verified"] is True and "limits_before" not in result
