"""Configuration pushed live into a running Envoy the way Istio pushes a WasmPlugin change: extension config
discovery (ECDS) from Envoy's filesystem config source. Pushes that add deployments take effect under steady
load without a failed request; a broken push is refused while the last good configuration keeps serving; the
config source going away or turning to garbage changes nothing for tokens and sessions already valid."""
import copy
import functools
import os
import re
import threading
import time

import pytest

from harness.cookies import b64, seal
from harness.envoy import Envoy, free_port
from harness.tokens import ORG, WORKSPACE, dat_claims, plugin_config
from harness.wait import wait_for as _wait_for

# Pushes take effect within milliseconds: poll faster, and longer, than the default.
wait_for = functools.partial(_wait_for, timeout=15, interval=0.05)

HOST = "cluster.gatehouse.test"
COOKIE_KEY = os.urandom(32)


def config(keys, n):
    """Deployments dep-1 … dep-n on one cluster host by path prefix, with browser sessions."""
    cfg = plugin_config(keys)
    del cfg["dataplane"]
    cfg["deployments"] = [{"deployment_id": f"dep-{i}", "organization_id": ORG, "workspace_id": WORKSPACE,
                           "hosts": [HOST], "path_prefix": f"/dep-{i}"} for i in range(1, n + 1)]
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": f"http://127.0.0.1/oauth2/callback",
        "provider": {
            "issuer": "http://127.0.0.1:1/", "client_id": "gatehouse", "client_secret_env": "CLIENT_SECRET",
            "authorization_endpoint": "http://127.0.0.1:1/auth",
            "token_endpoint": {"cluster": "idp", "authority": "127.0.0.1", "path": "/token", "timeout_ms": 1000},
            "jwks": {"keys": [keys.public_jwk(keys.auth0, "RS256", "idp")]},
            "roles_claim": "roles",
        },
    }
    cfg["upstream_token"] = {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"}, "roles": {"admin": "ADMIN"},
                             "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN"}}
    return cfg


@pytest.fixture(scope="module")
def live(keys, upstream):
    env = {**keys.env(), "COOKIE_KEYS": f"k1:{b64(COOKIE_KEY)}", "CLIENT_SECRET": "x", "AIRFLOW_SECRET": "a" * 64}
    e = Envoy(config(keys, 1), upstream.port, env=env, clusters={"idp": free_port()}, ecds=True)
    yield e
    e.stop()


def api(envoy, keys, deployment):
    token = keys.sign(dat_claims(scope="workspace"), "ES256")
    return envoy.request("GET", f"/{deployment}/api/v2/dags", headers=[("authorization", f"Bearer {token}")],
                         host=HOST)


def session_cookie():
    now = int(time.time())
    s = {"sub": "carol@example.test", "roles": ["admin"], "iat": now, "seen": now, "abs": now + 3600}
    name = "__Host-gatehouse-dep-1"
    return f"{name}={seal('k1', COOKIE_KEY, name, 'dep-1', s)}"


def browse(envoy):
    return envoy.request("GET", "/dep-1/ui/dags", headers={"cookie": session_cookie(), "accept": "application/json"},
                         host=HOST)


def stat(envoy, name):
    m = re.search(rf"^{re.escape(name)}: (\d+)$", envoy.admin("/stats?filter=" + name), re.M)
    return int(m.group(1)) if m else None


def test_twenty_pushes_adding_deployments_take_effect_under_load_without_a_failed_request(live, upstream, keys):
    token = keys.sign(dat_claims(scope="workspace"), "ES256")
    stop, failures, served = threading.Event(), [], [0]

    def load():
        while not stop.is_set():
            r = live.request("GET", "/dep-1/api/v2/dags", headers=[("authorization", f"Bearer {token}")], host=HOST)
            served[0] += 1
            if r.status != 200:
                failures.append(r.status)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for n in range(2, 22):
            assert api(live, keys, f"dep-{n}").status == 403, "not there before its push"
            live.push(config(keys, n))
            assert wait_for(lambda: api(live, keys, f"dep-{n}").status == 200), f"push {n} never took effect"
    finally:
        stop.set()
        for t in threads:
            t.join()
    upstream.take()
    assert failures == [], f"{len(failures)} of {served[0]} requests failed during the pushes: {failures[:10]}"
    assert served[0] > 100
    assert stat(live, "wasmcustom.gatehouse.config_generation") == 21
    assert browse(live).status == 200, "a session made before the pushes still opens"


def test_a_broken_push_is_refused_with_every_problem_and_the_last_good_configuration_keeps_serving(live, upstream,
                                                                                                   keys):
    good = config(keys, 21)
    digest = stat(live, "wasmcustom.gatehouse.config_digest")
    rejected = stat(live, "wasmcustom.gatehouse.config_rejected_total") or 0
    bad = copy.deepcopy(good)
    bad["deployments"].append({"deployment_id": "dep-new", "organization_id": ORG, "workspace_id": WORKSPACE,
                               "hosts": [HOST], "path_prefix": "/dep-new"})
    bad["routes"][0]["requires"] = "public"
    bad["deployments"][1]["path_prefix"] = "/dep-1/nested"
    live.push(bad)
    assert wait_for(lambda: (stat(live, "wasmcustom.gatehouse.config_rejected_total") or 0) > rejected)
    logs = live.logs()
    assert "config error: $.routes[0].requires: unknown field" in logs
    assert "config error: $.deployments[1].path_prefix: overlaps the path prefix of $.deployments[0]" in logs
    assert stat(live, "wasmcustom.gatehouse.config_digest") == digest, "the digest still names the good push"
    assert api(live, keys, "dep-new").status == 403, "nothing of the broken push is live"
    assert api(live, keys, "dep-21").status == 200
    assert browse(live).status == 200
    upstream.take()


def test_with_the_config_source_gone_or_garbage_tokens_and_sessions_already_valid_keep_working(live, upstream,
                                                                                               keys):
    os.remove(live.ecds_path)
    time.sleep(1)
    assert api(live, keys, "dep-3").status == 200
    assert browse(live).status == 200
    live.push(raw="{this is not a discovery response")
    time.sleep(1)
    for deployment in ["dep-1", "dep-10", "dep-21"]:
        assert api(live, keys, deployment).status == 200
    assert browse(live).status == 200
    assert api(live, keys, "dep-22").status == 403
    upstream.take()
    # A good push after the outage is taken again.
    live.push(config(keys, 22))
    assert wait_for(lambda: api(live, keys, "dep-22").status == 200)
    upstream.take()


def test_a_dataplane_of_ten_thousand_deployments_is_pushed_and_served(live, upstream, keys):
    big = config(keys, 10_000)
    live.push(big)
    assert wait_for(lambda: api(live, keys, "dep-10000").status == 200, timeout=60)
    assert api(live, keys, "dep-5000").status == 200
    assert api(live, keys, "dep-10001").status == 403
    assert browse(live).status == 200, "sessions of an earlier generation still open"
    upstream.take()
