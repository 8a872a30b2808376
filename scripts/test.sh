#!/usr/bin/env bash
# Every test, from a fresh clone: lint, core unit tests natively and in wasm (V8 via Node's WASI), the
# filter built for wasm32-wasip1, the real-Envoy integration suites, and the demo's own check.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh test

step "format"
cargo fmt --all -- --check

step "clippy (host, all targets)"
cargo clippy --locked --workspace --all-targets -- -D warnings
step "clippy (wasm32-wasip1; the CLI is native only)"
cargo clippy --locked --workspace --exclude gatehouse-cli --target wasm32-wasip1 -- -D warnings

step "dependency policy (cargo deny: bans, licenses, sources; reasons in deny.toml)"
cargo deny --locked check bans licenses sources

step "core unit tests (native)"
cargo test --locked --workspace
step "core unit tests (wasm32-wasip1 in V8)"
cargo test --locked -p gatehouse --lib --target wasm32-wasip1

step "fuzz: every target for 15 s from the checked-in corpus (scripts/fuzz.sh)"
bash scripts/fuzz.sh 15

step "build"
bash scripts/build.sh

step "real-Envoy integration suites (wasm-tests/)"
.venv-test/bin/pytest wasm-tests

step "main job check (scripts/demo.sh --check)"
bash scripts/demo.sh --check

step "browser demo check: sign in with Chromium, land in Airflow, screenshot (scripts/demo.sh --airflow --check)"
bash scripts/demo.sh --airflow --check
