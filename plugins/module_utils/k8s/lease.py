# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One actor at a time: a per-service Lease (coordination.k8s.io/v1).

A run (an AWX job, an alert-driven run, a person at a terminal) that means to act on a
service first holds the Lease ``incident-response-<service>`` in the service's
namespace. A second run finds it held, learns by whom and for which incident, and does
not act. The Lease expires ``leaseDurationSeconds`` after its last renewal, so a run
that died does not block the service for ever; the next run takes it over.

Every write carries the ``resourceVersion`` that was read (a create carries none and
fails with AlreadyExists), so two runs racing for the same Lease cannot both win: the
loser gets 409 Conflict, reads again and reports the winner.

The decisions (``decide``, ``holder_info``) are pure functions of the Lease and a
time, tested without a cluster; ``acquire`` and ``release`` do the reads and writes.
"""

from __future__ import annotations

import datetime
import math
import re
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    InvalidInput,
    NotFound,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import workloads as wl

NAME_PREFIX = "incident-response-"
INCIDENT_ANNOTATION = "incident-response.ai-orchestrator.io/incident"
SERVICE_LABEL = "incident-response.ai-orchestrator.io/service"
MANAGED_BY = ("app.kubernetes.io/managed-by", "ai_orchestrator.incident_response")
MIN_DURATION = 30
# Lease writes retried after a 409 Conflict before giving up (each retry reads again).
CONFLICT_TRIES = 5
MAX_NAME = 253
# A DNS-1123 subdomain: what Kubernetes accepts as the name of a Deployment or a Lease.
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# What a run did, or in check mode would do.
CREATE, RENEW, TAKE_OVER, HELD = "created", "renewed", "taken_over", "held"
RELEASED, ABSENT, NOT_HOLDER = "released", "absent", "not_holder"


# --- names, paths and times ----------------------------------------------------


def lease_name(service):
    """``incident-response-<service>``; the service must be a DNS-1123 name short enough for the prefix."""
    if not service or not DNS1123_SUBDOMAIN.match(service):
        raise InvalidInput(
            "service %r is not a DNS-1123 name (lower-case letters, digits, '-' and '.', starting and ending "
            "with a letter or digit), so it cannot name a Deployment or a Lease" % (service,)
        )
    name = NAME_PREFIX + service
    if len(name) > MAX_NAME:
        raise InvalidInput("service name is %d characters; the Lease %s... would be longer than %d"
                           % (len(service), name[:40], MAX_NAME))
    return name


def lease_path(namespace, name=None):
    return wl.api_path("Lease", namespace, name)


def micro_time(seconds):
    """Epoch seconds as a Kubernetes MicroTime (RFC 3339 with microseconds, ``Z``)."""
    return format_time(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc), timespec="microseconds")


def micro_epoch(value):
    """Epoch seconds of a MicroTime (or a Time); None when unset or unreadable."""
    if not value:
        return None
    try:
        return to_utc(value).timestamp()
    except InvalidInput:
        return None


def check_duration(seconds):
    if seconds is None or seconds < MIN_DURATION:
        raise InvalidInput("duration_seconds must be at least %d, not %s" % (MIN_DURATION, seconds))


# --- decisions (pure) ----------------------------------------------------------


def _spec(lease):
    return (lease or {}).get("spec") or {}


def holder(lease):
    return _spec(lease).get("holderIdentity") or None


def expires(lease):
    """Epoch seconds at which the Lease expires: last renewal (or acquisition) plus its duration.

    None when it carries no time or no duration: such a Lease cannot be judged held, and
    counts as expired rather than blocking the service for ever.
    """
    spec = _spec(lease)
    since = micro_epoch(spec.get("renewTime")) or micro_epoch(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    if since is None or not duration:
        return None
    return since + duration


def expired(lease, now):
    until = expires(lease)
    return until is None or until <= now


def holder_info(lease, now):
    """Who holds the Lease and until when, as the module returns it (``held_by``); None when nobody does."""
    if not holder(lease):
        return None
    spec = _spec(lease)
    until = expires(lease)
    return {
        "holder": holder(lease),
        "incident_id": ((lease.get("metadata") or {}).get("annotations") or {}).get(INCIDENT_ANNOTATION),
        "acquired_at": spec.get("acquireTime"),
        "renewed_at": spec.get("renewTime"),
        "expires_at": micro_time(until) if until is not None else None,
        "expires_in_seconds": max(0, int(math.ceil(until - now))) if until is not None else 0,
    }


def decide(lease, me, now):
    """What ``state=present`` does with this Lease (None when there is none): create, renew, take over, or leave it held."""
    if lease is None:
        return CREATE
    current = holder(lease)
    if current == me:
        return RENEW
    if current is None or expired(lease, now):
        return TAKE_OVER
    return HELD


def decide_release(lease, me):
    """What ``state=absent`` does: release our own Lease, or nothing (missing, free, or someone else's)."""
    if lease is None or holder(lease) is None:
        return ABSENT
    return RELEASED if holder(lease) == me else NOT_HOLDER


def new_lease(namespace, service, me, incident_id, duration, now):
    """The Lease a first run creates."""
    meta = {
        "name": lease_name(service),
        "namespace": namespace,
        "labels": {MANAGED_BY[0]: MANAGED_BY[1], SERVICE_LABEL: service},
    }
    if incident_id:
        meta["annotations"] = {INCIDENT_ANNOTATION: incident_id}
    stamp = micro_time(now)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {"holderIdentity": me, "leaseDurationSeconds": duration, "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0},
    }


def updated_lease(lease, decision, me, incident_id, duration, now):
    """The Lease as a renewal or a takeover writes it; it keeps the resourceVersion read (the precondition)."""
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": dict(lease["metadata"]), "spec": dict(_spec(lease))}
    annotations = dict(body["metadata"].get("annotations") or {})
    stamp = micro_time(now)
    body["spec"].update(holderIdentity=me, leaseDurationSeconds=duration, renewTime=stamp)
    if decision == TAKE_OVER:
        body["spec"]["acquireTime"] = stamp
        body["spec"]["leaseTransitions"] = (body["spec"].get("leaseTransitions") or 0) + 1
        # The incident belonged to the previous holder.
        annotations.pop(INCIDENT_ANNOTATION, None)
    if incident_id:
        annotations[INCIDENT_ANNOTATION] = incident_id
    body["metadata"]["annotations"] = annotations
    for generated in ("managedFields", "creationTimestamp", "generation"):
        body["metadata"].pop(generated, None)
    return body


# --- reads and writes -----------------------------------------------------------


class Leases(object):
    """The incident-response Leases of one namespace, read and written through one client."""

    def __init__(self, client, namespace, clock=time):
        self.client = client
        self.namespace = namespace
        self.clock = clock
        self.dry_run = client.dry_run

    def read(self, name):
        """The Lease, or None; a missing namespace fails here, before anything is written."""
        try:
            return self.client.get(lease_path(self.namespace, name))
        except NotFound:
            wl.ensure_namespace(self.client, self.namespace)
            return None

    def acquire(self, service, me, incident_id=None, duration=900):
        check_duration(duration)
        name = lease_name(service)
        for _attempt in range(CONFLICT_TRIES):
            lease = self.read(name)
            now = self.clock.time()
            decision = decide(lease, me, now)
            if decision == HELD:
                return self._result(name, decision, lease, now)
            try:
                if decision == CREATE:
                    body = new_lease(self.namespace, service, me, incident_id, duration, now)
                    written = self.client.post(lease_path(self.namespace), body)
                else:
                    # A PUT with the resourceVersion read: 409 Conflict when the Lease changed since.
                    body = updated_lease(lease, decision, me, incident_id, duration, now)
                    written = self.client.request("PUT", lease_path(self.namespace, name), body=body)
            except ClusterError as exc:
                if exc.status == 409:
                    continue  # another run wrote first (AlreadyExists or Conflict): read again
                raise
            return self._result(name, decision, written or body, now)
        raise ClusterError("Lease %s/%s changed under this run %d times in a row; try again"
                           % (self.namespace, name, CONFLICT_TRIES), status=409)

    def release(self, service, me):
        name = lease_name(service)
        for _attempt in range(CONFLICT_TRIES):
            lease = self.read(name)
            now = self.clock.time()
            decision = decide_release(lease, me)
            if decision != RELEASED:
                return self._result(name, decision, lease, now)
            meta = lease["metadata"]
            options = {"apiVersion": "v1", "kind": "DeleteOptions",
                       "preconditions": {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}}
            if self.dry_run:
                # The API server reads a DELETE's options from its body when it has one and then
                # ignores the dryRun query parameter the client adds: say it in the body too.
                options["dryRun"] = ["All"]
            try:
                self.client.request("DELETE", lease_path(self.namespace, name), body=options)
            except NotFound:
                return self._result(name, ABSENT, None, now)
            except ClusterError as exc:
                if exc.status == 409:
                    continue  # renewed or taken over meanwhile: read again
                raise
            return self._result(name, RELEASED, lease, now)
        raise ClusterError("Lease %s/%s changed under this run %d times in a row; try again"
                           % (self.namespace, name, CONFLICT_TRIES), status=409)

    def _result(self, name, action, lease, now):
        acquired = action in (CREATE, RENEW, TAKE_OVER)
        changed = acquired or action == RELEASED
        held_by = None if action in (RELEASED, ABSENT) else holder_info(lease, now)
        return {
            "changed": changed,
            "acquired": acquired,
            "action": action,
            "lease": {"name": name, "namespace": self.namespace},
            "held_by": held_by,
            "msg": message(self.namespace, name, action, held_by, self.dry_run),
        }


def message(namespace, name, action, held_by, dry_run=False):
    where = "Lease %s/%s" % (namespace, name)
    other = ""
    if held_by:
        other = "%s%s, %ds left" % (
            held_by["holder"],
            " (incident %s)" % held_by["incident_id"] if held_by.get("incident_id") else "",
            held_by["expires_in_seconds"],
        )
    text = {
        CREATE: "acquired %s (created)",
        RENEW: "renewed %s",
        TAKE_OVER: "took over %s (the previous holder's lease had expired)",
        HELD: "%s is held by " + other + ": another run is acting on this service; do not act",
        RELEASED: "released %s",
        ABSENT: "%s is not held: nothing to release",
        NOT_HOLDER: "%s is held by " + other + ", not by this run: left as it is",
    }[action] % where
    if dry_run and action in (CREATE, RENEW, TAKE_OVER, RELEASED):
        text = "check mode, nothing written: would have " + text
    return text
