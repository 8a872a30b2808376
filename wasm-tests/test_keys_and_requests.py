"""Keys and requests the filter must not trust, through the real Envoy (each found by black-box probing):
JWKs whose `key_ops` forbid verifying, RSA keys with the ROCA fingerprint (inline and from a remote JWKS),
method-override headers, and percent-escapes that decode to invalid UTF-8."""
import math
import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import secrets as registry
from harness.envoy import Envoy, validate
from harness.faulty import FaultyServer
from harness.tokens import AUTH0_ISS, Keys, dat_claims, plugin_config
from harness.wait import wait_for

VIEWER = "ORGANIZATION_VIEWER"
SMALL_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101,
                103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167]


def probable_prime(n, rounds=24):
    if n < 2 or any(n % p == 0 for p in SMALL_PRIMES if p < n):
        return n in SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(random.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def roca_prime(bits, m):
    """A prime of the form the flawed Infineon library made: k·M + (65537^a mod M)."""
    # Above 2^(bits - 0.5), so that two such primes make a modulus of exactly 2·bits bits.
    low, high = math.isqrt(1 << (2 * bits - 1)) // m + 1, (1 << bits) // m - 1
    while True:
        p = random.randrange(low, high) * m + pow(65537, random.randrange(1, 1 << 16), m)
        if p.bit_length() == bits and (p - 1) % 65537 and probable_prime(p):
            return p


@pytest.fixture(scope="module")
def roca_key():
    """A real 2048-bit RSA key pair with the ROCA fingerprint (CVE-2017-15361)."""
    m = 1
    for p in SMALL_PRIMES:
        m *= p
    while True:
        p, q = roca_prime(1024, m), roca_prime(1024, m)
        if (p * q).bit_length() == 2048 and p != q:
            break
    e, n = 65537, p * q
    d = pow(e, -1, (p - 1) * (q - 1))
    key = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, n)).private_key()
    registry.register_private_key(key)
    return key


def auth0_token(keys, key, kid):
    now = int(time.time())
    return keys.sign({"iss": AUTH0_ISS, "aud": ["https://api.gatehouse.test"], "sub": "auth0|probe", "iat": now,
                      "exp": now + 300, "permissions": ["deployment.read"]}, "RS256", kid=kid, key=key)


def with_auth0_keys(keys, jwks):
    cfg = plugin_config(keys)
    cfg["issuers"][1]["jwks"] = {"keys": jwks}
    return cfg


def with_remote_auth0_keys(keys):
    cfg = plugin_config(keys)
    auth0 = cfg["issuers"][1]
    del auth0["jwks"]
    auth0["remote_jwks"] = {"cluster": "jwks", "authority": "tenant.auth0.test", "path": "/.well-known/jwks.json",
                            "timeout_ms": 1000, "refresh_seconds": 10, "retry_seconds": 1}
    return cfg


# --- keys -------------------------------------------------------------------------------------------------------


def test_a_pinned_jwk_whose_key_ops_exclude_verify_is_refused_at_load_with_its_path(keys):
    jwk = {**Keys.public_jwk(keys.auth0, "RS256", "auth0-1"), "key_ops": ["encrypt"]}
    code, out = validate(with_auth0_keys(keys, [jwk]), env=keys.env())
    assert code != 0
    assert "$.issuers[1].jwks.keys[0].key_ops" in out and "verify" in out, out[-3000:]
    # Control: the same key allowed to verify loads.
    jwk["key_ops"] = ["verify"]
    code, out = validate(with_auth0_keys(keys, [jwk]), env=keys.env())
    assert code == 0, out[-3000:]


def test_a_pinned_rsa_key_with_the_roca_fingerprint_is_refused_at_load_with_its_path(keys, roca_key):
    code, out = validate(with_auth0_keys(keys, [Keys.public_jwk(roca_key, "RS256", "roca-1")]), env=keys.env())
    assert code != 0
    assert "$.issuers[1].jwks.keys[0].n" in out and "ROCA" in out, out[-3000:]


def test_remote_keys_that_may_not_verify_or_carry_the_roca_fingerprint_verify_nothing(keys, upstream, roca_key):
    server = FaultyServer()
    server.set_json({"keys": [
        Keys.public_jwk(keys.auth0, "RS256", "auth0-1"),
        {**Keys.public_jwk(keys.other, "RS256", "encrypt-only"), "key_ops": ["encrypt"]},
        Keys.public_jwk(roca_key, "RS256", "roca-1"),
    ]})
    envoy = Envoy(with_remote_auth0_keys(keys), upstream.port, env=keys.env(), clusters={"jwks": server.port})
    try:
        good = auth0_token(keys, keys.auth0, "auth0-1")
        assert wait_for(lambda: envoy.get("/api/v2/dags", good).status == 200), "control: the usable key verifies"
        upstream.take()
        for key, kid in [(keys.other, "encrypt-only"), (roca_key, "roca-1")]:
            r = envoy.get("/api/v2/dags", auth0_token(keys, key, kid))
            assert r.status == 401, (kid, r.status, r.body)
        assert upstream.take() == []
    finally:
        envoy.stop()
        server.stop()


# --- method-override headers ------------------------------------------------------------------------------------

OVERRIDES = ["x-http-method-override", "x-method-override", "x-http-method"]


@pytest.mark.parametrize("header", OVERRIDES)
def test_method_override_headers_never_reach_the_upstream_by_default(envoy, upstream, keys, header):
    viewer = keys.sign(dat_claims(role=VIEWER), "ES256")
    upstream.take()
    for path, token in [("/api/v2/version", None), ("/api/v2/dags", viewer)]:
        r = envoy.get(path, token, headers={header: "DELETE", header.replace("-", "_"): "DELETE"})
        assert r.status == 200, (path, r.body)
        (seen,) = upstream.take()
        assert seen.header(header) is None and seen.header(header.replace("-", "_")) is None, seen.headers


@pytest.fixture(scope="module")
def judging(keys, upstream):
    cfg = plugin_config(keys)
    cfg["method_override_headers"] = "judge"
    e = Envoy(cfg, upstream.port, env=keys.env())
    yield e
    e.stop()


def test_in_judge_mode_an_override_counts_only_from_post_to_a_method_of_the_same_route(judging, upstream, keys):
    viewer = keys.sign(dat_claims(role=VIEWER), "ES256")
    operator = keys.sign(dat_claims(role="WORKSPACE_OPERATOR", scope="workspace"), "ES256")
    runs = "/api/v2/dags/etl/dagRuns"
    upstream.take()
    # `dag-runs-write` takes POST, PATCH and DELETE: the same rule whichever method the upstream runs.
    r = judging.request("POST", runs, {"authorization": f"Bearer {viewer}", "x-http-method-override": "DELETE"})
    assert r.status == 403, r.body
    r = judging.request("POST", runs, {"authorization": f"Bearer {operator}", "x-method-override": "DELETE"})
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("x-method-override") == "DELETE", "judged by it, the header goes on"
    # GET reaches another route (`api`): an override that would change the rule is refused.
    r = judging.request("GET", runs, {"authorization": f"Bearer {viewer}", "x-http-method-override": "POST"})
    assert r.status == 400 and upstream.take() == []
    r = judging.request("DELETE", "/api/v2/version", {"x-http-method-override": "GET"})
    assert r.status == 400 and upstream.take() == [], "a public GET route never covers a DELETE"


@pytest.mark.parametrize("headers", [
    {"x-http-method-override": "POST", "x-method-override": "GET"},
    {"x-http-method-override": "get"},
    {"x-http-method-override": "GET, POST"},
    {"x-http-method": ""},
])
def test_in_judge_mode_overrides_that_disagree_or_name_no_method_get_400(judging, upstream, keys, headers):
    viewer = keys.sign(dat_claims(role=VIEWER), "ES256")
    upstream.take()
    r = judging.get("/api/v2/dags", viewer, headers=headers)
    assert r.status == 400, r.body
    assert upstream.take() == []


# --- invalid UTF-8 escapes --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_prefix(keys, upstream):
    cfg = plugin_config(keys)
    cfg["routes"].insert(0, {"name": "public", "class": "public", "path": {"prefix": "/public"}, "require": "public"})
    e = Envoy(cfg, upstream.port, env=keys.env())
    yield e
    e.stop()


@pytest.mark.parametrize("path", [
    "/public/%c0%ae%c0%ae/admin/x",     # overlong `.`: `..` to a lenient decoder
    "/public/%c0%af/admin",             # overlong `/`
    "/public/%80x",                     # a lone continuation byte
    "/public/%e2%82",                   # a truncated sequence
    "/public/%ed%a0%80",                # a UTF-16 surrogate
])
def test_escapes_that_decode_to_invalid_utf8_get_400_and_never_reach_the_upstream(public_prefix, upstream, path):
    upstream.take()
    r = public_prefix.get(path)
    assert r.status == 400, (path, r.status, r.body)
    assert upstream.take() == []
    assert "reason=path_invalid_utf8" in public_prefix.logs()


def test_escapes_of_real_utf8_characters_still_pass(public_prefix, upstream):
    upstream.take()
    assert public_prefix.get("/public/caf%C3%A9").status == 200
    (seen,) = upstream.take()
    assert seen.path == "/public/caf%C3%A9"
