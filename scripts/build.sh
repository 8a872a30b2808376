#!/usr/bin/env bash
# Builds the filter for wasm32-wasip1 (release: LTO, one codegen unit, panic=abort, stripped) into
# dist/gatehouse.wasm, and the native CLI into target/release/gatehouse.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p gatehouse-filter --target wasm32-wasip1
mkdir -p dist
cp target/wasm32-wasip1/release/gatehouse_filter.wasm dist/gatehouse.wasm
cargo build --release --locked --bin gatehouse
echo "build: dist/gatehouse.wasm ($(stat -c %s dist/gatehouse.wasm) bytes), target/release/gatehouse"
