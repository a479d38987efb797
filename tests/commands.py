"""Starting the installed ``tracker`` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Tracker = Callable[..., subprocess.CompletedProcess[str]]


def tracker_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's TRACKER_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(extra)
    return env


def tracker_command() -> list[str]:
    """The console script beside this Python, or the module if it is not installed as a script."""
    script = Path(sys.executable).with_name("tracker")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracker.cli"]


def replay_command(tape: Path, folder: Path, listings: Path) -> list[str]:
    """``tracker -vv replay TAPE`` of Biren into a SQLite file and an alert log in ``folder``."""
    return [
        *tracker_command(),
        "-vv",
        "replay",
        str(tape),
        "--listing",
        "biren",
        "--config",
        str(listings),
        "--db",
        f"sqlite:///{folder / 'tracker.db'}",
        "--alert-log",
        str(folder / "alerts.jsonl"),
    ]
