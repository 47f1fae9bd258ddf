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
