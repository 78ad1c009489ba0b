# SPDX-License-Identifier: GPL-3.0-or-later
"""The Event-Driven Ansible rulebook as Alertmanager meets it: a real ansible-rulebook
process with the collection's rulebook and route table, and helpers to post Alertmanager
webhook payloads and read the incidents the runs wrote."""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

import drill
import rbac
from playbook import ROOT, VENV_BIN, ansible_env
from ports import free_port

RULEBOOK = ROOT / "extensions/eda/rulebooks/alertmanager.yml"
ROUTES = ROOT / "extensions/eda/vars/alert_routes.yml"
UNSCRIPTED = "CatalogStockMismatch"  # an alert of the operator's own, routed to alert_escalate


def inventory(path: Path, incidents: Path) -> str:
    """The drill cluster as host `drill` (the cluster label of the drill's series)."""
    port = drill.env().get("DRILL_PROMETHEUS_PORT", "59090")
    path.write_text(
        "clusters:\n  hosts:\n    drill:\n"
        "      cluster_kubeconfig: %s\n      incident_dir: %s\n"
        "      prometheus_url: http://127.0.0.1:%s\n      prometheus_cluster: drill\n"
        "      prometheus_scrape_interval: 1\n      prometheus_rate_window: 20s\n"
        "      platform_health_urls: {}\n"
        # The drill's pods are seconds old; production's alert `for:` gives them longer.
        "      diagnose_service_min_startup_seconds: 0\n"
        % (drill.kubeconfig(), incidents, port))
    return str(path)


class Rulebook:
    """ansible-rulebook on a free loopback port, as docs/eda.md starts it."""

    def __init__(self, folder: Path, namespaces: list[str], port: int | None = None, token: str | None = None,
                 concurrency: int = 4):
        self.folder, self.port = folder, port or free_port()
        # The shipped route table, acting on the test's namespaces only (other tests' alerts
        # may reach the same Alertmanager receiver).
        routes = yaml.safe_load(ROUTES.read_text())
        # Every alert of the rules has its scenario now; an alert routed to alert_escalate (what
        # an operator does for an alert of their own without a playbook) keeps that path tested.
        routes["alert_routes"][UNSCRIPTED] = "ai_orchestrator.incident_response.alert_escalate"
        routes["routed_alerts"].append(UNSCRIPTED)
        self.vars = folder / "alert_routes.yml"
        self.vars.write_text(yaml.safe_dump(dict(routes, alert_namespaces=namespaces)))
        self.token = token or secrets.token_urlsafe(24)
        self.incidents = folder / "incidents"
        self.log = folder / "rulebook.log"
        self.inventory = inventory(folder / "inventory.yml", self.incidents)
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "Rulebook":
        env = ansible_env(ALERT_WEBHOOK_TOKEN=self.token, ALERT_WEBHOOK_PORT=str(self.port))
        cmd = [str(VENV_BIN / "ansible-rulebook"), "-r", str(RULEBOOK), "-i", self.inventory, "--vars", str(self.vars),
               "--env-vars", "ALERT_WEBHOOK_TOKEN,ALERT_WEBHOOK_PORT", "--max-concurrent-actions", str(self.concurrency)]
        self.proc = subprocess.Popen(cmd, cwd=self.folder, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("ansible-rulebook did not listen on %d:\n%s" % (self.port, self.output()[-3000:]))
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def post(self, payload: dict, token: str | None = "") -> int:
        """POST a webhook body the way Alertmanager does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        token = self.token if token == "" else token
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        request = urllib.request.Request("http://127.0.0.1:%d/alerts" % self.port, json.dumps(payload).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def runs(self, play: str) -> int:
        """How many playbook runs of the play (by its name) the rulebook started."""
        return self.output().count("PLAY [%s" % play)

    def incidents_of(self, namespace: str) -> list[dict]:
        found = []
        for path in sorted(self.incidents.glob("incident-*/incident.json")):
            record = json.loads(path.read_text())
            if record.get("namespace") == namespace:
                found.append(dict(record, _dir=str(path.parent)))
        return found

    def timeline(self, record: dict) -> list[dict]:
        lines = (Path(record["_dir"]) / "timeline.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert(name: str, namespace: str, service: str = "", status: str = "firing", severity: str = "P2",
          cluster: str = "drill", starts_at: str | None = None, **labels: str) -> dict:
    """One alert of an Alertmanager webhook body (fingerprint: a hash of the labels, like Alertmanager's)."""
    all_labels = {"alertname": name, "namespace": namespace, "severity": severity, **labels}
    if service:
        all_labels["service"] = service
    if cluster:
        all_labels["cluster"] = cluster
    fingerprint = hashlib.sha256(json.dumps(all_labels, sort_keys=True).encode()).hexdigest()[:16]
    return {"status": status, "labels": all_labels,
            "annotations": {"summary": "%s on %s/%s" % (name, namespace, service or "*"),
                            "runbook_section": "1. Service Down Alert"},
            "startsAt": starts_at or now(), "endsAt": now() if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph?g0.expr=up", "fingerprint": fingerprint}


def group(*alerts: dict) -> dict:
    """An Alertmanager webhook body (version 4) for a group grouped by cluster and namespace."""
    first = alerts[0]["labels"]
    keys = {k: first[k] for k in ("cluster", "namespace") if k in first}
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {"version": "4", "groupKey": "{}:%s" % json.dumps(keys, sort_keys=True), "truncatedAlerts": 0,
            "status": status, "receiver": "eda", "groupLabels": keys, "commonLabels": keys, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example", "alerts": list(alerts)}


def _deployment(namespace: str, name: str, replicas: int) -> dict:
    labels = {"app.kubernetes.io/name": name}
    container = {"name": name, "image": "ghcr.io/shop/%s:3.0.2" % name,
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}}


def team_namespace(prefix: str, services: dict[str, int]) -> str:
    """A namespace the fixture does not have (<prefix>-<hex>), its Deployments (name: replicas) Ready."""
    name = "%s-%s" % (prefix, secrets.token_hex(3))
    rbac.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}]
               + [_deployment(name, svc, replicas) for svc, replicas in services.items()])
    for svc, replicas in services.items():
        drill.wait_for(lambda: drill.workload_ready(svc, replicas, namespace=name), 120,
                       message="deployment/%s in %s to be ready" % (svc, name))
    return name


def remove_namespace(name: str) -> None:
    drill.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", namespace=None, check=False)
