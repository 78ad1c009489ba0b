# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redaction of secrets from what an incident record keeps."""

from __future__ import annotations

import importlib
import re
import time

import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.incident import redact as rd

R = rd.REDACTED
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7Zq0\nQ2hhbmdlIG1lIGFzIHNvb24=\n-----END RSA PRIVATE KEY-----"
)

# (text with secrets, the same text redacted)
SECRETS = [
    ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
    ("passwd: hunter2", "passwd: [REDACTED]"),
    ("Pwd=hunter2;Server=db", "Pwd=[REDACTED];Server=db"),
    ("DB_PASSWORD=s3cr3t!", "DB_PASSWORD=[REDACTED]"),
    ("secret = 'a b c'", "secret = '[REDACTED]'"),
    ('client_secret="x y z" next', 'client_secret="[REDACTED]" next'),
    ("auth_token: abc123", "auth_token: [REDACTED]"),
    ("GITLAB_TOKEN=glpat-xyz", "GITLAB_TOKEN=[REDACTED]"),
    ("api_key=12ab34cd", "api_key=[REDACTED]"),
    ("apikey: 12ab34cd", "apikey: [REDACTED]"),
    ("X-Api-Key: 12ab34cd", "X-Api-Key: [REDACTED]"),
    ("access_key=AKIDEXAMPLE", "access_key=[REDACTED]"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
    ("secret_key: abc", "secret_key: [REDACTED]"),
    ("https://api/x?user=a&password=b&page=2", "https://api/x?user=a&password=[REDACTED]&page=2"),
    # JSON, Python dicts, JSON escaped inside a log line
    ('{"db_password": "p\\"w d", "user": "app"}', '{"db_password": "[REDACTED]", "user": "app"}'),
    ('{"token":"abc","n":1}', '{"token":"[REDACTED]","n":1}'),
    ("{'api_key': 'abc123'}", "{'api_key': '[REDACTED]'}"),
    ('msg="{\\"password\\":\\"hunter2\\"}"', 'msg="{\\"password\\":\\"[REDACTED]\\"}"'),
    # flags
    ("mysql --password hunter2 --user app", "mysql --password [REDACTED] --user app"),
    ("vault --db-token 's p' x", "vault --db-token '[REDACTED]' x"),
    ("tool --password=hunter2", "tool --password=[REDACTED]"),
    # headers
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"),
    ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic [REDACTED]"),
    ("Proxy-Authorization: Digest abc", "Proxy-Authorization: Digest [REDACTED]"),
    ('"Authorization": "Token abc123"', '"Authorization": "Token [REDACTED]"'),
    ("curl -H 'Authorization: Bearer abc123' https://x", "curl -H 'Authorization: Bearer [REDACTED]' https://x"),
    ("sent bearer 0123456789abcdefghijKLMN to api", "sent bearer [REDACTED] to api"),
    ("Cookie: session=abc; theme=dark", "Cookie: [REDACTED]"),
    ("Set-Cookie: sid=xyz; HttpOnly", "Set-Cookie: [REDACTED]"),
    # URLs and connection strings
    ("postgresql://app:S3cret@db:5432/app?sslmode=require", "postgresql://app:[REDACTED]@db:5432/app?sslmode=require"),
    ("DATABASE_URL=postgres://app:S3cret@db/app", "DATABASE_URL=postgres://app:[REDACTED]@db/app"),
    ("connecting to postgres://app:S3cret@db/app", "connecting to postgres://app:[REDACTED]@db/app"),
    ("host=db port=5432 user=app password=S3cret dbname=app", "host=db port=5432 user=app password=[REDACTED] dbname=app"),
    ("jdbc:postgresql://db/app?user=app&password=S3cret", "jdbc:postgresql://db/app?user=app&password=[REDACTED]"),
    ("redis://:S3cret@redis:6379/0", "redis://:[REDACTED]@redis:6379/0"),
    ("amqp://guest:guest@rabbit:5672/", "amqp://guest:[REDACTED]@rabbit:5672/"),
    ("https://user:pa%40ss@example.com/x", "https://user:[REDACTED]@example.com/x"),
    # keys and tokens by shape
    ("key:\n" + PEM + "\nnext line",
     "key:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\nnext line"),
    ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blb\n(cut)", "-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ\n-----END PGP PRIVATE KEY BLOCK-----",
     "-----BEGIN PGP PRIVATE KEY BLOCK-----[REDACTED]-----END PGP PRIVATE KEY BLOCK-----"),
    ("aws key AKIAIOSFODNN7EXAMPLE in use", "aws key [REDACTED] in use"),
    ("session ASIAIOSFODNN7EXAMPLE", "session [REDACTED]"),
    ("jwt " + JWT + " end", "jwt [REDACTED] end"),
    ("slack xoxb-1234567890-0987654321-abcdefABCDEF ok", "slack [REDACTED] ok"),
    ("xoxp-1234567890-abcdefghij", R),
    ("POST https://hooks.slack.com/services/T000/B000/XXXXXXXX", "POST https://hooks.slack.com/services/[REDACTED]"),
    ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok", "gh [REDACTED] ok"),
    ("ghs_abcdefghijklmnopqrstuvwxyz0123456789", R),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", R),
]

# Log lines that mention secrets or look random, but hold none.
NOT_SECRETS = [
    "token bucket refilled: 100 tokens available",
    "rate limiter tokens: 5, token_count=3",
    "User opened the password reset page at https://example.com/reset",
    "password reset email sent to user 42",
    "Forgot your password? Click here",
    "2026-05-09T07:35:25.123Z INFO request id=123e4567-e89b-12d3-a456-426614174000 done in 12ms",
    "Pulling image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "image: ghcr.io/org/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b deployed",
    "SecretName:  default-token-abcde",
    "Type:        Secret (a volume populated by a Secret)",
    "Mounts: /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-x (ro)",
    "Warning  BackOff  3m (x12 over 10m)  kubelet  Back-off restarting failed container",
    "GET http://api-gateway:8080/healthz 200",
    "http://[::1]:8080/path",
    '{"tokens": 5, "token": 7, "password": null, "secret": true}',
    "Basic auth is enabled",
    "bearer token missing",
    "Authorization: Bearer",
    "certificate -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "ALLCAPSWORDSAKIAIOSFODNN7EXAMPLEMORE",
    "eyJ alone, and xoxb- short, and ghp_short",
    "already password=[REDACTED] and Authorization: Bearer [REDACTED]",
    "",
]


@pytest.mark.parametrize("text, expected", SECRETS, ids=[s[0][:40] for s in SECRETS])
def test_secrets_are_redacted_keys_are_kept(text, expected):
    out, count = rd.redact_text(text)
    assert out == expected
    assert count >= 1


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_non_secrets_are_untouched(text):
    assert rd.redact_text(text) == (text, 0)


@pytest.mark.parametrize("text", [s[0] for s in SECRETS] + NOT_SECRETS)
def test_redacting_twice_is_redacting_once(text):
    once, dummy = rd.redact_text(text)
    twice, count = rd.redact_text(once)
    assert twice == once and count == 0


def test_counts_every_secret():
    text = "password=a token=b\nAuthorization: Bearer c\nAKIAIOSFODNN7EXAMPLE"
    out, count = rd.redact_text(text)
    assert count == 4 and out.count(R) == 4


def test_redact_data_nested_and_by_key():
    data = {
        "db": {"password": "hunter2", "host": "db", "port": 5432},
        "env": [{"name": "API_TOKEN", "value": "abc"}, {"name": "LOG_LEVEL", "value": "debug"}, "PGPASSWORD=s3cret"],
        "headers": {"Authorization": "Bearer abc", "Accept": "json"},
        "client_secret": {"nested": "anything"},
        "aws_secret_access_key": 123456,
        "token": None,
        "password_set": True,
        "secret": False,
        "tokens": 5,
        "api_key": "",
        "SecretName": "db-credentials",
        "log": "login with password=hunter2 ok",
        "tuple": ("token=x",),
    }
    out, count = rd.redact_data(data)
    assert out == {
        "db": {"password": R, "host": "db", "port": 5432},
        "env": [{"name": "API_TOKEN", "value": R}, {"name": "LOG_LEVEL", "value": "debug"}, "PGPASSWORD=" + R],
        "headers": {"Authorization": R, "Accept": "json"},
        "client_secret": R,
        "aws_secret_access_key": R,
        "token": None,
        "password_set": True,
        "secret": False,
        "tokens": 5,
        "api_key": "",
        "SecretName": "db-credentials",
        "log": "login with password=" + R + " ok",
        "tuple": ("token=" + R,),
    }
    assert count == 8
    assert data["db"]["password"] == "hunter2"  # the input is not changed
    assert rd.redact_data(out) == (out, 0)


def test_secret_keys_only_with_the_defaults():
    out, count = rd.redact_data({"password": "x"}, patterns=[], secret_keys=False)
    assert out == {"password": "x"} and count == 0


def test_user_patterns_are_added_to_the_defaults():
    patterns = rd.compile_patterns([r"ticket_session=(?P<secret>[0-9a-f]{8})", r"INTERNAL-\d+"])
    text = "ticket_session=deadbeef INTERNAL-42 password=x"
    assert rd.redact_text(text, patterns) == ("ticket_session=%s %s password=%s" % (R, R, R), 3)


def test_user_patterns_can_replace_the_defaults():
    patterns = rd.compile_patterns([r"INTERNAL-\d+"], defaults=False)
    assert rd.redact_text("INTERNAL-42 password=x", patterns) == (R + " password=x", 1)
    assert rd.compile_patterns([], defaults=False) == []
    assert rd.redact_text("password=x", []) == ("password=x", 0)


def test_several_secret_groups_and_empty_matches():
    patterns = rd.compile_patterns([r"u=(?P<secret_u>\w+) p=(?P<secret_p>\w+)", r"x*"], defaults=False)
    assert rd.redact_text("u=bob p=pw", patterns) == ("u=%s p=%s" % (R, R), 2)


@pytest.mark.parametrize("bad, message", [
    ("token=(unclosed", "invalid redaction pattern 'token=(unclosed'"),
    ("[a-", "invalid redaction pattern '[a-'"),
    ("", "must be a non-empty string"),
    (5, "must be a non-empty string"),
])
def test_invalid_patterns_name_the_pattern(bad, message):
    with pytest.raises(InvalidInput) as err:
        rd.compile_patterns(["ok", bad])
    assert message in str(err.value)


def test_patterns_must_be_a_list():
    with pytest.raises(InvalidInput, match="must be a list"):
        rd.compile_patterns("password=.*")


def test_redact_bytes_text_binary_and_invalid_utf8():
    assert rd.redact_bytes(b"token=abc\n") == (b"token=" + R.encode() + b"\n", 1, False)
    binary = b"\x00\x01token=abc"
    assert rd.redact_bytes(binary) == (binary, 0, True)
    latin = b"caf\xe9 password=abc \xff"
    assert rd.redact_bytes(latin) == (b"caf\xe9 password=" + R.encode() + b" \xff", 1, False)
    assert rd.redact_bytes(b"plain") == (b"plain", 0, False)


def test_default_patterns_compile_and_are_documented():
    assert len(rd.DEFAULT_PATTERNS) >= 12
    for source in rd.DEFAULT_PATTERNS:
        re.compile(source)
    assert "DEFAULT_PATTERNS" in rd.__doc__


def test_redact_options_match_their_doc_fragment():
    fragment = importlib.import_module(
        "ansible_collections.ai_orchestrator.incident_response.plugins.doc_fragments.incident"
    ).ModuleDocFragment
    documented = yaml.safe_load(fragment.REDACT)["options"]
    spec = rd.redact_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        for key in ("type", "elements", "default"):
            assert documented[name].get(key) == option.get(key), (name, key)


MEGABYTE = 1 << 20
# Shapes that make a careless pattern backtrack: long runs with a match start and no end.
LONG_LINES = {
    "letters": "a" * MEGABYTE,
    "dotted": "a.-" * (MEGABYTE // 3),
    "jwt-like": "eyJ-" * (MEGABYTE // 4),
    "blank value": "password:" + " " * MEGABYTE,
    "open quote": '"password": "' + "x" * MEGABYTE,
    "backslashes": 'password="' + "\\" * MEGABYTE,
    "urls": "a://b:c --a-x " * (MEGABYTE // 14),
    "pem": "-----BEGIN PRIVATE KEY-----" * (MEGABYTE // 27),
    "log": '2026-05-09T07:35:25Z level=info msg="token bucket ok" id=123e4567 ' * (MEGABYTE // 64),
    "secrets": "password=hunter2 Authorization: Bearer x " * (MEGABYTE // 41),
}


@pytest.mark.parametrize("name", sorted(LONG_LINES))
def test_megabyte_lines_take_linear_time(name):
    # Each takes about half a second; a pattern that backtracks quadratically would take hours.
    # The bound is loose on purpose (slow CI machines): it only catches a runaway pattern.
    started = time.monotonic()
    out, count = rd.redact_text(LONG_LINES[name])
    assert time.monotonic() - started < 30
    assert (count > 0) == (name in ("secrets", "pem"))
