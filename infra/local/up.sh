#!/usr/bin/env bash
# The README's first command. On a fresh machine: installs what the stack
# needs, starts PostgreSQL, Redis, Apache Kafka, moto and the PortOne
# sandbox, builds the workspace, starts all six services in one process, sends
# a smoke request through the gateway, books two seats end to end (`ticketing
# demo`: sign-up, queue, hold, payment, CONFIRMED) and runs `opsctl status`. Re-running it is harmless:
# whatever already runs is left alone. Stop everything with infra/local/down.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"
eval "$(python3 "$here/stack-config.py")"
cd "$REPO_ROOT"
log() { printf '[up] %s\n' "$*" >&2; }
die() { printf '[up] error: %s\n' "$*" >&2; exit 1; }

bash "$here/install-tools.sh"
bash "$here/stack.sh" start

log "building the workspace and its tests (first build takes several minutes on 2 cores)"
# With the tests, so that the features the test-only dependencies turn on
# (aws-smithy-mocks, the SDKs' test-util) are the same as in the README's
# second command: one build of the AWS SDK crates instead of two.
cargo build --quiet --workspace --bins --tests
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/debug"

platform_dir="$STATE_DIR/platform"
mkdir -p "$platform_dir"
pidfile="$platform_dir/ticketing.pid"
if pid_alive "$pidfile" ticketing; then
  log "platform already running (pid $(cat "$pidfile")); leaving it"
else
  if [[ -f "$pidfile" ]]; then
    # It was started before and has died since: say so, with its last words.
    log "the platform (pid $(cat "$pidfile")) had exited; its last log lines:"
    tail -15 "$platform_dir/ticketing.log" | sed 's/^/    /' >&2 || true
    rm -f "$pidfile"
  fi
  log "creating the catalog's Kafka topics where missing"
  TICKETING_PROFILE=local "$bin/ticketing" topics || die "the Kafka topics could not be created"
  log "starting all six services in one process"
  # Its metrics also go out as EMF to the local agent (stack.sh's
  # emf-agent), which publishes them to moto as CloudWatch would.
  TICKETING__TELEMETRY__EMF_ENDPOINT="tcp://127.0.0.1:$EMF_AGENT_PORT" \
    TICKETING__TELEMETRY__EMF_INTERVAL_SECONDS=10 \
    nohup "$bin/ticketing" serve >>"$platform_dir/ticketing.log" 2>&1 &
  echo $! >"$pidfile"
fi

log "waiting for the gateway to be ready"
ok=false
for _ in $(seq 1 300); do
  if curl -fsS "$GATEWAY_URL/ready" >/dev/null 2>&1; then ok=true; break; fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    tail -20 "$platform_dir/ticketing.log" >&2
    die "the platform exited; see $platform_dir/ticketing.log"
  fi
  sleep 0.2
done
$ok || die "the gateway did not become ready in 60 s; see $platform_dir/ticketing.log"

log "smoke request through the gateway: GET $GATEWAY_URL/api/events"
curl -fsS -H 'x-request-id: smoke-up' "$GATEWAY_URL/api/events" >/dev/null \
  || die "the smoke request failed"
log "smoke request answered 200"

log "demo booking through the gateway and the PortOne sandbox"
"$bin/ticketing" demo || die "the demo booking failed; see $platform_dir/ticketing.log"

"$bin/opsctl" status
cat <<MSG

Everything is up:
  gateway         $GATEWAY_URL   (services on ports 18081-18085, see config/local.toml)
  postgres        127.0.0.1:$PG_PORT  (database $PG_DB, user $PG_USER)
  redis           redis://127.0.0.1:$REDIS_PORT
  kafka           127.0.0.1:$KAFKA_PORT  Apache Kafka (KRaft); topics payment.events, reservation.events, DLQ
  moto (AWS API)  http://127.0.0.1:$MOTO_PORT
  PortOne sandbox http://127.0.0.1:$SANDBOX_PORT  (test mode; a demo booking: ticketing demo)
  logs and data   $STATE_DIR
Stop with: infra/local/down.sh
MSG
