"""The alert controls as a user writes them in listings.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import ts_us

from tracker.config import load_listings
from tracker.core.model import Reference
from tracker.errors import ConfigError

LISTING = """[[listings]]
id = "biren"
symbol = "6082.HK"
offer_price = 19.60
shares_outstanding = 2_646_592_710

[[listings.rules]]
kind = "gain_pct"
threshold = 10
"""


def load(tmp_path: Path, extra: str) -> object:
    path = tmp_path / "listings.toml"
    path.write_text(LISTING + extra)
    [rule] = load_listings(path).get("biren").rules
    return rule


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90", 90), ('"90s"', 90), ('"15m"', 900), ('"2h"', 7200), ('"1d"', 86400), ("0", 0)],
)
def test_cooldown_is_seconds_or_a_duration(tmp_path: Path, written: str, seconds: int) -> None:
    rule = load(tmp_path, f"cooldown = {written}\n")
    assert rule.cooldown_us == seconds * 1_000_000  # type: ignore[attr-defined]


def test_expires_on_a_date_means_the_end_of_that_exchange_day(tmp_path: Path) -> None:
    rule = load(tmp_path, "expires = 2026-01-02\n")
    assert rule.expires_us == ts_us("2026-01-03T00:00:00+08:00")  # type: ignore[attr-defined]
    rule = load(tmp_path, "expires = 2026-01-02T10:30:00\n")
    assert rule.expires_us == ts_us("2026-01-02T10:30:00+08:00")  # type: ignore[attr-defined]
    rule = load(tmp_path, "expires = 2026-01-02T02:30:00Z\n")
    assert rule.expires_us == ts_us("2026-01-02T10:30:00+08:00")  # type: ignore[attr-defined]


def test_phases_and_reference_are_read(tmp_path: Path) -> None:
    rule = load(tmp_path, 'phases = ["continuous", "pre_open"]\nreference = "open"\n')
    assert rule.phases == frozenset({"continuous", "pre_open"})  # type: ignore[attr-defined]
    assert rule.reference is Reference.OPEN  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('cooldown = "soon"\n', "cooldown"),
        ("cooldown = -5\n", "cooldown"),
        ('phases = ["lunch"]\n', "phases"),
        ("phases = []\n", "phases"),
        ('reference = "ipo"\n', "reference"),
    ],
)
def test_bad_controls_are_refused_naming_the_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    assert any(key in problem and "listing 'biren'" in problem for problem in caught.value.problems)


def test_reference_is_for_gain_rules_only(tmp_path: Path) -> None:
    path = tmp_path / "listings.toml"
    path.write_text(LISTING.replace('kind = "gain_pct"', 'kind = "price"') + 'reference = "open"\n')
    with pytest.raises(ConfigError) as caught:
        load_listings(path)
    assert any("reference is for gain_pct" in problem for problem in caught.value.problems)
