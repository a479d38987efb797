"""The command group, its shared options, and the output helpers every command uses.

The ``tracker.cli`` package is the only code that prints for users and exits.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from tracker import __version__
from tracker.errors import ConfigError, InputError
from tracker.masking import MaskingFilter, mask_text

if TYPE_CHECKING:
    from tracker.bootstrap import App
    from tracker.core.model import Listing
    from tracker.runtime.replay import Progress
    from tracker.sources.ahead import CheckAhead
    from tracker.sources.tape import Tape, TapeReader
    from tracker.store.repository import SqlStore

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound="Closable")
MAX_SHOWN = 20


class Closable(Protocol):
    def close(self) -> None: ...


def _set_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    if value:
        store = ctx.find_root().meta
        store["verbosity"] = store.get("verbosity", 0) + value
        configure_logging(store["verbosity"])
    return value


def configure_logging(verbosity: int) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", force=True, level=level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())  # URLs' secrets, in our lines and libraries' alike
    # APScheduler logs every job run at INFO, and a poll skipped because the last one is
    # still running at WARNING (coalescing, as designed); only -vv shows those.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)
    # httpx logs every request at INFO: a line per poll.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def verbosity_options(func: F) -> F:
    """``-v``/``-q`` (log level) and ``--debug`` (tracebacks), accepted by every command."""
    func = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_set_verbosity,
        help="More log output (repeat for debug).",
    )(func)
    func = click.option(
        "-q",
        "--quiet",
        count=True,
        expose_value=False,
        callback=lambda c, p, v: _set_verbosity(c, p, -v),
        help="Only errors in the log.",
    )(func)
    func = click.option(
        "--debug", is_flag=True, expose_value=False, help="Show tracebacks of failures."
    )(func)
    return func


def config_option(func: F) -> F:
    """``--config PATH``: the listings file."""
    return click.option(
        "--config",
        "config",
        metavar="PATH",
        help="Listings file [default: $TRACKER_CONFIG or config/listings.toml].",
    )(verbosity_options(func))


def db_option(func: F) -> F:
    """``--db URL``: the database."""
    return click.option(
        "--db",
        "db",
        metavar="URL",
        help="SQLAlchemy database URL [default: $TRACKER_DB_URL or sqlite:///tracker.db].",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tracker")
@verbosity_options
def cli() -> None:
    """Track a newly listed stock: replay or poll its ticks, store them, alert on thresholds."""


def closed_at_end(resource: C) -> C:
    """``resource``, closed when the command ends, however it ends.

    A store's connections go then, not at the interpreter's exit: SQLite checkpoints
    its WAL and removes it, and the process can exit without collecting (``run``).
    """
    click.get_current_context().call_on_close(resource.close)
    return resource


def command_store(db: str | None, *, create: bool = False) -> SqlStore:
    """The store at ``--db`` (or the settings' database), closed when the command ends.

    ``create=False``: a SQLite file that does not exist is an error, not a new file.
    """
    from tracker.bootstrap import build_settings, open_store

    return closed_at_end(open_store(build_settings(db), create=create))


def read_checked(tape: Path, listing: Listing, skip_bad: bool) -> Tape:
    """Read a whole tape; bad rows refuse it, or with ``skip_bad`` are reported and left out."""
    from tracker.sources.tape import read_tape

    recorded = read_tape(tape, listing.timezone)
    bad = recorded.rows - len(recorded.ticks)
    judge_bad_rows(tape, recorded.rows, bad, [str(row) for row in recorded.bad_rows], skip_bad)
    return recorded


def checked_reader(
    tape: Path, listing: Listing, skip_bad: bool, chunk_rows: int, ahead: CheckAhead | None = None
) -> TapeReader:
    """``read_checked`` for a tape replayed chunk by chunk: read through once, kept chunked.

    ``ahead``: the tape's check already running in a child process (``start_check``).
    """
    from tracker.sources.tape import TapeReader

    reader = TapeReader(tape, listing.timezone, chunk_rows, ahead=ahead)
    checked = reader.check()
    problems = [str(row) for row in checked.bad_rows]
    judge_bad_rows(tape, checked.rows, checked.bad, problems, skip_bad)
    return reader


def judge_bad_rows(tape: Path, rows: int, count: int, problems: list[str], skip_bad: bool) -> None:
    """Refuse a tape with ``count`` bad rows, or with ``skip_bad`` report them on stderr.

    ``problems``: the first bad rows, one line each (the reader keeps a hundred).
    """
    if not count:
        return
    if not skip_bad:
        raise InputError(
            f"{tape}: {plural(count, 'bad row')} of {rows:,}; "
            "nothing was stored (--skip-bad replays the good rows)",
            shown(problems, count),
        )
    for line in shown(problems, count):
        click.echo(line, err=True)
    click.echo(f"{tape}: skipping {plural(count, 'bad row')} of {rows:,}", err=True)


@contextmanager
def progress_bar(total: int) -> Iterator[Progress | None]:
    """A progress bar of ticks with ticks/s and ETA on a terminal; nothing when piped or -q."""
    verbosity = click.get_current_context().find_root().meta.get("verbosity", 0)
    if not sys.stderr.isatty() or verbosity < 0 or total == 0:
        yield None
        return
    from tqdm import tqdm

    with tqdm(
        total=total, unit=" ticks", unit_scale=True, file=sys.stderr, dynamic_ncols=True
    ) as bar:

        def advance(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        yield advance


def report_undelivered(app: App, *, dead: bool = False) -> None:
    """Say which sinks have alerts pending (and with ``dead``, dead letters), on stderr.

    Exit 1 when the alert log is among them: it could not be written. Its alerts stay
    pending; the next command that delivers (or ``tracker alerts deliver``) writes them.
    """
    import time

    from tracker.store.deliveries import LOG_SINK, SqlDeliveries

    if not app.ingestor.sinks:
        return  # a dry run
    configured = {sink.name for sink in app.ingestor.sinks}
    now_us = time.time_ns() // 1000
    log_failed = False
    for name, left in SqlDeliveries(app.store.engine).undelivered().items():
        why = f": {left.last_error}" if left.last_error else ""
        if left.pending and name == LOG_SINK:
            log_failed = True
            failed = left.last_error or f"alert log {app.settings.alert_log} could not be written"
            click.echo(
                f"{failed}; {plural(left.pending, 'alert')} stay pending: "
                "the next run writes them (or `tracker alerts deliver`)",
                err=True,
            )
        elif left.pending and name not in configured:
            click.echo(
                f"{name}: {plural(left.pending, 'alert')} pending for a sink no longer configured",
                err=True,
            )
        elif left.pending:
            when = ""
            if left.next_attempt_us is not None:
                when = f", next attempt in {max(0, left.next_attempt_us - now_us) / 1e6:.0f}s"
            click.echo(
                f"{name}: {plural(left.pending, 'alert')} pending{when}{why}; "
                "`tracker alerts deliver --wait` delivers them",
                err=True,
            )
        if dead and left.dead:
            click.echo(
                f"{name}: {plural(left.dead, 'dead letter')}; "
                "`tracker alerts redeliver ID` sends one again",
                err=True,
            )
    if log_failed:
        raise click.exceptions.Exit(1)


def check_speed(speed: float) -> None:
    """``--speed N`` of a simulated clock: refused (exit 2) unless the clock can run it."""
    from tracker.core.limits import speed_problem

    problem = speed_problem(speed)
    if problem is not None:
        raise ConfigError(f"--speed {speed:g}: {problem}")


def option_date(text: str) -> dt.date:
    """``--date YYYY-MM-DD``: refused (exit 2) unless it is a date the tracker holds."""
    from tracker.core.limits import read_date

    try:
        return read_date(text)
    except ValueError as exc:
        raise ConfigError(f"--date {text!r}: {exc}") from None


def plural(n: int, noun: str) -> str:
    """``1 alert``, ``2,874 ticks``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def shown(problems: Sequence[str], count: int) -> list[str]:
    """The first ``MAX_SHOWN`` of ``count`` problems, and how many more there are."""
    if count <= MAX_SHOWN:
        return list(problems[:count])
    return [*problems[:MAX_SHOWN], f"... and {count - MAX_SHOWN:,} more bad rows"]


def safe_url(url: str) -> str:
    """A database URL fit to print: its password hidden."""
    return mask_text(url)
