"""No secret any suite used ever appears in an Envoy log (issue 6, item 5; README: each refusal logs "never a
token, key or secret").

The harness registers every token, cookie, code, verifier, client secret and key value it makes
(harness/secrets.py), and every Envoy of the session keeps its whole log in one directory (harness/envoy.py).
This module runs after all others (conftest.py puts it last, whatever order files are given in) and reads
every line of every one of those logs. Its own workload makes sure there is something to read when it runs
alone or after only a few files."""
import os
import time

from harness import secrets as registry
from harness.cookies import seal
from harness.envoy import log_files
from harness.tokens import ASYMMETRIC, DEPLOYMENT, HMAC, b64, dat_claims


def test_a_workload_of_valid_forged_and_expired_credentials_goes_through_envoy(envoy, upstream, keys):
    key = registry.register(os.urandom(32))
    for _ in range(6):
        for alg in ASYMMETRIC + HMAC:
            valid = keys.sign(dat_claims(), alg)
            expired = keys.sign(dat_claims(ttl=-3600), alg)
            forged = valid[:-6] + ("AAAAAA" if not valid.endswith("AAAAAA") else "BBBBBB")
            registry.register_token(forged)
            cookie = seal("k1", key, "__Host-gatehouse", DEPLOYMENT, {"sub": "x", "iat": int(time.time())})
            assert envoy.get("/api/v2/dags", valid, headers={"cookie": f"__Host-gatehouse={cookie}"}).status == 200
            assert envoy.get("/api/v2/dags", expired).status == 401
            assert envoy.get("/api/v2/dags", forged).status == 401
    assert envoy.get("/api/v2/dags", headers={"authorization": "Bearer " + b64(b"\x00" * 40)}).status == 401
    upstream.take()


def test_no_registered_secret_appears_in_any_envoy_log_line():
    secrets = registry.values()
    assert len(secrets) >= 200, f"only {len(secrets)} secrets registered: is the harness still feeding them?"
    files = log_files()
    runs = [f for f in files if "-envoy-" in f]
    assert runs, "no Envoy ran in this session"
    finder = registry.Finder(secrets)
    lines = 0
    leaks = []
    for path in files:
        with open(path, errors="replace") as f:
            for number, line in enumerate(f, 1):
                lines += 1
                leaks += [(path, number, value) for value in finder.find(line)]
    assert lines > 0
    assert not leaks, f"{len(leaks)} secrets in {lines} Envoy log lines of {len(runs)} runs:\n" + "\n".join(
        f"{path}:{number}: {value[:12]}… ({len(value)} chars)" for path, number, value in leaks[:20])
