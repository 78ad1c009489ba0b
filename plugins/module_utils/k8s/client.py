# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small Kubernetes API client shared by the collection's modules.

The kubernetes Python library is used only to read kubeconfig / in-cluster
credentials and to build its TLS-configured connection pool. Requests are plain
REST calls that return parsed JSON: deserialising thousands of pods into
generated model objects costs more than the API call itself, and REST paths do
not change between client releases.

Check mode lives here, in one place: a client made with ``dry_run=True`` sends every
write (POST, PUT, PATCH, DELETE) as a server-side dry run (``dryRun=All``), so
``--check`` also proves permissions, admission and PodDisruptionBudgets. When the
server refuses the dry run itself (no permission, an admission webhook with side
effects), the refusal is noted in ``unproven`` instead of failing: check mode still
shows the whole plan and says what it could not prove.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import (
    ClusterError,
    ClusterUnreachable,
    NotFound,
)

USER_AGENT = "ai_orchestrator.incident_response"

# Environment variables read when an option is not set, the same names as
# kubernetes.core so existing AWX credentials and CI settings keep working.
ENV_FALLBACKS = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
}


def cluster_argument_spec():
    """Connection options shared by every module that talks to a cluster.

    Documented by the ``ai_orchestrator.incident_response.cluster`` doc fragment;
    tests/unit checks that the two agree.
    """
    return dict(
        kubeconfig=dict(type="path"),
        context=dict(type="str"),
        host=dict(type="str"),
        api_key=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", aliases=["verify_ssl"]),
        ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
        request_timeout=dict(type="int", default=30),
    )


def _param(params, name):
    value = params.get(name)
    if value is None and name in ENV_FALLBACKS:
        value = os.environ.get(ENV_FALLBACKS[name])
        if value is not None and name == "validate_certs":
            value = value.strip().lower() not in ("0", "false", "no", "off")
    return value


def load_configuration(params):
    """Build a kubernetes Configuration from module params, env and kubeconfig.

    Order: explicit ``host``/``api_key``; then ``kubeconfig`` (or
    ``K8S_AUTH_KUBECONFIG``, ``KUBECONFIG``, ``~/.kube/config``) with ``context``;
    then the in-cluster service account.
    """
    cfg = k8s_client.Configuration()
    host = _param(params, "host")
    api_key = _param(params, "api_key")
    kubeconfig = _param(params, "kubeconfig")
    context = _param(params, "context")
    if host and api_key and not kubeconfig:
        cfg.host = host
        cfg.api_key = {"authorization": "Bearer " + api_key}
    else:
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        # KUBECONFIG may be a list of files; the first that exists wins.
        candidates = [p for p in kubeconfig.split(os.pathsep) if p]
        existing = [p for p in candidates if os.path.exists(os.path.expanduser(p))]
        if existing:
            try:
                k8s_config.load_kube_config(
                    config_file=os.path.expanduser(existing[0]), context=context, client_configuration=cfg
                )
            except ConfigException as exc:
                raise ClusterError("invalid kubeconfig %s: %s" % (existing[0], exc))
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)
            except ConfigException as exc:
                raise ClusterError("in-cluster configuration failed: %s" % exc)
        else:
            raise ClusterError(
                "no cluster credentials: kubeconfig %s does not exist and this is not a pod; "
                "set kubeconfig, K8S_AUTH_KUBECONFIG or KUBECONFIG" % ", ".join(candidates)
            )
        if host:
            cfg.host = host
        if api_key:
            cfg.api_key = {"authorization": "Bearer " + api_key}
    validate_certs = _param(params, "validate_certs")
    if validate_certs is not None:
        cfg.verify_ssl = bool(validate_certs)
    ca_cert = _param(params, "ca_cert")
    if ca_cert:
        cfg.ssl_ca_cert = ca_cert
    return cfg


WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
# API Priority and Fairness answers 429 under load; those are retried, not reported.
THROTTLE_RETRIES = 5
THROTTLE_MAX_WAIT = 10.0


class KubeClient(object):
    """REST access to one cluster; counts every request it makes."""

    def __init__(self, configuration, request_timeout=30, dry_run=False, clock=time):
        self.configuration = configuration
        self.host = configuration.host.rstrip("/")
        self.request_timeout = request_timeout
        self.dry_run = dry_run
        self.clock = clock
        self._pool = k8s_client.ApiClient(configuration).rest_client.pool_manager
        self.requests = 0
        # Writes whose server-side dry run the server refused: what check mode could not prove.
        self.unproven = []
        self._lock = threading.Lock()

    @classmethod
    def from_params(cls, params, dry_run=False):
        if not HAS_KUBERNETES:
            raise ClusterError("the kubernetes Python library is required: %s" % KUBERNETES_IMPORT_ERROR)
        return cls(load_configuration(params), request_timeout=params.get("request_timeout") or 30, dry_run=dry_run)

    def _headers(self, content_type=None, accept="application/json"):
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        # auth_settings() runs the token refresh hook (exec plugins, expiring tokens).
        for auth in self.configuration.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        return headers

    def request(self, method, path, query=None, body=None, content_type="application/json", raw=False, accept=None):
        """Send one request; return parsed JSON (or text when ``raw``).

        Writes of a dry-run client go as server-side dry runs; a refused dry run
        returns ``{}`` and is noted in ``unproven``. A 429 from API Priority and
        Fairness is retried with backoff (a PodDisruptionBudget's 429 is not).
        Raises NotFound for 404, ClusterUnreachable when the server cannot be
        reached, ClusterError with the API's own message for anything else.
        """
        write = method in WRITE_METHODS
        if write and self.dry_run:
            query = dict(query or {}, dryRun="All")
            if method == "DELETE" and isinstance(body, dict):
                # The API server takes a DELETE's options from its body when there is one
                # and then ignores the query's dryRun: say it in the body too.
                body = dict(body, dryRun=["All"])
        attempt = 0
        while True:
            try:
                return self._send(method, path, query, body, content_type, raw, accept)
            except ClusterError as exc:
                if exc.status == 429 and getattr(exc, "throttled", False) and attempt < THROTTLE_RETRIES:
                    attempt += 1
                    self.clock.sleep(min(THROTTLE_MAX_WAIT, max(exc.retry_after or 0, 0.5 * 2 ** attempt)))
                    continue
                if write and self.dry_run and dry_run_refused(exc):
                    self.unproven.append("%s %s: %s" % (method, path, exc))
                    return {}
                raise

    def _send(self, method, path, query, body, content_type, raw, accept=None):
        url = self.host + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None and v != ""}, doseq=True)
        data = None if body is None else json.dumps(body).encode("utf-8")
        with self._lock:
            self.requests += 1
        try:
            resp = self._pool.request(
                method,
                url,
                body=data,
                headers=self._headers(content_type if data is not None else None, accept or ("*/*" if raw else "application/json")),
                timeout=urllib3.Timeout(total=self.request_timeout),
                retries=False,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ClusterUnreachable(
                "cannot reach the Kubernetes API server at %s (%s); check the kubeconfig/context "
                "and that the cluster is up" % (self.host, _reason(exc))
            )
        text = resp.data.decode("utf-8", "replace")
        if resp.status >= 400:
            raise _api_error(resp.status, method, path, text, resp.headers.get("Retry-After"), query=query)
        if raw:
            return text
        return json.loads(text) if text else {}

    # Convenience wrappers -------------------------------------------------

    def get(self, path, **query):
        return self.request("GET", path, query=query)

    def list(self, path, page_size=1000, metadata_only=False, **query):
        """List a collection across pages; return every item.

        ``metadata_only`` asks for PartialObjectMetadata: names, labels, annotations and
        times without the objects' data (a Secret's values never reach this process).
        """
        items = []
        token = None
        accept = METADATA_ONLY if metadata_only else None
        while True:
            page = self.request("GET", path, query=dict(query, limit=page_size, **{"continue": token}), accept=accept)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def patch(self, path, body, patch_type="merge"):
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[patch_type]
        return self.request("PATCH", path, body=body, content_type=content_type)

    def post(self, path, body):
        return self.request("POST", path, body=body)

    def log(self, namespace, pod, container, tail_lines=100, previous=False, limit_bytes=256 * 1024):
        """``kubectl logs --tail`` (and ``--previous``) of one container, as text."""
        query = {"container": container, "tailLines": tail_lines, "limitBytes": limit_bytes}
        if previous:
            query["previous"] = "true"
        return self.request("GET", "/api/v1/namespaces/%s/pods/%s/log" % (quote(namespace), quote(pod)), query=query, raw=True)


def _reason(exc):
    reason = getattr(exc, "reason", None) or exc
    return str(reason).split(": ", 1)[-1][:200]


def dry_run_refused(exc):
    """Did the server refuse the dry run itself, rather than what it would do?

    403 for want of a permission: this identity may not make the write (check mode says
    so and goes on). A 403 from admission (a quota, Pod Security, a terminating
    namespace, a validating webhook) is the write's own outcome and fails.
    400 naming dry run: an admission webhook with side effects cannot run dry.
    """
    text = str(exc).lower()
    if exc.status == 403:
        return getattr(exc, "authorization", True)
    return exc.status == 400 and ("dry run" in text or "dryrun" in text)


# --- what a 403 is missing ----------------------------------------------------
# The API server authorizes a request by attributes it derives from the URL alone
# (k8s.io/apiserver RequestInfoFactory): verb, API group, resource[/subresource],
# namespace, name. The same derivation here turns a 403 into the RBAC rule to grant.

_HTTP_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# /api/v1/namespaces/{name}/{status|finalize} are the Namespace's own subresources.
_NAMESPACE_SUBRESOURCES = frozenset(("status", "finalize"))
# Built-in cluster-scoped resources (by plural name; the metrics API's "nodes" too).
CLUSTER_SCOPED = frozenset((
    "namespaces", "nodes", "persistentvolumes", "componentstatuses", "storageclasses", "csinodes", "csidrivers",
    "volumeattachments", "clusterroles", "clusterrolebindings", "customresourcedefinitions", "apiservices",
    "priorityclasses", "runtimeclasses", "ingressclasses", "certificatesigningrequests", "flowschemas",
    "prioritylevelconfigurations", "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
    "validatingadmissionpolicies", "validatingadmissionpolicybindings", "tokenreviews", "subjectaccessreviews",
    "selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews",
))
# The RBAC authorizer's denial: User "u" cannot VERB resource "r" in API group "g" ... / cannot VERB path "/p".
_AUTHORIZATION_DENIAL = re.compile(r'\bcannot [a-z]+ (?:resource|path) "')
# 403s that admission gives, not the authorizer: the request was allowed and refused on its merits.
_ADMISSION_REFUSAL = re.compile(
    r"exceeded quota|violates PodSecurity|is being terminated|unable to create new content|admission webhook|denied the request",
    re.IGNORECASE,
)


def request_attributes(method, path, query=None):
    """The authorization attributes of one request, as the API server derives them.

    Returns a dict: ``resource_request`` (bool), ``verb`` (get, list, watch, create,
    update, patch, delete, deletecollection, or for a non-resource URL the lowercase
    HTTP method), ``group`` ("" for the core group), ``version``, ``resource``,
    ``subresource``, ``namespace`` and ``name`` (None when absent), ``path``. A query
    string may be part of ``path`` or given as ``query``; only ``watch`` changes the verb.
    """
    parts_url = urlsplit(path)
    params = dict(parse_qsl(parts_url.query))
    params.update((k, "" if v is None else str(v)) for k, v in (query or {}).items())
    method = (method or "GET").upper()
    url_path = parts_url.path or "/"
    parts = [unquote(p) for p in url_path.strip("/").split("/") if p]
    attrs = {"resource_request": False, "verb": method.lower(), "group": None, "version": None, "resource": None,
             "subresource": None, "namespace": None, "name": None, "path": url_path}
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return attrs
    rest = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(rest) < 3:
            return attrs
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = _HTTP_VERBS.get(method, method.lower())
    if rest[0] == "watch" and len(rest) > 1:
        # The deprecated /watch/ path prefix.
        verb, rest = "watch", rest[1:]
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if name is None and verb == "get":
        verb = "watch" if params.get("watch", "").lower() in ("true", "1") else "list"
    if name is None and verb == "delete":
        verb = "deletecollection"
    attrs.update(resource_request=True, verb=verb, group=group, version=version, resource=resource,
                 subresource=subresource, namespace=namespace, name=name)
    return attrs


def rbac_rule(attrs):
    """The RBAC rule that allows a request, in YAML flow style."""
    if not attrs["resource_request"]:
        return '{nonResourceURLs: ["%s"], verbs: ["%s"]}' % (attrs["path"], attrs["verb"])
    resource = attrs["resource"] + ("/" + attrs["subresource"] if attrs["subresource"] else "")
    return '{apiGroups: ["%s"], resources: ["%s"], verbs: ["%s"]}' % (attrs["group"], resource, attrs["verb"])


def describe_request(attrs):
    """What a request does, in RBAC's terms: 'list nodes (API group "", cluster-scoped)'."""
    if not attrs["resource_request"]:
        return '%s the non-resource URL %s' % (attrs["verb"], attrs["path"])
    resource = attrs["resource"] + ("/" + attrs["subresource"] if attrs["subresource"] else "")
    if attrs["namespace"]:
        scope = 'namespace "%s"' % attrs["namespace"]
    elif attrs["name"] or attrs["resource"] in CLUSTER_SCOPED:
        scope = "cluster-scoped"
    else:
        # A namespaced resource listed without a namespace: the cluster scope too.
        scope = "all namespaces, at the cluster scope"
    named = ', name "%s"' % attrs["name"] if attrs["name"] else ""
    return '%s %s (API group "%s", %s%s)' % (attrs["verb"], resource, attrs["group"], scope, named)


def permission_denied_message(method, path, server_message, query=None):
    """A 403's message: the permission this identity lacks, the rule that grants it, the server's words.

    A 403 that admission gave (a quota, Pod Security, a terminating namespace, a webhook)
    is said to be one: no permission is missing there.
    """
    attrs = request_attributes(method, path, query)
    action = describe_request(attrs)
    if not is_authorization_denial(server_message):
        return "refused (403 Forbidden) by admission, not for want of a permission: %s was not allowed. API server: %s" % (
            action, server_message)
    if not attrs["resource_request"] or not attrs["namespace"]:
        grant = "a ClusterRole bound by a ClusterRoleBinding"
    else:
        grant = 'a Role in namespace "%s" (or a ClusterRole bound there by a RoleBinding)' % attrs["namespace"]
    return (
        "permission denied (403 Forbidden): this identity may not %s; grant it the rule %s in %s, "
        "or use credentials that have it. API server: %s" % (action, rbac_rule(attrs), grant, server_message)
    )


def is_authorization_denial(server_message):
    """Is a 403 the authorizer's (a permission is missing) rather than admission's?"""
    if _AUTHORIZATION_DENIAL.search(server_message or ""):
        return True
    return not _ADMISSION_REFUSAL.search(server_message or "")


def _api_error(status, method, path, text, retry_after=None, query=None):
    try:
        payload = json.loads(text)
        message = payload.get("message") or text
        causes = ((payload.get("details") or {}).get("causes")) or []
    except (ValueError, AttributeError):
        payload, message, causes = {}, text, []
    message = message.strip()[:500]
    if status == 429:
        # An eviction that a PodDisruptionBudget refuses is a 429 too; it carries the
        # DisruptionBudget cause (or says so). Anything else is throttling.
        budget = any(c.get("reason") == "DisruptionBudget" for c in causes) or "disruption budget" in message.lower()
        error = ClusterError("%s %s failed with HTTP 429: %s" % (method, path, message), status=status)
        error.throttled = not budget
        try:
            error.retry_after = float(retry_after) if retry_after else None
        except ValueError:
            error.retry_after = None
        return error
    if status == 404:
        return NotFound("%s %s: not found (%s)" % (method, path, message))
    if status == 401:
        return ClusterError(
            "the API server rejected the credentials (401 Unauthorized): the token or client "
            "certificate in the kubeconfig is wrong or expired",
            status=status,
        )
    if status == 403:
        error = ClusterError(permission_denied_message(method, path, message, query), status=status)
        error.authorization = is_authorization_denial(message)
        error.request = request_attributes(method, path, query)
        return error
    return ClusterError("%s %s failed with HTTP %d: %s" % (method, path, status, message), status=status)
