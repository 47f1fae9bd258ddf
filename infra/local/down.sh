#!/usr/bin/env bash
# Stops the platform and the local stack: only the processes that up.sh and
# stack.sh started (their pid files), nothing else on the machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"
eval "$(python3 "$here/stack-config.py")"
LOG_TAG=down stop_pidfile "$STATE_DIR/platform/ticketing.pid" ticketing platform
bash "$here/stack.sh" stop
# The three-broker profile, when someone started it (stack.sh start kafka-cluster).
if compgen -G "$STATE_DIR/kafka-cluster/node-*/kafka.pid" >/dev/null; then
  bash "$here/stack.sh" stop kafka-cluster
fi
