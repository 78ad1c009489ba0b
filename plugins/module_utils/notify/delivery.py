# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one answer every notification sender gives: a **Delivery** dict.

::

    {"ok": bool,            # the channel's API accepted it
     "retryable": bool,     # a later run may try again (network error, rate limit, 5xx...)
     "status": int|None,    # the last HTTP status (SMTP: the last reply code)
     "error": str|None,     # one line, secrets masked, says what to fix
     "attempts": int,       # requests sent, summed over every call of the operation
     "waits": [float],      # seconds waited between attempts (Retry-After or backoff)
     "response": dict|None, # the API's answer, small and redacted (for the incident timeline)
     "ref": dict}           # ids to remember (see each sender)

Senders never raise for a network or API failure; only ``InvalidInput`` for a config no
request could be made with, before anything is sent.

Shared here: the HTTP settings every channel takes (``timeout`` 10, ``retries`` 3,
``backoff`` 1.0, ``max_retry_after`` 30, ``validate_certs`` True, ``ca_path``), the
``Calls`` accumulator that sums attempts and waits over the requests of one operation,
and the redaction of what a Delivery returns.

Retryable: refused, timeout, dropped connection and DNS failures (the network may come
back), 420/429 and 5xx. Not retryable: TLS failures (a certificate to fix) and every other
HTTP answer (a request to fix).
"""

from __future__ import annotations

import re
import time

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import (
    RETRIED_KINDS,
    http_request,
    redact,
    redact_value,
)

DEFAULTS = {"timeout": 10.0, "retries": 3, "backoff": 1.0, "max_backoff": 30.0, "max_retry_after": 30.0,
            "validate_certs": True, "ca_path": None}
# Statuses worth another try: rate limits (Statuspage answers 420 too) and server errors.
RETRY_STATUSES = (420, 429) + tuple(range(500, 600))
NETWORK_KINDS = ("refused", "timeout", "connection", "dns")
MAX_ERROR = 300  # one line in a timeline, not a page of HTML
MAX_TEXT = 500  # longest string kept in a response


def delivery(ok, retryable=False, status=None, error=None, attempts=0, waits=None, response=None, ref=None):
    """A Delivery dict (see the module docstring)."""
    return {"ok": bool(ok), "retryable": bool(retryable) and not ok, "status": status, "error": error,
            "attempts": int(attempts), "waits": list(waits or ()), "response": response, "ref": dict(ref or {})}


def setting(channel, key):
    """Where an operator sets ``key`` of ``channel``, for messages: ``incident_notify.slack.token``."""
    return "incident_notify.%s.%s" % (channel, key)


def require(config, channel, *keys):
    """The values of ``keys`` in ``config``; InvalidInput naming the first missing one."""
    if not isinstance(config, dict):
        raise InvalidInput("%s must be a mapping, got %s" % ("incident_notify.%s" % channel, type(config).__name__))
    values = []
    for key in keys:
        value = config.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidInput("%s is not set" % setting(channel, key))
        values.append(value.strip() if isinstance(value, str) else value)
    return values[0] if len(values) == 1 else values


def http_options(config, channel):
    """The http_request() keyword arguments a channel's config gives (defaults filled in)."""
    options = {}
    for key, default in DEFAULTS.items():
        value = config.get(key, default)
        options[key] = default if value is None else value
    for key in ("timeout", "backoff", "max_backoff", "max_retry_after"):
        try:
            options[key] = float(options[key])
        except (TypeError, ValueError):
            raise InvalidInput("%s must be a number of seconds, got %r" % (setting(channel, key), options[key]))
    try:
        options["retries"] = int(options["retries"])
    except (TypeError, ValueError):
        raise InvalidInput("%s must be a whole number, got %r" % (setting(channel, "retries"), options["retries"]))
    options["validate_certs"] = bool(options["validate_certs"])
    return options


def one_line(text, secrets=(), limit=MAX_ERROR):
    """``text`` on one line, secrets masked (before cutting, so no piece of one survives), at most ``limit`` characters."""
    if text is None:
        return None
    text = " ".join(redact(str(text), secrets).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def small(value, secrets=(), depth=0):
    """A JSON-like value made small for a timeline: secrets masked, strings cut, lists and nesting bounded."""
    if depth > 4:
        return "..."
    if isinstance(value, dict):
        return dict((str(k), small(v, secrets, depth + 1)) for k, v in list(value.items())[:30])
    if isinstance(value, (list, tuple)):
        return [small(v, secrets, depth + 1) for v in list(value)[:20]]
    if isinstance(value, str):
        return one_line(value, secrets, MAX_TEXT)
    return redact_value(value, secrets)


def names_marker(text, marker):
    """True when ``text`` holds ``marker`` as a whole (".../update-1" is not found in ".../update-10")."""
    if not text or not marker:
        return False
    return re.search(r"(?<![\w.:/-])%s(?![\w:/-]|\.\w)" % re.escape(marker), str(text)) is not None


def network_retryable(result):
    """True when a failed HttpResult is worth another run: no answer over the network, a rate limit or a 5xx."""
    if result.error_kind in NETWORK_KINDS:
        return True
    return result.status in RETRY_STATUSES


class Calls(object):
    """The requests of one operation (a Slack channel opened in four calls is one Delivery).

    ``request()`` sends through http_request() with the channel's options and secrets and
    adds its attempts and waits to the running totals; ``finish()`` builds the Delivery.
    """

    def __init__(self, options, secrets=(), sleep=time.sleep, retry_on=RETRY_STATUSES):
        self.options = dict(options)
        self.secrets = [s for s in secrets if s]
        self.sleep = sleep
        self.retry_on = retry_on
        self.attempts = 0
        self.waits = []
        self.status = None
        self.last = None

    def request(self, url, method="GET", headers=None, body=None, once=False):
        """``once``: a request that must not be carried out twice (a post, a creation) is retried only when the
        connection was refused; after a timeout or a dropped connection the server may have acted, and the
        outbox's reconciliation (find by marker) decides on a later run."""
        kinds = ("refused",) if once else RETRIED_KINDS
        result = http_request(url, method=method, headers=headers, body=body, retry_on=self.retry_on,
                              secrets=self.secrets, sleep=self.sleep, retry_kinds=kinds, **self.options)
        self.attempts += result.attempts
        self.waits.extend(result.waits)
        self.status = result.status
        self.last = result
        return result

    def finish(self, ok, error=None, retryable=False, response=None, ref=None, status=None):
        return delivery(ok, retryable=retryable, status=self.status if status is None else status,
                        error=one_line(error, self.secrets), attempts=self.attempts, waits=self.waits,
                        response=small(response, self.secrets) if response is not None else None,
                        ref=small(ref or {}, self.secrets))
