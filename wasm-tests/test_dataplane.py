"""One Gatehouse in front of a dataplane of deployments, in a real Envoy: each request finds its deployment by
host and path prefix, Direct Access Tokens open the deployments their scope covers, and the upstream learns
which deployment it serves."""
import pytest

from harness.envoy import Envoy
from harness.tokens import ORG, WORKSPACE, dat_claims, plugin_config

DEPLOYMENTS = [
    {"deployment_id": "dep-a", "organization_id": ORG, "workspace_id": WORKSPACE, "hosts": ["cluster.gatehouse.test"],
     "path_prefix": "/dep-a"},
    {"deployment_id": "dep-b", "organization_id": ORG, "workspace_id": WORKSPACE, "hosts": ["cluster.gatehouse.test"],
     "path_prefix": "/dep-b"},
    {"deployment_id": "dep-c", "organization_id": ORG, "workspace_id": "ws-other", "hosts": ["c.gatehouse.test"]},
    {"deployment_id": "dep-d", "organization_id": "org-other", "workspace_id": "ws-9", "hosts": ["*.d.gatehouse.test"]},
]
# (host, path) of a DAG list in each deployment, in the order above.
PLACES = [("cluster.gatehouse.test", "/dep-a/api/v2/dags"), ("cluster.gatehouse.test", "/dep-b/api/v2/dags"),
          ("c.gatehouse.test", "/api/v2/dags"), ("x.d.gatehouse.test", "/api/v2/dags")]


@pytest.fixture(scope="module")
def dataplane(keys, upstream):
    cfg = plugin_config(keys)
    del cfg["dataplane"]
    cfg["deployments"] = DEPLOYMENTS
    e = Envoy(cfg, upstream.port, env=keys.env())
    yield e
    e.stop()


def get(envoy, token, host, path):
    return envoy.request("GET", path, headers=[("authorization", f"Bearer {token}")], host=host)


@pytest.mark.parametrize("scope, opens", [
    ("organization", ["dep-a", "dep-b", "dep-c"]),
    ("workspace", ["dep-a", "dep-b"]),
    ("deployment", ["dep-a"]),
])
def test_a_direct_access_token_opens_exactly_the_deployments_its_scope_covers(dataplane, upstream, keys, scope, opens):
    token = keys.sign(dat_claims(scope=scope, deployment="dep-a"), "ES256")
    for deployment, (host, path) in zip(DEPLOYMENTS, PLACES):
        r = get(dataplane, token, host, path)
        got = upstream.take()
        if deployment["deployment_id"] in opens:
            assert r.status == 200, (deployment, r.status, r.body)
            (seen,) = got
            # The upstream sees the whole path (its base URL includes the prefix) and which deployment it is.
            assert seen.path == path
            assert seen.header("x-gatehouse-deployment") == deployment["deployment_id"]
            assert seen.header("authorization") is None
        else:
            assert r.status == 403, (deployment, r.status)
            assert got == [], "a refused request reaches nothing"


def test_a_token_of_another_organization_opens_only_its_own_deployment(dataplane, upstream, keys):
    token = keys.sign(dat_claims(scope="deployment", org="org-other", workspace="ws-9", deployment="dep-d"), "EdDSA")
    statuses = [get(dataplane, token, h, p).status for h, p in PLACES]
    assert statuses == [403, 403, 403, 200]
    assert [r.header("x-gatehouse-deployment") for r in upstream.take()] == ["dep-d"]


def test_requests_for_no_deployment_of_the_dataplane_get_403_with_their_own_reason(dataplane, upstream, keys):
    token = keys.sign(dat_claims(scope="organization"), "ES256")
    for host, path in [("cluster.gatehouse.test", "/api/v2/dags"), ("cluster.gatehouse.test", "/dep-ab/api/v2/dags"),
                       ("nowhere.gatehouse.test", "/dep-a/api/v2/dags"), ("d.gatehouse.test", "/api/v2/dags")]:
        r = get(dataplane, token, host, path)
        assert r.status == 403, (host, path, r.status)
    assert upstream.take() == []
    assert "reason=no_deployment" in dataplane.logs()


def test_a_client_cannot_name_the_deployment_itself(dataplane, upstream, keys):
    token = keys.sign(dat_claims(scope="workspace"), "ES256")
    r = dataplane.request("GET", "/dep-a/api/v2/dags", host="cluster.gatehouse.test",
                          headers=[("authorization", f"Bearer {token}"), ("x-gatehouse-deployment", "dep-c"),
                                   ("x_gatehouse_deployment", "dep-c")])
    assert r.status == 200
    (seen,) = upstream.take()
    assert seen.header("x-gatehouse-deployment") == "dep-a"
    assert "x_gatehouse_deployment" not in seen.names()


def test_the_probe_checks_every_deployment_of_the_dataplane_at_its_host_and_prefix(dataplane, upstream, keys,
                                                                                   tmp_path):
    import json
    import os
    import subprocess

    from harness.envoy import ROOT
    cli = os.environ.get("GATEHOUSE_CLI", str(ROOT / "target" / "release" / "gatehouse"))
    config = tmp_path / "plugin.json"
    config.write_text(json.dumps({"deployments": DEPLOYMENTS}))
    token = keys.sign(dat_claims(scope="organization"), "ES256")
    env = {**os.environ, "PROBE_TOKEN": token}

    def probe(which, *extra):
        return subprocess.run([cli, "probe", "--url", f"http://127.0.0.1:{dataplane.port}", "--api", "/api/v2/dags",
                               "--token-env", "PROBE_TOKEN", "--format", "json", "--config", str(config),
                               "--deployment", which, *extra], capture_output=True, text=True, env=env, timeout=60)

    # dep-d is of another organization (the token is refused there) and only has a wildcard host.
    p = probe("dep-b")
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert {(c["deployment"], c["name"], c["status"]) for c in report["checks"]} == \
        {("dep-b", "api", 200), ("dep-b", "api_enforced", 401)}
    assert [(r.header("host"), r.path) for r in upstream.take()] == [("cluster.gatehouse.test", "/dep-b/api/v2/dags")]
    p = probe("all", "--host", "x.d.gatehouse.test")
    assert "dep-d is reached only at wildcard hosts" not in p.stderr
    p = probe("all")
    assert p.returncode == 2 and "dep-d is reached only at wildcard hosts: give --host" in p.stderr
    assert token not in p.stdout + p.stderr
    upstream.take()
