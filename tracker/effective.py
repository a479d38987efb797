"""The effective configuration, as ``tracker config check`` shows it, secrets masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tracker.config import Listings, Settings, format_number
from tracker.core.model import MICROS, ts_to_datetime
from tracker.masking import mask_value


def effective_config(
    settings: Settings, settings_file: Path | None, listings: Listings
) -> dict[str, Any]:
    """Settings and listings with every default filled in, as plain data."""
    listing_data = []
    for listing in listings.by_id.values():
        sources = [source.model_dump() for source in listings.configs[listing.id].polled]
        listing_data.append(
            {
                "id": listing.id,
                "symbol": listing.symbol,
                "name": listing.name,
                "calendar": listing.calendar,
                "timezone": listing.timezone,
                "currency": listing.currency,
                "offer_price": listing.offer_price,
                "shares_outstanding": listing.shares_outstanding,
                "shares_basis": listing.shares_basis,
                "listed_on": listing.listed_on.isoformat() if listing.listed_on else None,
                "source": sources[0] if sources else None,  # the first, polled by default
                "sources": sources,
                "rules": [
                    {
                        "id": rule.id,
                        "kind": str(rule.kind),
                        "direction": str(rule.direction),
                        "threshold": rule.threshold,
                        "level": rule.level(listing.offer_price, listing.shares_outstanding)
                        / MICROS,
                        "rearm_pct": rule.rearm_pct,
                        "once": rule.once,
                        "cooldown_s": rule.cooldown_us / 1_000_000,
                        "expires": _instant(rule.expires_us, listing.timezone),
                        "phases": sorted(rule.phases) if rule.phases else None,
                        "reference": str(rule.reference),
                    }
                    for rule in listing.rules
                ],
            }
        )
    masked: dict[str, Any] = mask_value(
        {
            "settings_file": str(settings_file) if settings_file else None,
            "settings": settings.model_dump(mode="json"),
            "listings_file": str(listings.path),
            "listings": listing_data,
        }
    )
    return masked


def render_effective(effective: dict[str, Any]) -> str:
    """The effective config as text for a terminal."""
    origin = effective["settings_file"] or "defaults"
    lines = [f"settings ({origin}, then TRACKER_* environment, then flags):"]
    lines += [f"  {key} = {value}" for key, value in _flatten(effective["settings"])]
    listings = effective["listings"]
    lines.append(f"listings ({effective['listings_file']}): {len(listings)}")
    for listing in listings:
        lines.append(
            f"  {listing['id']}: {listing['name']} ({listing['symbol']}), {listing['calendar']} "
            f"{listing['timezone']}, offer {listing['offer_price']:g} {listing['currency']}, "
            f"{listing['shares_outstanding']:,} shares"
        )
        if listing["shares_basis"]:
            lines.append(f"    shares basis: {listing['shares_basis']}")
        for rank, source in enumerate(listing["sources"]):
            label = "source" if len(listing["sources"]) == 1 else f"source {rank + 1}"
            lines.append(f"    {label}: {source}")
        for rule in listing["rules"]:
            threshold = format_number(rule["threshold"])
            level = (
                f"price level {rule['level']:.6f}"
                if rule["reference"] == "offer"
                else f"vs the day's {rule['reference'].replace('_', ' ')}"
            )
            extras = [f"re-arm {rule['rearm_pct']:g}%"]
            extras += ["once"] if rule["once"] else []
            extras += [f"cooldown {rule['cooldown_s']:g}s"] if rule["cooldown_s"] else []
            extras += [f"expires {rule['expires']}"] if rule["expires"] else []
            extras += [f"phases {'/'.join(rule['phases'])}"] if rule["phases"] else []
            lines.append(
                f"    rule {rule['id']}: {rule['kind']} {rule['direction']} {threshold} "
                f"-> {level}, {', '.join(extras)}"
            )
    lines.append("config OK")
    return "\n".join(lines)


def _instant(ts_us: int | None, timezone: str) -> str | None:
    if ts_us is None:
        return None
    return ts_to_datetime(ts_us).astimezone(ZoneInfo(timezone)).isoformat()


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items
