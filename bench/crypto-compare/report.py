#!/usr/bin/env python3
"""Joins the crypto-compare TSV outputs of scripts/bench-crypto.sh into one table and bench/results/crypto.json.

    report.py OUT_DIR RESULTS_JSON

OUT_DIR holds <runtime>-<variant>.tsv (runtime: native, v8, wasmtime; variant: gatehouse-features,
upstream-defaults), meta.json (written by the script) and, optionally, sizes.tsv (probe, bytes).
"""

import csv
import json
import os
import sys

RUNTIMES = ["native", "v8", "wasmtime"]
WASM = ["v8", "wasmtime"]


def load(out_dir):
    rows = {}  # (primitive, crate) -> entry
    order = []
    for name in sorted(os.listdir(out_dir)):
        if not name.endswith(".tsv") or name == "sizes.tsv":
            continue
        runtime = name.split("-", 1)[0]
        if runtime not in RUNTIMES:
            continue
        with open(os.path.join(out_dir, name), newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                key = (r["primitive"], r["crate"])
                if key not in rows:
                    rows[key] = {
                        "primitive": r["primitive"],
                        "crate": r["crate"],
                        "variant": r["variant"],
                        "note": r["note"],
                        "ns_per_op": {},
                        "min_ns_per_op": {},
                        "cpu_ns_per_op": {},
                        "iters_per_batch": {},
                        "batches_ns_per_op": {},
                        "cpu_batches_ns_per_op": {},
                    }
                    order.append(key)
                e = rows[key]
                batches = [float(x) for x in r["batches_ns_per_op"].split(",") if x]
                e["ns_per_op"][runtime] = float(r["ns_per_op"])
                e["min_ns_per_op"][runtime] = min(batches) if batches else None
                e["iters_per_batch"][runtime] = int(r["iters_per_batch"])
                e["batches_ns_per_op"][runtime] = batches
                if r.get("cpu_ns_per_op"):
                    e["cpu_ns_per_op"][runtime] = float(r["cpu_ns_per_op"])
                    e["cpu_batches_ns_per_op"][runtime] = [float(x) for x in r["cpu_batches_ns_per_op"].split(",") if x]
    # Keep the benchmark's own order of primitives; within one, the gatehouse-features rows first.
    prim_order = []
    for p, _ in order:
        if p not in prim_order:
            prim_order.append(p)
    order.sort(key=lambda k: (prim_order.index(k[0]), rows[k]["variant"] != "gatehouse-features"))
    return [rows[k] for k in order]


def fmt_ns(v):
    if v is None:
        return "—"
    if v >= 100_000:
        return f"{v / 1000:,.0f} µs"
    if v >= 10_000:
        return f"{v / 1000:,.1f} µs"
    return f"{v:,.0f} ns"


def fastest_per_primitive(rows, metric):
    fastest = {}
    for rt in RUNTIMES:
        for e in rows:
            v = e[metric].get(rt)
            if v is None:
                continue
            cur = fastest.setdefault(e["primitive"], {}).get(rt)
            if cur is None or v < cur[1]:
                fastest[e["primitive"]][rt] = (e["crate"], v)
    return fastest


def print_table(rows, metric, fastest, title):
    pw = max([len("primitive")] + [len(e["primitive"]) for e in rows])
    cw = max([len("crate")] + [len(e["crate"]) for e in rows])
    print(title + "  * = fastest in that wasm runtime for the primitive.")
    head = f"{'primitive':<{pw}} | {'crate':<{cw}} | {'native':>10} | {'V8 (Node)':>10} | {'wasmtime':>10} | vs Gatehouse (V8)"
    print(head)
    print("-" * len(head))
    last = None
    for e in rows:
        if last is not None and e["primitive"] != last:
            print()
        last = e["primitive"]
        cells = []
        for rt in RUNTIMES:
            v = e[metric].get(rt)
            mark = "*" if rt in WASM and fastest.get(e["primitive"], {}).get(rt, ("",))[0] == e["crate"] else " "
            cells.append(f"{fmt_ns(v):>9}{mark}")
        base = next((b for b in rows if b["primitive"] == e["primitive"] and "[Gatehouse]" in b["crate"]), None)
        ratio = ""
        if base and base[metric].get("v8") and e[metric].get("v8"):
            ratio = f"{base[metric]['v8'] / e[metric]['v8']:.2f}× as fast"
        print(f"{e['primitive']:<{pw}} | {e['crate']:<{cw}} | " + " | ".join(cells) + f" | {ratio}")


def main():
    out_dir, results_json = sys.argv[1], sys.argv[2]
    rows = load(out_dir)
    meta = {}
    if os.path.exists(os.path.join(out_dir, "meta.json")):
        with open(os.path.join(out_dir, "meta.json")) as fh:
            meta = json.load(fh)
    sizes = []
    if os.path.exists(os.path.join(out_dir, "sizes.tsv")):
        with open(os.path.join(out_dir, "sizes.tsv"), newline="") as fh:
            sizes = [{"probe": r["probe"], "features": r["features"], "wasm_bytes": int(r["bytes"])}
                     for r in csv.DictReader(fh, delimiter="\t")]

    fastest = {metric: fastest_per_primitive(rows, metric) for metric in ("ns_per_op", "cpu_ns_per_op")}
    print_table(rows, "ns_per_op", fastest["ns_per_op"],
                "Wall time, ns/op: median of 5 batches of ≥200 ms each (the candidates' batches take turns).")
    if any(e["cpu_ns_per_op"] for e in rows):
        print()
        print_table(rows, "cpu_ns_per_op", fastest["cpu_ns_per_op"],
                    "Thread CPU time, ns/op: median over the same 5 batches (less disturbed by other load).")
    if meta.get("ring_wasm"):
        print(f"ring on wasm32-wasip1: {meta['ring_wasm']}")
    if meta.get("loadavg_start") or meta.get("loadavg_end"):
        print(f"load average (1/5/15 min) at start: {meta.get('loadavg_start')}, at end: {meta.get('loadavg_end')}")

    if sizes:
        base = next((s["wasm_bytes"] for s in sizes if s["probe"] == "baseline"), None)
        print("\nwasm size of a probe holding one candidate (verify/open path only; release profile, stripped):")
        for s in sizes:
            delta = f"+{(s['wasm_bytes'] - base) / 1024:,.1f} KiB" if base is not None and s["probe"] != "baseline" else ""
            s["delta_bytes"] = s["wasm_bytes"] - base if base is not None else None
            print(f"  {s['probe']:<48} {s['wasm_bytes']:>9,} B  {delta}")

    result = {
        "benchmark": "crypto-compare",
        "unit": "ns/op: ns_per_op is wall time, cpu_ns_per_op the thread's CPU time; each the median of 5 batches of >= 200 ms",
        "meta": meta,
        "results": rows,
        "fastest": {
            metric: {p: {rt: {"crate": c, metric: v} for rt, (c, v) in d.items()} for p, d in f.items()}
            for metric, f in fastest.items()
        },
        "sizes": sizes,
    }
    os.makedirs(os.path.dirname(results_json) or ".", exist_ok=True)
    with open(results_json, "w") as fh:
        json.dump(result, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print(f"\nwrote {results_json}")


if __name__ == "__main__":
    main()
