"""The day's chart, checked through the figure's own objects."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from factories import SAMPLE_TAPE, make_listing, make_rule, ts_us

from tracker.chart import day_figure, png_bytes, trading_axis
from tracker.ingest import Ingestor
from tracker.replay import replay_tape
from tracker.sources.tape import read_tape
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore

LISTING = make_listing(
    rules=(
        make_rule(50),
        make_rule(80),
        make_rule(100e9, kind="market_cap", id="mcap-100b"),
        make_rule(100),
        make_rule(19.60, kind="price", direction="down", id="below-offer"),
    )
)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('chart') / 'c.db'}")
    ensure_schema(engine)
    store = SqlStore(engine)
    replay_tape(LISTING, read_tape(SAMPLE_TAPE, LISTING.timezone), Ingestor(store, []), 10_000)
    yield store
    engine.dispose()


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
    assert len(bars.get_paths()) == len(ticks)  # a bar per tick
    assert volume_ax.get_ylim()[0] == 0
    assert price_ax.child_axes[0].get_ylabel().startswith("market cap")
    assert png_bytes(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_lunch_break_is_cut_out_not_drawn_flat(day: SqlStore) -> None:
    ticks = day.ticks("biren")
    xs, cuts = trading_axis(ticks)
    morning = max(i for i, t in enumerate(ticks) if t.ts_us < ts_us("2026-01-02T12:00:00"))
    afternoon = morning + 1
    real_gap = (ticks[afternoon].ts_us - ticks[morning].ts_us) / 1e6
    assert real_gap > 3600
    assert xs[afternoon] - xs[morning] == 60
    assert len(cuts) == 1
    assert xs[morning] < cuts[0] < xs[afternoon]
