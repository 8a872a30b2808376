#!/usr/bin/env bash
# End-to-end benchmark of dist/gatehouse.wasm in the real Envoy 1.40 (one worker): the Envoy process's own CPU
# time per request above a bare router, in interleaved rounds, beside two proxy-wasm floors and Envoy's native
# jwt_authn and oauth2 filters (bench/e2e.py says how). Prints a table and budget verdicts and writes
# bench/results/e2e.json.
#
#   scripts/bench-e2e.sh            # full run: 8 s per row, 5 rounds, 1,000,000 requests for the VM memory check
#   scripts/bench-e2e.sh --quick    # smoke test, about 5 minutes
#   scripts/bench-e2e.sh --requests 20000 --duration 5 --connections 16 --pool 2000 --strict
#
# Uses the existing dist/gatehouse.wasm (build it first with scripts/build.sh) and .venv-envoy / .venv-test
# (scripts/setup.sh). Needs wrk (Debian: apt-get install -y wrk). BENCH_REQUESTS overrides --requests' default.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=0
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench-e2e: wrk not found (Debian/Ubuntu: apt-get install -y wrk)" >&2; missing=1
fi
[[ -x .venv-envoy/bin/envoy ]] || { echo "bench-e2e: .venv-envoy/bin/envoy missing: run scripts/setup.sh" >&2; missing=1; }
[[ -x .venv-test/bin/python ]] || { echo "bench-e2e: .venv-test missing: run scripts/setup.sh" >&2; missing=1; }
[[ -f dist/gatehouse.wasm ]] || { echo "bench-e2e: dist/gatehouse.wasm missing: run scripts/build.sh" >&2; missing=1; }
(( missing == 0 )) || exit 1

exec .venv-test/bin/python bench/e2e.py "$@"
