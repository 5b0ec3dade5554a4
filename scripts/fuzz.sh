#!/usr/bin/env bash
# Bounded fuzzing of every parser, as CI runs it: `scripts/fuzz.sh [SECONDS]` (default
# 30 per target). Builds the cargo-fuzz targets (nightly; without a sanitizer: the crate
# forbids unsafe code, so what we hunt is panics, hangs and runaway memory, which
# libFuzzer itself catches), then runs each from the corpus in the repo. Any crash,
# timeout (10 s for one input) or out-of-memory (2 GiB) fails the run; the input is left
# in fuzz/artifacts/TARGET/. New inputs go to a scratch dir, not into the repo's corpus.
# `scripts/fuzz.sh build` only builds (CI does it while the tests run).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

targets=(unit_file exec_line calendar timespan config policy collect_tree dbus_message cache_file environment_d)
flags=(--sanitizer none --fuzz-dir fuzz)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
if ! cargo +nightly fuzz build "${flags[@]}" >"$scratch/build.log" 2>&1; then
  tail -40 "$scratch/build.log" >&2
  exit 1
fi
[ "$secs" = build ] && exit 0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  log="$scratch/$t.log"
  if ! cargo +nightly fuzz run "${flags[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $t failed (input in fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  printf 'fuzz: %-13s %4ss  %9s runs  %7s exec/s  peak %s MB  no crash\n' "$t" "$secs" "$runs" "$rate" "$rss"
done
