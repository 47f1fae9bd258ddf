#!/usr/bin/env bash
# The README's second command: the template checks and the whole test suite,
# against the real local stack (PostgreSQL, Redis, Kafka, moto), which it
# installs and starts when needed. Each test makes its own database, key prefix and topic names, so
# they run in parallel and leave nothing behind.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$(python3 "$here/stack-config.py")"
cd "$REPO_ROOT"

bash "$here/install-tools.sh"
# The CloudFormation templates: cfn-lint and checkov.
bash "$REPO_ROOT/infra/check-templates.sh"
# The GitHub Actions workflows: actionlint and zizmor.
bash "$REPO_ROOT/infra/check-workflows.sh"
# Every shell script in the repo: shellcheck.
mapfile -t scripts < <(git -C "$REPO_ROOT" ls-files '*.sh' .ci/run)
echo "[test] shellcheck: ${#scripts[@]} scripts" >&2
(cd "$REPO_ROOT" && shellcheck -x "${scripts[@]}")
bash "$here/stack.sh" start

status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
  # nextest does not run doctests.
  cargo test --workspace --doc --quiet || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi
# Tests leave their topics while others run (see ticketing-testkit); remove
# them now that nothing else is using the broker.
cargo run --quiet -p ticketing-testkit --bin sweep-test-topics ||
  echo "[test] warning: test topics were not swept; they are harmless (t_<id>.* names)" >&2
exit $status
