# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Diagnosis benchmark on the drill cluster (a benchmark, not a test: nothing asserts).

For each size N (pods) it creates namespace bench-N with Deployments of at most 100
replicas on kwok nodes of its own, makes a share of the pods crash-loop (--unhealthy, 2%
by default), and measures the wall time and the API requests of ways to run the runbook's
diagnosis:

  A      this collection: one workload_health_info task (playbooks/collection.yml)
  B      kubernetes.core: k8s_info lists + one k8s_log task per pod (playbooks/kubernetes_core.yml)
  B2     kubernetes.core as an experienced engineer writes it: the same lists, then k8s_log
         only for unhealthy containers, at most 10 as the collection
         (playbooks/kubernetes_core_targeted.yml)
  B2ALL  the same, logs of every unhealthy container
  C      the runbook's kubectl commands, describe + logs per pod (runbook_kubectl.sh)
  F      the floor: an empty ansible-playbook run + kubectl get pods,events -o json + the
         logs the collection fetches (floor.sh)
  FRAW   the same floor with the two lists read by kubectl get --raw (floor.sh ... raw)

Requests are counted exactly by a proxy the method's clients go through
(counting_proxy.py) and, as a cross-check, on the server (apiserver_request_total)
minus an idle baseline. docs/benchmarks.md explains both; rerun with `make bench`.
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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cluster import BENCH_LABEL, BIN, ENV, FAULT_SHARE, KUBECONFIG, KUBECTL, PODS_PER_NODE, ROOT
from bench_cluster import apply, create_namespace, delete_namespaces, kubectl, log, node, wait
from counting_proxy import CountingProxy

HERE = Path(__file__).resolve().parent
DOC = ROOT / "docs" / "benchmarks.md"
METHODS = {
    "A": "collection",
    "B": "kubernetes.core",
    "B2": "kubernetes.core targeted",
    "B2ALL": "kubernetes.core targeted, all logs",
    "C": "kubectl per pod",
    "F": "floor",
    "FRAW": "floor, raw lists",
}
SHORT = {"B2ALL": "B2-all", "FRAW": "F-raw"}  # how a method is named in the tables
PARTS = ("empty_playbook", "get", "select", "logs")  # floor.sh's parts
METRIC = re.compile(r"^apiserver_request_total\{(.*)\} ([0-9.e+]+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')

# --- counting and timing ---------------------------------------------------------------------


def metrics_server():
    """metrics-server's address: kube-apiserver does not count what its aggregator proxies to it.
    kwokctl's binary runtime runs it on the API server's host, at the APIService's port."""
    port = kubectl(
        "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.spec.service.port}", check=False
    ).strip()
    host = re.sub(r":\d+$", "", kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"))
    ok = (
        port
        and not subprocess.run(
            [KUBECTL, "--server", "%s:%s" % (host, port), "get", "--raw", "/metrics"], capture_output=True, env=ENV, check=False
        ).returncode
    )
    return "%s:%s" % (host, port) if ok else None


def server_requests(ms_server):
    """Reads served: GET, LIST and CONNECT (pods/log) without leases, health checks and /metrics."""
    total = 0.0
    for flags in [()] + ([("--server", ms_server)] if ms_server else []):
        for line in kubectl(*flags, "get", "--raw", "/metrics").splitlines():
            m = METRIC.match(line)
            labels = dict(LABEL.findall(m.group(1))) if m else {}
            if flags and labels.get("group") != "metrics.k8s.io":
                continue  # metrics-server: only the metrics API, the rest is its own discovery
            if (
                labels.get("verb") in ("GET", "LIST", "CONNECT")
                and labels.get("resource") != "leases"
                and not labels.get("subresource", "").startswith("/")
            ):
                total += float(m.group(2))
    return total


def wait_quiet(args, window=5.0, patience=60.0):
    """Other users of a shared drill cluster blur the server count and the timing: wait for a lull."""
    deadline = time.monotonic() + patience
    while True:
        first = server_requests(args.ms_server)
        time.sleep(window)
        rate = (server_requests(args.ms_server) - first) / window
        if rate <= args.quiet_rate or time.monotonic() > deadline:
            return rate


def measure(run, args):
    """Run once: wall time, requests through the proxy, and the server-side count minus the idle rate."""
    busy = wait_quiet(args)
    before, wire = server_requests(args.ms_server), args.proxy.snapshot()
    t0 = time.monotonic()
    extra = run()
    seconds = time.monotonic() - t0
    wire = args.proxy.snapshot() - wire
    args.load_peak = max(args.load_peak, os.getloadavg()[0])
    after = server_requests(args.ms_server)
    idle = min(max(seconds, 10.0), args.baseline_cap)
    time.sleep(idle)
    rate = (server_requests(args.ms_server) - after) / idle
    server = max(0, round(after - before - rate * seconds))
    return dict(
        seconds=seconds,
        wire=sum(wire.values()),
        breakdown=wire,
        server=server,
        idle_rate=rate,
        busy=busy > args.quiet_rate,
        **(extra or {}),
    )


def run(cmd, workdir, label, env):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, check=False)
    (Path(workdir) / ("%s.log" % label)).write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise RuntimeError("%s failed (exit %d), output in %s/%s.log" % (label, proc.returncode, workdir, label))
    return proc.stdout


def playbook(name, ns, ctx, label, log_pods=None, **bench_vars):
    extra = dict(bench_vars, bench_namespace=ns, ansible_python_interpreter=sys.executable)
    if log_pods is not None:
        extra["bench_log_pods"] = log_pods
    varfile = Path(ctx["workdir"]) / ("%s.vars.json" % label)
    varfile.write_text(json.dumps(extra))
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(HERE / "playbooks" / name), "-e", "@%s" % varfile]
    return run(cmd, ctx["workdir"], label, ctx["env"])


def label(method, ns, ctx, pods=None):
    """Name of a run's output files: method, namespace, sample size, repetition."""
    return "-".join([method, ns] + ([] if pods is None else [str(len(pods))]) + [ctx.get("run", "warm")])


def log_containers(out, key="log_containers"):
    """The pod/container names a run read logs of, from its BENCH line."""
    m = re.search(r"\b%s=([\w./,-]*)" % key, out)
    return ",".join(sorted(filter(None, m.group(1).split(",")))) if m else None


def method_a(ns, ctx, _pods=None):
    out = playbook("collection.yml", ns, ctx, label("A", ns, ctx))
    m = re.search(r"BENCH api_requests=(\d+)", out)
    return {"module": int(m.group(1)) if m else None, "log_containers": log_containers(out, "log_container_names")}


def method_b(ns, ctx, pods=None):
    playbook("kubernetes_core.yml", ns, ctx, label("B", ns, ctx, pods), pods)


def method_b2(ns, ctx, _pods=None, cap=10):
    out = playbook("kubernetes_core_targeted.yml", ns, ctx, label("B2" if cap else "B2ALL", ns, ctx), bench_log_cap=cap)
    m = re.search(r"BENCH log_requests=(\d+)", out)
    return {"log_requests": int(m.group(1)) if m else None, "log_containers": log_containers(out)}


def method_b2all(ns, ctx, _pods=None):
    return method_b2(ns, ctx, cap=0)


def method_f(ns, ctx, _pods=None, get="json"):
    name = label("F" if get == "json" else "FRAW", ns, ctx)
    args = [str(HERE / "floor.sh"), ns, str(Path(ctx["workdir"]) / name), "10", str(ctx["floor_jobs"]), get]
    out = run(args, ctx["workdir"], name, ctx["env"])
    fields = dict(kv.split("=", 1) for kv in re.search(r"^BENCH (.*)$", out, re.M).group(1).split())
    result = {
        "parts": {k: float(fields[k]) for k in PARTS},
        "log_requests": int(fields["log_requests"]),
        "log_containers": log_containers(out),
    }
    if int(fields["failed"]):
        result["failed_commands"] = int(fields["failed"])
    return result


def method_fraw(ns, ctx, _pods=None):
    return method_f(ns, ctx, get="raw")


def method_c(ns, ctx, pods=None):
    label_ = label("C", ns, ctx, pods)
    args = [str(HERE / "runbook_kubectl.sh"), ns, str(Path(ctx["workdir"]) / label_)]
    if pods is not None:
        Path(ctx["workdir"], label_ + ".pods").write_text("".join(p + "\n" for p in pods))
        args.append(str(Path(ctx["workdir"], label_ + ".pods")))
    failed = int(re.search(r"failed=(\d+)", run(args, ctx["workdir"], label_, ctx["env"])).group(1))
    return {"failed_commands": failed} if failed else None


RUNNERS = {"A": method_a, "B": method_b, "B2": method_b2, "B2ALL": method_b2all, "C": method_c, "F": method_f, "FRAW": method_fraw}
PER_POD = ("B", "C")  # one step per pod of the namespace: sampled above --max-per-pod-pods


def per_pod(method, ns, pods, args, rng, ctx):
    """B and C on every pod, or above --max-per-pod-pods on a random sample, extrapolated linearly."""
    runner = RUNNERS[method]
    if len(pods) <= args.max_per_pod_pods:
        return measure(lambda: runner(ns, ctx), args)
    sample = rng.sample(pods, args.max_per_pod_pods)
    fixed = measure(lambda: runner(ns, ctx, []), args)  # lists and top at full size, no per-pod step
    sampled = measure(lambda: runner(ns, ctx, sample), args)
    scale = len(pods) / len(sample)

    def extrapolate(key):
        return fixed[key] + scale * (sampled[key] - fixed[key])

    breakdown = collections.Counter(
        {k: round(fixed["breakdown"][k] + scale * (v - fixed["breakdown"][k])) for k, v in sampled["breakdown"].items()}
    )
    return dict(
        sampled,
        sample=len(sample),
        breakdown=breakdown,
        seconds=extrapolate("seconds"),
        wire=round(extrapolate("wire")),
        server=max(0, round(extrapolate("server"))),
    )


def aggregate(runs):
    """Several runs of one method at one size: medians, the range of wall times, every time."""
    times = [r["seconds"] for r in runs]
    middle = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    result = dict(
        middle,  # breakdown and extras of the (lower) median run
        seconds=statistics.median(times),
        seconds_min=min(times),
        seconds_max=max(times),
        times=times,
        wire=statistics.median(r["wire"] for r in runs),
        wire_range=(min(r["wire"] for r in runs), max(r["wire"] for r in runs)),
        server=statistics.median(r["server"] for r in runs),
        idle_rate=max(r["idle_rate"] for r in runs),
        busy=any(r["busy"] for r in runs),
        log_sets=sorted({r["log_containers"] for r in runs if r.get("log_containers") is not None}),
    )
    if any("parts" in r for r in runs):
        result["parts"] = {k: statistics.median(r["parts"][k] for r in runs) for k in PARTS}
    if any(r.get("failed_commands") for r in runs):
        result["failed_commands"] = sum(r.get("failed_commands", 0) for r in runs)
    return result


# --- report ----------------------------------------------------------------------------------


def versions():
    def first_line(cmd):
        out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False).stdout
        return out.splitlines()[0].strip() if out else "unknown"

    manifest = next(
        Path(p, "ansible_collections/kubernetes/core/MANIFEST.json")
        for p in sys.path
        if Path(p, "ansible_collections/kubernetes/core/MANIFEST.json").exists()
    )
    # The collection ansible-playbook loads: the checkout (linked into ANSIBLE_COLLECTIONS_PATH) or another copy.
    used = next(
        (
            Path(base, "ansible_collections/ai_orchestrator/incident_response").resolve()
            for base in ENV["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)
            if Path(base, "ansible_collections/ai_orchestrator/incident_response/galaxy.yml").exists()
        ),
        ROOT,
    )
    galaxy = re.search(r"^version:\s*(\S+)", (used / "galaxy.yml").read_text(), re.M)
    server = json.loads(kubectl("version", "-o", "json", check=False) or "{}").get("serverVersion", {})
    return {
        "ai_orchestrator.incident_response": (galaxy.group(1) if galaxy else "unknown")
        + ("" if used == ROOT else " (from %s)" % used),
        "ansible-core": first_line([str(BIN / "ansible-playbook"), "--version"]).rsplit("core ", maxsplit=1)[-1].rstrip("]"),
        "kubernetes.core": json.loads(manifest.read_text())["collection_info"]["version"],
        "Kubernetes": server.get("gitVersion", "unknown"),
        "Python": sys.version.split()[0],
    }


def cell(result, key, fmt="%d"):
    if result is None:
        return "-"
    text = fmt % result[key]
    return "≈%s¹" % text if "sample" in result else text


def header(meta):
    return [
        "Run of %s on %s (`nproc` %s); load average %s at start, %s at end%s; %s minutes in all."
        % (
            meta["date"],
            meta["machine"],
            meta["nproc"],
            meta["load_start"],
            meta["load_end"],
            ", %s at most (read after each run)" % meta["load_peak"] if "load_peak" in meta else "",
            meta["minutes"],
        ),
        "Versions: %s. Command: `%s`." % (", ".join("%s %s" % kv for kv in meta["versions"].items()), meta["command"]),
    ]



def sample_note(results):
    """The footnote for rows extrapolated from a sample of pods, or nothing."""
    samples = sorted({r["sample"] for res in results.values() for r in res.values() if "sample" in r})
    if not samples:
        return []
    return [
        "",
        "¹ extrapolated from a sample of %s pods: the run without the per-pod step plus N/K times what "
        "the sample of K pods added (`--max-per-pod-pods`)." % " and ".join(map(str, samples)),
    ]

def render(results, meta, args):
    """The A/B/C table of the original benchmark (one run per method, the default share of faults)."""
    lines = header(meta) + [
        "",
        "| Pods | A: collection, s | A: requests | B: kubernetes.core, s | B: requests | C: kubectl, s | C: requests |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, res in sorted(results.items()):
        a, b, c = res.get("A"), res.get("B"), res.get("C")
        a_req = "-" if a is None else "%d (module: %s)" % (a["wire"], a.get("module"))
        lines.append(
            "| %d | %s | %s | %s | %s | %s | %s |"
            % (
                size,
                cell(a, "seconds", "%.1f"),
                a_req,
                cell(b, "seconds", "%.1f"),
                cell(b, "wire"),
                cell(c, "seconds", "%.1f"),
                cell(c, "wire"),
            )
        )
    lines += sample_note(results)
    lines += [
        "",
        "Server-side count (kube-apiserver and metrics-server `/metrics`, idle rate subtracted; "
        "* = the cluster was busy with other clients):",
        "",
        "| Pods | A | B | C | idle req/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size, res in sorted(results.items()):
        cells = ["-" if m not in res else cell(res[m], "server") + ("*" if res[m]["busy"] else "") for m in "ABC"]
        lines.append("| %d | %s | %.1f |" % (size, " | ".join(cells), max(r["idle_rate"] for r in res.values())))
    largest = max(results)
    lines += ["", "Requests by verb and resource at %d pods (through the proxy):" % largest, ""]
    for method, res in sorted(results[largest].items()):
        parts = ", ".join("%s %d" % kv for kv in res["breakdown"].most_common())
        lines.append("- %s (%s): %s" % (method, METHODS[method], parts or "none"))
    failures = [
        "%s at %d pods: %d" % (m, s, r["failed_commands"])
        for s, res in sorted(results.items())
        for m, r in sorted(res.items())
        if r.get("failed_commands")
    ]
    if failures:
        lines += ["", "kubectl commands that failed (included in time and requests): " + "; ".join(failures) + "."]
    return "\n".join(lines) + "\n"


def seconds(value):
    return "%.1f" % value if value >= 10 else "%.2f" % value


def ratio(value):
    """Two decimals, or two significant digits below 0.1 (A ÷ B is 0.004 at 1000 pods)."""
    return "%.2f" % value if value >= 0.1 else "%.2g" % value


def render_methods(results, meta, args):
    """One row per size and method: median and range of the runs, requests, ratios to A."""
    lines = header(meta) + [
        "",
        "| Pods | Unhealthy pods | Method | Runs | Wall time, s: median (min-max) | Requests | Server-side requests "
        "| A ÷ method, time | A ÷ method, requests |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, res in sorted(results.items()):
        a = res.get("A")
        for m in [m for m in args.methods if m in res]:
            r = res[m]
            approx = ("≈", "¹") if "sample" in r else ("", "")
            wall = seconds(r["seconds"])
            if len(r["times"]) > 1:
                wall += " (%s-%s)" % (seconds(r["seconds_min"]), seconds(r["seconds_max"]))
            requests = "%d" % r["wire"]
            if r["wire_range"][0] != r["wire_range"][1]:
                requests += " (%d-%d)" % r["wire_range"]
            if m == "A":
                requests += " (module: %s)" % r.get("module")
            ratios = ["-", "-"]
            if a is not None:
                ratios = [ratio(a["seconds"] / r["seconds"]), ratio(a["wire"] / r["wire"]) if r["wire"] else "-"]
            lines.append(
                "| %d | %d | %s %s | %d | %s%s%s | %s%s%s | %s%s%s%s | %s | %s |"
                % (
                    size,
                    len(args.unhealthy_pods[size]),
                    SHORT.get(m, m),
                    METHODS[m],
                    len(r["times"]),
                    approx[0],
                    wall,
                    approx[1],
                    approx[0],
                    requests,
                    approx[1],
                    approx[0],
                    "%d" % r["server"],
                    approx[1],
                    "*" if r["busy"] else "",
                    ratios[0],
                    ratios[1],
                )
            )
    lines += sample_note(results)
    lines += [
        "",
        "Requests: through the counting proxy, median of the runs (range when they differ). Server-side: "
        "kube-apiserver and metrics-server `/metrics`, idle rate subtracted (at most %.1f req/s here), "
        "median; * = the cluster was busy with other clients during at least one run. "
        "A ÷ method: below 1, A takes less."
        % max(r["idle_rate"] for res in results.values() for r in res.values()),
        "",
        "Every run's wall time, s, in the order run:",
        "",
    ]
    for size, res in sorted(results.items()):
        lines.append(
            "- %d pods: %s"
            % (size, "; ".join("%s %s" % (SHORT.get(m, m), ", ".join(seconds(t) for t in res[m]["times"])) for m in args.methods if m in res))
        )
    notes = []
    for size, res in sorted(results.items()):
        for m, get in (("F", "`kubectl get pods,events -o json`"), ("FRAW", "`kubectl get --raw` of both lists")):
            if m not in res:
                continue
            parts = res[m]["parts"]
            notes.append(
                "%s at %d pods, median of each part: empty `ansible-playbook` %s s, %s %s s, "
                "picking the containers %s s, %d log fetches %s s (%d at a time)."
                % (
                    SHORT.get(m, m),
                    size,
                    seconds(parts["empty_playbook"]),
                    get,
                    seconds(parts["get"]),
                    seconds(parts["select"]),
                    res[m]["log_requests"],
                    seconds(parts["logs"]),
                    args.floor_jobs,
                )
            )
        if "A" in res and res["A"]["log_sets"]:
            reference = res["A"]["log_sets"][0]
            count = len(reference.split(",")) if reference else 0
            same = [SHORT.get(m, m) for m in ("B2", "F", "FRAW") if m in res and res[m]["log_sets"] == [reference]]
            differ = [SHORT.get(m, m) for m in ("B2", "F", "FRAW") if m in res and res[m]["log_sets"] != [reference]]
            text = "At %d pods A read the logs of %d containers%s" % (
                size,
                count,
                " (the same in every run)" if len(res["A"]["log_sets"]) == 1 else " (not the same in every run)",
            )
            if same:
                text += "; %s read the logs of the same containers in every run" % " and ".join(same)
            if differ:
                text += "; %s read others in at least one run (see the run outputs)" % " and ".join(differ)
            if "B2ALL" in res:
                text += "; B2-all made %d log requests" % res["B2ALL"]["log_requests"]
            notes.append(text + ".")
    if notes:
        lines += [""] + notes
    largest = max(results)
    lines += ["", "Requests by verb and resource at %d pods (through the proxy, median run):" % largest, ""]
    for m in [m for m in args.methods if m in results[largest]]:
        parts = ", ".join("%s %d" % kv for kv in results[largest][m]["breakdown"].most_common())
        lines.append("- %s (%s): %s" % (SHORT.get(m, m), METHODS[m], parts or "none"))
    failures = [
        "%s at %d pods: %d" % (SHORT.get(m, m), s, r["failed_commands"])
        for s, res in sorted(results.items())
        for m, r in sorted(res.items())
        if r.get("failed_commands")
    ]
    if failures:
        lines += ["", "kubectl commands that failed, over all runs (included in time and requests): " + "; ".join(failures) + "."]
    return "\n".join(lines) + "\n"


def write_doc(block, name):
    begin, end = "<!-- diagnosis-bench:%s:begin -->" % name, "<!-- diagnosis-bench:%s:end -->" % name
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    new = "%s\n%s%s" % (begin, block, end)
    if begin in text and end in text:
        text = text[: text.index(begin)] + new + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    DOC.write_text(text)
    log("wrote %s (block %s)" % (DOC, name))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="10,100,1000,5000", help="pod counts, comma-separated")
    parser.add_argument("--methods", default="A,B,C", help="which of %s to run, in this order" % ",".join(METHODS))
    parser.add_argument(
        "--unhealthy",
        type=float,
        default=FAULT_SHARE,
        help="share of each namespace's pods made to crash-loop (at least one pod); default %(default)s",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each method per size (median, min and max)")
    parser.add_argument("--once", default="", help="methods run only once however large --repeat (e.g. B,C)")
    parser.add_argument(
        "--max-per-pod-pods",
        type=int,
        default=1000,
        help="above this many pods B and C loop over a random sample this large and extrapolate",
    )
    parser.add_argument("--floor-jobs", type=int, default=4, help="log fetches F runs at a time")
    parser.add_argument("--baseline-cap", type=float, default=60.0, help="longest idle interval for the baseline, s")
    parser.add_argument(
        "--quiet-rate",
        type=float,
        default=3.0,
        help="before each run wait (up to 60 s) until the cluster serves fewer requests/s than this",
    )
    parser.add_argument("--seed", type=int, default=20260101, help="seed of the crash-looping pods and the sample")
    parser.add_argument("--block", default="results", help="name of the generated block in docs/benchmarks.md")
    parser.add_argument("--no-doc", action="store_true", help="print the results only")
    args = parser.parse_args()

    def methods(text):
        names = [m.strip().upper().replace("-", "") for m in text.split(",") if m.strip()]
        unknown = [m for m in names if m not in METHODS]
        if unknown:
            parser.error("unknown method %s; choose from %s" % (", ".join(unknown), ", ".join(METHODS)))
        return names

    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.methods, args.once = methods(args.methods), methods(args.once)
    if not 0 < args.unhealthy <= 1 or args.repeat < 1:
        parser.error("--unhealthy must be in (0, 1] and --repeat at least 1")
    # The original table (A, B, C once each, 2% faults) or one row per method with ratios to A.
    args.render = render if set(args.methods) <= set("ABC") and args.repeat == 1 and args.unhealthy == FAULT_SHARE else render_methods
    return args


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a cancelled CI job cleans up like Ctrl-C
    if subprocess.run([KUBECTL, "get", "--raw", "/readyz"], capture_output=True, env=ENV, check=False).returncode:
        sys.exit("drill cluster not answering (KUBECONFIG=%s); start it with drill/env.sh up" % KUBECONFIG)
    started, load_start = time.monotonic(), os.getloadavg()[0]
    args.load_peak = load_start
    args.ms_server = metrics_server()
    if not args.ms_server:
        log("metrics-server /metrics not readable: the server-side count leaves out the metrics API")
    workdir = tempfile.mkdtemp(prefix="diagnosis-bench-")
    args.proxy = CountingProxy(KUBECONFIG)
    kubeconfig = args.proxy.kubeconfig(os.path.join(workdir, "kubeconfig"))
    env = dict(ENV, KUBECONFIG=kubeconfig, K8S_AUTH_KUBECONFIG=kubeconfig)
    ctx = {"workdir": workdir, "env": env, "floor_jobs": args.floor_jobs}
    log("outputs of every run in %s; API proxy %s" % (workdir, args.proxy.url))
    namespaces = ["bench-%d" % s for s in args.sizes]
    nodes = [node(i) for i in range(math.ceil(max(args.sizes) * 1.1 / PODS_PER_NODE))]
    results, args.unhealthy_pods = {}, {}
    try:
        delete_namespaces(namespaces)  # leftovers of an interrupted run
        apply(nodes)
        ready = 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}'
        wait(
            "bench nodes Ready",
            120,
            lambda: kubectl("get", "nodes", "-l", BENCH_LABEL, "-o", ready).split().count("True") == len(nodes),
        )
        for size, ns in zip(args.sizes, namespaces):
            pods, faulty = create_namespace(ns, size, rng, args.unhealthy)
            if not results:  # warm the clients' discovery caches once, unmeasured
                ctx.pop("run", None)
                method_a(ns, ctx), method_b(ns, ctx, []), method_c(ns, ctx, [])
                if "F" in args.methods or "FRAW" in args.methods:
                    method_f(ns, ctx)
            runs = collections.defaultdict(list)
            # Round robin (A, B2, F, A, B2, F...), so that a slow spell of the shared machine
            # does not land on one method's runs only.
            for rep in range(args.repeat):
                for m in args.methods:
                    if rep and m in args.once:
                        continue
                    ctx["run"] = "r%d" % (rep + 1)
                    log("%s: method %s (%s), run %d" % (ns, SHORT.get(m, m), METHODS[m], rep + 1))
                    if m in PER_POD:
                        r = per_pod(m, ns, pods, args, rng, ctx)
                    else:
                        r = measure(lambda: RUNNERS[m](ns, ctx), args)
                    runs[m].append(r)
                    log(
                        "%s: %s %.1fs, %d requests (server %d, idle %.1f/s)%s%s%s"
                        % (
                            ns,
                            SHORT.get(m, m),
                            r["seconds"],
                            r["wire"],
                            r["server"],
                            r["idle_rate"],
                            ", module %s" % r["module"] if "module" in r else "",
                            ", %s" % " ".join("%s %.2fs" % kv for kv in r["parts"].items()) if "parts" in r else "",
                            ", extrapolated" if "sample" in r else "",
                        )
                    )
            results[size] = {m: aggregate(rs) for m, rs in runs.items()}
            args.unhealthy_pods[size] = faulty
            delete_namespaces([ns])
    finally:
        log("cleaning up: namespaces %s, %d bench nodes" % (", ".join(namespaces), len(nodes)))
        delete_namespaces(namespaces)
        kubectl("delete", "nodes", "-l", BENCH_LABEL, check=False)
        args.proxy.close()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
            os.uname().machine,
        ),
        "nproc": os.cpu_count(),
        "load_start": "%.2f" % load_start,
        "load_end": "%.2f" % os.getloadavg()[0],
        "load_peak": "%.2f" % args.load_peak,
        "minutes": "%.0f" % ((time.monotonic() - started) / 60),
        "versions": versions(),
        "command": " ".join(["diagnosis_bench.py"] + sys.argv[1:]),
    }
    block = args.render(results, meta, args)
    print(block)
    if not args.no_doc:
        write_doc(block, args.block)


if __name__ == "__main__":
    main()
