"""A browser session's claims and revocation through the real Envoy, with cookies sealed by an independent
implementation of the format: the ID token's email, name and groups under configured headers, and sessions
ended by the provider's `sid` or a subject's cut-off, revoked by a configuration pushed live (ECDS) while the
provider is unreachable."""
import copy
import os
import secrets
import time
import urllib.parse

import pytest

from harness.cookies import b64, seal
from harness.envoy import Envoy, buffered_path, free_port
from harness.tokens import DEPLOYMENT, plugin_config
from harness.wait import wait_for

KEY = os.urandom(32)
NAME = "__Host-gatehouse"


def lifecycle_config(keys):
    cfg = plugin_config(keys)
    cfg["routes"] = [{"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"}]
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": "http://127.0.0.1/oauth2/callback",
        "claim_headers": {"email": "x-user-email", "name": "x-user-name", "groups": "x-user-groups"},
        "backchannel_logout_path": "/oauth2/backchannel-logout",
        "provider": {
            "issuer": "http://127.0.0.1:1/", "client_id": "gatehouse", "client_secret_env": "CLIENT_SECRET",
            "authorization_endpoint": "http://127.0.0.1:1/auth",
            "token_endpoint": {"cluster": "idp", "authority": "127.0.0.1", "path": "/token", "timeout_ms": 1000},
            "jwks": {"keys": [keys.public_jwk(keys.auth0, "RS256", "idp")]},
            "roles_claim": "roles",
        },
    }
    cfg["upstream_token"] = {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"},
                             "roles": {"admin": "ADMIN", "viewer": "VIEWER"}}
    return cfg


@pytest.fixture(scope="module")
def lifecycle(keys, upstream):
    env = {**keys.env(), "COOKIE_KEYS": f"k:{b64(KEY)}", "CLIENT_SECRET": "x", "AIRFLOW_SECRET": "s" * 64}
    e = Envoy(lifecycle_config(keys), upstream.port, env=env, clusters={"idp": free_port()})
    yield e
    e.stop()


def cookie(sub="dana@example.test", sid="sid-dana", age=0, **extra):
    now = int(time.time())
    s = {"sub": sub, "sid": sid, "roles": ["admin", "data-eng"], "iat": now - age, "seen": now - age,
         "abs": now - age + 3600, "email": "dana@example.test", "name": "Dana", **extra}
    return f"{NAME}={seal('k', KEY, NAME, DEPLOYMENT, s)}"


def get(envoy, c, extra=None):
    return envoy.request("GET", "/ui/dags", {"cookie": c, "accept": "application/json", **(extra or {})})


def test_the_sessions_email_name_and_groups_reach_the_upstream_and_cannot_be_forged(lifecycle, upstream):
    r = get(lifecycle, cookie(), {"x-user-email": "root@example.test", "x-user-groups": "admins"})
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("x-user-email") == "dana@example.test"
    assert seen.header("x-user-name") == "Dana"
    assert seen.header("x-user-groups") == "admin,data-eng"
    r = lifecycle.request("GET", "/ui/dags", {"accept": "application/json", "x-user-email": "root@example.test"})
    assert r.status == 401 and upstream.take() == []


def test_a_pushed_revocation_ends_sessions_by_sid_and_by_subject_while_the_provider_is_down(lifecycle, upstream, keys):
    dana, erin, frank = cookie(), cookie(sub="erin@example.test", sid="sid-erin"), cookie(sub="frank@example.test",
                                                                                           sid="sid-frank", age=60)
    for c in (dana, erin, frank):
        assert get(lifecycle, c).status == 200, "control: every session works before the push"
    upstream.take()
    cfg = copy.deepcopy(lifecycle_config(keys))
    cfg["session"]["revoked_session_ids"] = ["sid-dana"]
    cfg["session"]["subject_not_before"] = {"frank@example.test": int(time.time()) - 10}
    lifecycle.push(cfg)
    assert wait_for(lambda: get(lifecycle, dana).status == 401, timeout=15), "dana's sid is revoked"
    assert get(lifecycle, frank).status == 401, "frank signed in before his cut-off"
    assert get(lifecycle, erin).status == 200, "erin is untouched"
    assert "reason=session_revoked" in lifecycle.logs()
    later_frank = cookie(sub="frank@example.test", sid="sid-frank-2")
    assert get(lifecycle, later_frank).status == 200, "a sign-in after the cut-off works"


LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(keys, **over):
    now = int(time.time())
    claims = {"iss": "http://127.0.0.1:1/", "aud": "gatehouse", "sub": "gina@example.test", "iat": now,
              "exp": now + 120, "jti": secrets.token_hex(8), "sid": "sid-gina", "events": {LOGOUT_EVENT: {}}}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return keys.sign(claims, "RS256", kid="idp", key=keys.auth0, headers={"typ": "logout+jwt"})


def post_logout(envoy, token, host="gatehouse.test"):
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    return envoy.request("POST", "/oauth2/backchannel-logout",
                         {"content-type": "application/x-www-form-urlencoded"}, body=body, host=host)


def test_a_back_channel_logout_posted_through_envoy_ends_the_session_with_that_sid(keys, upstream):
    env = {**keys.env(), "COOKIE_KEYS": f"k:{b64(KEY)}", "CLIENT_SECRET": "x", "AIRFLOW_SECRET": "s" * 64}
    # Envoy's buffer filter after Gatehouse on the logout path: the upstream never sees the POST.
    after, routes = buffered_path("/oauth2/backchannel-logout")
    e = Envoy(lifecycle_config(keys), upstream.port, env=env, clusters={"idp": free_port()}, concurrency=2,
              filters_after=after, hcm_extra=routes)
    try:
        gina, other = cookie(sub="gina@example.test", sid="sid-gina"), cookie(sub="gina@example.test", sid="sid-2")
        assert get(e, gina).status == 200 and get(e, other).status == 200
        upstream.take()
        assert e.request("POST", "/ui/upload", {"cookie": gina, "accept": "application/json"},
                         body=b"x" * 40000).status == 200, "control: other routes stream bodies unbuffered"
        upstream.take()
        token = logout_token(keys)
        r = post_logout(e, token)
        assert r.status == 200, r.body
        assert r.header("cache-control") == "no-store"
        assert upstream.take() == [], "the logout is ours, never the upstream's"
        # Every worker's VM sees it (two workers here): several requests, all refused.
        for _ in range(6):
            assert get(e, gina).status == 401
        assert get(e, other).status == 200, "the same person's other provider session stays"
        assert post_logout(e, token).status == 400, "a logout token is accepted once"
        assert "reason=logout_replayed" in e.logs()
    finally:
        e.stop()


@pytest.mark.parametrize("over, code", [
    ({"nonce": "n"}, "logout_nonce"),
    ({"events": {"something-else": {}}}, "logout_no_event"),
    ({"aud": "another-client"}, "aud_mismatch"),
    ({"iss": "https://evil.example/"}, "unknown_issuer"),
])
def test_a_logout_token_that_is_not_one_gets_400_and_ends_nothing(lifecycle, upstream, keys, over, code):
    c = cookie(sub="hal@example.test", sid="sid-hal")
    r = post_logout(lifecycle, logout_token(keys, sub="hal@example.test", sid="sid-hal", **over))
    assert r.status == 400, r.body
    assert f"reason={code}" in lifecycle.logs()
    assert get(lifecycle, c).status == 200


def test_the_back_channel_logout_path_takes_only_a_post(lifecycle):
    assert lifecycle.request("GET", "/oauth2/backchannel-logout").status == 400


def test_a_session_route_that_passes_during_outages_lets_visitors_without_a_session_through_unauthenticated(keys, upstream):
    cfg = lifecycle_config(keys)
    cfg["routes"] = [
        {"name": "status", "class": "ui", "path": {"prefix": "/status"}, "require": "session",
         "on_unavailable": "pass_unauthenticated"},
        {"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"},
    ]
    # The provider is down for every call (the staging drill switch, as docs/outage-runbook.md uses it).
    cfg["faults"] = {"allow": True, "provider_unavailable": True}
    env = {**keys.env(), "COOKIE_KEYS": f"k:{b64(KEY)}", "CLIENT_SECRET": "x", "AIRFLOW_SECRET": "s" * 64}
    e = Envoy(cfg, upstream.port, env=env, clusters={"idp": free_port()})
    try:
        browser = {"accept": "text/html", "sec-fetch-mode": "navigate"}
        r = e.request("GET", "/status/summary", browser)
        assert r.status == 200, r.body
        (seen,) = upstream.take()
        assert seen.header("x-gatehouse-unauthenticated") == "idp_down" and seen.header("x-gatehouse-subject") is None
        assert "pass_unauthenticated reason=passed_unavailable cause=idp_down route=status" in e.logs()
        r = e.request("GET", "/ui/dags", browser)
        assert r.status == 503 and upstream.take() == [], "other routes show the outage page"
        # A valid session still opens the status route as itself: passing is only for those without one.
        assert get(e, cookie(), extra={}).status == 200
        r = e.request("GET", "/status/summary", {"cookie": cookie(), "accept": "application/json"})
        assert r.status == 200
        seen = upstream.take()[-1]
        assert seen.header("x-gatehouse-subject") == "dana@example.test" and seen.header("x-gatehouse-unauthenticated") is None
    finally:
        e.stop()
