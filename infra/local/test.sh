#!/usr/bin/env bash
# The README's second command: the template checks and the whole test suite,
# against the real local stack (PostgreSQL, Redis, Kafka, moto), which it
# installs and starts when needed. Each test makes its own database, key prefix and topic names, so
# they run in parallel and leave nothing behind.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$(python3 "$here/stack-config.py")"
cd "$REPO_ROOT"
# `test.sh --fast`: only the fast tier below (no tools, no stack).
fast=false
if [[ "${1:-}" == "--fast" ]]; then
  fast=true
  shift
fi

if ! $fast; then
  bash "$here/install-tools.sh"
  # The CloudFormation templates: cfn-lint and checkov.
  bash "$REPO_ROOT/infra/check-templates.sh"
  # The GitHub Actions workflows: actionlint and zizmor.
  bash "$REPO_ROOT/infra/check-workflows.sh"
  # Every shell script in the repo: shellcheck.
  mapfile -t scripts < <(git -C "$REPO_ROOT" ls-files '*.sh' .ci/run)
  echo "[test] shellcheck: ${#scripts[@]} scripts" >&2
  (cd "$REPO_ROOT" && shellcheck -x "${scripts[@]}")
fi
# The fast tier first: what needs no stack (the unit tests, and each
# test suite's `fast` module: the architecture and docs checks, the cost
# model, the templates against the catalog, every service's router in
# process).
status=0
echo "[test] fast tier: no stack" >&2
cargo test --workspace --lib --bins --no-fail-fast "$@" -- --skip on_the_stack || status=$?
cargo test --workspace --test '*' --no-fail-fast "$@" -- fast:: || status=$?
if $fast; then
  exit $status
fi

# The stack tier: everything else, on the real local stack.
bash "$here/stack.sh" start
echo "[test] stack tier: PostgreSQL, Redis, Kafka, moto" >&2
cargo test --workspace --lib --no-fail-fast "$@" -- on_the_stack || status=$?
cargo test --workspace --test '*' --no-fail-fast "$@" -- --skip fast:: || status=$?
cargo test --workspace --doc --quiet "$@" || status=$?
# Tests leave their topics while others run (see ticketing-testkit); remove
# them now that nothing else is using the broker.
cargo run --quiet -p ticketing-testkit --bin sweep-test-topics ||
  echo "[test] warning: test topics were not swept; they are harmless (t_<id>.* names)" >&2
exit $status
