"""End-to-end benchmark: the real Envoy 1.40 with dist/gatehouse.wasm against Envoy without a filter and against
Envoy's native jwt_authn and oauth2 filters, measured with wrk.

    .venv-test/bin/python bench/e2e.py [--quick] [--duration S] [--warmup S] [--connections N]
                                       [--requests N] [--pool N] [--json PATH] [--strict]

Setup (stated in the output and in the JSON):
* the tested Envoy runs with `--concurrency 1` (one worker thread); scenarios run one at a time, each
  configuration in its own Envoy process, started and stopped in turn;
* the upstream is a separate Envoy process (also one worker) whose only route is a `direct_response` 200; the
  tested listener reaches it through a STATIC cluster and the router, so every scenario pays the same proxying;
* wrk: one thread, `--connections` keep-alive connections (default 16), a warm-up run, then the measured run;
  latency percentiles come from wrk's own histogram (a `done()` hook in bench/lua/e2e.lua); with a closed
  loop of 16 connections, p50 is mostly queueing (about connections / throughput), so "added latency" tracks
  the per-request CPU cost of the filter;
* no filter runs first and again last; the faster of the two is the reference for every ratio;
* every run must be 200s only: wrk's status errors and the tested Envoy's own `downstream_rq_{1,3,4,5}xx`
  counters are checked after each run (wrk does not count 3xx, so an oauth2 redirect would slip past wrk
  alone), and a pre-flight request checks that each scenario's 200 comes from the upstream.

"Uncached" bearer rows cycle through a pool of distinct pre-minted tokens (bench/lua/e2e.lua), and, when the
plugin accepts it, also run Gatehouse with `"cache": {"verified_tokens": 0}`. The native uncached rows run
jwt_authn without `jwt_cache_config` over the same kind of pool.
"""
import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_configs import (BEARER_PATH, BENCH_ALGS, PUBLIC_PATH, SESSION_PATH, UPSTREAM_MARK, Material, NOOP_WASM, noop_wasm_bootstrap,  # noqa: E402
                         no_filter_bootstrap, upstream_bootstrap)
import harness.envoy as harness_envoy  # noqa: E402
from harness.envoy import ENVOY, WASM, Envoy, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "lua" / "e2e.lua"
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "e2e.json"

MODULE_BUDGET_KIB = 500
LATENCY_BUDGET_FACTOR = 2.0        # Gatehouse may add at most 2x what the native filter adds
RPS_BUDGET = 0.85                  # cached paths keep >= 85% of no-filter requests/s
MEMORY_FLAT_BYTES = 1 << 20        # VM memory growth <= 1 MiB is "flat"
MEMORY_GAUGE = "wasmcustom.gatehouse.vm_memory_bytes"


class BenchError(RuntimeError):
    pass


_T0 = time.time()


def log(msg):
    print(f"[{time.time() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# --- Envoy processes ------------------------------------------------------------------------------------------

class BenchEnvoy(Envoy):
    """harness.envoy.Envoy with a caller-built bootstrap (any filter chain), one worker and warning-level logs."""

    def __init__(self, name, build, env=None, concurrency=1):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"gatehouse-bench-{name}-")
        self.port = free_port()
        self.admin_port = free_port()
        self.concurrency = concurrency
        cfg = build(self.port, self.admin_port)
        self.config_path = os.path.join(self.dir, "envoy.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=1)
        self.log_path = os.path.join(self.dir, "envoy.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ENVOY, "-c", self.config_path, "--concurrency", str(concurrency), "--base-id-path",
             os.path.join(self.dir, "base-id"), "--use-dynamic-base-id", "-l", "warning"],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        self._wait_ready(timeout=60)

    def stats(self, regex):
        out = {}
        for line in self.admin(f"/stats?filter={regex}").splitlines():
            name, _, value = line.partition(": ")
            if value.strip().lstrip("-").isdigit():
                out[name.strip()] = int(value)
        return out

    def rq_classes(self):
        s = self.stats(r"^http\.ingress\.downstream_rq_[1-5]xx$")
        return {k.rsplit("_", 1)[1]: v for k, v in s.items()}

    def fail(self, msg):
        tail = self.logs()[-3000:]
        return BenchError(f"[{self.name}] {msg}\n--- envoy log tail ({self.log_path}) ---\n{tail}")


def probe(envoy, path, headers):
    return _get(envoy, path, headers)[0].status


def _get(envoy, path, headers):
    c = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    c.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    c.putheader("host", f"127.0.0.1:{envoy.port}")  # what wrk sends
    for name, value in headers:
        c.putheader(name, value)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def preflight(envoy, path, headers):
    """One request outside wrk: it must be a 200 that came from the upstream (not a local reply). Returns what
    the upstream saw (its direct_response echoes a few request headers)."""
    r, body = _get(envoy, path, headers)
    if r.status != 200 or r.getheader(UPSTREAM_MARK) != "1":
        raise envoy.fail(f"pre-flight GET {path} got {r.status} (upstream mark {r.getheader(UPSTREAM_MARK)!r}), "
                         f"location={r.getheader('location')!r}, body={body[:300]!r}")
    saw = {}
    for name in ("authorization", "subject", "jwt-sub"):
        v = r.getheader(f"x-bench-saw-{name}")
        if v and v != "-":
            saw[name] = v
    return saw


# --- wrk ------------------------------------------------------------------------------------------------------

def run_wrk(url, duration, connections, headers=(), requests_file=None, limit=0, progress=None, timeout_s=5):
    """One wrk run. With `limit`, the Lua script stops sending after `limit` responses and, since wrk itself only
    stops at the end of `duration`, wrk gets SIGINT (it then reports as usual) once `progress()` (the tested
    Envoy's response counter) shows `limit` responses."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"--timeout={timeout_s}s", "-s", str(LUA)]
    for name, value in headers:
        cmd += ["-H", f"{name}: {value}"]
    cmd += [url, "--", requests_file or "-", str(limit)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if limit and progress:
        while p.poll() is None:
            time.sleep(0.25)
            if progress() >= limit:
                time.sleep(0.1)
                p.send_signal(signal.SIGINT)
                break
    stdout, stderr = p.communicate()
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}): {' '.join(cmd)}\n{stdout}\n{stderr}")
    m = re.search(r"^@@E2E (\{.*\})$", stdout, re.M)
    if not m:
        raise BenchError(f"no result line from wrk:\n{stdout}\n{stderr}")
    res = json.loads(m.group(1))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6) if res["duration_us"] else 0.0
    rps_line = re.search(r"Requests/sec:\s+([\d.]+)", stdout)
    if rps_line:
        res["rps_wrk"] = float(rps_line.group(1))
    res["non2xx_wrk"] = int((re.search(r"Non-2xx or 3xx responses:\s+(\d+)", stdout) or [0, 0])[1])
    res["raw"] = stdout
    return res


def checked_run(envoy, path, duration, connections, headers=(), requests_file=None, limit=0, label=""):
    """A wrk run that must produce nothing but 2xx (checked in wrk and in the tested Envoy's counters)."""
    before = envoy.rq_classes()

    def progress():
        now = envoy.rq_classes()
        return sum(now.values()) - sum(before.values())

    res = run_wrk(f"http://127.0.0.1:{envoy.port}{path}", duration, connections, headers, requests_file, limit,
                  progress)
    after = envoy.rq_classes()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("1xx", "2xx", "3xx", "4xx", "5xx")}
    bad = {k: v for k, v in delta.items() if k != "2xx" and v}
    if res["errors"]["status"] or res["non2xx_wrk"] or bad:
        raise envoy.fail(f"{label}: non-2xx responses: wrk status errors={res['errors']['status']}, "
                         f"wrk non-2xx/3xx={res['non2xx_wrk']}, envoy counters {delta}\n{res['raw']}")
    if delta["2xx"] == 0 or res["requests"] == 0:
        raise envoy.fail(f"{label}: no successful requests\n{res['raw']}")
    socket_errors = {k: v for k, v in res["errors"].items() if k != "status" and v}
    res["envoy_2xx"] = delta["2xx"]
    res["socket_errors"] = socket_errors
    return res


def write_requests(path, entries):
    """entries: (path, header name, header value) tuples, one request per line for bench/lua/e2e.lua."""
    with open(path, "w") as f:
        for p, name, value in entries:
            assert "\t" not in value and "\n" not in value
            f.write(f"{p}\t{name}\t{value}\n")
    return path


# --- the run --------------------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args):
        self.args = args
        self.results = []
        self.tmp = tempfile.mkdtemp(prefix="gatehouse-bench-")
        self.envoys = []

    def start(self, name, build, env=None):
        log(f"== starting Envoy '{name}' (concurrency 1)")
        e = BenchEnvoy(name, build, env)
        self.envoys.append(e)
        return e

    def stop(self, e):
        e.stop()
        self.envoys.remove(e)
        shutil.rmtree(e.dir, ignore_errors=True)  # kept only when a run fails (the error names its log)

    def scenario(self, envoy, name, group, path, headers=(), requests_file=None, must_refuse=None,
                 expect_upstream=None, **meta):
        a = self.args
        if must_refuse is not None:
            # the same request without the credential must be refused: proves the filter is in the path
            refused_status = probe(envoy, path, must_refuse)
            if refused_status == 200:
                raise envoy.fail(f"{name}: a request without the credential got 200: the filter is not enforcing")
            meta["without_credential"] = refused_status
        if requests_file is None:
            meta["upstream_saw"] = preflight(envoy, path, headers)
            if expect_upstream and not meta["upstream_saw"].get(expect_upstream[0], "").startswith(expect_upstream[1]):
                raise envoy.fail(f"{name}: the upstream saw {meta['upstream_saw']}, expected {expect_upstream}")
        else:
            with open(requests_file) as f:
                lines = f.read().splitlines()
            for line in (lines[0], lines[len(lines) // 2], lines[-1]):
                p, hn, hv = line.split("\t", 2)
                meta["upstream_saw"] = preflight(envoy, p, [(hn, hv)] if hn else [])
        log(f"   {name}: warm-up {a.warmup}s, run {a.duration}s, {a.connections} connections")
        checked_run(envoy, path, a.warmup, a.connections, headers, requests_file, label=f"{name} (warm-up)")
        res = checked_run(envoy, path, a.duration, a.connections, headers, requests_file, label=name)
        lat = res["latency_us"]
        row = {"name": name, "group": group, "envoy": envoy.name, "path": path, "rps": round(res["rps"], 1),
               "requests": res["requests"], "envoy_2xx": res["envoy_2xx"],
               "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"], "p999_us": lat["p999"],
               "mean_us": round(lat["mean"], 1), "socket_errors": res["socket_errors"], **meta}
        log(f"   -> {row['rps']:.0f} req/s, p50 {lat['p50']}us p90 {lat['p90']}us p99 {lat['p99']}us")
        self.results.append(row)
        return row

    def validate(self, m, idp_port):
        """`envoy --mode validate` (through the harness) on the uncached Gatehouse bootstrap; 0 = accepted."""
        path = os.path.join(self.tmp, "validate-cache-knob.json")
        with open(path, "w") as f:
            json.dump(m.gatehouse_bootstrap(free_port(), free_port(), free_port(), idp_port, cache_off=True), f)
        rc, _ = harness_envoy.validate_file(path, m.gatehouse_env())
        return rc

    def token_pool_file(self, material, alg, n):
        path = os.path.join(self.tmp, f"tokens-{alg}.txt")
        return write_requests(path, [(BEARER_PATH, "Authorization", f"Bearer {t}")
                                     for t in material.tokens(alg, n)])

    def run(self):
        a = self.args
        m = Material()
        idp_port = free_port()  # nothing listens there: no scenario may call out
        pools = {}
        log(f"== minting {a.pool} distinct tokens per algorithm for the uncached rows")
        for alg in BENCH_ALGS:
            pools[alg] = self.token_pool_file(m, alg, a.pool)
        cached = {alg: m.token(alg) for alg in BENCH_ALGS}

        log("== checking whether the plugin accepts \"cache\": {\"verified_tokens\": 0}")
        rc = self.validate(m, idp_port)
        self.cache_knob = rc == 0
        log(f"   {'accepted' if self.cache_knob else 'refused (not implemented yet): uncached = token cycling only'}")

        upstream = self.start("upstream", upstream_bootstrap)
        up = upstream.port
        try:
            # (1) no filter
            e = self.start("no-filter", lambda p, ap: no_filter_bootstrap(p, ap, up))
            self.scenario(e, "no filter", "baseline", BEARER_PATH, [("Authorization", f"Bearer {cached['ES256']}")])
            self.stop(e)

            # (1b) an empty proxy-wasm filter: the floor every wasm filter pays, Gatehouse included
            if NOOP_WASM.exists():
                e = self.start("noop-wasm", lambda p, ap: noop_wasm_bootstrap(p, ap, up))
                self.scenario(e, "empty wasm filter", "baseline-wasm", BEARER_PATH)
                self.stop(e)
            else:
                log(f"   (no {NOOP_WASM}: build bench/noop-filter for the empty-wasm-filter row)")

            # (2)-(3) Gatehouse, bearer configuration (the test suites' standard config: verification only)
            env = m.gatehouse_env()
            e = self.start("gatehouse", lambda p, ap: m.gatehouse_bootstrap(p, ap, up, idp_port), env)
            self.scenario(e, "gatehouse public", "public", PUBLIC_PATH)
            for alg in BENCH_ALGS:
                self.scenario(e, f"gatehouse bearer {alg} cached", "bearer-cached", BEARER_PATH,
                              [("Authorization", f"Bearer {cached[alg]}")], alg=alg, native=f"jwt_authn {alg} cached",
                              must_refuse=[], expect_upstream=("subject", "dat-"))
            if not self.cache_knob:
                for alg in BENCH_ALGS:
                    self.scenario(e, f"gatehouse bearer {alg} uncached", "bearer-uncached", BEARER_PATH,
                                  requests_file=pools[alg], alg=alg, native=f"jwt_authn {alg} uncached",
                                  uncached_mode=f"cycling {a.pool} distinct tokens", must_refuse=[])
            self.stop(e)
            if self.cache_knob:
                e = self.start("gatehouse-nocache",
                               lambda p, ap: m.gatehouse_bootstrap(p, ap, up, idp_port, cache_off=True), env)
                for alg in BENCH_ALGS:
                    self.scenario(e, f"gatehouse bearer {alg} uncached", "bearer-uncached", BEARER_PATH,
                                  requests_file=pools[alg], alg=alg, native=f"jwt_authn {alg} uncached",
                                  uncached_mode=f"cache.verified_tokens=0 + cycling {a.pool} distinct tokens",
                                  must_refuse=[])
                self.stop(e)

            # (4) Gatehouse, session configuration (session block + Airflow token mint); the memory run uses it
            # too, with every kind of request
            e = self.start("gatehouse-session",
                           lambda p, ap: m.gatehouse_bootstrap(p, ap, up, idp_port, session=True), env)
            self.scenario(e, "gatehouse session", "session", SESSION_PATH,
                          [("Cookie", m.session_cookie()), ("Accept", "application/json")], native="oauth2 session",
                          must_refuse=[("Accept", "application/json")], expect_upstream=("authorization", "Bearer ey"))
            self.memory = self.memory_run(e, m, cached)
            self.stop(e)

            # (5) Envoy jwt_authn, with and without its JWT cache
            e = self.start("jwt_authn", lambda p, ap: m.jwt_authn_bootstrap(p, ap, up, cache=True))
            for alg in BENCH_ALGS:
                self.scenario(e, f"jwt_authn {alg} cached", "native-bearer-cached", BEARER_PATH,
                              [("Authorization", f"Bearer {cached[alg]}")], alg=alg, must_refuse=[],
                              expect_upstream=("jwt-sub", "dat-"))
            self.stop(e)
            e = self.start("jwt_authn-nocache", lambda p, ap: m.jwt_authn_bootstrap(p, ap, up, cache=False))
            for alg in BENCH_ALGS:
                self.scenario(e, f"jwt_authn {alg} uncached", "native-bearer-uncached", BEARER_PATH,
                              requests_file=pools[alg], alg=alg,
                              uncached_mode=f"no jwt_cache_config + cycling {a.pool} distinct tokens",
                              must_refuse=[])
            self.stop(e)

            # (6) Envoy oauth2 with a pre-built session
            e = self.start("oauth2", lambda p, ap: m.oauth2_bootstrap(p, ap, up, idp_port))
            self.scenario(e, "oauth2 session", "native-session", SESSION_PATH,
                          [("Cookie", m.oauth2_cookies()), ("Accept", "application/json")],
                          must_refuse=[("Accept", "application/json")], expect_upstream=("authorization", "Bearer ey"))
            self.stop(e)

            # (1 again) the baseline once more at the end: the faster of the two is the reference (conservative
            # for the verdicts when the machine's load changes during the run)
            e = self.start("no-filter", lambda p, ap: no_filter_bootstrap(p, ap, up))
            self.scenario(e, "no filter (repeat)", "baseline", BEARER_PATH,
                          [("Authorization", f"Bearer {cached['ES256']}")])
            self.stop(e)
        finally:
            for e in list(self.envoys):
                if e.name == "upstream":
                    self.stop(e)
                else:
                    e.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            # newer harnesses keep every Envoy/validate log of a session in one directory: ours is not needed
            harness_log_dir = getattr(harness_envoy, "_log_dir", None)
            if harness_log_dir:
                shutil.rmtree(harness_log_dir, ignore_errors=True)

    def memory_run(self, e, m, cached):
        """VM memory after a warm-up and after N more requests: a mix of every request kind, with distinct tokens
        so any per-token state (caches) is exercised."""
        a = self.args
        mix = []
        n_distinct = max(1, min(a.pool, 2000))
        per_alg = {alg: m.tokens(alg, n_distinct) for alg in BENCH_ALGS}
        cookie = m.session_cookie()
        for i in range(n_distinct):
            for alg in BENCH_ALGS:
                mix.append((BEARER_PATH, "Authorization", f"Bearer {per_alg[alg][i]}"))
            if i % 4 == 0:
                mix.append((BEARER_PATH, "Authorization", f"Bearer {cached['ES256']}"))
                mix.append((SESSION_PATH, "Cookie", cookie))
                mix.append((PUBLIC_PATH, "", ""))
        f = write_requests(os.path.join(self.tmp, "mix.txt"), mix)
        warm = max(2 * len(mix), min(10000, a.requests // 2))

        def gauge():
            s = e.stats(r"gatehouse\.vm\.memory_bytes")
            return max(s.values()) if s else None, s

        def envoy_heap():
            s = e.stats(r"^server\.memory_allocated$")
            return s.get("server.memory_allocated")

        log(f"== memory: warm-up {warm} mixed requests, then {a.requests} more")
        checked_run(e, BEARER_PATH, max(60, warm // 200), a.connections, requests_file=f, limit=warm,
                    label="memory warm-up")
        before, before_all = gauge()
        heap_before = envoy_heap()
        t0 = time.time()
        res = checked_run(e, BEARER_PATH, max(60, a.requests // 200), a.connections, requests_file=f,
                          limit=a.requests, label="memory run")
        after, after_all = gauge()
        heap_after = envoy_heap()
        out = {"gauge": MEMORY_GAUGE, "warmup_requests": warm, "requests": a.requests,
               "completed": res["requests"], "seconds": round(time.time() - t0, 1),
               "distinct_tokens_per_alg": n_distinct, "mix_size": len(mix),
               "vm_bytes_after_warmup": before, "vm_bytes_after_run": after,
               "vm_growth_bytes": (after - before) if before is not None and after is not None else None,
               "gauges_after_run": after_all,
               "envoy_allocated_after_warmup": heap_before, "envoy_allocated_after_run": heap_after}
        log(f"   -> gauge {before} -> {after}; envoy heap {heap_before} -> {heap_after}")
        return out


# --- report ---------------------------------------------------------------------------------------------------

def ratio(a, b):
    return a / b if b else None


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}x"


def analyse(runner, args):
    rows = {r["name"]: r for r in runner.results}
    base = max((r for r in runner.results if r["group"] == "baseline"), key=lambda r: r["rps"])
    runner.baseline = base["name"]
    for r in runner.results:
        r["p50_vs_nofilter"] = ratio(r["p50_us"], base["p50_us"])
        r["rps_vs_nofilter"] = ratio(r["rps"], base["rps"])
        r["added_p50_us"] = r["p50_us"] - base["p50_us"]
        nat = rows.get(r.get("native", ""))
        if nat:
            r["p50_vs_native"] = ratio(r["p50_us"], nat["p50_us"])
            r["rps_vs_native"] = ratio(r["rps"], nat["rps"])
            nat_added = nat["p50_us"] - base["p50_us"]
            # only meaningful when the native filter added measurable latency
            r["added_vs_native_added"] = ratio(r["added_p50_us"], nat_added) if nat_added > 0 else None

    verdicts = []
    size = os.path.getsize(WASM)
    verdicts.append({"budget": f"module size <= {MODULE_BUDGET_KIB} KiB", "value": f"{size / 1024:.1f} KiB",
                     "pass": size <= MODULE_BUDGET_KIB * 1024})
    for r in runner.results:
        if r["group"] not in ("bearer-cached", "session"):
            continue
        nat = rows[r["native"]]
        nat_added = nat["p50_us"] - base["p50_us"]
        value = f"adds {r['added_p50_us']}us vs {nat['name']} {nat_added}us"
        if nat_added <= 0:
            verdicts.append({"budget": f"{r['name']}: added p50 <= 2x {nat['name']}", "value": value,
                             "pass": None, "note": "inconclusive: the native filter added no measurable p50"})
        else:
            verdicts.append({"budget": f"{r['name']}: added p50 <= 2x {nat['name']}", "value": value,
                             "pass": r["added_p50_us"] <= LATENCY_BUDGET_FACTOR * nat_added})
    for r in runner.results:
        if r["group"] in ("public", "bearer-cached", "session"):
            verdicts.append({"budget": f"{r['name']}: req/s >= {RPS_BUDGET:.0%} of no filter",
                             "value": f"{r['rps_vs_nofilter']:.1%}", "pass": r["rps_vs_nofilter"] >= RPS_BUDGET})
    mem = runner.memory
    if mem["vm_growth_bytes"] is None:
        verdicts.append({"budget": "VM memory flat (growth <= 1 MiB)", "value": "n/a", "pass": None,
                         "note": f"gauge {MEMORY_GAUGE} not published by this build"})
    else:
        g = mem["vm_growth_bytes"]
        verdicts.append({"budget": "VM memory flat (growth <= 1 MiB)",
                         "value": f"{mem['vm_bytes_after_warmup']} -> {mem['vm_bytes_after_run']} B ({g:+d} B)",
                         "pass": g <= MEMORY_FLAT_BYTES})
    return size, verdicts


def print_report(runner, args, size, verdicts, meta):
    print()
    print(f"Gatehouse end-to-end benchmark — {meta['date']}")
    print(f"envoy {meta['envoy_version']} --concurrency 1 (one worker); upstream: separate Envoy, direct_response 200;"
          f" wrk -t1 -c{args.connections} -d{args.duration}s (warm-up {args.warmup}s)")
    print(f"{meta['cpus']} CPUs; load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']} (wrk, the"
          f" tested Envoy and the upstream Envoy share these CPUs with everything else on the machine)")
    print(f"uncached rows: {meta['uncached_mode']}")
    print()
    hdr = ["scenario", "req/s", "p50 µs", "p90 µs", "p99 µs", "p50 ×none", "rps ×none", "+p50 µs", "p50 ×native",
           "+p50/native+"]
    lines = []
    for r in runner.results:
        lines.append([r["name"], f"{r['rps']:.0f}", str(r["p50_us"]), str(r["p90_us"]), str(r["p99_us"]),
                      fmt_ratio(r["p50_vs_nofilter"]), fmt_ratio(r["rps_vs_nofilter"]), f"{r['added_p50_us']:+d}",
                      fmt_ratio(r.get("p50_vs_native")), fmt_ratio(r.get("added_vs_native_added"))])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
    print("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(hdr)))
    print("  ".join("-" * w for w in widths))
    for l in lines:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(l)))
    print()
    print(f"×none: ratio to the no-filter reference ('{runner.baseline}': the faster of the two no-filter runs);")
    print("+p50: p50 minus the reference's p50; ×native: ratio to the matching")
    print("native row (jwt_authn same algorithm and cache mode for bearer, oauth2 for session); +p50/native+: the")
    print("latency Gatehouse adds divided by the latency the native filter adds.")
    mem = runner.memory
    print()
    vm = "n/a" if mem["vm_bytes_after_warmup"] is None else \
        f"{mem['vm_bytes_after_warmup']} -> {mem['vm_bytes_after_run']} bytes"
    print(f"module: {WASM} = {size} bytes ({size / 1024:.1f} KiB)")
    print(f"VM memory ({MEMORY_GAUGE}), after {mem['warmup_requests']} warm-up requests -> after "
          f"{mem['completed']} more (mixed, {mem['distinct_tokens_per_alg']} distinct tokens per algorithm): {vm}")
    print(f"Envoy heap (server.memory_allocated): {mem['envoy_allocated_after_warmup']} -> "
          f"{mem['envoy_allocated_after_run']} bytes")
    print()
    print("verdicts:")
    for v in verdicts:
        tag = "PASS" if v["pass"] else ("n/a " if v["pass"] is None else "FAIL")
        note = f"  ({v['note']})" if v.get("note") else ""
        print(f"  {tag}  {v['budget']}: {v['value']}{note}")
    if not runner.cache_knob:
        print()
        print("note: the plugin does not accept \"cache\" yet (no verified-token cache in this build), so cached and")
        print("uncached Gatehouse rows measure the same code path; uncached rows also pay wrk's Lua request()")
        print("(the native uncached rows use the same script, so the ×native column stays like for like).")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs for a smoke test (about 2-3 minutes)")
    ap.add_argument("--duration", type=int, help="seconds per measured run (default 10; quick 3)")
    ap.add_argument("--warmup", type=int, help="seconds of warm-up per scenario (default 2; quick 1)")
    ap.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 16)))
    ap.add_argument("--requests", type=int, default=None,
                    help="requests for the VM memory check (env BENCH_REQUESTS; default 1000000; quick 20000)")
    ap.add_argument("--pool", type=int, help="distinct tokens per algorithm for uncached rows (default 5000; quick 500)")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help=f"results file (default {DEFAULT_JSON})")
    ap.add_argument("--strict", action="store_true", help="exit 2 when a budget verdict fails")
    args = ap.parse_args()
    args.duration = args.duration or (3 if args.quick else 10)
    args.warmup = args.warmup or (1 if args.quick else 2)
    args.pool = args.pool or (500 if args.quick else 5000)
    if args.requests is None:
        args.requests = int(os.environ.get("BENCH_REQUESTS") or (20000 if args.quick else 1_000_000))

    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk")
    if not os.path.exists(WASM):
        sys.exit(f"{WASM} not found: run scripts/build.sh first")

    envoy_version = subprocess.run([ENVOY, "--version"], capture_output=True, text=True).stdout.strip()
    envoy_version = (re.search(r"/(\d+\.\d+\.\d+)/", envoy_version) or [None, envoy_version])[1]
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "envoy_version": envoy_version, "envoy_concurrency": 1, "upstream": "separate Envoy, direct_response 200",
            "wrk": f"wrk -t1 -c{args.connections} -d{args.duration}s --latency (warm-up {args.warmup}s)",
            "quick": args.quick, "duration_s": args.duration, "warmup_s": args.warmup,
            "connections": args.connections, "token_pool": args.pool, "cpus": os.cpu_count(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()), "wasm": WASM}

    runner = Runner(args)
    t0 = time.time()
    try:
        runner.run()
    except BenchError as err:
        print(f"\nBENCHMARK FAILED: {err}", file=sys.stderr)
        sys.exit(1)
    meta["seconds"] = round(time.time() - t0, 1)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["cache_knob"] = runner.cache_knob
    meta["uncached_mode"] = (f"cache.verified_tokens=0 and cycling {args.pool} distinct tokens per algorithm"
                             if runner.cache_knob else
                             f"cycling {args.pool} distinct tokens per algorithm (plugin has no cache knob yet)")
    size, verdicts = analyse(runner, args)
    print_report(runner, args, size, verdicts, meta)

    meta["baseline"] = runner.baseline
    out = {"meta": meta, "module": {"path": WASM, "bytes": size, "budget_bytes": MODULE_BUDGET_KIB * 1024},
           "scenarios": runner.results, "memory": runner.memory, "verdicts": verdicts}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\nresults: {args.json} ({meta['seconds']}s)")
    if args.strict and any(v["pass"] is False for v in verdicts):
        sys.exit(2)


if __name__ == "__main__":
    main()
