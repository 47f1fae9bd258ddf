#!/usr/bin/env bash
# Checks .github/workflows/: actionlint (workflow syntax, expressions, job
# graph, and the shell of every `run:` through shellcheck) and zizmor
# (offline audits: template injection, credentials persisted by checkout,
# excessive permissions, unpinned actions, cache poisoning). Both come from
# install-tools.sh (actionlint from the Go module proxy, zizmor from PyPI).
# opsctl/tests/testsuite/workflows.rs checks what the jobs call against the README and
# the CLI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=infra/local/env.sh
source infra/local/env.sh
actionlint="$TICKETING_HOME/tools/bin/actionlint"
zizmor="$TICKETING_HOME/venv/bin/zizmor"
if [[ ! -x "$actionlint" || ! -x "$zizmor" ]]; then
  bash infra/local/install-tools.sh
fi
"$actionlint" -shellcheck "$(command -v shellcheck || true)"
"$zizmor" --offline --quiet .github/workflows
echo "[check-workflows] actionlint and zizmor: $(find .github/workflows -name '*.yml' | wc -l) workflows clean" >&2
