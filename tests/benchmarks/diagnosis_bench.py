# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Diagnosis benchmark on the drill cluster (a benchmark, not a test: nothing asserts).

For each size N (pods) it creates namespace bench-N with Deployments of at most 100
replicas on kwok nodes of its own, makes ~2% of the pods crash-loop, and measures the
wall time and the API requests of three ways to run the runbook's diagnosis:

  A  this collection: one workload_health_info task (playbooks/collection.yml)
  B  kubernetes.core: k8s_info lists + one k8s_log task per pod (playbooks/kubernetes_core.yml)
  C  the runbook's kubectl commands, describe + logs per pod (runbook_kubectl.sh)

Requests are counted on the server (kube-apiserver's apiserver_request_total, GET and
LIST, without leases) minus what the cluster does on its own while idle. See
docs/benchmarks.md for the method; `make bench BENCH_ARGS='--sizes 10,100'` reruns it.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DRILL_HOME = Path(os.environ.get("DRILL_HOME", Path.home() / ".cache" / "ai-orchestrator-drill"))
KUBECONFIG = os.environ.get("DRILL_KUBECONFIG", str(DRILL_HOME / "kubeconfig"))
BENCH_LABEL = "drill.incident-response.io/bench"
FAULT_LABEL = "drill.incident-response.io/fault"
PODS_PER_NODE = 250  # kubelet's --max-pods on large nodes; /23 pod CIDRs hold them
FAULT_SHARE = 0.02
METHODS = {
    "A": "collection (workload_health_info)",
    "B": "kubernetes.core (k8s_info + k8s_log per pod)",
    "C": "runbook kubectl per pod",
}
METRIC = re.compile(r'^apiserver_request_total\{(.*)\} ([0-9.e+]+)$')
LABEL = re.compile(r'(\w+)="([^"]*)"')


def versions_env():
    env = {}
    for line in (ROOT / "drill" / "versions.env").read_text().splitlines():
        m = re.match(r"^(?:export )?([A-Z_]+)=\"?([^\"#\s]+)", line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


KUBECTL = str(DRILL_HOME / "bin" / ("kubernetes-%s" % versions_env()["KUBE_VERSION"]) / "kubectl")
BIN = Path(sys.executable).parent  # ansible-playbook of the same venv as this interpreter
ENV = dict(
    os.environ,
    KUBECONFIG=KUBECONFIG,
    K8S_AUTH_KUBECONFIG=KUBECONFIG,
    PATH="%s:%s:%s" % (Path(KUBECTL).parent, BIN, os.environ.get("PATH", "")),
    ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(Path.home() / ".cache/aio-collections")),
    ANSIBLE_RETRY_FILES_ENABLED="0",
    ANSIBLE_NOCOLOR="1",
)


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def kubectl(*args, stdin=None, check=True):
    proc = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=ENV)
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


# --- the benchmark's own nodes and workloads -------------------------------------------

def node(i):
    """A kwok fake node shaped like drill/fixture/00-nodes.yaml's, tainted so that only bench pods land on it."""
    fixture = next(d for d in yaml.safe_load_all((ROOT / "drill/fixture/00-nodes.yaml").read_text()) if d)
    name, meta = "bench-node-%d" % i, fixture["metadata"]
    meta["name"] = name
    meta["annotations"]["metrics.k8s.io/resource-metrics-path"] = "/metrics/nodes/%s/metrics/resource" % name
    meta["labels"].update({"kubernetes.io/hostname": name, BENCH_LABEL: "true"})
    cidr = "10.250.%d.0/23" % (2 * i)  # a /23 holds PODS_PER_NODE pod IPs
    fixture["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr], "taints": [{"key": BENCH_LABEL, "value": "true", "effect": "NoSchedule"}]}
    for address in fixture["status"].get("addresses") or []:
        if address["type"] == "Hostname":
            address["address"] = name
    for key in ("capacity", "allocatable"):
        fixture["status"][key].update(cpu="64", memory="256Gi", pods=str(PODS_PER_NODE))
    return fixture


def deployment(ns, i, replicas):
    name = "bench-app-%02d" % i
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "diagnosis-bench"}
    container = {
        "name": "app",
        "image": "ghcr.io/ai-orchestrator/bench-worker:1.0",
        # Tiny, but kwok reports 15-30% of the CPU request as use and metrics-server drops a pod whose
        # cumulative CPU stays 0, which it does below 10m.
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {BENCH_LABEL: "true"},
                    "tolerations": [{"key": BENCH_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
                    "terminationGracePeriodSeconds": 0,
                    "containers": [container],
                },
            },
        },
    }


def pod_states(ns):
    out = kubectl("get", "pods", "-n", ns, "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase} "
                  "{.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}")
    return [line.split() for line in out.splitlines() if line.strip()]


def create_namespace(ns, size, rng):
    """bench-N with N pods, all Running; then ~2% turned into crash loops. Returns pod names."""
    t0 = time.monotonic()
    kubectl("create", "namespace", ns)
    kubectl("label", "namespace", ns, "%s=true" % BENCH_LABEL)
    apply([deployment(ns, i, min(100, size - i * 100)) for i in range(math.ceil(size / 100))])

    def all_ready():
        states = pod_states(ns)
        return len(states) == size and all(len(s) >= 3 and s[1] == "Running" and s[2] == "true" for s in states)

    wait("%d pods Running and Ready in %s" % (size, ns), 300 + size * 0.2, all_ready, every=3)
    pods = sorted(s[0] for s in pod_states(ns))
    faulty = set(rng.sample(pods, max(1, round(size * FAULT_SHARE))))
    kubectl("label", "pods", "-n", ns, *sorted(faulty), "%s=crashloop" % FAULT_LABEL)

    def crashing():
        states = pod_states(ns)
        return all(len(s) == 4 and int(s[3]) >= 1 for s in states if s[0] in faulty)

    wait("crash loops in %s" % ns, 180, crashing)

    def metrics():  # kubectl top fails until metrics-server has scraped the new pods
        raw = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods" % ns, check=False)
        return len(json.loads(raw or "{}").get("items") or []) >= size - len(faulty)

    try:
        wait("pod metrics in %s" % ns, 120, metrics, every=5)
    except RuntimeError as exc:
        log("%s; kubectl top may fail" % exc)
    log("%s: %d pods (%d crash-looping) ready in %.0fs" % (ns, size, len(faulty), time.monotonic() - t0))
    return pods


def delete_namespaces(names, timeout=600):
    present = [n for n in names if kubectl("get", "namespace", n, "--ignore-not-found", "-o", "name").strip()]
    if not present:
        return
    kubectl("delete", "namespace", *present, "--wait=false", check=False)
    wait("namespaces %s to go" % ", ".join(present), timeout,
         lambda: not kubectl("get", "namespace", *present, "--ignore-not-found", "-o", "name", check=False).strip(), every=3)


# --- measuring --------------------------------------------------------------------------

def metrics_server():
    """kubectl --server for metrics-server: the aggregator's proxied requests are counted there, not in
    kube-apiserver. kwokctl's binary runtime runs it on the API server's host, at the APIService's port."""
    port = kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.spec.service.port}", check=False)
    host = re.sub(r":\d+$", "", kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"))
    server = "%s:%s" % (host, port.strip())
    ok = port.strip() and not subprocess.run([KUBECTL, "--server", server, "get", "--raw", "/metrics"],
                                             capture_output=True, env=ENV).returncode
    return server if ok else None


def server_requests(ms_server):
    """Reads served, by (verb, resource[/subresource]): GET, LIST and CONNECT (how kube-apiserver counts
    pods/log) minus leases, health checks and /metrics scrapes; the metrics API's from metrics-server."""
    counts = collections.Counter()
    sources = [((), lambda labels: True)]
    if ms_server:
        sources.append((("--server", ms_server), lambda labels: labels.get("group") == "metrics.k8s.io"))
    for flags, wanted in sources:
        for line in kubectl(*flags, "get", "--raw", "/metrics").splitlines():
            m = METRIC.match(line)
            labels = dict(LABEL.findall(m.group(1))) if m else {}
            if labels.get("verb") not in ("GET", "LIST", "CONNECT") or labels.get("resource") == "leases" or not wanted(labels):
                continue
            if labels.get("subresource", "").startswith("/"):  # /healthz, /readyz, /livez, /metrics
                continue
            name = "/".join(filter(None, (labels.get("group"), labels.get("resource"), labels.get("subresource"))))
            counts[(labels["verb"], name)] += float(m.group(2))
    return counts


def wait_quiet(args, window=5.0, patience=180.0):
    """Other clients of a shared drill cluster (tests, other benchmarks) blur the count: wait for a lull."""
    deadline = time.monotonic() + patience
    while True:
        first = server_requests(args.ms_server)
        time.sleep(window)
        rate = sum((server_requests(args.ms_server) - first).values()) / window
        if rate <= args.quiet_rate or time.monotonic() > deadline:
            if rate > args.quiet_rate:
                log("cluster still busy (%.1f req/s); measuring anyway" % rate)
            return


def measure(run, args):
    """Run once; wall time, and server-side requests minus the idle baseline rate."""
    wait_quiet(args)
    before = server_requests(args.ms_server)
    t0 = time.monotonic()
    extra = run()
    seconds = time.monotonic() - t0
    after = server_requests(args.ms_server)
    idle = min(max(seconds, 10.0), args.baseline_cap)
    time.sleep(idle)
    quiet = server_requests(args.ms_server)
    breakdown = {}
    for key in set(after) | set(quiet):
        value = (after[key] - before[key]) - (quiet[key] - after[key]) * seconds / idle
        if round(value) >= 1:
            breakdown["%s %s" % key] = round(value)
    rate = sum((quiet - after).values()) / idle
    total = sum((after - before).values()) - rate * seconds
    return dict(seconds=seconds, server=max(0, round(total)), idle_rate=rate, breakdown=breakdown, **(extra or {}))


def run(cmd, workdir, label):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=workdir)
    (Path(workdir) / ("%s.log" % label)).write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise RuntimeError("%s failed (exit %d), output in %s/%s.log" % (label, proc.returncode, workdir, label))
    return proc.stdout


def playbook(name, ns, workdir, label, log_pods=None):
    extra = {"bench_namespace": ns, "ansible_python_interpreter": sys.executable}
    if log_pods is not None:
        extra["bench_log_pods"] = log_pods
    varfile = Path(workdir) / ("%s.vars.json" % label)
    varfile.write_text(json.dumps(extra))
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(HERE / "playbooks" / name), "-e", "@%s" % varfile]
    return run(cmd, workdir, label)


def method_a(ns, workdir, _pods=None):
    out = playbook("collection.yml", ns, workdir, "A-" + ns)
    m = re.search(r"BENCH api_requests=(\d+)", out)
    return {"module": int(m.group(1)) if m else None}


def method_b(ns, workdir, pods=None):
    playbook("kubernetes_core.yml", ns, workdir, "B-%s-%s" % (ns, "all" if pods is None else len(pods)), pods)


def method_c(ns, workdir, pods=None):
    label = "C-%s-%s" % (ns, "all" if pods is None else len(pods))
    args = [str(HERE / "runbook_kubectl.sh"), ns, str(Path(workdir) / label)]
    if pods is not None:
        Path(workdir, label + ".pods").write_text("".join(p + "\n" for p in pods))
        args.append(str(Path(workdir, label + ".pods")))
    failed = int(re.search(r"failed=(\d+)", run(args, workdir, label)).group(1))
    return {"failed_commands": failed} if failed else None


RUNNERS = {"A": method_a, "B": method_b, "C": method_c}


def per_pod(method, ns, pods, args, rng, workdir):
    """B and C: every pod, or above --max-per-pod-pods a random sample, extrapolated."""
    runner = RUNNERS[method]
    if len(pods) <= args.max_per_pod_pods:
        return measure(lambda: runner(ns, workdir), args)
    sample = rng.sample(pods, args.max_per_pod_pods)
    fixed = measure(lambda: runner(ns, workdir, []), args)
    sampled = measure(lambda: runner(ns, workdir, sample), args)
    k, n = len(sample), len(pods)
    # Fixed part (lists, top) measured at full size; the per-pod part scales with pods.
    return dict(
        sampled,
        seconds=fixed["seconds"] + n * (sampled["seconds"] - fixed["seconds"]) / k,
        server=round(fixed["server"] + n * (sampled["server"] - fixed["server"]) / k),
        breakdown={key: round(fixed["breakdown"].get(key, 0) + n * (v - fixed["breakdown"].get(key, 0)) / k) for key, v in sampled["breakdown"].items()},
        sample=k,
    )


# --- report -------------------------------------------------------------------------------

def versions():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=ENV).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            return "unknown"

    kcore = next(Path(p) / "ansible_collections/kubernetes/core/MANIFEST.json" for p in sys.path if (Path(p) / "ansible_collections/kubernetes/core/MANIFEST.json").exists())
    galaxy = re.search(r"^version:\s*(\S+)", (ROOT / "galaxy.yml").read_text(), re.M)
    server = json.loads(kubectl("version", "-o", "json", check=False) or "{}").get("serverVersion", {}).get("gitVersion", "unknown")
    return {
        "ai_orchestrator.incident_response": galaxy.group(1) if galaxy else "unknown",
        "ansible-core": first_line([str(BIN / "ansible-playbook"), "--version"]).split("core ")[-1].rstrip("]"),
        "kubernetes.core": json.loads(kcore.read_text())["collection_info"]["version"],
        "kube-apiserver": server,
        "kubectl": first_line([KUBECTL, "version", "--client"]).split(": ")[-1],
        "Python": sys.version.split()[0],
    }


def cell(result, key):
    if result is None:
        return "-"
    value = result[key]
    text = ("%.1f" % value) if key == "seconds" else str(value)
    return ("≈%s¹" % text) if "sample" in result else text


def render(results, meta, args):
    lines = [
        "Run of %s on %s (`nproc` %s), load average %s at start and %s at end; total %s min." % (
            meta["date"], meta["machine"], meta["nproc"], meta["load_start"], meta["load_end"], meta["minutes"]),
        "Versions: %s." % ", ".join("%s %s" % kv for kv in meta["versions"].items()),
        "Command: `%s`." % meta["command"],
        "",
        "| Pods | A: collection, s | A: requests (module / server) | B: kubernetes.core, s | B: requests | C: kubectl per pod, s | C: requests | idle req/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, res in sorted(results.items()):
        a, b, c = res.get("A"), res.get("B"), res.get("C")
        rates = [r["idle_rate"] for r in res.values()]
        lines.append("| %d | %s | %s | %s | %s | %s | %s | %.1f |" % (
            size, cell(a, "seconds"), "-" if a is None else "%s / %s" % (a.get("module"), a["server"]),
            cell(b, "seconds"), cell(b, "server"), cell(c, "seconds"), cell(c, "server"), sum(rates) / len(rates)))
    samples = sorted({r["sample"] for res in results.values() for r in res.values() if "sample" in r})
    if samples:
        lines += ["", "¹ extrapolated from a sample of %s pods: the run without the per-pod step plus N times the "
                  "per-pod cost measured on the sample (`--max-per-pod-pods %d`)." % (", ".join(map(str, samples)), args.max_per_pod_pods)]
    largest = max(results)
    lines += ["", "Server-side requests by verb and resource at %d pods (baseline subtracted):" % largest, ""]
    for method, res in sorted(results[largest].items()):
        parts = ", ".join("%s %d" % kv for kv in sorted(res["breakdown"].items(), key=lambda kv: -kv[1]))
        lines.append("- %s (%s): %s" % (method, METHODS[method], parts or "none"))
    failures = ["%s at %d pods: %d kubectl commands failed" % (m, s, r["failed_commands"])
                for s, res in sorted(results.items()) for m, r in sorted(res.items()) if r.get("failed_commands")]
    if failures:
        lines += ["", "Failed commands (counted in time and requests): " + "; ".join(failures) + "."]
    return "\n".join(lines) + "\n"


def write_doc(block, name):
    begin, end = "<!-- diagnosis-bench:%s:begin -->" % name, "<!-- diagnosis-bench:%s:end -->" % name
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    new = "%s\n%s%s" % (begin, block, end)
    if begin in text and end in text:
        text = text[: text.index(begin)] + new + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    DOC.write_text(text)
    log("wrote %s (block %s)" % (DOC, name))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,5000", help="pod counts, comma-separated")
    parser.add_argument("--methods", default="A,B,C", help="which of A,B,C to run")
    parser.add_argument("--max-per-pod-pods", type=int, default=1000,
                        help="above this many pods B and C loop over a random sample of this size and extrapolate")
    parser.add_argument("--baseline-cap", type=float, default=60.0, help="longest idle interval for the baseline, seconds")
    parser.add_argument("--quiet-rate", type=float, default=3.0,
                        help="before each run wait (up to 3 min) until other clients make fewer requests/s than this")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--block", default="results", help="name of the generated block in docs/benchmarks.md")
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m.strip().upper() for m in args.methods.split(",")]
    rng = random.Random(args.seed)
    # SIGTERM (CI cancel) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if subprocess.run([KUBECTL, "get", "--raw", "/readyz"], capture_output=True, env=ENV).returncode:
        sys.exit("drill cluster not answering (KUBECONFIG=%s); start it with drill/env.sh up" % KUBECONFIG)
    started, load_start = time.monotonic(), "%.2f" % os.getloadavg()[0]
    args.ms_server = metrics_server()
    if not args.ms_server:
        log("metrics-server /metrics not readable: metrics API requests are not counted")
    namespaces = ["bench-%d" % s for s in sizes]
    nodes = [node(i) for i in range(math.ceil(max(sizes) * 1.1 / PODS_PER_NODE))]
    results = {}
    workdir = tempfile.mkdtemp(prefix="diagnosis-bench-")
    log("outputs of every run in %s" % workdir)
    try:
        delete_namespaces(namespaces)  # leftovers of an interrupted run
        apply(nodes)
        wait("bench nodes Ready", 120, lambda: kubectl("get", "nodes", "-l", BENCH_LABEL, "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}").split().count("True") == len(nodes))
        for size, ns in zip(sizes, namespaces):
            pods = create_namespace(ns, size, rng)
            if not results:  # warm caches (discovery, page cache) once, unmeasured
                method_a(ns, workdir), method_b(ns, workdir, []), method_c(ns, workdir, [])
            results[size] = {}
            for m in methods:
                log("%s: method %s (%s)" % (ns, m, METHODS[m]))
                results[size][m] = measure(lambda: method_a(ns, workdir), args) if m == "A" else per_pod(m, ns, pods, args, rng, workdir)
                r = results[size][m]
                log("%s: %s %.1fs, %d requests (server), idle %.1f req/s%s" % (
                    ns, m, r["seconds"], r["server"], r["idle_rate"], ", module %s" % r["module"] if "module" in r else ""))
            delete_namespaces([ns])
    finally:
        log("cleaning up: namespaces %s, %d bench nodes" % (", ".join(namespaces), len(nodes)))
        delete_namespaces(namespaces)
        kubectl("delete", "nodes", "-l", BENCH_LABEL, "--wait=true", check=False)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": "%s, %s" % (os.uname().sysname, os.uname().machine),
        "nproc": os.cpu_count(),
        "load_start": load_start,
        "load_end": "%.2f" % os.getloadavg()[0],
        "minutes": "%.0f" % ((time.monotonic() - started) / 60),
        "versions": versions(),
        "command": "diagnosis_bench.py " + " ".join(sys.argv[1:]),
    }
    block = render(results, meta, args)
    print(block)
    if not args.no_doc:
        write_doc(block, args.block)


if __name__ == "__main__":
    main()
