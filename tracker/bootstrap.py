"""The composition root: wires settings, listings, the store, sinks and the ingest path."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.alerts import registry
from tracker.alerts.sinks import AlertSink, Delivery
from tracker.config import Listings, Settings, load_settings
from tracker.core.limits import read_instant, speed_problem
from tracker.core.model import StoredAlert
from tracker.errors import ConfigError, SourceUnavailableError
from tracker.runtime.clock import Clock, SimulatedClock
from tracker.runtime.ingest import AlertListener, Ingestor, TickListener
from tracker.store.engine import MEMORY_URL, create_engine, ensure_schema, sqlite_file
from tracker.store.repository import SqlStore

if TYPE_CHECKING:
    from tracker.runtime.daemon import Daemon
    from tracker.web.events import EventHub
    from tracker.web.server import WebServer

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class App:
    """Everything a command needs, built once."""

    settings: Settings
    listings: Listings
    store: SqlStore
    ingestor: Ingestor

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()


def build_settings(db_url: str | None = None, alert_log: str | None = None) -> Settings:
    """Settings with the command line's flags on top."""
    return load_settings(db_url=db_url, alert_log=Path(alert_log) if alert_log else None)


def open_store(settings: Settings, *, dry_run: bool = False, create: bool = True) -> SqlStore:
    """The store at the settings' database (in memory for a dry run), migrated if fresh.

    With ``create=False`` a SQLite file that does not exist yet is an error, not a new file.
    """
    url = MEMORY_URL if dry_run else settings.db_url
    path = sqlite_file(url)
    if not create and path is not None and not path.exists():
        raise ConfigError(f"database {path} does not exist (replay a tape first, or pass --db)")
    engine = create_engine(url)
    ensure_schema(engine)
    if path is not None:  # it exists now: no later connection may create it again
        engine.dispose()
        engine = create_engine(url, existing=True)
    return SqlStore(engine)


def build_app(
    listings: Listings,
    settings: Settings,
    *,
    dry_run: bool = False,
    listeners: Sequence[AlertListener] = (),
    tick_listeners: Sequence[TickListener] = (),
    create: bool = True,
    show_alerts: bool = True,
) -> App:
    """Wire a command's pieces; a dry run keeps nothing: in-memory store, no alert log.

    The sinks that keep no record (stdout) hear of each alert once committed, before
    ``listeners``; ``show_alerts=False`` leaves them out, whatever the settings (the
    demo lists the day's alerts itself). With ``create=False`` a SQLite file that does
    not exist is an error, not a new file.
    """
    if not dry_run:
        _check_log_folder(settings)
    sinks = [] if dry_run else build_sinks(settings)  # a sink it cannot use: nothing written
    shown = build_sinks(settings, recorded=False) if show_alerts else []
    store = open_store(settings, dry_run=dry_run, create=create)
    told = [*map(_handed_at_once, shown), *listeners]
    ingestor = Ingestor(store, sinks, settings.language, told, tick_listeners=tick_listeners)
    return App(settings, listings, store, ingestor)


def build_sinks(settings: Settings, *, recorded: bool = True) -> list[AlertSink]:
    """The sinks ``[sinks]`` turns on whose deliveries the outbox records: the alert log,
    then webhook and apprise; with ``recorded=False`` the others (stdout)."""
    return registry.build_sinks(settings.sinks, settings.alert_log, recorded=recorded)


def _handed_at_once(sink: AlertSink) -> AlertListener:
    """An unrecorded sink as a listener of the ingest path: each alert, once committed."""

    def deliver(alert: StoredAlert) -> None:
        sink.deliver([Delivery(alert)])

    return deliver


def check_wiring(settings: Settings, listings: Listings) -> None:
    """Refuse what a command would refuse once it starts: the alert log's folder, the
    sinks (a webhook's URL, apprise's URLs) and each listing's quote sources."""
    from tracker.sources.providers import make_provider

    _check_log_folder(settings)
    for sink in build_sinks(settings):
        sink.close()
    for listing_id, config in listings.configs.items():
        for source in config.polled:
            make_provider(listings.by_id[listing_id], source)


def _check_log_folder(settings: Settings) -> None:
    folder = settings.alert_log.parent
    if not folder.is_dir():
        raise ConfigError(f"alert log {settings.alert_log}: folder {folder} does not exist")


def parse_instant(text: str, timezone: str, option: str) -> dt.datetime:
    """An ISO 8601 time from the command line; without an offset it is exchange time."""
    try:
        return read_instant(text, timezone)
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r}: {exc}") from None


CLOCK_RETRY_MAX_S = 30.0  # the longest wait between two tries of a feed's clock


def fetch_clock(url: str, sleep: Callable[[float], None] = time.sleep) -> SimulatedClock:
    """A clock that follows a feed's ``/clock``: its instant now, running at its speed.

    A feed that does not answer yet (starting, restarting) is waited for, one log line a
    try, 1, 2, 4... up to 30 seconds apart; an answer that is not a clock is refused.
    """
    import httpx

    delay = 1.0
    while True:
        try:
            answer = httpx.get(url, timeout=5).raise_for_status()
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConfigError(f"--clock {url}: not an http:// URL: {exc}") from None
        except httpx.HTTPError as exc:
            logger.warning("--clock %s: no clock yet (%s); trying again in %gs", url, exc, delay)
            sleep(delay)
            delay = min(delay * 2, CLOCK_RETRY_MAX_S)
            continue
        try:
            data = answer.json()
            now, speed = read_instant(data["now"], "UTC"), float(data["speed"])
            if (problem := speed_problem(speed)) is not None:
                raise ValueError(f"speed {speed:g} {problem}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SourceUnavailableError(f"--clock {url}: not a feed's clock: {exc}") from None
        return SimulatedClock(now, speed)


def build_daemon(app: App, clock: Clock, until: dt.datetime | None) -> Daemon:
    """Pollers for every listing with a source, on one HTTP client, in poll cycles."""
    import httpx

    from tracker import __version__
    from tracker.markets.calendar import MarketCalendar
    from tracker.runtime.daemon import Daemon
    from tracker.runtime.poller import ListingPoller, PolledSource, PollSettings, poll_cycles
    from tracker.sources.providers import make_provider

    sources = {
        listing_id: config.polled
        for listing_id, config in app.listings.configs.items()
        if config.polled
    }
    if not sources:
        raise ConfigError(
            f"{app.listings.path}: no listing has a [listings.source]: nothing to poll"
        )
    client = httpx.Client(headers={"User-Agent": f"listing-tracker/{__version__}"})
    calendars: dict[str, MarketCalendar] = {}
    pollers = []
    for listing_id, configs in sources.items():
        listing = app.listings.by_id[listing_id]
        calendar = calendars.setdefault(listing.calendar, MarketCalendar(listing.calendar))
        calendar.phase(clock.now())  # build its sessions now, not in the first poll
        polled = [
            PolledSource(
                make_provider(listing, source),
                PollSettings(
                    interval=source.interval,
                    down_after=float(source.down_after),
                    close_grace=float(source.close_grace),
                ),
            )
            for source in configs
        ]
        pollers.append(ListingPoller(listing, polled, app.ingestor, calendar, clock, client))
    checkpoints = app.store.defer_checkpoints()  # off the path from a quote to its alert
    cycles = poll_cycles(pollers, client, clock)
    database = sqlite_file(app.settings.db_url)
    return Daemon(cycles, app.ingestor, clock, until, checkpoints=checkpoints, database=database)


def build_web(
    listings: Listings, store: SqlStore, address: str, hub: EventHub, clock: Clock | None = None
) -> WebServer:
    """The live page's server on ``--web HOST:PORT``, bound, not yet serving.

    ``clock`` is the daemon's: the page shows its today before the first tick.
    """
    from tracker.web.api import ReadApi
    from tracker.web.server import WebServer, parse_address

    host, port = parse_address(address)
    try:
        server = WebServer(ReadApi(store, listings, clock), hub, host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"--web {address}: cannot listen on it: {reason}") from None
    if not server.loopback:
        logger.warning(
            "--web %s: the live page is open to other machines (read-only, no login)", address
        )
    return server
