"""Regenerate the report examples in docs/: the chart and HTML page of the bundled sample day.

Replays ``tracker/data/biren-2026-01-02.csv`` with the shipped ``config/listings.toml``
into a temporary SQLite file, then runs the command a user would::

    tracker report biren --date 2026-01-02 --png biren-2026-01-02.png --html biren-2026-01-02.html

Usage::

    python scripts/make_report_example.py [--out FOLDER]     # default: docs/

The page holds no wall-clock time, so it is the same on every run, and so is each
chart with the same matplotlib and FreeType (no date in the PNG). Across versions the
pixels differ, so each PNG carries a digest of the figure's objects (limits, lines,
markers, texts, bars) in a text chunk ("Tracker figure") and the versions that drew it
("Tracker renderer"): the tests compare the committed examples with fresh ones by the
page's text and the charts' digests, and byte for byte when the versions match.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "biren-2026-01-02"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder [default: docs/]")
    out = parser.parse_args().out

    from tracker.cli import main as tracker

    config = str(ROOT / "config" / "listings.toml")
    with tempfile.TemporaryDirectory(prefix="report-example-") as folder:
        db = f"sqlite:///{Path(folder) / 'tracker.db'}"
        log = str(Path(folder) / "alerts.jsonl")
        tape = str(ROOT / "tracker" / "data" / f"{NAME}.csv")
        replayed = tracker(
            ["-q", "replay", tape, "--listing", "biren", "--config", config, "--db", db,
             "--alert-log", log]
        )  # fmt: skip
        if replayed:
            return replayed
        return tracker(
            ["report", "biren", "--date", "2026-01-02", "--config", config, "--db", db,
             "--png", str(out / f"{NAME}.png"), "--html", str(out / f"{NAME}.html")]
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
