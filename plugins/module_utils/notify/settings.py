# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The notifier's settings: the ``settings`` option of incident_notify (the roles' ``incident_notify``).

Documented by the ``notify`` doc fragment; tests/unit/test_collection_meta.py keeps both in step.
Nothing has a real endpoint or address by default: an unset channel means "not sent, recorded".
"""

from __future__ import annotations

import csv
import json
import os

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput


def notify_settings_spec():
    """Sub-options of ``settings``."""
    return dict(
        http=dict(type="dict", default={}, options=dict(
            timeout=dict(type="float", default=10.0),
            retries=dict(type="int", default=3),
            backoff=dict(type="float", default=1.0),
            max_retry_after=dict(type="float", default=30.0),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
        )),
        slack=dict(type="dict", default={}, options=dict(
            api_url=dict(type="str"),
            token=dict(type="str", no_log=True),
        )),
        pagerduty=dict(type="dict", default={}, options=dict(
            events_url=dict(type="str"),
            routing_keys=dict(type="dict", default={}, no_log=True),
            api_url=dict(type="str"),
            api_token=dict(type="str", no_log=True),
        )),
        statuspage=dict(type="dict", default={}, options=dict(
            api_url=dict(type="str"),
            page_id=dict(type="str"),
            api_key=dict(type="str", no_log=True),
            components=dict(type="dict", default={}),
            enabled=dict(type="bool", default=False),
        )),
        email=dict(type="dict", default={}, options=dict(
            host=dict(type="str"),
            port=dict(type="int", default=587),
            security=dict(type="str", default="starttls", choices=["starttls", "ssl", "none"]),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            sender=dict(type="str"),
            ca_path=dict(type="path"),
            validate_certs=dict(type="bool"),
            oncall_to=dict(type="list", elements="str", default=[]),
            support_to=dict(type="list", elements="str", default=[]),
            team_to=dict(type="dict", default={}),
            chain_to=dict(type="dict", default={}),
        )),
        customers=dict(type="dict", default={}, options=dict(
            list=dict(type="list", elements="dict", default=[]),
            file=dict(type="path"),
            multiple_min=dict(type="int", default=2),
            email_enabled=dict(type="bool", default=False),
        )),
    )


def _read_customers(path):
    """Customers from a JSON list or a CSV export with columns name, email, services (';'-separated, '*' for all)."""
    try:
        with open(path, encoding="utf-8") as handle:
            if path.endswith(".json"):
                rows = json.load(handle)
            else:
                rows = [dict(row, services=[s.strip() for s in (row.get("services") or "*").split(";") if s.strip()])
                        for row in csv.DictReader(handle)]
    except (OSError, ValueError) as exc:
        raise InvalidInput("incident_notify.customers.file %s cannot be read: %s" % (path, exc))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput("incident_notify.customers.file %s must hold a list of {name, email, services}" % path)
    return rows


def normalize(settings):
    """Checked settings: the customer file read, lists of names cleaned, nothing sent yet."""
    settings = dict(settings or {})
    customers = dict(settings.get("customers") or {})
    listed = list(customers.get("list") or [])
    if customers.get("file"):
        listed += _read_customers(os.path.expanduser(customers["file"]))
    for entry in listed:
        if not entry.get("email") and not entry.get("name"):
            raise InvalidInput("incident_notify.customers: every customer needs a name or an email, got %r" % (entry,))
        services = entry.get("services") or ["*"]
        entry["services"] = [services] if isinstance(services, str) else list(services)
    customers["list"] = listed
    if (customers.get("multiple_min") or 2) < 1:
        raise InvalidInput("incident_notify.customers.multiple_min must be 1 or more")
    settings["customers"] = customers
    for field in ("team_to", "chain_to"):
        mapping = (settings.get("email") or {}).get(field) or {}
        for name, addresses in mapping.items():
            if isinstance(addresses, str):
                mapping[name] = [addresses]
            elif not isinstance(addresses, list):
                raise InvalidInput("incident_notify.email.%s.%s: expected a list of addresses" % (field, name))
    http = settings.get("http") or {}
    if (http.get("timeout") is not None and http["timeout"] <= 0) or (http.get("retries") is not None and http["retries"] < 0):
        raise InvalidInput("incident_notify.http: timeout must be above 0 and retries 0 or more")
    settings["pagerduty_targets"] = sorted(((settings.get("pagerduty") or {}).get("routing_keys") or {}).keys())
    return settings


def public(settings):
    """The settings without secrets, for the plan (which never needs a key)."""
    shown = {}
    for section, values in (settings or {}).items():
        if isinstance(values, dict):
            shown[section] = dict((k, v) for k, v in values.items() if k not in ("token", "api_key", "password", "routing_keys", "api_token"))
        else:
            shown[section] = values
    return shown
