"""Tools and payloads for test_hostile.py: JWS forged byte by byte (PyJWT refuses to make most of them),
raw request lines that http.client will not send, how a browser resolves a `Location`, and the checks every
hostile case ends with."""
import base64
import hashlib
import hmac
import json
import socket
import urllib.parse

from jwt.algorithms import get_default_algorithms

from . import secrets as registry
from .envoy import Response

_ALGORITHMS = get_default_algorithms()
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(part):
    """Parts given as str/bytes are used verbatim (duplicate members, odd escapes); dicts are serialized."""
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode()
    return json.dumps(part, separators=(",", ":")).encode()


def signature(alg, key, signing_input):
    """The JWS signature of `signing_input` under `alg`. HMAC keys may be any bytes (a PEM, a JWK's JSON),
    which is what algorithm-confusion attacks use and what PyJWT's own API refuses."""
    if alg in _HMAC:
        return hmac.new(key if isinstance(key, bytes) else key.encode(), signing_input, _HMAC[alg]).digest()
    return _ALGORITHMS[alg].sign(signing_input, key)


def forge(header, payload, key=None, sign_as=None, sig=None):
    """A compact JWS from raw parts. `sign_as` is the algorithm really used to sign (default: the header's
    `alg`); `sig` replaces the signature (bytes, or a str used verbatim, e.g. "" for `alg: none`)."""
    signing_input = f"{b64(_json(header))}.{b64(_json(payload))}"
    if sig is None:
        alg = sign_as or header["alg"]
        sig = b64(signature(alg, key, signing_input.encode()))
    elif isinstance(sig, bytes):
        sig = b64(sig)
    return registry.register_token(f"{signing_input}.{sig}")


def raw_request(port, head, timeout=10):
    """Sends `head` (bytes: request line and headers, without the final blank line) exactly as given, for
    request targets http.client cannot send (raw UTF-8, tabs, NUL); the answer carries only its status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + b"\r\nconnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return Response(int(data.split(b" ", 2)[1]), [], b"")


def browser_resolve(base, location):
    """Where a browser goes for `Location: location` on a page at `base` (WHATWG URL, for http(s)): tabs and
    newlines are dropped, leading/trailing C0 and spaces trimmed, and `\\` is a path separator like `/`."""
    cleaned = "".join(c for c in location if c not in "\t\n\r").strip("".join(map(chr, range(0x21))))
    cleaned = cleaned.replace("\\", "/")
    return urllib.parse.urlsplit(urllib.parse.urljoin(base, cleaned))


CRASH_MARKERS = ("panicked", "Uncaught", "wasm trap", "Function: proxy_on", "VM failed", "Wasm VM fatal")


class LogWindow:
    """The part of an Envoy log written since it was opened: what one hostile case made Envoy say."""

    def __init__(self, envoy):
        self.envoy = envoy
        with open(envoy.log_path, "rb") as f:
            self.start = f.seek(0, 2)

    def text(self):
        with open(self.envoy.log_path, "rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace")


def assert_clean_log(window, values):
    """What Envoy logged during a case: no sign of a VM failure, and none of the case's secrets."""
    text = window.text()
    for marker in CRASH_MARKERS:
        assert marker not in text, f"the VM failed ({marker!r}):\n{text[-3000:]}"
    for value in values:
        if value and len(value) >= registry.MIN_LEN:
            assert value not in text, f"a secret of this case is in the Envoy log: {value[:24]}…"


# ---- payloads ---------------------------------------------------------------------------------------------

# RFC 7515 §4.1.1: `alg` is case-sensitive; "none" in any spelling is an unsecured JWS (RFC 7519 §6), which
# RFC 8725 §3.1 says must not be accepted when a signature is expected.
ALG_NONE_SPELLINGS = ["none", "None", "NONE", "nOnE"]

# `kid` values from classic key-lookup injections (RFC 8725 §3.10: kid is attacker-controlled input).
KID_INJECTIONS = {
    "path-traversal-dev-null": ("../../../../../../dev/null", b""),
    "absolute-dev-null": ("/dev/null", b""),
    "path-traversal-proc": ("../../../../proc/self/environ", b"GATEHOUSE_TEST_HS256"),
    "sql-union": ("x' UNION SELECT 'attacker-secret' -- ", b"attacker-secret"),
    "sql-or-true": ("' OR '1'='1", b"attacker-secret"),
    "sql-drop": ("k-hs256'; DROP TABLE keys; --", b"attacker-secret"),
    "command-substitution": ("$(cat /etc/passwd)", b"attacker-secret"),
    "url": ("https://evil.example/key", b"attacker-secret"),
    "very-long-4000": ("k" * 4000, b"attacker-secret"),
    "wildcard": ("*", b"attacker-secret"),
    "empty": ("", b"attacker-secret"),
}

# `?next=` values for Airflow's login paths (RFC 9700 §4.11, open redirection): each would send the browser
# off our origin if kept. Written exactly as they appear in the query string (backslashes raw or encoded).
OPEN_REDIRECTS = {
    "scheme-relative": "//evil.example",
    "triple-slash": "///evil.example",
    "quadruple-slash": "////evil.example",
    "slash-backslash": "/\\evil.example",
    "slash-backslash-encoded": "/%5Cevil.example",
    "backslash-slash": "\\/evil.example",
    "backslash-slash-encoded": "%5C/evil.example",
    "double-backslash": "%5C%5Cevil.example",
    "absolute-https": "https://evil.example",
    "absolute-https-encoded": "https%3A%2F%2Fevil.example",
    "scheme-without-slashes": "https:evil.example",
    "userinfo": "//gatehouse.test@evil.example",
    "slash-then-encoded-slashes": "/%2F%2Fevil.example",
    "slash-then-double-encoded-slashes": "/%252F%252Fevil.example",
    "encoded-slashes": "%2f%2fevil.example",
    "double-encoded-slashes": "%252f%252fevil.example",
    "tab-between-slashes": "/%09/evil.example",
    "double-encoded-tab": "/%2509/evil.example",
    "newline-between-slashes": "/%0a/evil.example",
    "crlf-header-injection": "/%0d%0aLocation:%20https://evil.example",
    "javascript": "javascript:alert(1)",
    "javascript-upper": "JaVaScRiPt:alert(1)",
    "data-url": "data:text/html,%3Cscript%3Ealert(1)%3C/script%3E",
    "space-between-slashes": "/%20/evil.example",
    "plus-between-slashes": "/+/evil.example",
    "nul-between-slashes": "/%00/evil.example",
    "slash-encoded-backslash": "/%255Cevil.example",
    "overlong": "/" + "a" * 3000,
    "empty": "",
}

# Identity header names a client might forge (README "Forward or refuse": every mix of `-` and `_`, any case).
IDENTITY_FORGERIES = [
    "X-Gatehouse-Subject", "x_gatehouse_subject", "X_GATEHOUSE_SUBJECT", "x-gatehouse_subject",
    "x_gatehouse-subject", "X-GATEHOUSE-ROLE", "x_gatehouse_role", "x-gatehouse-permissions",
    "x_gatehouse_permissions", "x-gatehouse-scope", "x_gatehouse_scope", "x-gatehouse-issuer",
    "X_Gatehouse_Issuer", "x-gatehouse-token-id", "x_gatehouse_token_id", "x-gatehouse-token_id",
]
