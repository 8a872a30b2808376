"""Keys and named token fixtures, made with PyJWT + cryptography so Gatehouse is checked against an
implementation it does not share code with."""
import base64
import json
import secrets
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from . import secrets as registry

PLATFORM_ISS = "https://platform.gatehouse.test/"
AUTH0_ISS = "https://tenant.auth0.test/"
AUDIENCE = "gatehouse-dataplane"
ORG, WORKSPACE, DEPLOYMENT = "org-acme", "ws-data", "dep-airflow-1"

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HMAC = ["HS256", "HS384", "HS512"]
HMAC_ENV = {alg: f"GATEHOUSE_TEST_{alg}" for alg in HMAC}

ROLES = {
    "DEPLOYMENT_ADMIN": ["deployment.read", "deployment.operate", "deployment.admin"],
    "WORKSPACE_OPERATOR": ["deployment.read", "deployment.operate"],
    "ORGANIZATION_VIEWER": ["deployment.read"],
}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """One key per algorithm for the platform issuer, one RS256 key for the 'Auth0' issuer."""

    def __init__(self):
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private = {
            "RS256": rsa_key, "RS384": rsa_key, "RS512": rsa_key, "PS256": rsa_key, "PS384": rsa_key,
            "PS512": rsa_key,
            "ES256": ec.generate_private_key(ec.SECP256R1()),
            "ES384": ec.generate_private_key(ec.SECP384R1()),
            "ES512": ec.generate_private_key(ec.SECP521R1()),
            "EdDSA": ed25519.Ed25519PrivateKey.generate(),
        }
        self.hmac = {alg: secrets.token_urlsafe(64) for alg in HMAC}
        self.auth0 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for key in {id(k): k for k in [*self.private.values(), self.auth0, self.other]}.values():
            registry.register_private_key(key)
        for secret in self.hmac.values():
            registry.register(secret)
            registry.register(secret.encode())

    @staticmethod
    def public_jwk(key, alg, kid):
        pub = key.public_key()
        if alg.startswith(("RS", "PS")):
            d = json.loads(RSAAlgorithm.to_jwk(pub))
        elif alg.startswith("ES"):
            d = json.loads(ECAlgorithm.to_jwk(pub))
        else:
            d = json.loads(OKPAlgorithm.to_jwk(pub))
        d.update({"alg": alg, "kid": kid, "use": "sig"})
        return d

    def platform_jwks(self):
        return {"keys": [self.public_jwk(self.private[a], a, f"k-{a.lower()}") for a in ASYMMETRIC]}

    def env(self):
        return {HMAC_ENV[a]: self.hmac[a] for a in HMAC}

    def sign(self, claims, alg="ES256", kid=None, key=None, headers=None):
        kid = kid if kid is not None else f"k-{alg.lower()}"
        if key is None:
            key = self.hmac[alg] if alg in HMAC else self.private[alg]
        h = dict(headers or {})
        if kid:
            h["kid"] = kid
        return registry.register_token(jwt.encode(claims, key, algorithm=alg, headers=h))


def dat_claims(scope="deployment", role="DEPLOYMENT_ADMIN", org=ORG, workspace=WORKSPACE, deployment=DEPLOYMENT,
               ttl=600, **extra):
    now = int(time.time())
    c = {"iss": PLATFORM_ISS, "aud": AUDIENCE, "sub": f"dat-{scope}-{role.lower()}", "iat": now, "nbf": now,
         "exp": now + ttl, "jti": secrets.token_hex(8), "scope_type": scope, "organization_id": org, "role": role}
    if scope in ("workspace", "deployment"):
        c["workspace_id"] = workspace
    if scope == "deployment":
        c["deployment_id"] = deployment
    c.update(extra)
    return c


def plugin_config(keys, **overrides):
    cfg = {
        "dataplane": {"organization_id": ORG, "workspace_id": WORKSPACE, "deployment_id": DEPLOYMENT},
        "realm": "airflow",
        "roles": ROLES,
        "issuers": [
            {
                "name": "platform",
                "issuer": PLATFORM_ISS,
                "audiences": [AUDIENCE],
                "kind": "direct_access",
                "jwks": keys.platform_jwks(),
                "hmac_keys": [{"kid": f"k-{a.lower()}", "alg": a, "secret_env": HMAC_ENV[a]} for a in HMAC],
                "revoked_token_ids": ["revoked-jti-1"],
                "subject_not_before": {"dat-fired-user": int(time.time()) - 60},
            },
            {
                "name": "auth0",
                "issuer": AUTH0_ISS,
                "audiences": ["https://api.gatehouse.test"],
                "kind": "access_token",
                "jwks": {"keys": [Keys.public_jwk(keys.auth0, "RS256", "auth0-1")]},
                "permissions_claim": "permissions",
                "role_claim": "https://gatehouse.test/roles",
            },
        ],
        "routes": [
            {"name": "health", "class": "public", "path": {"exact": "/api/v2/monitor/health"}, "require": "public"},
            {"name": "version", "class": "public", "path": {"exact": "/api/v2/version"}, "require": "public"},
            {"name": "admin", "class": "api", "path": {"prefix": "/api/v2/config"}, "require": "bearer",
             "permissions": ["deployment.admin"]},
            {"name": "dag-runs-write", "class": "api", "path": {"regex": "/api/v2/dags/[^/]+/dagRuns"},
             "methods": ["POST", "PATCH", "DELETE"], "require": "bearer", "permissions": ["deployment.operate"]},
            {"name": "api", "class": "api", "path": {"prefix": "/api/v2"}, "require": "bearer",
             "permissions": ["deployment.read"]},
            {"name": "ui", "class": "ui", "path": {"prefix": "/ui"}, "require": "session", "response": "text"},
            {"name": "either", "class": "api", "path": {"prefix": "/either"}, "require": "bearer_or_session"},
            {"name": "static", "class": "public", "hosts": ["static.gatehouse.test"], "path": {"prefix": "/"},
             "methods": ["GET", "HEAD"], "require": "public"},
        ],
    }
    cfg.update(overrides)
    return cfg
