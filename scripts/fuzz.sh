#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/fuzz_targets/) for SECONDS each (default 60), starting from the
# checked-in corpus fuzz/corpus/<target>/. New inputs go to a scratch corpus; a crash stops the run, and its
# input is left in fuzz/artifacts/<target>/ to minimize (`cargo fuzz tmin`) and check in with the fix.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      run
#   scripts/fuzz.sh --minimize [TARGET...]     merge the scratch corpus into fuzz/corpus/ (smallest set)
# Stable Rust: no sanitizer (`-s none`); the core has no unsafe code, so panics and the targets' own
# assertions are what the fuzzer looks for.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
minimize=0
secs=60
if [ "${1:-}" = "--minimize" ]; then minimize=1; shift; elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then secs=$1; shift; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo fuzz list)
cargo fuzz build -s none -O >/dev/null
bin=fuzz/target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/scratch/$t" "fuzz/artifacts/$t"
  if [ $minimize = 1 ]; then
    fresh=$(mktemp -d)
    "$bin/$t" -merge=1 "$fresh" "fuzz/corpus/$t" "fuzz/scratch/$t" 2>/dev/null
    rm -rf "fuzz/corpus/$t" && mv "$fresh" "fuzz/corpus/$t"
    echo "fuzz: $t corpus minimized to $(ls "fuzz/corpus/$t" | wc -l) inputs"
    continue
  fi
  log=$(mktemp)
  if "$bin/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$t/" "fuzz/scratch/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "fuzz: $t ok: $runs runs in ${secs}s, coverage $cov, corpus $(ls "fuzz/corpus/$t" | wc -l)+$(ls "fuzz/scratch/$t" | wc -l)"
  else
    tail -40 "$log"
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -f "$log"
done
