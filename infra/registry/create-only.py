#!/usr/bin/env python3
"""Writes infra/registry/create-only.json: for every resource type the
templates use, the properties CloudFormation's registry schema marks
`createOnlyProperties` (a change replaces the resource), from the schemas
cfn-lint ships (us-east-1's). `opsctl infra plan` reads the file to predict
replacements; opsctl/tests/testsuite/fast/infra_consistency.rs regenerates it and fails
when it differs (a newer cfn-lint, a new type in a template).

  create-only.py [--check]
"""
import glob, json, os, re, sys

import cfnlint

here = os.path.dirname(os.path.abspath(__file__))
schemas = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
providers = json.load(open(os.path.join(schemas, "providers", "us-east-1.json")))
types = set()
for path in glob.glob(os.path.join(here, "..", "templates", "*.yaml")):
    types.update(re.findall(r"^\s+Type:\s+(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)\s*$", open(path).read(), re.M))
table = {}
for t in sorted(types):
    schema = json.load(open(os.path.join(schemas, "resources", providers[t] + ".json")))
    table[t] = sorted(p.removeprefix("/properties/") for p in schema.get("createOnlyProperties", []))
text = json.dumps(table, indent=1, sort_keys=True) + "\n"
out = os.path.join(here, "create-only.json")
if "--check" in sys.argv:
    sys.exit(0 if open(out).read() == text else "infra/registry/create-only.json is stale: run infra/registry/create-only.py")
open(out, "w").write(text)
