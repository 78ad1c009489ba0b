# Shared by the podbin wrappers and drill/dataplane.sh: drill settings, finding the
# real client binaries, running them against the drill's loopback servers.
# Functions only; sourcing it changes nothing but variables.
# shellcheck shell=bash

_podbin_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source-path=SCRIPTDIR source=../../drill.env
source "$_podbin_root/../drill.env"
DRILL_DRILLCTL_PORT=${DRILL_DRILLCTL_PORT:-58099}
DRILL_PG_BINDIR=${DRILL_PG_BINDIR:-/usr/lib/postgresql/15/bin}

podbin_die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 127; }

# First executable NAME on PATH that is not one of these wrappers.
realbin() {
  local name=$1 dir real
  local -a dirs
  IFS=: read -ra dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    real=$(cd "$dir" 2>/dev/null && pwd -P) || continue
    case $real in "$_podbin_root" | "$_podbin_root"/*) continue ;; esac
    if [ -f "$real/$name" ] && [ -x "$real/$name" ]; then
      printf '%s\n' "$real/$name"
      return 0
    fi
  done
  return 1
}

# PostgreSQL 15's own client first: /usr/bin/psql on Debian is a version dispatcher.
pg_bin() {
  if [ -x "$DRILL_PG_BINDIR/$1" ]; then printf '%s\n' "$DRILL_PG_BINDIR/$1"; else realbin "$1"; fi
}

podbin_secret() {
  local file=$DRILL_RUN/secrets/$1
  [ -r "$file" ] || podbin_die "no $file: the drill data plane is not up (run drill/dataplane.sh up)"
  cat "$file"
}

# The pod's /backups volume is $DRILL_RUN/backups and its data volume
# /var/lib/postgresql/data (PGDATA .../pgdata) is the drill cluster's data directory;
# rewrite paths in arguments (/backups/x, --file=/backups/x, of=/backups/x, -f/backups/x)
# into POD_ARGS.
PODBIN_PGDATA=/var/lib/postgresql/data/pgdata
podbin_map_path() {
  local path=$1 b=$DRILL_RUN/backups d=$DRILL_RUN/postgres/data
  case $path in
    /backups | /backups/*) printf '%s' "$b${path#/backups}" ;;
    "$PODBIN_PGDATA" | "$PODBIN_PGDATA"/*) printf '%s' "$d${path#"$PODBIN_PGDATA"}" ;;
    /var/lib/postgresql/data | /var/lib/postgresql/data/*) printf '%s' "$d${path#/var/lib/postgresql/data}" ;;
    *) printf '%s' "$path" ;;
  esac
}

podbin_map_paths() {
  local arg
  POD_ARGS=()
  for arg in "$@"; do
    case $arg in
      /backups | /backups/* | /var/lib/postgresql/data | /var/lib/postgresql/data/*) arg=$(podbin_map_path "$arg") ;;
      ?*=/backups | ?*=/backups/* | ?*=/var/lib/postgresql/data | ?*=/var/lib/postgresql/data/*)
        arg=${arg%%=*}=$(podbin_map_path "${arg#*=}") ;;
      -?/backups | -?/backups/*) arg=${arg:0:2}$(podbin_map_path "${arg:2}") ;;
    esac
    POD_ARGS+=("$arg")
  done
}

# A file tool (cat, dd, df, grep, ls, mv, rm, sha256sum, stat) as run in the pod: the real one
# with the pod's paths mapped. realbin never returns a wrapper, so no guard is needed
# (and these run inside the PostgreSQL wrappers too).
podbin_exec_file_tool() {
  local name=$1 bin
  shift
  bin=$(realbin "$name") || podbin_die "$name not found on PATH"
  podbin_map_paths "$@"
  exec "$bin" "${POD_ARGS[@]}"
}

# A copy of these wrappers elsewhere on PATH must not loop into another copy.
podbin_guard() {
  [ -z "${DRILL_PODBIN_ACTIVE:-}" ] || podbin_die "the real $1 is not on PATH (a podbin wrapper called itself)"
  export DRILL_PODBIN_ACTIVE=1
}

podbin_exec_postgres() {
  local name=$1 bin
  shift
  podbin_guard "$name"
  bin=$(pg_bin "$name") || podbin_die "$name not found: install the Debian package postgresql-15 (or postgresql-client-15)"
  PGPASSWORD=$(podbin_secret postgres_password)
  export PGHOST=127.0.0.1 PGPORT=$DRILL_PG_PORT PGPASSWORD
  podbin_map_paths "$@"
  exec "$bin" "${POD_ARGS[@]}"
}

podbin_exec_redis() {
  local name=$1 bin
  shift
  podbin_guard "$name"
  bin=$(realbin "$name") || podbin_die "$name not found: install the Debian package redis-server (redis-tools)"
  REDISCLI_AUTH=$(podbin_secret redis_password)
  export REDISCLI_AUTH
  podbin_map_paths "$@"
  exec "$bin" -h 127.0.0.1 -p "$DRILL_REDIS_PORT" "${POD_ARGS[@]}"
}
