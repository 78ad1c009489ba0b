# SPDX-License-Identifier: GPL-3.0-or-later
"""Drills of playbooks/high_error_rate.yml (runbook 2) on the drill's api-gateway.

Each drill breaks one thing the way production breaks it (drill/fault.sh and the data plane's
control API; see tests/integration/test_drill_causes.py for how each cause shows in the
evidence), waits until Prometheus sees the 5xx ratio over the alert's 5 %, runs the playbook as
the operator does and checks what the operator cares about: what was done or escalated to whom,
the record, the error rate afterwards, and that a second run changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dataplane as dp
import drill
from playbook import incidents, playbook, recap, reset
from prom import value

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]

GATEWAY = 'job="ai-orchestrator", namespace="ai-orchestrator", service="api-gateway"'
ERROR_RATIO = (f'sum(rate(http_requests_total{{{GATEWAY}, code=~"5.."}}[20s]))'
               f' / sum(rate(http_requests_total{{{GATEWAY}}}[20s]))')


def ratio() -> float:
    v = value(ERROR_RATIO)
    return 0.0 if v != v else v


def run(tmp_path: Path, *args: str, check: bool = False):
    return playbook("high_error_rate.yml", "-e", "incident_dir=%s" % (tmp_path / "records"), "-e", "service=api-gateway",
                    *(["--check"] if check else []), *args, timeout=600)


def revision(name: str = "api-gateway") -> str:
    return drill.apps().read_namespaced_deployment(name, drill.NAMESPACE).metadata.annotations["deployment.kubernetes.io/revision"]


@pytest.fixture
def gateway():
    """The platform as shipped before and after, the gateway's errors gone."""
    reset()
    yield
    for service in ("n8n", "langflow", "langsmith"):
        dp.set_api_key(service, None)
    reset()
    drill.wait_for(lambda: ratio() < 0.05, 90, interval=1, message="the gateway's 5xx ratio back under 5 %")


def test_a_bad_rollout_raising_5xx_is_rolled_back_and_verified(tmp_path, gateway):
    before = revision()
    drill.release("api-gateway", "errors", 0.4)
    bad = revision()
    assert bad != before
    drill.wait_for(lambda: ratio() > 0.1, 60, interval=1, message="the 5xx ratio over 10 %")

    planned = run(tmp_path, check=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    # The plan is shown and nothing was done: same revision, no record written.
    assert revision() == bad and incidents(tmp_path / "records") == []
    assert "api-gateway | remediate |" in planned.stdout and "roll back to the previous revision" in planned.stdout
    assert "Check mode: nothing was changed" in planned.stdout

    result = run(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    template = drill.apps().read_namespaced_deployment("api-gateway", drill.NAMESPACE).spec.template
    assert drill.HTTP_FAULT_LABEL not in (template.metadata.labels or {}), "still the bad release"
    assert ratio() < 0.05
    [record] = incidents(tmp_path / "records")
    assert record["status"] == "resolved", record["status"]
    assert record["services"]["errors:api-gateway"]["status"] == "restored"
    causes = [e for e in record["_events"] if e["type"] == "root_cause_identified"]
    assert "rolled out" in causes[0]["message"] and "revision %s" % bad in causes[0]["message"]
    verdict = causes[0]["data"]["assessment"]["services"][0]
    assert verdict["cause"] == "rollout" and verdict["routes"], verdict
    # The pods' error lines are grouped with the build that logged them.
    assert any("request failed" in p["pattern"] for p in verdict["patterns"]), verdict["patterns"]
    assert any(e["type"] == "verification" and "back under the threshold" in e["message"] for e in record["_events"])

    again = run(tmp_path)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]


@pytest.mark.long
@pytest.mark.alone
def test_a_database_outage_behind_5xx_is_escalated_to_the_database_owners_and_nothing_is_rolled_back(tmp_path, gateway):
    before = revision()
    dp.stop_postgres()
    try:
        drill.wait_for(lambda: ratio() > 0.05, 60, interval=1, message="the 5xx ratio over 5 %")
        result = run(tmp_path)
    finally:
        dp.start_postgres()
    assert result.returncode == 0, result.stdout[-4000:]
    assert revision() == before
    [record] = incidents(tmp_path / "records")
    assert record["status"] == "escalated" and record["severity"] == "P1", (record["status"], record["severity"])
    assert record["services"]["errors:api-gateway"]["status"] == "escalated"
    assert any("database" in e["to"] for e in record["escalations"]), record["escalations"]
    verdict = [e for e in record["_events"] if e["type"] == "root_cause_identified"][0]["data"]["assessment"]["services"][0]
    assert verdict["cause"] == "database"


@pytest.mark.long
def test_a_dependency_with_bad_credentials_is_reported_and_nothing_is_changed(tmp_path, gateway):
    before = revision()
    dp.set_api_key("n8n", "rotated-elsewhere-" + "x" * 12)
    drill.wait_for(lambda: ratio() > 0.05, 60, interval=1, message="the 5xx ratio over 5 %")
    result = run(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    # Reported, not acted on: the gateway runs the revision it ran (a rollback would not fix a key).
    assert revision() == before and "Carry out each planned action" not in result.stdout
    [record] = incidents(tmp_path / "records")
    assert record["status"] == "escalated"
    verdict = [e for e in record["_events"] if e["type"] == "root_cause_identified"][0]["data"]["assessment"]["services"][0]
    assert verdict["cause"] == "dependency" and "n8n rejects the configured credentials" in verdict["reason"]
    assert "rotated-elsewhere" not in json.dumps(record, default=str) + result.stdout


def test_an_unknown_service_or_a_bad_hotfix_fails_before_anything_is_read(tmp_path):
    unknown = playbook("high_error_rate.yml", "-e", "incident_dir=%s" % tmp_path, "-e", "service=no-such-service")
    assert unknown.returncode != 0 and "Unknown service no-such-service" in unknown.stdout
    both = run(tmp_path, "-e", '{"hotfix": {"image": "x:1", "revision": 3}}')
    assert both.returncode != 0 and "hotfix must be" in both.stdout
    assert not (tmp_path / "records").exists() or incidents(tmp_path / "records") == []


@pytest.mark.long
def test_an_operators_hotfix_revision_is_rolled_out_guarded_and_verified(tmp_path, gateway):
    good = revision()
    drill.release("api-gateway", "errors", 0.4)
    drill.wait_for(lambda: ratio() > 0.1, 60, interval=1, message="the 5xx ratio over 10 %")
    result = run(tmp_path, "-e", '{"hotfix": {"revision": %s}}' % good)
    assert result.returncode == 0, result.stdout[-4000:]
    template = drill.apps().read_namespaced_deployment("api-gateway", drill.NAMESPACE).spec.template
    assert drill.HTTP_FAULT_LABEL not in (template.metadata.labels or {})
    [record] = incidents(tmp_path / "records")
    assert record["status"] == "resolved", record["status"]
    verdict = [e for e in record["_events"] if e["type"] == "root_cause_identified"][0]["data"]["assessment"]["services"][0]
    assert verdict["cause"] == "hotfix" and verdict["plan"]["revision"] == int(good), verdict
    again = run(tmp_path, "-e", '{"hotfix": {"revision": %s}}' % good)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]
