"""Session cookies through the real Envoy, made and read with an independent implementation of the format,
in front of the recording upstream. The provider is unreachable throughout: sessions do not need it."""
import base64
import json
import os
import time

import pytest

from harness.cookies import b64, open_sealed, seal
from harness.envoy import Envoy, free_port
from harness.tokens import DEPLOYMENT, plugin_config

KEY_NEW, KEY_OLD = os.urandom(32), os.urandom(32)
NAME = "__Host-gatehouse"
AIRFLOW_SECRET = "s" * 64


@pytest.fixture(scope="module")
def session_envoy(keys, upstream):
    cfg = plugin_config(keys)
    cfg["routes"] = [{"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"}]
    closed = free_port()  # nothing listens: the provider is "down" for this whole module
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": "http://127.0.0.1/oauth2/callback",
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
    env = {**keys.env(), "COOKIE_KEYS": f"new:{b64(KEY_NEW)},old:{b64(KEY_OLD)}", "CLIENT_SECRET": "x",
           "AIRFLOW_SECRET": AIRFLOW_SECRET}
    e = Envoy(cfg, upstream.port, env=env, clusters={"idp": closed})
    yield e
    e.stop()


def session(sub="carol@example.test", roles=("admin",), age=0, **over):
    now = int(time.time())
    s = {"sub": sub, "roles": list(roles), "iat": now - age, "seen": now - age, "abs": now - age + 3600}
    s.update(over)
    return s


def get(envoy, cookie, path="/ui/dags", extra=None):
    headers = {"cookie": cookie, "accept": "application/json", **(extra or {})}
    return envoy.request("GET", path, headers)


def claims(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_a_session_sealed_by_another_implementation_opens_and_reaches_the_upstream_with_an_airflow_token(session_envoy, upstream):
    cookie = f"{NAME}={seal('new', KEY_NEW, NAME, DEPLOYMENT, session())}; _token=stale; theme=dark"
    r = get(session_envoy, cookie, extra={"authorization": "Bearer forged"})
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    token = seen.header("authorization").removeprefix("Bearer ")
    c = claims(token)
    assert (c["sub"], c["role"], c["aud"]) == ("carol@example.test", "ADMIN", "apache-airflow")
    import jwt
    jwt.decode(token, AIRFLOW_SECRET, algorithms=["HS512"], audience="apache-airflow")  # Airflow would accept it
    assert seen.header("cookie") == "theme=dark", "our cookie and the upstream's _token never reach it"


def test_the_upstreams_own_token_cookie_never_reaches_the_browser(session_envoy, upstream):
    cookie = f"{NAME}={seal('new', KEY_NEW, NAME, DEPLOYMENT, session())}"
    r = get(session_envoy, cookie, path="/ui/x?set_cookies=1")
    assert r.status == 200
    set_cookies = [v for n, v in r.headers if n.lower() == "set-cookie"]
    assert any(v.startswith("theme=dark") for v in set_cookies), set_cookies
    assert not any(v.startswith("_token=") for v in set_cookies), set_cookies


def test_a_session_under_an_old_key_is_resealed_under_the_new_one(session_envoy, upstream):
    cookie = f"{NAME}={seal('old', KEY_OLD, NAME, DEPLOYMENT, session())}"
    r = get(session_envoy, cookie)
    assert r.status == 200
    (fresh,) = [v for n, v in r.headers if n.lower() == "set-cookie" and v.startswith(NAME + "=")]
    value = fresh.split(";")[0].split("=", 1)[1]
    assert value.startswith("v1.new.")
    assert open_sealed("new", KEY_NEW, NAME, DEPLOYMENT, value)["sub"] == "carol@example.test"
    assert "HttpOnly" in fresh and "Secure" in fresh and "SameSite=Lax" in fresh and "Path=/" in fresh


@pytest.mark.parametrize("make", [
    lambda: seal("new", KEY_NEW, NAME, "dep-other", session()),                       # another deployment
    lambda: seal("new", KEY_NEW, NAME + "-flow-x", DEPLOYMENT, session()),            # another cookie's value
    lambda: seal("new", os.urandom(32), NAME, DEPLOYMENT, session()),                  # a key we do not hold
    lambda: seal("new", KEY_NEW, NAME, DEPLOYMENT, session(age=4000)),                 # idle and past its lifetime
    lambda: seal("new", KEY_NEW, NAME, DEPLOYMENT, session(abs=int(time.time()) - 1)),  # past its lifetime
    lambda: seal("new", KEY_NEW, NAME, DEPLOYMENT, {"sub": "x"}),                      # not a session
    lambda: "v1.new." + "A" * 40,                                                      # garbage
    lambda: "v2.new." + seal("new", KEY_NEW, NAME, DEPLOYMENT, session()).split(".", 2)[2],
])
def test_cookies_that_are_forged_swapped_or_expired_behave_exactly_like_no_session(session_envoy, upstream, make):
    r = get(session_envoy, f"{NAME}={make()}")
    assert r.status == 401
    assert upstream.take() == []
    r = get(session_envoy, f"{NAME}={make()}", extra={"accept": "text/html", "sec-fetch-mode": "navigate"})
    assert r.status == 302 and r.header("location").startswith("http://127.0.0.1:1/auth?")


def test_a_chunked_session_is_rejoined_and_a_missing_chunk_is_no_session(session_envoy, upstream):
    value = seal("new", KEY_NEW, NAME, DEPLOYMENT, session(roles=["admin"] + [f"group-{i}-" + "x" * 40 for i in range(120)]))
    assert len(value) > 3800
    parts = [value[i:i + 3800] for i in range(0, len(value), 3800)]
    cookie = "; ".join(f"{NAME}.{i}={p}" for i, p in enumerate(parts))
    assert get(session_envoy, cookie).status == 200
    upstream.take()
    broken = "; ".join(f"{NAME}.{i}={p}" for i, p in enumerate(parts) if i != 1)
    assert get(session_envoy, broken).status == 401
    assert upstream.take() == []
