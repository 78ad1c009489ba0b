# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The alert that started a run, checked as untrusted input.

An alert arrives from Alertmanager's webhook (through Event-Driven Ansible or AWX)
or from a person's ``-e``. Either way it is data from outside: names, labels and
times are checked against Prometheus' own rules and bounded in size before any of
it reaches a record, a file name or a Kubernetes request.

The de-duplication key says which firing of which alert this is: Alertmanager's
fingerprint (a hash of the labels) plus ``startsAt`` (which stays the same while
the alert keeps firing and re-firing). A re-fired alert therefore has the key of
the incident it opened, and a new firing after a resolution has a new key.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time

# Prometheus' data model: metric/alert names and label names.
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*\Z")
_FINGERPRINT = re.compile(r"^[0-9a-fA-F]{1,64}\Z")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})\Z"
)

MAX_NAME = 200
MAX_LABELS = 64
MAX_LABEL_VALUE = 1024
MAX_ANNOTATION = 4096
ALERT_KEYS = ("name", "labels", "annotations", "fingerprint", "startsAt", "endsAt", "status", "generatorURL")

# Labels that name where the alert is about, in the order they are trusted.
SERVICE_LABELS = ("service", "deployment", "statefulset", "workload")


def _string_map(value, what, key_re, max_value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("alert.%s must be a mapping of names to strings, not %s" % (what, type(value).__name__))
    if len(value) > MAX_LABELS:
        raise InvalidInput("alert.%s has %d entries; at most %d are accepted" % (what, len(value), MAX_LABELS))
    clean = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key_re.match(key) or len(key) > MAX_NAME:
            raise InvalidInput("alert.%s: %r is not a valid name (letters, digits and '_')" % (what, key))
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise InvalidInput("alert.%s.%s must be a string, not %s" % (what, key, type(item).__name__))
        text = str(item)
        if len(text) > max_value:
            raise InvalidInput("alert.%s.%s is longer than %d characters" % (what, key, max_value))
        if "\x00" in text:
            raise InvalidInput("alert.%s.%s contains a NUL byte" % (what, key))
        clean[key] = text
    return clean


def parse_time(value, what):
    """An RFC 3339 time as Alertmanager sends it (nanoseconds allowed), as canonical UTC text."""
    if not isinstance(value, str) or not _RFC3339.match(value.strip()):
        raise InvalidInput("alert.%s %r is not an RFC 3339 time such as 2026-11-27T03:15:00Z" % (what, value))
    text = value.strip()
    match = _RFC3339.match(text)
    fraction = (match.group(7) or "")[:7]  # microseconds at most
    zone = match.group(8).upper()
    zone = "+00:00" if zone == "Z" else zone
    try:
        moment = datetime.datetime.fromisoformat("%s-%s-%sT%s:%s:%s%s%s" % (match.group(1, 2, 3, 4, 5, 6) + (fraction, zone)))
    except ValueError as exc:
        raise InvalidInput("alert.%s %r is not a real time: %s" % (what, value, exc))
    return format_time(moment)


def alert_key(alert):
    """The de-duplication key of a validated alert: fingerprint@startsAt.

    Without a fingerprint (a person's -e), a hash of the name and labels stands in,
    the way Alertmanager computes its own from the labels.
    """
    fingerprint = alert.get("fingerprint")
    if not fingerprint:
        labels = dict(alert.get("labels") or {})
        labels.setdefault("alertname", alert.get("name") or "")
        fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return "%s@%s" % (fingerprint.lower(), alert.get("starts_at") or "")


def validate_alert(value):
    """The normalized alert, or None for no alert (None or an empty mapping).

    Returns name, labels, annotations, fingerprint, starts_at, status, key and, for a
    resolved alert, ends_at. Anything
    unexpected raises InvalidInput that names the field.
    """
    if value is None or value == {} or value == "":
        return None
    if not isinstance(value, dict):
        raise InvalidInput("alert must be a mapping with name, labels, fingerprint and startsAt, not %s" % type(value).__name__)
    unknown = sorted(set(value) - set(ALERT_KEYS) - {"starts_at", "ends_at", "key"})
    if unknown:
        raise InvalidInput("alert has unknown field(s) %s: expected %s" % (", ".join(map(str, unknown)), ", ".join(ALERT_KEYS)))
    labels = _string_map(value.get("labels"), "labels", _LABEL_NAME, MAX_LABEL_VALUE)
    annotations = _string_map(value.get("annotations"), "annotations", _LABEL_NAME, MAX_ANNOTATION)
    name = value.get("name") or labels.get("alertname")
    if not isinstance(name, str) or not name:
        raise InvalidInput("alert needs a name (or an alertname label)")
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise InvalidInput("alert name %r is not a Prometheus alert name (letters, digits, '_' and ':')" % name)
    fingerprint = value.get("fingerprint") or None
    if fingerprint is not None and (not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint)):
        raise InvalidInput("alert.fingerprint %r is not a hexadecimal fingerprint" % (fingerprint,))
    starts = value.get("startsAt", value.get("starts_at"))
    status = value.get("status") or "firing"
    if status not in ("firing", "resolved"):
        raise InvalidInput("alert.status %r: expected firing or resolved" % (status,))
    ends = value.get("endsAt", value.get("ends_at"))
    alert = {
        "name": name,
        "labels": labels,
        "fingerprint": fingerprint.lower() if fingerprint else None,
        "starts_at": parse_time(starts, "startsAt") if starts not in (None, "") else None,
        "status": status,
        # A firing alert's endsAt is only Alertmanager's time-out guess; a resolved one's is when it ended.
        "ends_at": parse_time(ends, "endsAt") if status == "resolved" and ends not in (None, "") else None,
    }
    if annotations:
        alert["annotations"] = annotations
    alert["key"] = alert_key(alert)
    return dict((k, v) for k, v in alert.items() if v is not None)


def alert_scope(alert):
    """(namespace, service) the alert's labels name; '' for what they do not say."""
    if not alert:
        return "", ""
    labels = alert.get("labels") or {}
    service = next((labels[name] for name in SERVICE_LABELS if labels.get(name)), "")
    return labels.get("namespace", ""), service
