#!/usr/bin/env bash
# The local stack: PostgreSQL, Redis, a Kafka-protocol broker (tansu), the
# AWS API emulator (moto server) and the PortOne sandbox (built from this
# repo), each on its own port (config/local.toml),
# with its data, logs and pid file under the state dir (.stack/ by default).
#
#   infra/local/stack.sh start   [component...]   idempotent: running ones are left alone
#   infra/local/stack.sh stop    [component...]   stops only what this script started
#   infra/local/stack.sh restart [component...]
#   infra/local/stack.sh status                   exit 0 only when all are up
#
# Components: postgres redis kafka moto portone (default: all).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"
eval "$(python3 "$here/stack-config.py")"

ALL=(postgres redis kafka moto portone)
log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$STATE_DIR"
TANSU="$TICKETING_HOME/tools/bin/tansu"
MOTO="$TICKETING_HOME/venv/bin/moto_server"

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port name seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}

# --- PostgreSQL --------------------------------------------------------------
pg_dir="$STATE_DIR/postgres"
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
start_postgres() {
  local bin
  bin="$(pg_bin_dir)" || die "PostgreSQL server binaries not found; run infra/local/install-tools.sh"
  if as_pg "$bin/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1; then
    log "postgres already running on $PG_PORT"
  else
    if port_open "$PG_HOST" "$PG_PORT"; then
      die "port $PG_PORT is taken by another process; set TICKETING__DATABASE__PORT to a free port"
    fi
    mkdir -p "$pg_dir"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$pg_dir"; fi
    if [[ ! -f "$pg_dir/data/PG_VERSION" ]]; then
      log "initialising a PostgreSQL cluster in $pg_dir/data"
      as_pg "$bin/initdb" -D "$pg_dir/data" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 \
        || { cat "$pg_dir/initdb.log" >&2; die "initdb failed"; }
    fi
    as_pg "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $pg_dir -c listen_addresses=$PG_HOST -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { tail -20 "$pg_dir/server.log" >&2; die "PostgreSQL did not start"; }
    log "postgres started on $PG_PORT"
  fi
  if ! psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
    log "database $PG_DB created"
  fi
}
stop_postgres() {
  local bin
  bin="$(pg_bin_dir)" || return 0
  if [[ -f "$pg_dir/data/postmaster.pid" ]] && as_pg "$bin/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
    log "postgres stopped"
  else
    log "postgres was not started by this stack; nothing to stop"
  fi
}
status_postgres() { port_open "$PG_HOST" "$PG_PORT"; }

# --- Redis -------------------------------------------------------------------
redis_dir="$STATE_DIR/redis"
start_redis() {
  command -v redis-server >/dev/null || die "redis-server not installed; run infra/local/install-tools.sh"
  if pid_alive "$redis_dir/redis.pid" redis-server; then
    log "redis already running on $REDIS_PORT"
    return
  fi
  port_open "$REDIS_HOST" "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process; set TICKETING__REDIS__URL"
  mkdir -p "$redis_dir"
  redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --daemonize yes \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" --dir "$redis_dir" \
    --save "" --appendonly no >/dev/null
  wait_port "$REDIS_HOST" "$REDIS_PORT" redis 10 || die "redis did not start; see $redis_dir/redis.log"
  log "redis started on $REDIS_PORT"
}
stop_redis() { stop_pidfile "$redis_dir/redis.pid" redis-server redis; }
status_redis() { port_open "$REDIS_HOST" "$REDIS_PORT"; }

# --- Kafka (tansu) -----------------------------------------------------------
kafka_dir="$STATE_DIR/kafka"
start_kafka() {
  [[ -x "$TANSU" ]] || die "tansu not built; run infra/local/install-tools.sh"
  if pid_alive "$kafka_dir/tansu.pid" tansu; then
    log "kafka (tansu) already running on $KAFKA_PORT"
  else
    port_open "$KAFKA_HOST" "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set TICKETING__KAFKA__BOOTSTRAP_SERVERS"
    mkdir -p "$kafka_dir"
    # SQLite storage: data and committed offsets survive a broker restart,
    # which the disaster-recovery drills rely on.
    # tansu resolves the sqlite:// path against its working directory.
    (
      cd "$kafka_dir"
      nohup "$TANSU" broker \
        --listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
        --advertised-listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
        --storage-engine "sqlite://tansu.db" \
        >>"$kafka_dir/tansu.log" 2>&1 &
      echo $! >"$kafka_dir/tansu.pid"
    )
    wait_port "$KAFKA_HOST" "$KAFKA_PORT" kafka 30 || die "tansu did not start; see $kafka_dir/tansu.log"
    log "kafka (tansu) started on $KAFKA_PORT"
  fi
  ensure_topics
}
ensure_topics() {
  # The catalog's topics (app/shared/catalog): one partition each in the MVP.
  local existing topic
  existing="$("$TANSU" topic list --broker "tcp://$KAFKA_HOST:$KAFKA_PORT" 2>/dev/null || true)"
  for topic in payment.events reservation.events DLQ; do
    if ! grep -q "\"$topic\"" <<<"$existing" && ! grep -qx "$topic" <<<"$existing"; then
      "$TANSU" topic create "$topic" --partitions 1 --broker "tcp://$KAFKA_HOST:$KAFKA_PORT" >/dev/null 2>&1 \
        || log "topic $topic: create returned an error (it may exist already)"
    fi
  done
}
stop_kafka() { stop_pidfile "$kafka_dir/tansu.pid" tansu "kafka (tansu)"; }
status_kafka() { port_open "$KAFKA_HOST" "$KAFKA_PORT"; }

# --- moto server (AWS API emulator) --------------------------------------------
moto_dir="$STATE_DIR/moto"
start_moto() {
  [[ -x "$MOTO" ]] || die "moto_server not installed; run infra/local/install-tools.sh"
  if pid_alive "$moto_dir/moto.pid" moto_server; then
    log "moto already running on $MOTO_PORT"
    return
  fi
  port_open 127.0.0.1 "$MOTO_PORT" && die "port $MOTO_PORT is taken by another process; change stack.moto_port"
  mkdir -p "$moto_dir"
  nohup "$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >>"$moto_dir/moto.log" 2>&1 &
  echo $! >"$moto_dir/moto.pid"
  wait_port 127.0.0.1 "$MOTO_PORT" moto 30 || die "moto did not start; see $moto_dir/moto.log"
  log "moto started on $MOTO_PORT"
}
stop_moto() { stop_pidfile "$moto_dir/moto.pid" moto_server moto; }
status_moto() { port_open 127.0.0.1 "$MOTO_PORT"; }

# --- PortOne sandbox (app/portone-sandbox) -------------------------------------
portone_dir="$STATE_DIR/portone"
start_portone() {
  if pid_alive "$portone_dir/portone.pid" portone-sandbox; then
    log "portone sandbox already running on $SANDBOX_PORT"
    return
  fi
  port_open 127.0.0.1 "$SANDBOX_PORT" && die "port $SANDBOX_PORT is taken by another process; change stack.portone_sandbox_port"
  mkdir -p "$portone_dir"
  (cd "$REPO_ROOT" && cargo build --quiet -p portone-sandbox --bin portone-sandbox) \
    || die "the PortOne sandbox did not build"
  local target_dir
  target_dir="$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  TICKETING_PROFILE=local nohup "$target_dir/debug/portone-sandbox" --port "$SANDBOX_PORT" \
    >>"$portone_dir/portone.log" 2>&1 &
  echo $! >"$portone_dir/portone.pid"
  wait_port 127.0.0.1 "$SANDBOX_PORT" "portone sandbox" 30 ||
    die "the PortOne sandbox did not start; see $portone_dir/portone.log"
  log "portone sandbox started on $SANDBOX_PORT (test mode)"
}
stop_portone() { stop_pidfile "$portone_dir/portone.pid" portone-sandbox "portone sandbox"; }
status_portone() { port_open 127.0.0.1 "$SANDBOX_PORT"; }

# --- main --------------------------------------------------------------------
action="${1:-}"
shift || true
components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=("${ALL[@]}")
for c in "${components[@]}"; do
  case "$c" in postgres | redis | kafka | moto | portone) ;; *) die "unknown component '$c'; expected: ${ALL[*]}" ;; esac
done

case "$action" in
  start)
    for c in "${components[@]}"; do "start_$c"; done
    ;;
  stop)
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do "stop_${components[i]}"; done
    ;;
  restart)
    for c in "${components[@]}"; do "stop_$c"; "start_$c"; done
    ;;
  status)
    rc=0
    for c in "${components[@]}"; do
      if "status_$c"; then printf '%-9s up\n' "$c"; else printf '%-9s DOWN\n' "$c"; rc=1; fi
    done
    exit $rc
    ;;
  *)
    die "usage: $0 start|stop|restart|status [${ALL[*]}]"
    ;;
esac
