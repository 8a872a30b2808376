"""`gatehouse probe` against the real Envoy with dist/gatehouse.wasm: a healthy deployment passes every check in
every output format, and each kind of breakage (Envoy down, a route that does not enforce, a bad token, a
gateway that never answers) is reported with its reason code and exit status 1. The token and the canary value
never appear in the probe's output."""
import json
import os
import re
import socket
import subprocess
import time

import pytest

from harness import secrets as registry
from harness.cookies import b64
from harness.envoy import ROOT, Envoy, free_port
from harness.tokens import dat_claims, plugin_config

CLI = os.environ.get("GATEHOUSE_CLI", str(ROOT / "target" / "release" / "gatehouse"))
CANARY_HEADER = "x-gatehouse-canary"
CANARY_VALUE = registry.register("canary-" + b64(os.urandom(18)))
ALL_CHECKS = {"public": 200, "api": 200, "api_enforced": 401, "legacy": 200, "session_redirect": 302,
              "session_api": 401}


def deployment_config(keys, api_require="bearer"):
    """The harness's plugin configuration (public health route, bearer API routes, a session UI route) with
    browser sign-in configured. The provider is never called: the sign-in redirect needs no call out."""
    cfg = plugin_config(keys)
    for route in cfg["routes"]:
        if route["name"] == "api":
            route["require"] = api_require
            if api_require == "public":
                route.pop("permissions", None)
    cfg["session"] = {
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": "http://127.0.0.1/oauth2/callback",
        "provider": {
            "issuer": "http://127.0.0.1:1/", "client_id": "gatehouse", "client_secret_env": "CLIENT_SECRET",
            "authorization_endpoint": "http://127.0.0.1:1/authorize",
            "token_endpoint": {"cluster": "idp", "authority": "127.0.0.1", "path": "/token", "timeout_ms": 1000},
            "jwks": {"keys": [keys.public_jwk(keys.auth0, "RS256", "idp")]},
        },
    }
    cfg["upstream_token"] = {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"}, "default_role": "VIEWER"}
    return cfg


def start(keys, upstream, **kw):
    env = {**keys.env(), "COOKIE_KEYS": f"k1:{b64(os.urandom(32))}", "CLIENT_SECRET": "probe-client-secret",
           "AIRFLOW_SECRET": b64(os.urandom(48))}
    return Envoy(deployment_config(keys, **kw), upstream.port, env=env, clusters={"idp": free_port()})


@pytest.fixture(scope="module")
def deployment(keys, upstream):
    e = start(keys, upstream)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def token(keys):
    return keys.sign(dat_claims(role="ORGANIZATION_VIEWER"))


def probe(*args, env=None, secrets=()):
    """Runs the CLI; every run checks that no secret it was given appears in what it printed."""
    p = subprocess.run([CLI, "probe", *args], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
    for secret in (*secrets, CANARY_VALUE):
        assert secret not in p.stdout and secret not in p.stderr, "a secret was printed"
        for part in secret.split("."):
            if len(part) >= 16:
                assert part not in p.stdout and part not in p.stderr, "part of a token was printed"
    return p


def full(port, fmt="json", extra=()):
    return ["--url", f"http://127.0.0.1:{port}", "--host", "airflow.example.com",
            "--public", "/api/v2/monitor/health", "--api", "/api/v2/dags", "--token-env", "PROBE_TOKEN",
            "--session", "/ui/", "--legacy-header", CANARY_HEADER, "--legacy-value-env", "CANARY_SECRET",
            "--timeout-ms", "3000", "--format", fmt, *extra]


def run_full(port, token, fmt="json", extra=()):
    return probe(*full(port, fmt, extra), env={"PROBE_TOKEN": token, "CANARY_SECRET": CANARY_VALUE},
                 secrets=[token])


def checks_of(p):
    report = json.loads(p.stdout)
    return report, {c["name"]: c for c in report["checks"]}


def parse_prometheus(text):
    """Families from HELP/TYPE lines and samples as {(metric, labels): value}; fails on any other line."""
    families, samples = {}, {}
    sample = re.compile(r'^([a-z_]+)(?:\{((?:[a-z_]+="[^"\\\n]*",?)*)\})? (-?[0-9.e+-]+)$')
    for line in text.splitlines():
        if m := re.match(r"^# (HELP|TYPE) ([a-z_]+) (.+)$", line):
            families.setdefault(m[2], {})[m[1]] = m[3]
            continue
        m = sample.match(line)
        assert m, f"not a Prometheus exposition line: {line!r}"
        assert m[1] in families, f"{m[1]} has no HELP/TYPE before its samples"
        labels = tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', m[2] or "")))
        samples[(m[1], labels)] = float(m[3])
    return families, samples


def test_a_healthy_deployment_passes_every_check_as_json(deployment, token, upstream):
    p = run_full(deployment.port, token)
    assert p.returncode == 0, p.stdout + p.stderr
    report, checks = checks_of(p)
    assert report["ok"] is True and report["url"] == f"http://127.0.0.1:{deployment.port}"
    assert {n: c["status"] for n, c in checks.items()} == ALL_CHECKS
    for c in checks.values():
        assert c["ok"] is True and c["reason"] is None and 0 < c["latency_ms"] < 3000, c
    seen = upstream.take()
    assert {r.header("host") for r in seen} == {"airflow.example.com"}, "--host is the Host the gateway sees"
    assert [r.path for r in seen] == ["/api/v2/monitor/health", "/api/v2/dags", "/api/v2/dags"], \
        "only the public and the two token requests reach the upstream"


def test_a_healthy_deployment_passes_every_check_as_prometheus(deployment, token):
    p = run_full(deployment.port, token, "prometheus")
    assert p.returncode == 0, p.stdout + p.stderr
    families, samples = parse_prometheus(p.stdout)
    for name in ["gatehouse_probe_up", "gatehouse_probe_latency_seconds", "gatehouse_probe_status"]:
        assert families[name]["TYPE"] == "gauge" and families[name]["HELP"]
    for check, status in ALL_CHECKS.items():
        assert samples[("gatehouse_probe_up", (("check", check),))] == 1
        assert samples[("gatehouse_probe_status", (("check", check),))] == status
        assert 0 < samples[("gatehouse_probe_latency_seconds", (("check", check),))] < 3
    assert samples[("gatehouse_probe_success", ())] == 1
    assert not [k for k in samples if k[0] == "gatehouse_probe_failure"]


def test_a_healthy_deployment_passes_every_check_as_text(deployment, token):
    p = run_full(deployment.port, token, "text")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == len(ALL_CHECKS) + 1
    for check, status in ALL_CHECKS.items():
        (line,) = [line for line in lines if line.split()[1] == check]
        assert line.split()[0] == "ok" and line.split()[2] == str(status), line
    assert lines[-1] == f"probe ok: all {len(ALL_CHECKS)} checks passed"


def test_only_the_checks_asked_for_run(deployment):
    p = probe("--url", f"http://127.0.0.1:{deployment.port}", "--public", "/api/v2/version", "--format", "json")
    assert p.returncode == 0, p.stderr
    report, checks = checks_of(p)
    assert report["ok"] and list(checks) == ["public"]


def test_a_stopped_envoy_is_reported_as_connect_refused(keys, upstream, token):
    e = start(keys, upstream)
    try:
        assert run_full(e.port, token).returncode == 0
    finally:
        e.stop()
    p = run_full(e.port, token)
    assert p.returncode == 1, p.stdout + p.stderr
    report, checks = checks_of(p)
    assert report["ok"] is False and set(checks) == set(ALL_CHECKS)
    for c in checks.values():
        assert (c["ok"], c["status"], c["reason"]) == (False, None, "connect_refused"), c
    families, samples = parse_prometheus(run_full(e.port, token, "prometheus").stdout)
    assert samples[("gatehouse_probe_up", (("check", "public"),))] == 0
    assert samples[("gatehouse_probe_status", (("check", "public"),))] == 0
    assert samples[("gatehouse_probe_failure", (("check", "public"), ("reason", "connect_refused")))] == 1
    assert samples[("gatehouse_probe_success", ())] == 0


def test_an_api_route_that_does_not_enforce_is_reported(keys, upstream, token):
    e = start(keys, upstream, api_require="public")
    try:
        p = run_full(e.port, token)
    finally:
        e.stop()
    assert p.returncode == 1, p.stdout + p.stderr
    report, checks = checks_of(p)
    assert report["ok"] is False
    assert (checks["api_enforced"]["ok"], checks["api_enforced"]["status"], checks["api_enforced"]["reason"]) == \
        (False, 200, "not_enforcing")
    assert all(c["ok"] for n, c in checks.items() if n != "api_enforced"), checks


@pytest.mark.parametrize("make", [
    lambda keys: keys.sign(dat_claims(role="ORGANIZATION_VIEWER", ttl=-3600)),                   # expired
    lambda keys: keys.sign(dat_claims(role="ORGANIZATION_VIEWER"), alg="RS256", key=keys.other),  # wrong key
], ids=["expired", "wrong_key"])
def test_a_bad_token_is_reported_as_a_401(deployment, keys, make):
    bad = make(keys)
    p = run_full(deployment.port, bad, "text")
    assert p.returncode == 1, p.stdout + p.stderr
    lines = {line.split()[1]: line.split() for line in p.stdout.splitlines()[:-1]}
    assert lines["api"][:3] == ["FAIL", "api", "401"] and lines["api"][-1] == "status_401", lines["api"]
    assert lines["legacy"][0] == "FAIL" and lines["legacy"][-1] == "status_401", lines["legacy"]
    assert lines["api_enforced"][0] == "ok" and lines["public"][0] == "ok"
    assert p.stdout.splitlines()[-1] == "probe FAILED: 2 of 6 checks failed (api, legacy)"


def test_the_token_is_read_from_a_file_and_never_printed(deployment, token, tmp_path):
    f = tmp_path / "token"
    f.write_text(token + "\n")
    f.chmod(0o600)
    for fmt in ["text", "json", "prometheus"]:
        p = probe("--url", f"http://127.0.0.1:{deployment.port}", "--api", "/api/v2/dags", "--token-file", str(f),
                  "--format", fmt, secrets=[token])
        assert p.returncode == 0, p.stdout + p.stderr
    # Failing runs print nothing secret either (secrets checked by probe()).
    p = probe("--url", f"http://127.0.0.1:{free_port()}", "--api", "/api/v2/dags", "--token-file", str(f),
              "--legacy-header", CANARY_HEADER, "--legacy-value-env", "CANARY_SECRET",
              env={"CANARY_SECRET": CANARY_VALUE}, secrets=[token])
    assert p.returncode == 1
    # A token on the command line is refused without being echoed.
    p = probe("--url", f"http://127.0.0.1:{deployment.port}", "--api", "/api/v2/dags", "--token", token,
              secrets=[token])
    assert p.returncode == 2 and "unexpected argument '--token'" in p.stderr
    p = probe("--url", f"http://127.0.0.1:{deployment.port}", "--api", "/api/v2/dags", f"--token={token}",
              secrets=[token])
    assert p.returncode == 2


def test_a_gateway_that_accepts_but_never_answers_is_a_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        started = time.monotonic()
        p = probe("--url", f"http://127.0.0.1:{s.getsockname()[1]}", "--public", "/health", "--timeout-ms", "300",
                  "--format", "json")
        assert time.monotonic() - started < 5
    assert p.returncode == 1
    report, checks = checks_of(p)
    assert (checks["public"]["reason"], checks["public"]["status"]) == ("timeout", None)


@pytest.mark.parametrize("args,message", [
    (["--url", "http://127.0.0.1:1"], "nothing to check"),
    ([], "--url is required"),
    (["--url", "http://127.0.0.1:1", "--api", "/api/v2/dags"], "--token-env VAR or --token-file FILE"),
    (["--url", "http://127.0.0.1:1", "--api", "/x", "--token-env", "GATEHOUSE_PROBE_UNSET"], "is not set"),
    (["--url", "https://127.0.0.1:1", "--public", "/"], "https is not supported"),
    (["--url", "http://127.0.0.1:1", "--public", "/", "--format", "xml"], "invalid value 'xml' for '--format"),
    (["--url", "http://127.0.0.1:1", "--pubic", "/"], "a similar argument exists: '--public'"),
    (["--url", "http://127.0.0.1:1", "--session", "/ui/", "--legacy-header", CANARY_HEADER], "needs --api"),
])
def test_usage_errors_exit_2_with_a_clear_message(args, message):
    p = probe(*args)
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and "--help" in p.stderr and p.stdout == ""


def test_help_lists_the_checks_and_says_http_only():
    p = probe("--help")
    assert p.returncode == 0
    for word in ["session_redirect", "api_enforced", "Plain HTTP only", "not_enforcing"]:
        assert word in p.stdout
