# SPDX-License-Identifier: GPL-3.0-or-later
"""Service Down playbook against the drill cluster: bad input, check mode, the molecule drills."""

from __future__ import annotations

from pathlib import Path

import pytest

import drill
from playbook import ROOT, env_down, kubeconfig_with_token, molecule, playbook, recap, reset, service_account_token

pytestmark = [pytest.mark.drill, pytest.mark.usefixtures("drill_env")]

# Drills whose behaviour the fast tier also proves elsewhere run in the long tier only (make test-long):
# check mode (test_check_mode_prints_the_plan_and_changes_nothing, every campaign run's --check), a
# healthy namespace changing nothing (the second runs of test_shared_incidents and test_remediation),
# a transient OOM kill (handled exactly as a transient crash), a transient crash (one replica crash-looping,
# evicted and verified Ready: the alert loop of test_alert_loop, the rulebook storm of test_eda_rulebook and
# the Prometheus-down run prove it, and test_shared_incidents' second runs the idempotence), resource
# exhaustion scaled up and verified on fresh metrics (the short campaign's usage-at-the-limit workloads, asserted),
# a persistent crash with nothing to roll back to, escalated (test_escalation_check's Service Down run, through to
# the escalation timeline and the resolution).
LONG_SCENARIOS = ("service_down_check", "service_down_exhaustion", "service_down_healthy", "service_down_oom",
                  "service_down_persistent_crash", "service_down_transient_crash")
SCENARIOS = [pytest.param(name, marks=pytest.mark.long) if name in LONG_SCENARIOS else name
             for name in sorted(p.name for p in (ROOT / "extensions/molecule").glob("service_down_*") if (p / "molecule.yml").exists())]


@pytest.fixture
def fresh_platform():
    reset()
    yield
    reset()


@pytest.mark.parametrize(
    "args,message",
    [
        (["-e", "namespace=no-such-namespace"], "namespace 'no-such-namespace' does not exist"),
        (["-e", "service=no-such-service"], "service 'no-such-service' not found in namespace 'ai-orchestrator'"),
        (["-e", "severity=P7"], "P0"),
        (["-e", "namespace=Bad_Name"], "'Bad_Name' is not a Kubernetes namespace name"),
        (["-e", "incident_id=incident-2026-13-01-000000"], "not a real date"),
        (["-e", "diagnose_service_usage_threshold=90"], "usage_threshold must be a share of the limit"),
    ],
    ids=["unknown-namespace", "unknown-service", "bad-severity", "malformed-namespace", "impossible-incident-id", "threshold-as-percent"],
)
def test_bad_input_fails_before_any_change(args, message, tmp_path):
    result = playbook("service_down.yml", *args, "-e", "incident_dir=%s" % tmp_path)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    counts = recap(result)
    assert counts["changed"] == 0 and counts["failed"] == 1
    assert not list(tmp_path.iterdir()), "nothing may be written on bad input"


def test_unreachable_cluster_fails_clearly(tmp_path):
    kubeconfig = Path(drill.kubeconfig()).read_text().replace(":%s" % drill.env()["DRILL_APISERVER_PORT"], ":1")
    (tmp_path / "kubeconfig").write_text(kubeconfig)
    result = playbook("service_down.yml", "-e", "cluster_kubeconfig=%s" % (tmp_path / "kubeconfig"), "-e", "incident_dir=%s" % tmp_path)
    assert result.returncode != 0
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:1" in result.stdout
    assert recap(result)["changed"] == 0


def test_credentials_without_rights_fail_clearly(tmp_path):
    token = service_account_token("no-rights")
    result = playbook(
        "service_down.yml", "-e", "cluster_kubeconfig=%s" % kubeconfig_with_token(tmp_path, token), "-e", "incident_dir=%s" % tmp_path
    )
    assert result.returncode != 0
    assert "permission denied (403 Forbidden)" in result.stdout
    assert recap(result)["changed"] == 0


def test_wrong_credentials_fail_clearly(tmp_path):
    result = playbook(
        "service_down.yml", "-e", "cluster_kubeconfig=%s" % kubeconfig_with_token(tmp_path, "not-a-token"), "-e", "incident_dir=%s" % tmp_path
    )
    assert result.returncode != 0
    assert "rejected the credentials (401 Unauthorized)" in result.stdout


def test_check_mode_prints_the_plan_and_changes_nothing(fresh_platform, tmp_path):
    pod = drill.ready_pods("api-gateway")[0].metadata
    drill.inject_pod_fault(pod.name, "crashloop")
    drill.wait_for(lambda: drill.container_status(drill.read_pod(pod.name)).state.waiting, timeout=60)
    result = playbook("service_down.yml", "--check", "-e", "incident_dir=%s" % tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "delete_pod: Deployment/api-gateway: crashloop on %s" % pod.name in result.stdout
    assert "evicted pod %s (dry run)" % pod.name in result.stdout
    assert drill.read_pod(pod.name).metadata.uid == pod.uid
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_drill(scenario):
    result = molecule(scenario)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def test_molecule_default_creates_and_destroys_the_drill_cluster():
    """Last on purpose: the default scenario's destroy stops the shared environment."""
    result = molecule("default")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert env_down(), "molecule destroy left drill processes running"
