#!/usr/bin/env bash
# Benchmark method C: the runbook's "Service Down" investigation steps 1-3 as an engineer
# scripts them: list the pods, describe and tail the logs of each, then kubectl top.
#   runbook_kubectl.sh NAMESPACE OUTDIR [POD_LIST]
# POD_LIST (a file, one pod name a line) limits the per-pod loop to a sample; without it
# the loop covers every pod of `kubectl get pods`. Output is kept in OUTDIR, as an
# engineer keeps it for the incident record. Prints the number of failed commands.
set -uo pipefail
ns=$1 out=$2 list=${3:-}
mkdir -p "$out/describe" "$out/logs"
failed=0
kubectl get pods -n "$ns" >"$out/pods.txt" || failed=$((failed + 1))
if [ -n "$list" ]; then pods=$(cat "$list"); else pods=$(awk 'NR > 1 { print $1 }' "$out/pods.txt"); fi
for pod in $pods; do
  kubectl describe pod "$pod" -n "$ns" >"$out/describe/$pod.txt" 2>&1 || failed=$((failed + 1))
  kubectl logs "$pod" -n "$ns" --tail=100 >"$out/logs/$pod.log" 2>&1 || failed=$((failed + 1))
done
kubectl top pods -n "$ns" >"$out/top-pods.txt" 2>&1 || failed=$((failed + 1))
kubectl top nodes >"$out/top-nodes.txt" 2>&1 || failed=$((failed + 1))
echo "failed=$failed"
