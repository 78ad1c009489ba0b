# shellcheck shell=bash
# Process helpers shared by drill/dataplane.sh and drill/monitoring.sh (sourced, not run).
# The caller defines log(), die(), $here (the drill folder) and, for ensure_secret, $secrets.

pick_python() { # the Python that runs the drill's helper scripts
  local p
  # shellcheck disable=SC2154  # $here is the caller's
  for p in "${DRILL_PYTHON:-}" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" "$here/../.venv/bin/python"; do
    [ -n "$p" ] && [ -x "$p" ] && { printf '%s\n' "$p"; return; }
  done
  command -v python3 || die "python3 not found (the drill's helpers need Python 3)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The drill's fixed ports (drill/drill.env) lie in the kernel's ephemeral range: a client
# socket (the stand-ins' synthetic traffic, span exports, kubectl) may be given one of them
# and a server's bind then fails. Where this runs as root, the ports are added to
# net.ipv4.ip_local_reserved_ports, which the kernel never hands out as an ephemeral port
# (explicit binds still work); elsewhere claim_port's wait is what there is.
reserve_drill_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current wanted port name
  [ -w "$file" ] || return 0
  current=$(cat "$file" 2>/dev/null) || return 0
  wanted=$current
  for name in $(compgen -v DRILL_ | grep '_PORT$'); do
    port=${!name}
    case $port in ''|*[!0-9]*) continue ;; esac
    case ",$wanted," in *",$port,"*) continue ;; esac
    wanted=${wanted:+$wanted,}$port
  done
  [ "$wanted" = "$current" ] && return 0
  if echo "$wanted" >"$file" 2>/dev/null; then
    log "drill ports reserved from the ephemeral range (net.ipv4.ip_local_reserved_ports)"
  fi
}

# Wait until a port this component needs is free, or fail clearly naming its holder. The
# drill's ports lie in the kernel's ephemeral range, so a short-lived client socket or a
# test's private server can hold one for a moment: a port nobody listens on gets 30 s.
port_bound() { # any socket but TIME-WAIT on the port: the server's bind would fail
  ss -Htan "sport = :$1" 2>/dev/null | grep -qv '^TIME-WAIT'
}
claim_port() {
  local port=$1 what=$2 owner deadline=$((SECONDS + 30)) said=
  while port_bound "$port" || port_open "$port"; do
    owner=$(ss -Htanp "sport = :$port" 2>/dev/null | grep -v '^TIME-WAIT' | grep -o 'users:.*' | head -1 || true)
    if port_open "$port" || [ "$SECONDS" -ge "$deadline" ]; then
      die "port $port for $what is taken by another process ${owner:-(unknown owner)}: stop it or set the port in drill/drill.env"
    fi
    [ -n "$said" ] || log "port $port for $what is held by a passing socket ${owner:-(unknown owner)}; waiting up to 30 s"
    said=1
    sleep 0.5
  done
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
  log "$what answers"
}

ensure_secret() { # generated once, never printed
  # shellcheck disable=SC2154  # $secrets is the caller's
  local file=$secrets/$1
  [ -s "$file" ] && return
  mkdir -p "$secrets" && chmod 700 "$secrets"
  (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$file.tmp" && mv "$file.tmp" "$file")
}

# A zombie counts as gone: on some hosts PID 1 reaps orphans only after a while.
proc_alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
pid_alive() { [ -s "$1" ] && proc_alive "$(cat "$1")"; }

stop_pid() { # stop_pid PIDFILE NAME: TERM, wait up to 10 s (Prometheus closes its TSDB), then KILL
  local pidfile=$1 pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do proc_alive "$pid" || break; sleep 0.05; done
  if proc_alive "$pid"; then log "$2 ignored SIGTERM, killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  log "$2 stopped"
}
