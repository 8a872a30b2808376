"""The browser demo (scripts/demo.sh --airflow): a real OpenID provider (npm oidc-provider, standing in for
Auth0), a real Airflow 3 api-server and the real Envoy with dist/gatehouse.wasm in front of it, all on
loopback. A person opens the URL, signs in at the provider as a demo user and lands in the Airflow UI as that
user: Gatehouse runs the code flow with PKCE, seals the session in a cookie and hands Airflow a JWT it trusts.

  python3 scripts/demo_airflow.py           serve until Ctrl-C
  python3 scripts/demo_airflow.py --check   sign in with headless Chromium, check where it lands, take a
                                            screenshot (.work/demo-airflow/airflow.png), stop
"""
import argparse
import base64
import json
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "wasm-tests"))

from harness.airflow import Airflow  # noqa: E402
from harness.envoy import Envoy  # noqa: E402
from harness.peers import Idp, browse  # noqa: E402
from harness.wait import wait_for  # noqa: E402

PORT = 10000
BASE = f"http://127.0.0.1:{PORT}"
ROLES_CLAIM = "https://gatehouse.demo/roles"
WORK = ROOT / ".work" / "demo-airflow"


def plugin_config(idp):
    """Gatehouse in front of one Airflow: the same routes as the shipped envoy-config/airflow.yaml, with the
    local provider instead of Auth0."""
    return {
        "dataplane": {"organization_id": "org-demo", "workspace_id": "ws-demo", "deployment_id": "dep-demo"},
        "realm": "airflow-demo",
        "roles": {"DEPLOYMENT_ADMIN": ["deployment.read", "deployment.operate", "deployment.admin"]},
        "issuers": [],
        "routes": [
            {"name": "health", "class": "public", "path": {"exact": "/api/v2/monitor/health"}, "require": "public"},
            {"name": "static", "class": "public", "path": {"prefix": "/static"}, "methods": ["GET", "HEAD"],
             "require": "public"},
            {"name": "api", "class": "api", "path": {"prefix": "/api/v2"}, "require": "session"},
            {"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"},
        ],
        "session": {
            "keys_env": "GATEHOUSE_COOKIE_KEYS",
            "redirect_uri": f"{BASE}/oauth2/callback",
            "post_logout_redirect_uri": f"{BASE}/",
            "provider": {
                "issuer": idp.issuer, "client_id": "airflow-demo", "client_secret_env": "GATEHOUSE_CLIENT_SECRET",
                "authorization_endpoint": idp.info["authorization_endpoint"],
                "token_endpoint": {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}",
                                   "path": idp.info["token_endpoint"].split(str(idp.port), 1)[1]},
                "end_session_endpoint": idp.info["end_session_endpoint"],
                "remote_jwks": {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}",
                                "discovery_path": "/.well-known/openid-configuration"},
                "scopes": ["openid", "profile", "email"],
                "roles_claim": ROLES_CLAIM,
            },
        },
        "upstream_token": {
            "signing": {"alg": "HS512", "secret_env": "AIRFLOW_JWT_SECRET"},
            "audience": "apache-airflow",
            "roles": {"airflow-admins": "ADMIN", "airflow-viewers": "VIEWER"},
        },
    }


def check(password, viewer_password, idp_port):
    """Signs in as a person would, with headless Chromium; returns the problems found (none: all good)."""
    WORK.mkdir(parents=True, exist_ok=True)
    shot = WORK / "airflow.png"
    shot.unlink(missing_ok=True)
    results = browse([
        {"goto": f"{BASE}/"},
        {"login": {"user": "alice", "password": password}},
        {"wait": 3000},  # the UI is a single-page app: let it draw
        {"screenshot": {"path": str(shot)}},
        {"fetch": {"url": "/ui/auth/me", "headers": {"accept": "application/json"}}},
    ], timeout=180)
    problems = [f"step {i}: {r['error']}" for i, r in enumerate(results) if "error" in r]
    if problems:
        return problems
    start, login, _, page, me = results
    if f"127.0.0.1:{idp_port}/" not in start["url"]:
        problems.append(f"the browser was not sent to the provider: {start['url']}")
    if not login["url"].startswith(f"{BASE}/"):
        problems.append(f"after signing in the browser is at {login['url']}, not in Airflow")
    if "Airflow" not in page["title"] or "Welcome" not in page["text"]:
        problems.append(f"the page after sign-in is not Airflow's UI: title {page['title']!r}")
    data = shot.read_bytes() if shot.exists() else b""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 10_000:
        problems.append(f"no screenshot of the page at {shot}")
    if me.get("status") != 200 or json.loads(me.get("body") or "{}").get("id") != "alice@demo.local":
        problems.append(f"Airflow does not see the signed-in user: {me.get('status')} {me.get('body', '')[:200]}")
    # A second person with another role: Airflow sees the role Gatehouse mapped.
    viewer = browse([{"goto": f"{BASE}/"}, {"login": {"user": "victor", "password": viewer_password}},
                     {"fetch": {"url": "/api/v2/variables", "method": "POST",
                                "headers": {"accept": "application/json", "content-type": "application/json"},
                                "body": json.dumps({"key": "k", "value": "v"})}}], timeout=180)
    if viewer[-1].get("status") != 403:
        problems.append(f"the viewer could write a variable: {viewer[-1]}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="sign in with headless Chromium and stop")
    args = parser.parse_args()

    password, viewer_password = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
    client_secret = secrets.token_urlsafe(24)
    cookie_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    print("demo: starting Airflow 3 (api-server; the first start also makes its database) ...", flush=True)
    t = time.monotonic()
    airflow = Airflow()
    print(f"demo: Airflow on 127.0.0.1:{airflow.port} ({time.monotonic() - t:.0f} s); starting the OpenID provider",
          flush=True)
    idp = None
    envoy = None
    try:
        idp = Idp(clients=[{"client_id": "airflow-demo", "client_secret": client_secret,
                            "redirect_uris": [f"{BASE}/oauth2/callback"], "post_logout_redirect_uris": [f"{BASE}/"],
                            "token_endpoint_auth_method": "client_secret_basic"}],
                  users={"alice": {"sub": "alice@demo.local", "email": "alice@demo.local", "name": "Alice Admin",
                                   "roles": ["airflow-admins"], "password": password},
                         "victor": {"sub": "victor@demo.local", "email": "victor@demo.local", "name": "Victor Viewer",
                                    "roles": ["airflow-viewers"], "password": viewer_password}},
                  roles_claim=ROLES_CLAIM)
        env = {"GATEHOUSE_COOKIE_KEYS": f"k1:{cookie_key}", "GATEHOUSE_CLIENT_SECRET": client_secret,
               "AIRFLOW_JWT_SECRET": airflow.jwt_secret}
        envoy = Envoy(plugin_config(idp), airflow.port, env=env, clusters={"idp": idp.port}, port=PORT)
        # The provider's keys are fetched through discovery (remote_jwks): until they are in, a sign-in would
        # get "Sign-in failed" (keys_stale). Every worker's VM takes the shared set on its next tick.
        if not wait_for(lambda: "wasmcustom.gatehouse.jwks_fresh.oidc: 1" in envoy.admin("/stats?filter=jwks_fresh"),
                        timeout=30):
            print(f"demo: Gatehouse did not get the provider's keys; Envoy log: {envoy.log_path}", file=sys.stderr)
            return 1
        time.sleep(2)
        if args.check:
            problems = check(password, viewer_password, idp.port)
            for p in problems:
                print(f"demo: UNEXPECTED: {p}", file=sys.stderr)
            if problems:
                print(f"demo: Envoy log: {envoy.log_path}", file=sys.stderr)
                return 1
            print(f"demo: signed in with Chromium as alice and landed in the Airflow UI as alice; a viewer may "
                  f"not write. Screenshot: {WORK / 'airflow.png'}")
            return 0
        print(f"""
Gatehouse browser demo: Envoy with dist/gatehouse.wasm on {BASE}, in front of Airflow 3.
The OpenID provider (standing in for Auth0) is {idp.issuer}.

  Open {BASE}/ in a browser on this machine (from elsewhere: ssh -L {PORT}:127.0.0.1:{PORT} this-host, and
  -L {idp.port}:127.0.0.1:{idp.port} for the provider) and sign in as
      alice   password {password}   (Airflow admin)
      victor  password {viewer_password}   (Airflow viewer: may read, not write)
  You land in the Airflow UI as that person. Sign out: {BASE}/auth/logout

Airflow itself refuses requests without a token: curl -i http://127.0.0.1:{airflow.port}/api/v2/dags
Envoy's metrics: curl -s http://127.0.0.1:{envoy.admin_port}/stats/prometheus | grep ^gatehouse_

Serving until Ctrl-C.""", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        for peer in (envoy, idp, airflow):
            if peer is not None:
                peer.stop()


if __name__ == "__main__":
    sys.exit(main())
