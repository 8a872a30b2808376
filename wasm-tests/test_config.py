"""A broken plugin configuration is refused by Envoy itself, with every problem named by JSON path."""
import copy
import json
import os
import subprocess

from harness.envoy import ROOT, validate, validate_file
from harness.tokens import plugin_config

CLI = os.environ.get("GATEHOUSE_CLI", str(ROOT / "target" / "release" / "gatehouse"))


def broken(keys):
    cfg = copy.deepcopy(plugin_config(keys))
    cfg["routes"][0]["require"] = "publick"
    cfg["routes"][1]["path"] = {"prefix": "/a/../b"}
    cfg["issuers"][0]["audiences"] = []
    cfg["dataplane"].pop("deployment_id")
    cfg["unknown_knob"] = 1
    return cfg


EXPECTED = [
    "$.dataplane.deployment_id: required field is missing",
    "$.issuers[0].audiences: expected at least one audience",
    "$.routes[0].require: expected one of",
    "$.routes[1].path.prefix: \"/a/../b\" is not a normalized path",
    "$.unknown_knob: unknown field",
]


def test_envoy_refuses_a_broken_plugin_config_and_prints_every_problem(keys):
    code, out = validate(broken(keys), env=keys.env())
    assert code != 0
    for line in EXPECTED:
        assert line in out, f"{line!r} not in Envoy output:\n{out[-3000:]}"


def test_envoy_accepts_the_valid_plugin_config(keys):
    code, out = validate(plugin_config(keys), env=keys.env())
    assert code == 0, out[-3000:]


def test_a_missing_secret_environment_variable_is_a_config_error_that_names_the_variable_only(keys):
    code, out = validate(plugin_config(keys), env={})
    assert code != 0
    assert "$.issuers[0].hmac_keys[0].secret_env: environment variable GATEHOUSE_TEST_HS256 is not set" in out


def test_the_cli_validator_prints_the_same_messages_and_exits_1(keys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken(keys)))
    p = subprocess.run([CLI, "validate-config", str(path)], capture_output=True, text=True, env={**os.environ, **keys.env()})
    assert p.returncode == 1
    for line in EXPECTED:
        assert line in p.stdout
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plugin_config(keys)))
    p = subprocess.run([CLI, "validate-config", str(good)], capture_output=True, text=True, env={**os.environ, **keys.env()})
    assert p.returncode == 0, p.stderr
    assert "ok (8 routes, 2 issuers)" in p.stdout

