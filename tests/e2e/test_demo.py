"""``tracker demo``: the Biren first day, replayed into a fresh SQLite file, from any directory."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from commands import Tracker
from html_tree import parse


def test_demo_prints_the_published_alerts_and_first_day_summary(tracker: Tracker) -> None:
    result = tracker("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    alerts = [line for line in out.splitlines() if line.startswith("ALERT")]
    assert len(alerts) == 4
    assert alerts[0].startswith("ALERT 2026-01-02T09:20:00+08:00 gain_pct-up-50 [gap]")
    assert alerts[1].startswith("ALERT 2026-01-02T09:20:00+08:00 gain_pct-up-80 [gap]")
    assert alerts[2].startswith("ALERT 2026-01-02T10:15:00+08:00 mcap-100b:")
    assert "HK$37.86" in alerts[2]
    assert "HK$100.2bn" in alerts[2]
    assert " gain_pct-up-100:" in alerts[3]
    assert "HK$39.20" in alerts[3]
    figures = {
        "offer": ("19.60", None),
        "auction": ("35.70", "+82.14%"),  # the pre-opening auction print, 09:20
        "open": ("35.70", "+82.14%"),
        "high": ("42.88", "+118.78%"),
        "low": ("33.50", "+70.92%"),
        "close": ("34.46", "+75.82%"),
    }
    for label, (price, change) in figures.items():
        row = next(line for line in out.splitlines() if line.startswith(label + " "))
        assert price in row.split()
        if change:
            assert change in row.split()
        assert "HK$" in row  # market cap at each figure
    assert re.search(r"^VWAP\s+\d+\.\d\d\s+[+-]\d+\.\d\d%\s+HK\$", out, re.MULTILINE)
    assert re.search(r"^volume\s+150,709,945 shares", out, re.MULTILINE)
    assert re.search(r"^turnover\s+HK\$[\d,]+", out, re.MULTILINE)
    assert "synthetic" in out


def test_each_demo_uses_a_fresh_database_whose_path_it_prints(
    tracker: Tracker, workdir: Path
) -> None:
    paths = []
    for _ in range(2):
        result = tracker("demo")
        assert result.returncode == 0, result.stderr
        paths.append(re.search(r"^database\s+sqlite:///(\S+)", result.stdout, re.MULTILINE)[1])
    assert paths[0] != paths[1]
    for path in paths:
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM alerts").fetchone() == (4,)
    assert not list(workdir.iterdir())  # nothing left in the working directory


def test_demo_writes_the_days_chart_and_html_page_beside_its_database(tracker: Tracker) -> None:
    result = tracker("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    database = Path(re.search(r"^database\s+sqlite:///(\S+)$", out, re.MULTILINE)[1])
    chart = Path(re.search(r"^chart\s+(\S+)$", out, re.MULTILINE)[1])
    html = Path(re.search(r"^page\s+(\S+)$", out, re.MULTILINE)[1])
    assert chart == database.parent / "biren-2026-01-02.png"
    assert html == database.parent / "biren-2026-01-02.html"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = parse(html.read_text(encoding="utf-8"))
    assert page.find("tr", data_figure="close").find("td", cls="price").text() == "34.46"
    assert len(page.find_all("li", cls="alert")) == 4
    assert page.find("img").attrs["src"].startswith("data:image/png;base64,")
