"""What reaches the upstream and the filters after Gatehouse, through the real Envoy: claims mapped to headers
(nested, names with dots, arrays with a separator, numbers and booleans), the verified payload header, the
credential kept on request, and claims published as filter state that Envoy's own RBAC filter placed after
Gatehouse decides on and an access log line prints."""
import base64
import json
import os
import time

import pytest

from harness.envoy import Envoy
from harness.tokens import AUTH0_ISS, dat_claims, plugin_config

VIEWER = "ORGANIZATION_VIEWER"

FORWARD = [
    {"claim": "email", "header": "x-user-email"},
    {"claim": "org.name", "header": "x-org-name"},
    {"claim_path": ["https://gatehouse.test/groups"], "header": "x-groups", "separator": ";"},
    {"claim": "level", "header": "x-level"},
    {"claim": "verified", "header": "x-verified"},
    {"claim": "tier", "header": "x-tier", "filter_state": "tier"},
]


def auth0_token(keys, **claims):
    now = int(time.time())
    body = {"iss": AUTH0_ISS, "aud": ["https://api.gatehouse.test"], "sub": "auth0|carol", "iat": now,
            "exp": now + 300, "permissions": ["deployment.read"], **claims}
    return keys.sign(body, "RS256", kid="auth0-1", key=keys.auth0)


def claims_config(keys, forward=False):
    cfg = plugin_config(keys)
    auth0 = cfg["issuers"][1]
    auth0["forward_claims"] = FORWARD
    auth0["forward_payload_header"] = "x-jwt-payload"
    auth0["forward"] = forward
    cfg["identity_filter_state"] = True
    return cfg


@pytest.fixture(scope="module")
def claims_envoy(keys, upstream):
    e = Envoy(claims_config(keys), upstream.port, env=keys.env())
    yield e
    e.stop()


def test_claims_reach_the_upstream_as_headers_rendered_plainly(claims_envoy, upstream, keys):
    token = auth0_token(keys, email="carol@example.com", org={"name": "Acme Data"},
                        **{"https://gatehouse.test/groups": ["data-eng", "on-call"]}, level=3, verified=True,
                        tier="gold")
    r = claims_envoy.get("/api/v2/dags", token)
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("x-user-email") == "carol@example.com"
    assert seen.header("x-org-name") == "Acme Data"
    assert seen.header("x-groups") == "data-eng;on-call"
    assert seen.header("x-level") == "3" and seen.header("x-verified") == "true"
    assert seen.header("authorization") is None, "without forward the credential stays with us"
    payload = seen.header("x-jwt-payload")
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["email"] == "carol@example.com"
    assert payload == token.split(".")[1], "the payload exactly as signed"


def test_claim_headers_cannot_be_forged_by_clients(claims_envoy, upstream, keys):
    forged = {"x-user-email": "admin@example.com", "x-jwt-payload": "e30", "x-tier": "platinum"}
    r = claims_envoy.get("/api/v2/dags", auth0_token(keys), headers=forged)
    assert r.status == 200
    (seen,) = upstream.take()
    assert seen.header("x-user-email") is None and seen.header("x-tier") is None, "the token has no such claims"
    assert seen.header("x-jwt-payload") not in (None, forged["x-jwt-payload"]), "ours replaces the client's"
    r = claims_envoy.get("/api/v2/version", headers=forged)
    (seen,) = upstream.take()
    assert all(seen.header(n) is None for n in forged), "public routes strip them too"


@pytest.mark.parametrize("claims", [
    {"email": "carol@example.com\r\nx-admin: yes"},
    {"https://gatehouse.test/groups": ["a;b"]},
    {"https://gatehouse.test/groups": [{"nested": 1}]},
])
def test_a_claim_value_that_would_smuggle_header_content_makes_the_token_invalid(claims_envoy, upstream, keys, claims):
    r = claims_envoy.get("/api/v2/dags", auth0_token(keys, **claims))
    assert r.status == 401, r.body
    assert upstream.take() == []


def test_with_forward_the_credential_reaches_the_upstream(keys, upstream):
    e = Envoy(claims_config(keys, forward=True), upstream.port, env=keys.env())
    try:
        token = auth0_token(keys)
        assert e.get("/api/v2/dags", token).status == 200
        (seen,) = upstream.take()
        assert seen.header("authorization") == f"Bearer {token}"
        # A Direct Access Token's issuer does not forward: its credential is still removed.
        assert e.get("/api/v2/dags", keys.sign(dat_claims(role=VIEWER), "ES256")).status == 200
        (seen,) = upstream.take()
        assert seen.header("authorization") is None
    finally:
        e.stop()


RBAC_DENY_UNLESS_GOLD = {
    "name": "envoy.filters.http.rbac",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "ALLOW", "policies": {
            "gold-tier": {"permissions": [{"url_path": {"path": {"prefix": "/api/"}}}],
                          "principals": [{"filter_state": {"key": "wasm.gatehouse.claim.tier",
                                                           "string_match": {"exact": "gold"}}}]},
            "public": {"permissions": [{"not_rule": {"url_path": {"path": {"prefix": "/api/"}}}}],
                       "principals": [{"any": True}]},
        }},
    },
}


def access_log(path):
    return {"access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": path,
        "log_format": {"text_format_source": {"inline_string":
            "rbac-test subject=%FILTER_STATE(wasm.gatehouse.subject:PLAIN)% "
            "tier=%FILTER_STATE(wasm.gatehouse.claim.tier:PLAIN)% status=%RESPONSE_CODE%\n"}},
    }}]}


def test_envoys_rbac_filter_after_gatehouse_decides_on_a_published_claim_and_the_access_log_prints_it(keys, upstream,
                                                                                                       tmp_path):
    log = str(tmp_path / "access.log")
    e = Envoy(claims_config(keys), upstream.port, env=keys.env(), filters_after=[RBAC_DENY_UNLESS_GOLD],
              hcm_extra=access_log(log))
    try:
        assert e.get("/api/v2/dags", auth0_token(keys, tier="gold")).status == 200
        (seen,) = upstream.take()
        assert seen.header("x-tier") == "gold"
        r = e.get("/api/v2/dags", auth0_token(keys, tier="silver"))
        assert r.status == 403 and b"RBAC" in r.body, (r.status, r.body)
        assert upstream.take() == [], "Envoy's RBAC stopped it after Gatehouse let it through"
        r = e.get("/api/v2/dags", auth0_token(keys))
        assert r.status == 403, "no claim, no filter state: RBAC's ALLOW policy does not match"
        assert upstream.take() == []
        deadline = time.time() + 10
        lines = []
        while time.time() < deadline:
            lines = open(log).read().splitlines() if os.path.exists(log) else []
            if len(lines) >= 3:
                break
            time.sleep(0.2)
        assert "rbac-test subject=auth0|carol tier=gold status=200" in lines, lines
        assert "rbac-test subject=auth0|carol tier=silver status=403" in lines, lines
    finally:
        e.stop()
