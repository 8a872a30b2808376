"""The built module is what Envoy and Istio expect: the proxy-wasm 0.2.1 ABI, no start function surprises."""
import json
import subprocess

from harness.envoy import WASM

EXPORTS = r"""
const fs = require('fs');
const m = new WebAssembly.Module(fs.readFileSync(process.argv[1]));
console.log(JSON.stringify({exports: WebAssembly.Module.exports(m).map(e => e.name),
                            imports: WebAssembly.Module.imports(m).map(i => i.module + '.' + i.name)}));
"""


def module_info():
    out = subprocess.run(["node", "-e", EXPORTS, WASM], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_the_module_exports_the_proxy_wasm_0_2_1_abi_and_the_reactor_entry_point():
    info = module_info()
    assert "proxy_abi_version_0_2_1" in info["exports"]
    for name in ["_initialize", "proxy_on_context_create", "proxy_on_configure", "proxy_on_request_headers",
                 "proxy_on_memory_allocate"]:
        assert name in info["exports"], name
    assert "_start" not in info["exports"], "a command module would run main() and exit"


def test_the_module_imports_only_the_host_abi_and_wasi():
    info = module_info()
    modules = {i.split(".")[0] for i in info["imports"]}
    assert modules <= {"env", "wasi_snapshot_preview1"}, modules
