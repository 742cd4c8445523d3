#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for FUZZ_SECONDS (default 60) from its
# committed seeds; exits non-zero on the first crash, naming the input that caused it.
#
#   scripts/fuzz.sh                                  # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh queued_packet   # one target, longer
#
# Needs a nightly toolchain (the sanitizer flags are nightly-only); cargo-fuzz is installed when
# missing. New inputs go to target/fuzz/corpus/<target>, which later runs start from too; the
# committed seeds (fuzz/seeds/<target>) are only read. A crash input is kept where cargo-fuzz
# keeps them, fuzz/artifacts/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
# The workspace forbids unsafe code, so AddressSanitizer would only watch the dependencies'
# unsafe code, at two to three times the cost per input: off unless asked for.
sanitizer="${FUZZ_SANITIZER:-none}"
work="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
all=(read_objects admission_review queued_packet dns_response)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
for target in "${targets[@]}"; do
  [ -d "fuzz/seeds/$target" ] || { echo "no fuzz target $target; have: ${all[*]}" >&2; exit 2; }
done

echo "== cargo-fuzz and the $toolchain toolchain"
cargo "+$toolchain" --version >/dev/null 2>&1 || rustup toolchain install "$toolchain" --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz --version

# fuzz/ is a workspace of its own: starting its lockfile from the product's fuzzes the
# dependency versions that ship (cargo adds libfuzzer-sys and drops what fuzz/ does not use).
cp Cargo.lock fuzz/Cargo.lock
echo "== build ${targets[*]}"
if [ ${#targets[@]} -eq ${#all[@]} ]; then
  cargo "+$toolchain" fuzz build --sanitizer "$sanitizer" --target-dir "$work"
else
  for target in "${targets[@]}"; do
    cargo "+$toolchain" fuzz build --sanitizer "$sanitizer" --target-dir "$work" "$target"
  done
fi

for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  log="$work/logs/$target.log"
  mkdir -p "$corpus" "$(dirname "$log")"
  echo "== run $target for ${seconds}s (seeds: fuzz/seeds/$target, corpus: $corpus)"
  # -timeout: an input that takes seconds would stall the webhook or a queue thread.
  if ! cargo "+$toolchain" fuzz run --sanitizer "$sanitizer" --target-dir "$work" "$target" \
      "$corpus" "fuzz/seeds/$target" \
      -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    # The panic (or libFuzzer's reason: timeout, out of memory) and the input that caused it.
    grep -m1 -A1 'panicked at' "$log" >&2 || true
    grep -m1 'ERROR: libFuzzer' "$log" >&2 || true
    input=$(grep -ho 'Test unit written to .*' "$log" | tail -n 1 | sed 's/^Test unit written to //')
    echo "FAIL $target; crash input: ${input:-none written}; full log: $log" >&2
    echo "replay: cargo +$toolchain fuzz run --sanitizer $sanitizer --target-dir $work $target $input" >&2
    exit 1
  fi
  grep -E 'DONE|stat::(number_of_executed_units|average_exec_per_sec)' "$log" || true
  echo "corpus: $(find "$corpus" -type f | wc -l) inputs"
done
echo "== no crash in ${targets[*]} (${seconds}s each)"
