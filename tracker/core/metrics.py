"""Figures of a listing's day: change against the offer, market cap, VWAP, rule levels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracker.core.model import MICROS, Listing, Rule, Tick


def gain_pct(listing: Listing, price: float) -> float:
    """Change of a price against the offer price, in percent."""
    return (price / listing.offer_price - 1) * 100


def market_cap(listing: Listing, price: float) -> int:
    """Market value at a price, in whole currency units, on the listing's share count."""
    return round(price * listing.shares_outstanding)


def level_price(
    listing: Listing, rule: Rule, day_open: float | None, prev_close: float | None
) -> float | None:
    """A rule's price level on a day (6 decimals), as the core sets it.

    A daily rule measures against the day's first trade or the previous close;
    None when that price is not known (no earlier day stored).
    """
    base = rule.base_price(listing.offer_price, day_open, prev_close)
    if base is None:
        return None
    return round(rule.level(base, listing.shares_outstanding) / MICROS, 6)


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price of the day with the instant it traded."""

    ts_us: int
    price: float


@dataclass(frozen=True, slots=True)
class DaySummary:
    """Open, high, low, close, VWAP, volume and turnover of one trading day."""

    open: PricePoint
    high: PricePoint
    low: PricePoint
    close: PricePoint
    vwap: float | None
    volume: float | None
    turnover: float | None
    ticks: int
    turnover_estimated: bool = False  # some tick had no turnover: price x volume stands in


def summarize(ticks: Sequence[Tick]) -> DaySummary:
    """Summarize a day's ticks (in time order; at least one).

    The high and the low are the first ticks at the day's extreme. Volume and
    turnover count only ticks that carry them; turnover falls back to price x
    volume for a tick that has a volume but no turnover; when any tick lacks a
    turnover the summary says the turnover (and so the VWAP) is estimated.
    """
    if not ticks:
        raise ValueError("no ticks to summarize")
    high = low = ticks[0]
    volume = turnover = 0.0
    has_volume = estimated = False
    for tick in ticks:
        if tick.price > high.price:
            high = tick
        if tick.price < low.price:
            low = tick
        if tick.turnover is None:
            estimated = True
        if tick.volume is not None:
            has_volume = True
            volume += tick.volume
            turnover += tick.turnover if tick.turnover is not None else tick.price * tick.volume
    vwap = turnover / volume if has_volume and volume > 0 else None
    return DaySummary(
        open=PricePoint(ticks[0].ts_us, ticks[0].price),
        high=PricePoint(high.ts_us, high.price),
        low=PricePoint(low.ts_us, low.price),
        close=PricePoint(ticks[-1].ts_us, ticks[-1].price),
        vwap=vwap,
        volume=volume if has_volume else None,
        turnover=turnover if has_volume else None,
        ticks=len(ticks),
        turnover_estimated=has_volume and estimated,
    )
