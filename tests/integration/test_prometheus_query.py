# SPDX-License-Identifier: GPL-3.0-or-later
"""prometheus_query_info through `ansible localhost -m` against a real Prometheus.

The fixture starts Debian's Prometheus (2.42) in a temporary directory on a free loopback
port, scraping itself every second with namespace/service target labels and a recording
rule, and waits until the rule has a sample (about 6 s: Prometheus applies scrape targets
on a 5 s tick). No drill environment is needed: no drill fixture is used here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from playbook import module
from ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
LABELS = {"namespace": "monitoring-test", "service": "prometheus"}

CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:{port}"]
        labels: {{namespace: {namespace}, service: {service}}}
"""
RULES = """\
groups:
  - name: query-test
    rules:
      - record: service:up:sum
        expr: sum by (namespace, service) (up)
"""


class Prometheus:
    """One Prometheus process in ``folder``; stop() leaves nothing running."""

    def __init__(self, folder: Path):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail("prometheus is not installed: install the Debian package prometheus (make system-packages)")
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        (folder / "prometheus.yml").write_text(CONFIG.format(port=self.port, **LABELS))
        (folder / "rules.yml").write_text(RULES)
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=prometheus.yml", "--storage.tsdb.path=data",
                 "--web.listen-address=127.0.0.1:%d" % self.port],
                cwd=folder, stdout=log, stderr=subprocess.STDOUT)

    def api(self, query: str) -> list:
        url = "%s/api/v1/query?%s" % (self.url, urlencode({"query": query}))
        with urllib.request.urlopen(url, timeout=2) as reply:
            return json.load(reply)["data"]["result"]

    def wait(self, ready, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("prometheus exited (%s):\n%s" % (self.proc.returncode, self.log.read_text()[-3000:]))
            try:
                if ready():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        pytest.fail("prometheus at %s not ready in %ss:\n%s" % (self.url, timeout, self.log.read_text()[-3000:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module", autouse=True)
def this_checkout(tmp_path_factory):
    """`ansible` loads the collection from this checkout, whatever ANSIBLE_COLLECTIONS_PATH holds."""
    tree = tmp_path_factory.mktemp("collections")
    link = tree / "ansible_collections" / "ai_orchestrator" / "incident_response"
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANSIBLE_COLLECTIONS_PATH", os.pathsep.join(filter(None, [str(tree), os.environ.get("ANSIBLE_COLLECTIONS_PATH")])))
        yield


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("prometheus"))
    try:
        server.wait(lambda: server.api("service:up:sum"))
        yield server
    finally:
        server.stop()


def query(url: str, **args) -> dict:
    return module("prometheus_query_info", url=url, **args)


def test_instant_query_returns_labelled_series(prometheus):
    result = query(prometheus.url, query="service:up:sum")
    assert not result["failed"], result
    assert result["result_type"] == "vector" and result["empty"] is False
    assert result["series"] == [{"labels": {"__name__": "service:up:sum", **LABELS}, "value": 1.0,
                                 "time": result["time"]}]


def test_range_query_with_relative_start(prometheus):
    result = query(prometheus.url, query='up{job="self"}', start="-20s", step="1s")
    assert not result["failed"], result
    assert result["result_type"] == "matrix" and result["step"] == 1
    (series,) = result["series"]
    assert series["labels"] == {"__name__": "up", "instance": "127.0.0.1:%d" % prometheus.port, "job": "self", **LABELS}
    times = [p["time"] for p in series["values"]]
    assert len(times) >= 2 and times == sorted(times)
    assert {p["value"] for p in series["values"]} == {1.0} and series["last"] == series["min"] == series["max"] == 1.0


def test_query_without_data_is_empty(prometheus):
    result = query(prometheus.url, query='up{job="no-such-job"}')
    assert not result["failed"], result
    assert result["empty"] is True and result["series"] == []


def test_bad_promql_gives_prometheus_error(prometheus):
    result = query(prometheus.url, query="sum(rate(up[5m])")
    assert result["failed"]
    assert (result["error_kind"], result["http_status"], result["error_type"]) == ("bad_query", 400, "bad_data")
    assert result["msg"].startswith("Prometheus at %s rejected the query (bad_data): invalid parameter \"query\": "
                                    % prometheus.url) and "parse error" in result["msg"]


def test_stopped_server_is_unreachable(tmp_path):
    server = Prometheus(tmp_path / "stopped")
    try:
        server.wait(lambda: urllib.request.urlopen(server.url + "/-/ready", timeout=2).status == 200)
    finally:
        server.stop()
    result = query(server.url.replace("http://", "http://alice:pa55word@"), query="up")
    assert result["failed"] and result["error_kind"] == "unreachable"
    assert result["msg"] == "Prometheus at %s is unreachable: connection refused (is it running, on this host and port?)" % server.url
    assert "pa55word" not in json.dumps(result)
