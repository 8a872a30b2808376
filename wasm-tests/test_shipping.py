"""Everything we ship for operators is checked the way a deployment meets it.

* Envoy bootstraps in envoy-config/: the real Envoy runs each one and applies the filter's configuration it
  discovers from envoy-config/ecds/ (on_configure accepts it), Envoy's protos accept both strictly (PyPI xds-protos; unknown fields anywhere, inside `Any` too,
  are errors), and its plugin configuration passes our JSON Schema and our own loader, with every secret it
  names wired through `vm_config.environment_variables`.
* Istio manifests in envoy-config/istio/: the WasmPlugin passes the strict WasmPlugin schema with our plugin
  schema at `pluginConfig`, and its Secret, env and image digest fit together.
* schema/gatehouse-config.schema.json: every example configuration passes it; broken ones fail it, and the
  loader refuses those too.
* scripts/oci-image.sh: the image it writes is what skopeo reads, holds exactly our module, and its digest is
  the one it pins in the WasmPlugin.
"""
import copy
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml
from google.protobuf import json_format

# Importing these registers the types the shipped bootstraps name in `Any` fields (`@type`).
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.http.wasm.v3 import wasm_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401
from envoy.config.core.v3 import extension_pb2  # noqa: F401
from envoy.service.discovery.v3 import discovery_pb2

from harness.envoy import ENVOY, LOG_LEVELS, ROOT, WASM, free_port
from harness import secrets as registry
from harness.tokens import Keys, plugin_config

CLI = os.environ.get("GATEHOUSE_CLI", str(ROOT / "target" / "release" / "gatehouse"))
ENVOY_CONFIGS = sorted(Path(ROOT, "envoy-config").glob("*.yaml"))
ISTIO_DIR = Path(ROOT, "envoy-config", "istio")
SCHEMA = json.loads(Path(ROOT, "schema", "gatehouse-config.schema.json").read_text())
WASMPLUGIN_SCHEMA = json.loads((ISTIO_DIR / "wasmplugin.strict.schema.json").read_text())
SHARED_WASMPLUGIN_SCHEMA = Path(ROOT).parent / "shared" / "schemas" / "wasmplugin.strict.schema.json"
DIGEST_URL = re.compile(r"^oci://[^@\s]+@sha256:([0-9a-f]{64})$")


def cookie_keys():
    return "k1:" + secrets.token_urlsafe(32)[:43]


# A value for every secret a shipped bootstrap names, of the shape its field needs (fresh each session).
SHIPPING_ENV = {
    "GATEHOUSE_DEMO_HS512": secrets.token_urlsafe(64),
    "GATEHOUSE_PLATFORM_HS512": secrets.token_urlsafe(64),
    "GATEHOUSE_UPSTREAM_HS512": secrets.token_urlsafe(64),
    "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(64),
    "GATEHOUSE_CLIENT_SECRET": secrets.token_urlsafe(24),
    "GATEHOUSE_COOKIE_KEYS": cookie_keys(),
}


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


CONFIG_VALIDATOR = validator(SCHEMA)


def schema_errors(cfg, v=CONFIG_VALIDATOR):
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in v.iter_errors(cfg)]


def cli_validate(cfg, tmp_path, env=None, no_env=True):
    path = tmp_path / f"plugin-{secrets.token_hex(4)}.json"
    path.write_text(json.dumps(cfg))
    args = [CLI, "validate-config", str(path)] + (["--no-env"] if no_env else [])
    p = subprocess.run(args, capture_output=True, text=True, env={"PATH": os.environ.get("PATH", ""), **(env or {})})
    return p.returncode, p.stdout + p.stderr


def http_filters(bootstrap):
    for listener in bootstrap.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for f in chain.get("filters", []):
                yield from f.get("typed_config", {}).get("http_filters", [])


def ecds_file(http_filter):
    """The file a filter's extension config discovery reads (Envoy's filesystem config source), or None."""
    source = http_filter.get("config_discovery", {}).get("config_source", {}).get("path_config_source")
    return Path(ROOT, source["path"]) if source else None


def wasm_filters(bootstrap):
    """Every envoy.filters.http.wasm config (the `config` member) a bootstrap (a dict, as loaded from YAML) runs,
    inline or delivered by extension config discovery from the file it names."""
    out = []
    for hf in http_filters(bootstrap):
        path = ecds_file(hf)
        if path:
            (resource,) = load_yaml(path)["resources"]
            assert resource["name"] == hf["name"], "the discovered resource is the one the filter asks for"
            tc = resource["typed_config"]
        else:
            tc = hf.get("typed_config", {})
        if tc.get("@type", "").endswith("envoy.extensions.filters.http.wasm.v3.Wasm"):
            out.append(tc["config"])
    return out


def plugin_configuration(wasm_config):
    c = wasm_config["configuration"]
    assert c["@type"] == "type.googleapis.com/google.protobuf.StringValue", "the plugin configuration is JSON text"
    return json.loads(c["value"])


def env_names(cfg):
    """Every environment variable a plugin configuration names (`*_env` members, anywhere)."""
    names = set()

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k.endswith("_env") and isinstance(x, str):
                    names.add(x)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(cfg)
    return names


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def istio_documents():
    return [(p, d) for p in sorted(ISTIO_DIR.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def wasmplugins():
    return [(p, d) for p, d in istio_documents() if d.get("kind") == "WasmPlugin"]


def sidecar_plugin():
    """The WasmPlugin for one deployment's sidecars (wasmplugin.yaml)."""
    (doc,) = [d for p, d in wasmplugins() if p.name == "wasmplugin.yaml"]
    return doc


def on_a_gateway(spec):
    return any(t.get("kind") == "Gateway" for t in spec.get("targetRefs", []))


# --- Envoy bootstraps -------------------------------------------------------------------------------------------


def test_envoy_config_ships_the_demo_the_func_e_and_the_airflow_bootstraps():
    assert {p.name for p in ENVOY_CONFIGS} >= {"envoy.yaml", "func-e.yaml", "airflow.yaml"}


def runnable(path, tmp_path):
    """The bootstrap as JSON, runnable beside other tests: free ports, and the discovered configuration copied
    into tmp_path with the module path made absolute (the shipped files name it relative to the repository root)
    and pointed at the module under test."""
    cfg = load_yaml(path)
    cfg["admin"]["address"]["socket_address"]["port_value"] = free_port()
    for listener in cfg["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["port_value"] = free_port()
    discovered = [hf for hf in http_filters(cfg) if ecds_file(hf)]
    assert discovered, f"{path.name} receives the Gatehouse filter's configuration through ECDS"
    for hf in discovered:
        doc = load_yaml(ecds_file(hf))
        local = doc["resources"][0]["typed_config"]["config"]["vm_config"]["code"]["local"]
        assert local["filename"] == "dist/gatehouse.wasm", "shipped configurations load the built module"
        local["filename"] = str(Path(WASM).resolve())
        (tmp_path / "ecds").mkdir(exist_ok=True)
        copy_path = tmp_path / "ecds" / ecds_file(hf).name
        copy_path.write_text(json.dumps(doc))
        source = hf["config_discovery"]["config_source"]["path_config_source"]
        source["path"] = str(copy_path)
        source["watched_directory"]["path"] = str(copy_path.parent)
    out = tmp_path / f"{path.stem}.json"
    out.write_text(json.dumps(cfg))
    return out, cfg


def stat(admin_port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats?filter={name}", timeout=2) as r:
            m = re.search(rf"^{re.escape(name)}: (\d+)$", r.read().decode(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def run_envoy(config, cfg, env, tmp_path):
    """Starts the real Envoy on a shipped bootstrap until its first configuration discovery has been applied or
    refused; returns (applied, log)."""
    admin = cfg["admin"]["address"]["socket_address"]["port_value"]
    log = tmp_path / f"envoy-{admin}.log"
    for value in env.values():
        registry.register(value)
    with open(log, "w") as out:
        proc = subprocess.Popen([ENVOY, "-c", str(config), "--concurrency", "1", "--use-dynamic-base-id",
                                 "--base-id-path", str(tmp_path / f"base-id-{admin}"), *LOG_LEVELS],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=str(ROOT))
        try:
            prefix = "extension_config_discovery.http_filter.gatehouse."
            deadline = time.time() + 30
            while time.time() < deadline and proc.poll() is None:
                reload, fail = stat(admin, prefix + "config_reload"), stat(admin, prefix + "config_fail")
                if reload or fail:
                    return reload == 1 and fail == 0, log.read_text()
                time.sleep(0.1)
            raise AssertionError(f"no configuration discovery in 30 s:\n{log.read_text()[-3000:]}")
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.mark.parametrize("path", ENVOY_CONFIGS, ids=lambda p: p.name)
def test_the_real_envoy_runs_each_shipped_bootstrap_with_the_filter_configured_through_discovery(path, tmp_path):
    config, cfg = runnable(path, tmp_path)
    needed = {k for w in wasm_filters(load_yaml(path)) for k in w["vm_config"].get("environment_variables", {}).get("host_env_keys", [])}
    assert needed <= SHIPPING_ENV.keys(), f"give test_shipping.SHIPPING_ENV a value for {needed - SHIPPING_ENV.keys()}"
    applied, log = run_envoy(config, cfg, {k: SHIPPING_ENV[k] for k in needed}, tmp_path)
    assert applied, f"{path.name}:\n{log[-3000:]}"
    # Control: without its secrets the same configuration is refused, so the filter really ran on_configure.
    applied, log = run_envoy(config, cfg, {}, tmp_path)
    assert not applied and "is not set in the VM" in log, log[-3000:]


@pytest.mark.parametrize("path", ENVOY_CONFIGS, ids=lambda p: p.name)
def test_each_shipped_bootstrap_and_its_discovered_configuration_parse_strictly_with_envoys_protos(path):
    cfg = load_yaml(path)
    msg = json_format.ParseDict(cfg, bootstrap_pb2.Bootstrap(), ignore_unknown_fields=False)
    assert msg.static_resources.listeners and msg.static_resources.clusters
    assert msg.node.id, "extension config discovery needs the node's identity"
    for hf in http_filters(cfg):
        if ecds_file(hf):
            ecds = json_format.ParseDict(load_yaml(ecds_file(hf)), discovery_pb2.DiscoveryResponse(),
                                         ignore_unknown_fields=False)
            assert len(ecds.resources) == 1


def test_the_proto_check_refuses_an_unknown_field_inside_a_discovered_typed_config():
    (hf,) = [hf for hf in http_filters(load_yaml(ENVOY_CONFIGS[0])) if ecds_file(hf)]
    doc = load_yaml(ecds_file(hf))
    doc["resources"][0]["typed_config"]["config"]["vm_config"]["runtme"] = "envoy.wasm.runtime.v8"
    with pytest.raises(json_format.ParseError, match="runtme"):
        json_format.ParseDict(doc, discovery_pb2.DiscoveryResponse(), ignore_unknown_fields=False)


def test_every_shipped_bootstrap_labels_the_gatehouse_metrics_for_prometheus():
    tags = json.loads(Path(ROOT, "envoy-config", "stats-tags.json").read_text())["stats_tags"]
    for path in ENVOY_CONFIGS:
        assert load_yaml(path)["stats_config"]["stats_tags"] == tags, path.name


@pytest.mark.parametrize("path", ENVOY_CONFIGS, ids=lambda p: p.name)
def test_each_shipped_plugin_configuration_passes_the_schema_and_the_loader_with_its_secrets_wired(path, tmp_path):
    for wasm in wasm_filters(load_yaml(path)):
        cfg = plugin_configuration(wasm)
        assert schema_errors(cfg) == []
        code, out = cli_validate(cfg, tmp_path)
        assert code == 0, out
        variables = wasm["vm_config"].get("environment_variables", {})
        given = set(variables.get("host_env_keys", [])) | set(variables.get("key_values", {}))
        assert env_names(cfg) == given, "every *_env the configuration names comes from the VM environment, and only those"
        assert env_names(cfg) <= set(variables.get("host_env_keys", [])), "secrets are copied from the host, never inline"


def test_the_tls_identity_provider_clusters_check_the_certificate_against_the_system_cas_with_sni():
    seen = 0
    for path in ENVOY_CONFIGS:
        for cluster in load_yaml(path)["static_resources"]["clusters"]:
            ts = cluster.get("transport_socket")
            if not ts:
                continue
            seen += 1
            tls = ts["typed_config"]
            assert tls["@type"].endswith("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext")
            host = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
            assert tls["sni"] == host["address"] and host["port_value"] == 443
            validation = tls["common_tls_context"]["validation_context"]
            assert validation["trusted_ca"] == {"filename": "/etc/ssl/certs/ca-certificates.crt"}
            assert {"san_type": "DNS", "matcher": {"exact": host["address"]}} in validation["match_typed_subject_alt_names"]
    assert seen >= 2, "func-e.yaml and airflow.yaml reach their provider over TLS"


# --- Istio manifests ---------------------------------------------------------------------------------------------


def wasmplugin_validator():
    schema = copy.deepcopy(WASMPLUGIN_SCHEMA)
    schema["properties"]["spec"]["properties"]["pluginConfig"] = copy.deepcopy(SCHEMA)
    return validator(schema)


def test_the_vendored_wasmplugin_schema_is_the_shared_one():
    if not SHARED_WASMPLUGIN_SCHEMA.exists():
        pytest.skip("no ../shared/schemas next to this checkout")
    assert json.loads(SHARED_WASMPLUGIN_SCHEMA.read_text()) == WASMPLUGIN_SCHEMA


def test_istio_ships_a_wasmplugin_a_secret_and_a_readme():
    kinds = sorted(d["kind"] for _, d in istio_documents())
    assert kinds == ["ConfigMap", "Secret", "WasmPlugin", "WasmPlugin"], "the sidecar and gateway plugins, the stats tags"
    assert (ISTIO_DIR / "README.md").exists()


@pytest.mark.parametrize("path,doc", wasmplugins(), ids=lambda x: getattr(x, "name", ""))
def test_each_wasmplugin_passes_the_strict_schema_with_the_plugin_schema_at_plugin_config(path, doc, tmp_path):
    v = wasmplugin_validator()
    assert schema_errors(doc, v) == []
    spec = doc["spec"]
    assert spec["phase"] == "AUTHN" and spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["imagePullPolicy"] in ("IfNotPresent", "Always")
    if on_a_gateway(spec):
        # Istio classes a gateway's listeners as CLIENT (pilot/pkg/model/extensions.go): a SERVER match would
        # never attach the plugin, and the gateway would pass every request unauthenticated.
        assert all(m["mode"] in ("CLIENT", "CLIENT_AND_SERVER") for m in spec["match"]), spec["match"]
        assert "selector" not in spec and isinstance(spec.get("priority"), int)
        assert "deployments" in spec["pluginConfig"], "a gateway serves a dataplane of deployments"
    else:
        assert spec["selector"]["matchLabels"]
        assert all(m["mode"] == "SERVER" for m in spec["match"]), "only inbound traffic, never the pod's own calls"
    assert DIGEST_URL.match(spec["url"]), "the image is pinned by a well-formed manifest digest"
    code, out = cli_validate(spec["pluginConfig"], tmp_path)
    assert code == 0, out


@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s["pluginConfig"].update(unknown_knob=1), "unknown_knob"),
    (lambda s: s["pluginConfig"]["routes"][0].update(require="publik"), "publik"),
    (lambda s: s["vmConfig"]["env"][0].update(value="inline-secret"), "vmConfig"),
    (lambda s: s.update(failStrategy="FAIL_CLOSED"), "FAIL_CLOSED"),
    (lambda s: s.update(targetRefs=[{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]), "spec"),
])
def test_the_composed_schema_refuses_broken_wasmplugins(mutate, needle):
    doc = copy.deepcopy(sidecar_plugin())
    mutate(doc["spec"])
    errors = schema_errors(doc, wasmplugin_validator())
    assert errors, "accepted a broken manifest"
    assert any(needle in e for e in errors), errors


def test_the_secret_holds_exactly_the_host_environment_of_the_wasmplugin_and_its_placeholders_cannot_run(tmp_path):
    plugin = sidecar_plugin()
    (secret,) = [d for _, d in istio_documents() if d["kind"] == "Secret"]
    host = {e["name"] for e in plugin["spec"]["vmConfig"]["env"] if e.get("valueFrom") == "HOST"}
    assert host == env_names(plugin["spec"]["pluginConfig"]), "every secret the configuration names comes from the host"
    assert set(secret["stringData"]) == host
    assert secret["metadata"]["namespace"] == plugin["metadata"]["namespace"]
    assert all("REPLACE-ME" in v for v in secret["stringData"].values()), "clearly fake values only"
    # The placeholders cannot be deployed by accident: the loader refuses the keys they stand for.
    code, out = cli_validate(plugin["spec"]["pluginConfig"], tmp_path, env=secret["stringData"], no_env=False)
    assert code == 1
    assert "$.session.keys_env: environment variable GATEHOUSE_COOKIE_KEYS" in out
    assert "$.upstream_token.signing.secret_env: AIRFLOW_JWT_SECRET: HS512 needs a secret of at least 64 bytes" in out


# --- the plugin configuration schema -----------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def session_config(keys):
    cfg = plugin_config(keys)
    cfg["session"] = {
        "keys_env": "GATEHOUSE_COOKIE_KEYS",
        "redirect_uri": "http://127.0.0.1:10000/oauth2/callback",
        "post_logout_redirect_uri": "http://127.0.0.1:10000/",
        "provider": {
            "issuer": "http://127.0.0.1:9999/", "client_id": "gatehouse", "client_secret_env": "GATEHOUSE_CLIENT_SECRET",
            "authorization_endpoint": "http://127.0.0.1:9999/auth",
            "token_endpoint": {"cluster": "idp", "authority": "127.0.0.1:9999", "path": "/token", "timeout_ms": 5000},
            "end_session_endpoint": "http://127.0.0.1:9999/session/end",
            "jwks": {"keys": [Keys.public_jwk(keys.other, "RS256", "idp-1")]},
            "scopes": ["openid", "profile", "email", "offline_access"], "keep_refresh_token": True,
            "roles_claim": "https://gatehouse.test/roles",
        },
    }
    cfg["upstream_token"] = {
        "signing": {"alg": "HS512", "secret_env": "AIRFLOW_JWT_SECRET"},
        "roles": {"airflow-admin": "ADMIN", "airflow-viewer": "VIEWER"},
        "direct_access_roles": {"DEPLOYMENT_ADMIN": "ADMIN", "WORKSPACE_OPERATOR": "OP", "ORGANIZATION_VIEWER": "VIEWER"},
    }
    return cfg


def harness_examples(keys):
    """The configurations the real-Envoy suites run with, and their main variants."""
    base = plugin_config(keys)
    session = session_config(keys)
    exchange = copy.deepcopy(session)
    exchange["upstream_token"] = {"mode": "exchange", "exchange": {
        "cluster": "idp", "authority": "127.0.0.1:9999", "path": "/token", "audience": "apache-airflow"}}
    remote = copy.deepcopy(session)
    remote["session"]["provider"].pop("jwks")
    remote["session"]["provider"]["remote_jwks"] = {"cluster": "idp", "authority": "127.0.0.1:9999",
                                                    "discovery_path": "/.well-known/openid-configuration"}
    remote["issuers"][1]["remote_jwks"] = {"cluster": "idp", "authority": "127.0.0.1:9999", "path": "/jwks",
                                           "refresh_seconds": 60, "retry_seconds": 5, "default_alg": "RS256"}
    tuned = plugin_config(keys, cache={"verified_tokens": 0, "sessions": 16},
                          faults={"allow": True, "provider_unavailable": True, "clock_offset_seconds": -30},
                          identity_headers={"subject": "x-user", "token_id": None},
                          token_sources=[{"header": "authorization", "scheme": "Bearer"}, {"header": "x-api-key"}],
                          strip_request_headers=["x-internal"], unmatched="allow", cors_preflight="enforce",
                          max_token_bytes=16384)
    dataplane = {k: v for k, v in base.items() if k != "dataplane"}
    dataplane["deployments"] = [
        {"deployment_id": "dep-a", "organization_id": "org-1", "workspace_id": "ws-1", "hosts": ["cluster.example.com"],
         "path_prefix": "/dep-a"},
        {"deployment_id": "dep-b", "organization_id": "org-1", "workspace_id": "ws-2", "hosts": ["*.b.example.com"]},
    ]
    return {"plugin_config": base, "session": session, "exchange": exchange, "remote_jwks": remote, "tuned": tuned,
            "dataplane": dataplane}


def doc_examples():
    """Complete plugin configurations in fenced ```json blocks of README.md and docs/*.md."""
    out = {}
    for md in [Path(ROOT, "README.md"), *sorted(Path(ROOT, "docs").glob("*.md"))]:
        for i, block in enumerate(re.findall(r"```json\n(.*?)```", md.read_text(), re.S)):
            try:
                v = json.loads(block)
            except ValueError:
                continue
            if isinstance(v, dict) and "dataplane" in v and "routes" in v:
                out[f"{md.name}#{i}"] = v
    return out


def test_every_example_configuration_passes_the_schema_and_the_loader(keys, tmp_path):
    examples = {f"harness:{k}": v for k, v in harness_examples(keys).items()}
    examples.update({f"{p.name}": plugin_configuration(w) for p in ENVOY_CONFIGS for w in wasm_filters(load_yaml(p))})
    examples.update({f"{p.name}:pluginConfig": d["spec"]["pluginConfig"] for p, d in wasmplugins()})
    examples.update(doc_examples())
    assert len(examples) >= 9
    for name, cfg in examples.items():
        assert schema_errors(cfg) == [], name
        code, out = cli_validate(cfg, tmp_path)
        assert code == 0, f"{name}: {out}"
    # The editor hint the loader ignores.
    with_schema = {"$schema": "../schema/gatehouse-config.schema.json", **plugin_config(keys)}
    assert schema_errors(with_schema) == []


def broken_cases(keys):
    """(name, mutation) pairs: each makes a valid configuration invalid in one way."""
    def route(i, **kv):
        return lambda c: c["routes"][i].update(kv)

    def session(**kv):
        return lambda c: c["session"].update(kv)

    return [
        ("unknown top-level field", lambda c: c.update(unknown_knob=1)),
        ("misspelled requirement", route(0, require="publick")),
        ("route without a path", lambda c: c["routes"][0].pop("path")),
        ("two path kinds", route(0, path={"exact": "/a", "prefix": "/a"})),
        ("lower-case method", route(2, methods=["get"])),
        ("public route with permissions", route(0, permissions=["deployment.read"])),
        ("host with a non-numeric port", route(7, hosts=["static.gatehouse.test:https"])),
        ("missing deployment id", lambda c: c["dataplane"].pop("deployment_id")),
        ("no audiences", lambda c: c["issuers"][0].update(audiences=[])),
        ("issuer without kind", lambda c: c["issuers"][0].pop("kind")),
        ("HMAC key of an unknown algorithm", lambda c: c["issuers"][0]["hmac_keys"][0].update(alg="HS999")),
        ("private key material in a JWK", lambda c: c["issuers"][1]["jwks"]["keys"][0].update(d="AAAA")),
        ("JWK without alg", lambda c: c["issuers"][1]["jwks"]["keys"][0].pop("alg")),
        ("permissions claim on Direct Access Tokens", lambda c: c["issuers"][0].update(permissions_claim="p")),
        ("Direct Access Tokens without a role table", lambda c: c.pop("roles")),
        ("bearer routes without issuers", lambda c: c.update(issuers=[])),
        ("token too small", lambda c: c.update(max_token_bytes=100)),
        ("identity header that carries cookies", lambda c: c.update(identity_headers={"subject": "cookie"})),
        ("realm with a quote", lambda c: c.update(realm='a"b')),
        ("leeway too long", lambda c: c["issuers"][0].update(leeway_seconds=301)),
        ("fault switch without allow", lambda c: c.update(faults={"keys_stale": True})),
        ("cache too large", lambda c: c.update(cache={"sessions": 100000})),
        ("remote keys with both paths", lambda c: c["issuers"][1].update(remote_jwks={
            "cluster": "idp", "authority": "idp", "path": "/jwks", "discovery_path": "/.well-known/openid-configuration"})),
        ("session without an upstream token", lambda c: c.pop("upstream_token")),
        ("__Host- cookie that is not secure", session(secure=False)),
        ("__Host- cookie with a domain", session(domain="example.com")),
        ("plain http redirect to a remote host", session(redirect_uri="http://airflow.example.com/oauth2/callback")),
        ("overriding the PKCE state", lambda c: c["session"]["provider"].update(extra_params={"state": "x"})),
        ("scopes without openid", lambda c: c["session"]["provider"].update(scopes=["profile"])),
        ("refresh tokens without offline_access", lambda c: c["session"]["provider"].update(scopes=["openid"])),
        ("provider without keys", lambda c: c["session"]["provider"].pop("jwks")),
        ("unknown Airflow role", lambda c: c["upstream_token"]["roles"].update({"x": "SUPERUSER"})),
        ("exchange mode without the endpoint", lambda c: c["upstream_token"].update(mode="exchange")),
        ("asymmetric signing without a key", lambda c: c["upstream_token"].update(signing={"alg": "EdDSA"})),
        ("unknown rollout mode", lambda c: c.update(rollout={"default": {"mode": "maybe"}})),
    ]


@pytest.mark.parametrize("name", [n for n, _ in broken_cases(None)])
def test_broken_configurations_fail_the_schema_and_the_loader_refuses_them_too(name, keys, tmp_path):
    mutate = dict(broken_cases(keys))[name]
    cfg = session_config(keys)
    assert schema_errors(cfg) == []
    mutate(cfg)
    assert schema_errors(cfg), f"the schema accepts: {name}"
    code, out = cli_validate(cfg, tmp_path)
    assert code == 1, f"the loader accepts what the schema refuses ({name}):\n{out}"


# --- the OCI image -----------------------------------------------------------------------------------------------


def skopeo(*args):
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is missing: scripts/setup.sh installs it (Debian package skopeo)")
    p = subprocess.run(["skopeo", *args], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def run_oci_script(tmp_path, *extra):
    p = subprocess.run(
        ["bash", str(Path(ROOT, "scripts", "oci-image.sh")), "--wasm", WASM, "--out", str(tmp_path / "oci"),
         "--archive", str(tmp_path / "gatehouse-oci.tar"), *extra],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    digest = re.search(r"^manifest: sha256:([0-9a-f]{64})$", p.stdout, re.M)
    url = re.search(r"^url: +(\S+)$", p.stdout, re.M)
    assert digest and url, p.stdout
    return digest.group(1), url.group(1)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The image of the module under test, built into a scratch directory with a scratch copy of the WasmPlugin
    whose digest is stale (all zeros), as after a rebuild."""
    d = tmp_path_factory.mktemp("oci")
    shipped = (ISTIO_DIR / "wasmplugin.yaml").read_text()
    stale = re.sub(r"@sha256:[0-9a-f]{64}", "@sha256:" + "0" * 64, shipped)
    (d / "wasmplugin.yaml").write_text(stale)
    digest, url = run_oci_script(d, "--wasmplugin", str(d / "wasmplugin.yaml"))
    return {"dir": d, "digest": digest, "url": url, "plugin": d / "wasmplugin.yaml", "stale": stale}


def test_the_image_is_the_compat_wasm_variant_with_our_module_as_plugin_wasm(image):
    raw = skopeo("inspect", "--raw", f"oci:{image['dir'] / 'oci'}:gatehouse")
    assert hashlib.sha256(raw).hexdigest() == image["digest"], "the printed digest is the manifest's"
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    # What an operator (or a registry's UI) reads about the image: its source, commit and version.
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    version = re.search(r'^version = "([^"]+)"', Path(ROOT, "Cargo.toml").read_text(), re.M).group(1)
    assert {k: v for k, v in manifest["annotations"].items() if k.startswith("org.opencontainers.image.")} == {
        "org.opencontainers.image.title": "gatehouse",
        "org.opencontainers.image.description": "Gatehouse: forward authentication as a Proxy-Wasm filter",
        "org.opencontainers.image.source": "https://github.com/example/gatehouse",
        "org.opencontainers.image.revision": head,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    # Copy it out with skopeo (which checks every blob's digest) and open the layer as Istio does.
    out = image["dir"] / "copied"
    skopeo("copy", "-q", f"oci:{image['dir'] / 'oci'}:gatehouse", f"dir:{out}")
    blob = (out / layer["digest"].split(":")[1]).read_bytes()
    tar_bytes = gzip.decompress(blob)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        (member,) = tar.getmembers()
        assert member.name == "plugin.wasm" and member.isfile()
        module = tar.extractfile(member).read()
    assert hashlib.sha256(module).hexdigest() == hashlib.sha256(Path(WASM).read_bytes()).hexdigest()
    config = json.loads(skopeo("inspect", "--config", "--raw", f"oci:{image['dir'] / 'oci'}:gatehouse"))
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}"]


def test_the_archive_holds_the_same_image(image):
    raw = skopeo("inspect", "--raw", f"oci-archive:{image['dir'] / 'gatehouse-oci.tar'}:gatehouse")
    assert hashlib.sha256(raw).hexdigest() == image["digest"]


def test_the_script_pins_the_new_digest_in_the_wasmplugin_and_nothing_else(image):
    new = image["plugin"].read_text()
    assert image["url"] == f"oci://ghcr.io/example/gatehouse@sha256:{image['digest']}"
    assert f"url: {image['url']}\n" in new
    assert new == image["stale"].replace("0" * 64, image["digest"])
    assert DIGEST_URL.match(yaml.safe_load(new)["spec"]["url"])


def test_the_image_is_reproducible(image, tmp_path):
    digest, url = run_oci_script(tmp_path, "--no-update", "--repository", "registry.example/gatehouse")
    assert digest == image["digest"]
    assert url == f"oci://registry.example/gatehouse@sha256:{digest}"
