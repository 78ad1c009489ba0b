# SPDX-License-Identifier: GPL-3.0-or-later
"""Helper of tools/docs-check.sh (make docs-check), the one command of the docs check.

Not a command of its own: tools/docs-check.sh builds the collection, installs the
tarball and runs this file as `python docs_check.py CHECKOUT INSTALLED` with only the
installed copy on ANSIBLE_COLLECTIONS_PATH. Every plugin file ansible-doc reports must
lie in INSTALLED, so docs rendered from a checkout or a collection link fail.

The plugins to check come from the checkout's files, so a new plugin is checked
without editing this script (and one that build_ignore left out fails):

- plugins/<type>/<name>.py for modules, callbacks and the other one-plugin-per-file
  types;
- filter and test plugins: every name `ansible-doc --list` finds in the installed
  files (so an undocumented filter is caught) plus every `<name>.yml` doc sidecar;
  every filter/test .py file must contribute at least one listed plugin;
- roles/<name>/meta/argument_specs.yml.

A plugin fails when ansible-doc does not return its docs as JSON, when the text
rendering lacks its header, or when ansible-doc prints an error about it.
"""

from __future__ import annotations

import functools
import json
import pathlib
import subprocess
import sys

COLLECTION = "ai_orchestrator.incident_response"
# plugins/<dir> -> ansible-doc type, for types with one plugin per file.
FILE_TYPES = {
    "modules": "module",
    "callback": "callback",
    "lookup": "lookup",
    "inventory": "inventory",
    "connection": "connection",
    "become": "become",
    "cache": "cache",
    "vars": "vars",
    "strategy": "strategy",
}
# Types where one file holds several plugins, documented by <name>.yml sidecars.
JINJA_TYPES = {"filter": "filter", "test": "test"}


def ansible_doc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ansible-doc", *args], capture_output=True, text=True, check=False)


def errors_about(stderr: str, names: list[str]) -> list[str]:
    """Lines of stderr that are errors, or warnings that name one of the plugins."""
    found = []
    for line in stderr.splitlines():
        if "[ERROR]" in line or "ERROR!" in line:
            found.append(line)
        elif "[WARNING]" in line and any(n in line for n in names):
            found.append(line)
    return found


@functools.lru_cache(maxsize=None)
def listed_files(doc_type: str) -> dict[str, str]:
    """`ansible-doc -F` for the collection: plugin FQCN -> file path."""
    proc = ansible_doc("-t", doc_type, "-F", COLLECTION)
    result = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(COLLECTION + "."):
            result[parts[0]] = parts[1]
    return result


def expected_plugins(repo: pathlib.Path) -> tuple[dict[str, set[str]], list[str]]:
    """Plugins per ansible-doc type that the checkout's files define."""
    wanted: dict[str, set[str]] = {}
    problems: list[str] = []
    plugins = repo / "plugins"
    for dirname, doc_type in FILE_TYPES.items():
        for path in sorted((plugins / dirname).glob("*.py")):
            if path.name != "__init__.py" and not path.name.startswith("_"):
                wanted.setdefault(doc_type, set()).add(f"{COLLECTION}.{path.stem}")
    for dirname, doc_type in JINJA_TYPES.items():
        sources = sorted(p for p in (plugins / dirname).glob("*.py") if p.name != "__init__.py")
        sidecars = sorted((plugins / dirname).glob("*.y*ml"))
        if not sources and not sidecars:
            continue
        names = {f"{COLLECTION}.{p.stem}" for p in sidecars}
        files = listed_files(doc_type)
        names.update(files)
        for src in sources:
            if not any(pathlib.Path(f).name == src.name for f in files.values()):
                problems.append(f"{doc_type} file plugins/{dirname}/{src.name}: ansible-doc lists no plugin from it "
                                f"(import error or no FilterModule/TestModule?)")
        wanted[doc_type] = names
    for spec in sorted((repo / "roles").glob("*/meta/argument_specs.y*ml")):
        wanted.setdefault("role", set()).add(f"{COLLECTION}.{spec.parent.parent.name}")
    return wanted, problems


def render(doc_type: str, names: list[str]) -> list[str]:
    """Problems rendering the docs of names, as JSON and as text, in one ansible-doc call each."""
    problems = []
    as_json = ansible_doc("-j", "-t", doc_type, *names)
    try:
        docs = json.loads(as_json.stdout or "{}")
    except ValueError:
        docs = {}
    as_text = ansible_doc("-t", doc_type, *names)
    headers = [line for line in as_text.stdout.splitlines() if line.startswith("> ")]
    for name in names:
        entry = docs.get(name) or {}
        doc = entry.get("doc") or {}
        if doc_type == "role":  # roles: {fqcn: {collection, path, entry_points: {main: {...}}}}
            ok = bool((entry.get("entry_points") or {}).get("main"))
        else:
            ok = bool(doc.get("short_description"))
        if not ok:
            problems.append(f"{doc_type} {name}: no documentation from `ansible-doc -j`")
        if not any(name in h for h in headers):
            problems.append(f"{doc_type} {name}: `ansible-doc -t {doc_type} {name}` rendered no page")
    problems.extend(f"{doc_type}: {line.strip()}" for line in errors_about(as_json.stderr + as_text.stderr, names))
    if as_text.returncode != 0 and not problems:
        problems.append(f"{doc_type}: ansible-doc exited {as_text.returncode}: {as_text.stderr.strip()}")
    return problems


def check_type(doc_type: str, names: list[str]) -> list[str]:
    problems = []
    listed = ansible_doc("-t", doc_type, "--list", "-j", COLLECTION)
    try:
        in_list = set(json.loads(listed.stdout or "{}"))
    except ValueError:
        in_list = set()
        problems.append(f"{doc_type}: `ansible-doc --list -j` gave no JSON: {listed.stderr.strip()}")
    for name in names:
        if name not in in_list:
            problems.append(f"{doc_type} {name}: missing from `ansible-doc -t {doc_type} --list {COLLECTION}`")
    # One call for all; when it fails, one call per plugin so each failure names its plugin.
    batch = render(doc_type, names)
    if batch and len(names) > 1:
        for name in names:
            problems.extend(render(doc_type, [name]))
    else:
        problems.extend(batch)
    return problems


def outside(installed: pathlib.Path, doc_types: list[str]) -> list[str]:
    """Plugins whose file ansible-doc finds anywhere but in the installed collection."""
    problems = []
    for doc_type in doc_types:
        for name, path in sorted(listed_files(doc_type).items()):
            if not pathlib.Path(path).resolve().is_relative_to(installed):
                problems.append(f"{doc_type} {name}: ansible-doc reads {path}, not the installed collection")
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: run tools/docs-check.sh (make docs-check); it calls docs_check.py CHECKOUT INSTALLED",
              file=sys.stderr)
        return 2
    repo = pathlib.Path(sys.argv[1])
    installed = pathlib.Path(sys.argv[2]).resolve()
    wanted, problems = expected_plugins(repo)
    problems.extend(outside(installed, sorted(t for t in wanted if t != "role")))
    total = 0
    for doc_type in sorted(wanted):
        names = sorted(wanted[doc_type])
        total += len(names)
        print(f"docs-check: {doc_type}: {', '.join(n.rsplit('.', 1)[-1] for n in names)}")
        problems.extend(check_type(doc_type, names))
    # The collection's module list, as an operator would ask for it.
    overview = ansible_doc("--list", COLLECTION)
    print(overview.stdout.rstrip() or "docs-check: (no modules listed)")
    problems.extend(errors_about(overview.stderr, [COLLECTION]))
    if total == 0:
        print("docs-check: no plugins or roles with argument specs yet: nothing to render")
    problems = list(dict.fromkeys(problems))  # JSON and text runs report the same error
    for problem in problems:
        print(f"docs-check: FAIL {problem}", file=sys.stderr)
    print(f"docs-check: {total} checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
