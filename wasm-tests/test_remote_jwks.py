"""Remote JWKS through the real Envoy: fetched once per proxy, rotation picked up on an unknown kid, the last
good set kept through an endpoint outage, and a distinct 503 once keys are too old."""
import copy
import re
import time

import pytest

from harness import report
from harness.envoy import Envoy
from harness.faulty import FaultyServer
from harness.tokens import AUTH0_ISS, Keys, plugin_config
from harness.wait import wait_for


def auth0_token(keys, key, kid):
    now = int(time.time())
    return keys.sign({"iss": AUTH0_ISS, "aud": ["https://api.gatehouse.test"], "sub": "auth0|remote", "iat": now,
                      "exp": now + 300, "permissions": ["deployment.read"]}, "RS256", kid=kid, key=key)


def remote_cfg(keys, port_unused=None, **faults):
    cfg = plugin_config(keys)
    auth0 = cfg["issuers"][1]
    del auth0["jwks"]
    auth0["remote_jwks"] = {"cluster": "jwks", "authority": "tenant.auth0.test", "path": "/.well-known/jwks.json",
                            "timeout_ms": 1000, "refresh_seconds": 10, "retry_seconds": 1, "max_stale_seconds": 61,
                            "unknown_kid_refetch_seconds": 1}
    if faults:
        cfg["faults"] = {"allow": True, **faults}
    return cfg


def counter(envoy, name):
    m = re.search(rf"{re.escape(name)}: (\d+)", envoy.admin("/stats?filter=gatehouse"))
    return int(m.group(1)) if m else 0


@pytest.fixture
def jwks_server(keys):
    s = FaultyServer()
    s.set_json({"keys": [Keys.public_jwk(keys.auth0, "RS256", "auth0-1")]})
    yield s
    s.stop()


def test_keys_are_fetched_once_per_proxy_and_a_rotation_is_picked_up_on_the_first_unknown_kid(keys, upstream, jwks_server):
    envoy = Envoy(remote_cfg(keys), upstream.port, env=keys.env(), clusters={"jwks": jwks_server.port}, concurrency=2)
    try:
        token = auth0_token(keys, keys.auth0, "auth0-1")
        assert wait_for(lambda: envoy.get("/api/v2/dags", token).status == 200)
        time.sleep(2)
        assert jwks_server.hits == 1, f"three VMs, one fetch: got {jwks_server.hits}"
        # The provider rotates: a token under the new kid is refused once, which triggers a refetch.
        jwks_server.set_json({"keys": [Keys.public_jwk(keys.auth0, "RS256", "auth0-1"),
                                       Keys.public_jwk(keys.other, "RS256", "auth0-2")]})
        rotated = auth0_token(keys, keys.other, "auth0-2")
        assert envoy.get("/api/v2/dags", rotated).status == 401
        assert wait_for(lambda: envoy.get("/api/v2/dags", rotated).status == 200, timeout=6)
        # Refetches are rate-limited to one per unknown_kid_refetch_seconds, not one per request.
        assert 2 <= jwks_server.hits <= 4, jwks_server.hits
    finally:
        envoy.stop()


@pytest.mark.parametrize("mode", ["500", "garbage", "huge", "hang", "gone"])
def test_the_last_good_key_set_keeps_tokens_working_through_a_jwks_outage(keys, upstream, jwks_server, mode):
    envoy = Envoy(remote_cfg(keys), upstream.port, env=keys.env(), clusters={"jwks": jwks_server.port})
    try:
        token = auth0_token(keys, keys.auth0, "auth0-1")
        assert wait_for(lambda: envoy.get("/api/v2/dags", token).status == 200)
        if mode == "gone":
            jwks_server.stop()
        else:
            jwks_server.mode = mode
        # Ask for refetches (unknown kids) and let the refresh interval pass: every attempt fails.
        envoy.get("/api/v2/dags", auth0_token(keys, keys.other, "made-up"))
        served = failed = 0
        deadline = time.time() + 8
        while time.time() < deadline:
            r = envoy.get("/api/v2/dags", token)
            served += r.status == 200
            failed += r.status != 200
            if r.status != 200:
                print("status", r.status, r.body[:200])
        report.add(f"jwks endpoint {mode:<9}  bearer tokens served {served}, failed {failed}")
        assert failed == 0 and served > 100
        assert counter(envoy, "gatehouse.jwks_fetches_total.auth0.failed") >= 1, envoy.admin("/stats?filter=gatehouse") + envoy.logs()[-3000:]
    finally:
        envoy.stop()


def test_keys_older_than_max_stale_give_a_distinct_503_while_pinned_keys_keep_working(keys, upstream, jwks_server):
    from harness.tokens import dat_claims
    envoy = Envoy(remote_cfg(keys, keys_stale=True), upstream.port, env=keys.env(), clusters={"jwks": jwks_server.port})
    try:
        token = auth0_token(keys, keys.auth0, "auth0-1")
        time.sleep(1.5)
        r = envoy.get("/api/v2/dags", token)
        assert r.status == 503 and r.json() == {"error": "identity_unavailable"} and r.header("retry-after")
        assert envoy.get("/api/v2/dags", keys.sign(dat_claims(), "ES256")).status == 200
    finally:
        envoy.stop()


def test_the_jwks_path_can_come_from_oidc_discovery_whose_issuer_must_match(keys, upstream):
    import json
    server = FaultyServer()
    jwks = json.dumps({"keys": [Keys.public_jwk(keys.auth0, "RS256", "auth0-1")]}).encode()
    server.routes = {
        "/.well-known/openid-configuration": json.dumps({"issuer": AUTH0_ISS, "jwks_uri": "https://tenant.auth0.test/keys/v2.json"}).encode(),
        "/keys/v2.json": jwks,
    }
    cfg = remote_cfg(keys)
    remote = cfg["issuers"][1]["remote_jwks"]
    del remote["path"]
    remote["discovery_path"] = "/.well-known/openid-configuration"
    envoy = Envoy(cfg, upstream.port, env=keys.env(), clusters={"jwks": server.port})
    try:
        token = auth0_token(keys, keys.auth0, "auth0-1")
        assert wait_for(lambda: envoy.get("/api/v2/dags", token).status == 200)
    finally:
        envoy.stop()
    # A discovery document for another issuer is not trusted: no keys, so 503.
    server.routes["/.well-known/openid-configuration"] = json.dumps({"issuer": "https://evil.test/", "jwks_uri": "https://evil.test/keys/v2.json"}).encode()
    envoy = Envoy(cfg, upstream.port, env=keys.env(), clusters={"jwks": server.port})
    try:
        time.sleep(2.5)
        assert envoy.get("/api/v2/dags", auth0_token(keys, keys.auth0, "auth0-1")).status == 503
        assert counter(envoy, "gatehouse.jwks_fetches_total.auth0.failed") >= 1
    finally:
        envoy.stop()
        server.stop()
