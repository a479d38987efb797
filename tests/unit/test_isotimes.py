"""Wall times localized a column at a time agree with ``datetime(..., tzinfo=zone)``."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.core.model import datetime_to_ts
from tracker.sources.isotimes import localize


def wall(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A wall time; UTC stands for no zone, its arithmetic being naive arithmetic."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


EPOCH = wall(1970, 1, 1)
# wall times where these zones change their offset: a gap, a repeated hour, Lord Howe's half hours
CHANGES = {
    "America/New_York": [wall(2026, 3, 8, 2), wall(2026, 11, 1, 1)],
    "Europe/London": [wall(2026, 3, 29, 1), wall(2026, 10, 25, 1)],
    "Australia/Lord_Howe": [wall(2026, 4, 5, 1, 30), wall(2026, 10, 4, 2)],
    "Asia/Hong_Kong": [wall(2026, 1, 2, 9, 30)],
}


def wall_us(time: dt.datetime) -> int:
    return (time - EPOCH) // dt.timedelta(microseconds=1)


def exact(local_us: int, zone: ZoneInfo) -> int:
    """As the row-by-row reader reads it: ``datetime(..., tzinfo=zone)``, fold 0."""
    time = EPOCH + dt.timedelta(microseconds=local_us)
    return datetime_to_ts(time.replace(tzinfo=zone))


@st.composite
def wall_times(draw: st.DrawFn) -> tuple[str, list[int]]:
    """A zone and wall times near one of its changes: within hours, days, or years of it."""
    name = draw(st.sampled_from(sorted(CHANGES)))
    centre = wall_us(draw(st.sampled_from(CHANGES[name])))
    reach = draw(st.sampled_from([3_600, 86_400, 86_400 * 3, 86_400 * 800])) * 1_000_000
    near = st.integers(centre - reach, centre + reach)
    # on the minute now and then: the first and last minute of an hour are the ones looked up
    times = draw(
        st.lists(near | near.map(lambda us: us - us % 60_000_000), min_size=1, max_size=300)
    )
    return name, sorted(times) if draw(st.booleans()) else times


@settings(max_examples=300, deadline=None)
@given(case=wall_times())
def test_localize_reads_wall_times_as_datetime_does(case: tuple[str, list[int]]) -> None:
    name, times = case
    zone = ZoneInfo(name)
    got = localize(np.array(times, np.int64), zone)
    assert got.tolist() == [exact(us, zone) for us in times]


def test_a_long_column_within_one_offset_is_shifted_by_it() -> None:
    start = wall_us(wall(2026, 1, 2, 9, 30))
    times = start + np.arange(500_000, dtype=np.int64) * 100_000  # 14 hours at 10 a second
    got = localize(times, ZoneInfo("Asia/Hong_Kong"))
    assert (got == times - 8 * 3_600 * 1_000_000).all()
    assert len(localize(np.zeros(0, np.int64), ZoneInfo("Asia/Hong_Kong"))) == 0
