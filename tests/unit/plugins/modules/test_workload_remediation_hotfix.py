# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""workload_remediation's hotfix forms on the in-memory cluster (fake_k8s): action=set_image and
action=rollback with to_revision.

set_image writes the images and the history entry in one conditional strategic merge patch
(a rollout); the module waits for the new revision and, when it is not healthy, puts back the
template it replaced (apply_rollback) and fails naming both revisions. A rollback to a revision
already rolled back to (Kubernetes renumbers it, keeping the old number in revision-history)
changes nothing. Nothing sleeps for real: time passes on the fake_k8s.Clock.

The drill cluster: tests/integration/test_hotfix.py.
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

from .incident_runner import run_module

NS = fake.NAMESPACE
TIMEOUT = 30
OLD = "ghcr.io/ai-orchestrator/api-gateway:1.4.2"
FIXED = "ghcr.io/ai-orchestrator/api-gateway:1.4.3"
BROKEN = "ghcr.io/ai-orchestrator/api-gateway:1.4.3-unpullable"
STUCK = "ghcr.io/ai-orchestrator/api-gateway:1.4.3-stuck"


@pytest.fixture
def clock(monkeypatch):
    return fake.injected_clock(monkeypatch)


class HotfixCluster(fake.FakeClient):
    """fake_k8s with two more controller habits a hotfix meets.

    Pods come up as their template's first image says (``image_states``: image -> a key of
    fake.POD_STATES; ``new_pods`` otherwise), and a ReplicaSet the Deployment controller reuses
    under a new revision keeps its old numbers in deployment.kubernetes.io/revision-history.
    """

    def __init__(self, *args, **kwargs):
        super(HotfixCluster, self).__init__(*args, **kwargs)
        self.image_states = {BROKEN: "crash", STUCK: "pending"}
        self.conflicts = 0  # PATCHes of the Deployment answered 409 Conflict before the next one passes
        self.on_conflict = None  # what another writer changes when it wins

    def _new_pod(self, owner_kind, owner, suffix):
        image = owner["spec"]["template"]["spec"]["containers"][0]["image"]
        default, self.new_pods = self.new_pods, self.image_states.get(image, self.new_pods)
        try:
            super(HotfixCluster, self)._new_pod(owner_kind, owner, suffix)
        finally:
            self.new_pods = default

    def _deployment(self, dep):
        before = dict((rs["metadata"]["name"], wl.revision(rs)) for rs in self.of_kind("ReplicaSet", owner=dep))
        super(HotfixCluster, self)._deployment(dep)
        for rs in self.of_kind("ReplicaSet", owner=dep):
            old = before.get(rs["metadata"]["name"])
            if old and old != wl.revision(rs):
                annotations = rs["metadata"]["annotations"]
                kept = [p for p in annotations.get(rem.REVISION_HISTORY_ANNOTATION, "").split(",") if p]
                annotations[rem.REVISION_HISTORY_ANNOTATION] = ",".join(kept + [str(old)])

    def patch(self, path, body, patch_type="merge"):
        if self.conflicts and path == self.path("Deployment", "api-gateway"):
            self.conflicts -= 1
            self._request("PATCH", path, body)
            if self.on_conflict:
                self.on_conflict(self.obj("Deployment", "api-gateway"))
            raise ClusterError("PATCH %s: the object has been modified (409 Conflict)" % path, status=409)
        return super(HotfixCluster, self).patch(path, body, patch_type)


def api_gateway(clock, dry_run=False, revision=1, **kw):
    """Deployment api-gateway at revision ``revision`` (image 1.4.2), 2 ready pods, resourceVersion 1001."""
    client = HotfixCluster(clock=clock, dry_run=dry_run)
    dep = f.deployment("api-gateway", revision=revision, **kw)
    dep["metadata"]["resourceVersion"] = "1001"
    rs = f.replicaset(dep, revision, "7d9c6f8b5")
    client.add("Deployment", dep).add("ReplicaSet", rs)
    client.add("Pod", f.pod(rs, "x2k4q"), f.pod(rs, "b8m2z"))
    return client


def params(**kw):
    """Module params as AnsibleModule would pass them: the argspec's defaults, then kw."""
    p = dict((name, spec.get("default")) for name, spec in workload_remediation.argspec().items())
    p.update(namespace=NS, service="api-gateway", action="set_image", images={"api-gateway": FIXED},
             incident_id="incident-2027-01-15-080000", reason="5xx since 1.4.2", wait_timeout=TIMEOUT, metrics_timeout=0)
    p.update(kw)
    return p


def run(client, **kw):
    return workload_remediation.run(client, params(**kw), clock=client.clock)


def dep_path(name="api-gateway"):
    return wl.api_path("Deployment", NS, name)


def sent(client):
    return [(write[0], write[1], write[3]) for write in client.writes]


def image(client, name="api-gateway"):
    return client.obj("Deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]


def history(client, name="api-gateway"):
    return rem.history(client.obj("Deployment", name))


def pod_images(client):
    """The first image of the template of each pod's ReplicaSet (the fake's pods carry a fixed image)."""
    owners = dict((wl.uid(rs), rs) for rs in client.of_kind("ReplicaSet"))
    return sorted(owners[next(iter(wl.owner_uids(p)))]["spec"]["template"]["spec"]["containers"][0]["image"] for p in client.of_kind("Pod"))


# --- set_image ----------------------------------------------------------------


def test_set_image_rolls_out_the_new_image_in_one_conditional_patch_and_verifies(clock):
    client = api_gateway(clock)
    result = run(client)
    assert result["changed"] is True and result["verified"] is True
    assert result["msg"] == "set_image on Deployment/api-gateway: verified healthy"
    assert sent(client) == [("PATCH", dep_path(), False)]
    body = client.writes[0][2]
    assert body["spec"] == {"template": {"spec": {"containers": [{"name": "api-gateway", "image": FIXED}]}}}
    assert body["metadata"]["resourceVersion"] == "1001"
    assert image(client) == FIXED and pod_images(client) == [FIXED, FIXED]
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (1, 2, False)
    assert result["images_before"] == {"api-gateway": OLD} and result["images_after"] == {"api-gateway": FIXED}
    assert result["plan"] == {"skip": None, "images_before": {"api-gateway": OLD}, "images_after": {"api-gateway": FIXED},
                              "changes": ["container api-gateway %s -> %s" % (OLD, FIXED)], "previous_revision": 1}
    assert result["steps"] == ["set the image of Deployment/api-gateway (revision 1): container api-gateway %s -> %s" % (OLD, FIXED),
                               "Deployment/api-gateway healthy at revision 2: 2/2 ready, 2 updated"]
    assert result["diff"] == {"before": {"revision": 1, "images": {"api-gateway": OLD}}, "after": {"revision": 2, "images": {"api-gateway": FIXED}}}
    [entry] = history(client)
    assert entry == {"at": f.ts(0), "action": "set_image", "incident": "incident-2027-01-15-080000", "reason": "5xx since 1.4.2",
                     "images": {"api-gateway": FIXED}}


def test_set_image_again_changes_nothing(clock):
    client = api_gateway(clock)
    run(client)
    writes = len(client.writes)
    again = run(client)
    assert again["changed"] is False and again["verified"] is None and len(client.writes) == writes
    assert again["steps"] == ["skipped Deployment/api-gateway: Deployment/api-gateway already runs api-gateway=%s" % FIXED]
    assert (again["previous_revision"], again["revision"], again["rolled_back"]) == (2, 2, False)
    assert again["msg"] == "set_image on Deployment/api-gateway: nothing to do" and len(history(client)) == 1


def test_set_image_already_set_but_still_rolling_out_waits_for_it(clock):
    client = api_gateway(clock, revision=2, generation=2)
    dep = client.obj("Deployment", "api-gateway")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = FIXED  # set by hand, the controller has not caught up
    dep["status"]["observedGeneration"] = 1
    result = run(client)
    assert result["changed"] is False and result["verified"] is True
    assert result["steps"][0].endswith("already runs api-gateway=%s (its rollout is not complete)" % FIXED)
    assert result["steps"][1].startswith("Deployment/api-gateway healthy: 2/2 ready")
    assert [w[0] for w in client.writes] == [] and pod_images(client) == [FIXED, FIXED]


def test_set_image_only_touches_containers_whose_image_differs(clock):
    client = api_gateway(clock)
    sidecar = {"name": "proxy", "image": "ghcr.io/ai-orchestrator/proxy:0.9"}
    client.obj("Deployment", "api-gateway")["spec"]["template"]["spec"]["initContainers"] = [dict(sidecar, restartPolicy="Always")]
    result = run(client, images={"api-gateway": OLD, "proxy": "ghcr.io/ai-orchestrator/proxy:1.0"})
    assert result["changed"] is True
    assert client.writes[0][2]["spec"] == {"template": {"spec": {"initContainers": [{"name": "proxy", "image": "ghcr.io/ai-orchestrator/proxy:1.0"}]}}}
    assert result["plan"]["changes"] == ["container proxy ghcr.io/ai-orchestrator/proxy:0.9 -> ghcr.io/ai-orchestrator/proxy:1.0"]
    assert client.obj("Deployment", "api-gateway")["spec"]["template"]["spec"]["initContainers"][0]["restartPolicy"] == "Always"


def test_set_image_check_mode_sends_a_dry_run_and_waits_for_nothing(clock):
    client = api_gateway(clock, dry_run=True)
    before = json.dumps(client.objects, sort_keys=True)
    result = run(client)
    assert sent(client) == [("PATCH", dep_path(), True)]
    assert json.dumps(client.objects, sort_keys=True) == before and clock.slept == []
    assert result["changed"] is True and result["verified"] is None
    assert result["steps"] == ["would set the image of Deployment/api-gateway (revision 1): container api-gateway %s -> %s (dry run)" % (OLD, FIXED)]
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (1, 1, False)
    assert "patch" not in result["plan"] and "template" not in result["plan"]


def test_set_image_without_wait_does_not_judge_the_new_revision(clock):
    client = api_gateway(clock)
    result = run(client, images={"api-gateway": BROKEN}, wait=False)
    assert result["changed"] is True and result["verified"] is None and clock.slept == []
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (1, None, False)
    assert image(client) == BROKEN


def test_a_new_revision_whose_pods_fail_is_rolled_back_at_once(clock):
    client = api_gateway(clock)
    with pytest.raises(rem.RolledBack) as failed:
        run(client, images={"api-gateway": BROKEN})
    message = str(failed.value)
    assert message.startswith("set_image on Deployment/api-gateway: new revision 2 (api-gateway=%s) did not become healthy: "
                              "Deployment/api-gateway: new pod api-gateway-rev2-n" % BROKEN)
    assert "CrashLoopBackOff" in message
    assert message.endswith("rolled back automatically to revision 1 (api-gateway=%s), healthy again as revision 3: 2/2 ready, 2 updated" % OLD)
    assert clock.now < f.NOW + TIMEOUT  # failed fast, not at the timeout
    details = failed.value.details
    assert (details["rolled_back"], details["previous_revision"], details["revision"], details["changed"]) == (True, 1, 3, True)
    assert details["images_before"] == {"api-gateway": OLD} and details["images_after"] == {"api-gateway": BROKEN}
    assert details["steps"][0].startswith("set the image of Deployment/api-gateway (revision 1)")
    assert details["steps"][1].startswith("rolled back Deployment/api-gateway from revision 2 to 1 (images %s -> %s)" % (BROKEN, OLD))
    assert image(client) == OLD and pod_images(client) == [OLD, OLD]
    # The old ReplicaSet came back under the next revision, keeping its number in its history.
    rs = client.obj("ReplicaSet", "api-gateway-7d9c6f8b5")
    assert wl.revision(rs) == 3 and rem.revision_history(rs) == [1]
    # Both writes are in the history: the hotfix and its rollback.
    assert [(e["action"], e.get("to_revision")) for e in history(client)] == [("set_image", None), ("rollback", 1)]
    assert history(client)[1]["reason"] == "automatic rollback: new revision 2 not healthy"
    # One conditional patch for the image; the rollback writes its history entry, then the template.
    assert sent(client) == [("PATCH", dep_path(), False)] * 3
    assert client.writes[2][2][0]["path"] == "/spec/template"


def test_a_new_revision_that_never_becomes_ready_is_rolled_back_at_the_timeout(clock):
    client = api_gateway(clock)
    with pytest.raises(rem.RolledBack, match="new revision 2 \\(api-gateway=%s\\) did not become healthy: Deployment/api-gateway did not "
                                             "become healthy within 30s: 0/2 ready" % STUCK) as failed:
        run(client, images={"api-gateway": STUCK})
    assert clock.now >= f.NOW + TIMEOUT and failed.value.details["rolled_back"] is True
    assert image(client) == OLD and pod_images(client) == [OLD, OLD]


def test_a_rollback_that_does_not_heal_either_fails_saying_escalate(clock):
    client = api_gateway(clock)
    client.image_states[OLD] = "crash"  # the old image no longer starts either (a dependency changed)
    with pytest.raises(rem.RolledBack) as failed:
        run(client, images={"api-gateway": BROKEN})
    message = str(failed.value)
    assert "rolled back automatically to revision 1 (api-gateway=%s), which did not become healthy either: " % OLD in message
    assert message.endswith("; escalate")
    assert failed.value.details["rolled_back"] is True and image(client) == OLD


def test_a_refused_rollback_says_how_to_roll_back_by_hand(clock):
    client = api_gateway(clock)

    def refuse_template(path, body, patch_type="merge"):
        if patch_type == "json":
            raise ClusterError("PATCH %s: admission webhook denied the request (403)" % path, status=403)
        return HotfixCluster.patch(client, path, body, patch_type)

    client.patch = refuse_template
    with pytest.raises(rem.RolledBack) as failed:
        run(client, images={"api-gateway": BROKEN})
    assert "the automatic rollback to revision 1 failed: PATCH" in str(failed.value)
    assert str(failed.value).endswith("roll back by hand: kubectl rollout undo deployment/api-gateway --to-revision=1 -n %s" % NS)
    assert failed.value.details["rolled_back"] is False and image(client) == BROKEN
    # The rollback's history claim was taken back: it did not happen.
    assert [e["action"] for e in history(client)] == ["set_image"]


def test_the_automatic_rollback_happens_even_when_the_hotfix_spent_the_last_budget(clock):
    client = api_gateway(clock)
    with pytest.raises(rem.RolledBack):
        run(client, images={"api-gateway": BROKEN}, budget_max_actions=1)
    assert image(client) == OLD and [e["action"] for e in history(client)] == ["set_image", "rollback"]
    # The next run finds the budget used up.
    result = run(client, budget_max_actions=1)
    assert result["budget_exhausted"] is True and result["changed"] is False
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (3, 3, False)


def test_set_image_on_a_conflict_reads_again_and_finds_the_image_already_set(clock):
    client = api_gateway(clock)
    client.conflicts = 1

    def someone_else_sets_it(dep):
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = FIXED
        dep["metadata"]["resourceVersion"] = "1002"

    client.on_conflict = someone_else_sets_it
    result = run(client)
    assert result["changed"] is False and history(client) == []
    assert result["steps"][0].startswith("skipped Deployment/api-gateway: Deployment/api-gateway already runs api-gateway=%s" % FIXED)


def test_set_image_on_a_conflict_claims_again_on_the_fresh_object(clock):
    client = api_gateway(clock)
    client.conflicts = 1
    client.on_conflict = lambda dep: dep["metadata"].update(resourceVersion="1002")
    result = run(client)
    assert result["changed"] is True and result["verified"] is True
    assert [w[2]["metadata"]["resourceVersion"] for w in client.writes] == ["1001", "1002"]
    assert len(history(client)) == 1


def test_a_stalled_rollout_fails_before_the_timeout():
    """The Deployment controller's ProgressDeadlineExceeded is a verdict: no point waiting on."""
    clock = fake.Clock()
    client = api_gateway(clock, ready=1, updated=1)
    client.obj("Deployment", "api-gateway")["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "api-gateway-5f6a7b8c9" has timed out progressing.'}]
    ws = wl.Workloads(client, NS, clock=clock)
    client.clock.callbacks.remove(client.reconcile)  # status stays as it is
    with pytest.raises(VerificationFailed, match="exceeded its progress deadline \\(ReplicaSet \"api-gateway-5f6a7b8c9\" has timed out"):
        rem.wait_healthy(ws, "Deployment", "api-gateway", TIMEOUT)
    assert clock.now == f.NOW


def test_a_stale_progress_deadline_of_an_older_generation_is_not_a_verdict():
    clock = fake.Clock()
    client = api_gateway(clock, generation=2)
    dep = client.obj("Deployment", "api-gateway")
    dep["status"]["observedGeneration"] = 1
    dep["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    assert rem.progress_deadline_exceeded("Deployment", dep) is None
    dep["status"]["observedGeneration"] = 2
    assert rem.progress_deadline_exceeded("Deployment", dep) == "ProgressDeadlineExceeded"


# --- guardrails and validation ---------------------------------------------------


def test_set_image_names_the_containers_when_one_is_unknown(clock):
    client = api_gateway(clock)
    with pytest.raises(NotFound, match="container\\(s\\) gateway not in the pod template of Deployment/api-gateway; its containers: api-gateway"):
        run(client, images={"gateway": FIXED})
    assert client.writes == []


def test_set_image_refuses_a_statefulset(clock):
    client = HotfixCluster(clock=clock)
    sts = f.deployment("redis")
    sts["spec"].pop("strategy")
    client.add("StatefulSet", sts)
    with pytest.raises(GuardrailError, match="set_image of StatefulSet/redis is not automated: a StatefulSet is not rolled back automatically"):
        run(client, service="redis", kind="StatefulSet", images={"redis": "redis:7.2.5"})
    assert client.writes == []


def test_set_image_refuses_a_recreate_deployment(clock):
    client = api_gateway(clock, strategy="Recreate")
    with pytest.raises(GuardrailError, match="refusing to set the image of Deployment/api-gateway: its Recreate strategy stops every replica"):
        run(client)
    assert client.writes == []


@pytest.mark.parametrize("images, message", [
    (None, "action set_image needs images: {container: image}"),
    ({}, "action set_image needs images"),
    ({"api-gateway": ""}, "images.api-gateway must be an image reference (a non-empty string without whitespace), not ''"),
    ({"api-gateway": "ghcr.io/x/y:1 --privileged"}, "images.api-gateway must be an image reference"),
    ({"api-gateway": "ghcr.io/x/y:1\n"}, "images.api-gateway must be an image reference"),
    ({"api-gateway": 2}, "images.api-gateway must be an image reference (a non-empty string without whitespace), not 2"),
    ({"api-gateway": ["a"]}, "images.api-gateway must be an image reference"),
    ({"": FIXED}, "images: container names must be non-empty strings"),
])
def test_unusable_images_fail_before_the_cluster_is_touched(clock, images, message):
    client = api_gateway(clock)
    with pytest.raises(InvalidInput) as failed:
        run(client, images=images)
    assert message in str(failed.value) and client.requests == 0


def test_images_with_another_action_is_refused(clock):
    client = api_gateway(clock)
    with pytest.raises(InvalidInput, match="images goes only with action=set_image"):
        run(client, action="rollback")
    assert client.requests == 0


# --- rollback with to_revision: the other hotfix ------------------------------------


def released(clock, state="crash"):
    """api-gateway released to revision 2 (image 1.4.3-unpullable, pods ``state``); revision 1 (1.4.2) was fine."""
    client = api_gateway(clock, revision=2, generation=2, ready=0)
    dep = client.obj("Deployment", "api-gateway")
    good = client.obj("ReplicaSet", "api-gateway-7d9c6f8b5")
    good["metadata"]["annotations"][wl.REVISION_ANNOTATION] = "1"
    for pod in client.of_kind("Pod"):
        client._delete("Pod", pod)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = BROKEN
    bad = f.replicaset(dep, 2, "5f6a7b8c9")
    client.add("ReplicaSet", bad)
    client.add("Pod", f.pod(bad, "q1w2e", **fake.POD_STATES[state]), f.pod(bad, "r3t4y", **fake.POD_STATES[state]))
    return client


def test_rollback_to_a_revision_returns_the_revisions_and_is_idempotent(clock):
    client = released(clock)
    result = run(client, action="rollback", images=None, to_revision=1)
    assert result["changed"] is True and result["verified"] is True
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (2, 3, True)
    assert result["images_before"] == {"api-gateway": BROKEN} and result["images_after"] == {"api-gateway": OLD}
    assert image(client) == OLD and pod_images(client) == [OLD, OLD]
    assert result["plan"] == {"skip": None, "from_revision": 2, "to_revision": 1, "images_before": [BROKEN], "images_after": [OLD]}

    writes = len(client.writes)
    again = run(client, action="rollback", images=None, to_revision=1)
    assert again["changed"] is False and len(client.writes) == writes
    assert again["steps"] == ["skipped rollback of Deployment/api-gateway: revision 1 is already the current one (numbered 3 since it was rolled back to)"]
    assert (again["previous_revision"], again["revision"], again["rolled_back"]) == (3, 3, False)
    assert again["images_before"] == again["images_after"] == {"api-gateway": OLD}
    assert again["plan"] == {"skip": "revision 1 is already the current one (numbered 3 since it was rolled back to)"}
    assert [e["action"] for e in history(client)] == ["rollback"]


def test_rollback_to_a_revision_numbered_anew_finds_it_by_its_history(clock):
    """Revision 1 rolled back to became 3; a hotfix moved on to 4; to_revision=1 still means the template of 1."""
    client = api_gateway(clock)
    with pytest.raises(rem.RolledBack):
        run(client, images={"api-gateway": BROKEN}, budget_max_actions=10)
    run(client, images={"api-gateway": FIXED}, budget_max_actions=10)
    assert wl.revision(client.obj("Deployment", "api-gateway")) == 4
    result = run(client, action="rollback", images=None, to_revision=1, force=True, budget_max_actions=10)
    assert result["changed"] is True and result["plan"]["to_revision"] == 3
    assert (result["previous_revision"], result["revision"]) == (4, 5) and image(client) == OLD
    again = run(client, action="rollback", images=None, to_revision=1, force=True, budget_max_actions=10)
    assert again["changed"] is False and again["steps"][0].endswith("revision 1 is already the current one (numbered 5 since it was rolled back to)")
    assert [e["action"] for e in history(client)] == ["set_image", "rollback", "set_image", "rollback"]
    with pytest.raises(NotFound, match="has no revision 7; revisions: 2, 4, 5"):
        run(client, action="rollback", images=None, to_revision=7, budget_max_actions=10)


def test_rollback_check_mode_returns_the_same_keys(clock):
    client = released(clock)
    client.dry_run = True
    result = run(client, action="rollback", images=None, to_revision=1)
    assert result["changed"] is True and result["verified"] is None and clock.slept == []
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (2, 2, False)
    assert image(client) == BROKEN


def test_rollback_to_the_current_revision_still_rolling_out_waits_for_it(clock):
    """A second run after a rollback whose wait timed out: nothing to write, but the verdict is the wait's."""
    client = released(clock, state="pending")
    with pytest.raises(VerificationFailed, match="did not become healthy within 30s: 0/2 ready"):
        run(client, action="rollback", images=None, to_revision=2)
    assert client.writes == [] and clock.now >= f.NOW + TIMEOUT


def test_rollback_to_the_current_revision_whose_pods_fail_fails_at_once(clock):
    client = released(clock, state="crash")
    with pytest.raises(VerificationFailed, match="new pod api-gateway-5f6a7b8c9-q1w2e is failing: CrashLoopBackOff"):
        run(client, action="rollback", images=None, to_revision=2)
    assert client.writes == [] and clock.now == f.NOW


def test_rollback_without_wait_leaves_the_revision_open(clock):
    client = released(clock)
    result = run(client, action="rollback", images=None, to_revision=1, wait=False)
    assert (result["previous_revision"], result["revision"], result["rolled_back"]) == (2, None, True)


# --- through AnsibleModule ------------------------------------------------------------


@pytest.fixture
def cluster(monkeypatch, clock):
    """main() builds its client from the params: here the fake, and run() on the fake's clock."""
    client = api_gateway(clock)
    monkeypatch.setattr(k8s_client.KubeClient, "from_params", classmethod(lambda cls, params, dry_run=False: client))
    original = workload_remediation.run
    monkeypatch.setattr(workload_remediation, "run", lambda c, p: original(c, p, clock=c.clock))
    return client


def test_module_failure_after_an_automatic_rollback_carries_the_revisions(cluster, capsys):
    args = dict(namespace=NS, service="api-gateway", action="set_image", images={"api-gateway": BROKEN}, wait_timeout=TIMEOUT, metrics_timeout=0)
    result = run_module(workload_remediation, capsys, args)
    assert result["failed"] is True and result["changed"] is True and result["verified"] is False
    assert (result["rolled_back"], result["previous_revision"], result["revision"]) == (True, 1, 3)
    assert "new revision 2" in result["msg"] and "rolled back automatically to revision 1" in result["msg"]
    assert result["action"] == "set_image" and len(result["steps"]) == 3


def test_module_requires_images_for_set_image(cluster, capsys):
    result = run_module(workload_remediation, capsys, dict(namespace=NS, service="api-gateway", action="set_image"))
    assert result["failed"] is True and "action is set_image but all of the following are missing: images" in result["msg"]
    assert cluster.requests == 0


def test_module_success_and_diff(cluster, capsys):
    args = dict(namespace=NS, service="api-gateway", action="set_image", images={"api-gateway": FIXED}, wait_timeout=TIMEOUT, metrics_timeout=0)
    result = run_module(workload_remediation, capsys, args, diff=True)
    assert result["changed"] is True and result["verified"] is True and result["revision"] == 2
    assert result["diff"]["after"] == {"revision": 2, "images": {"api-gateway": FIXED}}
