# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection settings, error messages, and request(): check mode's server-side dry runs and throttling.

request() runs on a KubeClient built without a connection (its _send stubbed); real
requests are exercised against the drill cluster.
"""
from __future__ import annotations

import json
import time

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import client as k8s_client
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError, NotFound
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fake_k8s as fake


def test_env_fallbacks_use_kubernetes_core_names(monkeypatch):
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "prod-eu")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")
    assert k8s_client._param({"context": None}, "context") == "prod-eu"
    assert k8s_client._param({"validate_certs": None}, "validate_certs") is False
    assert k8s_client._param({"context": "explicit"}, "context") == "explicit"


def test_missing_credentials_say_where_they_were_looked_for(monkeypatch, tmp_path):
    for name in ("K8S_AUTH_KUBECONFIG", "KUBERNETES_SERVICE_HOST", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(ClusterError, match="no cluster credentials: kubeconfig .*nope does not exist"):
        k8s_client.load_configuration({})


def test_host_and_token_alone_define_a_connection(monkeypatch):
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
    cfg = k8s_client.load_configuration({"host": "https://10.0.0.1:6443", "api_key": "t0ken", "validate_certs": False})
    assert cfg.host == "https://10.0.0.1:6443" and cfg.api_key["authorization"] == "Bearer t0ken" and cfg.verify_ssl is False


@pytest.mark.parametrize(
    "status,body,kind,text",
    [
        (404, '{"message":"pods \\"x\\" not found"}', NotFound, "not found"),
        (401, '{"message":"Unauthorized"}', ClusterError, "rejected the credentials (401 Unauthorized)"),
        (403, '{"message":"pods is forbidden: User \\"system:serviceaccount:default:x\\" cannot list"}', ClusterError, "permission denied (403 Forbidden)"),
        (500, "not json", ClusterError, "failed with HTTP 500: not json"),
    ],
)
def test_api_errors_say_what_to_fix(status, body, kind, text):
    err = k8s_client._api_error(status, "GET", "/api/v1/namespaces/ai-orchestrator/pods", body)
    assert isinstance(err, kind) and text in str(err) and err.status == status


def test_argspec_never_logs_the_token():
    assert k8s_client.cluster_argument_spec()["api_key"]["no_log"] is True


# --- request(): dry runs and throttling, on a stubbed _send -------------------

DEPLOYMENT = "/apis/apps/v1/namespaces/ai-orchestrator/deployments/api-gateway"
SCALE = DEPLOYMENT + "/scale"
PODS = "/api/v1/namespaces/ai-orchestrator/pods"
EVICTION = PODS + "/api-gateway-7d9c6f8b5-x2k4q/eviction"


def _status(code, message, **details):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "code": code,
                       "details": details})


APF_429 = _status(429, "Too many requests, please try again later.", retryAfterSeconds=1)
PDB_429 = _status(429, "Cannot evict pod as it would violate the pod's disruption budget.",
                  causes=[{"reason": "DisruptionBudget", "message": "The disruption budget api-gateway needs 1 healthy pods and has 1 currently"}])


@pytest.fixture
def stub_client(monkeypatch):
    """Build a KubeClient without a connection: _send answers from a list (an exception is raised) and records what was sent."""
    monkeypatch.setattr(time, "sleep", fake.no_real_sleep)

    def build(answers=(), dry_run=False):
        client = object.__new__(k8s_client.KubeClient)
        client.host, client.dry_run, client.clock = "https://10.0.0.1:6443", dry_run, fake.Clock()
        client.requests, client.unproven, client.sent = 0, [], []
        pending = list(answers)

        def send(method, path, query, body, content_type, raw, accept=None):
            client.requests += 1
            client.sent.append((method, path, query, body))
            answer = pending.pop(0) if pending else {}
            if isinstance(answer, Exception):
                raise answer  # pylint: disable=raising-bad-type
            return answer

        client._send = send
        return client

    return build


def test_dry_run_client_sends_every_write_as_a_server_side_dry_run_and_reads_as_they_are(stub_client):
    client = stub_client(dry_run=True)
    client.get(DEPLOYMENT)
    client.list(PODS, labelSelector="app.kubernetes.io/name=api-gateway")
    client.patch(SCALE, {"spec": {"replicas": 3}})
    client.post(EVICTION, {"kind": "Eviction"})
    client.request("PUT", DEPLOYMENT, query={"fieldManager": "aio"}, body={})
    client.request("DELETE", PODS + "/api-gateway-7d9c6f8b5-x2k4q")
    queries = dict((sent[0], sent[2] or {}) for sent in client.sent)
    assert client.sent[0][2] == {} and "dryRun" not in client.sent[1][2]
    assert client.sent[1][2]["labelSelector"] == "app.kubernetes.io/name=api-gateway"
    assert [queries[m].get("dryRun") for m in ("PATCH", "POST", "PUT", "DELETE")] == ["All"] * 4
    assert queries["PUT"]["fieldManager"] == "aio"  # the caller's query is kept
    assert client.unproven == []


def test_real_client_sends_writes_for_real(stub_client):
    client = stub_client()
    client.patch(SCALE, {"spec": {"replicas": 3}})
    client.post(EVICTION, {"kind": "Eviction"})
    assert [sent[2] for sent in client.sent] == [None, None]


def test_a_refused_dry_run_is_noted_as_unproven_and_check_mode_goes_on(stub_client):
    message = 'deployments.apps "api-gateway" is forbidden: User "system:serviceaccount:ops:aio" cannot patch resource'
    forbidden = k8s_client._api_error(403, "PATCH", SCALE, _status(403, message))
    client = stub_client([forbidden], dry_run=True)
    assert client.patch(SCALE, {"spec": {"replicas": 3}}) == {}
    assert client.unproven == ["PATCH %s: %s" % (SCALE, forbidden)]
    assert "permission denied (403 Forbidden)" in client.unproven[0]


def test_a_forbidden_real_write_fails(stub_client):
    client = stub_client([k8s_client._api_error(403, "PATCH", SCALE, _status(403, "forbidden"))])
    with pytest.raises(ClusterError, match="permission denied") as caught:
        client.patch(SCALE, {"spec": {"replicas": 3}})
    assert caught.value.status == 403 and client.unproven == []


def test_a_forbidden_read_fails_in_check_mode_too(stub_client):
    """Only a write's dry run can be unproven; check mode that cannot even read has nothing to show."""
    client = stub_client([k8s_client._api_error(403, "GET", DEPLOYMENT, _status(403, "forbidden"))], dry_run=True)
    with pytest.raises(ClusterError, match="permission denied"):
        client.get(DEPLOYMENT)
    assert client.unproven == []


def test_a_webhook_that_cannot_run_dry_is_noted_as_unproven(stub_client):
    refused = k8s_client._api_error(400, "PATCH", DEPLOYMENT, _status(400, 'admission webhook "validate.kyverno.svc" does not support dry run'))
    client = stub_client([refused], dry_run=True)
    assert client.patch(DEPLOYMENT, {"metadata": {}}) == {}
    assert len(client.unproven) == 1 and "does not support dry run" in client.unproven[0]


def test_a_dry_run_the_server_rejects_on_its_merits_fails(stub_client):
    """The dry run ran and said no: that is the answer check mode exists for, not something unproven."""
    invalid = k8s_client._api_error(422, "PATCH", SCALE, _status(422, "Scale.autoscaling \"api-gateway\" is invalid: spec.replicas: Invalid value: -1"))
    client = stub_client([invalid], dry_run=True)
    with pytest.raises(ClusterError, match="HTTP 422"):
        client.patch(SCALE, {"spec": {"replicas": -1}})
    assert client.unproven == []


def _throttled(method="GET", path=PODS, retry_after=None):
    return k8s_client._api_error(429, method, path, APF_429, retry_after)


def test_throttling_is_retried_with_backoff_on_the_injected_clock(stub_client):
    client = stub_client([_throttled(retry_after="3"), _throttled(), {"items": [], "metadata": {}}])
    assert client.list(PODS) == []
    assert client.requests == 3
    # Retry-After is honoured as a minimum; without it the backoff doubles (0.5 * 2 ** attempt).
    assert client.clock.slept == [3.0, 2.0]


def test_throttling_backoff_is_capped_and_gives_up(stub_client):
    answers = [_throttled(retry_after="120")] + [_throttled() for _retry in range(k8s_client.THROTTLE_RETRIES)]
    client = stub_client(answers)
    with pytest.raises(ClusterError, match="HTTP 429: Too many requests") as caught:
        client.get(DEPLOYMENT)
    assert caught.value.status == 429 and client.requests == k8s_client.THROTTLE_RETRIES + 1
    assert client.clock.slept == [10.0, 2.0, 4.0, 8.0, 10.0]


def test_a_throttled_dry_run_write_is_retried_as_a_dry_run(stub_client):
    client = stub_client([_throttled("PATCH", SCALE), {"kind": "Scale"}], dry_run=True)
    assert client.patch(SCALE, {"spec": {"replicas": 3}}) == {"kind": "Scale"}
    assert [sent[2]["dryRun"] for sent in client.sent] == ["All", "All"] and client.unproven == []


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_disruption_budget_refusal_is_raised_at_once(stub_client, dry_run):
    """A PodDisruptionBudget's 429 is an answer, not load: no retry, and in check mode it is proven, not unproven."""
    client = stub_client([k8s_client._api_error(429, "POST", EVICTION, PDB_429, "5")], dry_run=dry_run)
    with pytest.raises(ClusterError, match="disruption budget") as caught:
        client.post(EVICTION, {"kind": "Eviction"})
    assert caught.value.status == 429 and caught.value.throttled is False
    assert client.requests == 1 and client.clock.slept == [] and client.unproven == []
