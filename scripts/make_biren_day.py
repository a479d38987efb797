"""Generate the sample tape for Biren Technology's (HKEX 6082) first trading day, 2026-01-02.

The tape is *synthetic but anchored*: it is a seeded random walk forced through the handful of
figures that were published about the day, so the tracker can be replayed against something
that looks like the real session without redistributing licensed tick data.

Published (taken from press coverage of the listing, offer price HK$19.60):

* opening price 35.70 from the pre-opening auction (+82.14% over the offer price);
* about 36.58 near 10:00;
* 37.86 at 10:15, when the market capitalisation first passed HK$100bn (about HK$100.2bn);
* day high 42.88 and day low 33.50;
* closing price 34.46 from the closing auction;
* total volume for the day, 150,709,945 shares.

Synthetic (drawn from ``random.Random(seed)``):

* every tick between the published figures, their timestamps, prices and volumes;
* the times at which the day high and the day low were printed (late morning and afternoon);
* the volume of every row, including the auction rows and the rows that carry a published
  price; volumes are scaled so that they add up to the published total exactly (board lots of
  100 shares, with the odd remainder put on the last continuous-trading row).

Each row says which of the two it is in the ``provenance`` column: ``published: <figure>`` on
the rows that carry a published price, ``synthetic`` on all others.

The walk is shaped so that an alert engine with re-arm bands (alerts on up-crossings of 29.40,
35.28, the HK$100bn market-cap price 37.784431 and the +100% price 39.20, re-armed when the
price falls below 99% of the level) fires each alert exactly once, the market-cap alert at
10:15:00 and the +100% alert on a print of exactly 39.20.  ``generate`` checks all of this
itself and raises ``ValueError`` rather than return a tape that breaks any constraint.

Usage::

    python scripts/make_biren_day.py [--seed N] [--out PATH]

The output is byte-for-byte deterministic for a given seed (LF line endings, prices with two
decimals, integer volumes).  Only the standard library is used.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

DATE = "2026-01-02"
DEFAULT_SEED = 20260102
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tracker" / "data" / "biren-2026-01-02.csv"
HEADER = ("ts", "price", "volume", "turnover", "provenance")

# Prices are integer HKD cents; the HKEX spread for this price band is 0.02 HKD (2 cents).
TICK = 2
OFFER = 1960
OPEN = 3570
AT_1000 = 3658
AT_1015 = 3786
DOUBLE = 3920
HIGH = 4288
LOW = 3350
CLOSE = 3446
TOTAL_VOLUME = 150_709_945
BOARD_LOT = 100

# Alert levels in micro-HKD (1e-6 HKD) so that every comparison is exact integer arithmetic.
MICRO_PER_CENT = 10_000
LEVEL_29_40 = 29_400_000
LEVEL_35_28 = 35_280_000
LEVEL_MCAP = 37_784_431  # HK$100bn market cap
LEVEL_DOUBLE = 39_200_000  # +100% over the offer price
LEVELS = (LEVEL_29_40, LEVEL_35_28, LEVEL_MCAP, LEVEL_DOUBLE)
REARM_PERCENT = 99

# Step distribution of the walk, in ticks: mostly unchanged or one to three ticks.
STEP_TICKS = (-4, -3, -2, -1, 0, 1, 2, 3, 4)
STEP_WEIGHTS = (1, 3, 8, 20, 30, 20, 8, 3, 1)
MAX_REACH = 3 * TICK  # per-step reach used to keep the next anchor attainable
MAX_FINAL_JUMP = 5 * TICK  # largest step allowed onto an anchor


def hms(h: int, m: int, s: int = 0) -> int:
    """Seconds since midnight (Hong Kong local time)."""
    return h * 3600 + m * 60 + s


OPEN_AUCTION = hms(9, 20)
CLOSE_AUCTION = hms(16, 9)
T_1000 = hms(10, 0)
T_1015 = hms(10, 15)
MORNING = (hms(9, 30), hms(12, 0))
AFTERNOON = (hms(13, 0), hms(16, 0))
# Continuous-trading windows; every window starts with a row at exactly its start time.
WINDOWS = ((MORNING[0], T_1000), (T_1000, T_1015), (T_1015, MORNING[1]), AFTERNOON)

LABEL_OPEN = "published: opening auction price"
LABEL_1000 = "published: about 36.58 near 10:00"
LABEL_1015 = "published: market cap about HK$100.2bn (first over HK$100bn)"
LABEL_HIGH = "published: day high (time synthetic)"
LABEL_LOW = "published: day low (time synthetic)"
LABEL_CLOSE = "published: closing auction price"
SYNTHETIC = "synthetic"

# Relative trading intensity through the day: (from time, weight).
VOLUME_PROFILE = (
    (hms(9, 30), 3.0),
    (hms(10, 0), 2.4),
    (hms(10, 30), 1.8),
    (hms(11, 30), 1.0),
    (hms(13, 0), 0.8),
    (hms(14, 0), 1.0),
    (hms(15, 0), 1.4),
    (hms(15, 30), 2.2),
)


class Row(NamedTuple):
    t: int  # seconds since midnight
    price: int  # cents
    volume: int  # shares
    provenance: str


def fmt_time(t: int) -> str:
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    return f"{DATE} {h:02d}:{m:02d}:{s:02d}"


def fmt_cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _gap(rng: random.Random, t: int) -> int:
    """Seconds to the next continuous-trading row."""
    if rng.random() < 0.03:
        return 0  # another trade in the same second
    busy = t < hms(10, 30) or t >= hms(15, 30)
    return rng.randint(3, 8) if busy else rng.randint(4, 12)


def _continuous_times(rng: random.Random) -> list[int]:
    times: list[int] = []
    for start, end in WINDOWS:
        t = start
        times.append(t)
        while True:
            gap = _gap(rng, t)
            if gap == 0 and t == start:
                gap = 1  # keep window-start rows (09:30, 10:00, 10:15, 13:00) alone
            t += gap
            if t >= end:
                break
            times.append(t)
    return times


def _first_index_at(times: Sequence[int], t: int) -> int:
    return next(i for i, x in enumerate(times) if x >= t)


class _Walk:
    """Random walk in whole ticks that tracks the alert engine's arm/fire state."""

    def __init__(self, rng: random.Random, price: int) -> None:
        self.rng = rng
        self.price = price
        self.prices: list[int] = []
        self.armed = dict.fromkeys(LEVELS, True)
        self.fired = dict.fromkeys(LEVELS, False)
        self._observe(price)

    def _observe(self, price: int) -> None:
        micro = price * MICRO_PER_CENT
        for level in LEVELS:
            if self.armed[level] and micro >= level:
                self.armed[level] = False
                self.fired[level] = True
            elif not self.armed[level] and micro * 100 < level * REARM_PERCENT:
                self.armed[level] = True

    def cap(self) -> int:
        """Highest price that would not re-fire an alert that has already fired once."""
        cap = HIGH
        for level in LEVELS:
            if self.fired[level] and self.armed[level]:
                below = -(-level // MICRO_PER_CENT) - 1  # largest cent price under the level
                cap = min(cap, below - below % TICK)
        return cap

    def push(self, price: int) -> None:
        self.price = price
        self.prices.append(price)
        self._observe(price)

    def bridge(self, steps: int, end: int, lo: int, hi: int) -> None:
        """Walk ``steps`` rows ending exactly on ``end``; interior rows stay within [lo, hi]."""
        for remaining in range(steps, 0, -1):
            if remaining == 1:
                if abs(end - self.price) > MAX_FINAL_JUMP:
                    raise ValueError(f"anchor {fmt_cents(end)} unreachable from {self.price}")
                self.push(end)
                break
            drift = (end - self.price) / remaining / TICK
            base = math.floor(drift)
            step = base + (1 if self.rng.random() < drift - base else 0)
            step += self.rng.choices(STEP_TICKS, STEP_WEIGHTS)[0]
            nxt = self.price + step * TICK
            reach = MAX_REACH * (remaining - 1)
            nxt = min(max(nxt, end - reach), end + reach)
            nxt = min(max(nxt, lo), hi, self.cap())
            self.push(nxt)


def _price_path(rng: random.Random, times: Sequence[int]) -> tuple[list[int], dict[int, str]]:
    """Prices for the continuous-trading rows, plus the labels of the anchored rows."""
    i_1000 = times.index(T_1000)
    i_1015 = times.index(T_1015)
    i_double = _first_index_at(times, hms(10, 30) + rng.randint(0, 900))
    i_high = _first_index_at(times, hms(11, 5) + rng.randint(0, 1200))
    i_am_end = _first_index_at(times, AFTERNOON[0]) - 1
    i_1345 = _first_index_at(times, hms(13, 40) + rng.randint(0, 600))
    i_1430 = _first_index_at(times, hms(14, 25) + rng.randint(0, 600))
    i_low = _first_index_at(times, hms(15, 15) + rng.randint(0, 1200))
    i_last = len(times) - 1

    no_rearm_35_28 = 3500  # stays above 34.9272 until the afternoon sell-off
    below_mcap = 3778  # 37.78 < 37.784431: market-cap level untouched before 10:15
    above_mcap_rearm = 3742  # 37.42 > 37.406587 (99% of 37.784431)
    below_double = DOUBLE - TICK
    above_double_rearm = 3882  # 38.82 > 38.808 (99% of 39.20)
    below_high = HIGH - TICK
    above_low = LOW + TICK

    # (last row index of the segment, end price, interior floor, interior ceiling)
    segments = (
        (i_1000, AT_1000, no_rearm_35_28, below_mcap),
        (i_1015, AT_1015, no_rearm_35_28, below_mcap),
        (i_double, DOUBLE, above_mcap_rearm, below_double),
        (i_high, HIGH, above_double_rearm, below_high),
        (i_am_end, 4060 + TICK * rng.randint(-12, 12), above_low, below_high),
        (i_1345, 3840 + TICK * rng.randint(-10, 10), above_low, below_high),
        (i_1430, 3660 + TICK * rng.randint(-10, 10), above_low, below_high),
        (i_low, LOW, above_low, below_high),
        (i_last, 3436 + TICK * rng.randint(-5, 5), above_low, below_high),
    )
    walk = _Walk(rng, OPEN)
    done = -1
    for end_index, end_price, lo, hi in segments:
        if end_index <= done:
            raise ValueError("anchor rows out of order")
        walk.bridge(end_index - done, end_price, lo, hi)
        done = end_index
    labels = {i_1000: LABEL_1000, i_1015: LABEL_1015, i_high: LABEL_HIGH, i_low: LABEL_LOW}
    return walk.prices, labels


def _profile(t: int) -> float:
    weight = VOLUME_PROFILE[0][1]
    for start, w in VOLUME_PROFILE:
        if t >= start:
            weight = w
    return weight


def _volumes(
    rng: random.Random, times: Sequence[int], prices: Sequence[int], total: int
) -> list[int]:
    """Split ``total`` shares over the rows in board lots (integer largest-remainder method)."""
    weights: list[int] = []
    prev = OPEN
    for t, p in zip(times, prices, strict=True):
        moved = abs(p - prev) // TICK
        prev = p
        burst = 0.25 + 1.5 * rng.random() + 8.0 * rng.random() ** 8
        weights.append(int(_profile(t) * (1.0 + 0.25 * moved) * burst * 1000) + 1)
    lots, odd = divmod(total, BOARD_LOT)
    spare = lots - len(weights)  # every row gets at least one lot
    if spare < 0:
        raise ValueError("total volume too small for the number of rows")
    wsum = sum(weights)
    shares = [divmod(w * spare, wsum) for w in weights]
    left = spare - sum(q for q, _ in shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    bonus = set(by_remainder[:left])
    volumes = [(1 + q + (i in bonus)) * BOARD_LOT for i, (q, _) in enumerate(shares)]
    volumes[-1] += odd
    return volumes


def _rows(seed: int) -> list[Row]:
    rng = random.Random(seed)
    times = _continuous_times(rng)
    prices, labels = _price_path(rng, times)
    open_volume = rng.randint(30_000, 45_000) * BOARD_LOT
    close_volume = rng.randint(15_000, 30_000) * BOARD_LOT
    volumes = _volumes(rng, times, prices, TOTAL_VOLUME - open_volume - close_volume)
    rows = [Row(OPEN_AUCTION, OPEN, open_volume, LABEL_OPEN)]
    rows += [
        Row(t, p, v, labels.get(i, SYNTHETIC))
        for i, (t, p, v) in enumerate(zip(times, prices, volumes, strict=True))
    ]
    rows.append(Row(CLOSE_AUCTION, CLOSE, close_volume, LABEL_CLOSE))
    return rows


def _in_continuous_session(t: int) -> bool:
    return MORNING[0] <= t < MORNING[1] or AFTERNOON[0] <= t < AFTERNOON[1]


def verify(rows: Sequence[Row]) -> None:
    """Raise ``ValueError`` unless ``rows`` honour every published figure and constraint."""

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"generated day violates: {what}")

    prices = [r.price for r in rows]
    check(rows[0] == Row(OPEN_AUCTION, OPEN, rows[0].volume, LABEL_OPEN), "opening auction row")
    check(rows[-1] == Row(CLOSE_AUCTION, CLOSE, rows[-1].volume, LABEL_CLOSE), "closing row")
    check(all(_in_continuous_session(r.t) for r in rows[1:-1]), "rows outside the sessions")
    check(rows[1].t == MORNING[0], "first continuous row at 09:30:00")
    check(all(a.t <= b.t for a, b in pairwise(rows)), "time order")
    check(all(p % TICK == 0 for p in prices), "0.02 price grid")
    check(max(prices) == HIGH and min(prices) == LOW, "day high and low")
    check(min(prices) >= OFFER, "never below the offer price")
    check(all(r.volume > 0 for r in rows), "positive volumes")
    check(sum(r.volume for r in rows) == TOTAL_VOLUME, "total volume")
    at_1000 = [r for r in rows if r.t == T_1000]
    at_1015 = [r for r in rows if r.t == T_1015]
    check([(r.price, r.provenance) for r in at_1000] == [(AT_1000, LABEL_1000)], "10:00 row")
    check([(r.price, r.provenance) for r in at_1015] == [(AT_1015, LABEL_1015)], "10:15 row")
    high = [r for r in rows if r.provenance == LABEL_HIGH]
    low = [r for r in rows if r.provenance == LABEL_LOW]
    check(len(high) == 1 and high[0].price == HIGH, "day high row")
    check(hms(11, 0) <= high[0].t < MORNING[1], "day high in the late morning")
    check(len(low) == 1 and low[0].price == LOW, "day low row")
    check(AFTERNOON[0] <= low[0].t < AFTERNOON[1], "day low in the afternoon")
    mcap = next(r for r in rows if r.price * MICRO_PER_CENT >= LEVEL_MCAP)
    check(mcap.t == T_1015 and mcap.price == AT_1015, "market cap first over HK$100bn at 10:15")
    double = next(r for r in rows if r.price >= DOUBLE)
    check(double.price == DOUBLE and double.t > T_1015, "first print at +100% is exactly 39.20")
    for level in LEVELS:
        check(count_alerts(prices, level) == 1, f"alert at {level / 1e6} fires exactly once")


def count_alerts(prices: Sequence[int], level: int) -> int:
    """Up-crossings of ``level`` (micro-HKD) by an alert that re-arms below 99% of it."""
    armed, fired = True, 0
    for price in prices:
        micro = price * MICRO_PER_CENT
        if armed and micro >= level:
            armed, fired = False, fired + 1
        elif not armed and micro * 100 < level * REARM_PERCENT:
            armed = True
    return fired


def to_csv(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        turnover = fmt_cents(r.price * r.volume)
        writer.writerow((fmt_time(r.t), fmt_cents(r.price), r.volume, turnover, r.provenance))
    return buf.getvalue()


def generate(seed: int = DEFAULT_SEED) -> str:
    """The whole tape as CSV text for ``seed``; raises ``ValueError`` if the walk is invalid."""
    rows = _rows(seed)
    verify(rows)
    return to_csv(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output CSV path")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    text = generate(args.seed)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {text.count(chr(10)) - 1} rows to {out}")


if __name__ == "__main__":
    main()
