"""The live page's HTTP server: the page, the JSON API and server-sent events, GET only.

- ``GET /``: the page (``static/index.html``, its script and style under ``/static/``);
- ``GET /api/...``: the JSON API (``tracker.web.api``);
- ``GET /api/events[?listing=ID]``: server-sent events, ``ticks`` and ``alert``, as
  they are committed (``tracker.web.events``).

``HEAD`` answers as ``GET`` does, without the body. Any other method is refused
(405): the server never writes. Bound to a loopback address it also refuses requests
whose ``Host`` is not a loopback name, so a web page elsewhere cannot read it through DNS
rebinding.

An answer over ``GZIP_MIN_BYTES`` goes gzip-compressed to a client whose
``Accept-Encoding`` takes gzip (the page's files are compressed once, when the server
starts); the event stream never is, so each event arrives as it is sent.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import logging
import queue
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tracker.errors import ConfigError, TrackerError
from tracker.web import DEFAULT_ADDRESS
from tracker.web.api import ReadApi
from tracker.web.events import EventHub

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0  # a comment line on an idle event stream, so dead peers are noticed
RETRY_MS = 1000  # how soon a page's EventSource reconnects
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_LOOPBACK_NAMES = {"localhost", "localhost."}
GZIP_MIN_BYTES = 1024  # below this, gzip's header and framing save next to nothing
# A million ticks' JSON (139 MB) at level 5: 13.5% of it in 1.3 s; level 6 saves 0.1% more
# in 1.8 s, level 9 goes to 12.3% in 9 s, level 1 to 15.9% in 0.6 s.
GZIP_LEVEL = 5


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip: named (or ``*``) with a q above 0."""
    named: list[float] = []
    anything: list[float] = []
    for item in (header or "").split(","):
        coding, *params = (part.strip().lower() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0  # unreadable: as if refused (plain is always acceptable)
        if coding in ("gzip", "x-gzip"):
            named.append(weight)
        elif coding == "*":
            anything.append(weight)
    return max(named or anything or [0.0]) > 0


def compress(body: bytes, level: int = GZIP_LEVEL) -> bytes:
    """``body`` gzipped, the same bytes each time (no timestamp in the header)."""
    return gzip.compress(body, compresslevel=level, mtime=0)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` as given to ``--web``; ``[::1]:8080`` for IPv6, ``:8080`` for 127.0.0.1."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"--web {text!r}: not HOST:PORT (e.g. {DEFAULT_ADDRESS})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"--web {text!r}: write an IPv6 address in brackets, e.g. [::1]:8080")
    return host or "127.0.0.1", int(port_text)


def check_address(text: str) -> tuple[str, int]:
    """``--web HOST:PORT`` parsed and tried: refused (exit 2) unless this process can listen there.

    Binds a socket and lets it go at once, so a command can refuse a bad address or a
    port in use before it writes anything; the server binds for real later.
    """
    host, port = parse_address(text)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as the server binds
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"--web {text}: cannot listen on it: {reason}") from None
    return host, port


def _static_files() -> dict[str, tuple[str, bytes]]:
    """The page's files by URL path, read once from the package."""
    folder = resources.files("tracker.web") / "static"
    files: dict[str, tuple[str, bytes]] = {}
    entries = [(f"/static/{entry.name}", entry) for entry in folder.iterdir()]
    while entries:
        path, entry = entries.pop()
        if entry.is_dir():  # vendor/: the chart library
            entries += [(f"{path}/{child.name}", child) for child in entry.iterdir()]
            continue
        kind = _TYPES.get("." + entry.name.rpartition(".")[2])
        if kind is not None:
            files[path] = (kind, entry.read_bytes())
    files["/"] = files.pop("/static/index.html")
    return files


class WebServer:
    """Serves the live page and its API from a store, pushing a hub's events."""

    def __init__(
        self, api: ReadApi, hub: EventHub, host: str = "127.0.0.1", port: int = 8080
    ) -> None:
        self.api = api
        self.hub = hub
        self.files = _static_files()
        self.gzipped = {  # the page's files, compressed once and hard: they never change
            path: compress(body, 9)
            for path, (_, body) in self.files.items()
            if len(body) > GZIP_MIN_BYTES
        }
        self._server = _Server((host, port), self)
        self.host = str(self._server.server_address[0])
        self.port = int(self._server.server_address[1])
        self.loopback = ipaddress.ip_address(self.host).is_loopback
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's URL, e.g. ``http://127.0.0.1:8080/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Serve in a background (daemon) thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"web:{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("live page at %s", self.url)

    def stop(self) -> None:
        """End the event streams, stop serving and close the socket."""
        self.hub.close()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` may reach this server (any, unless bound to loopback)."""
        if not self.loopback:
            return True
        if not header:
            return False
        name = urlsplit(f"//{header}").hostname or ""
        if name in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding the web server its handlers answer for."""

    # Idle keep-alive connections of a browser must not hold up a stop.
    block_on_close = False

    def __init__(self, address: tuple[str, int], web: WebServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.web = web
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("web: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Answers GET and HEAD requests; refuses every other method; logs quietly."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "tracker-web"
    timeout = 60.0  # close idle keep-alive connections
    # Headers and body go out in separate writes; without TCP_NODELAY the body waits
    # for the client's delayed ACK (about 40 ms a request on Linux).
    disable_nagle_algorithm = True

    def do_HEAD(self) -> None:
        self.do_GET()  # _send and _stream leave the body out of a HEAD answer

    def do_GET(self) -> None:
        web = self.server.web
        target = urlsplit(self.path)
        path = unquote(target.path)
        # a "+" in a time's offset stays a "+" (it is never a space here)
        query = dict(parse_qsl(target.query.replace("+", "%2B")))
        if not web.host_allowed(self.headers.get("Host")):
            self._json(403, {"error": "this server answers loopback host names only"})
            return
        if path in web.files:
            kind, body = web.files[path]
            extra = {"Content-Security-Policy": _PAGE_POLICY} if path == "/" else {}
            self._send(200, kind, body, "no-cache", extra, web.gzipped.get(path))
            return
        if path == "/api/events":
            self._stream(query.get("listing"))
            return
        if path.startswith("/api/"):
            try:
                answer = web.api.answer(path, query)
            except TrackerError as exc:  # the store failed: say so, keep serving
                logger.warning("web: %s: %s", path, exc.message)
                self._json(503, {"error": exc.message})
                return
            except Exception:
                logger.exception("web: cannot answer %s", self.path)
                self._json(500, {"error": "internal error"})
                return
            self._json(answer.status, answer.payload)
            return
        self._json(404, {"error": f"no such path {path!r}"})

    def _refuse(self) -> None:
        self.close_connection = True  # a body it may have sent is never read
        refused = {"Allow": "GET, HEAD", "Connection": "close"}
        self._json(405, {"error": f"{self.command} not allowed: read-only"}, refused)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def __getattr__(self, name: str) -> Any:
        # Any other method (PROPFIND, FOO...) is refused alike: 405, not the base class's 501.
        if name.startswith("do_"):
            return self._refuse
        raise AttributeError(name)

    def _stream(self, listing_id: str | None) -> None:
        """Server-sent events until the page goes or the server stops."""
        api = self.server.web.api
        if listing_id is not None and listing_id not in api.listings.by_id:
            self._json(404, {"error": f"no listing {listing_id!r}"})
            return
        self.close_connection = True  # the stream ends when the connection does
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command == "HEAD":
            return
        hub = self.server.web.hub
        try:
            with hub.subscribe() as inbox:
                self.wfile.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
                while True:
                    try:
                        event = inbox.get(timeout=KEEPALIVE_SECONDS)
                    except queue.Empty:
                        self.wfile.write(b": keepalive\n\n")
                        continue
                    if event is None:
                        return
                    if listing_id is None or event.listing_id == listing_id:
                        self.wfile.write(event.encode())
        except OSError:  # the page went away
            return

    def _json(
        self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, "application/json; charset=utf-8", body, "no-store", extra or {})

    def _send(
        self,
        status: int,
        kind: str,
        body: bytes,
        cache: str,
        extra: dict[str, str],
        gzipped: bytes | None = None,
    ) -> None:
        """An answer with its body, gzipped (``gzipped``, or compressed now) when it pays."""
        if len(body) > GZIP_MIN_BYTES:
            extra = {**extra, "Vary": "Accept-Encoding"}  # caches keep one of each
            if accepts_gzip(self.headers.get("Accept-Encoding")):
                body = gzipped if gzipped is not None else compress(body)
                extra["Content-Encoding"] = "gzip"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("web: %s %s", self.address_string(), format % args)
