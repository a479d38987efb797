"""Exchange phases from the real exchange_calendars data, plus the HKEX auctions it lacks."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tracker.core.model import datetime_to_ts
from tracker.markets.calendar import MarketCalendar, OpeningPrints, Phase, open_intervals

HKT = ZoneInfo("Asia/Hong_Kong")
NEW_YORK = ZoneInfo("America/New_York")
NORMAL_DAY = dt.date(2026, 1, 2)  # Biren's debut, a Friday
HALF_DAY = dt.date(2026, 2, 16)  # Lunar New Year's Eve: morning only
HOLIDAY = dt.date(2026, 2, 17)  # Lunar New Year
SATURDAY = dt.date(2026, 1, 3)
HKEX_DAY_MINUTES = 30 + 150 + 180 + 10  # pre-open, morning, afternoon, closing auction


@pytest.fixture(scope="module")
def hkex() -> MarketCalendar:
    return MarketCalendar("XHKG")


@pytest.fixture(scope="module")
def nyse() -> MarketCalendar:
    return MarketCalendar("XNYS")


def at(day: dt.date, clock: str, zone: ZoneInfo = HKT) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(clock), zone)


def whole(day: dt.date, zone: ZoneInfo = HKT) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight to the next local midnight."""
    start = dt.datetime.combine(day, dt.time(), zone)
    return start, start + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("clock", "phase"),
    [
        ("08:59:59", Phase.CLOSED),
        ("09:00", Phase.PRE_OPEN),
        ("09:20", Phase.PRE_OPEN),
        ("09:29:59", Phase.PRE_OPEN),
        ("09:30", Phase.CONTINUOUS),
        ("11:59:59", Phase.CONTINUOUS),
        ("12:00", Phase.LUNCH),
        ("12:59:59", Phase.LUNCH),
        ("13:00", Phase.CONTINUOUS),
        ("15:59:59", Phase.CONTINUOUS),
        ("16:00", Phase.CLOSING_AUCTION),
        ("16:09:59", Phase.CLOSING_AUCTION),
        ("16:10", Phase.CLOSED),
        ("23:00", Phase.CLOSED),
    ],
)
def test_hkex_normal_day_phases(hkex: MarketCalendar, clock: str, phase: Phase) -> None:
    assert hkex.phase(at(NORMAL_DAY, clock)) is phase


def test_phase_of_an_instant_given_in_utc_is_the_same(hkex: MarketCalendar) -> None:
    assert hkex.phase(at(NORMAL_DAY, "09:30").astimezone(dt.UTC)) is Phase.CONTINUOUS
    # 16:05 HKT is 08:05 UTC
    assert hkex.phase(dt.datetime(2026, 1, 2, 8, 5, tzinfo=dt.UTC)) is Phase.CLOSING_AUCTION


@pytest.mark.parametrize(
    ("clock", "phase"),
    [
        ("09:00", Phase.PRE_OPEN),
        ("09:30", Phase.CONTINUOUS),
        ("11:59:59", Phase.CONTINUOUS),
        ("12:00", Phase.CLOSING_AUCTION),
        ("12:09:59", Phase.CLOSING_AUCTION),
        ("12:10", Phase.CLOSED),
        ("13:00", Phase.CLOSED),
        ("16:05", Phase.CLOSED),
    ],
)
def test_hkex_half_day_closes_with_an_auction_at_noon(
    hkex: MarketCalendar, clock: str, phase: Phase
) -> None:
    assert hkex.phase(at(HALF_DAY, clock)) is phase


@pytest.mark.parametrize("day", [HOLIDAY, SATURDAY])
@pytest.mark.parametrize("clock", ["09:00", "09:15", "10:00", "12:05", "13:30", "16:05"])
def test_hkex_is_closed_all_day_on_holidays_and_weekends(
    hkex: MarketCalendar, day: dt.date, clock: str
) -> None:
    assert hkex.phase(at(day, clock)) is Phase.CLOSED


def test_hkex_normal_day_has_370_minutes_of_trading_phases(hkex: MarketCalendar) -> None:
    assert hkex.trading_seconds(*whole(NORMAL_DAY)) == HKEX_DAY_MINUTES * 60


def test_hkex_half_day_trades_pre_open_morning_and_auction(hkex: MarketCalendar) -> None:
    assert hkex.trading_seconds(*whole(HALF_DAY)) == (30 + 150 + 10) * 60


def test_no_trading_seconds_on_a_holiday_or_a_weekend(hkex: MarketCalendar) -> None:
    assert hkex.trading_seconds(*whole(HOLIDAY)) == 0
    assert hkex.trading_seconds(*whole(SATURDAY)) == 0


def test_trading_seconds_count_partial_phases_and_skip_lunch(hkex: MarketCalendar) -> None:
    assert hkex.trading_seconds(at(NORMAL_DAY, "09:15"), at(NORMAL_DAY, "09:45")) == 30 * 60
    assert hkex.trading_seconds(at(NORMAL_DAY, "11:30"), at(NORMAL_DAY, "13:30")) == 60 * 60
    assert hkex.trading_seconds(at(NORMAL_DAY, "16:05"), at(NORMAL_DAY, "20:00")) == 5 * 60


def test_trading_seconds_over_a_weekend_count_only_the_sessions(hkex: MarketCalendar) -> None:
    # Friday 16:00 to Monday 09:30: Friday's closing auction and Monday's pre-open
    friday, monday = at(NORMAL_DAY, "16:00"), at(dt.date(2026, 1, 5), "09:30")
    assert hkex.trading_seconds(friday, monday) == (10 + 30) * 60


def test_periods_of_a_normal_day_are_the_five_phases_in_order(hkex: MarketCalendar) -> None:
    periods = hkex.periods(*whole(NORMAL_DAY))
    assert [p.phase for p in periods] == [
        Phase.PRE_OPEN,
        Phase.CONTINUOUS,
        Phase.LUNCH,
        Phase.CONTINUOUS,
        Phase.CLOSING_AUCTION,
    ]
    assert periods[0].start == datetime_to_ts(at(NORMAL_DAY, "09:00"))
    assert periods[-1].end == datetime_to_ts(at(NORMAL_DAY, "16:10"))
    assert all(a.end == b.start for a, b in itertools.pairwise(periods))


@pytest.mark.parametrize(
    ("clock", "phase"),
    [
        ("09:00", Phase.CLOSED),
        ("09:29", Phase.CLOSED),
        ("09:30", Phase.CONTINUOUS),
        ("12:30", Phase.CONTINUOUS),
        ("15:59", Phase.CONTINUOUS),
        ("16:00", Phase.CLOSED),
        ("16:05", Phase.CLOSED),
    ],
)
def test_nyse_trades_continuously_without_auction_phases(
    nyse: MarketCalendar, clock: str, phase: Phase
) -> None:
    assert nyse.phase(at(dt.date(2026, 1, 5), clock, NEW_YORK)) is phase


def test_nyse_has_no_auction_or_lunch_periods(nyse: MarketCalendar) -> None:
    week = nyse.periods(
        at(dt.date(2026, 1, 5), "00:00", NEW_YORK), at(dt.date(2026, 1, 10), "00:00", NEW_YORK)
    )
    assert len(week) == 5
    assert {p.phase for p in week} == {Phase.CONTINUOUS}
    assert nyse.trading_seconds(*whole(dt.date(2026, 1, 5), NEW_YORK)) == 390 * 60


def test_open_intervals_merge_the_pre_open_with_the_morning_session() -> None:
    intervals = open_intervals("XHKG", *whole(NORMAL_DAY))
    assert intervals == [
        (datetime_to_ts(at(NORMAL_DAY, "09:00")), datetime_to_ts(at(NORMAL_DAY, "12:00"))),
        (datetime_to_ts(at(NORMAL_DAY, "13:00")), datetime_to_ts(at(NORMAL_DAY, "16:10"))),
    ]


def test_open_intervals_of_a_half_day_are_one_span_to_the_end_of_the_auction() -> None:
    assert open_intervals("XHKG", *whole(HALF_DAY)) == [
        (datetime_to_ts(at(HALF_DAY, "09:00")), datetime_to_ts(at(HALF_DAY, "12:10")))
    ]


def test_a_days_session_spans_the_trading_phases_and_names_the_lunch_break(
    hkex: MarketCalendar,
) -> None:
    session = hkex.day(NORMAL_DAY, "Asia/Hong_Kong")
    assert session.spans == [
        (datetime_to_ts(at(NORMAL_DAY, "09:00")), datetime_to_ts(at(NORMAL_DAY, "12:00"))),
        (datetime_to_ts(at(NORMAL_DAY, "13:00")), datetime_to_ts(at(NORMAL_DAY, "16:10"))),
    ]
    [lunch] = session.breaks
    assert lunch.phase is Phase.LUNCH
    assert (lunch.start, lunch.end) == (session.spans[0][1], session.spans[1][0])
    # a first trade up to two minutes into continuous trading is still the opening trade
    assert session.opening_until == datetime_to_ts(at(NORMAL_DAY, "09:32"))


@pytest.mark.parametrize(("day", "spans"), [(HALF_DAY, 1), (HOLIDAY, 0), (SATURDAY, 0)])
def test_half_days_holidays_and_weekends_have_no_break_to_cut(
    hkex: MarketCalendar, day: dt.date, spans: int
) -> None:
    session = hkex.day(day, "Asia/Hong_Kong")
    assert len(session.spans) == spans
    assert session.breaks == []
    assert (session.opening_until is None) is (spans == 0)


# --- the opening print and the closing print ----------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "opening"),
    [
        ("09:20", True),  # the pre-opening auction's print
        ("09:30", True),
        ("09:32", True),  # the last instant of the two minutes' grace
        ("09:32:00.000001", False),
        ("09:50", False),  # a daemon started late: its first trade is not the open
        ("13:05", False),
    ],
)
def test_a_days_first_trade_is_its_opening_print_up_to_two_minutes_into_trading(
    clock: str, opening: bool
) -> None:
    prints = OpeningPrints("XHKG", "Asia/Hong_Kong")
    assert prints(datetime_to_ts(at(NORMAL_DAY, clock))) is opening


def test_opening_prints_from_the_table_agree_with_the_calendar_on_every_day(
    hkex: MarketCalendar, nyse: MarketCalendar
) -> None:
    for code, calendar, zone in (("XHKG", hkex, HKT), ("XNYS", nyse, NEW_YORK)):
        prints = OpeningPrints(code, zone.key)
        day = dt.date(2025, 12, 1)
        while day < dt.date(2026, 3, 1):
            session = calendar.day(day, zone.key)
            if session.opening_until is not None:  # a trading day
                assert prints.opening_until(day) == session.opening_until, (code, day)
            day += dt.timedelta(days=1)


def test_days_before_the_table_knows_the_open_are_asked_of_the_calendar() -> None:
    # HKEX opened at 10:00 until 2011-03-04 (exchange_calendars' open_times)
    prints = OpeningPrints("XHKG", "Asia/Hong_Kong")
    day = dt.date(2010, 6, 1)
    assert prints(datetime_to_ts(at(day, "10:01"))) is True
    assert prints(datetime_to_ts(at(day, "10:03"))) is False


def test_regular_opens_table_matches_exchange_calendars() -> None:
    import warnings

    import exchange_calendars as xcals
    from pandas.errors import Pandas4Warning

    from tracker.markets.exchanges import EXCHANGES, REGULAR_OPENS

    assert set(REGULAR_OPENS) <= set(EXCHANGES)
    for code, regular in REGULAR_OPENS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Pandas4Warning)
            calendar = xcals.get_calendar(code, start="2025-01-01", end="2025-03-01")
        since, time = type(calendar).open_times[-1]
        assert regular.since == (None if since is None else since.date()), code
        assert regular.time == time, code
        assert calendar.open_offset == 0, code
        assert not calendar.special_opens, code
        assert not calendar.special_opens_adhoc, code


def test_the_closing_print_comes_from_the_closing_auction_or_the_close(
    hkex: MarketCalendar, nyse: MarketCalendar
) -> None:
    normal = hkex.day(NORMAL_DAY, "Asia/Hong_Kong")
    half = hkex.day(HALF_DAY, "Asia/Hong_Kong")
    new_york = nyse.day(NORMAL_DAY, "America/New_York")
    assert (normal.closing_from, normal.ends) == (
        datetime_to_ts(at(NORMAL_DAY, "16:00")),
        datetime_to_ts(at(NORMAL_DAY, "16:10")),
    )
    assert (half.closing_from, half.ends) == (
        datetime_to_ts(at(HALF_DAY, "12:00")),
        datetime_to_ts(at(HALF_DAY, "12:10")),
    )
    close = datetime_to_ts(at(NORMAL_DAY, "16:00", NEW_YORK))
    assert (new_york.closing_from, new_york.ends) == (close, close)
    holiday = hkex.day(HOLIDAY, "Asia/Hong_Kong")
    assert (holiday.closing_from, holiday.ends) == (None, None)


# --- ticks outside the sessions (a replay's warning, a report's mark) -----------------------


def hkt(text: str) -> int:
    local = dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Hong_Kong"))
    return datetime_to_ts(local)


def test_session_spans_tell_the_ticks_outside_every_trading_span(tmp_path: Path) -> None:
    import numpy as np

    from tracker.markets.calendar import SessionSpans

    inside = ["2026-01-02T09:20", "2026-01-02T09:30", "2026-01-02T16:10", "2026-12-24T12:10"]
    outside = [
        "2026-01-02T08:59:59",  # before the pre-opening session
        "2026-01-02T12:30",  # the lunch break
        "2026-01-02T16:10:01",  # after the closing auction
        "2026-01-03T10:00",  # a Saturday
        "2026-02-17T10:00",  # Lunar New Year
        "2026-12-24T13:30",  # a half day's afternoon
    ]
    ts = np.array(sorted(hkt(t) for t in inside + outside), dtype=np.int64)

    count, first = SessionSpans("XHKG", cache=tmp_path).outside(ts)

    assert (count, first) == (len(outside), hkt("2026-01-02T08:59:59"))


def test_session_spans_are_read_from_their_cache_without_the_calendar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from tracker.markets import calendar
    from tracker.markets.calendar import SessionSpans

    ts = np.array([hkt("2026-01-02T12:30"), hkt("2026-01-05T10:00")], dtype=np.int64)
    assert SessionSpans("XHKG", cache=tmp_path).outside(ts) == (1, ts[0])
    [cached] = tmp_path.iterdir()
    assert cached.name.startswith("sessions-XHKG-2026-")

    def unavailable(*args: object) -> None:
        raise AssertionError("exchange_calendars asked again")

    monkeypatch.setattr(calendar.MarketCalendar, "periods", unavailable)
    assert SessionSpans("XHKG", cache=tmp_path).outside(ts) == (1, ts[0])


def test_a_year_the_calendar_does_not_know_is_never_called_outside(tmp_path: Path) -> None:
    import numpy as np

    from tracker.markets.calendar import SessionSpans

    ts = np.array([hkt("2150-01-03T03:00")], dtype=np.int64)  # XHKG holidays end in 2049

    assert SessionSpans("XHKG", cache=tmp_path).outside(ts) == (0, None)


def test_a_day_before_the_years_a_calendar_records_has_no_session_and_no_error() -> None:
    hkex = MarketCalendar("XHKG")  # its holidays are recorded from 1960 on
    zone = "Asia/Hong_Kong"
    assert hkex.day(dt.date(1900, 7, 25), zone).periods == ()
    assert hkex.day(dt.date(1959, 12, 31), zone).periods == ()
    assert hkex.day(dt.date(1960, 1, 4), zone).periods  # the first recorded year trades
    assert hkex.day(dt.date(2199, 1, 2), zone).periods == ()  # and past the last one
    assert hkex.day(dt.date(2026, 1, 2), zone).periods  # the cover grown both ways still holds
