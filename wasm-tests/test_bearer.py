"""Bearer and Direct Access Tokens verified inside a real Envoy: what the client gets, what the upstream sees."""
import time

import pytest

from harness.tokens import (ASYMMETRIC, AUDIENCE, AUTH0_ISS, DEPLOYMENT, HMAC, ORG, PLATFORM_ISS, WORKSPACE, b64,
                            dat_claims)

IDENTITY = ["x-gatehouse-subject", "x-gatehouse-issuer", "x-gatehouse-scope", "x-gatehouse-role",
            "x-gatehouse-permissions", "x-gatehouse-token-id"]


def assert_reached_nothing(upstream):
    got = upstream.take()
    assert got == [], f"upstream received {[r.path for r in got]}"


def assert_still_serving(envoy, upstream):
    r = envoy.get("/api/v2/monitor/health")
    assert r.status == 200
    assert [x.path for x in upstream.take()] == ["/api/v2/monitor/health"]


@pytest.mark.parametrize("alg", ASYMMETRIC + HMAC)
def test_a_token_of_every_algorithm_reaches_the_upstream_with_identity_and_without_credentials(envoy, upstream, keys, alg):
    claims = dat_claims()
    r = envoy.get("/api/v2/dags", keys.sign(claims, alg))
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.path == "/api/v2/dags"
    assert seen.header("authorization") is None
    assert seen.header("x-gatehouse-subject") == claims["sub"]
    assert seen.header("x-gatehouse-issuer") == "platform"
    assert seen.header("x-gatehouse-scope") == f"deployment:{DEPLOYMENT}"
    assert seen.header("x-gatehouse-role") == "DEPLOYMENT_ADMIN"
    assert seen.header("x-gatehouse-permissions") == "deployment.admin,deployment.operate,deployment.read"
    assert seen.header("x-gatehouse-token-id") == claims["jti"]


def test_client_supplied_identity_headers_in_any_spelling_never_reach_the_upstream(envoy, upstream, keys):
    forged = [("X-Gatehouse-Subject", "root"), ("x_gatehouse_subject", "root"), ("X_GATEHOUSE_ROLE", "ADMIN"),
              ("x-gatehouse_subject", "root"), ("x_gatehouse-token_id", "forged"),
              ("x-gatehouse-permissions", "deployment.admin"), ("x-gatehouse-scope", "organization:evil")]
    r = envoy.get("/api/v2/dags", keys.sign(dat_claims(role="ORGANIZATION_VIEWER"), "ES256"), headers=forged)
    assert r.status == 200
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-subject") == "dat-deployment-organization_viewer"
    assert seen.header("x-gatehouse-role") == "ORGANIZATION_VIEWER"
    assert seen.header("x-gatehouse-permissions") == "deployment.read"
    assert not {"x_gatehouse_subject", "x_gatehouse_role", "x-gatehouse_subject", "x_gatehouse-token_id"} & seen.names()
    # Public routes too: identity headers are Gatehouse's alone.
    r = envoy.get("/api/v2/version", headers=forged)
    assert r.status == 200
    (seen,) = upstream.take()
    assert not (set(IDENTITY) | {"x_gatehouse_subject", "x_gatehouse_role"}) & seen.names()


@pytest.mark.parametrize("scope", ["organization", "workspace", "deployment"])
def test_direct_access_tokens_of_each_scope_for_this_dataplane_pass(envoy, upstream, keys, scope):
    r = envoy.get("/api/v2/dags", keys.sign(dat_claims(scope=scope, role="ORGANIZATION_VIEWER"), "EdDSA"))
    assert r.status == 200
    (seen,) = upstream.take()
    want = {"organization": ORG, "workspace": WORKSPACE, "deployment": DEPLOYMENT}[scope]
    assert seen.header("x-gatehouse-scope") == f"{scope}:{want}"


@pytest.mark.parametrize("scope,override", [
    ("deployment", {"deployment": "dep-other"}),
    ("workspace", {"workspace": "ws-other"}),
    ("organization", {"org": "org-other"}),
    ("deployment", {"org": "org-other"}),
])
def test_direct_access_tokens_for_another_dataplane_get_403_and_reach_nothing(envoy, upstream, keys, scope, override):
    r = envoy.get("/api/v2/dags", keys.sign(dat_claims(scope=scope, **override), "RS256"))
    assert r.status == 403
    assert r.json() == {"error": "forbidden"}
    assert_reached_nothing(upstream)
    assert_still_serving(envoy, upstream)


def test_roles_decide_which_routes_a_token_may_use(envoy, upstream, keys):
    operator = keys.sign(dat_claims(scope="workspace", role="WORKSPACE_OPERATOR"), "ES384")
    assert envoy.request("POST", "/api/v2/dags/etl/dagRuns", {"authorization": f"Bearer {operator}"}, b"{}").status == 200
    r = envoy.get("/api/v2/config", operator)
    assert r.status == 403
    assert r.header("www-authenticate") == 'Bearer realm="airflow", error="insufficient_scope"'
    viewer = keys.sign(dat_claims(role="ORGANIZATION_VIEWER"), "ES384")
    assert envoy.request("POST", "/api/v2/dags/etl/dagRuns", {"authorization": f"Bearer {viewer}"}, b"{}").status == 403
    admin = keys.sign(dat_claims(role="DEPLOYMENT_ADMIN"), "ES384")
    assert envoy.get("/api/v2/config", admin).status == 200
    assert [r.path for r in upstream.take()] == ["/api/v2/dags/etl/dagRuns", "/api/v2/config"]


def test_auth0_access_tokens_use_their_permissions_claim(envoy, upstream, keys):
    now = int(time.time())
    claims = {"iss": AUTH0_ISS, "aud": ["https://api.gatehouse.test"], "sub": "auth0|alice", "iat": now,
              "exp": now + 300, "permissions": ["deployment.read"]}
    token = keys.sign(claims, "RS256", kid="auth0-1", key=keys.auth0)
    r = envoy.get("/api/v2/dags", token)
    assert r.status == 200
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-subject") == "auth0|alice"
    assert seen.header("x-gatehouse-issuer") == "auth0"
    assert envoy.get("/api/v2/config", token).status == 403


def invalid_tokens(keys):
    now = int(time.time())
    payload = keys.sign(dat_claims(), "HS256").split(".")[1]
    yield "expired", keys.sign(dat_claims(ttl=-3600), "ES256")
    yield "not yet valid", keys.sign(dat_claims(nbf=now + 3600), "ES256")
    yield "wrong audience", keys.sign(dat_claims(aud="someone-else"), "ES256")
    yield "unknown issuer", keys.sign(dat_claims(iss=PLATFORM_ISS.rstrip("/")), "ES256")
    yield "unknown kid", keys.sign(dat_claims(), "ES256", kid="k-unknown")
    yield "untrusted key", keys.sign(dat_claims(), "RS256", key=keys.other)
    none = b64(b'{"alg":"none","typ":"JWT"}')
    yield "alg none", f"{none}.{payload}."
    yield "alg none with a signature", f"{none}.{payload}.c2lnbmF0dXJl"
    yield "exp as string", keys.sign(dat_claims(exp="never"), "HS512")
    yield "revoked jti", keys.sign(dat_claims(jti="revoked-jti-1"), "HS512")
    yield "revoked subject", keys.sign(dat_claims(sub="dat-fired-user", iat=now - 3600), "HS512")
    yield "tampered", keys.sign(dat_claims(), "EdDSA")[:-4] + "AAAA"
    yield "garbage", "not.a.token"
    yield "oversized", keys.sign(dat_claims(pad="x" * 10000), "HS256")
    yield "missing scope", keys.sign({k: v for k, v in dat_claims().items() if k != "scope_type"}, "HS256")


def test_every_invalid_token_gets_401_invalid_token_reaches_nothing_and_the_next_request_works(envoy, upstream, keys):
    for name, token in invalid_tokens(keys):
        r = envoy.get("/api/v2/dags", token)
        assert r.status == 401, name
        assert r.header("www-authenticate") == 'Bearer realm="airflow", error="invalid_token"', name
        assert r.json() == {"error": "unauthorized"}, name
        assert_reached_nothing(upstream)
        assert_still_serving(envoy, upstream)


def test_a_request_without_credentials_gets_a_challenge_without_error_code(envoy, upstream):
    r = envoy.get("/api/v2/dags")
    assert r.status == 401
    assert r.header("www-authenticate") == 'Bearer realm="airflow"'
    assert_reached_nothing(upstream)
    r = envoy.get("/api/v2/dags", headers={"authorization": "Basic YWRtaW46YWRtaW4="})
    assert r.status == 401
    assert_reached_nothing(upstream)


def test_decisions_are_counted_in_envoy_stats(envoy, keys):
    envoy.get("/api/v2/dags")
    envoy.get("/api/v2/dags", keys.sign(dat_claims(), "HS256"))
    stats = envoy.admin("/stats?filter=wasmcustom")
    assert "wasmcustom.gatehouse.decisions_total.deny.missing_credential:" in stats
    assert "wasmcustom.gatehouse.decisions_total.allow.verified:" in stats
    prom = envoy.admin("/stats/prometheus")
    assert "gatehouse" in prom


def test_no_token_or_secret_ever_appears_in_the_envoy_log(envoy, keys):
    tokens = [t for _, t in invalid_tokens(keys)] + [keys.sign(dat_claims(), a) for a in ASYMMETRIC + HMAC]
    for t in tokens:
        envoy.get("/api/v2/dags", t)
    logs = envoy.logs()
    assert "deny status=401" in logs, "the deny log line is there"
    for t in tokens:
        for part in t.split("."):
            if len(part) > 16:
                assert part not in logs
    for secret in keys.hmac.values():
        assert secret not in logs


def test_two_authorization_headers_are_refused_whichever_comes_first(envoy, upstream, keys):
    # Envoy hands the filter a repeated header's values joined, so a second credential is seen and, like
    # any credential that does not verify, refuses the request.
    good = keys.sign(dat_claims(), "ES256")
    for pair in ([good, "forged"], ["forged", good], [good, good]):
        r = envoy.get("/api/v2/dags", headers=[("authorization", f"Bearer {t}") for t in pair])
        assert r.status == 401
        assert upstream.take() == []


def test_a_comma_joined_pair_of_tokens_is_refused(envoy, upstream, keys):
    good = keys.sign(dat_claims(), "ES256")
    assert envoy.get("/api/v2/dags", headers={"authorization": f"Bearer {good}, Bearer {good}"}).status == 401
    assert upstream.take() == []
