#!/usr/bin/env bash
# The drill's data plane on loopback: PostgreSQL 15 (database `orchestrator`,
# pg_stat_statements, a pg_dump backup), Redis 7 (password, seeded cache) and the
# HTTP stand-ins for Langflow, n8n, LangSmith and the api-gateway
# (drill/dataplane/platform_http.py, failure modes switched on DRILL_DRILLCTL_PORT).
#
#   drill/dataplane.sh up            start what is not running (idempotent), wait until it answers
#   drill/dataplane.sh down          stop everything it started (idempotent)
#   drill/dataplane.sh status        one line per component; exit 0 when all run, 3 otherwise
#   drill/dataplane.sh restart-http  stop and start the HTTP stand-ins only (a changed
#                                    platform_http.py; their modes, keys and workflows reset)
#   drill/dataplane.sh seed-redis    write the platform's Redis seed again (warm-up, sessions,
#                                    stats, queue, lock); what `up` does for a new Redis
#   drill/dataplane.sh stop-postgres stop PostgreSQL only (a database outage for the drills); `up`
#                                    starts it again
#
# State lives in $DRILL_RUN: postgres/ (data, socket, log), redis/, http/, backups/,
# secrets/ (generated passwords and the engines' API keys langflow_api_key, n8n_api_key,
# langsmith_api_key, mode 0600). Installs nothing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=podbin/lib/common.sh
source "$here/podbin/lib/common.sh"
export DRILL_HOME DRILL_RUN DRILL_PG_PORT DRILL_REDIS_PORT DRILL_LANGFLOW_PORT DRILL_N8N_PORT \
  DRILL_LANGSMITH_PORT DRILL_GATEWAY_PORT DRILL_DRILLCTL_PORT DRILL_JAEGER_OTLP_PORT

secrets=$DRILL_RUN/secrets
backups=$DRILL_RUN/backups
pg_dir=$DRILL_RUN/postgres # socket and log; the cluster is in data/
pg_data=$pg_dir/data
redis_dir=$DRILL_RUN/redis
http_dir=$DRILL_RUN/http
http_ports=("$DRILL_LANGFLOW_PORT" "$DRILL_N8N_PORT" "$DRILL_LANGSMITH_PORT" "$DRILL_GATEWAY_PORT" "$DRILL_DRILLCTL_PORT")

log() { printf '[drill-dataplane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# PostgreSQL refuses to run as root. As root, run it as the `postgres` system user
# with CAP_DAC_READ_SEARCH only, so it can reach $DRILL_RUN under root's 0700 home
# without loosening that home's permissions.
if [ "$(id -u)" = 0 ]; then
  pg_os_user=${DRILL_PG_OS_USER:-postgres}
  as_pg() {
    setpriv --reuid="$pg_os_user" --regid="$pg_os_user" --init-groups \
      --inh-caps=+dac_read_search --ambient-caps=+dac_read_search -- "$@"
  }
else
  pg_os_user=$(id -un)
  as_pg() { "$@"; }
fi

need_postgres() {
  local b
  for b in initdb pg_ctl postgres pg_isready psql pg_dump; do
    [ -x "$DRILL_PG_BINDIR/$b" ] ||
      die "PostgreSQL 15 server not found ($DRILL_PG_BINDIR/$b): install the Debian package postgresql-15 (or set DRILL_PG_BINDIR)"
  done
  getent passwd "$pg_os_user" >/dev/null ||
    die "user $pg_os_user (runs PostgreSQL, which refuses root) does not exist: install postgresql-15 or set DRILL_PG_OS_USER"
}

need_redis() {
  command -v redis-server >/dev/null || die "redis-server not found: install the Debian package redis-server"
  realbin redis-cli >/dev/null || die "redis-cli not found: install the Debian package redis-server (redis-tools)"
  local v
  v=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
  [ "${v:-0}" -ge 7 ] || die "redis-server $v found, the drill needs Redis 7: install the Debian package redis-server from bookworm or later"
}


# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$here/lib/proc.sh"

# --- PostgreSQL -------------------------------------------------------------------

pg_psql() { PGPASSWORD=$(cat "$secrets/postgres_password") "$DRILL_PG_BINDIR/psql" \
  -h 127.0.0.1 -p "$DRILL_PG_PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
pg_running() { [ -f "$pg_data/postmaster.pid" ] && as_pg "$DRILL_PG_BINDIR/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; }
pg_ready() { "$DRILL_PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$DRILL_PG_PORT"; }

pg_init() {
  log "postgres: initdb $pg_data"
  rm -rf "$pg_data" # an interrupted initdb leaves a partial directory
  mkdir -p "$pg_dir"
  chown "$pg_os_user:" "$pg_dir"
  chmod 755 "$pg_dir"
  as_pg "$DRILL_PG_BINDIR/initdb" -D "$pg_data" -U postgres --pwfile="$secrets/postgres_password" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 ||
    die "initdb failed, see $pg_dir/initdb.log"
  echo "include_if_exists = 'drill.conf'" | as_pg tee -a "$pg_data/postgresql.conf" >/dev/null
  # Password (SCRAM) for everyone, on the socket and on loopback TCP only.
  printf '%s\n' '# TYPE  DATABASE  USER  ADDRESS       METHOD' \
    'local   all       all                 scram-sha-256' \
    'host    all       all   127.0.0.1/32  scram-sha-256' | as_pg tee "$pg_data/pg_hba.conf" >/dev/null
}

# TLS for clients that verify the server (ssl_mode verify-full): a drill CA and a server
# certificate for the names a client may use, directly (127.0.0.1, localhost) or through a
# port-forward to the pod (postgres, postgres.ai-orchestrator.svc[.cluster.local]). Made once;
# clients trust $pg_tls/ca.crt. Plain connections keep working (pg_hba's host lines take both).
pg_tls=$secrets/pg-tls
pg_tls_names="DNS:localhost,IP:127.0.0.1,DNS:postgres,DNS:postgres.ai-orchestrator,DNS:postgres.ai-orchestrator.svc,DNS:postgres.ai-orchestrator.svc.cluster.local"

pg_tls_ensure() {
  [ -s "$pg_tls/server.crt" ] && [ -s "$pg_tls/server.key" ] && [ -s "$pg_tls/ca.crt" ] && return
  command -v openssl >/dev/null || die "openssl not found: install the Debian package openssl (the drill PostgreSQL's TLS certificate)"
  log "postgres: TLS certificate for $pg_tls_names"
  mkdir -p "$pg_tls" && chmod 700 "$secrets" "$pg_tls"
  (
    umask 077
    cd "$pg_tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=ai-orchestrator drill CA" -keyout ca.key -out ca.crt.tmp 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=postgres.ai-orchestrator.svc" -keyout server.key.tmp -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=$pg_tls_names" basicConstraints=CA:FALSE \
      keyUsage=digitalSignature,keyEncipherment extendedKeyUsage=serverAuth >server.ext
    openssl x509 -req -in server.csr -CA ca.crt.tmp -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt.tmp 2>/dev/null
    rm -f server.csr server.ext ./*.srl
    # PostgreSQL reads its key only when its own user owns it (or root does) with no access for others.
    [ "$(id -u)" != 0 ] || chown "$pg_os_user:" server.key.tmp
    chmod 644 ca.crt.tmp server.crt.tmp
    mv server.key.tmp server.key && mv server.crt.tmp server.crt && mv ca.crt.tmp ca.crt
  ) || die "could not make the TLS certificate in $pg_tls"
}

pg_configure() { # rewritten at every `up` so drill.env's port is always the one used; 0 when it changed
  local conf
  conf=$(cat <<EOF
listen_addresses = '127.0.0.1'
port = $DRILL_PG_PORT
unix_socket_directories = '$pg_dir'
password_encryption = 'scram-sha-256'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
track_io_timing = on
max_connections = 50
shared_buffers = 64MB
log_min_duration_statement = 500
ssl = on
ssl_cert_file = '$pg_tls/server.crt'
ssl_key_file = '$pg_tls/server.key'
EOF
  )
  [ "$(as_pg cat "$pg_data/drill.conf" 2>/dev/null)" != "$conf" ] || return 1
  printf '%s\n' "$conf" | as_pg tee "$pg_data/drill.conf" >/dev/null
}

# A running server takes a changed drill.conf with a reload (ssl among others); what needs a
# restart is only reported.
pg_reconfigure() {
  pg_tls_ensure
  pg_configure || return 0
  as_pg "$DRILL_PG_BINDIR/pg_ctl" -D "$pg_data" reload >/dev/null || die "postgres: reload failed, see $pg_dir/server.log"
  local pending
  sleep 0.5
  pending=$(pg_psql -d postgres -tAc "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart" 2>/dev/null || true)
  log "postgres: configuration reloaded${pending:+ (takes effect at the next restart: $pending)}"
}

pg_seed() {
  if [ -z "$(pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'orchestrator'")" ]; then
    log "postgres: creating database orchestrator"
    pg_psql -d postgres -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' -c 'CREATE DATABASE orchestrator'
    pg_psql -d orchestrator -f "$here/dataplane/orchestrator.sql"
    rm -f "$backups/latest.dump"
  fi
  if [ ! -s "$backups/latest.dump" ]; then
    mkdir -p "$backups"
    PGPASSWORD=$(cat "$secrets/postgres_password") "$DRILL_PG_BINDIR/pg_dump" -h 127.0.0.1 \
      -p "$DRILL_PG_PORT" -U postgres -Fc -d orchestrator -f "$backups/latest.dump.tmp"
    mv "$backups/latest.dump.tmp" "$backups/latest.dump"
    log "postgres: backup $backups/latest.dump"
  fi
}

pg_up() {
  need_postgres
  if pg_running; then pg_reconfigure; log "postgres already running"; return; fi
  claim_port "$DRILL_PG_PORT" postgres
  ensure_secret postgres_password
  [ -s "$pg_data/PG_VERSION" ] || pg_init
  pg_tls_ensure
  pg_configure || true
  as_pg "$DRILL_PG_BINDIR/pg_ctl" -D "$pg_data" -l "$pg_dir/server.log" -w -t 60 start >/dev/null ||
    die "postgres did not start, see $pg_dir/server.log"
  wait_for 30 "postgres on 127.0.0.1:$DRILL_PG_PORT" pg_ready || die "postgres does not answer, see $pg_dir/server.log"
  pg_seed
}

pg_down() {
  [ -x "$DRILL_PG_BINDIR/pg_ctl" ] && pg_running || return 0
  as_pg "$DRILL_PG_BINDIR/pg_ctl" -D "$pg_data" -m fast -w -t 60 stop >/dev/null
  log "postgres stopped"
}

# --- Redis ------------------------------------------------------------------------

redis_cli() { REDISCLI_AUTH=$(cat "$secrets/redis_password") "$(realbin redis-cli)" \
  -h 127.0.0.1 -p "$DRILL_REDIS_PORT" "$@"; }
redis_running() { pid_alive "$redis_dir/redis.pid"; }
redis_ready() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

redis_up() {
  need_redis
  if redis_running; then log "redis already running"; return; fi
  claim_port "$DRILL_REDIS_PORT" redis
  ensure_secret redis_password
  mkdir -p "$redis_dir"
  (umask 077 && cat >"$redis_dir/redis.conf" <<EOF
bind 127.0.0.1
port $DRILL_REDIS_PORT
protected-mode yes
requirepass $(cat "$secrets/redis_password")
appendonly no
dir $redis_dir
daemonize yes
pidfile $redis_dir/redis.pid
logfile $redis_dir/redis.log
EOF
  )
  redis-server "$redis_dir/redis.conf" || die "redis-server did not start, see $redis_dir/redis.log"
  wait_for 30 "redis on 127.0.0.1:$DRILL_REDIS_PORT" redis_ready || die "redis does not answer, see $redis_dir/redis.log"
  redis_started=1
}

# What a running platform leaves in its cache besides the critical keys, which the
# gateway's warm-up writes (the same endpoint the runbook's Cache Recovery calls).
redis_seed() {
  local out i
  out=$(curl_post "http://127.0.0.1:$DRILL_GATEWAY_PORT/admin/cache/warmup") || die "cache warm-up failed: $out"
  {
    for i in $(seq 1 40); do
      echo "SET session:$(printf '%08x' $((i * 2654435761 % 4294967296))) user:$((1 + i % 6)) EX 86400"
    done
    for i in $(seq 1 23); do
      echo "HSET workflow:$i:stats executions $((i * 7 % 50)) failures $((i % 4))"
    done
    echo "SET ratelimit:api:user:2 17 EX 60"
    # Not cache: the execution queue the workers take jobs from and the scheduler's lock.
    echo "DEL queue:workflow_executions"
    for i in $(seq 1 10); do
      printf 'RPUSH queue:workflow_executions "{\\"execution_id\\": %d, \\"workflow_id\\": %d, \\"triggered_by\\": \\"schedule\\"}"\n' \
        $((400 + i)) $((1 + i % 7))
    done
    echo "SET lock:scheduler scheduler-0 EX 300"
  } | redis_cli >/dev/null
  log "redis seeded ($(redis_cli dbsize) keys)"
}

redis_down() { stop_pid "$redis_dir/redis.pid" redis; }

# --- HTTP stand-ins -----------------------------------------------------------------

curl_post() { # stdlib only, no curl needed
  "$(pick_python)" - "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=b"", method="POST"), timeout=10) as r:
    print(r.read().decode())
EOF
}

http_ready() { local p; for p in "${http_ports[@]}"; do port_open "$p" || return 1; done; }

http_up() {
  if pid_alive "$http_dir/platform_http.pid"; then log "http stand-ins already running"; return; fi
  local port python
  for port in "${http_ports[@]}"; do claim_port "$port" "the http stand-ins"; done
  # The engines' API keys: what the stand-ins accept and the platform's clients send.
  ensure_secret langflow_api_key
  ensure_secret n8n_api_key
  ensure_secret langsmith_api_key
  python=$(pick_python)
  mkdir -p "$http_dir"
  # Own session, so a Ctrl-C aimed at whoever called `up` does not stop the drill.
  setsid "$python" "$here/dataplane/platform_http.py" >>"$http_dir/platform_http.log" 2>&1 </dev/null &
  echo $! >"$http_dir/platform_http.pid"
  if ! wait_for 30 "http stand-ins (${http_ports[*]})" http_ready || ! pid_alive "$http_dir/platform_http.pid"; then
    tail -5 "$http_dir/platform_http.log" >&2
    stop_pid "$http_dir/platform_http.pid" "http stand-ins"
    die "http stand-ins did not start, see $http_dir/platform_http.log"
  fi
}

http_down() { stop_pid "$http_dir/platform_http.pid" "http stand-ins"; }

# --- Commands -----------------------------------------------------------------------

cmd_up() {
  mkdir -p "$DRILL_RUN"
  reserve_drill_ports
  need_postgres
  need_redis
  # Every port first, so a conflict stops `up` before anything starts.
  local port
  pg_running || claim_port "$DRILL_PG_PORT" postgres
  redis_running || claim_port "$DRILL_REDIS_PORT" redis
  if ! pid_alive "$http_dir/platform_http.pid"; then
    for port in "${http_ports[@]}"; do claim_port "$port" "the http stand-ins"; done
  fi
  redis_started=0
  pg_up
  redis_up
  http_up
  [ "$redis_started" = 0 ] || redis_seed
  log "data plane up"
}

cmd_down() {
  http_down
  redis_down
  pg_down
}

cmd_status() {
  local all=0 line
  if [ -x "$DRILL_PG_BINDIR/pg_ctl" ] && pg_running && pg_ready; then
    line="running  127.0.0.1:$DRILL_PG_PORT  pid $(head -1 "$pg_data/postmaster.pid")"
  else line=stopped; all=3; fi
  printf '%-10s %s\n' postgres "$line"
  if redis_running; then
    line="running  127.0.0.1:$DRILL_REDIS_PORT  pid $(cat "$redis_dir/redis.pid")"
  else line=stopped; all=3; fi
  printf '%-10s %s\n' redis "$line"
  if pid_alive "$http_dir/platform_http.pid"; then
    line="running  pid $(cat "$http_dir/platform_http.pid")  langflow=$DRILL_LANGFLOW_PORT n8n=$DRILL_N8N_PORT"
    line+=" langsmith=$DRILL_LANGSMITH_PORT gateway=$DRILL_GATEWAY_PORT control=$DRILL_DRILLCTL_PORT"
  else line=stopped; all=3; fi
  printf '%-10s %s\n' http "$line"
  return "$all"
}

cmd_restart_http() {
  http_down
  http_up
  log "http stand-ins restarted"
}

cmd_seed_redis() {
  redis_running || die "redis is not running: run $0 up"
  pid_alive "$http_dir/platform_http.pid" || die "the http stand-ins are not running (the gateway's warm-up writes the seed): run $0 up"
  redis_seed
}

# A database outage for the drills (tests marked `alone`): PostgreSQL only; `up` starts it again.
cmd_stop_postgres() {
  pg_down
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart-http) cmd_restart_http ;;
  seed-redis) cmd_seed_redis ;;
  stop-postgres) cmd_stop_postgres ;;
  *) echo "usage: $0 up|down|status|restart-http|seed-redis|stop-postgres" >&2; exit 2 ;;
esac
