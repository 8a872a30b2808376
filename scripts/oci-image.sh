#!/usr/bin/env bash
# Packages dist/gatehouse.wasm as an OCI image for Istio's WasmPlugin (Wasm image spec, compat variant): writes
# the image layout dist/oci/ and the archive dist/gatehouse-oci.tar, prints the manifest digest, and pins that
# digest in the WasmPlugin manifests of envoy-config/istio/ (url: oci://...@sha256:...). No network, no container tools.
#   scripts/oci-image.sh [--repository ghcr.io/OWNER/gatehouse] [--no-update] [--help for the rest]
# Push it with any OCI tool, keeping the digest, e.g.:
#   skopeo copy oci:dist/oci:gatehouse docker://ghcr.io/OWNER/gatehouse:$(git rev-parse --short HEAD)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/oci_image.py "$@"
