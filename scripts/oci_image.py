"""Packages dist/gatehouse.wasm as an OCI image that Istio's WasmPlugin (and Envoy Gateway) can pull.

Format: the *compat* variant of the Wasm image specification (solo-io/wasm spec/spec-compat.md), the one
Istio's fetcher (pkg/wasm/imagefetcher.go) and every registry accept: a plain OCI image manifest whose single
layer (`application/vnd.oci.image.layer.v1.tar+gzip`) is a tar holding `plugin.wasm`, annotated
`module.wasm.image/variant=compat`. (The *oci* variant with `application/vnd.module.wasm.content.layer.v1+wasm`
layers needs a second, runtime-config layer in Istio, and registries without custom media types refuse it.)

Everything is reproducible: tar entries and the gzip header carry no time, owner or file name, so the manifest
digest depends only on the module's bytes and the annotations (source, commit, version; no creation time). Writes an OCI image layout (`index.json`, `oci-layout`,
`blobs/sha256/...`) and the same layout as a tar archive, prints the manifest digest and the WasmPlugin `url`,
and rewrites the `url: oci://...@sha256:...` line of the WasmPlugin manifest. Standard library only, no network.

    python3 scripts/oci_image.py [--wasm dist/gatehouse.wasm] [--out dist/oci] [--archive dist/gatehouse-oci.tar]
        [--ref gatehouse] [--repository ghcr.io/OWNER/gatehouse]
        [--wasmplugin envoy-config/istio/wasmplugin.yaml | --no-update]

Then, e.g.: skopeo copy oci:dist/oci:gatehouse docker://ghcr.io/OWNER/gatehouse:TAG (the digest is kept).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
VARIANT = {"module.wasm.image/variant": "compat"}
SOURCE = "https://github.com/example/gatehouse"


def annotations(source):
    """The manifest's annotations: the Wasm variant, and what the OCI image spec's pre-defined keys say about
    the image (annotations.md): where its source is, which commit and version it was built from."""
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                                  check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown"
    return {
        **VARIANT,
        "org.opencontainers.image.title": "gatehouse",
        "org.opencontainers.image.description": "Gatehouse: forward authentication as a Proxy-Wasm filter",
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.version": version.group(1) if version else "unknown",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
URL_LINE = re.compile(r"(url:\s*[\"']?oci://)([^@\s\"']+)@sha256:[0-9a-f]{64}")
DEFAULT_REPOSITORY = "ghcr.io/example/gatehouse"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def deterministic_tar(members):
    """A ustar archive of (name, bytes) with no time or owner; bytes None is a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def descriptor(media_type, data, annotations=None):
    d = {"mediaType": media_type, "digest": f"sha256:{sha256(data)}", "size": len(data)}
    if annotations:
        d["annotations"] = annotations
    return d


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def build(wasm, source=SOURCE):
    """The image's blobs: {digest hex: bytes}, and the manifest's bytes."""
    if wasm[:4] != b"\0asm":
        raise SystemExit("oci-image: the module does not start with the Wasm magic number")
    layer_tar = deterministic_tar([("plugin.wasm", wasm)])
    layer = gzip_bytes(layer_tar)
    config = canonical({
        "architecture": "wasm",
        "os": "wasip1",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha256(layer_tar)}"]},
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, config),
        "layers": [descriptor(LAYER, layer)],
        "annotations": annotations(source),
    })
    blobs = {sha256(b): b for b in (layer, config, manifest)}
    return blobs, manifest


def write_layout(out, blobs, manifest, ref):
    if out.exists():
        if any(out.iterdir()) and not (out / "oci-layout").exists():
            raise SystemExit(f"oci-image: {out} exists and is not an OCI image layout; not touching it")
        shutil.rmtree(out)
    (out / "blobs" / "sha256").mkdir(parents=True)
    for digest, data in blobs.items():
        (out / "blobs" / "sha256" / digest).write_bytes(data)
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [descriptor(MANIFEST, manifest, {"org.opencontainers.image.ref.name": ref})],
    }
    files = {"oci-layout": canonical({"imageLayoutVersion": "1.0.0"}), "index.json": canonical(index)}
    for name, data in files.items():
        (out / name).write_bytes(data)
    members = [*files.items(), ("blobs", None), ("blobs/sha256", None)]
    members += [(f"blobs/sha256/{d}", blobs[d]) for d in sorted(blobs)]
    return members


def update_wasmplugin(path, repository, digest):
    """Rewrites the digest (and, if given, the repository) of the `url: oci://...@sha256:...` line."""
    text = Path(path).read_text()
    found = URL_LINE.search(text)
    if not found:
        raise SystemExit(f"oci-image: no 'url: oci://<repository>@sha256:<64 hex>' line in {path}")
    repo = repository or found.group(2)
    new = URL_LINE.sub(lambda m: f"{m.group(1)}{repo}@sha256:{digest}", text, count=1)
    if new != text:
        Path(path).write_text(new)
    return f"oci://{repo}@sha256:{digest}", new != text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wasm", default=str(ROOT / "dist" / "gatehouse.wasm"))
    p.add_argument("--out", default=str(ROOT / "dist" / "oci"), help="OCI image layout directory (replaced)")
    p.add_argument("--archive", default=str(ROOT / "dist" / "gatehouse-oci.tar"), help="the layout as a tar")
    p.add_argument("--source", default=SOURCE, help="org.opencontainers.image.source: where the source code is")
    p.add_argument("--ref", default="gatehouse", help="reference name in the layout (oci:DIR:REF)")
    p.add_argument("--repository", help=f"image repository for the url (default: the WasmPlugin's, else {DEFAULT_REPOSITORY})")
    p.add_argument("--wasmplugin", action="append",
                   help="a WasmPlugin manifest to pin (repeatable; default: the sidecar and the gateway manifests)")
    p.add_argument("--no-update", action="store_true", help="print the url, leave the WasmPlugin manifest alone")
    a = p.parse_args(argv)
    istio = ROOT / "envoy-config" / "istio"
    plugins = a.wasmplugin or [str(istio / "wasmplugin.yaml"), str(istio / "wasmplugin-gateway.yaml")]

    if not Path(a.wasm).is_file():
        raise SystemExit(f"oci-image: {a.wasm} is missing; run scripts/build.sh first")
    wasm = Path(a.wasm).read_bytes()
    blobs, manifest = build(wasm, a.source)
    digest = sha256(manifest)
    members = write_layout(Path(a.out), blobs, manifest, a.ref)
    Path(a.archive).parent.mkdir(parents=True, exist_ok=True)
    Path(a.archive).write_bytes(deterministic_tar(members))

    if a.no_update:
        repo = a.repository
        if not repo and Path(plugins[0]).exists():
            found = URL_LINE.search(Path(plugins[0]).read_text())
            repo = found.group(2) if found else None
        url, changed = f"oci://{repo or DEFAULT_REPOSITORY}@sha256:{digest}", {}
    else:
        changed = {}
        for plugin in plugins:
            url, changed[plugin] = update_wasmplugin(plugin, a.repository, digest)

    print(f"module:   {a.wasm} (sha256:{sha256(wasm)}, {len(wasm)} bytes)")
    print(f"layout:   {a.out} (oci:{os.path.relpath(a.out)}:{a.ref})")
    print(f"archive:  {a.archive} (oci-archive:{os.path.relpath(a.archive)}:{a.ref})")
    print(f"manifest: sha256:{digest}")
    print(f"url:      {url}")
    for plugin, updated in changed.items():
        print(f"{plugin}: {'updated' if updated else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
