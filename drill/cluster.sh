#!/usr/bin/env bash
# The drill cluster: a real control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) and metrics-server, with kwok playing the kubelets of fake nodes,
# started by kwokctl with the binary runtime from the binaries drill/build.sh built.
#
#   drill/cluster.sh up          create (or restart) the cluster, apply drill/fixture (namespace
#                                ai-orchestrator) and drill/fixture-workloads (namespace
#                                drill-workloads), wait until every workload is Ready; a no-op
#                                when the cluster is healthy (injected drill faults stay as they
#                                are), except that it recreates a cluster made from other
#                                drill/kwok settings (kwok reads its stages only at start)
#   drill/cluster.sh down        stop and delete it (idempotent, leaves no process)
#   drill/cluster.sh status      exit 0 only when the API server answers
#   drill/cluster.sh kubeconfig  print the path of the admin kubeconfig
#
# Settings come from drill/versions.env and drill/drill.env. Afterwards:
#   export KUBECONFIG=$(drill/cluster.sh kubeconfig) PATH=$DRILL_HOME/path:$PATH
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=drill/versions.env
source "$here/versions.env"
# shellcheck source=drill/drill.env
source "$here/drill.env"

bin=$DRILL_CACHE/bin
kube_bin=$bin/kubernetes-$KUBE_VERSION
etcd_bin=$bin/etcd-$ETCD_VERSION/etcd
kwok_bin=$bin/kwok-$KWOK_VERSION
ms_bin=$bin/metrics-server-$METRICS_SERVER_VERSION/metrics-server
kubectl_bin=$kube_bin/kubectl
kwokctl=$kwok_bin/kwokctl
name=$DRILL_CLUSTER_NAME
# kwokctl keeps clusters, component logs and its cache here; the rendered kwok config
# (drill/kwok/*.yaml with paths filled in) and the files kwok serves for `kubectl logs`
# live in $run.
export KWOK_WORKDIR=$DRILL_HOME/kwok
cluster_dir=$KWOK_WORKDIR/clusters/$name
run=$DRILL_RUN/cluster-$name
path_dir=$DRILL_HOME/path
namespace=ai-orchestrator
workloads_ns=drill-workloads
wait_timeout=${DRILL_WAIT_TIMEOUT:-180}
# Node heartbeats as a kubelet and kube-controller-manager do by default (node lease 40 s,
# renewed every 10 s; node-monitor-grace-period 40 s, node-monitor-period 5 s): a node
# whose heartbeat stops (drill/fault.sh node NODE notready) turns NotReady/Unknown within
# 30-45 s. kwokctl's default factor 5 (lease and grace period 200 s) suits thousands of
# nodes, not a drill.
heartbeat_factor=1
# kwokctl's --config files: drill/kwok/*.yaml but the kwok objects drill/cluster.sh applies
# through the API at every `up` (portforward.yaml).
kwok_config_files() {
  local f
  for f in "$here"/kwok/*.yaml; do
    [ "$(basename "$f")" = portforward.yaml ] || printf '%s\n' "$f"
  done
}

# What the cluster is made from: a change in kwokctl's --config files or in these settings
# makes `up` recreate the cluster (checked against $run/config.sha256, written at creation).
# `config_sum before-port-forward`: the sum a cluster made before kwok's ClusterPortForward
# objects were enabled (the enableCRDs line in kwokctl.yaml) has, see upgrade_port_forward.
config_sum() {
  local f
  {
    while IFS= read -r f; do
      if [ "${1:-}" = before-port-forward ] && [ "$(basename "$f")" = kwokctl.yaml ]; then
        grep -v '^  - ClusterPortForward' "$f"
      else
        cat "$f"
      fi
    done < <(kwok_config_files)
    echo "heartbeat-factor=$heartbeat_factor $KUBE_VERSION $KWOK_VERSION $ETCD_VERSION $METRICS_SERVER_VERSION"
  } | sha256sum | cut -d' ' -f1
}

log() { printf '[drill-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
kc() { "$kubectl_bin" --kubeconfig "$DRILL_KUBECONFIG" "$@"; }

check_binaries() {
  local b missing=()
  for b in "$kube_bin/kube-apiserver" "$kube_bin/kube-controller-manager" \
    "$kube_bin/kube-scheduler" "$kubectl_bin" "$etcd_bin" "$kwok_bin/kwok" "$kwokctl" "$ms_bin"; do
    [ -x "$b" ] || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing binaries: ${missing[*]}; run drill/build.sh"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

api_ready() {
  [ -s "$DRILL_KUBECONFIG" ] && [ -x "$kubectl_bin" ] &&
    kc --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

# Processes of this cluster: every component runs with its working directory and
# arguments inside the cluster's folder.
cluster_pids() {
  local pid
  for pid in $(ps -eo pid=); do
    [ "$pid" = "$$" ] && continue
    if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$cluster_dir/"; then
      echo "$pid"
    fi
  done
}

# The kustomize base in metrics-server's own Go module: kwokctl turns it into the
# APIService, RBAC and Service of the aggregated metrics API without fetching anything.
metrics_server_manifests() {
  local dir
  dir=$(cd /tmp && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json \
    "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir/manifests/base" ] || die "metrics-server $METRICS_SERVER_VERSION module source not found (go mod download)"
  echo "$dir/manifests/base"
}

render_config() {
  local manifests f
  manifests=$(metrics_server_manifests)
  rm -rf "$run/config" && mkdir -p "$run/config" "$run/logs"
  for f in $(kwok_config_files); do
    sed -e "s#@DRILL_KWOK_LOGS@#$run/logs#g" \
      -e "s#@DRILL_PODBIN@#$here/podbin#g" \
      -e "s#@HOST_PATH@#$PATH#g" \
      -e "s#@METRICS_SERVER_MANIFESTS@#$manifests#g" \
      "$f" >"$run/config/$(basename "$f")"
  done
}

# Write one log file in the CRI format kwok serves ("<RFC3339Nano> <stream> F <text>"),
# lines 137 ms apart starting at epoch $2. A line starting with "E " goes to stderr;
# @TS@ and @RTS@ in the text become the line's time (ISO and Redis formats).
cri_log() {
  local file=$1 start=$2 n=0 line stream sec ms iso
  local TZ=UTC
  export TZ
  : >"$file"
  while IFS= read -r line; do
    stream=stdout
    case $line in "E "*) stream=stderr line=${line#E } ;; esac
    sec=$((start + n * 137 / 1000)) ms=$((n * 137 % 1000))
    printf -v iso '%(%Y-%m-%dT%H:%M:%S)T' "$sec"
    line=${line//@TS@/$iso.$(printf '%03d' "$ms")Z}
    if [[ $line == *@RTS@* ]]; then
      line=${line//@RTS@/$(printf '%(%d %b %Y %H:%M:%S)T' "$sec").$(printf '%03d' "$ms")}
    fi
    printf '%s.%03d000000Z %s F %s\n' "$iso" "$ms" "$stream" "$line" >>"$file"
    n=$((n + 1))
  done
}

write_logs() {
  local d=$run/logs t
  t=$(($(date +%s) - 120))
  local api_lines='{"level":"info","ts":"@TS@","caller":"cmd/main.go:41","msg":"starting","service":"%s","version":"%s"}
{"level":"info","ts":"@TS@","caller":"config/load.go:63","msg":"configuration loaded","source":"env","log_level":"info"}
{"level":"info","ts":"@TS@","caller":"%s","msg":"%s"}
{"level":"info","ts":"@TS@","caller":"telemetry/otel.go:52","msg":"tracing enabled","exporter":"otlp","endpoint":"jaeger-collector.observability:4317"}
{"level":"info","ts":"@TS@","caller":"server/http.go:88","msg":"listening","addr":":%s"}
{"level":"info","ts":"@TS@","caller":"server/http.go:142","msg":"request","method":"GET","path":"/ready","status":200,"duration_ms":1}
{"level":"info","ts":"@TS@","caller":"server/http.go:142","msg":"request","method":"GET","path":"/health","status":200,"duration_ms":0}'
  # shellcheck disable=SC2059
  printf "$api_lines\n" api-gateway 2.4.1 proxy/routes.go:77 "routes registered (12 upstream routes, auth via auth-service:8081)" 8080 |
    cri_log "$d/api-gateway.log" "$t"
  # shellcheck disable=SC2059
  printf "$api_lines\n" auth-service 1.9.3 store/postgres.go:35 "connected to postgres (postgres:5432/orchestrator), token cache on redis:6379" 8081 |
    cri_log "$d/auth-service.log" "$t"
  local py_lines='INFO:     Started server process [1]
INFO:     Waiting for application startup.
@TS@ [info     ] configuration loaded           service=%s version=%s
@TS@ [info     ] database pool ready            host=postgres port=5432 database=orchestrator size=10
@TS@ [info     ] redis connected                host=redis port=6379 db=0
@TS@ [info     ] %s
INFO:     Application startup complete.
INFO:     Uvicorn running on http://0.0.0.0:%s (Press CTRL+C to quit)
INFO:     10.244.1.1:52114 - "GET /ready HTTP/1.1" 200 OK
INFO:     10.244.1.1:52130 - "GET /health HTTP/1.1" 200 OK'
  # shellcheck disable=SC2059
  printf "$py_lines\n" workflow-service 3.2.0 "engine adapters registered     engines=langflow,n8n,langsmith" 8082 |
    cri_log "$d/workflow-service.log" "$t"
  # shellcheck disable=SC2059
  printf "$py_lines\n" execution-service 3.2.0 "worker pool started            concurrency=20 queue=executions" 8083 |
    cri_log "$d/execution-service.log" "$t"
  cri_log "$d/langflow.log" "$t" <<'EOF'
Starting Langflow v1.1.1...
@TS@ - INFO     - main - Loading environment variables from .env file
@TS@ - INFO     - utils - Connecting to database postgresql://langflow@postgres:5432/langflow
@TS@ - INFO     - service - Running database migrations
@TS@ - INFO     - service - Database is up to date
@TS@ - INFO     - manager - Loaded 243 components
@TS@ - INFO     - main - Initializing services
INFO:     Started server process [1]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
INFO:     Uvicorn running on http://0.0.0.0:7860 (Press CTRL+C to quit)
INFO:     10.244.2.1:40112 - "GET /health HTTP/1.1" 200 OK
EOF
  cri_log "$d/n8n.log" "$t" <<'EOF'
Initializing n8n process
n8n ready on 0.0.0.0, port 5678
Migrations in progress, please do NOT stop the process.
Finished migration InitialMigration
Version: 1.72.1

Editor is now accessible via:
http://localhost:5678
EOF
  cri_log "$d/postgres.log" "$t" <<'EOF'
PostgreSQL Database directory appears to contain a database; Skipping initialization

@TS@ [1] LOG:  starting PostgreSQL 15.8 (Debian 15.8-1.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit
@TS@ [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432
@TS@ [1] LOG:  listening on IPv6 address "::", port 5432
@TS@ [1] LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"
@TS@ [29] LOG:  database system was shut down at 2025-01-01 00:00:00 UTC
@TS@ [1] LOG:  database system is ready to accept connections
EOF
  cri_log "$d/redis.log" "$t" <<'EOF'
1:C @RTS@ # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
1:C @RTS@ # Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=1, just started
1:C @RTS@ # Configuration loaded
1:M @RTS@ * monotonic clock: POSIX clock_gettime
1:M @RTS@ * Running mode=standalone, port=6379.
1:M @RTS@ # Server initialized
1:M @RTS@ * Reading RDB base file on AOF loading...
1:M @RTS@ * DB loaded from append only file: 0.004 seconds
1:M @RTS@ * Ready to accept connections
EOF
  cri_log "$d/generic.log" "$t" <<'EOF'
@TS@ INFO starting
@TS@ INFO ready
EOF
  local crash='INFO:     Started server process [1]
INFO:     Waiting for application startup.
@TS@ [info     ] configuration loaded           config=/etc/app/config.yaml
@TS@ [info     ] connecting to database         host=postgres port=5432 database=orchestrator
E ERROR:    Traceback (most recent call last):
E   File "/usr/local/lib/python3.11/site-packages/starlette/routing.py", line 732, in lifespan
E     async with self.lifespan_context(app) as maybe_state:
E   File "/usr/local/lib/python3.11/contextlib.py", line 210, in __aenter__
E     return await anext(self.gen)
E            ^^^^^^^^^^^^^^^^^^^^^
E   File "/app/src/main.py", line 48, in lifespan
E     await database.connect()
E   File "/app/src/db.py", line 27, in connect
E     self.pool = await asyncpg.create_pool(dsn=settings.database_url, min_size=2, max_size=10)
E                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
E   File "/usr/local/lib/python3.11/site-packages/asyncpg/pool.py", line 403, in _async__init__
E     await self._initialize()
E   File "/usr/local/lib/python3.11/site-packages/asyncpg/connect_utils.py", line 1049, in __connect_addr
E     await connected
E asyncpg.exceptions.InvalidPasswordError: password authentication failed for user "orchestrator"
E 
E ERROR:    Application startup failed. Exiting.'
  printf '%s\n' "$crash" | cri_log "$d/crashloop-previous.log" "$((t + 60))"
  printf '%s\n' "$crash" | cri_log "$d/crashloop.log" "$((t + 110))"
  local oom='INFO:     Started server process [1]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
INFO:     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)
@TS@ [info     ] execution started              execution_id=exe_7f3a9c workflow=nightly-embeddings nodes=42
@TS@ [info     ] loading dataset                rows=1250000 source=s3://orchestrator-data/embeddings/2025-01.parquet
@TS@ [info     ] materializing batch            batch=1/8 rss_mb=812
@TS@ [info     ] materializing batch            batch=2/8 rss_mb=1391
@TS@ [warning  ] memory usage high              rss_mb=1874 limit_mb=2048
@TS@ [info     ] materializing batch            batch=3/8 rss_mb=1967'
  printf '%s\n' "$oom" | cri_log "$d/oomkilled-previous.log" "$((t + 60))"
  printf '%s\n' "$oom" | cri_log "$d/oomkilled.log" "$((t + 110))"
  # An init container (drill-workloads' worker: database migration) that fails: the
  # init-crashloop and init-error faults.
  local migrate='@TS@ INFO  starting migrate v4.17.1 database=postgres://worker@db-0.db:5432/shop
@TS@ INFO  current version 41, 2 migrations to apply
@TS@ INFO  42/u add_order_index (1.204s)
@TS@ INFO  43/u backfill_order_totals: started
E @TS@ ERROR 43/u backfill_order_totals: migration failed: pq: column "total_cents" of relation "orders" does not exist in line 1: UPDATE orders SET total_cents = (amount * 100)::bigint WHERE total_cents IS NULL
E @TS@ ERROR database is dirty at version 43; fix the migration and force the version
E error: migration failed: Dirty database version 43. Fix and force version.'
  printf '%s\n' "$migrate" | cri_log "$d/init-crash-previous.log" "$((t + 60))"
  printf '%s\n' "$migrate" | cri_log "$d/init-crash.log" "$((t + 110))"
}

poll() { # seconds command...: until the command succeeds; 1 on timeout
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 1
  done
}

wait_for() { # seconds description command...
  local timeout=$1 what=$2
  shift 2
  poll "$timeout" "$@" || die "timed out after ${timeout}s waiting for $what"
}

nodes_ready() {
  local want have
  want=$(grep -c '^kind: Node$' "$here/fixture/00-nodes.yaml")
  have=$(kc get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')
  [ "$have" -ge "$want" ]
}

# Every Deployment and StatefulSet of the fixture has all its replicas updated and ready.
workloads_ready() {
  kc -n "$namespace" get deploy,statefulset -o \
    jsonpath='{range .items[*]}{.kind}/{.metadata.name} {.spec.replicas} {.status.readyReplicas} {.status.updatedReplicas}{"\n"}{end}' |
    awk 'NF < 4 || $2 != $3 || $2 != $4 { bad = 1 } END { exit (NR == 0 || bad) }'
}

# drill-workloads in one request, a line per Deployment, StatefulSet, DaemonSet, Job and
# unowned Pod: KIND WANTED READY UPDATED (pods, or completions for a Job).
workloads_fixture_lines() {
  # shellcheck disable=SC2016 # a Go template, not shell
  kc -n "$workloads_ns" get deployments,statefulsets,daemonsets,jobs,pods -o go-template='{{ range .items }}{{ $k := .kind }}
{{- if or (eq $k "Deployment") (eq $k "StatefulSet") }}{{ $k }} {{ or .spec.replicas 0 }} {{ or .status.readyReplicas 0 }} {{ or .status.updatedReplicas 0 }}{{ "\n" }}
{{- else if eq $k "DaemonSet" }}{{ $k }} {{ or .status.desiredNumberScheduled 0 }} {{ or .status.numberReady 0 }} {{ or .status.updatedNumberScheduled 0 }}{{ "\n" }}
{{- else if eq $k "Job" }}{{ $k }} 1 {{ or .status.succeeded 0 }} 1{{ "\n" }}
{{- else if not .metadata.ownerReferences }}{{ $r := 0 }}{{ range .status.conditions }}{{ if and (eq .type "Ready") (eq .status "True") }}{{ $r = 1 }}{{ end }}{{ end }}{{ $k }} 1 {{ $r }} 1{{ "\n" }}
{{- end }}{{ end }}'
}

# drill-workloads as shipped: every Deployment, StatefulSet and DaemonSet has all its
# replicas updated and ready (idle has none on purpose), the Job has completed and the bare
# Pod is Ready.
# (The lines of workloads_fixture_lines as $1, else fresh ones.)
workloads_fixture_ready() {
  { if [ $# -gt 0 ]; then printf '%s\n' "$1"; else workloads_fixture_lines; fi; } |
    awk '$2 != $3 || $2 != $4 || ($1 == "DaemonSet" && $2 == 0) { bad = 1 } END { exit (NR == 0 || bad) }'
}

workloads_fixture_present() {
  [ "$(printf '%s\n' "$1" | grep -Ec '^(Deployment|StatefulSet|DaemonSet) ')" -ge \
    "$(cat "$here"/fixture-workloads/*.yaml | grep -Ec '^kind: (Deployment|StatefulSet|DaemonSet)$')" ]
}

node_ready() {
  [ "$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

workloads_nodes_ready() {
  local node
  while read -r node; do
    node_ready "$node" || return 1
  done < <(sed -n 's/^  name: //p' "$here/fixture-workloads/00-nodes.yaml")
}

# drill/fixture-workloads but its nodes (applied first), as `kubectl apply` leaves it but
# faster where nothing is there yet: create (saving the configuration apply compares with)
# takes a fraction of apply's time, and apply only runs when something was there already.
# Files in order: the namespace first.
create_workloads_fixture() {
  local files=() f
  for f in "$here"/fixture-workloads/[1-9]*.yaml; do files+=(-f "$f"); done
  kc create --save-config "${files[@]}" >/dev/null 2>&1 || kc apply "${files[@]}" >/dev/null
}

# drill-workloads' node, then the namespace.
apply_workloads_fixture() {
  kc apply -f "$here/fixture-workloads/00-nodes.yaml" >/dev/null
  wait_for 60 "drill-workloads' nodes Ready" workloads_nodes_ready
  create_workloads_fixture
}

metrics_api_ready() {
  [ "$(kc get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}

# kwok's own Go module (the CRDs kwokctl installs), from the module cache as for metrics-server.
kwok_module() {
  local dir
  dir=$(cd /tmp && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json \
    "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir/kustomize/crd/bases" ] || die "kwok $KWOK_VERSION module source not found (go mod download)"
  echo "$dir"
}

# `kubectl port-forward` to postgres-0 and redis-0 (drill/kwok/portforward.yaml): applied at
# every `up`, so a changed DRILL_PG_PORT/DRILL_REDIS_PORT or a cluster made before it gets it.
apply_port_forwards() {
  if ! kc get crd clusterportforwards.kwok.x-k8s.io >/dev/null 2>&1; then
    log "note: this cluster predates port forwarding and has other changes; drill/cluster.sh down && up enables it"
    return 0
  fi
  kc wait --for condition=established --timeout=30s crd/clusterportforwards.kwok.x-k8s.io >/dev/null
  mkdir -p "$run"
  sed -e "s#\"@DRILL_PG_PORT@\"#$DRILL_PG_PORT#g" -e "s#\"@DRILL_REDIS_PORT@\"#$DRILL_REDIS_PORT#g" \
    "$here/kwok/portforward.yaml" >"$run/portforward.yaml"
  kc apply -f "$run/portforward.yaml" >/dev/null
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

kwok_controller_pid() {
  local pid
  pid=$(cat "$cluster_dir/pids/kwok-controller.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# A healthy cluster made before port forwarding was enabled (its only difference from the
# current settings): enable it in place instead of recreating the cluster. Installs the
# ClusterPortForward CRD, adds it to kwok-controller's --enable-crds in the cluster's own
# kwok.yaml and restarts kwok-controller alone (kwokctl start starts what is not running);
# pods, nodes and injected faults stay as they are.
upgrade_port_forward() {
  grep -q -- '--enable-crds=.*ClusterPortForward' "$cluster_dir/kwok.yaml" 2>/dev/null && return 0
  [ "$(cat "$run/config.sha256" 2>/dev/null)" = "$(config_sum before-port-forward)" ] || return 0
  log "enabling port forwarding on the running cluster (restarting kwok-controller only)"
  kc apply -f "$(kwok_module)/kustomize/crd/bases/kwok.x-k8s.io_clusterportforwards.yaml" >/dev/null
  kc wait --for condition=established --timeout=30s crd/clusterportforwards.kwok.x-k8s.io >/dev/null
  sed -i -e 's/^\(  - --enable-crds=.*\)$/\1,ClusterPortForward/' \
    -e '/^  enableCRDs:$/a\  - ClusterPortForward' "$cluster_dir/kwok.yaml"
  local pid
  if pid=$(kwok_controller_pid); then
    kill "$pid"
    poll 30 pid_gone "$pid" || die "kwok-controller (pid $pid) did not stop"
  fi
  "$kwokctl" start cluster --name "$name" --timeout 120s >&2 || die "kwokctl could not start kwok-controller again"
  wait_for 60 "kwok-controller" kwok_controller_pid
  wait_for 60 "nodes Ready" nodes_ready
  config_sum >"$run/config.sha256"
}

apply_fixture() {
  apply_port_forwards
  kc apply -f "$here/fixture/00-nodes.yaml" -f "$here/fixture-workloads/00-nodes.yaml" >/dev/null
  wait_for 60 "nodes Ready" nodes_ready
  wait_for 60 "drill-workloads' nodes Ready" workloads_nodes_ready
  # drill-workloads alongside the platform: its pods start while kubectl applies drill/fixture.
  local pid
  create_workloads_fixture &
  pid=$!
  kc apply -f "$here/fixture/" >/dev/null
  wait "$pid" || die "could not create drill/fixture-workloads"
  wait_for "$wait_timeout" "fixture workloads Ready (kubectl -n $namespace get pods)" workloads_ready
  wait_for "$wait_timeout" "drill-workloads Ready (kubectl -n $workloads_ns get all)" workloads_fixture_ready
}

fixture_present() {
  [ "$(kc -n "$namespace" get deploy,statefulset -o name 2>/dev/null | wc -l)" -ge \
    "$(grep -Ec '^kind: (Deployment|StatefulSet)$' "$here"/fixture/*.yaml | awk -F: '{ n += $2 } END { print n }')" ]
}

# Healthy: the control plane answers, the nodes are Ready and the fixture is there.
# Its pods may be failing on purpose (an injected drill fault): `up` leaves them alone.
healthy() { api_ready && nodes_ready && fixture_present; }

link_kubectl() {
  mkdir -p "$path_dir"
  ln -sfn "$kubectl_bin" "$path_dir/kubectl"
}

cmd_up() {
  local t0 mode restart_load=
  t0=$(date +%s.%N)
  check_binaries
  link_kubectl
  if [ -d "$cluster_dir" ] && healthy; then
    upgrade_port_forward
    if [ "$(cat "$run/config.sha256" 2>/dev/null)" != "$(config_sum)" ]; then
      # kwok reads its stages, kwokctl its settings, only when the cluster is created.
      log "drill/kwok settings changed since the cluster was created: recreating it"
      # The load model holds the old cluster's credentials: restart it with the cluster.
      if bash "$here/load/load.sh" status >/dev/null 2>&1; then
        restart_load=1
        bash "$here/load/load.sh" down
      fi
      cmd_down
    else
      local lines
      lines=$(workloads_fixture_lines 2>/dev/null || true)
      if ! workloads_fixture_present "$lines"; then
        log "applying drill/fixture-workloads"
        apply_workloads_fixture
        wait_for "$wait_timeout" "drill-workloads Ready (kubectl -n $workloads_ns get all)" workloads_fixture_ready
      elif ! workloads_fixture_ready "$lines"; then
        log "note: some drill-workloads are not Ready (a drill fault injected?): kubectl -n $workloads_ns get pods"
      fi
      workloads_ready || log "note: some fixture workloads are not Ready (a drill fault injected?): kubectl -n $namespace get pods"
      apply_port_forwards
      log "already up and healthy (no-op) in $(elapsed "$t0")s"
      return 0
    fi
  fi
  if [ -d "$cluster_dir" ]; then
    log "cluster exists but is not healthy: restarting it"
    [ -s "$DRILL_KUBECONFIG" ] || "$kwokctl" get kubeconfig --name "$name" >"$DRILL_KUBECONFIG" 2>/dev/null || true
    if "$kwokctl" start cluster --name "$name" --timeout 120s >&2 && poll 60 api_ready; then
      mode=warm
      upgrade_port_forward
    else
      log "restart failed: recreating the cluster"
      cmd_down
    fi
  fi
  if [ -z "${mode:-}" ]; then
    port_in_use "$DRILL_APISERVER_PORT" &&
      die "port $DRILL_APISERVER_PORT (DRILL_APISERVER_PORT) is already in use; free it or set DRILL_APISERVER_PORT"
    mkdir -p "$DRILL_HOME" "$KWOK_WORKDIR" "$(dirname "$DRILL_KUBECONFIG")"
    render_config
    write_logs
    rm -f "$DRILL_KUBECONFIG"
    log "creating cluster $name (kube $KUBE_VERSION, kwok $KWOK_VERSION, API server :$DRILL_APISERVER_PORT)"
    local configs=() f
    for f in "$run"/config/*.yaml; do configs+=(--config "$f"); done
    KWOK_KUBE_VERSION=$KUBE_VERSION KWOK_ETCD_VERSION=$ETCD_VERSION \
      KWOK_METRICS_SERVER_VERSION=$METRICS_SERVER_VERSION KWOK_KUBECTL_BINARY=$kubectl_bin \
      "$kwokctl" create cluster --name "$name" "${configs[@]}" \
      --runtime binary \
      --kube-apiserver-port "$DRILL_APISERVER_PORT" \
      --kube-apiserver-binary "$kube_bin/kube-apiserver" \
      --kube-controller-manager-binary "$kube_bin/kube-controller-manager" \
      --kube-scheduler-binary "$kube_bin/kube-scheduler" \
      --etcd-binary "$etcd_bin" \
      --kwok-controller-binary "$kwok_bin/kwok" \
      --metrics-server-binary "$ms_bin" \
      --enable metrics-server \
      --kubeconfig "$DRILL_KUBECONFIG" \
      --heartbeat-factor "$heartbeat_factor" \
      --quiet-pull \
      --wait 120s >&2 || { log "kwokctl create failed; logs: $cluster_dir/logs"; exit 1; }
    config_sum >"$run/config.sha256"
    mode=cold
  fi
  log "applying fixture"
  apply_fixture
  wait_for 60 "metrics API (APIService v1beta1.metrics.k8s.io)" metrics_api_ready
  if [ -n "$restart_load" ]; then bash "$here/load/load.sh" up; fi
  log "drill cluster up ($mode start) in $(elapsed "$t0")s; KUBECONFIG=$DRILL_KUBECONFIG, kubectl in $path_dir"
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

cmd_down() {
  local pids pid
  if [ -x "$kwokctl" ] && [ -d "$cluster_dir" ]; then
    log "deleting cluster $name"
    "$kwokctl" delete cluster --name "$name" --kubeconfig "$DRILL_KUBECONFIG" >&2 || log "kwokctl delete failed; cleaning up by hand"
  fi
  # Anything of this cluster still running (e.g. kwokctl could not read its pid files).
  pids=$(cluster_pids)
  if [ -n "$pids" ]; then
    log "stopping leftover processes: $(echo "$pids" | tr '\n' ' ')"
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 20); do [ -z "$(cluster_pids)" ] && break; sleep 0.5; done
    for pid in $(cluster_pids); do kill -9 "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$cluster_dir" "$run"
  rm -f "$DRILL_KUBECONFIG"
  [ -z "$(cluster_pids)" ] || die "processes of the cluster still running: $(cluster_pids | tr '\n' ' ')"
  log "drill cluster down"
}

cmd_status() {
  if ! api_ready; then
    echo "drill cluster: API server not answering (https://127.0.0.1:$DRILL_APISERVER_PORT)"
    return 1
  fi
  echo "drill cluster: API server ready at https://127.0.0.1:$DRILL_APISERVER_PORT (KUBECONFIG=$DRILL_KUBECONFIG)"
  kc get nodes --no-headers 2>/dev/null | awk '{ n++; if ($2 == "Ready") r++ } END { printf "nodes: %d/%d Ready\n", r, n }'
  kc -n "$namespace" get pods --no-headers 2>/dev/null |
    awk '{ n++; split($2, a, "/"); if ($3 == "Running" && a[1] == a[2]) r++ } END { printf "pods in ai-orchestrator: %d/%d Ready\n", r, n }'
  kc -n "$workloads_ns" get pods --no-headers 2>/dev/null |
    awk '{ n++; split($2, a, "/"); if ($3 == "Running" && a[1] == a[2]) r++; if ($3 == "Completed") c++ } END { printf "pods in drill-workloads: %d/%d Ready, %d Completed\n", r, n - c, c }'
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubeconfig) echo "$DRILL_KUBECONFIG" ;;
  *) echo "usage: $0 up|down|status|kubeconfig" >&2; exit 2 ;;
esac
