"""Shared fixtures: the repository's paths and a clean working directory for commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from commands import Tracker, tracker_command, tracker_env
from factories import LISTINGS, ROOT, SAMPLE_TAPE

__all__ = ["LISTINGS", "ROOT", "SAMPLE_TAPE"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with no TRACKER_* variables set."""
    import os

    for name in list(os.environ):
        if name.startswith("TRACKER_") and name != "TRACKER_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


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
