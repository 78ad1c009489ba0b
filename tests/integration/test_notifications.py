# SPDX-License-Identifier: GPL-3.0-or-later
"""Notifications end to end: the incident role's notify points against loopback Slack,
PagerDuty and Statuspage servers that enforce the APIs, and a real SMTP server.

Most tests drive tests/integration/files/notify_flow.yml (open, escalate, resolve: the
role entry points every scenario uses) and need no cluster; the last one runs Service
Down on the drill cluster with every channel configured.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

import notify_servers as ns
from notify_servers import ROUTING_NAMES, SLACK_TOKEN, SMTP_PASSWORD, STATUSPAGE_API_KEY, notify_config, routing_key
from playbook import ROOT, VENV_BIN, ansible_env

# The servers' function-scoped fixtures (notify_servers.py).
slack_server = ns.slack_server
pagerduty_server = ns.pagerduty_server
statuspage_server = ns.statuspage_server
smtp_server = ns.smtp_server

FLOW = ROOT / "tests/integration/files/notify_flow.yml"
HTTP = {"timeout": 5, "retries": 2, "backoff": 0.05, "max_retry_after": 1}
CUSTOMERS = [{"name": "Acme", "email": "ops@acme.test", "services": ["api-gateway"]},
             {"name": "Globex", "email": "it@globex.test", "services": ["*"]},
             {"name": "Initech", "email": "sre@initech.test", "services": ["frontend"]}]


@pytest.fixture
def servers(slack_server, pagerduty_server, statuspage_server, smtp_server):
    return {"slack": slack_server, "pagerduty": pagerduty_server, "statuspage": statuspage_server, "smtp": smtp_server}


def settings(servers, **extra):
    config = notify_config(servers["slack"], servers["pagerduty"], servers["statuspage"], servers["smtp"])
    config["http"] = dict(HTTP)
    config["customers"] = {"list": CUSTOMERS}
    for section, values in extra.items():
        config[section] = dict(config.get(section) or {}, **values)
    return config


def flow_command(store: Path, notify: dict | None, *args: str, playbook: Path = FLOW) -> list[str]:
    extra = store / ("vars-%s.json" % secrets.token_hex(4))
    extra.write_text(json.dumps({"incident_dir": str(store), "incident_notify": notify or {}}))
    return [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook), "-e", "@%s" % extra, *args]


def flow(store: Path, notify: dict | None, *args: str, playbook: Path = FLOW) -> subprocess.CompletedProcess:
    result = subprocess.run(flow_command(store, notify, *args, playbook=playbook), cwd=ROOT, env=ansible_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result


def record(store: Path) -> dict:
    (path,) = store.glob("incident-*/incident.json")
    return json.loads(path.read_text())


def timeline(store: Path) -> list[dict]:
    (path,) = store.glob("incident-*/timeline.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def communications(store: Path) -> list[dict]:
    return [e for e in timeline(store) if e["type"] == "communication"]


def incident_channel(slack, incident_id: str) -> dict:
    channel = slack.channel(incident_id)
    assert channel, "the incident channel %s was not created" % incident_id
    return channel


def assert_no_secret(store: Path, *outputs: str) -> None:
    secrets_ = [SLACK_TOKEN, STATUSPAGE_API_KEY, SMTP_PASSWORD] + [routing_key(n) for n in ROUTING_NAMES]
    texts = list(outputs) + [p.read_text() for p in store.glob("incident-*/*") if p.is_file()]
    for secret in secrets_:
        assert not any(secret in text for text in texts), "a secret leaked into the record or the output"


def test_p0_tells_every_channel_once_and_resolves_each(servers, tmp_path):
    slack, pd, sp, smtp = servers["slack"], servers["pagerduty"], servers["statuspage"], servers["smtp"]
    notify = settings(servers, statuspage={"enabled": True}, customers={"list": CUSTOMERS, "email_enabled": True})
    first = flow(tmp_path, notify, "-e", "flow_severity=P0", "-e", "flow_eta=8")
    rec = record(tmp_path)
    incident_id = rec["id"]
    # Both pages at once, one dedup key per incident; nothing else was triggered.
    assert sorted(pd.pages()) == sorted([(routing_key("Primary on-call"), incident_id), (routing_key("Engineering manager"), incident_id)])
    channel = incident_channel(slack, incident_id)
    assert incident_id in channel["purpose"]["value"]
    (initial,) = slack.messages(incident_id)
    assert "Severity: P0 Critical" in initial and "Impact: checkout API answers 503" in initial and "ETA: about 8 min" in initial
    (announce,) = slack.messages("incident-response")
    assert "Join #%s" % incident_id in announce
    mails = dict((tuple(m.envelope_to), m) for m in smtp.messages)
    assert set(mails) == {("oncall@example.test",), ("ops@acme.test",), ("it@globex.test",)}, "on-call and the two affected customers"
    assert mails[("ops@acme.test",)]["Subject"] == "[AI Orchestrator] Service disruption under investigation"
    (sp_incident,) = sp.incidents()
    assert sp_incident["status"] == "investigating" and sp.component_status("cmp-api") == "major_outage"
    outbox = rec["outbox"]
    assert set(e["status"] for e in outbox.values()) == {"sent"}
    assert len(communications(tmp_path)) == len(outbox), "every message with its response in the timeline"
    assert all(e["data"]["response"] for e in communications(tmp_path))

    # A rerun (another alert of the outage joins the incident) sends nothing again.
    counts = (len(pd.events), len(slack.requests), len(smtp.messages), len(sp.requests))
    again = flow(tmp_path, notify, "-e", "flow_severity=P0")
    assert (len(pd.events), len(slack.requests), len(smtp.messages), len(sp.requests)) == counts

    resolved = flow(tmp_path, notify, "-e", "flow_severity=P0", "-e", "flow=resolve", "-e", json.dumps({"flow_prevention": "pin image digests"}))
    assert record(tmp_path)["status"] == "resolved"
    assert all(alert["status"] == "resolved" for alert in pd.alerts.values()) and len(pd.alerts) == 2
    resolution = slack.messages(incident_id)[-1]
    assert resolution.startswith("RESOLVED") and "Root cause: api-gateway rolled out an image tag" in resolution
    assert "Prevention: pin image digests" in resolution
    assert sp.incidents()[0]["status"] == "resolved" and sp.component_status("cmp-api") == "operational"
    assert sorted(tuple(m.envelope_to) for m in smtp.messages if m["Subject"].startswith("[AI Orchestrator] Service restored")) == [
        ("it@globex.test",), ("ops@acme.test",)]
    counts = (len(pd.events), len(slack.requests), len(smtp.messages), len(sp.requests))
    flow(tmp_path, notify, "-e", "flow_severity=P0", "-e", "flow=resolve")
    assert (len(pd.events), len(slack.requests), len(smtp.messages), len(sp.requests)) == counts, "resolution notices go out once"
    assert_no_secret(tmp_path, first.stdout, again.stdout, resolved.stdout)

    # The post-mortem, and the external summary drafted until a person approves it.
    post_incident = ROOT / "playbooks/post_incident.yml"
    flow(tmp_path, notify, "-e", "incident_id=" + incident_id, playbook=post_incident)
    folder = tmp_path / incident_id
    text = (folder / "postmortem.md").read_text()
    assert text.startswith("# Post-Mortem: ServiceDown: shop") and "**Severity**: P0" in text
    assert "Root cause identified" in text and "```mermaid" in text
    drafts = sorted(k for k, e in record(tmp_path)["outbox"].items() if k.endswith("postincident") or ":postincident:" in k)
    assert drafts == ["email:customer:postincident:it-globex-test", "email:customer:postincident:ops-acme-test",
                      "statuspage:postincident"]
    assert all(record(tmp_path)["outbox"][k]["status"] == "drafted" for k in drafts)
    mails = len(smtp.messages)
    flow(tmp_path, notify, "-e", "incident_id=" + incident_id, playbook=ROOT / "playbooks/notify_approve.yml")
    assert len(smtp.messages) == mails + 2 and "prevent" in smtp.messages[-1].get_content().lower()
    # A person edits the post-mortem; a rerun keeps it and writes a draft beside it.
    (folder / "postmortem.md").write_text(text + "\n## Lessons Learned (team review)\nCanary every image.\n")
    rerun = flow(tmp_path, notify, "-e", "incident_id=" + incident_id, playbook=post_incident)
    assert (folder / "postmortem.md").read_text().endswith("Canary every image.\n")
    assert len(list(folder.glob("postmortem-draft-*.md"))) == 1 and "edited by a person" in rerun.stdout


def test_p2_assigns_on_call_and_tells_only_what_the_table_says(servers, tmp_path):
    slack, pd, sp, smtp = servers["slack"], servers["pagerduty"], servers["statuspage"], servers["smtp"]
    notify = settings(servers, statuspage={"enabled": True}, customers={"list": CUSTOMERS, "email_enabled": True})
    flow(tmp_path, notify, "-e", "flow_severity=P2", "-e", "flow=escalate", "-e", '{"flow_owners": ["database"]}')
    incident_id = record(tmp_path)["id"]
    triggers = [e for e in pd.events if e["event_action"] == "trigger"]
    assert [(e["routing_key"], e["event"]["payload"]["severity"]) for e in triggers] == [
        (routing_key("Primary on-call"), "warning"), (routing_key("database"), "warning")], "an assignment, then the owners"
    assert not sp.requests, "no status page below P1"
    assert [tuple(m.envelope_to) for m in smtp.messages] == [("dba@example.test",)], "no on-call or customer mail at P2"
    posts = slack.messages(incident_id)
    assert len(posts) == 2 and "escalated to the database owners" in posts[1]
    assert record(tmp_path)["status"] == "escalated"

    # Raised to P1 on a later run: now the on-call is paged (a new alert, not the P2 assignment's).
    flow(tmp_path, notify, "-e", "flow_severity=P1")
    assert (routing_key("Primary on-call"), incident_id) in pd.pages()
    assert len(sp.incidents()) == 1, "P1 affecting two customers: the status page"


def test_a_notifier_answering_503_then_202_is_retried_and_pages_once(servers, tmp_path):
    pd = servers["pagerduty"]
    pd.script("enqueue", {"status": 503}, {"status": 429, "headers": {"Retry-After": "0.2"}})
    flow(tmp_path, {"pagerduty": settings(servers)["pagerduty"], "http": HTTP}, "-e", "flow_severity=P1")
    rec = record(tmp_path)
    assert pd.pages() == [(routing_key("Primary on-call"), rec["id"])]
    assert len(pd.calls("enqueue")) == 3
    entry = rec["outbox"]["pagerduty:trigger:page:primary-on-call"]
    assert entry["status"] == "sent" and entry["result"]["attempts"] == 3 and entry["result"]["waits"][1] == pytest.approx(0.2)


def test_a_refusing_notifier_is_recorded_and_never_fails_the_run(servers, tmp_path):
    slack = servers["slack"]
    notify = settings(servers)
    notify["slack"]["token"] = "xoxb-0000-wrong"
    notify["pagerduty"]["events_url"] = "http://127.0.0.1:1/v2/enqueue"  # nothing listens there
    result = flow(tmp_path, notify, "-e", "flow_severity=P1")
    outbox = record(tmp_path)["outbox"]
    assert outbox["slack:channel"]["status"] == "failed" and "token" in outbox["slack:channel"]["reason"]
    assert outbox["slack:channel"]["retryable"] is False
    page = outbox["pagerduty:trigger:page:primary-on-call"]
    assert page["status"] == "failed" and page["retryable"] is True and "refused" in page["reason"]
    assert outbox["email:oncall:opened:P1"]["status"] == "sent", "one channel failing does not stop the others"
    assert "xoxb-0000-wrong" not in result.stdout + json.dumps(outbox)
    assert not slack.channel(record(tmp_path)["id"])


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``, from /proc (children may have left its process group)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_a_run_killed_between_send_and_record_does_not_page_twice(servers, tmp_path):
    slack, pd = servers["slack"], servers["pagerduty"]
    notify = settings(servers)
    started = {}

    def kill_the_run(request):
        # The API did the work; the run dies before it hears the answer (and before it records it):
        # ansible-playbook and every process under it (the module runs in a session of its own).
        for pid in [started["run"].pid] + descendants(started["run"].pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return "drop"

    pd.on_receive("enqueue", kill_the_run)
    started["run"] = subprocess.Popen(flow_command(tmp_path, notify, "-e", "flow_severity=P1"), cwd=ROOT, env=ansible_env(),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert started["run"].wait(timeout=120) == -signal.SIGKILL
    entry = record(tmp_path)["outbox"]["pagerduty:trigger:page:primary-on-call"]
    assert entry["status"] == "intended" and entry["claim"], "the intent was written before the page went out"
    pd.clear()  # no more killing

    # The timeline survived the kill, and the post-mortem says where the automation stopped.
    incident_id = record(tmp_path)["id"]
    flow(tmp_path, None, "-e", "incident_id=" + incident_id, playbook=ROOT / "playbooks/post_incident.yml")
    text = (tmp_path / incident_id / "postmortem.md").read_text()
    assert "stopped" in text and "not resolved" in text.lower(), text[:1500]
    assert "Service restored" in text and "not reached" in text

    flow(tmp_path, notify, "-e", "flow_severity=P1")
    rec = record(tmp_path)
    assert len(pd.pages()) == 1, "PagerDuty merged the resend: nobody was paged twice"
    resent = [e for e in pd.events if e["event_action"] == "trigger"]
    assert len(resent) == 2 and len(set(e["dedup_key"] for e in resent)) == 1, "resent with the same dedup key"
    entry = rec["outbox"]["pagerduty:trigger:page:primary-on-call"]
    assert entry["status"] == "sent" and "resent after a run died" in (entry["reason"] or ""), entry
    assert len(slack.messages(rec["id"])) == 1

    # The same for a Slack post: found by its marker, not posted again.
    slack.on_receive("chat.postMessage", kill_the_run)
    started["run"] = subprocess.Popen(flow_command(tmp_path, notify, "-e", "flow_severity=P1", "-e", "flow=escalate"),
                                      cwd=ROOT, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
    assert started["run"].wait(timeout=120) == -signal.SIGKILL
    slack.clear()
    flow(tmp_path, notify, "-e", "flow_severity=P1", "-e", "flow=escalate")
    posts = [m for m in slack.messages(rec["id"]) if "escalated to the development owners" in m]
    assert len(posts) == 1, "the post the killed run made is found by its marker, not posted again"
    entry = record(tmp_path)["outbox"]["slack:escalated:development"]
    assert entry["status"] == "sent" and entry["reason"].startswith("reconciled")


def test_unset_endpoints_send_nothing_and_record_everything(servers, tmp_path):
    result = flow(tmp_path, None, "-e", "flow_severity=P0", "-e", "flow_eta=5")
    assert not any(s.requests for s in (servers["slack"], servers["pagerduty"], servers["statuspage"]))
    assert not servers["smtp"].messages
    outbox = record(tmp_path)["outbox"]
    assert outbox and set(e["status"] for e in outbox.values()) <= {"not_sent", "drafted"}
    initial = outbox["slack:initial:P0"]
    assert "ETA: about 5 min" in initial["content"]["text"] and "slack.api_url" in initial["reason"]
    shown = " ".join(result.stdout.split())  # the output wraps long lines
    assert "| not_sent | incident_notify.slack.api_url and token are not set" in shown
    events = communications(tmp_path)
    assert len(events) == len(outbox)
    flow(tmp_path, None, "-e", "flow_severity=P0")
    assert len(communications(tmp_path)) == len(events), "a rerun records nothing twice"


def test_check_mode_prints_every_message_and_sends_nothing(servers, tmp_path):
    notify = settings(servers)
    result = flow(tmp_path, notify, "-e", "flow_severity=P0", "--check")
    assert not list(tmp_path.glob("incident-*")), "check mode opens no incident"
    assert not any(s.requests for s in (servers["slack"], servers["pagerduty"], servers["statuspage"]))
    out = result.stdout
    assert "pagerduty | trigger | PagerDuty Primary on-call | would send" in out
    assert "PagerDuty Engineering manager | would send" in out
    assert "Severity: P0 Critical" in out and "would record as drafted" in out


def test_drafts_are_sent_with_one_command_after_review(servers, tmp_path):
    sp, smtp = servers["statuspage"], servers["smtp"]
    notify = settings(servers)  # status page and customer mail not enabled: drafts
    flow(tmp_path, notify, "-e", "flow_severity=P1")
    incident_id = record(tmp_path)["id"]
    drafts = sorted(k for k, e in record(tmp_path)["outbox"].items() if e["status"] == "drafted")
    assert drafts == ["email:customer:opened:it-globex-test", "email:customer:opened:ops-acme-test", "statuspage:create"]
    assert not sp.requests and [tuple(m.envelope_to) for m in smtp.messages] == [("oncall@example.test",)]

    approve = ROOT / "playbooks/notify_approve.yml"
    shown = flow(tmp_path, notify, "-e", "incident_id=" + incident_id, "--check", playbook=approve)
    assert "statuspage | create | status page | would send" in shown.stdout and not sp.requests
    flow(tmp_path, notify, "-e", "incident_id=" + incident_id, playbook=approve)
    assert len(sp.incidents()) == 1 and len(smtp.messages) == 3
    flow(tmp_path, notify, "-e", "incident_id=" + incident_id, playbook=approve)
    assert len(sp.incidents()) == 1 and len(smtp.messages) == 3, "approved once, sent once"
    flow(tmp_path, notify, "-e", "flow_severity=P1", "-e", "flow=resolve")
    assert sp.incidents()[0]["status"] == "resolved", "the approved status page incident is resolved with the incident"


# --- Service Down on the drill cluster, every channel configured --------------------------------


@pytest.fixture
def shop_namespace():
    """A namespace the fixture does not have: api-gateway (one replica, a major service) and a frontend."""
    import drill
    import rbac

    namespace = "notify-%s" % secrets.token_hex(3)
    manifests = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    for name, replicas in (("api-gateway", 1), ("frontend", 2)):
        labels = {"app.kubernetes.io/name": name}
        container = {"name": name, "image": "ghcr.io/shop/%s:1.4.0" % name,
                     "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}}
        manifests.append({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": name, "namespace": namespace, "labels": labels},
                          "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                                   "template": {"metadata": {"labels": labels},
                                                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}})
    rbac.apply(manifests)
    try:
        for name, replicas in (("api-gateway", 1), ("frontend", 2)):
            drill.wait_for(lambda: drill.workload_ready(name, replicas, namespace=namespace), 120,
                           message="deployment/%s in %s to be ready" % (name, namespace))
        yield namespace
    finally:
        drill.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", namespace=None, check=False)


@pytest.mark.drill
@pytest.mark.usefixtures("drill_env")
def test_service_down_pages_before_remediating_and_sends_the_resolution(servers, shop_namespace, tmp_path):
    import drill
    from playbook import playbook

    slack, pd, sp, smtp = servers["slack"], servers["pagerduty"], servers["statuspage"], servers["smtp"]
    drill.fault_sh("pod", "deployment/api-gateway", "crashloop", namespace=shop_namespace, timeout=120)
    extra = tmp_path / "notify.json"
    extra.write_text(json.dumps({"incident_notify": dict(settings(servers), customers={})}))
    store = tmp_path / "store"
    # The pods are seconds old: without a shorter startup allowance the crash would be left to settle.
    result = playbook("service_down.yml", "-e", "namespace=" + shop_namespace, "-e", "incident_dir=%s" % store, "-e", "@%s" % extra,
                      "-e", "diagnose_service_min_startup_seconds=1")
    assert result.returncode == 0, result.stdout[-5000:]
    rec = record(store)
    assert rec["status"] == "resolved" and rec["severity"] == "P1", "the only api-gateway pod down: a major service"
    # The on-call was paged, before any remediation, and the page resolved with the incident.
    (page,) = [e for e in pd.events if e["event_action"] == "trigger"]
    assert page["routing_key"] == routing_key("Primary on-call") and page["event"]["payload"]["severity"] == "error"
    assert [a["status"] for a in pd.alerts.values()] == ["resolved"]
    events = timeline(store)
    paged_at = next(e["time"] for e in events if e["type"] == "communication" and e["data"]["channel"] == "pagerduty")
    fixed_at = next(e["time"] for e in events if e["type"] == "fix_implemented")
    assert paged_at < fixed_at
    posts = slack.messages(rec["id"])
    assert "Severity: P1 High" in posts[0] and "ETA: about 8 min" in posts[0] and "api-gateway (down)" in posts[0]
    assert posts[-1].startswith("RESOLVED") and "Root cause:" in posts[-1]
    assert [(tuple(m.envelope_to), m["Subject"].split("]")[0]) for m in smtp.messages] == [
        (("oncall@example.test",), "[P1 High"), (("oncall@example.test",), "[RESOLVED")]
    assert not sp.requests and rec["outbox"]["statuspage:create"]["status"] == "drafted", "public only after approval"
    assert_no_secret(store, result.stdout)
