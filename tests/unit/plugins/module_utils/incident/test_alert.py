# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The alert that started a run is untrusted input: checked, bounded, keyed."""

from __future__ import annotations

import random
import string

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident.alert import alert_scope, validate_alert

WEBHOOK_ALERT = {
    "status": "firing",
    "labels": {"alertname": "ServiceDown", "namespace": "payments", "service": "ledger", "severity": "critical"},
    "annotations": {"summary": "ledger has no ready replica"},
    "startsAt": "2026-11-27T03:14:00.123456789Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    "fingerprint": "8a1f2b3c4d5e6f70",
}


def test_a_webhook_alert_is_accepted_as_alertmanager_sends_it():
    alert = validate_alert(WEBHOOK_ALERT)
    assert alert["name"] == "ServiceDown" and alert["labels"]["service"] == "ledger"
    assert alert["starts_at"] == "2026-11-27T03:14:00Z"
    assert alert["key"] == "8a1f2b3c4d5e6f70@2026-11-27T03:14:00Z"
    assert alert_scope(alert) == ("payments", "ledger")


def test_the_key_is_stable_per_firing_and_differs_between_firings():
    assert validate_alert(dict(WEBHOOK_ALERT))["key"] == validate_alert(dict(WEBHOOK_ALERT, endsAt="2026-11-27T04:00:00Z"))["key"]
    later = validate_alert(dict(WEBHOOK_ALERT, startsAt="2026-11-27T05:00:00+02:00"))
    assert later["key"] == "8a1f2b3c4d5e6f70@2026-11-27T03:00:00Z"


def test_without_a_fingerprint_the_labels_stand_in_in_any_order():
    one = validate_alert({"name": "ServiceDown", "labels": {"a": "1", "b": "2"}})
    two = validate_alert({"labels": {"b": "2", "a": "1", "alertname": "ServiceDown"}})
    other = validate_alert({"name": "ServiceDown", "labels": {"a": "1", "b": "3"}})
    assert one["key"] == two["key"] != other["key"]


@pytest.mark.parametrize("value,fragment", [
    ("ServiceDown", "must be a mapping"),
    ({"labels": {"namespace": "x"}}, "needs a name"),
    ({"name": "Service Down"}, "not a Prometheus alert name"),
    ({"name": "x" * 300}, "not a Prometheus alert name"),
    ({"name": "A", "labels": ["a"]}, "alert.labels must be a mapping"),
    ({"name": "A", "labels": {"bad-name": "x"}}, "not a valid name"),
    ({"name": "A", "labels": {"a": {"nested": 1}}}, "must be a string"),
    ({"name": "A", "labels": {"a": "x" * 2000}}, "longer than"),
    ({"name": "A", "labels": {"l%d" % n: "x" for n in range(100)}}, "at most"),
    ({"name": "A", "fingerprint": "../../etc"}, "hexadecimal"),
    ({"name": "A", "startsAt": "yesterday"}, "RFC 3339"),
    ({"name": "A", "startsAt": "2026-13-45T25:00:00Z"}, "not a real time"),
    ({"name": "A", "status": "pending"}, "firing or resolved"),
    ({"name": "A", "command": "rm -rf /"}, "unknown field"),
])
def test_bad_alerts_are_refused_with_the_field_named(value, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        validate_alert(value)


def test_no_alert_is_none():
    assert validate_alert(None) is None and validate_alert({}) is None


def test_random_label_sets_either_validate_or_raise_invalid_input():
    """Invariant over random input: never another exception; what passes is bounded and string-valued."""
    rng = random.Random(9)
    alphabet = string.ascii_letters + string.digits + "_-:./ \x00"
    for dummy in range(500):
        labels = {}
        for dummy in range(rng.randint(0, 5)):
            key = "".join(rng.choice(alphabet) for dummy in range(rng.randint(0, 8)))
            labels[key] = rng.choice(["v", 1, 1.5, None, True, ["x"], "".join(rng.choice(alphabet) for dummy in range(rng.randint(0, 20)))])
        value = {"name": rng.choice(["ServiceDown", "bad name", "", "a:b_c"]), "labels": labels}
        try:
            alert = validate_alert(value)
        except InvalidInput:
            continue
        assert all(isinstance(v, str) and "\x00" not in v for v in alert["labels"].values())
        assert "@" in alert["key"]
