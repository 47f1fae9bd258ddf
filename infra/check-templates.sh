#!/usr/bin/env bash
# Checks the CloudFormation templates: cfn-lint (no errors or warnings),
# checkov (no failed checks; suppressions live in the templates, each with a
# written reason) and AWS CloudFormation Guard with the repo's rules
# (infra/guard/: every template passes, and each rule's own cases -- the
# fault it exists for fails -- come out as written). cfn-lint and checkov
# come from the virtualenv install-tools.sh makes, cfn-guard from its tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=infra/local/env.sh
source infra/local/env.sh
venv="$TICKETING_HOME/venv"
guard="$TICKETING_HOME/tools/bin/cfn-guard"
if [[ ! -x "$venv/bin/checkov" || ! -x "$guard" ]]; then
  bash infra/local/install-tools.sh
fi
"$venv/bin/cfn-lint" infra/templates/*.yaml
# The create-only properties opsctl predicts replacements from are the
# registry schemas' that this cfn-lint ships.
"$venv/bin/python" infra/registry/create-only.py --check
# The RDS CAs the image carries (verify-full): what the pinned npm package
# gives, still valid, and the root of data.yaml's CA in each profile's Region.
python3 infra/image/rds-ca-bundle.py --check
# --skip-download: no Prisma Cloud guidelines (this machine has no internet).
"$venv/bin/checkov" --directory infra/templates --framework cloudformation \
  --quiet --compact --skip-download
# -S fail: print only what fails. Exit codes: 19 a rule failed, 7 a test
# case's expectation was not met.
"$guard" validate --rules infra/guard/ticketing.guard --data infra/templates -S fail
"$guard" test --rules-file infra/guard/ticketing.guard --test-data infra/guard/ticketing-tests.yaml >/dev/null ||
  "$guard" test --rules-file infra/guard/ticketing.guard --test-data infra/guard/ticketing-tests.yaml
echo "[check-templates] cfn-guard: every template passes infra/guard/ticketing.guard; every rule fails on its fault" >&2
