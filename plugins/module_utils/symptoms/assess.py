# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the evidence of runbook sections 2 and 3 means for each affected service.

Pure functions: the playbooks gather the evidence (the alert's metrics by service and
route, the Kubernetes diagnosis and Service Down's remediation plans, the database and
cache diagnoses, the engines' health and credentials, the affected pods' error patterns,
the slowest traced operations) and these functions name, per affected service, the one
cause that explains the symptom and the runbook's step for it.

High Error Rate (``error_rate``), first cause that applies:

workload      the service's workload is unhealthy: Service Down's plan (delete a crashed pod,
              scale, roll back a failing rollout, raise limits within the bound).
database      PostgreSQL does not answer or is critical: the database owners, with the
              diagnosis (runbook 2, "Check database connectivity").
dependency    an engine the platform calls does not answer, or rejects the configured
              credentials: reported to its owners (nothing to restart here).
hotfix        the operator supplied a fix (an image or a revision): a guarded rollout (a StatefulSet
              or a GitOps-managed workload is escalated with the proposal).
rollout       the service's workload completed a rollout recently and the errors started
              with it: roll back to the previous revision (Deployments; a StatefulSet or a
              GitOps-managed workload is escalated with the proposal).
application   errors nothing above explains: the development team, with the error patterns
              of the pods' logs and the failing routes.

High Response Time (``response_time``):

workload      resource exhaustion or another unhealthy state: Service Down's plan (scale).
cache         critical cache keys are missing, or the hit rate is under half (a cold cache): a
              warm-up. A corrupted cache
              needs a flush, and a flush needs a person running the cache runbook.
database      slow statements in pg_stat_statements, or a database that is critical:
              reported with their statistics to the database owners.
dependency    an engine answers slowly or not at all: its owners.
application   latency nothing above explains: development, with the slowest routes and traces.
"""

from __future__ import annotations

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.evidence import as_dict as _dict
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.evidence import as_list as _list
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.evidence import owner as _owner
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import severity as sev
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import classify

ERROR_RATIO = 0.05  # the HighErrorRate rule's threshold
P95_SECONDS = 2.0  # the HighResponseTime rule's threshold
# Failures of a major feature (P1): a major service answering at least this share with 5xx.
MAJOR_FAILURE_RATIO = 0.5
SLOW_STATEMENT_MS = 1000
SLOW_ENGINE_MS = 2000
# A cache answering fewer hits than this (over the sampling window) is cold even with its critical keys.
HIT_RATE_MIN = 0.5
PLAN_ACTIONS = ("delete_pod", "scale", "rollback", "raise_limits", "rollout_restart")
TOP = 5


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _series(metrics, name):
    return [s for s in ((metrics or {}).get("series") or {}).get(name) or [] if isinstance(s, dict)]


def _by_service(metrics, name):
    """{service: value} of one evidence query (the highest value per service)."""
    out = {}
    for item in _series(metrics, name):
        service, value = (item.get("labels") or {}).get("service"), _number(item.get("value"))
        if service and value is not None:
            out[service] = max(value, out.get(service, value))
    return out


def _routes(metrics, name, service, top=TOP):
    """The routes of one service in a by-route query, highest value first."""
    rows = []
    for item in _series(metrics, name):
        labels, value = item.get("labels") or {}, _number(item.get("value"))
        if labels.get("service") == service and value is not None:
            row = dict((k, v) for k, v in labels.items() if k in ("route", "method", "code"))
            row["value"] = round(value, 4)
            rows.append(row)
    rows.sort(key=lambda r: -r["value"])
    return rows[:top] if top else rows


def _latency_routes(metrics, service, top=TOP):
    """The slowest routes of a service by p95, each with its p50 and p99 where the metrics have them (seconds)."""
    rows = _routes(metrics, "p95_by_route", service, top)
    others = dict((quantile, dict(((r.get("route"), r.get("method")), r["value"])
                                  for r in reversed(_routes(metrics, quantile + "_by_route", service, top=0))))
                  for quantile in ("p50", "p99"))
    for row in rows:
        row["p95"] = row.pop("value")
        for quantile, by_route in others.items():
            row[quantile] = by_route.get((row.get("route"), row.get("method")))
    return rows


def _workload_of(service, workloads, mapping):
    """The workload (diagnosis entry) that serves a service: the mapping, else the same name."""
    name = mapping.get(service) or service
    return next((w for w in workloads if isinstance(w, dict) and w.get("name") == name), None)


def _resources(report, workload):
    """Usage against limits of the workload's pods: the highest ratio per resource, and its container."""
    if not workload:
        return {}
    out = {}
    for pod in _list((report or {}).get("pods"), "report.pods"):
        owner = (pod or {}).get("workload") or {}
        if owner.get("name") != workload.get("name") or owner.get("kind") != workload.get("kind"):
            continue
        for container in pod.get("containers") or []:
            for resource, ratio in classify.usage_ratios(container).items():
                if ratio > out.get(resource, {}).get("ratio", -1):
                    out[resource] = {"ratio": ratio, "pod": pod.get("name"), "container": container.get("name"),
                                     "usage": (container.get("usage") or {}).get(resource),
                                     "limit": (container.get("limits") or {}).get(resource)}
    return out


def _affected(values, threshold, scope, alert_service, readable=False):
    """Services over the threshold; with no metrics, the service asked for or alerted on.

    ``readable``: Prometheus answered (metrics_evidence's ``available``); no series then means
    nothing to report (a ratio of 5xx is empty while no service answers 5xx at all)."""
    if scope:
        over = [scope] if scope in values and values[scope] > threshold else []
        return over if values or readable or not alert_service else [scope]
    over = sorted(s for s, v in values.items() if v > threshold)
    if not over and not values and not readable and alert_service:
        return [alert_service]
    return over


def _database_problem(database):
    """The database finding that can explain errors or latency, or None."""
    status = (database or {}).get("status")
    if status in ("unavailable", "critical"):
        return database.get("reason") or status
    return None


def _engine_problems(engines):
    down, rejected, slow = [], [], []
    for engine in _list(engines, "engines"):
        if not isinstance(engine, dict) or not engine.get("name") or engine.get("kind") == "gateway":
            continue
        if engine.get("status") == "down":
            down.append("%s does not answer (%s)" % (engine["name"], engine.get("error") or "HTTP %s" % engine.get("http_status")))
        elif engine.get("credentials") == "rejected":
            rejected.append("%s rejects the configured credentials (HTTP %s)" % (engine["name"], engine.get("credentials_status")))
        elif (_number(engine.get("latency_ms")) or 0) >= SLOW_ENGINE_MS:
            slow.append("%s answers in %s ms" % (engine["name"], engine.get("latency_ms")))
    return down, rejected, slow


def _plan_for(workload, plans):
    if not workload:
        return None
    return next((p for p in _list(plans, "plans") if isinstance(p, dict) and p.get("workload") == workload.get("name")
                 and p.get("kind", "Deployment") == workload.get("kind", "Deployment")), None)


def _hotfix(request):
    request = _dict(request, "hotfix")
    image, revision = request.get("image") or "", request.get("revision") or 0
    if image and not isinstance(image, (str, dict)):
        raise InvalidInput("hotfix.image must be an image reference or a dict of container: image")
    try:
        revision = int(revision)
    except (TypeError, ValueError):
        raise InvalidInput("hotfix.revision must be a revision number, not %r" % (revision,))
    if revision < 0:
        raise InvalidInput("hotfix.revision must be a positive revision number")
    if image and revision:
        raise InvalidInput("a hotfix is an image or a revision, not both")
    return {"image": image, "container": request.get("container") or "", "revision": revision} if image or revision else None


def _main_container(report, workload):
    """The main container's name of the workload's pods (kubectl's default container), or None."""
    for pod in _list((report or {}).get("pods"), "report.pods"):
        owner = (pod or {}).get("workload") or {}
        if owner.get("name") == workload.get("name") and owner.get("kind") == workload.get("kind"):
            return next((c.get("name") for c in pod.get("containers") or [] if c.get("role") == "main"), None)
    return None


def _hotfix_plan(workload, hotfix, report):
    """workload_remediation's plan for the operator's hotfix: set_image or rollback to a revision."""
    plan = {"workload": workload["name"], "kind": workload.get("kind", "Deployment"), "classification": workload.get("classification"),
            "pods": [], "replicas": None, "owner": None, "proposed": None}
    if hotfix["revision"]:
        return dict(plan, action="rollback", revision=hotfix["revision"], force=True,
                    reason="hotfix: roll %s back to revision %d (asked for by the operator)" % (workload["name"], hotfix["revision"]))
    image = hotfix["image"]
    if isinstance(image, dict):
        images = dict(image)
    else:
        name = hotfix["container"] or _main_container(report, workload)
        if not name:
            raise InvalidInput("hotfix: name the container of %s the image is for (hotfix.container)" % workload["name"])
        images = {name: image}
    return dict(plan, action="set_image", images=images,
                reason="hotfix: roll out %s on %s (asked for by the operator)"
                % (", ".join("%s=%s" % kv for kv in sorted(images.items())), workload["name"]))


def _rollout_evidence(workload, ratio, before, threshold):
    """Whether a recent completed rollout is to blame; (bool, why)."""
    rollout = (workload or {}).get("rollout") or {}
    if not rollout.get("recent") or not rollout.get("previous_revision"):
        return False, None
    last = (workload or {}).get("last_remediation") or {}
    if last.get("action") in ("rollback", "set_image") and (_number(last.get("age_seconds")) or 0) <= (_number(rollout.get("age_seconds")) or 0) + 60:
        # The newest revision is our own rollback or hotfix: rolling back again would bring the bad
        # release back. The errors outlived the fix: a person decides.
        return False, "the newest revision of %s is the %s done %d s ago (%s), and the errors continue" % (
            workload["name"], last.get("action"), int(last.get("age_seconds") or 0), last.get("incident") or "no incident")
    if rollout.get("state") not in ("complete", "progressing"):
        return False, None
    if before is not None and before > threshold:
        return False, "errors were already at %.1f%% before the rollout to revision %s" % (before * 100, rollout.get("revision"))
    minutes = int((rollout.get("age_seconds") or 0) // 60)
    return True, "revision %s of %s rolled out %d min ago and the errors started with it%s" % (
        rollout.get("revision"), workload["name"], minutes,
        "" if before is None else " (%.1f%% before it)" % (before * 100))


def _verdict(service, workload, **fields):
    base = {"service": service, "workload": (workload or {}).get("name"), "kind": (workload or {}).get("kind"),
            "cause": "healthy", "action": "none", "plan": None, "reason": "%s is within its threshold" % service, "owner": None}
    base.update(fields)
    return base


def _severity(policy, signal):
    value = (policy.get("signals") or {}).get(signal)
    return value if value in sev.SEVERITIES else "P2"


def error_rate(evidence, policy=None, threshold=ERROR_RATIO, major_ratio=MAJOR_FAILURE_RATIO):
    """One verdict per service over the error threshold (see the module docstring)."""
    evidence = _dict(evidence, "evidence")
    policy = sev.effective_policy(policy)
    threshold, major_ratio = float(threshold), float(major_ratio)
    report = _dict(evidence.get("report"), "report")
    workloads = _list(report.get("workloads"), "report.workloads")
    mapping = _dict(evidence.get("service_workloads"), "service_workloads")
    metrics = _dict(evidence.get("metrics"), "metrics")
    ratios = _by_service(metrics, "error_ratio")
    before = _dict(evidence.get("before_rollout"), "before_rollout")
    logs = _dict(evidence.get("logs"), "logs")
    hotfix = _hotfix(evidence.get("hotfix"))
    scope = evidence.get("service") or ""
    affected = _affected(ratios, threshold, scope, evidence.get("alert_service") or "", metrics.get("available") is True)
    database = _database_problem(evidence.get("database"))
    down, rejected, _slow = _engine_problems(evidence.get("engines"))
    major = set(policy.get("major_services") or [])

    verdicts = []
    for service in affected:
        workload = _workload_of(service, workloads, mapping)
        ratio = ratios.get(service)
        common = {"error_ratio": ratio, "routes": _routes(metrics, "errors_by_route", service),
                  "patterns": _list(logs.get((workload or {}).get("name") or service), "logs")[:TOP]}
        plan = _plan_for(workload, evidence.get("plans"))
        what = "%s answers %s of requests with 5xx" % (service, "%.1f%%" % (ratio * 100) if ratio is not None else "too many")
        blame, blame_why = _rollout_evidence(workload, ratio, _number(before.get(service)), threshold)
        if plan and plan.get("action") not in (None, "none"):
            action = "remediate" if plan.get("action") in PLAN_ACTIONS else "escalate"
            verdict = _verdict(service, workload, cause="workload", action=action, plan=plan if action == "remediate" else None,
                               owner=plan.get("owner"), reason="%s; %s" % (what, plan.get("reason")), **common)
        elif database:
            verdict = _verdict(service, workload, cause="database", action="escalate", owner=_owner(policy, "database"),
                               reason="%s; the database behind it fails: %s" % (what, database), **common)
        elif down or rejected:
            verdict = _verdict(service, workload, cause="dependency", action="escalate",
                               owner=_owner(policy, "engine_credentials" if rejected and not down else "engine_connectivity"),
                               reason="%s; a dependency fails: %s" % (what, "; ".join(down + rejected)), **common)
        elif hotfix and workload:
            fix = _hotfix_plan(workload, hotfix, report)
            if workload.get("kind") == "Deployment" and not workload.get("gitops"):
                verdict = _verdict(service, workload, cause="hotfix", action="remediate", plan=fix, owner=_owner(policy, "default"),
                                   reason="%s; %s" % (what, fix["reason"]), **common)
            else:
                # workload_remediation refuses set_image and rollback on a StatefulSet; GitOps would revert it.
                managed = workload.get("gitops")
                verdict = _verdict(service, workload, cause="hotfix", action="escalate", owner=_owner(policy, "default"),
                                   reason="%s; proposed %s; %s" % (what, fix["reason"], "managed by %s: roll it out in git" % managed["manager"]
                                                                   if managed else "a StatefulSet's image or revision is changed by a person"),
                                   **common)
        elif blame and workload.get("kind") == "Deployment" and not workload.get("gitops"):
            fix = {"workload": workload["name"], "kind": "Deployment", "classification": workload.get("classification"),
                   "action": "rollback", "pods": [], "replicas": None, "owner": _owner(policy, "default"), "proposed": None,
                   # The rollout is healthy to Kubernetes (pods ready): the errors are the evidence.
                   "force": True, "reason": "roll back to the previous revision: %s" % blame_why}
            verdict = _verdict(service, workload, cause="rollout", action="remediate", plan=fix, owner=fix["owner"],
                               reason="%s; %s" % (what, fix["reason"]), **common)
        elif blame:
            managed = workload.get("gitops")
            verdict = _verdict(service, workload, cause="rollout", action="escalate", owner=_owner(policy, "default"),
                               reason="%s; %s; %s" % (what, blame_why, "managed by %s: roll back in git" % managed["manager"] if managed
                                                      else "a StatefulSet rollback is a human decision"), **common)
        else:
            patterns = common["patterns"]
            detail = "; ".join("%dx %s" % (p.get("count", 0), p.get("pattern") or p.get("sample")) for p in patterns[:3]
                               if isinstance(p, dict))
            verdict = _verdict(service, workload, cause="application", action="escalate", owner=_owner(policy, "default"),
                               reason="%s and neither its pods, the database, the engines nor a recent rollout explain it%s"
                               % (what, ": " + detail if detail else " (no error lines in its pods' logs)"), **common)
            if blame_why:
                verdict["reason"] += "; " + blame_why
        verdicts.append(verdict)

    signal = None
    if verdicts:
        signal = "high_error_rate"
        # major_services names workloads; the database fails whichever cause each service got.
        if any((v["service"] in major or v["workload"] in major) and (v["error_ratio"] or 0) >= major_ratio for v in verdicts) or \
                database:
            signal = "major_feature_failing"
    return _summary(verdicts, signal, policy, "every service answers under %.0f%% 5xx" % (threshold * 100), hotfix,
                    {"database": database, "engines_down": down, "engines_rejected": rejected})


def response_time(evidence, policy=None, threshold=P95_SECONDS, slow_statement_ms=SLOW_STATEMENT_MS, hit_rate_min=HIT_RATE_MIN):
    """One verdict per service over the latency threshold (see the module docstring)."""
    evidence = _dict(evidence, "evidence")
    policy = sev.effective_policy(policy)
    threshold, slow_statement_ms, hit_rate_min = float(threshold), float(slow_statement_ms), float(hit_rate_min)
    report = _dict(evidence.get("report"), "report")
    workloads = _list(report.get("workloads"), "report.workloads")
    mapping = _dict(evidence.get("service_workloads"), "service_workloads")
    metrics = _dict(evidence.get("metrics"), "metrics")
    p95 = _by_service(metrics, "p95_seconds")
    scope = evidence.get("service") or ""
    affected = _affected(p95, threshold, scope, evidence.get("alert_service") or "", metrics.get("available") is True)
    cache = _dict(evidence.get("cache"), "cache")
    database = _dict(evidence.get("database"), "database")
    # pg_stat_statements covers every database of the server: keep the platform database's.
    dbname = evidence.get("database_name") or ""
    statements = [s for s in _list(evidence.get("slow_statements"), "slow_statements")
                  if isinstance(s, dict) and (_number(s.get("mean_ms")) or 0) >= slow_statement_ms
                  and (not dbname or s.get("database") == dbname)]
    down, rejected, slow = _engine_problems(evidence.get("engines"))
    traces = _dict(evidence.get("traces"), "traces")

    verdicts = []
    for service in affected:
        workload = _workload_of(service, workloads, mapping)
        value = p95.get(service)
        common = {"p95_seconds": value, "routes": _latency_routes(metrics, service),
                  "resources": _resources(report, workload),
                  "traces": _list((traces.get(service) or {}).get("operations"), "traces.operations")[:TOP]}
        plan = _plan_for(workload, evidence.get("plans"))
        what = "%s's p95 latency is %s" % (service, "%.2f s" % value if value is not None else "over the threshold")
        if plan and plan.get("action") not in (None, "none"):
            action = "remediate" if plan.get("action") in PLAN_ACTIONS else "escalate"
            verdict = _verdict(service, workload, cause="workload", action=action, plan=plan if action == "remediate" else None,
                               owner=plan.get("owner"), reason="%s; %s" % (what, plan.get("reason")), **common)
        elif cache.get("status") == "cold":
            verdict = _verdict(service, workload, cause="cache", action="warmup", owner=cache.get("owner") or _owner(policy, "cache"),
                               reason="%s; %s: warm the cache up (no flush)" % (what, cache.get("reason")), **common)
        elif cache.get("status") == "healthy" and (_number(cache.get("hit_rate")) if cache.get("hit_rate") is not None else 1) < hit_rate_min:
            verdict = _verdict(service, workload, cause="cache", action="warmup", owner=cache.get("owner") or _owner(policy, "cache"),
                               reason="%s; the cache's hit rate is %.0f%% (under %.0f%%): warm the cache up (no flush)"
                               % (what, cache["hit_rate"] * 100, hit_rate_min * 100), **common)
        elif cache.get("status") in ("corrupted", "unavailable"):
            verdict = _verdict(service, workload, cause="cache", action="escalate", owner=cache.get("owner") or _owner(policy, "cache"),
                               reason="%s; %s: a flush needs a person running the cache runbook (playbooks/cache_recovery.yml)"
                               % (what, cache.get("reason")), **common)
        elif statements or _database_problem(database):
            listed = "; ".join("%.0f ms mean over %s calls: %s" % (s.get("mean_ms"), s.get("calls"), (s.get("query") or "")[:120])
                               for s in statements[:3])
            verdict = _verdict(service, workload, cause="database", action="escalate", owner=_owner(policy, "database"),
                               reason="%s; %s" % (what, ("slow statements in pg_stat_statements: " + listed) if statements
                                                  else "the database fails: %s" % _database_problem(database)),
                               slow_statements=statements[:TOP], **common)
        elif down or slow or rejected:
            verdict = _verdict(service, workload, cause="dependency", action="escalate", owner=_owner(policy, "engine_connectivity"),
                               reason="%s; a dependency is slow or fails: %s" % (what, "; ".join(down + slow + rejected)), **common)
        else:
            hot = ", ".join("%s %.0f%% of its limit (%s)" % (r, d["ratio"] * 100, d["container"])
                            for r, d in sorted(common["resources"].items()))
            slowest = ", ".join("%s p95 %s ms" % (o.get("name"), o.get("p95_ms")) for o in common["traces"][:3] if isinstance(o, dict))
            verdict = _verdict(service, workload, cause="application", action="escalate", owner=_owner(policy, "default"),
                               reason="%s and neither its resources, the cache, the database nor the engines explain it%s%s"
                               % (what, "; resources: " + hot if hot else "", "; slowest traced operations: " + slowest if slowest else ""),
                               **common)
        verdicts.append(verdict)
    signal = "slow_responses" if verdicts else None
    return _summary(verdicts, signal, policy, "every service answers with a p95 under %g s" % threshold, None,
                    {"cache": cache.get("status"), "slow_statements": statements[:TOP], "engines_slow": slow + down})


def _summary(verdicts, signal, policy, healthy_reason, hotfix, context):
    reasons = [v["reason"] for v in verdicts]
    plans = [v["plan"] for v in verdicts if v["plan"]]
    owners = sorted(set(v["owner"] for v in verdicts if v["action"] == "escalate" and v["owner"]))
    notes = []
    if hotfix and not any(v["cause"] == "hotfix" for v in verdicts):
        notes.append("the hotfix was not applied: %s" % ("no affected service" if not verdicts else
                                                         "the errors have another cause (" + ", ".join(sorted(set(v["cause"] for v in verdicts))) + ")"))
    return {"status": "degraded" if verdicts else "healthy", "signal": signal,
            "severity": _severity(policy, signal) if signal else None, "services": verdicts, "plans": plans,
            "warmup": any(v["action"] == "warmup" for v in verdicts),
            "escalate": any(v["action"] == "escalate" for v in verdicts), "owners": owners,
            "reasons": reasons, "reason": "; ".join(reasons) if reasons else healthy_reason, "notes": notes, "context": context}


def outcome(assessment, actions=None, verification=None, check_mode=False):
    """Resolve or escalate each affected service after the remediation.

    ``actions``: action_results() of the remediation; ``verification``: ``{"unhealthy":
    [workloads still unhealthy], "warmed": bool|None, "metrics": {"verified": bool|None, "status":
    str}}``. A service is restored when its step (a remediation or the warm-up) succeeded and the
    alert's metric is back under its threshold (or could not be read: then the readiness stands
    and the record says "not verified"); escalated otherwise.
    """
    if not isinstance(assessment, dict) or "services" not in assessment:
        raise InvalidInput("symptom_outcome expects the result of error_rate_assessment or response_time_assessment")
    actions = _list(actions, "actions")
    verification = _dict(verification, "verification")
    by_workload = dict((a.get("service"), a) for a in actions if isinstance(a, dict))
    unhealthy = set(verification.get("unhealthy") or [])
    metrics = verification.get("metrics") or {}
    services, reasons, owners, fixed = {}, [], [], []
    for verdict in assessment["services"]:
        name = verdict["service"]
        if check_mode and verdict["action"] in ("remediate", "warmup"):
            services[name] = "planned"
            continue
        if verdict["action"] == "remediate":
            action = by_workload.get((verdict.get("plan") or {}).get("workload"))
            problems = []
            if not action or not action.get("ok"):
                planned = (verdict["plan"] or {}).get("action")
                problems.append("%s on %s did not succeed: %s" % (planned, verdict["workload"], (action or {}).get("msg", "not carried out")))
            if verdict["workload"] in unhealthy:
                problems.append("%s is still unhealthy" % verdict["workload"])
            done = (action or {}).get("msg") or (verdict["plan"] or {}).get("action")
        elif verdict["action"] == "warmup":
            problems = [] if verification.get("warmed") else ["the cache warm-up did not bring the critical keys back"]
            done = "cache warmed up"
        else:
            services[name] = "escalated"
            reasons.append(verdict["reason"])
            owners.append(verdict.get("owner") or "development")
            continue
        if metrics.get("verified") is False:
            problems.append("%s: %s" % (name, metrics.get("status")))
        if problems:
            services[name] = "escalated"
            reasons.extend(problems)
            owners.append(verdict.get("owner") or "development")
        else:
            services[name] = "restored"
            fixed.append("%s: %s" % (name, done))
    status = "planned" if check_mode else ("escalated" if reasons else "resolved")
    return {"status": status, "services": services, "escalate": bool(reasons) and not check_mode, "reasons": reasons,
            "owners": sorted(set(owners)), "root_cause": assessment.get("reason"),
            "metrics": metrics.get("status") or "not verified",
            "resolution": "; ".join(fixed) if fixed else ("escalated: " + "; ".join(reasons) if reasons else "nothing to do")}


def incident_services(assessment, prefix, outcome=None):
    """The incident's services of this scenario: ``{"<prefix>:<service>": {status, reason}}``."""
    if not isinstance(assessment, dict) or "services" not in assessment:
        raise InvalidInput("symptom_services expects the result of error_rate_assessment or response_time_assessment")
    if prefix not in ("errors", "latency"):
        raise InvalidInput("symptom_services: prefix must be errors or latency, not %r" % (prefix,))
    reasons = dict((v["service"], v["reason"]) for v in assessment["services"])
    if outcome is None:
        return dict(("%s:%s" % (prefix, v["service"]), {"status": "down", "reason": v["reason"]}) for v in assessment["services"])
    return dict(("%s:%s" % (prefix, name), {"status": state, "reason": reasons.get(name, "")})
                for name, state in (outcome.get("services") or {}).items())


def log_targets(assessment, report, max_pods=3):
    """The pods whose logs to read: up to ``max_pods`` of each affected service's workload, ready
    ones first (they served the errors), each with its main container: ``[{workload, pod, container}]``."""
    if not isinstance(assessment, dict) or "services" not in assessment:
        raise InvalidInput("symptom_log_targets expects a scenario assessment")
    max_pods = int(max_pods)
    pods = _list(_dict(report, "report").get("pods"), "report.pods")
    out = []
    for verdict in assessment["services"]:
        if not verdict.get("workload"):
            continue
        mine = [p for p in pods if isinstance(p, dict) and (p.get("workload") or {}).get("name") == verdict["workload"]
                and (p.get("workload") or {}).get("kind") == verdict.get("kind")]
        mine.sort(key=lambda p: (not p.get("ready"), p.get("name")))
        for pod in mine[:max_pods]:
            main = next((c.get("name") for c in pod.get("containers") or [] if c.get("role") == "main"), None)
            out.append({"workload": verdict["workload"], "pod": pod.get("name"), "container": main})
    return out


def log_lines_by_workload(results):
    """{workload: [lines]} from the registered results of kubernetes.core.k8s_log looped over log_targets()."""
    out = {}
    for result in _list(results, "results"):
        if not isinstance(result, dict) or result.get("failed") or result.get("skipped"):
            continue
        workload = (result.get("item") or {}).get("workload")
        if workload:
            out.setdefault(workload, []).extend(result.get("log_lines") or [])
    return out
