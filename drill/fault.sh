#!/usr/bin/env bash
# Put drill faults on the drill cluster. A fault is a label that the drill's kwok stages
# (drill/kwok/) turn into what a kubelet reports: drill.incident-response.io/fault=FAULT
# on a pod (transient: deleting the pod heals it) or in a workload's pod template
# (persistent: new pods fail too), drill.incident-response.io/usage=high for CPU and
# memory at the limit. This script is the one place that writes them; the tests'
# helpers (tests/integration/drill.py) call it.
#   drill/fault.sh pod WORKLOAD FAULT [CONTAINER]  transient: one running pod of WORKLOAD fails; returns
#                                            once the pod is no longer Ready (usage-high: at once)
#   drill/fault.sh label POD FAULT [CONTAINER]  transient, on the named pod; returns at once
#   drill/fault.sh unlabel POD [FAULT]       take FAULT's label off the named pod (default: the fault label)
#   drill/fault.sh template WORKLOAD FAULT [CONTAINER]  persistent: every pod of WORKLOAD fails, new ones too
#   drill/fault.sh untemplate WORKLOAD [FAULT]  take FAULT's label out of the pod template (default: the
#                                            fault label); a new rollout replaces the pods, and a
#                                            StatefulSet's faulty pods are deleted (forced rollback)
#   drill/fault.sh load WORKLOAD N           load that needs N replicas (usage high until scaled to N)
#   drill/fault.sh clear [WORKLOAD]          remove faults and load; faulty pods are replaced
#   drill/fault.sh reset                     clear, put the fixture's workloads back as shipped, forget
#                                            remediation history, wait until everything is ready
#   drill/fault.sh node NODE notready|ready  NODE's kubelet stops (starts again) renewing its Lease: the
#                                            node lifecycle controller marks the node Unknown, taints it
#                                            node.kubernetes.io/unreachable and its pods Ready=False
#                                            (30-45 s); returns once the node shows it
#   drill/fault.sh place WORKLOAD NODE       run WORKLOAD's pods on NODE (e.g. the reserved aio-worker-5,
#                                            whose taint it then tolerates); returns after the rollout
#   drill/fault.sh quota WORKLOAD            a ResourceQuota one pod below the namespace's pod count, and
#                                            one pod of WORKLOAD deleted: its controller cannot create the
#                                            replacement (Warning FailedCreate "exceeded quota")
#   drill/fault.sh unquota                   delete the quota; the controllers create the missing pods
#   drill/fault.sh cache corrupt             the gateway's critical cache keys hold garbage: config:engines a
#                                            string instead of a hash, config:feature_flags JSON that does
#                                            not parse (runbook "Cache Recovery": a corrupted cache)
#   drill/fault.sh cache cold                the critical keys are gone (a cold cache after a restart)
#   drill/fault.sh cache warm                the gateway's warm-up endpoint writes them back (no fault)
#                                            While a critical key is missing (checked at most every
#                                            second), the gateway's cache-backed GET /api/v1/workflows
#                                            takes 2.5 s ("cache miss: loaded from the database")
#   drill/fault.sh release WORKLOAD errors|slow [FRACTION]  a bad release: a rollout of Deployment
#                                            WORKLOAD to a new image tag (<tag>-drill.<revision>) whose pod
#                                            template carries drill.incident-response.io/http-fault=errors|slow
#                                            (and http-fault-fraction=FRACTION, default 0.3); returns when the
#                                            rollout completed (pods Ready: Kubernetes sees it healthy). For a
#                                            Deployment annotated drill.incident-response.io/serves=<stand-in>
#                                            (api-gateway serves gateway) the load controller's pod link makes
#                                            FRACTION of the stand-in's API requests answer 500 (errors) or
#                                            take 3 s (slow), scaled by the share of ready pods of the release;
#                                            the gateway logs each 500 (`kubectl logs` of api-gateway pods).
#                                            `kubectl rollout undo` (workload_remediation rollback) heals it
#   drill/fault.sh db slow-query|fast        the gateway's GET /api/v1/workflows/{id}/executions runs an
#                                            expensive statement (a recount CTE with pg_sleep(2.5) on the
#                                            executions table): api-gateway p95 over 2 s, pg_stat_statements
#                                            mean_exec_time about 2500 ms; `fast` puts the cheap one back
#                                            (the drill's undo: the collection only reports a slow query)
# Other causes of High Error Rate / High Response Time on api-gateway, without this script:
#   PostgreSQL down (drill/dataplane.sh down stops it; the drill test stops only PostgreSQL, see
#   tests/integration/test_drill_causes.py): the gateway's DB routes answer 503 "database unavailable";
#   `load api-gateway N` (usage=high on its pods): 3 s on their share of the gateway's requests until
#   scaled to N; a rotated engine key (PUT /keys/<engine> on the control port): POST
#   /api/v1/workflows/{id}/executions on that engine's workflows answers 502.
#   drill/fault.sh reset-workloads           nodes back, quota gone, drill-workloads as shipped
#                                            (drill/fixture-workloads), waits until everything is ready
# FAULT: crashloop | oomkilled | imagepull | notready | usage-high
#        | init-crashloop | init-error | init-imagepull (the first regular init container, or CONTAINER)
# CONTAINER: only that container fails (label drill.incident-response.io/fault-container); the pod's
#        other containers keep running and ready. A regular container or a native sidecar for
#        crashloop, oomkilled, notready; any container for imagepull; an init container for init-*.
# WORKLOAD: the name of a Deployment or StatefulSet, or deployment/NAME, statefulset/NAME
# Namespace: $DRILL_NAMESPACE (default ai-orchestrator); reset-workloads: drill-workloads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=drill.env
source "$here/drill.env"
ns=${DRILL_NAMESPACE:-ai-orchestrator}
fault_key=drill.incident-response.io/fault
http_fault_key=drill.incident-response.io/http-fault
fraction_key=drill.incident-response.io/http-fault-fraction
usage_key=drill.incident-response.io/usage
container_key=drill.incident-response.io/fault-container
reserved_key=drill.incident-response.io/reserved
workloads_ns=drill-workloads
kubectl() { "$DRILL_HOME/path/kubectl" --kubeconfig "$DRILL_KUBECONFIG" -n "$ns" "$@"; }
kubectl_c() { "$DRILL_HOME/path/kubectl" --kubeconfig "$DRILL_KUBECONFIG" "$@"; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }

label_for() {
  case "$1" in
    crashloop|oomkilled|imagepull|notready|init-crashloop|init-error|init-imagepull) echo "$fault_key=$1" ;;
    usage-high) echo "$usage_key=high" ;;
    *) echo "unknown fault '$1' (crashloop, oomkilled, imagepull, notready, usage-high, init-crashloop, init-error, init-imagepull)" >&2; exit 2 ;;
  esac
}
# check_container FAULT CONTAINER KIND NAME [PATH]: CONTAINER fits FAULT in the pod spec of
# KIND/NAME at PATH (.spec.template.spec, or .spec for a pod); no CONTAINER: an init fault
# needs a regular init container.
check_container() {
  local fault=$1 c=$2 spec=${5:-.spec.template.spec} regular inits sidecars name kind
  names() { kubectl get "$2" "$3" -o jsonpath="{range $spec.$1}{.name}{\" \"}{end}"; }
  regular=" $(names 'containers[*]' "$3" "$4") "
  inits=" $(names 'initContainers[*]' "$3" "$4") "
  sidecars=" $(names 'initContainers[?(@.restartPolicy=="Always")]' "$3" "$4") "
  if [ -z "$c" ]; then
    case "$fault" in init-*) ;; *) return 0 ;; esac
    for name in $inits; do
      case "$sidecars" in *" $name "*) ;; *) return 0 ;; esac
    done
    echo "$3/$4 has no regular init container for $fault" >&2; exit 2
  fi
  case "$regular|$sidecars|$inits" in
    *" $c "*"|"*"|"*) kind=container ;;
    *"|"*" $c "*"|"*) kind=sidecar ;;
    *"|"*"|"*" $c "*) kind=init ;;
    *) echo "no container '$c' in $3/$4 (containers:$regular init containers:$inits)" >&2; exit 2 ;;
  esac
  case "$fault:$kind" in
    usage-high:*) echo "usage-high is not container-scoped" >&2; exit 2 ;;
    init-*:container) echo "'$c' is not an init container of $3/$4" >&2; exit 2 ;;
    crashloop:init|oomkilled:init|notready:init)
      echo "'$c' is a regular init container of $3/$4: use init-crashloop, init-error or init-imagepull" >&2; exit 2 ;;
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
# Remove one label from a workload's pod template (no change when it is absent); the fault
# label goes with its fault-container label.
drop_template_label() {
  local extra=
  [ "$3" != "$fault_key" ] || extra=",\"$container_key\":null"
  kubectl patch "$1" "$2" --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$3\":null$extra}}}}}"
}
# The fault-container label of a pod, if any.
pod_container_label() {
  kubectl get pod "$1" -o go-template="{{ index .metadata.labels \"$container_key\" }}" 2>/dev/null | sed 's/<no value>//'
}
# label_pod POD FAULT [CONTAINER]: put FAULT on POD, limited to CONTAINER or to none.
label_pod() {
  local labels
  label=$(label_for "$2")
  [ -z "${3:-}" ] || check_container "$2" "$3" pod "$1" .spec
  labels=$label
  if [ -n "${3:-}" ]; then labels="$label $container_key=$3"
  elif [ "${label%%=*}" = "$fault_key" ] && [ -n "$(pod_container_label "$1")" ]; then labels="$label $container_key-"; fi
  # shellcheck disable=SC2086 # one word per label
  kubectl label pod "$1" $labels --overwrite
}
# Every Deployment and StatefulSet observed, with exactly its replicas, all updated and
# ready; every DaemonSet pod updated and ready; every pod but the Job's Ready and none
# being deleted (one kubectl call per kind).
workloads_settled() {
  kubectl get deployments,statefulsets --no-headers -o custom-columns='G:.metadata.generation,O:.status.observedGeneration,R:.spec.replicas,C:.status.replicas,A:.status.readyReplicas,U:.status.updatedReplicas' |
    awk '{ for (i = 1; i <= 6; i++) if ($i == "<none>") $i = 0 } $2 < $1 || $3 != $4 || $3 != $5 || $3 != $6 { bad = 1 } END { exit bad }' &&
    kubectl get daemonsets --no-headers -o custom-columns='G:.metadata.generation,O:.status.observedGeneration,D:.status.desiredNumberScheduled,A:.status.numberReady,U:.status.updatedNumberScheduled,N:.status.numberAvailable' |
    awk '{ for (i = 1; i <= 6; i++) if ($i == "<none>") $i = 0 } $2 < $1 || $3 != $4 || $3 != $5 || $3 != $6 { bad = 1 } END { exit bad }' &&
    kubectl get pods -l '!batch.kubernetes.io/job-name' --no-headers \
      -o custom-columns='R:.status.conditions[?(@.type=="Ready")].status,D:.metadata.deletionTimestamp' |
    awk '$1 != "True" || $2 != "<none>" { bad = 1 } END { exit bad }'
}
lease_annotation=drill.incident-response.io/node-fault
# Heal NODE: give its Lease back to kwok (deleting it: kwok creates and renews a new one).
node_ready() {
  if [ -z "$(kubectl_c -n kube-node-lease get lease "$1" -o jsonpath="{.metadata.annotations.${lease_annotation//./\\.}}" 2>/dev/null)" ]; then
    echo "node/$1 has no drill node fault"
    return 0
  fi
  kubectl_c -n kube-node-lease delete lease "$1" >/dev/null
  kubectl_c wait node "$1" --for=condition=Ready=true --timeout=60s >/dev/null
  echo "node/$1 heartbeat resumed: Ready"
}
# ReplicaSets and StatefulSets short of pods get an update, so that their controllers sync
# now instead of after their back-off (minutes once creating a pod has failed a few times).
nudge_controllers() {
  local obj
  for obj in $(kubectl get replicasets,statefulsets -o go-template='{{ range .items }}{{ if lt (or .status.replicas 0) .spec.replicas }}{{ .kind }}/{{ .metadata.name }}{{ "\n" }}{{ end }}{{ end }}'); do
    kubectl annotate "$obj" drill.incident-response.io/nudge="$(date +%s)" --overwrite >/dev/null
    kubectl annotate "$obj" drill.incident-response.io/nudge- >/dev/null
  done
}

[ $# -ge 1 ] || usage
case "$1" in
  pod)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    label=$(label_for "$3"); resolve "$2"
    check_container "$3" "${4:-}" "$kind" "$name"
    pod=$(kubectl get pods -l "app.kubernetes.io/name=$name" --field-selector=status.phase=Running \
      -o jsonpath='{.items[0].metadata.name}')
    [ -n "$pod" ] || { echo "no running pod of $name" >&2; exit 1; }
    label_pod "$pod" "$3" "${4:-}"
    # Return once the pod shows the fault, as the kubelet would report it.
    if [ "$3" != usage-high ]; then
      kubectl wait pod "$pod" --for=condition=Ready=false --timeout=90s >/dev/null
    fi
    ;;
  label)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    label_pod "$2" "$3" "${4:-}"
    ;;
  unlabel)
    [ $# -eq 2 ] || [ $# -eq 3 ] || usage
    set_key "${3:-}"
    if [ "$key" = "$fault_key" ] && [ -n "$(pod_container_label "$2")" ]; then
      kubectl label pod "$2" "$key-" "$container_key-"
    else
      kubectl label pod "$2" "$key-"
    fi
    ;;
  template)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    label=$(label_for "$3"); resolve "$2"
    check_container "$3" "${4:-}" "$kind" "$name"
    key=${label%%=*}; value=${label#*=}
    extra=
    if [ -n "${4:-}" ]; then extra=",\"$container_key\":\"$4\""
    elif [ "$key" = "$fault_key" ]; then extra=",\"$container_key\":null"; fi
    kubectl patch "$kind" "$name" --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$key\":\"$value\"$extra}}}}}"
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
      kubectl patch "$kind" "$name" --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$http_fault_key\":null},\"annotations\":{\"$fraction_key\":null}}}}}" >/dev/null 2>&1 || true
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
  node)
    [ $# -eq 3 ] || usage
    kubectl_c get node "$2" >/dev/null
    case "$3" in
      notready)
        # A kubelet that stops: its Lease in kube-node-lease is no longer renewed. The Lease
        # is taken over in the kubelet's name (holder NODE, as a real kubelet's reads) with a
        # duration kwok will not outwait, so kwok leaves the node and its pods alone; the
        # node lifecycle controller does the rest after its grace period.
        kubectl_c -n kube-node-lease patch lease "$2" --type=merge -p \
          "{\"metadata\":{\"annotations\":{\"$lease_annotation\":\"notready\"}},\"spec\":{\"holderIdentity\":\"$2\",\"leaseDurationSeconds\":86400}}" >/dev/null
        t0=$(date +%s)
        kubectl_c wait node "$2" --for=condition=Ready=Unknown --timeout=90s >/dev/null
        echo "node/$2 heartbeat stopped: Ready Unknown after $(($(date +%s) - t0))s"
        ;;
      ready) node_ready "$2" ;;
      *) usage ;;
    esac
    ;;
  place)
    [ $# -eq 3 ] || usage
    resolve "$2"
    kubectl_c get node "$3" >/dev/null
    kubectl patch "$kind" "$name" -p "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"$3\"},\"tolerations\":[{\"key\":\"$reserved_key\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]}}}}"
    kubectl rollout status "$kind/$name" --timeout=120s >/dev/null
    ;;
  quota)
    [ $# -eq 2 ] || usage
    resolve "$2"
    pod=$(kubectl get pods -l "app.kubernetes.io/name=$name" --field-selector=status.phase=Running \
      -o jsonpath='{.items[0].metadata.name}')
    [ -n "$pod" ] || { echo "no running pod of $name" >&2; exit 1; }
    owner=$(kubectl get pod "$pod" -o jsonpath='{.metadata.ownerReferences[0].name}')
    used=$(kubectl get pods --field-selector=status.phase!=Succeeded,status.phase!=Failed -o name | wc -l)
    printf '%s\n' "apiVersion: v1" "kind: ResourceQuota" "metadata:" "  name: pod-quota" \
      "  labels: {$fault_key: quota}" "spec:" "  hard: {pods: \"$((used - 1))\"}" | kubectl apply -f -
    # Admission needs the quota's usage, which the quota controller computes first.
    for _ in $(seq 60); do
      [ -z "$(kubectl get resourcequota pod-quota -o jsonpath='{.status.used.pods}')" ] || break
      sleep 0.5
    done
    failed_creates() {
      kubectl get events --field-selector "involvedObject.name=$owner,reason=FailedCreate" \
        -o jsonpath='{range .items[*]}{.count}{"\n"}{end}' | awk '{ n += $1 } END { print n + 0 }'
    }
    before=$(failed_creates)
    kubectl delete pod "$pod" --wait=false
    for _ in $(seq 60); do
      [ "$(failed_creates)" -le "$before" ] || break
      sleep 0.5
    done
    [ "$(failed_creates)" -gt "$before" ] || { echo "no FailedCreate event for $owner" >&2; exit 1; }
    ;;
  unquota)
    [ $# -eq 1 ] || usage
    kubectl delete resourcequota -l "$fault_key=quota"
    nudge_controllers
    ;;
  reset-workloads)
    [ $# -eq 1 ] || usage
    ns=$workloads_ns
    for node in $(kubectl_c -n kube-node-lease get leases -o jsonpath="{range .items[?(@.metadata.annotations.${lease_annotation//./\\.})]}{.metadata.name}{\" \"}{end}"); do
      node_ready "$node" >/dev/null
    done
    kubectl delete resourcequota -l "$fault_key=quota" >/dev/null
    # Faulty pods go first: the bare Pod debug-shell is then created again with the rest.
    kubectl delete pods -l "$fault_key" --timeout=60s >/dev/null
    # What is missing is created; the workloads and their policies are replaced, which puts
    # them back exactly as shipped (apply would keep what others added: a node selector, a
    # restart annotation, an image, a replica count) and is faster than apply.
    kubectl_c create --save-config -f "$here/fixture-workloads/" >/dev/null 2>&1 || true
    kubectl_c replace --save-config -f "$here/fixture-workloads/30-deployments.yaml" \
      -f "$here/fixture-workloads/40-statefulsets.yaml" -f "$here/fixture-workloads/45-daemonsets.yaml" \
      -f "$here/fixture-workloads/50-policies.yaml" >/dev/null
    kubectl label pods -l "$usage_key" "$usage_key-" >/dev/null
    kubectl delete pods --field-selector=status.phase=Pending --wait=false >/dev/null
    nudge_controllers
    for _ in $(seq 240); do
      ! workloads_settled || break
      sleep 0.5
    done
    workloads_settled || { echo "drill-workloads not back within 120s: kubectl -n $ns get pods" >&2; exit 1; }
    kubectl wait job --all --for=condition=Complete --timeout=60s >/dev/null
    ;;
  release)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    case "$3" in errors|slow) ;; *) echo "release: errors or slow, not '$3'" >&2; exit 2 ;; esac
    fraction=${4:-0.3}
    awk -v f="$fraction" 'BEGIN { exit !(f ~ /^[0-9]*\.?[0-9]+$/ && f + 0 > 0 && f + 0 <= 1) }' ||
      { echo "release: FRACTION must be a number in (0, 1], not '$fraction'" >&2; exit 2; }
    resolve "$2"
    [ "$kind" = deployment ] || { echo "release: $2 is a $kind, a release rolls out a Deployment" >&2; exit 2; }
    container=$(kubectl get deployment "$name" -o jsonpath='{.spec.template.spec.containers[0].name}')
    image=$(kubectl get deployment "$name" -o jsonpath='{.spec.template.spec.containers[0].image}')
    revision=$(kubectl get deployment "$name" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')
    new_image="${image%-drill.*}-drill.$((${revision:-0} + 1))"
    kubectl patch deployment "$name" -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"$http_fault_key\":\"$3\"},\"annotations\":{\"$fraction_key\":\"$fraction\"}},\"spec\":{\"containers\":[{\"name\":\"$container\",\"image\":\"$new_image\"}]}}}}" >/dev/null
    kubectl rollout status deployment/"$name" --timeout=120s >/dev/null
    echo "deployment/$name released $new_image ($3, fraction $fraction)"
    ;;
  db)
    [ $# -eq 2 ] || usage
    case "$2" in slow-query) slow=true ;; fast) slow=false ;; *) usage ;; esac
    curl -fsS -X PUT -H 'Content-Type: application/json' -d "{\"slow_query\": $slow}" \
      "http://127.0.0.1:$DRILL_DRILLCTL_PORT/db" >/dev/null
    ;;
  cache)
    [ $# -eq 2 ] || usage
    redis() { REDISCLI_AUTH=$(cat "$DRILL_RUN/secrets/redis_password") redis-cli --no-auth-warning \
      -h 127.0.0.1 -p "$DRILL_REDIS_PORT" "$@" >/dev/null; }
    case "$2" in
      corrupt)
        redis del config:engines
        redis set config:engines 'engines: langflow n8n'
        redis set config:feature_flags '{"async_executions": tru'
        ;;
      cold) redis del config:engines config:rate_limits config:feature_flags workflows:active cache:warmed_at ;;
      warm) curl -fsS -X POST "http://127.0.0.1:$DRILL_GATEWAY_PORT/admin/cache/warmup" >/dev/null ;;
      *) usage ;;
    esac
    ;;
  *) usage ;;
esac
