# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark's part of the drill cluster, for diagnosis_bench.py: kwok nodes of its own
(bench-node-*, tainted so that only benchmark pods land there) and namespaces bench-N of
N pods in Deployments of at most 100 replicas, a share of them (2% by default) crash-looping.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DRILL_HOME = Path(os.environ.get("DRILL_HOME", Path.home() / ".cache" / "ai-orchestrator-drill"))
KUBECONFIG = os.environ.get("DRILL_KUBECONFIG", str(DRILL_HOME / "kubeconfig"))
KUBE_VERSION = re.search(r"^KUBE_VERSION=\"?([^\"\s]+)", (ROOT / "drill/versions.env").read_text(), re.M).group(1)
KUBECTL = str(DRILL_HOME / "bin" / ("kubernetes-" + KUBE_VERSION) / "kubectl")
BIN = Path(sys.executable).parent  # ansible-playbook of the venv that runs the benchmark
BENCH_LABEL = "drill.incident-response.io/bench"
FAULT_LABEL = "drill.incident-response.io/fault"
PODS_PER_NODE = 250  # kubelet --max-pods of large nodes; a /23 pod CIDR holds them
FAULT_SHARE = 0.02  # default share of crash-looping pods (diagnosis_bench.py --unhealthy)
ENV = dict(
    os.environ,
    KUBECONFIG=KUBECONFIG,
    PATH="%s:%s:%s" % (Path(KUBECTL).parent, BIN, os.environ.get("PATH", "")),
    ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(Path.home() / ".cache/aio-collections")),
    ANSIBLE_RETRY_FILES_ENABLED="0",
    ANSIBLE_NOCOLOR="1",
)


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def kubectl(*args, stdin=None, check=True):
    proc = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=ENV, check=False)
    if check and proc.returncode:
        raise RuntimeError("kubectl %s: %s" % (" ".join(args[:4]), proc.stderr.strip()[-500:]))
    return proc.stdout


def apply(objects):
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def wait(what, timeout, probe, every=2.0):
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(every)


# --- the benchmark's nodes and workloads ---------------------------------------------------


def node(i):
    """A kwok node shaped like drill/fixture/00-nodes.yaml's, tainted so that only bench pods land on it."""
    fixture = next(d for d in yaml.safe_load_all((ROOT / "drill/fixture/00-nodes.yaml").read_text()) if d)
    name, meta, status = "bench-node-%d" % i, fixture["metadata"], fixture["status"]
    meta["name"] = name
    meta["annotations"]["metrics.k8s.io/resource-metrics-path"] = "/metrics/nodes/%s/metrics/resource" % name
    meta["labels"].update({"kubernetes.io/hostname": name, BENCH_LABEL: "true"})
    cidr = "10.250.%d.0/23" % (2 * i)
    taint = {"key": BENCH_LABEL, "value": "true", "effect": "NoSchedule"}
    fixture["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr], "taints": [taint]}
    status["addresses"] = [
        a if a["type"] != "Hostname" else dict(a, address=name) for a in status.get("addresses") or []
    ]
    for key in ("capacity", "allocatable"):
        status[key].update(cpu="64", memory="256Gi", pods=str(PODS_PER_NODE))
    return fixture


def deployment(ns, i, replicas):
    name = "bench-app-%02d" % i
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "diagnosis-bench"}
    # Tiny, yet 10m: kwok reports 15-30% of the request as use, and metrics-server drops pods
    # whose cumulative CPU stays 0, which it does below that.
    resources = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}
    pod_spec = {
        "nodeSelector": {BENCH_LABEL: "true"},
        "tolerations": [{"key": BENCH_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "app", "image": "ghcr.io/ai-orchestrator/bench-worker:1.0", "resources": resources}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def pod_states(ns):
    fields = "{.metadata.name} {.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}"
    out = kubectl("get", "pods", "-n", ns, "-o", 'jsonpath={range .items[*]}%s{"\\n"}{end}' % fields)
    return [line.split() for line in out.splitlines() if line.strip()]


def create_namespace(ns, size, rng, share=FAULT_SHARE):
    """bench-N with N Running pods, then `share` of them (at least one) crash-looping.
    Returns the pod names and the crash-looping ones, both sorted."""
    t0 = time.monotonic()
    kubectl("create", "namespace", ns)
    apply([deployment(ns, i, min(100, size - i * 100)) for i in range(math.ceil(size / 100))])

    def ready():
        states = pod_states(ns)
        return len(states) == size and all(len(s) > 2 and s[1] == "Running" and s[2] == "true" for s in states)

    wait("%d pods Ready in %s" % (size, ns), 300 + size * 0.2, ready, every=3)
    pods = sorted(s[0] for s in pod_states(ns))
    faulty = set(rng.sample(pods, max(1, round(size * share))))
    kubectl("label", "pods", "-n", ns, *sorted(faulty), "%s=crashloop" % FAULT_LABEL)
    wait(
        "crash loops in %s" % ns,
        180,
        lambda: all(len(s) == 4 and int(s[3]) > 0 for s in pod_states(ns) if s[0] in faulty),
    )

    def metrics():  # kubectl top fails until metrics-server has scraped the new pods
        raw = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods" % ns, check=False)
        return len(json.loads(raw or "{}").get("items") or []) >= size - len(faulty)

    try:
        wait("pod metrics in %s" % ns, 120, metrics, every=5)
    except RuntimeError as exc:
        log("%s; kubectl top may fail" % exc)
    log("%s: %d pods (%d crash-looping) ready in %.0fs" % (ns, size, len(faulty), time.monotonic() - t0))
    return pods, sorted(faulty)


def delete_namespaces(names, timeout=900):
    present = [n for n in names if kubectl("get", "namespace", n, "--ignore-not-found", "-o", "name").strip()]
    if present:
        kubectl("delete", "namespace", *present, "--wait=false", check=False)

        def gone():
            return not kubectl("get", "namespace", *present, "--ignore-not-found", "-o", "name", check=False).strip()

        wait("namespaces %s to go" % ", ".join(present), timeout, gone, every=3)
