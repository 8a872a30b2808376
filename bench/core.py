"""Runs the core benchmark (benches/core.rs) natively, in V8 (Node's WASI) and in wasmtime (PyPI wasmtime), and
writes bench/results/core.json: ns/op per case and runtime.

    .venv-test/bin/python bench/core.py [FILTER]
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = {
    "native": ([], {}),
    "v8": (["--target", "wasm32-wasip1"], {}),
    "wasmtime": (["--target", "wasm32-wasip1"],
                 {"CARGO_TARGET_WASM32_WASIP1_RUNNER": f"{ROOT / '.venv-test/bin/python'} {ROOT / 'scripts/wasi-run-wasmtime.py'}"}),
}


def run(runtime, flt):
    args, env = RUNTIMES[runtime]
    cmd = ["cargo", "bench", "--locked", "--bench", "core", *args, "--", *([flt] if flt else [])]
    out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"core bench failed in {runtime}:\n{out.stderr[-3000:]}")
    results = {}
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            d = json.loads(line[6:])
            results[d["case"]] = d["ns_per_op"]
    return results


def main():
    flt = sys.argv[1] if len(sys.argv) > 1 else None
    table = {}
    for runtime in RUNTIMES:
        print(f"core bench: {runtime} ...", flush=True)
        for case, ns in run(runtime, flt).items():
            table.setdefault(case, {})[runtime] = ns
    print(f"\n{'case':<46} {'native':>12} {'V8':>12} {'wasmtime':>12}   (ns/op)")
    for case, by in table.items():
        cells = [f"{by[r]:>12,.0f}" if r in by else f"{'-':>12}" for r in RUNTIMES]
        print(f"{case:<46} {' '.join(cells)}")
    meta = {"loadavg": os.getloadavg(), "cores": os.cpu_count(),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}
    out = ROOT / "bench/results/core.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"unit": "ns/op, median of 5 batches of >= 100 ms", "meta": meta, "cases": table},
                              indent=2) + "\n")
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
