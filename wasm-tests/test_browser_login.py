"""Browser login end to end: a real browser signs in at a real OpenID provider through the real Envoy with
the filter, and reaches a real Airflow 3 api-server as the signed-in person."""
import base64
import json
import secrets
import time

import pytest

from harness import report
from harness.airflow import Airflow
from harness.envoy import Envoy, buffered_path, free_port
from harness.peers import Idp, browse
from harness.tokens import ROLES, plugin_config
from harness.wait import wait_for

ROLES_CLAIM = "https://gatehouse.test/roles"
USERS = {
    "alice": {"sub": "alice@example.test", "email": "alice@example.test", "name": "Alice", "roles": ["airflow-admin"]},
    "victor": {"sub": "victor@example.test", "email": "victor@example.test", "name": "Victor", "roles": ["airflow-viewer"]},
    "nobody": {"sub": "nobody@example.test", "email": "nobody@example.test", "name": "Nobody", "roles": []},
    # Enough roles to push the session past one cookie's 3800 bytes.
    "bigrole": {"sub": "bigrole@example.test", "email": "bigrole@example.test", "name": "Many Roles",
                "roles": ["airflow-admin"] + [f"team-{i:03d}-with-a-rather-long-group-name-from-the-directory" for i in range(90)]},
}


@pytest.fixture(scope="module")
def stack(keys):
    port, refresh_port, spare_port, exchange_port = free_port(), free_port(), free_port(), free_port()
    discovery_port = free_port()
    base = f"http://127.0.0.1:{port}"
    client_secret = secrets.token_urlsafe(24)
    airflow = Airflow()
    idp = Idp(token_exchange={"secret": airflow.jwt_secret, "audience": "apache-airflow", "ttl": 300,
                              "roles": {"airflow-admin": "ADMIN", "airflow-viewer": "VIEWER"}},
              clients=[{"client_id": "gatehouse", "client_secret": client_secret,
                        "redirect_uris": [f"{base}/oauth2/callback", f"http://127.0.0.1:{refresh_port}/oauth2/callback",
                                          f"http://127.0.0.1:{spare_port}/oauth2/callback",
                                          f"http://127.0.0.1:{exchange_port}/oauth2/callback",
                                          f"http://127.0.0.1:{discovery_port}/oauth2/callback"],
                        "post_logout_redirect_uris": [f"{base}/", f"http://127.0.0.1:{discovery_port}/"],
                        "backchannel_logout_uri": f"{base}/oauth2/backchannel-logout",
                        "token_endpoint_auth_method": "client_secret_basic"}],
              users=USERS, roles_claim=ROLES_CLAIM)
    key1 = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    key2 = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    cookie_keys = f"k1:{key1}"
    cfg = plugin_config(keys)
    cfg["routes"] = [
        {"name": "health", "class": "public", "path": {"exact": "/api/v2/monitor/health"}, "require": "public"},
        {"name": "static", "class": "public", "path": {"prefix": "/static"}, "require": "public"},
        {"name": "api", "class": "api", "path": {"prefix": "/api/v2"}, "require": "bearer_or_session"},
        {"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "bearer_or_session"},
    ]
    cfg["session"] = {
        "keys_env": "GATEHOUSE_COOKIE_KEYS",
        "redirect_uri": f"{base}/oauth2/callback",
        "post_logout_redirect_uri": f"{base}/",
        "backchannel_logout_path": "/oauth2/backchannel-logout",
        "provider": {
            "issuer": idp.issuer, "client_id": "gatehouse", "client_secret_env": "GATEHOUSE_CLIENT_SECRET",
            "authorization_endpoint": idp.info["authorization_endpoint"],
            "token_endpoint": {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}",
                               "path": idp.info["token_endpoint"].split(str(idp.port), 1)[1], "timeout_ms": 5000},
            "end_session_endpoint": idp.info["end_session_endpoint"],
            "jwks": idp.jwks,
            "scopes": ["openid", "profile", "email"],
            "roles_claim": ROLES_CLAIM,
        },
    }
    cfg["upstream_token"] = {
        "signing": {"alg": "HS512", "secret_env": "AIRFLOW_JWT_SECRET"},
        "roles": {"airflow-admin": "ADMIN", "airflow-viewer": "VIEWER"},
        "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN", "WORKSPACE_OPERATOR": "OP", "ORGANIZATION_VIEWER": "VIEWER"},
    }
    env = {**keys.env(), "GATEHOUSE_COOKIE_KEYS": cookie_keys, "GATEHOUSE_CLIENT_SECRET": client_secret,
           "AIRFLOW_JWT_SECRET": airflow.jwt_secret}
    after, routes = buffered_path("/oauth2/backchannel-logout")
    envoy = Envoy(cfg, airflow.port, env=env, clusters={"idp": idp.port}, port=port, filters_after=after,
                  hcm_extra=routes)
    yield {"envoy": envoy, "idp": idp, "airflow": airflow, "base": base, "cfg": cfg, "env": env, "refresh_port": refresh_port, "spare_port": spare_port, "exchange_port": exchange_port, "discovery_port": discovery_port,
           "rotated_keys": f"k2:{key2},k1:{key1}", "secrets": [client_secret, key1, key2, airflow.jwt_secret]}
    envoy.stop()
    airflow.stop()
    idp.stop()


def login_steps(base, user, start="/"):
    return [{"goto": f"{base}{start}"}, {"login": {"user": user, "password": "any"}}]


def test_control_airflow_itself_refuses_requests_without_a_token(stack):
    status, _ = stack["airflow"].get("/api/v2/dags")
    assert status == 401
    status, _ = stack["airflow"].get("/ui/auth/me")
    assert status == 401


def test_a_person_signs_in_with_the_browser_and_uses_the_airflow_ui_and_api_as_themselves(stack):
    base = stack["base"]
    results = browse(login_steps(base, "alice", "/dags") + [
        {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
        {"fetch": {"url": "/api/v2/dags", "headers": {"accept": "application/json"}}},
        {"fetch": {"url": "/api/v2/variables", "method": "POST",
                   "headers": {"accept": "application/json", "content-type": "application/json"},
                   "body": json.dumps({"key": "signed_in_by", "value": "gatehouse-e2e"})}},
        {"cookies": True},
    ])
    assert all("error" not in r for r in results), results
    start, login, me, dags, variable, cookies = results
    assert "127.0.0.1:%d" % stack["idp"].port in start["url"], "the browser was sent to the provider"
    assert login["url"] == f"{base}/dags", "back where the person started"
    assert me["status"] == 200 and json.loads(me["body"])["id"] == "alice@example.test"
    assert dags["status"] == 200 and "dags" in json.loads(dags["body"])
    assert variable["status"] in (200, 201), variable
    ours = [c for c in cookies["cookies"] if c["name"].startswith("__Host-gatehouse")]
    assert ours and all(c["httpOnly"] and c["secure"] and c["sameSite"] == "Lax" and c["path"] == "/" for c in ours)
    # Airflow's audit log names the person: the identity crossed the proxy.
    token = stack["airflow"].mint("auditor", "ADMIN")
    status, body = stack["airflow"].get("/api/v2/eventLogs?event=post_variable", token)
    assert status == 200
    assert any(e.get("owner") == "alice@example.test" for e in json.loads(body)["event_logs"]), body[:2000]


def test_a_viewer_can_read_but_not_write(stack):
    results = browse(login_steps(stack["base"], "victor") + [
        {"fetch": {"url": "/api/v2/dags", "headers": {"accept": "application/json"}}},
        {"fetch": {"url": "/api/v2/variables", "method": "POST",
                   "headers": {"accept": "application/json", "content-type": "application/json"},
                   "body": json.dumps({"key": "v", "value": "x"})}},
    ])
    assert [r.get("status") for r in results[2:]] == [200, 403], results


def test_a_person_without_a_mapped_role_is_refused(stack):
    results = browse(login_steps(stack["base"], "nobody") + [
        {"fetch": {"url": "/api/v2/dags", "headers": {"accept": "application/json"}}}])
    assert results[-1]["status"] == 403, results


def test_logout_ends_the_session_at_gatehouse_and_at_the_provider(stack):
    base = stack["base"]
    results = browse(login_steps(base, "alice") + [
        {"goto": f"{base}/api/v2/auth/logout"},
        {"cookies": True},
        {"goto": f"{base}/api/v2/monitor/health"},
        {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
        {"goto": f"{base}/dags"},
    ])
    assert all("error" not in r for r in results), results
    _, _, logout, cookies, _, me, again = results
    # After the provider's sign-out the browser lands on "/", which starts a new sign-in: only that flow's
    # cookie may exist, no session.
    assert not [c for c in cookies["cookies"] if c["name"] == "__Host-gatehouse" or c["name"].startswith("__Host-gatehouse.")]
    assert me["status"] == 401
    assert "127.0.0.1:%d" % stack["idp"].port in again["url"], "signing in again goes back to the provider"


def test_signing_out_at_the_provider_ends_the_gatehouse_session_through_back_channel_logout(stack):
    base, idp = stack["base"], stack["idp"]
    before = idp.stats()["backchannel_logouts"]
    signed_in = browse(login_steps(base, "alice") + [
        {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
        {"cookies": True},
    ])
    assert all("error" not in r for r in signed_in), signed_in
    me, jar = signed_in[2], signed_in[3]["cookies"]
    assert me["status"] == 200 and json.loads(me["body"])["id"] == "alice@example.test"
    ours = [c for c in jar if c["name"].startswith("__Host-gatehouse")]
    assert ours
    # Straight to the provider, not through Gatehouse's sign-out. The provider and Gatehouse share the site
    # 127.0.0.1 here, and the provider's sign-out clears the site's cookies (Clear-Site-Data), so the browser
    # is given its Gatehouse cookie back: only the provider's logout token can end that session now.
    results = browse([
        {"goto": f"{base}/api/v2/monitor/health"}, {"add_cookies": jar},
        {"goto": idp.info["end_session_endpoint"]},
        {"goto": f"{base}/api/v2/monitor/health"}, {"add_cookies": ours},
        {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
    ])
    assert all("error" not in r for r in results), results
    assert idp.stats()["backchannel_logouts"] == before + 1, "the provider's POST was answered 200"
    assert results[-1]["status"] == 401, results[-1]
    logs = stack["envoy"].logs()
    assert "reply status=200 reason=backchannel_logout" in logs and "reason=session_revoked" in logs
    # A new sign-in is a new provider session (a new sid), which the logout does not touch.
    again = browse(login_steps(base, "alice") + [{"fetch": {"url": "/ui/auth/me",
                                                             "headers": {"accept": "application/json"}}}])
    assert again[-1]["status"] == 200, "signing in again gives a new provider session"


def test_tampered_and_foreign_cookies_behave_like_no_session(stack):
    base = stack["base"]
    results = browse(login_steps(base, "alice") + [{"cookies": True}])
    session = [c for c in results[-1]["cookies"] if c["name"] == "__Host-gatehouse"]
    assert session, results[-1]
    good = session[0]
    flipped = dict(good, value=good["value"][:-6] + ("AAAAAA" if not good["value"].endswith("AAAAAA") else "BBBBBB"))
    for cookie in [flipped, dict(good, value="v1.k1.bm90LWEtcmVhbC1jb29raWU")]:
        out = browse([{"goto": f"{base}/api/v2/monitor/health"}, {"add_cookies": [cookie]},
                      {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}}])
        assert out[-1]["status"] == 401, out
    # The untouched cookie, replayed in a fresh browser, still works: it is the session, not the browser.
    out = browse([{"goto": f"{base}/api/v2/monitor/health"}, {"add_cookies": [good]},
                  {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}}])
    assert out[-1]["status"] == 200, out


def test_direct_access_tokens_reach_airflow_with_a_minted_airflow_token(stack, keys):
    from harness.tokens import dat_claims
    envoy = stack["envoy"]
    r = envoy.get("/api/v2/dags", keys.sign(dat_claims(role="WORKSPACE_OPERATOR"), "EdDSA"),
                  headers={"accept": "application/json"})
    assert r.status == 200, r.body
    r = envoy.get("/ui/auth/me", keys.sign(dat_claims(role="ORGANIZATION_VIEWER"), "ES256"))
    assert r.status == 200 and r.json()["id"] == "dat-deployment-organization_viewer"
    r = envoy.get("/api/v2/dags", keys.sign(dat_claims(deployment="dep-other"), "ES256"))
    assert r.status == 403


def test_api_clients_without_a_session_get_401_and_browsers_a_redirect(stack):
    envoy = stack["envoy"]
    r = envoy.get("/api/v2/dags", headers={"accept": "application/json"})
    assert r.status == 401
    r = envoy.get("/dags", headers={"accept": "text/html", "sec-fetch-mode": "navigate"})
    assert r.status == 302 and r.header("location").startswith(stack["idp"].info["authorization_endpoint"])


def test_no_secret_token_or_cookie_appears_in_the_envoy_log(stack):
    browse(login_steps(stack["base"], "alice"))
    logs = stack["envoy"].logs()
    for s in stack["secrets"]:
        assert s not in logs
    assert "v1.k1." not in logs, "no session cookie value"
    assert "code_verifier" not in logs and "id_token" not in logs


def session_cookies(cookies):
    return sorted((c for c in cookies if c["name"] == "__Host-gatehouse" or c["name"].startswith("__Host-gatehouse.")),
                  key=lambda c: c["name"])


def test_a_large_session_is_split_into_chunks_that_the_browser_returns_and_the_filter_rejoins(stack):
    base = stack["base"]
    results = browse(login_steps(base, "bigrole") + [
        {"cookies": True},
        {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
    ])
    assert all("error" not in r for r in results), results
    names = [c["name"] for c in session_cookies(results[2]["cookies"])]
    assert names[:2] == ["__Host-gatehouse.0", "__Host-gatehouse.1"], names
    assert all(len(c["value"]) <= 3800 for c in session_cookies(results[2]["cookies"]))
    assert results[3]["status"] == 200 and json.loads(results[3]["body"])["id"] == "bigrole@example.test"


def test_cookie_keys_rotate_without_signing_anyone_out(stack):
    base = stack["base"]
    signed = browse(login_steps(base, "alice") + [{"cookies": True}])
    cookies = signed[-1]["cookies"]
    assert session_cookies(cookies)[0]["value"].startswith("v1.k1.")
    # A proxy with the new key first and the old one second: the session opens and comes back re-sealed.
    rotated = Envoy(stack["cfg"], stack["airflow"].port, env={**stack["env"], "GATEHOUSE_COOKIE_KEYS": stack["rotated_keys"]},
                    clusters={"idp": stack["idp"].port})
    try:
        rbase = f"http://127.0.0.1:{rotated.port}"
        out = browse([{"goto": f"{rbase}/api/v2/monitor/health"}, {"add_cookies": cookies},
                      {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
                      {"cookies": True}])
        assert out[2]["status"] == 200 and json.loads(out[2]["body"])["id"] == "alice@example.test", out
        resealed = session_cookies(out[3]["cookies"])
        assert resealed and resealed[0]["value"].startswith("v1.k2."), resealed
        # The re-sealed cookie no longer opens on a proxy that only knows the old key.
        old = browse([{"goto": f"{base}/api/v2/monitor/health"}, {"add_cookies": resealed},
                      {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}}])
        assert old[-1]["status"] == 401
    finally:
        rotated.stop()


def test_a_replayed_or_forged_callback_gets_a_400_page_and_no_session(stack):
    base = stack["base"]
    out = browse([{"goto": f"{base}/oauth2/callback?code=stolen&state=not-a-real-state"}, {"cookies": True}])
    assert out[0]["status"] == 400 and "Sign-in" in out[0]["text"]
    assert not session_cookies(out[1]["cookies"])
    out = browse([{"goto": f"{base}/oauth2/callback?error=access_denied&state={'A' * 32}"}])
    assert out[0]["status"] == 401, "the provider refused: a sign-in failed page"
    out = browse([{"goto": f"{base}/oauth2/callback?error=access_denied&state=x%3B%20Domain%3Devil"}])
    assert out[0]["status"] == 400, "a state that is not ours never reaches a cookie name"


def test_sessions_are_refreshed_out_of_band_with_the_providers_refresh_token(stack):
    import copy
    port = stack["refresh_port"]
    cfg = copy.deepcopy(stack["cfg"])
    cfg["session"]["redirect_uri"] = f"http://127.0.0.1:{port}/oauth2/callback"
    provider = cfg["session"]["provider"]
    provider["scopes"] = ["openid", "profile", "email", "offline_access"]
    provider["extra_params"] = {"prompt": "consent"}
    provider["keep_refresh_token"] = True
    # The provider's tokens live 300 s: renewing 299 s ahead makes every request after sign-in refresh.
    provider["refresh_before_seconds"] = 299
    envoy = Envoy(cfg, stack["airflow"].port, env=stack["env"], clusters={"idp": stack["idp"].port}, port=port)
    try:
        base = f"http://127.0.0.1:{port}"
        out = browse(login_steps(base, "alice") + [
            {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
            {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
        ])
        assert all("error" not in r for r in out), out
        assert [r["status"] for r in out[2:]] == [200, 200], out
        stats = envoy.admin("/stats?filter=gatehouse")
        def count(name):
            lines = [l for l in stats.splitlines() if l.split(":")[0].endswith(name)]
            return int(lines[0].rsplit(":", 1)[1]) if lines else 0
        # Only calls actually made count as calls: requests that found a refresh of the same session on its
        # way (single flight) carry on with the session as it is.
        assert count("decisions_total.call.session_refresh") >= 1, stats
        assert count("decisions_total.allow.session_refreshed") >= 1, stats
        assert count("idp_calls_total.refresh.ok") >= 1, stats
    finally:
        envoy.stop()


def test_the_providers_endpoints_and_keys_can_come_from_its_discovery_document(stack):
    import copy
    port, idp = stack["discovery_port"], stack["idp"]
    base = f"http://127.0.0.1:{port}"
    cfg = copy.deepcopy(stack["cfg"])
    cfg["session"]["redirect_uri"] = f"{base}/oauth2/callback"
    cfg["session"]["post_logout_redirect_uri"] = f"{base}/"
    provider = cfg["session"]["provider"]
    for key in ["jwks", "authorization_endpoint", "end_session_endpoint"]:
        del provider[key]
    del provider["token_endpoint"]["path"]
    provider["discover_endpoints"] = True
    provider["remote_jwks"] = {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}",
                               "discovery_path": "/.well-known/openid-configuration", "retry_seconds": 1}
    envoy = Envoy(cfg, stack["airflow"].port, env=stack["env"], clusters={"idp": idp.port}, port=port)
    try:
        wait_for(lambda: "jwks_fetches_total.oidc.ok" in envoy.admin("/stats?filter=jwks"), timeout=15)
        results = browse(login_steps(base, "alice") + [
            {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
            {"goto": f"{base}/api/v2/auth/logout"},
        ])
        assert all("error" not in r for r in results), results
        start, _, me, logout = results
        assert f"127.0.0.1:{idp.port}" in start["url"], "sent to the discovered authorization endpoint"
        assert me["status"] == 200 and json.loads(me["body"])["id"] == "alice@example.test"
        # Signed out at the discovered end-session endpoint, back to "/", which starts a new sign-in there.
        assert f"127.0.0.1:{idp.port}/interaction/" in logout["url"], logout["url"]
        assert "discovery for issuer oidc failed" not in envoy.logs()
    finally:
        envoy.stop()


def test_a_token_endpoint_that_cannot_be_reached_gives_a_clear_503_page_not_a_loop(stack):
    import copy
    port = stack["spare_port"]
    cfg = copy.deepcopy(stack["cfg"])
    cfg["session"]["redirect_uri"] = f"http://127.0.0.1:{port}/oauth2/callback"
    cfg["session"]["provider"]["token_endpoint"]["timeout_ms"] = 1500
    # The browser still reaches the provider's sign-in page; only the proxy's token call goes nowhere.
    envoy = Envoy(cfg, stack["airflow"].port, env=stack["env"], clusters={"idp": free_port()}, port=port)
    try:
        started = time.time()
        out = browse(login_steps(f"http://127.0.0.1:{port}", "alice") + [{"cookies": True}])
        assert "error" not in out[1], out
        assert out[1]["status"] == 503 and "unavailable" in out[1]["text"].lower(), out[1]
        assert out[1]["url"].startswith(f"http://127.0.0.1:{port}/oauth2/callback")
        assert not session_cookies(out[2]["cookies"])
        assert time.time() - started < 20
    finally:
        envoy.stop()


def test_in_exchange_mode_the_provider_token_is_exchanged_for_an_airflow_token_at_sign_in(stack):
    import copy
    import http.client
    port = stack["exchange_port"]
    idp = stack["idp"]
    cfg = copy.deepcopy(stack["cfg"])
    cfg["session"]["redirect_uri"] = f"http://127.0.0.1:{port}/oauth2/callback"
    token_path = cfg["session"]["provider"]["token_endpoint"]["path"]
    cfg["upstream_token"] = {"mode": "exchange", "exchange": {
        "cluster": "idp", "authority": f"127.0.0.1:{idp.port}", "path": token_path, "audience": "apache-airflow"}}
    envoy = Envoy(cfg, stack["airflow"].port, env=stack["env"], clusters={"idp": idp.port}, port=port)

    def idp_call(method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=5)
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read()

    try:
        base = f"http://127.0.0.1:{port}"
        before = json.loads(idp_call("GET", "/__test/stats")[1])["token_exchanges"]
        out = browse(login_steps(base, "victor") + [
            {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
            {"fetch": {"url": "/api/v2/variables", "method": "POST",
                       "headers": {"accept": "application/json", "content-type": "application/json"},
                       "body": json.dumps({"key": "x", "value": "y"})}},
        ])
        assert all("error" not in r for r in out), out
        assert out[2]["status"] == 200 and json.loads(out[2]["body"])["id"] == "victor@example.test"
        assert out[3]["status"] == 403, "the exchanged token carries the VIEWER role"
        after = json.loads(idp_call("GET", "/__test/stats")[1])["token_exchanges"]
        assert after == before + 1, "exchanged once, at sign-in, not per request"
        # The exchange service failing: the person already signed in keeps working (the exchanged token is in
        # the session), for hundreds of requests...
        session = "; ".join(f"{c['name']}={c['value']}" for c in browse(login_steps(base, "victor") + [{"cookies": True}])[-1]["cookies"]
                            if c["name"].startswith("__Host-gatehouse"))
        assert idp_call("POST", "/__test/exchange_fail", b"500")[0] == 200
        served = failed = 0
        deadline = time.time() + 4
        while time.time() < deadline:
            r = envoy.request("GET", "/ui/auth/me", {"cookie": session, "accept": "application/json"})
            served += r.status == 200
            failed += r.status != 200
        report.add(f"exchange endpoint 500     existing session served {served}, failed {failed}")
        assert failed == 0 and served > 100
        # ...and a new sign-in gets a clear 503 page and no session.
        out = browse(login_steps(base, "alice") + [{"cookies": True}])
        assert out[1]["status"] == 503, out[1]
        assert not session_cookies(out[2]["cookies"])
    finally:
        idp_call("POST", "/__test/exchange_fail", b"none")
        envoy.stop()
