"""Outage drill against a running deployment (staging): while you take the identity provider away, this
sends requests with an existing browser session and a Direct Access Token, probes a new sign-in, and prints
what kept working. Standard library only.

  python3 scripts/outage_drill.py --target https://airflow.staging.example --cookie '__Host-gatehouse=v1...' \
      --token "$DAT" --seconds 120 [--session-path /ui/auth/me] [--token-path /api/v2/dags]
"""
import argparse
import http.client
import ssl
import sys
import time
from urllib.parse import urlsplit


def request(target, path, headers, timeout):
    u = urlsplit(target)
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    kwargs = {"timeout": timeout}
    if u.scheme == "https":
        kwargs["context"] = ssl.create_default_context()
    c = conn_cls(u.hostname, u.port, **kwargs)
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status
    except OSError as e:
        return f"error: {type(e).__name__}"
    finally:
        c.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True)
    p.add_argument("--cookie", help="Cookie header of a signed-in browser session")
    p.add_argument("--token", help="a Direct Access Token")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--session-path", default="/ui/auth/me")
    p.add_argument("--token-path", default="/api/v2/dags")
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    checks = []
    if a.cookie:
        checks.append(("existing session", a.session_path, {"cookie": a.cookie, "accept": "application/json"}))
    if a.token:
        checks.append(("direct access token", a.token_path, {"authorization": f"Bearer {a.token}"}))
    if not checks:
        p.error("give --cookie and/or --token")
    counts = {name: {"served": 0, "failed": 0, "statuses": {}} for name, _, _ in checks}
    deadline = time.time() + a.seconds
    while time.time() < deadline:
        for name, path, headers in checks:
            status = request(a.target, path, headers, a.timeout)
            counts[name]["served" if status == 200 else "failed"] += 1
            counts[name]["statuses"][status] = counts[name]["statuses"].get(status, 0) + 1
    started = time.time()
    sign_in = request(a.target, "/", {"accept": "text/html", "sec-fetch-mode": "navigate"}, a.timeout)
    took = time.time() - started
    print(f"{'check':<22}{'served':>8}{'failed':>8}  statuses")
    for name, c in counts.items():
        print(f"{name:<22}{c['served']:>8}{c['failed']:>8}  {c['statuses']}")
    print(f"{'new sign-in':<22}{'':>8}{'':>8}  {sign_in} in {took:.2f}s (302: sent to the provider; 503: outage page)")
    sys.exit(0 if all(c["failed"] == 0 for c in counts.values()) else 1)


if __name__ == "__main__":
    main()
