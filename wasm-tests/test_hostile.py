"""Hostile requests through the real Envoy, grouped by the rules they test: RFC 8725 (JWT best current
practice), RFC 9700 and OIDC Core (the browser sign-in), sealed-cookie tampering, header smuggling, path
confusion, and oversized or deeply nested input.

Every refusal is checked the same way (Target.refuses): the exact status, nothing reached the upstream, the
VM still serves a valid request afterwards, it did not trap, and no secret of the case is in Envoy's log."""
import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import time
import urllib.parse

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from harness import secrets as registry
from harness.cookies import b64 as cookie_b64
from harness.cookies import open_sealed, seal
from harness.envoy import Envoy, free_port, validate
from harness.faulty import FaultyServer
from harness.hostile import (ALG_NONE_SPELLINGS, IDENTITY_FORGERIES, KID_INJECTIONS, OPEN_REDIRECTS, LogWindow,
                             assert_clean_log, b64, browser_resolve, forge, raw_request)
from harness.peers import Idp
from harness.provider_login import ProviderSession, own_authorize_url, pkce_pair, redeem
from harness.tokens import AUDIENCE, AUTH0_ISS, DEPLOYMENT, PLATFORM_ISS, Keys, dat_claims, plugin_config
from harness.upstream import Upstream

INVALID = 'Bearer realm="airflow", error="invalid_token"'
INSUFFICIENT = 'Bearer realm="airflow", error="insufficient_scope"'
API = "/api/v2/dags"
JSON = {"accept": "application/json"}
NAVIGATE = {"accept": "text/html", "sec-fetch-mode": "navigate"}
COOKIE = "__Host-gatehouse"
ROLES_CLAIM = "https://gatehouse.test/roles"


# The reason a refusal must log when Envoy itself answers before the filter runs: no Gatehouse line at all.
BY_ENVOY = "by-envoy"


class Target:
    """An Envoy under attack, the upstream behind it, and a valid request that must keep working."""

    def __init__(self, envoy, upstream, healthy):
        self.envoy = envoy
        self.upstream = upstream
        self._healthy = healthy

    def refuses(self, status, send, secrets=(), challenge=None, reason=None):
        """`reason`: the code the filter's one log line for this request must carry (README, "How it decides")."""
        window = LogWindow(self.envoy)
        r = send(self.envoy)
        assert r.status == status, f"got {r.status}: {r.body[:300]!r}"
        if challenge is not None:
            assert r.header("www-authenticate") == challenge
        reached = self.upstream.take()
        assert reached == [], f"the upstream received {[x.path for x in reached]}"
        self.still_serves()
        assert_clean_log(window, secrets)
        logged = re.findall(r"gatehouse: (?:deny|reply) status=(\d+) reason=(\w+)", window.text())
        if reason == BY_ENVOY:
            assert logged == [], f"the filter answered: {logged}"
        elif isinstance(reason, tuple):
            # Either code is right: which one depends on where random bytes fall (e.g. a missing chunk
            # leaves valid or invalid base64).
            assert len(logged) >= 1 and logged[0][0] == str(status) and logged[0][1] in reason, logged
        elif reason is not None:
            assert logged[:1] == [(str(status), reason)], logged
        return r

    def still_serves(self):
        # Two requests on fresh connections, so both workers' VMs are likely asked.
        for _ in range(2):
            self._healthy(self.envoy, self.upstream)


def bearer_healthy(token):
    def check(envoy, upstream):
        r = envoy.get(API, token)
        assert r.status == 200, f"the VM stopped serving: {r.status} {r.body[:200]!r}"
        assert [x.path for x in upstream.take()] == [API]
    return check


@pytest.fixture(scope="module")
def bearer(envoy, upstream, keys):
    return Target(envoy, upstream, bearer_healthy(keys.sign(dat_claims(ttl=3600), "ES256")))


@pytest.fixture(scope="module")
def big(keys, upstream):
    """Limits raised as far as they go (tokens up to 64 KiB, 2 MiB of headers), so the filter's own bounds and
    its JSON parser meet the input rather than Envoy's header limit."""
    e = Envoy(plugin_config(keys, max_token_bytes=65536), upstream.port, env=keys.env(),
              hcm_extra={"max_request_headers_kb": 2048})
    yield Target(e, upstream, bearer_healthy(keys.sign(dat_claims(ttl=3600), "ES256")))
    e.stop()


@pytest.fixture(scope="module")
def attacker():
    """Keys the attacker holds, and a self-signed certificate for one of them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform.gatehouse.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return {"rsa": key, "ec": ec.generate_private_key(ec.SECP256R1()), "secret": secrets.token_bytes(64),
            "cert": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()}


def signed(keys, header, claims=None, alg=None):
    """`claims` (valid ones by default) under `header`, signed with the configured key of `alg` (default: the
    header's own `alg`), whatever else the header says."""
    alg = alg or header["alg"]
    key = keys.hmac.get(alg) or keys.private[alg]
    return forge(header, dat_claims() if claims is None else claims, key, sign_as=alg)


def unsigned(header):
    return forge({**header, "typ": "JWT"}, dat_claims(), sig="")


def es256(keys, claims, **header):
    return signed(keys, {"alg": "ES256", "kid": "k-es256", "typ": "JWT", **header}, claims)


def replace_claim(member):
    """Valid claims with one member replaced by `member`, written verbatim (numbers JSON cannot round-trip)."""
    name = member.split(":", 1)[0].strip('"')
    c = {k: v for k, v in dat_claims().items() if k != name}
    return json.dumps(c)[:-1] + "," + member + "}"


def with_member(claims, key_json, value):
    """The claims' JSON with one more member, written verbatim: a duplicate name no dict can hold."""
    return json.dumps(claims)[:-1] + f",{key_json}:{json.dumps(value)}}}"


def another_tokens_signature(keys):
    admin = dat_claims(role="DEPLOYMENT_ADMIN")
    viewer = keys.sign(dat_claims(role="ORGANIZATION_VIEWER"), "ES256")
    return forge({"alg": "ES256", "kid": "k-es256"}, admin, sig=viewer.split(".")[2])


# =========================================================================================================
# RFC 8725 (JWT BCP): algorithm, key and claim handling
# =========================================================================================================

# (token, the reason the filter logs)
ALG_NONE = {
    **{f"alg-{s}": ((lambda k, s=s: unsigned({"alg": s})), "malformed") for s in ALG_NONE_SPELLINGS},
    "none-with-a-trusted-kid": (lambda k: unsigned({"alg": "none", "kid": "k-hs256"}), "malformed"),
    # An unsecured header over a signature that really verifies under the HS256 key: still `none`.
    "none-with-a-valid-hs256-signature": (lambda k: signed(k, {"alg": "none", "kid": "k-hs256"}, alg="HS256"),
                                          "unsupported_alg"),
    "none-without-the-trailing-dot": (lambda k: unsigned({"alg": "none"}).rstrip("."), "malformed"),
    "es256-with-an-empty-signature": (lambda k: unsigned({"alg": "ES256", "kid": "k-es256"}), "malformed"),
    "es256-with-another-tokens-signature": (another_tokens_signature, "bad_signature"),
    "alg-missing": (lambda k: signed(k, {"kid": "k-hs256"}, alg="HS256"), "missing_claim"),
    "alg-empty": (lambda k: signed(k, {"alg": "", "kid": "k-hs256"}, alg="HS256"), "unsupported_alg"),
    "alg-null": (lambda k: signed(k, {"alg": None, "kid": "k-hs256"}, alg="HS256"), "claim_type"),
    "alg-list": (lambda k: signed(k, {"alg": ["HS256"], "kid": "k-hs256"}, alg="HS256"), "claim_type"),
    # RFC 7515 §4.1.1: `alg` is case-sensitive, so "es256" is not ES256 even with a valid ES256 signature.
    "alg-lowercase-es256": (lambda k: signed(k, {"alg": "es256", "kid": "k-es256"}, alg="ES256"), "unsupported_alg"),
    "alg-with-a-trailing-space": (lambda k: signed(k, {"alg": "ES256 ", "kid": "k-es256"}, alg="ES256"),
                                  "unsupported_alg"),
}


def public_forms(keys):
    """Public key material an attacker can read (the JWKS in the configuration, a published PEM), in the
    byte forms a confused verifier might feed to HMAC (RFC 8725 §2.1, §3.1)."""
    rsa_pub = keys.private["RS256"].public_key()
    ec_pub = keys.private["ES256"].public_key()
    jwk = Keys.public_jwk(keys.private["RS256"], "RS256", "k-rs256")
    pem = serialization.Encoding.PEM
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return {
        "rsa-spki-pem": rsa_pub.public_bytes(pem, spki),
        "rsa-pkcs1-pem": rsa_pub.public_bytes(pem, serialization.PublicFormat.PKCS1),
        "rsa-der": rsa_pub.public_bytes(serialization.Encoding.DER, spki),
        "rsa-jwk-json": json.dumps(jwk).encode(),
        "rsa-jwk-json-compact": json.dumps(jwk, separators=(",", ":")).encode(),
        "rsa-modulus": rsa_pub.public_numbers().n.to_bytes(256, "big"),
        "ec-spki-pem": ec_pub.public_bytes(pem, spki),
        "ec-jwk-json": json.dumps(Keys.public_jwk(keys.private["ES256"], "ES256", "k-es256")).encode(),
        "ed25519-raw": keys.private["EdDSA"].public_key().public_bytes(serialization.Encoding.Raw,
                                                                       serialization.PublicFormat.Raw),
    }


# (kid in the header, HMAC algorithm, public form used as the secret, reason)
ALG_CONFUSION = {
    "hs256-rsa-spki-pem-under-the-rs256-kid": ("k-rs256", "HS256", "rsa-spki-pem", "alg_mismatch"),
    "hs256-rsa-pkcs1-pem-under-the-rs256-kid": ("k-rs256", "HS256", "rsa-pkcs1-pem", "alg_mismatch"),
    "hs256-rsa-der-under-the-rs256-kid": ("k-rs256", "HS256", "rsa-der", "alg_mismatch"),
    "hs256-rsa-jwk-json-under-the-rs256-kid": ("k-rs256", "HS256", "rsa-jwk-json", "alg_mismatch"),
    "hs256-rsa-compact-jwk-json-under-the-rs256-kid": ("k-rs256", "HS256", "rsa-jwk-json-compact", "alg_mismatch"),
    "hs256-rsa-modulus-under-the-rs256-kid": ("k-rs256", "HS256", "rsa-modulus", "alg_mismatch"),
    "hs256-rsa-spki-pem-without-kid": (None, "HS256", "rsa-spki-pem", "unknown_kid"),
    "hs256-rsa-spki-pem-under-the-hs256-kid": ("k-hs256", "HS256", "rsa-spki-pem", "bad_signature"),
    "hs512-rsa-spki-pem-under-the-rs512-kid": ("k-rs512", "HS512", "rsa-spki-pem", "alg_mismatch"),
    "hs384-rsa-spki-pem-under-the-ps256-kid": ("k-ps256", "HS384", "rsa-spki-pem", "alg_mismatch"),
    "hs256-ec-spki-pem-under-the-es256-kid": ("k-es256", "HS256", "ec-spki-pem", "alg_mismatch"),
    "hs256-ec-jwk-json-under-the-es256-kid": ("k-es256", "HS256", "ec-jwk-json", "alg_mismatch"),
    "hs256-ed25519-raw-under-the-eddsa-kid": ("k-eddsa", "HS256", "ed25519-raw", "alg_mismatch"),
}

# (kid in the header, alg in the header, the configured key really used (by its algorithm), reason)
KEY_ALG_MISMATCH = {
    "es256-kid-with-rs256": ("k-es256", "RS256", "RS256", "alg_mismatch"),
    "rs256-kid-with-ps256": ("k-rs256", "PS256", "RS256", "alg_mismatch"),
    "rs256-kid-with-rs512": ("k-rs256", "RS512", "RS256", "alg_mismatch"),
    "ps256-kid-with-rs256": ("k-ps256", "RS256", "RS256", "alg_mismatch"),
    "rs384-kid-with-rs256": ("k-rs384", "RS256", "RS256", "alg_mismatch"),
    "es384-kid-with-es256": ("k-es384", "ES256", "ES256", "alg_mismatch"),
    "es256-kid-with-es384": ("k-es256", "ES384", "ES384", "alg_mismatch"),
    "eddsa-kid-with-es256": ("k-eddsa", "ES256", "ES256", "alg_mismatch"),
    "es256-kid-with-eddsa": ("k-es256", "EdDSA", "EdDSA", "alg_mismatch"),
    "hs256-kid-with-hs512": ("k-hs256", "HS512", "HS256", "alg_mismatch"),
    "hs512-kid-with-hs256": ("k-hs512", "HS256", "HS512", "alg_mismatch"),
    "hs256-kid-with-hs384": ("k-hs256", "HS384", "HS256", "alg_mismatch"),
    "rs256-kid-with-ps384": ("k-rs256", "PS384", "RS256", "alg_mismatch"),
    "rs256-kid-with-ps512": ("k-rs256", "PS512", "RS256", "alg_mismatch"),
    "ps384-kid-with-ps512": ("k-ps384", "PS512", "RS256", "alg_mismatch"),
    "es512-kid-with-es384": ("k-es512", "ES384", "ES384", "alg_mismatch"),
    "es256-kid-with-unsupported-es256k": ("k-es256", "ES256K", "secp256k1", "unsupported_alg"),
}

# Signed with the real HS256 secret: only the exact kid "k-hs256" names it.
KID_WITH_THE_REAL_SECRET = {
    "nul-after-a-trusted-kid": "k-hs256\x00",
    "nul-then-traversal": "k-hs256\x00/../../k-hs512",
    "trusted-kid-in-upper-case": "K-HS256",
    "trusted-kid-with-a-leading-space": " k-hs256",
    "trusted-kid-with-a-trailing-newline": "k-hs256\n",
    "crlf-header-injection": "k-hs256\r\nx-gatehouse-subject: root",
    "percent-encoded-trusted-kid": "%6B-hs256",
    "cyrillic-homoglyph": "\u043a-hs256",
    "kid-as-number": 256,
    "kid-as-list": ["k-hs256"],
    "kid-as-object": {"kid": "k-hs256"},
    "kid-null": None,
}

EVIL_JWKS = "https://evil.example/jwks.json"

# (header from the attacker's material, the attacker key that signs)
EMBEDDED_KEYS = {
    "jku-with-an-attacker-kid": (lambda a: {"alg": "RS256", "kid": "attacker-1", "jku": EVIL_JWKS}, "rsa"),
    "jku-with-a-trusted-kid": (lambda a: {"alg": "RS256", "kid": "k-rs256", "jku": EVIL_JWKS}, "rsa"),
    "jku-naming-the-real-issuer": (lambda a: {"alg": "RS256", "kid": "k-rs256",
                                              "jku": PLATFORM_ISS + ".well-known/jwks.json"}, "rsa"),
    "x5u-with-a-trusted-kid": (lambda a: {"alg": "RS256", "kid": "k-rs256",
                                          "x5u": "https://evil.example/cert.pem"}, "rsa"),
    "x5c-self-signed-with-a-trusted-kid": (lambda a: {"alg": "RS256", "kid": "k-rs256", "x5c": [a["cert"]]}, "rsa"),
    "x5c-self-signed-without-kid": (lambda a: {"alg": "RS256", "x5c": [a["cert"]]}, "rsa"),
    "embedded-jwk-without-kid": (lambda a: {"alg": "RS256", "jwk": Keys.public_jwk(a["rsa"], "RS256", "x")}, "rsa"),
    "embedded-jwk-with-a-trusted-kid": (lambda a: {"alg": "RS256", "kid": "k-rs256",
                                                   "jwk": Keys.public_jwk(a["rsa"], "RS256", "k-rs256")}, "rsa"),
    "embedded-ec-jwk-with-the-es256-kid": (lambda a: {"alg": "ES256", "kid": "k-es256",
                                                      "jwk": Keys.public_jwk(a["ec"], "ES256", "k-es256")}, "ec"),
    "embedded-oct-jwk-for-hs256": (lambda a: {"alg": "HS256", "kid": "k-hs256",
                                              "jwk": {"kty": "oct", "k": b64(a["secret"])}}, "secret"),
    "jku-and-jwk-together": (lambda a: {"alg": "RS256", "kid": "k-rs256", "jku": EVIL_JWKS,
                                        "jwk": Keys.public_jwk(a["rsa"], "RS256", "k-rs256")}, "rsa"),
}

# RFC 7515 §4.1.11: extensions listed in `crit` must be understood or the JWS rejected; Gatehouse knows none.
CRIT = {
    "crit-exp": {"crit": ["exp"]},
    "crit-empty-list": {"crit": []},
    "crit-b64-false": {"crit": ["b64"], "b64": False},
    "crit-unknown-extension": {"crit": ["https://evil.example/ext"], "https://evil.example/ext": True},
    "crit-as-a-string": {"crit": "exp"},
    "crit-null": {"crit": None},
}

DUPLICATE_HEADERS = {
    "alg-es256-then-none": '{"alg":"ES256","kid":"k-es256","alg":"none"}',
    "alg-none-then-es256": '{"alg":"none","alg":"ES256","kid":"k-es256"}',
    "kid-rs256-then-es256": '{"alg":"ES256","kid":"k-rs256","kid":"k-es256"}',
    "identical-typ-twice": '{"alg":"ES256","kid":"k-es256","typ":"JWT","typ":"JWT"}',
    "alg-through-a-unicode-escape": '{"alg":"ES256","kid":"k-es256","\\u0061lg":"none"}',
}

VIEWER, ADMIN = "ORGANIZATION_VIEWER", "DEPLOYMENT_ADMIN"

DUPLICATE_CLAIMS = {
    "role-viewer-then-admin": lambda: with_member(dat_claims(role=VIEWER), '"role"', ADMIN),
    "role-through-a-unicode-escape": lambda: with_member(dat_claims(role=VIEWER), '"r\\u006fle"', ADMIN),
    "sub-twice": lambda: with_member(dat_claims(), '"sub"', "admin"),
    "iss-platform-then-auth0": lambda: with_member(dat_claims(), '"iss"', AUTH0_ISS),
    "aud-twice": lambda: with_member(dat_claims(), '"aud"', "someone-else"),
    "exp-valid-then-expired": lambda: with_member(dat_claims(), '"exp"', int(time.time()) - 3600),
    "exp-expired-then-valid": lambda: with_member(dat_claims(ttl=-3600), '"exp"', int(time.time()) + 3600),
    "deployment-ours-then-other": lambda: with_member(dat_claims(), '"deployment_id"', "dep-other"),
    "deployment-other-then-ours": lambda: with_member(dat_claims(deployment="dep-other"), '"deployment_id"',
                                                      DEPLOYMENT),
    "identical-jti-twice": lambda: (lambda c: with_member(c, '"jti"', c["jti"]))(dat_claims()),
}

# RFC 7519 §4.1: registered claims have fixed types; a wrong type is an error, never "absent".
WRONG_TYPES = {
    "exp-as-a-word": ({"exp": "never"}, "claim_type"),
    "exp-as-a-numeric-string": ({"exp": str(int(time.time()) + 600)}, "claim_type"),
    "exp-null": ({"exp": None}, "claim_type"),
    "exp-bool": ({"exp": True}, "claim_type"),
    "exp-list": ({"exp": [int(time.time()) + 600]}, "claim_type"),
    "exp-object": ({"exp": {"t": int(time.time()) + 600}}, "claim_type"),
    "exp-negative": ({"exp": -1}, "claim_type"),
    "aud-as-a-number": ({"aud": 12345}, "claim_type"),
    "aud-list-with-a-number": ({"aud": [AUDIENCE, 1]}, "claim_type"),
    "aud-object": ({"aud": {"aud": AUDIENCE}}, "claim_type"),
    "aud-null": ({"aud": None}, "claim_type"),
    "aud-empty-list": ({"aud": []}, "missing_claim"),
    "aud-nested-list": ({"aud": [[AUDIENCE]]}, "claim_type"),
    "iss-as-a-list": ({"iss": [PLATFORM_ISS]}, "claim_type"),
    "iss-object": ({"iss": {"iss": PLATFORM_ISS}}, "claim_type"),
    "iss-null": ({"iss": None}, "claim_type"),
    "sub-as-an-object": ({"sub": {"id": "admin"}}, "claim_type"),
    "sub-as-a-number": ({"sub": 123}, "claim_type"),
    "sub-null": ({"sub": None}, "claim_type"),
    "sub-list": ({"sub": ["admin"]}, "claim_type"),
    "sub-empty": ({"sub": ""}, "claim_type"),
    "sub-with-crlf": ({"sub": "admin\r\nx-gatehouse-role: DEPLOYMENT_ADMIN"}, "claim_type"),
    "nbf-bool": ({"nbf": True}, "claim_type"),
    "nbf-string": ({"nbf": "0"}, "claim_type"),
    "nbf-null": ({"nbf": None}, "claim_type"),
    "iat-string": ({"iat": "now"}, "claim_type"),
    "iat-bool": ({"iat": False}, "claim_type"),
    "jti-as-a-number": ({"jti": 123}, "claim_type"),
    "jti-list": ({"jti": ["revoked-jti-1"]}, "claim_type"),
    "jti-with-a-nul": ({"jti": "x\x00y"}, "claim_type"),
    "scope-type-list": ({"scope_type": ["deployment"]}, "claim_type"),
    "scope-type-number": ({"scope_type": 1}, "claim_type"),
    "scope-type-other-case": ({"scope_type": "Deployment"}, "claim_type"),
    "organization-id-list": ({"organization_id": ["org-acme"]}, "claim_type"),
    "deployment-id-number": ({"deployment_id": 1}, "claim_type"),
    "role-number": ({"role": 1}, "claim_type"),
    "role-object": ({"role": {"r": "DEPLOYMENT_ADMIN"}}, "claim_type"),
    "role-with-a-comma": ({"role": ["DEPLOYMENT_ADMIN,ORGANIZATION_VIEWER"]}, "claim_type"),
    "role-with-a-newline": ({"role": "DEPLOYMENT_ADMIN\nx"}, "claim_type"),
    "role-empty": ({"role": ""}, "claim_type"),
}


def auth0_claims(**over):
    now = int(time.time())
    c = {"iss": AUTH0_ISS, "aud": ["https://api.gatehouse.test"], "sub": "auth0|mallory", "iat": now, "exp": now + 300}
    c.update(over)
    return c


def auth0_token(keys, claims, kid="auth0-1"):
    return keys.sign(claims, "RS256", kid=kid, key=keys.auth0)


DAT_ONLY = {k: v for k, v in dat_claims().items() if k not in ("iss", "aud", "sub", "iat", "nbf", "exp", "jti")}

# (token, path, status, challenge, reason)
TYPE_CONFUSION = {
    # OIDC Core §2: an ID token's audience is the client; it is not an access token for the API.
    "auth0-id-token-as-a-bearer": (lambda k: auth0_token(k, auth0_claims(
        aud="gatehouse-client", azp="gatehouse-client", nonce="n-0S6_WzA2Mj", email="m@example.test")),
        API, 401, INVALID, "aud_mismatch"),
    "platform-token-under-the-auth0-issuer": (
        lambda k: k.sign(dat_claims(iss=AUTH0_ISS, aud="https://api.gatehouse.test"), "RS256"),
        API, 401, INVALID, "unknown_kid"),
    "platform-token-for-the-auth0-audience": (
        lambda k: k.sign(dat_claims(aud="https://api.gatehouse.test"), "ES256"), API, 401, INVALID, "aud_mismatch"),
    "auth0-key-claiming-the-platform-issuer": (lambda k: auth0_token(k, dat_claims()), API, 401, INVALID,
                                               "unknown_kid"),
    "auth0-key-under-a-platform-kid": (lambda k: auth0_token(k, dat_claims(), kid="k-rs256"), API, 401, INVALID,
                                       "bad_signature"),
    "auth0-token-for-the-platform-audience": (
        lambda k: auth0_token(k, auth0_claims(aud=AUDIENCE, permissions=["deployment.read"])),
        API, 401, INVALID, "aud_mismatch"),
    # Valid tokens of one kind carrying the other kind's claims gain nothing from them.
    "auth0-token-carrying-direct-access-claims": (lambda k: auth0_token(k, auth0_claims(**DAT_ONLY)),
                                                  "/api/v2/config", 403, INSUFFICIENT, "insufficient_permissions"),
    "direct-access-token-carrying-a-permissions-claim": (
        lambda k: k.sign(dat_claims(role=VIEWER, permissions=["deployment.admin"]), "ES256"),
        "/api/v2/config", 403, INSUFFICIENT, "insufficient_permissions"),
}


class TestRfc8725JwtBestCurrentPractice:
    def test_control_tokens_forged_by_the_same_helpers_are_accepted(self, bearer, keys):
        # Every refusal below differs from these in the one property under test.
        for token in [es256(keys, dat_claims()), es256(keys, json.dumps(dat_claims())),
                      es256(keys, replace_claim(f'"exp":{int(time.time()) + 600}')),
                      signed(keys, {"alg": "HS256", "kid": "k-hs256"}),
                      signed(keys, {"alg": "RS256", "kid": "k-rs256"}),
                      signed(keys, {"alg": "EdDSA", "kid": "k-eddsa"})]:
            assert bearer.envoy.get(API, token).status == 200
            assert len(bearer.upstream.take()) == 1

    def test_a_verified_token_does_not_vouch_for_its_header_and_payload_under_another_signature(self, bearer, keys):
        # Verifications are cached per VM; the cache is for this exact token, signature included.
        token = es256(keys, dat_claims())
        for _ in range(4):  # both workers' VMs verify, and cache, it
            assert bearer.envoy.get(API, token).status == 200
        assert len(bearer.upstream.take()) == 4
        head, payload, _ = token.split(".")
        other = registry.register_token(f"{head}.{payload}.{another_tokens_signature(keys).split('.')[2]}")
        bearer.refuses(401, lambda e: e.get(API, other), [token, other], INVALID, "bad_signature")

    @pytest.mark.parametrize("make,reason", ALG_NONE.values(), ids=ALG_NONE.keys())
    def test_alg_none_variants_are_refused(self, bearer, keys, make, reason):
        # RFC 8725 §2.1, §3.1: never accept unsecured JWS when a signature is expected.
        token = make(keys)
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    @pytest.mark.parametrize("kid,alg,form,reason", ALG_CONFUSION.values(), ids=ALG_CONFUSION.keys())
    def test_hmac_keyed_with_public_key_material_is_refused(self, bearer, keys, kid, alg, form, reason):
        # RFC 8725 §2.1 (algorithm confusion), §3.1: each key is used with its one algorithm only.
        header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
        token = forge(header, dat_claims(), public_forms(keys)[form])
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    @pytest.mark.parametrize("kid,alg,key,reason", KEY_ALG_MISMATCH.values(), ids=KEY_ALG_MISMATCH.keys())
    def test_a_kid_used_with_another_algorithm_is_refused(self, bearer, keys, kid, alg, key, reason):
        # RFC 8725 §3.1: the key's own algorithm must equal the header's, even when the signature verifies
        # under the algorithm the header names.
        signing_key = (ec.generate_private_key(ec.SECP256K1()) if key == "secp256k1"
                       else keys.hmac.get(key) or keys.private[key])
        token = forge({"alg": alg, "kid": kid, "typ": "JWT"}, dat_claims(), signing_key)
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    @pytest.mark.parametrize("kid,secret", KID_INJECTIONS.values(), ids=KID_INJECTIONS.keys())
    def test_injected_kid_values_are_refused(self, bearer, keys, kid, secret):
        # RFC 8725 §3.10: `kid` is untrusted input; it only names configured keys, never a file or a query.
        token = forge({"alg": "HS256", "kid": kid, "typ": "JWT"}, dat_claims(), secret)
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, "unknown_kid")

    @pytest.mark.parametrize("kid", KID_WITH_THE_REAL_SECRET.values(), ids=KID_WITH_THE_REAL_SECRET.keys())
    def test_a_kid_that_is_almost_a_trusted_one_is_refused_even_with_the_right_secret(self, bearer, keys, kid):
        # RFC 7515 §4.1.4: `kid` is a string compared exactly; no NUL truncation, case folding or decoding.
        token = signed(keys, {"alg": "HS256", "kid": kid, "typ": "JWT"})
        reason = "unknown_kid" if isinstance(kid, str) else "claim_type"
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)
        assert "x-gatehouse-subject: root" not in bearer.envoy.logs(), "no log injection through kid"

    @pytest.mark.parametrize("make,key", EMBEDDED_KEYS.values(), ids=EMBEDDED_KEYS.keys())
    def test_keys_named_or_carried_by_the_token_are_never_used(self, bearer, attacker, make, key):
        # RFC 8725 §3.10 / RFC 7515 §10.3: jku, x5u, x5c and jwk would let the signer choose the key. With a
        # trusted kid the configured key refuses the attacker's signature; without, no key is chosen.
        header = make(attacker)
        token = forge(header, dat_claims(), attacker[key])
        reason = "bad_signature" if header.get("kid", "").startswith("k-") else "unknown_kid"
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    @pytest.mark.parametrize("extra", CRIT.values(), ids=CRIT.keys())
    def test_any_crit_header_is_refused(self, bearer, keys, extra):
        token = es256(keys, dat_claims(), **extra)
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, "unsupported_crit")

    @pytest.mark.parametrize("header", DUPLICATE_HEADERS.values(), ids=DUPLICATE_HEADERS.keys())
    def test_duplicate_members_in_the_header_are_refused(self, bearer, keys, header):
        # RFC 7515 §5.2 lets parsers keep either duplicate; two parsers disagreeing is the attack (RFC 8725 §3.7
        # on parsing differentials), so duplicates are refused outright.
        token = signed(keys, header, alg="ES256")
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, "duplicate_member")

    @pytest.mark.parametrize("payload", DUPLICATE_CLAIMS.values(), ids=DUPLICATE_CLAIMS.keys())
    def test_duplicate_members_in_the_payload_are_refused(self, bearer, keys, payload):
        token = es256(keys, payload())
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, "duplicate_member")

    @pytest.mark.parametrize("override,reason", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
    def test_claims_of_the_wrong_json_type_are_refused(self, bearer, keys, override, reason):
        # RFC 7519 §4.1, §2 (NumericDate, StringOrURI); RFC 8725 §3.8-3.9 (validate iss and aud).
        token = es256(keys, {**dat_claims(), **override})
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    @pytest.mark.parametrize("make,path,status,challenge,reason", TYPE_CONFUSION.values(), ids=TYPE_CONFUSION.keys())
    def test_a_token_of_another_type_or_issuer_is_refused(self, bearer, keys, make, path, status, challenge, reason):
        # RFC 8725 §2.8 and §3.11 (cross-JWT confusion): issuer, audience and kind keep tokens apart.
        token = make(keys)
        bearer.refuses(status, lambda e: e.get(path, token), [token], challenge, reason)


# =========================================================================================================
# RFC 9700 / OIDC Core: the browser sign-in, with the real OpenID provider
# =========================================================================================================

class Flow:
    """A sign-in Gatehouse started: its authorize URL, state and flow cookie."""

    def __init__(self, response):
        assert response.status == 302, response.body
        self.location = response.header("location")
        self.query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.location).query))
        self.state = self.query["state"]
        cookies = [v for n, v in response.headers if n.lower() == "set-cookie" and "-flow-" in v.split("=", 1)[0]]
        assert len(cookies) == 1, response.headers
        self.cookie_name, rest = cookies[0].split("=", 1)
        self.cookie_value = registry.register_token(rest.split(";", 1)[0])

    @property
    def cookie(self):
        return f"{self.cookie_name}={self.cookie_value}"


class Stack:
    """A session-enabled Envoy in front of the recording upstream, the real provider, and every secret they
    share, so tests can seal cookies and mint tokens as an insider would."""

    def __init__(self, envoy, upstream, idp, token_proxy, base, client_secret, cookie_keys, airflow_secret):
        self.envoy, self.upstream, self.idp, self.token_proxy, self.base = envoy, upstream, idp, token_proxy, base
        self.client_secret = client_secret
        self.cookie_keys = cookie_keys  # kid -> 32 bytes; "k1" seals
        self.airflow_secret = airflow_secret
        self.redirect_uri = f"{base}/oauth2/callback"

    def start(self, path="/api/v2/auth/login?next=/dags", headers=None):
        return Flow(self.envoy.get(path, headers=headers or {"accept": "text/html"}))

    def callback(self, query, cookie=None):
        headers = {"accept": "text/html", **({"cookie": cookie} if cookie else {})}
        return self.envoy.get(f"/oauth2/callback?{query}", headers=headers)

    def at_provider(self, flow, **kw):
        """The provider's side of a sign-in started by Gatehouse: the query it sends back to the callback."""
        target = ProviderSession(self.idp).authorize(flow.location, **kw)
        assert target.startswith(self.redirect_uri + "?"), target
        return urllib.parse.urlsplit(target).query

    def sign_in(self, start="/api/v2/auth/login?next=/dags"):
        """A whole sign-in through Gatehouse; returns the callback's answer, the flow and the callback query."""
        flow = self.start(start)
        query = self.at_provider(flow)
        return self.callback(query, flow.cookie), flow, query

    def seal(self, payload, name=COOKIE, binding=DEPLOYMENT, kid="k1", key=None):
        return seal(kid, key or self.cookie_keys["k1"], name, binding, payload)

    def open_flow(self, flow):
        opened = open_sealed("k1", self.cookie_keys["k1"], flow.cookie_name, DEPLOYMENT, flow.cookie_value)
        registry.register(opened["verifier"])
        return opened

    def airflow_token(self):
        """A token Airflow itself would accept (HS512 with the upstream secret), as a client might hold one."""
        now = int(time.time())
        claims = {"sub": "admin", "role": "ADMIN", "aud": "apache-airflow", "iat": now, "nbf": now, "exp": now + 300}
        return registry.register_token(jwt.encode(claims, self.airflow_secret, algorithm="HS512"))

    def minted_token(self):
        """The Airflow token Gatehouse minted for a session, as the upstream received it."""
        r = self.envoy.get("/dags", headers={**JSON, "cookie": f"{COOKIE}={self.seal(session_payload())}"})
        assert r.status == 200
        (seen,) = self.upstream.take()
        return registry.register_token(seen.header("authorization").removeprefix("Bearer "))

    def provider_tokens(self):
        """The provider's own ID and access tokens for this client, got as the client would (test setup)."""
        verifier, challenge = pkce_pair()
        target = ProviderSession(self.idp).authorize(own_authorize_url(self.idp, "gatehouse", self.redirect_uri,
                                                                       challenge))
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))["code"]
        return redeem(self.idp, code, verifier, self.redirect_uri, "gatehouse", self.client_secret)


def session_payload(sub="carol@example.test", roles=("airflow-admin",), age=0, **over):
    now = int(time.time())
    s = {"sub": sub, "roles": list(roles), "iat": now - age, "seen": now - age, "abs": now - age + 3600}
    s.update(over)
    return s


def set_cookies(r):
    return [v for n, v in r.headers if n.lower() == "set-cookie"]


def session_set(r):
    """Session cookies (not flow cookies, not clearings) the response sets."""
    return [v for v in set_cookies(r)
            if re.match(rf"{re.escape(COOKIE)}(\.\d+)?=[^;]", v)]


@pytest.fixture(scope="module")
def stack(keys, upstream):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client_secret = secrets.token_urlsafe(24)
    idp = Idp(clients=[{"client_id": "gatehouse", "client_secret": client_secret,
                        "redirect_uris": [f"{base}/oauth2/callback"], "post_logout_redirect_uris": [f"{base}/"]}],
              users={"alice": {"sub": "alice@example.test", "email": "alice@example.test", "roles": ["airflow-admin"]},
                     "mallory": {"sub": "mallory@example.test", "email": "mallory@example.test",
                                 "roles": ["airflow-admin"]}},
              roles_claim=ROLES_CLAIM)
    # The token endpoint is reached through a counting pass-through: refusals must not call out.
    token_proxy = FaultyServer(forward_to=("127.0.0.1", idp.port))
    cookie_keys = {"k1": os.urandom(32), "k0": os.urandom(32)}
    airflow_secret = registry.register(secrets.token_urlsafe(64))
    cfg = plugin_config(keys)
    cfg["routes"] = [
        {"name": "health", "class": "public", "path": {"exact": "/api/v2/monitor/health"}, "require": "public"},
        {"name": "api", "class": "api", "path": {"prefix": "/api/v2"}, "require": "bearer_or_session"},
        {"name": "ui", "class": "ui", "path": {"prefix": "/"}, "require": "session"},
    ]
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": f"{base}/oauth2/callback",
        "provider": {
            "issuer": idp.issuer, "client_id": "gatehouse", "client_secret_env": "CLIENT_SECRET",
            "authorization_endpoint": idp.info["authorization_endpoint"],
            "token_endpoint": {"cluster": "idp", "authority": f"127.0.0.1:{idp.port}",
                               "path": urllib.parse.urlsplit(idp.info["token_endpoint"]).path, "timeout_ms": 3000},
            "jwks": idp.jwks, "roles_claim": ROLES_CLAIM,
        },
    }
    cfg["upstream_token"] = {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"},
                             "roles": {"airflow-admin": "ADMIN"}, "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN"}}
    env = {**keys.env(), "CLIENT_SECRET": client_secret, "AIRFLOW_SECRET": airflow_secret,
           "COOKIE_KEYS": ",".join(f"{kid}:{cookie_b64(registry.register(k))}" for kid, k in cookie_keys.items())}
    envoy = Envoy(cfg, upstream.port, env=env, clusters={"idp": token_proxy.port}, port=port,
                  hcm_extra={"max_request_headers_kb": 2048})
    yield Stack(envoy, upstream, idp, token_proxy, base, client_secret, cookie_keys, airflow_secret)
    envoy.stop()
    token_proxy.stop()
    idp.stop()


@pytest.fixture(scope="module")
def browser(stack, upstream):
    """The stack as a Target: a valid session cookie must keep reaching the upstream."""
    good = stack.seal(session_payload())

    def check(envoy, upstream):
        r = envoy.get("/dags", headers={**JSON, "cookie": f"{COOKIE}={good}"})
        assert r.status == 200, f"the VM stopped serving: {r.status} {r.body[:200]!r}"
        (seen,) = upstream.take()
        registry.register_token(seen.header("authorization").removeprefix("Bearer "))
    return Target(stack.envoy, upstream, check)


def unknown_state():
    return secrets.token_urlsafe(24)


# Each builds (callback query, Cookie header) from the stack; none may reach the token endpoint.
def _flow_pair(stack):
    return stack.start(), stack.start()


def _renamed(stack):
    a, b = _flow_pair(stack)
    return f"code=x&state={a.state}", f"{a.cookie_name}={b.cookie_value}"


def _prefix_collision(stack):
    a = stack.start()
    return f"code=x&state={a.state[:16]}{unknown_state()[:16]}", a.cookie


def _attacker_code_without_cookie(stack):
    mallory = stack.start()
    return stack.at_provider(mallory, user="mallory"), None


def _forged_flow(stack, **over):
    a = stack.start()
    flow = {"state": a.state, "nonce": "n" * 32, "verifier": "v" * 43, "return_to": "/", "iat": int(time.time())}
    flow.update({k: v for k, v in over.items() if k in flow})
    value = stack.seal(flow, name=a.cookie_name, binding=over.get("binding", DEPLOYMENT), kid=over.get("kid", "k1"),
                       key=over.get("key"))
    return f"code=x&state={a.state}", f"{a.cookie_name}={value}"


# Each builds (callback query, Cookie header) from the stack, with the reason the filter logs.
CALLBACKS = {
    "no-query": (lambda s: ("", None), "missing_state"),
    "code-without-state": (lambda s: ("code=x", None), "missing_state"),
    "code-with-an-empty-state": (lambda s: ("code=x&state=", None), "bad_state"),
    "unknown-state": (lambda s: (f"code=x&state={unknown_state()}", None), "unknown_state"),
    "unknown-state-next-to-a-real-flow-cookie": (lambda s: (f"code=x&state={unknown_state()}", s.start().cookie),
                                                 "unknown_state"),
    "state-of-another-flows-cookie": (lambda s: (lambda a, b: (f"code=x&state={a.state}", b.cookie))(*_flow_pair(s)),
                                      "unknown_state"),
    "flow-cookie-renamed-to-the-state": (_renamed, "bad_flow_cookie"),
    "state-sharing-only-the-cookie-prefix": (_prefix_collision, "state_mismatch"),
    # Login CSRF (RFC 9700 §4.7): mallory's own code and state, sent by a victim's browser without mallory's
    # flow cookie, must not sign the victim in as mallory.
    "attacker-code-and-state-without-the-flow-cookie": (_attacker_code_without_cookie, "unknown_state"),
    "flow-cookie-sealed-for-another-deployment": (lambda s: _forged_flow(s, binding="dep-other"), "bad_flow_cookie"),
    "flow-cookie-under-an-unknown-key": (lambda s: _forged_flow(s, key=os.urandom(32)), "bad_flow_cookie"),
    "flow-cookie-under-the-other-keys-id": (lambda s: _forged_flow(s, kid="k0"), "bad_flow_cookie"),
    "flow-older-than-its-lifetime": (lambda s: _forged_flow(s, iat=int(time.time()) - 601), "flow_expired"),
    "state-with-cookie-syntax": (lambda s: ("code=x&state=x%3B%20Domain%3Devil.example", None), "bad_state"),
    "state-of-33-characters": (lambda s: (f"code=x&state={unknown_state()}A", None), "bad_state"),
    "state-with-path-traversal": (lambda s: ("code=x&state=..%2F..%2F..%2F..%2F..%2F..%2F..%2Fxxxxxxxxxx", None),
                                  "bad_state"),
}

PROVIDER_ERRORS = {
    "access-denied": (lambda f: f"error=access_denied&state={f.state}", 401, "idp_error"),
    "access-denied-without-state": (lambda f: "error=access_denied", 401, "idp_error"),
    "access-denied-for-an-unknown-state": (lambda f: f"error=access_denied&state={unknown_state()}", 401, "idp_error"),
    "error-next-to-a-code": (lambda f: f"error=access_denied&code=x&state={f.state}", 401, "idp_error"),
    "server-error": (lambda f: f"error=server_error&state={f.state}", 401, "idp_error"),
    "temporarily-unavailable": (lambda f: f"error=temporarily_unavailable&state={f.state}", 401, "idp_error"),
    "login-required": (lambda f: f"error=login_required&state={f.state}", 401, "idp_error"),
    "script-in-the-description": (lambda f: "error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
                                  f"&error_uri=javascript%3Aalert(1)&state={f.state}", 401, "idp_error"),
    "header-injection-in-the-error": (lambda f: f"error=x%0d%0aSet-Cookie:%20pwned%3D1&state={f.state}", 401,
                                      "idp_error"),
    "empty-error": (lambda f: f"error=&state={f.state}", 401, "idp_error"),
    "error-with-a-malformed-state": (lambda f: "error=access_denied&state=x%3B%20Domain%3Devil", 400, "bad_state"),
}

AUTHORIZE_STARTS = {
    "airflow-api-login": ("/api/v2/auth/login?next=/dags", {"accept": "text/html"}),
    "airflow-ui-login": ("/auth/login", {"accept": "text/html"}),
    "navigation-to-a-session-route": ("/dags", NAVIGATE),
    # Parameters of ours smuggled into the request cannot replace or duplicate the authorize parameters.
    "polluted-login-query": ("/api/v2/auth/login?next=/&code_challenge_method=plain&code_challenge=attacker"
                             "&state=attackerattackerattackerattacker&nonce=n&redirect_uri=https://evil.example/cb"
                             "&response_type=token&scope=admin&client_id=evil", {"accept": "text/html"}),
    "polluted-navigation-query": ("/dags?code_challenge_method=plain&redirect_uri=https://evil.example/cb",
                                  NAVIGATE),
}

NAVIGATION_RETURNS = {
    "scheme-relative-path": ("//evil.example", "/evil.example"),
    "dot-then-scheme-relative": ("/.//evil.example", "/evil.example"),
    "parent-then-scheme-relative": ("/dags/..//evil.example", "/evil.example"),
    "scheme-relative-in-the-query": ("/x?//evil.example", "/x?//evil.example"),
    "encoded-crlf-in-the-query": ("/x?a=%0d%0aLocation:%20https://evil.example", "/"),
}

# Credentials of the browser flow and of the upstream, each presented as a bearer token: the reason logged.
NOT_BEARER_TOKENS = {
    "provider-id-token": (lambda s: s.provider_tokens()["id_token"], "unknown_issuer"),
    "provider-access-token": (lambda s: s.provider_tokens()["access_token"], "malformed"),
    "airflow-token-gatehouse-minted": (lambda s: s.minted_token(), "missing_claim"),
    "airflow-token-from-the-upstream-secret": (lambda s: s.airflow_token(), "missing_claim"),
    "session-cookie-value": (lambda s: s.seal(session_payload()), "bad_base64"),
    "flow-cookie-value": (lambda s: s.start().cookie_value, "bad_base64"),
}


class TestRfc9700BrowserSignIn:
    @pytest.mark.parametrize("make,reason", CALLBACKS.values(), ids=CALLBACKS.keys())
    def test_callbacks_without_their_own_flow_get_400_and_no_call_out(self, stack, browser, make, reason):
        # RFC 9700 §4.7 (CSRF) and §4.5 (code injection): a callback must belong to a flow this browser
        # started; otherwise no code is redeemed and no session is made (OIDC Core §3.1.2.7).
        query, cookie = make(stack)
        used = [cookie.split("=", 1)[1]] if cookie else []
        used += [v for k, v in urllib.parse.parse_qsl(query) if k == "code"]
        calls = stack.token_proxy.hits
        r = browser.refuses(400, lambda e: stack.callback(query, cookie), used, reason=reason)
        assert stack.token_proxy.hits == calls, "the token endpoint was called"
        assert not session_set(r)
        assert r.header("content-type").startswith("text/html")

    def test_a_code_injected_into_another_persons_flow_is_refused_by_pkce(self, stack, browser):
        # RFC 9700 §4.5, §2.1.1: mallory's code is bound to mallory's PKCE challenge; redeemed with the
        # victim's verifier the provider refuses it, and the victim gets no session as mallory.
        mallory_code = dict(urllib.parse.parse_qsl(stack.at_provider(stack.start(), user="mallory")))["code"]
        victim = stack.start()
        calls = stack.token_proxy.hits
        r = browser.refuses(401, lambda e: stack.callback(f"code={mallory_code}&state={victim.state}", victim.cookie),
                            [mallory_code, victim.cookie_value], reason="token_rejected")
        assert stack.token_proxy.hits == calls + 1
        assert not session_set(r)

    def test_a_replayed_callback_does_not_sign_in_again(self, stack, browser):
        # RFC 6749 §4.1.2 and §10.12: the code is single use at the provider, and the state is single use at the
        # proxy, so the replay is refused before the used code could even reach the provider.
        first, flow, query = stack.sign_in()
        assert first.status == 302 and first.header("location") == "/dags"
        assert session_set(first)
        replay = browser.refuses(400, lambda e: stack.callback(query, flow.cookie), [flow.cookie_value],
                                 reason="state_replayed")
        assert not session_set(replay)

    @pytest.mark.parametrize("path,headers", AUTHORIZE_STARTS.values(), ids=AUTHORIZE_STARTS.keys())
    def test_the_authorize_redirect_always_carries_a_fresh_s256_challenge(self, stack, browser, path, headers):
        # RFC 7636 §4.2-4.3 and RFC 9700 §2.1.1: S256 always (no downgrade to plain or to no PKCE), our own
        # state, nonce and redirect_uri, each exactly once.
        window = LogWindow(stack.envoy)
        r = stack.envoy.get(path, headers=headers)
        flow = Flow(r)
        assert flow.location.startswith(stack.idp.info["authorization_endpoint"] + "?")
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(flow.location).query, keep_blank_values=True)
        assert all(len(v) == 1 for v in params.values()), params
        assert params["code_challenge_method"] == ["S256"]
        assert params["response_type"] == ["code"]
        assert params["client_id"] == ["gatehouse"]
        assert params["redirect_uri"] == [stack.redirect_uri]
        assert params["scope"] == ["openid profile email"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", params["code_challenge"][0])
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", params["state"][0])
        sealed = stack.open_flow(flow)
        assert sealed["state"] == params["state"][0] and sealed["nonce"] == params["nonce"][0]
        assert 43 <= len(sealed["verifier"]) <= 128
        challenge = base64.urlsafe_b64encode(hashlib.sha256(sealed["verifier"].encode()).digest()).rstrip(b"=").decode()
        assert challenge == params["code_challenge"][0]
        again = Flow(stack.envoy.get(path, headers=headers))
        assert again.state != flow.state and again.query["code_challenge"] != flow.query["code_challenge"]
        assert again.query["nonce"] != flow.query["nonce"]
        assert browser.upstream.take() == []
        browser.still_serves()
        assert_clean_log(window, [flow.cookie_value, again.cookie_value, sealed["verifier"]])

    @pytest.mark.parametrize("param", ["code_challenge_method", "code_challenge", "state", "redirect_uri"])
    def test_configuration_cannot_override_pkce_or_state(self, keys, param):
        # RFC 9700 §2.1.1: the downgrade cannot come from configuration either.
        cfg = plugin_config(keys)
        cfg["session"] = {"keys_env": "K", "redirect_uri": "http://127.0.0.1/cb", "provider": {
            "issuer": "http://127.0.0.1:1/", "client_id": "c", "client_secret_env": "S",
            "authorization_endpoint": "http://127.0.0.1:1/auth", "extra_params": {param: "plain"},
            "token_endpoint": {"cluster": "idp", "authority": "127.0.0.1", "path": "/token"},
            "jwks": {"keys": [Keys.public_jwk(keys.auth0, "RS256", "idp")]}}}
        code, out = validate(cfg, env={**keys.env(), "K": "k1:" + cookie_b64(os.urandom(32)), "S": "s" * 16})
        assert code != 0
        assert f"$.session.provider.extra_params.{param}" in out, out[-2000:]

    @pytest.mark.parametrize("make,status,reason", PROVIDER_ERRORS.values(), ids=PROVIDER_ERRORS.keys())
    def test_error_responses_from_the_provider_get_a_page_and_no_call_out(self, stack, browser, make, status, reason):
        # RFC 6749 §4.1.2.1: the provider refused; nothing to redeem, no session, the flow cookie is cleared.
        flow = stack.start()
        calls = stack.token_proxy.hits
        r = browser.refuses(status, lambda e: stack.callback(make(flow), flow.cookie), [flow.cookie_value],
                            reason=reason)
        assert stack.token_proxy.hits == calls
        assert not session_set(r)
        assert not any(v.lower().startswith("pwned") for v in set_cookies(r))
        assert b"<script" not in r.body and b"javascript:" not in r.body
        if status == 401 and f"state={flow.state}" in make(flow):
            assert any(v.startswith(f"{flow.cookie_name}=;") and "Max-Age=0" in v for v in set_cookies(r))

    def test_a_sign_in_the_person_cancels_at_the_real_provider_gets_a_401_page(self, stack, browser):
        flow = stack.start()
        query = stack.at_provider(flow, abort=True)
        assert "error=access_denied" in query
        r = browser.refuses(401, lambda e: stack.callback(query, flow.cookie), [flow.cookie_value],
                            reason="idp_error")
        assert not session_set(r)

    @pytest.mark.parametrize("payload", OPEN_REDIRECTS.values(), ids=OPEN_REDIRECTS.keys())
    def test_the_return_path_of_a_sign_in_never_leaves_our_origin(self, stack, browser, payload):
        # RFC 9700 §4.11.1 (open redirectors at the client): after the whole sign-in with the real provider,
        # the browser is sent to "/" on our own origin.
        window = LogWindow(stack.envoy)
        flow = stack.start(f"/api/v2/auth/login?next={payload}")
        assert stack.open_flow(flow)["return_to"] == "/"
        r = stack.callback(stack.at_provider(flow), flow.cookie)
        assert r.status == 302 and session_set(r), r.body
        assert r.header("location") == "/"
        assert browser.upstream.take() == []
        browser.still_serves()
        assert_clean_log(window, [flow.cookie_value])

    @pytest.mark.parametrize("login", ["/api/v2/auth/login", "/auth/login"])
    @pytest.mark.parametrize("payload", OPEN_REDIRECTS.values(), ids=OPEN_REDIRECTS.keys())
    def test_a_signed_in_person_is_never_redirected_off_our_origin(self, stack, browser, login, payload):
        # With a session, the login path redirects at once: the same rule applies to that Location.
        cookie = f"{COOKIE}={stack.seal(session_payload())}"
        headers = {"accept": "text/html", "cookie": cookie}
        r = browser.refuses(302, lambda e: e.get(f"{login}?next={payload}", headers=headers), [cookie],
                            reason="already_signed_in")
        assert r.header("location") == "/"

    @pytest.mark.parametrize("path,reason", [("/api/v2/auth/login", "already_signed_in"),
                                             ("/auth/login", "already_signed_in"),
                                             ("/api/v2/auth/logout", "logout"), ("/oauth2/sign_out", "logout")])
    @pytest.mark.parametrize("param", ["rd", "return_to", "returnTo", "redirect", "redirect_uri", "url",
                                       "post_logout_redirect_uri"])
    def test_other_return_parameters_are_ignored_by_login_and_logout(self, stack, browser, path, reason, param):
        # Only `next` on the login paths is read (docs/browser-sessions.md, sign-in start); logout goes where configuration says.
        cookie = f"{COOKIE}={stack.seal(session_payload())}"
        headers = {"accept": "text/html", "cookie": cookie}
        r = browser.refuses(302, lambda e: e.get(f"{path}?{param}=https://evil.example/&next=//evil.example",
                                                 headers=headers), [cookie], reason=reason)
        assert r.header("location") == "/"

    @pytest.mark.parametrize("target,return_to", NAVIGATION_RETURNS.values(), ids=NAVIGATION_RETURNS.keys())
    def test_a_navigation_to_a_hostile_path_returns_to_our_origin(self, stack, browser, target, return_to):
        window = LogWindow(stack.envoy)
        flow = stack.start(target, NAVIGATE)
        assert stack.open_flow(flow)["return_to"] == return_to
        r = stack.callback(stack.at_provider(flow), flow.cookie)
        assert r.status == 302 and r.header("location") == return_to
        where = browser_resolve(stack.base + "/oauth2/callback", r.header("location"))
        assert (where.scheme, where.netloc) == ("http", urllib.parse.urlsplit(stack.base).netloc)
        assert browser.upstream.take() == []
        browser.still_serves()
        assert_clean_log(window, [flow.cookie_value])

    @pytest.mark.parametrize("make,reason", NOT_BEARER_TOKENS.values(), ids=NOT_BEARER_TOKENS.keys())
    def test_the_providers_tokens_and_our_own_are_not_bearer_credentials(self, stack, browser, make, reason):
        # RFC 8725 §3.11 / OIDC Core §2: the ID token is for the client, the opaque access token is for the
        # provider's userinfo, and the Airflow token Gatehouse mints is for Airflow; none is an API bearer.
        token = make(stack)
        browser.refuses(401, lambda e: e.get(API, token, headers=JSON), [token], INVALID, reason)


# =========================================================================================================
# Sealed cookies: tampering and cross-deployment replay
# =========================================================================================================

def _blob(value, change):
    """The sealed value with its nonce‖ciphertext‖tag bytes changed, re-encoded canonically, so only the AEAD
    check can notice."""
    version, kid, body = value.split(".", 2)
    blob = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{version}.{kid}.{cookie_b64(bytes(change(blob)))}"


def _flip(index):
    def change(blob):
        blob[index] ^= 0x01
        return blob
    return change


def _big_session():
    return session_payload(roles=["airflow-admin"] + [f"team-{i:03d}-" + "x" * 40 for i in range(120)])


def _chunked(stack, change):
    """A session too large for one cookie, split as Gatehouse splits it, then `change`d: (index, part) pairs."""
    value = stack.seal(_big_session())
    parts = [value[i:i + 3800] for i in range(0, len(value), 3800)]
    assert len(parts) >= 2
    return "; ".join(f"{COOKIE}.{i}={p}" for i, p in change(parts, stack))


def _foreign_chunk(parts, stack):
    other = stack.seal(_big_session())
    return enumerate([parts[0], other[3800:7600], *parts[2:]])


def _standard_alphabet(stack):
    """The same sealed bytes in standard base64 with padding: one value must have one spelling."""
    while True:
        version, kid, body = stack.seal(session_payload()).split(".", 2)
        standard = base64.b64encode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))).decode()
        if standard != body:
            return f"{COOKIE}={version}.{kid}.{standard}"


def _cut_to_an_impossible_length(value):
    """Characters cut off until the base64url text is 1 mod 4 long, a length no encoding has: the text itself
    is broken, before any AEAD check."""
    body = value.split(".", 2)[2]
    return value[:len(value) - ((len(body) - 1) % 4 or 4)]


def _session(value):
    return f"{COOKIE}={value}"


def _sealed(stack, **over):
    return stack.seal(session_payload(**over))


# Each builds a Cookie header; the reason is what the filter logs when that cookie does not open.
TAMPERED = {
    "flip-in-the-version": (lambda s: _session("w" + _sealed(s)[1:]), "cookie_format"),
    "flip-in-the-key-id": (lambda s: _session(_sealed(s).replace("v1.k1.", "v1.k3.", 1)), "cookie_unknown_key"),
    "flip-in-the-nonce": (lambda s: _session(_blob(_sealed(s), _flip(0))), "cookie_decrypt"),
    "flip-in-the-ciphertext": (lambda s: _session(_blob(_sealed(s), _flip(40))), "cookie_decrypt"),
    "flip-in-the-first-tag-byte": (lambda s: _session(_blob(_sealed(s), _flip(-16))), "cookie_decrypt"),
    "flip-in-the-last-tag-byte": (lambda s: _session(_blob(_sealed(s), _flip(-1))), "cookie_decrypt"),
    "one-byte-short": (lambda s: _session(_blob(_sealed(s), lambda b: b[:-1])), "cookie_decrypt"),
    "tag-cut-off": (lambda s: _session(_blob(_sealed(s), lambda b: b[:-16])), "cookie_decrypt"),
    "only-the-nonce": (lambda s: _session(_blob(_sealed(s), lambda b: b[:12])), "cookie_format"),
    "one-byte-longer": (lambda s: _session(_blob(_sealed(s), lambda b: b + b"\0")), "cookie_decrypt"),
    "cut-inside-a-base64-quantum": (lambda s: _session(_cut_to_an_impossible_length(_sealed(s))), "cookie_format"),
    "only-the-prefix": (lambda s: _session("v1.k1."), "cookie_format"),
    "empty-value": (lambda s: _session(""), "cookie_format"),
    "padded-base64": (lambda s: _session(_sealed(s) + "=="), "cookie_format"),
    "standard-base64-alphabet": (_standard_alphabet, "cookie_format"),
    "unknown-key-id": (lambda s: _session(s.seal(session_payload(), kid="k9")), "cookie_unknown_key"),
    "the-other-ring-keys-id": (lambda s: _session(s.seal(session_payload(), kid="k0")), "cookie_decrypt"),
    "a-key-we-do-not-hold": (lambda s: _session(s.seal(session_payload(), key=os.urandom(32))), "cookie_decrypt"),
    "sealed-for-another-deployment": (lambda s: _session(s.seal(session_payload(), binding="dep-other")),
                                      "cookie_decrypt"),
    "sealed-as-a-flow-cookie": (lambda s: _session(s.seal(session_payload(), name=f"{COOKIE}-flow-abcdefghijklmnop")),
                                "cookie_decrypt"),
    "a-real-flow-cookie-as-the-session": (lambda s: _session(s.start().cookie_value), "cookie_decrypt"),
    "sealed-under-another-cookie-name": (lambda s: _session(s.seal(session_payload(), name="__Host-other")),
                                         "cookie_decrypt"),
    "cookie-name-in-lower-case": (lambda s: f"{COOKIE.lower()}={_sealed(s)}", "no_session"),
    "chunks-swapped": (lambda s: _chunked(s, lambda parts, _: enumerate([parts[1], parts[0], *parts[2:]])),
                       "cookie_format"),
    "chunk-missing": (lambda s: _chunked(s, lambda parts, _: [(i, p) for i, p in enumerate(parts) if i != 1]),
                      ("cookie_format", "cookie_decrypt")),
    "chunk-from-another-session": (lambda s: _chunked(s, _foreign_chunk), "cookie_decrypt"),
    "chunks-numbered-from-one": (lambda s: _chunked(s, lambda parts, _: [(i + 1, p) for i, p in enumerate(parts)]),
                                 "no_session"),
    "expired-inside": (lambda s: _session(_sealed(s, abs=int(time.time()) - 1)), "session_expired"),
    "idle-inside": (lambda s: _session(_sealed(s, age=3601, abs=int(time.time()) + 3600)), "session_idle"),
    "extra-member-inside": (lambda s: _session(_sealed(s, admin=True)), "cookie_format"),
    "roles-of-the-wrong-type-inside": (lambda s: _session(s.seal({**session_payload(), "roles": "airflow-admin"})),
                                       "cookie_format"),
    "not-json-inside": (lambda s: _session(s.seal("not a session")), "cookie_format"),
    "only-the-upstreams-token-cookie": (lambda s: f"_token={s.airflow_token()}", "no_session"),
}


class TestCookieTampering:
    @pytest.mark.parametrize("make,reason", TAMPERED.values(), ids=TAMPERED.keys())
    def test_tampered_or_replayed_cookies_behave_exactly_like_no_session(self, stack, browser, make, reason):
        # docs/browser-sessions.md, item 4: AES-GCM with the name and deployment in the associated data (NIST SP
        # 800-38D); any change fails to open, and a failed cookie is no session at all.
        cookie = make(stack)
        values = [p.split("=", 1)[1] for p in cookie.split("; ") if "=" in p]
        browser.refuses(401, lambda e: e.get("/dags", headers={**JSON, "cookie": cookie}), values,
                        'Bearer realm="airflow"', reason)
        r = browser.refuses(302, lambda e: e.get("/dags", headers={**NAVIGATE, "cookie": cookie}), values,
                            reason="login_redirect")
        assert r.header("location").startswith(stack.idp.info["authorization_endpoint"] + "?")
        assert not session_set(r)

    def test_a_session_opened_before_is_refused_once_its_lifetime_ends(self, stack, browser):
        # Opened sessions are cached per VM; the cache skips the decryption, never the expiry check.
        cookie = _session(_sealed(stack, abs=int(time.time()) + 2))
        for _ in range(4):
            assert stack.envoy.get("/dags", headers={**JSON, "cookie": cookie}).status == 200
        assert len(stack.upstream.take()) == 4
        time.sleep(2.5)
        browser.refuses(401, lambda e: e.get("/dags", headers={**JSON, "cookie": cookie}), [cookie.split("=", 1)[1]],
                        'Bearer realm="airflow"', "session_expired")


# =========================================================================================================
# Header smuggling
# =========================================================================================================

# (header, value, method, path, status): hints some proxies or frameworks trust must not move the decision.
# POST rows carry a viewer's valid token: the override must not turn the write into the read it may do.
ROUTING_HINTS = {
    "x-envoy-original-path": ("x-envoy-original-path", "/api/v2/monitor/health", "GET", "/api/v2/config", 401),
    "x-original-url": ("x-original-url", "/api/v2/monitor/health", "GET", "/api/v2/config", 401),
    "x-rewrite-url": ("x-rewrite-url", "/api/v2/monitor/health", "GET", "/api/v2/config", 401),
    "x-forwarded-uri": ("x-forwarded-uri", "/api/v2/monitor/health", "GET", "/api/v2/config", 401),
    "x-forwarded-prefix": ("x-forwarded-prefix", "/api/v2/monitor/health", "GET", "/api/v2/config", 401),
    "x-forwarded-path": ("x-forwarded-path", "/api/v2/monitor/health", "GET", "/api/v2/config", 401),
    "x-forwarded-host": ("x-forwarded-host", "static.gatehouse.test", "GET", "/logo.png", 403),
    "forwarded-host": ("forwarded", "for=127.0.0.1;host=static.gatehouse.test;proto=https", "GET", "/logo.png", 403),
    "x-forwarded-for-loopback": ("x-forwarded-for", "127.0.0.1", "GET", "/api/v2/config", 401),
    "x-real-ip-loopback": ("x-real-ip", "127.0.0.1", "GET", "/api/v2/config", 401),
    "x-forwarded-proto": ("x-forwarded-proto", "https", "GET", "/api/v2/config", 401),
    "x-envoy-internal": ("x-envoy-internal", "true", "GET", "/api/v2/config", 401),
    "x-http-method-override": ("x-http-method-override", "GET", "POST", "/api/v2/dags/etl/dagRuns", 403),
    "x-method-override": ("x-method-override", "OPTIONS", "POST", "/api/v2/dags/etl/dagRuns", 403),
}

# Two or more Authorization headers: Envoy joins them into one value (RFC 9110 §5.3), which is no token; and
# every credential present must verify. The reason is what that joined value fails on.
DUPLICATED_AUTHORIZATION = {
    "good-then-bad": (lambda good: [f"Bearer {good}", "Bearer forged"], "bad_base64"),
    "bad-then-good": (lambda good: ["Bearer forged", f"Bearer {good}"], "bad_base64"),
    "good-twice": (lambda good: [f"Bearer {good}", f"Bearer {good}"], "malformed"),
    "good-then-empty-bearer": (lambda good: [f"Bearer {good}", "Bearer "], "bad_base64"),
    "good-then-basic": (lambda good: [f"Bearer {good}", "Basic YWRtaW46YWRtaW4="], "bad_base64"),
    "basic-then-good": (lambda good: ["Basic YWRtaW46YWRtaW4=", f"Bearer {good}"], "missing_credential"),
    "good-then-lower-case-scheme-bad": (lambda good: [f"Bearer {good}", "bearer forged"], "bad_base64"),
    "good-ninety-times": (lambda good: [f"Bearer {good}"] * 90, "token_too_large"),
    "good-with-a-trailing-second-token": (lambda good: [f"Bearer {good} forged"], "bad_base64"),
}


@pytest.fixture(scope="module")
def two_hosts(keys, upstream):
    """Envoy routing by host as deployments do: the static host to its own upstream, every other host to the
    application (the shared recording upstream). Gatehouse's `static` route is public for that host only."""
    static = Upstream()
    routes = {"virtual_hosts": [
        {"name": "static", "domains": ["static.gatehouse.test"],
         "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "static"}}]},
        {"name": "app", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]},
    ]}
    e = Envoy(plugin_config(keys), upstream.port, env=keys.env(), hcm_extra={"route_config": routes},
              clusters={"static": static.port})
    yield e, static
    e.stop()
    static.stop()


# Host spellings Envoy's router (default settings: no port or trailing-dot stripping) does not send to the
# static virtual host, while Gatehouse's host normalization (port and trailing dot dropped) matches them to
# the static host's public route.
BORROWED_HOSTS = {
    "trailing-dot": "static.gatehouse.test.",
    "default-port": "static.gatehouse.test:443",
    "other-port": "static.gatehouse.test:10000",
    "trailing-dot-and-port": "static.gatehouse.test.:80",
}


# A second `Cookie` header line (RFC 6265 §5.4 says one; HTTP/2 allows crumbs, RFC 9113 §8.2.3).
SECOND_COOKIE_HEADER = {
    "airflow-token-on-a-public-route": ("/api/v2/monitor/health", False, "_token"),
    "session-cookie-on-a-public-route": ("/api/v2/monitor/health", False, COOKIE),
    "airflow-token-next-to-a-valid-bearer-token": (API, True, "_token"),
}



class TestHeaderSmuggling:
    @pytest.mark.parametrize("name", IDENTITY_FORGERIES)
    def test_forged_identity_headers_never_reach_the_upstream(self, bearer, keys, name):
        forged = [(name, "forged-root")]
        bearer.refuses(401, lambda e: e.get(API, headers=forged), (), 'Bearer realm="airflow"', "missing_credential")
        viewer = keys.sign(dat_claims(role=VIEWER), "ES256")
        for path, token in [("/api/v2/version", None), (API, viewer)]:
            assert bearer.envoy.get(path, token, headers=forged).status == 200
            (seen,) = bearer.upstream.take()
            assert all(v != "forged-root" for _, v in seen.headers), seen.headers
            assert not [n for n, _ in seen.headers if "_" in n and n.replace("_", "-").startswith("x-gatehouse")]
        assert seen.header("x-gatehouse-subject") == "dat-deployment-organization_viewer"

    @pytest.mark.parametrize("header,value,method,path,status", ROUTING_HINTS.values(), ids=ROUTING_HINTS.keys())
    def test_routing_hint_headers_do_not_change_the_decision(self, bearer, keys, header, value, method, path, status):
        viewer = keys.sign(dat_claims(role=VIEWER), "ES256") if method == "POST" else None
        headers = [(header, value)] + ([("authorization", f"Bearer {viewer}")] if viewer else [])
        reason = {401: "missing_credential", 403: "insufficient_permissions" if viewer else "no_route"}[status]
        bearer.refuses(status, lambda e: e.request(method, path, headers, body=b"{}" if method == "POST" else None),
                       [viewer] if viewer else [], reason=reason)

    @pytest.mark.parametrize("values,reason", DUPLICATED_AUTHORIZATION.values(), ids=DUPLICATED_AUTHORIZATION.keys())
    def test_a_second_credential_next_to_a_good_one_is_refused(self, bearer, keys, values, reason):
        good = keys.sign(dat_claims(), "ES256")
        headers = [("authorization", v) for v in values(good)]
        bearer.refuses(401, lambda e: e.get(API, headers=headers), [good], reason=reason)

    @pytest.mark.parametrize("host", ["static.gatehouse.test", "STATIC.gatehouse.test"])
    def test_the_static_host_as_envoy_routes_it_gets_its_public_route(self, two_hosts, upstream, host):
        envoy, static = two_hosts
        assert envoy.get("/logo.png", host=host).status == 200
        assert [r.path for r in static.take()] == ["/logo.png"] and upstream.take() == []
        assert envoy.get("/logo.png", host="gatehouse.test").status == 403, "other hosts: no route"
        assert upstream.take() == []

    @pytest.mark.parametrize("host", BORROWED_HOSTS.values(), ids=BORROWED_HOSTS.keys())
    def test_a_host_spelling_the_router_sends_elsewhere_cannot_borrow_a_public_host_route(self, two_hosts, upstream,
                                                                                          host):
        # RFC 9110 §7.2 / RFC 3986 §3.2.2-3.2.3: "static.gatehouse.test." and ":443" name the same host, but
        # Envoy's virtual-host match does not treat them as it, so the decision and the routing must agree: either
        # refuse the spelling (400) or not match the static host's route (403, as any other host).
        envoy, static = two_hosts
        window = LogWindow(envoy)
        r = envoy.get("/admin/secret", host=host)
        reached = upstream.take()
        assert not reached, f"the application received {[x.path for x in reached]} unauthenticated ({r.status})"
        assert r.status in (400, 403)
        assert static.take() == []
        assert_clean_log(window, [])

    @pytest.mark.parametrize("path,bearer_token,name", SECOND_COOKIE_HEADER.values(), ids=SECOND_COOKIE_HEADER.keys())
    def test_airflows_token_and_our_cookies_are_removed_from_the_cookie_header(self, stack, browser, keys, path,
                                                                              bearer_token, name):
        # docs/browser-sessions.md "Upstream hygiene": the upstream never gets Airflow's `_token` or Gatehouse's cookies from the
        # client, only `Authorization: Bearer <minted>` (or nothing, on public routes).
        self._smuggle(stack, keys, path, bearer_token, name, [f"{name}=VALUE; theme=dark"])

    @pytest.mark.parametrize("path,bearer_token,name", SECOND_COOKIE_HEADER.values(), ids=SECOND_COOKIE_HEADER.keys())
    def test_a_second_cookie_header_smuggles_nothing_to_the_upstream(self, stack, browser, keys, path, bearer_token,
                                                                     name):
        self._smuggle(stack, keys, path, bearer_token, name, ["theme=dark", f"{name}=VALUE"])

    @staticmethod
    def _smuggle(stack, keys, path, bearer_token, name, lines):
        value = stack.seal(session_payload()) if name == COOKIE else stack.airflow_token()
        headers = [*JSON.items(), *[("cookie", line.replace("VALUE", value)) for line in lines]]
        if bearer_token:
            headers.append(("authorization", f"Bearer {keys.sign(dat_claims(), 'ES256')}"))
        window = LogWindow(stack.envoy)
        r = stack.envoy.get(path, headers=headers)
        assert r.status == 200, r.body
        (seen,) = stack.upstream.take()
        cookies = [v for n, v in seen.headers if n == "cookie"]
        assert not any(value in c for c in cookies), f"{name} reached the upstream in {cookies}"
        assert any("theme=dark" in c for c in cookies), "the client's own cookies still pass"
        assert_clean_log(window, [value])
        return value


# =========================================================================================================
# Path confusion (RFC 3986 §5.2.4, §6.2.2): a public path spelled to reach a protected one
# =========================================================================================================

CONFUSING_PATHS = {
    "dot-dot": ("/api/v2/monitor/health/../../config", 401, "missing_credential"),
    "encoded-dot-dot-lower": ("/api/v2/monitor/health/%2e%2e/%2e%2e/config", 401, "missing_credential"),
    "encoded-dot-dot-upper": ("/api/v2/monitor/health/%2E%2E/%2E%2E/config", 401, "missing_credential"),
    "half-encoded-dot-dot": ("/api/v2/monitor/health/.%2e/%2E./config", 401, "missing_credential"),
    "encoded-single-dot": ("/api/v2/monitor/health/%2E/../../config", 401, "missing_credential"),
    "double-slash-prefix": ("//api/v2/config", 401, "missing_credential"),
    "double-slash-then-dot-dot": ("/api/v2/monitor/health//../../config", 401, "missing_credential"),
    "encoded-slash-lower": ("/api/v2/monitor/health%2f..%2f..%2fconfig", 400, "path_encoded_slash"),
    "encoded-slash-upper": ("/api/v2/monitor/health%2F..%2F..%2Fconfig", 400, "path_encoded_slash"),
    "encoded-slash-in-a-prefix": ("/api%2Fv2/monitor/health", 400, "path_encoded_slash"),
    "semicolon-parameter": ("/api/v2/monitor/health;/../../config", 401, "missing_credential"),
    "semicolon-dot-dot": ("/api/v2/monitor/health/..;/..;/config", 400, "path_dot_segment_parameter"),
    "semicolon-dot": ("/api/v2/monitor/health/.;/../../config", 400, "path_dot_segment_parameter"),
    "session-id-parameter": ("/api/v2/monitor/health;jsessionid=x", 401, "missing_credential"),
    "encoded-fragment": ("/api/v2/monitor/health%23/../../config", 401, "missing_credential"),
    "encoded-fragment-at-the-end": ("/api/v2/config%23", 401, "missing_credential"),
    "upper-case-route": ("/API/V2/CONFIG", 403, "no_route"),
    "upper-case-public-path": ("/api/v2/MONITOR/HEALTH", 401, "missing_credential"),
    "mixed-case-prefix": ("/Api/v2/monitor/health", 403, "no_route"),
    "encoded-question-mark-then-dot-dot": ("/api/v2/monitor/health%3F/../../config", 401, "missing_credential"),
    "query-looks-like-a-public-path": ("/api/v2/config?/api/v2/monitor/health", 401, "missing_credential"),
    "query-with-dot-dot": ("/api/v2/config?x=/../monitor/health", 401, "missing_credential"),
    "raw-backslash": ("/api/v2/monitor/health\\..\\..\\config", 400, "path_backslash"),
    "encoded-backslash-lower": ("/api/v2/monitor/health%5c..%5c..%5cconfig", 400, "path_encoded_backslash"),
    "encoded-backslash-upper": ("/api/v2/monitor/health%5C..%5C..%5Cconfig", 400, "path_encoded_backslash"),
    "overlong-utf8-dot": ("/api/v2/monitor/health/%C0%AE%C0%AE/%C0%AE%C0%AE/config", 400, "path_invalid_utf8"),
    "overlong-utf8-slash": ("/api/v2/monitor/health%C0%AF..%C0%AF..%C0%AFconfig", 400, "path_invalid_utf8"),
    "three-byte-overlong-dot": ("/api/v2/monitor/health/%E0%80%AE%E0%80%AE/config", 400, "path_invalid_utf8"),
    "double-encoded-dot-dot": ("/api/v2/monitor/health/%252e%252e/%252e%252e/config", 401, "missing_credential"),
    "double-encoded-slash": ("/api/v2/monitor/health%252F..%252F..%252Fconfig", 401, "missing_credential"),
    "unicode-fullwidth-dots": ("/api/v2/monitor/health/%EF%BC%8E%EF%BC%8E/config", 401, "missing_credential"),
    "nul": ("/api/v2/monitor/health%00", 400, "path_nul"),
    "nul-before-dot-dot": ("/api/v2/monitor/health%00/../../config", 400, "path_nul"),
    "broken-escape": ("/api/v2/monitor/health%2", 400, "path_bad_encoding"),
    "non-hex-escape": ("/api/v2/monitor/health%zz", 400, "path_bad_encoding"),
    "percent-percent": ("/api/v2/monitor/health%%32%65", 400, "path_bad_encoding"),
    "encoded-tab": ("/api/v2/monitor/health%09", 401, "missing_credential"),
    "encoded-newline": ("/api/v2/monitor/health%0a", 401, "missing_credential"),
    "absolute-form": ("http://gatehouse.test/api/v2/config", 401, "missing_credential"),
    "absolute-form-with-dot-dot": ("http://gatehouse.test/api/v2/monitor/health/../../config", 401,
                                   "missing_credential"),
    "dot-dots-above-the-root": ("/../../../../api/v2/config", 401, "missing_credential"),
    "five-thousand-dot-dots": ("/api/v2/monitor/health/" + "../" * 5000 + "api/v2/config", 401, "missing_credential"),
}

# Raw request targets http.client will not send; Envoy's codec or the filter refuses them.
RAW_TARGETS = {
    "raw-fragment": b"/api/v2/monitor/health#/../../config",
    "raw-tab": b"/api/v2/monitor/health\t/../../config",
    "raw-nul": b"/api/v2/monitor/health\x00/../../config",
    "raw-del": b"/api/v2/monitor/health\x7f",
    "raw-utf8-two-dot-leader": "/api/v2/monitor/health/\u2025/config".encode(),
    "raw-latin1-byte": b"/api/v2/monitor/health\xe9",
    "relative-target": b"api/v2/config",
    "asterisk-target": b"*",
}

# Spellings that do resolve to a public route: allowed, and the upstream receives the normalized path, so it
# cannot resolve them to something else.
NORMALIZED_TO_PUBLIC = {
    "encoded-question-mark-segment-removed": ("/api/v2/config%3F/../monitor/health", "/api/v2/monitor/health"),
    "encoded-fragment-segment-removed": ("/api/v2/config%23/../monitor/health", "/api/v2/monitor/health"),
    "unreserved-escapes-decoded": ("/%61pi/v2/%6Donitor/health", "/api/v2/monitor/health"),
    "dot-segments-removed": ("/api/v2/x/./../monitor/./health", "/api/v2/monitor/health"),
}


class TestPathConfusion:
    @pytest.mark.parametrize("path,status,reason", CONFUSING_PATHS.values(), ids=CONFUSING_PATHS.keys())
    def test_confusing_paths_never_reach_a_protected_route_unauthenticated(self, bearer, path, status, reason):
        # 401: normalized onto a protected route; 403: no route; 400: a spelling servers disagree on.
        bearer.refuses(status, lambda e: e.get(path), reason=reason)

    @pytest.mark.parametrize("target", RAW_TARGETS.values(), ids=RAW_TARGETS.keys())
    def test_raw_request_targets_outside_the_uri_grammar_get_400(self, bearer, target):
        bearer.refuses(400, lambda e: raw_request(e.port, b"GET " + target + b" HTTP/1.1\r\nhost: gatehouse.test"),
                       reason=BY_ENVOY)

    @pytest.mark.parametrize("path,seen", NORMALIZED_TO_PUBLIC.values(), ids=NORMALIZED_TO_PUBLIC.keys())
    def test_paths_that_resolve_to_a_public_route_reach_the_upstream_normalized(self, bearer, path, seen):
        r = bearer.envoy.get(path)
        assert r.status == 200
        assert [x.path for x in bearer.upstream.take()] == [seen]


# =========================================================================================================
# Oversized and deeply nested input
# =========================================================================================================

def nested_claims(depth):
    return json.dumps(dat_claims())[:-1] + ',"deep":' + "[" * depth + "]" * depth + "}"


def token_just_over(keys, limit):
    """A valid ES256 token one to three characters longer than `limit` (base64url lengths skip some values)."""
    pad = "x" * max(0, (limit - len(keys.sign(dat_claims(pad=""), "ES256"))) * 3 // 4 - 4)
    while True:
        t = keys.sign(dat_claims(pad=pad), "ES256")
        if len(t) > limit:
            return t
        pad += "x"


def ten_thousand_claims(keys):
    return forge({"alg": "ES256", "kid": "k-es256"}, {**dat_claims(), **{f"c{i}": 0 for i in range(10000)}},
                 keys.private["ES256"])


def nested_token(keys, payload=None, header='{"alg":"ES256","kid":"k-es256"}'):
    return forge(header, payload or dat_claims(), keys.private["ES256"], sign_as="ES256")


# (token, status, reason) with Envoy's default limits: 60 KiB of headers answers first, with 431.
OVERSIZED_DEFAULT = {
    "one-mebibyte-authorization": (lambda k: "x" * (1 << 20), 431, BY_ENVOY),
    "ten-thousand-claims": (ten_thousand_claims, 431, BY_ENVOY),
    "token-just-over-max-token-bytes": (lambda k: token_just_over(k, 8192), 401, "token_too_large"),
}

# With Envoy's limit raised, the filter's own bound (max_token_bytes) refuses before decoding, and under the
# bound the JSON parser meets the nesting (serde_json's depth limit of 128, not the VM's stack).
OVERSIZED_RAISED = {
    "one-mebibyte-authorization": (lambda k: "x" * (1 << 20), "token_too_large"),
    "one-mebibyte-of-dots": (lambda k: "." * (1 << 20), "token_too_large"),
    "token-just-over-64-kib": (lambda k: token_just_over(k, 65536), "token_too_large"),
    "ten-thousand-claims": (ten_thousand_claims, "token_too_large"),
    "payload-nested-ten-thousand-deep": (lambda k: nested_token(k, nested_claims(10000)), "bad_json"),
    "payload-nested-one-hundred-thirty-deep": (lambda k: nested_token(k, nested_claims(130)), "bad_json"),
    "payload-objects-nested-six-thousand-deep": (lambda k: nested_token(k, '{"a":' * 6000 + "1" + "}" * 6000),
                                                 "bad_json"),
    "header-nested-ten-thousand-deep": (lambda k: nested_token(
        k, header='{"alg":"ES256","kid":"k-es256","x":' + "[" * 10000 + "]" * 10000 + "}"), "bad_json"),
    "aud-nested-ten-thousand-deep": (lambda k: nested_token(k, replace_claim('"aud":' + "[" * 10000 + "]" * 10000)),
                                     "bad_json"),
}

# Members replacing a registered claim, with the reason each is refused for.
HUGE_NUMBERS = {
    "exp-two-to-the-64": ('"exp":18446744073709551616', "claim_type"),
    "exp-1e308": ('"exp":1e308', "claim_type"),
    "exp-1e400": ('"exp":1e400', "bad_json"),
    "exp-minus-1e400": ('"exp":-1e400', "bad_json"),
    "exp-five-thousand-digits": ('"exp":' + "9" * 5000, "bad_json"),
    "exp-1e-400-is-zero": ('"exp":1e-400', "expired"),
    "nbf-two-to-the-63": ('"nbf":9223372036854775808', "claim_type"),
    "iat-largest-u64": ('"iat":18446744073709551615', "claim_type"),
    "iat-1e300": ('"iat":1e300', "claim_type"),
}

# The session Envoy allows 2 MiB of headers, so all of these reach the filter's cookie parsing.
MANY_COOKIES = {
    "twenty-thousand-cookies": ("; ".join(f"c{i}=v{i}" for i in range(20000)), "no_session"),
    "every-chunk-name-with-junk": ("; ".join(f"{COOKIE}.{i}=" + "A" * 3800 for i in range(64)), "cookie_format"),
    "a-session-cookie-over-32-kib": (f"{COOKIE}=v1.k1." + "A" * 40000, "cookie_too_large"),
    "a-thousand-flow-cookies": ("; ".join(f"{COOKIE}-flow-{i:016d}=v1.k1.AAAA" for i in range(1000)), "no_session"),
    "the-session-cookie-a-thousand-times": ("; ".join([f"{COOKIE}=v1.k1.AAAA"] * 1000), "cookie_format"),
    "a-cookie-name-of-100-kib": ("c" * 102400 + "=v", "no_session"),
}




class TestOversizedAndNested:
    @pytest.mark.parametrize("make,status,reason", OVERSIZED_DEFAULT.values(), ids=OVERSIZED_DEFAULT.keys())
    def test_oversized_credentials_are_refused_at_the_default_limits(self, bearer, keys, make, status, reason):
        token = make(keys)
        bearer.refuses(status, lambda e: e.get(API, token), [token], reason=reason)

    @pytest.mark.parametrize("make,reason", OVERSIZED_RAISED.values(), ids=OVERSIZED_RAISED.keys())
    def test_oversized_and_deeply_nested_tokens_are_refused_by_the_filter_itself(self, big, keys, make, reason):
        token = make(keys)
        big.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    def test_a_valid_token_nested_within_the_parser_limit_is_accepted(self, big, keys):
        # The control for the nesting cases: depth itself is not refused, only depth past the parser's limit.
        assert big.envoy.get(API, nested_token(keys, nested_claims(100))).status == 200
        assert len(big.upstream.take()) == 1

    @pytest.mark.parametrize("member,reason", HUGE_NUMBERS.values(), ids=HUGE_NUMBERS.keys())
    def test_huge_or_absurd_numeric_dates_are_refused(self, bearer, keys, member, reason):
        # RFC 7519 §2 NumericDate; values no clock reaches are errors, not "far future" or "absent".
        token = es256(keys, replace_claim(member))
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, reason)

    @pytest.mark.parametrize("written", [
        pytest.param("10000000000000000", id="integer"),
        pytest.param("1e16", id="float"),
    ])
    def test_an_absurdly_distant_exp_is_refused_however_it_is_written(self, bearer, keys, written):
        # src/jwt/claims.rs: "absurd values are type errors rather than being clamped into something that
        # passes"; 1e16 s is 300 million years away. Both spellings are refused (the integer one was not, before the fix).
        token = es256(keys, replace_claim(f'"exp":{written}'))
        bearer.refuses(401, lambda e: e.get(API, token), [token], INVALID, "claim_type")

    @pytest.mark.parametrize("cookie,reason", MANY_COOKIES.values(), ids=MANY_COOKIES.keys())
    def test_many_or_huge_cookies_are_no_session(self, browser, cookie, reason):
        browser.refuses(401, lambda e: e.get("/dags", headers={**JSON, "cookie": cookie}), reason=reason)

    def test_more_header_lines_than_envoy_allows_get_431(self, browser):
        headers = [("cookie", f"c{i}=v") for i in range(500)]
        browser.refuses(431, lambda e: e.get("/dags", headers=[*JSON.items(), *headers]), reason=BY_ENVOY)
