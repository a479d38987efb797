"""Exchange sessions from exchange_calendars, plus the auction phases it does not model.

exchange_calendars knows continuous trading (HKEX: 09:30-12:00 and 13:00-16:00,
half days to 12:00) and holidays. HKEX also trades in a pre-opening auction
(09:00-09:30, the opening price struck between 09:20 and 09:22) and a closing
auction (16:00-16:10, or 12:00-12:10 on half days); they are added here.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracker.core.model import datetime_to_ts

# Minutes of auction before the open and after the close, per calendar code.
_AUCTIONS: dict[str, tuple[int, int]] = {"XHKG": (30, 10)}


@contextmanager
def _quiet_pandas() -> Iterator[None]:
    """exchange_calendars 4.x uses pandas APIs that pandas 3 deprecates (``DatetimeIndex.weekday``,
    ``Series.values`` of tz-aware data); those warnings are its to fix, not the user's to see."""
    from pandas.errors import Pandas4Warning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Pandas4Warning)
        yield


def _calendar(code: str, start: dt.date, end: dt.date) -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(code, start=start.isoformat(), end=end.isoformat())


def open_intervals(code: str, start: dt.datetime, end: dt.datetime) -> list[tuple[int, int]]:
    """Periods (epoch microseconds, UTC) when the market trades or auctions, around two instants."""
    with _quiet_pandas():
        return _open_intervals(code, start, end)


def _open_intervals(code: str, start: dt.datetime, end: dt.datetime) -> list[tuple[int, int]]:
    first, last = start.date() - dt.timedelta(days=1), end.date() + dt.timedelta(days=1)
    calendar = _calendar(code, first - dt.timedelta(days=14), last + dt.timedelta(days=14))
    before, after = _AUCTIONS.get(code, (0, 0))
    intervals: list[tuple[int, int]] = []
    for session in calendar.sessions:
        if not first <= session.date() <= last:
            continue
        opens = calendar.session_open(session).to_pydatetime() - dt.timedelta(minutes=before)
        closes = calendar.session_close(session).to_pydatetime() + dt.timedelta(minutes=after)
        pause = calendar.session_break_start(session)
        if pause is not None and str(pause) != "NaT":
            resume = calendar.session_break_end(session).to_pydatetime()
            intervals.append((datetime_to_ts(opens), datetime_to_ts(pause.to_pydatetime())))
            intervals.append((datetime_to_ts(resume), datetime_to_ts(closes)))
        else:
            intervals.append((datetime_to_ts(opens), datetime_to_ts(closes)))
    return intervals
