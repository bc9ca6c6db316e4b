"""A forwarding proxy in front of the real Label Studio, for fault tests: a subclass decides, per
request, to forward it or to fail it (an outage, a crash of the server at a known point)."""
import http.server
import threading
import urllib.error
import urllib.request


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to `target`; `intercept(path)` may answer a status instead (or None
    to forward). Started in a thread; `url` is its address."""

    def __init__(self, target: str):
        self.target = target
        super().__init__(("127.0.0.1", 0), _ForwardingHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def intercept(self, path: str) -> int | None:
        return None

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _ForwardingHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        status = self.server.intercept(self.path)
        if status is not None:
            self.send_response(status)
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.server.target + self.path, data=body, headers=headers,
                                         method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload, kind = response.status, response.read(), response.headers.get("Content-Type")
        except urllib.error.HTTPError as error:
            status, payload, kind = error.code, error.read(), error.headers.get("Content-Type")
        except (urllib.error.URLError, ConnectionError):
            self.close_connection = True  # the server is gone: so is this connection
            return
        self.send_response(status)
        self.send_header("Content-Type", kind or "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward
