#!/usr/bin/env bash
# The broker's bootstrap: what a Kafka broker host does once its packages
# (Java 17) are installed and its data volume is mounted. It ships inside
# the broker artifact (infra/kafka/build-artifact.sh: this script, the Kafka
# jars of infra/local/kafka/pom.xml, the logging configuration) that the
# kafka layer's user data fetches and checks by SHA-512, and the tests run
# the same artifact (opsctl/tests/testsuite/broker_boot.rs: one broker, three in
# network namespaces, a replaced one rejoining).
#
#   broker.sh configure --address IP --voters 1@IP:9093,... --cluster-seed TEXT
#                       --replication-factor N --data DIR
#       This broker's identity and server.properties, and its storage
#       formatted on first boot (kept afterwards: a replaced broker that
#       finds the data of the node it replaces rejoins as that node).
#   broker.sh identity ADDRESS VOTERS CLUSTER_SEED
#       Prints this broker's node id and the cluster id, and nothing else.
#   broker.sh start [--heap SIZE] [--jmx-port PORT]
#       Runs the broker in the foreground (exec: systemd's or the caller's
#       pid is the broker's; SIGTERM is a controlled shutdown).
#   broker.sh create-topics --bootstrap HOST:PORT --replication-factor N TOPIC...
#       Creates the topics that do not exist, retrying for up to 5 minutes
#       while the cluster has fewer brokers than the replication factor.
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$home/config/server.properties"

die() { printf '[broker] error: %s\n' "$*" >&2; exit 2; }
java_tool() { java -Xmx256m -Dlog4j2.configurationFile="$home/config/log4j2.yaml" -cp "$home/libs/*" "$@"; }

# This broker's node id and the cluster's id: "NODE_ID CLUSTER_ID".
identity() {
  local address="$1" voters="$2" seed="$3"
  # One KRaft controller quorum of every broker ("1@10.0.1.5:9093,..."), the
  # same on every broker. A broker's node id is its own entry's: its address
  # is its network interface's, which outlives the instance, so a replaced
  # broker rejoins as the same node. Whole addresses are compared.
  local node_id
  node_id="$(tr ',' '\n' <<<"$voters" | awk -F'[@:]' -v ip="$address" '$2 == ip { print $1 }')"
  [[ -n "$node_id" ]] || die "this broker's address $address is not in the quorum $voters"
  # One cluster id for every broker of a cluster (StorageTool format): a
  # UUID derived from the seed (the stack id), in Kafka's form (URL-safe
  # base64, no padding).
  printf '%s %s\n' "$node_id" "$(python3 -c 'import base64, sys, uuid; print(base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[1]).bytes).decode().rstrip("="))' "$seed")"
}

configure() {
  local address="" voters="" seed="" rf="" data=""
  while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || die "$1 needs a value"
    case "$1" in
      --address) address="$2" ;;
      --voters) voters="$2" ;;
      --cluster-seed) seed="$2" ;;
      --replication-factor) rf="$2" ;;
      --data) data="$2" ;;
      *) die "configure: unknown argument '$1'" ;;
    esac
    shift 2
  done
  [[ -n "$address" && -n "$voters" && -n "$seed" && -n "$rf" && -n "$data" ]] ||
    die "configure needs --address, --voters, --cluster-seed, --replication-factor and --data"
  local node_id cluster_id
  read -r node_id cluster_id < <(identity "$address" "$voters" "$seed") || exit 2
  # The internal topics' replication factors default to 3, and "internal
  # topic creation will fail until the cluster size meets this replication
  # factor requirement" (Kafka's broker configuration,
  # offsets.topic.replication.factor): on the MVP's one broker
  # __consumer_offsets would never exist and every consumer group would
  # fail. They replicate as the data topics do, never more than the
  # cluster has brokers.
  local voters_n internal_rf
  voters_n="$(tr ',' '\n' <<<"$voters" | grep -c .)"
  internal_rf=$((rf < voters_n ? rf : voters_n))
  mkdir -p "$data" "$(dirname "$config")"
  cat >"$config" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://$address:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=1
offsets.topic.replication.factor=$internal_rf
transaction.state.log.replication.factor=$internal_rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$internal_rf
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
PROPS
  if [[ ! -f "$data/meta.properties" ]]; then
    java_tool kafka.tools.StorageTool format --ignore-formatted --cluster-id="$cluster_id" --config "$config" >/dev/null ||
      die "formatting $data failed"
  fi
  printf 'node.id=%s cluster.id=%s\n' "$node_id" "$cluster_id"
}

start() {
  local heap=512m jmx=""
  while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || die "$1 needs a value"
    case "$1" in
      --heap) heap="$2" ;;
      --jmx-port) jmx="$2" ;;
      *) die "start: unknown argument '$1'" ;;
    esac
    shift 2
  done
  [[ -f "$config" ]] || die "$config is missing: run '$0 configure' first"
  local opts=()
  if [[ -n "$jmx" ]]; then
    # JMX for the CloudWatch agent on the same host only.
    opts+=(-Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false
      -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.port="$jmx"
      -Dcom.sun.management.jmxremote.host=127.0.0.1 -Djava.rmi.server.hostname=127.0.0.1)
  fi
  exec java -Xms64m -Xmx"$heap" -Djava.awt.headless=true "${opts[@]}" \
    -Dlog4j2.configurationFile="$home/config/log4j2.yaml" \
    -cp "$home/libs/*" kafka.Kafka "$config"
}

create_topics() {
  local bootstrap="" rf=""
  while [[ $# -gt 0 && "$1" == --* ]]; do
    [[ $# -ge 2 ]] || die "$1 needs a value"
    case "$1" in
      --bootstrap) bootstrap="$2" ;;
      --replication-factor) rf="$2" ;;
      *) die "create-topics: unknown argument '$1'" ;;
    esac
    shift 2
  done
  [[ -n "$bootstrap" && -n "$rf" && $# -gt 0 ]] || die "create-topics needs --bootstrap, --replication-factor and topics"
  local topic i
  for topic in "$@"; do
    for i in $(seq 1 60); do
      # Every broker tries (--if-not-exists); with replication factor 2 a
      # create waits until a second broker has joined.
      if java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "$topic" --partitions 1 --replication-factor "$rf" >/dev/null 2>&1; then
        break
      fi
      [[ $i -lt 60 ]] || die "topic $topic could not be created on $bootstrap"
      sleep 5
    done
  done
}

command="${1:-}"
[[ $# -gt 0 ]] && shift
case "$command" in
  configure) configure "$@" ;;
  identity)
    [[ $# -eq 3 ]] || die "usage: $0 identity ADDRESS VOTERS CLUSTER_SEED"
    identity "$@" ;;
  start) start "$@" ;;
  create-topics) create_topics "$@" ;;
  *) die "usage: $0 configure|start|create-topics ... (see the header of $0)" ;;
esac
