#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The test tiers (make test, make test-long).
#
#   tools/test.sh fast   unit, integration, one drill per behaviour, the short campaign
#                        (pytest -m "not long"), then sanity, lint and docs-check.
#   tools/test.sh long   everything: the fast tier plus the tests marked long (every drill,
#                        long campaigns), then the diagnosis benchmark.
#
# Tests marked `alone` stop a shared server (API server, PostgreSQL, Redis); they run
# after the others, one at a time, never beside another test.
#   PYTHON          the venv's python (the Makefile sets it)
#   PYTEST_WORKERS  pytest-xdist workers (default 1: on 2 cores, the drill groups side by side
#                   and the gates beside them overloaded the cluster into timeouts; measured)
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

workers=()
[ "${PYTEST_WORKERS:-1}" -gt 1 ] && workers=(-n "$PYTEST_WORKERS" --dist loadgroup)
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
# The slowest tests are listed at the end, so the suite's budget (25 min warm) can be kept.
"$python" -m pytest tests/unit tests/integration -p no:cacheprovider -q -m "$marks" "${workers[@]}" \
  --durations=40 --durations-min=5 ${PYTEST_ARGS:-}
pytest_rc=$?
# pytest exits 5 when a marker selects nothing; an empty `alone` set is not a failure.
# shellcheck disable=SC2086
"$python" -m pytest tests/integration -p no:cacheprovider -q -m "$alone_marks" ${PYTEST_ARGS:-}
alone_rc=$?
[ "$alone_rc" = 5 ] && alone_rc=0

echo "=== quality gates: sanity, lint, docs-check ==="
make --no-print-directory sanity lint docs-check
quality_rc=$?

bench_rc=0
if [ "$tier" = long ]; then
  make --no-print-directory bench BENCH_ARGS="${BENCH_ARGS:-}"
  bench_rc=$?
fi
echo "=== test tier $tier: pytest rc=$pytest_rc, alone rc=$alone_rc, quality rc=$quality_rc, bench rc=$bench_rc ==="
[ "$pytest_rc" = 0 ] && [ "$alone_rc" = 0 ] && [ "$quality_rc" = 0 ] && [ "$bench_rc" = 0 ]
