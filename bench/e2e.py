"""End-to-end benchmark: what each filter adds to the real Envoy 1.40's own CPU time per request, Gatehouse
(dist/gatehouse.wasm) beside two proxy-wasm floors and Envoy's native jwt_authn and oauth2 filters.

    .venv-test/bin/python bench/e2e.py [--quick] [--duration S] [--warmup S] [--rounds N] [--connections N]
                                       [--requests N] [--pool N] [--json PATH] [--strict]

Method (the same in the JSON): every configuration is its own Envoy process with `--concurrency 1`, all
started at once and kept running, each answering from a direct-response route (no upstream to pay for). A
round runs every row once, in the same order, with `wrk -t1 -c8`; the figure of a row is the tested Envoy
process's own CPU time over the row (utime+stime from /proc/PID/stat) divided by the 2xx it served, minus the
bare router's figure in the same round, and the median over the rounds (5 by default). On a noisy 2-core
machine that is far steadier than latency or requests/s, which are reported beside it. Every row must answer
200 only (checked in wrk and in Envoy's own counters), each is checked once first (the 200 carries the identity
the filter handed on; the same request without the credential is refused), and the uncached rows cycle through
a pool of distinct pre-minted tokens with Gatehouse's caches switched off.

The floors: an empty proxy-wasm filter (returns Continue), and the same filter reading the request headers
once, which any filter that decides on a request must do. A memory check follows the rounds: VM memory after a
warm-up and after `--requests` more mixed requests.
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

from e2e_configs import (BEARER_PATH, BENCH_ALGS, NOOP_WASM, PUBLIC_PATH, SESSION_PATH, UPSTREAM_MARK, Material,  # noqa: E402
                         direct, floor_wasm_bootstrap, no_filter_bootstrap, noop_wasm_bootstrap)
import harness.envoy as harness_envoy  # noqa: E402
from harness.envoy import ENVOY, WASM, Envoy, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "lua" / "e2e.lua"
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "e2e.json"

MODULE_BUDGET_KIB = 500
CACHED_VS_FLOOR = 1.5              # a cached bearer request adds at most 1.5x what reading the headers adds
CACHED_VS_JWT_AUTHN = 3.0          # ... and at most 3x what jwt_authn with its cache adds
PUBLIC_VS_FLOOR = 1.2              # a public route adds at most 1.2x the floor
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


def cpu_seconds(pid):
    """The process's own CPU time so far, user plus system (proc(5): utime and stime, fields 14 and 15 of
    /proc/PID/stat, in clock ticks), all threads included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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

    def token_pool_file(self, material, alg, n):
        path = os.path.join(self.tmp, f"tokens-{alg}.txt")
        return write_requests(path, [(BEARER_PATH, "Authorization", f"Bearer {t}")
                                     for t in material.tokens(alg, n)])

    def configurations(self, m, idp_port):
        """Every Envoy of the run: (key, builder, env). Each answers from a direct-response route."""
        env = m.gatehouse_env()
        plain = [
            ("router", lambda p, ap: direct(no_filter_bootstrap(p, ap, 1)), None),
            ("noop", lambda p, ap: direct(noop_wasm_bootstrap(p, ap, 1)), None),
            ("floor", lambda p, ap: direct(floor_wasm_bootstrap(p, ap, 1)), None),
            ("jwt_authn", lambda p, ap: direct(m.jwt_authn_bootstrap(p, ap, 1, cache=True)), None),
            ("jwt_authn-nocache", lambda p, ap: direct(m.jwt_authn_bootstrap(p, ap, 1, cache=False)), None),
            ("oauth2", lambda p, ap: direct(m.oauth2_bootstrap(p, ap, 1, idp_port)), None),
            ("gatehouse", lambda p, ap: direct(m.gatehouse_bootstrap(p, ap, 1, idp_port)), env),
            ("gatehouse-nocache", lambda p, ap: direct(m.gatehouse_bootstrap(p, ap, 1, idp_port, cache_off=True)), env),
            ("gatehouse-session", lambda p, ap: direct(m.gatehouse_bootstrap(p, ap, 1, idp_port, session=True)), env),
            ("gatehouse-session-nocache",
             lambda p, ap: direct(m.gatehouse_bootstrap(p, ap, 1, idp_port, session=True, cache_off=True)), env),
        ]
        return plain

    def scenarios(self, m, cached, pools):
        """What each round measures: (name, group, envoy key, path, headers, requests file, extra)."""
        json_h = ("Accept", "application/json")
        out = [
            ("bare router", "router", "router", BEARER_PATH, [], None, {}),
            ("empty proxy-wasm filter", "wasm-floor", "noop", BEARER_PATH, [], None, {}),
            ("proxy-wasm filter reading the headers (the floor)", "wasm-floor", "floor", BEARER_PATH, [], None, {}),
            ("gatehouse public", "public", "gatehouse", PUBLIC_PATH, [], None, {}),
        ]
        for alg in BENCH_ALGS:
            out.append((f"jwt_authn {alg} cached", "native-bearer-cached", "jwt_authn", BEARER_PATH,
                        [("Authorization", f"Bearer {cached[alg]}")], None,
                        {"alg": alg, "must_refuse": [], "expect_upstream": ("jwt-sub", "dat-")}))
            out.append((f"gatehouse bearer {alg} cached", "bearer-cached", "gatehouse", BEARER_PATH,
                        [("Authorization", f"Bearer {cached[alg]}")], None,
                        {"alg": alg, "native": f"jwt_authn {alg} cached", "must_refuse": [],
                         "expect_upstream": ("subject", "dat-")}))
        for alg in BENCH_ALGS:
            out.append((f"jwt_authn {alg} uncached", "native-bearer-uncached", "jwt_authn-nocache", BEARER_PATH, [],
                        pools[alg], {"alg": alg, "must_refuse": []}))
            out.append((f"gatehouse bearer {alg} uncached", "bearer-uncached", "gatehouse-nocache", BEARER_PATH, [],
                        pools[alg], {"alg": alg, "native": f"jwt_authn {alg} uncached", "must_refuse": []}))
        out += [
            ("oauth2 session", "native-session", "oauth2", SESSION_PATH, [("Cookie", m.oauth2_cookies()), json_h], None,
             {"must_refuse": [json_h], "expect_upstream": ("authorization", "Bearer ey")}),
            ("gatehouse session cached", "session-cached", "gatehouse-session", SESSION_PATH,
             [("Cookie", m.session_cookie()), json_h], None,
             {"native": "oauth2 session", "must_refuse": [json_h], "expect_upstream": ("authorization", "Bearer ey")}),
            ("gatehouse session uncached", "session-uncached", "gatehouse-session-nocache", SESSION_PATH,
             [("Cookie", m.session_cookie()), json_h], None,
             {"native": "oauth2 session", "must_refuse": [json_h], "expect_upstream": ("authorization", "Bearer ey")}),
        ]
        return out

    def run(self):
        a = self.args
        m = Material()
        idp_port = free_port()  # nothing listens there: no scenario may call out
        log(f"== minting {a.pool} distinct tokens per algorithm for the uncached rows")
        pools = {alg: self.token_pool_file(m, alg, a.pool) for alg in BENCH_ALGS}
        cached = {alg: m.token(alg) for alg in BENCH_ALGS}
        if not NOOP_WASM.exists():
            raise BenchError(f"{NOOP_WASM} is missing: build bench/noop-filter (scripts/bench.sh does)")
        envoys = {}
        try:
            for key, build, env in self.configurations(m, idp_port):
                envoys[key] = self.start(key, build, env)
            plan = self.scenarios(m, cached, pools)
            # Every scenario is checked once before any measuring: a 200 from the route itself, with the
            # identity the filter should have handed on, and a refusal without the credential.
            for name, group, key, path, headers, pool, extra in plan:
                self.check(envoys[key], name, path, headers, pool, extra)
                log(f"   {name}: warm-up {a.warmup}s")
                checked_run(envoys[key], path, a.warmup, a.connections, headers, pool, label=f"{name} (warm-up)")
            rows = {name: {"name": name, "group": group, "envoy": key, "path": path, "rounds": [],
                           **{k: v for k, v in extra.items() if k in ("alg", "native")}}
                    for name, group, key, path, headers, pool, extra in plan}
            for r in range(a.rounds):
                log(f"== round {r + 1}/{a.rounds}")
                for name, group, key, path, headers, pool, extra in plan:
                    e = envoys[key]
                    cpu0 = cpu_seconds(e.proc.pid)
                    res = checked_run(e, path, a.duration, a.connections, headers, pool, label=name)
                    cpu = cpu_seconds(e.proc.pid) - cpu0
                    rows[name]["rounds"].append({"requests": res["envoy_2xx"], "cpu_s": round(cpu, 3),
                                                 "cpu_us_per_request": cpu / res["envoy_2xx"] * 1e6,
                                                 "rps": res["rps"], "p50_us": res["latency_us"]["p50"]})
                    log(f"   {name}: {res['rps']:.0f} req/s, {cpu / res['envoy_2xx'] * 1e6:.1f} µs CPU/request")
            self.results = list(rows.values())
            self.memory = self.memory_run(envoys["gatehouse-session"], m, cached)
        finally:
            for e in list(self.envoys):
                self.stop(e)
            shutil.rmtree(self.tmp, ignore_errors=True)
            harness_log_dir = getattr(harness_envoy, "_log_dir", None)
            if harness_log_dir:
                shutil.rmtree(harness_log_dir, ignore_errors=True)

    def check(self, envoy, name, path, headers, pool, extra):
        if extra.get("must_refuse") is not None:
            status = probe(envoy, path, extra["must_refuse"])
            if status == 200:
                raise envoy.fail(f"{name}: a request without the credential got 200: the filter is not enforcing")
        if pool is None:
            saw = preflight(envoy, path, headers)
            want = extra.get("expect_upstream")
            if want and not saw.get(want[0], "").startswith(want[1]):
                raise envoy.fail(f"{name}: the route saw {saw}, expected {want}")
        else:
            with open(pool) as f:
                lines = f.read().splitlines()
            for line in (lines[0], lines[len(lines) // 2], lines[-1]):
                p, hn, hv = line.split("\t", 2)
                preflight(envoy, p, [(hn, hv)] if hn else [])

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
            s = e.stats(r"gatehouse\.vm_memory_bytes")
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

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2) if n else None


def analyse(runner, args):
    """Per row: Envoy CPU per request minus the bare router's in the same round, and requests/s over the
    router's in the same round, each the median over the rounds."""
    rows = {r["name"]: r for r in runner.results}
    router = rows["bare router"]
    for r in runner.results:
        added = [x["cpu_us_per_request"] - b["cpu_us_per_request"] for x, b in zip(r["rounds"], router["rounds"])]
        rps = [x["rps"] / b["rps"] for x, b in zip(r["rounds"], router["rounds"]) if b["rps"]]
        r["cpu_us_per_request"] = round(median([x["cpu_us_per_request"] for x in r["rounds"]]), 2)
        r["added_cpu_us"] = round(median(added), 2)
        r["added_cpu_us_rounds"] = [round(x, 2) for x in added]
        r["rps_vs_router"] = round(median(rps), 3)
        r["rps"] = round(median([x["rps"] for x in r["rounds"]]), 1)
    floor = rows["proxy-wasm filter reading the headers (the floor)"]["added_cpu_us"]

    def verdict(budget, value, ok, note=""):
        v = {"budget": budget, "value": value, "pass": ok}
        if note:
            v["note"] = note
        return v

    verdicts = []
    size = os.path.getsize(WASM)
    verdicts.append(verdict(f"module size <= {MODULE_BUDGET_KIB} KiB", f"{size / 1024:.1f} KiB",
                            size <= MODULE_BUDGET_KIB * 1024))
    for r in runner.results:
        if r["group"] == "bearer-cached":
            added = r["added_cpu_us"]
            verdicts.append(verdict(f"{r['name']}: added CPU <= {CACHED_VS_FLOOR}x the wasm floor",
                                    f"{added:.1f} µs vs floor {floor:.1f} µs ({added / floor:.2f}x)",
                                    added <= CACHED_VS_FLOOR * floor))
            nat = rows[r["native"]]["added_cpu_us"]
            ok = added <= CACHED_VS_JWT_AUTHN * nat if nat > 0 else None
            verdicts.append(verdict(f"{r['name']}: added CPU <= {CACHED_VS_JWT_AUTHN}x {r['native']}",
                                    f"{added:.1f} µs vs {nat:.1f} µs" + (f" ({added / nat:.2f}x)" if nat > 0 else ""),
                                    ok, "" if nat > 0 else "jwt_authn with its cache added no measurable CPU"))
        elif r["group"] == "session-cached":
            nat = rows[r["native"]]["added_cpu_us"]
            verdicts.append(verdict(f"{r['name']}: added CPU <= {r['native']}",
                                    f"{r['added_cpu_us']:.1f} µs vs {nat:.1f} µs ({r['added_cpu_us'] / nat:.2f}x)",
                                    r["added_cpu_us"] <= nat))
        elif r["group"] == "public":
            verdicts.append(verdict(f"{r['name']}: added CPU <= {PUBLIC_VS_FLOOR}x the wasm floor",
                                    f"{r['added_cpu_us']:.1f} µs vs floor {floor:.1f} µs "
                                    f"({r['added_cpu_us'] / floor:.2f}x)", r["added_cpu_us"] <= PUBLIC_VS_FLOOR * floor))
    mem = runner.memory
    if mem["vm_growth_bytes"] is None:
        verdicts.append(verdict("VM memory flat (growth <= 1 MiB)", "n/a", None,
                                f"gauge {MEMORY_GAUGE} not published by this build"))
    else:
        g = mem["vm_growth_bytes"]
        verdicts.append(verdict("VM memory flat (growth <= 1 MiB)",
                                f"{mem['vm_bytes_after_warmup']} -> {mem['vm_bytes_after_run']} B ({g:+d} B)",
                                g <= MEMORY_FLAT_BYTES))
    return size, verdicts


def print_report(runner, args, size, verdicts, meta):
    print()
    print(f"Gatehouse end-to-end benchmark — {meta['date']}")
    print(f"envoy {meta['envoy_version']} --concurrency 1, a direct-response route; wrk -t1 -c{args.connections} "
          f"-d{args.duration}s per row, {args.rounds} interleaved rounds; load average {meta['loadavg_start']} at start")
    print()
    hdr = ["configuration", "Envoy CPU µs/req", "added µs/req", "added per round", "req/s", "req/s ×router"]
    lines = [[r["name"], f"{r['cpu_us_per_request']:.1f}", f"{r['added_cpu_us']:.1f}",
              " ".join(f"{x:.0f}" for x in r["added_cpu_us_rounds"]), f"{r['rps']:.0f}", f"{r['rps_vs_router']:.2f}"]
             for r in runner.results]
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
    print("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(hdr)))
    print("  ".join("-" * w for w in widths))
    for l in lines:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(l)))
    print()
    print("added: the Envoy process's own CPU time per request (utime+stime from /proc over the row, divided by the")
    print("2xx it served) minus the bare router's in the same round, median over the rounds.")
    mem = runner.memory
    vm = "n/a" if mem["vm_bytes_after_warmup"] is None else \
        f"{mem['vm_bytes_after_warmup']} -> {mem['vm_bytes_after_run']} bytes"
    print(f"module: {WASM} = {size} bytes ({size / 1024:.1f} KiB)")
    print(f"VM memory ({MEMORY_GAUGE}), after {mem['warmup_requests']} warm-up requests -> after "
          f"{mem['completed']} more (mixed, {mem['distinct_tokens_per_alg']} distinct tokens per algorithm): {vm}")
    print()
    print("verdicts:")
    for v in verdicts:
        tag = "PASS" if v["pass"] else ("n/a " if v["pass"] is None else "FAIL")
        note = f"  ({v['note']})" if v.get("note") else ""
        print(f"  {tag}  {v['budget']}: {v['value']}{note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs for a smoke test (about 4 minutes)")
    ap.add_argument("--duration", type=int, help="seconds per row and round (default 8; quick 2)")
    ap.add_argument("--warmup", type=int, help="seconds of warm-up per row (default 2; quick 1)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 8)))
    ap.add_argument("--requests", type=int, default=None,
                    help="requests for the VM memory check (env BENCH_REQUESTS; default 1000000; quick 20000)")
    ap.add_argument("--pool", type=int, help="distinct tokens per algorithm for uncached rows (default 5000; quick 500)")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help=f"results file (default {DEFAULT_JSON})")
    ap.add_argument("--strict", action="store_true", help="exit 2 when a budget verdict fails")
    args = ap.parse_args()
    args.duration = args.duration or (2 if args.quick else 8)
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
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit.stdout.strip() or "unknown",
            "envoy_version": envoy_version, "envoy_concurrency": 1, "route": "direct_response 200 in the tested Envoy",
            "wrk": f"wrk -t1 -c{args.connections} -d{args.duration}s per row, {args.rounds} interleaved rounds "
                   f"(warm-up {args.warmup}s)", "rounds": args.rounds,
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
    meta["uncached_mode"] = (f"Gatehouse with cache.verified_tokens=0 and cache.sessions=0, jwt_authn without "
                             f"jwt_cache_config, both cycling {args.pool} distinct tokens per algorithm")
    size, verdicts = analyse(runner, args)
    print_report(runner, args, size, verdicts, meta)

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
