"""The CLI's keys and tokens work against the filter in a real Envoy."""
import json
import os
import subprocess

import pytest
import yaml

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


def test_work_that_fails_exits_1_and_says_why():
    p = subprocess.run([CLI, "token", "mint", "--hmac-env", "NOPE_NOT_SET", "--alg", "HS256", "--iss", "i",
                        "--aud", "a", "--sub", "s"], capture_output=True, text=True)
    assert p.returncode == 1 and "NOPE_NOT_SET is not set" in p.stderr
    p = subprocess.run([CLI, "token", "mint", "--key", "/nonexistent/key.json", "--iss", "i", "--aud", "a",
                        "--sub", "s"], capture_output=True, text=True)
    assert p.returncode == 1 and "cannot read /nonexistent/key.json" in p.stderr


def run(*args, stdin=None, env=None, cwd=None):
    return subprocess.run([CLI, *args], capture_output=True, text=True, input=stdin, cwd=cwd,
                          env={**os.environ, **(env or {})})


MINT = ["token", "mint", "--hmac-env", "V", "--alg", "HS256", "--iss", "i", "--aud", "a", "--sub", "s"]


@pytest.mark.parametrize("args,message", [
    (["keygen", "--type", "rsa", "--bitz", "4096"], "a similar argument exists: '--bits'"),
    (["keygen", "--type", "dsa"], "invalid value 'dsa' for '--type <TYPE>'"),
    (["keygen", "--type", "p256", "--bits", "4096"], "--bits is for --type rsa only"),
    (["keygen", "--type", "rsa", "--bits", "1024"], "1024 is not in 2048..=4096"),
    (["keygen", "--type"], "a value is required for '--type <TYPE>'"),
    (["keygen"], "the following required arguments were not provided"),
    ([*MINT, "--tll", "60"], "a similar argument exists: '--ttl'"),
    ([*MINT, "--ttl", "soon"], "invalid value 'soon' for '--ttl <SECONDS>'"),
    ([*MINT, "--scope", "team"], "invalid value 'team' for '--scope"),
    ([*MINT, "--scope", "workspace", "--org", "o"], "--scope workspace needs --workspace"),
    ([*MINT, "--scope", "workspace", "--org", "o", "--workspace", "w", "--deployment", "d"],
     "--deployment does not belong in a workspace-scoped token"),
    ([*MINT, "--org", "o"], "the following required arguments were not provided:\n  --scope"),
    ([*MINT[:4], *MINT[6:], "--alg", "HS999"], "invalid value 'HS999' for '--alg <ALG>'"),
    (["token", "mint", "--iss", "i", "--aud", "a", "--sub", "s"], "<--key <PRIVATE_JWK_FILE>|--hmac-env <VAR>>"),
    (["token", "mint", "--key", "k.json", "--hmac-env", "V", "--alg", "HS256", "--iss", "i", "--aud", "a",
      "--sub", "s"], "cannot be used with"),
    (["token", "mint", "--hmac-env", "V", "--iss", "i", "--aud", "a", "--sub", "s"], "--alg <ALG>"),
    (["token", "mnit"], "a similar subcommand exists: 'mint'"),
    (["validate-config", "f.json", "--json"], "unexpected argument '--json'"),
    (["validate-config", "f.json", "-o", "yaml"], "invalid value 'yaml' for '--output"),
    (["validate-config"], "<FILE>"),
    (["validate-conf", "f.json"], "a similar subcommand exists: 'validate-config'"),
    (["frobnicate"], "unrecognized subcommand 'frobnicate'"),
    (["schema", "extra"], "unexpected argument 'extra'"),
])
def test_every_usage_error_exits_2_naming_the_problem_and_printing_nothing_on_stdout(args, message):
    p = run(*args, env={"V": "x" * 64})
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert message in p.stderr, p.stderr
    assert p.stdout == ""


def test_an_unknown_option_with_an_inline_value_is_reported_without_the_value():
    p = run("keygen", "--type", "hmac", "--secret=hunter2-do-not-echo")
    assert p.returncode == 2 and "unexpected argument '--secret'" in p.stderr and "hunter2" not in p.stderr, p.stderr


@pytest.mark.parametrize("args", [[], ["validate-config"], ["schema"], ["stats-tags"], ["keygen"], ["token"],
                                  ["token", "mint"], ["probe"]])
def test_help_works_on_every_command(args):
    p = run(*args, "--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(("Validate", "Print", "Tokens", "Check")) and "Usage: gatehouse" in p.stdout, p.stdout


def test_version_names_the_commit_the_binary_was_built_from():
    p = run("--version")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0
    assert p.stdout.strip() == f"gatehouse 0.1.0 (commit {head.stdout.strip()})"
    assert run("keygen", "--version").stdout == p.stdout.replace("gatehouse ", "gatehouse-keygen ")


def test_a_bare_command_prints_the_help_and_exits_2():
    p = run()
    assert p.returncode == 2 and "Usage: gatehouse <COMMAND>" in p.stderr


SHIPPED = sorted((ROOT / "envoy-config").glob("*.yaml")) + sorted((ROOT / "envoy-config" / "ecds").glob("*.yaml")) \
    + [ROOT / "envoy-config" / "istio" / n for n in ("wasmplugin.yaml", "wasmplugin-gateway.yaml")]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_validate_config_finds_the_plugin_configuration_in_every_shipped_file(path):
    p = run("validate-config", "--no-env", str(path.relative_to(ROOT)), cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    (line,) = p.stdout.splitlines()
    where = "spec.pluginConfig" if "istio" in path.parts else "typed_config.config.configuration"
    assert where in line and line.endswith("issuers)") and ": ok (" in line, line
    if path.parent.name == "envoy-config":
        # A bootstrap's filter is configured by ECDS: the file it reads is followed, as Envoy follows it.
        assert f"config_discovery → envoy-config/ecds/{path.name}" in line, line


def test_validate_config_reads_yaml_from_standard_input():
    text = (ROOT / "envoy-config" / "istio" / "wasmplugin.yaml").read_text()
    p = run("validate-config", "-", "--no-env", stdin=text)
    assert p.returncode == 0 and p.stdout.startswith("<stdin>: spec.pluginConfig: ok ("), p.stdout + p.stderr


def test_a_secret_the_wasmplugin_does_not_give_the_vm_is_a_problem_at_its_json_path(tmp_path):
    docs = list(yaml.safe_load_all((ROOT / "envoy-config" / "istio" / "wasmplugin.yaml").read_text()))
    plugin = next(d for d in docs if d and d.get("kind") == "WasmPlugin")
    plugin["spec"]["vmConfig"]["env"] = [e for e in plugin["spec"]["vmConfig"]["env"] if e["name"] != "GATEHOUSE_COOKIE_KEYS"]
    f = tmp_path / "plugin.yaml"
    f.write_text(yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, plugin]))
    p = run("validate-config", str(f), "--no-env", "-o", "json")
    assert p.returncode == 1, p.stderr
    report = json.loads(p.stdout)
    assert report["valid"] is False
    (found,) = report["configurations"]
    assert found["at"] == f"{f} (document 2): spec.pluginConfig"
    assert found["problems"] == [{"path": "$.session.keys_env", "message": "environment variable GATEHOUSE_COOKIE_KEYS "
                                  "is not set in the VM (vm_config.environment_variables)"}]


def test_an_inline_wasm_filter_in_a_bootstrap_is_validated_with_its_vm_environment(tmp_path):
    plugin = {"dataplane": {"organization_id": ORG, "workspace_id": WORKSPACE, "deployment_id": DEPLOYMENT},
              "issuers": [{"name": "p", "issuer": PLATFORM_ISS, "audiences": [AUDIENCE], "kind": "access_token",
                           "hmac_keys": [{"kid": "k", "alg": "HS256", "secret_env": "INLINE_SECRET"}]}],
              "routes": [{"name": "api", "path": {"prefix": "/"}, "require": "bearer"}]}
    wasm = {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {"vm_config": {"environment_variables": {"key_values": {"INLINE_SECRET": "s" * 32}}},
                       "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                         "value": json.dumps(plugin)}}}
    bootstrap = {"static_resources": {"listeners": [{"filter_chains": [{"filters": [{"typed_config": {
        "http_filters": [{"name": "gatehouse", "typed_config": wasm}]}}]}]}]}}
    f = tmp_path / "bootstrap.json"
    f.write_text(json.dumps(bootstrap))
    p = run("validate-config", str(f), "-o", "json", env={"INLINE_SECRET": ""})
    assert p.returncode == 0, p.stdout
    (found,) = json.loads(p.stdout)["configurations"]
    assert found == {"at": f"{f}: $.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
                     ".http_filters[0].typed_config.config.configuration", "valid": True, "routes": 1, "issuers": 1}
    # The same filter without the inline value: the VM has no such variable, whatever this shell has.
    del wasm["config"]["vm_config"]["environment_variables"]["key_values"]["INLINE_SECRET"]
    f.write_text(json.dumps(bootstrap))
    p = run("validate-config", str(f), env={"INLINE_SECRET": "s" * 32})
    assert p.returncode == 1 and "$.issuers[0].hmac_keys[0].secret_env: environment variable INLINE_SECRET is not set" in p.stdout


@pytest.mark.parametrize("text,message", [
    ("routes: [\n", "neither JSON nor YAML"),
    ("", "the file is empty"),
    ("apiVersion: v1\nkind: Secret\n", "no Gatehouse plugin configuration here"),
    ("routes: 3\n", "$.routes: expected an array; got a number"),
])
def test_what_is_not_a_valid_configuration_exits_1_and_says_why(text, message):
    p = run("validate-config", "-", "--no-env", stdin=text)
    assert p.returncode == 1 and message in p.stdout, p.stdout + p.stderr
