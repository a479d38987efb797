"""The committed Biren (HKEX 6082) 2026-01-02 sample tape and the script that generates it."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_biren_day.py"
TAPE = ROOT / "tracker" / "data" / "biren-2026-01-02.csv"

DAY = "2026-01-02 "
OFFER = Decimal("19.60")
TOTAL_VOLUME = 150_709_945


class Tick(NamedTuple):
    ts: str
    clock: str  # HH:MM:SS, zero padded, so it sorts like the time of day
    price: Decimal
    volume: int
    turnover: Decimal
    provenance: str


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_biren_day", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def header() -> list[str]:
    with TAPE.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def ticks() -> list[Tick]:
    with TAPE.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [
            Tick(
                ts=row["ts"],
                clock=row["ts"].removeprefix(DAY),
                price=Decimal(row["price"]),
                volume=int(row["volume"]),
                turnover=Decimal(row["turnover"]),
                provenance=row["provenance"],
            )
            for row in reader
        ]


@pytest.fixture(scope="module")
def prices(ticks: list[Tick]) -> list[Decimal]:
    return [t.price for t in ticks]


def _first_index(prices: list[Decimal], at_least: Decimal, start: int = 0) -> int:
    return next(i for i in range(start, len(prices)) if prices[i] >= at_least)


# --- the script -----------------------------------------------------------------------------


def test_generate_reproduces_committed_file(script: ModuleType) -> None:
    assert script.generate().encode("utf-8") == TAPE.read_bytes()
    assert script.generate(20260102) == script.generate()


def test_main_writes_the_same_bytes(script: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "tape.csv"
    script.main(["--out", str(out), "--seed", "20260102"])
    assert out.read_bytes() == TAPE.read_bytes()


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_other_seeds_differ_but_keep_the_published_figures(script: ModuleType, seed: int) -> None:
    text = script.generate(seed)
    assert text != TAPE.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(int(r["volume"]) for r in rows) == TOTAL_VOLUME
    assert rows[0]["price"] == "35.70"
    assert rows[-1]["price"] == "34.46"


# --- the committed tape ---------------------------------------------------------------------


def test_file_format(header: list[str]) -> None:
    raw = TAPE.read_bytes()
    assert b"\r" not in raw
    assert raw.endswith(b"\n")
    assert header == ["ts", "price", "volume", "turnover", "provenance"]


def test_fields_are_well_formed(ticks: list[Tick]) -> None:
    assert 2000 <= len(ticks) <= 4500
    for t in ticks:
        assert t.ts.startswith(DAY)
        assert len(t.clock) == 8
        assert t.clock[2] == t.clock[5] == ":"
        assert t.price.as_tuple().exponent == -2
        assert t.turnover.as_tuple().exponent == -2
        assert t.volume > 0
        assert t.turnover == t.price * t.volume


def test_prices_on_the_002_grid(prices: list[Decimal]) -> None:
    for p in prices:
        assert int(p * 100) % 2 == 0, p


def test_opening_auction_is_the_first_and_only_pre_open_row(ticks: list[Tick]) -> None:
    first = ticks[0]
    assert first.ts == "2026-01-02 09:20:00"
    assert first.price == Decimal("35.70")
    assert first.provenance == "published: opening auction price"
    assert 1_000_000 <= first.volume <= 10_000_000
    assert round((first.price / OFFER - 1) * 100, 2) == Decimal("82.14")
    assert [t for t in ticks if t.clock < "09:30:00"] == [first]


def test_closing_auction_is_the_last_and_only_post_close_row(ticks: list[Tick]) -> None:
    last = ticks[-1]
    assert last.ts == "2026-01-02 16:09:00"
    assert last.price == Decimal("34.46")
    assert last.provenance == "published: closing auction price"
    assert [t for t in ticks if t.clock >= "16:00:00"] == [last]


def test_continuous_rows_only_inside_the_sessions(ticks: list[Tick]) -> None:
    continuous = ticks[1:-1]
    assert continuous[0].clock == "09:30:00"
    for t in continuous:
        assert "09:30:00" <= t.clock < "12:00:00" or "13:00:00" <= t.clock < "16:00:00", t.ts
    assert any(t.clock < "12:00:00" for t in continuous)
    assert any(t.clock >= "13:00:00" for t in continuous)


def test_timestamps_non_decreasing(ticks: list[Tick]) -> None:
    clocks = [t.clock for t in ticks]
    assert clocks == sorted(clocks)


def test_total_volume(ticks: list[Tick]) -> None:
    assert sum(t.volume for t in ticks) == TOTAL_VOLUME


def test_open_high_low_close(ticks: list[Tick], prices: list[Decimal]) -> None:
    assert prices[0] == Decimal("35.70")
    assert prices[-1] == Decimal("34.46")
    assert max(prices) == Decimal("42.88")
    assert min(prices) == Decimal("33.50")
    assert min(prices) >= OFFER

    (high,) = (t for t in ticks if t.provenance == "published: day high (time synthetic)")
    assert high.price == Decimal("42.88")
    assert "11:00:00" <= high.clock < "12:00:00"
    assert all(t.clock < "12:00:00" for t in ticks if t.price == max(prices))

    (low,) = (t for t in ticks if t.provenance == "published: day low (time synthetic)")
    assert low.price == Decimal("33.50")
    assert "13:00:00" <= low.clock < "16:00:00"
    assert all(t.clock >= "13:00:00" for t in ticks if t.price == min(prices))


def test_price_near_1000(ticks: list[Tick]) -> None:
    (row,) = (t for t in ticks if t.clock == "10:00:00")
    assert row.price == Decimal("36.58")
    assert row.provenance == "published: about 36.58 near 10:00"


def test_market_cap_first_over_100bn_at_1015(ticks: list[Tick], prices: list[Decimal]) -> None:
    (row,) = (t for t in ticks if t.clock == "10:15:00")
    assert row.price == Decimal("37.86")
    assert row.provenance.startswith("published: market cap about HK$100.2bn")

    first = ticks[_first_index(prices, Decimal("37.784431"))]
    assert first is row
    assert all(t.price < Decimal("37.80") for t in ticks if t.clock < "10:15:00")


def test_first_print_at_plus_100_percent_is_exactly_3920(
    ticks: list[Tick], prices: list[Decimal]
) -> None:
    first = ticks[_first_index(prices, Decimal("39.20"))]
    assert first.price == Decimal("39.20") == OFFER * 2
    assert first.clock > "10:15:00"


def test_no_refire_after_falling_back(ticks: list[Tick], prices: list[Decimal]) -> None:
    # +100% level: once below 38.80 after the first 39.20 print, 39.20 is never reached again.
    i_double = _first_index(prices, Decimal("39.20"))
    i_fall = next(i for i in range(i_double, len(prices)) if prices[i] < Decimal("38.80"))
    assert all(p < Decimal("39.20") for p in prices[i_fall:])

    # Market-cap level: once below 37.40 after 10:15, 37.80 is never reached again.
    i_1015 = next(i for i, t in enumerate(ticks) if t.clock == "10:15:00")
    i_fall = next(i for i in range(i_1015, len(prices)) if prices[i] < Decimal("37.40"))
    assert all(p < Decimal("37.80") for p in prices[i_fall:])

    # 35.28 level: the first fall below 34.92 is in the afternoon and 35.28 never comes back.
    i_fall = next(i for i, p in enumerate(prices) if p < Decimal("34.92"))
    assert ticks[i_fall].clock >= "13:00:00"
    assert all(p < Decimal("35.28") for p in prices[i_fall:])


@pytest.mark.parametrize("level", ["29.40", "35.28", "37.784431", "39.20"])
def test_rearming_alert_fires_exactly_once(prices: list[Decimal], level: str) -> None:
    threshold = Decimal(level)
    rearm_below = threshold * Decimal("0.99")
    armed, fired = True, 0
    for p in prices:
        if armed and p >= threshold:
            armed, fired = False, fired + 1
        elif not armed and p < rearm_below:
            armed = True
    assert fired == 1


def test_provenance_values(ticks: list[Tick]) -> None:
    published = [t.provenance for t in ticks if t.provenance != "synthetic"]
    assert published == [
        "published: opening auction price",
        "published: about 36.58 near 10:00",
        "published: market cap about HK$100.2bn (first over HK$100bn)",
        "published: day high (time synthetic)",
        "published: day low (time synthetic)",
        "published: closing auction price",
    ]
    assert all(p.startswith("published: ") for p in published)


def test_tick_spacing_is_irregular_and_mostly_seconds_apart(ticks: list[Tick]) -> None:
    def seconds(clock: str) -> int:
        h, m, s = (int(x) for x in clock.split(":"))
        return h * 3600 + m * 60 + s

    continuous = [seconds(t.clock) for t in ticks[1:-1]]
    gaps = [b - a for a, b in pairwise(continuous) if b - a < 3600]
    assert max(gaps) <= 15
    assert len(set(gaps)) > 5
    assert 3 <= sum(gaps) / len(gaps) <= 12
