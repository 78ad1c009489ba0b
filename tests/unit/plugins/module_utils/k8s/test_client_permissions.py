# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A 403 names the permission that is missing; a namespace-only identity still diagnoses and remediates.

request_attributes() derives, from method, path and query alone, what the API server's
authorizer checks (verb, API group, resource/subresource, namespace, name): the 403's
message names it and the RBAC rule that grants it. The diagnosis reports the optional
reads a namespace-scoped identity may not make (nodes, metrics, HPAs, config metadata)
and fails, naming the permission, only on the reads it cannot do without.
"""
from __future__ import annotations

import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import client as k8s_client
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import workload_health_info, workload_remediation
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fake_k8s as fake
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NS = fake.NAMESPACE
USER = "system:serviceaccount:%s:incident-bot" % NS


# --- request_attributes: the authorizer's view of a request -------------------------------

@pytest.mark.parametrize(
    "method,path,query,expected",
    [
        # verb, group, resource, subresource, namespace, name
        ("GET", "/api/v1/nodes", None, ("list", "", "nodes", None, None, None)),
        ("GET", "/api/v1/nodes", {"limit": 1000, "continue": None}, ("list", "", "nodes", None, None, None)),
        ("GET", "/api/v1/nodes/kwok-node-0", None, ("get", "", "nodes", None, None, "kwok-node-0")),
        ("GET", "/api/v1/nodes?watch=true", None, ("watch", "", "nodes", None, None, None)),
        ("GET", "/api/v1/namespaces/team-a/pods", {"watch": "1"}, ("watch", "", "pods", None, "team-a", None)),
        ("GET", "/api/v1/namespaces/team-a/pods", {"watch": "false"}, ("list", "", "pods", None, "team-a", None)),
        ("GET", "/api/v1/watch/namespaces/team-a/pods", None, ("watch", "", "pods", None, "team-a", None)),
        ("GET", "/api/v1/pods", None, ("list", "", "pods", None, None, None)),
        ("GET", "/api/v1/namespaces/team-a/pods/web-1", None, ("get", "", "pods", None, "team-a", "web-1")),
        ("GET", "/api/v1/namespaces/team-a/pods/web-1/log", {"container": "app", "tailLines": 100},
         ("get", "", "pods", "log", "team-a", "web-1")),
        ("POST", "/api/v1/namespaces/team-a/pods/web-1/eviction", None, ("create", "", "pods", "eviction", "team-a", "web-1")),
        ("POST", "/api/v1/namespaces/team-a/pods/web-1/eviction", {"dryRun": "All"},
         ("create", "", "pods", "eviction", "team-a", "web-1")),
        ("DELETE", "/api/v1/namespaces/team-a/pods/web-1", None, ("delete", "", "pods", None, "team-a", "web-1")),
        ("DELETE", "/api/v1/namespaces/team-a/pods", None, ("deletecollection", "", "pods", None, "team-a", None)),
        ("GET", "/api/v1/namespaces/team-a/events", {"fieldSelector": "type=Warning"}, ("list", "", "events", None, "team-a", None)),
        ("GET", "/apis/events.k8s.io/v1/namespaces/team-a/events", None, ("list", "events.k8s.io", "events", None, "team-a", None)),
        ("GET", "/api/v1/namespaces/team-a/configmaps", None, ("list", "", "configmaps", None, "team-a", None)),
        ("GET", "/api/v1/namespaces/team-a/secrets", None, ("list", "", "secrets", None, "team-a", None)),
        ("GET", "/apis/apps/v1/namespaces/team-a/deployments", None, ("list", "apps", "deployments", None, "team-a", None)),
        ("GET", "/apis/apps/v1/namespaces/team-a/deployments/web", None, ("get", "apps", "deployments", None, "team-a", "web")),
        ("PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web", None, ("patch", "apps", "deployments", None, "team-a", "web")),
        ("PUT", "/apis/apps/v1/namespaces/team-a/deployments/web", None, ("update", "apps", "deployments", None, "team-a", "web")),
        ("PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web/scale", None,
         ("patch", "apps", "deployments", "scale", "team-a", "web")),
        ("PATCH", "/apis/apps/v1/namespaces/team-a/statefulsets/db/scale", None,
         ("patch", "apps", "statefulsets", "scale", "team-a", "db")),
        ("PUT", "/apis/apps/v1/namespaces/team-a/deployments/web/status", None,
         ("update", "apps", "deployments", "status", "team-a", "web")),
        ("POST", "/apis/apps/v1/namespaces/team-a/deployments", None, ("create", "apps", "deployments", None, "team-a", None)),
        ("GET", "/apis/apps/v1/namespaces/team-a/replicasets", {"labelSelector": "app=web"},
         ("list", "apps", "replicasets", None, "team-a", None)),
        ("GET", "/apis/apps/v1/namespaces/team-a/controllerrevisions", None,
         ("list", "apps", "controllerrevisions", None, "team-a", None)),
        ("GET", "/apis/autoscaling/v2/namespaces/team-a/horizontalpodautoscalers", None,
         ("list", "autoscaling", "horizontalpodautoscalers", None, "team-a", None)),
        ("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/team-a/pods", None, ("list", "metrics.k8s.io", "pods", None, "team-a", None)),
        ("GET", "/apis/metrics.k8s.io/v1beta1/nodes", None, ("list", "metrics.k8s.io", "nodes", None, None, None)),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/incident-lock", None,
         ("get", "coordination.k8s.io", "leases", None, "team-a", "incident-lock")),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/team-a/leases", None,
         ("create", "coordination.k8s.io", "leases", None, "team-a", None)),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/incident-lock", None,
         ("update", "coordination.k8s.io", "leases", None, "team-a", "incident-lock")),
        ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/incident-lock", None,
         ("delete", "coordination.k8s.io", "leases", None, "team-a", "incident-lock")),
        ("GET", "/apis/policy/v1/namespaces/team-a/poddisruptionbudgets", None,
         ("list", "policy", "poddisruptionbudgets", None, "team-a", None)),
        ("GET", "/apis/argoproj.io/v1alpha1/namespaces/team-a/rollouts/web", None, ("get", "argoproj.io", "rollouts", None, "team-a", "web")),
        # The namespace itself: its name is its namespace too (a Role there may grant reading it).
        ("GET", "/api/v1/namespaces/team-a", None, ("get", "", "namespaces", None, "team-a", "team-a")),
        ("GET", "/api/v1/namespaces", None, ("list", "", "namespaces", None, None, None)),
        ("PUT", "/api/v1/namespaces/team-a/finalize", None, ("update", "", "namespaces", "finalize", "team-a", "team-a")),
        ("GET", "/api/v1/namespaces/team-a/status", None, ("get", "", "namespaces", "status", "team-a", "team-a")),
        # Names are decoded as the server decodes them.
        ("GET", "/api/v1/namespaces/team-a/pods/web%2D1", None, ("get", "", "pods", None, "team-a", "web-1")),
        ("HEAD", "/api/v1/namespaces/team-a/pods/web-1", None, ("get", "", "pods", None, "team-a", "web-1")),
    ],
)
def test_request_attributes_are_what_the_authorizer_checks(method, path, query, expected):
    attrs = k8s_client.request_attributes(method, path, query)
    assert attrs["resource_request"] is True
    assert (attrs["verb"], attrs["group"], attrs["resource"], attrs["subresource"], attrs["namespace"], attrs["name"]) == expected


@pytest.mark.parametrize(
    "method,path,verb",
    [("GET", "/version", "get"), ("GET", "/healthz", "get"), ("GET", "/api", "get"), ("GET", "/api/v1", "get"),
     ("GET", "/apis/apps/v1", "get"), ("POST", "/logs/x", "post"), ("GET", "/openapi/v3", "get")],
)
def test_non_resource_urls_are_checked_by_path(method, path, verb):
    attrs = k8s_client.request_attributes(method, path)
    assert attrs["resource_request"] is False and attrs["verb"] == verb and attrs["path"] == path
    assert k8s_client.rbac_rule(attrs) == '{nonResourceURLs: ["%s"], verbs: ["%s"]}' % (path, verb)


@pytest.mark.parametrize(
    "method,path,description,rule",
    [
        ("GET", "/api/v1/nodes", 'list nodes (API group "", cluster-scoped)', '{apiGroups: [""], resources: ["nodes"], verbs: ["list"]}'),
        ("GET", "/api/v1/pods", 'list pods (API group "", all namespaces, at the cluster scope)',
         '{apiGroups: [""], resources: ["pods"], verbs: ["list"]}'),
        ("POST", "/api/v1/namespaces/team-a/pods/web-1/eviction", 'create pods/eviction (API group "", namespace "team-a", name "web-1")',
         '{apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"]}'),
        ("GET", "/api/v1/namespaces/team-a/pods/web-1/log", 'get pods/log (API group "", namespace "team-a", name "web-1")',
         '{apiGroups: [""], resources: ["pods/log"], verbs: ["get"]}'),
        ("PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web", 'patch deployments (API group "apps", namespace "team-a", name "web")',
         '{apiGroups: ["apps"], resources: ["deployments"], verbs: ["patch"]}'),
        ("GET", "/apis/metrics.k8s.io/v1beta1/nodes", 'list nodes (API group "metrics.k8s.io", cluster-scoped)',
         '{apiGroups: ["metrics.k8s.io"], resources: ["nodes"], verbs: ["list"]}'),
    ],
)
def test_a_request_is_described_in_rbac_terms(method, path, description, rule):
    attrs = k8s_client.request_attributes(method, path)
    assert k8s_client.describe_request(attrs) == description
    assert k8s_client.rbac_rule(attrs) == rule


# --- the 403 message -------------------------------------------------------------------------

def _status(code, message, reason="Forbidden", **details):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                       "reason": reason, "code": code, "details": details})


def denial(verb, resource, group="", namespace=None, name=None):
    """The RBAC authorizer's message, as kube-apiserver writes it."""
    subject = '%s "%s"' % (resource.split("/")[0] + ("." + group if group else ""), name) if name else resource.split("/")[0] + (
        "." + group if group else "")
    where = 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
    return '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (subject, USER, verb, resource, group, where)


def forbidden(method, path, message, query=None):
    return k8s_client._api_error(403, method, path, _status(403, message), query=query)


def test_a_forbidden_cluster_list_names_the_verb_resource_scope_and_the_rule():
    message = denial("list", "nodes")
    err = forbidden("GET", "/api/v1/nodes", message, {"limit": 1000})
    assert err.status == 403 and err.authorization is True
    assert str(err) == (
        'permission denied (403 Forbidden): this identity may not list nodes (API group "", cluster-scoped); '
        'grant it the rule {apiGroups: [""], resources: ["nodes"], verbs: ["list"]} in a ClusterRole bound by a '
        "ClusterRoleBinding, or use credentials that have it. API server: " + message
    )
    assert err.request["verb"] == "list" and err.request["resource"] == "nodes"


def test_a_forbidden_namespaced_write_names_the_role_to_grant_in_that_namespace():
    path = "/apis/apps/v1/namespaces/team-a/deployments/web"
    err = forbidden("PATCH", path, denial("patch", "deployments", "apps", "team-a", "web"))
    text = str(err)
    assert text.startswith('permission denied (403 Forbidden): this identity may not patch deployments (API group "apps", '
                           'namespace "team-a", name "web"); grant it the rule {apiGroups: ["apps"], resources: ["deployments"], '
                           'verbs: ["patch"]} in a Role in namespace "team-a" (or a ClusterRole bound there by a RoleBinding)')
    assert text.endswith("API server: " + denial("patch", "deployments", "apps", "team-a", "web"))


def test_a_forbidden_eviction_is_create_on_pods_eviction():
    err = forbidden("POST", "/api/v1/namespaces/team-a/pods/web-1/eviction", denial("create", "pods/eviction", "", "team-a", "web-1"),
                    {"dryRun": "All"})
    assert "may not create pods/eviction" in str(err) and 'resources: ["pods/eviction"], verbs: ["create"]' in str(err)


def test_a_forbidden_watch_is_a_watch():
    err = forbidden("GET", "/api/v1/namespaces/team-a/pods", denial("watch", "pods", "", "team-a"), {"watch": "true"})
    assert "may not watch pods" in str(err)


def test_a_forbidden_non_resource_url_names_the_path():
    message = 'forbidden: User "%s" cannot get path "/version"' % USER
    err = forbidden("GET", "/version", message)
    assert "may not get the non-resource URL /version" in str(err)
    assert '{nonResourceURLs: ["/version"], verbs: ["get"]}' in str(err) and "ClusterRole" in str(err)


@pytest.mark.parametrize(
    "message",
    [
        'pods "web-1" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=4, limited: pods=4',
        'pods "web-1" is forbidden: violates PodSecurity "restricted:latest": privileged',
        'pods "web-1" is forbidden: unable to create new content in namespace team-a because it is being terminated',
        'admission webhook "validate.kyverno.svc" denied the request: images must be signed',
    ],
)
def test_a_403_from_admission_is_not_called_a_missing_permission(message):
    err = forbidden("POST", "/api/v1/namespaces/team-a/pods/web-1/eviction", message)
    assert err.authorization is False
    assert str(err).startswith("refused (403 Forbidden) by admission, not for want of a permission: create pods/eviction")
    assert "grant" not in str(err) and message in str(err)
    # In check mode that is the write's own outcome, not a dry run the server refused.
    assert k8s_client.dry_run_refused(err) is False


def test_an_authorization_403_is_a_refused_dry_run():
    err = forbidden("PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web", denial("patch", "deployments", "apps", "team-a", "web"))
    assert k8s_client.dry_run_refused(err) is True


def test_a_403_without_the_servers_words_still_names_the_permission():
    err = k8s_client._api_error(403, "GET", "/apis/autoscaling/v2/namespaces/team-a/horizontalpodautoscalers", "Forbidden")
    assert "may not list horizontalpodautoscalers (API group \"autoscaling\", namespace \"team-a\")" in str(err)
    assert err.authorization is True


class _Response(object):
    def __init__(self, status, body):
        self.status, self.data, self.headers = status, body.encode("utf-8"), {}


class _Pool(object):
    def __init__(self, response):
        self.response, self.urls = response, []

    def request(self, method, url, **kwargs):
        self.urls.append((method, url))
        return self.response


def test_the_client_passes_the_query_to_the_403_so_a_watch_is_named_a_watch(monkeypatch):
    """_send (the real one) turns the server's 403 into the message; the query decides list or watch."""
    client = object.__new__(k8s_client.KubeClient)
    client.host, client.dry_run, client.request_timeout, client.requests = "https://10.0.0.1:6443", False, 5, 0
    client.unproven, client.clock = [], fake.Clock()
    client.configuration = type("Cfg", (), {"auth_settings": lambda self: {}})()
    client._lock = __import__("threading").Lock()
    client._pool = _Pool(_Response(403, _status(403, denial("watch", "pods", "", "team-a"))))
    with pytest.raises(ClusterError) as caught:
        client.request("GET", "/api/v1/namespaces/team-a/pods", query={"watch": "true", "timeoutSeconds": 5})
    assert "may not watch pods (API group \"\", namespace \"team-a\")" in str(caught.value)
    assert client._pool.urls[0][1].endswith("/api/v1/namespaces/team-a/pods?watch=true&timeoutSeconds=5")


# --- a namespace-only identity: diagnosis ------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    return fake.injected_clock(monkeypatch)


def namespace_only(client):
    """What a Role in NS alone cannot read: the Namespace object, nodes, node and pod metrics, HPAs and Secrets."""
    cluster = [("Namespace", wl.api_path("Namespace", name=NS), "get", "namespaces", "", NS),
               ("Node", wl.api_path("Node"), "list", "nodes", "", None),
               ("NodeMetrics", wl.api_path("NodeMetrics"), "list", "nodes", "metrics.k8s.io", None)]
    namespaced = [("PodMetrics", wl.api_path("PodMetrics", NS), "list", "pods", "metrics.k8s.io"),
                  ("HorizontalPodAutoscaler", wl.api_path("HorizontalPodAutoscaler", NS), "list", "horizontalpodautoscalers", "autoscaling"),
                  ("Secret", wl.api_path("Secret", NS), "list", "secrets", "")]
    for _kind, path, verb, resource, group, name in cluster:
        client.errors[("GET", path)] = forbidden("GET", path, denial(verb, resource, group, NS if name else None, name))
    for _kind, path, verb, resource, group in namespaced:
        client.errors[("GET", path)] = forbidden("GET", path, denial(verb, resource, group, NS))
    return client


def health_params(**kw):
    p = dict((name, spec.get("default")) for name, spec in workload_health_info.argspec().items())
    p.update(namespace=NS)
    p.update(kw)
    return p


def healthy_namespace(clock):
    client = fake.FakeClient(clock=clock)
    dep = f.deployment("web", replicas=2, ready=2)
    rs = f.replicaset(dep, 1, "7d9c6f8b5")
    client.add("Deployment", dep).add("ReplicaSet", rs)
    for suffix in ("x2k4q", "b8m2z"):
        client.add("Pod", f.pod(rs, suffix))
    return client


def test_a_namespace_only_identity_diagnoses_and_the_report_says_what_it_could_not_read(clock):
    client = namespace_only(healthy_namespace(clock))
    report = workload_health_info.diagnose(client, health_params(), now=clock.time())
    assert [w["name"] for w in report["workloads"]] == ["web"] and report["unhealthy"] == []
    assert report["summary"]["pods"] == 2 and report["nodes"] == []
    assert report["nodes_error"].startswith('permission denied (403 Forbidden): this identity may not list nodes (API group "", cluster-scoped)')
    assert "may not list horizontalpodautoscalers" in report["hpa_error"]
    assert "may not list secrets" in report["config_error"]
    assert report["metrics_available"] is False and "may not list pods (API group \"metrics.k8s.io\"" in report["metrics_error"]


@pytest.mark.parametrize(
    "kind,verb,resource,group",
    [("Event", "list", "events", ""), ("Pod", "list", "pods", ""), ("Deployment", "list", "deployments", "apps"),
     ("ReplicaSet", "list", "replicasets", "apps")],
)
def test_a_read_the_diagnosis_needs_fails_naming_the_permission(clock, kind, verb, resource, group):
    client = namespace_only(healthy_namespace(clock))
    path = wl.api_path(kind, NS)
    client.errors[("GET", path)] = forbidden("GET", path, denial(verb, resource, group, NS))
    with pytest.raises(ClusterError) as caught:
        workload_health_info.diagnose(client, health_params(), now=clock.time())
    assert "this identity may not %s %s (API group \"%s\", namespace \"%s\")" % (verb, resource, group, NS) in str(caught.value)


def test_another_namespace_fails_naming_the_namespace(clock):
    client = healthy_namespace(clock)
    other = "payments"
    for kind, resource, group in (("Pod", "pods", ""), ("Event", "events", ""), ("ReplicaSet", "replicasets", "apps"),
                                  ("Deployment", "deployments", "apps"), ("StatefulSet", "statefulsets", "apps"),
                                  ("Node", "nodes", ""), ("HorizontalPodAutoscaler", "horizontalpodautoscalers", "autoscaling"),
                                  ("ConfigMap", "configmaps", ""), ("Secret", "secrets", "")):
        path = wl.api_path(kind, other if kind != "Node" else None)
        client.errors[("GET", path)] = forbidden("GET", path, denial("list", resource, group, other if kind != "Node" else None))
    name_path = wl.api_path("Namespace", name=other)
    client.errors[("GET", name_path)] = forbidden("GET", name_path, denial("get", "namespaces", "", other, other))
    with pytest.raises(ClusterError) as caught:
        workload_health_info.diagnose(client, health_params(namespace=other, metrics=False), now=clock.time())
    # The first required list (pods) answers first; its namespace is named.
    assert str(caught.value).startswith('permission denied (403 Forbidden): this identity may not list pods (API group "", '
                                        'namespace "payments"); grant it the rule')


# --- a namespace-only identity: remediation ------------------------------------------------

def remediation_params(**kw):
    p = dict((name, spec.get("default")) for name, spec in workload_remediation.argspec().items())
    p.update(namespace=NS, service="web", incident_id="incident-2027-01-15-080000", reason="test", wait_timeout=30, metrics_timeout=0)
    p.update(kw)
    return p


def test_a_namespace_only_identity_evicts_a_pod_and_waits_for_its_replacement(clock):
    client = namespace_only(healthy_namespace(clock))
    pod = client.of_kind("Pod")[0]["metadata"]["name"]
    result = workload_remediation.run(client, remediation_params(action="delete_pod", pods=[pod]), clock=clock)
    assert result["changed"] and result["verified"] is True
    assert not any(path.startswith("/api/v1/nodes") for _m, path, _b, _d in client.writes)


def test_a_restart_without_patch_deployments_fails_naming_it_and_changes_nothing(clock):
    client = namespace_only(healthy_namespace(clock))
    path = wl.api_path("Deployment", NS, "web")
    client.errors[("PATCH", path)] = forbidden("PATCH", path, denial("patch", "deployments", "apps", NS, "web"))
    before = json.dumps(client.objects, sort_keys=True)
    with pytest.raises(ClusterError) as caught:
        workload_remediation.run(client, remediation_params(action="rollout_restart", min_restart_interval=0), clock=clock)
    assert "this identity may not patch deployments (API group \"apps\", namespace \"%s\", name \"web\")" % NS in str(caught.value)
    assert 'verbs: ["patch"]' in str(caught.value)
    assert json.dumps(client.objects, sort_keys=True) == before


def test_without_secret_rights_changed_configmaps_are_still_reported(clock):
    """Secrets unreadable (a Role that keeps their values out of reach): a ConfigMap changed since the
    rollout is still evidence, and a referenced Secret is not called missing."""
    client = namespace_only(fake.FakeClient(clock=clock))
    dep = f.deployment("web", replicas=2, ready=1)
    dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "web-config"}},
                                                                   {"secretRef": {"name": "web-secrets"}}]
    rs = f.replicaset(dep, 1, "7d9c6f8b5", age=3600)
    client.add("Deployment", dep).add("ReplicaSet", rs).add("ConfigMap", {"metadata": {
        "name": "web-config", "creationTimestamp": f.ts(86400),
        "managedFields": [{"manager": "kubectl", "operation": "Update", "time": f.ts(600), "fieldsV1": {"f:data": {}}}]}})
    client.add("Pod", f.pod(rs, "x2k4q"), f.pod(rs, "b8m2z", ready=False, waiting="CrashLoopBackOff", restarts=4, last=("Error", 1)))
    report = workload_health_info.diagnose(client, health_params(max_log_containers=0), now=clock.time())
    w = report["workloads"][0]
    assert w["classification"] == "crashloop"
    assert [(c["kind"], c["name"]) for c in w["config_changes"]] == [("ConfigMap", "web-config")]
    assert "may not list secrets" in report["config_error"]
