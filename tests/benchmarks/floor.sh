#!/usr/bin/env bash
# Benchmark method F, the floor: what any Ansible-driven diagnosis of a namespace pays at
# least, with nothing joined, classified or reported:
#   1. an empty ansible-playbook run (playbooks/empty.yml: localhost, gather_facts false,
#      no tasks): Ansible's start-up;
#   2. `kubectl get pods,events -o json` for the namespace: the least state to read
#      (GET `raw`: `kubectl get --raw` of the two lists instead, side by side: the same
#      bytes without kubectl's decoding, paging and printing);
#   3. the log fetches workload_health_info makes with its defaults: the containers that
#      are not ready and have started (init containers first), in pod-name order, at
#      most MAX_CONTAINERS (10) of them; the last 100 lines of each and, of each that has
#      restarted, the last 100 of its previous instance (`kubectl logs --tail=100` and
#      `--previous`, as `kubectl get --raw` of pods/log: one request each, where
#      `kubectl logs` first reads the pod). JOBS fetches run at a time (default 4).
#   floor.sh NAMESPACE OUTDIR [MAX_CONTAINERS [JOBS [GET]]]     GET: json (default) or raw
# MAX_CONTAINERS 0 fetches the logs of every such container. The output is kept in OUTDIR.
# The last line gives each part's wall time in seconds and the number of log fetches (and
# of failed ones), for diagnosis_bench.py.
set -euo pipefail
ns=$1 out=$2 cap=${3:-10} jobs=${4:-4} get=${5:-json}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out/logs"
now() { date +%s.%N; }
span() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

t0=$(now)
ansible-playbook -i localhost, "$here/playbooks/empty.yml" >"$out/empty-playbook.log"
t1=$(now)
if [ "$get" = raw ]; then
  kubectl get --raw "/api/v1/namespaces/$ns/pods" >"$out/pods.json" &
  kubectl get --raw "/api/v1/namespaces/$ns/events" >"$out/events.json"
  wait $!
  state=$out/pods.json
else
  kubectl get pods,events -n "$ns" -o json >"$out/state.json"
  state=$out/state.json
fi
t2=$(now)
# One "POD CONTAINER PREVIOUS" line per log fetch, picked as diagnosis.collect_logs picks.
python3 - "$state" "$cap" >"$out/log-fetches.txt" <<'PICK'
import json
import sys

items = json.load(open(sys.argv[1]))["items"]
cap = int(sys.argv[2])
pods = sorted((p for p in items if p.get("kind", "Pod") == "Pod"), key=lambda p: p["metadata"]["name"])


def ready(c, init):  # an init container that ran to completion is done, not failing
    return c.get("ready") or (init and ((c.get("state") or {}).get("terminated") or {}).get("exitCode") == 0)


def started(c):  # one that never started (image pull, unschedulable) has no logs
    return c.get("restartCount", 0) > 0 or (c.get("lastState") or {}).get("terminated") or "waiting" not in (c.get("state") or {})


picked = [
    (p["metadata"]["name"], c)
    for p in pods
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses"))
    for c in p["status"].get(key) or []
    if not ready(c, init) and started(c)
]
for pod, c in picked[:cap] if cap > 0 else picked:
    print(pod, c["name"], "false")
    if c.get("restartCount", 0) > 0 or (c.get("lastState") or {}).get("terminated"):
        print(pod, c["name"], "true")
PICK
t3=$(now)
# shellcheck disable=SC2016  # expanded by the inner bash, once per fetch
NS=$ns OUT=$out xargs -r -P "$jobs" -n 3 bash -c '
  kubectl get --raw "/api/v1/namespaces/$NS/pods/$0/log?container=$1&tailLines=100&previous=$2" \
    >"$OUT/logs/$0.$1.$2.log" 2>&1 || echo "$0 $1 $2"
' <"$out/log-fetches.txt" >"$out/failed-fetches.txt"
t4=$(now)

echo "BENCH empty_playbook=$(span "$t0" "$t1") get=$(span "$t1" "$t2") select=$(span "$t2" "$t3")" \
  "logs=$(span "$t3" "$t4") log_requests=$(wc -l <"$out/log-fetches.txt")" \
  "failed=$(wc -l <"$out/failed-fetches.txt")" \
  "log_containers=$(awk '$3 == "false" { printf "%s%s/%s", sep, $1, $2; sep = "," }' "$out/log-fetches.txt")"
