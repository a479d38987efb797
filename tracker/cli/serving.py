"""``tracker serve``: the live page and JSON API of a stored database, read-only."""

from __future__ import annotations

import click

from tracker.cli.base import cli, config_option, db_option, safe_url
from tracker.web import DEFAULT_ADDRESS

web_help = "Serve the live page and its JSON API here, loopback unless you say otherwise."


@cli.command()
@config_option
@db_option
@click.option(
    "--web",
    default=DEFAULT_ADDRESS,
    show_default=True,
    metavar="HOST:PORT",
    help=web_help,
)
def serve(config: str | None, db: str | None, web: str) -> None:
    """Serve the live page of a stored database (a replayed day, or one a daemon writes).

    New ticks and alerts another process commits appear on the page as they are
    stored. Read-only. Stops on SIGINT or SIGTERM.
    """
    import signal
    import threading

    from tracker.bootstrap import build_settings, build_web, open_store
    from tracker.config import listings_path, load_listings
    from tracker.web.events import EventHub, StoreWatcher

    listings = load_listings(listings_path(config))
    settings = build_settings(db)
    store = open_store(settings, create=False)
    hub = EventHub()
    watcher = StoreWatcher(store, listings, hub)
    server = build_web(listings, store, web, hub)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    watcher.start()
    server.start()
    click.echo(f"live page at {server.url} (database {safe_url(settings.db_url)})")
    try:
        stop.wait()
    finally:
        server.stop()
        watcher.stop()
        store.close()
