# SPDX-License-Identifier: GPL-3.0-or-later
"""Incidents that hold up under repetition, concurrency and other people's setups (issue 8).

Drills on namespaces the fixture does not have (shop-<hex>, lab-<hex>), run the way a team
runs them: its own one-host inventory (no `clusters` group, no incident_dir), a fresh home
directory per run (an AWX job container), its own ServiceAccount confined to the namespace.

- two runs started together on one service: one acts, the other joins and exits 0
  (and a third run on another namespace in the same second gets its own incident id);
- a run that finds the service's lease held by another actor joins and acts on nothing;
- a re-fired alert continues its incident (reopening it) instead of opening a second one;
- the record store as AWX uses it: a job writes into a shared folder, a later job in a
  fresh working directory continues the (healed) incident by id and resolves it, exit 0;
- a scoped run in a namespace whose other services are healthy is not judged P0;
- namespace-only credentials and a one-host inventory run the whole playbook, records private.
"""

from __future__ import annotations

import json
import re
import secrets
import stat
import subprocess
import threading
from pathlib import Path

import pytest

import drill
import rbac
from playbook import ROOT, VENV_BIN, ansible_env, module

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]
HISTORY = "incident-response.ai-orchestrator.io/remediation-history"
SERVICES = {"ledger": 2, "billing": 2, "catalog": 1, "search": 2}
BOT = "incident-bot"


def _deployment(namespace: str, name: str, replicas: int) -> dict:
    labels = {"app.kubernetes.io/name": name}
    container = {"name": name, "image": "ghcr.io/shop/%s:2.3.1" % name,
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}}


def _namespace(prefix: str) -> str:
    namespace = "%s-%s" % (prefix, secrets.token_hex(3))
    rbac.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
               + [_deployment(namespace, name, replicas) for name, replicas in SERVICES.items()])
    for name, replicas in SERVICES.items():
        drill.wait_for(lambda: drill.workload_ready(name, replicas, namespace=namespace), 120,
                       message="deployment/%s in %s to be ready" % (name, namespace))
    return namespace


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Two team namespaces, the team's one-host inventory and a ServiceAccount confined to `shop`."""
    shop_ns, lab_ns = _namespace("shop"), _namespace("lab")
    try:
        rbac.apply(rbac.service_account(shop_ns, BOT, rbac.NAMESPACE_ROLE_RULES))
        folder = tmp_path_factory.mktemp("team")
        yield {"namespace": shop_ns, "lab": lab_ns, "folder": folder,
               "inventory": inventory(folder / "admin.yml", drill.kubeconfig()),
               "bot_inventory": inventory(folder / "bot.yml", rbac.kubeconfig(folder, shop_ns, BOT))}
    finally:
        for namespace in (shop_ns, lab_ns):
            drill.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", namespace=None, check=False)


def inventory(path: Path, kubeconfig: str) -> str:
    """What a team writes: one host and its kubeconfig. No group, no incident_dir, no interpreter."""
    path.write_text("all:\n  hosts:\n    shop-prod:\n      cluster_kubeconfig: %s\n" % kubeconfig)
    return str(path)


def run(inventory_path: str, home: Path, *args: str, playbook: str = "service_down.yml", **env: str) -> subprocess.CompletedProcess:
    """ansible-playbook from a fresh working directory and home (an AWX job container)."""
    home.mkdir(parents=True, exist_ok=True)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", inventory_path, str(ROOT / "playbooks" / playbook), *args]
    return subprocess.run(cmd, cwd=home, env=ansible_env(HOME=str(home), **env), capture_output=True, text=True,
                          timeout=600, check=False)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def records(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(store.glob("incident-*/incident.json"))]


def timeline(store: Path, incident_id: str) -> list[dict]:
    return [json.loads(line) for line in (store / incident_id / "timeline.jsonl").read_text().splitlines() if line.strip()]


def history(namespace: str, name: str) -> list[dict]:
    dep = drill.kubectl_json("get", "deployment", name, namespace=namespace)
    return json.loads((dep["metadata"].get("annotations") or {}).get(HISTORY) or "[]")


def crash_one_pod(namespace: str, name: str) -> str:
    """drill/fault.sh pod: one running pod of NAME crashes (returns once it is no longer Ready)."""
    drill.fault_sh("pod", "deployment/" + name, "crashloop", namespace=namespace, timeout=120)
    return next(p.metadata.name for p in drill.pods(name, namespace) if (p.metadata.labels or {}).get(drill.FAULT_LABEL))


def persistent_crash_without_rollback(namespace: str, name: str) -> None:
    """Every pod of NAME crashes and no earlier revision is left to roll back to (revisionHistoryLimit 0)."""
    drill.inject_workload_fault(name, "crashloop", namespace=namespace)
    revision = "deployment.kubernetes.io/revision"
    current = drill.wait_for(lambda: drill.kubectl_json("get", "deployment", name, namespace=namespace)["metadata"]
                             .get("annotations", {}).get(revision), 60, message="the new revision of " + name)
    drill.wait_for(lambda: any(rs["metadata"]["annotations"].get(revision) == current for rs in drill.kubectl_json(
        "get", "replicasets", "-l", "app.kubernetes.io/name=" + name, namespace=namespace)["items"]), 60,
        message="the ReplicaSet of revision %s" % current)
    for rs in drill.kubectl_json("get", "replicasets", "-l", "app.kubernetes.io/name=" + name, namespace=namespace)["items"]:
        if rs["metadata"]["annotations"].get(revision) != current:
            drill.kubectl("delete", "replicaset", rs["metadata"]["name"], "--wait=false", namespace=namespace)


def wait_healthy(namespace: str, name: str) -> None:
    drill.wait_for(lambda: drill.workload_ready(name, SERVICES[name], namespace=namespace), 120,
                   message="deployment/%s in %s to be ready" % (name, namespace))


def test_a_team_setup_runs_the_playbook_and_records_privately_to_the_default_folder(shop, tmp_path):
    """A one-host inventory, no incident_dir, a ServiceAccount with rights in its namespace only."""
    namespace, home = shop["namespace"], tmp_path / "home"
    crash_one_pod(namespace, "search")
    out = ok(run(shop["bot_inventory"], home, "-e", "namespace=" + namespace, "-e", "diagnose_service_min_startup_seconds=0"))
    store = home / ".local/share/ai-orchestrator/incidents"
    [record] = records(store)
    assert record["status"] == "resolved" and record["namespace"] == namespace, out[-3000:]
    assert record["services"]["search"]["status"] == "restored"
    assert record["cluster"].startswith("https://")
    # Owner only: the incident holds logs.
    incident = store / record["id"]
    assert stat.S_IMODE(incident.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in incident.rglob("*") if p.is_file())
    evidence = "\n".join(p.read_text() for p in (incident / "artifacts").rglob("*") if p.is_file())
    assert "may not list nodes" in evidence, "the missing node permission is reported with the evidence"
    again = ok(run(shop["bot_inventory"], home, "-e", "namespace=" + namespace))
    assert re.search(r"shop-prod\s+: ok=\d+\s+changed=0 ", again), again[-1500:]
    assert len(records(store)) == 1


def test_two_runs_started_together_on_one_service_one_acts_one_joins(shop, tmp_path):
    """And a third run, on another namespace in the same second, gets an incident of its own."""
    namespace, lab = shop["namespace"], shop["lab"]
    store = tmp_path / "shared-store"
    crash_one_pod(namespace, "billing")
    crash_one_pod(lab, "billing")
    before = len(history(namespace, "billing"))
    results = {}

    def start(key, ns):
        results[key] = run(shop["inventory"], tmp_path / key, "-e", "namespace=" + ns, "-e", "service=billing",
                           "-e", "incident_dir=" + str(store), "-e", "diagnose_service_min_startup_seconds=0")

    threads = [threading.Thread(target=start, args=args) for args in (("a", namespace), ("b", namespace), ("lab", lab))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outputs = [ok(results[key]) for key in ("a", "b")]
    ok(results["lab"])
    shop_incidents = [r for r in records(store) if r["namespace"] == namespace]
    lab_incidents = [r for r in records(store) if r["namespace"] == lab]
    assert len(shop_incidents) == 1 and len(lab_incidents) == 1
    assert shop_incidents[0]["id"] != lab_incidents[0]["id"]
    # Exactly one of the two acted on billing; the other, if it saw the crash too, said who held it.
    acted = history(namespace, "billing")[before:]
    assert len(acted) == 1 and acted[0]["incident"] == shop_incidents[0]["id"], acted
    joined = [o for o in outputs if "is held by" in o]
    planned = [o for o in outputs if "crashloop on billing" in o]
    assert len(joined) == len(planned) - 1, [o[-2500:] for o in outputs]
    notes = [e for e in timeline(store, shop_incidents[0]["id"]) if e["type"] == "note" and "joined" in e["message"]]
    assert len(notes) == len(joined)
    assert shop_incidents[0]["status"] == "resolved"
    wait_healthy(lab, "billing")


def test_a_run_that_finds_the_lease_held_joins_and_acts_on_nothing(shop, tmp_path):
    namespace, store = shop["namespace"], tmp_path / "store"
    pod = crash_one_pod(namespace, "catalog")
    held = module("service_lease", kubeconfig=drill.kubeconfig(), namespace=namespace, service="catalog",
                  holder="awx-job-77", incident_id="incident-2026-11-27-031500", duration_seconds=300)
    assert held["acquired"], held
    try:
        before = len(history(namespace, "catalog"))
        out = ok(run(shop["inventory"], tmp_path / "home", "-e", "namespace=" + namespace, "-e", "service=catalog",
                     "-e", "incident_dir=" + str(store), "-e", "diagnose_service_min_startup_seconds=0"))
        assert "catalog is held by" in out and "awx-job-77" in out
        assert len(history(namespace, "catalog")) == before
        assert not drill.pod_gone(pod, namespace), "the held service was acted on"
        [record] = records(store)
        note = [e for e in timeline(store, record["id"]) if e["type"] == "note" and "awx-job-77" in e["message"]]
        assert note, timeline(store, record["id"])
        # The lease is still the other actor's.
        lease = drill.kubectl_json("get", "lease", "incident-response-catalog", namespace=namespace)
        assert lease["spec"]["holderIdentity"] == "awx-job-77"
        # A namespace-wide Service Recovery stands back too: it would restart catalog.
        restarted = "kubectl.kubernetes.io/restartedAt"
        recovery = ok(run(shop["inventory"], tmp_path / "home", "-e", "namespace=" + namespace, "-e", "incident_dir=" + str(store),
                          "-e", "service_recovery_min_restart_interval=0", playbook="service_recovery.yml"))
        assert "not started" in recovery or "is held by" in recovery, recovery[-2000:]
        for dep in drill.kubectl_json("get", "deployments", namespace=namespace)["items"]:
            assert restarted not in (dep["spec"]["template"]["metadata"].get("annotations") or {}), dep["metadata"]["name"]
        assert any("Service Recovery" in e["message"] for e in timeline(store, record["id"]) if e["type"] == "note")
    finally:
        module("service_lease", kubeconfig=drill.kubeconfig(), namespace=namespace, service="catalog",
               holder="awx-job-77", state="absent")
        drill.fault_sh("clear", "deployment/catalog", namespace=namespace, timeout=120)
        wait_healthy(namespace, "catalog")


def test_a_refired_alert_continues_its_incident_and_its_severity_label_counts(shop, tmp_path):
    namespace, store, home = shop["namespace"], tmp_path / "store", tmp_path / "home"
    alert = {"status": "firing", "labels": {"alertname": "ServiceDown", "namespace": namespace, "service": "ledger",
                                            "severity": "critical"},
             "annotations": {"summary": "ledger has too few ready replicas"},
             "startsAt": "2026-11-27T03:14:00.123456789Z", "fingerprint": secrets.token_hex(8)}
    extra = ["-e", json.dumps({"alert": alert}), "-e", "incident_dir=" + str(store), "-e", "diagnose_service_min_startup_seconds=0"]
    crash_one_pod(namespace, "ledger")
    ok(run(shop["inventory"], home, *extra))
    [first] = records(store)
    assert first["status"] == "resolved" and first["alert"]["key"].startswith(alert["fingerprint"])
    # One pod of two down is P2 by the cluster's evidence; the alert says critical (P1): the higher wins.
    assert first["severity"] == "P1", first
    # Alertmanager re-sends the same firing while it lasts; the service fails again meanwhile.
    crash_one_pod(namespace, "ledger")
    ok(run(shop["inventory"], home, *extra))
    [again] = records(store)
    assert again["id"] == first["id"] and again["status"] == "resolved"
    types = [e["type"] for e in timeline(store, first["id"])]
    assert types.count("incident_opened") == 1 and "incident_reopened" in types


def test_the_store_survives_fresh_job_containers_and_a_healed_service_is_resolved_by_id(shop, tmp_path):
    """AWX: job 1 escalates a persistent fault into a shared store; job 2, in a fresh container, continues and resolves."""
    namespace, store = shop["namespace"], tmp_path / "shared-volume/incidents"
    persistent_crash_without_rollback(namespace, "search")
    try:
        job1 = ok(run(shop["inventory"], tmp_path / "job-1", "-e", "namespace=" + namespace, "-e", "service=search",
                      "-e", "diagnose_service_min_startup_seconds=0", AI_ORCHESTRATOR_INCIDENT_DIR=str(store)))
        [record] = records(store)
        assert record["status"] == "escalated", job1[-3000:]
        assert record["services"]["search"]["status"] == "escalated"
    finally:
        drill.clear_workload_fault("search", namespace=namespace, wait=False)
    wait_healthy(namespace, "search")
    assert not (tmp_path / "job-1/.local/share/ai-orchestrator").exists(), "the job wrote beside the shared store"
    job2 = ok(run(shop["inventory"], tmp_path / "job-2", "-e", "namespace=" + namespace, "-e", "service=search",
                  "-e", "incident_id=" + record["id"], AI_ORCHESTRATOR_INCIDENT_DIR=str(store)))
    [resolved] = records(store)
    assert resolved["id"] == record["id"] and resolved["status"] == "resolved", job2[-3000:]
    assert resolved["services"]["search"]["status"] == "restored"
    assert resolved["severity"] == record["severity"], "a healthy finding must not lower the severity silently"
    hosts = set(e.get("host") for e in timeline(store, record["id"]))
    assert "shop-prod" in hosts


def test_a_scoped_run_is_judged_on_the_namespace(shop):
    namespace = shop["namespace"]
    pod = crash_one_pod(namespace, "catalog")  # catalog has one replica: the service is down
    try:
        scoped = module("workload_health_info", kubeconfig=drill.kubeconfig(), namespace=namespace, service="catalog",
                        min_startup_seconds=0, max_log_containers=0)
        whole = module("workload_health_info", kubeconfig=drill.kubeconfig(), namespace=namespace,
                       min_startup_seconds=0, max_log_containers=0)
        assert not scoped["failed"], scoped.get("msg")
        assert scoped["severity"]["severity"] == whole["severity"]["severity"] == "P2", (scoped["severity"], whole["severity"])
        assert "all services down" not in scoped["severity"]["reason"]
    finally:
        drill.clear_pod_fault(pod, namespace)
        wait_healthy(namespace, "catalog")


def test_bad_alert_input_fails_before_anything_is_read(shop, tmp_path):
    namespace = shop["namespace"]
    bad = {"alert": {"labels": {"alertname": "ServiceDown", "namespace": namespace, "service": "../../etc"}}}
    result = run(shop["inventory"], tmp_path / "home", "-e", json.dumps(bad), "-e", "incident_dir=" + str(tmp_path / "store"))
    assert result.returncode != 0
    assert "not a Kubernetes workload name" in result.stdout
    assert not (tmp_path / "store").exists()
