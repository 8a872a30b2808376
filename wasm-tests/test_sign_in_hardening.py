"""Sign-in and session hardening through the real Envoy, tried as an attacker and as an unlucky user would,
against a scripted identity provider whose token endpoint answers whatever a case asks: one-time states,
bounded flow cookies, strict callbacks and token responses, no Referer leaks, unmalleable session cookies,
safe return targets, tokens in URLs, and identity headers no client can forge in any rollout mode."""
import base64
import hashlib
import json
import os
import time
import urllib.parse

import pytest

from harness.cookies import b64, seal
from harness.envoy import Envoy
from harness.faulty import FaultyServer
from harness.tokens import DEPLOYMENT, Keys, dat_claims, plugin_config

NAME = "__Host-gatehouse"
COOKIE_KEY = os.urandom(32)
AIRFLOW_SECRET = "a" * 64
HOST = "gatehouse.test"


@pytest.fixture(scope="module")
def idp():
    s = FaultyServer()
    yield s
    s.stop()


def session_config(keys, idp, **provider):
    issuer = f"http://127.0.0.1:{idp.port}/"
    cfg = plugin_config(keys)
    cfg["routes"] = [
        {"name": "health", "class": "public", "path": {"exact": "/health"}, "require": "public"},
        {"name": "api", "class": "api", "path": {"prefix": "/api"}, "require": "bearer"},
        {"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"},
    ]
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": f"https://{HOST}/oauth2/callback",
        "provider": {
            "issuer": issuer, "client_id": "gatehouse", "client_secret_env": "CLIENT_SECRET",
            "authorization_endpoint": f"{issuer}authorize",
            "token_endpoint": {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}", "path": "/token",
                               "timeout_ms": 2000},
            "jwks": {"keys": [Keys.public_jwk(keys.auth0, "RS256", "idp")]},
            "roles_claim": "roles",
            **provider,
        },
    }
    cfg["upstream_token"] = {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"}, "roles": {"admin": "ADMIN"},
                             "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN"}}
    return cfg


def session_env(keys):
    return {**keys.env(), "COOKIE_KEYS": f"k1:{b64(COOKIE_KEY)}", "CLIENT_SECRET": "s", "AIRFLOW_SECRET": AIRFLOW_SECRET}


def start_envoy(keys, idp, upstream, **provider):
    return Envoy(session_config(keys, idp, **provider), upstream.port, env=session_env(keys), clusters={"idp": idp.port})


@pytest.fixture(scope="module")
def envoy(keys, idp, upstream):
    e = start_envoy(keys, idp, upstream)
    yield e
    e.stop()


def set_cookies(r):
    return [v for n, v in r.headers if n.lower() == "set-cookie"]


class Browser:
    """A cookie jar as a browser keeps one for one host: Set-Cookie adds or replaces, Max-Age=0 deletes, and
    cookies go back in order of creation (RFC 6265 §5.4)."""

    def __init__(self, envoy):
        self.envoy = envoy
        self.jar = {}

    def take(self, r):
        for c in set_cookies(r):
            name, value = c.split(";")[0].split("=", 1)
            if "Max-Age=0" in c:
                self.jar.pop(name, None)
            else:
                self.jar.pop(name, None)
                self.jar[name] = value
        return r

    def cookie(self):
        return "; ".join(f"{n}={v}" for n, v in self.jar.items())

    def get(self, path, headers=None):
        h = {"accept": "text/html", "sec-fetch-mode": "navigate", **(headers or {})}
        if self.jar:
            h["cookie"] = self.cookie()
        return self.take(self.envoy.request("GET", path, h, host=HOST))

    def flows(self):
        return [n for n in self.jar if n.startswith(f"{NAME}-flow-")]


def start(browser, next_path="/dags"):
    """Starts a sign-in; returns the state and nonce the provider receives."""
    r = browser.get("/auth/login?" + urllib.parse.urlencode({"next": next_path}))
    assert r.status == 302, r.body
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.header("location")).query))
    return q["state"], q["nonce"]


def id_token(keys, idp, nonce, access_token=None, sub="carol@example.test", **extra):
    now = int(time.time())
    claims = {"iss": f"http://127.0.0.1:{idp.port}/", "aud": "gatehouse", "sub": sub, "iat": now, "exp": now + 600,
              "nonce": nonce, "roles": ["admin"], **extra}
    return keys.sign(claims, "RS256", kid="idp", key=keys.auth0)


def at_hash(access_token):
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()[:16]).rstrip(b"=").decode()


def answer(idp, **body):
    """What the token endpoint answers next."""
    idp.mode = "ok"
    idp.routes["/token"] = json.dumps({"token_type": "Bearer", **body}).encode()


def callback(browser, query):
    return browser.get("/oauth2/callback?" + (query if isinstance(query, str) else urllib.parse.urlencode(query)))


def signed_in(r):
    return r.status == 302 and any(c.startswith(f"{NAME}=") and "Max-Age=0" not in c for c in set_cookies(r))


def logged_reason(envoy, reason):
    return f"reason={reason} " in envoy.logs()


# --- the state is spent once ------------------------------------------------------------------------------------


def test_a_state_is_spent_by_its_first_callback_so_a_replayed_flow_cookie_and_state_sign_no_one_in(envoy, keys, idp):
    b = Browser(envoy)
    state, nonce = start(b)
    stolen = dict(b.jar)
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    r = callback(b, {"code": "code-1", "state": state})
    assert signed_in(r) and r.header("location") == "/dags", r.body
    # The attacker replays the flow cookie and state with a fresh code of their own.
    attacker = Browser(envoy)
    attacker.jar = stolen
    hits = idp.hits
    r = callback(attacker, {"code": "code-2", "state": state})
    assert r.status == 400 and not signed_in(r), r.body
    assert b"no longer valid" in r.body
    assert idp.hits == hits, "a spent state's code never reaches the provider"
    assert logged_reason(envoy, "state_replayed")


# --- flow cookies are bounded -----------------------------------------------------------------------------------


def test_abandoned_sign_ins_leave_at_most_four_flow_cookies_well_under_the_header_limit_and_the_newest_completes(envoy, keys, idp):
    b = Browser(envoy)
    for _ in range(30):
        state, nonce = start(b)
        assert len(b.flows()) <= 4, b.flows()
    assert len(b.flows()) == 4
    # Long return targets make each flow cookie big: the total stays bounded by bytes too.
    for _ in range(5):
        state, nonce = start(b, "/dags/" + "x" * 1500)
        total = sum(len(n) + 1 + len(v) for n, v in b.jar.items() if n in b.flows())
        assert total <= 4096 + 200, total
    assert len(b.cookie()) < 8192 // 2
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    r = callback(b, {"code": "c", "state": state})
    assert signed_in(r), r.body


# --- strict callbacks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("repeated", ["code", "state", "iss"])
def test_a_callback_with_a_repeated_parameter_is_refused_before_the_code_is_redeemed(envoy, keys, idp, repeated):
    b = Browser(envoy)
    state, nonce = start(b)
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    issuer = f"http://127.0.0.1:{idp.port}/"
    params = [("code", "c1"), ("state", state), ("iss", issuer)]
    params.append({"code": ("code", "c2"), "state": ("state", state), "iss": ("iss", issuer)}[repeated])
    hits = idp.hits
    r = callback(b, urllib.parse.urlencode(params))
    assert r.status == 400 and not signed_in(r), r.body
    assert idp.hits == hits
    assert logged_reason(envoy, "duplicate_parameter")


def test_a_callback_naming_another_issuer_is_refused_and_one_naming_ours_signs_in(envoy, keys, idp):
    b = Browser(envoy)
    state, nonce = start(b)
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    r = callback(b, {"code": "c", "state": state, "iss": "https://attacker.example/"})
    assert r.status == 400 and not signed_in(r), r.body
    assert logged_reason(envoy, "iss_mismatch")
    state, nonce = start(b)
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    r = callback(b, {"code": "c", "state": state, "iss": f"http://127.0.0.1:{idp.port}/"})
    assert signed_in(r), r.body


def test_when_the_provider_advertises_the_iss_parameter_a_callback_without_it_is_refused(keys, idp, upstream):
    e = start_envoy(keys, idp, upstream, authorization_response_iss_parameter_supported=True)
    try:
        b = Browser(e)
        state, nonce = start(b)
        answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
        r = callback(b, {"code": "c", "state": state})
        assert r.status == 400 and not signed_in(r), r.body
        assert logged_reason(e, "missing_iss")
        state, nonce = start(b)
        answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
        assert signed_in(callback(b, {"code": "c", "state": state, "iss": f"http://127.0.0.1:{idp.port}/"}))
    finally:
        e.stop()


# --- strict token responses -------------------------------------------------------------------------------------


def test_a_token_response_without_an_access_token_signs_no_one_in(envoy, keys, idp):
    b = Browser(envoy)
    state, nonce = start(b)
    answer(idp, id_token=id_token(keys, idp, nonce))
    r = callback(b, {"code": "c", "state": state})
    assert r.status == 503 and not signed_in(r), r.body
    assert logged_reason(envoy, "idp_no_access_token")


@pytest.mark.parametrize("case", ["matching", "for another access token"])
def test_an_id_tokens_at_hash_must_match_the_access_token_it_came_with(envoy, keys, idp, case):
    b = Browser(envoy)
    state, nonce = start(b)
    given = at_hash("at-1") if case == "matching" else at_hash("at-of-someone-else")
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce, at_hash=given))
    r = callback(b, {"code": "c", "state": state})
    if case == "matching":
        assert signed_in(r), r.body
    else:
        assert r.status == 401 and not signed_in(r), r.body
        assert logged_reason(envoy, "at_hash_mismatch")


# --- no Referer leaks, nothing cached ---------------------------------------------------------------------------


def test_every_flow_response_says_no_referrer_and_no_store(envoy, keys, idp):
    b = Browser(envoy)
    responses = {"start": b.get("/auth/login?next=/dags")}
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(responses["start"].header("location")).query))["state"]
    nonce = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(responses["start"].header("location")).query))["nonce"]
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    responses["callback"] = callback(b, {"code": "c", "state": state})
    assert signed_in(responses["callback"])
    responses["error page"] = callback(Browser(envoy), {"code": "c", "state": "x"})
    responses["sign-in redirect"] = Browser(envoy).get("/dags")
    responses["logout"] = b.get("/oauth2/sign_out")
    for name, r in responses.items():
        assert r.status in (302, 400), (name, r.status)
        assert r.header("referrer-policy") == "no-referrer", name
        assert r.header("cache-control") == "no-store", name


# --- the session cookie is not malleable ------------------------------------------------------------------------


def test_a_double_quoted_copy_of_a_session_cookie_is_not_a_session(envoy, upstream):
    now = int(time.time())
    value = seal("k1", COOKIE_KEY, NAME, DEPLOYMENT,
                 {"sub": "carol@example.test", "roles": ["admin"], "iat": now, "seen": now, "abs": now + 3600})
    accept = {"accept": "application/json"}
    r = envoy.request("GET", "/dags", {**accept, "cookie": f"{NAME}={value}"}, host=HOST)
    assert r.status == 200, r.body
    upstream.take()
    r = envoy.request("GET", "/dags", {**accept, "cookie": f'{NAME}="{value}"'}, host=HOST)
    assert r.status == 401, r.body
    assert upstream.take() == []


# --- return targets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target,lands", [
    ("/oauth2/sign_out", "/"),
    ("/oauth2/callback?code=x", "/"),
    ("/auth/login?next=/dags", "/"),
    ("/oauth2/%73ign_out", "/"),
    ("/dags/x?tab=runs", "/dags/x?tab=runs"),
])
def test_the_flows_own_paths_are_never_a_return_target(envoy, keys, idp, target, lands):
    b = Browser(envoy)
    state, nonce = start(b, target)
    answer(idp, access_token="at-1", id_token=id_token(keys, idp, nonce))
    r = callback(b, {"code": "c", "state": state})
    assert signed_in(r), r.body
    assert r.header("location") == lands


# --- tokens in the URL ------------------------------------------------------------------------------------------


def test_a_token_in_the_query_string_is_refused_alone_or_beside_a_header_and_never_reaches_the_upstream(envoy, keys, upstream):
    user1 = keys.sign(dat_claims(sub="user-1"), "ES256")
    user2 = keys.sign(dat_claims(sub="user-2"), "ES256")
    ok = envoy.request("GET", "/api/dags", {"authorization": f"Bearer {user1}"}, host=HOST)
    assert ok.status == 200, ok.body
    upstream.take()
    for path, headers in [
        (f"/api/dags?access_token={user2}", {"authorization": f"Bearer {user1}"}),
        (f"/api/dags?limit=5&access%5Ftoken={user2}", {}),
        (f"/health?access_token={user2}", {}),
    ]:
        r = envoy.request("GET", path, headers, host=HOST)
        assert r.status == 400, (path, r.status, r.body)
        assert 'error="invalid_request"' in (r.header("www-authenticate") or ""), path
    assert upstream.take() == []
    assert logged_reason(envoy, "token_in_query")


# --- identity headers in every rollout mode ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "shadow"])
def test_with_the_new_path_off_or_in_shadow_forged_identity_headers_never_reach_the_upstream(keys, upstream, mode):
    cfg = plugin_config(keys)
    cfg["identity_headers"] = {"subject": "x-auth-user"}
    cfg["rollout"] = {"default": {"mode": mode}}
    e = Envoy(cfg, upstream.port, env=keys.env())
    try:
        upstream.take()
        forged = {"x-auth-user": "forged-admin", "x-gatehouse-subject": "forged-admin", "x_gatehouse_role": "ADMIN",
                  "x-gatehouse-deployment": "dep-of-someone-else", "authorization": "Bearer legacy-token",
                  "x-kept": "yes"}
        r = e.request("GET", "/api/v2/dags", forged)
        assert r.status == 200, r.body
        (seen,) = upstream.take()
        for name in ("x-auth-user", "x-gatehouse-subject", "x_gatehouse_role", "x-gatehouse-deployment"):
            assert seen.header(name) is None, name
        assert seen.header("authorization") == "Bearer legacy-token", "the legacy path still gets the credential"
        assert seen.header("x-kept") == "yes"
    finally:
        e.stop()
