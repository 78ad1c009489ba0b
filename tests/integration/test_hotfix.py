# SPDX-License-Identifier: GPL-3.0-or-later
"""The hotfix forms of workload_remediation on the drill cluster: action=set_image and action=rollback with to_revision.

Works in a namespace of its own (hotfix-<hex>), created and deleted here; the platform
fixture is not touched. kwok starts any image, except one the drill treats as unpullable
by convention (a tag ending in -unpullable: ErrImagePull, then ImagePullBackOff, see
drill/kwok/stages-faults.yaml) - how a hotfix whose image does not exist looks. The real
Deployment controller numbers the revisions, so these tests also check what the unit tests'
fake assumes: a rolled-back ReplicaSet comes back under the next revision, its old number in
deployment.kubernetes.io/revision-history.
"""

from __future__ import annotations

import json
import secrets

import pytest

import drill
from playbook import module

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"
IMAGE = "ghcr.io/ai-orchestrator/web:%s"
# Three actions per test at most would do, but the module's budget is what the unit tests check.
BUDGET = dict(budget_max_actions=10, budget_window_minutes=60)


@pytest.fixture(scope="module")
def ns(drill_env):
    name = "hotfix-" + secrets.token_hex(4)
    drill.kubectl("create", "namespace", name, namespace=None)
    yield name
    drill.kubectl("delete", "namespace", name, "--wait=false", namespace=None, check=False)


def deploy(ns, name, tag="1.0.0"):
    """A 2-replica Deployment (rolling update that never drops a ready replica) at image web:``tag``, rolled out."""
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": name, "image": IMAGE % tag}]},
            },
        },
    }
    drill.kubectl("apply", "-f", "-", input=json.dumps(manifest), namespace=ns)
    drill.kubectl("rollout", "status", "deployment/" + name, "--timeout=90s", namespace=ns, timeout=120)


def remediate(ns, check=False, **args):
    return module("workload_remediation", check=check, kubeconfig=drill.kubeconfig(), namespace=ns, **dict(BUDGET, **args))


def deployment(ns, name):
    return drill.kubectl_json("get", "deployment", name, namespace=ns)


def image(ns, name):
    return deployment(ns, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def history(ns, name):
    return json.loads((deployment(ns, name)["metadata"].get("annotations") or {}).get(HISTORY) or "[]")


def pod_images(ns, name):
    """Images of the workload's pods that are Ready (every pod Ready: the rollout has settled)."""
    pods = drill.pods(name, namespace=ns)
    assert all(drill.is_ready(p) for p in pods), [(p.metadata.name, p.status.phase) for p in pods]
    return sorted(p.spec.containers[0].image for p in pods)


def test_a_hotfix_image_is_rolled_out_verified_and_not_repeated(ns):
    deploy(ns, "web")
    args = dict(service="web", action="set_image", images={"web": IMAGE % "1.0.1"}, incident_id="incident-hotfix-1",
                reason="5xx since 1.0.0", wait_timeout=120)
    dry = remediate(ns, check=True, **args)
    assert not dry["failed"] and dry["changed"] and dry["verified"] is None, dry.get("msg")
    assert dry["steps"] == ["would set the image of Deployment/web (revision 1): container web %s -> %s (dry run)" % (IMAGE % "1.0.0", IMAGE % "1.0.1")]
    assert (dry["previous_revision"], dry["revision"], dry["rolled_back"]) == (1, 1, False)
    assert image(ns, "web") == IMAGE % "1.0.0" and history(ns, "web") == []

    done = remediate(ns, **args)
    assert not done["failed"] and done["changed"] and done["verified"] is True, done.get("msg")
    assert (done["previous_revision"], done["revision"], done["rolled_back"]) == (1, 2, False)
    assert done["images_before"] == {"web": IMAGE % "1.0.0"} and done["images_after"] == {"web": IMAGE % "1.0.1"}
    assert pod_images(ns, "web") == [IMAGE % "1.0.1"] * 2
    [entry] = history(ns, "web")
    assert (entry["action"], entry["incident"], entry["images"]) == ("set_image", "incident-hotfix-1", {"web": IMAGE % "1.0.1"})

    again = remediate(ns, **args)
    assert not again["failed"] and not again["changed"], again.get("msg")
    assert again["steps"] == ["skipped Deployment/web: Deployment/web already runs web=%s" % (IMAGE % "1.0.1")]
    assert (again["previous_revision"], again["revision"]) == (2, 2) and len(history(ns, "web")) == 1

    unknown = remediate(ns, **dict(args, images={"gateway": IMAGE % "1.0.2"}))
    assert unknown["failed"] and "container(s) gateway not in the pod template of Deployment/web; its containers: web" in unknown["msg"]


def test_a_hotfix_whose_image_cannot_be_pulled_is_rolled_back_and_fails(ns):
    deploy(ns, "api")
    result = remediate(ns, service="api", action="set_image", images={"api": IMAGE % "1.0.1-unpullable"}, incident_id="incident-hotfix-2",
                       wait_timeout=120)
    assert result["failed"] and result["verified"] is False, result
    assert result["rolled_back"] is True and result["previous_revision"] == 1 and result["revision"] == 3, result
    msg = result["msg"]
    assert msg.startswith("set_image on Deployment/api: new revision 2 (api=%s) did not become healthy: " % (IMAGE % "1.0.1-unpullable")), msg
    assert "ImagePullBackOff" in msg or "ErrImagePull" in msg, msg
    assert "rolled back automatically to revision 1 (api=%s), healthy again as revision 3" % (IMAGE % "1.0.0") in msg, msg
    # The old pods stayed up throughout (maxUnavailable 0); the failing one is gone.
    assert image(ns, "api") == IMAGE % "1.0.0" and pod_images(ns, "api") == [IMAGE % "1.0.0"] * 2
    assert [e["action"] for e in history(ns, "api")] == ["set_image", "rollback"]
    dep = deployment(ns, "api")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    # The other hotfix form: forward with a fixed image, then back to the known good revision 1 by its number.
    fixed = remediate(ns, service="api", action="set_image", images={"api": IMAGE % "1.0.2"}, wait_timeout=120)
    assert not fixed["failed"] and (fixed["previous_revision"], fixed["revision"]) == (3, 4), fixed.get("msg")

    # Revision 1 is numbered 3 since the automatic rollback; Kubernetes keeps 1 in its ReplicaSet's revision-history.
    back = remediate(ns, service="api", action="rollback", to_revision=1, force=True, wait_timeout=120, reason="1.0.2 is slow")
    assert not back["failed"] and back["changed"] and back["verified"] is True, back.get("msg")
    assert (back["previous_revision"], back["revision"], back["rolled_back"]) == (4, 5, True)
    assert back["plan"]["to_revision"] == 3
    assert back["images_before"] == {"api": IMAGE % "1.0.2"} and back["images_after"] == {"api": IMAGE % "1.0.0"}
    assert pod_images(ns, "api") == [IMAGE % "1.0.0"] * 2

    again = remediate(ns, service="api", action="rollback", to_revision=1, force=True, wait_timeout=120)
    assert not again["failed"] and not again["changed"], again.get("msg")
    assert again["steps"] == ["skipped rollback of Deployment/api: revision 1 is already the current one (numbered 5 since it was rolled back to)"]
    assert (again["previous_revision"], again["revision"], again["rolled_back"]) == (5, 5, False)
    assert [e["action"] for e in history(ns, "api")] == ["set_image", "rollback", "set_image", "rollback"]
