# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Incident records on disk: ``<incident_dir>/<incident_id>/``.

``incident.json``  the record, replaced atomically (temp file + rename).
``timeline.jsonl`` one JSON object per line, appended under an exclusive flock
                   with one write() per line, so forks (one per inventory host), the
                   modules and the timeline callback can append at the same time.
``artifacts/``     collected files.

Timeline lines are in append order. Concurrent writers stamp their events before they
get the lock, so neighbouring lines can be a few milliseconds out of time order;
read_timeline(path, sort=True) returns them in time order (stable).

Functions here do not know about AnsibleModule: they take plain values, return
plain values and raise IncidentError with a message that says what to fix.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import fcntl
import hashlib
import json
import os
import re
import socket
import stat
import tempfile

from ansible.module_utils.common.parameters import env_fallback

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentError, InvalidInput, SeverityError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.alert import validate_alert
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import (
    format_time,
    to_utc,
    utc_now,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.severity import rank, validate_severity

# Where records live when nobody says otherwise: per user, survives reboots.
DEFAULT_INCIDENT_DIR = "~/.local/share/ai-orchestrator/incidents"
# ...unless the environment names the shared store (docs/shared-state.md).
INCIDENT_DIR_ENV = "AI_ORCHESTRATOR_INCIDENT_DIR"

RECORD_FILE = "incident.json"
TIMELINE_FILE = "timeline.jsonl"
ARTIFACTS_DIR = "artifacts"
LOCK_FILE = ".incident.lock"

ID_PREFIX = "incident-"
ID_FORMAT = "incident-%Y-%m-%d-%H%M%S"
_ID_RE = re.compile(r"^incident-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}\Z")

STATUSES = ("open", "investigating", "identified", "mitigated", "escalated", "resolved")

# Milestones an operator or playbook records with incident_event; they follow the
# post-mortem template's timeline (alert, investigation, root cause, fix, restored).
EVENT_TYPES = (
    "alert",
    "investigation_started",
    "diagnosis",
    "root_cause_identified",
    "action_planned",
    "fix_implemented",
    "verification",
    "service_restored",
    "escalated",
    "communication",
    "note",
)

# Events the modules write themselves when the record changes.
RECORD_EVENT_TYPES = (
    "incident_opened",
    "severity_changed",
    "status_changed",
    "record_updated",
    "incident_resolved",
    "incident_reopened",
    "artifact_saved",
    "alert_joined",
    "alert_resolved",
    "service_status",
)

# Where each affected service stands inside the incident (one incident per namespace).
#   down       found down; a run is working on it
#   restored   healthy again
#   escalated  automation could not fix it; people are working on it
SERVICE_STATUSES = ("down", "restored", "escalated")

# Record fields an update may set; everything else is managed here.
UPDATABLE_FIELDS = (
    "title",
    "severity",
    "status",
    "alert",
    "impact",
    "namespace",
    "service",
    "root_cause",
    "resolution",
    "cluster",
    "services",
)

MAX_ARTIFACT_NAME = 255


# ---------------------------------------------------------------- ids


def new_incident_id(now=None):
    """``incident-YYYY-MM-DD-HHMMSS`` of ``now`` (default: the current time) in UTC."""
    return to_utc(now if now is not None else utc_now()).strftime(ID_FORMAT)


def validate_incident_id(value):
    """Return the id unchanged, or raise: it becomes a directory name, so nothing else passes."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise IncidentError(
            "invalid incident id %r: expected incident-YYYY-MM-DD-HHMMSS (UTC), "
            "for example incident-2026-05-09-073525" % (value,)
        )
    try:
        datetime.datetime.strptime(value, ID_FORMAT)
    except ValueError:
        raise IncidentError("invalid incident id %r: not a real date and time" % value)
    return value


def incident_channel(incident_id):
    """The runbook's incident channel: ``#incident-YYYY-MM-DD-HHMMSS``."""
    return "#" + validate_incident_id(incident_id)


def incident_opened_at(incident_id):
    """The opening time encoded in an id, as an aware UTC datetime."""
    moment = datetime.datetime.strptime(validate_incident_id(incident_id), ID_FORMAT)
    return moment.replace(tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------- paths


def incident_paths(incident_dir, incident_id):
    """Paths of one incident; validates the id so no path leaves ``incident_dir``."""
    if not incident_dir:
        raise IncidentError("incident_dir must be a directory path, got %r" % (incident_dir,))
    base = os.path.join(os.path.abspath(os.path.expanduser(incident_dir)), validate_incident_id(incident_id))
    return {
        "dir": base,
        "record": os.path.join(base, RECORD_FILE),
        "timeline": os.path.join(base, TIMELINE_FILE),
        "artifacts": os.path.join(base, ARTIFACTS_DIR),
        "lock": os.path.join(base, LOCK_FILE),
    }


def artifact_relpath(name):
    """Validate an artifact name: a relative path of plain components, no ``..``."""
    if not isinstance(name, str) or not name.strip():
        raise IncidentError("artifact name must be a non-empty relative file name")
    if len(name) > MAX_ARTIFACT_NAME:
        raise IncidentError("artifact name is longer than %d characters" % MAX_ARTIFACT_NAME)
    if "\x00" in name or "\\" in name:
        raise IncidentError("artifact name %r contains a NUL byte or a backslash" % name)
    if name.startswith("/") or os.path.isabs(name):
        raise IncidentError("artifact name %r must be relative to the incident's artifacts/ directory" % name)
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise IncidentError(
                "artifact name %r may not contain empty, '.' or '..' components" % name
            )
    return "/".join(parts)


def artifact_path(artifacts_dir, name):
    """Absolute path of an artifact that is guaranteed to stay inside ``artifacts_dir``."""
    relative = artifact_relpath(name)
    root = os.path.realpath(artifacts_dir)
    target = os.path.realpath(os.path.join(root, relative))
    # realpath also resolves symlinks planted inside artifacts/.
    if os.path.commonpath([root, target]) != root or target == root:
        raise IncidentError("artifact name %r resolves outside %s" % (name, artifacts_dir))
    return target


# ---------------------------------------------------------------- files


# Records hold logs and command output: readable by their owner only, whatever the
# umask. Records of older versions (0755/0644) are tightened when next written.
DIR_MODE = 0o700
FILE_MODE = 0o600


def _set_mode(path, mode, fd=None):
    """chmod ``path`` (or ``fd``) to ``mode`` unless it already is; symlinks are not followed.

    A file of another user, or one that vanished meanwhile, is left as it is.
    """
    try:
        current = os.fstat(fd) if fd is not None else os.lstat(path)
        if stat.S_ISLNK(current.st_mode) or stat.S_IMODE(current.st_mode) == mode:
            return
        if fd is not None:
            os.fchmod(fd, mode)
        else:
            os.chmod(path, mode)
    except OSError:
        pass


def make_private_dir(path):
    """Create ``path`` and its missing parents with mode 0700 and set ``path`` itself to 0700.

    os.makedirs() gives intermediate directories 0777 minus the umask; here every level
    this creates is owner-only. Parents that already exist are not changed.
    """
    missing = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
        _set_mode(directory, DIR_MODE)
    _set_mode(path, DIR_MODE)


def tighten_incident(base):
    """Make an incident written by an older version owner-only: directories 0700, files 0600.

    Cheap for a current record (two stats); walks the tree only when the incident
    directory or its incident.json is looser. Symlinks are neither followed nor changed.
    """
    try:
        top = os.lstat(base)
    except OSError:
        return
    if not stat.S_ISDIR(top.st_mode):
        return
    try:
        record_mode = stat.S_IMODE(os.lstat(os.path.join(base, RECORD_FILE)).st_mode)
    except OSError:
        record_mode = FILE_MODE
    if stat.S_IMODE(top.st_mode) == DIR_MODE and record_mode == FILE_MODE:
        return
    # Bottom-up, the incident directory last: an interrupted pass is redone next time.
    for root, dirs, files in os.walk(base, topdown=False):
        for name in files:
            _set_mode(os.path.join(root, name), FILE_MODE)
        for name in dirs:
            _set_mode(os.path.join(root, name), DIR_MODE)
    _set_mode(base, DIR_MODE)


@contextlib.contextmanager
def locked(lock_path):
    """Exclusive flock on ``lock_path`` for a read-modify-write of the record."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        _set_mode(lock_path, FILE_MODE, fd=fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def atomic_write(path, data, mode=FILE_MODE):
    """Write bytes to ``path`` through a temp file in the same directory and a rename."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def dump_record(record):
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def load_incident(incident_dir, incident_id):
    """The record as a dict, or None when the incident does not exist."""
    path = incident_paths(incident_dir, incident_id)["record"]
    try:
        with open(path, "rb") as handle:
            record = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IncidentError("cannot read incident record %s: %s" % (path, exc))
    if not isinstance(record, dict) or record.get("id") != incident_id:
        raise IncidentError("%s is not the record of %s" % (path, incident_id))
    return record


def save_incident(incident_dir, record):
    """Create the incident's directories if needed and replace incident.json atomically."""
    paths = incident_paths(incident_dir, record.get("id"))
    ensure_dirs(paths)
    atomic_write(paths["record"], dump_record(record))
    return paths["record"]


def ensure_dirs(paths):
    """The incident's directory and artifacts/, owner-only; an older record is tightened."""
    tighten_incident(paths["dir"])
    try:
        make_private_dir(paths["dir"])
        make_private_dir(paths["artifacts"])
    except OSError as exc:
        raise IncidentError("cannot create %s: %s" % (paths["artifacts"], exc))


def encode_event(event):
    """One line of timeline.jsonl; non-JSON values (datetimes, sets) are stringified."""
    line = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return (line + "\n").encode("utf-8")


@contextlib.contextmanager
def _locked_timeline(timeline_path):
    """An O_APPEND descriptor of timeline.jsonl holding its exclusive flock.

    merge_events() may replace the file by a rename; a writer that opened the old
    file and waited for its lock sees a different inode and opens the new one.
    """
    tighten_incident(os.path.dirname(timeline_path))
    while True:
        try:
            fd = os.open(timeline_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise IncidentError("cannot open timeline %s: %s" % (timeline_path, exc))
        try:
            _set_mode(timeline_path, FILE_MODE, fd=fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(timeline_path)
            except FileNotFoundError:
                current = None
            if current is not None and current.st_ino == os.fstat(fd).st_ino:
                yield fd
                return
        finally:
            os.close(fd)


def _write_lines(fd, timeline_path, lines):
    for line in lines:
        written = os.write(fd, line)
        if written != len(line):
            # Regular files do not return short writes short of a full disk.
            raise IncidentError("short write to %s (%d of %d bytes)" % (timeline_path, written, len(line)))


def append_events(timeline_path, events):
    """Append events to timeline.jsonl: one lock for the batch, one write() per line.

    O_APPEND puts every write at the current end of file and the flock keeps
    concurrent writers (forks, the callback) from interleaving partial lines.
    """
    lines = [encode_event(event) for event in events]
    if not lines:
        return 0
    try:
        with _locked_timeline(timeline_path) as fd:
            _write_lines(fd, timeline_path, lines)
    except OSError as exc:
        raise IncidentError("cannot append to timeline %s: %s" % (timeline_path, exc))
    return len(lines)


def merge_events(timeline_path, events):
    """Add events that may be older than the timeline's last line, keeping time order.

    The timeline callback buffers the tasks that ran before the incident was opened;
    they belong before the incident_opened event. When every new event is at or
    after the last line this is a plain append; otherwise the file is rewritten in
    time order (stable; on equal times the new events come first) and renamed into place.
    """
    if not events:
        return 0
    try:
        with _locked_timeline(timeline_path) as fd:
            with open(timeline_path, "rb") as handle:
                raw = handle.read()
            existing = [line + b"\n" for line in raw.split(b"\n") if line.strip()]
            new_lines = [encode_event(event) for event in events]
            last_time = _line_time(existing[-1]) if existing else ""
            if all(event.get("time", "") >= last_time for event in events):
                _write_lines(fd, timeline_path, new_lines)
            else:
                # New lines first: on equal times the buffered (older) events lead.
                merged = sorted(new_lines + existing, key=_line_time)
                atomic_write(timeline_path, b"".join(merged))
    except OSError as exc:
        raise IncidentError("cannot add to timeline %s: %s" % (timeline_path, exc))
    return len(events)


def _line_time(line):
    try:
        return json.loads(line).get("time") or ""
    except (ValueError, AttributeError):
        return ""


def append_event(timeline_path, event):
    append_events(timeline_path, [event])
    return event


def read_timeline(timeline_path, sort=False):
    """All events of a timeline (an empty list when there is none yet), optionally by time."""
    try:
        with open(timeline_path, "rb") as handle:
            raw = handle.read().decode("utf-8")
    except FileNotFoundError:
        return []
    events = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except ValueError as exc:
            raise IncidentError("%s line %d is not JSON: %s" % (timeline_path, number, exc))
    if sort:
        events.sort(key=lambda event: event.get("time") or "")
    return events


# ---------------------------------------------------------------- records and events


def control_node():
    return socket.gethostname()


def make_event(event_type, message, data=None, now=None, host=None, source="module", **extra):
    """A timeline event: time, type, message, data, source, host (+ extra fields)."""
    event = {
        "time": format_time(now if now is not None else utc_now(), timespec="milliseconds"),
        "type": event_type,
        "message": message,
        "data": copy.deepcopy(data) if data is not None else {},
        "source": source,
        "host": host if host else control_node(),
    }
    event.update(extra)
    return event


def validate_event_type(value):
    if value not in EVENT_TYPES:
        raise IncidentError("invalid event type %r: expected one of %s" % (value, ", ".join(EVENT_TYPES)))
    return value


def validate_status(value):
    if value not in STATUSES:
        raise IncidentError("invalid status %r: expected one of %s" % (value, ", ".join(STATUSES)))
    return value


def normalize_alert(alert):
    """The checked alert (alert.validate_alert: name, labels, fingerprint, starts_at, key), or None."""
    try:
        return validate_alert(alert)
    except InvalidInput as exc:
        raise IncidentError(str(exc))


def normalize_services(services):
    """``{name: {status, ...}}`` with a known status per service; other keys are kept as given."""
    if not isinstance(services, dict):
        raise IncidentError("services must be a mapping of service name to {status, reason, ...}, got %r" % (services,))
    clean = {}
    for name, entry in services.items():
        if not isinstance(name, str) or not name:
            raise IncidentError("service names must be non-empty strings, got %r" % (name,))
        if isinstance(entry, str):
            entry = {"status": entry}
        if not isinstance(entry, dict) or entry.get("status") not in SERVICE_STATUSES:
            raise IncidentError(
                "service %s: status must be one of %s, got %r" % (name, ", ".join(SERVICE_STATUSES), entry)
            )
        clean[name] = dict(entry)
    return clean


def normalize_updates(updates):
    """Validate and canonicalize the fields an update sets; None means "leave as is"."""
    clean = {}
    for key, value in (updates or {}).items():
        if key not in UPDATABLE_FIELDS:
            raise IncidentError("unknown incident field %r" % key)
        if value is None:
            continue
        if key == "severity":
            try:
                value = validate_severity(value)
            except SeverityError as exc:
                raise IncidentError(str(exc))
        elif key == "status":
            value = validate_status(value)
        elif key == "alert":
            value = normalize_alert(value)
            if value is None:
                continue
        elif key == "services":
            value = normalize_services(value)
        clean[key] = value
    return clean


def new_record(incident_id, now):
    stamp = format_time(now)
    return {
        "id": incident_id,
        "title": None,
        "severity": None,
        "status": "open",
        "alert": None,
        "impact": None,
        "cluster": None,
        "namespace": None,
        "service": None,
        "services": {},
        "alerts": [],
        "root_cause": None,
        "resolution": None,
        "opened_at": stamp,
        "resolved_at": None,
        "updated_at": stamp,
        "escalations": [],
        "channel": incident_channel(incident_id),
    }


def default_title(record):
    alert = (record.get("alert") or {}).get("name")
    where = record.get("service") or record.get("namespace")
    if alert and where:
        return "%s: %s" % (alert, where)
    return alert or where or record["id"]


def pending_services(record):
    """Services of the incident that are not back yet."""
    return sorted(name for name, entry in (record.get("services") or {}).items() if entry.get("status") != "restored")


def _record_alert_resolved(record, alert, now, event):
    """Mark the incident's entry of a resolved alert as resolved, once.

    Alertmanager's resolved notification says the metric is back under its threshold.
    It never resolves the incident (the services' outcomes do); an alert of the namespace
    the record did not list yet (it fired while another run handled the outage) is
    listed with its resolution.
    """
    resolved_at = alert.get("ends_at") or format_time(now)
    if (record.get("alert") or {}).get("key") == alert["key"]:
        entry = record["alert"]
    else:
        entry = next((a for a in record.get("alerts") or [] if a.get("key") == alert["key"]), None)
        if entry is None:
            # Listed as it was while firing, so the resolution below applies (and is recorded) once.
            entry = dict(alert, received_at=format_time(now))
            entry.pop("ends_at", None)
            entry["status"] = "firing"
            record.setdefault("alerts", []).append(entry)
    if entry.get("status") == "resolved":
        return
    entry.update(status="resolved", ends_at=resolved_at)
    event("alert_resolved", "Alert %s (%s) resolved at %s" % (alert["name"], alert["key"], resolved_at),
          {"name": alert["name"], "key": alert["key"], "labels": alert.get("labels") or {}, "ends_at": resolved_at})


def plan_update(current, incident_id, updates, state="open", escalation=None, now=None, host=None,
                keep_higher_severity=False):
    """Compute the record after an update and the events that describe it.

    ``current`` is the stored record or None (the incident is created). Returns
    ``(record, events)``; an empty event list means nothing changes. Nothing is
    written here, which is what check mode returns.

    ``keep_higher_severity``: a lower severity than the record's is not applied (a
    continuing run never lowers it silently). An update that carries ``services``
    resolves the incident only when every service of the record is restored.
    """
    now = now if now is not None else utc_now()
    incident_id = validate_incident_id(incident_id)
    fields = normalize_updates(updates)
    services = fields.pop("services", None)
    if state not in ("open", "resolved"):
        raise IncidentError("invalid state %r: expected open or resolved" % (state,))
    if state == "resolved":
        if fields.get("status", "resolved") != "resolved":
            raise IncidentError(
                "state=resolved conflicts with status=%s; leave status out to resolve" % fields["status"]
            )
        fields["status"] = "resolved"

    events = []

    def event(event_type, message, data=None):
        events.append(make_event(event_type, message, data, now=now, host=host))

    if current is None:
        if not fields.get("severity"):
            raise IncidentError(
                "severity is required to open incident %s: one of P0, P1, P2, P3" % incident_id
            )
        record = new_record(incident_id, now)
        final_status = fields.pop("status", "open")
        if state == "resolved" and services is not None and pending_services({"services": services}):
            final_status = "open"
        record.update(fields)
        if not record["title"]:
            record["title"] = default_title(record)
        event(
            "incident_opened",
            "Incident %s opened: %s (%s)" % (incident_id, record["title"], record["severity"]),
            {
                "severity": record["severity"],
                "title": record["title"],
                "alert": record["alert"],
                "namespace": record["namespace"],
                "service": record["service"],
                "impact": record["impact"],
                "channel": record["channel"],
            },
        )
        if final_status != "open":
            fields["status"] = final_status
        before_status = "open"
        before = None
    else:
        record = copy.deepcopy(current)
        before = current
        before_status = current.get("status")

    # Severity first: the status change that follows may depend on it.
    new_severity = fields.pop("severity", None)
    if keep_higher_severity and new_severity and record.get("severity") and rank(new_severity) > rank(record["severity"]):
        new_severity = None
    if before is not None and new_severity and new_severity != record.get("severity"):
        event(
            "severity_changed",
            "Severity changed from %s to %s" % (record.get("severity"), new_severity),
            {"from": record.get("severity"), "to": new_severity},
        )
        record["severity"] = new_severity

    new_status = fields.pop("status", None)

    # The first alert stays the incident's alert; later ones (another service, a new
    # firing that joined the open incident) are listed once each by their key.
    alert = fields.pop("alert", None)
    if before is not None and alert and alert.get("status") == "resolved":
        _record_alert_resolved(record, alert, now, event)
    elif before is not None and alert:
        if not record.get("alert"):
            fields["alert"] = alert
        elif alert["key"] != record["alert"].get("key") and not any(
                a.get("key") == alert["key"] for a in record.get("alerts") or []):
            record.setdefault("alerts", []).append(dict(alert, received_at=format_time(now)))
            event("alert_joined", "Alert %s (%s) joined the incident" % (alert["name"], alert["key"]), alert)
    elif alert:
        fields["alert"] = alert

    if services is not None:
        merged = copy.deepcopy(record.get("services") or {})
        for name in sorted(services):
            entry = dict(merged.get(name) or {}, **services[name])
            if entry != merged.get(name):
                merged[name] = dict(entry, updated_at=format_time(now))
                event(
                    "service_status",
                    "%s: %s%s" % (name, entry["status"], (" (%s)" % entry["reason"]) if entry.get("reason") else ""),
                    dict(entry, service=name),
                )
        record["services"] = merged
        if new_status == "resolved" and pending_services(record):
            # Not every service is back: the incident stays open (escalated when one is).
            escalated = any(e.get("status") == "escalated" for e in merged.values())
            new_status = "escalated" if escalated else None

    changed_fields = sorted(k for k, v in fields.items() if record.get(k) != v)
    if before is not None and changed_fields:
        event(
            "record_updated",
            "Updated %s" % ", ".join(changed_fields),
            {k: fields[k] for k in changed_fields},
        )
    record.update(fields)

    if escalation:
        target = escalation.get("to")
        if not target:
            raise IncidentError("escalation.to is required: the person or step of the chain escalated to")
        if not any(e.get("to") == target for e in record.get("escalations") or []):
            entry = {
                "to": target,
                "reason": escalation.get("reason"),
                "via": list(escalation.get("via") or []),
                "at": format_time(now),
            }
            record.setdefault("escalations", []).append(entry)
            event("escalated", "Escalated to %s" % target, entry)

    if new_status and new_status != before_status:
        if new_status == "resolved":
            record["resolved_at"] = format_time(now)
            event(
                "incident_resolved",
                "Incident %s resolved" % incident_id,
                {
                    "from": before_status,
                    "duration_minutes": _minutes_between(record.get("opened_at"), now),
                    "root_cause": record.get("root_cause"),
                    "resolution": record.get("resolution"),
                },
            )
        elif before_status == "resolved":
            record["resolved_at"] = None
            event(
                "incident_reopened",
                "Incident %s reopened as %s" % (incident_id, new_status),
                {"from": before_status, "to": new_status},
            )
        else:
            event(
                "status_changed",
                "Status changed from %s to %s" % (before_status, new_status),
                {"from": before_status, "to": new_status},
            )
        record["status"] = new_status

    if events and before is not None:
        record["updated_at"] = format_time(now)
    return record, events


def _minutes_between(start, end):
    try:
        return round((to_utc(end) - to_utc(start)).total_seconds() / 60.0, 1)
    except (IncidentError, TypeError):
        return None


def apply_update(incident_dir, incident_id, updates, state="open", escalation=None,
                 now=None, host=None, check_mode=False, keep_higher_severity=False):
    """Load, plan and (unless check_mode) write one update of an incident.

    Returns a dict: before (None when created), record, events, created, changed, paths.
    The read-modify-write runs under the incident's lock so two forks that update
    the same incident do not lose each other's change.
    """
    paths = incident_paths(incident_dir, incident_id)
    # Plan once without touching the disk: invalid input and no-op updates end
    # here, before any directory or lock file exists.
    current = load_incident(incident_dir, incident_id)
    record, events = plan_update(current, incident_id, updates, state, escalation, now, host, keep_higher_severity)
    if events and not check_mode:
        try:
            make_private_dir(paths["dir"])
        except OSError as exc:
            raise IncidentError("cannot create %s: %s" % (paths["dir"], exc))
        with locked(paths["lock"]):
            # Plan again under the lock: another fork may have written meanwhile.
            current = load_incident(incident_dir, incident_id)
            record, events = plan_update(current, incident_id, updates, state, escalation, now, host, keep_higher_severity)
            if events:
                ensure_dirs(paths)
                # Timeline first: a record never claims a change its timeline lacks.
                append_events(paths["timeline"], events)
                atomic_write(paths["record"], dump_record(record))
    return {
        "before": current,
        "record": record,
        "events": events,
        "created": current is None,
        "changed": bool(events),
        "paths": paths,
    }


def require_incident(incident_dir, incident_id):
    """The record of an existing incident, or an error that says how to open one."""
    record = load_incident(incident_dir, incident_id)
    if record is None:
        raise IncidentError(
            "incident %s does not exist in %s: open it first with "
            "ai_orchestrator.incident_response.incident_record"
            % (incident_id, os.path.abspath(os.path.expanduser(incident_dir)))
        )
    return record


# ---------------------------------------------------------------- artifacts


def artifact_bytes(content=None, data=None, src=None):
    """The bytes of an artifact from exactly one of content, data (pretty JSON) or src."""
    given = [name for name, value in (("content", content), ("data", data), ("src", src)) if value is not None]
    if len(given) != 1:
        raise IncidentError("give exactly one of content, data or src (got %s)" % (", ".join(given) or "none"))
    if content is not None:
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)
    if data is not None:
        try:
            return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise IncidentError("data is not JSON-serializable: %s" % exc)
    try:
        with open(os.path.expanduser(src), "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise IncidentError("cannot read src %s: %s" % (src, exc))


def sha256_bytes(payload):
    return hashlib.sha256(payload).hexdigest()


def save_artifact(incident_dir, incident_id, name, payload, check_mode=False, now=None, host=None, redactions=None):
    """Store ``payload`` as ``artifacts/<name>``; unchanged content is not rewritten.

    The file is owner-only (0600) in owner-only directories (0700). ``payload`` is
    stored as given: redact it first (redact.py). ``redactions``, when given, is the
    number of secrets replaced and goes into the event's data.
    Returns path, size, sha256, changed, event (the artifact_saved event or None).
    """
    require_incident(incident_dir, incident_id)
    paths = incident_paths(incident_dir, incident_id)
    relative = artifact_relpath(name)
    path = artifact_path(paths["artifacts"], relative)
    digest = sha256_bytes(payload)
    try:
        with open(path, "rb") as handle:
            existing = handle.read()
    except FileNotFoundError:
        existing = None
    except IsADirectoryError:
        raise IncidentError("artifact %s is a directory" % path)
    except OSError as exc:
        raise IncidentError("cannot read artifact %s: %s" % (path, exc))
    result = {
        "path": path,
        "size": len(payload),
        "sha256": digest,
        "changed": existing != payload,
        "created": existing is None,
        "event": None,
    }
    if not result["changed"]:
        return result
    event = make_event(
        "artifact_saved",
        "Artifact %s saved (%d bytes)" % (relative, len(payload)),
        dict({"name": relative, "path": path, "size": len(payload), "sha256": digest},
             **({} if redactions is None else {"redactions": redactions})),
        now=now,
        host=host,
    )
    result["event"] = event
    if check_mode:
        return result
    ensure_dirs(paths)
    try:
        make_private_dir(os.path.dirname(path))
        atomic_write(path, payload)
    except OSError as exc:
        raise IncidentError("cannot write artifact %s: %s" % (path, exc))
    append_event(paths["timeline"], event)
    return result


# ---------------------------------------------------------------- module options


def incident_argument_spec(incident_id_required=False):
    """Options every incident module shares; documented in doc_fragments/incident.py."""
    return {
        # The store a whole fleet shares (a volume mounted in every AWX job) is set once, in the environment.
        "incident_dir": {"type": "path", "default": DEFAULT_INCIDENT_DIR, "fallback": (env_fallback, [INCIDENT_DIR_ENV])},
        "incident_id": {"type": "str", "required": incident_id_required},
        "host": {"type": "str"},
    }
