# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""definition.normalize / validate / diff: invariants over many random n8n and Langflow
definitions (seeded, so a failure names the seed that reproduces it), then the cases one by one."""

from __future__ import annotations

import copy
import json
import random

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import InvalidInput
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.workflows import definition as wd

SEEDS = range(80)
N8N_TYPES = ["n8n-nodes-base.set", "n8n-nodes-base.httpRequest", "n8n-nodes-base.if", "n8n-nodes-base.code",
             "@n8n/n8n-nodes-langchain.openAi", "n8n-nodes-base.postgres", "n8n-nodes-base.slack"]
N8N_CREDS = {"@n8n/n8n-nodes-langchain.openAi": "openAiApi", "n8n-nodes-base.postgres": "postgres",
             "n8n-nodes-base.slack": "slackApi"}
LANGFLOW_TYPES = ["Prompt", "OpenAIModel", "URL", "ParseData", "SplitText", "Memory", "ConditionalRouter"]


def random_value(rng, depth=0):
    roll = rng.random()
    if depth < 2 and roll < 0.2:
        return dict(("k%d" % i, random_value(rng, depth + 1)) for i in range(rng.randint(1, 3)))
    if depth < 2 and roll < 0.3:
        return [random_value(rng, depth + 1) for _i in range(rng.randint(1, 3))]
    return rng.choice([rng.randint(0, 1000), "v%d" % rng.randint(0, 99), True, False, 0.5, "={{ $json.x }}"])


def random_parameters(rng):
    return dict(("p%d" % i, random_value(rng)) for i in range(rng.randint(0, 4)))


def random_n8n(rng):
    """A chain (with some branches) from a webhook trigger: nodes, connections, tags, active."""
    count = rng.randint(1, 8)
    nodes = [{"id": "uid-trigger", "name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2,
              "position": [0, 0], "parameters": {"path": "p%d" % rng.randint(0, 9), "httpMethod": "POST"}}]
    for i in range(count):
        node_type = rng.choice(N8N_TYPES)
        node = {"id": "uid-%d" % i, "name": "Step %d" % i, "type": node_type, "typeVersion": 1,
                "position": [200 * (i + 1), 0], "parameters": random_parameters(rng)}
        if node_type in N8N_CREDS:
            node["credentials"] = {N8N_CREDS[node_type]: {"id": "cred-%d" % rng.randint(0, 3), "name": "c"}}
        nodes.append(node)
    connections = {}
    for i, node in enumerate(nodes[1:], start=1):
        source = nodes[rng.randint(0, i - 1)]["name"]
        connections.setdefault(source, {"main": [[]]})["main"][0].append({"node": node["name"], "type": "main", "index": 0})
    return {"id": "wf%d" % rng.randint(0, 99), "name": "workflow", "active": True, "nodes": nodes,
            "connections": connections, "versionId": "v1", "tags": []}


def random_langflow(rng):
    count = rng.randint(1, 8)
    nodes = [langflow_node("ChatInput-in000", "ChatInput", {"input_value": ""})]
    for i in range(count):
        component = rng.choice(LANGFLOW_TYPES)
        fields = dict((k, v) for k, v in random_parameters(rng).items())
        nodes.append(langflow_node("%s-%05d" % (component, i), component, fields,
                                   secret=component == "OpenAIModel"))
    edges = []
    for i, node in enumerate(nodes[1:], start=1):
        source = nodes[rng.randint(0, i - 1)]["id"]
        edges.append(langflow_edge(source, node["id"]))
    return {"id": "flow-%d" % rng.randint(0, 99), "name": "flow", "updated_at": "2026-01-01T00:00:00Z",
            "data": {"nodes": nodes, "edges": edges}, "tags": []}


def langflow_node(node_id, component, fields, secret=False):
    template = dict((k, {"name": k, "value": v, "type": "str", "required": False, "show": True})
                    for k, v in fields.items())
    if secret:
        template["api_key"] = {"name": "api_key", "value": "OPENAI_API_KEY", "load_from_db": True, "password": True,
                               "required": True, "type": "str"}
    template["_type"] = "Component"
    return {"id": node_id, "type": "genericNode",
            "data": {"id": node_id, "type": component, "node": {"display_name": component, "template": template}}}


def langflow_edge(source, target):
    return {"id": "e-%s-%s" % (source, target), "source": source, "target": target,
            "data": {"sourceHandle": {"name": "message"}, "targetHandle": {"fieldName": "input_value"}}}


def generate(kind, seed):
    rng = random.Random(seed)
    return (random_n8n if kind == "n8n" else random_langflow)(rng), rng


def steps(kind, raw):
    """Keys of the non-trigger nodes (what the invariants mutate)."""
    if kind == "n8n":
        return [n["name"] for n in raw["nodes"][1:]]
    return [n["id"] for n in raw["data"]["nodes"][1:]]


def node_of(kind, raw, key):
    nodes = raw["nodes"] if kind == "n8n" else raw["data"]["nodes"]
    return next(n for n in nodes if (n["name"] if kind == "n8n" else n["id"]) == key)


def remove_node(kind, raw, key):
    if kind == "n8n":
        raw["nodes"] = [n for n in raw["nodes"] if n["name"] != key]
        raw["connections"].pop(key, None)
    else:
        raw["data"]["nodes"] = [n for n in raw["data"]["nodes"] if n["id"] != key]
        raw["data"]["edges"] = [e for e in raw["data"]["edges"] if e["source"] != key]


def set_type(kind, node, new):
    if kind == "n8n":
        node["type"] = new
    else:
        node["data"]["type"] = new


def params_of(kind, node):
    """The node's parameters as (container, name) pairs one can mutate (Langflow: template fields)."""
    if kind == "n8n":
        return [(node["parameters"], k) for k in sorted(node["parameters"])]
    template = node["data"]["node"]["template"]
    return [(template, k) for k in sorted(template) if isinstance(template[k], dict) and not template[k].get("password")]


def kinds_and_seeds():
    return [pytest.param(kind, seed, id="%s-%d" % (kind, seed)) for kind in wd.KINDS for seed in SEEDS]


def names(changes, change):
    return [c["node"] for c in changes if c["change"] == change]


# --- invariants over random definitions -------------------------------------------------------


@pytest.mark.parametrize("kind, seed", kinds_and_seeds())
def test_invariants(kind, seed):
    raw, rng = generate(kind, seed)
    base = wd.normalize(kind, raw)

    # A definition diffed with itself, or with its nodes and connections listed in another order, has no changes.
    assert wd.diff(base, base) == {"breaking": [], "other": []}
    shuffled = copy.deepcopy(raw)
    if kind == "n8n":
        rng.shuffle(shuffled["nodes"])
        shuffled["connections"] = dict(reversed(list(shuffled["connections"].items())))
    else:
        rng.shuffle(shuffled["data"]["nodes"])
        rng.shuffle(shuffled["data"]["edges"])
    assert wd.diff(base, wd.normalize(kind, shuffled)) == {"breaking": [], "other": []}
    # Normalizing is a pure function of the JSON: the same input gives the same output.
    assert json.dumps(wd.normalize(kind, json.loads(json.dumps(raw))), sort_keys=True) == json.dumps(base, sort_keys=True)

    for key in steps(kind, raw):
        # Removing any node is always breaking, and the reverse diff calls it added (not breaking).
        smaller = copy.deepcopy(raw)
        remove_node(kind, smaller, key)
        after = wd.normalize(kind, smaller)
        forward, backward = wd.diff(base, after), wd.diff(after, base)
        assert key in names(forward["breaking"], "node_removed")
        assert key in names(backward["other"], "node_added")
        assert not names(backward["breaking"], "node_removed")
        # ... and so are the connections from it (the one that led to it is left dangling).
        removed = set(c["before"] for c in forward["breaking"] if c["change"] == "connection_removed")
        assert set("%s -> %s" % (s, t) for s, t, _label in base["connections"] if s == key) <= removed
        assert "dangling_connection" in [e["check"] for e in wd.validate(after)] if any(
            t == key for _s, t, _label in base["connections"]) else True

        # Changing a node's type is breaking, and says nothing of its parameters.
        retyped = copy.deepcopy(raw)
        set_type(kind, node_of(kind, retyped, key), "community.NotInstalled")
        changes = wd.diff(base, wd.normalize(kind, retyped))
        assert [(c["change"], c["node"]) for c in changes["breaking"]] == [("node_type_changed", key)]
        assert changes["other"] == []

        # Removing or changing a parameter is breaking; adding one is not.
        for index in range(min(2, len(params_of(kind, node_of(kind, raw, key))))):
            for mutation in ("remove", "change", "add"):
                edited = copy.deepcopy(raw)
                node = node_of(kind, edited, key)
                container, field = params_of(kind, node)[index]
                if mutation == "remove":
                    del container[field]
                elif mutation == "change":
                    if kind == "n8n":
                        container[field] = ["changed", seed]
                    else:
                        container[field]["value"] = ["changed", seed]
                else:
                    container["added_%d" % seed] = {"name": "added", "value": 1} if kind == "langflow" else 1
                found = wd.diff(base, wd.normalize(kind, edited))
                if mutation == "add":
                    assert not found["breaking"] and [c["change"] for c in found["other"]] == ["parameter_added"]
                else:
                    assert found["breaking"], (mutation, found)
                    assert set(c["change"] for c in found["breaking"]) <= {"parameter_removed", "parameter_changed"}
                    assert all(c["node"] == key for c in found["breaking"] + found["other"])

    # Removing a connection is breaking, adding a node behind an existing one is not.
    if base["connections"]:
        source, target, _label = rng.choice(base["connections"])
        cut = copy.deepcopy(raw)
        if kind == "n8n":
            for branch in cut["connections"][source]["main"]:
                branch[:] = [t for t in branch if t["node"] != target]
        else:
            cut["data"]["edges"] = [e for e in cut["data"]["edges"] if (e["source"], e["target"]) != (source, target)]
        found = wd.diff(base, wd.normalize(kind, cut))
        assert [c["change"] for c in found["breaking"]] == ["connection_removed"] and not found["other"]
    grown = copy.deepcopy(raw)
    anchor = steps(kind, raw)[-1]
    if kind == "n8n":
        grown["nodes"].append({"id": "uid-new", "name": "New", "type": "n8n-nodes-base.noOp", "parameters": {}})
        grown["connections"].setdefault(anchor, {"main": [[]]})["main"][0].append({"node": "New", "type": "main", "index": 0})
    else:
        grown["data"]["nodes"].append(langflow_node("New-1", "ParseData", {}))
        grown["data"]["edges"].append(langflow_edge(anchor, "New-1"))
    found = wd.diff(base, wd.normalize(kind, grown))
    assert not found["breaking"]
    assert sorted(c["change"] for c in found["other"]) == ["connection_added", "node_added"]


@pytest.mark.parametrize("kind, seed", kinds_and_seeds()[::5])
def test_generated_definitions_are_valid_against_their_catalog(kind, seed):
    raw, _rng = generate(kind, seed)
    base = wd.normalize(kind, raw)
    types = set(n["type"] for n in base["nodes"].values())
    needs = N8N_CREDS if kind == "n8n" else {"OpenAIModel": "api_key"}
    known = wd.catalog(types, triggers={"n8n-nodes-base.webhook", "ChatInput"},
                       credentials=dict((t, [c]) for t, c in needs.items()))
    assert wd.validate(base, known) == []
    # Every connection target removed from the nodes: a dangling connection; a type the
    # catalog lacks: an unknown type; the trigger removed: no trigger.
    key = steps(kind, raw)[0]
    broken = copy.deepcopy(raw)
    if kind == "n8n":
        broken["nodes"] = [n for n in broken["nodes"] if n["name"] != key]
    else:
        broken["data"]["nodes"] = [n for n in broken["data"]["nodes"] if n["id"] != key]
    checks = [e["check"] for e in wd.validate(wd.normalize(kind, broken), known)]
    assert "dangling_connection" in checks
    retyped = copy.deepcopy(raw)
    set_type(kind, node_of(kind, retyped, key), "community.NotInstalled")
    assert [e["check"] for e in wd.validate(wd.normalize(kind, retyped), known)] == ["unknown_node_type"]
    headless = copy.deepcopy(raw)
    set_type(kind, (headless["nodes"] if kind == "n8n" else headless["data"]["nodes"])[0], "n8n-nodes-base.set"
             if kind == "n8n" else "ParseData")
    found = wd.validate(wd.normalize(kind, headless), wd.catalog(None, triggers=known["triggers"]))
    assert [e["check"] for e in found] == ["no_trigger"]


# --- one by one ---------------------------------------------------------------------------------


def n8n_workflow(**changes):
    raw = {"id": "w1", "name": "billing-sync", "active": True, "versionId": "v1",
           "nodes": [{"id": "a", "name": "Webhook", "type": "n8n-nodes-base.webhook", "parameters": {"path": "x"}},
                     {"id": "b", "name": "Fetch", "type": "n8n-nodes-base.httpRequest",
                      "parameters": {"url": "http://api/x", "headers": {"token": "s3cr3t-t0ken"}}},
                     {"id": "c", "name": "OpenAI", "type": "@n8n/n8n-nodes-langchain.openAi", "parameters": {},
                      "credentials": {"openAiApi": {"id": "cred1", "name": "OpenAI account"}}}],
           "connections": {"Webhook": {"main": [[{"node": "Fetch", "type": "main", "index": 0}]]},
                           "Fetch": {"main": [[{"node": "OpenAI", "type": "main", "index": 0}]]}}}
    raw.update(changes)
    return raw


def test_rename_keeps_the_node_and_its_connections():
    before = n8n_workflow()
    after = copy.deepcopy(before)
    after["nodes"][1]["name"] = "Fetch Context"
    after["connections"] = {"Webhook": {"main": [[{"node": "Fetch Context", "type": "main", "index": 0}]]},
                            "Fetch Context": {"main": [[{"node": "OpenAI", "type": "main", "index": 0}]]}}
    found = wd.diff(wd.normalize("n8n", before), wd.normalize("n8n", after))
    assert found == {"breaking": [], "other": [{"change": "node_renamed", "node": "Fetch", "before": "Fetch",
                                                "after": "Fetch Context", "message": "node Fetch was renamed Fetch Context"}]}


def test_credentials_deactivation_and_disabling_are_breaking():
    base = wd.normalize("n8n", n8n_workflow())
    no_creds = n8n_workflow()
    del no_creds["nodes"][2]["credentials"]
    other_creds = n8n_workflow()
    other_creds["nodes"][2]["credentials"] = {"openAiApi": {"id": "cred2", "name": "OpenAI test"}}
    disabled = n8n_workflow()
    disabled["nodes"][1]["disabled"] = True
    cases = {"credentials_changed": no_creds, "workflow_deactivated": n8n_workflow(active=False)}
    for change, raw in cases.items():
        assert [c["change"] for c in wd.diff(base, wd.normalize("n8n", raw))["breaking"]] == [change]
    assert wd.diff(base, wd.normalize("n8n", other_creds))["breaking"][0]["message"] == \
        "node OpenAI: openAiApi credentials were changed (cred1 -> cred2)"
    assert [c["change"] for c in wd.diff(base, wd.normalize("n8n", disabled))["breaking"]] == ["node_disabled"]
    # The other way round none of these is breaking.
    for raw in (no_creds, n8n_workflow(active=False), disabled):
        assert wd.diff(wd.normalize("n8n", raw), base)["breaking"] == []


def test_secrets_never_leave_normalize():
    raw = n8n_workflow()
    flow = {"id": "f", "name": "f", "data": {"nodes": [langflow_node("M-1", "OpenAIModel", {}, secret=True)], "edges": []}}
    flow["data"]["nodes"][0]["data"]["node"]["template"]["api_key"].update(value="sk-pasted-key-123", load_from_db=False)
    text = json.dumps([wd.normalize("n8n", raw), wd.normalize("langflow", flow)])
    assert "s3cr3t-t0ken" not in text and "sk-pasted-key-123" not in text
    changed = n8n_workflow()
    changed["nodes"][1]["parameters"]["headers"]["token"] = "other-t0ken"
    (change,) = wd.diff(wd.normalize("n8n", raw), wd.normalize("n8n", changed))["breaking"]
    assert change["parameter"] == "headers.token" and change["before"].startswith("secret:")
    assert "t0ken" not in json.dumps(change)


def test_langflow_credentials_from_a_global_variable_and_missing():
    flow = {"id": "f", "name": "f", "data": {"nodes": [langflow_node("ChatInput-1", "ChatInput", {}),
                                                       langflow_node("M-1", "OpenAIModel", {}, secret=True)],
                                             "edges": [langflow_edge("ChatInput-1", "M-1")]}}
    norm = wd.normalize("langflow", flow)
    assert norm["nodes"]["M-1"]["credentials"] == {"api_key": "variable:OPENAI_API_KEY"}
    emptied = copy.deepcopy(flow)
    emptied["data"]["nodes"][1]["data"]["node"]["template"]["api_key"]["value"] = ""
    after = wd.normalize("langflow", emptied)
    assert [(e["check"], e["node"]) for e in wd.validate(after)] == [("missing_credentials", "M-1")]
    assert [c["change"] for c in wd.diff(norm, after)["breaking"]] == ["credentials_changed"]


def test_without_a_catalog_triggers_are_recognised_by_name_and_types_not_checked():
    assert wd.validate(wd.normalize("n8n", n8n_workflow())) == []
    scheduled = n8n_workflow()
    scheduled["nodes"][0]["type"] = "n8n-nodes-base.scheduleTrigger"
    assert wd.validate(wd.normalize("n8n", scheduled)) == []
    scheduled["nodes"][0]["disabled"] = True
    assert [e["check"] for e in wd.validate(wd.normalize("n8n", scheduled))] == ["no_trigger"]


def test_missing_credentials_against_the_catalog():
    raw = n8n_workflow()
    del raw["nodes"][2]["credentials"]
    known = wd.catalog(None, credentials={"@n8n/n8n-nodes-langchain.openAi": ["openAiApi"]})
    (error,) = wd.validate(wd.normalize("n8n", raw), known)
    assert error == {"check": "missing_credentials", "node": "OpenAI",
                     "message": "OpenAI needs openAiApi credentials and has none"}


def test_sticky_notes_are_not_nodes():
    raw = n8n_workflow()
    raw["nodes"].append({"id": "n", "name": "Note", "type": "n8n-nodes-base.stickyNote", "parameters": {"content": "x"}})
    assert wd.diff(wd.normalize("n8n", n8n_workflow()), wd.normalize("n8n", raw)) == {"breaking": [], "other": []}


def test_flatten_and_shown():
    assert wd.flatten({"a": {"b": [1, {"c": 2}], "d": {}}, "e": []}) == {"a.b[0]": 1, "a.b[1].c": 2, "a.d": {}, "e": []}
    assert wd.shown("x" * 500).endswith("...") and len(wd.shown("x" * 500)) == wd.MAX_VALUE


def test_unusable_input():
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        wd.normalize("n8n", ["not", "a", "workflow"])
    with pytest.raises(InvalidInput, match="not known"):
        wd.normalize("zapier", {})
    with pytest.raises(InvalidInput, match="cannot compare"):
        wd.diff(wd.normalize("n8n", n8n_workflow()), wd.normalize("langflow", {"data": {}}))
