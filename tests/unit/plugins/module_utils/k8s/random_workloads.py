# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Random namespaces of diagnosed workloads, for invariants that must hold for any input.

``random_namespace(rng)`` builds raw API objects with the shapes of test_workload_shapes
(Deployments and StatefulSets, main containers with or without limits, sidecars and native
sidecars, OOM kills, crash loops, image pulls, readiness failures, usage near or over the
limits, HPAs, GitOps markers, recent rollouts) and ``diagnose_random`` runs them through
``diagnosis.build_report`` as workload_health_info does. Seeded: a failing seed is replayed.
"""

from __future__ import annotations

import random

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import test_workload_shapes as shapes

CPU = (None, "100m", "250m", "500m", "1", "1500m", "2", "4", "8")
MEMORY = (None, "64Mi", "128Mi", "300Mi", "500M", "512Mi", "1Gi", "1536Mi", "3Gi", "4Gi", "6Gi", "16Gi")
STATES = ("ok", "ok", "ok", "oom", "oom", "oom_recovered", "crash", "pull", "unready")
BOUNDS_MEMORY = (None, "256Mi", "1Gi", "2Gi", "4Gi", "8Gi", "4G")
BOUNDS_CPU = (None, "500m", "1", "2", "4", "16")
FACTORS = (None, 1.1, 1.25, 1.5, 2, 3)


def _limits(rng):
    limits = {}
    cpu, memory = rng.choice(CPU), rng.choice(MEMORY)
    if cpu:
        limits["cpu"] = cpu
    if memory:
        limits["memory"] = memory
    return limits or None


def _usage(rng, limits):
    """Usage per resource: a share of the limit (often near or above it), or an absolute value without one."""
    usage = {}
    for resource, unbounded in (("cpu", "750m"), ("memory", "700Mi")):
        bound = (limits or {}).get(resource)
        if bound is None:
            usage[resource] = unbounded
            continue
        share = rng.choice((0.1, 0.4, 0.85, 0.9, 0.93, 0.97, 1.0, 1.05))
        value = shapes.classify.parse_quantity(bound) * share
        usage[resource] = ("%dm" % max(1, int(value * 1000))) if resource == "cpu" else ("%dKi" % max(1, int(value / 1024)))
    return usage


def _status(rng, state):
    if state == "oom":
        return shapes.crashing(restarts=rng.randint(1, 8), reason="OOMKilled", exit_code=137, ago=rng.choice((20, 45, 300)))
    if state == "oom_recovered":
        ago = rng.choice((120, 400, 3000))
        return shapes.up(started=ago - 5, restarts=rng.randint(1, 4), last=shapes.terminated("OOMKilled", 137, ago))
    if state == "crash":
        return shapes.crashing(restarts=rng.randint(1, 8))
    if state == "pull":
        return shapes.pulling()
    if state == "unready":
        return shapes.up(ready=False)
    return None


def _containers(rng, name, kind):
    main = shapes.ctr(name, limits=_limits(rng), requests=None)
    containers, init = [main], []
    # The StatefulSet builder has no init containers.
    shape = rng.choice(("main", "main", "sidecar") + (("native",) if kind == "Deployment" else ()))
    if shape == "sidecar":
        containers.append(shapes.ctr("istio-proxy", "docker.io/istio/proxyv2:1.22.3", limits=_limits(rng), requests=None))
    elif shape == "native":
        init.append(shapes.ctr("log-shipper", "cr.fluentbit.io/fluent/fluent-bit:3.1.4", limits=_limits(rng), requests=None,
                               restartPolicy="Always"))
    if rng.random() < 0.2:
        containers.reverse()  # kubectl's default-container annotation names the main one
    return containers, init


def _pod_states(rng, replicas):
    uniform = rng.random() < 0.5
    first = rng.choice(STATES)
    return [first if uniform else rng.choice(STATES) for _index in range(replicas)]


def _app(rng, index):
    name = "svc%d" % index
    kind = rng.choice(("Deployment", "Deployment", "Deployment", "StatefulSet"))
    replicas = rng.randint(1, 4)
    containers, init = _containers(rng, name, kind)
    broken = rng.choice([c["name"] for c in containers + init])
    states = [{"statuses": {broken: _status(rng, s)}} if s != "ok" else {} for s in _pod_states(rng, replicas)]
    for state in states:
        if broken in [c["name"] for c in init] and state:
            state["init_statuses"] = state.pop("statuses")
    annotations = {"kubectl.kubernetes.io/default-container": name}
    if kind == "Deployment":
        markers = {}
        if rng.random() < 0.1:
            markers = {"annotations": {"argocd.argoproj.io/tracking-id": "platform:apps/Deployment:%s/%s" % (shapes.NS, name)}}
        app = shapes.deployment_app(name, states, containers=containers, init=init, pod_annotations=annotations,
                                    rs_age=rng.choice((shapes.DAY, 300)), **markers)
    else:
        app = shapes.statefulset_app(name, states, containers=containers)
        for pod in app["pods"]:
            pod["metadata"]["annotations"] = dict(annotations)
    usage = {}
    for pod in app["pods"]:
        spec = pod["spec"]
        usage[pod["metadata"]["name"]] = dict(
            (c["name"], _usage(rng, (c.get("resources") or {}).get("limits"))) for c in spec["containers"] + spec.get("initContainers", [])
            if rng.random() < 0.9)
    hpas = []
    if kind == "Deployment" and rng.random() < 0.2:
        maximum = rng.randint(replicas, replicas + 2)
        hpas.append(shapes.hpa(name, 1, maximum, replicas))
    return app, usage, hpas


def random_namespace(rng, apps=None):
    """A raw namespace (the dict diagnosis.fetch returns) of 1..4 random workloads."""
    parts, usage, hpas = [], {}, []
    for index in range(apps or rng.randint(1, 4)):
        app, app_usage, app_hpas = _app(rng, index)
        parts.append(app)
        usage.update(app_usage)
        hpas += app_hpas
    return shapes.raw_namespace(*parts, hpas=hpas, metrics=shapes.pod_metrics(usage))


def random_bound(rng):
    """A limits_bound as an operator might write it; keys left out at random."""
    bound = {}
    for key, choices in (("memory", BOUNDS_MEMORY), ("cpu", BOUNDS_CPU), ("factor", FACTORS)):
        value = rng.choice(choices)
        if value is not None:
            bound[key] = value
    return bound


def diagnose_random(seed, usage_threshold=0.9):
    """(report, rng) for one seed: the workload_health_info result of a random namespace."""
    rng = random.Random(seed)
    raw = random_namespace(rng)
    return diagnosis.build_report(raw, shapes.NS, f.NOW, usage_threshold=usage_threshold), rng
