"""The built wheel carries what an installed tracker needs: migrations, sample, listing, page."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from commands import tracker_env
from factories import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("listing_tracker-*.whl")
    return built


def test_wheel_ships_migrations_sample_day_and_listing(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = {p.name for p in (ROOT / "db" / "versions").glob("*.py")}
    assert versions
    for name in versions:
        assert f"tracker/_bundled/db/versions/{name}" in names
    assert "tracker/_bundled/db/env.py" in names
    assert "tracker/_bundled/config/listings.toml" in names
    assert "tracker/data/biren-2026-01-02.csv" in names
    assert "tracker/templates/report.html" in names
    for page_file in ("index.html", "app.js", "app.css"):  # the live page, served offline
        assert f"tracker/web/static/{page_file}" in names
    for vendored in ("lightweight-charts.standalone.production.js", "LICENSE"):  # its chart
        assert f"tracker/web/static/vendor/{vendored}" in names


def test_installed_wheel_runs_the_demo_away_from_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tracker.cli; print(tracker.cli.__file__, file=sys.stderr); "
            "sys.exit(tracker.cli.main(['demo']))",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=tracker_env(PYTHONPATH=str(target)),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stderr  # the installed copy ran, not the checkout
    assert result.stdout.count("ALERT ") == 4
