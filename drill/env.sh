#!/usr/bin/env bash
# The whole drill environment: the data plane (real PostgreSQL, Redis and the platform's
# HTTP stand-ins on loopback, drill/dataplane.sh), the drill cluster (drill/cluster.sh) and
# the monitoring that raises the alerts (Prometheus, Alertmanager, exporters,
# kube-state-metrics: drill/monitoring.sh).
#
#   drill/env.sh up       data plane first (the cluster's exec targets point at it), then the cluster,
#                         then the load model (drill/load: "load that needs N replicas"), then the
#                         monitoring (kube-state-metrics needs the API server)
#   drill/env.sh down     the reverse; idempotent
#   drill/env.sh status   exit 0 only when every part answers
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
dataplane=$here/dataplane.sh
cluster=$here/cluster.sh
load=$here/load/load.sh
monitoring=$here/monitoring.sh

have_dataplane() { [ -f "$dataplane" ]; }

case ${1:-} in
  up)
    start=$(date +%s)
    if have_dataplane; then bash "$dataplane" up; else echo "drill env: no drill/dataplane.sh, starting the cluster only" >&2; fi
    bash "$cluster" up
    bash "$load" up
    bash "$monitoring" up
    echo "drill env: up in $(($(date +%s) - start))s" >&2
    ;;
  down)
    rc=0
    bash "$monitoring" down || rc=$?
    bash "$load" down || rc=$?
    bash "$cluster" down || rc=$?
    if have_dataplane; then bash "$dataplane" down || rc=$?; fi
    exit "$rc"
    ;;
  status)
    rc=0
    if have_dataplane; then bash "$dataplane" status || rc=$?; fi
    bash "$cluster" status || rc=$?
    bash "$load" status || rc=$?
    bash "$monitoring" status || rc=$?
    exit "$rc"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
