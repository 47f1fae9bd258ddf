#!/usr/bin/env bash
# Installs what the local stack needs, once per machine. Idempotent: a second
# run finds what is already there and returns quickly.
#
#   * redis-server          Debian package
#   * Apache Kafka          Maven Central jars (infra/local/kafka/pom.xml), cached under $TICKETING_HOME/tools/kafka
#   * moto_server           PyPI moto[server] in a virtualenv under $TICKETING_HOME/venv
#   * cfn-lint, checkov     PyPI, in the same virtualenv (CI checks infra/templates)
#   * schemathesis          PyPI, in its own virtualenv (its dependencies and checkov's disagree):
#                           the API fuzzer app/ticketing/tests/testsuite/api_fuzz.rs runs
#   * shellcheck            Debian package (CI checks every shell script)
#   * cfn-guard             crates.io (AWS CloudFormation Guard), built once into $TICKETING_HOME/tools/bin
#   * buildah, podman, runc Debian packages (the image build and the container test)
#   * skopeo, docker-registry  Debian packages (`opsctl deploy` pushes; the local ECR stand-in)
#   * actionlint            Go module proxy (GitHub Actions workflows, built once into $TICKETING_HOME/tools/bin)
#   * zizmor                PyPI, in the checkers' virtualenv (the workflows' security audit)
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

# --- shellcheck (Debian): the repo's shell scripts are checked in CI ---------
if ! command -v shellcheck >/dev/null 2>&1; then
  log "installing shellcheck from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq shellcheck >/dev/null
fi

# --- buildah, podman, runc (Debian): the image and its containers -------------
# No Docker daemon here: buildah assembles the image from the build's files,
# podman runs it with runc. Configured per run by infra/image/containers.sh.
if ! command -v buildah >/dev/null 2>&1 || ! command -v podman >/dev/null 2>&1 \
  || ! command -v runc >/dev/null 2>&1; then
  log "installing buildah, podman and runc from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends buildah podman runc >/dev/null
fi

# --- skopeo and docker-registry (Debian): image pushes ------------------------
# `opsctl deploy` pushes the image with skopeo (a maintained OCI copy tool:
# containers-storage to any registry, digests preserved); locally it pushes
# to Debian's docker-registry (the Distribution registry) standing in for
# ECR's registry endpoint. The package's own systemd unit is not used: the
# stack script runs it on loopback with its own config.
if ! command -v skopeo >/dev/null 2>&1 || [[ ! -x /usr/bin/docker-registry ]]; then
  log "installing skopeo and docker-registry from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends skopeo docker-registry >/dev/null
fi

# --- PostgreSQL server binaries -----------------------------------------------
if ! pg_bin_dir >/dev/null 2>&1; then
  log "installing postgresql-15 from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
fi

# --- Apache Kafka (KRaft), from Maven Central -----------------------------------
# infra/local/kafka/pom.xml pins the version; Maven resolves the broker's jars
# with strict checksums into the tool cache (once per machine, ~15 s), and
# infra/local/kafka-node.sh runs them on Java 17.
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  log "installing Java 17 and Maven from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
fi
kafka_pom="$here/kafka/pom.xml"
kafka_stamp="$(sha256sum "$kafka_pom" | cut -c1-16)"
if [[ "$(cat "$TICKETING_HOME/tools/kafka/version" 2>/dev/null)" != "$kafka_stamp" ]]; then
  log "resolving Apache Kafka from Maven Central ($kafka_pom)"
  rm -rf "$TICKETING_HOME/tools/kafka"
  mvn -q -B -Dstyle.color=never --strict-checksums -f "$kafka_pom" dependency:copy-dependencies \
    -DoutputDirectory="$TICKETING_HOME/tools/kafka/libs" >&2
  echo "$kafka_stamp" >"$TICKETING_HOME/tools/kafka/version"
fi

# --- moto server (AWS API emulator) --------------------------------------------
MOTO_VERSION="5.2.5"
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

# --- schemathesis (PyPI): property-based API testing of every openapi.json ------
# Its own virtualenv: it needs a newer `packaging` than checkov accepts.
SCHEMATHESIS_VERSION="4.32.5"
fuzz_venv="$TICKETING_HOME/venv-api-fuzz"
if [[ ! -x "$fuzz_venv/bin/schemathesis" || "$(cat "$fuzz_venv/schemathesis.version" 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]]; then
  log "installing schemathesis==$SCHEMATHESIS_VERSION into $fuzz_venv"
  python3 -m venv "$fuzz_venv"
  "$fuzz_venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  echo "$SCHEMATHESIS_VERSION" >"$fuzz_venv/schemathesis.version"
fi

# --- AWS CloudFormation Guard (crates.io) -----------------------------------------
# AWS's policy-as-code engine for templates (infra/guard/). A Rust crate:
# built once per machine (about 2.5 minutes on 2 cores), then found here.
GUARD_VERSION="3.2.1"
guard="$TICKETING_HOME/tools/bin/cfn-guard"
if [[ ! -x "$guard" || "$(cat "$TICKETING_HOME/tools/cfn-guard.version" 2>/dev/null)" != "$GUARD_VERSION" ]]; then
  log "building cfn-guard $GUARD_VERSION from crates.io"
  guard_build="$(mktemp -d)"
  CARGO_TARGET_DIR="$guard_build" cargo install -q --locked --root "$guard_build/root" \
    cfn-guard --version "$GUARD_VERSION" >&2
  mv "$guard_build/root/bin/cfn-guard" "$guard"
  rm -rf "$guard_build"
  echo "$GUARD_VERSION" >"$TICKETING_HOME/tools/cfn-guard.version"
fi

# --- workflow checkers: actionlint (Go module proxy) and zizmor (PyPI) ------------
# .github/workflows/ is checked in CI: actionlint (types, expressions, the
# shell in `run:` through shellcheck) and zizmor (template injection,
# credentials persisted by checkout, excessive permissions, unpinned actions).
ACTIONLINT_VERSION="v1.7.12"
actionlint="$TICKETING_HOME/tools/bin/actionlint"
if [[ ! -x "$actionlint" || "$(cat "$TICKETING_HOME/tools/actionlint.version" 2>/dev/null)" != "$ACTIONLINT_VERSION" ]]; then
  command -v go >/dev/null 2>&1 || {
    log "installing Go from Debian (to build actionlint)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq golang-go >/dev/null
  }
  log "building actionlint $ACTIONLINT_VERSION from the Go module proxy"
  GOBIN="$TICKETING_HOME/tools/bin" GOFLAGS=-mod=mod go install \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2
  echo "$ACTIONLINT_VERSION" >"$TICKETING_HOME/tools/actionlint.version"
fi
ZIZMOR_VERSION="1.32.0"
if [[ ! -x "$venv/bin/zizmor" || "$(cat "$venv/zizmor.version" 2>/dev/null)" != "$ZIZMOR_VERSION" ]]; then
  log "installing zizmor==$ZIZMOR_VERSION into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "zizmor==$ZIZMOR_VERSION"
  echo "$ZIZMOR_VERSION" >"$venv/zizmor.version"
fi

log "tools ready under $TICKETING_HOME"
