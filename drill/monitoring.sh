#!/usr/bin/env bash
# The drill's monitoring on loopback: Prometheus with the collection's alert rules (the
# drill copy: drill/monitoring/render_rules.py), Alertmanager routing to the Event-Driven
# Ansible webhook, kube-state-metrics (built by drill/build.sh) watching the drill cluster,
# and the PostgreSQL and Redis exporters scraping the data plane's servers. Prometheus
# scrapes the HTTP stand-ins' /metrics too. Jaeger (built by drill/build.sh; memory storage
# of at most DRILL_JAEGER_MAX_TRACES traces) receives the stand-ins' spans over OTLP/HTTP on
# DRILL_JAEGER_OTLP_PORT and serves its query API (and UI) on DRILL_JAEGER_QUERY_PORT.
#
#   drill/monitoring.sh up       start what is not running (idempotent), reload what runs when
#                                its configuration changed; returns once Prometheus reports
#                                every target up
#   drill/monitoring.sh down     stop everything it started (idempotent)
#   drill/monitoring.sh status   one line per component; exit 0 when all run, 3 otherwise
#
# Needs the data plane (drill/dataplane.sh: its passwords) and the cluster (drill/cluster.sh:
# its kubeconfig). State lives in $DRILL_RUN: prometheus/ (configuration, rendered rules,
# data), alertmanager/, kube-state-metrics/, postgres-exporter/, redis-exporter/, jaeger/
# (config.yaml; pid and log each), monitoring/versions.txt, secrets/eda_token (the webhook's token, mode 0600).
# Drill timing: scrape and rule evaluation every 1s, every alert's `for:` 5s
# (DRILL_ALERT_FOR), every range window 20s (DRILL_RATE_WINDOW). Installs nothing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=drill/versions.env
source "$here/versions.env"
# shellcheck source=drill/drill.env
source "$here/drill.env"

secrets=$DRILL_RUN/secrets
prom_dir=$DRILL_RUN/prometheus
am_dir=$DRILL_RUN/alertmanager
ksm_dir=$DRILL_RUN/kube-state-metrics
pge_dir=$DRILL_RUN/postgres-exporter
rde_dir=$DRILL_RUN/redis-exporter
jaeger_dir=$DRILL_RUN/jaeger
versions_file=$DRILL_RUN/monitoring/versions.txt
rules_source=${DRILL_ALERT_RULES:-$here/../alerting/prometheus/ai-orchestrator-alerts.yml}
timeout=${DRILL_MONITORING_TIMEOUT:-60}
cluster_label=drill # the `cluster` label of every series: the inventory host alerts are about
prom_url=http://127.0.0.1:$DRILL_PROMETHEUS_PORT
am_url=http://127.0.0.1:$DRILL_ALERTMANAGER_PORT
jaeger_url=http://127.0.0.1:$DRILL_JAEGER_QUERY_PORT

prometheus_bin=/usr/bin/prometheus
promtool_bin=/usr/bin/promtool
alertmanager_bin=/usr/bin/prometheus-alertmanager
amtool_bin=/usr/bin/amtool
pg_exporter_bin=/usr/bin/prometheus-postgres-exporter
redis_exporter_bin=/usr/bin/prometheus-redis-exporter
ksm_bin=$DRILL_CACHE/bin/kube-state-metrics-$KSM_VERSION/kube-state-metrics
jaeger_bin=$DRILL_CACHE/bin/jaeger-$JAEGER_VERSION/jaeger
ksm_resources=deployments,statefulsets,replicasets,pods,daemonsets,horizontalpodautoscalers

log() { printf '[drill-monitoring %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

probe() { "$(pick_python)" "$here/monitoring/probe.py" "$@"; }

# --- processes (as drill/dataplane.sh runs its servers) ---------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$here/lib/proc.sh"

running() { pid_alive "$1/$2.pid"; } # running DIR NAME

start_bg() { # start_bg DIR NAME COMMAND...: own session (a Ctrl-C aimed at `up` spares it)
  local dir=$1 name=$2
  shift 2
  mkdir -p "$dir"
  setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

started() { # started DIR NAME SECONDS CHECK...: wait for CHECK, or show the log and fail
  local dir=$1 name=$2 seconds=$3
  shift 3
  if ! wait_for "$seconds" "$name" "$@" || ! running "$dir" "$name"; then
    tail -5 "$dir/$name.log" >&2
    stop_pid "$dir/$name.pid" "$name"
    die "$name did not start, see $dir/$name.log"
  fi
}

# --- versions -------------------------------------------------------------------------

version_of() { # the first x.y.z in a binary's version output
  "$@" 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

need_binary() { # need_binary PATH PACKAGE
  [ -x "$1" ] || die "$1 not found: install the Debian package $2"
}

# Every binary there, new enough; the versions found go to versions.txt.
check_versions() {
  local v line lines=()
  need_binary "$prometheus_bin" prometheus
  need_binary "$promtool_bin" prometheus
  need_binary "$alertmanager_bin" prometheus-alertmanager
  need_binary "$amtool_bin" prometheus-alertmanager
  need_binary "$pg_exporter_bin" prometheus-postgres-exporter
  need_binary "$redis_exporter_bin" prometheus-redis-exporter
  [ -x "$ksm_bin" ] || die "kube-state-metrics $KSM_VERSION not built ($ksm_bin): run drill/build.sh"
  v=$(version_of "$prometheus_bin" --version)
  version_ge "${v:-0}" 2.42.0 ||
    die "prometheus ${v:-(unknown version)} found, the drill needs 2.42 or newer: install the Debian package prometheus from bookworm or later"
  lines+=("prometheus $v $prometheus_bin")
  v=$(version_of "$alertmanager_bin" --version)
  version_ge "${v:-0}" 0.25.0 ||
    die "alertmanager ${v:-(unknown version)} found, the drill needs 0.25 or newer: install the Debian package prometheus-alertmanager from bookworm or later"
  lines+=("alertmanager $v $alertmanager_bin")
  v=$(version_of "$pg_exporter_bin" --version)
  [ -n "$v" ] || die "$pg_exporter_bin does not report a version: reinstall the Debian package prometheus-postgres-exporter"
  lines+=("postgres-exporter $v $pg_exporter_bin")
  v=$(version_of timeout 10 "$redis_exporter_bin" --version)
  [ -n "$v" ] || die "$redis_exporter_bin does not report a version: reinstall the Debian package prometheus-redis-exporter"
  lines+=("redis-exporter $v $redis_exporter_bin")
  v=$(version_of "$ksm_bin" version)
  [ "v$v" = "$KSM_VERSION" ] ||
    die "$ksm_bin reports version ${v:-(none)}, drill/versions.env pins $KSM_VERSION: delete it and run drill/build.sh"
  lines+=("kube-state-metrics $v $ksm_bin")
  [ -x "$jaeger_bin" ] || die "jaeger $JAEGER_VERSION not built ($jaeger_bin): run drill/build.sh"
  v=$(version_of "$jaeger_bin" version)
  [ "v$v" = "$JAEGER_VERSION" ] ||
    die "$jaeger_bin reports version ${v:-(none)}, drill/versions.env pins $JAEGER_VERSION: delete it and run drill/build.sh"
  lines+=("jaeger $v $jaeger_bin")
  mkdir -p "$(dirname "$versions_file")"
  printf '%s\n' "${lines[@]}" >"$versions_file.tmp" && mv "$versions_file.tmp" "$versions_file"
  for line in "${lines[@]}"; do log "found $line"; done
}

# --- configuration ------------------------------------------------------------------------

# static_target PORT [LABEL: VALUE ...]: one static_configs entry with the cluster label.
static_target() {
  local port=$1 labels="cluster: $cluster_label"
  shift
  while [ $# -gt 0 ]; do labels+=", $1"; shift; done
  printf "      - targets: ['127.0.0.1:%s']\n        labels: {%s}\n" "$port" "$labels"
}

prometheus_config() {
  cat <<EOF
# Generated by drill/monitoring.sh at every \`up\`: edit the script, not this file.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $prom_dir/rules/ai-orchestrator-alerts.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$DRILL_ALERTMANAGER_PORT']
scrape_configs:
  # The platform's services as Kubernetes service discovery would label them.
  - job_name: ai-orchestrator
    static_configs:
$(static_target "$DRILL_GATEWAY_PORT" "namespace: ai-orchestrator" "service: api-gateway")
$(static_target "$DRILL_LANGFLOW_PORT" "namespace: ai-orchestrator" "service: langflow")
$(static_target "$DRILL_N8N_PORT" "namespace: ai-orchestrator" "service: n8n")
$(static_target "$DRILL_LANGSMITH_PORT" "namespace: ai-orchestrator" "service: langsmith")
  # Keeps the namespace, deployment and pod labels of the objects it describes.
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs:
$(static_target "$DRILL_KSM_PORT")
  - job_name: postgres-exporter
    static_configs:
$(static_target "$DRILL_PG_EXPORTER_PORT" "namespace: ai-orchestrator" "service: postgres")
  - job_name: redis-exporter
    static_configs:
$(static_target "$DRILL_REDIS_EXPORTER_PORT" "namespace: ai-orchestrator" "service: redis")
  - job_name: prometheus
    static_configs:
$(static_target "$DRILL_PROMETHEUS_PORT")
  - job_name: alertmanager
    static_configs:
$(static_target "$DRILL_ALERTMANAGER_PORT")
EOF
}
prometheus_targets=9 # the static targets above: `up` waits until all are up

alertmanager_config() {
  cat <<EOF
# Generated by drill/monitoring.sh at every \`up\`: edit the script, not this file.
# One notification per outage of a cluster's namespace, quickly (drill timing).
route:
  receiver: eda
  group_by: [cluster, namespace]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: eda
    webhook_configs:
      - url: http://127.0.0.1:$DRILL_EDA_PORT/alerts
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: $secrets/eda_token
EOF
}

# Jaeger v2 (an OpenTelemetry Collector): only the OTLP/HTTP receiver (the stand-ins send
# OTLP JSON), the memory store, and the query service (HTTP API and UI, and its gRPC API,
# which it always binds). No own metrics endpoint, health check or other receivers: nothing
# listens beyond the three loopback ports.
jaeger_config() {
  cat <<EOF
# Generated by drill/monitoring.sh at every \`up\`: edit the script, not this file.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      drill_memory:
        memory:
          max_traces: $DRILL_JAEGER_MAX_TRACES
  jaeger_query:
    storage:
      traces: drill_memory
    http:
      endpoint: 127.0.0.1:$DRILL_JAEGER_QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$DRILL_JAEGER_GRPC_PORT
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$DRILL_JAEGER_OTLP_PORT
processors:
  batch:
    timeout: 500ms
exporters:
  jaeger_storage_exporter:
    trace_storage: drill_memory
EOF
}

# install_file TMP DEST: 0 when DEST changed (moved into place), 1 when it was the same.
install_file() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then rm -f "$1"; return 1; fi
  mv "$1" "$2"
}

# Render and check every configuration; sets prom_changed and am_changed.
write_configs() {
  [ -f "$rules_source" ] || die "alert rules $rules_source not found (set DRILL_ALERT_RULES to use another file)"
  mkdir -p "$prom_dir/rules" "$am_dir"
  local out
  out=$(DRILL_ALERT_FOR=${DRILL_ALERT_FOR:-5s} DRILL_RATE_WINDOW=${DRILL_RATE_WINDOW:-20s} \
    "$(pick_python)" "$here/monitoring/render_rules.py" "$rules_source" "$prom_dir/rules/ai-orchestrator-alerts.yml.new" 2>&1) ||
    die "rendering the drill's alert rules failed: $out"
  prometheus_config >"$prom_dir/prometheus.yml.new"
  alertmanager_config >"$am_dir/alertmanager.yml.new"
  # promtool reads the rule files the configuration names: check them in place.
  cp "$prom_dir/rules/ai-orchestrator-alerts.yml.new" "$prom_dir/rules/check.yml"
  sed "s#$prom_dir/rules/ai-orchestrator-alerts.yml#$prom_dir/rules/check.yml#" \
    "$prom_dir/prometheus.yml.new" >"$prom_dir/check.yml"
  out=$("$promtool_bin" check config "$prom_dir/check.yml" 2>&1) || die "promtool rejects the drill's configuration: $out"
  rm -f "$prom_dir/check.yml" "$prom_dir/rules/check.yml"
  out=$("$amtool_bin" check-config "$am_dir/alertmanager.yml.new" 2>&1) || die "amtool rejects the drill's configuration: $out"
  mkdir -p "$jaeger_dir"
  jaeger_config >"$jaeger_dir/config.yaml.new"
  out=$("$jaeger_bin" validate --config="file:$jaeger_dir/config.yaml.new" 2>&1) || die "jaeger rejects the drill's configuration: $out"
  prom_changed=0 am_changed=0 jaeger_changed=0
  if install_file "$jaeger_dir/config.yaml.new" "$jaeger_dir/config.yaml"; then jaeger_changed=1; fi
  if install_file "$prom_dir/rules/ai-orchestrator-alerts.yml.new" "$prom_dir/rules/ai-orchestrator-alerts.yml"; then prom_changed=1; fi
  if install_file "$prom_dir/prometheus.yml.new" "$prom_dir/prometheus.yml"; then prom_changed=1; fi
  if install_file "$am_dir/alertmanager.yml.new" "$am_dir/alertmanager.yml"; then am_changed=1; fi
}

# --- components ---------------------------------------------------------------------------

# kube-state-metrics holds the cluster's credentials: a cluster created anew since it
# started (new certificates) needs a new kube-state-metrics.
kubeconfig_sum() { sha256sum "$DRILL_KUBECONFIG" | cut -d' ' -f1; }

ksm_up() {
  if running "$ksm_dir" kube-state-metrics; then
    [ "$(cat "$ksm_dir/kubeconfig.sha256" 2>/dev/null)" != "$(kubeconfig_sum)" ] || return 0
    log "the drill cluster was recreated: restarting kube-state-metrics with its new kubeconfig"
    stop_pid "$ksm_dir/kube-state-metrics.pid" kube-state-metrics
  fi
  start_bg "$ksm_dir" kube-state-metrics "$ksm_bin" --kubeconfig "$DRILL_KUBECONFIG" \
    --host 127.0.0.1 --port "$DRILL_KSM_PORT" \
    --telemetry-host 127.0.0.1 --telemetry-port "$DRILL_KSM_TELEMETRY_PORT" --resources "$ksm_resources"
  kubeconfig_sum >"$ksm_dir/kubeconfig.sha256"
  started "$ksm_dir" kube-state-metrics "$timeout" port_open "$DRILL_KSM_PORT"
}

# postgres_exporter reads the password from the file DATA_SOURCE_PASS_FILE names: it is
# neither in its arguments nor in its environment. The data plane's user and database.
pg_exporter_up() {
  running "$pge_dir" postgres-exporter && return 0
  DATA_SOURCE_URI="127.0.0.1:$DRILL_PG_PORT/orchestrator?sslmode=disable" DATA_SOURCE_USER=postgres \
    DATA_SOURCE_PASS_FILE="$secrets/postgres_password" \
    start_bg "$pge_dir" postgres-exporter "$pg_exporter_bin" --web.listen-address="127.0.0.1:$DRILL_PG_EXPORTER_PORT"
  started "$pge_dir" postgres-exporter "$timeout" port_open "$DRILL_PG_EXPORTER_PORT"
}

# redis_exporter takes the password from REDIS_PASSWORD (never from its arguments).
redis_exporter_up() {
  running "$rde_dir" redis-exporter && return 0
  REDIS_PASSWORD=$(cat "$secrets/redis_password") start_bg "$rde_dir" redis-exporter "$redis_exporter_bin" \
    -redis.addr "redis://127.0.0.1:$DRILL_REDIS_PORT" -web.listen-address "127.0.0.1:$DRILL_REDIS_EXPORTER_PORT"
  started "$rde_dir" redis-exporter "$timeout" port_open "$DRILL_REDIS_EXPORTER_PORT"
}

alertmanager_up() {
  if running "$am_dir" alertmanager; then
    if [ "$am_changed" = 1 ]; then probe post "$am_url/-/reload" || die "Alertmanager did not reload its configuration"; log "alertmanager reloaded"; fi
    return 0
  fi
  # --cluster.listen-address= : no HA gossip (it would listen on 0.0.0.0:9094).
  start_bg "$am_dir" alertmanager "$alertmanager_bin" --config.file "$am_dir/alertmanager.yml" \
    --storage.path "$am_dir/data" --data.retention 12h \
    --web.listen-address "127.0.0.1:$DRILL_ALERTMANAGER_PORT" --web.external-url "$am_url" \
    --cluster.listen-address=
  started "$am_dir" alertmanager "$timeout" probe get "$am_url/-/ready"
}

# Jaeger does not reload its configuration: a changed one restarts it (its memory store,
# the traces so far, is lost then). Ready when the query API answers.
jaeger_up() {
  if running "$jaeger_dir" jaeger; then
    [ "$jaeger_changed" = 1 ] || return 0
    log "jaeger's configuration changed: restarting it"
    stop_pid "$jaeger_dir/jaeger.pid" jaeger
    claim_port "$DRILL_JAEGER_QUERY_PORT" jaeger
    claim_port "$DRILL_JAEGER_OTLP_PORT" "jaeger (OTLP/HTTP)"
    claim_port "$DRILL_JAEGER_GRPC_PORT" "jaeger (query gRPC)"
  fi
  start_bg "$jaeger_dir" jaeger "$jaeger_bin" --config="file:$jaeger_dir/config.yaml"
  started "$jaeger_dir" jaeger "$timeout" probe get "$jaeger_url/api/services"
}

prometheus_up() {
  if running "$prom_dir" prometheus; then
    if [ "$prom_changed" = 1 ]; then probe post "$prom_url/-/reload" || die "Prometheus did not reload its configuration"; log "prometheus reloaded"; fi
    return 0
  fi
  # Alerts resent every 5 s (default 1 m): an Alertmanager restarted mid-drill learns them quickly.
  start_bg "$prom_dir" prometheus "$prometheus_bin" --config.file "$prom_dir/prometheus.yml" \
    --storage.tsdb.path "$prom_dir/data" --storage.tsdb.retention.time 3h \
    --web.listen-address "127.0.0.1:$DRILL_PROMETHEUS_PORT" --web.external-url "$prom_url" \
    --web.enable-lifecycle --rules.alert.resend-delay 5s
  started "$prom_dir" prometheus "$timeout" probe get "$prom_url/-/ready"
}

# --- commands -----------------------------------------------------------------------------

cmd_up() {
  local t0=$SECONDS
  reserve_drill_ports
  check_versions
  if [ ! -s "$secrets/postgres_password" ] || [ ! -s "$secrets/redis_password" ]; then
    die "no data plane passwords in $secrets: start the data plane first (drill/dataplane.sh up or drill/env.sh up)"
  fi
  [ -s "$DRILL_KUBECONFIG" ] || die "no $DRILL_KUBECONFIG: start the drill cluster first (drill/cluster.sh up or drill/env.sh up)"
  # Every port first, so a conflict stops `up` before anything starts.
  running "$ksm_dir" kube-state-metrics || { claim_port "$DRILL_KSM_PORT" kube-state-metrics; claim_port "$DRILL_KSM_TELEMETRY_PORT" "kube-state-metrics (telemetry)"; }
  running "$pge_dir" postgres-exporter || claim_port "$DRILL_PG_EXPORTER_PORT" postgres-exporter
  running "$rde_dir" redis-exporter || claim_port "$DRILL_REDIS_EXPORTER_PORT" redis-exporter
  running "$am_dir" alertmanager || claim_port "$DRILL_ALERTMANAGER_PORT" alertmanager
  running "$prom_dir" prometheus || claim_port "$DRILL_PROMETHEUS_PORT" prometheus
  if ! running "$jaeger_dir" jaeger; then
    claim_port "$DRILL_JAEGER_QUERY_PORT" jaeger
    claim_port "$DRILL_JAEGER_OTLP_PORT" "jaeger (OTLP/HTTP)"
    claim_port "$DRILL_JAEGER_GRPC_PORT" "jaeger (query gRPC)"
  fi
  ensure_secret eda_token
  write_configs
  ksm_up
  pg_exporter_up
  redis_exporter_up
  alertmanager_up
  prometheus_up
  jaeger_up
  probe targets "$prom_url" "$prometheus_targets" "$timeout" ||
    die "Prometheus ($prom_url/targets) does not see every target up; a stand-in left in mode down? (drill/dataplane.sh, PUT /modes)"
  log "monitoring up in $((SECONDS - t0))s: Prometheus $prom_url, Alertmanager $am_url, Jaeger $jaeger_url (versions in $versions_file)"
}

cmd_down() {
  stop_pid "$jaeger_dir/jaeger.pid" jaeger
  stop_pid "$prom_dir/prometheus.pid" prometheus
  stop_pid "$am_dir/alertmanager.pid" alertmanager
  stop_pid "$rde_dir/redis-exporter.pid" redis-exporter
  stop_pid "$pge_dir/postgres-exporter.pid" postgres-exporter
  stop_pid "$ksm_dir/kube-state-metrics.pid" kube-state-metrics
}

cmd_status() {
  local all=0 dir name port line
  while read -r dir name port; do
    if running "$dir" "$name"; then line="running  127.0.0.1:$port  pid $(cat "$dir/$name.pid")"
    else line=stopped; all=3; fi
    printf '%-19s %s\n' "$name" "$line"
  done <<EOF
$prom_dir prometheus $DRILL_PROMETHEUS_PORT
$am_dir alertmanager $DRILL_ALERTMANAGER_PORT
$ksm_dir kube-state-metrics $DRILL_KSM_PORT
$pge_dir postgres-exporter $DRILL_PG_EXPORTER_PORT
$rde_dir redis-exporter $DRILL_REDIS_EXPORTER_PORT
$jaeger_dir jaeger $DRILL_JAEGER_QUERY_PORT
EOF
  return "$all"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
