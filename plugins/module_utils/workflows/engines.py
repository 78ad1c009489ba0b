# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The workflow engines' APIs, one adapter per kind: workflows, executions, catalogs, traces.

- n8n (public API v1, header ``X-N8N-API-KEY``): ``GET /api/v1/workflows``,
  ``GET /api/v1/workflows/{id}``, ``GET /api/v1/executions`` (newest first, cursor pages of
  at most 250; ``status=error`` and ``includeData=true`` for the failing node),
  ``GET /types/nodes.json`` (the installed node types the editor loads; no key needed).
- Langflow (header ``x-api-key``): ``GET /api/v1/flows/``, ``GET /api/v1/flows/{id}``,
  ``GET /api/v1/monitor/transactions?flow_id=`` (one record per component run, newest
  first: a run that failed ends in a record with status ``error``, one that succeeded in a
  record with no ``target_id``), ``GET /api/v1/all`` (installed components).
- LangSmith (header ``x-api-key``): ``GET /api/v1/sessions`` (projects),
  ``POST /api/v1/runs/query`` (root runs; failed ones carry ``error``).

Neither n8n's public API nor Langflow's has a call that validates a whole definition, so
validation is structural (definition.validate) against the engine's catalog.

Each adapter raises ``EngineError`` with ``kind`` one of ``unreachable`` (no HTTP answer),
``credentials`` (401/403), ``not_found`` (404), ``api`` (any other failure) - never with a
secret in its message (module_utils/http/client.py redacts).
"""

from __future__ import annotations

import datetime
import fnmatch
from urllib.parse import quote, urlencode

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    IncidentResponseError,
    InvalidInput,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.timeutil import format_time, to_utc
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.http.client import (
    engine_auth_headers,
    http_request,
)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import definition

KINDS = ("n8n", "langflow", "langsmith")
OWNER_TAG = "owner:"
N8N_PAGE = 250  # the public API's maximum page
LANGFLOW_PAGE = 100
LANGSMITH_PAGE = 100
FAILED = "failure"
SUCCEEDED = "success"


class EngineError(IncidentResponseError):
    """An engine API call failed; ``kind``: unreachable, credentials, not_found or api."""

    def __init__(self, message, kind="api", status=None):
        super(EngineError, self).__init__(message, status=status)
        self.kind = kind


def workflow_engine_spec():
    """Suboptions of the modules' ``engine`` option (documented in each module)."""
    return dict(
        name=dict(type="str"),
        kind=dict(type="str", required=True, choices=list(KINDS)),
        url=dict(type="str", required=True),
        api_key=dict(type="str", no_log=True),
        headers=dict(type="dict", no_log=True),
        project=dict(type="str"),
    )


def epoch_of(value):
    """Epoch seconds of an engine's timestamp (ISO 8601, or epoch milliseconds); None if unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    try:
        return to_utc(str(value)).timestamp()
    except InvalidInput:
        return None


def execution(id, workflow_id, status, started, error=None, node=None, error_name=None, trace=None):
    """One execution in the adapters' common shape."""
    return {"id": None if id is None else str(id), "workflow_id": None if workflow_id is None else str(workflow_id),
            "status": status, "started": started, "error": error, "node": node, "error_name": error_name,
            "trace": trace}


class Engine(object):
    """What every adapter shares: the base URL, the key in the kind's header, HTTP settings."""

    kind = None
    credentials_path = None

    def __init__(self, name, url, api_key=None, headers=None, http=None, project=None):
        if not url or not str(url).startswith(("http://", "https://")):
            raise InvalidInput("engine url must start with http:// or https://, got %r" % (url,))
        self.name = name or self.kind
        self.base = str(url).rstrip("/")
        self.headers = dict((str(k), str(v)) for k, v in (headers or {}).items())
        self.headers.update(engine_auth_headers(self.kind, api_key))
        self.http = dict(http or {})
        self.project = project
        self.secrets = [api_key] if api_key else []

    def call(self, method, path, query=None, body=None, missing_ok=False):
        url = self.base + path + ("?" + urlencode(query, doseq=True) if query else "")
        result = http_request(url, method=method, headers=self.headers, body=body, secrets=self.secrets, **self.http)
        where = "%s %s" % (self.name, result.url)
        if result.error_kind in ("refused", "timeout", "tls", "dns", "connection"):
            raise EngineError("cannot reach %s: %s" % (where, result.error), "unreachable")
        if result.status in (401, 403):
            raise EngineError("%s rejects the API key (HTTP %s on %s)" % (self.name, result.status, path),
                              "credentials", status=result.status)
        if result.status == 404:
            if missing_ok:
                return None
            raise EngineError("%s: not found (HTTP 404)" % where, "not_found", status=404)
        if result.error_kind:
            raise EngineError("%s failed: %s" % (where, result.error), "api", status=result.status)
        if result.json is None and result.body:
            raise EngineError("%s did not answer with JSON" % where, "api", status=result.status)
        return result.json

    def credentials(self):
        """"accepted" or "rejected" by a cheap authenticated read; EngineError when unreachable."""
        try:
            self.call("GET", self.credentials_path)
        except EngineError as exc:
            if exc.kind == "credentials":
                return "rejected"
            raise
        return "accepted"

    # What the kinds with definitions implement.
    def workflows(self):
        raise EngineError("%s (%s) holds no workflow definitions" % (self.name, self.kind), "api")

    def workflow(self, workflow_id):
        return None

    def catalog(self):
        return None

    def owner(self, raw):
        return None

    def executions(self, since, limit, failed_only=False, workflow_ids=None):
        raise NotImplementedError

    @staticmethod
    def identity(raw):
        return str(raw.get("id")), raw.get("name")


def owner_from_tags(tags):
    """The team of the first "owner:<team>" tag (tag objects or strings); None without one."""
    for tag in tags or []:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name.lower().startswith(OWNER_TAG) and name[len(OWNER_TAG):].strip():
            return name[len(OWNER_TAG):].strip()
    return None


class N8n(Engine):
    kind = "n8n"
    credentials_path = "/api/v1/workflows?limit=1"

    def workflows(self):
        found, cursor = [], None
        while True:
            query = {"limit": N8N_PAGE}
            if cursor:
                query["cursor"] = cursor
            page = self.call("GET", "/api/v1/workflows", query) or {}
            found.extend(page.get("data") or [])
            cursor = page.get("nextCursor")
            if not cursor:
                return found

    def workflow(self, workflow_id):
        return self.call("GET", "/api/v1/workflows/%s" % quote(str(workflow_id), safe=""), missing_ok=True)

    def catalog(self):
        try:
            described = self.call("GET", "/types/nodes.json", missing_ok=True)
        except EngineError as exc:
            if exc.kind == "unreachable":
                raise
            return None
        if not isinstance(described, list):
            return None
        types, triggers, needs = set(), set(), {}
        for entry in described:
            if not isinstance(entry, dict) or not entry.get("name"):
                continue
            types.add(entry["name"])
            if "trigger" in (entry.get("group") or []):
                triggers.add(entry["name"])
            required = [c.get("name") for c in entry.get("credentials") or [] if isinstance(c, dict) and c.get("required")]
            if required:
                needs[entry["name"]] = sorted(set(needs.get(entry["name"], [])) | set(required))
        return definition.catalog(types, triggers, needs)

    def owner(self, raw):
        return owner_from_tags(raw.get("tags"))

    def executions(self, since, limit, failed_only=False, workflow_ids=None):
        """Newest first, started at ``since`` or later, at most ``limit``; (executions, complete)."""
        found, cursor = [], None
        while len(found) < limit:
            query = {"limit": min(N8N_PAGE, limit - len(found))}
            if failed_only:
                query.update(status="error", includeData="true")
            if workflow_ids and len(workflow_ids) == 1:
                query["workflowId"] = workflow_ids[0]
            if cursor:
                query["cursor"] = cursor
            page = self.call("GET", "/api/v1/executions", query) or {}
            for item in page.get("data") or []:
                started = epoch_of(item.get("startedAt"))
                if started is not None and started < since:
                    return found, True
                if workflow_ids and str(item.get("workflowId")) not in workflow_ids:
                    continue
                record = self._execution(item, started)
                if failed_only and record["status"] != FAILED:
                    continue
                found.append(record)
            cursor = page.get("nextCursor")
            if not cursor:
                return found, True
        return found[:limit], False

    @staticmethod
    def _execution(item, started):
        # Before n8n 1.0 an execution had only `finished`.
        status = item.get("status") or ("success" if item.get("finished") else "error")
        outcome = FAILED if status in ("error", "crashed") else SUCCEEDED if status == "success" else status
        if outcome != FAILED:
            return execution(item.get("id"), item.get("workflowId"), outcome, started)
        result = (item.get("data") or {}).get("resultData") or {}
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        node = error.get("node") if isinstance(error.get("node"), dict) else {}
        return execution(item.get("id"), item.get("workflowId"), outcome, started,
                         error=error.get("message") or "execution ended with status %s" % status,
                         node=node.get("name") or result.get("lastNodeExecuted"), error_name=error.get("name"))


class Langflow(Engine):
    kind = "langflow"
    credentials_path = "/api/v1/flows/?get_all=false&page=1&size=1"

    def workflows(self):
        flows = self.call("GET", "/api/v1/flows/", {"get_all": "true", "remove_example_flows": "true"}) or []
        if isinstance(flows, dict):  # a server that pages anyway
            flows = flows.get("items") or []
        return [f for f in flows if isinstance(f, dict) and not f.get("is_component")]

    def workflow(self, workflow_id):
        return self.call("GET", "/api/v1/flows/%s" % quote(str(workflow_id), safe=""), missing_ok=True)

    def catalog(self):
        try:
            components = self.call("GET", "/api/v1/all", missing_ok=True)
        except EngineError as exc:
            if exc.kind == "unreachable":
                raise
            return None
        if not isinstance(components, dict):
            return None
        types, triggers, needs = set(), set(), {}
        for category, members in components.items():
            for name, spec in (members or {}).items() if isinstance(members, dict) else ():
                types.add(name)
                if category == "inputs" or fnmatch.fnmatchcase(name, "Webhook*"):
                    triggers.add(name)
                template = (spec or {}).get("template") or {} if isinstance(spec, dict) else {}
                required = [f for f, s in template.items() if isinstance(s, dict) and s.get("password") and s.get("required")]
                if required:
                    needs[name] = sorted(required)
        return definition.catalog(types, triggers, needs)

    def owner(self, raw):
        return owner_from_tags(raw.get("tags"))

    def executions(self, since, limit, failed_only=False, workflow_ids=None):
        """Runs of every flow (or of ``workflow_ids``) since ``since``: a run ends in a record with
        status error (failed; the failing component is its vertex) or in a successful record with
        no target (the last component). Newest first, at most ``limit``; (executions, complete)."""
        ids = list(workflow_ids) if workflow_ids else [self.identity(f)[0] for f in self.workflows()]
        found, complete = [], True
        for flow_id in ids:
            page, kept = 1, 0
            while True:
                reply = self.call("GET", "/api/v1/monitor/transactions",
                                  {"flow_id": flow_id, "page": page, "size": LANGFLOW_PAGE}, missing_ok=True) or {}
                items = reply.get("items") if isinstance(reply, dict) else reply
                old = False
                for item in items or []:
                    started = epoch_of(item.get("timestamp"))
                    if started is not None and started < since:
                        old = True
                        break
                    failed = item.get("status") == "error"
                    if not failed and (failed_only or item.get("target_id")):
                        continue
                    found.append(execution(item.get("id"), item.get("flow_id") or flow_id, FAILED if failed else SUCCEEDED,
                                           started, error=item.get("error") if failed else None,
                                           node=item.get("vertex_id") if failed else None))
                    kept += 1
                if old or not items or kept >= limit:
                    complete = complete and (old or not items)
                    break
                pages = reply.get("pages") if isinstance(reply, dict) else None
                if pages is not None and page >= pages:
                    break
                page += 1
        found.sort(key=lambda e: e["started"] or 0, reverse=True)
        return found[:limit], complete and len(found) <= limit


class LangSmith(Engine):
    kind = "langsmith"
    credentials_path = "/api/v1/sessions?limit=1"

    def __init__(self, *args, **kwargs):
        super(LangSmith, self).__init__(*args, **kwargs)
        self._session = None

    def session_id(self):
        """The id of the ``project`` (None: every project)."""
        if not self.project:
            return None
        if self._session is None:
            sessions = self.call("GET", "/api/v1/sessions", {"name": self.project, "limit": 1}) or []
            match = [s for s in sessions if isinstance(s, dict) and s.get("name") == self.project]
            if not match:
                raise EngineError("%s has no project named %s" % (self.name, self.project), "not_found", status=404)
            self._session = match[0]["id"]
        return self._session

    def runs(self, since, limit, error=None, name=None):
        """Root runs started at ``since`` or later, newest first; (runs, complete)."""
        body = {"is_root": True, "start_time": format_time(time_of(since), "milliseconds")}
        session = self.session_id()
        if session:
            body["session"] = [session]
        if error is not None:
            body["error"] = bool(error)
        if name:
            body["filter"] = 'eq(name, "%s")' % name.replace('"', '\\"')
        found, cursor = [], None
        while len(found) < limit:
            body["limit"] = min(LANGSMITH_PAGE, limit - len(found))
            if cursor:
                body["cursor"] = cursor
            else:
                body.pop("cursor", None)
            reply = self.call("POST", "/api/v1/runs/query", body=body) or {}
            found.extend(r for r in reply.get("runs") or [] if isinstance(r, dict))
            cursor = (reply.get("cursors") or {}).get("next")
            if not cursor:
                return found, True
        return found[:limit], False

    def executions(self, since, limit, failed_only=False, workflow_ids=None):
        runs, complete = self.runs(since, limit, error=True if failed_only else None)
        found = []
        for run in runs:
            if workflow_ids and run.get("name") not in workflow_ids:
                continue
            failed = bool(run.get("error")) or run.get("status") == "error"
            metadata = (run.get("extra") or {}).get("metadata") or {}
            found.append(execution(run.get("id"), run.get("name"), FAILED if failed else SUCCEEDED,
                                   epoch_of(run.get("start_time")), error=run.get("error") if failed else None,
                                   node=metadata.get("failed_node") if failed else None,
                                   trace=run.get("trace_id") or run.get("id")))
        return found, complete

    def traces(self, name, since, limit=5):
        """Trace ids of the newest failed root runs named ``name``."""
        runs, _complete = self.runs(since, limit, error=True, name=name)
        return [r.get("trace_id") or r.get("id") for r in runs]


ADAPTERS = {"n8n": N8n, "langflow": Langflow, "langsmith": LangSmith}


def time_of(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def make_engine(spec, http):
    """An adapter from the ``engine`` option (see workflow_engine_spec) and the HTTP settings."""
    kind = spec.get("kind")
    if kind not in ADAPTERS:
        raise InvalidInput("engine kind must be one of %s, got %r" % (", ".join(KINDS), kind))
    return ADAPTERS[kind](spec.get("name") or kind, spec.get("url"), api_key=spec.get("api_key"),
                          headers=spec.get("headers"), http=http, project=spec.get("project"))
