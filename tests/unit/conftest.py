# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.ai_orchestrator.incident_response`` importable in unit tests.

pytest-ansible installs ansible's collection finder when pytest starts in the checkout
(it has galaxy.yml). Started anywhere else, or with ``-p no:ansible``, nothing does;
then the checkout is linked into a private collections tree outside the checkout and
ansible's own loader is initialised with it. Subprocesses (ansible-playbook in
end-to-end tests) find the collection through ANSIBLE_COLLECTIONS_PATH either way.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

from ansible.plugins.loader import init_plugin_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

REPO = pathlib.Path(__file__).resolve().parents[2]
NAMESPACE, NAME = "ai_orchestrator", "incident_response"

# The standard-library test helpers both trees share (``ports``: free ports that are never
# the drill's) live in tests/integration.
if str(REPO / "tests" / "integration") not in sys.path:
    sys.path.append(str(REPO / "tests" / "integration"))


def _linked_tree():
    """A directory holding ansible_collections/<ns>/<name> -> this checkout."""
    if REPO.parts[-3:] == ("ansible_collections", NAMESPACE, NAME):
        return REPO.parents[2]
    for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        candidate = pathlib.Path(entry).expanduser() / "ansible_collections" / NAMESPACE / NAME
        if entry and candidate.exists() and candidate.resolve() == REPO:
            return pathlib.Path(entry).expanduser()
    root = pathlib.Path(tempfile.gettempdir()) / f"aio-unit-collections-{os.getuid()}"
    link = root / "ansible_collections" / NAMESPACE / NAME
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        try:
            link.symlink_to(REPO)
        except FileExistsError:  # a parallel worker made it first
            pass
    elif link.resolve() != REPO:  # left by another checkout
        link.unlink()
        link.symlink_to(REPO)
    return root


def _ensure_importable():
    tree = str(_linked_tree())
    paths = [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader([tree] + paths)
    if tree not in paths:
        # ansible-playbook run by a test must load this checkout, not an installed copy.
        os.environ["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([tree] + paths)


_ensure_importable()
