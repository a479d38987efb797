"""A local quote server that plays a tape as if live, as of a clock (``tracker feed``).

Answers, as of the clock's now, with the latest tick at or before it:

- ``GET /quotes/ID``: our feed shape (``tracker.sources.providers.feed``);
- ``GET /v8/finance/chart/SYMBOL``: Yahoo's chart API v8 shape, with the day's 1-minute bars;
- ``GET /q=CODE[,CODE...]``: Tencent's ``qt.gtimg.cn`` GBK text shape, a record per code:
  ``r_hk06082`` in real time, ``hk06082`` 15 minutes behind as Tencent's plain records are,
  and ``v_pv_none_match="1";`` once when a code is unknown;
- ``GET /clock``: ``{"now": ISO 8601, "speed": N}``, so a daemon can follow the same time.

It plays one listing's tape (``tracker feed``), or several (the capacity benchmark). Each
tick's day figures (cumulative volume and turnover, open, running high and low, the
previous day's close, its minute's bar so far; reset at each exchange-local date) are
computed once, so an answer is a bisect.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from tracker.core.model import Listing, Tick, datetime_to_ts, ts_to_datetime
from tracker.runtime.clock import Clock
from tracker.sources.providers.base import Quote
from tracker.sources.providers.feed import feed_payload
from tracker.sources.providers.tencent import tencent_code, tencent_record
from tracker.sources.providers.yahoo import Bar, chart_payload, yahoo_symbol
from tracker.sources.tape import Tape

logger = logging.getLogger(__name__)

JSON = "application/json"
GBK_TEXT = "text/plain; charset=GBK"
PLAIN_RECORD_LAG_US = 15 * 60 * 1_000_000  # Tencent's plain ``hk`` records lag by 15 minutes
_NO_TRADE = Quote(None, None)


class QuoteBook:
    """A tape's quote as of any instant: each tick with its trading day's figures so far."""

    def __init__(self, ticks: Sequence[Tick], timezone: str) -> None:
        zone = ZoneInfo(timezone)
        self._ts: list[int] = []
        self._quotes: list[Quote] = []
        self._day_start: list[int] = []
        self._bars: list[Bar] = []  # each tick's minute bar, up to and including the tick
        self._closed: list[int] = []  # the last tick of each minute
        day: dt.date | None = None
        start = 0
        volume: float | None = None
        turnover: float | None = None
        high = low = opened = 0.0
        previous: float | None = None  # the close of the tape's previous day
        bar: Bar | None = None
        for i, tick in enumerate(ticks):
            local_day = ts_to_datetime(tick.ts_us).astimezone(zone).date()
            if local_day != day:
                previous = ticks[i - 1].price if i else None
                day, start = local_day, i
                volume = turnover = None
                high = low = opened = tick.price
            minute = tick.ts_us // 60_000_000 * 60
            if bar is None or bar.start_s != minute:
                if i:
                    self._closed.append(i - 1)
                bar = Bar(minute, tick.price, tick.price, tick.price, tick.price, None)
            price = tick.price
            volume, turnover = _plus(volume, tick.volume), _plus(turnover, tick.turnover)
            high, low = max(high, price), min(low, price)
            bar = Bar(
                minute,
                bar.open,
                max(bar.high, price),
                min(bar.low, price),
                price,
                _plus(bar.volume, tick.volume),
            )
            self._ts.append(tick.ts_us)
            self._quotes.append(
                Quote(tick.ts_us, price, volume, turnover, high, low, opened, previous)
            )
            self._day_start.append(start)
            self._bars.append(bar)
        if ticks:
            self._closed.append(len(ticks) - 1)

    def _index(self, now_us: int) -> int | None:
        """The latest tick at or before ``now_us``, if any."""
        i = bisect.bisect_right(self._ts, now_us) - 1
        return i if i >= 0 else None

    def quote(self, now_us: int) -> Quote:
        """The quote as of an instant (no trade before the tape's first tick)."""
        i = self._index(now_us)
        return _NO_TRADE if i is None else self._quotes[i]

    def bars(self, now_us: int) -> list[Bar]:
        """The 1-minute bars of the latest tick's day as of an instant, the last one partial."""
        i = self._index(now_us)
        if i is None:
            return []
        lo = bisect.bisect_left(self._closed, self._day_start[i])
        hi = bisect.bisect_left(self._closed, i)
        return [self._bars[j] for j in self._closed[lo:hi]] + [self._bars[i]]


def _plus(total: float | None, amount: float | None) -> float | None:
    """A running sum of known amounts (None until one is known)."""
    if amount is None:
        return total
    return amount if total is None else total + amount


@dataclass(frozen=True, slots=True)
class _Played:
    """A listing the feed plays, with its tape's quotes."""

    listing: Listing
    book: QuoteBook


class FeedServer:
    """Serves listings' tapes as live quotes over HTTP, as of a clock."""

    def __init__(
        self,
        listing: Listing,
        tape: Tape,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        more: Sequence[tuple[Listing, Tape]] = (),
    ) -> None:
        self.listing = listing
        self.clock = clock
        self._plays: dict[str, _Played] = {}
        self._by_symbol: dict[str, _Played] = {}
        self._by_code: dict[str, _Played] = {}
        for played, recorded in ((listing, tape), *more):
            entry = _Played(played, QuoteBook(recorded.ticks, played.timezone))
            self._plays[played.id] = entry
            self._by_symbol[yahoo_symbol(played.symbol)] = entry
            with contextlib.suppress(ValueError):  # not a Hong Kong symbol: no Tencent shape
                self._by_code[tencent_code(played.symbol).removeprefix("r_")] = entry
        self.book = self._plays[listing.id].book
        self._server = _Server((host, port), self)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8765``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve in a background (daemon) thread."""
        self._serving = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"feed:{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("feed for %s serving at %s", self.listing.id, self.url)

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (KeyboardInterrupt) or stopped from another."""
        self._serving = True
        logger.info("feed for %s serving at %s", self.listing.id, self.url)
        try:
            self._server.serve_forever()
        finally:
            self._serving = False
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._serving:
            self._server.shutdown()
            self._serving = False
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def respond(self, target: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a request target (path and query)."""
        path = unquote(urlsplit(target).path)
        now = self.clock.now()
        now_us = datetime_to_ts(now)
        if path == "/clock":
            speed = self.clock.speed
            zone = ZoneInfo(self.listing.timezone)
            payload = {
                "now": now.astimezone(zone).isoformat(),
                "speed": int(speed) if float(speed).is_integer() else speed,
            }
            return _json(200, payload)
        if path.startswith("/quotes/"):
            listing_id = path.removeprefix("/quotes/")
            played = self._plays.get(listing_id)
            if played is None:
                known = ", ".join(repr(known) for known in self._plays)
                return _json(404, {"error": f"no listing {listing_id!r} (this feed plays {known})"})
            quote = played.book.quote(now_us)
            listing = played.listing
            return _json(200, feed_payload(listing.symbol, quote, listing.timezone))
        if path.startswith("/v8/finance/chart/"):
            symbol = path.removeprefix("/v8/finance/chart/")
            played = self._by_symbol.get(yahoo_symbol(symbol))
            if played is None:
                return _json(404, _chart_error(symbol))
            listing = played.listing
            payload = chart_payload(
                listing.symbol,
                played.book.quote(now_us),
                played.book.bars(now_us),
                timezone=listing.timezone,
                currency=listing.currency,
                now=now,
            )
            return _json(200, payload)
        if path.startswith("/q="):
            return self._tencent(path.removeprefix("/q="), now_us)
        return _json(404, {"error": f"no such path {path!r}"})

    def _tencent(self, codes: str, now_us: int) -> tuple[int, str, bytes]:
        """Tencent's answer to ``q=CODE,CODE...``: a record per known code, else a no-match."""
        records: list[bytes] = []
        unknown = False
        for code in dict.fromkeys(part.strip().lower() for part in codes.split(",")):
            played = self._by_code.get(code.removeprefix("r_"))
            if played is None:
                unknown = True
                continue
            at = now_us if code.startswith("r_") else now_us - PLAIN_RECORD_LAG_US
            listing = played.listing
            records.append(
                tencent_record(
                    code,
                    listing.name,
                    played.book.quote(at),
                    timezone=listing.timezone,
                    previous_close=listing.offer_price,
                )
            )
        if unknown:
            records.append(b'v_pv_none_match="1";\n')
        return 200, GBK_TEXT, b"".join(records)


def _json(status: int, payload: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(payload).encode()


def _chart_error(symbol: str) -> dict[str, Any]:
    """Yahoo's answer for an unknown symbol."""
    error = {"code": "Not Found", "description": f"No data found, symbol may be delisted: {symbol}"}
    return {"chart": {"result": None, "error": error}}


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding the feed its handlers answer from."""

    def __init__(self, address: tuple[str, int], feed: FeedServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.feed = feed
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("feed: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Answers GET requests from the feed; logs quietly."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "tracker-feed"
    timeout = 30.0  # close idle keep-alive connections
    # Headers and body go out in separate writes; without TCP_NODELAY the body waits
    # for the client's delayed ACK (about 40 ms a request on Linux).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        try:
            status, content_type, body = self.server.feed.respond(self.path)
        except Exception:
            logger.exception("feed: cannot answer %s", self.path)
            status, content_type, body = _json(500, {"error": "internal error"})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("feed: %s %s", self.address_string(), format % args)
