# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Slack Web API: an incident channel, messages in it, and finding them again on a rerun.

config: ``api_url`` (https://slack.com/api), ``token`` (a bot token, sent as
``Authorization: Bearer``; never in any returned text) and the HTTP settings of
delivery.py. Write methods get JSON bodies, reads (conversations.list, .history) a GET
with a query.

Every Web API method answers HTTP 200 with ``{"ok": false, "error": "<code>"}`` when it
fails; a rate limit is HTTP 429 with Retry-After (retried within the call). The codes
are mapped to what to fix: invalid_auth, not_authed, token_revoked, account_inactive and
token_expired say to check the token; missing_scope names the scope; ratelimited,
internal_error, fatal_error, service_unavailable and request_timeout are retryable.

Idempotence: the incident channel carries a marker (e.g. "ai-orchestrator incident
incident-2026-11-28-083555") in its purpose, and every message ends with a line
"ref <marker>" (e.g. "ref incident-...:slack:initial"), so a rerun reuses the channel
(``open_channel`` on name_taken) and can look a message up (``find_message``) before
posting it again. A marker that already reads "ref ..." is the line as it is.

- ``channel_name(incident_id, suffix=None)``: a valid channel name.
- ``open_channel(config, name, marker)``: ref {channel, name, reused, unarchived}.
- ``post(config, channel, text, marker)``: ref {channel, ts}; joins and posts once more
  on not_in_channel.
- ``find_message(config, channel, marker)``: ref {found, ts, channel}.
"""

from __future__ import annotations

import re
import time
import unicodedata
from urllib.parse import urlencode

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.delivery import (
    Calls,
    http_options,
    names_marker,
    network_retryable,
    require,
    setting,
)

CHANNEL = "slack"
JSON = "application/json; charset=utf-8"
MAX_NAME = 80
MAX_SUFFIX = 9  # name, name-2 .. name-9: more taken names means something else is wrong
MAX_PURPOSE = 250
MAX_TEXT = 39000  # Slack cuts a message's text at 40,000 characters; the marker line must survive
LIST_PAGES = 25  # 5,000 channels
HISTORY_PAGES = 5  # 1,000 messages: an incident channel's own messages are recent
SLACK_RETRY_ON = (429,) + tuple(range(500, 600))
AUTH_ERRORS = ("invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired")
RETRY_ERRORS = ("ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout")
_INVALID = re.compile(r"[^a-z0-9_-]+")
_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


# --- pure parts -----------------------------------------------------------------------


def channel_name(incident_id, suffix=None):
    """A valid Slack channel name from an incident id: lowercase a-z 0-9 - _, at most 80
    characters; ``suffix`` (2, "-3", ...) is appended within the 80."""
    if incident_id is None or not str(incident_id).strip():
        raise InvalidInput("a Slack channel name needs an incident id, got %r" % (incident_id,))
    text = unicodedata.normalize("NFKD", str(incident_id)).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"-{2,}", "-", _INVALID.sub("-", text.strip().lower().lstrip("#"))).strip("-")
    if not re.search(r"[a-z0-9]", name):
        raise InvalidInput("incident id %r has no letter or digit to name a Slack channel after" % (incident_id,))
    tail = ""
    if suffix is not None and str(suffix).strip("-"):
        tail = "-" + _INVALID.sub("-", str(suffix).lower()).strip("-")
    return name[:MAX_NAME - len(tail)].rstrip("-_") + tail


def valid_name(name):
    """True when Slack accepts ``name`` for a channel (its documented naming rules)."""
    return bool(name) and len(name) <= MAX_NAME and not _INVALID.search(name) and bool(re.search(r"[a-z0-9]", name))


def marker_line(marker):
    """The last line of a message: the marker itself when it reads "ref ...", else "ref <marker>"."""
    return marker if marker.lower().startswith("ref ") else "ref %s" % marker


def with_marker(text, marker):
    """The message text ending with the line that names ``marker`` (kept when the text is cut)."""
    text = (text or "").rstrip()
    if text.endswith("\n" + marker_line(marker)) or text == marker_line(marker):
        return text
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT].rstrip() + "\n..."
    return "%s\n%s" % (text, marker_line(marker)) if text else marker_line(marker)


def has_marker(conversation, marker):
    """True when a conversation's purpose or topic names ``marker``."""
    for key in ("purpose", "topic"):
        value = conversation.get(key)
        value = value.get("value") if isinstance(value, dict) else value
        if names_marker(value, marker):
            return True
    return False


def is_channel_id(channel):
    return bool(_ID.match(channel or ""))


def explain(method, code, reply=None, subject=None):
    """(error, retryable) for a Web API error code: one line that says what to fix."""
    reply = reply if isinstance(reply, dict) else {}
    subject = subject or "the channel"
    if code in AUTH_ERRORS:
        return "Slack rejected the token (%s): check %s" % (code, setting(CHANNEL, "token")), False
    if code == "missing_scope":
        return ("the Slack token lacks the scope %s that %s needs (missing_scope): add it to the Slack app and reinstall it"
                % (reply.get("needed") or "?", method)), False
    if code in RETRY_ERRORS:
        return "Slack could not complete %s (%s): a later run will try again" % (method, code), True
    if (code or "").startswith("invalid_name") or code == "no_channel":
        return "Slack refused the channel name %s (%s): use lowercase letters, digits, - and _, at most 80" % (subject, code), False
    if code == "channel_not_found":
        return "Slack has no channel %s the bot can see (channel_not_found): check the name, or invite the bot" % subject, False
    if code == "is_archived":
        return "Slack channel %s is archived (is_archived): unarchive it or choose another" % subject, False
    if code == "not_in_channel":
        return "the bot is not a member of %s (not_in_channel): invite it to the channel" % subject, False
    if code == "restricted_action":
        return "a Slack workspace setting keeps the bot from %s (restricted_action): ask a workspace admin" % method, False
    if code == "unknown_method":
        return "Slack has no method %s there (unknown_method): check %s" % (method, setting(CHANNEL, "api_url")), False
    if code == "msg_too_long":
        return "the message is too long for Slack (msg_too_long)", False
    detail = reply.get("detail") or ""
    return "Slack %s failed (%s)%s" % (method, code or "no error code", ": %s" % detail if detail else ""), False


def brief(reply):
    """The part of a Web API answer worth keeping in a timeline."""
    if not isinstance(reply, dict):
        return None
    out = dict((k, reply[k]) for k in ("ok", "error", "warning", "needed", "ts") if k in reply)
    channel = reply.get("channel")
    if isinstance(channel, dict):
        out["channel"] = dict((k, channel[k]) for k in ("id", "name", "is_archived") if k in channel)
    elif channel is not None:
        out["channel"] = channel
    return out


# --- the API ---------------------------------------------------------------------------


class _Session(object):
    """One operation's calls: the base URL, the token header, the totals, the channel list once."""

    def __init__(self, config, sleep):
        self.base = require(config, CHANNEL, "api_url").rstrip("/")
        token = require(config, CHANNEL, "token")
        self.headers = {"Authorization": "Bearer %s" % token}
        self.calls = Calls(http_options(config, CHANNEL), secrets=[token], sleep=sleep, retry_on=SLACK_RETRY_ON)
        self.channels = None

    def call(self, method, args, write=True):
        """(reply or None, error or None, retryable): reply is the JSON of an ``ok`` answer."""
        url = "%s/%s" % (self.base, method)
        if write:
            # A message posted twice is a duplicate; every other write here is idempotent or fails visibly (name_taken).
            result = self.calls.request(url, "POST", headers=dict(self.headers, **{"Content-Type": JSON}), body=args,
                                        once=method == "chat.postMessage")
        else:
            result = self.calls.request("%s?%s" % (url, urlencode(args)), "GET", headers=self.headers)
        reply = result.json if isinstance(result.json, dict) else None
        if reply is not None and reply.get("ok") is True and result.ok:
            return reply, None, None, False
        if reply is not None and reply.get("error"):
            code = str(reply.get("error"))
            if result.status == 429 or code in ("ratelimited", "rate_limited"):
                return reply, code, "Slack rate-limited %s after %d attempts (HTTP 429): a later run will try again" % (
                    method, result.attempts), True
            return reply, code, None, None
        if not result.ok:
            hint = ": check %s" % setting(CHANNEL, "api_url") if result.status == 404 else ""
            return reply, None, "Slack %s failed: %s%s" % (method, result.error, hint), network_retryable(result)
        return reply, None, ("Slack %s answered without the Web API's JSON (HTTP %s): check %s"
                             % (method, result.status, setting(CHANNEL, "api_url"))), False

    def finish(self, ok, error=None, retryable=False, reply=None, ref=None):
        return self.calls.finish(ok, error=error, retryable=retryable, response=brief(reply), ref=ref)

    def fail(self, method, reply, code, error, retryable, subject=None, ref=None):
        """The Delivery of a failed call (``error`` given, or explained from ``code``)."""
        if error is None:
            error, retryable = explain(method, code, reply, subject)
        return self.finish(False, error=error, retryable=retryable, reply=reply, ref=ref)

    def list_channels(self):
        """({name: conversation}, None) of every public and private channel the bot can see,
        archived included; (None, failure Delivery) when the listing fails."""
        if self.channels is not None:
            return self.channels, None
        found, cursor = {}, ""
        for _page in range(LIST_PAGES):
            args = {"types": "public_channel,private_channel", "exclude_archived": "false", "limit": 200}
            if cursor:
                args["cursor"] = cursor
            reply, code, error, retryable = self.call("conversations.list", args, write=False)
            if code or error:
                return None, self.fail("conversations.list", reply, code, error, retryable)
            for conversation in reply.get("channels") or ():
                if isinstance(conversation, dict) and conversation.get("name"):
                    found.setdefault(conversation["name"], conversation)
            cursor = (reply.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        self.channels = found
        return found, None

    def resolve(self, channel):
        """(channel id, None) for an id, a name or a #name; (None, failure Delivery) if there is none."""
        channel = channel.strip()
        if is_channel_id(channel):
            return channel, None
        name = channel.lstrip("#")
        channels, failure = self.list_channels()
        if failure:
            return None, failure
        if name not in channels:
            error = explain("conversations.list", "channel_not_found", subject="#%s" % name)[0]
            return None, self.finish(False, error=error, ref={"channel": None, "name": name})
        return channels[name]["id"], None

    def join(self, channel_id, subject):
        """None once the bot is a member of the channel, else the failure Delivery."""
        reply, code, error, retryable = self.call("conversations.join", {"channel": channel_id})
        if code or error:
            return self.fail("conversations.join", reply, code, error, retryable, subject=subject, ref={"channel": channel_id})
        return None


def open_channel(config, name, marker, sleep=time.sleep):
    """Create the incident channel ``name`` with ``marker`` in its purpose, or reuse the one a
    previous run created (found by the marker; unarchived and joined as needed). Taken by
    another channel: ``name-2`` .. ``name-9``. A Delivery, ref {channel, name, reused, unarchived}."""
    if not marker or not str(marker).strip():
        raise InvalidInput("open_channel needs a marker to recognise the incident's channel on a rerun")
    marker = str(marker).strip()
    base = channel_name(name)
    session = _Session(config, sleep)
    taken = []
    for number in [None] + list(range(2, MAX_SUFFIX + 1)):
        candidate = channel_name(base, number)
        reply, code, error, retryable = session.call("conversations.create", {"name": candidate})
        if not code and not error:
            channel_id = reply["channel"]["id"]
            ref = {"channel": channel_id, "name": reply["channel"].get("name", candidate), "reused": False,
                   "unarchived": False, "purpose_set": True}
            purpose = marker[:MAX_PURPOSE]
            said, code, error, retryable = session.call("conversations.setPurpose", {"channel": channel_id, "purpose": purpose})
            if code or error:
                # The channel is there and usable; a rerun will not recognise it, so say so.
                why = error or explain("conversations.setPurpose", code, said)[0]
                ref["purpose_set"] = False
                answer = dict(brief(reply), warning="purpose not set, a rerun will not find this channel by its marker: %s" % why)
                return session.calls.finish(True, response=answer, ref=ref)
            return session.finish(True, reply=reply, ref=ref)
        if code != "name_taken":
            return session.fail("conversations.create", reply, code, error, retryable, subject="#%s" % candidate)
        channels, failure = session.list_channels()
        if failure:
            return failure
        existing = channels.get(candidate)
        if existing is None or not has_marker(existing, marker):
            taken.append(candidate)  # someone else's channel (or one the bot cannot see)
            continue
        return _reuse(session, existing, candidate)
    return session.finish(False, error=("Slack channel names %s .. %s are all taken by channels without the marker %r: "
                                        "rename or archive them, or choose another name" % (taken[0], taken[-1], marker)),
                          ref={"channel": None, "name": None, "reused": False, "unarchived": False})


def _reuse(session, existing, name):
    channel_id = existing["id"]
    unarchived = False
    if existing.get("is_archived"):
        reply, code, error, retryable = session.call("conversations.unarchive", {"channel": channel_id})
        if (code or error) and code != "not_archived":
            return session.fail("conversations.unarchive", reply, code, error, retryable, subject="#%s" % name,
                                ref={"channel": channel_id, "name": name, "reused": True, "unarchived": False})
        unarchived = code != "not_archived"
    if unarchived or not existing.get("is_member"):
        failure = session.join(channel_id, "#%s" % name)
        if failure:
            failure["ref"].update(name=name, reused=True, unarchived=unarchived)
            return failure
    return session.finish(True, reply={"ok": True, "channel": dict(existing, is_archived=False)},
                          ref={"channel": channel_id, "name": name, "reused": True, "unarchived": unarchived, "purpose_set": True})


def post(config, channel, text, marker, sleep=time.sleep):
    """Post ``text`` (ending with the line "ref <marker>") to ``channel`` (an id, a name or a
    #name). Not a member: join and post once more. A Delivery, ref {channel, ts}."""
    if not marker or not str(marker).strip():
        raise InvalidInput("post needs a marker so a rerun can find the message")
    if not channel or not str(channel).strip():
        raise InvalidInput("post needs a channel (an id or a name), got %r" % (channel,))
    channel = str(channel).strip()
    body = with_marker(text, str(marker).strip())
    session = _Session(config, sleep)
    target = channel if is_channel_id(channel) else "#" + channel.lstrip("#")
    reply, code, error, retryable = session.call("chat.postMessage", {"channel": target, "text": body})
    if code in ("not_in_channel", "channel_not_found") and not (code == "channel_not_found" and is_channel_id(channel)):
        channel_id, failure = session.resolve(channel)
        if failure:
            return failure
        failure = session.join(channel_id, target)
        if failure:
            return failure
        reply, code, error, retryable = session.call("chat.postMessage", {"channel": channel_id, "text": body})
    if code or error:
        return session.fail("chat.postMessage", reply, code, error, retryable, subject=target, ref={"channel": None, "ts": None})
    return session.finish(True, reply=reply, ref={"channel": reply.get("channel"), "ts": reply.get("ts")})


def find_message(config, channel, marker, sleep=time.sleep):
    """Look for a message naming ``marker`` in the channel's recent history (1,000 messages at
    most). A Delivery, ref {found, ts, channel}; ok when the history could be read."""
    if not marker or not str(marker).strip():
        raise InvalidInput("find_message needs the marker to look for")
    marker = str(marker).strip()
    session = _Session(config, sleep)
    channel_id, failure = session.resolve(str(channel or ""))
    if failure:
        failure["ref"].update(found=False, ts=None)
        return failure
    cursor, joined, pages = "", False, 0
    while pages < HISTORY_PAGES:
        args = {"channel": channel_id, "limit": 200}
        if cursor:
            args["cursor"] = cursor
        reply, code, error, retryable = session.call("conversations.history", args, write=False)
        if code == "not_in_channel" and not joined:
            joined = True  # a bot reads the history of the channels it is in
            failure = session.join(channel_id, channel)
            if failure:
                failure["ref"].update(found=False, ts=None)
                return failure
            continue
        if code or error:
            return session.fail("conversations.history", reply, code, error, retryable, subject=channel,
                                ref={"found": False, "ts": None, "channel": channel_id})
        pages += 1
        for message in reply.get("messages") or ():
            if isinstance(message, dict) and names_marker(message.get("text"), marker):
                return session.finish(True, reply={"ok": True}, ref={"found": True, "ts": message.get("ts"), "channel": channel_id})
        cursor = (reply.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor or reply.get("has_more") is False:
            break
    return session.finish(True, reply={"ok": True}, ref={"found": False, "ts": None, "channel": channel_id})
