"""What a route can require, through the real Envoy: its own issuers and audiences, optional authentication
with jwt_authn's semantics (`allow_missing`, `allow_missing_or_failed`), passing unauthenticated while keys are
stale (`on_unavailable`), and a maximum token lifetime per issuer."""
import time

import pytest

from harness.envoy import Envoy, validate
from harness.faulty import FaultyServer
from harness.tokens import AUTH0_ISS, Keys, dat_claims, plugin_config
from harness.wait import wait_for

VIEWER = "ORGANIZATION_VIEWER"
MARK = "x-gatehouse-unauthenticated"


def auth0_token(keys, aud="https://api.gatehouse.test", ttl=300):
    now = int(time.time())
    return keys.sign({"iss": AUTH0_ISS, "aud": [aud], "sub": "auth0|route", "iat": now, "exp": now + ttl,
                      "permissions": ["deployment.read"]}, "RS256", kid="auth0-1", key=keys.auth0)


def routes_config(keys):
    cfg = plugin_config(keys)
    cfg["issuers"][1]["audiences"] = ["https://api.gatehouse.test", "https://reports.gatehouse.test"]
    cfg["issuers"][0]["max_lifetime_seconds"] = 3600
    cfg["routes"][:0] = [
        {"name": "partner", "class": "api", "path": {"prefix": "/partner"}, "require": "bearer",
         "issuers": ["auth0"]},
        {"name": "reports", "class": "api", "path": {"prefix": "/reports"}, "require": "bearer",
         "audiences": ["https://reports.gatehouse.test"]},
        {"name": "maybe", "class": "api", "path": {"prefix": "/maybe"}, "require": "bearer",
         "allow_missing": True},
        {"name": "lenient", "class": "api", "path": {"prefix": "/lenient"}, "require": "bearer",
         "allow_missing_or_failed": True},
    ]
    return cfg


@pytest.fixture(scope="module")
def routed(keys, upstream):
    e = Envoy(routes_config(keys), upstream.port, env=keys.env())
    yield e
    e.stop()


def test_a_route_that_names_its_issuers_lets_only_their_tokens_reach_the_upstream(routed, upstream, keys):
    r = routed.get("/partner/orders", auth0_token(keys))
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-issuer") == "auth0"
    platform = keys.sign(dat_claims(role=VIEWER), "ES256")
    r = routed.get("/partner/orders", platform)
    assert r.status == 401 and "invalid_token" in r.header("www-authenticate"), (r.status, r.headers)
    assert upstream.take() == []
    assert "reason=issuer_not_allowed route=partner" in routed.logs()
    assert routed.get("/api/v2/dags", platform).status == 200, "control: other routes take every issuer"


def test_a_route_that_names_audiences_refuses_a_token_for_another_audience_of_the_same_issuer(routed, upstream, keys):
    assert routed.get("/reports/q3", auth0_token(keys, aud="https://reports.gatehouse.test")).status == 200
    upstream.take()
    r = routed.get("/reports/q3", auth0_token(keys))
    assert r.status == 401, r.body
    assert upstream.take() == []
    assert routed.get("/api/v2/dags", auth0_token(keys)).status == 200, "control: the issuer's audience elsewhere"


def test_allow_missing_passes_without_a_token_marked_unauthenticated_and_refuses_a_bad_one(routed, upstream, keys):
    r = routed.get("/maybe/feed", headers={MARK: "no", "x-gatehouse-subject": "forged"})
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header(MARK) == "missing_credential", "the client's copy is replaced"
    assert seen.header("x-gatehouse-subject") is None, "a forged identity never passes"
    expired = keys.sign(dat_claims(role=VIEWER, exp=int(time.time()) - 600), "ES256")
    assert routed.get("/maybe/feed", expired).status == 401
    assert upstream.take() == []
    assert routed.get("/maybe/feed", keys.sign(dat_claims(role=VIEWER), "ES256")).status == 200
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-subject") == f"dat-deployment-{VIEWER.lower()}"
    assert seen.header(MARK) is None
    assert "pass_unauthenticated reason=passed_missing cause=missing_credential route=maybe" in routed.logs()


def test_allow_missing_or_failed_passes_a_bad_token_without_it_or_its_identity(routed, upstream, keys):
    expired = keys.sign(dat_claims(role=VIEWER, exp=int(time.time()) - 600), "ES256")
    r = routed.get("/lenient/feed", expired)
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header(MARK) == "expired"
    assert seen.header("authorization") is None and seen.header("x-gatehouse-subject") is None
    assert routed.get("/lenient/feed", keys.sign(dat_claims(role=VIEWER), "ES256")).status == 200
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-subject") == f"dat-deployment-{VIEWER.lower()}"
    stats = routed.admin("/stats?filter=gatehouse.decisions_total")
    assert "decisions_total.allow.passed_failed: " in stats, stats


def test_a_token_living_longer_than_the_issuers_maximum_is_refused(routed, upstream, keys):
    # The year 2286: signed correctly, but valid for centuries.
    forever = keys.sign(dat_claims(role=VIEWER, exp=9_999_999_999), "ES256")
    r = routed.get("/api/v2/dags", forever)
    assert r.status == 401, r.body
    assert upstream.take() == []
    assert "reason=lifetime_too_long" in routed.logs()
    assert routed.get("/api/v2/dags", keys.sign(dat_claims(role=VIEWER, ttl=3600), "ES256")).status == 200


def test_on_unavailable_pass_unauthenticated_serves_a_status_page_while_keys_are_stale(keys, upstream):
    server = FaultyServer()
    server.mode = "500"
    cfg = plugin_config(keys)
    auth0 = cfg["issuers"][1]
    del auth0["jwks"]
    auth0["remote_jwks"] = {"cluster": "jwks", "authority": "tenant.auth0.test", "path": "/.well-known/jwks.json",
                            "timeout_ms": 500, "refresh_seconds": 10, "retry_seconds": 1}
    cfg["routes"].insert(0, {"name": "status", "class": "public", "path": {"prefix": "/status"},
                             "require": "bearer", "issuers": ["auth0"], "on_unavailable": "pass_unauthenticated"})
    e = Envoy(cfg, upstream.port, env=keys.env(), clusters={"jwks": server.port})
    try:
        token = auth0_token(keys)
        r = e.get("/status/summary", token)
        assert r.status == 200, r.body
        (seen,) = upstream.take()
        assert seen.header(MARK) == "keys_stale" and seen.header("x-gatehouse-subject") is None
        assert "pass_unauthenticated reason=passed_unavailable cause=keys_stale route=status" in e.logs()
        r = e.get("/api/v2/dags", token)
        assert r.status == 503 and upstream.take() == [], "every other route still fails closed"
        # Once the keys arrive, the same route authenticates again.
        server.mode = "ok"
        server.set_json({"keys": [Keys.public_jwk(keys.auth0, "RS256", "auth0-1")]})
        wait_for(lambda: e.get("/api/v2/dags", token).status == 200, timeout=15)
        upstream.take()
        assert e.get("/status/summary", token).status == 200
        (seen,) = upstream.take()
        assert seen.header("x-gatehouse-subject") == "auth0|route" and seen.header(MARK) is None
    finally:
        e.stop()
        server.stop()


@pytest.mark.parametrize("route, where, what", [
    ({"require": "bearer", "issuers": ["okta"]}, "$.routes[0].issuers[0]", "unknown issuer"),
    ({"require": "public", "allow_missing": True}, "$.routes[0].allow_missing", "public route"),
    ({"require": "bearer", "allow_missing": True, "permissions": ["deployment.read"]},
     "$.routes[0].allow_missing", "holds no permissions"),
    ({"require": "session", "audiences": ["x"]}, "$.routes[0].audiences", "bearer tokens"),
])
def test_bad_route_requirements_are_refused_at_load_with_their_paths(keys, route, where, what):
    cfg = plugin_config(keys)
    cfg["routes"].insert(0, {"name": "bad", "path": {"prefix": "/bad"}, **route})
    code, out = validate(cfg, env=keys.env())
    assert code != 0
    assert where in out and what in out, out[-3000:]


@pytest.fixture(scope="module")
def sourced(keys, upstream):
    cfg = plugin_config(keys)
    cfg["token_sources"] = [{"header": "authorization", "scheme": "Bearer"}, {"cookie": "gh_token"},
                            {"query": "access_token"}]
    e = Envoy(cfg, upstream.port, env=keys.env())
    yield e
    e.stop()


def test_a_token_in_a_configured_cookie_opens_the_route_and_the_cookie_stays_with_us(sourced, upstream, keys):
    token = keys.sign(dat_claims(role=VIEWER), "ES256")
    r = sourced.get("/api/v2/dags", headers={"cookie": f"theme=dark; gh_token={token}"})
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("cookie") == "theme=dark"
    assert seen.header("x-gatehouse-subject") == f"dat-deployment-{VIEWER.lower()}"
    r = sourced.get("/api/v2/monitor/health", headers={"cookie": f"gh_token={token}"})
    (seen,) = upstream.take()
    assert seen.header("cookie") is None, "public routes never pass the token cookie either"


def test_a_token_in_a_configured_query_parameter_opens_the_route_and_leaves_the_url(sourced, upstream, keys):
    token = keys.sign(dat_claims(role=VIEWER), "ES256")
    r = sourced.get(f"/api/v2/dags?limit=5&access_token={token}&order_by=dag_id")
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.path == "/api/v2/dags?limit=5&order_by=dag_id"
    expired = keys.sign(dat_claims(role=VIEWER, exp=int(time.time()) - 600), "ES256")
    r = sourced.get(f"/api/v2/dags?access_token={expired}", token)
    assert r.status == 401, "every credential present must verify, whichever its source"
    assert upstream.take() == []


@pytest.fixture(scope="module")
def combined(keys, upstream):
    cfg = plugin_config(keys)
    cfg["token_sources"] = [{"header": "authorization", "scheme": "Bearer"}, {"header": "x-user-token"}]
    cfg["issuers"][1]["audiences"] = ["https://api.gatehouse.test", "https://reports.gatehouse.test"]
    cfg["routes"][:0] = [
        {"name": "one-of-two", "class": "api", "path": {"prefix": "/either"}, "require": {"any_of": [
            {"bearer": {"issuers": ["auth0"], "audiences": ["https://reports.gatehouse.test"]}},
            {"bearer": {"issuers": ["platform"]}}]}},
        {"name": "both", "class": "api", "path": {"prefix": "/both"}, "require": {"all_of": [
            {"bearer": {"issuers": ["platform"]}}, {"bearer": {"issuers": ["auth0"]}}]}},
    ]
    e = Envoy(cfg, upstream.port, env=keys.env())
    yield e
    e.stop()


def test_any_of_lets_a_token_through_that_meets_one_of_its_requirements(combined, upstream, keys):
    assert combined.get("/either/x", keys.sign(dat_claims(role=VIEWER), "ES256")).status == 200
    assert combined.get("/either/x", auth0_token(keys, aud="https://reports.gatehouse.test")).status == 200
    upstream.take()
    assert combined.get("/either/x", auth0_token(keys)).status == 401, "auth0, but not for the reports audience"
    assert upstream.take() == []


def test_all_of_needs_both_tokens_and_neither_reaches_the_upstream(combined, upstream, keys):
    platform = keys.sign(dat_claims(role=VIEWER), "ES256")
    user = auth0_token(keys)
    r = combined.get("/both/x", platform, headers={"x-user-token": user})
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-issuer") == "platform"
    assert seen.header("authorization") is None and seen.header("x-user-token") is None
    assert combined.get("/both/x", platform).status == 401
    assert combined.get("/both/x", headers={"x-user-token": user}).status == 401
    assert upstream.take() == []
    assert "reason=requirement_unmet route=both" in combined.logs()
