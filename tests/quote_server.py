"""A real HTTP server on 127.0.0.1 whose answers a test sets, counting the requests it gets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuoteServer:
    """Serves one canned response (status, body, headers) to every GET, or one per path prefix.

    ``paths`` records the path of every request, in order.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.paths: list[str] = []
        self.status = 200
        self.body = b"{}"
        self.headers: dict[str, str] = {}
        self.routes: dict[str, tuple[int, bytes]] = {}  # path prefix: status, body
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                server.paths.append(self.path)
                status, body = server.answer(self.path)
                self.send_response(status)
                for key, value in server.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.url = f"{self.base}/quote"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, path: str) -> tuple[int, bytes]:
        """The status and body for a path: its route's (longest prefix), else the default."""
        matches = [prefix for prefix in self.routes if path.startswith(prefix)]
        if matches:
            return self.routes[max(matches, key=len)]
        return self.status, self.body

    def respond(
        self, status: int = 200, body: bytes | dict[str, Any] = b"", **headers: str
    ) -> None:
        self.status = status
        self.body = json.dumps(body).encode() if isinstance(body, dict) else body
        self.headers = headers

    def route(self, prefix: str, body: bytes | dict[str, Any] = b"", status: int = 200) -> None:
        """Answer requests whose path starts with ``prefix`` with this status and body."""
        self.routes[prefix] = (
            status,
            json.dumps(body).encode() if isinstance(body, dict) else body,
        )

    def __enter__(self) -> QuoteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
