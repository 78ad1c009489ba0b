#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Link this checkout into a collections tree so FQCNs
# (ai_orchestrator.incident_response.*) resolve to the working files, then print
# the ANSIBLE_COLLECTIONS_PATH to use. Idempotent; replaces a link that points
# elsewhere, refuses to replace a real directory.
#   AIO_COLLECTIONS_ROOT  tree to link into (default ~/.cache/aio-collections)
# Usage: export ANSIBLE_COLLECTIONS_PATH="$(tools/collection-link.sh)"
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
root="${AIO_COLLECTIONS_ROOT:-$HOME/.cache/aio-collections}"
link="$root/ansible_collections/ai_orchestrator/incident_response"

mkdir -p "$(dirname "$link")"
if [ -L "$link" ]; then
  if [ "$(readlink "$link")" != "$repo" ]; then
    ln -sfn "$repo" "$link"
    echo "collection-link: $link now points to $repo (was another checkout)" >&2
  fi
elif [ -e "$link" ]; then
  echo "collection-link: $link exists and is not a symlink; move it away first" >&2
  exit 1
else
  ln -s "$repo" "$link"
fi

# The ansible package's collections (kubernetes.core, community.*) are found
# through the Python path (collections_scan_sys_path), so only the root is needed.
echo "$root"
