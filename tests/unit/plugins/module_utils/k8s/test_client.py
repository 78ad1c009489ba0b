# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection settings and error messages; real requests are exercised against the drill cluster."""
from __future__ import annotations

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import client as k8s_client
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError, NotFound


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
