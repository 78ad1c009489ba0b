# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Atlassian Statuspage REST API v1: the customer-facing incident.

config: ``api_url`` (https://api.statuspage.io/v1), ``page_id``, ``api_key`` (sent as
``Authorization: OAuth <api_key>``; never in any returned text) and the HTTP settings of
delivery.py.

- ``create_incident(config, name, status, body, impact, components, marker)``:
  POST /pages/{page_id}/incidents; ref {id, shortlink}.
- ``update_incident(config, incident_id, status, body, components)``:
  PATCH /pages/{page_id}/incidents/{id}; ref {id, shortlink}.
- ``resolve_incident(config, incident_id, body, components=None)``: an update to
  ``resolved`` that sets the given components (ids) back to ``operational``.
- ``find_incident(config, marker)``: ref {found, id, shortlink, status}.

Where the marker lives: in the incident's ``metadata`` (``{"ai_orchestrator": {"marker":
...}}``), which the API stores and returns with every incident, and customers never see.
``q=`` searches only name, status, postmortem and update bodies, not metadata, so
find_incident lists the page's incidents (newest first, 100 a page, 3 pages at most)
and matches the metadata; an incident whose update text carries the marker (written by
hand, or with the config's ``marker_in_body: true``, which adds a short "Ref: <marker>"
line to the first update) is matched too.

Statuses: 401 (the key), 404 (the page or incident) and 422/400 (the request) are not
retried and say what to fix; 420 and 429 (Statuspage's rate limit, about one request a
second per key) and 5xx are retried within the call, then reported retryable.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.delivery import (
    Calls,
    http_options,
    names_marker,
    network_retryable,
    require,
    setting,
)

CHANNEL = "statuspage"
STATUSES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("none", "minor", "major", "critical")
COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
METADATA_KEY = "ai_orchestrator"
LIST_PAGES = 3
PAGE_SIZE = 100  # the API's maximum


# --- pure parts -----------------------------------------------------------------------


def check_status(status):
    if status not in STATUSES:
        raise InvalidInput("Statuspage incident status must be one of %s, got %r" % (", ".join(STATUSES), status))
    return status


def check_components(components):
    """{component id: status} from a mapping (or a list of ids, all ``major_outage``); InvalidInput for an unknown status."""
    if not components:
        return {}
    if isinstance(components, (list, tuple)):
        components = dict((c, "major_outage") for c in components)
    if not isinstance(components, dict):
        raise InvalidInput("Statuspage components must map component ids to statuses, got %s" % type(components).__name__)
    out = {}
    for component, status in components.items():
        if status not in COMPONENT_STATUSES:
            raise InvalidInput("Statuspage component %s: status must be one of %s, got %r"
                               % (component, ", ".join(COMPONENT_STATUSES), status))
        out[str(component)] = status
    return out


def incident_body(name, status, body, impact, components, marker, marker_in_body=False):
    """The JSON of a new incident."""
    if not name or not str(name).strip():
        raise InvalidInput("a Statuspage incident needs a name")
    if impact not in IMPACTS:
        raise InvalidInput("Statuspage impact must be one of %s, got %r" % (", ".join(IMPACTS), impact))
    if not marker or not str(marker).strip():
        raise InvalidInput("create_incident needs a marker so a rerun finds the incident")
    components = check_components(components)
    text = str(body or "").rstrip()
    if marker_in_body:
        text = "%s\n\nRef: %s" % (text, marker) if text else "Ref: %s" % marker
    incident = {"name": str(name).strip(), "status": check_status(status), "impact_override": impact, "body": text,
                "deliver_notifications": True, "metadata": {METADATA_KEY: {"marker": str(marker).strip()}}}
    if components:
        incident["component_ids"] = sorted(components)
        incident["components"] = components
    return {"incident": incident}


def update_body(status, body, components):
    """The JSON of an update (a new status and message, component statuses)."""
    components = check_components(components)
    incident = {"status": check_status(status), "body": str(body or "").rstrip(), "deliver_notifications": True}
    if components:
        incident["component_ids"] = sorted(components)
        incident["components"] = components
    return {"incident": incident}


def incident_marker(incident):
    """The marker kept in an incident's metadata (None without one)."""
    metadata = incident.get("metadata") if isinstance(incident, dict) else None
    if not isinstance(metadata, dict):
        return None
    ours = metadata.get(METADATA_KEY)
    if isinstance(ours, dict):
        return ours.get("marker")
    return metadata.get("marker") if isinstance(metadata.get("marker"), str) else None


def matches(incident, marker):
    """True when an incident carries ``marker``: in its metadata, or in an update's text."""
    if incident_marker(incident) == marker:
        return True
    for update in incident.get("incident_updates") or ():
        if isinstance(update, dict) and names_marker(update.get("body"), marker):
            return True
    return False


def explain(status, reply, what, config_hint=None):
    """One line for a 4xx answer."""
    said = _said(reply)
    if status == 401:
        return "Statuspage rejected the API key (HTTP 401%s): check %s" % (": " + said if said else "", setting(CHANNEL, "api_key"))
    if status == 403:
        return "the Statuspage API key may not %s (HTTP 403%s): give its user the Incident Manager role" % (what, ": " + said if said else "")
    if status == 404:
        return "Statuspage found no %s (HTTP 404%s): check %s" % (config_hint or "page", ": " + said if said else "",
                                                                  setting(CHANNEL, "page_id"))
    return "Statuspage refused to %s (HTTP %d%s)" % (what, status, ": " + said if said else "")


def _said(reply):
    if not isinstance(reply, dict):
        return ""
    error = reply.get("error") or reply.get("message") or reply.get("errors")
    if isinstance(error, (list, tuple)):
        return "; ".join(str(e) for e in error)
    if isinstance(error, dict):
        return "; ".join("%s %s" % (k, v) for k, v in error.items())
    return str(error or "")


def brief(incident):
    if not isinstance(incident, dict):
        return None
    out = dict((k, incident[k]) for k in ("id", "name", "status", "impact", "shortlink", "created_at", "updated_at", "resolved_at")
               if k in incident)
    components = incident.get("components")
    if isinstance(components, list):
        out["components"] = dict((c.get("id"), c.get("status")) for c in components if isinstance(c, dict))
    updates = incident.get("incident_updates")
    if isinstance(updates, list) and updates:
        out["updates"] = len(updates)
    if "error" in incident:
        out["error"] = incident["error"]
    return out


# --- the API ---------------------------------------------------------------------------


class _Session(object):
    def __init__(self, config, sleep):
        api_url, page_id = require(config, CHANNEL, "api_url", "page_id")
        key = require(config, CHANNEL, "api_key")
        self.base = "%s/pages/%s" % (api_url.rstrip("/"), quote(str(page_id), safe=""))
        self.headers = {"Authorization": "OAuth %s" % key}
        self.calls = Calls(http_options(config, CHANNEL), secrets=[key], sleep=sleep)

    def call(self, method, path, body=None, query=None):
        url = self.base + path + ("?" + urlencode(query) if query else "")
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        # A creation sent twice is two incidents on the public page; updates are idempotent.
        return self.calls.request(url, method, headers=headers, body=body, once=method == "POST")

    def failure(self, result, what, hint=None, ref=None):
        if result.error_kind == "http" and result.status not in (420, 429) and result.status < 500:
            error, retryable = explain(result.status, result.json, what, hint), False
        else:
            plural = "" if result.attempts == 1 else "s"
            error = "Statuspage did not %s after %d attempt%s: %s" % (what, result.attempts, plural, result.error)
            if result.status in (420, 429):
                error += " (rate limited: about one request a second per API key)"
            retryable = network_retryable(result)
        return self.calls.finish(False, error=error, retryable=retryable, response=brief(result.json) or _said(result.json) or None,
                                 ref=ref or {})

    def done(self, result, ref_extra=None):
        incident = result.json if isinstance(result.json, dict) else {}
        ref = {"id": incident.get("id"), "shortlink": incident.get("shortlink")}
        ref.update(ref_extra or {})
        return self.calls.finish(True, response=brief(incident), ref=ref)


def create_incident(config, name, status, body, impact, components, marker, sleep=time.sleep):
    """Open an incident (customers with notifications get ``body``). A Delivery, ref {id, shortlink}."""
    payload = incident_body(name, status, body, impact, components, marker, bool(config.get("marker_in_body")))
    session = _Session(config, sleep)
    result = session.call("POST", "/incidents", payload)
    if not result.ok:
        return session.failure(result, "create the incident", ref={"id": None, "shortlink": None})
    return session.done(result)


def update_incident(config, incident_id, status, body, components, sleep=time.sleep):
    """A new status and message on an incident (and component statuses). A Delivery, ref {id, shortlink}."""
    if not incident_id or not str(incident_id).strip():
        raise InvalidInput("update_incident needs the id of the Statuspage incident")
    payload = update_body(status, body, components)
    session = _Session(config, sleep)
    result = session.call("PATCH", "/incidents/%s" % quote(str(incident_id).strip(), safe=""), payload)
    if not result.ok:
        return session.failure(result, "update incident %s" % incident_id, hint="incident %s on this page" % incident_id,
                               ref={"id": incident_id, "shortlink": None})
    return session.done(result)


def resolve_incident(config, incident_id, body, components=None, sleep=time.sleep):
    """Resolve an incident; ``components`` (ids, or {id: status}) go back to operational."""
    if isinstance(components, dict):
        components = list(components)
    restored = dict((c, "operational") for c in components or ())
    return update_incident(config, incident_id, "resolved", body, restored, sleep=sleep)


def find_incident(config, marker, sleep=time.sleep):
    """The incident a previous run opened with ``marker``. A Delivery, ref {found, id, shortlink, status};
    ok when the list could be read."""
    if not marker or not str(marker).strip():
        raise InvalidInput("find_incident needs the marker to look for")
    marker = str(marker).strip()
    session = _Session(config, sleep)
    seen = 0
    for page in range(1, LIST_PAGES + 1):
        result = session.call("GET", "/incidents", query={"limit": PAGE_SIZE, "page": page})
        if not result.ok:
            return session.failure(result, "list the incidents", ref={"found": False, "id": None})
        incidents = result.json if isinstance(result.json, list) else []
        seen += len(incidents)
        for incident in incidents:
            if isinstance(incident, dict) and matches(incident, marker):
                return session.calls.finish(True, response=brief(incident),
                                            ref={"found": True, "id": incident.get("id"), "shortlink": incident.get("shortlink"),
                                                 "status": incident.get("status")})
        if len(incidents) < PAGE_SIZE:
            break
    return session.calls.finish(True, response={"seen": seen, "matched": 0}, ref={"found": False, "id": None})
