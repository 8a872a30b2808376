"""The core benchmark (benches/core.rs) of two revisions side by side in V8, interleaved round by round, so a
change is judged against its base on the same machine in the same minutes.

    .venv-test/bin/python bench/compare_core.py BASE_REV [HEAD_REV] [--rounds N] [--filter TEXT]

BASE_REV (and HEAD_REV, else the working tree) is checked out in a temporary git worktree; both benchmarks are built for wasm32-wasip1 and run under
Node's WASI (the runner the unit tests use). Each round runs base then head (then head then base on the next
round); the table gives the median ns/op of each over the rounds and the ratio head/base.
"""
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ["bearer RS256 cached", "bearer ES256 cached", "bearer EdDSA cached", "bearer HS512 cached",
         "session 1 KiB cached", "session 4 KiB cached", "public route (decide)", "bearer HS512 uncached",
         "session 1 KiB uncached"]


def build(tree):
    out = subprocess.run(["cargo", "bench", "--bench", "core", "--target", "wasm32-wasip1", "--no-run",
                          "--message-format", "json"], cwd=tree, capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "core" and msg.get("executable"):
            return msg["executable"]
    sys.exit(f"no benchmark executable built in {tree}")


def run(wasm, flt):
    out = subprocess.run(["node", str(ROOT / "scripts/wasi-run.mjs"), wasm, "--bench", flt],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return {d["case"]: d["ns_per_op"] for d in
            (json.loads(l[6:]) for l in out.stdout.splitlines() if l.startswith("BENCH "))}


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("head", nargs="?")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--filter", default="cached")
    a = ap.parse_args()
    rounds, flt = a.rounds, a.filter
    with tempfile.TemporaryDirectory() as tmp:
        trees = []
        for name, rev in (("base", a.base), ("head", a.head)):
            if rev is None:
                continue
            tree = Path(tmp) / name
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True,
                           capture_output=True)
            trees.append(tree)
        try:
            base_wasm = build(trees[0])
            head_wasm = build(trees[1] if a.head else ROOT)
            results = {"base": {}, "head": {}}
            for r in range(rounds):
                order = [("base", base_wasm), ("head", head_wasm)]
                for label, wasm in (order if r % 2 == 0 else order[::-1]):
                    for case, ns in run(wasm, flt).items():
                        results[label].setdefault(case, []).append(ns)
                print(f"round {r + 1}/{rounds} done", flush=True)
        finally:
            for tree in trees:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    print(f"\n{'case (V8, ns/op, median of ' + str(rounds) + ' rounds)':<52} {'base':>10} {'head':>10} {'head/base':>10}")
    for case in sorted(set(results["base"]) & set(results["head"]), key=lambda c: (c not in CASES, c)):
        b, h = statistics.median(results["base"][case]), statistics.median(results["head"][case])
        print(f"{case:<52} {b:>10,.0f} {h:>10,.0f} {h / b:>10.2f}")


if __name__ == "__main__":
    main()
