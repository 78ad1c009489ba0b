#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workload_health_info
short_description: Diagnose the workloads of a namespace in one call
version_added: 0.1.0
description:
  - Reads every Deployment and StatefulSet of a namespace (or one of them), their pods, Warning
    events, nodes and, when the metrics API answers, CPU and memory use; joins them in memory
    and classifies each workload the way the runbook's "Service Down" section does.
  - The number of API requests does not grow with the number of pods; only the logs of
    unhealthy containers are fetched one by one, at most O(max_log_containers) of them.
  - Read-only. It never changes anything, in check mode or not.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  namespace:
    description:
      - Namespace to diagnose. The module fails when it does not exist.
    type: str
    required: true
  service:
    description:
      - Name of one service (its Deployment or StatefulSet) to diagnose. All of the namespace's when not set.
      - The module fails, listing the Deployments and StatefulSets that exist, when there is no such workload.
      - Only the pods the workload owns (by ownerReferences) are reported, not others that share its labels.
      - Called O(workload) before 0.2.0; that name still works as an alias.
    type: str
    aliases: [workload]
  log_lines:
    description:
      - Lines of log to collect per unhealthy container, from the current and, after a restart,
        the previous container (like C(kubectl logs --tail) and C(--previous)).
    type: int
    default: 100
  max_log_containers:
    description:
      - Collect logs of at most this many unhealthy containers; C(0) collects none.
    type: int
    default: 10
  max_pods:
    description:
      - Report at most this many pods in RV(pods), unhealthy ones first. Counts in RV(summary) cover all.
    type: int
    default: 200
  max_events:
    description:
      - Warning events kept per pod and per workload, newest first.
    type: int
    default: 10
  metrics:
    description:
      - Read CPU and memory use from the metrics API (C(metrics.k8s.io), as C(kubectl top) does).
      - When the API does not answer, RV(metrics_available) is false and RV(metrics_error) says why.
    type: bool
    default: true
  usage_threshold:
    description:
      - Fraction of a container's limit (its request when it has no limit) at which CPU or memory use
        counts as resource exhaustion. Above 0 and at most 1 (C(0.9) is 90%); anything else fails.
    type: float
    default: 0.9
  recent_rollout_minutes:
    description:
      - A rollout younger than this, whose new pods fail while an older revision exists, is reported
        as the cause (RV(workloads[].bad_rollout)).
    type: int
    default: 30
  min_startup_seconds:
    description:
      - A pod younger than its startup allowance is starting, not failing, and is never evicted. The allowance
        is its containers' startupProbe budget (initialDelaySeconds + failureThreshold x periodSeconds), else
        their readiness initialDelaySeconds, and never less than this many seconds.
    type: int
    default: 30
  policy:
    description:
      - The incident policy (the variable C(incident_policy) of the playbooks), deep-merged over the runbook's
        defaults; V({}) is the runbook's. RV(severity) is derived with it, chiefly its C(major_services) and
        C(signals).
      - Its keys are C(severities), C(escalation_chain), C(contacts), C(status_page), C(major_services), C(teams),
        C(owners), C(statefulset_owners), C(signals), C(alert_signals) and C(alert_severities); see the
        P(ai_orchestrator.incident_response.incident_policy#filter) filter. An unknown key, severity, signal,
        failure class or owner fails before the cluster is read, naming the key.
    type: dict
    default: {}
    version_added: 0.2.0
notes:
  - Pods belong to a workload by ownerReferences (Pod to ReplicaSet to Deployment, Pod to StatefulSet), never
    by labels alone. Pods of anything else (DaemonSets, Jobs, CronJobs, Argo Rollouts, bare pods) are reported
    in RV(others), never acted on.
  - Nodes, HorizontalPodAutoscalers and the metadata of ConfigMaps and Secrets are read when this identity may
    (names and times only; a Secret's values are never requested); when it may not, RV(nodes_error),
    RV(hpa_error) or RV(config_error) says so and the diagnosis goes on without them.
  - Classification rules are in the C(ai_orchestrator.incident_response.classify_workload) filter,
    which playbooks can also call on saved reports.
  - With O(service), RV(severity) is still judged on the namespace - the other Deployments' and StatefulSets'
    readiness, from the same two lists that find the service - so one service down among healthy ones is not
    "all services down"; only the service's own pods are read.
seealso:
  - module: ai_orchestrator.incident_response.workload_remediation
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Diagnose the whole platform namespace
  ai_orchestrator.incident_response.workload_health_info:
    namespace: ai-orchestrator
  register: diagnosis

- name: Diagnose one service, with the drill cluster's kubeconfig
  ai_orchestrator.incident_response.workload_health_info:
    kubeconfig: ~/.cache/ai-orchestrator-drill/kubeconfig
    namespace: ai-orchestrator
    service: api-gateway
    log_lines: 50
  register: diagnosis

- name: Show what is wrong
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.classification }} - {{ item.recommended_action }}"
  loop: "{{ diagnosis.workloads | selectattr('classification', 'ne', 'healthy') }}"
  loop_control:
    label: "{{ item.name }}"
"""

RETURN = r"""
namespace:
  description: The namespace diagnosed.
  returned: always
  type: str
  sample: ai-orchestrator
api_requests:
  description: API requests the diagnosis made (lists, metrics and logs).
  returned: always
  type: int
  sample: 11
metrics_available:
  description: Whether the metrics API answered.
  returned: always
  type: bool
  sample: true
metrics_error:
  description: Why metrics are missing, when they are.
  returned: always
  type: str
  sample: "metrics unavailable: GET /apis/metrics.k8s.io/v1beta1/nodes: not found"
nodes_error:
  description: Why nodes could not be read (then a dead node is told from its pods' own status), or null.
  returned: always
  type: str
  sample: null
hpa_error:
  description: Why HorizontalPodAutoscalers could not be read, or null.
  returned: always
  type: str
  sample: null
config_error:
  description: Why ConfigMap and Secret metadata could not be read (then configuration changes are not checked), or null.
  returned: always
  type: str
  sample: null
others:
  description:
    - Unhealthy pods of anything but Deployments and StatefulSets - DaemonSets, Jobs, CronJobs, Argo Rollouts,
      bare pods (kind C(Pod)) - grouped by their controller. Reported, never acted on.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the controller (C(Pod) for a bare pod).
      type: str
    name:
      description: Its name.
      type: str
    pods:
      description: Its unhealthy pods.
      type: list
      elements: str
    classification:
      description: The worst classification among them.
      type: str
    evidence:
      description: What was seen.
      type: list
      elements: str
  sample: [{kind: DaemonSet, name: node-agent, pods: [node-agent-x8k2p], classification: crashloop, evidence: ["..."]}]
unhealthy:
  description: Names of the workloads whose classification is not C(healthy).
  returned: always
  type: list
  elements: str
  sample: [api-gateway]
severity:
  description:
    - The runbook severity this state suggests, with the rule and the reason, judged on the namespace (see O(policy)).
  returned: always
  type: dict
  contains:
    severity:
      description: P0, P1, P2 or P3.
      type: str
    rule:
      description: The deciding signal (all_services_down, major_service_down, service_down, service_degraded), or no_degradation.
      type: str
    reason:
      description: Why, naming the rule.
      type: str
    signals:
      description: Every signal seen (signal, severity, detail, source), most severe first.
      type: list
      elements: dict
    down:
      description: Workloads of the namespace with replicas wanted and none ready.
      type: list
      elements: str
    degraded:
      description: Diagnosed workloads not healthy but still serving, with their classification.
      type: list
      elements: str
    workloads_judged:
      description: Deployments and StatefulSets the severity was judged on (the whole namespace, also with O(service)).
      type: int
  sample: {severity: P1, rule: major_service_down, reason: "P1 major service down: api-gateway has no ready replica",
           signals: [{signal: major_service_down, severity: P1, detail: api-gateway has no ready replica, source: observed}],
           down: [api-gateway], degraded: [], workloads_judged: 8}
summary:
  description: Counts over everything read, including pods not listed in RV(pods).
  returned: always
  type: dict
  sample: {workloads: 8, unhealthy_workloads: 1, pods: 14, pods_ready: 13, pods_reported: 14,
           classifications: {healthy: 7, crashloop: 1}, nodes_not_ready: 0, log_containers: 1}
workloads:
  description: One entry per Deployment and StatefulSet.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Deployment or StatefulSet.
      type: str
    name:
      description: Workload name.
      type: str
    desired:
      description: Replicas asked for.
      type: int
    ready:
      description: Ready replicas.
      type: int
    available:
      description: Available replicas.
      type: int
    updated:
      description: Replicas running the latest template.
      type: int
    rollout:
      description: Rollout state (complete, progressing, stalled, paused), revision, previous_revision, age_seconds, recent.
      type: dict
    classification:
      description: >-
        One of healthy, node_failure, create_failed, crashloop, oom, image_pull, config_error, unschedulable, not_ready,
        resource_exhaustion, unknown. A workload scaled to zero is healthy; pods within their startup allowance are not failing.
      type: str
    hpa:
      description: The HorizontalPodAutoscaler that manages the replicas (name, min, max, current, desired, at_max), or null.
      type: dict
    gitops:
      description: The GitOps controller that owns the workload (manager Argo CD or Flux, and the marker), or null.
      type: dict
    last_remediation:
      description:
        - The newest action M(ai_orchestrator.incident_response.workload_remediation) recorded on the workload (its
          remediation history annotation) - C(at), C(action), C(incident), C(reason), C(age_seconds) - or null.
        - A rollback shortly before is why a recent rollout is not rolled back again.
      type: dict
    config_changes:
      description: >-
        For an unhealthy workload, ConfigMaps and Secrets its pod template reads that changed after its running pods
        started (kind, name, changed_at; names and times only, never values), or that are referenced but missing.
      type: list
      elements: dict
    young_pods:
      description: Affected pods still within their startup allowance (never evicted).
      type: list
      elements: str
    failed_nodes:
      description: Nodes whose failure explains the workload's pods (node_failure).
      type: list
      elements: str
    image_pull_local:
      description: True when the pods that cannot pull their image run an image other pods of the workload do run.
      type: bool
    exhausted_roles:
      description: Roles (main, sidecar, native_sidecar) of the containers at their limit, for resource_exhaustion.
      type: list
      elements: str
    evidence:
      description: The observations that led to the classification.
      type: list
      elements: str
    recommended_action:
      description: What the runbook says to do for this classification.
      type: str
    affected_pods:
      description: Pods that are not healthy.
      type: list
      elements: str
    healthy_pods:
      description: Pods that are healthy.
      type: list
      elements: str
    all_replicas_affected:
      description: True when no pod of the workload is healthy (a persistent fault unless a rollout explains it).
      type: bool
    bad_rollout:
      description: True when a recent rollout's pods fail while a previous revision exists.
      type: bool
  sample:
    - kind: Deployment
      name: api-gateway
      desired: 2
      ready: 1
      available: 1
      updated: 2
      classification: crashloop
      evidence: ["pod api-gateway-7d9c-x2k4 container api-gateway: CrashLoopBackOff, last terminated Error (exit 1), 4 restarts"]
      recommended_action: Delete the crashed pod and let its controller start a new one
      affected_pods: [api-gateway-7d9c-x2k4]
      healthy_pods: [api-gateway-7d9c-m8q2]
      all_replicas_affected: false
      bad_rollout: false
pods:
  description: Pod summaries, unhealthy first, at most O(max_pods).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
    workload:
      description: Owning workload (kind, name), or null.
      type: dict
    phase:
      description: Pod phase.
      type: str
    ready:
      description: Ready condition.
      type: bool
    node:
      description: Node the pod runs on.
      type: str
    age_seconds:
      description: Seconds since the pod was created.
      type: int
    restarts:
      description: Restarts of all its containers.
      type: int
    classification:
      description: The pod's own classification.
      type: str
    uid:
      description: Pod uid (a StatefulSet's replacement pod keeps the name, not the uid).
      type: str
    node_problem:
      description: Why the pod's node is to blame (NotReady, unreachable, stopped reporting), or null.
      type: str
    startup_allowance_seconds:
      description: Seconds the pod may take to become ready before that counts as a fault.
      type: int
    containers:
      description: >-
        Per container, native sidecars included - role (main, sidecar, native_sidecar), image, ready, restart_count,
        state, reason (such as CrashLoopBackOff), last_terminated (reason, exit_code, finished_at, age_seconds),
        requests, limits, usage and, for unhealthy containers, logs (current and previous lines).
      type: list
      elements: dict
    init_containers:
      description: The same for init containers (role init); their failures (Init:CrashLoopBackOff, Init:Error, image pulls) count.
      type: list
      elements: dict
    events:
      description: Warning events of the pod, newest first.
      type: list
      elements: dict
  sample: []
api_server:
  description: URL of the API server that was read; the incident modules use it as the cluster's identity.
  returned: always
  type: str
  sample: https://prod-eu.example:6443
nodes:
  description: Nodes with readiness, pressure conditions, allocatable resources and use.
  returned: always
  type: list
  elements: dict
  sample: [{name: kwok-node-0, ready: true, unschedulable: false, pressure: [], usage_ratio: {cpu: 0.12, memory: 0.3}}]
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError, InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import effective_policy
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import diagnosis
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.classify import usage_threshold_problem
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeClient,
    cluster_argument_spec,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.remediation import check_numbers


def argspec():
    spec = cluster_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        service=dict(type="str", aliases=["workload"]),
        log_lines=dict(type="int", default=100),
        max_log_containers=dict(type="int", default=10),
        max_pods=dict(type="int", default=200),
        max_events=dict(type="int", default=10),
        metrics=dict(type="bool", default=True),
        usage_threshold=dict(type="float", default=0.9),
        recent_rollout_minutes=dict(type="int", default=30),
        min_startup_seconds=dict(type="int", default=30),
        policy=dict(type="dict", default={}),
    )
    return spec


def validate(params):
    """Numbers are checked before the cluster is touched."""
    problem = usage_threshold_problem(params["usage_threshold"])
    if problem:
        raise InvalidInput(problem)
    check_numbers(
        log_lines=(params["log_lines"], 1),
        max_log_containers=(params["max_log_containers"], 0),
        max_pods=(params["max_pods"], 0),
        max_events=(params["max_events"], 0),
        recent_rollout_minutes=(params["recent_rollout_minutes"], 0),
        min_startup_seconds=(params["min_startup_seconds"], 0),
        request_timeout=(params.get("request_timeout"), 1),
    )
    effective_policy(params.get("policy"))


def diagnose(client, params, now=None):
    validate(params)
    raw = diagnosis.fetch(client, params["namespace"], params["service"], params["metrics"])
    report = diagnosis.build_report(
        raw,
        params["namespace"],
        time.time() if now is None else now,
        usage_threshold=params["usage_threshold"],
        recent_rollout_minutes=params["recent_rollout_minutes"],
        max_pods=params["max_pods"],
        max_events=params["max_events"],
        min_startup_seconds=params["min_startup_seconds"],
        policy=params.get("policy"),
    )
    if params["max_log_containers"] > 0:
        diagnosis.collect_logs(client, params["namespace"], report, params["log_lines"], params["max_log_containers"])
    else:
        report["summary"]["log_containers"] = 0
    report["api_requests"] = client.requests
    # The cluster's identity for the incident record: one incident per (cluster, namespace).
    report["api_server"] = client.host
    return report


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        validate(module.params)
        client = KubeClient.from_params(module.params)
        report = diagnose(client, module.params)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
