"""The metrics as an operator meets them: Prometheus scraping Envoy's /stats/prometheus.

* Every shipped bootstrap (envoy-config/*.yaml) runs in the real Envoy with its discovered configuration and
  serves a few requests; its scrape holds only families that docs/metrics.md documents, each with exactly the
  documented labels, and the issuer, route class and call kind are labels, never part of a name.
* A second Envoy drives what the shipped ones cannot without a live provider: a sign-in (provider calls and
  their latency), shadow mode (agreements and mismatches), a refused configuration push, and a provider call
  to a cluster that does not exist. Together the scrapes hold every documented family.
* A real Prometheus (Debian `prometheus`) scrapes them all, and every query in docs/metrics.md must parse and
  select only series that exist.
"""
import json
import re
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from harness.envoy import ENVOY, LOG_LEVELS, ROOT, Envoy, free_port
from harness.faulty import FaultyServer
from harness.wait import wait_for
from test_shipping import ENVOY_CONFIGS, SHIPPING_ENV, load_yaml, plugin_configuration, runnable, stat, wasm_filters
from test_sign_in_hardening import Browser, answer, callback, id_token, session_config, session_env, signed_in, start

DOC = (ROOT / "docs" / "metrics.md").read_text()
PROMETHEUS = "/usr/bin/prometheus"


def documented_families():
    """{family: (type, {labels})} from the table in docs/metrics.md."""
    out = {}
    for m in re.finditer(r"^\| `(gatehouse_\w+)` \| (counter|gauge|histogram) \|([^|]*)\|", DOC, re.M):
        out[m.group(1)] = (m.group(2), set(re.findall(r"`(gatehouse_\w+)`", m.group(3))))
    return out


def documented_queries():
    block = re.search(r"```promql\n(.*?)```", DOC, re.S).group(1)
    queries, current = [], []
    for line in block.splitlines() + [""]:
        if line.startswith("#") or not line.strip():
            if current:
                queries.append(" ".join(current))
            current = []
        else:
            current.append(line.strip())
    return queries


def scrape(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats/prometheus", timeout=5) as r:
        return r.read().decode()


def families_in(text):
    """{family: (type, {label names seen})} for Gatehouse's families in a Prometheus exposition."""
    types = dict(re.findall(r"^# TYPE (gatehouse_\w+) (\w+)$", text, re.M))
    out = {name: (kind, set()) for name, kind in types.items()}
    for m in re.finditer(r"^(gatehouse_\w+?)(?:_bucket|_sum|_count)?(?:\{([^}]*)\})? \S+$", text, re.M):
        name = m.group(1) if m.group(1) in out else re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        labels = {k for k in re.findall(r'(\w+)="', m.group(2) or "") if k not in ("le", "quantile")}
        if name in out:
            out[name][1].update(labels)
    return out


class Shipped:
    """A shipped bootstrap in the real Envoy, as it is (free ports, the module under test)."""

    def __init__(self, path, tmp):
        self.path = path
        config, cfg = runnable(path, tmp)
        self.admin = cfg["admin"]["address"]["socket_address"]["port_value"]
        self.port = cfg["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
        needed = {k for w in wasm_filters(load_yaml(path))
                  for k in w["vm_config"].get("environment_variables", {}).get("host_env_keys", [])}
        self.log = open(tmp / f"envoy-{self.admin}.log", "w")
        self.proc = subprocess.Popen([ENVOY, "-c", str(config), "--concurrency", "1", "--use-dynamic-base-id",
                                      "--base-id-path", str(tmp / f"base-id-{self.admin}"), *LOG_LEVELS],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                     env={"PATH": "/usr/bin:/bin", **{k: SHIPPING_ENV[k] for k in needed}})
        prefix = "extension_config_discovery.http_filter.gatehouse.config_reload"
        assert wait_for(lambda: stat(self.admin, prefix) == 1, timeout=30), path.name

    def get(self, path, host, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"host": host, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    running = [Shipped(p, tmp_path_factory.mktemp(p.stem)) for p in ENVOY_CONFIGS]
    for s in running:
        (wasm,) = wasm_filters(load_yaml(s.path))
        plugin = plugin_configuration(wasm)
        for r in plugin["routes"]:
            path = r["path"].get("exact") or r["path"].get("prefix") or "/"
            s.get(path, "localhost", {"accept": "application/json"})
        # Fetched keys: the shipped providers are not reachable from this sandbox, so the fetch fails and
        # the key-set gauges say so.
        if "remote_jwks" in json.dumps(plugin):
            assert wait_for(lambda: "gatehouse_jwks_fetches_total{" in scrape(s.admin), timeout=30), s.path.name
    yield running
    for s in running:
        s.stop()


@pytest.fixture(scope="module")
def driven(keys, upstream):
    """An Envoy through sign-in, shadow mode, a refused push and an unknown provider cluster."""
    idp = FaultyServer()
    cfg = session_config(keys, idp)
    cfg["rollout"] = {"default": {"mode": "enforce"}, "classes": {"api": {"mode": "shadow"}, "public": {"mode": "shadow"}}}
    envoy = Envoy(cfg, upstream.port, env=session_env(keys), clusters={"idp": idp.port}, concurrency=1)
    browser = Browser(envoy)
    state, nonce = start(browser)
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce), expires_in=300)
    assert signed_in(callback(browser, {"code": "c-1", "state": state}))
    browser.get("/dags")
    browser.get("/dags")
    envoy.get("/health")
    envoy.get("/api/v2/dags")  # shadow: Gatehouse would deny, the legacy path (the echo upstream) allows
    # Cache totals are published on the VM's next tick.
    assert wait_for(lambda: "gatehouse_cache_hits_total{" in scrape(envoy.admin_port), timeout=20)
    envoy.push({"routes": 3})
    assert wait_for(lambda: "gatehouse_config_rejected_total" in scrape(envoy.admin_port), timeout=20)

    lost = session_config(keys, idp)
    lost["session"]["provider"]["token_endpoint"]["cluster"] = "no-such-cluster"
    lost_envoy = Envoy(lost, upstream.port, env=session_env(keys), clusters={"idp": idp.port}, concurrency=1)
    b = Browser(lost_envoy)
    state, _ = start(b)
    callback(b, {"code": "c-2", "state": state})
    yield [envoy, lost_envoy]
    envoy.stop()
    lost_envoy.stop()
    idp.stop()


@pytest.mark.parametrize("index", range(len(ENVOY_CONFIGS)), ids=[p.name for p in ENVOY_CONFIGS])
def test_each_shipped_bootstraps_scrape_has_only_documented_families_with_exactly_their_labels(shipped, index):
    s = shipped[index]
    text = scrape(s.admin)
    found = families_in(text)
    docs = documented_families()
    assert {"gatehouse_decisions_total", "gatehouse_class_decisions_total", "gatehouse_paths_total",
            "gatehouse_config_generation", "gatehouse_config_loaded_total", "gatehouse_vm_memory_bytes"} <= found.keys(), \
        sorted(found)
    for name, (kind, labels) in found.items():
        assert name in docs, f"{s.path.name}: {name} is not in docs/metrics.md"
        assert (kind, labels) == docs[name], f"{s.path.name}: {name}"
    # No issuer, class, reason or outcome is left in a name: every Gatehouse sample line is a documented family.
    for line in text.splitlines():
        if line.startswith("gatehouse_"):
            base = re.match(r"(gatehouse_\w+?)(?:_bucket|_sum|_count)?(?:\{|\s)", line).group(1)
            assert base in docs or re.sub(r"_(bucket|sum|count)$", "", base) in docs, line


def test_together_the_scrapes_hold_every_documented_family_with_its_labels(shipped, driven):
    seen = {}
    for admin in [s.admin for s in shipped] + [e.admin_port for e in driven]:
        for name, (kind, labels) in families_in(scrape(admin)).items():
            seen.setdefault(name, (kind, set()))[1].update(labels)
    docs = documented_families()
    assert seen.keys() == docs.keys(), (sorted(docs.keys() - seen.keys()), sorted(seen.keys() - docs.keys()))
    for name, want in docs.items():
        assert seen[name] == want, name
    text = scrape(driven[0].admin_port)
    assert re.search(r'^gatehouse_idp_calls_total\{gatehouse_call="code",gatehouse_result="ok"\} 1$', text, re.M), text
    assert re.search(r'^gatehouse_shadow_mismatches_total\{gatehouse_class="api",gatehouse_direction='
                     r'"new_denies_legacy_allows",gatehouse_reason="missing_credential"\} 1$', text, re.M)
    assert re.search(r'^gatehouse_cache_hits_total\{gatehouse_cache="sessions"\} [1-9]', text, re.M)


@pytest.fixture(scope="module")
def prometheus(shipped, driven):
    targets = [f"127.0.0.1:{s.admin}" for s in shipped] + [f"127.0.0.1:{e.admin_port}" for e in driven]
    work = Path(tempfile.mkdtemp(prefix="gatehouse-prometheus-"))
    (work / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "envoy", "metrics_path": "/stats/prometheus",
                            "static_configs": [{"targets": targets}]}],
    }))
    port = free_port()
    log = open(work / "prometheus.log", "w")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)

    def query(q):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())
        except OSError:
            return None

    def all_up():
        r = query("sum(up)")
        return bool(r and r["status"] == "success" and r["data"]["result"]
                    and float(r["data"]["result"][0]["value"][1]) == len(targets))
    assert wait_for(all_up, timeout=60), (work / "prometheus.log").read_text()[-3000:]
    time.sleep(3)  # rate() needs two samples of each series
    yield query
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.mark.parametrize("q", documented_queries())
def test_each_documented_query_parses_in_prometheus_and_selects_only_series_that_exist(prometheus, q):
    r = prometheus(q)
    assert r["status"] == "success", r
    families = documented_families()
    selectors = re.findall(r'(?<!["\w])(gatehouse_\w+)(\{[^}]*\})?', q)
    selectors = [(n, s) for n, s in selectors if n in families or re.sub(r"_bucket$", "", n) in families]
    assert selectors, q
    for name, matcher in selectors:
        found = prometheus(f"count({name}{matcher})")
        assert found["status"] == "success" and found["data"]["result"], f"{name}{matcher} selects nothing"


def test_the_istio_configmap_carries_exactly_the_generated_stats_tags_as_a_valid_bootstrap_fragment():
    from google.protobuf import json_format
    from envoy.config.bootstrap.v3 import bootstrap_pb2
    import yaml
    doc = yaml.safe_load((ROOT / "envoy-config" / "istio" / "stats-tags-configmap.yaml").read_text())
    assert (doc["kind"], doc["metadata"]["name"]) == ("ConfigMap", "gatehouse-stats-tags")
    fragment = json.loads(doc["data"]["custom_bootstrap.json"])
    assert fragment == {"stats_config": json.loads((ROOT / "envoy-config" / "stats-tags.json").read_text())}
    json_format.ParseDict(fragment, bootstrap_pb2.Bootstrap(), ignore_unknown_fields=False)
    istio = (ROOT / "docs" / "istio.md").read_text()
    assert "sidecar.istio.io/bootstrapOverride: gatehouse-stats-tags" in istio
