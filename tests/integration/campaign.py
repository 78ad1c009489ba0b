# SPDX-License-Identifier: GPL-3.0-or-later
"""A randomized drill campaign for Service Down: seeded, reproducible, checked by invariants.

A seed builds a namespace the fixture does not have (Deployments and StatefulSets of 1-4
replicas, some with a sidecar, a PodDisruptionBudget or an HPA pinned to their size),
breaks it (fault kind x workload x transient or persistent x 1..N pods), runs
service_down.yml with --check and then for real, and checks invariants that hold
whatever the timing:

- --check changed nothing: same pods (uids), same workload generations, no record;
- no healthy pod was deleted: every pod that disappeared was one the seed broke;
- no StatefulSet and no HPA-managed workload was scaled;
- the remediation budget was never exceeded (history annotation within the window);
- a persistent fault was escalated; a transient one was resolved, or escalated with a
  reason that names what stopped it (a guardrail, the budget, a persistent-looking fault);
- the record agrees with the outcome: resolved means every workload is healthy
  afterwards and the record has resolved_at; escalated means an escalation is recorded.

A failure message starts with the seed and the command that replays it.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import drill
from playbook import playbook

FAULTS = ("crashloop", "oomkilled", "imagepull", "notready")
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"
# What an escalation of a transient fault must name: the rule that stopped automation.
# A "transient" fault on every replica looks persistent from the cluster (no pod can pull the
# image, every replica crashes): its escalation names that.
STOPPED_BY = ("every replica", "last ready", "PodDisruptionBudget", "budget", "startup allowance", "not enough",
              "not transient", "not scaled", "HorizontalPodAutoscaler", "StatefulSet", "can pull its image")
BUDGET_MAX_ACTIONS = 3
STARTUP_SECONDS = 30  # workload_health_info's min_startup_seconds; the campaign's probes allow less


@dataclass
class Workload:
    name: str
    kind: str  # Deployment or StatefulSet
    replicas: int
    sidecar: bool = False
    pdb: bool = False
    hpa: bool = False
    persistent: str | None = None  # a fault in the pod template from the start: every pod, new ones too


@dataclass
class Scenario:
    seed: int
    namespace: str
    workloads: list[Workload]
    transient: list[tuple[str, str, int]] = field(default_factory=list)  # (workload, fault, pods)
    usage: list[str] = field(default_factory=list)  # workloads whose first pod runs at its limit

    def replay(self) -> str:
        return ("seed %d: replay with CAMPAIGN_SEEDS=%d .venv/bin/python -m pytest tests/integration/test_campaign.py -m long -k replay"
                % (self.seed, self.seed))

    def describe(self) -> str:
        parts = ["%s %s x%d%s%s%s%s" % (w.kind, w.name, w.replicas, " +sidecar" if w.sidecar else "", " +pdb" if w.pdb else "",
                                      " +hpa" if w.hpa else "", " persistent:" + w.persistent if w.persistent else "") for w in self.workloads]
        parts += ["transient %s on %d pod(s) of %s" % (f, n, w) for w, f, n in self.transient]
        parts += ["usage at the limit on %s" % w for w in self.usage]
        return "; ".join(parts)


def generate(seed: int) -> Scenario:
    """The scenario of a seed: same seed, same namespace, same faults."""
    rng = random.Random(seed)
    workloads = []
    for index in range(rng.randint(2, 4)):
        kind = "StatefulSet" if rng.random() < 0.35 else "Deployment"
        replicas = rng.randint(1, 4)
        workloads.append(Workload(
            name="%s-%d" % ("db" if kind == "StatefulSet" else "svc", index), kind=kind, replicas=replicas,
            sidecar=rng.random() < 0.3, pdb=replicas > 1 and rng.random() < 0.3,
            hpa=kind == "Deployment" and rng.random() < 0.2,
        ))
    scenario = Scenario(seed=seed, namespace="camp-%d" % seed, workloads=workloads)
    broken = rng.sample(workloads, rng.randint(1, len(workloads)))
    for w in broken:
        roll = rng.random()
        if roll < 0.25:
            w.persistent = rng.choice(FAULTS)
        elif roll < 0.35 and (w.kind == "StatefulSet" or w.hpa):
            scenario.usage.append(w.name)
        else:
            scenario.transient.append((w.name, rng.choice(FAULTS), rng.randint(1, w.replicas)))
    return scenario


# --- the namespace ------------------------------------------------------------------------


def _container(name, image):
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 1, "periodSeconds": 5},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}}


def manifests(scenario: Scenario) -> list[dict]:
    ns = scenario.namespace
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"drill.incident-response.io/campaign": "true"}}}]
    for w in scenario.workloads:
        labels = {"app.kubernetes.io/name": w.name, "campaign.drill/seed": str(scenario.seed)}
        if w.persistent:
            labels_template = dict(labels, **{drill.FAULT_LABEL: w.persistent})
        else:
            labels_template = labels
        containers = [_container(w.name, "ghcr.io/ai-orchestrator/%s:1.0.0" % w.name)]
        if w.sidecar:
            containers.append(_container("proxy", "ghcr.io/ai-orchestrator/proxy:1.0.0"))
        spec = {"replicas": w.replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": w.name}},
                "template": {"metadata": {"labels": labels_template},
                             "spec": {"terminationGracePeriodSeconds": 1, "containers": containers}}}
        if w.kind == "StatefulSet":
            spec["serviceName"] = w.name
            spec["podManagementPolicy"] = "Parallel"
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": w.name, "namespace": ns},
                            "spec": {"clusterIP": "None", "selector": {"app.kubernetes.io/name": w.name}, "ports": [{"port": 8080}]}})
        else:
            # No history to go back to: a persistent fault is not a rollout that a rollback fixes.
            spec["revisionHistoryLimit"] = 0
        objects.append({"apiVersion": "apps/v1", "kind": w.kind, "metadata": {"name": w.name, "namespace": ns, "labels": labels}, "spec": spec})
        if w.pdb:
            objects.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": w.name, "namespace": ns},
                            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": w.name}}}})
        if w.hpa:
            objects.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": w.name, "namespace": ns},
                            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
                                     "minReplicas": w.replicas, "maxReplicas": w.replicas,
                                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                                           "averageUtilization": 80}}}]}})
    return objects


def pods_of(scenario: Scenario, name: str) -> list:
    return [p for p in drill.pods(name, scenario.namespace)]


def build(scenario: Scenario) -> None:
    """Create the namespace, wait until it is up (persistent faults showing), then break it."""
    # A replay of the same seed must not start inside the previous run's namespace while it is being deleted.
    drill.wait_for(lambda: drill.kubectl("get", "namespace", scenario.namespace, check=False, namespace=None).returncode != 0,
                   120, message="%s: the previous %s to be deleted" % (scenario.replay(), scenario.namespace))
    drill.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests(scenario)}), namespace=None)
    for w in scenario.workloads:
        if w.persistent:
            drill.wait_for(lambda w=w: len(pods_of(scenario, w.name)) == w.replicas and all(_shows_fault(p) for p in pods_of(scenario, w.name)),
                           120, message="%s: every %s pod to show %s" % (scenario.replay(), w.name, w.persistent))
        else:
            drill.wait_for(lambda w=w: len([p for p in pods_of(scenario, w.name) if drill.is_ready(p)]) == w.replicas,
                           120, message="%s: %s to be ready" % (scenario.replay(), w.name))
    rng = random.Random(scenario.seed + 1)
    for name, fault, count in scenario.transient:
        for pod in rng.sample(sorted(p.metadata.name for p in pods_of(scenario, name)), count):
            drill.fault_sh("label", pod, fault, namespace=scenario.namespace)
    for name in scenario.usage:
        pod = sorted(p.metadata.name for p in pods_of(scenario, name))[0]
        drill.fault_sh("label", pod, "usage-high", namespace=scenario.namespace)
    drill.wait_for(lambda: all(_shows_fault(p) for p in drill.pods(None, scenario.namespace) if (p.metadata.labels or {}).get(drill.FAULT_LABEL)),
                   120, message="%s: the transient faults to show" % scenario.replay())
    # Pods younger than their startup allowance (30 s here) are starting, never evicted; let every pod
    # outgrow it so the run meets the faults as an on-call engineer would, not mid-start.
    drill.wait_for(lambda: all(time.time() - p.metadata.creation_timestamp.timestamp() > STARTUP_SECONDS + 1
                               for p in drill.pods(None, scenario.namespace)),
                   STARTUP_SECONDS + 60, message="%s: pods older than their startup allowance" % scenario.replay())
    if scenario.usage:
        # The usage stage puts the container at its 500m CPU limit; metrics-server reports it a resolution later.
        drill.wait_for(lambda: all(drill.pod_metrics(scenario.namespace).get(p.metadata.name, {}).get("cpu", 0) >= 450
                                   for p in drill.pods(None, scenario.namespace) if (p.metadata.labels or {}).get(drill.USAGE_LABEL)),
                       120, message="%s: metrics to show the usage at the limit" % scenario.replay())


def _shows_fault(pod) -> bool:
    """The pod shows its fault the way a kubelet reports it (not Ready, a waiting reason or a restart)."""
    if drill.is_ready(pod):
        return False
    statuses = pod.status.container_statuses or []
    return bool(statuses) and any(s.state.waiting or s.restart_count or not s.ready for s in statuses)


def destroy(scenario: Scenario) -> None:
    drill.kubectl("delete", "namespace", scenario.namespace, "--wait=false", "--ignore-not-found", namespace=None, check=False)


# --- what is checked ----------------------------------------------------------------------


def snapshot(scenario: Scenario) -> dict:
    ns = scenario.namespace
    pods = {p.metadata.uid: {"name": p.metadata.name, "labels": dict(p.metadata.labels or {}), "ready": drill.is_ready(p)}
            for p in drill.core().list_namespaced_pod(ns).items if p.metadata.deletion_timestamp is None}
    workloads = {}
    for w in scenario.workloads:
        obj = drill.kubectl_json("get", w.kind.lower(), w.name, namespace=ns)
        workloads[w.name] = {"replicas": obj["spec"]["replicas"], "generation": obj["metadata"]["generation"],
                             "history": json.loads((obj["metadata"].get("annotations") or {}).get(HISTORY) or "[]")}
    return {"pods": pods, "workloads": workloads}


def run(scenario: Scenario, incident_dir: Path, *args: str):
    return playbook("service_down.yml", "-e", "namespace=%s" % scenario.namespace, "-e", "incident_dir=%s" % incident_dir,
                    "-e", "service_recovery_wait_timeout=90", "-e", "service_recovery_metrics_timeout=60", *args, timeout=900)


def record(incident_dir: Path) -> dict | None:
    found = sorted(incident_dir.glob("incident-*/incident.json"))
    assert len(found) <= 1, "one incident per outage of a namespace, found %s" % found
    return json.loads(found[0].read_text()) if found else None


def check_mode_changed_nothing(scenario: Scenario, before: dict, after: dict, result, incident_dir: Path) -> list[str]:
    problems = []
    if result.returncode != 0:
        problems.append("--check failed (rc %d): %s" % (result.returncode, result.stdout[-1500:]))
    if set(before["pods"]) - set(after["pods"]):
        problems.append("--check deleted pods %s" % sorted(before["pods"][u]["name"] for u in set(before["pods"]) - set(after["pods"])))
    for name, state in before["workloads"].items():
        if after["workloads"][name] != state:
            problems.append("--check changed %s: %s -> %s" % (name, state, after["workloads"][name]))
    if list(incident_dir.glob("incident-*")):
        problems.append("--check wrote an incident record")
    return problems


def invariants(scenario: Scenario, before: dict, after: dict, result, incident_dir: Path, healthy_after: dict) -> list[str]:
    """Every invariant the run must keep; an empty list means it kept them all."""
    problems = []
    by_name = dict((w.name, w) for w in scenario.workloads)
    broken_pods = {u for u, p in before["pods"].items()
                   if p["labels"].get(drill.FAULT_LABEL) or p["labels"].get(drill.USAGE_LABEL) or not p["ready"]}
    deleted = set(before["pods"]) - set(after["pods"])
    healthy_deleted = sorted(before["pods"][u]["name"] for u in deleted - broken_pods)
    if healthy_deleted:
        problems.append("healthy pods deleted: %s" % healthy_deleted)
    for name, w in by_name.items():
        if (w.kind == "StatefulSet" or w.hpa) and after["workloads"][name]["replicas"] != before["workloads"][name]["replicas"]:
            problems.append("%s %s was scaled from %d to %d" % (w.kind, name, before["workloads"][name]["replicas"],
                                                                after["workloads"][name]["replicas"]))
        if len(after["workloads"][name]["history"]) > BUDGET_MAX_ACTIONS:
            problems.append("%s: %d remediation actions recorded, the budget is %d" % (name, len(after["workloads"][name]["history"]),
                                                                                       BUDGET_MAX_ACTIONS))
    if result.returncode != 0:
        problems.append("the run failed (rc %d): %s" % (result.returncode, result.stdout[-2000:]))
        return problems
    incident = record(incident_dir)
    if incident is None:
        problems.append("a broken namespace opened no incident")
        return problems
    status = incident["status"]
    text = result.stdout
    if any(w.persistent for w in scenario.workloads) and status != "escalated":
        problems.append("a persistent fault (%s) was not escalated: status %s" % (
            ", ".join("%s:%s" % (w.name, w.persistent) for w in scenario.workloads if w.persistent), status))
    if status == "resolved":
        if not incident.get("resolved_at"):
            problems.append("resolved without resolved_at")
        if healthy_after["unhealthy"]:
            problems.append("resolved while %s are unhealthy" % healthy_after["unhealthy"])
    elif status == "escalated":
        if not incident.get("escalations"):
            problems.append("escalated without a recorded escalation")
        reasons = " ".join(e.get("reason") or "" for e in incident.get("escalations") or [])
        if not any(w.persistent for w in scenario.workloads) and not any(word in reasons for word in STOPPED_BY):
            problems.append("a transient fault was escalated without naming what stopped it: %s" % reasons[:600])
    else:
        problems.append("the incident ended %s, neither resolved nor escalated" % status)
    if "Check mode" in text:
        problems.append("the real run says check mode")
    return problems


def diagnose(scenario: Scenario) -> dict:
    from playbook import module

    result = module("workload_health_info", kubeconfig=drill.kubeconfig(), namespace=scenario.namespace, max_log_containers=0)
    assert not result["failed"], result.get("msg")
    return result


def play(seed: int, workdir: Path) -> tuple[Scenario, list[str]]:
    """Build, break, run --check and for real, check; the namespace is removed afterwards."""
    scenario = generate(seed)
    started = time.monotonic()
    try:
        build(scenario)
        before = snapshot(scenario)
        check_dir = workdir / ("check-%d" % seed)
        check_dir.mkdir()
        checked = run(scenario, check_dir, "--check")
        problems = check_mode_changed_nothing(scenario, before, snapshot(scenario), checked, check_dir)
        before = snapshot(scenario)
        real_dir = workdir / ("run-%d" % seed)
        result = run(scenario, real_dir)
        after = snapshot(scenario)
        problems += invariants(scenario, before, after, result, real_dir, diagnose(scenario))
    finally:
        destroy(scenario)
    if problems:
        problems.insert(0, "%s (%ds): %s" % (scenario.replay(), time.monotonic() - started, scenario.describe()))
    return scenario, problems
