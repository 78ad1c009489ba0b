#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ansible-lint (production profile, settings in .ansible-lint) over the whole
# collection: roles, playbooks, extensions/molecule, meta, galaxy.yml, changelogs.
# It runs with the checkout linked as a collection so that
# ai_orchestrator.incident_response.* FQCNs resolve to the working files.
#   VENV  venv holding ansible-lint (default ~/.cache/aio-venv-test)
# Extra arguments go to ansible-lint, e.g. tools/lint.sh roles/incident
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$HOME/.cache/aio-venv-test}"
[ -x "$venv/bin/ansible-lint" ] || { echo "lint: $venv/bin/ansible-lint not found; create the test venv first" >&2; exit 2; }

# ansible-lint runs ansible-playbook --syntax-check and ansible-galaxy from PATH.
export PATH="$venv/bin:$PATH"
root="$("$repo/tools/collection-link.sh")"
export ANSIBLE_COLLECTIONS_PATH="$root${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}"

cd "$root/ansible_collections/ai_orchestrator/incident_response"
exec ansible-lint --profile production "$@"
