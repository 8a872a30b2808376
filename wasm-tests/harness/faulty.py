"""A loopback HTTP server whose behaviour tests switch at run time, standing in for an identity provider's
endpoints during outage drills: healthy, answering 500, answering garbage, answering a huge body, hanging
(accepts and never answers), or gone (the socket closed)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultyServer:
    def __init__(self, body=b"{}", content_type="application/json", forward_to=None):
        self.forward_to = forward_to
        self.body = body
        self.content_type = content_type
        self.mode = "ok"
        self.hits = 0
        self.routes = {}  # path -> body, served in "ok" mode instead of `body`
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                server.hits += 1
                length = int(self.headers.get("content-length") or 0)
                request_body = self.rfile.read(length) if length else b""
                mode = server.mode
                if mode == "ok" and server.forward_to:
                    import http.client
                    c = http.client.HTTPConnection(*server.forward_to, timeout=10)
                    c.request(self.command, self.path, body=request_body,
                              headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                    r = c.getresponse()
                    data = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if mode == "gone":
                    # Kept-alive connections outlive the listener: drop them without an answer too.
                    self.close_connection = True
                    return
                if mode == "hang":
                    time.sleep(30)
                    return
                status, body = {
                    "ok": (200, server.routes.get(self.path.split("?")[0], server.body)),
                    "500": (500, b'{"error":"server_error"}'),
                    "garbage": (200, b"<html>not json</html>"),
                    "huge": (200, b"[" + b"1," * (2 * 1024 * 1024) + b"1]"),
                }[mode]
                self.send_response(status)
                self.send_header("content-type", server.content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set_json(self, value):
        self.body = json.dumps(value).encode()

    def stop(self):
        self.mode = "gone"
        self.server.shutdown()
        self.server.server_close()
