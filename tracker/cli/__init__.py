"""The ``tracker`` command: the only package that prints for users and exits.

``main`` is the one place that turns errors into messages and exit codes.
"""

from __future__ import annotations

import gc
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import click

from tracker.cli import (  # noqa: F401  (they register commands)
    alerting,
    inspecting,
    live,
    replaying,
    serving,
)
from tracker.cli.base import cli, configure_logging
from tracker.errors import TrackerError
from tracker.masking import mask_text

__all__ = ["cli", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; map errors to messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    configure_logging(0)
    try:
        # Not standalone: a command's ``Exit(code)`` comes back as the return value.
        code = cli.main(args=args, prog_name="tracker", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("tracker: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        _traceback(debug)
        ctx: click.Context | None = getattr(exc, "ctx", None)
        path = ctx.command_path.split(" ", 1) if ctx is not None else []
        command = f" {path[1]}" if len(path) > 1 else ""
        message = mask_text(exc.format_message())
        click.echo(f"tracker{command}: {message} (see --help)", err=True)
        return exc.exit_code
    except TrackerError as exc:
        _traceback(debug)
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(exc.message, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("tracker: interrupted", err=True)
        return 130
    except Exception as exc:
        _traceback(debug)
        hint = "" if debug else " (rerun with --debug)"
        reason = mask_text(str(exc))
        click.echo(f"tracker: unexpected {type(exc).__name__}: {reason}{hint}", err=True)
        return 1


def run() -> NoReturn:
    """The ``tracker`` program: ``main``, then exit with its code.

    A command closes what it opened (``closed_at_end``), so what is left only dies
    with the process: it is frozen out of the collector first, or the interpreter's
    collections at exit walk it all again (a fifth of a second after a replay).
    """
    code = main()
    gc.freeze()
    sys.exit(code)


def _traceback(debug: bool) -> None:
    """With ``--debug``, the traceback of the error being handled, before its usual message."""
    if debug:
        traceback.print_exc()
