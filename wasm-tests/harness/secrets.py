"""Every secret value the suites use: tokens, cookies, codes, verifiers, client secrets and key material.

The harness registers them as it makes them (tokens.py when it signs, cookies.py when it seals, Keys when it
generates, peers.py for client secrets and the cookies a browser holds, airflow.py for its secret and minted
tokens), and test_zz_log_redaction.py checks that none of them ever appears in an Envoy log. Values shorter
than MIN_LEN are not kept: they could match log text by accident and prove nothing."""
import base64
import json

MIN_LEN = 8
_values = set()


def register(value):
    """Remembers a secret (str or bytes) and returns it unchanged, so it can wrap an expression."""
    if isinstance(value, bytes):
        for text in (base64.urlsafe_b64encode(value).rstrip(b"=").decode(), base64.b64encode(value).decode(),
                     value.hex()):
            _add(text)
        try:
            _add(value.decode())
        except UnicodeDecodeError:
            pass
    elif value is not None:
        _add(str(value))
    return value


def register_token(token):
    """A compact JWS or any dotted credential: the whole value and each long part (a payload or signature
    logged on its own is a leak too). Returns the token."""
    register(token)
    if isinstance(token, str):
        for part in token.split("."):
            if len(part) >= 16:
                _add(part)
    return token


def register_jwk(jwk):
    """The private members of a JWK (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2) and the whole JSON form."""
    for member in ("d", "p", "q", "dp", "dq", "qi", "k"):
        if member in jwk:
            _add(jwk[member])
    if any(m in jwk for m in ("d", "k")):
        _add(json.dumps(jwk))
        _add(json.dumps(jwk, separators=(",", ":")))
    return jwk


def register_private_key(key):
    """A `cryptography` private key in the forms it could leak in: PKCS#8 PEM, its DER in base64, and the
    private JWK members. Public halves are never registered: they are in the plugin configuration."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    _add(pem)
    _add("".join(pem.strip().splitlines()[1:-1]))  # the DER in base64 on one line
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else (
        ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else OKPAlgorithm)
    register_jwk(json.loads(algorithm.to_jwk(key)))
    return key


def _add(text):
    if len(text) >= MIN_LEN:
        _values.add(text)


def values():
    return frozenset(_values)


class Finder:
    """Finds registered values in text. Indexed by each value's first MIN_LEN characters, so a log of megabytes
    against thousands of values is one pass, not one search per value."""

    def __init__(self, secrets):
        self.by_prefix = {}
        for v in secrets:
            self.by_prefix.setdefault(v[:MIN_LEN], []).append(v)

    def find(self, line):
        found = []
        for i in range(len(line) - MIN_LEN + 1):
            for v in self.by_prefix.get(line[i:i + MIN_LEN], ()):
                if line.startswith(v, i):
                    found.append(v)
        return found
