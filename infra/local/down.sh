#!/usr/bin/env bash
# Stops the platform and the local stack: only the processes that up.sh and
# stack.sh started (their pid files), nothing else on the machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$(python3 "$here/stack-config.py")"
pidfile="$STATE_DIR/platform/ticketing.pid"
if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
  && grep -q ticketing "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
  pid="$(cat "$pidfile")"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  printf '[down] platform stopped\n' >&2
else
  printf '[down] platform was not started by up.sh; nothing to stop\n' >&2
fi
rm -f "$pidfile"
bash "$here/stack.sh" stop
