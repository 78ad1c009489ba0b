# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill's monitoring (drill/monitoring.sh) raises the runbook's alerts for real.

Prometheus scrapes every target, the HTTP stand-ins' metrics follow the contract in
docs/alerting.md and move when a stand-in fails, and ServiceDown fires from
kube-state-metrics and reaches Alertmanager, for a drill fault and for a pod that fails
for a reason of its own (it cannot be scheduled).

Runs in the data plane's group (test_dataplane.py): both switch the shared stand-ins'
failure modes. The workloads that fail live in a namespace of this file's own (mon-<hex>).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import dataplane as dp
import drill
from prom import env, get_json, query, value

pytestmark = [pytest.mark.drill, pytest.mark.xdist_group("dataplane"), pytest.mark.usefixtures("drill_env")]

# Prometheus' scrape target for each stand-in: service label (the Deployment's name) and port.
STAND_INS = {"gateway": "api-gateway", "langflow": "langflow", "n8n": "n8n", "langsmith": "langsmith"}
ENGINES = {"langflow", "n8n", "langsmith"}
JOBS = {"ai-orchestrator", "kube-state-metrics", "postgres-exporter", "redis-exporter", "prometheus", "alertmanager"}
ALERTS = {"ServiceDown", "HighErrorRate", "HighResponseTime", "WorkflowExecutionFailureRate"}
BUCKETS = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}
SYNTHETIC_HEADER = "X-Drill-Synthetic"
ALERT_TIMEOUT = 60  # fault to firing is about 10 s: kwok's crash delay, a scrape, for: 5s


def rises(promql: str, by: float, timeout: float = 20) -> float:
    """Wait until the query's value is `by` above what it is now; return the seconds it took."""
    start, before = time.monotonic(), value(promql)
    drill.wait_for(lambda: value(promql) >= before + by, timeout, interval=0.25,
                   message=f"{promql} to rise by {by} from {before}")
    return time.monotonic() - start


def metrics(service: str) -> tuple[str, dict[str, str], list[tuple[str, dict, float]]]:
    """A stand-in's /metrics: content type, TYPE per family, samples (name, labels, value)."""
    with urllib.request.urlopen(dp.url(service, "/metrics"), timeout=10) as resp:
        content_type, text = resp.headers["Content-Type"], resp.read().decode()
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#"):
            match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
            assert match, f"not Prometheus text format: {line!r}"
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return content_type, types, samples


def label_sets(samples, name: str) -> list[dict]:
    return [labels for n, labels, _v in samples if n == name]


@pytest.fixture
def restore_modes():
    """Stand-ins switched by a test go back to ok, without clearing what others recorded."""
    switched = []
    yield switched
    for service in switched:
        dp.set_mode(service, "ok")


# --- the monitoring itself -----------------------------------------------------------------


def targets_down() -> list:
    targets = get_json("DRILL_PROMETHEUS_PORT", "/api/v1/targets", state="active")["data"]["activeTargets"]
    return [(t["labels"]["job"], t["labels"].get("service"), t["lastError"]) for t in targets if t["health"] != "up"]


def test_every_prometheus_target_is_up_with_its_labels():
    # A stand-in that a test before this one switched back from mode down is up by the next scrape.
    deadline, down = time.monotonic() + 5, targets_down()
    while down and time.monotonic() < deadline:
        time.sleep(0.25)
        down = targets_down()
    assert down == []
    targets = get_json("DRILL_PROMETHEUS_PORT", "/api/v1/targets", state="active")["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == JOBS
    assert all(t["labels"]["cluster"] == "drill" for t in targets)
    stand_ins = {t["labels"]["service"]: t for t in targets if t["labels"]["job"] == "ai-orchestrator"}
    assert set(stand_ins) == set(STAND_INS.values())
    for service, label in STAND_INS.items():
        assert stand_ins[label]["labels"]["namespace"] == "ai-orchestrator"
        assert stand_ins[label]["scrapeUrl"] == dp.url(service, "/metrics")
    # kube-state-metrics keeps the object's namespace: the fixture's Deployments are there.
    deployments = {r["metric"]["deployment"] for r in query(
        'kube_deployment_spec_replicas{job="kube-state-metrics", namespace="ai-orchestrator", cluster="drill"}')}
    assert set(drill.DEPLOYMENTS) <= deployments
    assert value('pg_up{service="postgres"}') == 1 and value('redis_up{service="redis"}') == 1


def test_drill_rules_are_loaded_with_drill_timing():
    groups = get_json("DRILL_PROMETHEUS_PORT", "/api/v1/rules")["data"]["groups"]
    rules = [r for g in groups if g["name"] == "ai-orchestrator" for r in g["rules"]]
    assert {r["name"] for r in rules} == ALERTS
    assert {r["duration"] for r in rules} == {5}
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    windows = {w for r in rules for w in re.findall(r"\[([0-9a-z]+)\]", r["query"])}
    assert windows == {"20s"}, windows


def test_alertmanager_routes_to_the_eda_webhook_without_gossip():
    status = get_json("DRILL_ALERTMANAGER_PORT", "/api/v2/status")
    assert status["cluster"]["status"] == "disabled"
    config = status["config"]["original"]
    assert f"url: http://127.0.0.1:{env('DRILL_EDA_PORT')}/alerts" in config
    assert re.search(r"group_by:\s*\n\s*- cluster\n\s*- namespace", config), config
    assert f"credentials_file: {env('DRILL_RUN')}/secrets/eda_token" in config
    assert dp.secret("eda_token") not in config


def test_versions_found_are_recorded_and_checked():
    lines = (Path(env("DRILL_RUN")) / "monitoring" / "versions.txt").read_text().splitlines()
    found = {name: version for name, version, _path in (line.split() for line in lines)}
    assert set(found) == {"prometheus", "alertmanager", "postgres-exporter", "redis-exporter", "kube-state-metrics", "jaeger"}

    def at_least(version: str, minimum: tuple) -> bool:
        return tuple(int(p) for p in version.split(".")) >= minimum

    assert at_least(found["prometheus"], (2, 42)) and at_least(found["alertmanager"], (0, 25))
    assert "v" + found["kube-state-metrics"] == env("KSM_VERSION")
    # What runs is what was recorded.
    for job, name in (("prometheus", "prometheus"), ("alertmanager", "alertmanager")):
        (build,) = query(f'{name}_build_info{{job="{job}"}}')
        assert build["metric"]["version"].startswith(found[name]), build


# --- the stand-ins' metrics ------------------------------------------------------------------


@pytest.mark.parametrize("service", list(STAND_INS))
def test_stand_in_metrics_follow_the_contract(service):
    content_type, types, samples = metrics(service)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert types["http_requests_total"] == "counter"
    assert types["http_request_duration_seconds"] == "histogram"
    requests = label_sets(samples, "http_requests_total")
    assert requests and all(set(labels) == {"route", "method", "code"} for labels in requests)
    assert "/metrics" not in {labels["route"] for labels in requests}
    buckets = label_sets(samples, "http_request_duration_seconds_bucket")
    assert all(set(labels) == {"route", "method", "le"} for labels in buckets)
    assert {labels["le"] for labels in buckets} == BUCKETS
    # Prometheus adds namespace and service as target labels; the exposition has none.
    assert not any({"namespace", "service"} & set(labels) for _n, labels, _v in samples)
    if service == "gateway":
        assert (types["workflow_executions_total"], types["workflow_execution_duration_seconds"],
                types["workflow_queue_depth"]) == ("counter", "histogram", "gauge")
        executions = label_sets(samples, "workflow_executions_total")
        assert {(labels["engine"], labels["status"]) for labels in executions} == {
            (e, s) for e in ENGINES for s in ("success", "failure")}
        assert {labels["engine"] for labels in label_sets(samples, "workflow_queue_depth")} == ENGINES
        assert {labels["engine"] for labels in label_sets(samples, "workflow_execution_duration_seconds_count")} == ENGINES
    else:
        assert not any(name.startswith("workflow_") for name in types)


def test_synthetic_traffic_is_counted_but_not_recorded():
    label = STAND_INS["langsmith"]
    rises(f'sum(http_requests_total{{job="ai-orchestrator", service="{label}"}})', by=5)
    assert value(f'sum(rate(http_requests_total{{job="ai-orchestrator", service="{label}"}}[20s]))') >= 1
    assert [r for r in dp.requests_for("langsmith") if SYNTHETIC_HEADER in r["headers"]] == []
    # The gateway's workflow runs call the engines' health endpoints, unrecorded as well.
    rises('sum(workflow_executions_total{job="ai-orchestrator", engine="n8n"})', by=2)
    assert [r for r in dp.requests_for("n8n") if SYNTHETIC_HEADER in r["headers"]] == []


def test_error_mode_raises_5xx_and_metrics_stay_served(restore_modes):
    restore_modes.append("langsmith")
    dp.set_mode("langsmith", "error")
    # Back to ok at the first 5xx Prometheus sees: errors for about a second stay near
    # HighErrorRate's 5 % of the drill's 20 s window (it may fire briefly, and resolve).
    took = rises('sum(http_requests_total{job="ai-orchestrator", service="langsmith", code=~"5.."})', by=1)
    dp.set_mode("langsmith", "ok")
    print(f"langsmith error -> 5xx counted in Prometheus: {took:.1f}s")
    assert value('up{job="ai-orchestrator", service="langsmith"}') == 1  # /metrics is never faulted


def test_engine_error_fails_the_gateways_workflow_executions(restore_modes):
    restore_modes.append("n8n")
    dp.set_mode("n8n", "error")
    took = rises('sum(workflow_executions_total{job="ai-orchestrator", service="api-gateway", engine="n8n",'
                 ' status="failure"})', by=1)
    dp.set_mode("n8n", "ok")
    print(f"n8n error -> failed workflow executions in Prometheus: {took:.1f}s")


def test_a_slow_engine_grows_the_workflow_queue_until_it_recovers(restore_modes):
    restore_modes.append("langflow")
    depth = 'workflow_queue_depth{job="ai-orchestrator", service="api-gateway", engine="langflow"}'
    dp.set_mode("langflow", "slow", delay=1.5)  # below HighResponseTime's 2 s
    rises(depth, by=3)
    dp.set_mode("langflow", "ok")
    drill.wait_for(lambda: value(depth) == 0, 20, interval=0.25, message="the langflow queue to drain")


# --- ServiceDown from the cluster ----------------------------------------------------------------


def deployment(name: str, replicas: int, **pod_spec) -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": f"registry.drill.local/{name}:1"}],
                                           **pod_spec}}}}


@pytest.fixture(scope="module")
def namespace():
    """mon-<hex> with `web` (2 replicas, ready) and `unplaced` (2 replicas whose nodeSelector
    matches no node: Pending for good, as when a node pool is gone)."""
    name = "mon-" + secrets.token_hex(4)
    drill.kubectl("create", "namespace", name, namespace=None)
    try:
        items = [deployment("web", 2),
                 deployment("unplaced", 2, nodeSelector={"drill.incident-response.io/pool": "none"})]
        drill.kubectl("apply", "-f", "-", namespace=name, input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                            "items": items}))
        drill.wait_for(lambda: drill.workload_ready("web", 2, namespace=name), 60, message=f"{name}/web ready")
        yield name
    finally:
        drill.kubectl("delete", "namespace", name, "--wait=false", namespace=None, check=False)


def firing(namespace: str, service: str) -> list[dict]:
    return query(f'ALERTS{{alertname="ServiceDown", alertstate="firing", namespace="{namespace}", service="{service}"}}')


def received(namespace: str, service: str) -> list[dict]:
    """The alert as Alertmanager holds it (active, routed to the EDA receiver)."""
    alerts = get_json("DRILL_ALERTMANAGER_PORT", "/api/v2/alerts",
                      filter=['alertname="ServiceDown"', f'namespace="{namespace}"', f'service="{service}"'])
    return [a for a in alerts if a["status"]["state"] == "active" and {"name": "eda"} in a["receivers"]]


def wait_alert(namespace: str, service: str, since: float) -> tuple[dict, dict, float, float]:
    (alert,) = drill.wait_for(lambda: firing(namespace, service), ALERT_TIMEOUT, interval=0.25,
                              message=f"ServiceDown firing for {namespace}/{service}")
    fired = time.monotonic() - since
    (notified,) = drill.wait_for(lambda: received(namespace, service), 20, interval=0.25,
                                 message=f"Alertmanager to hold ServiceDown for {namespace}/{service}")
    return alert["metric"], notified, fired, time.monotonic() - since


def test_service_down_fires_for_a_crash_looping_pod(namespace):
    pod = drill.ready_pods("web", namespace)[0].metadata.name
    start = time.monotonic()
    drill.inject_pod_fault(pod, "crashloop", namespace=namespace)
    labels, notified, fired, routed = wait_alert(namespace, "web", start)
    print(f"crashloop on 1 of 2 pods -> ServiceDown firing {fired:.1f}s, in Alertmanager {routed:.1f}s")
    assert (labels["severity"], labels["cluster"], labels["team"]) == ("P2", "drill", "sre")
    assert notified["labels"]["severity"] == "P2"
    assert notified["annotations"]["runbook_section"] == "1. Service Down Alert"
    assert notified["annotations"]["playbook"] == "playbooks/service_down.yml"


def test_service_down_fires_for_pods_that_cannot_be_scheduled(namespace):
    pods = drill.wait_for(lambda: [p for p in drill.pods("unplaced", namespace) if p.status.phase == "Pending"],
                          30, message="the unplaced pods")
    assert len(pods) == 2 and not any(p.spec.node_name for p in pods)
    assert not any(drill.FAULT_LABEL in (p.metadata.labels or {}) for p in pods)
    created = drill.apps().read_namespaced_deployment("unplaced", namespace).metadata.creation_timestamp
    labels, notified, _fired, _routed = wait_alert(namespace, "unplaced", time.monotonic())
    print(f"unschedulable -> ServiceDown in Alertmanager {time.time() - created.timestamp():.1f}s after creation")
    assert (labels["severity"], labels["cluster"], labels["namespace"]) == ("P1", "drill", namespace)
    assert notified["labels"]["severity"] == "P1"
