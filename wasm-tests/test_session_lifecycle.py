"""A browser session's claims and revocation through the real Envoy, with cookies sealed by an independent
implementation of the format: the ID token's email, name and groups under configured headers, and sessions
ended by the provider's `sid` or a subject's cut-off, revoked by a configuration pushed live (ECDS) while the
provider is unreachable."""
import copy
import os
import time

import pytest

from harness.cookies import b64, seal
from harness.envoy import Envoy, free_port
from harness.tokens import DEPLOYMENT, plugin_config

KEY = os.urandom(32)
NAME = "__Host-gatehouse"


def lifecycle_config(keys):
    cfg = plugin_config(keys)
    cfg["routes"] = [{"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"}]
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": "http://127.0.0.1/oauth2/callback",
        "claim_headers": {"email": "x-user-email", "name": "x-user-name", "groups": "x-user-groups"},
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


def wait_for(fn, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.2)
    return False


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
    assert wait_for(lambda: get(lifecycle, dana).status == 401), "dana's sid is revoked"
    assert get(lifecycle, frank).status == 401, "frank signed in before his cut-off"
    assert get(lifecycle, erin).status == 200, "erin is untouched"
    assert "reason=session_revoked" in lifecycle.logs()
    later_frank = cookie(sub="frank@example.test", sid="sid-frank-2")
    assert get(lifecycle, later_frank).status == 200, "a sign-in after the cut-off works"
