#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sanity of what users get and of what stays in the checkout:
#  1. checkout-only files (tracked plus untracked-not-ignored files that the built
#     collection leaves out: drill/, tests/integration/, tests/benchmarks/, tools/,
#     extensions/molecule/, ...): bash -n and shellcheck for shell scripts, pyflakes
#     for Python, yamllint (ansible-test's rules) for YAML. They run for real in
#     `make test` (pytest, the molecule drills) and ansible-lint (`make lint`).
#  2. `ansible-test sanity` on the collection as built and installed from the tarball
#     (tools/built-collection.sh), with Python 3.11 in ansible-test's own virtual
#     environments (no containers). tests/sanity/ignore-*.txt may only name files of
#     the built collection.
#   VENV        venv holding ansible-test (default ~/.cache/aio-venv-test)
#   KEEP_COPY=1 keep the temporary install (its tests/output has the reports)
# Extra arguments go to ansible-test, e.g. tools/sanity.sh --test validate-modules
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${VENV:-$HOME/.cache/aio-venv-test}"
python="$venv/bin/python"
ansible_test="$venv/bin/ansible-test"
ca_bundle="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"

[ -x "$ansible_test" ] || { echo "sanity: $ansible_test not found; create the test venv first" >&2; exit 2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/aio-sanity.XXXXXX")"
if [ "${KEEP_COPY:-0}" = 1 ]; then
  echo "sanity: install kept in $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi
dest="$("$repo/tools/built-collection.sh" "$tmp")"

# --- 1. checkout-only files ---------------------------------------------------------
# Files git knows (tracked and still present, or untracked and not ignored) that the
# built collection does not hold.
shell_files=() python_files=() yaml_files=()
while IFS= read -r -d '' f; do
  if [ ! -f "$repo/$f" ] || [ -L "$repo/$f" ] || [ -e "$dest/$f" ]; then continue; fi
  case "$f" in
    .ci/run) shell_files+=("$f") ;;
    *.sh) shell_files+=("$f") ;;
    *.py) python_files+=("$f") ;;
    *.yml|*.yaml|.ansible-lint) yaml_files+=("$f") ;;
    *)
      first="$(head -n1 "$repo/$f" 2>/dev/null || true)"
      case "$first" in
        '#!'*python*) python_files+=("$f") ;;
        '#!'*bash*|'#!'*/sh|'#!'*' sh') shell_files+=("$f") ;;
      esac ;;
  esac
done < <(cd "$repo" && git ls-files -z --cached --others --exclude-standard)

checkout_rc=0
fail() { echo "sanity: checkout: $*" >&2; checkout_rc=1; }
cd "$repo"
if [ "${#shell_files[@]}" -gt 0 ]; then
  for f in "${shell_files[@]}"; do bash -n "$f" || fail "bash -n $f"; done
  if command -v shellcheck >/dev/null; then
    shellcheck -x -P SCRIPTDIR "${shell_files[@]}" || fail "shellcheck"
  else
    fail "shellcheck not installed (make system-packages)"
  fi
fi
if [ "${#python_files[@]}" -gt 0 ]; then
  if [ -x "$venv/bin/pyflakes" ]; then
    "$venv/bin/pyflakes" "${python_files[@]}" || fail "pyflakes"
  else
    echo "sanity: WARNING: pyflakes not in $venv; Python files are only compiled" >&2
    "$python" -m py_compile "${python_files[@]}" || fail "py_compile"
  fi
fi
if [ "${#yaml_files[@]}" -gt 0 ]; then
  yamllint_config="$("$python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_util/controller/sanity/yamllint/config/default.yml"))')"
  "$venv/bin/yamllint" -s -c "$yamllint_config" "${yaml_files[@]}" || fail "yamllint"
fi
echo "sanity: checkout-only files: ${#shell_files[@]} shell, ${#python_files[@]} Python, ${#yaml_files[@]} YAML:" \
  "$([ "$checkout_rc" = 0 ] && echo passed || echo FAILED)"

# --- 2. ansible-test sanity on the installed collection ------------------------------
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
echo "sanity: ansible-test sanity on the installed collection: $([ "$rc" = 0 ] && echo passed || echo "FAILED ($rc)")"
[ "$checkout_rc" = 0 ] || { echo "sanity: checkout-only files FAILED (see above)" >&2; exit 1; }
exit "$rc"
