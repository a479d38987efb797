"""The tracker's exceptions, each telling the caller what to do.

``cli.main`` is the one place that turns them into messages and exit codes:

- ``ConfigError``: the user must fix the config, settings or command line (exit 2).
- ``InputError``: a tape has bad rows; ``problems`` holds one ``FILE:LINE: reason`` each (exit 2).
- ``SourceUnavailableError``: a quote source failed; retry later (exit 1 if it ends a command).
- ``StorageError``: the database failed (unreachable, disk full); wraps the driver error (exit 1).

``tracker.alerts.sinks.DeliveryError`` (a sink could not take alerts) never reaches the
command line: the outbox records it and retries later.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracker.masking import mask_text


class TrackerError(Exception):
    """Base of every error the tracker raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        message = mask_text(message)  # a URL's secrets never reach a user's screen or log
        super().__init__(message)
        self.message = message
        self.problems = tuple(mask_text(problem) for problem in problems)


class ConfigError(TrackerError):
    """Config, settings or command-line usage the user must fix."""

    exit_code = 2


class InputError(TrackerError):
    """Input data (a tape) the user must fix; ``problems`` names file and line."""

    exit_code = 2


class SourceUnavailableError(TrackerError):
    """A quote source could not be read; try again later."""


class StorageError(TrackerError):
    """The database failed; the driver's error is the cause."""
