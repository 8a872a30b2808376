"""The CLI's keys and tokens work against the filter in a real Envoy."""
import json
import os
import subprocess

import pytest

from harness.envoy import ROOT, Envoy
from harness.tokens import AUDIENCE, DEPLOYMENT, ORG, PLATFORM_ISS, ROLES, WORKSPACE

CLI = os.environ.get("GATEHOUSE_CLI", str(ROOT / "target" / "release" / "gatehouse"))


def cli(*args, env=None):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def cli_envoy(upstream, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    pairs = {t: json.loads(cli("keygen", "--type", t, "--kid", f"cli-{t}")) for t in ["ed25519", "p256", "p384", "rsa"]}
    for t, pair in pairs.items():
        (d / f"{t}.json").write_text(json.dumps(pair))
    secret = json.loads(cli("keygen", "--type", "hmac"))["secret"]
    cfg = {
        "dataplane": {"organization_id": ORG, "workspace_id": WORKSPACE, "deployment_id": DEPLOYMENT},
        "roles": ROLES,
        "issuers": [{"name": "platform", "issuer": PLATFORM_ISS, "audiences": [AUDIENCE], "kind": "direct_access",
                     "jwks": {"keys": [k for p in pairs.values() for k in p["jwks"]["keys"]]},
                     "hmac_keys": [{"kid": "cli-hmac", "alg": "HS512", "secret_env": "CLI_HS512"}]}],
        "routes": [{"name": "api", "path": {"prefix": "/api"}, "require": "bearer", "permissions": ["deployment.read"]}],
    }
    e = Envoy(cfg, upstream.port, env={"CLI_HS512": secret})
    yield e, d, secret
    e.stop()


def mint(d, key_args, scope="deployment", env=None):
    args = ["token", "mint", *key_args, "--iss", PLATFORM_ISS, "--aud", AUDIENCE, "--sub", "cli-robot",
            "--role", "ORGANIZATION_VIEWER", "--scope", scope, "--org", ORG, "--workspace", WORKSPACE,
            "--deployment", DEPLOYMENT, "--ttl", "300"]
    return cli(*args, env=env).strip()


@pytest.mark.parametrize("kind,alg", [("ed25519", None), ("p256", None), ("p384", None), ("rsa", None),
                                      ("rsa", "RS512"), ("rsa", "PS256")])
def test_tokens_minted_by_the_cli_with_keygen_keys_are_accepted(cli_envoy, upstream, kind, alg):
    envoy, d, _ = cli_envoy
    key_args = ["--key", str(d / f"{kind}.json")] + (["--alg", alg] if alg else [])
    token = mint(d, key_args)
    if alg and alg != "RS256":
        # The JWKS pins this RSA key to RS256, so any other algorithm must be refused (RFC 8725 §3.1).
        assert envoy.get("/api/x", token).status == 401
        return
    r = envoy.get("/api/x", token)
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-subject") == "cli-robot"


def test_hmac_tokens_minted_from_the_environment_are_accepted(cli_envoy, upstream):
    envoy, d, secret = cli_envoy
    token = mint(d, ["--hmac-env", "SECRET", "--alg", "HS512", "--kid", "cli-hmac"], env={"SECRET": secret})
    assert envoy.get("/api/x", token).status == 200


def test_cli_errors_are_clear_and_exit_non_zero():
    p = subprocess.run([CLI, "keygen", "--type", "dsa"], capture_output=True, text=True)
    assert p.returncode == 1 and "unknown key type" in p.stderr
    p = subprocess.run([CLI, "token", "mint", "--hmac-env", "NOPE_NOT_SET", "--alg", "HS256"], capture_output=True, text=True)
    assert p.returncode == 1 and "NOPE_NOT_SET is not set" in p.stderr
    p = subprocess.run([CLI, "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 1 and "usage:" in p.stderr
