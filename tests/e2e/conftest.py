"""Running the ``tracker`` command as a user does: a real process, its exit code and output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from commands import Tracker, tracker_command, tracker_env


@pytest.fixture
def tracker(workdir: Path) -> Tracker:
    """Runs ``tracker ARGS`` in the test's working directory."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*tracker_command(), *args],
            capture_output=True,
            text=True,
            cwd=workdir,
            env=tracker_env(**(env or {})),
            timeout=120,
            check=False,
        )

    return run
