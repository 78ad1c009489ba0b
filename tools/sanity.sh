#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run `ansible-test sanity` on a copy of the collection's files (tracked plus
# untracked-not-ignored, as git lists them) laid out as
# <tmp>/ansible_collections/ai_orchestrator/incident_response, with Python 3.11
# in ansible-test's own virtual environments (no containers).
#   VENV        venv holding ansible-test (default ~/.cache/aio-venv-test)
#   KEEP_COPY=1 keep the temporary copy (its tests/output has the reports)
# Extra arguments go to ansible-test, e.g. tools/sanity.sh --test validate-modules
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$HOME/.cache/aio-venv-test}"
python="$venv/bin/python"
ansible_test="$venv/bin/ansible-test"
ca_bundle="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"

[ -x "$ansible_test" ] || { echo "sanity: $ansible_test not found; create the test venv first" >&2; exit 2; }

# ansible-test bootstraps pip in each venv it creates with a get-pip script that it
# downloads from a host outside the package registries. It uses a cached copy when
# present, run as a script with pip-install arguments plus --no-setuptools/--no-wheel.
# The stand-in installs the bundled pip, then the requested packages from the
# registry. ansible-test drops most environment variables (PIP_CERT among them),
# so the CA bundle is written into the file.
write_get_pip() {
  local path="$1"
  [ -e "$path" ] && return 0
  mkdir -p "$(dirname "$path")"
  cat >"$path.tmp" <<PY
# Offline stand-in for ansible-test's get-pip bootstrap, written by tools/sanity.sh
# of ai_orchestrator.incident_response. Delete it to have it written again.
import ensurepip
import subprocess
import sys

ensurepip.bootstrap()
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--cert", "$ca_bundle"] + args))
PY
  mv "$path.tmp" "$path"
  rm -f "$path.download"  # left empty by a failed download
  echo "sanity: wrote pip bootstrap stand-in $path" >&2
}

# The file name carries the pip version ansible-test pins; ask ansible-test for it.
# If that internal API moves, the message of a failed run names the path instead
# (handled below).
pip_version="$("$python" - <<'PY' 2>/dev/null || true
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])
PY
)"
if [ -n "$pip_version" ]; then
  write_get_pip "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/aio-sanity.XXXXXX")"
if [ "${KEEP_COPY:-0}" = 1 ]; then
  echo "sanity: copy kept in $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi
dest="$tmp/ansible_collections/ai_orchestrator/incident_response"
mkdir -p "$dest"

# Tracked files still present plus untracked files git does not ignore, except
# collections/: pytest-ansible's links from the top level back to the checkout.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do
      case "$f" in collections/*) continue ;; esac
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done \
  | tar --null -T - -cf -) | tar -C "$dest" -xf -

run() {
  (cd "$dest" && "$ansible_test" sanity --venv --python 3.11 --color no "$@")
}

log="$tmp/sanity.log"
set +e
run "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
named="$(sed -n 's/^The bootstrap script can be manually downloaded and saved to: //p' "$log" | head -n1)"
if [ "$rc" -ne 0 ] && [ -n "$named" ] && [ ! -e "$named" ]; then
  write_get_pip "$named"
  rc=0
  run "$@" || rc=$?
fi
exit "$rc"
