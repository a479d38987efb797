"""The live page's JSON API, answered from the store and the listings (no HTTP here).

- ``GET /api/listings``: every configured listing with its rules' price levels, its
  last stored price and its day's trading session; ``GET /api/listings/ID``: one of
  them (``?date=YYYY-MM-DD`` for another day's levels and session).
- ``GET /api/listings/ID/ticks``: a day's ticks (``?date=YYYY-MM-DD``, exchange date;
  default the last day stored), or from an instant on (``?since=``), or both; a page of
  them with ``?limit=N`` (and ``"next"``, the cursor to ask ``?after=`` for the rest).
- ``GET /api/listings/ID/bars``: the same ticks as bars of ``?interval=`` (1s, 5s, 1m, 5m),
  computed by the database.
- ``GET /api/alerts``: stored alert records in firing order (``?listing=``, ``?since=``,
  ``?date=``).

A listing's ``session`` is its day's calendar: the trading ``spans`` (auctions
included), the closed ``breaks`` between them (the lunch break, which the page's
chart cuts out, as ``tracker report --png`` does) and ``opening_until_us``, past
which a first stored tick is not the day's opening trade. A rule measured against
the day's open or the previous close has that day's ``level`` (null until known).

``since`` is inclusive: an ISO 8601 time (exchange time without an offset, ``Z`` or
``+08:00`` with one) or a plain integer of epoch microseconds (a tick's ``ts_us``).
Incremental readers ask from the last instant they have and drop what they have.

``after`` is exclusive: ``TS_US:SEQ``, a tick's key, as ``next`` gives it; a page is read by
key, never by offset. A bar starts at a multiple of its interval in epoch time and ends with
its last tick's key (``last_ts_us``, ``last_seq``), from which events can take over.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tracker.config import Listings
from tracker.core.limits import read_date, read_epoch_us, read_instant
from tracker.core.metrics import gain_pct, level_price, market_cap
from tracker.core.model import (
    Listing,
    Reference,
    StoredAlert,
    Tick,
    datetime_to_ts,
    day_bounds,
    local_date,
    ts_to_datetime,
)
from tracker.markets.calendar import DaySession, MarketCalendar
from tracker.reporting.chart import CUT_WIDTH_S, break_label
from tracker.runtime.clock import Clock, SystemClock
from tracker.store.bars import Bar, tick_bars
from tracker.store.repository import SqlStore

INTERVALS_S = {"1s": 1, "5s": 5, "1m": 60, "5m": 300}  # the bars' intervals, in seconds
PAGE_MAX = 100_000  # the most ticks a page holds
_SEQ_MAX = 2**31 - 1  # the ticks table's seq is a 32-bit integer


@dataclass(frozen=True, slots=True)
class Answer:
    """An API answer: HTTP status and the JSON payload."""

    status: int
    payload: dict[str, Any]


class _Refused(Exception):
    """A request the API cannot answer: its status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ReadApi:
    """Answers the JSON API's GET requests; never writes."""

    def __init__(self, store: SqlStore, listings: Listings, clock: Clock | None = None) -> None:
        self.store = store
        self.listings = listings
        self.clock = clock or SystemClock()  # the daemon's own, on a simulated day
        self._calendars: dict[str, MarketCalendar] = {}
        self._calendar_lock = threading.Lock()  # requests are answered on many threads

    def answer(self, path: str, query: Mapping[str, str]) -> Answer:
        """The answer to ``GET path?query`` (``path`` starting with ``/api/``)."""
        parts = [part for part in path.split("/") if part][1:]
        try:
            if parts == ["listings"]:
                return Answer(200, self.listings_payload())
            if len(parts) == 2 and parts[0] == "listings":
                listing = self._listing(parts[1])
                return Answer(200, self.listing_payload(listing, _date(query.get("date"))))
            if len(parts) == 3 and parts[0] == "listings" and parts[2] == "ticks":
                return Answer(200, self.ticks_payload(self._listing(parts[1]), query))
            if len(parts) == 3 and parts[0] == "listings" and parts[2] == "bars":
                return Answer(200, self.bars_payload(self._listing(parts[1]), query))
            if parts == ["alerts"]:
                return Answer(200, self.alerts_payload(query))
            raise _Refused(404, f"no such path {path!r}")
        except _Refused as refused:
            return Answer(refused.status, {"error": refused.reason})

    def _listing(self, listing_id: str) -> Listing:
        listing = self.listings.by_id.get(listing_id)
        if listing is None:
            known = ", ".join(self.listings.by_id) or "none"
            raise _Refused(404, f"no listing {listing_id!r} (listings: {known})")
        return listing

    def listings_payload(self) -> dict[str, Any]:
        """Every listing, how wide the page's chart keeps a cut-out closed period, and
        whether a daemon is writing the database (else the page shows a stored day)."""
        return {
            "listings": [self.listing_payload(listing) for listing in self.listings.by_id.values()],
            "chart": {"gap_width_s": CUT_WIDTH_S},
            "daemon": self.daemon_payload(),
        }

    def daemon_payload(self) -> dict[str, Any]:
        """The daemon's heartbeat: whether it runs, and its clock (null when it never ran)."""
        beat = next((b for b in self.store.heartbeats() if b.name == "daemon"), None)
        if beat is None:
            return {"running": False, "clock": None, "clock_us": None}
        return {
            "running": beat.running(time.time()),
            "clock": ts_to_datetime(beat.clock_us).isoformat(),
            "clock_us": beat.clock_us,
        }

    def listing_payload(self, listing: Listing, date: dt.date | None = None) -> dict[str, Any]:
        """A listing's figures, its rules' levels and session on a day, its last stored tick.

        The day is ``date``, or else the last day stored (today's, by the clock, on none).
        """
        last = self.store.last_tick(listing.id)
        zone = ZoneInfo(listing.timezone)
        day = date or (local_date(listing, last.ts_us) if last else None)
        if day is None:
            day = self.clock.now().astimezone(zone).date()
        start, end = day_bounds(listing, day)
        session = self._session(listing, day)
        day_open = prev_close = None
        if any(rule.daily and rule.reference is Reference.OPEN for rule in listing.rules):
            first = self.store.first_tick(listing.id, start, end)
            day_open = first.price if first else None
            until = session.opening_until
            if first is not None and until is not None and first.ts_us > until:
                source = self.store.source_day(listing.id, day)  # a day joined late: the
                if source is not None and source.open is not None:  # provider's open, as
                    day_open = source.open  # the rules took it
        if any(rule.daily and rule.reference is Reference.PREV_CLOSE for rule in listing.rules):
            previous = self.store.last_tick(listing.id, before_us=start)
            prev_close = previous.price if previous else None
        return {
            "id": listing.id,
            "name": listing.name,
            "symbol": listing.symbol,
            "calendar": listing.calendar,
            "timezone": listing.timezone,
            "currency": listing.currency,
            "offer_price": listing.offer_price,
            "shares_outstanding": listing.shares_outstanding,
            "shares_basis": listing.shares_basis,
            "listed_on": listing.listed_on.isoformat() if listing.listed_on else None,
            "rules": [
                {
                    "id": rule.id,
                    "kind": str(rule.kind),
                    "direction": str(rule.direction),
                    "threshold": _number(rule.threshold),
                    "reference": str(rule.reference),
                    # a gain against the open or previous close: that day's level, once known
                    "level": level_price(listing, rule, day_open, prev_close),
                    "rearm_pct": rule.rearm_pct,
                    "once": rule.once,
                }
                for rule in listing.rules
            ],
            "last": None if last is None else last_payload(listing, last),
            "day": None if last is None else local_date(listing, last.ts_us).isoformat(),
            "session": session_payload(session, zone),
        }

    def _session(self, listing: Listing, date: dt.date) -> DaySession:
        with self._calendar_lock:
            calendar = self._calendars.get(listing.calendar)
            if calendar is None:
                calendar = self._calendars[listing.calendar] = MarketCalendar(listing.calendar)
            return calendar.day(date, listing.timezone)

    def ticks_payload(self, listing: Listing, query: Mapping[str, str]) -> dict[str, Any]:
        """A listing's ticks of a day and/or from an instant on, in (ts, seq) order.

        With ``limit``, a page of them and ``next``: the cursor of its last tick when the
        selection goes on (ask ``after`` it), else None. Without it, at most ``PAGE_MAX``
        (so that no request holds a whole busy day in memory), with ``next`` only when
        the selection goes on past them.
        """
        limit = _limit(query.get("limit"))
        after = _cursor(query.get("after"))
        selection = self._selection(listing, query)
        paged: dict[str, str | None] = {} if limit is None else {"next": None}
        if selection is None:
            return {"listing": listing.id, "date": None, "ticks": [], **paged}
        date, start, end = selection
        size = PAGE_MAX if limit is None else limit
        # one more than asked for: whether the selection goes on after the page
        ticks = self.store.ticks(listing.id, start, end, after=after, limit=size + 1)
        if len(ticks) > size:
            ticks = ticks[:size]
            paged["next"] = f"{ticks[-1].ts_us}:{ticks[-1].seq}"
        zone = ZoneInfo(listing.timezone)
        return {
            "listing": listing.id,
            "date": date.isoformat() if date else None,
            "ticks": [tick_payload(tick, zone) for tick in ticks],
            **paged,
        }

    def bars_payload(self, listing: Listing, query: Mapping[str, str]) -> dict[str, Any]:
        """The ticks ``ticks_payload`` would answer, as bars of an interval (default 1m)."""
        interval = query.get("interval", "1m")
        seconds = INTERVALS_S.get(interval)
        if seconds is None:
            raise _Refused(400, f"interval {interval!r}: one of {', '.join(INTERVALS_S)}")
        selection = self._selection(listing, query)
        date, start, end = selection or (None, None, None)
        bars: list[Bar] = []
        if selection is not None:
            bars = tick_bars(self.store.engine, listing.id, seconds * 1_000_000, start, end)
        zone = ZoneInfo(listing.timezone)
        return {
            "listing": listing.id,
            "date": date.isoformat() if date else None,
            "interval": interval,
            "interval_s": seconds,
            "bars": [bar_payload(bar, zone) for bar in bars],
        }

    def _selection(
        self, listing: Listing, query: Mapping[str, str]
    ) -> tuple[dt.date | None, int | None, int | None] | None:
        """The day and [start, end) a query's ``date`` and ``since`` select.

        Neither given: the last day stored, or None when nothing is.
        """
        date = _date(query.get("date"))
        since = _instant(query.get("since"), listing.timezone, "since")
        if date is None and since is None:
            last = self.store.last_tick(listing.id)
            if last is None:
                return None
            date = local_date(listing, last.ts_us)
        start = end = None
        if date is not None:
            start, end = day_bounds(listing, date)
        if since is not None:
            start = since if start is None else max(start, since)
        return date, start, end

    def alerts_payload(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Stored alert records in firing order, of one listing, a day, from an instant on."""
        listing_id = query.get("listing")
        listing = self._listing(listing_id) if listing_id is not None else None
        # a time without an offset is the listing's exchange time (the first listing's)
        scope = [listing] if listing else list(self.listings.by_id.values())
        timezone = scope[0].timezone if scope else "UTC"
        since = _instant(query.get("since"), timezone, "since")
        date = _date(query.get("date"))
        records = [alert_payload(alert) for alert in self.store.alerts(listing_id, since)]
        if date is not None:  # the record's ts is in the exchange's time: its date is the day
            records = [r for r in records if r["ts"][:10] == date.isoformat()]
        return {"alerts": records}


def tick_payload(tick: Tick, zone: ZoneInfo) -> dict[str, Any]:
    """A tick as JSON: ``ts`` in exchange time, ``ts_us`` epoch microseconds (UTC)."""
    return {
        "ts": ts_to_datetime(tick.ts_us).astimezone(zone).isoformat(),
        "ts_us": tick.ts_us,
        "seq": tick.seq,
        "price": tick.price,
        "volume": tick.volume,
        "turnover": tick.turnover,
    }


def bar_payload(bar: Bar, zone: ZoneInfo) -> dict[str, Any]:
    """A bar as JSON: ``ts`` its start in exchange time, ``ts_us`` the same in epoch µs."""
    return {
        "ts": ts_to_datetime(bar.start_us).astimezone(zone).isoformat(),
        "ts_us": bar.start_us,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "turnover": bar.turnover,
        "turnover_estimated": bar.turnover_estimated,
        "trades": bar.trades,
        "last_ts_us": bar.last_ts_us,
        "last_seq": bar.last_seq,
    }


def session_payload(session: DaySession, zone: ZoneInfo) -> dict[str, Any]:
    """A day's trading spans, the closed breaks between them, and how late an open may be."""

    def when(ts_us: int) -> str:
        return ts_to_datetime(ts_us).astimezone(zone).isoformat()

    until = session.opening_until
    return {
        "date": session.date.isoformat(),
        "spans": [
            {"start": when(a), "end": when(b), "start_us": a, "end_us": b} for a, b in session.spans
        ],
        "breaks": [
            {
                "start": when(b.start),
                "end": when(b.end),
                "start_us": b.start,
                "end_us": b.end,
                "phase": str(b.phase),
                "label": break_label(b, zone),
            }
            for b in session.breaks
        ],
        "opening_until": when(until) if until is not None else None,
        "opening_until_us": until,
    }


def last_payload(listing: Listing, tick: Tick) -> dict[str, Any]:
    """A listing's last price with its gain against the offer and its market cap."""
    zone = ZoneInfo(listing.timezone)
    return {
        **tick_payload(tick, zone),
        "gain_pct": round(gain_pct(listing, tick.price), 2),
        "market_cap": market_cap(listing, tick.price),
    }


def alert_payload(alert: StoredAlert) -> dict[str, Any]:
    """The stored alert record, as the alert log has it."""
    record: dict[str, Any] = json.loads(alert.record)
    return record


def _number(value: float) -> int | float:
    """50 not 50.0, as in the alert record."""
    return int(value) if float(value).is_integer() else value


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return read_date(text)
    except ValueError as exc:
        raise _Refused(400, f"date {text!r}: {exc}") from None


def _limit(text: str | None) -> int | None:
    """A page's size: a whole number from 1 to ``PAGE_MAX``."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= PAGE_MAX):
        raise _Refused(400, f"limit {text!r}: not a whole number from 1 to {PAGE_MAX}")
    return int(text)


def _cursor(text: str | None) -> tuple[int, int] | None:
    """A tick's key ``TS_US:SEQ``, as a page's ``next`` gives it."""
    if text is None:
        return None
    ts_text, _, seq_text = text.partition(":")
    digits = ts_text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and seq_text.isascii() and seq_text.isdigit()):
        raise _Refused(400, f'after {text!r}: not a cursor TS_US:SEQ (a page\'s "next")')
    try:
        ts_us = read_epoch_us(ts_text)
    except ValueError as exc:
        raise _Refused(400, f"after {text!r}: {exc}") from None
    if len(seq_text) > 10 or int(seq_text) > _SEQ_MAX:
        raise _Refused(400, f"after {text!r}: seq is above {_SEQ_MAX}")
    return ts_us, int(seq_text)


def _instant(text: str | None, timezone: str, name: str) -> int | None:
    """Epoch microseconds of a query's time: ISO 8601 (exchange time without offset) or µs."""
    if text is None:
        return None
    try:
        if text.isascii() and text.isdigit():
            return read_epoch_us(text)
        return datetime_to_ts(read_instant(text, timezone))
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith("not "):
            reason = "not an ISO 8601 time nor epoch microseconds"
        raise _Refused(400, f"{name} {text!r}: {reason}") from None
