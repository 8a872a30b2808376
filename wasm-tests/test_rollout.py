"""Controlled rollout through the real Envoy: shadow mode in front of a legacy path that enforces its own
authentication, sticky percentage buckets, the canary override, and the metrics at /stats and
/stats/prometheus."""
import hashlib
import http.client
import re

import pytest

from harness.envoy import Envoy
from harness.tokens import dat_claims, plugin_config
from harness.upstream import Upstream

CANARY = "canary-secret-for-tests-0123456789"


def counters(envoy, prefix="wasmcustom.gatehouse."):
    out = {}
    for line in envoy.admin(f"/stats?filter={re.escape(prefix)}").splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


class Legacy:
    """A legacy path that checks bearer tokens itself: only tokens in `accepted` pass (401 without one,
    403 with any other); public paths are open."""

    def __init__(self):
        self.accepted = set()

    def __call__(self, rec):
        if rec.path.startswith("/api/v2/version"):
            return 200
        auth = rec.header("authorization")
        if not auth:
            return 401
        return 200 if auth.removeprefix("Bearer ") in self.accepted else 403


@pytest.fixture(scope="module")
def legacy():
    rules = Legacy()
    up = Upstream(status_for=rules)
    yield rules, up
    up.stop()


@pytest.fixture(scope="module")
def shadow_envoy(keys, legacy):
    rules, up = legacy
    cfg = plugin_config(keys, rollout={"default": {"mode": "shadow"}})
    # One worker: mismatches are logged once per VM, and this test counts the log lines.
    e = Envoy(cfg, up.port, env=keys.env(), concurrency=1)
    yield e
    e.stop()


def test_shadow_mode_forwards_everything_but_forged_identity_headers_and_counts_agreements_and_mismatches(keys, legacy, shadow_envoy):
    rules, up = legacy
    both = keys.sign(dat_claims(sub="shadow-both"))
    only_new = keys.sign(dat_claims(sub="shadow-new-only"))
    rules.accepted = {both, "legacy-opaque-token"}
    up.take()
    cases = [
        # (path, token, status the client must see: the legacy path's own answer)
        ("/api/v2/dags", both, 200),  # both allow
        ("/api/v2/dags", None, 401),  # both deny
        ("/api/v2/dags", only_new, 403),  # new allows, legacy denies
        ("/api/v2/dags", only_new, 403),  # the same mismatch again: counted, not logged again
        ("/api/v2/dags", "legacy-opaque-token", 200),  # new denies, legacy allows
        ("/api/v2/version", None, 200),  # public: both allow
    ]
    for path, token, want in cases:
        headers = [("x-gatehouse-subject", "forged-by-client"), ("x-gatehouse-canary", "new:wrong")]
        r = shadow_envoy.get(path, token=token, headers=headers)
        assert r.status == want, (path, r.status, r.body)
    seen = up.take()
    assert len(seen) == len(cases), "every request reached the legacy path"
    for rec, (path, token, _) in zip(seen, cases):
        # Untouched but for the identity headers Gatehouse owns (a client's forgery never passes), nothing
        # injected.
        assert rec.path == path
        assert rec.header("authorization") == (f"Bearer {token}" if token else None)
        assert rec.header("x-gatehouse-subject") is None
        assert rec.header("x-gatehouse-issuer") is None
    stats = counters(shadow_envoy)
    assert stats.get("wasmcustom.gatehouse.shadow_agreements_total.api") == 2, stats
    assert stats.get("wasmcustom.gatehouse.shadow_agreements_total.public") == 1, stats
    assert stats.get("wasmcustom.gatehouse.shadow_mismatches_total.api.new_allows_legacy_denies.verified") == 2, stats
    denies = {k: v for k, v in stats.items() if ".new_denies_legacy_allows." in k}
    assert sum(denies.values()) == 1 and all(k.startswith("wasmcustom.gatehouse.shadow_mismatches_total.api.") for k in denies), stats
    assert stats.get("wasmcustom.gatehouse.paths_total.legacy.api") == 5, stats
    assert stats.get("wasmcustom.gatehouse.decisions_total.shadow.verified") == 3, stats
    logs = shadow_envoy.logs()
    assert logs.count("kind=new_allows_legacy_denies") == 1, "each mismatch kind is logged once"
    assert logs.count("kind=new_denies_legacy_allows") == 1
    for secret in (both, only_new, "legacy-opaque-token"):
        assert secret not in logs


def test_the_metrics_appear_in_prometheus_exposition(shadow_envoy):
    shadow_envoy.get("/api/v2/version")
    prom = shadow_envoy.admin("/stats/prometheus")
    lines = [line for line in prom.splitlines() if not line.startswith("#")]
    for want in (
        r'^gatehouse_shadow_agreements_total\{gatehouse_class="public"\} [1-9]',
        r'^gatehouse_paths_total\{gatehouse_path="legacy",gatehouse_class="public"\} [1-9]',
        r'^gatehouse_decisions_total\{gatehouse_outcome="shadow",gatehouse_reason="public"\} [1-9]',
        r"^gatehouse_config_loaded_total\{\} [1-9]",
    ):
        assert any(re.search(want, line) for line in lines), (want, [x for x in lines if "gatehouse_" in x][:40])


def bucket(salt, key):
    d = hashlib.sha256(salt.encode() + b"\0" + key.encode()).digest()
    return int.from_bytes(d[:8], "big") % 10000


def test_percentage_buckets_are_sticky_per_subject_and_within_two_points_of_the_target_over_10000_subjects(keys):
    up = Upstream()
    cfg = plugin_config(keys, rollout={"salt": "wave-1", "classes": {"api": {"mode": "enforce", "percent": 25}}})
    e = Envoy(cfg, up.port, env=keys.env(), concurrency=1)
    try:
        subjects = [f"user-{i}" for i in range(10_000)]
        tokens = {s: keys.sign(dat_claims(sub=s), alg="HS256") for s in subjects}
        conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)

        def enforced(sub):
            conn.request("GET", "/api/v2/dags", headers={"host": "gatehouse.test",
                                                         "authorization": f"Bearer {tokens[sub]}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            rec = up.take()[-1]
            # The new path injects the verified identity; the legacy path gets the request as it came.
            return rec.header("x-gatehouse-subject") == sub

        first = {s: enforced(s) for s in subjects}
        share = 100 * sum(first.values()) / len(subjects)
        assert abs(share - 25) <= 2, share
        # Each subject's bucket is the documented SHA-256 bucket: an operator can predict who is in.
        assert all(first[s] == (bucket("wave-1", s) < 2500) for s in subjects)
        assert all(enforced(s) == first[s] for s in subjects[:500]), "buckets are sticky"
        conn.close()
    finally:
        e.stop()
        up.stop()


def test_the_canary_header_picks_the_path_only_with_the_secret(keys):
    up = Upstream()
    cfg = plugin_config(keys, rollout={"default": {"mode": "off"},
                                       "canary": {"header": "x-gatehouse-canary", "secret_env": "CANARY_SECRET"}})
    e = Envoy(cfg, up.port, env={**keys.env(), "CANARY_SECRET": CANARY})
    try:
        assert e.get("/api/v2/dags").status == 200, "off: the legacy path decides"
        r = e.get("/api/v2/dags", headers=[("x-gatehouse-canary", f"new:{CANARY}")])
        assert r.status == 401, "the override sends this request down the new path"
        token = keys.sign(dat_claims())
        up.take()
        assert e.get("/api/v2/dags", token=token, headers=[("x-gatehouse-canary", f"new:{CANARY}")]).status == 200
        assert up.take()[-1].header("x-gatehouse-canary") is None, "the override never reaches the upstream"
        assert e.get("/api/v2/dags", headers=[("x-gatehouse-canary", "new:guess")]).status == 200
        assert CANARY not in e.logs()
    finally:
        e.stop()
        up.stop()
