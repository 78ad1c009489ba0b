# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The remediation actions end to end on an in-memory cluster and an injected clock.

Each action (delete_pod, scale, rollout_restart, rollback) is driven through the
module's run(): it succeeds and is verified, its guardrails refuse what could take
the service down, it fails with the timeout when the workload never recovers, it
fails fast when a new pod crashes, and in check mode it sends only dry runs and
never waits. Nothing sleeps for real: time passes on the fake_k8s.Clock.
"""
from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    GuardrailError,
    InvalidInput,
    NotFound,
    VerificationFailed,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import client as k8s_client
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import remediation as rem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import workload_remediation
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fake_k8s as fake
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NS = fake.NAMESPACE
IMAGE = "ghcr.io/ai-orchestrator/%s:%s"
TIMEOUT = 30
PDB_REFUSAL = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "TooManyRequests", "code": 429,
    "message": "Cannot evict pod as it would violate the pod's disruption budget.",
    "details": {"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget api-gateway needs 1 healthy pods and has 1 currently"}]},
}


@pytest.fixture
def clock(monkeypatch):
    return fake.injected_clock(monkeypatch)


def add_deployment(client, name, pods=("ready", "ready"), revision=1, hash_="7d9c6f8b5", **kw):
    """A Deployment with one ReplicaSet and a pod per entry of pods (a key of fake.POD_STATES)."""
    ready = len([p for p in pods if p == "ready"])
    dep = f.deployment(name, replicas=len(pods), ready=ready, revision=revision, **kw)
    rs = f.replicaset(dep, revision, hash_)
    client.add("Deployment", dep).add("ReplicaSet", rs)
    for suffix, state in zip(("x2k4q", "b8m2z", "c7n4r", "d5p6s"), pods):
        client.add("Pod", f.pod(rs, suffix, **fake.POD_STATES[state]))
    return client


def api_gateway(clock, pods=("ready", "ready"), dry_run=False, **kw):
    return add_deployment(fake.FakeClient(clock=clock, dry_run=dry_run), "api-gateway", pods, **kw)


def params(**kw):
    """Module params as AnsibleModule would pass them: the argspec's defaults, then kw."""
    p = dict((name, spec.get("default")) for name, spec in workload_remediation.argspec().items())
    p.update(namespace=NS, service="api-gateway", incident_id="incident-2027-01-15-080000", reason="pods crash-looping",
             wait_timeout=TIMEOUT, metrics_timeout=0)
    p.update(kw)
    return p


def run(client, **kw):
    return workload_remediation.run(client, params(**kw), clock=client.clock)


def sent(client):
    """(method, path, dry_run) of every write, in order."""
    return [(write[0], write[1], write[3]) for write in client.writes]


def pod_names(client, ready=None):
    return sorted(p["metadata"]["name"] for p in client.of_kind("Pod") if ready is None or wl.pod_ready(p) == ready)


def history(client, name="api-gateway", kind="Deployment"):
    return rem.history(client.obj(kind, name))


def dep_path(name="api-gateway", sub=None):
    return wl.api_path("Deployment", NS, name, sub)


# --- delete_pod -------------------------------------------------------------

CRASHED = "api-gateway-7d9c6f8b5-b8m2z"
HEALTHY = "api-gateway-7d9c6f8b5-x2k4q"


def test_delete_pod_evicts_the_crashed_pod_and_verifies_its_replacement(clock):
    client = api_gateway(clock, pods=("ready", "crash"))
    result = run(client, action="delete_pod", pods=[CRASHED])
    assert result["verified"] is True and result["changed"] is True
    assert result["msg"] == "delete_pod on Deployment/api-gateway: verified healthy"
    eviction = wl.api_path("Pod", NS, CRASHED, "eviction")
    # Through the eviction API (so PodDisruptionBudgets hold), then one history record.
    assert sent(client) == [("PATCH", dep_path(), False), ("POST", eviction, False)]
    assert client.writes[1][2] == {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": CRASHED, "namespace": NS}}
    assert CRASHED not in pod_names(client) and HEALTHY in pod_names(client)
    assert len(pod_names(client, ready=True)) == 2
    [entry] = history(client)
    assert entry == {"at": f.ts(0), "action": "delete_pod", "incident": "incident-2027-01-15-080000",
                     "reason": "pods crash-looping", "pods": [CRASHED]}
    assert result["steps"][0] == "evicted pod %s" % CRASHED
    assert result["steps"][1] == "Deployment/api-gateway: %s replaced, 2/2 pods ready" % CRASHED
    assert 0 < clock.now - f.NOW < TIMEOUT and client.unproven == []


@pytest.mark.parametrize("states", [("ready", "ready", "ready"), ("ready", "crash", "crash")], ids=["ready-pods", "crashed-pods"])
def test_delete_pod_replaces_several_pods_one_at_a_time(clock, states):
    """Each eviction waits for its own replacement only, so a next crashed pod in the list does not block it."""
    second = "api-gateway-7d9c6f8b5-c7n4r"
    client = api_gateway(clock, pods=states)
    result = run(client, action="delete_pod", pods=[CRASHED, second])
    assert result["verified"] is True
    assert [s.split(",")[0] for s in result["steps"]] == [
        "evicted pod " + CRASHED, "Deployment/api-gateway: %s replaced" % CRASHED, "evicted pod " + second, "Deployment/api-gateway: %s replaced" % second]
    assert [sent_write[0] for sent_write in sent(client)] == ["PATCH", "POST", "POST"]
    [entry] = history(client)  # one action, one record, however many pods
    assert entry["pods"] == [CRASHED, second]
    assert len(pod_names(client, ready=True)) == 3 and CRASHED not in pod_names(client) and second not in pod_names(client)


def test_delete_pod_refuses_to_take_the_last_ready_pods(clock):
    client = api_gateway(clock, pods=("ready", "crash"))
    with pytest.raises(GuardrailError, match="refusing to delete %s: they are the last ready pods of Deployment/api-gateway" % HEALTHY):
        run(client, action="delete_pod", pods=[HEALTHY])
    client = api_gateway(clock, pods=("ready", "ready"))
    with pytest.raises(GuardrailError, match="last ready pods"):
        run(client, action="delete_pod", pods=[HEALTHY, "api-gateway-7d9c6f8b5-b8m2z"])
    assert client.writes == [] and len(pod_names(client, ready=True)) == 2


def test_delete_pod_refuses_pods_of_another_workload(clock):
    client = api_gateway(clock, pods=("ready", "crash"))
    add_deployment(client, "execution-service", hash_="5c4b3a291")
    with pytest.raises(NotFound, match="execution-service-5c4b3a291-x2k4q do not belong to Deployment/api-gateway; its pods: %s, %s"
                       % (CRASHED, HEALTHY)):
        run(client, action="delete_pod", pods=["execution-service-5c4b3a291-x2k4q"])
    assert client.writes == []


def test_delete_pod_refused_by_a_pod_disruption_budget_records_nothing(clock):
    client = api_gateway(clock, pods=("ready", "crash"))
    eviction = wl.api_path("Pod", NS, CRASHED, "eviction")
    client.errors[("POST", eviction)] = k8s_client._api_error(429, "POST", eviction, json.dumps(PDB_REFUSAL))
    with pytest.raises(GuardrailError, match="eviction of pod %s refused by its PodDisruptionBudget: .*disruption budget" % CRASHED):
        run(client, action="delete_pod", pods=[CRASHED])
    assert sent(client) == [("PATCH", dep_path(), False), ("POST", eviction, False), ("PATCH", dep_path(), False)]  # claimed, refused, taken back
    assert history(client) == [] and CRASHED in pod_names(client) and clock.slept == []


def test_delete_pod_throttled_by_the_api_server_is_not_called_a_budget_refusal(clock):
    """API Priority and Fairness answers 429 too; after the client's retries it is an API error, not a guardrail."""
    client = api_gateway(clock, pods=("ready", "crash"))
    eviction = wl.api_path("Pod", NS, CRASHED, "eviction")
    throttled = {"kind": "Status", "status": "Failure", "reason": "TooManyRequests", "message": "Too many requests, please try again later."}
    client.errors[("POST", eviction)] = k8s_client._api_error(429, "POST", eviction, json.dumps(throttled))
    with pytest.raises(ClusterError, match="HTTP 429: Too many requests") as err:
        run(client, action="delete_pod", pods=[CRASHED])
    assert not isinstance(err.value, GuardrailError)


def test_delete_pod_times_out_when_the_replacement_never_becomes_ready(clock):
    client = api_gateway(clock, pods=("ready", "crash"))
    client.new_pods = "pending"
    with pytest.raises(VerificationFailed, match=r"Deployment/api-gateway: the replacement of pod %s was not Ready within 30s: 1/2 pods ready" % CRASHED):
        run(client, action="delete_pod", pods=[CRASHED])
    assert clock.now == f.NOW + TIMEOUT  # waited on the injected clock, up to the deadline
    assert len(history(client)) == 1  # recorded before waiting: a failed verification still uses the budget


def test_delete_pod_fails_fast_when_the_replacement_crashes(clock):
    client = api_gateway(clock, pods=("ready", "crash"))
    client.new_pods = "crash"
    with pytest.raises(VerificationFailed, match=r"new pod api-gateway-7d9c6f8b5-n\d+ is failing: CrashLoopBackOff .*not transient"):
        run(client, action="delete_pod", pods=[CRASHED])
    assert clock.now < f.NOW + TIMEOUT
    assert len(history(client)) == 1


def test_delete_pod_check_mode_sends_dry_runs_and_changes_nothing(clock):
    client = api_gateway(clock, pods=("ready", "crash"), dry_run=True)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client, action="delete_pod", pods=[CRASHED])
    assert sent(client) == [("PATCH", dep_path(), True), ("POST", wl.api_path("Pod", NS, CRASHED, "eviction"), True)]
    assert json.dumps(client.objects, sort_keys=True) == before and clock.slept == []
    assert result["steps"] == ["evicted pod %s (dry run)" % CRASHED]
    assert result["verified"] is None
    assert result["msg"] == "delete_pod on Deployment/api-gateway: planned (check mode, server-side dry run passed)"


def statefulset(name="postgres", replicas=2):
    labels = {"app.kubernetes.io/name": name}
    return {
        "metadata": {"name": name, "uid": "uid-" + name, "generation": 1},
        "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": name, "image": "postgres:16.4"}]}}},
        "status": {"observedGeneration": 1, "replicas": 0, "readyReplicas": 0, "currentRevision": name + "-5d8f7c", "updateRevision": name + "-5d8f7c"},
    }


def postgres(clock):
    client = fake.FakeClient(clock=clock).add("StatefulSet", statefulset())
    client.reconcile()  # the StatefulSet controller creates postgres-0 and postgres-1
    assert pod_names(client, ready=True) == ["postgres-0", "postgres-1"]
    return client


def test_delete_pod_of_a_statefulset_is_verified_when_the_replacement_keeps_the_name(clock):
    client = postgres(clock)
    old_uid = wl.uid(client.obj("Pod", "postgres-1"))
    result = run(client, action="delete_pod", service="postgres", pods=["postgres-1"])
    assert wl.uid(client.obj("Pod", "postgres-1")) != old_uid  # the controller did replace it, under the same name
    assert result["verified"] is True and clock.now < f.NOW + TIMEOUT


# --- scale ------------------------------------------------------------------


def test_scale_adds_a_replica_through_the_scale_subresource_and_verifies(clock):
    client = api_gateway(clock)
    result = run(client, action="scale")
    assert result["verified"] is True and result["changed"] is True and "usage" not in result
    assert sent(client) == [("PATCH", dep_path(), False), ("PATCH", dep_path(sub="scale"), False)]
    assert client.writes[1][2] == {"spec": {"replicas": 3}}
    assert client.obj("Deployment", "api-gateway")["spec"]["replicas"] == 3 and len(pod_names(client, ready=True)) == 3
    [entry] = history(client)
    assert entry["action"] == "scale" and entry["replicas"] == 3
    assert result["plan"] == {"from": 2, "to": 3} and result["diff"] == {"before": {"replicas": 2}, "after": {"replicas": 3}}
    assert result["steps"] == ["scaled Deployment/api-gateway from 2 to 3 replicas", "Deployment/api-gateway healthy: 3/3 ready, 3 updated"]


def test_scale_judges_usage_only_on_metrics_sampled_after_the_new_replicas_were_ready(clock):
    client = api_gateway(clock)
    client.metrics_usage = {"cpu": "100m", "memory": "128Mi"}
    result = run(client, action="scale", metrics_timeout=60)
    assert result["verified"] is True
    assert result["usage"] == {"fresh": True, "saturated": [],
                               "summary": "every pod below 90% of its limits in metrics sampled since the new replicas were ready"}
    # Ready after the first reconcile (1 s); a 10 s sampling window must start after that: 1 + 10 s on the clock.
    assert clock.now == f.NOW + 11


def test_scale_that_leaves_usage_saturated_fails_verification(clock):
    client = api_gateway(clock)
    client.metrics_usage = {"cpu": "480m", "memory": "128Mi"}
    with pytest.raises(VerificationFailed, match=r"scaled to 3 replicas, all ready, but metrics sampled since still show "
                                                 r"pod api-gateway-7d9c6f8b5-b8m2z container api-gateway: cpu at 96% of its limit; .*this step was not enough"):
        run(client, action="scale", metrics_timeout=60)
    assert client.obj("Deployment", "api-gateway")["spec"]["replicas"] == 3 and len(history(client)) == 1


@pytest.mark.parametrize("options, message", [
    (dict(replicas=11), "11 replicas is above max_replicas=10"),
    (dict(scale_by=3, max_replicas=4), "5 replicas is above max_replicas=4"),
    (dict(replicas=0, allow_scale_down=True), "to 0 replicas: that takes the service down"),
    (dict(replicas=1), "down from 2 to 1 without allow_scale_down=true"),
])
def test_scale_guardrails_refuse_before_any_write(clock, options, message):
    client = api_gateway(clock)
    with pytest.raises(GuardrailError, match=message):
        run(client, action="scale", **options)
    assert client.writes == [] and client.obj("Deployment", "api-gateway")["spec"]["replicas"] == 2


def test_scale_down_when_allowed_keeps_the_service_up(clock):
    client = api_gateway(clock, pods=("ready", "ready", "ready"))
    result = run(client, action="scale", replicas=1, allow_scale_down=True)
    assert result["verified"] is True and len(pod_names(client, ready=True)) == 1


def test_scale_to_the_current_replicas_does_nothing(clock):
    client = api_gateway(clock)
    result = run(client, action="scale", replicas=2)
    assert result["changed"] is False and result["verified"] is None and client.writes == []
    assert result["steps"] == ["Deployment/api-gateway already has 2 replicas"]
    assert result["msg"] == "scale on Deployment/api-gateway: nothing to do"


def test_scale_times_out_when_the_new_replica_never_becomes_ready(clock):
    client = api_gateway(clock)
    client.new_pods = "pending"
    with pytest.raises(VerificationFailed, match="did not become healthy within 30s: 2/3 ready, 3 updated"):
        run(client, action="scale")
    assert clock.now == f.NOW + TIMEOUT and len(history(client)) == 1


def test_scale_fails_fast_when_the_new_replica_crashes(clock):
    client = api_gateway(clock)
    client.new_pods = "crash"
    with pytest.raises(VerificationFailed, match="is failing: CrashLoopBackOff .*not transient"):
        run(client, action="scale")
    assert clock.now < f.NOW + TIMEOUT


def test_scale_check_mode_sends_dry_runs_and_changes_nothing(clock):
    client = api_gateway(clock, dry_run=True)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client, action="scale", metrics_timeout=60)
    assert sent(client) == [("PATCH", dep_path(), True), ("PATCH", dep_path(sub="scale"), True)]
    assert json.dumps(client.objects, sort_keys=True) == before and clock.slept == []
    assert result["steps"] == ["would scale Deployment/api-gateway from 2 to 3 replicas (dry run)"]
    assert result["verified"] is None and result["changed"] is True


# --- rollout_restart --------------------------------------------------------


def test_restart_replaces_every_pod_and_verifies(clock):
    client = api_gateway(clock)
    before = pod_names(client)
    result = run(client, action="rollout_restart")
    assert result["verified"] is True and result["changed"] is True and result["plan"] == {"api-gateway": "restart"}
    # One strategic merge patch carries the restart and its history record.
    assert sent(client) == [("PATCH", dep_path(), False)]
    body = client.writes[0][2]
    assert body["spec"] == {"template": {"metadata": {"annotations": {rem.RESTARTED_AT: f.ts(0)}}}}
    dep = client.obj("Deployment", "api-gateway")
    assert rem.restarted_at_text(dep) == f.ts(0) and wl.revision(dep) == 2
    [entry] = history(client)
    assert entry["action"] == "rollout_restart"
    after = pod_names(client, ready=True)
    assert len(after) == 2 and not set(after) & set(before)


def test_restart_again_within_the_interval_is_skipped(clock):
    client = api_gateway(clock)
    run(client, action="rollout_restart")
    writes = len(client.writes)
    result = run(client, action="rollout_restart")
    assert result["changed"] is False and len(client.writes) == writes and len(history(client)) == 1
    assert result["steps"][0].startswith("skipped Deployment/api-gateway: restarted ") and "within min_restart_interval=10m" in result["steps"][0]
    assert result["msg"] == "rollout_restart on Deployment/api-gateway: nothing to do"


def test_restart_refuses_a_recreate_deployment(clock):
    client = api_gateway(clock, strategy="Recreate")
    with pytest.raises(GuardrailError, match="Recreate strategy stops every replica at once"):
        run(client, action="rollout_restart")
    assert client.writes == []


def test_a_namespace_wide_restart_skips_a_recreate_deployment_and_restarts_the_rest(clock):
    """A Recreate Deployment would stop every replica at once: skipped with the reason, the others restarted."""
    client = api_gateway(clock)
    add_deployment(client, "batch-api", hash_="5c4b3a291", strategy="Recreate")
    result = run(client, action="rollout_restart", service=None, all_deployments=True)
    assert result["plan"]["api-gateway"] == "restart" and "Recreate strategy" in result["plan"]["batch-api"]
    assert [w[1] for w in client.writes] == [dep_path()]
    assert any(step.startswith("skipped Deployment/batch-api: its Recreate strategy") for step in result["steps"])


def test_restart_of_all_deployments_verifies_each(clock):
    client = api_gateway(clock)
    add_deployment(client, "execution-service", hash_="5c4b3a291")
    result = run(client, action="rollout_restart", service=None, all_deployments=True)
    assert result["workloads"] == ["Deployment/api-gateway", "Deployment/execution-service"]
    assert result["verified"] is True
    assert sent(client) == [("PATCH", dep_path(), False), ("PATCH", dep_path("execution-service"), False)]
    assert [len(history(client, name)) for name in ("api-gateway", "execution-service")] == [1, 1]


def test_restart_times_out_when_the_new_pods_never_become_ready(clock):
    client = api_gateway(clock)
    client.new_pods = "pending"
    with pytest.raises(VerificationFailed, match="did not become healthy within 30s: 0/2 ready"):
        run(client, action="rollout_restart")
    assert clock.now == f.NOW + TIMEOUT


def test_restart_fails_fast_when_the_new_pods_crash(clock):
    client = api_gateway(clock)
    client.new_pods = "crash"
    with pytest.raises(VerificationFailed, match="is failing: CrashLoopBackOff .*not transient"):
        run(client, action="rollout_restart")
    assert clock.now < f.NOW + TIMEOUT


def test_restart_check_mode_sends_dry_runs_and_changes_nothing(clock):
    client = api_gateway(clock, dry_run=True)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client, action="rollout_restart")
    assert sent(client) == [("PATCH", dep_path(), True)]
    assert json.dumps(client.objects, sort_keys=True) == before and clock.slept == []
    assert result["steps"] == ["would restart Deployment/api-gateway (restartedAt=%s, dry run)" % f.ts(0)]
    assert result["verified"] is None


# --- rollback ---------------------------------------------------------------


def bad_rollout(clock, dry_run=False):
    """workflow-service: revision 2 (image 1.5.0) crash-loops; revision 1 (1.4.2) was fine."""
    client = fake.FakeClient(clock=clock, dry_run=dry_run)
    dep = f.deployment("workflow-service", replicas=2, ready=0, revision=2, generation=2)
    good = f.replicaset(dep, 1, "6b7c8d9f4", age=86400)
    good["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "6b7c8d9f4"  # as the API returns it
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE % ("workflow-service", "1.5.0")
    bad = f.replicaset(dep, 2, "5f6a7b8c9")
    client.add("Deployment", dep).add("ReplicaSet", good, bad)
    client.add("Pod", f.pod(bad, "q1w2e", **fake.POD_STATES["crash"]), f.pod(bad, "r3t4y", **fake.POD_STATES["crash"]))
    return client


def test_rollback_restores_the_previous_template_and_verifies(clock):
    client = bad_rollout(clock)
    result = run(client, action="rollback", service="workflow-service")
    assert result["verified"] is True and result["changed"] is True
    assert sent(client) == [("PATCH", dep_path("workflow-service"), False)] * 2
    [op] = client.writes[1][2]
    assert op["op"] == "replace" and op["path"] == "/spec/template"
    assert "pod-template-hash" not in op["value"]["metadata"]["labels"]  # the controller adds its own
    dep = client.obj("Deployment", "workflow-service")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE % ("workflow-service", "1.4.2")
    assert wl.revision(dep) == 3  # the old ReplicaSet, under the next revision
    good = client.obj("ReplicaSet", "workflow-service-6b7c8d9f4")
    assert all(wl.uid(good) in wl.owner_uids(p) for p in client.of_kind("Pod")) and len(pod_names(client, ready=True)) == 2
    [entry] = history(client, "workflow-service")
    assert entry["action"] == "rollback"
    assert result["plan"] == {"skip": None, "from_revision": 2, "to_revision": 1,
                              "images_before": [IMAGE % ("workflow-service", "1.5.0")], "images_after": [IMAGE % ("workflow-service", "1.4.2")]}
    assert result["steps"][0] == ("rolled back Deployment/workflow-service from revision 2 to 1 (images %s -> %s)"
                                  % (IMAGE % ("workflow-service", "1.5.0"), IMAGE % ("workflow-service", "1.4.2")))


def test_rollback_refuses_without_a_previous_revision(clock):
    client = api_gateway(clock, pods=("crash", "crash"))
    with pytest.raises(GuardrailError, match="no previous revision to roll back to \\(current revision 1\\)"):
        run(client, action="rollback")
    assert client.writes == []


def test_rollback_refuses_a_statefulset(clock):
    client = postgres(clock)
    with pytest.raises(GuardrailError, match="rollback of StatefulSet/postgres is not automated"):
        run(client, action="rollback", service="postgres")
    assert client.writes == []


def test_rollback_to_an_unknown_revision_names_the_known_ones(clock):
    client = bad_rollout(clock)
    with pytest.raises(NotFound, match="has no revision 7; revisions: 1, 2"):
        run(client, action="rollback", service="workflow-service", to_revision=7)
    assert client.writes == []


def test_rollback_of_a_healthy_rollout_needs_force(clock):
    client = fake.FakeClient(clock=clock)
    dep = f.deployment("workflow-service", revision=2)
    client.add("Deployment", dep).add("ReplicaSet", f.replicaset(dep, 1, "6b7c8d9f4"), f.replicaset(dep, 2, "5f6a7b8c9"))
    result = run(client, action="rollback", service="workflow-service")
    assert result["changed"] is False and client.writes == []
    assert "current revision 2 is healthy and fully rolled out; pass force=true" in result["steps"][0]


def test_rollback_times_out_when_the_old_revision_never_becomes_ready(clock):
    client = bad_rollout(clock)
    client.new_pods = "pending"
    with pytest.raises(VerificationFailed, match="Deployment/workflow-service did not become healthy within 30s: 0/2 ready"):
        run(client, action="rollback", service="workflow-service")
    assert clock.now == f.NOW + TIMEOUT and len(history(client, "workflow-service")) == 1


def test_rollback_fails_fast_when_the_old_revision_crashes_too(clock):
    client = bad_rollout(clock)
    client.new_pods = "crash"
    with pytest.raises(VerificationFailed, match="new pod workflow-service-6b7c8d9f4-n\\d+ is failing: CrashLoopBackOff .*not transient"):
        run(client, action="rollback", service="workflow-service")
    assert clock.now < f.NOW + TIMEOUT


def test_rollback_check_mode_sends_dry_runs_and_changes_nothing(clock):
    client = bad_rollout(clock, dry_run=True)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client, action="rollback", service="workflow-service")
    assert sent(client) == [("PATCH", dep_path("workflow-service"), True)] * 2
    assert json.dumps(client.objects, sort_keys=True) == before and clock.slept == []
    assert result["steps"] == ["would roll back Deployment/workflow-service from revision 2 to 1 (images %s -> %s) (dry run)"
                               % (IMAGE % ("workflow-service", "1.5.0"), IMAGE % ("workflow-service", "1.4.2"))]
    assert result["verified"] is None and "template" not in result["plan"]


# --- budget and validation ---------------------------------------------------


@pytest.mark.parametrize("options", [
    dict(action="delete_pod", pods=[CRASHED]),
    dict(action="scale"),
    dict(action="rollout_restart"),
    dict(action="rollback", to_revision=1, force=True),
])
def test_exhausted_budget_acts_on_nothing(clock, options):
    client = api_gateway(clock, pods=("ready", "crash"))
    entries = [{"at": f.ts(age), "action": "delete_pod"} for age in (3000, 1200, 60)]
    client.obj("Deployment", "api-gateway")["metadata"]["annotations"][rem.HISTORY_ANNOTATION] = json.dumps(entries)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client, **options)
    assert result["budget_exhausted"] is True and result["changed"] is False
    assert result["budget"] == {"used": 3, "max_actions": 3, "window_minutes": 60, "exhausted": True}
    assert result["msg"] == "remediation budget of Deployment/api-gateway used up (3 actions in 60 minutes): not acting; escalate"
    assert client.writes == [] and json.dumps(client.objects, sort_keys=True) == before and clock.slept == []


def test_a_fault_eviction_cannot_fix_stops_at_the_budget(clock):
    """Each failed attempt is recorded on the workload, so the next run sees it and stops."""
    client = api_gateway(clock, pods=("ready", "crash"))
    client.new_pods = "crash"
    for _attempt in range(3):
        [crashed] = pod_names(client, ready=False)
        with pytest.raises(VerificationFailed, match="not transient"):
            run(client, action="delete_pod", pods=[crashed])
    result = run(client, action="delete_pod", pods=pod_names(client, ready=False))
    assert result["budget_exhausted"] is True and len(history(client)) == 3


@pytest.mark.parametrize("options, message", [
    (dict(wait_timeout=0), "wait_timeout must be at least 1, not 0"),
    (dict(metrics_timeout=-1), "metrics_timeout must be at least 0, not -1"),
    (dict(scale_by=0), "scale_by must be at least 1, not 0"),
    (dict(usage_threshold=90), "usage_threshold must be a share of the limit, above 0 and at most 1"),
])
def test_invalid_params_are_refused_before_any_request(clock, options, message):
    client = api_gateway(clock)
    with pytest.raises(InvalidInput, match=message):
        run(client, action="scale", **options)
    assert client.requests == 0 and client.writes == []


# --- wait_healthy and wait_fresh_usage directly -----------------------------


def test_wait_healthy_waits_for_the_controller_to_observe_the_change(clock):
    client = api_gateway(clock)
    client.obj("Deployment", "api-gateway")["metadata"]["generation"] = 2  # spec changed, status not caught up yet
    ws = wl.Workloads(client, NS, clock=clock)
    result = rem.wait_healthy(ws, "Deployment", "api-gateway", TIMEOUT)
    assert result["verified"] is True and result["state"] == "2/2 ready, 2 updated" and clock.slept == [1.0]


def _ready_pods(client, seconds_ago):
    pods = [p for p in client.of_kind("Pod") if wl.pod_ready(p)]
    for pod in pods:
        for condition in pod["status"]["conditions"]:
            if condition["type"] == "Ready":
                condition["lastTransitionTime"] = f.ts(seconds_ago)
    return pods


def test_wait_fresh_usage_does_not_judge_stale_metrics(clock):
    client = api_gateway(clock)
    pods = _ready_pods(client, 30)
    for pod in pods:  # the last samples are from before the pods were ready, and no new ones come
        client.add("PodMetrics", {"metadata": {"name": pod["metadata"]["name"], "labels": pod["metadata"]["labels"]},
                                  "timestamp": f.ts(60), "window": "10s",
                                  "containers": [{"name": "api-gateway", "usage": {"cpu": "490m", "memory": "500Mi"}}]})
    ws = wl.Workloads(client, NS, clock=clock)
    usage = rem.wait_fresh_usage(ws, client.obj("Deployment", "api-gateway"), pods, 20, 0.9)
    assert usage["fresh"] is False and usage["saturated"] == []  # old load is not evidence against the scale
    assert usage["summary"] == ("no metrics sampled after the new replicas were ready within 20s (waiting for %s); usage not judged"
                                % ", ".join(p["metadata"]["name"] for p in pods))
    assert clock.now == f.NOW + 20


def test_wait_fresh_usage_without_the_metrics_api_says_so(clock):
    client = api_gateway(clock)
    metrics = wl.api_path("PodMetrics", NS)
    client.errors[("GET", metrics)] = k8s_client._api_error(
        404, "GET", metrics, '{"kind":"Status","message":"the server could not find the requested resource","code":404}')
    ws = wl.Workloads(client, NS, clock=clock)
    usage = rem.wait_fresh_usage(ws, client.obj("Deployment", "api-gateway"), _ready_pods(client, 30), 20, 0.9)
    assert usage["fresh"] is False and usage["saturated"] == []
    assert usage["summary"].startswith("metrics unavailable (GET %s: not found" % metrics)
    assert usage["summary"].endswith("readiness is the only check") and clock.slept == []


def test_wait_fresh_usage_reports_a_forbidden_metrics_api_as_unavailable(clock):
    client = api_gateway(clock)
    metrics = wl.api_path("PodMetrics", NS)
    client.errors[("GET", metrics)] = ClusterError("permission denied (403 Forbidden) for GET %s" % metrics, status=403)
    ws = wl.Workloads(client, NS, clock=clock)
    usage = rem.wait_fresh_usage(ws, client.obj("Deployment", "api-gateway"), _ready_pods(client, 30), 20, 0.9)
    assert usage["fresh"] is False and usage["summary"].startswith("metrics unavailable (permission denied")
