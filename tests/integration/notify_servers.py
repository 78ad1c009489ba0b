# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Loopback servers that answer like the notification APIs, and enforce them.

``SlackServer`` (Web API), ``PagerDutyServer`` (Events API v2), ``StatuspageServer``
(Atlassian Statuspage REST API v1) and ``SmtpServer`` (aiosmtpd, STARTTLS + AUTH) keep
state the way the real services do, so a sender that works here has been checked against
what the APIs document: request shapes, errors, de-duplication, membership, auth.
Where the public documentation is silent, a comment says so and what was chosen.

Every HTTP server is a context manager on 127.0.0.1:``free_port()`` with ``.url``,
``.requests`` (each ``{"method", "path", "query", "headers", "json", "form", "body",
"endpoint", "at"}``; header names lower case; query and form values are the last value
given for a name), ``.clear()`` (forget requests, scripts and callbacks, keep state), and:

``script(endpoint, *replies)``
    The next calls to ``endpoint`` get these replies first, in order, then normal
    behaviour resumes. A reply: ``status`` (200), ``json`` or ``body``, ``headers``,
    ``delay`` (seconds before answering), ``drop`` (close the connection without an
    answer; the request is not applied). ``endpoint`` "*" matches every endpoint.
``on_receive(endpoint, callback)``
    ``callback(request)`` runs after the request was recorded and applied (or its scripted
    reply chosen), before the answer; returning ``"drop"`` closes the connection without
    any answer (the API did the work, the client never heard: a killed client).

Endpoints: Slack the method ("chat.postMessage"), PagerDuty "enqueue", Statuspage
"POST /incidents", "GET /incidents", "GET|PATCH|PUT /incidents/{id}", "GET /components".

Fixtures (function scope, each start well under 0.3 s): ``slack_server``,
``pagerduty_server``, ``statuspage_server``, ``smtp_server``; ``notify_config(...)``
builds the ``incident_notify`` variable pointing at the servers given.
"""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import hashlib
import importlib.util
import itertools
import json
import logging
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from ports import free_port  # never a drill port (tests/integration/ports.py)

_PROMETHEUS_SERVER = Path(__file__).resolve().parents[1] / "unit" / "plugins" / "modules" / "prometheus_server.py"


def self_signed(folder):
    """(certificate, key) files for 127.0.0.1: tests/unit/plugins/modules/prometheus_server.py's, reused."""
    spec = importlib.util.spec_from_file_location("_notify_prometheus_server", _PROMETHEUS_SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.self_signed(folder)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# The HTTP machinery shared by the three HTTP APIs
# ---------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _serve(self):
        server = self.server
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        text = raw.decode("utf-8", "replace")
        parsed, form, json_error = None, None, False
        if raw and ctype == "application/json":
            try:
                parsed = json.loads(text)
            except ValueError:
                json_error = True
        elif raw and ctype == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(text, keep_blank_values=True))
        request = {"method": self.command, "path": parts.path, "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                   "headers": headers, "json": parsed, "form": form, "body": text, "json_error": json_error,
                   "endpoint": server.endpoint_of(self.command, parts.path), "at": time.time()}
        with server.lock:
            server.requests.append(request)
            reply = server.next_script(request["endpoint"])
            if reply is None:
                try:
                    reply = server.apply(request)
                except Exception as error:  # a bug here must show as one, not as a mysterious hang-up
                    server.errors.append(repr(error))
                    reply = {"status": 500, "body": "notify_servers.py failed: %r" % (error,)}
            elif "json" not in reply and "body" not in reply:
                reply = dict(reply, json=server.scripted_body(reply.get("status", 200)))
            callbacks = list(server.callbacks.get(request["endpoint"], ()))
        drop = bool(reply.get("drop"))
        for callback in callbacks:
            if callback(request) == "drop":
                drop = True
        if reply.get("delay"):
            time.sleep(reply["delay"])
        if drop:
            self.close_connection = True  # no status line at all: the client sees the connection closed
            return
        if "json" in reply and reply["json"] is not None:
            data, ctype = json.dumps(reply["json"]).encode("utf-8"), "application/json; charset=utf-8"
        else:
            data, ctype = str(reply.get("body", "")).encode("utf-8"), "text/plain; charset=utf-8"
        self.send_response(reply.get("status", 200))
        self.send_header("Content-Type", ctype)
        for name, value in (reply.get("headers") or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _ApiServer(ThreadingHTTPServer):
    """The recording, scripting and callback parts; subclasses answer like their API."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", free_port()), _Handler)
        self.lock = threading.RLock()
        self.requests = []
        self.scripts = {}
        self.callbacks = {}
        self.errors = []  # exceptions the stand-in itself raised (answered 500): a test may assert it stays empty
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # -- what tests call
    def script(self, endpoint, *replies):
        with self.lock:
            self.scripts.setdefault(endpoint, []).extend(dict(r) for r in (replies or ({},)))
        return self

    def on_receive(self, endpoint, callback):
        with self.lock:
            self.callbacks.setdefault(endpoint, []).append(callback)
        return self

    def clear(self):
        with self.lock:
            self.requests, self.scripts, self.callbacks = [], {}, {}

    def calls(self, endpoint):
        """The recorded requests to ``endpoint``."""
        with self.lock:
            return [r for r in self.requests if r["endpoint"] == endpoint]

    # -- what the handler calls (under self.lock)
    def next_script(self, endpoint):
        for key in (endpoint, "*"):
            queue = self.scripts.get(key)
            if queue:
                return queue.pop(0)
        return None

    def endpoint_of(self, method, path):
        raise NotImplementedError

    def apply(self, request):
        raise NotImplementedError

    def scripted_body(self, status):
        return None

    def handle_error(self, request, client_address):  # a client hanging up mid-answer is part of the tests
        pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def _flag(value, default=False):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _int(value, default, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))


def _cursor(offset):
    return base64.b64encode(("next:%d" % offset).encode()).decode()


def _offset(cursor):
    """The offset a cursor stands for; None if it is not one of ours (Slack: invalid_cursor)."""
    if not cursor:
        return 0
    try:
        kind, number = base64.b64decode(cursor.encode(), validate=True).decode().split(":")
        return int(number) if kind == "next" else None
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------------------------
# Slack Web API
# ---------------------------------------------------------------------------------------------

# Slack's documented channel-name rule: lowercase letters, numbers, hyphens and underscores, at most 80.
_SLACK_NAME = re.compile(r"^[a-z0-9_-]+$")
_SLACK_AUTH_ERRORS = {"not_authed", "invalid_auth", "token_revoked", "account_inactive"}
# Read methods: Slack takes their arguments from the query or a form body, not from a JSON body
# (JSON bodies are documented for write methods only); a JSON body's arguments are ignored here.
_SLACK_READS = {"conversations.list", "conversations.history"}
_PURPOSE_MAX = 250  # documented limit for a channel purpose / topic
_TEXT_MAX = 40000  # chat.postMessage truncates above 40,000 characters; msg_too_long is the documented error


class SlackServer(_ApiServer):
    """Slack Web API under ``/api/<method>`` (config ``api_url`` = ``server.url + "/api"``).

    Every answer is HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false, "error": code}``,
    but a rate limit: HTTP 429, ``Retry-After`` and ``error: ratelimited``. Auth:
    ``Authorization: Bearer <token>`` (or a ``token`` form field, as Slack allows).
    The channel ``incident-response`` exists from the start; the bot is not in it.
    """

    def __init__(self, token, bot_user="U0BOT", runbook_channel="incident-response"):
        super().__init__()
        self.token = token
        self.bot_user = bot_user
        self._channels = {}  # id -> channel record (members as a set)
        self._messages = {}  # id -> [message] oldest first
        self._ts = itertools.count(1)
        if runbook_channel:
            self.add_channel(runbook_channel, purpose="Incident response runbook channel", member=False)

    # -- test helpers
    def add_channel(self, name, purpose="", archived=False, member=False, private=False, topic=""):
        """Create a channel directly (as a person would have); its id."""
        with self.lock:
            channel_id = "C%09X" % (0x10000000 + next(self._ids))
            self._channels[channel_id] = {"id": channel_id, "name": name, "is_private": bool(private), "is_archived": bool(archived),
                                          "created": int(time.time()), "creator": "U0HUMAN",
                                          "purpose": {"value": purpose, "creator": "U0HUMAN", "last_set": int(time.time()) if purpose else 0},
                                          "topic": {"value": topic, "creator": "U0HUMAN", "last_set": int(time.time()) if topic else 0},
                                          "members": {"U0HUMAN"} | ({self.bot_user} if member else set())}
            self._messages[channel_id] = []
            return channel_id

    def archive(self, channel):
        with self.lock:
            self._lookup(channel)["is_archived"] = True

    @property
    def channels(self):
        """Every channel by id, as conversations.list shows it (plus ``members``)."""
        with self.lock:
            return {cid: dict(self._public(ch), members=sorted(ch["members"])) for cid, ch in self._channels.items()}

    def channel(self, channel_id_or_name):
        with self.lock:
            ch = self._lookup(channel_id_or_name)
            return dict(self._public(ch), members=sorted(ch["members"])) if ch else None

    def messages(self, channel_id_or_name):
        """The texts posted to a channel, oldest first."""
        with self.lock:
            ch = self._lookup(channel_id_or_name)
            return [m["text"] for m in self._messages.get(ch["id"], [])] if ch else []

    def ratelimit(self, method, retry_after=1):
        """The next call to ``method`` is rate limited once (HTTP 429 with Retry-After)."""
        return self.script(method, {"status": 429, "headers": {"Retry-After": str(retry_after)}, "json": {"ok": False, "error": "ratelimited"}})

    # -- internals
    def _lookup(self, ref):
        if not ref:
            return None
        if ref in self._channels:
            return self._channels[ref]
        name = str(ref).lstrip("#")
        return next((ch for ch in self._channels.values() if ch["name"] == name), None)

    def _public(self, ch):
        view = {k: v for k, v in ch.items() if k != "members"}
        view.update(is_channel=not ch["is_private"], is_group=ch["is_private"], is_im=False, is_mpim=False,
                    is_general=False, name_normalized=ch["name"], is_member=self.bot_user in ch["members"],
                    num_members=len(ch["members"]), purpose=dict(ch["purpose"]), topic=dict(ch["topic"]))
        return view

    def _visible(self, ch):
        # A bot sees public channels and the private ones it is a member of.
        return ch is not None and (not ch["is_private"] or self.bot_user in ch["members"])

    def endpoint_of(self, method, path):
        return path[len("/api/"):] if path.startswith("/api/") else path

    def scripted_body(self, status):
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return {"ok": True} if status == 200 else None

    def apply(self, request):
        method = request["endpoint"]
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if not request["path"].startswith("/api/") or handler is None:
            # Slack answers an unknown method with unknown_method (HTTP status not documented: 404 chosen).
            return {"status": 404, "json": {"ok": False, "error": "unknown_method", "req_method": method}}
        args = dict(request["query"])
        if request["method"] == "POST":
            if request["form"] is not None:
                args.update(request["form"])
            elif isinstance(request["json"], dict) and method not in _SLACK_READS:
                args.update(request["json"])
            elif request["json_error"]:
                return {"json": {"ok": False, "error": "invalid_json"}}
        if args.get("channel") is not None and not isinstance(args["channel"], str):
            args["channel"] = json.dumps(args["channel"])  # never an ID: channel_not_found, as Slack answers
        given = request["headers"].get("authorization", "")
        token = given[len("Bearer "):].strip() if given.startswith("Bearer ") else (request["form"] or {}).get("token")
        if not token:
            return {"json": {"ok": False, "error": "not_authed"}}
        if token != self.token:
            return {"json": {"ok": False, "error": "invalid_auth"}}
        answer = handler(args)
        if answer.get("ok") and request["json"] is not None and "charset" not in request["headers"].get("content-type", ""):
            # Slack's documented warning for a JSON body sent without a charset (the call still works).
            answer = dict(answer, warning="missing_charset", response_metadata=dict(answer.get("response_metadata") or {}, warnings=["missing_charset"]))
        return {"json": answer}

    @staticmethod
    def _error(code, **extra):
        return dict({"ok": False, "error": code}, **extra)

    def _channel_for_write(self, ref, by_name=False):
        """(channel, error): the checks every write method makes, in Slack's order."""
        ch = self._channels.get(ref) if not by_name else self._lookup(ref)
        if not self._visible(ch):
            return None, "channel_not_found"
        if ch["is_archived"]:
            return ch, "is_archived"
        if self.bot_user not in ch["members"]:
            return ch, "not_in_channel"
        return ch, None

    def _m_conversations_create(self, args):
        name = args.get("name")
        name = "" if name is None else str(name)
        if not name:
            return self._error("invalid_name_required")
        if len(name) > 80:
            return self._error("invalid_name_maxlength")
        if not _SLACK_NAME.match(name):
            return self._error("invalid_name_specials")  # also upper case: Slack's documented meaning of this error
        if not re.search(r"[a-z0-9]", name):
            return self._error("invalid_name_punctuation")
        if any(ch["name"] == name for ch in self._channels.values()):  # archived and private channels included
            return self._error("name_taken")
        channel_id = self.add_channel(name, private=_flag(args.get("is_private")), member=True)
        ch = self._channels[channel_id]
        ch["creator"] = self.bot_user
        ch["members"].discard("U0HUMAN")
        return {"ok": True, "channel": self._public(ch)}

    def _m_conversations_setPurpose(self, args):
        ch, error = self._channel_for_write(args.get("channel"))
        if error:
            return self._error(error)
        purpose = str(args.get("purpose") or "")
        if len(purpose) > _PURPOSE_MAX:
            return self._error("too_long")
        ch["purpose"] = {"value": purpose, "creator": self.bot_user, "last_set": int(time.time())}
        # Older docs answer {"purpose": "..."}, newer ones the channel: both are given.
        return {"ok": True, "purpose": purpose, "channel": self._public(ch)}

    def _m_conversations_join(self, args):
        ch = self._channels.get(args.get("channel"))  # IDs only, as documented
        if not self._visible(ch):
            return self._error("channel_not_found")
        if ch["is_private"]:
            return self._error("method_not_supported_for_channel_type")
        if ch["is_archived"]:
            return self._error("is_archived")
        if self.bot_user in ch["members"]:
            return {"ok": True, "channel": self._public(ch), "warning": "already_in_channel",
                    "response_metadata": {"warnings": ["already_in_channel"]}}
        ch["members"].add(self.bot_user)
        return {"ok": True, "channel": self._public(ch)}

    def _m_conversations_unarchive(self, args):
        ch = self._channels.get(args.get("channel"))
        if not self._visible(ch):
            return self._error("channel_not_found")
        if not ch["is_archived"]:
            return self._error("not_archived")
        # Docs are silent on whether a bot must be a member to unarchive: not required here;
        # membership is kept as it was (archiving does not remove members).
        ch["is_archived"] = False
        return {"ok": True}

    def _m_conversations_list(self, args):
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",") if t.strip()}
        exclude_archived = _flag(args.get("exclude_archived"))
        limit = _int(args.get("limit"), 100, 1, 1000)
        start = _offset(args.get("cursor"))
        if start is None:
            return self._error("invalid_cursor")
        found = [ch for ch in self._channels.values() if self._visible(ch)
                 and ("private_channel" if ch["is_private"] else "public_channel") in types
                 and not (exclude_archived and ch["is_archived"])]
        page = found[start:start + limit]
        more = start + limit < len(found)
        return {"ok": True, "channels": [self._public(ch) for ch in page],
                "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""}}

    def _m_conversations_history(self, args):
        ch = self._channels.get(args.get("channel"))
        if not self._visible(ch):
            return self._error("channel_not_found")
        if self.bot_user not in ch["members"]:
            return self._error("not_in_channel")  # a bot reads only the channels it is in (archived ones too)
        limit = _int(args.get("limit"), 100, 1, 999)
        start = _offset(args.get("cursor"))
        if start is None:
            return self._error("invalid_cursor")
        newest_first = list(reversed(self._messages[ch["id"]]))
        page = newest_first[start:start + limit]
        more = start + limit < len(newest_first)
        return {"ok": True, "messages": [dict(m) for m in page], "has_more": more, "pin_count": 0,
                "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""}}

    def _m_chat_postMessage(self, args):
        # chat.postMessage takes a channel ID or a name ("#name" or "name").
        ch, error = self._channel_for_write(args.get("channel"), by_name=True)
        if error:
            return self._error(error)
        text = args.get("text")
        if not text and not args.get("blocks") and not args.get("attachments"):
            return self._error("no_text")
        if text and len(str(text)) > _TEXT_MAX:
            return self._error("msg_too_long")
        ts = "%d.%06d" % (int(time.time()), next(self._ts))
        message = {"type": "message", "user": self.bot_user, "bot_id": "B0BOT", "text": str(text or ""), "ts": ts}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self._messages[ch["id"]].append(message)
        return {"ok": True, "channel": ch["id"], "ts": ts, "message": dict(message)}


# ---------------------------------------------------------------------------------------------
# PagerDuty Events API v2
# ---------------------------------------------------------------------------------------------

_PD_ACTIONS = ("trigger", "acknowledge", "resolve")
_PD_SEVERITIES = ("critical", "error", "warning", "info")
_PD_MAX_BYTES = 512 * 1024  # documented size limit of an event


def routing_key(name):
    """A stable 32-character integration key for a name (what PagerDuty hands out is 32 characters)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def _pd_timestamp(value):
    try:
        datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


class PagerDutyServer(_ApiServer):
    """PagerDuty Events API v2: ``POST /v2/enqueue`` (config ``events_url`` = ``server.url + "/v2/enqueue"``).

    202 ``{"status": "success", "message": "Event processed", "dedup_key"}``; an invalid event
    400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
    The documentation gives the fields, the 32-character routing key, the severities, the
    1024-character summary and 255-character dedup_key limits, but not the wording of each
    error: the ``errors`` texts here are ours. An unknown (well-formed) routing key is refused
    with 400 "Invalid routing key", as the live API does (not in the docs).

    De-duplication as documented: a trigger opens an alert for (routing_key, dedup_key) unless
    one is open (then it is added to it: nobody is paged again); acknowledge and resolve act on
    the open alert, else they are dropped (still 202). A resolved alert's key opens a new one.
    """

    def __init__(self, routing_keys):
        super().__init__()
        if isinstance(routing_keys, dict):
            self.routing_keys = dict(routing_keys)
        else:
            self.routing_keys = {key: key for key in routing_keys}
        self._alerts = {}
        self._pages = []
        self.events = []  # every accepted event: {"routing_key", "dedup_key", "event_action", "applied", "event"}

    @property
    def alerts(self):
        """{(routing_key, dedup_key): {"status": triggered|acknowledged|resolved, "events": [...], "opened": n}}."""
        with self.lock:
            return {k: {"status": v["status"], "events": list(v["events"]), "opened": v["opened"]} for k, v in self._alerts.items()}

    def pages(self):
        """(routing_key, dedup_key) of every trigger that opened a new alert: who was woken, in order."""
        with self.lock:
            return list(self._pages)

    # REST API v2 (read back by escalation_check): ``GET /incidents?incident_key=...`` with
    # ``Authorization: Token token=<api_token>``; an alert is an incident, acknowledged by ``acknowledge()``.
    api_token = "pd-rest-token-0123456789"

    def acknowledge(self, routing_key, dedup_key, by="Alice On-call"):
        """A person acknowledges the alert in PagerDuty (the app, not the Events API)."""
        with self.lock:
            alert = self._alerts[(routing_key, dedup_key)]
            alert["status"] = "acknowledged"
            alert["acknowledged"] = {"at": _now_iso(), "acknowledger": {"summary": by, "type": "user_reference"}}

    def endpoint_of(self, method, path):
        if path == "/incidents":
            return "GET /incidents"
        return "enqueue" if path == "/v2/enqueue" else path

    def _rest_incidents(self, request):
        if request["headers"].get("authorization") != "Token token=%s" % self.api_token:
            return {"status": 401, "json": {"error": {"message": "Authentication failed", "code": 2006}}}
        key = request["query"].get("incident_key")
        found = []
        with self.lock:
            for (routing, dedup), alert in self._alerts.items():
                if key and dedup != key:
                    continue
                ack = alert.get("acknowledged")
                found.append({"id": "P%06d" % (len(found) + 1), "type": "incident", "incident_key": dedup, "status": alert["status"],
                              "acknowledgements": [ack] if ack and alert["status"] == "acknowledged" else []})
        return {"status": 200, "json": {"incidents": found, "limit": 25, "offset": 0, "more": False}}

    def scripted_body(self, status):
        if status == 202:
            return {"status": "success", "message": "Event processed", "dedup_key": uuid.uuid4().hex}
        if status == 429:
            # The docs name the status only ("429 - Request Limit Exceeded"); this body is ours.
            return {"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}
        return None

    @staticmethod
    def _invalid(*errors):
        return {"status": 400, "json": {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}}

    def apply(self, request):
        if request["endpoint"] == "GET /incidents" and request["method"] == "GET":
            return self._rest_incidents(request)
        if request["endpoint"] != "enqueue":
            return {"status": 404, "json": {"status": "not found", "message": "Not Found"}}
        if request["method"] != "POST":
            return {"status": 405, "json": {"status": "method not allowed", "message": "Use POST"}}
        if len(request["body"].encode("utf-8")) > _PD_MAX_BYTES:
            return self._invalid("Event is larger than 512 KB")
        event = request["json"]
        if not isinstance(event, dict):
            try:  # the docs only say "Check that the JSON is valid": accept any content type carrying JSON
                event = json.loads(request["body"])
            except ValueError:
                return self._invalid("Invalid JSON: the body must be a JSON event object")
            if not isinstance(event, dict):
                return self._invalid("Invalid JSON: the body must be a JSON event object")
        errors = []
        key = event.get("routing_key")
        if not isinstance(key, str) or not key.strip():
            errors.append("'routing_key' is missing or blank")
        elif len(key) != 32:
            errors.append("'routing_key' is the wrong length (should be 32 characters)")
        action = event.get("event_action")
        if action not in _PD_ACTIONS:
            errors.append("'event_action' is missing or invalid (must be one of: trigger, acknowledge, resolve)")
        dedup = event.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is missing or blank (required to %s)" % action)
        if action == "trigger":
            errors.extend(self._payload_errors(event.get("payload")))
        for i, link in enumerate(event.get("links") or []):
            if not isinstance(link, dict) or not link.get("href"):
                errors.append("'links[%d].href' is missing or blank" % i)
        for i, image in enumerate(event.get("images") or []):
            if not isinstance(image, dict) or not image.get("src"):
                errors.append("'images[%d].src' is missing or blank" % i)
        if errors:
            return self._invalid(*errors)
        if key not in self.routing_keys.values():
            return self._invalid("Invalid routing key")
        dedup = dedup or uuid.uuid4().hex  # documented: generated when a trigger has none
        self._record(key, dedup, action, event)
        return {"status": 202, "json": {"status": "success", "message": "Event processed", "dedup_key": dedup}}

    @staticmethod
    def _payload_errors(payload):
        if not isinstance(payload, dict):
            return ["'payload' is missing or not an object"]
        errors = []
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            # Documented maximum; whether the live API cuts or refuses is not said: refused here.
            errors.append("'payload.summary' is too long (maximum is 1024 characters)")
        source = payload.get("source")
        if not isinstance(source, str) or not source.strip():
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in _PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        if payload.get("timestamp") is not None and not _pd_timestamp(payload["timestamp"]):
            errors.append("'payload.timestamp' is not an ISO 8601 timestamp")
        if payload.get("custom_details") is not None and not isinstance(payload["custom_details"], (dict, str)):
            errors.append("'payload.custom_details' must be an object")
        return errors

    def _record(self, key, dedup, action, event):
        alert = self._alerts.get((key, dedup))
        is_open = alert is not None and alert["status"] in ("triggered", "acknowledged")
        applied = True
        if action == "trigger":
            if is_open:
                alert["events"].append(event)
            else:
                opened = (alert["opened"] + 1) if alert else 1
                self._alerts[(key, dedup)] = {"status": "triggered", "events": [event], "opened": opened}
                self._pages.append((key, dedup))
        elif is_open:
            alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
            alert["events"].append(event)
        else:
            applied = False  # documented: dropped when no alert is open for the key
        self.events.append({"routing_key": key, "dedup_key": dedup, "event_action": action, "applied": applied, "event": event})


# ---------------------------------------------------------------------------------------------
# Atlassian Statuspage REST API v1
# ---------------------------------------------------------------------------------------------

DEFAULT_COMPONENTS = {"cmp-api": "API Gateway", "cmp-auth": "Authentication", "cmp-workflow": "Workflow Service",
                      "cmp-exec": "Execution Service", "cmp-langflow": "Langflow", "cmp-n8n": "n8n",
                      "cmp-db": "Database", "cmp-cache": "Cache"}
# The drill's services (drill/fixture) -> their component on the default page.
SERVICE_COMPONENTS = {"api-gateway": "cmp-api", "auth-service": "cmp-auth", "workflow-service": "cmp-workflow",
                      "execution-service": "cmp-exec", "langflow": "cmp-langflow", "n8n": "cmp-n8n",
                      "postgres": "cmp-db", "redis": "cmp-cache"}
_SP_STATUSES = ("investigating", "identified", "monitoring", "resolved",
                "scheduled", "in_progress", "verifying", "completed")
_SP_IMPACTS = ("none", "minor", "major", "critical", "maintenance")
_SP_COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
# Impact from the worst component status (the docs do not spell this out; what the UI shows).
_SP_IMPACT_OF = {"degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical"}
_SP_IMPACT_RANK = {"none": 0, "maintenance": 0, "minor": 1, "major": 2, "critical": 3}
_SP_PATH = re.compile(r"^/v1/pages/(?P<page>[^/]+)/(?P<kind>incidents|components)(?:/(?P<id>[^/]+))?/?$")


class StatuspageServer(_ApiServer):
    """Statuspage REST API v1 (config ``api_url`` = ``server.url + "/v1"``).

    ``/v1/pages/{page_id}/incidents`` GET (``q``, ``limit`` <= 100, ``page`` from 1) and POST
    (201); ``/incidents/{id}`` GET, PATCH, PUT; ``/components`` GET. Auth ``Authorization:
    OAuth <key>`` or ``?api_key=``, else 401. Errors as the OpenAPI document lists them
    (400 bad request, 401, 404, 422 unprocessable entity); its error entity has a
    ``message``; the live API answers ``{"error": ...}``: both keys are given. ``q``
    searches name, status, postmortem_body and the updates' bodies, as documented: not
    ``metadata`` (which the list does return).
    """

    def __init__(self, page_id, api_key, components=None):
        super().__init__()
        self.page_id = page_id
        self.api_key = api_key
        self._components = {}
        for position, (cid, name) in enumerate((components or DEFAULT_COMPONENTS).items(), start=1):
            self._components[cid] = {"id": cid, "page_id": page_id, "group_id": None, "name": name, "description": None,
                                     "position": position, "status": "operational", "showcase": True, "group": False,
                                     "only_show_if_degraded": False, "created_at": _now_iso(), "updated_at": _now_iso()}
        self._incidents = {}  # id -> incident, insertion order = creation order

    # -- test helpers
    def incidents(self):
        """Every incident (copies), oldest first."""
        with self.lock:
            return [json.loads(json.dumps(i)) for i in self._incidents.values()]

    def incident(self, incident_id):
        with self.lock:
            found = self._incidents.get(incident_id)
            return json.loads(json.dumps(found)) if found else None

    def component_status(self, component_id):
        with self.lock:
            return self._components[component_id]["status"]

    def set_component_status(self, component_id, status):
        with self.lock:
            self._components[component_id]["status"] = status

    # -- internals
    def endpoint_of(self, method, path):
        match = _SP_PATH.match(path)
        if not match:
            return "%s %s" % (method, path)
        return "%s /%s%s" % (method, match["kind"], "/{id}" if match["id"] else "")

    @staticmethod
    def _err(status, message):
        return {"status": status, "json": {"error": message, "message": message}}

    def scripted_body(self, status):
        if status in (420, 429):
            # Documented: 420 or 429 when the rate limit is exceeded; the body is not: ours.
            return {"error": "Rate limit exceeded", "message": "Rate limit exceeded"}
        return None

    def apply(self, request):
        given = request["headers"].get("authorization", "")
        key = given[len("OAuth "):].strip() if given.startswith("OAuth ") else request["query"].get("api_key")
        if key != self.api_key:
            return self._err(401, "Could not authenticate")
        match = _SP_PATH.match(request["path"])
        if not match or match["page"] != self.page_id:
            return self._err(404, "The requested resource could not be found.")
        method, kind, item = request["method"], match["kind"], match["id"]
        if kind == "components":
            if method != "GET" or item:
                return self._err(405 if not item else 404, "The requested resource could not be found.")
            return {"json": [dict(c) for c in self._components.values()]}
        if item is None:
            if method == "GET":
                return self._list(request["query"])
            if method == "POST":
                return self._write(request, None)
            return self._err(405, "Method not allowed")
        incident = self._incidents.get(item)
        if incident is None:
            return self._err(404, "The requested resource could not be found.")
        if method == "GET":
            return {"json": incident}
        if method in ("PATCH", "PUT"):
            return self._write(request, incident)
        return self._err(405, "Method not allowed")

    def _list(self, query):
        limit = _int(query.get("limit"), 100, 1, 100)
        page = _int(query.get("page"), 1, 1, 10 ** 6)
        needle = (query.get("q") or "").lower()
        found = []
        for incident in reversed(list(self._incidents.values())):  # newest first
            haystack = [incident["name"], incident["status"], incident.get("postmortem_body") or ""]
            haystack += [u["body"] or "" for u in incident["incident_updates"]]
            if not needle or any(needle in text.lower() for text in haystack):
                found.append(incident)
        return {"json": found[(page - 1) * limit:page * limit]}

    def _write(self, request, incident):
        body = request["json"]
        if not isinstance(body, dict) or not isinstance(body.get("incident"), dict):
            # Rails' wording for a missing root key (the docs list 400 without a body).
            return self._err(400, "param is missing or the value is empty: incident")
        fields = body["incident"]
        creating = incident is None
        name = fields.get("name", None if creating else incident["name"])
        if not isinstance(name, str) or not name.strip():
            return self._err(422, "Name can't be blank")
        status = fields.get("status", "investigating" if creating else incident["status"])
        if status not in _SP_STATUSES:
            return self._err(422, "Status is not included in the list")
        if "impact_override" in fields and fields["impact_override"] not in _SP_IMPACTS + (None,):
            return self._err(422, "Impact override is not included in the list")
        components = fields.get("components") or {}
        component_ids = fields.get("component_ids") or []
        if not isinstance(components, dict) or not isinstance(component_ids, list):
            return self._err(400, "components must be an object and component_ids a list")
        for cid in list(components) + list(component_ids):
            # An unknown component: the docs do not say; 422 naming it is what a Rails validation gives.
            if cid not in self._components:
                return self._err(422, "Component %s could not be found" % cid)
        for cid, value in components.items():
            if value not in _SP_COMPONENT_STATUSES:
                return self._err(422, "Component status %r is not included in the list" % (value,))
        # The docs type metadata as an object only (keys namespaced by the caller); any object is kept.
        metadata = fields.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return self._err(422, "Metadata must be an object")
        now = _now_iso()
        if creating:
            incident_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
            incident = {"id": incident_id, "page_id": self.page_id, "name": name, "status": status, "impact": "none",
                        "impact_override": None, "created_at": now, "updated_at": now, "started_at": now, "monitoring_at": None,
                        "resolved_at": None, "shortlink": "https://stspg.io/%s" % secrets.token_hex(5)[:9], "postmortem_body": None,
                        "metadata": {}, "components": [], "incident_updates": [], "deliver_notifications": True}
        affected = []
        for cid, value in components.items():
            component = self._components[cid]
            affected.append({"code": cid, "name": component["name"], "old_status": component["status"], "new_status": value})
            component["status"], component["updated_at"] = value, now
        touched = list(dict.fromkeys(list(component_ids) + list(components)))
        known = [c["id"] for c in incident["components"]]
        incident["components"] = [self._components[cid] for cid in dict.fromkeys(known + touched)]
        changed = creating or "body" in fields or status != incident["status"] or bool(components)
        incident.update(name=name, status=status, updated_at=now)
        if "impact_override" in fields:
            incident["impact_override"] = fields["impact_override"]
        if metadata is not None:
            incident["metadata"] = metadata
        if "deliver_notifications" in fields:
            incident["deliver_notifications"] = _flag(fields["deliver_notifications"], True)
        if status == "monitoring" and not incident["monitoring_at"]:
            incident["monitoring_at"] = now
        if status in ("resolved", "completed") and not incident["resolved_at"]:
            incident["resolved_at"] = now
        worst = max((_SP_IMPACT_OF.get(c["status"], "none") for c in incident["components"]), key=_SP_IMPACT_RANK.get, default="none")
        incident["impact"] = incident["impact_override"] or worst
        if changed:
            # Docs are silent on when PATCH adds an update: here when the body, status or components change.
            update = {"id": "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)),
                      "incident_id": incident["id"], "status": status, "body": str(fields.get("body") or ""),
                      "created_at": now, "updated_at": now, "display_at": now, "affected_components": affected or None,
                      "deliver_notifications": incident["deliver_notifications"], "custom_tweet": None, "tweet_id": None}
            incident["incident_updates"].insert(0, update)  # newest first, as the API lists them
        self._incidents[incident["id"]] = incident
        snapshot = json.loads(json.dumps(incident))
        return {"status": 201 if creating else 200, "json": snapshot}


# ---------------------------------------------------------------------------------------------
# SMTP (aiosmtpd)
# ---------------------------------------------------------------------------------------------

class _QuietLoginData(logging.Filter):
    """aiosmtpd 1.4 logs a deprecation warning on every successful AUTH (its own legacy attribute)."""

    def filter(self, record):
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLoginData())


class _SmtpHandler:
    def __init__(self, owner):
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.owner.username is not None and not session.authenticated:
            # aiosmtpd's own auth_required warns when TLS is optional: the same 530 is given here.
            return "530 5.7.0 Authentication required"
        failure = self.owner._take_failure("MAIL")
        if failure:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        failure = self.owner._take_failure("RCPT")
        if failure:
            return failure
        if address.lower() in self.owner.rejected:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        failure = self.owner._take_failure("DATA")
        if failure:
            return failure
        content = envelope.original_content or envelope.content
        message = email.message_from_bytes(content if isinstance(content, bytes) else content.encode("utf-8"), policy=email.policy.default)
        message.envelope_from = envelope.mail_from
        message.envelope_to = list(envelope.rcpt_tos)
        message.tls = bool(session.ssl) or self.owner.implicit_tls  # aiosmtpd sets session.ssl only for STARTTLS
        login = getattr(session.auth_data, "login", None)
        message.auth_login = login.decode("utf-8", "replace") if isinstance(login, bytes) else login
        with self.owner.lock:
            self.owner._messages.append(message)
        return "250 2.0.0 OK: queued as %s" % uuid.uuid4().hex[:10].upper()


class SmtpServer:
    """An SMTP submission server: aiosmtpd ``Controller`` on 127.0.0.1:``free_port()``.

    ``starttls=True``: STARTTLS with a self-signed certificate for 127.0.0.1 (``ca_file``),
    required before anything but EHLO/NOOP/QUIT, and AUTH (PLAIN, LOGIN) offered only over
    TLS (``auth_require_tls``). ``implicit_tls=True``: TLS from the first byte (port 465
    style) instead. Neither: plain text, AUTH allowed (``security: none``). With a
    ``username``, MAIL before a successful AUTH gets 530; wrong credentials 535.
    ``.messages``: parsed ``email.message.EmailMessage`` objects with ``envelope_from``,
    ``envelope_to``, ``tls`` and ``auth_login`` attributes. ``fail_next(code, text, stage)``:
    the next MAIL/RCPT/DATA answers that reply once. ``reject(address)``: RCPT to it gets 550.
    """

    def __init__(self, username=None, password=None, starttls=True, implicit_tls=False):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.username, self.password = username, password
        self.starttls, self.implicit_tls = bool(starttls and not implicit_tls), bool(implicit_tls)
        self.host, self.port = "127.0.0.1", free_port()
        self.lock = threading.Lock()
        self.rejected = set()
        self._messages, self._failures, self.auth_attempts = [], [], []
        self._folder = tempfile.mkdtemp(prefix="notify-smtp-")
        self.ca_file, key_file = self_signed(self._folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data.login, bytes) else auth_data.login
            password = auth_data.password.decode("utf-8", "replace") if isinstance(auth_data.password, bytes) else auth_data.password
            ok = login == self.username and password == self.password
            with self.lock:
                self.auth_attempts.append({"mechanism": mechanism, "login": login, "ok": ok, "tls": bool(session.ssl) or self.implicit_tls})
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs = {"server_hostname": "smtp.example.test", "ident": "notify-test ESMTP"}
        if self.starttls:
            kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:  # plain text, or implicit TLS (which aiosmtpd's auth_require_tls does not recognise)
            kwargs.update(auth_require_tls=False)
        if username is not None:
            kwargs.update(authenticator=authenticator)
        self.controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port,
                                     ssl_context=context if self.implicit_tls else None, **kwargs)

    @property
    def messages(self):
        with self.lock:
            return list(self._messages)

    def fail_next(self, code=451, text="4.3.0 Temporary local problem, try again later", stage="DATA", times=1):
        """The next ``times`` MAIL, RCPT or DATA commands answer ``code text`` (a 4xx: a temporary failure)."""
        with self.lock:
            self._failures.extend([(stage.upper(), "%d %s" % (code, text))] * times)
        return self

    def reject(self, address):
        """RCPT TO ``address`` is refused for good (550 5.1.1)."""
        self.rejected.add(address.lower())
        return self

    def clear(self):
        with self.lock:
            self._messages, self._failures, self.auth_attempts = [], [], []

    def _take_failure(self, stage):
        with self.lock:
            for i, (at, reply) in enumerate(self._failures):
                if at == stage:
                    del self._failures[i]
                    return reply
        return None

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        try:
            self.controller.stop()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Fixtures and the incident_notify variable
# ---------------------------------------------------------------------------------------------

SLACK_TOKEN = "xoxb-1111-2222-notifytesttoken"
ROUTING_NAMES = ("Primary on-call", "Engineering manager", "development", "infrastructure", "database")
STATUSPAGE_PAGE_ID = "kctbh9vrtdwd"
STATUSPAGE_API_KEY = "sp-api-key-0123456789abcdef"
SMTP_USERNAME = "notify@example.test"
SMTP_PASSWORD = "smtp-s3cret-Passw0rd"


@pytest.fixture
def slack_server():
    with SlackServer(token=SLACK_TOKEN) as server:
        yield server


@pytest.fixture
def pagerduty_server():
    with PagerDutyServer({name: routing_key(name) for name in ROUTING_NAMES}) as server:
        yield server


@pytest.fixture
def statuspage_server():
    with StatuspageServer(STATUSPAGE_PAGE_ID, STATUSPAGE_API_KEY) as server:
        yield server


@pytest.fixture
def smtp_server():
    with SmtpServer(SMTP_USERNAME, SMTP_PASSWORD) as server:
        yield server


def notify_config(slack=None, pagerduty=None, statuspage=None, smtp=None, common=None):
    """The ``incident_notify`` variable for the servers given (a channel without a server is left out).

    ``common``: keys added to every channel (e.g. ``{"retries": 1, "backoff": 0.05}``).
    """
    common = dict(common or {})
    config = {}
    if slack is not None:
        config["slack"] = dict(common, api_url=slack.url + "/api", token=slack.token)
    if pagerduty is not None:
        config["pagerduty"] = dict(common, events_url=pagerduty.url + "/v2/enqueue", routing_keys=dict(pagerduty.routing_keys))
    if statuspage is not None:
        components = {service: cid for service, cid in SERVICE_COMPONENTS.items() if cid in statuspage._components}
        config["statuspage"] = dict(common, api_url=statuspage.url + "/v1", page_id=statuspage.page_id,
                                    api_key=statuspage.api_key, components=components)
    if smtp is not None:
        security = "ssl" if smtp.implicit_tls else ("starttls" if smtp.starttls else "none")
        config["email"] = dict(common, host=smtp.host, port=smtp.port, security=security, username=smtp.username,
                               password=smtp.password, sender="incidents@example.test", ca_path=smtp.ca_file,
                               oncall_to=["oncall@example.test"], support_to=["support@example.test"],
                               team_to={"development": ["dev@example.test"], "infrastructure": ["infra@example.test"],
                                        "database": ["dba@example.test"]})
    return config
