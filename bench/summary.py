"""One report from the three benchmark parts: bench/results/{crypto,core,e2e}.json. Prints the tables and every
budget's verdict, and writes BENCHMARKS.md.

    .venv-test/bin/python bench/summary.py [--no-write]
"""
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "bench/results"


def load(name):
    p = RES / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def fmt_ns(ns):
    return f"{ns / 1000:,.1f} µs" if ns >= 10_000 else f"{ns:,.0f} ns"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def core_section(core):
    lines = ["| case | native | V8 (Node) | wasmtime |", "|---|---:|---:|---:|"]
    for case, by in core["cases"].items():
        lines.append(f"| {case} | " + " | ".join(fmt_ns(by[r]) if r in by else "–" for r in ("native", "v8", "wasmtime"))
                     + " |")
    return lines


def core_verdicts(core):
    out = []
    cases = core["cases"]
    for runtime in ("v8", "wasmtime"):
        raws = {c: by[runtime] for c, by in cases.items() if c.startswith("raw rsa-2048") and runtime in by}
        uncached = cases.get("bearer RS256 uncached", {}).get(runtime)
        if raws and uncached:
            fastest_case, fastest = min(raws.items(), key=lambda kv: kv[1])
            ratio = uncached / fastest
            out.append({"budget": f"uncached RS256 <= 1.2x the fastest raw RSA-2048 verify ({runtime})",
                        "value": f"{fmt_ns(uncached)} vs {fastest_case}: {fmt_ns(fastest)} ({ratio:.2f}x)",
                        "pass": ratio <= 1.2})
    return out


def crypto_section(crypto):
    lines = ["| primitive | crate | native | V8 | wasmtime |", "|---|---|---:|---:|---:|"]
    for r in crypto["results"]:
        cpu = r.get("cpu_ns_per_op") or r.get("ns_per_op")
        lines.append(f"| {r['primitive']} | {r['crate']} | "
                     + " | ".join(fmt_ns(cpu[k]) if cpu.get(k) else "–" for k in ("native", "v8", "wasmtime")) + " |")
    return lines


def e2e_section(e2e):
    lines = ["| configuration | Envoy CPU µs/request | added µs/request | added, each round | req/s | req/s × bare router |",
             "|---|---:|---:|---|---:|---:|"]
    for s in e2e["scenarios"]:
        rounds = " ".join(f"{x:.0f}" for x in s["added_cpu_us_rounds"])
        lines.append(f"| {s['name']} | {s['cpu_us_per_request']:.1f} | {s['added_cpu_us']:.1f} | {rounds} | "
                     f"{s['rps']:,.0f} | {s['rps_vs_router']:.2f} |")
    return lines


def main():
    crypto, core, e2e = load("crypto"), load("core"), load("e2e")
    verdicts = []
    if e2e:
        verdicts += e2e["verdicts"]
    if core:
        verdicts += core_verdicts(core)
    print("\nverdicts:")
    for v in verdicts:
        print(f"  {'PASS' if v['pass'] else 'FAIL'}  {v['budget']}: {v['value']}")
    if "--no-write" in sys.argv:
        return
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    md = [
        "# Benchmarks",
        "",
        "Reproduce on a fresh clone with one command: `scripts/bench.sh` (add `--quick` for a smoke run). It",
        "builds the module, runs the crypto crate comparison, the core benchmark (natively, in V8 through Node's",
        "WASI, in wasmtime through the PyPI package), the end-to-end benchmark through the real Envoy 1.40 with",
        "wrk, prints the verdicts and rewrites this file. Figures below are from the last run:",
        "",
        # The run's own date and commit (the file may be rewritten later, e.g. after editing the notes).
        f"- date: {(e2e or {}).get('meta', {}).get('date', f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M}')[:16].replace('T', ' ')} UTC, "
        f"commit `{(e2e or {}).get('meta', {}).get('commit', head)}`",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, load average when this file was written "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        "",
        "## Verdicts",
        "",
        "| budget | measured | verdict |",
        "|---|---|---|",
    ]
    md += [f"| {v['budget']} | {v['value']} | {'pass' if v['pass'] else '**fail**'} |" for v in verdicts]
    notes = RES / "notes.md"
    if notes.exists():
        md += ["", notes.read_text().strip()]
    if e2e:
        m = e2e["meta"]
        md += ["", "## End to end (real Envoy, wrk): added Envoy CPU per request", "",
               f"Envoy {m.get('envoy_version')} with {m.get('envoy_concurrency')} worker, {m.get('route')}; "
               f"{m.get('wrk')}; uncached: {m.get('uncached_mode')}; load average {m.get('loadavg_start')} → "
               f"{m.get('loadavg_end')}. Added: the Envoy process's own CPU time (utime+stime from /proc) per "
               "request, minus the bare router's in the same round, median over the rounds.", ""]
        md += e2e_section(e2e)
        # The chart is drawn from the same figures (bench/chart.py).
        from chart import e2e_chart
        (RES / "added-cost.svg").write_text(e2e_chart(e2e))
        md += ["", "![Added Envoy CPU per request, each configuration beside the native filters]"
                   "(bench/results/added-cost.svg)"]
        mem = e2e.get("memory", {})
        if mem:
            md += ["", f"VM memory (`wasmcustom.gatehouse.vm_memory_bytes`): {mem.get('vm_bytes_after_warmup'):,} bytes "
                       f"after {mem.get('warmup_requests'):,} warm-up requests, {mem.get('vm_bytes_after_run'):,} after "
                       f"{mem.get('completed'):,} more (mixed algorithms, {mem.get('distinct_tokens_per_alg')} "
                       f"distinct tokens each). Module: {e2e['module']['bytes']:,} bytes."]
    if core:
        md += ["", "## Core costs (ns/op)", "", f"Node {core['meta'].get('node')}, load average "
               f"{' '.join(f'{x:.1f}' for x in core['meta'].get('loadavg', []))}.", ""]
        md += core_section(core)
    if crypto:
        md += ["", "## Crypto crates compared (CPU time per operation)", "",
               f"Load average {crypto['meta'].get('loadavg_start')}; {crypto['meta'].get('profile')}.", ""]
        md += crypto_section(crypto)
    # Measurements made by hand (bench/notes/*.md) are kept, whatever this run measured.
    for note in sorted((ROOT / "bench" / "notes").glob("*.md")):
        md += ["", note.read_text().rstrip()]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(md) + "\n")
    print(f"\nwrote {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
