# SPDX-License-Identifier: GPL-3.0-or-later
"""Identities of real teams on the drill cluster: a ServiceAccount with a Role in one namespace only.

NAMESPACE_ROLE_RULES is what the collection's diagnosis (workload_health_info) and
remediation (workload_remediation) need in a team's namespace - and nothing cluster-wide:
nodes and node metrics stay out of reach and the report says so. Secrets are left out on
purpose: RBAC cannot grant their metadata without their values, so the diagnosis reports
config_error for them and still reports changed ConfigMaps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import drill
from playbook import kubeconfig_with_token

READ = ["get", "list", "watch"]
NAMESPACE_ROLE_RULES = [
    # Diagnosis: one list per kind; logs of unhealthy containers.
    {"apiGroups": [""], "resources": ["pods", "events", "configmaps"], "verbs": READ},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets"], "verbs": READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]},
    # Remediation: evictions (PodDisruptionBudgets hold), restart / rollback / history annotation, scale.
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"], "verbs": ["patch"]},
    # A per-namespace lock for concurrent runs (the modules make no Lease request yet).
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update", "delete"]},
]


def without(rules: list[dict], group: str, resource: str, verb: str) -> list[dict]:
    """The rules less one verb on one resource (a Role missing exactly that permission)."""
    result = []
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            others = [r for r in rule["resources"] if r != resource]
            if others:
                result.append(dict(rule, resources=others))
            verbs = [v for v in rule["verbs"] if v != verb]
            if verbs:
                result.append(dict(rule, resources=[resource], verbs=verbs))
        else:
            result.append(rule)
    return result


def service_account(namespace: str, name: str, rules: list[dict]) -> list[dict]:
    """ServiceAccount, Role and RoleBinding objects: NAME may do RULES in NAMESPACE only."""
    meta = {"name": name, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]


def apply(objects: list[dict]) -> None:
    drill.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}), namespace=None)


def kubeconfig(folder: Path, namespace: str, name: str, duration: str = "1h") -> str:
    """A kubeconfig with the drill's server and CA and a real token of the ServiceAccount (TokenRequest)."""
    token = drill.kubectl("create", "token", name, "--duration=" + duration, namespace=namespace).stdout.strip()
    folder = Path(folder) / name
    folder.mkdir(parents=True, exist_ok=True)
    return kubeconfig_with_token(folder, token)


def can_i(kubeconfig_path: str, namespace: str | None, verb: str, resource: str) -> bool:
    """kubectl auth can-i as that identity (a SelfSubjectAccessReview, which everyone may create); RESOURCE may be pods/eviction."""
    resource, _, subresource = resource.partition("/")
    cmd = [str(drill.kubectl_path()), "--kubeconfig", kubeconfig_path, "auth", "can-i", verb, resource]
    cmd += ["--subresource=" + subresource] if subresource else []
    cmd += ["-n", namespace] if namespace else []
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.strip() == "yes"
