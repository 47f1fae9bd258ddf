# shellcheck shell=bash
# Sourced by the local-stack scripts. The ports and URLs themselves live in
# infra/local/stack.env (the one place the services, opsctl and tests read).
TICKETING_HOME="${TICKETING_HOME:-$HOME/.cache/ticketing}"
export TICKETING_HOME

pg_bin_dir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [[ -x "$d/pg_ctl" && -x "$d/initdb" ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

# A pid file is ours only while its process is alive and still the program
# we started (pids get reused).
pid_alive() { # pidfile pattern
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q -- "$2" "/proc/$pid/cmdline" 2>/dev/null
}

stop_pidfile() { # pidfile pattern name
  if pid_alive "$1" "$2"; then
    local pid i
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    printf "[%s] %s stopped\n" "${LOG_TAG:-stack}" "$3" >&2
  else
    printf "[%s] %s was not started by these scripts; nothing to stop\n" "${LOG_TAG:-stack}" "$3" >&2
  fi
  rm -f "$1"
}


# The Apache Kafka jars install-tools.sh resolved from Maven Central.
kafka_libs_dir() {
  local d="$TICKETING_HOME/tools/kafka/libs"
  [[ -f "$TICKETING_HOME/tools/kafka/version" ]] && compgen -G "$d/kafka_2.13-*.jar" >/dev/null && echo "$d"
}
