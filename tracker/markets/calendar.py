"""Exchange sessions from exchange_calendars, plus the auction phases it does not model.

exchange_calendars knows continuous trading (HKEX: 09:30-12:00 and 13:00-16:00,
half days to 12:00) and holidays. HKEX also trades in a pre-opening auction
(09:00-09:30, the opening price struck between 09:20 and 09:22) and a closing
auction (16:00-16:10, or 12:00-12:10 on half days, the closing price struck at a
random moment from 16:08 or 12:08); they are added here. HKEX's session times as
its brokers publish them: the pre-opening session's order input (09:00-09:15),
no-cancellation (09:15-09:20), random matching (09:20-09:22) and blocking periods,
and the closing auction session "4:00 pm to a random closing between 4:08 pm and
4:10 pm" (12:00 to 12:08-12:10 on half days), e.g. https://www.pcsfg.com/pcs/
customer-services/trading-hours and https://boom.com/en/customer_service/faqs/
hkex_auction_sessions/.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from tracker.core.model import MICROS, datetime_to_ts, ts_to_datetime
from tracker.markets.exchanges import REGULAR_OPENS

# Minutes of auction before the open and after the close, per calendar code.
_AUCTIONS: dict[str, tuple[int, int]] = {"XHKG": (30, 10)}
_MARGIN = dt.timedelta(days=14)
# A day's first stored trade this long into continuous trading is still its opening trade;
# later, the record of the day is partial (a daemon started mid-morning, say).
OPENING_GRACE_US = 2 * 60 * MICROS


class Phase(StrEnum):
    """What a market is doing at an instant."""

    CLOSED = "closed"
    PRE_OPEN = "pre_open"
    CONTINUOUS = "continuous"
    LUNCH = "lunch"
    CLOSING_AUCTION = "closing_auction"


# Phases in which trades print and quotes are worth polling.
TRADING = frozenset({Phase.PRE_OPEN, Phase.CONTINUOUS, Phase.CLOSING_AUCTION})


class Period(NamedTuple):
    """A span of one phase, in epoch microseconds (UTC), end exclusive."""

    start: int
    end: int
    phase: Phase


@contextmanager
def _quiet_pandas() -> Iterator[None]:
    """Silence pandas 3 deprecations raised inside exchange_calendars 4.x.

    It calls ``DatetimeIndex.weekday`` and ``Series.values`` on tz-aware data;
    those warnings are its to fix, not the user's to see.
    """
    from pandas.errors import Pandas4Warning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Pandas4Warning)
        yield


class MarketCalendar:
    """The phases of one exchange over time, built lazily around the instants asked about."""

    def __init__(self, code: str) -> None:
        self.code = code
        self._first: dt.date | None = None
        self._last: dt.date | None = None
        self._periods: list[Period] = []
        self._starts: list[int] = []

    def periods(self, start: dt.datetime, end: dt.datetime) -> list[Period]:
        """Every non-closed period that overlaps [start, end)."""
        self._cover(start.date() - dt.timedelta(days=1), end.date() + dt.timedelta(days=1))
        lo, hi = datetime_to_ts(start), datetime_to_ts(end)
        return [p for p in self._periods if p.end > lo and p.start < hi]

    def next_open(self, instant: dt.datetime) -> int | None:
        """When trading next starts after an instant (epoch µs), within a month; None if not."""
        after = datetime_to_ts(instant)
        for period in self.periods(instant, instant + dt.timedelta(days=31)):
            if period.phase in TRADING and period.start > after:
                return period.start
        return None

    def phase(self, instant: dt.datetime) -> Phase:
        """The phase the market is in at an instant."""
        self._cover(instant.date() - dt.timedelta(days=1), instant.date() + dt.timedelta(days=1))
        return self._phase_at(datetime_to_ts(instant))

    def phase_at(self, ts_us: int) -> str:
        """The phase at an instant in epoch microseconds (the core's ``phase_of``)."""
        if not self._starts or not self._starts[0] <= ts_us < self._periods[-1].end:
            return self.phase(ts_to_datetime(ts_us))
        return self._phase_at(ts_us)

    def day(self, date: dt.date, timezone: str) -> DaySession:
        """The session of an exchange-local date (no periods on a holiday or a weekend)."""
        zone = ZoneInfo(timezone)
        start = dt.datetime.combine(date, dt.time(), zone)
        end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), zone)
        lo, hi = datetime_to_ts(start), datetime_to_ts(end)
        return DaySession(date, tuple(p for p in self.periods(start, end) if lo <= p.start < hi))

    def _phase_at(self, ts: int) -> Phase:
        i = bisect.bisect_right(self._starts, ts) - 1
        if i >= 0 and ts < self._periods[i].end:
            return self._periods[i].phase
        return Phase.CLOSED

    def trading_seconds(self, start: dt.datetime, end: dt.datetime) -> float:
        """Seconds of trading phases (auctions and continuous trading) between two instants."""
        lo, hi = datetime_to_ts(start), datetime_to_ts(end)
        total = 0
        for period in self.periods(start, end):
            if period.phase in TRADING:
                total += max(0, min(hi, period.end) - max(lo, period.start))
        return total / 1_000_000

    def _cover(self, first: dt.date, last: dt.date) -> None:
        if self._first is not None and self._last is not None:
            if self._first <= first and last <= self._last:
                return
            first, last = min(first, self._first), max(last, self._last)
        self._first, self._last = first - _MARGIN, last + _MARGIN
        with _quiet_pandas():
            self._periods = self._build(self._first, self._last)
        self._starts = [p.start for p in self._periods]

    def _build(self, first: dt.date, last: dt.date) -> list[Period]:
        import exchange_calendars as xcals

        first, last = _recorded(xcals, self.code, first, last)
        if first > last:  # wholly before (or after) what the exchange's calendar records
            return []
        calendar: Any = xcals.get_calendar(self.code, start=first.isoformat(), end=last.isoformat())
        before, after = _AUCTIONS.get(self.code, (0, 0))
        periods: list[Period] = []
        for session in calendar.sessions:
            opens = calendar.session_open(session).to_pydatetime()
            closes = calendar.session_close(session).to_pydatetime()
            pause = calendar.session_break_start(session)
            if before:
                periods.append(_period(opens - dt.timedelta(minutes=before), opens, Phase.PRE_OPEN))
            if pause is not None and str(pause) != "NaT":
                resume = calendar.session_break_end(session).to_pydatetime()
                periods.append(_period(opens, pause.to_pydatetime(), Phase.CONTINUOUS))
                periods.append(_period(pause.to_pydatetime(), resume, Phase.LUNCH))
                periods.append(_period(resume, closes, Phase.CONTINUOUS))
            else:
                periods.append(_period(opens, closes, Phase.CONTINUOUS))
            if after:
                end = closes + dt.timedelta(minutes=after)
                periods.append(_period(closes, end, Phase.CLOSING_AUCTION))
        return periods


@dataclass(frozen=True, slots=True)
class DaySession:
    """One exchange date's periods: when it trades, the breaks between, when it opens."""

    date: dt.date
    periods: tuple[Period, ...]  # the day's non-closed periods, in time order

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Spans (epoch microseconds) of trading phases, auctions included, merged."""
        return _trading_spans(self.periods)

    @property
    def breaks(self) -> list[Period]:
        """The closed periods between two trading spans of the day (HKEX: the lunch break)."""
        return [p for p in self.periods if p.phase is Phase.LUNCH]

    @property
    def continuous_from(self) -> int | None:
        """When the day's continuous trading starts; None on a day without trading."""
        return next((p.start for p in self.periods if p.phase is Phase.CONTINUOUS), None)

    @property
    def opening_until(self) -> int | None:
        """The last instant at which a day's first trade is still its opening trade.

        The end of the grace into the first continuous period; an auction print
        before it is the opening trade too. None on a day without trading.
        """
        start = self.continuous_from
        return None if start is None else start + OPENING_GRACE_US

    @property
    def closing_from(self) -> int | None:
        """From when a trade is the day's closing print: its closing auction, else its close.

        None on a day without trading.
        """
        auction = [p.start for p in self.periods if p.phase is Phase.CLOSING_AUCTION]
        return auction[-1] if auction else self.ends

    @property
    def ends(self) -> int | None:
        """When the day's last trading period ends; None on a day without trading."""
        spans = self.spans
        return spans[-1][1] if spans else None


def records(code: str, first: dt.date, last: dt.date) -> bool:
    """Whether an exchange's calendar records every day from ``first`` to ``last``."""
    import exchange_calendars as xcals

    return _recorded(xcals, code, first, last) == (first, last)


def _recorded(xcals: Any, code: str, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """[first, last] within the years an exchange_calendars calendar records (XHKG's holidays
    start in 1960): a day outside them has no session, rather than a calendar that refuses
    to be built. (The bounds are the calendar class's; exchange_calendars looks the class up
    in its dispatcher's table, which it does not export otherwise.)"""
    factories = getattr(xcals.calendar_utils.global_calendar_dispatcher, "_calendar_factories", {})
    factory = factories.get(code)
    if factory is None or not hasattr(factory, "bound_min"):
        return first, last
    low, high = factory.bound_min(), factory.bound_max()  # None: not bounded that way
    if low is not None:
        first = max(first, low.date())
    if high is not None:
        last = min(last, high.date())
    return first, last


def _period(start: dt.datetime, end: dt.datetime, phase: Phase) -> Period:
    return Period(datetime_to_ts(start), datetime_to_ts(end), phase)


def open_intervals(code: str, start: dt.datetime, end: dt.datetime) -> list[tuple[int, int]]:
    """Spans (epoch microseconds, UTC) of trading phases around two instants, merged."""
    day = dt.timedelta(days=1)
    return _trading_spans(MarketCalendar(code).periods(start - day, end + day))


def _trading_spans(periods: Iterable[Period]) -> list[tuple[int, int]]:
    """The trading periods' spans, adjoining ones merged into one."""
    merged: list[tuple[int, int]] = []
    for period in periods:
        if period.phase not in TRADING:
            continue
        if merged and merged[-1][1] == period.start:
            merged[-1] = (merged[-1][0], period.end)
        else:
            merged.append((period.start, period.end))
    return merged


class OpeningPrints:
    """Tells whether a day's first trade, at an instant, is the day's opening print.

    It is when it comes at or before the day's ``opening_until`` (the pre-opening
    auction's print, or a trade in the first two minutes of continuous trading). The
    regular open of most calendars is known from a table (``REGULAR_OPENS``), so a
    replay decides without importing exchange_calendars; days the table does not
    cover are looked up in the calendar, once each.
    """

    def __init__(self, code: str, timezone: str) -> None:
        self.code = code
        self._zone = ZoneInfo(timezone)
        self._regular = REGULAR_OPENS.get(code)
        self._calendar: MarketCalendar | None = None
        self._until: dict[dt.date, int | None] = {}

    def __call__(self, ts_us: int) -> bool:
        """Whether a day's first trade at ``ts_us`` is that day's opening print."""
        until = self.opening_until(ts_to_datetime(ts_us).astimezone(self._zone).date())
        return until is None or ts_us <= until

    def opening_until(self, date: dt.date) -> int | None:
        """The day's ``opening_until``; None on a day that does not trade."""
        if date in self._until:
            return self._until[date]
        regular = self._regular
        if regular is not None and (regular.since is None or date >= regular.since):
            opens = dt.datetime.combine(date, regular.time, self._zone)
            until: int | None = datetime_to_ts(opens) + OPENING_GRACE_US
        else:
            if self._calendar is None:
                self._calendar = MarketCalendar(self.code)
            until = self._calendar.day(date, self._zone.key).opening_until
        self._until[date] = until
        return until


class SessionSpans:
    """Tells which instants fall outside a calendar's trading spans (auctions included).

    The spans of each year are built once with exchange_calendars and kept in a cache
    on disk (``$XDG_CACHE_HOME/listing-tracker``, else ``~/.cache/listing-tracker``), so
    a replay looks them up without importing it (a second and more); a year the
    calendar does not cover is never called outside.
    """

    def __init__(self, code: str, cache: Path | None = None) -> None:
        self.code = code
        self.cache = cache if cache is not None else _cache_folder()
        self._years: dict[int, Any] = {}  # year: (starts, ends) arrays, or None when unknown

    def outside(self, ts_us: Any) -> tuple[int, int | None]:
        """How many of the instants (a sorted int64 array) are outside every trading span,
        and the first of them."""
        import numpy as np

        if len(ts_us) == 0:
            return 0, None
        outside = np.zeros(len(ts_us), dtype=bool)
        years = _years_of(ts_us)
        for year in np.unique(years):
            spans = self._spans(int(year))
            if spans is None:
                continue
            starts, ends = spans
            mine = years == year
            ts = ts_us[mine]
            i = np.searchsorted(starts, ts, side="right") - 1
            inside = (i >= 0) & (ts <= ends[np.maximum(i, 0)])  # a span's end is its close
            outside[mine] = ~inside
        count = int(outside.sum())
        return count, (int(ts_us[np.argmax(outside)]) if count else None)

    def _spans(self, year: int) -> Any:
        if year in self._years:
            return self._years[year]
        import numpy as np

        found = self._load(year)
        self._years[year] = (
            None
            if found is None
            else (
                np.array([a for a, _ in found], dtype=np.int64),
                np.array([b for _, b in found], dtype=np.int64),
            )
        )
        return self._years[year]

    def _load(self, year: int) -> list[tuple[int, int]] | None:
        path = self.cache / f"sessions-{self.code.replace('/', '_')}-{year}-{_xcals_version()}.json"
        try:
            return [(int(a), int(b)) for a, b in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            pass
        first = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
        after = first.replace(year=year + 1)
        if not records(self.code, first.date(), after.date() - dt.timedelta(days=1)):
            return None  # exchange_calendars does not know the year: no tick is outside it
        periods = MarketCalendar(self.code).periods(first, after)
        lo, hi = datetime_to_ts(first), datetime_to_ts(after)
        spans = [(a, b) for a, b in _trading_spans(periods) if a < hi and b >= lo]
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            written = path.with_suffix(f".{os.getpid()}.tmp")
            written.write_text(json.dumps(spans))
            os.replace(written, path)
        except OSError:  # a cache that cannot be written: built again next time
            pass
        return spans


def _years_of(ts_us: Any) -> Any:
    """The UTC year of each instant (epoch microseconds)."""
    import numpy as np

    return ts_us.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64) + 1970


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "listing-tracker"


def _xcals_version() -> str:
    from importlib.metadata import version

    return version("exchange_calendars")
