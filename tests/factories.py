"""Test factories: every field has a default, so a test names only what it is about."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from tracker.core.batch import TickArrays
from tracker.core.model import (
    Direction,
    Kind,
    Listing,
    ListingState,
    Rule,
    StoredAlert,
    Tick,
    datetime_to_ts,
)
from tracker.store.repository import BatchRows

HKT = ZoneInfo("Asia/Hong_Kong")
ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TAPE = ROOT / "tracker" / "data" / "biren-2026-01-02.csv"
LISTINGS = ROOT / "config" / "listings.toml"


def ts_us(text: str = "2026-01-02T09:30:00+08:00") -> int:
    """Epoch microseconds of an ISO time (exchange time, HKT, when it has no offset)."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=HKT)
    return datetime_to_ts(moment)


def make_tick(
    price: float = 35.70,
    ts: str = "2026-01-02T09:30:00+08:00",
    seq: int = 0,
    volume: float | None = 1000,
    turnover: float | None = None,
) -> Tick:
    return Tick(ts_us(ts), seq, price, volume, turnover)


def make_rows(
    listing_id: str = "biren",
    ticks: Sequence[Tick] = (),
    alerts: Sequence[StoredAlert] = (),
    state: ListingState | None = None,
    previous: ListingState | None = None,
) -> BatchRows:
    """A listing's batch for ``SqlStore.commit``; its state the last tick's mark by default."""
    if state is None:
        last = ticks[-1] if ticks else None
        state = ListingState(last.ts_us, last.seq) if last else ListingState()
    return BatchRows(listing_id, TickArrays.from_ticks(ticks), alerts, state, previous)


def make_rule(
    threshold: float = 50,
    kind: Kind | str = Kind.GAIN_PCT,
    direction: Direction | str = Direction.UP,
    rearm_pct: float = 1.0,
    once: bool = False,
    id: str | None = None,
) -> Rule:
    kind, direction = Kind(kind), Direction(direction)
    rule_id = id or f"{kind}-{direction}-{threshold:g}"
    return Rule(rule_id, kind, threshold, direction, rearm_pct, once)


def make_listing(
    rules: tuple[Rule, ...] = (),
    id: str = "biren",
    offer_price: float = 19.60,
    shares_outstanding: int = 2_646_592_710,
    timezone: str = "Asia/Hong_Kong",
    symbol: str = "6082.HK",
) -> Listing:
    return Listing(
        id=id,
        symbol=symbol,
        name="Biren Technology",
        calendar="XHKG",
        timezone=timezone,
        currency="HKD",
        offer_price=offer_price,
        shares_outstanding=shares_outstanding,
        shares_basis="implied by the reported HK$100.2bn at HK$37.86",
        listed_on=dt.date(2026, 1, 2),
        rules=rules,
    )


class Wall:
    """A wall clock the test moves (backoff and Retry-After are wall time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FixedClock:
    """A clock that says what the test sets; speed 1."""

    speed = 1.0

    def __init__(self, when: str = "2026-01-02T09:31:00+08:00") -> None:
        self.set(when)

    def set(self, when: str) -> None:
        moment = dt.datetime.fromisoformat(when)
        self.moment = moment if moment.tzinfo else moment.replace(tzinfo=HKT)

    def now(self) -> dt.datetime:
        return self.moment


def write_swinging_tape(path: Path, ticks: int, period: float, first_day: int = 2) -> None:
    """Prices swinging through every Biren level (~27 to ~41) every ``2 pi period`` ticks.

    4,000 ticks a day, five seconds apart from 09:00, on days from 2026-01-``first_day``.
    """
    rows = ["ts,price,volume"]
    for i in range(ticks):
        day, second = divmod(i, 4_000)
        hour, rest = divmod(second * 5, 3600)
        price = 34.0 + 7.0 * math.sin(i / period) + (i % 7) * 0.02
        stamp = f"2026-01-{first_day + day:02d} {9 + hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
        rows.append(f"{stamp},{price:.2f},100")
    path.write_text("\n".join(rows) + "\n")
