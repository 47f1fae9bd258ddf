#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted bytes, each for a bounded time:
#   segment_verifier  Kafka log segments (ticketing-kafka-segments)
#   event_envelope    every Kafka message a consumer decodes (ticketing-events)
#   tokens            queue/payment tokens and access JWTs (ticketing-tokens)
#
#   infra/local/fuzz.sh                 # every target, 60 s each
#   infra/local/fuzz.sh 600 tokens      # one target, 10 minutes
#
# Not part of CI's time budget. Needs the nightly toolchain (libFuzzer and
# AddressSanitizer) and cargo-fuzz: both installed here when missing
# (rustup; crates.io into $TICKETING_HOME/tools). The corpus grows under
# fuzz/corpus/<target> (seeded from fuzz/seeds/<target>, kept between runs,
# not committed). A crash leaves its input in fuzz/artifacts/<target>/ and
# fails the run: turn it into a regression test beside the parser (the
# input as bytes in a #[test]), fix, and add it to fuzz/seeds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/env.sh
source "$here/env.sh"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(segment_verifier event_envelope tokens)
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "fuzz.sh: the first argument is seconds per target (a positive whole number), got '$seconds'" >&2
  exit 2
fi

log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly toolchain (rustup)"
  rustup toolchain install nightly --profile minimal >&2
fi
FUZZ_VERSION="0.13.2"
fuzz="$TICKETING_HOME/tools/bin/cargo-fuzz"
if [[ ! -x "$fuzz" || "$(cat "$TICKETING_HOME/tools/cargo-fuzz.version" 2>/dev/null)" != "$FUZZ_VERSION" ]]; then
  log "building cargo-fuzz $FUZZ_VERSION from crates.io"
  mkdir -p "$TICKETING_HOME/tools"
  cargo install -q --locked --root "$TICKETING_HOME/tools" cargo-fuzz --version "$FUZZ_VERSION" >&2
  echo "$FUZZ_VERSION" >"$TICKETING_HOME/tools/cargo-fuzz.version"
fi

cd "$root/fuzz"
export PATH="$TICKETING_HOME/tools/bin:$PATH"
# Its own target directory: nightly and sanitizer flags would otherwise
# throw away the workspace's build.
export CARGO_TARGET_DIR="$TICKETING_HOME/fuzz-target"
status=0
for target in "${targets[@]}"; do
  if [[ ! -f "fuzz_targets/$target.rs" ]]; then
    echo "fuzz.sh: no target '$target' (have: segment_verifier event_envelope tokens)" >&2
    exit 2
  fi
  mkdir -p "corpus/$target" "artifacts/$target"
  cp -n "seeds/$target/"* "corpus/$target/" 2>/dev/null || true
  log "$target: ${seconds}s"
  if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -artifact_prefix="artifacts/$target/" -print_final_stats=1 >&2; then
    if [[ -n "$(find "artifacts/$target" -type f -print -quit)" ]]; then
      log "$target FOUND A CRASH: the input is in fuzz/artifacts/$target/ (reproduce: cd fuzz && cargo +nightly fuzz run $target <file>)"
    else
      log "$target did not build or run (see above)"
    fi
    status=1
  fi
done
exit "$status"
