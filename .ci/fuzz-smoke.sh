#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets in fuzz/ and runs each for a bounded
# time (about a minute of fuzzing in all, plus the build), seeded with hand-made
# messages and the captured FRR/BIRD vectors. Exits non-zero if any target crashes,
# panics, hangs or runs out of memory; the failing input is left in
# fuzz/artifacts/<target>/ and printed in hex.
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them.
#
# Usage: bash .ci/fuzz-smoke.sh [TARGET...]   (default: every target)
# FUZZ_TIME_SCALE=N multiplies every target's time (e.g. 10 for a longer local run).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

# Seconds per target: the message parsers get the most.
declare -A seconds=([decode_message]=25 [decode_stream]=20 [pack]=12 [frame_len]=5 [bfd_packet]=8)
scale=${FUZZ_TIME_SCALE:-1}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_len decode_message decode_stream pack bfd_packet)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
# -a: debug assertions (integer overflow checks) on, as in the long runs.
cargo fuzz build -a
perl seed-corpus.pl corpus ../bgp-core/tests/vectors

failed=()
for t in "${targets[@]}"; do
  secs=$(( ${seconds[$t]:-15} * scale ))
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/smoke.log"
  echo "--- $t: ${secs}s"
  if cargo fuzz run -a "$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true
    grep -E '^stat::number_of_executed_units' "$log" || true
  else
    failed+=("$t")
    echo "!!! $t FAILED; last lines of $log:"
    tail -n 60 "$log"
    for a in artifacts/"$t"/crash-* artifacts/"$t"/oom-* artifacts/"$t"/timeout-* artifacts/"$t"/leak-*; do
      [ -f "$a" ] || continue
      echo "input $a (hex): $(od -An -v -tx1 "$a" | tr -d ' \n')"
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: failing targets: ${failed[*]}"
  echo "reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -a TARGET artifacts/TARGET/crash-..."
  exit 1
fi
echo "fuzz smoke: ${#targets[@]} targets, no crash"
