# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Collection-wide consistency: metadata, action groups, docs against argument specs.

Every list of plugins and roles here is read from the files, so a new module, doc
fragment or role is checked without editing this file. A check over "every X"
passes with a warning while there is no X yet.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import re
import warnings

import pytest
import yaml
from ansible.parsing.plugin_docs import read_docstring
from ansible.release import __version__ as ansible_core_version
from ansible.utils.plugin_docs import get_docstring

from packaging.specifiers import SpecifierSet  # a dependency of ansible-core

REPO = pathlib.Path(__file__).resolve().parents[2]
NAMESPACE, NAME = "ai_orchestrator", "incident_response"
COLLECTION = f"{NAMESPACE}.{NAME}"
PKG = f"ansible_collections.{NAMESPACE}.{NAME}"

MODULE_FILES = sorted(p for p in (REPO / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
FRAGMENT_FILES = sorted(p for p in (REPO / "plugins" / "doc_fragments").glob("*.py") if p.name != "__init__.py")
MODULE_UTILS_FILES = sorted(p for p in (REPO / "plugins" / "module_utils").rglob("*.py") if p.name != "__init__.py")


def utils_module(path):
    """Dotted name below plugins.module_utils of a module_utils file (k8s/client.py -> k8s.client)."""
    return ".".join(path.relative_to(REPO / "plugins" / "module_utils").with_suffix("").parts)


ROLE_DIRS = sorted(p for p in (REPO / "roles").glob("*") if p.is_dir())


def each(items, what, ids=None):
    """Parameters for an "every X" test; one placeholder when there is no X yet."""
    if items:
        return [pytest.param(item, id=ids(item) if ids else str(item)) for item in items]
    return [pytest.param(None, id=f"no-{what}-yet")]


def vacuous(what):
    warnings.warn(f"no {what} yet: check passes vacuously", UserWarning, stacklevel=2)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@pytest.fixture(scope="module")
def collection_loader(tmp_path_factory):
    """Make ansible_collections.ai_orchestrator.incident_response importable and fragments loadable.

    pytest-ansible normally installs the collection finder before tests run; without it
    (for example `pytest -p no:ansible`) the checkout is linked into a temporary
    collections tree and ansible's own loader is initialised with it.
    """
    from ansible.plugins.loader import fragment_loader, init_plugin_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    # Probe only once a collection finder is in place: a probe before it would cache
    # site-packages' plain ansible_collections package and hide the finder's.
    if AnsibleCollectionConfig.collection_finder is None:
        root = tmp_path_factory.mktemp("collections")
        link = root / "ansible_collections" / NAMESPACE / NAME
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO)
        init_plugin_loader([str(root)])
    if not importable(PKG):
        pytest.fail(f"{PKG} is not importable: put a tree holding ansible_collections/{NAMESPACE}/{NAME} "
                    f"on ANSIBLE_COLLECTIONS_PATH (tools/collection-link.sh prints one)")
    return fragment_loader


def raw_doc(path):
    """DOCUMENTATION of a plugin file as written, doc fragments not applied."""
    return read_docstring(str(path))["doc"] or {}


def fragments_of(path):
    """Names of the doc fragments a plugin extends, fully qualified."""
    extends = raw_doc(path).get("extends_documentation_fragment") or []
    if isinstance(extends, str):
        extends = [extends]
    return [f if "." in f else f"ansible.builtin.{f}" for f in extends]


def uses_fragment(path, fragment):
    """True when the plugin extends <collection>.<fragment> (or one of its variables)."""
    full = f"{COLLECTION}.{fragment}"
    return any(f == full or f.startswith(full + ".") for f in fragments_of(path))


def runtime():
    return load_yaml(REPO / "meta" / "runtime.yml") or {}


def group_members(group):
    """Short names of the modules an action group lists (FQCN entries of this collection shortened)."""
    members = []
    for entry in runtime().get("action_groups", {}).get(group, []):
        if isinstance(entry, str):
            members.append(entry[len(COLLECTION) + 1:] if entry.startswith(COLLECTION + ".") else entry)
    return members


# ---------------------------------------------------------------- metadata


def test_galaxy_and_runtime_parse_and_agree():
    galaxy = load_yaml(REPO / "galaxy.yml")
    meta = runtime()
    assert (galaxy["namespace"], galaxy["name"]) == (NAMESPACE, NAME)
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[-+].*)?", str(galaxy["version"])), "galaxy.yml version must be semver"
    for key in ("readme", "authors", "license", "repository"):
        assert galaxy.get(key), f"galaxy.yml lacks {key}"
    # A checkout that sits in a collections tree must sit at the galaxy.yml name.
    if REPO.parent.parent.name == "ansible_collections":
        assert (REPO.parent.name, REPO.name) == (NAMESPACE, NAME)
    # Entries of this collection written as FQCNs must use galaxy.yml's namespace and name.
    for group, entries in (meta.get("action_groups") or {}).items():
        for entry in entries:
            if isinstance(entry, str) and entry.count(".") >= 2:
                assert entry.startswith(f"{galaxy['namespace']}.{galaxy['name']}."), \
                    f"action group {group}: {entry} names another collection"
    assert meta.get("requires_ansible"), "meta/runtime.yml must say which ansible-core it needs"


def test_requires_ansible_admits_the_tested_core():
    spec = runtime()["requires_ansible"]
    assert ansible_core_version in SpecifierSet(spec), \
        f"tests run ansible-core {ansible_core_version}, which requires_ansible {spec!r} excludes"


def test_action_groups_name_existing_modules():
    names = {p.stem for p in MODULE_FILES}
    groups = runtime().get("action_groups") or {}
    assert set(groups) >= {"cluster", "incident"}, "action groups cluster and incident are part of the interface"
    for group in groups:
        missing = sorted(set(group_members(group)) - names)
        assert not missing, f"action group {group} lists modules with no file under plugins/modules: {missing}"


@pytest.mark.parametrize("module", each(MODULE_FILES, "modules", ids=lambda p: p.stem))
def test_module_is_in_the_action_groups_of_its_fragments(module):
    """A group named like a doc fragment holds exactly the modules that extend that fragment."""
    if module is None:
        vacuous("modules under plugins/modules")
        return
    fragment_names = {p.stem for p in FRAGMENT_FILES}
    for group in runtime().get("action_groups") or {}:
        if group not in fragment_names:
            continue
        expected = uses_fragment(module, group)
        listed = module.stem in group_members(group)
        assert listed == expected, (
            f"{module.stem} {'extends' if expected else 'does not extend'} the {COLLECTION}.{group} doc fragment "
            f"but is {'missing from' if expected else 'listed in'} action group {group} of meta/runtime.yml"
        )


def test_cluster_group_is_defined_by_the_cluster_fragment():
    takers = sorted(p.stem for p in MODULE_FILES if uses_fragment(p, "cluster"))
    assert sorted(group_members("cluster")) == takers


# ------------------------------------------------------- docs vs argspecs


def _doc_type(option):
    return option.get("type", "str")


def _spec_type(option):
    return option.get("type", "str")


def compare_options(documented, spec, where, check_required=True):
    """Differences between documented options and an argument spec, as readable lines."""
    problems = []
    doc_keys, spec_keys = set(documented or {}), set(spec or {})
    if doc_keys - spec_keys:
        problems.append(f"{where}: documented but not in argspec: {sorted(doc_keys - spec_keys)}")
    if spec_keys - doc_keys:
        problems.append(f"{where}: in argspec but not documented: {sorted(spec_keys - doc_keys)}")
    for key in sorted(doc_keys & spec_keys):
        doc, arg = documented[key] or {}, spec[key] or {}
        here = f"{where}.{key}"
        if _doc_type(doc) != _spec_type(arg):
            problems.append(f"{here}: type {_doc_type(doc)!r} in docs, {_spec_type(arg)!r} in argspec")
        if check_required and bool(doc.get("required", False)) != bool(arg.get("required", False)):
            problems.append(f"{here}: required {doc.get('required', False)} in docs, {arg.get('required', False)} in argspec")
        if doc.get("default") != arg.get("default"):
            problems.append(f"{here}: default {doc.get('default')!r} in docs, {arg.get('default')!r} in argspec")
        doc_choices, arg_choices = doc.get("choices"), arg.get("choices")
        if isinstance(doc_choices, dict):  # choices may be documented as a mapping to descriptions
            doc_choices = list(doc_choices)
        if sorted(map(str, doc_choices or [])) != sorted(map(str, arg_choices or [])):
            problems.append(f"{here}: choices {doc_choices} in docs, {arg_choices} in argspec")
        if sorted(doc.get("aliases") or []) != sorted(arg.get("aliases") or []):
            problems.append(f"{here}: aliases {doc.get('aliases')} in docs, {arg.get('aliases')} in argspec")
        if doc.get("elements") != arg.get("elements"):
            problems.append(f"{here}: elements {doc.get('elements')!r} in docs, {arg.get('elements')!r} in argspec")
        if doc.get("suboptions") or arg.get("options"):
            problems.extend(compare_options(doc.get("suboptions"), arg.get("options"), here, check_required))
    return problems


@pytest.mark.parametrize("module", each(MODULE_FILES, "modules", ids=lambda p: p.stem))
def test_module_argspec_matches_documentation(module, collection_loader):
    if module is None:
        vacuous("modules under plugins/modules")
        return
    doc, _examples, _returns, _metadata = get_docstring(
        str(module), collection_loader, collection_name=COLLECTION, plugin_type="module"
    )
    assert doc, f"{module.name}: DOCUMENTATION is missing or empty"
    code = importlib.import_module(f"{PKG}.plugins.modules.{module.stem}")
    assert callable(getattr(code, "argspec", None)), f"{module.name} must expose argspec() returning its argument_spec"
    problems = compare_options(doc.get("options") or {}, code.argspec(), module.stem)
    assert not problems, "\n".join(problems)


def shared_spec_functions():
    """(fragment, module_utils module, function) for each doc fragment with a <fragment>_argument_spec()."""
    found = []
    for fragment in FRAGMENT_FILES:
        pattern = re.compile(rf"^def {re.escape(fragment.stem)}_argument_spec\(", re.M)
        for utils in MODULE_UTILS_FILES:
            if pattern.search(utils.read_text(encoding="utf-8")):
                found.append((fragment.stem, utils_module(utils), f"{fragment.stem}_argument_spec"))
    return found


def fragment_options(name):
    module = importlib.import_module(f"{PKG}.plugins.doc_fragments.{name}")
    return (yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION) or {}).get("options") or {}


def test_cluster_fragment_matches_k8s_client_argspec(collection_loader):
    k8s_client = importlib.import_module(f"{PKG}.plugins.module_utils.k8s.client")
    documented, spec = fragment_options("cluster"), k8s_client.cluster_argument_spec()
    assert set(documented) == set(spec)
    problems = compare_options(documented, spec, "cluster fragment")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("shared", each(shared_spec_functions(), "shared-argspec-functions", ids=lambda t: t[0]))
def test_fragment_matches_its_shared_argspec(shared, collection_loader):
    """Any doc fragment X with an X_argument_spec() in module_utils documents exactly its options.

    Modules may tighten `required` of a shared option (and document that in their own
    options), so requiredness is left to the per-module test.
    """
    if shared is None:
        vacuous("doc fragments with a matching *_argument_spec() in module_utils")
        return
    fragment, utils, function = shared
    spec = getattr(importlib.import_module(f"{PKG}.plugins.module_utils.{utils}"), function)()
    problems = compare_options(fragment_options(fragment), spec, f"{fragment} fragment vs {utils}.{function}()",
                               check_required=False)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ roles


def role_problems(role):
    """Differences between a role's meta/argument_specs.yml (main) and its defaults/main.yml."""
    specs_file = next((role / "meta" / f"argument_specs.{ext}" for ext in ("yml", "yaml")
                       if (role / "meta" / f"argument_specs.{ext}").exists()), None)
    if specs_file is None:
        return ["no meta/argument_specs.yml"]
    main = ((load_yaml(specs_file) or {}).get("argument_specs") or {}).get("main")
    if not main:
        return ["meta/argument_specs.yml has no main entry point"]
    options = main.get("options") or {}
    defaults_file = role / "defaults" / "main.yml"
    defaults = (load_yaml(defaults_file) or {}) if defaults_file.exists() else {}

    required = {k for k, v in options.items() if (v or {}).get("required")}
    problems = []
    if set(defaults) - set(options):
        problems.append(f"in defaults/main.yml, not in argument_specs: {sorted(set(defaults) - set(options))}")
    missing = set(options) - set(defaults) - required
    if missing:
        problems.append(f"optional in argument_specs but no default in defaults/main.yml: {sorted(missing)}")
    if required & set(defaults):
        problems.append(f"required in argument_specs yet given a default: {sorted(required & set(defaults))}")
    for key in sorted(set(options) & set(defaults)):
        spec_default = (options[key] or {}).get("default")
        if spec_default is not None and spec_default != defaults[key]:
            problems.append(f"{key}: default {spec_default!r} in argument_specs, {defaults[key]!r} in defaults/main.yml")
    return problems


@pytest.mark.parametrize("role", each(ROLE_DIRS, "roles", ids=lambda p: p.name))
def test_role_argument_specs_match_defaults(role):
    if role is None:
        vacuous("roles under roles/")
        return
    problems = role_problems(role)
    assert not problems, f"roles/{role.name}: " + "; ".join(problems)


# ------------------------------------------- the checks themselves can fail


def test_compare_options_reports_drift():
    documented = {
        "a": {"type": "str", "required": True},
        "b": {"type": "int", "default": 30},
        "c": {"type": "str", "choices": ["x", "y"]},
        "d": {"type": "list", "elements": "str", "suboptions": {"e": {"type": "bool"}}},
        "only_doc": {},
    }
    spec = {
        "a": {"type": "str"},
        "b": {"type": "int", "default": 10},
        "c": {"choices": ["x"]},
        "d": {"type": "list", "elements": "dict", "options": {"e": {"type": "str"}}},
        "only_spec": {},
    }
    text = "\n".join(compare_options(documented, spec, "m"))
    for expected in ("documented but not in argspec: ['only_doc']", "in argspec but not documented: ['only_spec']",
                     "m.a: required", "m.b: default 30", "m.c: choices", "m.d: elements", "m.d.e: type 'bool'"):
        assert expected in text
    assert compare_options({"k": {"type": "str", "aliases": ["q"]}}, {"k": {"aliases": ["q"]}}, "m") == []


def test_role_problems_reports_drift(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "defaults").mkdir()
    (tmp_path / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n"
        "      r_needed: {type: str, required: true}\n"
        "      r_optional: {type: int, default: 5}\n"
        "      r_undocumented_default: {type: str}\n",
        encoding="utf-8",
    )
    (tmp_path / "defaults" / "main.yml").write_text("r_optional: 6\nr_stray: x\n", encoding="utf-8")
    text = "; ".join(role_problems(tmp_path))
    assert "not in argument_specs: ['r_stray']" in text
    assert "no default in defaults/main.yml: ['r_undocumented_default']" in text
    assert "r_optional: default 5" in text
    assert "r_needed" not in text
