"""Bootstraps and credentials for bench/e2e.py.

Every bootstrap starts from the test harness's builder (`harness.envoy.bootstrap`, the same Gatehouse filter
block the real-Envoy suites use) and swaps the HTTP filter chain for the scenario: none, Gatehouse, Envoy's
native `jwt_authn`, or Envoy's native `oauth2`. Tokens come from the harness's PyJWT fixtures; Gatehouse
session cookies are sealed with the harness's independent implementation of the format; the oauth2 filter's
cookies are computed here from Envoy's own source (see `oauth2_cookies`)."""
import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "wasm-tests"))

from harness.cookies import b64, seal  # noqa: E402
from harness.envoy import bootstrap, cluster  # noqa: E402
from harness.tokens import (AUDIENCE, DEPLOYMENT, HMAC, PLATFORM_ISS, Keys, dat_claims,  # noqa: E402
                            plugin_config)

ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}

# Paths served by each configuration (all reach the upstream cluster through the router).
PUBLIC_PATH = "/api/v2/monitor/health"   # harness plugin_config: route "health", require public
BEARER_PATH = "/api/v2/dags"             # route "api", require bearer + deployment.read
SESSION_PATH = "/ui/dags"                # route "ui", require session
UPSTREAM_MARK = "x-bench-upstream"       # set by the upstream's direct_response: proves the 200 came from it

BENCH_ALGS = ["RS256", "ES256", "EdDSA", "HS512"]
TOKEN_TTL = 6 * 3600                     # long enough for a full run with 1,000,000 memory requests

SESSION_COOKIE = "__Host-gatehouse"
AIRFLOW_SECRET_ENV = "BENCH_AIRFLOW_SECRET"
COOKIE_KEYS_ENV = "BENCH_COOKIE_KEYS"
CLIENT_SECRET_ENV = "BENCH_CLIENT_SECRET"

OAUTH2_COOKIE_DOMAIN = "bench.gatehouse.test"


def hcm_of(cfg):
    return cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def _plain(listen_port, admin_port, upstream_port):
    """The harness bootstrap with the Gatehouse filter removed (router only)."""
    cfg = bootstrap(listen_port, admin_port, upstream_port, {})
    hcm_of(cfg)["http_filters"] = [copy.deepcopy(ROUTER)]
    return cfg


def upstream_bootstrap(listen_port, admin_port):
    """The benchmark upstream: a separate Envoy whose only route is a direct_response 200 ("ok")."""
    cfg = _plain(listen_port, admin_port, 1)
    cfg["static_resources"]["clusters"] = []
    hcm = hcm_of(cfg)
    hcm["stat_prefix"] = "upstream"
    hcm["route_config"] = {
        "response_headers_to_add": [
            {"header": {"key": UPSTREAM_MARK, "value": "1"}},
            # what the upstream received, echoed for the pre-flight check (Envoy command operators)
            {"header": {"key": "x-bench-saw-authorization", "value": "%REQ(authorization):16%"}},
            {"header": {"key": "x-bench-saw-subject", "value": "%REQ(x-gatehouse-subject)%"}},
            {"header": {"key": "x-bench-saw-jwt-sub", "value": "%REQ(x-jwt-sub)%"}},
        ],
        "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]}],
    }
    return cfg


def no_filter_bootstrap(listen_port, admin_port, upstream_port):
    return _plain(listen_port, admin_port, upstream_port)


def direct(cfg):
    """The same bootstrap answering from its own route (a direct_response 200 that echoes what an upstream
    would have received) instead of proxying to an upstream: the CPU measured is then the tested Envoy's
    alone, filters plus router, with no upstream connection to pay for."""
    hcm = hcm_of(cfg)
    hcm["route_config"] = copy.deepcopy(hcm_of(upstream_bootstrap(1, 1))["route_config"])
    return cfg


def floor_wasm_bootstrap(listen_port, admin_port, upstream_port):
    """The empty proxy-wasm filter told to read the request headers once: the floor of any filter that decides."""
    cfg = noop_wasm_bootstrap(listen_port, admin_port, upstream_port)
    wasm = hcm_of(cfg)["http_filters"][0]["typed_config"]["config"]
    wasm["vm_config"]["vm_id"] = "floor"
    wasm["configuration"] = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "read-headers"}
    return cfg


NOOP_WASM = Path(__file__).resolve().parent / "noop-filter/target/wasm32-wasip1/release/noop_filter.wasm"


def noop_wasm_bootstrap(listen_port, admin_port, upstream_port):
    """The harness bootstrap with an empty proxy-wasm filter (bench/noop-filter) in Gatehouse's place."""
    cfg = bootstrap(listen_port, admin_port, upstream_port, {})
    wasm = hcm_of(cfg)["http_filters"][0]["typed_config"]["config"]
    wasm["vm_config"]["code"] = {"local": {"filename": str(NOOP_WASM)}}
    wasm["vm_config"]["vm_id"] = "noop"
    wasm["name"] = wasm["root_id"] = "noop"
    return cfg


class Material:
    """Keys, tokens, cookies and secrets shared by every configuration of one run."""

    def __init__(self):
        self.keys = Keys()
        self.airflow_secret = secrets.token_urlsafe(48)
        self.cookie_key = os.urandom(32)
        self.oauth2_hmac_secret = secrets.token_urlsafe(32)
        self.oauth2_token_secret = secrets.token_urlsafe(16)

    # --- bearer tokens (Direct Access Tokens from the platform issuer) ---------------------------------------
    def token(self, alg):
        return self.keys.sign(dat_claims(ttl=TOKEN_TTL), alg=alg)

    def tokens(self, alg, n):
        return [self.token(alg) for _ in range(n)]

    # --- Gatehouse ------------------------------------------------------------------------------------------
    def gatehouse_env(self):
        return {**self.keys.env(),
                COOKIE_KEYS_ENV: f"k1:{b64(self.cookie_key)}",
                CLIENT_SECRET_ENV: "bench-client-secret",
                AIRFLOW_SECRET_ENV: self.airflow_secret}

    def gatehouse_plugin_config(self, idp_port, session=False, cache_off=False):
        """The harness's realistic config (two issuers, every algorithm, eight routes): what the bearer rows
        run, verification only, like jwt_authn. With `session`, plus a session block and the Airflow token mint
        as in wasm-tests/test_session_cookies.py (Direct Access Tokens then get a minted token too)."""
        cfg = plugin_config(self.keys)
        if cache_off:
            cfg["cache"] = {"verified_tokens": 0, "sessions": 0}
        if not session:
            return cfg
        cfg["session"] = {
            "keys_env": COOKIE_KEYS_ENV,
            "redirect_uri": "http://127.0.0.1/oauth2/callback",
            "provider": {
                "issuer": f"http://127.0.0.1:{idp_port}/", "client_id": "gatehouse",
                "client_secret_env": CLIENT_SECRET_ENV,
                "authorization_endpoint": f"http://127.0.0.1:{idp_port}/auth",
                "token_endpoint": {"cluster": "idp", "authority": "127.0.0.1", "path": "/token", "timeout_ms": 1000},
                "jwks": {"keys": [self.keys.public_jwk(self.keys.auth0, "RS256", "idp")]},
                "roles_claim": "roles",
            },
        }
        cfg["upstream_token"] = {"signing": {"alg": "HS512", "secret_env": AIRFLOW_SECRET_ENV},
                                 "roles": {"admin": "ADMIN", "viewer": "VIEWER"},
                                 "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN", "WORKSPACE_OPERATOR": "OP",
                                                         "ORGANIZATION_VIEWER": "VIEWER"}}
        return cfg

    def gatehouse_bootstrap(self, listen_port, admin_port, upstream_port, idp_port, session=False, cache_off=False):
        env = self.gatehouse_env()
        cfg = self.gatehouse_plugin_config(idp_port, session=session, cache_off=cache_off)
        return bootstrap(listen_port, admin_port, upstream_port, cfg, env.keys(), clusters={"idp": idp_port})

    def session_cookie(self, sub="carol@example.test", roles=("admin",)):
        now = int(time.time())
        s = {"sub": sub, "roles": list(roles), "iat": now, "seen": now, "abs": now + 4 * 3600}
        return f"{SESSION_COOKIE}={seal('k1', self.cookie_key, SESSION_COOKIE, DEPLOYMENT, s)}"

    # --- Envoy jwt_authn ------------------------------------------------------------------------------------
    def native_jwks(self):
        """The same key set Gatehouse trusts for the platform issuer: every asymmetric key plus the HMAC
        secrets as `oct` keys (Gatehouse's `encoding: raw`: the secret's bytes are the key)."""
        jwks = self.keys.platform_jwks()
        for alg in HMAC:
            jwks["keys"].append({"kty": "oct", "kid": f"k-{alg.lower()}", "alg": alg,
                                 "k": b64(self.keys.hmac[alg].encode())})
        return jwks

    def jwt_authn_bootstrap(self, listen_port, admin_port, upstream_port, cache=True):
        provider = {
            "issuer": PLATFORM_ISS,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": json.dumps(self.native_jwks())},
            "forward": False,  # like Gatehouse: the credential does not go upstream
            "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"},
                                 {"header_name": "x-jwt-role", "claim_name": "role"}],
        }
        if cache:
            provider["jwt_cache_config"] = {"jwt_cache_size": 1000}
        jwt_authn = {
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {"platform": provider},
                "rules": [{"match": {"prefix": "/api/v2"}, "requires": {"provider_name": "platform"}}],
            },
        }
        cfg = _plain(listen_port, admin_port, upstream_port)
        hcm_of(cfg)["http_filters"] = [jwt_authn, copy.deepcopy(ROUTER)]
        return cfg

    # --- Envoy oauth2 ---------------------------------------------------------------------------------------
    def oauth2_bootstrap(self, listen_port, admin_port, upstream_port, idp_port):
        oauth2 = {
            "name": "envoy.filters.http.oauth2",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2",
                "config": {
                    "token_endpoint": {"cluster": "idp", "uri": f"http://127.0.0.1:{idp_port}/token", "timeout": "3s"},
                    "authorization_endpoint": f"http://127.0.0.1:{idp_port}/auth",
                    "redirect_uri": "http://%REQ(:authority)%/oauth2/callback",
                    "redirect_path_matcher": {"path": {"exact": "/oauth2/callback"}},
                    "signout_path": {"path": {"exact": "/oauth2/sign_out"}},
                    "credentials": {
                        "client_id": "bench",
                        "token_secret": {"name": "oauth2-token"},
                        "hmac_secret": {"name": "oauth2-hmac"},
                        "cookie_domain": OAUTH2_COOKIE_DOMAIN,
                    },
                    "auth_scopes": ["openid", "profile", "email"],
                    # like Gatehouse's session mode: the upstream receives a bearer token
                    "forward_bearer_token": True,
                },
            },
        }
        cfg = _plain(listen_port, admin_port, upstream_port)
        hcm_of(cfg)["http_filters"] = [oauth2, copy.deepcopy(ROUTER)]
        sr = cfg["static_resources"]
        sr["clusters"].append(cluster("idp", idp_port))
        sr["secrets"] = [
            {"name": "oauth2-token", "generic_secret": {"secret": {"inline_string": self.oauth2_token_secret}}},
            {"name": "oauth2-hmac", "generic_secret": {"secret": {"inline_string": self.oauth2_hmac_secret}}},
        ]
        return cfg

    def oauth2_cookies(self):
        """A signed-in session as Envoy 1.40's oauth2 filter accepts it (source/extensions/filters/http/oauth2/
        filter.cc):

        * token cookies (BearerToken, IdToken, RefreshToken) are encrypted by default
          (`disable_token_encryption` false): AES-256-CBC, key = SHA-256(hmac secret), random 16-byte IV,
          PKCS#7, cookie value = base64url(IV || ciphertext) without padding; the filter decrypts them first
          and rewrites the Cookie header with the plaintext;
        * OauthHMAC = base64 (standard alphabet, padded: absl::Base64Escape) of HMAC-SHA256(hmac secret,
          cookie_domain (or Host) "\\n" OauthExpires "\\n" access token "\\n" id token "\\n" refresh token),
          over the *decrypted* tokens (a base64 of the hex digest is accepted too);
        * OauthExpires = unix seconds, must be in the future.
        """
        secret = self.oauth2_hmac_secret.encode()
        expires = str(int(time.time()) + 4 * 3600)
        access = self.keys.sign({"iss": "https://idp.bench.test/", "sub": "carol@example.test",
                                 "aud": "bench", "exp": int(expires), "scope": "openid profile email"},
                                alg="RS256", key=self.keys.auth0, kid="idp")
        id_token = self.keys.sign({"iss": "https://idp.bench.test/", "sub": "carol@example.test",
                                   "aud": "bench", "exp": int(expires), "email": "carol@example.test"},
                                  alg="RS256", key=self.keys.auth0, kid="idp")
        refresh = secrets.token_urlsafe(32)
        payload = "\n".join([OAUTH2_COOKIE_DOMAIN, expires, access, id_token, refresh]).encode()
        mac = base64.b64encode(hmac.new(secret, payload, hashlib.sha256).digest()).decode()
        return "; ".join([
            f"OauthHMAC={mac}",
            f"OauthExpires={expires}",
            f"BearerToken={oauth2_encrypt(access, secret)}",
            f"IdToken={oauth2_encrypt(id_token, secret)}",
            f"RefreshToken={oauth2_encrypt(refresh, secret)}",
        ])


def oauth2_encrypt(plaintext, secret):
    key = hashlib.sha256(secret).digest()
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return b64(iv + enc.update(data) + enc.finalize())
