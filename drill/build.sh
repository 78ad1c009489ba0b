#!/usr/bin/env bash
# Build the drill cluster's binaries from Go modules at the pinned versions in
# versions.env, into a cache outside the repository keyed by version:
#   $DRILL_CACHE/bin/kubernetes-<v>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $DRILL_CACHE/bin/etcd-<v>/etcd
#   $DRILL_CACHE/bin/kwok-<v>/{kwok,kwokctl}
#   $DRILL_CACHE/bin/metrics-server-<v>/metrics-server
#   $DRILL_CACHE/bin/kube-state-metrics-<v>/kube-state-metrics
#   $DRILL_CACHE/bin/jaeger-<v>/jaeger
# A piece whose binaries are already there is skipped, so a warm run is instant.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
DRILL_CACHE=${DRILL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ai-orchestrator-drill}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
ldbase="-s -w"
log() { printf '[drill-build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

have_all() { local d=$1; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }

# Kubernetes: k8s.io/kubernetes points its staging modules at ./staging with
# replace lines that only work inside its own repository, so a wrapper module maps
# each staging module to its published version (v1.X.Y -> v0.X.Y).
build_kubernetes() {
  local out=$DRILL_CACHE/bin/kubernetes-$KUBE_VERSION
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if have_all "$out" "${bins[@]}"; then log "kubernetes $KUBE_VERSION cached"; return; fi
  local src=$DRILL_CACHE/src/kubernetes-$KUBE_VERSION staging=v0.${KUBE_VERSION#v1.}
  mkdir -p "$src" "$out"
  local modfile
  modfile=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module drill.local/kubernetes"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$modfile"
    echo ")"
  } > "$src/go.mod"
  local major=${KUBE_VERSION#v}; major=${major%%.*}
  local minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="$ldbase"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  log "building kubernetes $KUBE_VERSION (cold: the longest step)"
  (cd "$src" && go build -mod=mod -trimpath -ldflags "$ld" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

# etcd: the server module also carries repository-relative replace lines, so
# `go install` refuses it; a wrapper module builds the same main package.
build_etcd() {
  local out=$DRILL_CACHE/bin/etcd-$ETCD_VERSION
  if have_all "$out" etcd; then log "etcd $ETCD_VERSION cached"; return; fi
  local src=$DRILL_CACHE/src/etcd-$ETCD_VERSION
  mkdir -p "$src" "$out"
  printf 'module drill.local/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$src/go.mod"
  log "building etcd $ETCD_VERSION"
  (cd "$src" && go build -mod=mod -trimpath -ldflags "$ldbase" -o "$out/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  local out=$DRILL_CACHE/bin/kwok-$KWOK_VERSION
  if have_all "$out" kwok kwokctl; then log "kwok $KWOK_VERSION cached"; return; fi
  mkdir -p "$out"
  log "building kwok $KWOK_VERSION"
  local ld="$ldbase -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBE_VERSION"
  GOBIN=$out go install -trimpath -ldflags "$ld" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

build_metrics_server() {
  local out=$DRILL_CACHE/bin/metrics-server-$METRICS_SERVER_VERSION
  if have_all "$out" metrics-server; then log "metrics-server $METRICS_SERVER_VERSION cached"; return; fi
  mkdir -p "$out"
  log "building metrics-server $METRICS_SERVER_VERSION"
  GOBIN=$out go install -trimpath -ldflags "$ldbase -X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
}

# kube-state-metrics: the module proxy refuses its version list, so `go install ...@v` fails;
# a wrapper module that requires the pinned release builds the same main package. Its
# version is prometheus/common's version package, set as its own Makefile does.
build_kube_state_metrics() {
  local out=$DRILL_CACHE/bin/kube-state-metrics-$KSM_VERSION
  if have_all "$out" kube-state-metrics; then log "kube-state-metrics $KSM_VERSION cached"; return; fi
  local src=$DRILL_CACHE/src/kube-state-metrics-$KSM_VERSION
  mkdir -p "$src" "$out"
  printf 'module drill.local/ksm\n\ngo 1.23.0\n\nrequire k8s.io/kube-state-metrics/v2 %s\n' "$KSM_VERSION" > "$src/go.mod"
  local pkg=github.com/prometheus/common/version
  local date; date=$(date -u +%Y%m%d-%H:%M:%S)
  local ld="$ldbase -X $pkg.Version=$KSM_VERSION -X $pkg.BuildDate=$date"
  log "building kube-state-metrics $KSM_VERSION"
  (cd "$src" && go build -mod=mod -trimpath -ldflags "$ld" -o "$out/kube-state-metrics" k8s.io/kube-state-metrics/v2)
}

# Jaeger (v2 binary cmd/jaeger: all-in-one with memory storage by default): its go.mod
# carries a replace line (github.com/Shopify/sarama), so `go install ...@v` refuses it; a
# wrapper module copies every replace line of the pinned release and builds the same main
# package, with the version variables its own Makefile sets (BuildInfo.mk). The UI assets
# are not in the module (the binary serves a placeholder page); the query API is complete.
build_jaeger() {
  local out=$DRILL_CACHE/bin/jaeger-$JAEGER_VERSION
  if have_all "$out" jaeger; then log "jaeger $JAEGER_VERSION cached"; return; fi
  local src=$DRILL_CACHE/src/jaeger-$JAEGER_VERSION mod=github.com/jaegertracing/jaeger
  mkdir -p "$src" "$out"
  local modfile
  modfile=$(cd "$src" && go mod download -json "$mod@$JAEGER_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -n "$modfile" ] || { log "jaeger: $mod@$JAEGER_VERSION not downloadable"; return 1; }
  {
    echo "module drill.local/jaeger"
    echo
    echo "go 1.25.0"
    echo
    echo "require $mod $JAEGER_VERSION"
    echo
    echo "replace ("
    # single-line `replace a => b v` and the lines of a `replace ( ... )` block
    awk '/^replace \(/ {blk=1; next} blk && /^\)/ {blk=0; next}
         blk && /=>/ {print "\t" $0; next} /^replace [^(]/ {sub(/^replace /, ""); print "\t" $0}' "$modfile" |
      sed 's/^\t\t*/\t/'
    echo ")"
  } > "$src/go.mod"
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="$ldbase -X $mod/internal/version.latestVersion=$JAEGER_VERSION -X $mod/internal/version.date=$date"
  log "building jaeger $JAEGER_VERSION"
  (cd "$src" && go build -mod=mod -trimpath -ldflags "$ld" -o "$out/jaeger.tmp" "$mod/cmd/jaeger") &&
    mv "$out/jaeger.tmp" "$out/jaeger"
}

command -v go >/dev/null || { echo "drill build: Go is required (go version 1.26 or newer)" >&2; exit 1; }
start=$(date +%s)
build_etcd
build_kwok
build_metrics_server
build_kube_state_metrics
build_jaeger
build_kubernetes
log "all binaries ready in $DRILL_CACHE/bin ($(( $(date +%s) - start )) s)"
