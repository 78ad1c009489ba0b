#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The docs check (make docs-check): build the collection as a user gets it, install the
# tarball into a throw-away collections path (tools/built-collection.sh) and render
# the docs of every plugin and role with ansible-doc from that installed copy only.
# Catches docs that only render from a checkout, plugins left out by build_ignore,
# broken YAML. What is checked and how lives in tools/docs_check.py, a helper that
# this script runs in the environment it prepares.
#   VENV  venv holding ansible-core (default ~/.cache/aio-venv-test)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$HOME/.cache/aio-venv-test}"
[ -x "$venv/bin/ansible-doc" ] || { echo "docs-check: $venv/bin/ansible-doc not found; create the test venv first" >&2; exit 2; }
export PATH="$venv/bin:$PATH"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/aio-docs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
installed="$("$repo/tools/built-collection.sh" "$tmp")"

# Only the installed copy may be found: no ansible.cfg from the checkout, no link.
unset ANSIBLE_CONFIG
export ANSIBLE_COLLECTIONS_PATH="$tmp/collections"
export ANSIBLE_HOME="$tmp/ansible-home"
cd "$tmp"
"$venv/bin/python" "$repo/tools/docs_check.py" "$repo" "$installed"
