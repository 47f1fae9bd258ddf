#!/usr/bin/env bash
# Runs one Apache Kafka node (KRaft, combined broker and controller) in the
# foreground, from the jars install-tools.sh put in the tool cache. Used by
# stack.sh (the shared broker and the three-broker cluster profile) and by the
# tests' private brokers (ticketing-testkit), so every local broker is
# configured in this one place.
#
#   kafka-node.sh --dir DIR --port PORT --controller-port PORT
#                 [--node-id N] [--voters 1@127.0.0.1:P,...] [--cluster-id ID]
#                 [--replication-factor N] [--min-insync N] [--heap SIZE]
#
# DIR holds server.properties (rewritten on every start), the data under
# DIR/data (formatted on first start, kept afterwards: a restart keeps topics
# and committed offsets) and DIR/cluster.id. The script execs the JVM, so the
# caller's pid is the broker's and SIGTERM is a controlled shutdown.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"

die() { printf '[kafka-node] error: %s\n' "$*" >&2; exit 2; }

dir="" port="" cport="" node_id=1 voters="" cluster_id="" rf=1 min_isr=1 heap=256m
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || die "$1 needs a value"
  case "$1" in
    --dir) dir="$2" ;;
    --port) port="$2" ;;
    --controller-port) cport="$2" ;;
    --node-id) node_id="$2" ;;
    --voters) voters="$2" ;;
    --cluster-id) cluster_id="$2" ;;
    --replication-factor) rf="$2" ;;
    --min-insync) min_isr="$2" ;;
    --heap) heap="$2" ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
  shift 2
done
[[ -n "$dir" && -n "$port" && -n "$cport" ]] || die "--dir, --port and --controller-port are required"
[[ -n "$voters" ]] || voters="$node_id@127.0.0.1:$cport"

libs="$(kafka_libs_dir)" || die "Apache Kafka is not installed; run infra/local/install-tools.sh"
command -v java >/dev/null || die "java not found; Kafka needs Java 17 (run infra/local/install-tools.sh)"

mkdir -p "$dir/data"
if [[ -z "$cluster_id" ]]; then
  if [[ ! -s "$dir/cluster.id" ]]; then
    # A cluster id is 16 random bytes, base64url without padding (what
    # `kafka-storage.sh random-uuid` prints; it may start with `-`, hence
    # `--cluster-id=` below), made here without a JVM start.
    python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' >"$dir/cluster.id"
  fi
  cluster_id="$(cat "$dir/cluster.id")"
fi

# Internal topics (consumer offsets, transactions) replicate as the data
# topics do, but never more than the cluster has brokers.
n_voters="$(tr ',' '\n' <<<"$voters" | grep -c .)"
internal_rf=$((rf < n_voters ? rf : n_voters))

cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$internal_rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$internal_rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$internal_rf
share.coordinator.state.topic.min.isr=1
# The log cleaner (compacted internal topics) takes a 128 MB buffer by
# default, more than a small test broker's heap.
log.cleaner.dedupe.buffer.size=16777216
# Tests join and leave groups all the time: no 3 s wait before a first rebalance.
group.initial.rebalance.delay.ms=0
PROPS

if [[ ! -f "$dir/data/meta.properties" ]]; then
  java -cp "$libs/*" -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
    kafka.tools.StorageTool format --ignore-formatted --cluster-id="$cluster_id" --config "$dir/server.properties" >/dev/null ||
    die "formatting $dir/data failed"
fi

exec java -Xms64m -Xmx"$heap" -XX:+UseSerialGC -Xss512k -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
  -cp "$libs/*" kafka.Kafka "$dir/server.properties"
