"""``tracker alerts``: stored alerts and their deliveries, silences, redelivery, a test send."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from tracker.cli.base import (
    cli,
    closed_at_end,
    command_store,
    config_option,
    db_option,
    plural,
    report_undelivered,
)
from tracker.errors import ConfigError

if TYPE_CHECKING:
    from tracker.config import Listings
    from tracker.store.repository import SqlStore


@cli.group(invoke_without_command=True)
@click.option("--listing", "listing_id", metavar="ID", help="Only this listing's alerts.")
@click.option(
    "--since",
    metavar="WHEN",
    help="From this time on: ISO 8601 (exchange time without offset) or 30m, 2h, 7d ago.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the alert records as JSON Lines.")
@config_option
@db_option
@click.pass_context
def alerts(
    ctx: click.Context,
    listing_id: str | None,
    since: str | None,
    as_json: bool,
    config: str | None,
    db: str | None,
) -> None:
    """Show stored alerts, oldest first (or manage them: see the commands below)."""
    if ctx.invoked_subcommand is not None:
        return
    from tracker.config import listings_path, load_listings

    listings = load_listings(listings_path(config))
    if listing_id is not None:
        listings.get(listing_id)
    starts: dict[str, int] = {}
    floor = fallback = None
    if since is not None:  # read once, in each listing's exchange time (UTC for others)
        now = dt.datetime.now(dt.UTC)
        fallback = since_us(since, ZoneInfo("UTC"), now)
        starts = {
            lid: since_us(since, ZoneInfo(listing.timezone), now)
            for lid, listing in listings.by_id.items()
        }
        floor = min([fallback, *starts.values()])
    from tracker.store.deliveries import SqlDeliveries

    store = command_store(db)
    shown = [
        alert
        for alert in store.alerts(listing_id, since_us=floor)
        if fallback is None or alert.ts_us >= starts.get(alert.listing_id, fallback)
    ]
    if since is not None and not shown:
        _none_since(store, listings, listing_id, starts)
    if as_json:
        for alert in shown:
            click.echo(alert.record)
        return
    states = SqlDeliveries(store.engine).states([alert.alert_id for alert in shown])
    for alert in shown:
        record = json.loads(alert.record)
        muted = " [silenced]" if record.get("silenced") else ""
        click.echo(
            f"{record['ts']}  {record['listing']:<10} {record['rule']:<18} "
            f"{record['message']}{muted}"
        )
        click.echo(f"    {alert.alert_id}  {_deliveries(states.get(alert.alert_id, {}))}")


def _none_since(
    store: SqlStore, listings: Listings, listing_id: str | None, starts: dict[str, int]
) -> None:
    """Say on stderr that ``--since`` matched nothing, and which time it compared."""
    chosen = [listings.by_id[listing_id]] if listing_id else list(listings.by_id.values())
    if not chosen:
        click.echo("no alerts: no listing is configured", err=True)
        return
    first = chosen[0]
    start = _local(starts[first.id], ZoneInfo(first.timezone))
    latest = store.alerts(listing_id)[-1:]
    last = ""
    if latest:
        known = listings.by_id.get(latest[0].listing_id, first)
        at = _local(latest[0].ts_us, ZoneInfo(known.timezone))
        last = f"; the latest alert's tick is at {at}"
    click.echo(
        f"no alerts since {start} ({first.id}'s exchange time): --since compares the time of "
        f"each alert's tick, not when it was stored{last}",
        err=True,
    )


def _deliveries(states: dict[str, Any]) -> str:
    """Per sink: delivered, pending (attempts so far) or dead (with the last error)."""
    parts = []
    for sink, state in sorted(states.items()):
        text = f"{sink}: {state.state}"
        if state.state != "delivered" and state.attempts:
            text += f" after {state.attempts} attempts"
        if state.state != "delivered" and state.last_error:
            text += f" ({state.last_error})"
        if state.redelivery:
            text += ", redelivery"
        parts.append(text)
    return "; ".join(parts) or "no sink"


def since_us(text: str, zone: ZoneInfo, now: dt.datetime) -> int:
    """An instant from ``--since``: ISO 8601 (in ``zone`` without an offset) or a duration ago."""
    from tracker.core.limits import is_duration, read_duration, read_instant
    from tracker.core.model import datetime_to_ts

    try:
        if is_duration(text):
            return datetime_to_ts(now) - round(read_duration(text) * 1_000_000)
        return datetime_to_ts(read_instant(text, zone.key))
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith("not "):
            reason = "not an ISO 8601 date or time, nor a duration like 2h"
        raise ConfigError(f"--since {text!r}: {reason}") from None


def _duration_s(text: str) -> float:
    from tracker.core.limits import read_duration

    try:
        return read_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--for {text!r}: {exc}") from None


@alerts.command("silence")
@click.option("--listing", "listing_id", required=True, metavar="ID", help="The listing.")
@click.option("--rule", "rule_id", metavar="RULE", help="Only this rule [default: every rule].")
@click.option("--for", "duration", metavar="DURATION", help="From now on, this long: 30m, 2h, 1d.")
@click.option(
    "--until", metavar="ISO", help="Until this instant (exchange time without an offset)."
)
@click.option("--reason", help="A note shown with the silence.")
@config_option
@db_option
def silence(
    listing_id: str,
    rule_id: str | None,
    duration: str | None,
    until: str | None,
    reason: str | None,
    config: str | None,
    db: str | None,
) -> None:
    """Silence a listing or one rule: its alerts are stored and logged, sent nowhere else.

    A silence is in event time, as cooldowns and expiry are: it covers the alerts of
    ticks within its span, live or replayed. --for spans from now; --until spans from
    now, or from the start of that instant's exchange day when that is earlier.
    """
    from tracker.bootstrap import parse_instant
    from tracker.config import listings_path, load_listings
    from tracker.core.model import datetime_to_ts

    if (duration is None) == (until is None):
        raise ConfigError("give either --for DURATION or --until ISO")
    listing = load_listings(listings_path(config)).get(listing_id)
    if rule_id is not None and rule_id not in {rule.id for rule in listing.rules}:
        known = ", ".join(rule.id for rule in listing.rules) or "none"
        raise ConfigError(f"listing {listing_id!r} has no rule {rule_id!r} (rules: {known})")
    zone = ZoneInfo(listing.timezone)
    now_us = time.time_ns() // 1000
    if duration is not None:
        start_us, end_us = now_us, now_us + round(_duration_s(duration) * 1_000_000)
    else:
        assert until is not None
        end = parse_instant(until.strip(), listing.timezone, "--until")
        day = dt.datetime.combine(end.astimezone(zone).date(), dt.time(), zone)
        start_us, end_us = min(now_us, datetime_to_ts(day)), datetime_to_ts(end)
    if end_us <= start_us:
        raise ConfigError("the silence would end before it starts")
    store = command_store(db, create=True)
    silence_id = store.add_silence(listing.id, rule_id, end_us, now_us, reason, start_us)
    what = f"rule {rule_id} of {listing.id}" if rule_id else f"every rule of {listing.id}"
    click.echo(
        f"silence {silence_id}: {what} until {_local(end_us, zone)} "
        f"(ticks from {_local(start_us, zone)}, live or replayed)"
    )


@alerts.command("silences")
@config_option
@db_option
def silences(config: str | None, db: str | None) -> None:
    """List the silences, each with the span of tick times it covers."""
    from tracker.config import listings_path, load_listings

    listings = load_listings(listings_path(config))
    store = command_store(db)
    made = store.silences()
    if not made:
        click.echo("no silences")
    for s in made:
        known = listings.by_id.get(s.listing_id)
        zone = ZoneInfo(known.timezone if known else "UTC")
        what = s.rule_id or "every rule"
        start = "" if s.from_us is None else f"from {_local(s.from_us, zone)} "
        note = f" ({s.reason})" if s.reason else ""
        click.echo(f"{s.id}: {s.listing_id} {what} {start}until {_local(s.until_us, zone)}{note}")


def _local(ts_us: int, zone: ZoneInfo) -> str:
    """An instant in a listing's zone, to the second."""
    from tracker.core.model import ts_to_datetime

    return ts_to_datetime(ts_us).astimezone(zone).isoformat(timespec="seconds")


@alerts.command("unsilence")
@click.argument("silence_id", type=int, metavar="ID")
@config_option
@db_option
def unsilence(silence_id: int, config: str | None, db: str | None) -> None:
    """End a silence before its time."""
    store = command_store(db)
    if not store.remove_silence(silence_id):
        raise ConfigError(f"no silence {silence_id} (see `tracker alerts silences`)")
    click.echo(f"silence {silence_id} ended")


@alerts.command("redeliver")
@click.argument("alert_id", metavar="ID")
@click.option("--sink", metavar="NAME", help="Only this sink (log, webhook, apprise...).")
@config_option
@db_option
def redeliver(alert_id: str, sink: str | None, config: str | None, db: str | None) -> None:
    """Send a dead-lettered alert again (or, with --sink, a delivered one); say how it went."""
    from tracker.bootstrap import build_app, build_settings
    from tracker.config import listings_path, load_listings

    settings = build_settings(db)
    app = closed_at_end(build_app(load_listings(listings_path(config)), settings, create=False))
    outbox = app.ingestor.outbox
    if not outbox.redeliver(alert_id, sink):
        known = outbox.states([alert_id]).get(alert_id)
        if known is None:
            raise ConfigError(f"no alert {alert_id} (see `tracker alerts`)")
        where = f" to {sink}" if sink else ""
        raise ConfigError(f"alert {alert_id} has nothing to redeliver{where}")
    requeued = {
        name for name, s in outbox.states([alert_id])[alert_id].items() if s.state == "pending"
    }
    for target in app.ingestor.sinks:  # only the sinks this alert was put back for
        if target.name in requeued:
            outbox.dispatch_sink(target)
    state = outbox.states([alert_id]).get(alert_id, {})
    click.echo(f"{alert_id}: {_deliveries(state)}")
    if any(s.state != "delivered" for name, s in state.items() if sink in (None, name)):
        raise click.exceptions.Exit(1)


@alerts.command("deliver")
@click.option(
    "--wait", is_flag=True, help="Wait out retries' backoff until each is delivered or dead."
)
@config_option
@db_option
def deliver(wait: bool, config: str | None, db: str | None) -> None:
    """Deliver the alerts still due to a sink (a replay's, or a stopped daemon's) now.

    Exit 1 when any is still pending: the alert log could not be written, or (without
    --wait) a sink is waiting out a retry's backoff.
    """
    from tracker.bootstrap import build_app, build_settings
    from tracker.config import listings_path, load_listings
    from tracker.store.deliveries import SqlDeliveries

    settings = build_settings(db)
    app = closed_at_end(build_app(load_listings(listings_path(config)), settings, create=False))
    deliveries = SqlDeliveries(app.store.engine)
    before = deliveries.undelivered()
    app.ingestor.outbox.drain(wait=wait)
    after = deliveries.undelivered()
    for sink in app.ingestor.sinks:
        was, now = before.get(sink.name), after.get(sink.name)
        if was is None or not was.pending:
            continue
        pending, dead = (now.pending, now.dead) if now else (0, 0)
        died = dead - was.dead
        sent = was.pending - pending - died
        more = f", {plural(died, 'dead letter')}" if died else ""
        click.echo(f"{sink.name}: {plural(sent, 'alert')} delivered{more}")
    if not any(left.pending for left in before.values()):
        click.echo("nothing to deliver")
    report_undelivered(app, dead=True)
    if any(left.pending for left in after.values()):
        raise click.exceptions.Exit(1)


@alerts.command("test")
@config_option
@db_option
def test(config: str | None, db: str | None) -> None:
    """Send a test message through every configured sink (the log excepted); say what worked."""
    from tracker.alerts.record import check_notice
    from tracker.alerts.sinks import Delivery, DeliveryError
    from tracker.bootstrap import build_settings, build_sinks
    from tracker.config import listings_path, load_listings
    from tracker.store.deliveries import LOG_SINK

    listings = load_listings(listings_path(config))
    settings = build_settings(db)
    listing = next(iter(listings.by_id.values()), None)
    if listing is None:
        raise ConfigError(f"{listings.path}: no listing to name in a test message")
    notice = check_notice(listing, time.time_ns() // 1000, settings.language)
    failed = 0
    sinks = [sink for sink in build_sinks(settings) if sink.name != LOG_SINK]
    for sink in sinks:
        try:
            sink.deliver([Delivery(notice)])
            click.echo(f"{sink.name}: sent")
        except DeliveryError as exc:
            failed += 1
            click.echo(f"{sink.name}: failed: {exc.message}")
        finally:
            sink.close()
    for shown in build_sinks(settings, recorded=False):  # stdout: the message it shows
        click.echo(f"{shown.name}: {json.loads(notice.record)['message']}")
    if not sinks:
        click.echo("no webhook or apprise sink is configured ([sinks] in tracker.toml)")
    if failed:
        raise click.exceptions.Exit(1)
