# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mail, the SMTP settings and what each smtplib failure means (no network)."""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify import smtp

PASSWORD = "pw-unit-s3cret"
CONFIG = {"host": "smtp.example.test", "sender": "incidents@example.test", "username": "u", "password": PASSWORD}


def test_settings_default_to_starttls_on_587():
    conf = smtp.settings(CONFIG)
    assert (conf["security"], conf["port"], conf["retries"], conf["timeout"]) == ("starttls", 587, 3, 10.0)
    assert smtp.settings(dict(CONFIG, security="SSL"))["port"] == 465
    assert smtp.settings(dict(CONFIG, security="none", port="2525"))["port"] == 2525


@pytest.mark.parametrize("change, message", [
    ({"host": ""}, r"incident_notify\.email\.host is not set"),
    ({"sender": "nobody"}, "is not an e-mail address"),
    ({"security": "tls"}, "security must be one of"),
    ({"port": 70000}, "must be a TCP port"),
    ({"password": None}, "set both"),
    ({"ca_path": "/nonexistent/ca.pem"}, "is not a file"),
])
def test_unusable_settings_are_refused_before_connecting(change, message):
    with pytest.raises(InvalidInput, match=message):
        smtp.settings(dict(CONFIG, **change))


def test_addresses_and_message_ids():
    assert smtp.addresses("a@x.test", "to") == ["a@x.test"]
    assert smtp.addresses(["a@x.test", " ", "B <b@x.test>"], "to") == ["a@x.test", "B <b@x.test>"]
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        smtp.addresses(["a@x.test\r\nBcc: evil@x.test"], "to")
    assert smtp.normalise_message_id("incident-1.initial@example.test") == "<incident-1.initial@example.test>"
    assert smtp.normalise_message_id("<a@b>") == "<a@b>"
    assert smtp.normalise_message_id("incident-1.initial") == "<incident-1.initial@ai-orchestrator.incident-response>"
    with pytest.raises(InvalidInput):
        smtp.normalise_message_id("two words")


def test_the_message_carries_the_stable_id_and_every_recipient():
    message = smtp.build_message("incidents@example.test", ["a@x.test"], ["c@x.test"], "P1\n api down", "body text", "<id@x>")
    assert message["Message-ID"] == "<id@x>" and message["To"] == "a@x.test" and message["Cc"] == "c@x.test"
    assert message["Subject"] == "P1 api down" and message.get_content().strip() == "body text" and message["Date"]


@pytest.mark.parametrize("exc, retry, words", [
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"), False, "wrong SMTP credentials"),
    (smtplib.SMTPAuthenticationError(454, b"4.7.0 Temporary authentication failure"), True, "could not check the login"),
    (smtplib.SMTPRecipientsRefused({"x@y.test": (550, b"5.1.1 User unknown")}), False, "refused every recipient: x@y.test (550"),
    (smtplib.SMTPRecipientsRefused({"x@y.test": (450, b"4.2.0 busy")}), True, "deferred every recipient"),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 not yours", "incidents@example.test"), False, "refused the sender"),
    (smtplib.SMTPDataError(451, b"4.3.0 try later"), True, "temporary failure (451"),
    (smtplib.SMTPDataError(554, b"5.7.1 spam"), False, "refused the mail (554"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True, "failed"),
    (ConnectionRefusedError(111, "refused"), True, "refused (is it running"),
    (socket.timeout("timed out"), True, "did not answer in time"),
    (socket.gaierror(-2, "Name or service not known"), False, "does not resolve"),
    (smtp._NoStartTLS(), False, "does not offer STARTTLS, so the password is not sent"),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), False, "ca_path"),
])
def test_each_failure_is_explained_and_retried_only_when_temporary(exc, retry, words):
    code, error, retried = smtp.classify(exc, "smtp.example.test:587")
    assert retried is retry and words in error


def test_a_bug_is_not_taken_for_a_network_failure():
    with pytest.raises(KeyError):
        smtp.classify(KeyError("x"), "h:1")


def test_no_recipients_is_invalid_input():
    with pytest.raises(InvalidInput, match="at least one recipient"):
        smtp.send_mail(CONFIG, [], "s", "b", "id@x")
