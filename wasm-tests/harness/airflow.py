"""Runs a real Apache Airflow 3 api-server on loopback, the upstream Gatehouse must satisfy.

Stdlib only (Python 3.11); `mint` imports PyJWT lazily. Airflow itself runs from its own venv
(`AIRFLOW_VENV`, default `<repo root>/.venv-airflow`, made with `pip install apache-airflow-core==3.3.2`).

Two ways for Airflow to check tokens (SimpleAuthManager, the default auth manager):
  * HS512 (default): `[api_auth] jwt_secret` = `Airflow.jwt_secret`; `Airflow.mint` makes tokens it accepts.
  * JWKS: `jwks_path` (a file path or an http URL) + `jwt_algorithm` (e.g. EdDSA); tokens then need a `kid`
    that the JWKS holds. A JWKS file is read once, on the first token Airflow checks.
Either way tokens need aud (`Airflow.audience`), exp, iat, nbf, sub and role (VIEWER, USER, OP, ADMIN).

`AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS` is never set (it would let every anonymous request in), and
AIRFLOW_* settings from the calling environment are dropped so every instance is configured the same way.
"""
import fcntl
import hashlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from . import secrets as registry

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_VENV = os.environ.get("AIRFLOW_VENV", str(ROOT / ".venv-airflow"))
AUDIENCE = "apache-airflow"  # Airflow's default [api_auth] jwt_audience, set explicitly below
ROLES = ("VIEWER", "USER", "OP", "ADMIN")

_templates = {}  # venv -> migrated template dir, for this process


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env(home, extra=None):
    """The environment for every Airflow command: the caller's, minus any AIRFLOW_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(home) / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{Path(home) / 'airflow.db'}",
        "AIRFLOW__API__WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
    })
    env.update(extra or {})
    return env


def _airflow_version(venv):
    for p in Path(venv).glob("lib/python3*/site-packages/apache_airflow_core-*.dist-info"):
        return p.name[len("apache_airflow_core-"):-len(".dist-info")]
    return "unknown"


def template(venv=AIRFLOW_VENV):
    """A directory holding a migrated `airflow.db` for this venv (made once, then reused; keyed by the venv's
    path and Airflow version, so a reinstalled venv of another version gets a new one)."""
    venv = os.path.realpath(venv)
    if venv in _templates:
        return _templates[venv]
    if not (Path(venv) / "bin" / "airflow").exists():
        raise RuntimeError(f"no Airflow in {venv}: python3 -m venv {venv} && "
                           f"{venv}/bin/pip install apache-airflow-core==3.3.2 (or set AIRFLOW_VENV)")
    key = hashlib.sha256(f"{venv}\0{_airflow_version(venv)}".encode()).hexdigest()[:16]
    tdir = Path(tempfile.gettempdir()) / f"gatehouse-airflow-template-{key}"
    tdir.mkdir(parents=True, exist_ok=True)
    with open(tdir / ".lock", "w") as lock:  # parallel test processes migrate once between them
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (tdir / ".migrated").exists():
            home = Path(tempfile.mkdtemp(prefix="migrate-", dir=tdir))
            env = _base_env(home, {"AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64)})
            t0 = time.monotonic()
            p = subprocess.run([str(Path(venv) / "bin" / "airflow"), "db", "migrate"], env=env, cwd=str(home),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
            if p.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed ({p.returncode}):\n{p.stdout[-3000:]}")
            os.replace(home / "airflow.db", tdir / "airflow.db")
            (tdir / ".migrated").write_text(f"{time.monotonic() - t0:.2f}\n")
            shutil.rmtree(home, ignore_errors=True)
    _templates[venv] = tdir
    return tdir


class Airflow:
    def __init__(self, venv: str = AIRFLOW_VENV, jwt_secret: str | None = None, jwks_path: str | None = None,
                 jwt_algorithm: str | None = None, env: dict | None = None, timeout: float = 90):
        """`env`: extra AIRFLOW__* settings (e.g. AIRFLOW__API_AUTH__JWT_ISSUER), applied last."""
        self.venv = venv
        self.audience = AUDIENCE
        self.jwks_path = jwks_path
        settings = {"AIRFLOW__API_AUTH__JWT_AUDIENCE": self.audience}
        if jwks_path:
            # JWKS mode: jwt_secret and trusted_jwks_url are mutually exclusive, so no secret at all.
            self.jwt_secret = None
            self.jwt_algorithm = jwt_algorithm
            settings["AIRFLOW__API_AUTH__TRUSTED_JWKS_URL"] = str(jwks_path)
            if jwt_algorithm:
                settings["AIRFLOW__API_AUTH__JWT_ALGORITHM"] = jwt_algorithm
        else:
            self.jwt_secret = registry.register(jwt_secret or secrets.token_urlsafe(64))
            self.jwt_algorithm = "HS512"
            settings["AIRFLOW__API_AUTH__JWT_SECRET"] = self.jwt_secret
            settings["AIRFLOW__API_AUTH__JWT_ALGORITHM"] = "HS512"
        settings.update(env or {})

        tdir = template(venv)
        self.home = Path(tempfile.mkdtemp(prefix="gatehouse-airflow-"))
        (self.home / "dags").mkdir()
        shutil.copyfile(tdir / "airflow.db", self.home / "airflow.db")
        self.env = _base_env(self.home, settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = str(self.home / "api-server.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(Path(venv) / "bin" / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=str(self.home),
            start_new_session=True,  # its own process group, so stop() reaches the uvicorn worker too
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
            try:
                if self.get("/api/v2/monitor/health", timeout=2)[0] == 200:
                    self.ready_seconds = time.monotonic() - t0
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"airflow api-server not ready after {timeout} s:\n{self.logs()[-3000:]}")

    def mint(self, sub, role, ttl=300, *, key=None, algorithm=None, headers=None, **overrides) -> str:
        """A token this Airflow accepts (HS512 mode), made with PyJWT. `overrides` replace claims; an override
        of None removes the claim. `key`/`algorithm`/`headers` sign otherwise (e.g. an Ed25519 key, "EdDSA",
        {"kid": ...} for the JWKS mode)."""
        import jwt

        now = int(time.time())
        claims = {"aud": self.audience, "exp": now + ttl, "iat": now, "nbf": now, "sub": sub, "role": role,
                  "jti": uuid.uuid4().hex}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        if key is None:
            if self.jwt_secret is None:
                raise ValueError("this Airflow checks tokens against a JWKS: pass key=, algorithm=, headers={kid}")
            key = self.jwt_secret
        if algorithm is None:
            if not isinstance(key, (str, bytes)):
                raise ValueError("pass algorithm= with an asymmetric key")
            algorithm = "HS512"
        return registry.register_token(jwt.encode(claims, key, algorithm=algorithm, headers=headers))

    def request(self, method, path, token=None, body=None, headers=None, timeout=30):
        """Returns (status, headers as a list of (name, value), body text). `body` may be str or bytes."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if token is not None:
                h["Authorization"] = f"Bearer {token}"
            if isinstance(body, str):
                body = body.encode()
            if body is not None and not any(k.lower() == "content-type" for k in h):
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.getheaders(), r.read().decode("utf-8", "replace")
        finally:
            c.close()

    def get(self, path, token=None, timeout=30):
        """Returns (status, body text)."""
        status, _, body = self.request("GET", path, token=token, timeout=timeout)
        return status, body

    def rss_kb(self):
        """Resident memory of the api-server's process group, in KiB (Linux /proc)."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.proc.pid:
                    continue
                with open(f"/proc/{pid}/status") as f:
                    total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            except (OSError, ProcessLookupError):
                pass
        return total

    def logs(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group: leftovers, or all of it after 10 s
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        if not self._log.closed:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
