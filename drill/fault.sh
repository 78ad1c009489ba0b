#!/usr/bin/env bash
# Put drill faults on the drill cluster, the way DESIGN.md fixes them.
#   drill/fault.sh pod WORKLOAD FAULT        transient: one ready pod of WORKLOAD fails (deleting it heals)
#   drill/fault.sh template WORKLOAD FAULT   persistent: every pod of WORKLOAD fails, new ones too
#   drill/fault.sh load WORKLOAD N           load that needs N replicas (usage high until scaled to N)
#   drill/fault.sh clear [WORKLOAD]          remove faults and load; faulty pods are replaced
#   drill/fault.sh reset                     clear, put the fixture's workloads back as shipped, forget
#                                            remediation history, wait until everything is ready
# FAULT: crashloop | oomkilled | imagepull | notready | usage-high
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=drill.env
source "$here/drill.env"
ns=${DRILL_NAMESPACE:-ai-orchestrator}
kubectl() { "$DRILL_HOME/path/kubectl" --kubeconfig "$DRILL_KUBECONFIG" -n "$ns" "$@"; }
label_for() {
  case "$1" in
    crashloop|oomkilled|imagepull|notready) echo "drill.incident-response.io/fault=$1" ;;
    usage-high) echo "drill.incident-response.io/usage=high" ;;
    *) echo "unknown fault '$1' (crashloop, oomkilled, imagepull, notready, usage-high)" >&2; exit 2 ;;
  esac
}
kind_of() {
  if kubectl get deployment "$1" >/dev/null 2>&1; then echo deployment
  elif kubectl get statefulset "$1" >/dev/null 2>&1; then echo statefulset
  else echo "no Deployment or StatefulSet '$1' in namespace $ns" >&2; exit 2; fi
}
case "${1:-}" in
  pod)
    label=$(label_for "$3"); kind_of "$2" >/dev/null
    pod=$(kubectl get pods -l "app.kubernetes.io/name=$2" --field-selector=status.phase=Running \
      -o jsonpath='{.items[0].metadata.name}')
    [ -n "$pod" ] || { echo "no running pod of $2" >&2; exit 1; }
    kubectl label pod "$pod" "$label" --overwrite
    # Return once the pod shows the fault, as the kubelet would report it.
    if [ "$3" != usage-high ]; then
      kubectl wait pod "$pod" --for=condition=Ready=false --timeout=90s >/dev/null
    fi
    ;;
  template)
    label=$(label_for "$3"); kind=$(kind_of "$2")
    key=${label%%=*}; value=${label#*=}
    kubectl patch "$kind" "$2" --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$key\":\"$value\"}}}}}"
    ;;
  load)
    kind=$(kind_of "$2")
    kubectl annotate "$kind" "$2" "drill.incident-response.io/load-replicas=$3" --overwrite
    ;;
  clear)
    targets=${2:-$(kubectl get deployments,statefulsets -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}')}
    for w in $targets; do
      kind=$(kind_of "$w")
      kubectl annotate "$kind" "$w" drill.incident-response.io/load-replicas- >/dev/null 2>&1 || true
      kubectl patch "$kind" "$w" --type=json -p '[{"op":"remove","path":"/spec/template/metadata/labels/drill.incident-response.io~1fault"}]' >/dev/null 2>&1 || true
      kubectl patch "$kind" "$w" --type=json -p '[{"op":"remove","path":"/spec/template/metadata/labels/drill.incident-response.io~1usage"}]' >/dev/null 2>&1 || true
    done
    kubectl delete pods -l 'drill.incident-response.io/fault' --wait=false >/dev/null
    kubectl label pods -l 'drill.incident-response.io/usage' drill.incident-response.io/usage- >/dev/null
    ;;
  reset)
    "$0" clear
    kubectl annotate deployments,statefulsets --all incident-response.ai-orchestrator.io/remediation-history- >/dev/null
    "$DRILL_HOME/path/kubectl" --kubeconfig "$DRILL_KUBECONFIG" apply -f "$here/fixture/30-deployments.yaml" -f "$here/fixture/40-statefulsets.yaml" >/dev/null
    kubectl delete pods --field-selector=status.phase=Pending --wait=false >/dev/null
    for w in $(kubectl get deployments,statefulsets -o name); do
      kubectl rollout status "$w" --timeout=120s >/dev/null
    done
    kubectl wait pods --all --for=condition=Ready --timeout=120s >/dev/null
    ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
