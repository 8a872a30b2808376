"""Gatehouse's sealed cookie format, written independently with `cryptography` (AES-256-GCM):
`v1.<key id>.<base64url(nonce || ciphertext || tag)>`, associated data
`gatehouse-cookie\\0v1\\0<key id>\\0<cookie name>\\0<deployment id>`."""
import base64
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import secrets as registry


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def aad(kid, name, binding):
    return b"\0".join([b"gatehouse-cookie", b"v1", kid.encode(), name.encode(), binding.encode()])


def seal(kid, key, name, binding, payload):
    registry.register(key)
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), aad(kid, name, binding))
    return registry.register_token(f"v1.{kid}.{b64(nonce + ct)}")


def open_sealed(kid, key, name, binding, value):
    registry.register_token(value)
    version, got_kid, body = value.split(".", 2)
    assert version == "v1" and got_kid == kid
    blob = unb64(body)
    return json.loads(AESGCM(key).decrypt(blob[:12], blob[12:], aad(kid, name, binding)))
