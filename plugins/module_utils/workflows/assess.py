# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the evidence of runbook 4, "Workflow Execution Failures", means for each engine.

Pure functions: the playbook gathers the evidence (engine health and credentials, the
Kubernetes diagnosis and its remediation plans, the failing workflows from the engines'
APIs, the failure rate and queue depth from the metrics, queue lengths from Redis) and
``assess()`` names, for each engine, the one cause that explains its failures and the
runbook's step for it:

connectivity  the engine does not answer its health endpoint. Its workload's plan fixes it
              (delete a crashed pod, scale, roll back, raise limits); when every replica fails
              with no rollout to blame, the runbook's "restart the engine workload"
              (rollout_restart, once: the remediation budget stops a loop); pods that are
              ready while the engine does not answer, or an engine outside the cluster, go to
              the infrastructure owners.
credentials   the engine answers but rejects the configured credentials: nothing to restart;
              the owners of the credentials rotate or fix the secret.
resources     the engine's workload is exhausted (scale, or raise limits within the bound).
definitions   failing workflows whose definitions do not validate or broke since their last
              good version: named, with their owners, for the workflow owners.
workflows     failing workflows without a definition problem: the development team, with the
              executions' errors.
failure_rate  the metrics show failures that nothing above explains: development.
healthy       nothing failing.
"""

from __future__ import annotations

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.evidence import as_list as _list
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.evidence import owner as _owner
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev

ACTIONS = ("delete_pod", "scale", "rollback", "raise_limits", "rollout_restart")
# Classifications a restart can clear: the process is stuck or crashing, not the node or the image.
RESTARTABLE = ("crashloop", "not_ready", "oom", "unknown")
DEFAULT_FAILURE_RATIO = 0.1
DEFAULT_QUEUE_DEPTH = 100


def _metric_by_engine(metrics, name):
    """{engine: highest value} of one evidence query (failure_ratio, queue_depth)."""
    out = {}
    series = ((metrics or {}).get("series") or {}).get(name) or []
    for item in series:
        if not isinstance(item, dict):
            continue
        engine = (item.get("labels") or {}).get("engine")
        value = item.get("value")
        if engine and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[engine] = max(value, out.get(engine, value))
    return out


def _restart_plan(plan, workload, reason):
    return {"workload": workload, "kind": plan.get("kind") or "Deployment", "classification": plan.get("classification"),
            "action": "rollout_restart", "pods": [], "replicas": None, "owner": plan.get("owner"), "proposed": None,
            "reason": reason}


def _connectivity(engine, name, workload, plan, policy):
    """The step for an engine that does not answer: (action, plan, reason, owner)."""
    error = engine.get("error") or "HTTP %s" % engine.get("http_status")
    what = "%s does not answer its health check (%s)" % (name, error)
    if not workload:
        return "escalate", None, "%s; it runs outside the cluster: check its status page, the network path and "\
            "the URL" % what, _owner(policy, "engine_connectivity")
    if plan is None or plan.get("action") == "none" and plan.get("classification") in (None, "healthy"):
        return "escalate", None, "%s while the pods of %s are ready: check its Service, network policies and "\
            "ingress" % (what, workload), _owner(policy, "engine_connectivity")
    action = plan.get("action")
    if action in ACTIONS:
        return "remediate", plan, "%s; %s" % (what, plan.get("reason")), plan.get("owner")
    gitops = plan.get("proposed") is not None
    if (action == "escalate" and not gitops and plan.get("kind", "Deployment") == "Deployment"
            and plan.get("classification") in RESTARTABLE):
        # A Deployment's bad rollout is planned as a rollback, so an escalated Deployment that
        # crashes is "every replica fails, no rollout to blame": the runbook restarts the engine.
        reason = "%s; every replica of Deployment/%s fails (%s) with no rollout to blame: restart the engine "\
            "workload (runbook 4)" % (what, workload, plan.get("classification"))
        return "remediate", _restart_plan(plan, workload, reason), reason, plan.get("owner")
    if action == "none":
        # Pods still starting: the next run (or the verification) sees them ready or failing.
        return "wait", None, "%s; %s" % (what, plan.get("reason")), plan.get("owner")
    return "escalate", None, "%s; %s" % (what, plan.get("reason")), plan.get("owner") or _owner(policy, "engine_connectivity")


def _messages(items):
    """Messages of validation errors or changes (dicts with ``message``, as workflow_failure_info returns them)."""
    return [item.get("message") or item.get("check") or item.get("change") or str(item) if isinstance(item, dict) else str(item)
            for item in items or []]


def _workflow_summary(engine_name, report):
    failing = []
    for wf in _list((report or {}).get("failing_workflows"), "failing_workflows"):
        # Workflows listed on request without failures are not failing, nor are those that run again.
        if not isinstance(wf, dict) or not wf.get("failures") or wf.get("recovered"):
            continue
        validation = wf.get("validation") or {}
        changes = wf.get("changes") or {}
        failing.append({
            "engine": engine_name, "id": wf.get("id"), "name": wf.get("name"), "failures": wf.get("failures"),
            "last_error": wf.get("last_error"), "failed_node": wf.get("failed_node"), "owner": wf.get("owner"),
            "owner_source": wf.get("owner_source"), "valid": validation.get("valid", True) is not False,
            "validation_errors": _messages(validation.get("errors")), "breaking": _messages(changes.get("breaking")),
            "executions": wf.get("executions") or [], "traces": wf.get("traces") or []})
    return failing


def assess(engines, plans=None, workflows=None, metrics=None, queues=None, platform_engines=None, policy=None,
           failure_ratio=DEFAULT_FAILURE_RATIO, queue_depth=DEFAULT_QUEUE_DEPTH):
    """One verdict per engine and the scenario's overall decision (see the module docstring)."""
    policy = sev.effective_policy(policy)
    engines = _list(engines, "engines")
    plans = _list(plans, "plans")
    workload_of = {}
    for entry in _list(platform_engines, "platform_engines"):
        if isinstance(entry, dict) and entry.get("name"):
            workload_of[entry["name"]] = entry.get("workload") or ""
    plan_of = dict((p.get("workload"), p) for p in plans if isinstance(p, dict))
    reports = {}
    for report in _list(workflows, "workflows"):
        if isinstance(report, dict) and not report.get("skipped"):
            # A looped task's result names its engine in `item`; engine_name when built by hand.
            name = report.get("engine_name") or (report.get("item") or {}).get("name")
            if name:
                reports[name] = report
    ratios = _metric_by_engine(metrics, "failure_ratio")
    depths = _metric_by_engine(metrics, "queue_depth")

    verdicts, act, reasons, owners, notes, named = [], [], [], [], [], []
    down_names = set(e.get("name") for e in engines if isinstance(e, dict) and e.get("status") == "down")
    for engine in engines:
        if not isinstance(engine, dict) or not engine.get("name"):
            continue
        name = engine["name"]
        down_elsewhere = down_names - set([name])
        workload = workload_of.get(name, "")
        plan = plan_of.get(workload) if workload else None
        failing = _workflow_summary(name, reports.get(name))
        ratio = ratios.get(name)
        verdict = {"name": name, "workload": workload, "status": engine.get("status"), "credentials": engine.get("credentials"),
                   "failure_ratio": ratio, "queue_depth": depths.get(name), "cause": "healthy", "action": "none",
                   "plan": None, "reason": "%s is healthy" % name, "owner": None, "workflows": failing}
        definition_problems = [w for w in failing if not w["valid"] or w["breaking"]]
        if engine.get("status") == "down":
            action, fix, reason, owner = _connectivity(engine, name, workload, plan, policy)
            verdict.update(cause="connectivity", action=action, plan=fix, reason=reason, owner=owner)
        elif engine.get("credentials") == "rejected":
            verdict.update(cause="credentials", action="escalate", owner=_owner(policy, "engine_credentials"),
                           reason="%s rejects the configured credentials (HTTP %s): rotate or fix the engine's API key "
                           "secret; nothing to restart" % (name, engine.get("credentials_status")))
        elif plan and plan.get("action") in ("scale", "raise_limits"):
            verdict.update(cause="resources", action="remediate", plan=plan, owner=plan.get("owner"),
                           reason="%s: %s" % (name, plan.get("reason")))
        elif definition_problems:
            named_problems = "; ".join("%s (%s, owner %s): %s" % (
                w["name"] or w["id"], w["id"], w["owner"] or "unknown", ", ".join((w["validation_errors"] + w["breaking"])[:3]))
                for w in definition_problems)
            verdict.update(cause="definitions", action="escalate", owner=_owner(policy, "workflow_definition"),
                           reason="%s: %d failing workflow definition(s): %s" % (name, len(definition_problems), named_problems))
        elif failing:
            verdict.update(cause="workflows", action="escalate", owner=_owner(policy, "default"),
                           reason="%s: %d workflow(s) fail without a definition problem: %s" % (name, len(failing), "; ".join(
                               "%s: %s" % (w["name"] or w["id"], w["last_error"] or "no error recorded") for w in failing[:3])))
        elif ratio is not None and ratio > failure_ratio:
            verdict.update(cause="failure_rate", action="escalate", owner=_owner(policy, "default"),
                           reason="%.0f%% of %s's executions fail and neither its health, credentials, resources nor "
                           "definitions explain it: the engine adapter's logs are with the incident" % (ratio * 100, name))
        elif engine.get("status") == "degraded" and engine.get("kind") == "gateway" and down_elsewhere:
            # The gateway reports itself degraded while an engine it calls is down: that engine is the cause.
            others = sorted(down_elsewhere)
            notes.append("%s reports itself degraded while %s %s down" % (name, ", ".join(others), "is" if len(others) == 1 else "are"))
        elif engine.get("status") == "degraded":
            verdict.update(cause="degraded", action="escalate", owner=_owner(policy, "engine_connectivity"),
                           reason="%s answers but reports itself degraded: %s" % (name, engine.get("error") or engine.get("detail")))
        if verdict["queue_depth"] is not None and verdict["queue_depth"] > queue_depth:
            notes.append("%s's queue holds %s executions (threshold %s)" % (name, verdict["queue_depth"], queue_depth))
        if engine.get("credentials") == "error":
            notes.append("%s's credentials could not be checked: %s" % (name, engine.get("error") or "no detail"))
        if verdict["plan"]:
            act.append(verdict["plan"])
        if verdict["cause"] != "healthy":
            reasons.append(verdict["reason"])
        if verdict["action"] == "escalate" and verdict["owner"]:
            owners.append(verdict["owner"])
        named.extend({"engine": w["engine"], "id": w["id"], "name": w["name"], "owner": w["owner"],
                      "owner_source": w["owner_source"]} for w in definition_problems)
        verdicts.append(verdict)
    for queue in _list(queues, "queues"):
        if isinstance(queue, dict) and isinstance(queue.get("length"), int) and queue["length"] > queue_depth:
            notes.append("Redis queue %s holds %d entries (threshold %s)" % (queue.get("key"), queue["length"], queue_depth))

    failing_engines = [v for v in verdicts if v["cause"] != "healthy"]
    signal = "workflow_execution_failures" if failing_engines else None
    return {
        "status": "failing" if failing_engines else "healthy",
        "signal": signal,
        "severity": (policy.get("signals") or {}).get(signal) if signal else None,
        "engines": verdicts,
        "plans": act,
        "escalate": any(v["action"] == "escalate" for v in verdicts),
        "owners": sorted(set(owners)),
        "reasons": reasons,
        "reason": "; ".join(reasons) if reasons else "every engine answers, accepts its credentials and runs its workflows",
        "workflow_owners": named,
        "notes": notes,
    }


def outcome(assessment, actions=None, verification=None, check_mode=False):
    """Resolve or escalate the workflow scenario, engine by engine, after the remediation.

    ``actions``: action_results() of the remediation; ``verification``: ``{"down": [engine
    names still not answering], "unhealthy": [workloads still unhealthy], "metrics": {"verified":
    bool|None, "status": str}}`` read after the actions (empty in check mode). An engine is
    restored when it had a plan whose action succeeded, it answers again and its workload is
    ready; escalated when its verdict was to escalate or anything of that failed.
    """
    if not isinstance(assessment, dict) or "engines" not in assessment:
        raise InvalidInput("workflow_outcome expects the result of workflow_assessment")
    actions = _list(actions, "actions")
    verification = verification or {}
    by_workload = dict((a.get("service"), a) for a in actions if isinstance(a, dict))
    down = set(verification.get("down") or [])
    unhealthy = set(verification.get("unhealthy") or [])
    metrics = verification.get("metrics") or {}
    engines, reasons, owners, fixed = {}, [], [], []
    for verdict in assessment["engines"]:
        name = verdict["name"]
        if verdict["cause"] == "healthy":
            continue
        if verdict["action"] == "remediate" and not check_mode:
            action = by_workload.get((verdict.get("plan") or {}).get("workload"))
            problems = []
            if not action or not action.get("ok"):
                planned = (verdict["plan"] or {}).get("action")
                problems.append("%s on %s did not succeed: %s" % (planned, verdict["workload"], (action or {}).get("msg", "not carried out")))
            if name in down:
                problems.append("%s still does not answer its health check" % name)
            if verdict["workload"] in unhealthy:
                problems.append("%s is still unhealthy" % verdict["workload"])
            if problems:
                engines[name] = "escalated"
                reasons.extend(problems)
                owners.append(verdict.get("owner") or "development")
            else:
                engines[name] = "restored"
                fixed.append("%s: %s" % (name, (action or {}).get("msg") or verdict["plan"]["action"]))
        elif verdict["action"] == "remediate":
            engines[name] = "planned"
        elif verdict["action"] == "wait":
            engines[name] = "down"
            reasons.append(verdict["reason"])
        else:
            engines[name] = "escalated"
            reasons.append(verdict["reason"])
            owners.append(verdict.get("owner") or "development")
    if metrics.get("verified") is False and not check_mode:
        reasons.append("metrics: %s" % metrics.get("status"))
        for name, state in engines.items():
            if state == "restored":
                engines[name] = "escalated"
        owners.append("development")
    status = "planned" if check_mode else ("escalated" if reasons else "resolved")
    return {"status": status, "engines": engines, "escalate": bool(reasons) and not check_mode, "reasons": reasons,
            "owners": sorted(set(owners)), "root_cause": assessment.get("reason"),
            "resolution": "; ".join(fixed) if fixed else ("escalated: " + "; ".join(reasons) if reasons else "nothing to do")}


def incident_services(assessment, outcome=None):
    """The incident's services this scenario answers for: ``{"engine:<name>": {status, reason}}``.

    Before the remediation (no ``outcome``) every failing engine is down; afterwards each takes
    its outcome (restored, escalated, planned, down).
    """
    if not isinstance(assessment, dict) or "engines" not in assessment:
        raise InvalidInput("workflow_services expects the result of workflow_assessment")
    reasons = dict((v["name"], v["reason"]) for v in assessment["engines"])
    if outcome is None:
        return dict(("engine:%s" % v["name"], {"status": "down", "reason": v["reason"]})
                    for v in assessment["engines"] if v["cause"] != "healthy")
    return dict(("engine:%s" % name, {"status": state, "reason": reasons.get(name, "")})
                for name, state in (outcome.get("engines") or {}).items())
