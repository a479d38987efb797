"""Files a command writes for the user: the day's chart and HTML page, all whole or none.

Each file is written to a temporary file beside it and renamed into place only
once every file is written, so a failure leaves no file half-written and no
temporary file behind. A symbolic link is written through (the link stays), and
a device or a pipe is written in place, never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tracker.errors import ConfigError, TrackerError

if TYPE_CHECKING:
    from tracker.reporting.report import DayReport

# The user's path is wrong (exit 2); anything else (a full disk) is an operational failure.
_USER_ERRORS = frozenset(
    {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EROFS}
)


class Output(NamedTuple):
    """A file to write: the option that named it (for messages), its path and its bytes."""

    option: str
    path: Path
    data: bytes
    what: str  # "chart", "page": how the command names the file when it is written


def day_outputs(
    report: DayReport, *, png: Path | None = None, html: Path | None = None
) -> list[Output]:
    """The day's chart (``png``) and HTML page (``html``) as files to write; none if neither."""
    if png is None and html is None:
        return []
    from tracker.reporting.page import day_files

    made = day_files(report, page=html is not None)
    outputs = [Output("--png", png, made.chart, "chart")] if png is not None else []
    if html is not None:
        assert made.page is not None  # asked for
        outputs.append(Output("--html", html, made.page, "page"))
    return outputs


def check_outputs(outputs: Sequence[tuple[str, Path]]) -> None:
    """Refuse, before any work, paths that cannot be written: a missing folder, a folder, twice."""
    seen: dict[Path, str] = {}
    for option, path in outputs:
        if path.is_dir():
            raise ConfigError(f"{option} {path}: is a folder")
        same = seen.setdefault(path.resolve(), option)
        if same != option:
            raise ConfigError(f"{option} {path}: the same file as {same}")
        target = _target(path)
        if target is None:
            continue  # a device or a pipe, written in place
        folder = target.parent
        if not folder.exists():
            raise ConfigError(f"{option} {path}: folder {folder} does not exist")
        if not folder.is_dir():
            raise ConfigError(f"{option} {path}: {folder} is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} {path}: cannot write in folder {folder}")


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write every file whole, or leave none: temporary files first, then renames.

    A path that is a device or a pipe (``/dev/stdout``) is written in place, after
    the files: renaming a file over it would replace the device.
    """
    staged: list[tuple[Output, Path, str]] = []
    in_place: list[Output] = []
    try:
        for output in outputs:
            target = _target(output.path)
            if target is None:
                in_place.append(output)
            else:
                staged.append((output, target, _stage(output, target)))
        for output, target, temporary in staged:
            try:
                os.replace(temporary, target)
            except OSError as exc:
                raise _failure(output, exc) from exc
    finally:
        for _, _, temporary in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
    for output in in_place:
        try:
            with output.path.open("wb") as file:
                file.write(output.data)
        except OSError as exc:
            raise _failure(output, exc) from exc


def _target(path: Path) -> Path | None:
    """The regular file a path names, through symbolic links; None for a device or a pipe."""
    try:
        mode: int | None = path.stat().st_mode
    except OSError:
        mode = None  # nothing there yet, or unreadable: writing it will say why
    if mode is not None and not stat.S_ISREG(mode):
        return None
    return Path(os.path.realpath(path))


def _stage(output: Output, target: Path) -> str:
    """Write ``output`` to a temporary file beside ``target``; its name."""
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _failure(output, exc) from exc
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(output.data)
        os.chmod(name, _mode(target))
    except OSError as exc:
        os.unlink(name)
        raise _failure(output, exc) from exc
    return name


def _mode(target: Path) -> int:
    """The permissions a replaced file keeps, or those open() gives a new one (not 0600)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _failure(output: Output, exc: OSError) -> TrackerError:
    reason = exc.strerror or str(exc)
    message = f"{output.option} {output.path}: cannot write ({reason})"
    return ConfigError(message) if exc.errno in _USER_ERRORS else TrackerError(message)
