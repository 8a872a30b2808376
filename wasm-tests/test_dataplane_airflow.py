"""A dataplane end to end with real parts: one Envoy with Gatehouse in front of two real Airflow 3 api-servers as
two deployments of one workspace (each with its own JWT secret), a third deployment of another workspace, and a
real OpenID provider to sign in at. Each Airflow accepts only the token minted for its own deployment, so a
request that reaches the wrong one, or carries the wrong deployment's token, fails where Airflow checks it."""
import json
import secrets
import urllib.parse

import pytest

from harness.airflow import Airflow
from harness.envoy import Envoy, free_port
from harness.peers import Idp
from harness.provider_login import ProviderSession
from harness.tokens import ORG, WORKSPACE, dat_claims, plugin_config

ROLES_CLAIM = "https://gatehouse.test/roles"
USERS = {"alice": {"sub": "alice@example.test", "email": "alice@example.test", "name": "Alice",
                   "roles": ["airflow-admin"]}}
HOSTS = {"dep-a": "a.localhost", "dep-b": "b.localhost", "dep-c": "c.localhost"}


@pytest.fixture(scope="module")
def plane(keys):
    port = free_port()
    airflow_a, airflow_b = Airflow(), Airflow()
    client_secret = secrets.token_urlsafe(24)
    callbacks = {d: f"http://{h}:{port}/oauth2/callback" for d, h in HOSTS.items()}
    idp = Idp(clients=[{"client_id": "gatehouse", "client_secret": client_secret,
                        "redirect_uris": list(callbacks.values()), "token_endpoint_auth_method": "client_secret_basic"}],
              users=USERS, roles_claim=ROLES_CLAIM)
    token = lambda secret_env: {"signing": {"alg": "HS512", "secret_env": secret_env},  # noqa: E731
                                "roles": {"airflow-admin": "ADMIN"},
                                "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN", "ORGANIZATION_VIEWER": "VIEWER"}}
    cfg = plugin_config(keys)
    del cfg["dataplane"]
    cfg["host_matching"] = {"strip_port": True}
    cfg["deployments"] = [
        {"deployment_id": "dep-a", "organization_id": ORG, "workspace_id": WORKSPACE, "hosts": [HOSTS["dep-a"]],
         "redirect_uri": callbacks["dep-a"]},
        {"deployment_id": "dep-b", "organization_id": ORG, "workspace_id": WORKSPACE, "hosts": [HOSTS["dep-b"]],
         "redirect_uri": callbacks["dep-b"], "upstream_token": token("AIRFLOW_SECRET_B")},
        # Another workspace; served by the second Airflow, with its token.
        {"deployment_id": "dep-c", "organization_id": ORG, "workspace_id": "ws-other", "hosts": [HOSTS["dep-c"]],
         "redirect_uri": callbacks["dep-c"], "upstream_token": token("AIRFLOW_SECRET_B")},
    ]
    cfg["routes"] = [
        {"name": "health", "class": "public", "path": {"exact": "/api/v2/monitor/health"}, "require": "public"},
        {"name": "api", "class": "api", "path": {"prefix": "/api/v2"}, "require": "bearer_or_session"},
        {"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "bearer_or_session"},
    ]
    cfg["session"] = {
        "keys_env": "GATEHOUSE_COOKIE_KEYS",
        "redirect_uri": callbacks["dep-a"],
        "provider": {
            "issuer": idp.issuer, "client_id": "gatehouse", "client_secret_env": "GATEHOUSE_CLIENT_SECRET",
            "authorization_endpoint": idp.info["authorization_endpoint"],
            "token_endpoint": {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}",
                               "path": idp.info["token_endpoint"].split(str(idp.port), 1)[1], "timeout_ms": 5000},
            "jwks": idp.jwks, "scopes": ["openid", "profile", "email"], "roles_claim": ROLES_CLAIM,
        },
    }
    cfg["upstream_token"] = token("AIRFLOW_SECRET_A")
    # Envoy sends each host to its Airflow, as a dataplane's gateway routes each deployment to its service.
    vhost = lambda name, host, cluster: {"name": name, "domains": [host, f"{host}:*"],  # noqa: E731
                                         "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}]}
    routes = {"route_config": {"virtual_hosts": [vhost("a", HOSTS["dep-a"], "airflow_a"),
                                                 vhost("b", HOSTS["dep-b"], "airflow_b"),
                                                 vhost("c", HOSTS["dep-c"], "airflow_b")]}}
    env = {**keys.env(), "GATEHOUSE_COOKIE_KEYS": f"k1:{secrets.token_urlsafe(32)}",
           "GATEHOUSE_CLIENT_SECRET": client_secret, "AIRFLOW_SECRET_A": airflow_a.jwt_secret,
           "AIRFLOW_SECRET_B": airflow_b.jwt_secret}
    envoy = Envoy(cfg, airflow_a.port, env=env, hcm_extra=routes, port=port,
                  clusters={"idp": idp.port, "airflow_a": airflow_a.port, "airflow_b": airflow_b.port})
    yield {"envoy": envoy, "idp": idp, "a": airflow_a, "b": airflow_b}
    envoy.stop()
    airflow_a.stop()
    airflow_b.stop()
    idp.stop()


def get(plane, deployment, path, token=None, cookie=None):
    headers = {"accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if cookie:
        headers["cookie"] = cookie
    return plane["envoy"].request("GET", path, headers, host=f"{HOSTS[deployment]}:{plane['envoy'].port}")


def test_without_gatehouse_the_airflows_refuse_anonymous_requests(plane):
    for airflow in (plane["a"], plane["b"]):
        assert airflow.get("/api/v2/dags")[0] == 401, "a control: Airflow itself enforces tokens"


@pytest.mark.parametrize("scope, expected", [
    ("workspace", {"dep-a": 200, "dep-b": 200, "dep-c": 403}),
    ("deployment", {"dep-a": 200, "dep-b": 403, "dep-c": 403}),
    ("organization", {"dep-a": 200, "dep-b": 200, "dep-c": 200}),
])
def test_each_token_reaches_the_airflows_its_scope_covers_with_that_deployments_own_token(plane, keys, scope,
                                                                                         expected):
    role = "ORGANIZATION_VIEWER" if scope == "organization" else "DEPLOYMENT_ADMIN"
    token = keys.sign(dat_claims(scope=scope, role=role, deployment="dep-a"), "ES256")
    got = {d: get(plane, d, "/api/v2/dags", token=token).status for d in HOSTS}
    assert got == expected


def sign_in(plane, deployment):
    """Signs in on one deployment as a browser would, through the real provider; returns the session cookie."""
    r = plane["envoy"].request("GET", "/home", {"accept": "text/html", "sec-fetch-mode": "navigate"},
                               host=f"{HOSTS[deployment]}:{plane['envoy'].port}")
    assert r.status == 302, (r.status, r.body)
    flow = [v.split(";", 1)[0] for n, v in r.headers if n.lower() == "set-cookie" and "-flow-" in v]
    back = urllib.parse.urlsplit(ProviderSession(plane["idp"]).authorize(r.header("location"), user="alice"))
    assert back.hostname == HOSTS[deployment], "the provider sends the browser back to this deployment's host"
    done = plane["envoy"].request("GET", f"{back.path}?{back.query}", {"cookie": "; ".join(flow)},
                                  host=f"{back.hostname}:{back.port}")
    assert done.status == 302 and done.header("location") == "/home", (done.status, done.body)
    cookies = [v.split(";", 1)[0] for n, v in done.headers
               if n.lower() == "set-cookie" and "Max-Age=0" not in v and "-flow-" not in v]
    assert cookies, done.headers
    return "; ".join(cookies)


def test_a_session_signed_in_on_one_deployment_reaches_its_airflow_as_the_person_and_never_opens_another(plane):
    cookie = sign_in(plane, "dep-a")
    me = get(plane, "dep-a", "/ui/auth/me", cookie=cookie)
    assert me.status == 200, me.body
    assert json.loads(me.body)["id"] == "alice@example.test", "Airflow A saw the signed-in person"
    for other in ("dep-b", "dep-c"):
        r = get(plane, other, "/ui/auth/me", cookie=cookie)
        assert r.status == 401, (other, r.status, r.body)
    # Signing in on B gives B its own session, which in turn does not open A.
    cookie_b = sign_in(plane, "dep-b")
    assert get(plane, "dep-b", "/ui/auth/me", cookie=cookie_b).status == 200
    assert get(plane, "dep-a", "/ui/auth/me", cookie=cookie_b).status == 401
