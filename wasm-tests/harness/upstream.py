"""A loopback HTTP upstream that records every request that reaches it.

Tests assert on what the upstream actually received: which headers, which path, and, for every
rejection, that nothing arrived at all. The demo runs it on its own (`python3 upstream.py PORT`) as an echo
server, so a curl through Envoy shows exactly what Gatehouse forwarded."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorded:
    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers  # list of (lower-case name, value), in order

    def header(self, name):
        values = [v for n, v in self.headers if n == name.lower()]
        return values[0] if values else None

    def names(self):
        return {n for n, _ in self.headers}


class Upstream:
    def __init__(self, host="127.0.0.1", status_for=None, port=0, echo=False):
        """`status_for(recorded) -> int` makes this upstream answer like a legacy path with its own
        authentication (401/403 for what it refuses); by default everything gets 200. With `echo`, each
        answer shows the method, path and headers that arrived."""
        self.requests = []
        self.status_for = status_for
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle's algorithm and the proxy's delayed
            # ACKs every response would wait ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                rec = Recorded(self.command, self.path, [(k.lower(), v) for k, v in self.headers.items()])
                if not echo:
                    with upstream._lock:
                        upstream.requests.append(rec)
                status = upstream.status_for(rec) if upstream.status_for else 200
                if echo:
                    body = json.dumps({"upstream": "demo", "method": self.command, "path": self.path,
                                       "headers": dict(rec.headers)}, indent=1).encode() + b"\n"
                else:
                    body = json.dumps({"upstream": "ok" if status < 400 else "refused", "path": self.path}).encode()
                self.send_response(status)
                if "set_cookies=1" in self.path:
                    # Like Airflow after its own login: a `_token` cookie next to an unrelated one.
                    self.send_header("set-cookie", "_token=upstream-own-jwt; Path=/")
                    self.send_header("set-cookie", "theme=dark; Path=/")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _any

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self):
        """Returns and forgets the requests recorded so far."""
        with self._lock:
            out, self.requests = self.requests, []
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    # The demo's upstream: requests are echoed, not recorded.
    up = Upstream(port=int(sys.argv[1]), echo=True)
    print(f"echo upstream on 127.0.0.1:{up.port}", flush=True)
    up.thread.join()
