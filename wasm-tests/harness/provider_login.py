"""Signing in at the real OpenID provider (harness.peers.Idp) with plain HTTP instead of a browser: follow its
redirects, post the login form, and stop at the first redirect that leaves the provider (the callback).

Hostile-request tests use it to get real authorization codes and ID tokens without starting Chromium."""
import base64
import hashlib
import http.client
import json
import re
import secrets
import urllib.parse

from . import secrets as registry


class ProviderSession:
    """One user agent at the provider: its cookies (the provider's only; they are never sent elsewhere)."""

    def __init__(self, idp):
        self.idp = idp
        self.cookies = {}

    def _request(self, method, url, body=None):
        u = urllib.parse.urlsplit(url)
        assert (u.hostname, u.port) == ("127.0.0.1", self.idp.port), f"not the provider: {url}"
        c = http.client.HTTPConnection("127.0.0.1", self.idp.port, timeout=10)
        headers = {"accept": "text/html"}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
        c.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        for name, value in r.getheaders():
            if name.lower() == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                if v:
                    self.cookies[k.strip()] = v
                else:
                    self.cookies.pop(k.strip(), None)
        c.close()
        return r.status, r.getheader("location"), text

    def authorize(self, authorize_url, user="alice", password="x", abort=False, max_steps=12):
        """Runs the provider's side of a sign-in from its authorize URL; returns the URL it finally sends the
        browser to (the client's redirect_uri with `code` and `state`, or `error`). `abort` cancels at the
        login form, as a person pressing "Cancel" would."""
        url, method, body = authorize_url, "GET", None
        for _ in range(max_steps):
            status, location, text = self._request(method, url, body)
            if status in (302, 303) and location:
                target = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(target).port != self.idp.port:
                    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
                    registry.register(query.get("code"))
                    return target
                url, method, body = target, "GET", None
                continue
            form = re.search(r'<form[^>]*action="([^"]+)"[^>]*method="post"', text)
            if status == 200 and form:
                action = urllib.parse.urljoin(url, form.group(1))
                if abort:
                    url, method, body = action + "/abort", "GET", None
                else:
                    url, method = action, "POST"
                    body = urllib.parse.urlencode({"login": user, "password": password})
                continue
            raise AssertionError(f"provider answered {status} at {url}:\n{text[:2000]}")
        raise AssertionError("the provider kept redirecting")


def pkce_pair():
    """A fresh RFC 7636 verifier and its S256 challenge."""
    verifier = registry.register(secrets.token_urlsafe(48))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def own_authorize_url(idp, client_id, redirect_uri, challenge, state=None):
    """An authorize request of our own (the test acting as the client, or as an attacker at the same client)."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email", "state": state or secrets.token_urlsafe(24),
              "nonce": secrets.token_urlsafe(24), "code_challenge": challenge, "code_challenge_method": "S256"}
    return idp.info["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)


def redeem(idp, code, verifier, redirect_uri, client_id, client_secret):
    """The token request (RFC 6749 §4.1.3) as the client; returns the provider's JSON answer."""
    u = urllib.parse.urlsplit(idp.info["token_endpoint"])
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "code_verifier": verifier})
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    c = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
    c.request("POST", u.path, body=body, headers={"content-type": "application/x-www-form-urlencoded",
                                                  "authorization": f"Basic {basic}"})
    r = c.getresponse()
    answer = json.loads(r.read())
    c.close()
    for name in ("id_token", "access_token", "refresh_token"):
        if name in answer:
            registry.register_token(answer[name])
    return answer
