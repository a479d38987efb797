"""Values of the domain: listings, rules, ticks, alerts and rule state."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

MICROS = 1_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_micros(value: float) -> int:
    """Round a price or level to 6 decimal places, as an integer count of millionths."""
    return round(value * MICROS)


def ts_to_datetime(ts_us: int) -> dt.datetime:
    """The UTC instant of an epoch-microsecond timestamp."""
    return EPOCH + dt.timedelta(microseconds=ts_us)


def datetime_to_ts(moment: dt.datetime) -> int:
    """Epoch microseconds of a tz-aware instant."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


class Kind(StrEnum):
    """What a rule's threshold measures."""

    GAIN_PCT = "gain_pct"
    MARKET_CAP = "market_cap"
    PRICE = "price"


class Direction(StrEnum):
    """Which way a crossing must go to fire."""

    UP = "up"
    DOWN = "down"


class Reference(StrEnum):
    """What a ``gain_pct`` rule's percentage is measured against."""

    OFFER = "offer"
    OPEN = "open"  # the day's first trade
    PREV_CLOSE = "prev_close"  # the previous trading day's last trade


@dataclass(frozen=True, slots=True)
class Rule:
    """A threshold that fires an alert when the price crosses its level.

    Controls: ``cooldown_us`` (event time) between two fires; ``expires_us``, the
    instant from which the rule stops; ``phases``, the market phases in which it
    may fire (None: any); ``reference`` for ``gain_pct`` rules.
    """

    id: str
    kind: Kind
    threshold: float
    direction: Direction = Direction.UP
    rearm_pct: float = 1.0
    once: bool = False
    cooldown_us: int = 0
    expires_us: int | None = None
    phases: frozenset[str] | None = None
    reference: Reference = Reference.OFFER

    def level(self, base_price: float, shares_outstanding: int) -> int:
        """The price level, in millionths, this rule's threshold stands for.

        ``base_price`` is the reference price of a ``gain_pct`` rule (the offer
        price unless the rule measures against the open or the previous close).
        """
        return to_micros(self.raw_level(base_price, shares_outstanding))

    def raw_level(self, base_price: float, shares_outstanding: int) -> float:
        """The price this rule's threshold stands for, before rounding to millionths."""
        if self.kind is Kind.GAIN_PCT:
            return base_price * (1 + self.threshold / 100)
        if self.kind is Kind.MARKET_CAP:
            return self.threshold / shares_outstanding
        return self.threshold

    @property
    def daily(self) -> bool:
        """Whether the level moves each day (a gain against the open or previous close)."""
        return self.kind is Kind.GAIN_PCT and self.reference is not Reference.OFFER

    def base_price(
        self, offer_price: float, day_open: float | None, prev_close: float | None
    ) -> float | None:
        """The price this rule's level is figured from on a day; None while it is unknown."""
        if not self.daily:
            return offer_price
        return day_open if self.reference is Reference.OPEN else prev_close

    def rearm_bound(self, level: int) -> int:
        """The price, in millionths, a later tick must pass for the rule to arm again."""
        factor = (
            1 - self.rearm_pct / 100 if self.direction is Direction.UP else 1 + self.rearm_pct / 100
        )
        return to_micros(level / MICROS * factor)


@dataclass(frozen=True, slots=True)
class Listing:
    """A listed stock with its offer price, share count and alert rules."""

    id: str
    symbol: str
    name: str
    calendar: str
    timezone: str
    currency: str
    offer_price: float
    shares_outstanding: int
    shares_basis: str | None = None
    listed_on: dt.date | None = None
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade: its instant (epoch microseconds, UTC), position among equal instants, price."""

    ts_us: int
    seq: int
    price: float
    volume: float | None = None
    turnover: float | None = None

    @property
    def ts(self) -> dt.datetime:
        """The tick's instant as a UTC datetime."""
        return ts_to_datetime(self.ts_us)


@dataclass(frozen=True, slots=True)
class ThresholdCrossed:
    """An alert: a rule's level was crossed by a tick."""

    listing_id: str
    rule: Rule
    level: int
    tick: Tick
    gap: bool
    inferred: bool = False
    base_price: float | None = None  # the reference price of a daily gain_pct rule


@dataclass(frozen=True, slots=True)
class RuleState:
    """Whether a rule at a given level may fire."""

    rule_id: str
    level: int
    armed: bool = True
    last_fired_us: int | None = None


@dataclass(frozen=True, slots=True)
class Extremes:
    """A provider's figures of the day as of a quote's last trade (``ts_us``).

    The day's high and low so far, and, where the provider has them, its open and the
    previous trading day's close: the open stands in for a first stored tick that is
    not the opening print (a daemon started late).
    """

    ts_us: int
    high: float | None
    low: float | None
    open: float | None = None
    prev_close: float | None = None

    @property
    def range(self) -> Extremes:
        """The high and low alone (what the state remembers to tell new ones from seen ones)."""
        return Extremes(self.ts_us, self.high, self.low)


@dataclass(frozen=True, slots=True)
class ListingState:
    """What the core remembers of a listing between batches of ticks.

    ``last_ts_us``/``last_seq`` is the high-water mark of evaluated ticks;
    ``extremes`` the last day high and low a live provider reported; the last
    price, the day's open and the previous close give daily rules their levels.
    """

    last_ts_us: int | None = None
    last_seq: int = -1
    rules: dict[tuple[str, int], RuleState] = field(default_factory=dict)
    extremes: Extremes | None = None
    last_price: float | None = None
    day_open: float | None = None
    prev_close: float | None = None


def alert_id(listing_id: str, rule_id: str, ts_us: int, seq: int) -> str:
    """The alert's stable id: sha256 of ``listing|rule|ts in UTC ISO 8601|seq``, 32 hex digits."""
    key = f"{listing_id}|{rule_id}|{ts_to_datetime(ts_us).isoformat()}|{seq}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def day_bounds(listing: Listing, date: dt.date) -> tuple[int, int]:
    """Epoch microseconds of the exchange-local midnights around a date."""
    return zone_day_bounds(listing.timezone, date)


@functools.lru_cache(maxsize=4096)
def zone_day_bounds(timezone: str, date: dt.date) -> tuple[int, int]:
    """Epoch microseconds of the local midnights around a date in a time zone."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(date, dt.time(), zone)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), zone)
    return datetime_to_ts(start), datetime_to_ts(end)


def local_date(listing: Listing, ts_us: int) -> dt.date:
    """The exchange-local date of an instant."""
    return zone_date(listing.timezone, ts_us)


_BUCKET_US = 15 * 60 * MICROS  # time zones' offsets, and their changes, keep to quarter hours


def zone_date(timezone: str, ts_us: int) -> dt.date:
    """The local date of an instant in a time zone (looked up by the quarter hour)."""
    date = _bucket_date(timezone, ts_us // _BUCKET_US)
    if date is None:  # a zone's change of offset, or midnight, inside this quarter hour
        return ts_to_datetime(ts_us).astimezone(ZoneInfo(timezone)).date()
    return date


@functools.lru_cache(maxsize=16384)
def _bucket_date(timezone: str, bucket: int) -> dt.date | None:
    """The local date all through a quarter hour (UTC-aligned), or None when it is not one."""
    zone = ZoneInfo(timezone)
    first = ts_to_datetime(bucket * _BUCKET_US).astimezone(zone)
    last = ts_to_datetime((bucket + 1) * _BUCKET_US - 1).astimezone(zone)
    if first.date() != last.date() or first.utcoffset() != last.utcoffset():
        return None
    return first.date()


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert record as the store keeps it: its id, listing, rule, tick and JSON text.

    The record (``record``) is the alert log's line; ``silenced`` alerts go to the
    alert log only.
    """

    alert_id: str
    listing_id: str
    rule_id: str
    ts_us: int
    seq: int
    record: str
    silenced: bool = False
