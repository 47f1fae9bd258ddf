#!/usr/bin/env bash
# Lints the CloudFormation templates: cfn-lint (no errors or warnings) and
# checkov (no failed checks; suppressions live in the templates, each with a
# written reason). Both come from the virtualenv install-tools.sh makes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=infra/local/env.sh
source infra/local/env.sh
venv="$TICKETING_HOME/venv"
if [[ ! -x "$venv/bin/checkov" ]]; then
  bash infra/local/install-tools.sh
fi
"$venv/bin/cfn-lint" infra/templates/*.yaml
# --skip-download: no Prisma Cloud guidelines (this machine has no internet).
"$venv/bin/checkov" --directory infra/templates --framework cloudformation \
  --quiet --compact --skip-download
