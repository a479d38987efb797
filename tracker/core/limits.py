"""What the tracker can hold: the range of every kind of value a user or a provider gives.

A value outside its range is refused where it enters (a tape's row, a config key, a
command-line option, an API query, a live quote), with the reason these functions give,
before anything is written: prices are compared in millionths held in 64-bit integers,
times are microseconds and calendar dates, amounts are summed in doubles.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from zoneinfo import ZoneInfo

from tracker.core.model import datetime_to_ts

PRICE_MIN = 0.000001  # one millionth, the unit prices are compared in: below it, a price is 0
PRICE_MAX = 1_000_000_000.0
AMOUNT_MAX = 1e15  # shares or currency: a day's volume or turnover, a share count
FIRST_YEAR, LAST_YEAR = 1900, 2199  # the years an instant or a date may fall in
FIRST_US = -2_208_988_800_000_000  # 1900-01-01T00:00:00Z
END_US = 7_258_118_400_000_000  # 2200-01-01T00:00:00Z: the first instant too late
DURATION_MAX_S = 100 * 365 * 86_400.0  # a hundred years
SPEED_MAX = 1_000_000.0  # simulated seconds a wall second
LINE_MAX = 1 << 20  # characters in a tape's line: a longer one is a bad row


def _number(value: float) -> str:
    return f"{value:,.6f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else f"{value:g}"


def price_problem(price: float) -> str | None:
    """Why a price cannot be held ("is below ..."), or None when it can."""
    if not math.isfinite(price):
        return "is not a finite number"
    if price < PRICE_MIN:
        return f"is below {_number(PRICE_MIN)}, the least price the tracker tells from 0"
    if price > PRICE_MAX:
        return f"is above {_number(PRICE_MAX)}, the greatest price the tracker holds"
    return None


def amount_problem(amount: float) -> str | None:
    """Why an amount (volume, turnover, shares) cannot be held, or None when it can."""
    if not math.isfinite(amount):
        return "is not a finite number"
    if amount > AMOUNT_MAX:
        return f"is above {AMOUNT_MAX:g}, the greatest amount the tracker holds"
    return None


def instant_problem(ts_us: int) -> str | None:
    """Why an instant (epoch microseconds) cannot be held, or None when it can."""
    if not FIRST_US <= ts_us < END_US:
        return f"is outside the years {FIRST_YEAR}-{LAST_YEAR}"
    return None


def date_problem(date: dt.date) -> str | None:
    """Why a date cannot be held, or None when it can."""
    if not FIRST_YEAR <= date.year <= LAST_YEAR:
        return f"is outside the years {FIRST_YEAR}-{LAST_YEAR}"
    return None


def duration_problem(seconds: float) -> str | None:
    """Why a duration cannot be held (a negative one, or one over a hundred years)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "is not a duration"
    if seconds > DURATION_MAX_S:
        return "is longer than a hundred years"
    return None


# --- values given as text: the command line's options and the API's query parameters ---------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.ASCII)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def is_duration(text: str) -> bool:
    """Whether ``text`` is written as a duration (``2h``), however long."""
    return _DURATION.fullmatch(text.strip()) is not None


def read_duration(text: str) -> float:
    """Seconds of ``30s``, ``15m``, ``2h``, ``7d`` or ``1w``; ValueError saying why not."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError("not a duration like 30m, 2h or 1d")
    seconds = float(match[1]) * _SECONDS[match[2]]
    if (problem := duration_problem(seconds)) is not None:
        raise ValueError(problem)
    return seconds


def read_instant(text: str, timezone: str) -> dt.datetime:
    """An ISO 8601 time, in ``timezone`` when it has no offset; ValueError saying why not."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if (problem := date_problem(moment.date())) is not None:
        raise ValueError(problem)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    if (problem := instant_problem(datetime_to_ts(moment))) is not None:
        raise ValueError(problem)
    return moment


def read_date(text: str) -> dt.date:
    """A date, ``YYYY-MM-DD``; ValueError saying why not."""
    try:
        date = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("not a date (YYYY-MM-DD)") from None
    if (problem := date_problem(date)) is not None:
        raise ValueError(problem)
    return date


def read_epoch_us(text: str) -> int:
    """Epoch microseconds given as digits; ValueError when they fall outside the years held."""
    ts_us = int(text) if len(text) <= 20 else END_US  # int() refuses 4,300 digits and more
    if (problem := instant_problem(ts_us)) is not None:
        raise ValueError(problem)
    return ts_us


def speed_problem(speed: float) -> str | None:
    """Why a clock speed cannot be run, or None when it can."""
    if not (math.isfinite(speed) and speed > 0):
        return "is not a positive number"
    if speed > SPEED_MAX:
        return f"is above {SPEED_MAX:,.0f}, the fastest clock the tracker runs"
    return None
