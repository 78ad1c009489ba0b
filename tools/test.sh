#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The test tiers (make test, make test-long).
#
#   tools/test.sh fast   unit, integration, one drill per behaviour (pytest -m "not long"),
#                        with sanity, lint and docs-check running alongside: the drills
#                        spend most of their time waiting on the cluster, so the CPU-bound
#                        gates fit in beside them (about 3 minutes saved on 2 cores).
#   tools/test.sh long   everything: the fast tier plus the tests marked long (every drill,
#                        long campaigns), then the diagnosis benchmark.
#
# Tests marked `alone` stop a shared server (API server, PostgreSQL, Redis); they run
# after the others, one at a time, never beside another test.
#   PYTHON          the venv's python (the Makefile sets it)
#   PYTEST_WORKERS  pytest-xdist workers (default 3, one per parallel group)
#   PYTEST_ARGS   extra pytest arguments
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
tier="${1:-fast}"
python="${PYTHON:-python3}"
case "$tier" in
  fast) marks='not long and not alone' alone_marks='alone and not long' ;;
  long) marks='not alone' alone_marks='alone' ;;
  *) echo "usage: tools/test.sh fast|long" >&2; exit 2 ;;
esac

quality_log="$(mktemp)"
trap 'rm -f "$quality_log"' EXIT
make --no-print-directory sanity lint docs-check >"$quality_log" 2>&1 &
quality_pid=$!

# Three workers: the platform drills, the drill-workloads drills and the campaign each keep to
# their own namespaces (tests/integration/conftest.py), so they run side by side.
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
"$python" -m pytest tests/unit tests/integration -p no:cacheprovider -q -m "$marks" -n "${PYTEST_WORKERS:-3}" --dist loadgroup ${PYTEST_ARGS:-}
pytest_rc=$?
# pytest exits 5 when a marker selects nothing; an empty `alone` set is not a failure.
# shellcheck disable=SC2086
"$python" -m pytest tests/integration -p no:cacheprovider -q -m "$alone_marks" ${PYTEST_ARGS:-}
alone_rc=$?
[ "$alone_rc" = 5 ] && alone_rc=0

wait "$quality_pid"
quality_rc=$?
echo "=== quality gates: sanity, lint, docs-check (ran alongside pytest) ==="
cat "$quality_log"

bench_rc=0
if [ "$tier" = long ]; then
  make --no-print-directory bench BENCH_ARGS="${BENCH_ARGS:-}"
  bench_rc=$?
fi
echo "=== test tier $tier: pytest rc=$pytest_rc, alone rc=$alone_rc, quality rc=$quality_rc, bench rc=$bench_rc ==="
[ "$pytest_rc" = 0 ] && [ "$alone_rc" = 0 ] && [ "$quality_rc" = 0 ] && [ "$bench_rc" = 0 ]
