# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which incident a run records into: one incident per outage of a (cluster, namespace).

The record store is a directory (record.py): the local folder on the command line,
a shared volume mounted at the same path in every job container under AWX. Finding
the incident to continue and opening a new one happen under one store-wide flock,
so two runs that start together agree on one incident. The new id is created with
an exclusive mkdir (the runbook's ``incident-YYYY-MM-DD-HHMMSS``; the next free
second when that one is taken), so two runs in one second never share an id even
where flock is not honoured.

Order of the search (``find_incident``):
1. the incident an alert with the same de-duplication key already opened (a re-fired
   alert continues its incident, resolved or not: the firing is the same outage);
2. the open (not resolved) incident of the same cluster and namespace.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import to_utc, utc_now
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    RECORD_FILE,
    load_incident,
    new_incident_id,
    validate_incident_id,
)

STORE_LOCK = ".store.lock"
# How far ahead a new id may move when its second is taken.
MAX_ID_PROBES = 300
# How far an alert's start may lie from its incident's opening: alerts of one outage fire
# minutes apart and the run opens the incident after the first one fired.
ALERT_LEAD = datetime.timedelta(hours=1)


def store_root(incident_dir):
    if not incident_dir:
        raise IncidentError("incident_dir must be a directory path, got %r" % (incident_dir,))
    return os.path.abspath(os.path.expanduser(incident_dir))


@contextlib.contextmanager
def store_lock(incident_dir, create=True):
    """Exclusive flock for find-or-open; yields the store's absolute path.

    Without ``create`` (check mode) nothing is written, not even the lock file: a
    plan needs no lock, since it opens nothing.
    """
    root = store_root(incident_dir)
    if not create:
        yield root
        return
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(root, STORE_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise IncidentError("cannot use the incident store %s: %s" % (root, exc))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield root
    finally:
        os.close(fd)


def incident_ids(incident_dir):
    """Ids of the incidents in the store, newest first."""
    root = store_root(incident_dir)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise IncidentError("cannot list the incident store %s: %s" % (root, exc))
    ids = []
    for name in names:
        try:
            validate_incident_id(name)
        except IncidentError:
            continue
        ids.append(name)
    return sorted(ids, reverse=True)


def records(incident_dir):
    """Every readable record, newest first; a directory without a record is skipped."""
    for incident_id in incident_ids(incident_dir):
        if not os.path.exists(os.path.join(store_root(incident_dir), incident_id, RECORD_FILE)):
            continue
        record = load_incident(incident_dir, incident_id)
        if record is not None:
            yield record


def alert_keys(record):
    keys = [alert.get("key") for alert in record.get("alerts") or [] if isinstance(alert, dict)]
    first = record.get("alert") or {}
    if first.get("key"):
        keys.append(first["key"])
    return set(k for k in keys if k)


def same_scope(record, cluster, namespace):
    return record.get("namespace") == namespace and (record.get("cluster") or None) == (cluster or None)


def _covers(record, moment):
    """Whether the incident was the scope's outage at ``moment`` (an alert's start): opened
    before it or at most ALERT_LEAD after it (the run starts after the alert fires), and not
    resolved before it."""
    try:
        opened = to_utc(record.get("opened_at"))
        resolved = to_utc(record["resolved_at"]) if record.get("resolved_at") else None
    except (IncidentError, TypeError, ValueError):
        return False
    return opened <= moment + ALERT_LEAD and (resolved is None or resolved >= moment)


def find_incident(incident_dir, cluster=None, namespace=None, alert_key=None, during=None):
    """The incident a run should continue, and why: ``(record, 'alert'|'scope'|'time')`` or ``(None, None)``.

    ``during`` (a resolved alert's start) also finds the scope's incident, resolved or not, that
    was the outage when the alert fired: an alert of the storm that never started a run of its own.
    """
    open_in_scope = at_the_time = None
    moment = to_utc(during) if during else None
    for record in records(incident_dir):
        if alert_key and alert_key in alert_keys(record):
            return record, "alert"
        if not namespace or not same_scope(record, cluster, namespace):
            continue
        if open_in_scope is None and record.get("status") != "resolved":
            open_in_scope = record
            if not alert_key:
                break
        if at_the_time is None and moment is not None and _covers(record, moment):
            at_the_time = record
    if open_in_scope:
        return open_in_scope, "scope"
    return (at_the_time, "time") if at_the_time else (None, None)


def allocate_id(incident_dir, now=None, check_mode=False):
    """A new id of ``now`` (or the next free second), created exclusively with mkdir.

    In check mode the first free id is returned and nothing is created.
    """
    now = now if now is not None else utc_now()
    root = store_root(incident_dir)
    for offset in range(MAX_ID_PROBES):
        candidate = new_incident_id(now + datetime.timedelta(seconds=offset))
        path = os.path.join(root, candidate)
        if check_mode:
            if not os.path.exists(path):
                return candidate
            continue
        try:
            os.mkdir(path, 0o700)
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise IncidentError("cannot create %s: %s" % (path, exc))
    raise IncidentError("no free incident id within %d seconds of %s" % (MAX_ID_PROBES, new_incident_id(now)))


def open_or_join(incident_dir, cluster=None, namespace=None, alert_key=None, join=True, now=None, check_mode=False):
    """Pick the incident of this run under the store lock: ``{incident_id, joined, joined_by}``.

    The caller writes the record (record.apply_update) while still holding the lock,
    so the next run's search finds it: use as ``with store_lock(dir): open_or_join(...)``.
    """
    if join:
        record, why = find_incident(incident_dir, cluster, namespace, alert_key)
        if record is not None:
            return {"incident_id": record["id"], "joined": True, "joined_by": why}
    return {"incident_id": allocate_id(incident_dir, now, check_mode), "joined": False, "joined_by": None}
