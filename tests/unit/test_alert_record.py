"""The alert record of the contract, and the day's figures (open, high, low, close, VWAP)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from factories import make_listing, make_rule, make_tick, ts_us

from tracker.alerts.record import alert_record
from tracker.core.metrics import summarize
from tracker.core.model import Listing, Rule, ThresholdCrossed, Tick

SHARES = 2_646_592_710
BASIS = "implied by the reported HK$100.2bn at HK$37.86"
CONTRACT_FIELDS = {
    "alert_id": str,
    "listing": str,
    "symbol": str,
    "rule": str,
    "kind": str,
    "direction": str,
    "threshold": (int, float),
    "level": float,
    "ts": str,
    "seq": int,
    "price": float,
    "currency": str,
    "gain_pct": float,
    "market_cap": int,
    "shares_basis": (str, type(None)),
    "gap": bool,
    "message": str,
}


def mcap_rule() -> Rule:
    return make_rule(100_000_000_000, kind="market_cap", id="mcap-100b")


def crossing(
    listing: Listing, tick: Tick, rule: Rule | None = None, gap: bool = False
) -> ThresholdCrossed:
    """The alert a rule (the listing's first by default) gives for a tick."""
    rule = rule or listing.rules[0]
    level = rule.level(listing.offer_price, listing.shares_outstanding)
    return ThresholdCrossed(listing.id, rule, level, tick, gap)


def expected_alert_id(listing: str, rule: str, utc: dt.datetime, seq: int) -> str:
    key = f"{listing}|{rule}|{utc.isoformat()}|{seq}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@pytest.fixture
def biren() -> Listing:
    return make_listing((mcap_rule(),))


@pytest.fixture
def biren_record(biren: Listing) -> dict[str, object]:
    tick = make_tick(37.86, "2026-01-02T10:15:00+08:00")
    return alert_record(biren, crossing(biren, tick))


# --- the record ---------------------------------------------------------------------------------


def test_record_has_every_contract_field_with_its_type(biren_record: dict[str, object]) -> None:
    assert set(CONTRACT_FIELDS) <= set(biren_record)
    for name, kind in CONTRACT_FIELDS.items():
        assert isinstance(biren_record[name], kind), (name, biren_record[name])
    assert not isinstance(biren_record["seq"], bool)
    assert not isinstance(biren_record["market_cap"], bool)


def test_record_is_plain_json(biren_record: dict[str, object]) -> None:
    assert json.loads(json.dumps(biren_record)) == biren_record


def test_biren_100b_reference_case(biren_record: dict[str, object]) -> None:
    price, offer = Decimal("37.86"), Decimal("19.60")
    cap = (price * SHARES).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)  # 100,200,000,000.6
    gain = ((price / offer - 1) * 100).quantize(Decimal("0.01"))  # 93.163...
    level = (Decimal(100_000_000_000) / SHARES).quantize(Decimal("0.000001"))

    assert biren_record["market_cap"] == int(cap) == 100_200_000_001
    assert biren_record["gain_pct"] == float(gain) == 93.16
    assert biren_record["level"] == float(level) == 37.784431
    assert biren_record["price"] == 37.86
    assert biren_record["ts"] == "2026-01-02T10:15:00+08:00"
    assert biren_record["seq"] == 0
    assert biren_record["gap"] is False
    assert biren_record["listing"] == "biren"
    assert biren_record["symbol"] == "6082.HK"
    assert biren_record["rule"] == "mcap-100b"
    assert biren_record["kind"] == "market_cap"
    assert biren_record["direction"] == "up"
    assert biren_record["currency"] == "HKD"
    assert biren_record["shares_basis"] == BASIS


def test_alert_id_is_sha256_of_listing_rule_utc_time_and_seq(
    biren_record: dict[str, object],
) -> None:
    utc = dt.datetime(2026, 1, 2, 2, 15, tzinfo=dt.UTC)

    assert biren_record["alert_id"] == expected_alert_id("biren", "mcap-100b", utc, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", str(biren_record["alert_id"]))


def test_alert_id_covers_microseconds_and_seq(biren: Listing) -> None:
    tick = make_tick(37.86, "2026-01-02T10:15:00.123456+08:00", seq=3)

    record = alert_record(biren, crossing(biren, tick))

    utc = dt.datetime(2026, 1, 2, 2, 15, 0, 123_456, tzinfo=dt.UTC)
    assert record["alert_id"] == expected_alert_id("biren", "mcap-100b", utc, 3)
    assert record["ts"] == "2026-01-02T10:15:00.123456+08:00"
    assert record["seq"] == 3


def test_alert_id_differs_by_listing_rule_time_and_seq(biren: Listing) -> None:
    rule_b = make_rule(50, id="gain_pct-up-50")
    other_listing = make_listing((mcap_rule(),), id="other")
    base = make_tick(37.86, "2026-01-02T10:15:00+08:00")
    later = make_tick(37.86, "2026-01-02T10:15:01+08:00")
    next_seq = make_tick(37.86, "2026-01-02T10:15:00+08:00", seq=1)

    ids = {
        alert_record(biren, crossing(biren, base))["alert_id"],
        alert_record(other_listing, crossing(other_listing, base))["alert_id"],
        alert_record(biren, crossing(biren, base, rule_b))["alert_id"],
        alert_record(biren, crossing(biren, later))["alert_id"],
        alert_record(biren, crossing(biren, next_seq))["alert_id"],
    }

    assert len(ids) == 5


def test_ts_is_in_the_exchange_zone_with_its_offset() -> None:
    new_york = make_listing(
        (make_rule(30.00, kind="price", id="p30"),), timezone="America/New_York"
    )
    tick = Tick(ts_us("2026-01-02T15:30:00+00:00"), 0, 31.00)

    record = alert_record(new_york, crossing(new_york, tick))

    assert record["ts"] == "2026-01-02T10:30:00-05:00"
    assert dt.datetime.fromisoformat(str(record["ts"])) == dt.datetime(
        2026, 1, 2, 15, 30, tzinfo=dt.UTC
    )


def test_level_is_rounded_to_6_decimals_and_gain_to_2() -> None:
    # 19.60 * 1.5 is 29.400000000000002 in floating point: the record says 29.4.
    listing = make_listing((make_rule(50, id="plus-50"),))
    tick = make_tick(29.41, "2026-01-02T10:00:00+08:00")

    record = alert_record(listing, crossing(listing, tick))

    gain = ((Decimal("29.41") / Decimal("19.60") - 1) * 100).quantize(Decimal("0.01"))
    assert record["level"] == 29.4
    assert repr(record["level"]) == "29.4"
    assert record["gain_pct"] == float(gain) == 50.05


def test_threshold_is_an_int_when_integral_and_a_float_otherwise() -> None:
    integral = make_rule(50.0, id="plus-50")
    fractional = make_rule(19.6, kind="price", direction="down", id="below-offer")
    listing = make_listing((integral, fractional))

    up = alert_record(listing, crossing(listing, make_tick(30.00, "2026-01-02T10:00+08:00")))
    down = alert_record(
        listing, crossing(listing, make_tick(19.00, "2026-01-02T10:00+08:00"), fractional)
    )

    assert up["threshold"] == 50
    assert type(up["threshold"]) is int
    assert down["threshold"] == 19.6
    assert type(down["threshold"]) is float
    assert down["direction"] == "down"
    assert down["kind"] == "price"


def test_gap_is_carried_into_the_record(biren: Listing) -> None:
    tick = make_tick(37.86, "2026-01-02T09:30:00+08:00")

    record = alert_record(biren, crossing(biren, tick, gap=True))

    assert record["gap"] is True


def test_market_cap_is_whole_currency_units_on_the_listing_share_count() -> None:
    listing = make_listing((make_rule(30.00, kind="price", id="p30"),), shares_outstanding=3)
    tick = make_tick(33.34, "2026-01-02T10:00:00+08:00")

    record = alert_record(listing, crossing(listing, tick))

    assert record["market_cap"] == 100  # 3 * 33.34 = 100.02
    assert type(record["market_cap"]) is int


# --- the message --------------------------------------------------------------------------------


def test_message_names_the_stock_the_price_and_the_share_basis(
    biren_record: dict[str, object],
) -> None:
    message = str(biren_record["message"])

    assert "Biren Technology" in message
    assert "6082.HK" in message
    assert "37.86" in message
    assert "2,646,592,710" in message
    assert BASIS in message
    assert "\n" not in message


def test_message_without_market_cap_still_names_stock_and_price() -> None:
    listing = make_listing((make_rule(50, id="plus-50"),))
    record = alert_record(listing, crossing(listing, make_tick(29.40, "2026-01-02T10:00+08:00")))

    message = str(record["message"])

    assert "Biren Technology" in message
    assert "6082.HK" in message
    assert "29.40" in message


def test_chinese_message_is_chinese(biren: Listing) -> None:
    tick = make_tick(37.86, "2026-01-02T10:15:00+08:00")

    record = alert_record(biren, crossing(biren, tick), language="zh-Hans")

    message = str(record["message"])
    assert "市值" in message
    assert "37.86" in message
    assert "6082.HK" in message
    assert "2,646,592,710" in message
    # The rest of the record does not depend on the language.
    english = alert_record(biren, crossing(biren, tick))
    assert {k: v for k, v in record.items() if k != "message"} == {
        k: v for k, v in english.items() if k != "message"
    }


# --- day summary --------------------------------------------------------------------------------


def tick_at(
    minute: int, price: float, volume: float | None = None, turnover: float | None = None
) -> Tick:
    return make_tick(price, f"2026-01-02T10:{minute:02d}:00+08:00", 0, volume, turnover)


def test_summary_gives_open_high_low_close() -> None:
    ticks = [tick_at(0, 35.70), tick_at(1, 42.88), tick_at(2, 33.50), tick_at(3, 34.46)]

    summary = summarize(ticks)

    assert (summary.open.price, summary.open.ts_us) == (35.70, ticks[0].ts_us)
    assert (summary.high.price, summary.high.ts_us) == (42.88, ticks[1].ts_us)
    assert (summary.low.price, summary.low.ts_us) == (33.50, ticks[2].ts_us)
    assert (summary.close.price, summary.close.ts_us) == (34.46, ticks[3].ts_us)
    assert summary.ticks == 4


def test_summary_high_and_low_are_the_first_ticks_at_the_extreme() -> None:
    ticks = [
        tick_at(0, 36.00),
        tick_at(1, 40.00),
        tick_at(2, 30.00),
        tick_at(3, 40.00),
        tick_at(4, 30.00),
        tick_at(5, 35.00),
    ]

    summary = summarize(ticks)

    assert summary.high.ts_us == ticks[1].ts_us
    assert summary.low.ts_us == ticks[2].ts_us


def test_summary_of_one_tick_is_that_tick_four_times() -> None:
    only = tick_at(0, 35.70, 100)

    summary = summarize([only])

    assert summary.open == summary.high == summary.low == summary.close
    assert (summary.open.price, summary.open.ts_us) == (35.70, only.ts_us)


def test_vwap_is_turnover_over_volume() -> None:
    ticks = [
        tick_at(0, 35.70, 1_000, turnover=35_750.0),
        tick_at(1, 36.00, 3_000, turnover=108_100.0),
    ]

    summary = summarize(ticks)

    assert summary.volume == 4_000
    assert summary.turnover == pytest.approx(143_850.0)
    assert summary.vwap == pytest.approx(143_850.0 / 4_000)


def test_turnover_falls_back_to_price_times_volume() -> None:
    ticks = [
        tick_at(0, 35.70, 1_000, turnover=35_750.0),
        tick_at(1, 36.00, 3_000),  # no turnover: 36.00 * 3000
    ]

    summary = summarize(ticks)

    assert summary.turnover == pytest.approx(35_750.0 + 108_000.0)
    assert summary.vwap == pytest.approx((35_750.0 + 108_000.0) / 4_000)


def test_ticks_without_volume_do_not_count_towards_volume_or_vwap() -> None:
    ticks = [tick_at(0, 35.70, 1_000), tick_at(1, 99.00), tick_at(2, 36.70, 1_000)]

    summary = summarize(ticks)

    assert summary.volume == 2_000
    assert summary.vwap == pytest.approx((35_700.0 + 36_700.0) / 2_000)
    assert summary.high.price == 99.00


def test_volume_turnover_and_vwap_are_none_when_no_tick_has_volume() -> None:
    summary = summarize([tick_at(0, 35.70), tick_at(1, 36.00)])

    assert summary.volume is None
    assert summary.turnover is None
    assert summary.vwap is None


def test_summary_of_no_ticks_is_refused() -> None:
    with pytest.raises(ValueError, match="no ticks"):
        summarize([])
