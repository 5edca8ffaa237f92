#!/usr/bin/env bash
# icetide's local stack without Docker: the Temporal CLI dev server, MinIO and Trino (Iceberg + Hive catalogs on MinIO).
#
#   local/stack.sh install   build/download the pinned servers into the cache (idempotent, safe after an interrupt)
#   local/stack.sh up        install if needed, start what is not running, wait until healthy (reuses a running stack)
#   local/stack.sh down [svc...]  stop what this stack started (or only the named services: temporal minio trino)
#   local/stack.sh kill svc...    SIGKILL the named services (fault tests); `up` starts them again
#   local/stack.sh status    print what runs where; exit 1 unless all three are healthy
#   local/stack.sh env       print the settings the demo and tests read, as `export KEY=value` lines
#
# Everything lives under ICETIDE_HOME (default ~/.cache/icetide): binaries in bin/, data, logs and pids in run/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ICETIDE_HOME=${ICETIDE_HOME:-$HOME/.cache/icetide}
RUN=${ICETIDE_RUN:-$ICETIDE_HOME/run} # data, logs and pids: one directory per stack instance
LOGS=$RUN/logs

TEMPORAL_VERSION=v1.5.1 # v1.6+ has a replace directive in go.mod that breaks `go install`
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
TRINO_VERSION=476 # the newest trino-server on Maven Central here; needs Java 24+ (see find_java)

export ICETIDE_HOST=${ICETIDE_HOST:-127.0.0.1}
export ICETIDE_TEMPORAL_PORT=${ICETIDE_TEMPORAL_PORT:-7233}
export ICETIDE_TEMPORAL_UI_PORT=${ICETIDE_TEMPORAL_UI_PORT:-8233}
export ICETIDE_TEMPORAL_HTTP_PORT=${ICETIDE_TEMPORAL_HTTP_PORT:-7243}
export ICETIDE_TEMPORAL_METRICS_PORT=${ICETIDE_TEMPORAL_METRICS_PORT:-7244}
export ICETIDE_MINIO_PORT=${ICETIDE_MINIO_PORT:-9000}
export ICETIDE_MINIO_CONSOLE_PORT=${ICETIDE_MINIO_CONSOLE_PORT:-9001}
export ICETIDE_TRINO_PORT=${ICETIDE_TRINO_PORT:-8080}
export ICETIDE_S3_ACCESS_KEY=${ICETIDE_S3_ACCESS_KEY:-icetide}
export ICETIDE_S3_SECRET_KEY=${ICETIDE_S3_SECRET_KEY:-icetide-local-secret}
export ICETIDE_S3_REGION=${ICETIDE_S3_REGION:-us-east-1}
export ICETIDE_WAREHOUSE_BUCKET=${ICETIDE_WAREHOUSE_BUCKET:-icetide-warehouse}
export ICETIDE_S3_ENDPOINT=http://$ICETIDE_HOST:$ICETIDE_MINIO_PORT

temporal_bin=$ICETIDE_HOME/bin/temporal-$TEMPORAL_VERSION/temporal
minio_bin=$ICETIDE_HOME/bin/minio-$MINIO_VERSION/minio
trino_dir=$ICETIDE_HOME/bin/trino-server-$TRINO_VERSION

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# go install into a scratch dir, then rename: an interrupted build never leaves a half binary at the final path.
go_install() { # module@version final-binary-path
  local target=$2 tmp
  [ -x "$target" ] && return 0
  command -v go >/dev/null || die "Go is needed to build $1 (no registry ships it as a binary)"
  tmp=$(mktemp -d "$ICETIDE_HOME/bin/.go-XXXXXX")
  log "building $1 (first time only, a few minutes)"
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install "$1" >"$LOGS/install-$(basename "$target").log" 2>&1 \
    || die "go install $1 failed; see $LOGS/install-$(basename "$target").log"
  mkdir -p "$(dirname "$target")"
  mv "$tmp/$(basename "$target")" "$target"
  rm -rf "$tmp"
}

install_trino() {
  [ -x "$trino_dir/bin/launcher" ] && return 0
  command -v mvn >/dev/null || die "Maven is needed to fetch trino-server from Maven Central"
  local dl=$ICETIDE_HOME/dl tmp
  mkdir -p "$dl"
  if [ ! -s "$dl/trino-server-$TRINO_VERSION.tar.gz" ]; then
    log "downloading trino-server $TRINO_VERSION from Maven Central (~820 MB)"
    mvn -q -B dependency:copy -Dartifact="io.trino:trino-server:$TRINO_VERSION:tar.gz" -DoutputDirectory="$dl.part" \
      >"$LOGS/install-trino.log" 2>&1 || die "fetching trino-server failed; see $LOGS/install-trino.log"
    mv "$dl.part/trino-server-$TRINO_VERSION.tar.gz" "$dl/" && rm -rf "$dl.part"
  fi
  tmp=$(mktemp -d "$ICETIDE_HOME/bin/.trino-XXXXXX")
  tar -xzf "$dl/trino-server-$TRINO_VERSION.tar.gz" -C "$tmp"
  # Keep only the two connectors icetide uses: every plugin costs start-up time. (Plugins share jars by hard
  # link inside the tarball, so extract all and prune rather than extract a subset.)
  find "$tmp/trino-server-$TRINO_VERSION/plugin" -mindepth 1 -maxdepth 1 -type d ! -name iceberg ! -name hive \
    -exec rm -rf {} +
  mv "$tmp/trino-server-$TRINO_VERSION" "$trino_dir" && rm -rf "$tmp"
}

# Trino 476 needs Java 24 or later; Debian 12 ships 17, so look for any newer JDK on the machine.
find_java() {
  local candidate major
  for candidate in "${ICETIDE_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/java/* /opt/*jdk*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    major=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ "${major:-0}" -ge 24 ] 2>/dev/null; then echo "$candidate"; return 0; fi
  done
  die "Trino $TRINO_VERSION needs a JDK 24 or later; none found (set ICETIDE_JAVA_HOME)"
}

install_all() {
  mkdir -p "$ICETIDE_HOME/bin" "$LOGS"
  go_install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION" "$temporal_bin"
  go_install "github.com/minio/minio@$MINIO_VERSION" "$minio_bin"
  install_trino
}

pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

temporal_healthy() { "$temporal_bin" operator cluster health --address "$ICETIDE_HOST:$ICETIDE_TEMPORAL_PORT" >/dev/null 2>&1; }
minio_healthy() { curl -fsS -o /dev/null "$ICETIDE_S3_ENDPOINT/minio/health/live" 2>/dev/null; }
trino_healthy() { curl -fsS "http://$ICETIDE_HOST:$ICETIDE_TRINO_PORT/v1/info" 2>/dev/null | grep -q '"starting":false'; }

wait_healthy() { # name seconds
  local deadline=$((SECONDS + $2))
  until "$1_healthy"; do
    pid_alive "$1" || die "$1 exited while starting; see $LOGS/$1.log"
    [ $SECONDS -lt $deadline ] || die "$1 not healthy after $2 s; see $LOGS/$1.log"
    sleep 1
  done
}

start_detached() { # name command...
  local name=$1; shift
  # 9>&-: the daemon must not inherit the `up` lock.
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/$name.pid"
}

start_temporal() {
  if temporal_healthy; then log "temporal already up"; return; fi
  start_detached temporal "$temporal_bin" server start-dev \
    --ip "$ICETIDE_HOST" --port "$ICETIDE_TEMPORAL_PORT" --ui-port "$ICETIDE_TEMPORAL_UI_PORT" \
    --http-port "$ICETIDE_TEMPORAL_HTTP_PORT" --metrics-port "$ICETIDE_TEMPORAL_METRICS_PORT" \
    --db-filename "$RUN/temporal.db" --log-level warn \
    --search-attribute IcetideTable=Keyword --search-attribute IcetideOutcome=Keyword
  wait_healthy temporal 60
  log "temporal up at $ICETIDE_HOST:$ICETIDE_TEMPORAL_PORT (UI http://$ICETIDE_HOST:$ICETIDE_TEMPORAL_UI_PORT)"
}

start_minio() {
  if ! minio_healthy; then
    mkdir -p "$RUN/minio-data"
    MINIO_ROOT_USER=$ICETIDE_S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$ICETIDE_S3_SECRET_KEY start_detached minio \
      "$minio_bin" server "$RUN/minio-data" --quiet \
      --address "$ICETIDE_HOST:$ICETIDE_MINIO_PORT" --console-address "$ICETIDE_HOST:$ICETIDE_MINIO_CONSOLE_PORT"
    wait_healthy minio 60
    log "minio up at $ICETIDE_S3_ENDPOINT"
  else
    log "minio already up"
  fi
  # The warehouse bucket holds Iceberg data and the catalog's file metastore; PUT is idempotent for its owner.
  curl -fsS -o /dev/null -X PUT --aws-sigv4 "aws:amz:$ICETIDE_S3_REGION:s3" \
    --user "$ICETIDE_S3_ACCESS_KEY:$ICETIDE_S3_SECRET_KEY" "$ICETIDE_S3_ENDPOINT/$ICETIDE_WAREHOUSE_BUCKET" 2>/dev/null ||
    curl -fsS -o /dev/null --head --aws-sigv4 "aws:amz:$ICETIDE_S3_REGION:s3" \
      --user "$ICETIDE_S3_ACCESS_KEY:$ICETIDE_S3_SECRET_KEY" "$ICETIDE_S3_ENDPOINT/$ICETIDE_WAREHOUSE_BUCKET" ||
    die "cannot create bucket $ICETIDE_WAREHOUSE_BUCKET"
}

start_trino() {
  if trino_healthy; then log "trino already up"; return; fi
  local etc=$RUN/trino-etc java_home
  java_home=$(find_java)
  rm -rf "$etc" && mkdir -p "$etc/catalog" "$RUN/trino-data"
  cp "$here"/trino/etc/catalog/*.properties "$etc/catalog/"
  cp "$here"/trino/etc/jvm.config "$here"/trino/etc/log.properties "$etc/"
  { cat "$here/trino/etc/config.properties"
    echo "http-server.http.port=$ICETIDE_TRINO_PORT"
    echo "discovery.uri=http://$ICETIDE_HOST:$ICETIDE_TRINO_PORT"
  } >"$etc/config.properties"
  printf 'node.environment=icetide\nnode.id=icetide-local\nnode.data-dir=%s\n' "$RUN/trino-data" >"$etc/node.properties"
  JAVA_HOME=$java_home PATH=$java_home/bin:$PATH start_detached trino \
    "$trino_dir/bin/launcher" run --etc-dir "$etc" --data-dir "$RUN/trino-data" \
    -Dnode.environment=icetide
  wait_healthy trino 240
  log "trino up at http://$ICETIDE_HOST:$ICETIDE_TRINO_PORT"
}

kill_one() {
  local name=$1 pid
  pid_alive "$name" || return 0
  pid=$(cat "$RUN/$name.pid")
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
  # Wait until it is gone: Trino's launcher refuses to start while the old process still exits.
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$RUN/$name.pid"
  log "$name killed"
}

stop_one() {
  local name=$1 pid
  pid_alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid=$(cat "$RUN/$name.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$RUN/$name.pid"
  log "$name stopped"
}

# `export KEY=value` lines: `source <(bash local/stack.sh env)` gives a shell the stack's settings.
print_env() {
  local TEMPORAL_ADDRESS=$ICETIDE_HOST:$ICETIDE_TEMPORAL_PORT TEMPORAL_NAMESPACE=default \
    ICETIDE_TEMPORAL_UI=http://$ICETIDE_HOST:$ICETIDE_TEMPORAL_UI_PORT ICETIDE_TRINO_URL=http://$ICETIDE_HOST:$ICETIDE_TRINO_PORT \
    ICETIDE_TEMPORAL_BIN=$temporal_bin ICETIDE_MIN_RETENTION=0s key
  for key in TEMPORAL_ADDRESS TEMPORAL_NAMESPACE ICETIDE_TEMPORAL_UI ICETIDE_TRINO_URL ICETIDE_S3_ENDPOINT ICETIDE_S3_REGION \
    ICETIDE_S3_ACCESS_KEY ICETIDE_S3_SECRET_KEY ICETIDE_WAREHOUSE_BUCKET ICETIDE_TEMPORAL_BIN ICETIDE_MIN_RETENTION; do
    printf 'export %s=%q\n' "$key" "${!key}"
  done
}

cmd=${1:-up}
mkdir -p "$RUN" "$LOGS"
case $cmd in
  install) install_all ;;
  up)
    install_all
    # Serialize concurrent `up`s (demo and tests at once) on one lock.
    exec 9>"$RUN/up.lock"; flock 9
    start_temporal; start_minio; start_trino ;;
  down)
    shift
    for s in "${@:-trino minio temporal}"; do for one in $s; do stop_one "$one"; done; done ;;
  kill)
    shift
    [ $# -gt 0 ] || die "kill which service? (temporal minio trino)"
    for s in "$@"; do kill_one "$s"; done ;;
  status)
    ok=0
    for s in temporal minio trino; do
      if "${s}_healthy"; then log "$s: up"; else log "$s: down"; ok=1; fi
    done
    exit $ok ;;
  env) print_env ;;
  *) die "unknown command '$cmd' (install | up | down [svc...] | kill svc... | status | env)" ;;
esac
