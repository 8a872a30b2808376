#!/usr/bin/env bash
# Crypto crate comparison (bench/crypto-compare): builds it natively and for wasm32-wasip1, runs it natively, in V8
# (Node, scripts/wasi-run.mjs) and in wasmtime (scripts/wasi-run-wasmtime.py), prints one table with the three
# runtimes side by side (wall time, then the thread's CPU time) and writes bench/results/crypto.json.
#
#   scripts/bench-crypto.sh [--sizes | --sizes-only] [--only SUBSTRING]...
#
#   --sizes       also build one size probe per candidate for wasm32-wasip1 (about 20 more builds) and report
#                 each candidate's .wasm size contribution
#   --sizes-only  only the size probes; the timings of the last run are kept and reported again
#   --only        run only the cases whose primitive or crate contains SUBSTRING (repeatable; passed to the binary)
#
# Everything builds with -j1 into bench/crypto-compare/target (the main workspace's target/ is not touched).
# ring's C code needs clang for wasm32-wasip1: without clang the wasm builds leave ring out and say so.
# The wasmtime runner needs the PyPI `wasmtime` package in .venv-test; it is installed there when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CRATE=bench/crypto-compare
TARGET_DIR=$ROOT/$CRATE/target
OUT=$TARGET_DIR/bench-out
BIN=$TARGET_DIR/bench-bin
RESULTS=$ROOT/bench/results/crypto.json
PY=$ROOT/.venv-test/bin/python
WASMTIME_VERSION=50.0.1

sizes=0
sizes_only=0
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=1 ;;
    --only) only+=(--only "${2:?--only needs a value}"); shift ;;
    --sizes-only) sizes=1 sizes_only=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-crypto: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

for tool in cargo node python3; do
  command -v "$tool" >/dev/null || { echo "bench-crypto: $tool is missing" >&2; exit 1; }
done
targets=$(rustup target list --installed 2>/dev/null || true)
if [ -n "$targets" ] && ! grep -qx wasm32-wasip1 <<<"$targets"; then
  echo "bench-crypto: the wasm32-wasip1 target is missing (rustup target add wasm32-wasip1)" >&2
  exit 1
fi
if [ ! -x "$PY" ]; then
  python3 -m venv .venv-test
fi
if ! "$PY" -c 'import wasmtime' 2>/dev/null; then
  echo "bench-crypto: installing wasmtime==$WASMTIME_VERSION into .venv-test" >&2
  "$PY" -m pip install -q --disable-pip-version-check "wasmtime==$WASMTIME_VERSION"
fi

wasm_features=()
if command -v clang >/dev/null; then
  ring_wasm="built with $(clang --version | head -1)"
else
  ring_wasm="not buildable for wasm32-wasip1 here: no clang (ring compiles C for wasm with clang; apt-get install clang)"
  wasm_features=(--no-default-features --features rustcrypto)
  echo "bench-crypto: $ring_wasm; the wasm runs leave ring out" >&2
fi

if [ "$sizes_only" = 0 ]; then
  rm -rf "$OUT"
fi
mkdir -p "$OUT" "$BIN"
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)

build() { # build NAME [cargo args...]: builds and copies the binary to $BIN/NAME
  local name=$1; shift
  echo "bench-crypto: cargo build --release -j1 --locked $*" >&2
  (cd "$CRATE" && cargo build --release -j1 --locked "$@")
  case " $* " in
    *" --target wasm32-wasip1 "*) cp "$TARGET_DIR/wasm32-wasip1/release/crypto-compare.wasm" "$BIN/$name.wasm" ;;
    *) cp "$TARGET_DIR/release/crypto-compare" "$BIN/$name" ;;
  esac
}

# Two variants: the crates as Gatehouse configures them, and with their upstream default features (Cargo unifies
# one crate version's features, so rsa 0.9 with and without u64_digit cannot share a build).
if [ "$sizes_only" = 0 ]; then
  build native-gatehouse-features
  build native-upstream-defaults --features upstream-defaults
  build wasm-gatehouse-features --target wasm32-wasip1 "${wasm_features[@]}"
  if [ ${#wasm_features[@]} -eq 0 ]; then
    build wasm-upstream-defaults --target wasm32-wasip1 --features upstream-defaults
  else
    build wasm-upstream-defaults --target wasm32-wasip1 --no-default-features --features rustcrypto,upstream-defaults
  fi
fi

run() { # run RUNTIME VARIANT
  local rt=$1 variant=$2
  echo "bench-crypto: running $variant in $rt" >&2
  case "$rt" in
    native) "$BIN/native-$variant" --format tsv "${only[@]}" ;;
    v8) node --no-warnings "$ROOT/scripts/wasi-run.mjs" "$BIN/wasm-$variant.wasm" --format tsv "${only[@]}" ;;
    wasmtime) "$PY" "$ROOT/scripts/wasi-run-wasmtime.py" --cpu-clocks "$BIN/wasm-$variant.wasm" --format tsv "${only[@]}" ;;
  esac >"$OUT/$rt-$variant.tsv"
}
if [ "$sizes_only" = 0 ]; then
  for rt in native v8 wasmtime; do
    for variant in gatehouse-features upstream-defaults; do
      run "$rt" "$variant"
    done
  done
fi

if [ "$sizes" = 1 ]; then
  # Each probe: the size-probe main plus one candidate's verify/open path. ring is one crate for all five
  # primitives, so its probes take one primitive each (probe-* features).
  probes=(
    "baseline|size-probe"
    "rsa 0.9.10 (no default features) [Gatehouse]|size-probe,c-rsa09"
    "rsa 0.9.10 (default features: u64_digit)|size-probe,c-rsa09,upstream-defaults"
    "rsa 0.10.0 (pkcs1v15)|size-probe,c-rsa010"
    "ring 0.17.14 RS256|size-probe,c-ring,probe-rs256"
    "p256 0.13.2 [Gatehouse]|size-probe,c-p256-013"
    "p256 0.14.0|size-probe,c-p256-014"
    "ring 0.17.14 ES256|size-probe,c-ring,probe-es256"
    "ed25519-dalek 2.2.0 (no default features) [Gatehouse]|size-probe,c-dalek2"
    "ed25519-dalek 2.2.0 (default features: fast)|size-probe,c-dalek2,upstream-defaults"
    "ed25519-dalek 3.0.0 (no default features)|size-probe,c-dalek3"
    "ed25519-compact 2.6.1|size-probe,c-compact"
    "ring 0.17.14 EdDSA|size-probe,c-ring,probe-eddsa"
    "aes-gcm 0.10.3 [Gatehouse]|size-probe,c-aesgcm010"
    "aes-gcm 0.11.1|size-probe,c-aesgcm011"
    "ring 0.17.14 AES-256-GCM|size-probe,c-ring,probe-gcm"
    "hmac 0.12.1 + sha2 0.10.9 [Gatehouse]|size-probe,c-hmac012"
    "hmac 0.13.0 + sha2 0.11.1|size-probe,c-hmac013"
    "ring 0.17.14 HS512|size-probe,c-ring,probe-hs512"
  )
  printf 'probe\tfeatures\tbytes\n' >"$OUT/sizes.tsv"
  for p in "${probes[@]}"; do
    name=${p%%|*} features=${p#*|}
    case "$features" in *c-ring*) command -v clang >/dev/null || continue ;; esac
    echo "bench-crypto: size probe: $name" >&2
    (cd "$CRATE" && cargo build --release -j1 --locked --target wasm32-wasip1 --no-default-features --features "$features")
    printf '%s\t%s\t%s\n' "$name" "$features" "$(stat -c %s "$TARGET_DIR/wasm32-wasip1/release/crypto-compare.wasm")" >>"$OUT/sizes.tsv"
  done
fi

loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)
SIZES_ONLY=$sizes_only ROOT=$ROOT OUT=$OUT RING_WASM=$ring_wasm LOAD0=$loadavg_start LOAD1=$loadavg_end WASMTIME_PY=$PY \
  python3 - <<'EOF'
import json, os, platform, subprocess, datetime
def cmd(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]
    except Exception:
        return None
cpu = None
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    pass
meta = {
    "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "git_head": cmd("git", "-C", os.environ["ROOT"], "rev-parse", "--short", "HEAD"),
    "cpu": cpu,
    "cores": os.cpu_count(),
    "loadavg_start": os.environ["LOAD0"],
    "loadavg_end": os.environ["LOAD1"],
    "rustc": cmd("rustc", "--version"),
    "node": cmd("node", "--version"),
    "wasmtime_py": cmd(os.environ["WASMTIME_PY"], "-c", "import importlib.metadata as m; print(m.version('wasmtime'))"),
    "clang": cmd("clang", "--version"),
    "ring_wasm": os.environ["RING_WASM"],
    "profile": "release: lto=true, codegen-units=1, panic=abort, opt-level=3 (as Gatehouse)",
    "variants": {
        "gatehouse-features": "crates with the features Gatehouse's Cargo.toml gives them",
        "upstream-defaults": "rsa 0.9 and ed25519-dalek 2/3 with their default features (u64_digit; fast tables)",
    },
}
path = os.path.join(os.environ["OUT"], "meta.json")
if os.environ["SIZES_ONLY"] == "1" and os.path.exists(path):
    # Only the sizes are new: keep what the timing run recorded about itself.
    old = json.load(open(path))
    old["sizes_date_utc"] = meta["date_utc"]
    meta = old
json.dump(meta, open(path, "w"), indent=2)
EOF
python3 "$ROOT/$CRATE/report.py" "$OUT" "$RESULTS"
