"""Shared fixtures: the repository's paths and a clean working directory for commands."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import Tracker, tracker_command, tracker_env
from factories import LISTINGS, ROOT, SAMPLE_TAPE

__all__ = ["LISTINGS", "ROOT", "SAMPLE_TAPE"]


@pytest.fixture(scope="session", autouse=True)
def own_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One temporary folder for the whole run, removed at its end: every command the tests
    start (``tracker demo``'s folder, benchmarks, the browser's profile) makes its
    temporary files there, not in /tmp."""
    import shutil
    import tempfile

    tmp_path_factory.getbasetemp()  # pytest's own folders stay where pytest keeps them
    folder = Path(tempfile.mkdtemp(prefix="tracker-tests-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", None)  # recomputed from TMPDIR on next use
        yield folder
    tempfile.tempdir = None
    shutil.rmtree(folder, ignore_errors=True)


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
