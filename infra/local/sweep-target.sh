#!/usr/bin/env bash
# Removes the workspace's own build artifacts older than two hours from the
# shared cargo target directory ($CARGO_TARGET_DIR). Every fresh clone builds
# the workspace crates anew (their hashes include the clone's path), so
# without this each CI run on a machine leaves gigabytes behind (the disk
# filled at 34 GB). Third-party crates are kept: they are what makes the
# next run warm. Run by .ci/run after the tests; safe to run by hand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/ticketing/target}"
[[ -d "$target" ]] || exit 0
# Every target name of every workspace package (libraries, binaries, tests,
# benches), as cargo spells artifacts (dashes become underscores), except
# names a third-party crate in Cargo.lock also has (opsctl's `metrics`
# test and the `metrics` crate).
names="$(cd "$root" && cargo metadata --no-deps --format-version 1 --offline 2>/dev/null |
  python3 -c '
import json, re, sys
meta = json.load(sys.stdin)
own = {p["name"] for p in meta["packages"]}
names = {t["name"].replace("-", "_") for p in meta["packages"] for t in p["targets"]}
names |= {n.replace("-", "_") for n in own}
with open("Cargo.lock") as lock:
    locked = set(re.findall(r"name = \"([^\"]+)\"", lock.read()))
third = {n.replace("-", "_") for n in locked - own}
print("\n".join(sorted(names - third)))
')"
if [[ -z "$names" ]]; then
  echo "sweep-target: cargo metadata gave no names; nothing removed" >&2
  exit 0
fi
# One pattern for all of them: `name-hash...` or `libname-hash...`.
pattern="^(lib)?($(paste -sd'|' <<<"$names"))-"
freed=0
for profile in debug release; do
  for dir in "$target/$profile/deps" "$target/$profile/.fingerprint" "$target/$profile/build"; do
    [[ -d "$dir" ]] || continue
    while IFS=$'\t' read -r entry kib; do
      rm -rf "${dir:?}/$entry"
      freed=$((freed + kib))
    done < <(find "$dir" -mindepth 1 -maxdepth 1 -mmin +120 -printf '%f\t%k\n' | grep -E "$pattern" || true)
  done
done
rm -rf "$target/debug/incremental"
echo "sweep-target: removed $((freed / 1024)) MiB of old workspace artifacts (files; directories counted by their own entry)" >&2
