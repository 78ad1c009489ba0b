#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: engine_health_info
short_description: Check the workflow engines and the API gateway over HTTP, all at once
version_added: 0.3.0
description:
  - Asks each engine of O(engines) - Langflow, n8n, LangSmith, the platform's API gateway or any HTTP service -
    whether it is up, as the runbook's "Workflow Execution Failures" section does with C(curl), and whether its
    API key is accepted. The engines are checked at the same time (one thread each, at most 32 at once), so
    one task takes about as long as the slowest engine, however many there are.
  - For each engine, a C(GET) of its health endpoint (O(engines[].health_path), by default the kind's own), retried
    as O(retries) says; then, when the engine answered, its version (Langflow C(/api/v1/version), LangSmith
    C(/info)) and, when an API key is given, one cheap authenticated read (O(engines[].credentials_path)) that
    proves the key is accepted.
  - An engine that is down is a result, not a failure. The module fails only for options it cannot use
    (C(error_kind=invalid_input)), before anything is sent.
  - Read-only. The same in check mode.
author:
  - AI Orchestrator SRE team (@ai-orchestrator)
extends_documentation_fragment:
  - ai_orchestrator.incident_response.engine
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node and connects to the engines from there.
options:
  engines:
    description:
      - The engines to check. Names must be unique.
      - Each entry may override the module's O(timeout), O(retries), O(backoff), O(validate_certs), O(ca_path),
        O(client_cert) and O(client_key) for that engine alone.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The engine's name in the results, such as V(langflow) or V(n8n-eu).
        type: str
        required: true
      kind:
        description:
          - What the engine is; it sets the default O(engines[].health_path) and O(engines[].credentials_path), the
            header the API key goes in, and where the version is read.
          - V(langflow) - health C(/health), key in C(x-api-key), credentials C(/api/v1/flows/), version
            C(/api/v1/version).
          - V(n8n) - health C(/healthz), key in C(X-N8N-API-KEY), credentials C(/api/v1/workflows?limit=1).
          - V(langsmith) - health C(/ok), key in C(x-api-key), credentials C(/api/v1/sessions?limit=1), version
            C(/info).
          - V(gateway) - the platform's API gateway; health C(/health), whose JSON C(status) and C(checks) are
            returned in RV(engines[].detail); key in C(Authorization) as V(Bearer <key>).
          - V(generic) - any HTTP service; health C(/health), key in C(Authorization) as V(Bearer <key>).
        type: str
        choices: [langflow, n8n, langsmith, gateway, generic]
        default: generic
      url:
        description:
          - Base URL of the engine, such as V(http://langflow-service:7860), with its path prefix when it runs under
            one. The health and credentials paths are added to it.
          - Credentials written into the URL are never returned; prefer O(engines[].api_key).
        type: str
        required: true
      health_path:
        description:
          - Path of the health endpoint, instead of the kind's (see O(engines[].kind)).
        type: str
      expect_status:
        description:
          - HTTP statuses of the health endpoint that mean up. A 5xx answer means down; any other answer means
            degraded.
        type: list
        elements: int
        default: [200]
      api_key:
        description:
          - The engine's API key, sent in the kind's header (see O(engines[].kind)) with every request to the engine,
            and checked on O(engines[].credentials_path).
          - Never logged, never part of a message or a returned value.
        type: str
      headers:
        description:
          - More HTTP headers for every request to the engine (an authenticating proxy's token, a tenant header).
          - Never logged; their values never appear in a message or a returned value. A header that names the
            kind's API key header together with O(engines[].api_key) fails the module.
          - A header of these that carries credentials (C(Authorization), or a name with C(key), C(token) or
            C(auth) in it) is checked like O(engines[].api_key).
        type: dict
      credentials_path:
        description:
          - Path of an authenticated read (a C(GET)) that answers 2xx when the credentials are accepted and 401 or
            403 when they are not, instead of the kind's (see O(engines[].kind)). V("") checks no credentials
            beyond the health endpoint's own answer.
        type: str
      timeout:
        description: O(timeout) for this engine.
        type: float
      retries:
        description: O(retries) for this engine.
        type: int
      backoff:
        description: O(backoff) for this engine.
        type: float
      validate_certs:
        description: O(validate_certs) for this engine.
        type: bool
      ca_path:
        description: O(ca_path) for this engine.
        type: path
      client_cert:
        description: O(client_cert) for this engine.
        type: path
      client_key:
        description: O(client_key) for this engine.
        type: path
notes:
  - An engine is V(down) when it gives no HTTP answer (RV(engines[].error_kind) says why), answers its health
    endpoint with a 5xx status, or says so in its JSON (C(status) V(unhealthy), V(down), V(error), V(fail), or
    C(ok) V(false)). It is V(degraded) when it answers with a status not in O(engines[].expect_status) (such as
    V(401), V(404) or V(429)), says C(status) V(degraded) or V(warn), or answered only after a retry (a flaky
    engine; the failed attempts are in RV(engines[].error)). Otherwise it is V(up).
  - Credentials are V(accepted) or V(rejected) by the answer of O(engines[].credentials_path) (2xx, or 401/403);
    V(rejected) also when the health endpoint itself answers 401 or 403; V(error) when the credentials read
    failed otherwise; V(not_checked) when no credentials were given, the engine is down, or there is no
    credentials path and the health endpoint did not refuse them.
seealso:
  - module: ai_orchestrator.incident_response.workload_health_info
  - module: ai_orchestrator.incident_response.prometheus_query_info
"""

EXAMPLES = r"""
- name: Check the workflow engines and the gateway in one task
  ai_orchestrator.incident_response.engine_health_info:
    engines:
      - name: langflow
        kind: langflow
        url: http://langflow-service:7860
        api_key: "{{ langflow_api_key }}"
      - name: n8n
        kind: n8n
        url: http://n8n-service:5678
        api_key: "{{ n8n_api_key }}"
      - name: langsmith
        kind: langsmith
        url: http://langsmith-service:1984
      - name: api-gateway
        kind: gateway
        url: http://api-gateway
  register: engines

- name: Escalate the engines that are down
  ansible.builtin.debug:
    msg: "{{ engines.engines | selectattr('status', 'equalto', 'down') | map(attribute='message') | list }}"
  when: engines.down | length > 0

- name: A rotated key is a different fix from a dead engine
  ansible.builtin.debug:
    msg: "API keys rejected by {{ engines.credentials_rejected | join(', ') }}: rotate them in the vault"
  when: engines.credentials_rejected | length > 0

- name: An HTTPS engine behind the company CA, checked faster than the default
  ai_orchestrator.incident_response.engine_health_info:
    timeout: 2
    retries: 1
    ca_path: /etc/pki/ca-trust/company-ca.pem
    engines:
      - name: n8n
        kind: n8n
        url: https://n8n.example.com
        headers:
          X-Auth-Proxy-Token: "{{ proxy_token }}"
"""

RETURN = r"""
engines:
  description: One entry per engine of O(engines), in the same order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The engine's name.
      type: str
      sample: n8n
    kind:
      description: The engine's kind.
      type: str
      sample: n8n
    url:
      description: The base URL, without credentials.
      type: str
      sample: http://n8n-service:5678
    status:
      description: V(up), V(down) or V(degraded) (see the notes).
      type: str
      sample: down
    http_status:
      description: The health endpoint's HTTP status on the last attempt; null without an answer.
      type: int
      sample: 503
    latency_ms:
      description: Time of the last health request, in milliseconds.
      type: float
      sample: 12.4
    attempts:
      description: Health requests made (1 plus the retries used).
      type: int
      sample: 3
    error:
      description: What went wrong with the health request; for an engine that answered only after a retry, what
        the failed attempts got. Null when the first attempt was fine.
      type: str
      sample: connection refused (is it running, on this host and port?)
    error_kind:
      description: V(refused), V(timeout), V(tls), V(dns), V(connection) (no HTTP answer) or V(http) (an answer
        with status 400 or above, or a 3xx not followed); null without an error. For an engine up only after a
        retry, the kind of the last failed attempt.
      type: str
      sample: refused
    version:
      description: The engine's version, when it says (Langflow, LangSmith, or a health reply with C(version)).
      type: str
      sample: 1.1.1
    detail:
      description: For a gateway (or a health reply with C(checks)), its own C(status) and C(checks) (the
        dependencies it probes, each with C(status), C(latency_ms) and C(error)); null otherwise.
      type: dict
      sample: {status: degraded, checks: {postgres: {status: up, latency_ms: 1.2}, n8n: {status: down,
               latency_ms: 0.4, error: connection refused}}}
    credentials:
      description: V(accepted), V(rejected), V(not_checked) or V(error) (see the notes).
      type: str
      sample: rejected
    credentials_status:
      description: HTTP status of the answer that judged the credentials; null when not checked or no answer.
      type: int
      sample: 401
    message:
      description: One line that says what was found.
      type: str
      sample: "api-gateway is degraded: HTTP 200, but the engine says it is degraded (its checks failing: n8n)"
down:
  description: Names of the engines that are down.
  returned: success
  type: list
  elements: str
  sample: [n8n]
degraded:
  description: Names of the engines that are degraded.
  returned: success
  type: list
  elements: str
  sample: []
credentials_rejected:
  description: Names of the engines that rejected the credentials.
  returned: success
  type: list
  elements: str
  sample: [langflow]
healthy:
  description: True when every engine is up and no credentials were rejected.
  returned: success
  type: bool
  sample: false
msg:
  description: "A summary, such as C(4 engines: 3 up, 1 down (n8n))."
  returned: always
  type: str
  sample: "4 engines: 3 up, 1 down (n8n); credentials rejected by langflow"
error_kind:
  description: V(invalid_input) when an option is unusable; nothing was sent.
  returned: failure
  type: str
  sample: invalid_input
"""

import re
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import (
    ENGINE_KINDS,
    ENGINE_RETRY_ON,
    check_request_options,
    engine_argument_spec,
    engine_auth_headers,
    engine_override_spec,
    header_secrets,
    http_request,
    redact_value,
    safe_url,
    url_secrets,
)

MAX_PARALLEL = 32
SETTINGS = tuple(engine_argument_spec())
DOWN_WORDS = frozenset(("unhealthy", "down", "error", "fail", "failed", "failing", "critical", "dead"))
DEGRADED_WORDS = frozenset(("degraded", "warn", "warning", "partial"))
UP_WORDS = frozenset(("up", "ok", "healthy", "pass"))
# Header names that carry credentials, for deciding whether there is anything to check.
_CREDENTIAL_HEADER = re.compile(r"authorization|key|token|auth|secret", re.IGNORECASE)


def argspec():
    spec = engine_argument_spec()
    entry = dict(
        name=dict(type="str", required=True),
        kind=dict(type="str", default="generic", choices=sorted(ENGINE_KINDS)),
        url=dict(type="str", required=True),
        health_path=dict(type="str"),
        expect_status=dict(type="list", elements="int", default=[200]),
        api_key=dict(type="str", no_log=True),
        headers=dict(type="dict", no_log=True),
        credentials_path=dict(type="str", no_log=False),
    )
    entry.update(engine_override_spec())
    spec["engines"] = dict(type="list", elements="dict", required=True, options=entry)
    return spec


# --- options ------------------------------------------------------------------------


def _path(value, option, name):
    value = (value or "").strip()
    if value and not value.startswith("/"):
        raise InvalidInput("engines[%s].%s must be a path starting with /, got %r" % (name, option, value))
    return value


def resolve_engines(params):
    """Each engine's complete settings (its own, else the module's); InvalidInput before anything is sent."""
    engines, seen = [], set()
    if not params["engines"]:
        raise InvalidInput("engines is empty: give at least one engine (name, kind, url)")
    for entry in params["engines"]:
        name = (entry.get("name") or "").strip()
        if not name:
            raise InvalidInput("every entry of engines needs a name")
        if name in seen:
            raise InvalidInput("engine name %r is given twice: names must be unique" % name)
        seen.add(name)
        kind = entry.get("kind") or "generic"
        known = ENGINE_KINDS[kind]
        settings = dict((key, entry[key] if entry.get(key) is not None else params[key]) for key in SETTINGS)
        url = (entry.get("url") or "").strip().rstrip("/")
        health_path = _path(entry.get("health_path"), "health_path", name) or known["health_path"]
        credentials_path = entry.get("credentials_path")
        credentials_path = known["credentials_path"] if credentials_path is None else _path(credentials_path,
                                                                                            "credentials_path", name)
        extra = dict((str(k), "" if v is None else str(v)) for k, v in (entry.get("headers") or {}).items())
        auth = engine_auth_headers(kind, entry.get("api_key"))
        clash = set(k.lower() for k in extra) & set(k.lower() for k in auth)
        if clash:
            raise InvalidInput("engines[%s]: header %s is given in headers and by api_key; keep one of them"
                               % (name, sorted(clash)[0]))
        headers = dict(extra, **auth)
        expect = entry.get("expect_status") or [200]
        if any(not 100 <= code <= 599 for code in expect):
            raise InvalidInput("engines[%s].expect_status must hold HTTP statuses (100-599), got %r" % (name, expect))
        try:
            check_request_options(url + health_path, timeout=settings["timeout"], retries=settings["retries"],
                                  backoff=settings["backoff"], ca_path=settings["ca_path"],
                                  client_cert=settings["client_cert"], client_key=settings["client_key"])
        except InvalidInput as exc:
            raise InvalidInput("engines[%s]: %s" % (name, exc))
        engines.append(dict(
            settings, name=name, kind=kind, url=url, health_path=health_path, credentials_path=credentials_path or None,
            expect_status=list(expect), headers=headers,
            credentials_given=bool(auth) or any(_CREDENTIAL_HEADER.search(k) for k in extra),
            secrets=[s for s in [entry.get("api_key")] + header_secrets(headers) + url_secrets(url) if s]))
    return engines


# --- one engine ---------------------------------------------------------------------


def _request(engine, path, retries):
    return http_request(engine["url"] + path, headers=engine["headers"], timeout=engine["timeout"],
                        validate_certs=engine["validate_certs"], ca_path=engine["ca_path"],
                        client_cert=engine["client_cert"], client_key=engine["client_key"], retries=retries,
                        backoff=engine["backoff"], retry_on=ENGINE_RETRY_ON, secrets=engine["secrets"])


def judge_health(engine, health):
    """(status, error, error_kind) of an engine from its health answer."""
    if health.status is None:
        return "down", health.error, health.error_kind
    if health.status >= 500:
        return "down", health.error, health.error_kind
    if health.status not in engine["expect_status"]:
        error = health.error or "HTTP %d, expected %s" % (health.status, " or ".join(map(str, engine["expect_status"])))
        if health.status == 404:
            error += " (is the URL and health_path right?)"
        return "degraded", error, health.error_kind or "http"
    body = health.json if isinstance(health.json, dict) else {}
    said = body.get("status")
    said = said.strip().lower() if isinstance(said, str) else None
    if said in DOWN_WORDS or body.get("ok") is False:
        return "down", "HTTP %d, but the engine says it is %s" % (health.status, said or "not ok"), None
    if said in DEGRADED_WORDS:
        return "degraded", "HTTP %d, but the engine says it is %s" % (health.status, said), None
    if health.failures:
        before = "; ".join(f["error"] for f in health.failures)
        return ("degraded", "answered only on attempt %d (before: %s)" % (health.attempts, before),
                health.failures[-1]["error_kind"])
    return "up", None, None


def read_version(engine, health):
    body = health.json if isinstance(health.json, dict) else {}
    if isinstance(body.get("version"), (str, int, float)):
        return str(body["version"])
    path = ENGINE_KINDS[engine["kind"]]["version_path"]
    if not path:
        return None
    reply = _request(engine, path, retries=0)  # a nicety: one try, never worth a wait
    if reply.ok and isinstance(reply.json, dict) and isinstance(reply.json.get("version"), (str, int, float)):
        return str(reply.json["version"])
    return None


def judge_credentials(engine, health, status):
    """(credentials, credentials_status, note) - see the module's notes."""
    if health.status in (401, 403):
        return "rejected", health.status, "the health endpoint refuses %s (HTTP %d)" % (
            "the credentials" if engine["credentials_given"] else "requests without credentials", health.status)
    if not engine["credentials_given"] or status == "down" or not engine["credentials_path"]:
        return "not_checked", None, None
    reply = _request(engine, engine["credentials_path"], engine["retries"])
    if reply.status is not None and 200 <= reply.status < 300:
        return "accepted", reply.status, None
    if reply.status in (401, 403):
        return "rejected", reply.status, "its credentials are rejected (HTTP %d on %s)" % (
            reply.status, safe_url(engine["credentials_path"]))
    return "error", reply.status, "the credentials could not be checked: %s" % reply.error


def check_engine(engine):
    """The result entry of one engine (never raises for what the engine does)."""
    health = _request(engine, engine["health_path"], engine["retries"])
    status, error, error_kind = judge_health(engine, health)
    version = read_version(engine, health) if health.status is not None and health.status < 500 else None
    body = health.json if isinstance(health.json, dict) else {}
    detail = None
    if engine["kind"] == "gateway" or "checks" in body:
        detail = dict(status=body.get("status"), checks=body.get("checks")) if body else None
    credentials, credentials_status, note = judge_credentials(engine, health, status)
    name = engine["name"]
    if status == "up":
        message = "%s is up (HTTP %d in %.0f ms)" % (name, health.status, health.latency_ms)
    else:
        message = "%s is %s: %s" % (name, status, error)
    checks = (detail or {}).get("checks")
    if isinstance(checks, dict):
        failing = sorted(k for k, v in checks.items() if isinstance(v, dict) and str(v.get("status")).lower() not in UP_WORDS)
        if failing:
            message += " (its checks failing: %s)" % ", ".join(failing)
    if note:
        message += "; " + note
    result = dict(name=name, kind=engine["kind"], url=safe_url(engine["url"]), status=status,
                  http_status=health.status, latency_ms=health.latency_ms, attempts=health.attempts, error=error,
                  error_kind=error_kind, version=version, detail=detail, credentials=credentials,
                  credentials_status=credentials_status, message=message)
    return redact_value(result, engine["secrets"])


def check_engines(params):
    """The module's result: every engine checked at the same time."""
    engines = resolve_engines(params)
    with ThreadPoolExecutor(max_workers=min(len(engines), MAX_PARALLEL)) as pool:
        results = list(pool.map(check_engine, engines))
    down = [r["name"] for r in results if r["status"] == "down"]
    degraded = [r["name"] for r in results if r["status"] == "degraded"]
    rejected = [r["name"] for r in results if r["credentials"] == "rejected"]
    up = len(results) - len(down) - len(degraded)
    parts = ["%d up" % up] + ["%d %s (%s)" % (len(names), word, ", ".join(names))
                              for word, names in (("down", down), ("degraded", degraded)) if names]
    msg = "%d engine%s: %s" % (len(results), "" if len(results) == 1 else "s", ", ".join(parts))
    if rejected:
        msg += "; credentials rejected by %s" % ", ".join(rejected)
    return dict(engines=results, down=down, degraded=degraded, credentials_rejected=rejected,
                healthy=not (down or degraded or rejected), msg=msg)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        result = check_engines(module.params)
    except InvalidInput as exc:
        module.fail_json(msg=str(exc), error_kind="invalid_input")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
