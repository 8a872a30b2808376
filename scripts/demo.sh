#!/usr/bin/env bash
# The main job: build the filter and serve a demo through the real Envoy with dist/gatehouse.wasm.
#   scripts/demo.sh                    bearer tour: Envoy on 127.0.0.1:10000 (admin :9901) in front of an echo
#                                      upstream (:10080); mints Direct Access Tokens with the CLI and prints
#                                      ready-to-paste curl commands with the answers they get; until Ctrl-C
#   scripts/demo.sh --check            run those commands, check every answer, stop (exit 1 on any surprise)
#   scripts/demo.sh --airflow          the browser demo: a real OpenID provider, a real Airflow 3 and Envoy with
#                                      Gatehouse; sign in with a browser and land in Airflow (scripts/demo_airflow.py)
#   scripts/demo.sh --airflow --check  the same, signed in by headless Chromium, with a screenshot
# Each installs only what it needs first (scripts/setup.sh demo|airflow|browser).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK=
AIRFLOW=
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=--check ;;
    --airflow) AIRFLOW=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done
for port in 10000 9901 10080; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is in use; stop what holds it (a previous demo?) and retry" >&2
    exit 1
  fi
done
if [ -n "$AIRFLOW" ]; then
  bash scripts/setup.sh "$([ -n "$CHECK" ] && echo browser || echo airflow)"
  bash scripts/build.sh
  exec python3 scripts/demo_airflow.py $CHECK
fi
bash scripts/setup.sh demo
bash scripts/build.sh
WORK=.work/demo
mkdir -p "$WORK"

CLI=target/release/gatehouse
# A fresh secret per run, handed to Envoy's environment only (the VM reads it via host_env_keys).
GATEHOUSE_DEMO_HS512=$($CLI keygen --type hmac | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
export GATEHOUSE_DEMO_HS512

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
python3 wasm-tests/harness/upstream.py 10080 >"$WORK/upstream.log" 2>&1 & pids+=($!)
.venv-envoy/bin/envoy -c envoy-config/envoy.yaml --concurrency 2 -l info >"$WORK/envoy.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:9901/ready >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:9901/ready >/dev/null || { echo "demo: Envoy did not start; see $WORK/envoy.log" >&2; tail -20 "$WORK/envoy.log" >&2; exit 1; }

mint() { # scope role [deployment]
  local ids=(--org org-demo --workspace ws-demo)
  [ "$1" = deployment ] && ids+=(--deployment "${3:-dep-demo}")
  $CLI token mint --hmac-env GATEHOUSE_DEMO_HS512 --alg HS512 --kid demo-hs512 \
    --iss https://platform.demo.local/ --aud gatehouse-demo --sub "demo-$1-$2" --role "$2" \
    --scope "$1" "${ids[@]}" --ttl 3600
}
ADMIN=$(mint deployment DEPLOYMENT_ADMIN)
VIEWER=$(mint workspace VIEWER)
OTHER=$(mint deployment DEPLOYMENT_ADMIN dep-someone-else)
printf '%s\n' "$ADMIN" >"$WORK/admin.token"; printf '%s\n' "$VIEWER" >"$WORK/viewer.token"; printf '%s\n' "$OTHER" >"$WORK/other.token"

failures=0
try() { # expected-status description curl-args...
  local want=$1 what=$2; shift 2
  local got
  got=$(curl -s -o "$WORK/last.body" -w '%{http_code}' "$@")
  local mark="ok"; [ "$got" = "$want" ] || { mark="UNEXPECTED"; failures=$((failures + 1)); }
  printf '  %-3s %-10s %s\n' "$got" "$mark" "$what"
}

cat <<MSG

Gatehouse demo: Envoy on http://127.0.0.1:10000 with dist/gatehouse.wasm, upstream echo on :10080.
Tokens (HS512 Direct Access Tokens, 1 h) are in $WORK/*.token. Paste any of these:

  curl -i http://127.0.0.1:10000/health
  curl -i http://127.0.0.1:10000/api/dags
  curl -i -H "Authorization: Bearer \$(cat $WORK/admin.token)" http://127.0.0.1:10000/api/dags
  curl -i -H "Authorization: Bearer \$(cat $WORK/viewer.token)" http://127.0.0.1:10000/api/admin/settings
  curl -i -H "Authorization: Bearer \$(cat $WORK/other.token)" http://127.0.0.1:10000/api/dags
  curl -i -H "Authorization: Bearer \$(cat $WORK/admin.token)" -H "X-Gatehouse-Subject: forged" http://127.0.0.1:10000/api/dags
  curl -s http://127.0.0.1:9901/stats?filter=gatehouse

What they answer right now:
MSG
try 200 "GET /health (public)" http://127.0.0.1:10000/health
try 401 "GET /api/dags without a token (WWW-Authenticate: Bearer)" http://127.0.0.1:10000/api/dags
try 200 "GET /api/dags as deployment admin (upstream sees x-gatehouse-* identity, no Authorization)" -H "Authorization: Bearer $ADMIN" http://127.0.0.1:10000/api/dags
grep -q '"x-gatehouse-subject": "demo-deployment-DEPLOYMENT_ADMIN"' "$WORK/last.body" || { echo "  identity header missing upstream" ; failures=$((failures + 1)); }
grep -q '"authorization"' "$WORK/last.body" && { echo "  the token reached the upstream" ; failures=$((failures + 1)); }
try 403 "GET /api/admin/settings as workspace viewer (insufficient permissions)" -H "Authorization: Bearer $VIEWER" http://127.0.0.1:10000/api/admin/settings
try 403 "GET /api/dags with a token for another deployment" -H "Authorization: Bearer $OTHER" http://127.0.0.1:10000/api/dags
try 401 "GET /api/dags with a tampered token" -H "Authorization: Bearer ${ADMIN%?????}AAAAA" http://127.0.0.1:10000/api/dags
try 400 "GET /api/%2F..%2Fadmin (ambiguous path)" "http://127.0.0.1:10000/api/%2F..%2Fadmin"
try 401 "GET /ui/ (session routes: browser login not configured)" http://127.0.0.1:10000/ui/

if [ "$CHECK" = "--check" ]; then
  if [ "$failures" -ne 0 ]; then echo "demo: $failures unexpected answers" >&2; exit 1; fi
  echo "demo: all answers as expected"
  exit 0
fi
echo
echo "Serving until Ctrl-C (logs: $WORK/envoy.log)."
wait
