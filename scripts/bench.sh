#!/usr/bin/env bash
# Every benchmark, from a fresh clone, in one run: builds the module, compares the crypto crates in wasm,
# measures the core natively / in V8 / in wasmtime, measures end to end through the real Envoy against no
# filter and Envoy's native jwt_authn and oauth2 filters, prints every budget's verdict and rewrites
# BENCHMARKS.md.
#   scripts/bench.sh            # full (about 35 minutes on 2 cores; 8 s per row, 5 interleaved rounds, 1,000,000
#                               # requests for the memory check)
#   scripts/bench.sh --quick    # smoke run (about 8 minutes; 2 s per row, keeps the last crypto comparison)
# Run it on a quiet machine: every figure is wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
bash scripts/setup.sh test
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
.venv-test/bin/python -c "import wasmtime" 2>/dev/null || .venv-test/bin/pip install -q wasmtime==50.0.1
bash scripts/build.sh
(cd bench/noop-filter && cargo build --locked --release --target wasm32-wasip1 -q)
if [ ${#quick[@]} -eq 0 ]; then
  bash scripts/bench-crypto.sh
else
  echo "bench: --quick keeps the last crypto comparison (bench/results/crypto.json)"
fi
.venv-test/bin/python bench/core.py
bash scripts/bench-e2e.sh "${quick[@]}"
.venv-test/bin/python bench/summary.py
