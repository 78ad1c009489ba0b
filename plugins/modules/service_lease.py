#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_lease
short_description: Hold a per-service Lease so that only one run acts on a service at a time
version_added: 0.2.0
description:
  - Takes, renews or releases the Kubernetes Lease (C(coordination.k8s.io/v1)) C(incident-response-<service>)
    in the service's namespace. A run - an AWX job, an alert-driven run, a person - that means to act on a
    service holds the Lease first; a second run finds it held, learns by whom and for which incident, and
    does not act.
  - With O(state=present) the Lease is created when missing, renewed when O(holder) already holds it, and
    taken over when its holder let it expire (last renewal plus its duration is past). When another holder
    holds it and it has not expired, the module does not fail - it returns RV(acquired=false) and RV(held_by),
    and the caller decides (wait, join the incident, or stop).
  - Every write carries the C(resourceVersion) that was read, so of two runs racing for the Lease exactly one
    wins; the other gets a conflict from the API server, reads again and reports the winner in RV(held_by).
  - With O(state=absent) the Lease is deleted only when O(holder) holds it (the delete is conditional on the
    Lease's uid and resourceVersion). A Lease held by someone else is left as it is, and the result says so.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.cluster
attributes:
  check_mode:
    support: full
    description:
      - Nothing is written; the write that would be made goes to the API server as a server-side dry run.
        RV(acquired) and RV(action) say what would happen.
  diff_mode:
    support: none
    description: Nothing to compare; the result says what was found or done.
options:
  namespace:
    description: Namespace of the service, where the Lease lives. The module fails, before writing anything, when it does not exist.
    type: str
    required: true
  service:
    description:
      - Name of the service (its Deployment or StatefulSet). Must be a DNS-1123 name; the Lease is called
        C(incident-response-<service>).
      - The workload itself is not read; a Lease can be held before the service exists.
    type: str
    required: true
    aliases: [workload]
  holder:
    description:
      - Identity of this run, stored as the Lease's C(holderIdentity), for example C(awx-job-42@node1) or
        C(alice@laptop:4711). Runs that pass the same identity share the Lease (a later step of the same
        job renews it).
    type: str
    required: true
  incident_id:
    description:
      - Incident this run works on, stored in the Lease's C(incident-response.ai-orchestrator.io/incident)
        annotation so that a run that finds the Lease held knows which incident to join.
      - On a renewal without O(incident_id) the stored one is kept; a takeover drops the previous holder's.
    type: str
  state:
    description:
      - C(present) holds the Lease (create, renew or take over), C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  duration_seconds:
    description:
      - How long the Lease is held after each acquisition or renewal (C(leaseDurationSeconds)). A run that
        dies keeps the service blocked at most this long. Renew before it runs out in long runs.
      - At least 30.
    type: int
    default: 900
notes:
  - Expiry is judged on the clock of the machine running the module against the times the holder wrote with
    its own clock; keep control nodes on NTP, and O(duration_seconds) well above any clock skew.
  - A Lease without a holder, without a time or without a duration counts as expired.
seealso:
  - module: ai_orchestrator.incident_response.workload_remediation
  - name: Leases in Kubernetes
    description: What a Lease is and how Kubernetes uses it for leader election.
    link: https://kubernetes.io/docs/concepts/architecture/leases/
"""

EXAMPLES = r"""
- name: Hold the service before acting on it
  ai_orchestrator.incident_response.service_lease:
    namespace: ai-orchestrator
    service: api-gateway
    holder: "awx-job-{{ awx_job_id | default('manual') }}@{{ inventory_hostname }}"
    incident_id: incident-2026-11-26-031500
    duration_seconds: 900
  register: lease

- name: Another run is already on it - join its incident instead of acting
  ansible.builtin.debug:
    msg: >-
      {{ lease.held_by.holder }} is working on {{ lease.held_by.incident_id }};
      the lease expires in {{ lease.held_by.expires_in_seconds }} s
  when: not lease.acquired

- name: Release the service when done
  ai_orchestrator.incident_response.service_lease:
    namespace: ai-orchestrator
    service: api-gateway
    holder: "awx-job-{{ awx_job_id | default('manual') }}@{{ inventory_hostname }}"
    state: absent
"""

RETURN = r"""
acquired:
  description:
    - True when O(holder) holds the Lease after this run (or in check mode would), with O(state=present).
    - False when another holder holds it, and always with O(state=absent).
  returned: always
  type: bool
  sample: false
action:
  description:
    - What was done (in check mode what would be) - C(created), C(renewed), C(taken_over) (the previous
      holder's Lease had expired), C(held) (held by another holder, nothing done), C(released), C(absent)
      (no Lease or nobody holds it, nothing to release), C(not_holder) (held by another holder, not released).
  returned: always
  type: str
  sample: held
lease:
  description: The Lease's name and namespace.
  returned: always
  type: dict
  contains:
    name:
      description: C(incident-response-<service>).
      type: str
    namespace:
      description: The service's namespace.
      type: str
  sample: {name: incident-response-api-gateway, namespace: ai-orchestrator}
held_by:
  description:
    - Who holds the Lease after this run - the other holder when RV(action) is C(held) or C(not_holder),
      O(holder) itself when acquired; null when nobody holds it.
  returned: always
  type: dict
  contains:
    holder:
      description: The holder's identity.
      type: str
    incident_id:
      description: The incident the holder works on; null when it gave none.
      type: str
    acquired_at:
      description: When the holder acquired the Lease (RFC 3339 with microseconds).
      type: str
    renewed_at:
      description: When the holder last renewed it.
      type: str
    expires_at:
      description: When the Lease expires unless renewed.
      type: str
    expires_in_seconds:
      description: Seconds until then (0 once expired).
      type: int
  sample:
    holder: awx-job-42@node1
    incident_id: incident-2026-11-26-031500
    acquired_at: "2026-11-26T03:15:02.113000Z"
    renewed_at: "2026-11-26T03:20:02.541000Z"
    expires_at: "2026-11-26T03:35:02.541000Z"
    expires_in_seconds: 845
msg:
  description: One-line outcome.
  returned: always
  type: str
  sample: >-
    Lease ai-orchestrator/incident-response-api-gateway is held by awx-job-42@node1 (incident incident-2026-11-26-031500),
    845s left: another run is acting on this service; do not act
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError, InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import lease as ls
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeClient,
    cluster_argument_spec,
)


def argspec():
    spec = cluster_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        service=dict(type="str", required=True, aliases=["workload"]),
        holder=dict(type="str", required=True),
        incident_id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        duration_seconds=dict(type="int", default=900),
    )
    return spec


def validate(params):
    """Every input checked before the cluster is touched."""
    ls.lease_name(params["service"])
    ls.check_duration(params["duration_seconds"])
    if not (params["holder"] or "").strip():
        raise InvalidInput("holder must name this run, for example awx-job-42@node1")
    if params.get("request_timeout") is not None and params["request_timeout"] < 1:
        raise InvalidInput("request_timeout must be at least 1, not %s" % params["request_timeout"])


def run(client, params, clock=None):
    """Acquire or release the Lease; returns the module result (without exiting)."""
    validate(params)
    leases = ls.Leases(client, params["namespace"], **({"clock": clock} if clock else {}))
    if params["state"] == "absent":
        return leases.release(params["service"], params["holder"])
    return leases.acquire(params["service"], params["holder"], params["incident_id"], params["duration_seconds"])


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        validate(module.params)
        client = KubeClient.from_params(module.params, dry_run=module.check_mode)
        result = run(client, module.params)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
