# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""E-mail through an SMTP server (smtplib): ``send_mail()``.

config: ``host``, ``port`` (587; 465 for ssl, 25 for none), ``security`` starttls (default) |
ssl | none, ``username``, ``password`` (never in any returned text), ``sender`` (From),
``timeout``, ``retries``, ``backoff``, ``validate_certs``, ``ca_path``.

With ``starttls`` the connection is encrypted before AUTH; a server that does not offer
STARTTLS gets no password (and no mail): plain text only with an explicit
``security: none``. The ``Message-ID`` is the caller's stable id, so a mail sent twice
by a rerun threads as one in the recipients' clients.

Outcomes: a refused login (535) is not retried ("wrong SMTP credentials"); refused
recipients are not retried and named; a temporary answer (4xx) and network errors are
tried again after ``backoff * 2 ** (n - 1)`` seconds, then reported retryable; TLS
certificate problems are not retried. Some recipients refused and others accepted: ok,
``ref.accepted`` lists who got it and ``response.refused`` who did not.
"""

from __future__ import annotations

import email.utils
import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import backoff_delay
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.notify.delivery import (
    delivery,
    http_options,
    one_line,
    require,
    setting,
    small,
)

CHANNEL = "email"
SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class _NoStartTLS(Exception):
    """The server does not offer STARTTLS and security is starttls."""


# --- pure parts -----------------------------------------------------------------------


def addresses(value, what):
    """A list of e-mail addresses from a string or a list; InvalidInput for an unusable one."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        if "\r" in item or "\n" in item or "@" not in email.utils.parseaddr(item)[1]:
            raise InvalidInput("%s: %r is not an e-mail address" % (what, item))
        out.append(item)
    return out


def normalise_message_id(message_id):
    """``<id@domain>`` from the caller's stable id (angle brackets added when missing)."""
    text = str(message_id or "").strip()
    if not text or any(c.isspace() for c in text) or "<" in text.strip("<>") or ">" in text.strip("<>"):
        raise InvalidInput("message_id must be one word like <incident-...@example.com>, got %r" % (message_id,))
    text = text.strip("<>")
    if "@" not in text:
        text += "@ai-orchestrator.incident-response"
    return "<%s>" % text


def build_message(sender, to, cc, subject, body, message_id):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = " ".join(str(subject or "").split())
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(str(body or ""))
    return message


def settings(config):
    """The checked SMTP settings (InvalidInput before anything is sent)."""
    host = require(config, CHANNEL, "host")
    sender = addresses(require(config, CHANNEL, "sender"), setting(CHANNEL, "sender"))[0]
    security = str(config.get("security") or "starttls").lower()
    if security not in SECURITIES:
        raise InvalidInput("%s must be one of %s, got %r" % (setting(CHANNEL, "security"), ", ".join(SECURITIES), security))
    port = config.get("port") or DEFAULT_PORTS[security]
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise InvalidInput("%s must be a TCP port, got %r" % (setting(CHANNEL, "port"), config.get("port")))
    username, password = config.get("username") or None, config.get("password") or None
    if bool(username) != bool(password):
        raise InvalidInput("set both %s and %s, or neither" % (setting(CHANNEL, "username"), setting(CHANNEL, "password")))
    options = http_options(config, CHANNEL)
    ca_path = options["ca_path"]
    if ca_path and not os.path.isfile(ca_path):
        raise InvalidInput("%s %s is not a file: give the path of a PEM file on the control node" % (setting(CHANNEL, "ca_path"), ca_path))
    return dict(host=str(host), port=port, security=security, username=username, password=password, sender=sender,
                timeout=options["timeout"], retries=options["retries"], backoff=options["backoff"],
                max_backoff=options["max_backoff"], validate_certs=options["validate_certs"], ca_path=ca_path)


def tls_context(validate_certs, ca_path):
    context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def classify(exc, where):
    """(code, error, retry) for what one attempt raised: retry says another attempt may succeed."""
    code = getattr(exc, "smtp_code", None)
    said = getattr(exc, "smtp_error", b"")
    said = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said or "")
    temporary = isinstance(code, int) and 400 <= code < 500
    if isinstance(exc, _NoStartTLS):
        return None, ("the SMTP server at %s does not offer STARTTLS, so the password is not sent: set %s to ssl "
                      "(port 465) if it takes TLS, or none on a trusted network" % (where, setting(CHANNEL, "security"))), False
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if temporary:
            return code, "the SMTP server could not check the login now (%s %s)" % (code, said), True
        return code, ("wrong SMTP credentials: %s refused the login (%s %s): check %s and %s"
                      % (where, code, said, setting(CHANNEL, "username"), setting(CHANNEL, "password"))), False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = getattr(exc, "recipients", {}) or {}
        codes = [reply[0] for reply in refused.values()]
        named = ", ".join("%s (%s %s)" % (addr, c, _text(m)) for addr, (c, m) in sorted(refused.items()))
        if codes and all(400 <= c < 500 for c in codes):
            return codes[0], "the SMTP server deferred every recipient: %s" % named, True
        return (codes[0] if codes else None), "the SMTP server refused every recipient: %s" % named, False
    if isinstance(exc, smtplib.SMTPSenderRefused):
        if temporary:
            return code, "the SMTP server deferred the sender (%s %s)" % (code, said), True
        return code, ("the SMTP server refused the sender %s (%s %s): check %s"
                      % (getattr(exc, "sender", "?"), code, said, setting(CHANNEL, "sender"))), False
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return None, "the SMTP server at %s does not support %s" % (where, exc), False
    if isinstance(exc, smtplib.SMTPResponseException):
        if temporary:
            return code, "the SMTP server answered a temporary failure (%s %s)" % (code, said), True
        return code, "the SMTP server refused the mail (%s %s)" % (code, said), False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return None, ("the SMTP server's TLS certificate is not trusted (%s): set %s to the CA that signs it"
                      % (getattr(exc, "verify_message", None) or exc, setting(CHANNEL, "ca_path"))), False
    if isinstance(exc, ssl.SSLError):
        return None, ("TLS with the SMTP server at %s failed (%s): check %s and %s"
                      % (where, getattr(exc, "reason", None) or exc, setting(CHANNEL, "security"), setting(CHANNEL, "port"))), False
    if isinstance(exc, socket.gaierror):
        return None, "the SMTP host name does not resolve (%s): check %s" % (exc.strerror or exc, setting(CHANNEL, "host")), False
    if isinstance(exc, ConnectionRefusedError):
        return None, "connection to the SMTP server at %s refused (is it running, on this host and port?)" % where, True
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return None, "the SMTP server at %s did not answer in time (timeout)" % where, True
    if isinstance(exc, (smtplib.SMTPException, OSError)):
        return None, "the connection to the SMTP server at %s failed (%s)" % (where, exc or type(exc).__name__), True
    raise exc


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- sending ----------------------------------------------------------------------------


def _send_once(conf, message, recipients, context, progress):
    """The refused recipients ({} when all were accepted); raises what smtplib raises.

    ``progress["sending"]`` turns true when the mail itself is handed over: a connection lost from
    then on may have delivered it."""
    host, port, timeout = conf["host"], conf["port"], conf["timeout"]
    if conf["security"] == "ssl":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        client.ehlo()
        if conf["security"] == "starttls":
            if not client.has_extn("starttls"):
                raise _NoStartTLS()
            client.starttls(context=context)
            client.ehlo()
        if conf["username"]:
            client.login(conf["username"], conf["password"])
        progress["sending"] = True
        return client.send_message(message, from_addr=conf["sender"], to_addrs=recipients) or {}
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def send_mail(config, to, subject, body, message_id, cc=None, sleep=time.sleep):
    """Send one plain-text mail. A Delivery (status: the last SMTP reply code), ref {message_id, accepted}."""
    conf = settings(config)
    to = addresses(to, "to")
    cc = addresses(cc, "cc")
    recipients = list(dict.fromkeys(to + cc))
    if not recipients:
        raise InvalidInput("send_mail needs at least one recipient")
    message_id = normalise_message_id(message_id)
    message = build_message(conf["sender"], to, cc, subject, body, message_id)
    try:
        context = tls_context(conf["validate_certs"], conf["ca_path"]) if conf["security"] != "none" else None
    except (ssl.SSLError, OSError) as exc:
        raise InvalidInput("%s %s could not be loaded as a CA bundle (%s)" % (setting(CHANNEL, "ca_path"), conf["ca_path"], exc))
    secrets = [conf["password"]] if conf["password"] else []
    where = "%s:%d" % (conf["host"], conf["port"])
    attempts, waits, failures = 0, [], []
    while True:
        attempts += 1
        progress = {"sending": False}
        try:
            refused = _send_once(conf, message, recipients, context, progress)
        except Exception as exc:  # every smtplib, socket and TLS error; classify() raises a bug again
            code, error, retry = classify(exc, where)
            if retry and progress["sending"] and not isinstance(exc, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)):
                # The server may have taken the mail before the connection broke: sent again it could arrive twice.
                retry, exc = False, None
                error = "%s while the mail was handed over: it may have been delivered, so it is not sent again" % error
            failures.append(one_line(error, secrets))
            if not retry or attempts > conf["retries"]:
                retryable = retry or (exc is not None and isinstance(exc, socket.gaierror))
                if retry and attempts > 1:
                    error = "%s (after %d attempts)" % (error, attempts)
                return delivery(False, retryable=retryable, status=code, error=one_line(error, secrets), attempts=attempts,
                                waits=waits, response=small({"failures": failures}, secrets),
                                ref={"message_id": message_id, "accepted": []})
            delay = backoff_delay(attempts, conf["backoff"], conf["max_backoff"])
            waits.append(round(delay, 3))
            if delay > 0:
                sleep(delay)
            continue
        accepted = [r for r in recipients if r not in refused]
        response = {"accepted": accepted}
        if failures:
            response["failures"] = failures
        if refused:
            response["refused"] = dict((addr, "%s %s" % (c, _text(m))) for addr, (c, m) in refused.items())
            response["warning"] = "delivered to %d of %d recipients" % (len(accepted), len(recipients))
        return delivery(True, status=250, attempts=attempts, waits=waits, response=small(response, secrets),
                        ref={"message_id": message_id, "accepted": accepted})
