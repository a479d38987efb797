"""Exchange-local dates of instants, looked up by the quarter hour: the same as converting."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker.core.model import ts_to_datetime, zone_date, zone_day_bounds

QUARTER_ZONES = [
    "Asia/Hong_Kong",
    "America/Santiago",  # clocks go back at midnight
    "Australia/Lord_Howe",  # half-hour daylight saving
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30 and daylight saving
    "Europe/London",
]


@settings(max_examples=3000)
@given(
    zone=st.sampled_from(QUARTER_ZONES),
    # 1890 (local mean times, offsets in seconds) to 2040, often near a quarter hour's edge
    ts_us=st.integers(-2_524_521_600, 2_208_988_800).flatmap(
        lambda s: st.sampled_from([s * 1_000_000, s * 1_000_000 - 1, (s // 900) * 900_000_000])
    ),
)
def test_zone_date_is_the_local_date_of_the_instant(zone: str, ts_us: int) -> None:
    exact = ts_to_datetime(ts_us).astimezone(ZoneInfo(zone)).date()
    assert zone_date(zone, ts_us) == exact


@settings(max_examples=500)
@given(zone=st.sampled_from(QUARTER_ZONES), day=st.dates(dt.date(1900, 1, 2), dt.date(2040, 1, 1)))
@example(zone="America/Santiago", day=dt.date(2000, 10, 15))  # its midnight does not exist
@example(zone="America/Santiago", day=dt.date(2026, 4, 5))  # its clocks go back at midnight
def test_day_bounds_are_the_first_instants_of_the_day_and_the_next(zone: str, day: dt.date) -> None:
    start, end = zone_day_bounds(zone, day)

    def date_at(ts_us: int) -> dt.date:
        return ts_to_datetime(ts_us).astimezone(ZoneInfo(zone)).date()

    # a midnight the clocks skip (America/Santiago, 2000-10-15 starts at 01:00) is no instant:
    # the day then starts at its first instant all the same
    assert (date_at(start - 1), date_at(start)) == (day - dt.timedelta(days=1), day)
    assert (date_at(end - 1), date_at(end)) == (day, day + dt.timedelta(days=1))
