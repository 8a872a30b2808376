"""The real OpenID provider (npm oidc-provider, standing in for Auth0) and the real browser (Debian chromium
through npm playwright-core), both from wasm-tests/e2e/."""
import json
import os
import subprocess
import tempfile
from pathlib import Path

from . import secrets as registry

E2E = Path(__file__).resolve().parents[1] / "e2e"


class Idp:
    def __init__(self, clients, users, roles_claim="https://gatehouse.test/roles", token_exchange=None):
        for client in clients:
            registry.register(client.get("client_secret"))
        if token_exchange:
            registry.register(token_exchange.get("secret"))
        self.dir = tempfile.mkdtemp(prefix="gatehouse-idp-")
        cfg = {"port": 0, "host": "127.0.0.1", "clients": clients, "users": users, "roles_claim": roles_claim}
        if token_exchange:
            cfg["token_exchange"] = token_exchange
        path = os.path.join(self.dir, "idp.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.log_path = os.path.join(self.dir, "idp.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["node", str(E2E / "idp.mjs"), path], stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, cwd=str(E2E))
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("idp did not start:\n" + open(self.log_path).read()[-3000:])
        self.info = json.loads(line)
        self.issuer = self.info["issuer"]
        self.port = self.info["port"]
        self.jwks = self.info["jwks"]

    def stats(self):
        """The provider's counters (token exchanges, refreshes, back-channel logouts sent)."""
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/__test/stats")
        return json.loads(c.getresponse().read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def browse(steps, timeout=120):
    """Runs steps in one fresh headless Chromium context; returns the list of step results."""
    d = tempfile.mkdtemp(prefix="gatehouse-browser-")
    path = os.path.join(d, "steps.json")
    with open(path, "w") as f:
        json.dump({"steps": steps}, f)
    p = subprocess.run(["node", str(E2E / "browser.mjs"), path], capture_output=True, text=True, timeout=timeout,
                       cwd=str(E2E))
    if p.returncode != 0 or not p.stdout.strip():
        raise RuntimeError(f"browser failed ({p.returncode}):\n{p.stderr[-3000:]}")
    results = json.loads(p.stdout)["results"]
    # Whatever the browser holds (our session and flow cookies, the provider's) is a credential.
    for r in results:
        for c in r.get("cookies") or []:
            registry.register_token(c.get("value") or "")
    for step in steps:
        for c in step.get("add_cookies") or []:
            registry.register_token(c.get("value") or "")
    return results
