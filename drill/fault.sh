#!/usr/bin/env bash
# Put drill faults on the drill cluster. A fault is a label that the drill's kwok stages
# (drill/kwok/) turn into what a kubelet reports: drill.incident-response.io/fault=FAULT
# on a pod (transient: deleting the pod heals it) or in a workload's pod template
# (persistent: new pods fail too), drill.incident-response.io/usage=high for CPU and
# memory at the limit. This script is the one place that writes them; the tests'
# helpers (tests/integration/drill.py) call it.
#   drill/fault.sh pod WORKLOAD FAULT        transient: one running pod of WORKLOAD fails; returns once
#                                            the pod is no longer Ready (usage-high: at once)
#   drill/fault.sh label POD FAULT           transient, on the named pod; returns at once
#   drill/fault.sh unlabel POD [FAULT]       take FAULT's label off the named pod (default: the fault label)
#   drill/fault.sh template WORKLOAD FAULT   persistent: every pod of WORKLOAD fails, new ones too
#   drill/fault.sh untemplate WORKLOAD [FAULT]  take FAULT's label out of the pod template (default: the
#                                            fault label); a new rollout replaces the pods, and a
#                                            StatefulSet's faulty pods are deleted (forced rollback)
#   drill/fault.sh load WORKLOAD N           load that needs N replicas (usage high until scaled to N)
#   drill/fault.sh clear [WORKLOAD]          remove faults and load; faulty pods are replaced
#   drill/fault.sh reset                     clear, put the fixture's workloads back as shipped, forget
#                                            remediation history, wait until everything is ready
# FAULT: crashloop | oomkilled | imagepull | notready | usage-high
# WORKLOAD: the name of a Deployment or StatefulSet, or deployment/NAME, statefulset/NAME
# Namespace: $DRILL_NAMESPACE (default ai-orchestrator).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=drill.env
source "$here/drill.env"
ns=${DRILL_NAMESPACE:-ai-orchestrator}
fault_key=drill.incident-response.io/fault
usage_key=drill.incident-response.io/usage
kubectl() { "$DRILL_HOME/path/kubectl" --kubeconfig "$DRILL_KUBECONFIG" -n "$ns" "$@"; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }

label_for() {
  case "$1" in
    crashloop|oomkilled|imagepull|notready) echo "$fault_key=$1" ;;
    usage-high) echo "$usage_key=high" ;;
    *) echo "unknown fault '$1' (crashloop, oomkilled, imagepull, notready, usage-high)" >&2; exit 2 ;;
  esac
}
# set_key [FAULT]: key = the label key FAULT sets; no FAULT: the fault label.
set_key() {
  if [ -n "${1:-}" ]; then label=$(label_for "$1"); key=${label%%=*}; else key=$fault_key; fi
}
# resolve WORKLOAD: kind and name; KIND/NAME is taken as given, a bare NAME is looked up.
resolve() {
  case "$1" in
    deployment/*|statefulset/*) kind=${1%%/*}; name=${1#*/} ;;
    */*) echo "unknown workload kind '${1%%/*}' (deployment, statefulset)" >&2; exit 2 ;;
    *)
      name=$1
      if kubectl get deployment "$1" >/dev/null 2>&1; then kind=deployment
      elif kubectl get statefulset "$1" >/dev/null 2>&1; then kind=statefulset
      else echo "no Deployment or StatefulSet '$1' in namespace $ns" >&2; exit 2; fi ;;
  esac
}
# Remove one label from a workload's pod template (no change when it is absent).
drop_template_label() {
  kubectl patch "$1" "$2" --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$3\":null}}}}}"
}

[ $# -ge 1 ] || usage
case "$1" in
  pod)
    [ $# -eq 3 ] || usage
    label=$(label_for "$3"); resolve "$2"
    pod=$(kubectl get pods -l "app.kubernetes.io/name=$name" --field-selector=status.phase=Running \
      -o jsonpath='{.items[0].metadata.name}')
    [ -n "$pod" ] || { echo "no running pod of $name" >&2; exit 1; }
    kubectl label pod "$pod" "$label" --overwrite
    # Return once the pod shows the fault, as the kubelet would report it.
    if [ "$3" != usage-high ]; then
      kubectl wait pod "$pod" --for=condition=Ready=false --timeout=90s >/dev/null
    fi
    ;;
  label)
    [ $# -eq 3 ] || usage
    label=$(label_for "$3")
    kubectl label pod "$2" "$label" --overwrite
    ;;
  unlabel)
    [ $# -eq 2 ] || [ $# -eq 3 ] || usage
    set_key "${3:-}"
    kubectl label pod "$2" "$key-"
    ;;
  template)
    [ $# -eq 3 ] || usage
    label=$(label_for "$3"); resolve "$2"
    key=${label%%=*}; value=${label#*=}
    kubectl patch "$kind" "$name" --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$key\":\"$value\"}}}}}"
    ;;
  untemplate)
    [ $# -eq 2 ] || [ $# -eq 3 ] || usage
    set_key "${3:-}"; resolve "$2"
    drop_template_label "$kind" "$name" "$key"
    # A StatefulSet does not replace a pod that never became Ready after a bad template
    # is reverted ("forced rollback" in the Kubernetes docs): delete the faulty ones.
    if [ "$kind" = statefulset ] && [ "$key" = "$fault_key" ]; then
      kubectl delete pods -l "app.kubernetes.io/name=$name,$fault_key" --grace-period=0 --force --wait=false
    fi
    ;;
  load)
    [ $# -eq 3 ] || usage
    resolve "$2"
    kubectl annotate "$kind" "$name" "drill.incident-response.io/load-replicas=$3" --overwrite
    ;;
  clear)
    targets=${2:-$(kubectl get deployments,statefulsets -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}')}
    for w in $targets; do
      resolve "$w"
      kubectl annotate "$kind" "$name" drill.incident-response.io/load-replicas- >/dev/null 2>&1 || true
      drop_template_label "$kind" "$name" "$fault_key" >/dev/null 2>&1 || true
      drop_template_label "$kind" "$name" "$usage_key" >/dev/null 2>&1 || true
    done
    kubectl delete pods -l "$fault_key" --wait=false >/dev/null
    kubectl label pods -l "$usage_key" "$usage_key-" >/dev/null
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
  *) usage ;;
esac
