# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Workflow definitions of n8n and Langflow made comparable: normalize, validate, diff.

``normalize(kind, raw)`` turns the engine's own JSON (what its API returns, what an export
file holds) into one shape::

    {"kind", "id", "name", "active" (None for Langflow), "version",
     "nodes": {key: {"uid", "name", "type", "parameters", "credentials", "disabled",
                     "required_empty"}},
     "connections": [[source key, target key, "output->input"], ...] (sorted)}

A node's key is what connections refer to: the node name in n8n, the node id in Langflow.
Credentials are references, never secrets: n8n's credential id (or name), a Langflow
global variable's name (``variable:OPENAI_API_KEY``), or for a key pasted into the flow a
short hash (``secret:1a2b3c4d5e6f``). Parameter values under secret-looking names are
hashed the same way.

``validate(definition, catalog)`` lists structural errors; ``diff(baseline, current)`` sorts
the differences into breaking and other changes. Pure functions: no I/O.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import re

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput

KINDS = ("n8n", "langflow")
MASK = "********"
MAX_VALUE = 120  # characters of a parameter value shown in a change
SECRET_NAME = re.compile(r"token|secret|password|passwd|api_?key|apikey|auth|signature", re.IGNORECASE)
# Node types that are notes on the canvas, not steps: never checked, never a change.
N8N_NOTES = ("n8n-nodes-base.stickyNote",)
# Without the engine's catalog: what a trigger looks like.
N8N_TRIGGER_PATTERNS = ("*Trigger", "*.webhook", "*.formTrigger", "*.start", "*.chatTrigger", "*.executeWorkflowTrigger")
LANGFLOW_TRIGGER_PATTERNS = ("ChatInput", "TextInput", "Webhook*", "*Input")

BREAKING = ("node_removed", "node_type_changed", "parameter_removed", "parameter_changed", "connection_removed",
            "credentials_changed", "node_disabled", "workflow_deactivated")
OTHER = ("node_added", "node_renamed", "parameter_added", "connection_added", "credentials_added",
         "node_enabled", "workflow_activated", "workflow_renamed")


def secret_ref(value):
    """A stable, short reference to a secret value; "" for an empty one."""
    if value in (None, ""):
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return "secret:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _mask_secrets(value, name=""):
    """Parameters with secret values replaced by their reference, recursively."""
    if isinstance(value, dict):
        return dict((k, _mask_secrets(v, k)) for k, v in value.items())
    if isinstance(value, list):
        return [_mask_secrets(v, name) for v in value]
    if name and SECRET_NAME.search(str(name)) and isinstance(value, str) and value and not value.startswith("={{"):
        return secret_ref(value)
    return value


# --- normalize ---------------------------------------------------------------------------


def normalize(kind, raw):
    """The engine's JSON of one workflow in the common shape (see the module docstring)."""
    if not isinstance(raw, dict):
        raise InvalidInput("a %s workflow definition must be a JSON object, got %s" % (kind, type(raw).__name__))
    if kind == "n8n":
        return _normalize_n8n(raw)
    if kind == "langflow":
        return _normalize_langflow(raw)
    raise InvalidInput("workflow definitions of kind %r are not known (known: %s)" % (kind, ", ".join(KINDS)))


def _normalize_n8n(raw):
    nodes = {}
    for node in raw.get("nodes") or []:
        if not isinstance(node, dict) or not node.get("name") or node.get("type") in N8N_NOTES:
            continue
        credentials = {}
        for cred_type, ref in (node.get("credentials") or {}).items():
            if isinstance(ref, dict):
                credentials[cred_type] = str(ref.get("id") or ref.get("name") or "")
            else:
                credentials[cred_type] = str(ref or "")
        nodes[node["name"]] = {"uid": node.get("id"), "name": node["name"], "type": str(node.get("type") or ""),
                               "parameters": _mask_secrets(copy.deepcopy(node.get("parameters") or {})),
                               "credentials": credentials, "disabled": bool(node.get("disabled")),
                               "required_empty": []}
    connections = set()
    for source, outputs in (raw.get("connections") or {}).items():
        for output_type, branches in (outputs or {}).items() if isinstance(outputs, dict) else ():
            for index, targets in enumerate(branches or []):
                for target in targets or []:
                    if isinstance(target, dict) and target.get("node"):
                        label = "%s[%d]->%s[%s]" % (
                            output_type, index, target.get("type") or output_type, target.get("index", 0))
                        connections.add((source, target["node"], label))
    return {"kind": "n8n", "id": _text(raw.get("id")), "name": raw.get("name"), "active": raw.get("active"),
            "version": raw.get("versionId") or raw.get("updatedAt"), "nodes": nodes,
            "connections": sorted(list(c) for c in connections)}


def _normalize_langflow(raw):
    data = raw.get("data") or {}
    nodes = {}
    for node in data.get("nodes") or []:
        if not isinstance(node, dict) or not node.get("id"):
            continue
        inner = (node.get("data") or {}).get("node") or {}
        node_type = (node.get("data") or {}).get("type") or node.get("type") or ""
        if node.get("type") == "noteNode":
            continue
        parameters, credentials, required_empty = {}, {}, []
        for field, spec in sorted((inner.get("template") or {}).items()):
            if field.startswith("_") or not isinstance(spec, dict):
                continue
            value = spec.get("value")
            empty = value in (None, "", [])
            if spec.get("password"):
                credentials[field] = ("variable:%s" % value if spec.get("load_from_db") and not empty
                                      else secret_ref(value))
            else:
                parameters[field] = _mask_secrets(copy.deepcopy(value), field)
            if spec.get("required") and empty:
                required_empty.append(field)
        nodes[node["id"]] = {"uid": node["id"], "name": inner.get("display_name") or node_type, "type": str(node_type),
                             "parameters": parameters, "credentials": credentials,
                             "disabled": bool(node.get("data", {}).get("disabled")), "required_empty": required_empty}
    connections = set()
    for edge in data.get("edges") or []:
        if not isinstance(edge, dict) or not edge.get("source") or not edge.get("target"):
            continue
        handles = edge.get("data") or {}
        output = (handles.get("sourceHandle") or {}).get("name") or "output"
        field = (handles.get("targetHandle") or {}).get("fieldName") or "input"
        connections.add((edge["source"], edge["target"], "%s->%s" % (output, field)))
    return {"kind": "langflow", "id": _text(raw.get("id")), "name": raw.get("name"), "active": None,
            "version": raw.get("updated_at"), "nodes": nodes, "connections": sorted(list(c) for c in connections)}


def _text(value):
    return None if value is None else str(value)


# --- catalogs and validation -------------------------------------------------------------


def catalog(types=None, triggers=None, credentials=None, source="engine"):
    """What an engine has installed: node types (None: unknown), trigger types and the
    credential types each node type needs ({type: [credential type]})."""
    return {"types": set(types) if types is not None else None, "triggers": set(triggers or ()),
            "credentials": dict(credentials or {}), "source": source}


def is_trigger(kind, node, known=None):
    if known and known.get("triggers"):
        return node["type"] in known["triggers"]
    patterns = N8N_TRIGGER_PATTERNS if kind == "n8n" else LANGFLOW_TRIGGER_PATTERNS
    return any(fnmatch.fnmatchcase(node["type"], p) for p in patterns)


def validate(definition, known=None):
    """Structural errors of a normalized definition: [{check, node, message}].

    Checks: connections from or to nodes that do not exist (``dangling_connection``), node
    types the engine does not have (``unknown_node_type``, only with a catalog that lists
    types), credentials a node type needs but the node lacks or are empty
    (``missing_credentials``), required fields left empty (``missing_parameter``), and no
    enabled trigger (``no_trigger``)."""
    kind = definition["kind"]
    nodes = definition["nodes"]
    errors = []
    for source, target, label in definition["connections"]:
        if source not in nodes:
            errors.append(_error("dangling_connection", source,
                                 "a connection to %s comes from %s, which is not in the workflow" % (target, source)))
        if target not in nodes:
            errors.append(_error("dangling_connection", source,
                                 "%s connects to %s (%s), which is not in the workflow" % (source, target, label)))
    types = (known or {}).get("types")
    needs = (known or {}).get("credentials") or {}
    for key in sorted(nodes):
        node = nodes[key]
        if node["disabled"]:
            continue
        if types is not None and node["type"] not in types:
            errors.append(_error("unknown_node_type", key, "%s has node type %s, which this %s does not have installed"
                                 % (_label(key, node), node["type"], kind)))
        for cred_type in needs.get(node["type"], ()):
            if not node["credentials"].get(cred_type):
                errors.append(_error("missing_credentials", key, "%s needs %s credentials and has none"
                                     % (_label(key, node), cred_type)))
        for field in node["required_empty"]:
            check = "missing_credentials" if field in node["credentials"] else "missing_parameter"
            errors.append(_error(check, key, "%s: required field %s is empty" % (_label(key, node), field)))
    if nodes and not any(is_trigger(kind, n, known) for n in nodes.values() if not n["disabled"]):
        errors.append(_error("no_trigger", None, "no enabled trigger (or input) node: nothing starts this workflow"))
    return _dedupe(errors)


def _error(check, node, message):
    return {"check": check, "node": node, "message": message}


def _label(key, node):
    return key if node["name"] in (key, None) else "%s (%s)" % (key, node["name"])


def _dedupe(items):
    seen, out = set(), []
    for item in items:
        marker = json.dumps(item, sort_keys=True)
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


# --- diff ----------------------------------------------------------------------------------


def flatten(value, prefix=""):
    """{dotted path: leaf value}; lists index as name[0]; an empty dict or list is a leaf."""
    if isinstance(value, dict) and value:
        out = {}
        for key in sorted(value):
            out.update(flatten(value[key], "%s.%s" % (prefix, key) if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, "%s[%d]" % (prefix, index)))
        return out
    return {prefix: value}


def shown(value):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 3] + "..."


def diff(baseline, current):
    """What changed from ``baseline`` to ``current`` (both normalized, same kind):
    {"breaking": [change], "other": [change]}, each change {change, node, message} plus
    parameter/before/after where they apply, sorted by node and change.

    Breaking: node removed, node type changed, parameter removed or changed, connection
    removed, credentials removed or changed, node disabled, workflow deactivated. Other:
    node added or renamed (n8n nodes keep their id through a rename), parameter added,
    connection added, credentials added, node enabled, workflow activated or renamed."""
    if baseline["kind"] != current["kind"]:
        raise InvalidInput("cannot compare a %s definition with a %s one" % (baseline["kind"], current["kind"]))
    old, new = baseline["nodes"], current["nodes"]
    renamed = _renames(old, new)
    changes = []
    for key in sorted(old):
        target = key if key in new else renamed.get(key)
        before = old[key]
        if target is None:
            changes.append(_change("node_removed", key, "node %s (%s) was removed" % (_label(key, before), before["type"])))
            continue
        after = new[target]
        if target != key:
            changes.append(_change("node_renamed", key, "node %s was renamed %s" % (key, target), before=key, after=target))
        changes.extend(_node_changes(key, before, after))
    targets = set(renamed.values())
    for key in sorted(set(new) - set(old) - targets):
        changes.append(_change("node_added", key, "node %s (%s) was added" % (_label(key, new[key]), new[key]["type"])))
    mapped = set(tuple([renamed.get(s, s), renamed.get(t, t), label]) for s, t, label in baseline["connections"])
    now = set(tuple(c) for c in current["connections"])
    for source, target, label in sorted(mapped - now):
        changes.append(_change("connection_removed", source, "connection %s -> %s (%s) was removed" % (source, target, label),
                               before="%s -> %s" % (source, target)))
    for source, target, label in sorted(now - mapped):
        changes.append(_change("connection_added", source, "connection %s -> %s (%s) was added" % (source, target, label),
                               after="%s -> %s" % (source, target)))
    if baseline.get("active") is True and current.get("active") is False:
        changes.append(_change("workflow_deactivated", None, "the workflow was deactivated", before=True, after=False))
    elif baseline.get("active") is False and current.get("active") is True:
        changes.append(_change("workflow_activated", None, "the workflow was activated", before=False, after=True))
    if baseline.get("name") != current.get("name") and baseline.get("name") and current.get("name"):
        changes.append(_change("workflow_renamed", None, "the workflow was renamed %s" % current["name"],
                               before=baseline["name"], after=current["name"]))
    changes.sort(key=lambda c: (c["node"] or "", c["change"], c.get("parameter") or "", c["message"]))
    return {"breaking": [c for c in changes if c["change"] in BREAKING],
            "other": [c for c in changes if c["change"] not in BREAKING]}


def _renames(old, new):
    """{old key: new key} for nodes that kept their uid under another key."""
    gone = dict((n["uid"], k) for k, n in old.items() if k not in new and n.get("uid"))
    came = dict((n["uid"], k) for k, n in new.items() if k not in old and n.get("uid"))
    return dict((gone[uid], came[uid]) for uid in gone if uid in came)


def _node_changes(key, before, after):
    changes = []
    if before["type"] != after["type"]:
        # Parameters of another node type are not comparable: the type change says it all.
        return [_change("node_type_changed", key, "node %s: type %s -> %s" % (_label(key, before), before["type"], after["type"]),
                        before=before["type"], after=after["type"])]
    if not before["disabled"] and after["disabled"]:
        changes.append(_change("node_disabled", key, "node %s was disabled" % _label(key, before), before=False, after=True))
    elif before["disabled"] and not after["disabled"]:
        changes.append(_change("node_enabled", key, "node %s was enabled" % _label(key, before), before=True, after=False))
    old, new = flatten(before["parameters"]), flatten(after["parameters"])
    for path in sorted(set(old) | set(new)):
        if path not in new:
            changes.append(_change("parameter_removed", key, "node %s: parameter %s (%s) was removed"
                                   % (_label(key, before), path, shown(old[path])), parameter=path, before=shown(old[path])))
        elif path not in old:
            changes.append(_change("parameter_added", key, "node %s: parameter %s was added (%s)"
                                   % (_label(key, before), path, shown(new[path])), parameter=path, after=shown(new[path])))
        elif old[path] != new[path]:
            changes.append(_change("parameter_changed", key, "node %s: parameter %s: %s -> %s"
                                   % (_label(key, before), path, shown(old[path]), shown(new[path])),
                                   parameter=path, before=shown(old[path]), after=shown(new[path])))
    for cred in sorted(set(before["credentials"]) | set(after["credentials"])):
        was, now = before["credentials"].get(cred), after["credentials"].get(cred)
        if was == now:
            continue
        if not was:
            changes.append(_change("credentials_added", key, "node %s: %s credentials were added" % (_label(key, before), cred),
                                   parameter=cred, after=now))
        else:
            what = "removed" if not now else "changed (%s -> %s)" % (was, now)
            changes.append(_change("credentials_changed", key, "node %s: %s credentials were %s" % (_label(key, before), cred, what),
                                   parameter=cred, before=was, after=now or None))
    return changes


def _change(change, node, message, **extra):
    item = {"change": change, "node": node, "message": message}
    item.update(extra)
    return item
