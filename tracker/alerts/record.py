"""The alert record of the contract: the JSON object written to the alert log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from tracker.alerts.messages import message, source_message
from tracker.core.metrics import gain_pct, market_cap
from tracker.core.model import (
    MICROS,
    Listing,
    StoredAlert,
    ThresholdCrossed,
    alert_id,
    ts_to_datetime,
)

NOTICE_KINDS = frozenset({"source", "test"})  # records that are not a rule's alert


def is_rule_alert(record: Mapping[str, Any]) -> bool:
    """Whether an alert record is a rule's (not a source or test notice)."""
    return record.get("kind") not in NOTICE_KINDS


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def alert_record(
    listing: Listing,
    alert: ThresholdCrossed,
    language: str = "en",
    *,
    late: bool = False,
    silenced: bool = False,
) -> dict[str, Any]:
    """The contract's alert record for a crossing.

    ``inferred``: fired by a provider's day high or low between polls, not by a
    polled tick. ``late``: fired by a poll that came after the daemon missed the
    market (started or restarted after the opening, or down while it traded); such a
    poll's alerts are never ``gap``: the tracker did not see the stock open through the
    level. ``silenced``: the rule or listing was silenced; the alert is stored and
    logged but sent to no other sink.
    """
    if late and alert.gap:
        alert = replace(alert, gap=False)
    tick, rule = alert.tick, alert.rule
    local = tick.ts.astimezone(ZoneInfo(listing.timezone))
    gain = gain_pct(listing, tick.price)
    cap = market_cap(listing, tick.price)
    record: dict[str, Any] = {
        "alert_id": alert_id(listing.id, rule.id, tick.ts_us, tick.seq),
        "listing": listing.id,
        "symbol": listing.symbol,
        "rule": rule.id,
        "kind": str(rule.kind),
        "direction": str(rule.direction),
        "threshold": _number(rule.threshold),
        "level": round(alert.level / MICROS, 6),
        "ts": local.isoformat(),
        "seq": tick.seq,
        "price": tick.price,
        "currency": listing.currency,
        "gain_pct": round(gain, 2),
        "market_cap": cap,
        "shares_basis": listing.shares_basis,
        "gap": alert.gap,
        "message": message(listing, alert, local, gain, cap, language, late),
        "inferred": alert.inferred,
        "late": late,
        "silenced": silenced,
    }
    if alert.base_price is not None:  # a gain against the day's open or the previous close
        record["reference"] = str(rule.reference)
        record["reference_price"] = alert.base_price
    return record


def stored_alert(
    listing: Listing,
    alert: ThresholdCrossed,
    language: str = "en",
    *,
    late: bool = False,
    silenced: bool = False,
) -> StoredAlert:
    """The record of a crossing, serialized for the store and the sinks."""
    record = alert_record(listing, alert, language, late=late, silenced=silenced)
    return StoredAlert(
        alert_id=record["alert_id"],
        listing_id=listing.id,
        rule_id=alert.rule.id,
        ts_us=alert.tick.ts_us,
        seq=alert.tick.seq,
        record=json.dumps(record, ensure_ascii=False, separators=(", ", ": ")),
        silenced=silenced,
    )


def source_notice(
    listing: Listing,
    event: str,
    at_us: int,
    since_us: int,
    provider: str,
    reason: str,
    language: str = "en",
    *,
    previous: str | None = None,
) -> StoredAlert:
    """A ``"kind": "source"`` record about the listing's quotes.

    ``event``: ``down`` or ``back`` (the source in use failed for long, or answers again),
    ``switched`` (from the ``previous`` provider to ``provider``), ``stale`` (the quotes
    stay on an earlier trading day after the opening) or ``fresh`` (trades came again).
    """
    rule = f"source-{event}"
    local = ts_to_datetime(at_us).astimezone(ZoneInfo(listing.timezone))
    minutes = (at_us - since_us) / 60_000_000
    notice_id = alert_id(listing.id, rule, at_us, 0)
    record: dict[str, Any] = {
        "alert_id": notice_id,
        "listing": listing.id,
        "symbol": listing.symbol,
        "rule": rule,
        "kind": "source",
        "event": event,
        "provider": provider,
        "reason": reason,
        "ts": local.isoformat(),
        "since": ts_to_datetime(since_us).astimezone(ZoneInfo(listing.timezone)).isoformat(),
        "seq": 0,
        "message": source_message(listing, event, reason, minutes, language, provider, previous),
    }
    if previous is not None:
        record["from"] = previous
    return StoredAlert(
        alert_id=notice_id,
        listing_id=listing.id,
        rule_id=rule,
        ts_us=at_us,
        seq=0,
        record=json.dumps(record, ensure_ascii=False, separators=(", ", ": ")),
    )


def check_notice(listing: Listing, at_us: int, language: str = "en") -> StoredAlert:
    """A ``"kind": "test"`` record, sent by ``tracker alerts test`` to check the sinks."""
    local = ts_to_datetime(at_us).astimezone(ZoneInfo(listing.timezone))
    notice_id = alert_id(listing.id, "test", at_us, 0)
    message = (
        f"{listing.name}（{listing.symbol}）提醒通道测试：收到即表示配置正常。"
        if language == "zh-Hans"
        else f"Test alert for {listing.name} ({listing.symbol}): this sink works."
    )
    record = {
        "alert_id": notice_id,
        "listing": listing.id,
        "symbol": listing.symbol,
        "rule": "test",
        "kind": "test",
        "ts": local.isoformat(),
        "seq": 0,
        "message": message,
    }
    return StoredAlert(
        alert_id=notice_id,
        listing_id=listing.id,
        rule_id="test",
        ts_us=at_us,
        seq=0,
        record=json.dumps(record, ensure_ascii=False, separators=(", ", ": ")),
    )
