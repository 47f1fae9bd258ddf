#!/usr/bin/env bash
# Installs what the local stack needs, once per machine. Idempotent: a second
# run finds what is already there and returns quickly.
#
#   * redis-server          Debian package
#   * tansu (Kafka broker)  cargo install, cached under $TICKETING_HOME/tools
#   * moto_server           PyPI moto[server] in a virtualenv under $TICKETING_HOME/venv
#   * cfn-lint, checkov     PyPI, in the same virtualenv (CI checks infra/templates)
#
# PostgreSQL 15 server binaries come with the machine image.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"

log() { printf '[install-tools] %s\n' "$*" >&2; }

mkdir -p "$TICKETING_HOME/tools/bin"

# --- redis-server (Debian) ---------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
  # Debian starts a system redis on 6379; we never use that one (own port),
  # and leave it as we found it.
fi

# --- PostgreSQL server binaries -----------------------------------------------
if ! pg_bin_dir >/dev/null 2>&1; then
  log "installing postgresql-15 from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
fi

# --- tansu, a Kafka-protocol broker ------------------------------------------
# Pinned version and features; the binary is cached outside the clone so it is
# built once per machine (about 9 minutes on 2 cores).
TANSU_VERSION="0.6.0"
tansu_bin="$TICKETING_HOME/tools/bin/tansu"
tansu_stamp="$TICKETING_HOME/tools/tansu.version"
if [[ ! -x "$tansu_bin" || "$(cat "$tansu_stamp" 2>/dev/null)" != "$TANSU_VERSION+libsql" ]]; then
  log "building tansu $TANSU_VERSION (once per machine, ~9 min on 2 cores)"
  cargo install tansu --version "$TANSU_VERSION" --features libsql --locked \
    --root "$TICKETING_HOME/tools" --target-dir "$TICKETING_HOME/tools/build" >&2
  echo "$TANSU_VERSION+libsql" >"$tansu_stamp"
  rm -rf "$TICKETING_HOME/tools/build"
fi

# --- moto server (AWS API emulator) --------------------------------------------
MOTO_VERSION="5.2.1"
venv="$TICKETING_HOME/venv"
if [[ ! -x "$venv/bin/moto_server" || "$(cat "$venv/moto.version" 2>/dev/null)" != "$MOTO_VERSION" ]]; then
  log "installing moto[server]==$MOTO_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  echo "$MOTO_VERSION" >"$venv/moto.version"
fi

# --- template checkers ------------------------------------------------------------
CFN_LINT_VERSION="1.58.0"
CHECKOV_VERSION="3.3.30"
checkers="cfn-lint==$CFN_LINT_VERSION checkov==$CHECKOV_VERSION"
if [[ ! -x "$venv/bin/checkov" || "$(cat "$venv/checkers.version" 2>/dev/null)" != "$checkers" ]]; then
  log "installing $checkers into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION"
  echo "$checkers" >"$venv/checkers.version"
fi

log "tools ready under $TICKETING_HOME"
