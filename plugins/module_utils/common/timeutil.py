# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Time in one place: UTC datetimes, the API's RFC 3339 stamps, epoch seconds, ages.

Code that waits takes a ``clock`` (an object with ``time()`` and ``sleep()``, the
``time`` module by default) so unit tests can run it on an injected clock.
"""

from __future__ import annotations

import datetime

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput


def utc_now():
    """The current time as an aware UTC datetime."""
    return datetime.datetime.now(datetime.timezone.utc)


def to_utc(value):
    """An aware UTC datetime from a datetime (naive = UTC), a date or an ISO-8601 string."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput("cannot read %r as a time: expected ISO-8601 such as 2026-05-09T07:35:25Z" % value)
    else:
        raise InvalidInput("cannot read %r (%s) as a time" % (value, type(value).__name__))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def format_time(value, timespec="seconds"):
    """ISO-8601 in UTC with a ``Z`` suffix: ``2026-05-09T07:35:25Z``."""
    return to_utc(value).isoformat(timespec=timespec).replace("+00:00", "Z")


def rfc3339(moment):
    """A datetime as the Kubernetes API writes times (seconds, ``Z``)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_epoch(seconds):
    """Epoch seconds as the Kubernetes API writes times."""
    return rfc3339(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))


def epoch(value):
    """Epoch seconds of an API timestamp (``2026-05-09T07:35:25Z``); None when unset."""
    if not value:
        return None
    return datetime.datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z").timestamp()


def age_seconds(value, now):
    """Whole seconds from an API timestamp to ``now`` (epoch); None when unset."""
    created = epoch(value)
    return None if created is None else max(0, int(now - created))


def ago(seconds):
    """A short human duration: ``45s``, ``12m``, ``3h``."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    return "%dh" % (seconds // 3600)
