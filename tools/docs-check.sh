#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the collection as a user gets it, install the tarball into a throw-away
# collections path and render the docs of every plugin and role with ansible-doc
# (tools/docs_check.py lists them from the checkout's files). Catches docs that
# only render from a checkout, plugins left out by build_ignore, broken YAML.
#   VENV  venv holding ansible-core (default ~/.cache/aio-venv-test)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$HOME/.cache/aio-venv-test}"
[ -x "$venv/bin/ansible-doc" ] || { echo "docs-check: $venv/bin/ansible-doc not found; create the test venv first" >&2; exit 2; }
export PATH="$venv/bin:$PATH"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/aio-docs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Only the installed copy may be found: no ansible.cfg from the checkout, no link.
unset ANSIBLE_CONFIG
export ANSIBLE_COLLECTIONS_PATH="$tmp/collections"
export ANSIBLE_HOME="$tmp/ansible-home"
cd "$tmp"

ansible-galaxy collection build --output-path "$tmp/build" "$repo" >/dev/null
tarball="$(ls "$tmp"/build/ai_orchestrator-incident_response-*.tar.gz)"
echo "docs-check: built $(basename "$tarball")"
# --no-deps: dependencies come from the ansible package; Galaxy is not reachable.
ansible-galaxy collection install --no-deps --offline -p "$tmp/collections" "$tarball" >/dev/null

"$venv/bin/python" "$repo/tools/docs_check.py" "$repo"
