# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill's causes of High Error Rate and High Response Time on api-gateway, each shown in
the evidence the collection reads (Prometheus, `kubectl logs`, pg_stat_statements) and healed
by the runbook's fix.

  a bad release (drill/fault.sh release)      5xx ratio / p95 up, logs name the build;
                                              workload_remediation rollback heals
  CPU saturation (drill/fault.sh load)        p95 up; workload_remediation scale heals
  a cold cache (drill/fault.sh cache cold)    p95 up; the gateway's warm-up heals
  a slow query (drill/fault.sh db slow-query) p95 up, pg_stat_statements shows it (reported only)
  a rejected engine key (PUT /keys/n8n)       5xx ratio up (502); the key restored heals
  PostgreSQL down (marked alone)              5xx ratio up (503), logs say why; starting it heals

In the longer tier (the playbook drills of test_high_error_rate.py and test_high_response_time.py
use the same causes in make test); in the platform group: it releases and scales api-gateway.
Prometheus scrapes every second and the queries rate over the drill's 20 s window
(inventory/drill.yml prometheus_rate_window), so a fault shows within a few seconds and a
healed one leaves the window within about 20 s.
"""

from __future__ import annotations

import time

import pytest

import dataplane as dp
import drill
from playbook import module
from prom import value

# The platform group (the default): it releases and scales the fixture's api-gateway.
pytestmark = [pytest.mark.drill, pytest.mark.long, pytest.mark.usefixtures("drill_env")]

GATEWAY = 'job="ai-orchestrator", service="api-gateway"'
ERROR_RATIO = (f'sum(rate(http_requests_total{{{GATEWAY}, code=~"5.."}}[20s]))'
               f' / sum(rate(http_requests_total{{{GATEWAY}}}[20s]))')
P95 = f'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{GATEWAY}}}[20s])))'
SHOW, HEAL = 45, 90  # seconds: a fault shows within a few; the 20 s window must forget it


def p95() -> float:
    v = value(P95)
    return 0.0 if v != v else v  # NaN without traffic


def shows(promql_value, above: float, timeout: float = SHOW, what: str = "") -> float:
    start = time.monotonic()
    drill.wait_for(lambda: promql_value() > above, timeout, interval=0.5, message=f"{what} above {above}")
    return time.monotonic() - start


def heals(promql_value, below: float, timeout: float = HEAL, what: str = "") -> float:
    start = time.monotonic()
    drill.wait_for(lambda: promql_value() < below, timeout, interval=0.5, message=f"{what} below {below}")
    return time.monotonic() - start


def remediate(**args) -> dict:
    return module("workload_remediation", kubeconfig=drill.kubeconfig(), namespace=drill.NAMESPACE,
                  reason="drill cause test", **args)


def gateway_logs(pattern: str) -> list[str]:
    lines = []
    for pod in drill.ready_pods("api-gateway"):
        lines += [line for line in drill.kubectl("logs", pod.metadata.name, "--tail=200").stdout.splitlines()
                  if pattern in line]
    return lines


@pytest.fixture
def quiet_gateway():
    """The gateway stand-in in mode ok with nothing spoiling it, before and after."""
    dp.set_mode("gateway", "ok")
    drill.wait_for(lambda: heals_now(), HEAL, interval=1, message="api-gateway quiet (5xx < 5 %, p95 < 1 s)")
    yield
    dp.set_mode("gateway", "ok")


def heals_now() -> bool:
    return value(ERROR_RATIO) < 0.05 and p95() < 1.0


def _release_undone():
    template = drill.kubectl_json("get", "deployment", "api-gateway")["spec"]["template"]["metadata"]
    if drill.HTTP_FAULT_LABEL in (template.get("labels") or {}):
        drill.kubectl("rollout", "undo", "deployment/api-gateway")
        drill.kubectl("rollout", "status", "deployment/api-gateway", "--timeout=120s", timeout=150)


@pytest.mark.parametrize("how", ["errors", "slow"])
def test_a_bad_release_is_healed_by_a_rollback(quiet_gateway, how):
    try:
        line = drill.release("api-gateway", how)
        assert "-drill." in line, line
        # Kubernetes sees a healthy rollout.
        assert drill.workload_ready("api-gateway", 2)
        drill.wait_for(lambda: dp.pod_behaviour()["gateway"][how] > 0, 20, message="the pod link")
        if how == "errors":
            took = shows(lambda: value(ERROR_RATIO), 0.05, what="api-gateway 5xx ratio")
            logged = gateway_logs("NullPointer in WorkflowSerializer.serialize (build 2.4.1-drill.")
            assert logged and "status=500" in logged[-1], logged[-3:]
        else:
            took = shows(p95, 2.0, what="api-gateway p95")
        print(f"release {how} -> Prometheus: {took:.1f}s")
        result = remediate(action="rollback", service="api-gateway", force=True, wait=True, wait_timeout=120)
        assert not result["failed"] and result["changed"], result
        drill.wait_for(lambda: dp.pod_behaviour()["gateway"][how] == 0, 20, message="the pod link to clear")
        took = heals(lambda: value(ERROR_RATIO) if how == "errors" else p95(), 0.05 if how == "errors" else 1.0,
                     what="api-gateway after the rollback")
        print(f"rollback -> healed in Prometheus: {took:.1f}s")
    finally:
        _release_undone()


def test_cpu_saturation_is_healed_by_scaling(quiet_gateway):
    try:
        drill.fault_sh("load", "api-gateway", "3")
        drill.wait_for(lambda: dp.pod_behaviour()["gateway"]["hot"] == 1.0, 20, message="usage=high on every pod")
        print(f"load -> p95 over 2 s: {shows(p95, 2.0, what='api-gateway p95'):.1f}s")
        result = remediate(action="scale", service="api-gateway", replicas=3, wait=True, wait_timeout=120)
        assert not result["failed"] and result["changed"], result
        drill.wait_for(lambda: dp.pod_behaviour()["gateway"]["hot"] == 0, 20, message="usage back to normal")
        print(f"scaled -> healed: {heals(p95, 1.0, what='api-gateway p95'):.1f}s")
    finally:
        drill.fault_sh("clear", "api-gateway")
        drill.kubectl("scale", "deployment/api-gateway", "--replicas=2")
        drill.wait_workload_ready("api-gateway", 2)


def test_a_cold_cache_is_healed_by_the_warm_up(quiet_gateway):
    try:
        drill.fault_sh("cache", "cold")
        print(f"cold -> p95 over 2 s: {shows(p95, 2.0, what='api-gateway p95'):.1f}s")
        assert gateway_logs("cache miss")
        resp = dp.http("GET", dp.url("gateway", "/api/v1/workflows"))
        assert resp.body.get("cache") == "miss: loaded from the database" and resp.elapsed >= 2
    finally:
        drill.fault_sh("cache", "warm")
    print(f"warm -> healed: {heals(p95, 1.0, what='api-gateway p95'):.1f}s")
    assert "cache" not in dp.http("GET", dp.url("gateway", "/api/v1/workflows")).body


def test_a_slow_query_shows_in_latency_and_pg_stat_statements(quiet_gateway):
    try:
        dp.db_slow(True)
        print(f"slow query -> p95 over 2 s: {shows(p95, 2.0, what='api-gateway p95'):.1f}s")
        rows = dp.pg_query("SELECT s.mean_exec_time, s.calls, s.query FROM pg_stat_statements s"
                           " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'orchestrator'"
                           " AND s.query LIKE '%pg_sleep%' AND s.query LIKE '%FROM executions e%'"
                           " ORDER BY s.mean_exec_time DESC", dbname="postgres")
        assert rows and rows[0][0] >= 1000, rows
    finally:
        dp.db_slow(False)
    print(f"fast -> healed: {heals(p95, 1.0, what='api-gateway p95'):.1f}s")


def test_a_rejected_engine_key_fails_the_gateways_runs(quiet_gateway):
    try:
        dp.set_api_key("n8n", "rotated-by-the-drill-causes")
        resp = dp.http("POST", dp.url("gateway", "/api/v1/workflows/12/executions"), {})
        assert resp.status == 502, resp.body
        assert resp.body == {"error": "engine n8n rejected the gateway's credentials (401)"}
        print(f"key rotated -> 5xx ratio over 5 %: {shows(lambda: value(ERROR_RATIO), 0.05, what='5xx ratio'):.1f}s")
        assert gateway_logs("rejected the gateway's credentials (401)")
    finally:
        dp.set_api_key("n8n", None)
    print(f"key restored -> healed: {heals(lambda: value(ERROR_RATIO), 0.05, what='5xx ratio'):.1f}s")


@pytest.mark.alone
def test_a_database_outage_answers_503_until_postgres_is_back(quiet_gateway):
    try:
        dp.stop_postgres()
        time.sleep(1.5)  # the gateway's probe is cached for a second
        resp = dp.http("GET", dp.url("gateway", "/api/v1/workflows"))
        assert resp.status == 503 and resp.body["error"] == "database unavailable: connection refused", resp.body
        run = dp.http("POST", dp.url("gateway", "/api/v1/workflows/3/executions"), {})
        assert run.status == 503, run.body
        print(f"postgres down -> 5xx ratio over 5 %: {shows(lambda: value(ERROR_RATIO), 0.05, what='5xx'):.1f}s")
        assert gateway_logs('status=503 request_id=')
        assert [line for line in gateway_logs("database unavailable: connection refused") if "status=503" in line]
    finally:
        dp.start_postgres()
    print(f"postgres back -> healed: {heals(lambda: value(ERROR_RATIO), 0.05, what='5xx'):.1f}s")
