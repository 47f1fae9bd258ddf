#!/usr/bin/env bash
# The local stack: PostgreSQL, Redis, Apache Kafka (KRaft), the
# AWS API emulator (moto server), an OCI registry standing in for ECR's
# registry endpoint, and the PortOne sandbox (built from this repo), each on its own port (config/local.toml),
# with its data, logs and pid file under the state dir (.stack/ by default).
#
#   infra/local/stack.sh start   [component...]   idempotent: running ones are left alone
#   infra/local/stack.sh stop    [component...]   stops only what this script started
#   infra/local/stack.sh restart [component...]
#   infra/local/stack.sh status                   exit 0 only when all are up
#
# Components: postgres redis kafka moto registry emf-agent portone (default: all), and the
# three-broker profile kafka-cluster (or one of its nodes: kafka-cluster-1..3),
# which only starts when named.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"
eval "$(python3 "$here/stack-config.py")"

ALL=(postgres redis kafka moto registry emf-agent portone)
log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$STATE_DIR"
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
# The server speaks TLS with a certificate for $PG_HOST signed by a CA of the
# stack's own (pg_tls_dir/ca.crt), so the services' verify-full (the dev and
# prod profiles, against RDS) is exercised here too: the containers test and
# ticketing-db's TLS test trust that CA and nothing else.
pg_tls_dir="$pg_dir/tls"
make_pg_tls() {
  [[ -f "$pg_tls_dir/server.crt" && -f "$pg_tls_dir/ca.crt" ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed; run infra/local/install-tools.sh"
  local san work
  if [[ "$PG_HOST" =~ ^[0-9.]+$ || "$PG_HOST" == *:* ]]; then san="IP:$PG_HOST"; else san="DNS:$PG_HOST"; fi
  work="$(mktemp -d)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ticketing local stack CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$PG_HOST" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$san" >"$work/ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 3650 -extfile "$work/ext" -out "$work/server.crt" 2>/dev/null
  mkdir -p "$pg_tls_dir"
  install -m 0644 "$work/ca.crt" "$work/server.crt" "$pg_tls_dir/"
  install -m 0600 "$work/server.key" "$pg_tls_dir/"
  rm -rf "$work"
  if [[ "$(id -u)" == 0 ]]; then chown -R postgres: "$pg_tls_dir"; fi
  log "postgres TLS: a certificate for $san signed by $pg_tls_dir/ca.crt"
}
start_postgres() {
  local bin
  bin="$(pg_bin_dir)" || die "PostgreSQL server binaries not found; run infra/local/install-tools.sh"
  if as_pg "$bin/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1 \
    && [[ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc 'SHOW ssl' 2>/dev/null)" != on ]]; then
    log "postgres runs without TLS (started before the stack had it); restarting it with TLS"
    as_pg "$bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
  fi
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
    make_pg_tls
    as_pg "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $pg_dir -c listen_addresses=$PG_HOST -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=$pg_tls_dir/server.crt -c ssl_key_file=$pg_tls_dir/server.key" \
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

# --- Kafka (Apache Kafka, KRaft) ------------------------------------------------
# One combined broker and controller (infra/local/kafka-node.sh), its data
# under the state dir: topics and committed offsets survive a restart, which
# the disaster-recovery drills rely on.
kafka_dir="$STATE_DIR/kafka"
start_kafka_node() { # dir name port controller-port [kafka-node.sh args...]
  local dir="$1" name="$2" port="$3" cport="$4"
  shift 4
  if pid_alive "$dir/kafka.pid" kafka.Kafka; then
    log "$name already running on $port"
    return
  fi
  port_open 127.0.0.1 "$port" && die "port $port is taken by another process; change the kafka ports in config/local.toml"
  port_open 127.0.0.1 "$cport" && die "port $cport is taken by another process; change the kafka ports in config/local.toml"
  mkdir -p "$dir"
  nohup bash "$here/kafka-node.sh" --dir "$dir" --port "$port" --controller-port "$cport" "$@" \
    >>"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}
wait_kafka_node() { # dir name port
  local i
  for ((i = 0; i < 600; i++)); do
    port_open 127.0.0.1 "$3" && { log "$2 up on $3"; return 0; }
    kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$1/kafka.log" >&2
  die "$2 did not start; see $1/kafka.log"
}
start_kafka() {
  start_kafka_node "$kafka_dir" kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" --heap 512m
  wait_kafka_node "$kafka_dir" kafka "$KAFKA_PORT"
  # The catalog's topics: infra/local/up.sh creates them (`ticketing topics`);
  # tests make their own.
}
ensure_topics() { # bootstrap replication-factor
  # The catalog's topics, made by the platform's own setup command.
  local bin
  bin="$(ticketing_bin)" || die "the ticketing binary did not build"
  TICKETING_PROFILE=local TICKETING__KAFKA__BOOTSTRAP_SERVERS="$1" TICKETING__TELEMETRY__LOG_LEVEL=warn \
    "$bin" topics --replication-factor "$2" >&2 || die "creating the catalog topics on $1 failed"
}
stop_kafka() { stop_pidfile "$kafka_dir/kafka.pid" kafka.Kafka kafka; }
status_kafka() { port_open "$KAFKA_HOST" "$KAFKA_PORT"; }

# --- The three-broker cluster profile (not started by default) ----------------
# Three KRaft nodes, each broker and controller, one controller quorum; topics
# with the 10x plan's replication factor and min.insync.replicas
# (app/shared/catalog, topics::SCALE_10X_*). `stack.sh stop kafka-cluster-2`
# stops one node, as `opsctl kafka failover-drill` does locally.
cluster_dir="$STATE_DIR/kafka-cluster"
cluster_node() { # n -> "port controller-port"
  echo "${KAFKA_CLUSTER_PORTS[$1 - 1]} ${KAFKA_CLUSTER_CONTROLLER_PORTS[$1 - 1]}"
}
start_kafka_cluster_node() { # n
  local n="$1" port cport voters="" i
  read -r port cport <<<"$(cluster_node "$n")"
  for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:${KAFKA_CLUSTER_CONTROLLER_PORTS[$i - 1]}"; done
  mkdir -p "$cluster_dir"
  if [[ ! -s "$cluster_dir/cluster.id" ]]; then
    python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' >"$cluster_dir/cluster.id"
  fi
  start_kafka_node "$cluster_dir/node-$n" "kafka-cluster-$n" "$port" "$cport" --node-id "$n" --voters "$voters" \
    --cluster-id "$(cat "$cluster_dir/cluster.id")" --replication-factor "$KAFKA_CLUSTER_RF" --min-insync "$KAFKA_CLUSTER_MIN_ISR"
}
start_kafka_cluster() {
  local n port bootstrap=""
  for n in 1 2 3; do start_kafka_cluster_node "$n"; done
  for n in 1 2 3; do
    read -r port _ <<<"$(cluster_node "$n")"
    wait_kafka_node "$cluster_dir/node-$n" "kafka-cluster-$n" "$port"
    bootstrap+="${bootstrap:+,}127.0.0.1:$port"
  done
  ensure_topics "$bootstrap" "$KAFKA_CLUSTER_RF"
}
stop_kafka_cluster() {
  local n
  for n in 3 2 1; do stop_pidfile "$cluster_dir/node-$n/kafka.pid" kafka.Kafka "kafka-cluster-$n"; done
}
status_kafka_cluster() {
  local n port rc=0
  for n in 1 2 3; do
    read -r port _ <<<"$(cluster_node "$n")"
    port_open 127.0.0.1 "$port" || rc=1
  done
  return $rc
}
start_kafka_cluster_n() { # n
  local port
  start_kafka_cluster_node "$1"
  read -r port _ <<<"$(cluster_node "$1")"
  wait_kafka_node "$cluster_dir/node-$1" "kafka-cluster-$1" "$port"
}
stop_kafka_cluster_n() { stop_pidfile "$cluster_dir/node-$1/kafka.pid" kafka.Kafka "kafka-cluster-$1"; }
status_kafka_cluster_n() {
  local port
  read -r port _ <<<"$(cluster_node "$1")"
  port_open 127.0.0.1 "$port"
}

# The ticketing binary (built on first use), for the platform's setup commands.
ticketing_bin() {
  local target_dir
  # The same build as up.sh's (with the tests), so no second feature set.
  (cd "$REPO_ROOT" && cargo build --quiet --workspace --bins --tests) >&2 || return 1
  target_dir="$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  echo "$target_dir/debug/ticketing"
}

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

# --- OCI registry (Debian's docker-registry): ECR's registry endpoint ----------
# `opsctl deploy` pushes the image here (aws.registry_url) with the login
# ECR's GetAuthorizationToken hands out. moto answers that call with the user
# `AWS` and the password `<account>-auth-token` (moto/ecr/responses.py), so
# the registry asks for exactly that login: a push with any other token is
# refused, as ECR would refuse it.
registry_dir="$STATE_DIR/registry"
REGISTRY_BIN=/usr/bin/docker-registry
start_registry() {
  [[ -x "$REGISTRY_BIN" ]] || die "docker-registry not installed; run infra/local/install-tools.sh"
  if pid_alive "$registry_dir/registry.pid" docker-registry; then
    log "registry already running on $REGISTRY_PORT"
    return
  fi
  port_open 127.0.0.1 "$REGISTRY_PORT" && die "port $REGISTRY_PORT is taken by another process; change aws.registry_url"
  mkdir -p "$registry_dir/data"
  python3 - "$MOTO_ACCOUNT" >"$registry_dir/htpasswd" <<'PY'
import sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import crypt
print(f"AWS:{crypt.crypt(sys.argv[1] + '-auth-token', crypt.mksalt(crypt.METHOD_BLOWFISH))}")
PY
  cat >"$registry_dir/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $registry_dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
auth:
  htpasswd:
    realm: ecr-stand-in
    path: $registry_dir/htpasswd
CONF
  nohup "$REGISTRY_BIN" serve "$registry_dir/config.yml" >>"$registry_dir/registry.log" 2>&1 &
  echo $! >"$registry_dir/registry.pid"
  wait_port 127.0.0.1 "$REGISTRY_PORT" registry 30 || die "the registry did not start; see $registry_dir/registry.log"
  log "registry started on $REGISTRY_PORT"
}
stop_registry() { stop_pidfile "$registry_dir/registry.pid" docker-registry registry; }
status_registry() { port_open 127.0.0.1 "$REGISTRY_PORT"; }

# --- EMF agent (app/emf-agent): the CloudWatch agent's EMF listener ------------
# up.sh points the platform's telemetry.emf_endpoint here; it checks each
# Embedded Metric Format document and publishes its metrics to moto
# (PutMetricData), as the agent sidecar does to CloudWatch in AWS.
emf_dir="$STATE_DIR/emf-agent"
start_emf_agent() {
  if pid_alive "$emf_dir/emf-agent.pid" emf-agent; then
    log "emf-agent already running on $EMF_AGENT_PORT"
    return
  fi
  port_open 127.0.0.1 "$EMF_AGENT_PORT" && die "port $EMF_AGENT_PORT is taken by another process; change stack.emf_agent_port"
  mkdir -p "$emf_dir"
  local bin
  # The workspace build with its tests (as up.sh and test.sh build), so the
  # AWS SDK crates are built with one feature set, once.
  bin="$(ticketing_bin)" || die "the workspace did not build"
  TICKETING_PROFILE=local nohup "$(dirname "$bin")/emf-agent" >>"$emf_dir/emf-agent.log" 2>&1 &
  echo $! >"$emf_dir/emf-agent.pid"
  wait_port 127.0.0.1 "$EMF_AGENT_PORT" emf-agent 30 || die "the EMF agent did not start; see $emf_dir/emf-agent.log"
  log "emf-agent started on $EMF_AGENT_PORT (forwarding to moto)"
}
stop_emf_agent() { stop_pidfile "$emf_dir/emf-agent.pid" emf-agent emf-agent; }
status_emf_agent() { port_open 127.0.0.1 "$EMF_AGENT_PORT"; }

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
component() { # action component
  case "$2" in
    kafka-cluster-[123]) "$1_kafka_cluster_n" "${2##*-}" ;;
    *) "$1_${2//-/_}" ;;
  esac
}
action="${1:-}"
shift || true
components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=("${ALL[@]}")
for c in "${components[@]}"; do
  case "$c" in postgres | redis | kafka | moto | registry | emf-agent | portone | kafka-cluster | kafka-cluster-[123]) ;; *) die "unknown component '$c'; expected: ${ALL[*]} kafka-cluster kafka-cluster-1..3" ;; esac
done

case "$action" in
  start)
    for c in "${components[@]}"; do component start "$c"; done
    ;;
  stop)
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do component stop "${components[i]}"; done
    ;;
  restart)
    for c in "${components[@]}"; do component stop "$c"; component start "$c"; done
    ;;
  status)
    rc=0
    for c in "${components[@]}"; do
      if component status "$c"; then printf '%-15s up\n' "$c"; else printf '%-15s DOWN\n' "$c"; rc=1; fi
    done
    exit $rc
    ;;
  *)
    die "usage: $0 start|stop|restart|status [${ALL[*]}]"
    ;;
esac
