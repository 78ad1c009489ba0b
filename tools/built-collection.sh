#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the collection from this checkout as a user gets it (`ansible-galaxy collection
# build`, galaxy.yml's build_ignore applies) and install the tarball into DIR. Prints the
# installed collection's directory, DIR/collections/ansible_collections/<ns>/<name>.
# Shared by tools/sanity.sh and tools/docs-check.sh, which check that installed copy.
#   VENV  venv holding ansible-core (default ~/.cache/aio-venv-test)
# Usage: tools/built-collection.sh DIR
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$HOME/.cache/aio-venv-test}"
galaxy="$venv/bin/ansible-galaxy"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -x "$galaxy" ] || { echo "built-collection: $galaxy not found; create the test venv first" >&2; exit 2; }
dir="$(mkdir -p "$1" && cd "$1" && pwd -P)"

# Nothing from the checkout may leak in: no ansible.cfg (read from the working
# directory or ANSIBLE_CONFIG), no collection link, no user-wide Galaxy settings.
(
  unset ANSIBLE_CONFIG
  export ANSIBLE_HOME="$dir/ansible-home" ANSIBLE_COLLECTIONS_PATH="$dir/collections"
  cd "$dir"
  "$galaxy" collection build --force --output-path "$dir/build" "$repo" >/dev/null
  # --no-deps: dependencies come from the ansible package; Galaxy is not reachable.
  "$galaxy" collection install --no-deps --offline --force -p "$dir/collections" \
    "$dir"/build/ai_orchestrator-incident_response-*.tar.gz >/dev/null
)
installed="$dir/collections/ansible_collections/ai_orchestrator/incident_response"
[ -f "$installed/MANIFEST.json" ] || { echo "built-collection: nothing installed at $installed" >&2; exit 1; }
echo "built-collection: built and installed $(basename "$dir"/build/*.tar.gz)" >&2
echo "$installed"
