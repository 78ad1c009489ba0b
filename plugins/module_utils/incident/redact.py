# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redaction of secrets from what an incident record keeps (artifacts, events, task results).

Every pattern is a Python regular expression. When it has named groups whose names start
with ``secret`` (``secret``, ``secret_sq``, ...), only the text of those groups is replaced
by ``[REDACTED]``, so the key stays readable (``password=[REDACTED]``); otherwise the whole
match is replaced. Text that already reads ``[REDACTED]`` is left alone and not counted,
so redacting twice gives the same text as redacting once.

The default patterns (DEFAULT_PATTERNS, in this order) cover:

* quoted keys, JSON and Python-dict style: ``"db_password": "..."``, ``'token': '...'``,
  also JSON escaped inside a string (``\\"password\\":\\"...\\"``);
* bare keys: ``password=...``, ``api_key: ...``, ``PGPASSWORD=...``, ``secret = "..."``,
  connection strings ``host=db user=app password=...`` and ``...;Pwd=...;``;
  a key counts when it *ends* with one of password, passwd, passphrase, pwd, secret,
  token, api_key/api-key/apikey, access_key, secret_key, private_key (so
  ``aws_secret_access_key``, ``client_secret``, ``auth_token``, ``X-Api-Key`` match,
  ``SecretName``, ``token_bucket`` and ``tokens`` do not);
* command-line flags ``--password ...``, ``--db-token ...`` (``--password=...`` is a bare key);
* ``Authorization:`` / ``Proxy-Authorization:`` headers with or without a scheme
  (Bearer, Basic, Token, Digest, ...), and ``Bearer <token>`` of 20 or more token characters;
* ``Cookie:`` / ``Set-Cookie:`` header values;
* URLs with credentials ``scheme://user:password@host`` (PostgreSQL, MySQL, Redis, AMQP,
  HTTP ...); the user name is kept;
* PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----``), the body up to the END
  line (or the end of the text when it is cut);
* AWS access key ids (``AKIA``/``ASIA``... and 16 characters);
* JSON Web Tokens (three base64url segments, the first starting ``eyJ``);
* Slack tokens ``xox[abposr]-...`` and Slack webhook URLs;
* GitHub tokens ``gh[pousr]_...`` and ``github_pat_...``.

redact_data() also replaces entirely the value under a mapping key that looks secret
(the same key words, plus ``authorization`` and ``cookie``), and the ``value`` of a
``{name: <secret-looking>, value: ...}`` mapping (a Kubernetes env entry), unless it is
null, empty or a boolean.

The patterns avoid nested or overlapping quantifiers and start only where a match can
start (a key word, ``--``, ``://``, a token prefix not inside a longer token), so their
cost stays linear in the length of the text, also for megabyte log lines.
"""

from __future__ import annotations

import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput

REDACTED = "[REDACTED]"

# Key words a key ends with. Longer alternatives before the ones they start with.
_KEY_WORDS = (
    r"(?:password|passwd|passphrase|pwd|secret[_-]?key|secret|token"
    r"|api[_-]?key|access[_-]?key|private[_-]?key)"
)
# A value that is already redacted is not matched again.
_NOT_DONE = r"(?!\[REDACTED\])"
# Quoted values: double quotes with backslash escapes, single quotes.
_DQ = r'"(?P<secret>(?:[^"\\\n]|\\.)*)"'
_SQ = r"'(?P<secret_sq>[^'\n]*)'"

DEFAULT_PATTERNS = (
    # Quoted keys (JSON, Python dicts, quoted YAML keys): only a quoted value is replaced,
    # so JSON stays JSON ("token": 5 and "password": null are left alone).
    r"(?i)" + _KEY_WORDS + r"""\\?["'][ \t]*[:=][ \t]*"""
    r"(?:" + _DQ + "|" + _SQ + r'|\\"(?P<secret_esc>(?:[^"\\\n]|\\[^"\n])*)\\")',
    # Bare keys: key=value, key: value, key = "value".
    r"(?i)" + _KEY_WORDS + r"[ \t]*[:=][ \t]*" + _NOT_DONE
    + r"(?:" + _DQ + "|" + _SQ + r"""|(?P<secret_raw>[^\s"'&;,={][^\s"'&;,]*))""",
    # Command-line flags with the value after a space.
    r"(?i)(?<![\w-])--(?:[a-z0-9]+[-_])*(?:password|passwd|pass|token|secret|api-?key|access-key|secret-key)"
    r"""[ \t]+""" + _NOT_DONE + r"""(?:"(?P<secret_dq>[^"\n]*)"|'(?P<secret_sq>[^'\n]*)'|(?P<secret>[^\s"'-]\S*))""",
    # Authorization headers, with or without a scheme.
    r"""(?i)\b(?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?"""
    r"(?:(?:bearer|basic|digest|token|negotiate|ntlm|apikey)[ \t]+)?" + _NOT_DONE
    + r"""(?!(?:bearer|basic|digest|token|negotiate|ntlm|apikey)\b)(?P<secret>[^\s"'\\,;]+)""",
    # A bearer token on its own.
    r"(?i)\bbearer[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{20,}=*)",
    # Cookies.
    r"""(?i)(?<![\w-])(?:set-)?cookie[ \t]*:[ \t]*""" + _NOT_DONE + r"""(?P<secret>[^\s"'\\][^\r\n"'\\]*)""",
    # URLs with a password: scheme://user:password@host.
    r"(?i)(?<![\w+.-])[a-z][a-z0-9+.-]*://[^\s:/@]*:(?P<secret>[^\s@/]+)@",
    # PEM private key blocks; the body is replaced, the BEGIN and END lines are kept.
    r"-----BEGIN (?P<kind>(?:[A-Z0-9]+ )*)PRIVATE KEY(?P<block>(?: BLOCK)?)-----"
    r"(?P<secret>[\s\S]*?)(?:-----END (?P=kind)PRIVATE KEY(?P=block)-----|\Z)",
    # AWS access key ids.
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    # JSON Web Tokens.
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    # Slack tokens and webhooks.
    r"(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,}",
    r"(?i)hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9/_-]+)",
    # GitHub tokens.
    r"(?<![A-Za-z0-9_-])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
)

# Mapping keys whose whole value redact_data() replaces.
SECRET_KEY = re.compile(
    r"(?i)(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|authorization|cookie)\Z"
)


def compile_pattern(source):
    """One compiled pattern; a clear error naming the pattern when it is not a regex."""
    if isinstance(source, re.Pattern):
        return source
    if not isinstance(source, str) or not source:
        raise InvalidInput("redaction pattern %r must be a non-empty string (a Python regular expression)" % (source,))
    try:
        return re.compile(source)
    except re.error as exc:
        raise InvalidInput("invalid redaction pattern %r: %s" % (source, exc))


def compile_patterns(extra=None, defaults=True):
    """DEFAULT_PATTERNS (unless ``defaults`` is false) followed by ``extra``, compiled.

    Every extra pattern is checked here, so a bad one fails before anything is written.
    """
    if extra is not None and not isinstance(extra, (list, tuple)):
        raise InvalidInput("redaction patterns must be a list of regular expressions, got %r" % (extra,))
    compiled = list(_DEFAULT_COMPILED) if defaults else []
    compiled.extend(compile_pattern(source) for source in extra or ())
    return compiled


_DEFAULT_COMPILED = tuple(re.compile(source) for source in DEFAULT_PATTERNS)


def _secret_groups(regex):
    return sorted(index for name, index in regex.groupindex.items() if name.startswith("secret"))


def _redact_one(regex, text):
    groups = _secret_groups(regex)
    count = 0

    def replace(match):
        nonlocal count
        if groups:
            spans = sorted(match.span(g) for g in groups if match.start(g) != -1)
        else:
            spans = [match.span()]
        source = match.string
        pieces = []
        position = match.start()
        for start, end in spans:
            if start < position or start == end or source[start:end] == REDACTED:
                continue
            pieces.append(source[position:start])
            pieces.append(REDACTED)
            position = end
            count += 1
        pieces.append(source[position:match.end()])
        return "".join(pieces)

    return regex.sub(replace, text), count


def _patterns(patterns):
    if patterns is None:
        return _DEFAULT_COMPILED
    return [compile_pattern(p) for p in patterns]


def redact_text(text, patterns=None):
    """``(text, count)``: ``text`` with every secret the patterns find replaced by [REDACTED].

    ``patterns`` is a list of regexes (strings or compiled), by default DEFAULT_PATTERNS.
    """
    if not isinstance(text, str) or not text:
        return text, 0
    total = 0
    for regex in _patterns(patterns):
        text, count = _redact_one(regex, text)
        total += count
    return text, total


def _redact_value(value, patterns, secret_keys):
    if isinstance(value, str):
        return redact_text(value, patterns)
    if isinstance(value, dict):
        out, total = {}, 0
        # {name: DB_PASSWORD, value: ...}: a Kubernetes env entry (or alike) of a secret.
        named = secret_keys and isinstance(value.get("name"), str) and SECRET_KEY.search(value["name"])
        for key, item in value.items():
            secret = (isinstance(key, str) and SECRET_KEY.search(key)) or (named and key == "value")
            if secret_keys and secret and _worth_hiding(item):
                out[key] = REDACTED
                total += 1
            else:
                out[key], count = _redact_value(item, patterns, secret_keys)
                total += count
        return out, total
    if isinstance(value, (list, tuple)):
        out, total = [], 0
        for item in value:
            item, count = _redact_value(item, patterns, secret_keys)
            out.append(item)
            total += count
        return (tuple(out) if isinstance(value, tuple) else out), total
    return value, 0


def _worth_hiding(value):
    if value is None or isinstance(value, bool) or value == REDACTED:
        return False
    if isinstance(value, (str, list, tuple, dict)) and not value:
        return False
    return True


def redact_data(obj, patterns=None, secret_keys=True):
    """``(copy, count)``: ``obj`` with strings redacted at any depth of dicts and lists.

    With ``secret_keys`` (the default), the value under a key that looks secret
    (SECRET_KEY), and ``value`` next to a ``name`` that does, is replaced entirely,
    whatever its type, unless null, empty or boolean.
    """
    compiled = _patterns(patterns)
    return _redact_value(obj, compiled, secret_keys)


def redact_bytes(payload, patterns=None):
    """``(payload, count, binary)``: text (no NUL byte) is redacted, binary is returned as is.

    Invalid UTF-8 is kept byte for byte (surrogateescape), so a log with a stray byte is
    still redacted and otherwise unchanged.
    """
    if b"\x00" in payload:
        return payload, 0, True
    text = payload.decode("utf-8", "surrogateescape")
    text, count = redact_text(text, patterns)
    if not count:
        return payload, 0, False
    return text.encode("utf-8", "surrogateescape"), count, False


class Redactor:
    """The redaction one task applies: the patterns and whether secret keys count."""

    def __init__(self, extra=None, defaults=True):
        self.patterns = compile_patterns(extra, defaults)
        self.secret_keys = bool(defaults)

    @property
    def enabled(self):
        return bool(self.patterns) or self.secret_keys

    def text(self, text):
        return redact_text(text, self.patterns) if self.patterns else (text, 0)

    def data(self, obj):
        return redact_data(obj, self.patterns, self.secret_keys)

    def payload(self, payload):
        if not self.patterns:
            return payload, 0, b"\x00" in payload
        return redact_bytes(payload, self.patterns)


def redact_argument_spec():
    """Options of the modules that redact; documented in doc_fragments/incident.py (REDACT)."""
    return {
        "redact": {"type": "list", "elements": "str", "default": []},
        "redact_defaults": {"type": "bool", "default": True},
    }
