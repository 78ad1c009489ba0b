# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL connection options: what reaches libpq, what a failure is called, and the doc fragment.

Real connections (direct, TLS, PG* environment, port-forward) are exercised against the drill's
PostgreSQL in tests/integration/test_postgres_connection.py.
"""
from __future__ import annotations

import importlib

import psycopg2
import pytest
import yaml

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.postgres import connection as pc


def spec_defaults(**params):
    """Module params as AnsibleModule hands them over: every option, defaults applied."""
    values = {name: option.get("default") for name, option in pc.postgres_argument_spec().items()}
    values.update(params)
    return values


class FakeError(psycopg2.OperationalError):
    """A psycopg2 error with the pgcode a server error would carry."""

    def __init__(self, text, pgcode=None):
        super(FakeError, self).__init__(text)
        self._code = pgcode

    @property
    def pgcode(self):
        return self._code


# --- connect_kwargs ---------------------------------------------------------------------------


def test_unset_options_are_left_to_libpq():
    kwargs = pc.connect_kwargs(spec_defaults())
    # host, port, user, password, dbname, sslmode: libpq's environment and defaults decide.
    assert set(kwargs) == {"connect_timeout", "application_name", "options"}
    assert kwargs["connect_timeout"] == 5
    assert kwargs["application_name"] == "ai_orchestrator.incident_response"


def test_set_options_become_libpq_keywords():
    kwargs = pc.connect_kwargs(spec_defaults(
        login_host="db.example.com", login_port=6432, login_user="sre", login_password="s3cret", login_db="app",
        ssl_mode="verify-full", ssl_rootcert="/etc/ca.crt", ssl_cert="/etc/client.crt", ssl_key="/etc/client.key",
        connect_timeout=3, application_name="runbook"))
    assert kwargs == dict(kwargs, host="db.example.com", port=6432, user="sre", password="s3cret", dbname="app",
                          sslmode="verify-full", sslrootcert="/etc/ca.crt", sslcert="/etc/client.crt",
                          sslkey="/etc/client.key", connect_timeout=3, application_name="runbook")


def test_session_settings_travel_in_the_startup_packet():
    options = pc.connect_kwargs(spec_defaults(statement_timeout=45, lock_timeout=2))["options"].split(" ")
    assert "statement_timeout=45s" in options and "lock_timeout=2s" in options
    # Twice the statement timeout, never under a minute.
    assert "idle_in_transaction_session_timeout=90s" in options
    short = pc.connect_kwargs(spec_defaults(statement_timeout=5))["options"]
    assert "idle_in_transaction_session_timeout=60s" in short


def test_another_database_of_the_same_server():
    kwargs = pc.connect_kwargs(spec_defaults(login_db="app", login_host="db"), database="postgres")
    assert kwargs["dbname"] == "postgres" and kwargs["host"] == "db"


def test_through_a_tunnel_the_server_name_stays_for_certificate_checks():
    kwargs = pc.connect_kwargs(spec_defaults(login_host="postgres.prod.svc", login_port=5432, ssl_mode="verify-full"),
                               host="127.0.0.1", port=41234)
    assert kwargs["hostaddr"] == "127.0.0.1" and kwargs["port"] == 41234
    assert kwargs["host"] == "postgres.prod.svc"


def test_through_a_tunnel_without_a_server_name_or_with_a_socket_directory():
    assert pc.connect_kwargs(spec_defaults(), host="127.0.0.1", port=4000)["host"] == "127.0.0.1"
    kwargs = pc.connect_kwargs(spec_defaults(login_host="/var/run/postgresql"), host="127.0.0.1", port=4000)
    assert kwargs["host"] == "127.0.0.1" and kwargs["hostaddr"] == "127.0.0.1"


def test_describe_never_shows_the_password():
    kwargs = pc.connect_kwargs(spec_defaults(login_host="db", login_user="sre", login_password="s3cret"))
    assert pc.describe(kwargs) == "sre@db:$PGPORT/$PGDATABASE"
    assert "s3cret" not in pc.describe(kwargs)


# --- check_params -------------------------------------------------------------------------------


@pytest.mark.parametrize("params, message", [
    (dict(connect_timeout=0), "connect_timeout must be at least 1 second"),
    (dict(statement_timeout=-1), "statement_timeout must be at least 1 second"),
    (dict(lock_timeout=0), "lock_timeout must be at least 1 second"),
    (dict(login_port=70000), "login_port must be between 1 and 65535"),
    (dict(connect_via="port_forward"), "needs pod and pod_namespace"),
    (dict(connect_via="port_forward", pod="postgres-0"), "needs pod and pod_namespace"),
    (dict(connect_via="port_forward", pod="postgres-0", pod_namespace="db", pod_port=0), "pod_port must be between"),
    (dict(application_name="x" * 64), "at most 63 characters"),
    (dict(application_name="tab\there"), "printable"),
])
def test_unusable_options_are_refused_before_connecting(params, message):
    with pytest.raises(InvalidInput, match=message):
        pc.check_params(spec_defaults(**params))


def test_usable_options_pass():
    pc.check_params(spec_defaults())
    pc.check_params(spec_defaults(connect_via="port_forward", pod="statefulset/postgres", pod_namespace="db"))


# --- classify / error_from ----------------------------------------------------------------------


@pytest.mark.parametrize("code, kind", [
    ("28P01", "auth"), ("3D000", "not_found"), ("42501", "permission"), ("53300", "too_many_connections"),
    ("57014", "timeout"), ("55P03", "timeout"), ("25006", "standby"), ("57P03", "unreachable"), ("42P01", "server"),
])
def test_server_errors_are_classified_by_sqlstate(code, kind):
    assert pc.classify(FakeError("whatever the text", code)) == kind


@pytest.mark.parametrize("text, kind", [
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "x"', "auth"),
    ('connection to server at "10.0.0.5", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", '
     'user "x", database "y", no encryption', "auth"),
    ('connection to server at "127.0.0.1", port 5432 failed: SSL error: certificate verify failed', "auth"),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "nope" does not exist', "not_found"),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many clients already', "too_many_connections"),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  remaining connection slots are reserved for '
     'roles with the SUPERUSER attribute', "too_many_connections"),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system is starting up', "unreachable"),
    ('connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running', "unreachable"),
    ('connection to server at "10.255.0.1", port 5432 failed: timeout expired', "unreachable"),
    ('could not translate host name "db.nowhere" to address: Name or service not known', "unreachable"),
    ("server closed the connection unexpectedly", "unreachable"),
    ("something nobody anticipated", "server"),
])
def test_connection_errors_are_classified_by_libpq_text(text, kind):
    assert pc.classify(FakeError(text)) == kind


def test_error_messages_say_what_to_fix_on_one_line():
    error = pc.error_from(FakeError('connection to server at "h", port 1 failed: Connection refused\n\tIs the server'),
                          "cannot connect to PostgreSQL sre@h:1/app")
    assert isinstance(error, pc.PostgresError) and error.kind == "unreachable"
    assert "\n" not in str(error) and "\t" not in str(error)
    assert str(error).startswith("cannot connect to PostgreSQL sre@h:1/app: connection to server")
    assert "check login_host/login_port" in str(error)


def test_a_certificate_that_does_not_verify_points_at_ssl_rootcert():
    error = pc.error_from(FakeError('connection to server at "h", port 5432 failed: SSL error: certificate verify failed'),
                          "where")
    assert error.kind == "auth" and "ssl_rootcert must hold the CA" in str(error)
    # A missing pg_hba entry names its encryption too: still the credentials' and pg_hba's problem.
    hba = pc.error_from(FakeError('FATAL:  no pg_hba.conf entry for host "h", user "u", database "d", SSL encryption'), "w")
    assert hba.kind == "auth" and "pg_hba.conf" in str(hba) and "ssl_rootcert" not in str(hba)


def test_a_caller_may_say_what_to_fix():
    error = pc.error_from(FakeError("server closed the connection unexpectedly"), "where", fix="check pod_port")
    assert error.kind == "unreachable" and str(error).endswith("(check pod_port)")


def test_kinds_all_have_a_meaning_and_fixes_only_known_kinds():
    assert set(pc._SQLSTATE_KINDS.values()) <= set(pc.KINDS)
    assert set(kind for _pattern, kind in pc._TEXT_KINDS) <= set(pc.KINDS)
    assert set(pc._FIXES) <= set(pc.KINDS)


# --- the argspec and its doc fragment -----------------------------------------------------------


def test_the_password_is_never_logged_and_the_key_path_is_not_a_secret():
    spec = pc.postgres_argument_spec()
    assert spec["login_password"].get("no_log") is True
    assert spec["ssl_key"].get("no_log") is False
    assert [name for name, option in spec.items() if option.get("no_log")] == ["login_password"]


def test_the_doc_fragment_documents_exactly_the_argspec():
    fragment = importlib.import_module(
        "ansible_collections.ai_orchestrator.incident_response.plugins.doc_fragments.postgres").ModuleDocFragment
    documented = yaml.safe_load(fragment.DOCUMENTATION)["options"]
    spec = pc.postgres_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option.get("type", "str"), name
        assert doc.get("default") == option.get("default"), name
        assert sorted(doc.get("choices") or []) == sorted(option.get("choices") or []), name
        assert sorted(doc.get("aliases") or []) == sorted(option.get("aliases") or []), name


def test_open_session_refuses_bad_options_before_any_connection(monkeypatch):
    def no_connect(**kwargs):
        raise AssertionError("connected")

    monkeypatch.setattr(pc.psycopg2, "connect", no_connect)
    with pytest.raises(InvalidInput):
        with pc.open_session(spec_defaults(connect_timeout=0)):
            pass


def test_open_session_session_is_autocommit_and_closed(monkeypatch):
    seen = {}

    class Conn(object):
        autocommit = False
        closed = False

        def close(self):
            self.closed = True

    conn = Conn()

    def connect(**kwargs):
        seen.update(kwargs)
        return conn

    monkeypatch.setattr(pc.psycopg2, "connect", connect)
    with pc.open_session(spec_defaults(login_host="db", login_password="s3cret"), database="other") as session:
        assert conn.autocommit is True
        assert session.where == "$PGUSER@db:$PGPORT/other"
    assert conn.closed and seen["dbname"] == "other" and seen["password"] == "s3cret"


def test_open_session_failure_keeps_the_kind_and_hides_the_password(monkeypatch):
    def connect(**kwargs):
        raise FakeError('connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "sre"')

    monkeypatch.setattr(pc.psycopg2, "connect", connect)
    with pytest.raises(pc.PostgresError) as err:
        with pc.open_session(spec_defaults(login_host="db", login_user="sre", login_password="s3cret")):
            pass
    assert err.value.kind == "auth" and "s3cret" not in str(err.value)
    assert str(err.value).startswith("cannot connect to PostgreSQL sre@db:$PGPORT/$PGDATABASE")
