#!/usr/bin/env bash
# Outage drills.
#   scripts/outage-drill.sh            local: the real Envoy with the filter, a real OpenID provider, a real
#                                      Airflow and a real browser on loopback; the provider's token endpoint is
#                                      killed, hung, made to answer 500, garbage and a huge body, then the
#                                      provider process is killed; prints what kept working.
#   scripts/outage-drill.sh --target URL --cookie '...' --token DAT [--seconds 120]
#                                      staging: run while you take the provider away (see docs/outage-runbook.md)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  exec python3 scripts/outage_drill.py "$@"
fi
bash scripts/setup.sh test >/dev/null
bash scripts/build.sh >/dev/null
.venv-test/bin/pytest -q wasm-tests/test_outage_drills.py wasm-tests/test_remote_jwks.py 2>&1 \
  | sed -n '/outage drills: requests during each outage window/,$p'
