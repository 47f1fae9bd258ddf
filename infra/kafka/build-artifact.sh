#!/usr/bin/env bash
# Builds the broker artifact the kafka layer's brokers boot from:
#   bin/broker.sh        the bootstrap (infra/kafka/broker.sh)
#   libs/*.jar           Apache Kafka's jars, as Maven Central serves them for
#                        infra/local/kafka/pom.xml (the same the local stack
#                        and the tests run; Maven checks their checksums)
#   config/log4j2.yaml   logging to stdout (journald on the broker)
# as $TICKETING_HOME/artifacts/kafka-broker.tgz, with its SHA-512 beside it
# (kafka-broker.tgz.sha512). The tarball is reproducible (sorted names, fixed
# owners and times, gzip without a name or time), so the same jars give the
# same SHA-512. `opsctl infra deploy kafka` stores it in the environment's
# artifact bucket under that SHA-512 and passes it to the stack, whose user
# data refuses an artifact that does not match: a boot depends on no
# third-party mirror.
#
#   build-artifact.sh [--out DIR]     prints the artifact's path
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/../local/env.sh"

die() { printf '[kafka-artifact] error: %s\n' "$*" >&2; exit 2; }

out="$TICKETING_HOME/artifacts"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; out="$2"; shift 2 ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done

libs="$(kafka_libs_dir)" || die "Apache Kafka's jars are not installed; run infra/local/install-tools.sh"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/kafka-broker/bin" "$stage/kafka-broker/libs" "$stage/kafka-broker/config" "$out"
install -m 0755 "$here/broker.sh" "$stage/kafka-broker/bin/broker.sh"
install -m 0644 "$here/../local/kafka/log4j2.yaml" "$stage/kafka-broker/config/log4j2.yaml"
install -m 0644 "$libs"/*.jar "$stage/kafka-broker/libs/"

tgz="$out/kafka-broker.tgz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$stage" -cf - kafka-broker | gzip -n -9 >"$tgz.$$"
mv -f "$tgz.$$" "$tgz"
sha512sum "$tgz" | cut -d' ' -f1 >"$tgz.sha512"
echo "$tgz"
