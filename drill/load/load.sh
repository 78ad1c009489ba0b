#!/usr/bin/env bash
# The drill's load model (load_controller.py) as a background process.
#   drill/load/load.sh up|down|status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../drill.env
source "$here/../drill.env"
pidfile=$DRILL_RUN/load-controller.pid
logfile=$DRILL_RUN/load-controller.log
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case ${1:-} in
  up)
    if running; then exit 0; fi
    mkdir -p "$DRILL_RUN"
    nohup "${DRILL_PYTHON:-python3}" "$here/load_controller.py" --kubeconfig "$DRILL_KUBECONFIG" \
      --kubectl "$DRILL_HOME/path/kubectl" >>"$logfile" 2>&1 &
    echo $! >"$pidfile"
    sleep 0.5
    running || { echo "drill load controller did not start; see $logfile" >&2; exit 1; }
    ;;
  down)
    if running; then kill "$(cat "$pidfile")"; fi
    rm -f "$pidfile"
    ;;
  status)
    if running; then echo "load controller: running (pid $(cat "$pidfile"))"; else echo "load controller: stopped"; exit 3; fi
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
