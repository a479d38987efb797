"""The day's chart, checked through the figure's own objects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import SAMPLE_TAPE, make_listing, make_rule, ts_us

from tracker.core.model import Listing, Reference, StoredAlert, day_bounds
from tracker.markets.calendar import MarketCalendar
from tracker.reporting.chart import DESKTOP, PHONE, ChartLayout, day_figure, png_bytes, trading_axis
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import replay_tape
from tracker.sources.tape import read_tape
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore

RULES = (
    make_rule(50),
    make_rule(80),
    make_rule(100e9, kind="market_cap", id="mcap-100b"),
    make_rule(100),
    make_rule(19.60, kind="price", direction="down", id="below-offer"),
)
LISTING = make_listing(rules=RULES)
DAILY = (
    dataclasses.replace(make_rule(5, id="open-up-5"), reference=Reference.OPEN),
    dataclasses.replace(
        make_rule(-5, direction="down", id="prev-down-5"), reference=Reference.PREV_CLOSE
    ),
)
# Biren's first two trading days as four ticks each: the day's open, high, low and close
# (real daily figures; the times within the day are a convention).
TWO_DAYS = """ts,price,volume
2026-01-02 09:30:00,35.70,37677486
2026-01-02 10:30:00,42.88,37677486
2026-01-02 14:00:00,33.50,37677486
2026-01-02 16:08:00,34.46,37677487
2026-01-05 09:30:00,35.44,7589923
2026-01-05 10:30:00,35.80,7589923
2026-01-05 14:00:00,32.02,7589923
2026-01-05 16:08:00,33.20,7589925
"""
HKEX = MarketCalendar("XHKG")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('chart') / 'c.db'}")
    ensure_schema(engine)  # module-wide: the function-scoped open_store fixture cannot serve
    store = SqlStore(engine)
    replay_tape(LISTING, read_tape(SAMPLE_TAPE, LISTING.timezone), Ingestor(store, []), 10_000)
    yield store
    store.close()


Replayed = Callable[[Listing, str], SqlStore]


@pytest.fixture
def replayed(open_store: Callable[[str], SqlStore], tmp_path: Path) -> Replayed:
    """Replays a tape's text into a fresh SQLite file; the store, closed after the test."""

    def replay(listing: Listing, tape: str) -> SqlStore:
        path = tmp_path / "tape.csv"
        path.write_text(tape)
        store = open_store(f"sqlite:///{tmp_path / 't.db'}")
        replay_tape(listing, read_tape(path, listing.timezone), Ingestor(store, []), 10_000)
        return store

    return replay


def figure_of(
    store: SqlStore, listing: Listing, date: str, layout: ChartLayout = DESKTOP
) -> tuple[Any, list[StoredAlert]]:
    start, end = day_bounds(listing, dt.date.fromisoformat(date))
    previous = store.last_tick(listing.id, before_us=start)
    alerts = [a for a in store.alerts(listing.id, since_us=start) if a.ts_us < end]
    figure = day_figure(
        listing,
        store.ticks(listing.id, start, end),
        alerts,
        date,
        prev_close=previous.price if previous else None,
        layout=layout,
    )
    figure.canvas.draw()
    return figure, alerts


def by_gid(artists: Sequence[Any], prefix: str) -> dict[str, Any]:
    return {a.get_gid(): a for a in artists if (a.get_gid() or "").startswith(prefix)}


def level_lines(ax: Any) -> dict[str, float]:
    """Each horizontal line's id (``offer`` or ``level:RULE``) and its price."""
    lines = {**by_gid(ax.lines, "level:"), **by_gid(ax.lines, "offer")}
    return {gid: float(line.get_ydata()[0]) for gid, line in lines.items()}


def test_the_chart_shows_price_levels_alerts_and_volume(day: SqlStore) -> None:
    ticks, alerts = day.ticks("biren"), day.alerts("biren")
    figure = day_figure(LISTING, ticks, alerts, "2026-01-02")
    price_ax, volume_ax = figure.axes[:2]
    gids = [line.get_gid() for line in price_ax.lines]
    assert sorted(g for g in gids if g and g.startswith("level:")) == sorted(
        f"level:{rule.id}" for rule in LISTING.rules
    )
    markers = [line for line in price_ax.lines if (line.get_gid() or "").startswith("alert:")]
    assert len(markers) == len(alerts) == 4
    assert {float(m.get_ydata()[0]) for m in markers} == {
        json.loads(a.record)["price"] for a in alerts
    }
    low, high = price_ax.get_ylim()
    assert low < 19.60
    assert high > 42.88
    assert "HKD" in price_ax.get_ylabel()
    assert price_ax.get_title() == "Biren Technology (6082.HK) on 2026-01-02"
    [bars] = [c for c in volume_ax.collections if c.get_gid() == "volume"]
    assert len(bars.get_paths()) == len({tick.ts_us // 60_000_000 for tick in ticks})  # a minute
    assert volume_ax.get_ylim()[0] == 0
    assert price_ax.child_axes[0].get_ylabel().startswith("market cap")
    assert png_bytes(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_lunch_break_is_cut_out_not_drawn_flat(day: SqlStore) -> None:
    ticks = day.ticks("biren")
    axis = trading_axis(ticks, HKEX.day(dt.date(2026, 1, 2), LISTING.timezone).breaks)
    xs = [axis.x(tick.ts_us) for tick in ticks]
    morning = max(i for i, t in enumerate(ticks) if t.ts_us < ts_us("2026-01-02T12:00:00"))
    afternoon = morning + 1
    real_gap = (ticks[afternoon].ts_us - ticks[morning].ts_us) / 1e6
    assert real_gap > 3600
    assert xs[afternoon] - xs[morning] == pytest.approx(real_gap - 3600 + 60)
    [cut] = axis.cuts
    assert xs[morning] < cut.x < xs[afternoon]

    figure = day_figure(LISTING, ticks, [], "2026-01-02")
    price_ax, volume_ax = figure.axes[:2]
    [label] = by_gid(price_ax.texts, "cut-label").values()
    assert label.get_text() == "lunch 12:00\u201313:00"
    assert "lunch 12:00\u201313:00 cut out" in volume_ax.get_xlabel()
    assert [line.get_xdata()[0] for line in by_gid(price_ax.lines, "cut").values()] == [cut.x]


def test_a_pause_in_trading_is_drawn_as_it_was_only_the_calendars_breaks_are_cut(
    replayed: Replayed,
) -> None:
    tape = "ts,price\n2026-01-02 10:00,35\n2026-01-02 10:40,36\n2026-01-02 11:00,37\n"
    store = replayed(LISTING, tape)
    ticks = store.ticks("biren")
    figure, _ = figure_of(store, LISTING, "2026-01-02")
    price_ax = figure.axes[0]
    xs = list(by_gid(price_ax.lines, "price")["price"].get_xdata())
    assert xs == [0, 2400, 3600]  # the 40 quiet minutes keep their width
    assert not by_gid(price_ax.lines, "cut")
    assert not by_gid(price_ax.texts, "cut-label")
    assert trading_axis(ticks, []).cuts == []


def test_on_a_later_day_the_offer_and_every_level_lie_within_the_price_axis(
    replayed: Replayed,
) -> None:
    store = replayed(LISTING, TWO_DAYS)
    figure, _ = figure_of(store, LISTING, "2026-01-05")
    price_ax = figure.axes[0]
    low, high = price_ax.get_ylim()
    lines = level_lines(price_ax)
    assert lines == {
        "offer": 19.60,
        "level:gain_pct-up-50": 29.40,
        "level:gain_pct-up-80": 35.28,
        "level:mcap-100b": 37.784431,
        "level:gain_pct-up-100": 39.20,
        "level:below-offer": 19.60,
    }
    assert all(low < price < high for price in lines.values()), (low, high, lines)
    labels = {t.get_gid(): t.get_text() for t in by_gid(price_ax.texts, "label:").values()}
    assert labels["label:level:gain_pct-up-100"] == "gain_pct-up-100 39.20"
    assert labels["label:level:mcap-100b"] == "mcap-100b 37.78"
    assert labels["label:offer"] == "offer 19.60"
    assert set(labels) == {f"label:{gid}" for gid in lines}
    for text in by_gid(price_ax.texts, "label:").values():
        _, y = text.get_position()
        assert low < y < high


def test_a_level_far_from_the_day_is_named_at_the_edge_not_drawn(replayed: Replayed) -> None:
    far = make_listing(rules=(*RULES, make_rule(500, kind="price", id="moon")))
    store = replayed(far, TWO_DAYS)
    figure, _ = figure_of(store, far, "2026-01-05")
    price_ax = figure.axes[0]
    assert "level:moon" not in level_lines(price_ax)
    assert price_ax.get_ylim()[1] < 50  # the day stays readable
    [note] = by_gid(price_ax.texts, "off:").values()
    assert note.get_text() == "\u2191 moon 500.00, off the chart"


def test_levels_near_a_narrow_days_range_are_drawn_however_far_the_offer_is(
    replayed: Replayed,
) -> None:
    # a live morning so far: 36.42 to 37.78, the offer (19.60) far below; mcap-100b (37.784)
    # and +100% (39.20) cost the day little room beside what the offer takes anyway
    narrow = """ts,price,volume
2026-01-02 09:53:10,36.48,100
2026-01-02 09:53:41,36.42,100
2026-01-02 10:13:40,37.78,100
"""
    store = replayed(LISTING, narrow)
    figure, _ = figure_of(store, LISTING, "2026-01-02")
    lines = level_lines(figure.axes[0])
    assert lines["level:mcap-100b"] == pytest.approx(37.784431)
    assert lines["level:gain_pct-up-100"] == pytest.approx(39.20)
    low, high = figure.axes[0].get_ylim()
    assert low < 19.60 < 39.20 < high


def test_daily_levels_are_drawn_at_the_days_open_and_previous_close(replayed: Replayed) -> None:
    listing = make_listing(rules=(*RULES, *DAILY))
    store = replayed(listing, TWO_DAYS)
    first, _ = figure_of(store, listing, "2026-01-02")
    lines = level_lines(first.axes[0])
    assert lines["level:open-up-5"] == pytest.approx(35.70 * 1.05)
    assert "level:prev-down-5" not in lines  # no earlier day: no previous close
    later, _ = figure_of(store, listing, "2026-01-05")
    lines = level_lines(later.axes[0])
    assert lines["level:open-up-5"] == pytest.approx(35.44 * 1.05)
    assert lines["level:prev-down-5"] == pytest.approx(34.46 * 0.95)
    labels = {t.get_text() for t in later.axes[0].texts}
    assert {"open-up-5 37.21", "prev-down-5 32.74"} <= labels


def display_points(line: Any) -> Any:
    """A line's points in display pixels, as drawn (marker offsets included)."""
    data = np.column_stack([line.get_xdata(), line.get_ydata()])
    return line.get_transform().transform(data)


@pytest.mark.parametrize("layout", [DESKTOP, PHONE], ids=lambda layout: layout.name)
def test_each_alert_has_its_own_visible_marker(day: SqlStore, layout: ChartLayout) -> None:
    figure, alerts = figure_of(day, LISTING, "2026-01-02", layout)
    price_ax = figure.axes[0]
    markers = list(by_gid(price_ax.lines, "alert:").values())
    assert len(markers) == len(alerts) == 4
    # the day's first tick fired two rules at one instant and price: two markers apart
    assert alerts[0].ts_us == alerts[1].ts_us
    centres = [display_points(marker)[0] for marker in markers]
    size = markers[0].get_markersize() * figure.dpi / 72
    for a, b in itertools.combinations(centres, 2):
        assert max(abs(a - b)) >= size * 0.95, (a, b)
    bbox = price_ax.get_window_extent()
    assert all(bbox.contains(*centre) for centre in centres)


@pytest.mark.parametrize("layout", [DESKTOP, PHONE], ids=lambda layout: layout.name)
@pytest.mark.parametrize("date", ["2026-01-02", "2026-01-05"])
def test_level_labels_are_not_covered_by_the_price_or_a_marker(
    day: SqlStore, replayed: Replayed, layout: ChartLayout, date: str
) -> None:
    store = replayed(LISTING, TWO_DAYS) if date != "2026-01-02" else day
    figure, _ = figure_of(store, LISTING, date, layout)
    price_ax = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    boxes = {
        gid: text.get_window_extent(renderer)
        for gid, text in by_gid(price_ax.texts, "label:").items()
    }
    assert len(boxes) == 6
    price = display_points(by_gid(price_ax.lines, "price")["price"])
    drawn = by_gid(price_ax.lines, "alert:").values()
    markers = [(*display_points(m)[0], m.get_markersize() * figure.dpi / 72 / 2) for m in drawn]
    axes_box = price_ax.get_window_extent()
    for gid, box in boxes.items():
        assert axes_box.x0 <= box.x0 <= box.x1 <= axes_box.x1, gid
        inside = (price[:, 0] >= box.x0) & (price[:, 0] <= box.x1)
        ys = list(price[inside, 1])
        for edge in (box.x0, box.x1):
            if price[0, 0] <= edge <= price[-1, 0]:
                ys.append(float(np.interp(edge, price[:, 0], price[:, 1])))
        assert not ys or min(ys) > box.y1 or max(ys) < box.y0, f"the price covers {gid}"
        for x, y, half in markers:
            near = box.x0 - half < x < box.x1 + half and box.y0 - half < y < box.y1 + half
            assert not near, f"a marker covers {gid}"
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        assert not box_a.overlaps(box_b), (a, b)


def test_volume_is_in_millions_of_shares_without_an_offset(day: SqlStore) -> None:
    figure, _ = figure_of(day, LISTING, "2026-01-02")
    volume_ax = figure.axes[1]
    assert volume_ax.get_ylabel() == "volume (M shares)"
    assert volume_ax.yaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in volume_ax.get_yticklabels()]
    assert "1" in labels
    assert "3" in labels
    assert not any("e" in label for label in labels)


@pytest.mark.parametrize(
    ("layout", "width_px"), [(PHONE, 370), (DESKTOP, 1210)], ids=["phone", "desktop"]
)
def test_every_text_is_at_least_10_pixels_where_the_chart_is_shown(
    day: SqlStore, layout: ChartLayout, width_px: float
) -> None:
    figure, _ = figure_of(day, LISTING, "2026-01-02", layout)
    width_in, height_in = figure.get_size_inches()
    if layout is PHONE:
        assert height_in > width_in  # narrow and tall, for a phone held upright
    texts = [t for t in figure.findobj(lambda a: hasattr(a, "get_fontsize")) if t.get_text()]
    assert len(texts) > 30
    # CSS pixels a point takes with the figure shown `width_px` wide (a phone: 390 px less margins)
    per_point = width_px / (width_in * 72)
    small = {t.get_text(): t.get_fontsize() * per_point for t in texts}
    assert min(small.values()) >= 10, sorted(small.items(), key=lambda item: item[1])[:5]


def test_the_price_line_has_every_minutes_low_and_high_where_they_traded(day: SqlStore) -> None:
    ticks = day.ticks("biren")
    figure, _ = figure_of(day, LISTING, "2026-01-02")
    line = by_gid(figure.axes[0].lines, "price")["price"]
    drawn = set(zip(line.get_xdata().tolist(), line.get_ydata().tolist(), strict=True))
    axis = trading_axis(ticks, HKEX.day(dt.date(2026, 1, 2), LISTING.timezone).breaks)

    assert (min(line.get_ydata()), max(line.get_ydata())) == (33.50, 42.88)  # the day's
    minutes = itertools.groupby(ticks, key=lambda tick: tick.ts_us // 60_000_000)
    for _, group in minutes:
        traded = list(group)
        for extreme in (min, max):  # the first tick at the minute's low, and at its high
            tick = extreme(traded, key=lambda t: t.price)
            assert (axis.x(tick.ts_us), tick.price) in drawn
        assert (axis.x(traded[-1].ts_us), traded[-1].price) in drawn
    assert len(drawn) < len(ticks)


def test_a_spike_within_a_minute_is_drawn_at_its_instant(replayed: Replayed) -> None:
    rows = [f"2026-01-02 10:{s // 60:02d}:{s % 60:02d},{36 + s % 3 * 0.02:.2f}" for s in range(300)]
    rows[150] = "2026-01-02 10:02:30,41.00"
    rows[190] = "2026-01-02 10:03:10,31.00"
    store = replayed(LISTING, "ts,price\n" + "\n".join(rows) + "\n")
    figure, _ = figure_of(store, LISTING, "2026-01-02")
    line = by_gid(figure.axes[0].lines, "price")["price"]
    points = list(zip(line.get_xdata().tolist(), line.get_ydata().tolist(), strict=True))

    assert (150.0, 41.00) in points
    assert (190.0, 31.00) in points
    assert len(points) <= 5 * 4


def test_each_volume_bar_is_a_minutes_volume_and_together_the_days(day: SqlStore) -> None:
    ticks = day.ticks("biren")
    figure, _ = figure_of(day, LISTING, "2026-01-02")
    [bars] = by_gid(figure.axes[1].collections, "volume").values()
    drawn = sorted((float(p.vertices[0, 0]), float(p.vertices[1, 1])) for p in bars.get_paths())
    per_minute: dict[int, float] = {}
    for tick in ticks:
        minute = tick.ts_us // 60_000_000
        per_minute[minute] = per_minute.get(minute, 0.0) + (tick.volume or 0.0)

    assert [height for _, height in drawn] == [per_minute[m] for m in sorted(per_minute)]
    assert sum(height for _, height in drawn) == 150_709_945
    widths = {round(float(p.vertices[2, 0] - p.vertices[0, 0]), 6) for p in bars.get_paths()}
    assert widths == {60.0}  # a minute each


def crowded_alerts() -> list[StoredAlert]:
    """Eight rises at the day's low, at one instant, and six falls at its high within two
    minutes: stacked beside their price, they would run off the bottom and the top."""

    def alert(n: int, ts: str, price: float, direction: str) -> StoredAlert:
        record = {"rule": f"r{n}", "kind": "price", "direction": direction, "price": price}
        return StoredAlert(f"a{n}", "biren", f"r{n}", ts_us(ts), 0, json.dumps(record))

    rises = [alert(n, "2026-01-02T14:00:00", 33.50, "up") for n in range(8)]
    falls = [alert(8 + n, f"2026-01-02T10:{30 + n // 3}:{n * 7:02d}", 42.88, "down")
             for n in range(6)]  # fmt: skip
    return rises + falls


@pytest.mark.parametrize("layout", [DESKTOP, PHONE], ids=lambda layout: layout.name)
def test_crowded_alerts_each_have_a_marker_inside_the_axes_at_its_price(
    replayed: Replayed, layout: ChartLayout
) -> None:
    above_the_day = make_listing(offer_price=45.0)  # no levels: the day fills the price axis
    store = replayed(above_the_day, TWO_DAYS)
    start, end = day_bounds(above_the_day, dt.date(2026, 1, 2))
    alerts = crowded_alerts()
    figure = day_figure(above_the_day, store.ticks("biren", start, end), alerts, "2026-01-02",
                        layout=layout)  # fmt: skip
    figure.canvas.draw()
    price_ax = figure.axes[0]
    markers = by_gid(price_ax.lines, "alert:")

    assert len(markers) == len(alerts)
    for alert in alerts:
        marker = markers[f"alert:{alert.alert_id}"]
        assert marker.get_ydata()[0] == json.loads(alert.record)["price"]
    half = markers["alert:a0"].get_markersize() * figure.dpi / 72 / 2
    box = price_ax.get_window_extent()
    centres = [display_points(marker)[0] for marker in markers.values()]
    for x, y in centres:  # each marker whole inside the price axes
        assert box.x0 <= x - half
        assert x + half <= box.x1
        assert box.y0 <= y - half, (y, box)
        assert y + half <= box.y1, (y, box)
    for a, b in itertools.combinations(centres, 2):
        assert max(abs(a - b)) >= 2 * half * 0.95, (a, b)
