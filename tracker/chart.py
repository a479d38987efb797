"""The day's chart (matplotlib): price in exchange time with lunch compressed, levels, alerts.

The x axis is trading time: closed periods (the lunch break) take no width, and a
dashed vertical line marks where one was cut out. Below the price, volume bars;
on the right, the market cap the price stands for on the listing's share count.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tracker.core.model import MICROS, Listing, Tick, ts_to_datetime
from tracker.store.repository import StoredAlert

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GAP_MIN_S = 15 * 60  # a pause this long between two ticks is a closed period, cut out
DPI = 110  # sharp across a phone screen (375 points at 3 pixels each) and on a desktop
GAP_WIDTH_S = 60  # the width a closed period keeps, its cut line in the middle


def trading_axis(ticks: Sequence[Tick]) -> tuple[list[float], list[float]]:
    """Each tick's x (seconds since the first tick, closed periods cut) and where the cuts are."""
    xs: list[float] = [0.0]
    cuts: list[float] = []
    for previous, tick in pairwise(ticks):
        gap = (tick.ts_us - previous.ts_us) / MICROS
        if gap >= GAP_MIN_S:
            cuts.append(xs[-1] + GAP_WIDTH_S / 2)
            gap = GAP_WIDTH_S
        xs.append(xs[-1] + gap)
    return xs, cuts


def day_figure(
    listing: Listing, ticks: Sequence[Tick], alerts: Sequence[StoredAlert], title_date: str
) -> Figure:
    """The figure of a day's ticks (in time order, at least one) and its alerts."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    zone = ZoneInfo(listing.timezone)
    xs, cuts = trading_axis(ticks)
    prices = [tick.price for tick in ticks]
    figure = Figure(figsize=(11, 6.5), layout="constrained")
    price_ax, volume_ax = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    price_ax.plot(xs, prices, color="#1f5fa8", linewidth=1.1, label="price", gid="price")
    price_ax.axhline(listing.offer_price, color="#555555", linestyle="--", linewidth=1)
    price_ax.annotate(
        f"offer {listing.offer_price:.2f}",
        (xs[-1], listing.offer_price),
        fontsize=8,
        ha="right",
        va="bottom",
        color="#555555",
    )
    for rule in listing.rules:
        if rule.daily:
            continue
        level = rule.level(listing.offer_price, listing.shares_outstanding) / MICROS
        price_ax.axhline(level, color="#c77c02", linestyle=":", linewidth=1, gid=f"level:{rule.id}")
        price_ax.annotate(
            f"{rule.id} {level:.2f}",
            (xs[0], level),
            fontsize=8,
            ha="left",
            va="bottom",
            color="#c77c02",
        )
    starts = [tick.ts_us for tick in ticks]
    for alert in alerts:
        record = json.loads(alert.record)
        if record.get("kind") == "source":
            continue
        i = max(0, min(len(ticks) - 1, bisect.bisect_left(starts, alert.ts_us)))
        price_ax.plot(
            [xs[i]],
            [record["price"]],
            marker="v" if record["direction"] == "down" else "^",
            color="#b3261e",
            markersize=9,
            linestyle="none",
            gid=f"alert:{alert.alert_id}",
        )
    for cut in cuts:
        for ax in (price_ax, volume_ax):
            ax.axvline(cut, color="#999999", linestyle="--", linewidth=0.8, gid="cut")
    volumes = [tick.volume or 0.0 for tick in ticks]
    half = max(xs[-1] / 400, 1.0) / 2
    bars = PolyCollection(  # one artist for every bar: thousands of patches draw slowly
        [
            [(x - half, 0), (x - half, v), (x + half, v), (x + half, 0)]
            for x, v in zip(xs, volumes, strict=True)
        ],
        facecolors="#7a9cc6",
        edgecolors="none",
        gid="volume",
    )
    bars.sticky_edges.y.append(0)  # the axis starts at zero volume, as bars do
    volume_ax.add_collection(bars)
    volume_ax.autoscale_view()
    volume_ax.set_ylabel("volume (shares)")
    price_ax.set_ylabel(f"price ({listing.currency})")
    low, high = min([*prices, listing.offer_price]), max(prices)
    price_ax.set_ylim(low * 0.97, high * 1.03)
    cap_ax = price_ax.secondary_yaxis(
        "right",
        functions=(
            lambda p: p * listing.shares_outstanding / 1e9,
            lambda c: c * 1e9 / listing.shares_outstanding,
        ),
    )
    cap_ax.set_ylabel(f"market cap (bn {listing.currency})")
    labels = _hour_ticks(ticks, xs, zone)
    volume_ax.set_xticks([x for x, _ in labels], [text for _, text in labels])
    zone_name = ts_to_datetime(ticks[0].ts_us).astimezone(zone).tzname()
    volume_ax.set_xlabel(f"exchange time ({zone_name}); closed periods cut out")
    price_ax.set_title(f"{listing.name} ({listing.symbol}) on {title_date}")
    price_ax.legend(
        handles=[
            price_ax.lines[0],
            matplotlib.lines.Line2D([], [], color="#555555", linestyle="--", label="offer price"),
            matplotlib.lines.Line2D([], [], color="#c77c02", linestyle=":", label="rule levels"),
            matplotlib.lines.Line2D(
                [], [], color="#b3261e", marker="^", linestyle="none", label="alerts"
            ),
        ],
        loc="upper right",
        fontsize=8,
    )
    return figure


def _hour_ticks(ticks: Sequence[Tick], xs: list[float], zone: ZoneInfo) -> list[tuple[float, str]]:
    """An x tick at the first trade of each new half hour."""
    labels: list[tuple[float, str]] = []
    last = None
    room = xs[-1] / 25  # labels closer than this would overlap
    for tick, x in zip(ticks, xs, strict=True):
        local = ts_to_datetime(tick.ts_us).astimezone(zone)
        slot = (local.hour, local.minute // 30)
        if slot != last:
            if labels and x - labels[-1][0] < room:
                labels.pop()
            labels.append((x, f"{local:%H:%M}"))
            last = slot
    return labels


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG data (1,210 x 715 pixels at the default size)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
