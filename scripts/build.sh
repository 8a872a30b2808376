#!/usr/bin/env bash
# Builds the filter for wasm32-wasip1 (release: LTO, one codegen unit, panic=abort, stripped) into
# dist/gatehouse.wasm, and the native CLI into target/release/gatehouse.
set -euo pipefail
cd "$(dirname "$0")/.."
# The commit goes into the start-up log line (build info); "unknown" outside a git checkout.
GATEHOUSE_GIT_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export GATEHOUSE_GIT_COMMIT
cargo build --release --locked -p gatehouse-filter --target wasm32-wasip1
mkdir -p dist
# Binaryen (Debian `binaryen`) shrinks the module further; the features are those rustc enables for
# wasm32-wasip1, which V8 (Envoy, Istio) supports.
if command -v wasm-opt >/dev/null; then
  wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    target/wasm32-wasip1/release/gatehouse_filter.wasm -o dist/gatehouse.wasm
else
  echo "build: wasm-opt not found (apt-get install binaryen); shipping the unoptimized module" >&2
  cp target/wasm32-wasip1/release/gatehouse_filter.wasm dist/gatehouse.wasm
fi
cargo build --release --locked -p gatehouse-cli
echo "build: dist/gatehouse.wasm ($(stat -c %s dist/gatehouse.wasm) bytes), target/release/gatehouse"
