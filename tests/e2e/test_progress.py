"""The replay's progress bar: on a terminal only, with ticks/s and the time left."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from commands import Tracker, tracker_command, tracker_env
from factories import LISTINGS, SAMPLE_TAPE


def replay_args(workdir: Path, *extra: str) -> list[str]:
    return [
        "replay",
        str(SAMPLE_TAPE),
        "--listing",
        "biren",
        "--config",
        str(LISTINGS),
        "--db",
        f"sqlite:///{workdir / 't.db'}",
        "--alert-log",
        str(workdir / "alerts.jsonl"),
        *extra,
    ]


def on_a_terminal(workdir: Path, *args: str) -> tuple[int, str]:
    """Run the tracker with stderr on a pseudo-terminal; its exit code and what it showed there."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    child = subprocess.Popen(
        [*tracker_command(), *args],
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        cwd=workdir,
        env=tracker_env(TRACKER_REPLAY__CHUNK_SIZE="500"),
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # the terminal closed: the child is gone
            break
        if not data:
            break
        shown += data
    os.close(controller)
    return child.wait(timeout=120), shown.decode(errors="replace")


def test_a_replay_on_a_terminal_shows_progress_with_rate_and_time_left(workdir: Path) -> None:
    code, shown = on_a_terminal(workdir, *replay_args(workdir))
    assert code == 0, shown
    assert "2.87k/2.87k" in shown  # the bar reached every tick of the sample day
    assert "ticks/s" in shown
    assert "<" in shown  # tqdm's elapsed<remaining


def test_a_quiet_replay_on_a_terminal_shows_no_progress(workdir: Path) -> None:
    code, shown = on_a_terminal(workdir, "-q", *replay_args(workdir))
    assert code == 0, shown
    assert "ticks/s" not in shown


def test_a_piped_replay_prints_no_progress(tracker: Tracker, workdir: Path) -> None:
    result = tracker(*replay_args(workdir), env={"TRACKER_REPLAY__CHUNK_SIZE": "500"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "ticks/s" not in result.stdout


def test_a_paced_replay_on_a_terminal_shows_progress_too(workdir: Path) -> None:
    tape = workdir / "minute.csv"  # a minute of the sample day, played at 60x: a second
    rows = SAMPLE_TAPE.read_text().splitlines()
    tape.write_text(
        "\n".join([rows[0], *[r for r in rows[1:] if r.startswith("2026-01-02 09:3")][:40]]) + "\n"
    )
    args = replay_args(workdir, "--speed", "600")
    args[1] = str(tape)

    code, shown = on_a_terminal(workdir, *args)

    assert code == 0, shown
    assert "40.0/40.0" in shown  # the bar reached every tick
    assert "ticks/s" in shown
