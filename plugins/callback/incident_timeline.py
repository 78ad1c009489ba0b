# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: incident_timeline
type: notification
short_description: Record every task of a run in the active incident's timeline
version_added: 0.1.0
description:
  - Appends one C(task) event per task result (ok, changed, failed, skipped, unreachable) to the
    C(timeline.jsonl) of the incident the host is working on, so the post-mortem timeline is
    what actually ran, in order, with durations.
  - The active incident of a host is the one whose C(timeline_path) was returned by the last
    successful M(ai_orchestrator.incident_response.incident_record),
    M(ai_orchestrator.incident_response.incident_event) or
    M(ai_orchestrator.incident_response.incident_artifact) task of that host. When that task ran
    with C(run_once), the incident applies to every host that has none of its own.
  - Task results from before the incident is known are kept in memory and written when it
    becomes known, so the timeline starts with the diagnosis that led to opening it.
    When no incident becomes known, nothing is written.
  - Nothing is written in check mode (C(--check)).
  - Results of C(no_log) tasks are recorded as censored, without any of their output.
  - Secrets in what is recorded (task name, message, C(msg), C(incident_summary), skip reasons)
    are replaced by V([REDACTED]) before the event is written, with the patterns of the incident
    modules (see O(redact) and O(redact_defaults)); text is redacted before it is cut to
    O(summary_max_chars), so a cut never leaves half a secret behind.
  - Task events are written with the incident's owner-only modes (C(timeline.jsonl) 0600).
  - Each event holds C(time), C(type=task), C(message), C(data) (a bounded summary of the
    result, C(msg), C(rc), C(incident_summary) when the module returns one, loop counts),
    C(source=task), C(host), C(task), C(action) (FQCN), C(status), C(duration) (seconds),
    C(started), C(play) and C(playbook).
requirements:
  - Enabled in the configuration (C(callbacks_enabled) in C(ansible.cfg) or C(ANSIBLE_CALLBACKS_ENABLED)).
options:
  summary_max_chars:
    description:
      - Longest text kept of a result's C(msg) or C(incident_summary); longer text is cut.
    type: int
    default: 500
    env:
      - name: ANSIBLE_INCIDENT_TIMELINE_SUMMARY_MAX_CHARS
    ini:
      - section: callback_incident_timeline
        key: summary_max_chars
  buffer_max_events:
    description:
      - Most task events kept per host while no incident is known; older ones are dropped and
        the number dropped is noted in the timeline.
    type: int
    default: 1000
    env:
      - name: ANSIBLE_INCIDENT_TIMELINE_BUFFER_MAX_EVENTS
    ini:
      - section: callback_incident_timeline
        key: buffer_max_events
  redact:
    description:
      - Extra regular expressions (Python syntax) of secrets to replace by V([REDACTED]) in the
        recorded task results, in addition to the built-in ones.
      - A named group whose name starts with C(secret) limits the replacement to that group
        (the key stays readable); otherwise the whole match is replaced.
      - An invalid pattern stops the run when the callback loads, before anything is written.
      - To hide the same extra secrets in artifacts, give the same patterns to the incident role
        (C(incident_redact_patterns)) or the modules (C(redact)).
    type: list
    elements: str
    default: []
    env:
      - name: ANSIBLE_INCIDENT_TIMELINE_REDACT
    ini:
      - section: callback_incident_timeline
        key: redact
  redact_defaults:
    description:
      - Apply the built-in patterns of the incident modules (passwords, tokens, API and access
        keys in key/value and JSON form, Authorization headers, URL credentials, PEM private keys,
        AWS key ids, JWTs, Slack and GitHub tokens); see
        M(ai_orchestrator.incident_response.incident_artifact).
      - V(false) applies only O(redact).
    type: bool
    default: true
    env:
      - name: ANSIBLE_INCIDENT_TIMELINE_REDACT_DEFAULTS
    ini:
      - section: callback_incident_timeline
        key: redact_defaults
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
"""

import collections
import datetime
import json
import os
import time

from ansible import context
from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.callback import CallbackBase

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import IncidentResponseError
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.record import (
    RECORD_FILE,
    TIMELINE_FILE,
    merge_events,
    format_time,
    validate_incident_id,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.redact import Redactor

_COLLECTION = "ai_orchestrator.incident_response."
# Results of these modules name the incident a host works on.
_INCIDENT_ACTIONS = frozenset(
    name
    for short in ("incident_record", "incident_event", "incident_artifact")
    for name in (short, _COLLECTION + short)
)
# Text beyond summary_max_chars that is still redacted before the cut, so a secret that
# straddles the cut is recognised whole (PEM blocks cut short are redacted to the end).
_REDACT_WINDOW = 8192


def _truncate(text, limit, rest=0):
    """``text`` cut to ``limit`` characters; ``rest`` more characters were cut before."""
    text = text if isinstance(text, str) else json.dumps(text, sort_keys=True, default=str)
    if len(text) <= limit and not rest:
        return text
    return text[:limit] + "... (%d characters cut)" % (max(len(text) - limit, 0) + rest)


class CallbackModule(CallbackBase):
    """Writes task results into the active incident's timeline.jsonl."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "ai_orchestrator.incident_response.incident_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._summary_max = 500
        self._buffer_max = 1000
        self._playbook = None
        self._play = None
        self._timelines = {}  # host -> timeline path of its own incident
        self._default_timeline = None  # from a run_once incident task
        self._pending = {}  # host -> deque of events not written yet
        self._dropped = collections.Counter()  # host -> events dropped from the buffer
        self._started = {}  # (host, task uuid) -> (monotonic, utc datetime)
        self._failed_paths = set()
        self._redactor = Redactor()

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._summary_max = max(40, int(self.get_option("summary_max_chars")))
        self._buffer_max = max(1, int(self.get_option("buffer_max_events")))
        try:
            self._redactor = Redactor(self.get_option("redact") or [], boolean(self.get_option("redact_defaults")))
        except IncidentResponseError as exc:
            raise AnsibleError("incident_timeline callback: %s" % exc)

    # ------------------------------------------------------------ hooks

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "") or None

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = (time.monotonic(), datetime.datetime.now(datetime.timezone.utc))

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result.is_changed() else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignore_errors=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    # v2_runner_on_async_ok/failed are not recorded: the same final result also
    # arrives through v2_runner_on_ok/failed, and the timeline wants one event per task.
    # Loop items are summarized in the task's own event (v2_runner_item_on_* unused).

    def v2_playbook_on_stats(self, stats):
        left = sum(len(events) for events in self._pending.values())
        if left:
            self._display.vv("incident_timeline: no incident became known; %d task events not recorded" % left)

    # ------------------------------------------------------------ helpers

    def _record(self, result, status, ignore_errors=False):
        """The one place every runner hook ends: build, buffer, learn, flush."""
        if context.CLIARGS.get("check", False):
            return
        host = result.host.get_name()
        event = self._task_event(result, status, ignore_errors)
        pending = self._pending.setdefault(host, collections.deque())
        if len(pending) >= self._buffer_max:
            pending.popleft()
            self._dropped[host] += 1
        pending.append(event)

        learned = self._learn_timeline(result, status)
        if learned:
            if boolean(result.task.run_once, strict=False):
                self._default_timeline = learned
                for other in list(self._pending):
                    if other not in self._timelines and other != host:
                        self._flush(other)
            else:
                self._timelines[host] = learned
        self._flush(host)

    def _flush(self, host):
        path = self._timelines.get(host) or self._default_timeline
        pending = self._pending.get(host)
        if not path or not pending:
            return
        events = list(pending)
        if self._dropped[host]:
            note = dict(events[0])
            note.update(
                type="note",
                message="%d earlier task events of %s were not kept (buffer_max_events)" % (self._dropped[host], host),
                data={"dropped": self._dropped[host]},
                task=None,
                action=None,
                status=None,
                duration=None,
            )
            events.insert(0, note)
        try:
            merge_events(path, events)
        except IncidentResponseError as exc:
            if path not in self._failed_paths:
                self._failed_paths.add(path)
                self._display.warning("incident_timeline: %s" % exc)
        pending.clear()
        self._dropped[host] = 0

    @staticmethod
    def _action(task):
        return getattr(task, "resolved_action", None) or task.action

    def _learn_timeline(self, result, status):
        """The timeline of an incident the result names, if that incident exists on disk."""
        if status in ("failed", "skipped", "unreachable"):
            return None
        if self._action(result.task) not in _INCIDENT_ACTIONS:
            return None
        path = result.result.get("timeline_path")
        if not isinstance(path, str) or os.path.basename(path) != TIMELINE_FILE:
            return None
        incident_dir = os.path.dirname(path)
        try:
            validate_incident_id(os.path.basename(incident_dir))
        except IncidentResponseError:
            return None
        # A task in check mode returns the path of a record it did not write.
        if not os.path.isfile(os.path.join(incident_dir, RECORD_FILE)):
            return None
        return path

    def _task_event(self, result, status, ignore_errors):
        task = result.task
        host = result.host.get_name()
        ended = datetime.datetime.now(datetime.timezone.utc)
        started = self._started.pop((host, task._uuid), None)
        duration = round(time.monotonic() - started[0], 3) if started else None
        name = getattr(result, "task_name", None) or task.get_name()
        action = self._action(task)
        name, dummy = self._redactor.text(name)
        event = {
            "time": format_time(ended, timespec="milliseconds"),
            "type": "task",
            "message": "%s: %s" % (name, status),
            "data": self._summary(result, status),
            "source": "task",
            "host": host,
            "task": name,
            "action": action,
            "status": status,
            "duration": duration,
            "started": format_time(started[1], timespec="milliseconds") if started else None,
            "play": self._play,
            "playbook": self._playbook,
        }
        if status == "failed":
            event["ignore_errors"] = bool(ignore_errors)
        return event

    def _summary(self, result, status):
        data = result.result
        if task_no_log(result) or "censored" in data:
            return {"censored": True}
        limit = self._summary_max
        summary = {}
        if data.get("msg"):
            summary["msg"] = self._bounded(data["msg"], limit)
        if isinstance(data.get("rc"), int):
            summary["rc"] = data["rc"]
        if "incident_summary" in data:
            value = data["incident_summary"]
            if not isinstance(value, str):
                value, dummy = self._redactor.data(value)
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            summary["incident_summary"] = self._bounded(value, limit) if isinstance(value, str) or len(text) > limit else value
        if status == "skipped":
            for key in ("skip_reason", "false_condition"):
                if data.get(key):
                    summary[key] = self._bounded(data[key], limit)
        items = data.get("results")
        if isinstance(items, list) and any(isinstance(item, dict) and "ansible_loop_var" in item for item in items):
            summary["items"] = len(items)
            summary["items_failed"] = sum(1 for item in items if isinstance(item, dict) and item.get("failed"))
            summary["items_changed"] = sum(1 for item in items if isinstance(item, dict) and item.get("changed"))
        return summary

    def _bounded(self, value, limit):
        """``value`` as text, redacted, then cut to ``limit`` characters."""
        if not isinstance(value, str):
            value, dummy = self._redactor.data(value)
            value = json.dumps(value, sort_keys=True, default=str)
        window = value[:limit + _REDACT_WINDOW]
        rest = len(value) - len(window)
        window, dummy = self._redactor.text(window)
        return _truncate(window, limit, rest)


def task_no_log(result):
    no_log = result.task.no_log
    return (isinstance(no_log, bool) and no_log) or bool(result.result.get("_ansible_no_log"))
