"""``tracker report``: a stored day's summary, as text, as JSON and as an HTML page."""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from commands import Tracker, tracker_env
from factories import LISTINGS, ROOT, SAMPLE_TAPE
from html_tree import Element, parse

from tracker.reporting.chart import PHONE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXAMPLE = ROOT / "docs" / "biren-2026-01-02.html"
EXAMPLE_PNG = ROOT / "docs" / "biren-2026-01-02.png"
SHORT_DAY = "ts,price,volume\n2026-01-02 09:20:00,35.70,100\n2026-01-02 16:09:00,34.46,100\n"


def replay(tracker: Tracker, tape: Path, db: str, tmp_path: Path, config: Path = LISTINGS) -> None:
    done = tracker(
        "replay",
        str(tape),
        "--listing",
        "biren",
        "--config",
        str(config),
        "--db",
        db,
        "--alert-log",
        str(tmp_path / "a.jsonl"),
    )
    assert done.returncode == 0, done.stderr


def test_the_sample_day_report_gives_the_published_figures(
    tracker: Tracker, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, SAMPLE_TAPE, db, tmp_path)
    result = tracker(
        "report", "biren", "--date", "2026-01-02", "--json", "--config", str(LISTINGS), "--db", db
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["auction"]["price"] == 35.70
    assert data["auction"]["ts"] == "2026-01-02T09:20:00+08:00"
    assert (
        data["open"]["price"],
        data["high"]["price"],
        data["low"]["price"],
        data["close"]["price"],
    ) == (
        35.70,
        42.88,
        33.50,
        34.46,
    )
    assert data["open"]["gain_pct"] == 82.14
    assert data["close"]["gain_pct"] == 75.82
    assert data["volume"] == 150_709_945
    assert data["prev_close"] is None
    assert data["prev_close_date"] is None
    assert data["partial"] is False  # the first tick stored is the opening auction's
    assert data["first_stored"] == data["open"]
    assert data["turnover_estimated"] is False  # the sample tape carries every turnover
    assert data["vwap"]["estimated"] is False
    fires = {f["rule"]: (f["ts"], f["price"]) for f in data["first_fires"]}
    assert fires["mcap-100b"] == ("2026-01-02T10:15:00+08:00", 37.86)
    text = tracker("report", "biren", "--config", str(LISTINGS), "--db", db)
    assert text.returncode == 0
    assert "first mcap-100b at 10:15:00" in text.stdout


def test_a_later_day_reports_the_change_against_the_previous_close(
    tracker: Tracker, tmp_path: Path
) -> None:
    tape = tmp_path / "two-days.csv"
    tape.write_text(
        "ts,price,volume\n2026-01-02 09:30:00,35.00,100\n2026-01-02 16:00:00,40.00,100\n"
        "2026-01-05 09:30:00,42.00,100\n2026-01-05 16:00:00,44.00,100\n"
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path)
    data = json.loads(
        tracker("report", "biren", "--json", "--config", str(LISTINGS), "--db", db).stdout
    )
    assert data["date"] == "2026-01-05"  # the last day stored
    assert data["prev_close"] == 40.00
    assert data["prev_close_date"] == "2026-01-02"
    assert data["prev_close_ts"] == "2026-01-02T16:00:00+08:00"
    assert data["close"]["change_pct"] == 10.0
    text = tracker("report", "biren", "--config", str(LISTINGS), "--db", db).stdout
    header = next(line for line in text.splitlines() if "vs offer" in line)
    assert header.split()[-3:] == ["vs", "prev", "close"]
    prev = next(line for line in text.splitlines() if line.startswith("prev close "))
    assert prev.split()[2:4] == ["40.00", "+104.08%"]
    assert "2026-01-02" in prev.split()  # the day of that close
    close = next(line for line in text.splitlines() if line.startswith("close "))
    assert close.split()[-1] == "+10.00%"
    missing = tracker(
        "report", "biren", "--date", "2026-01-03", "--config", str(LISTINGS), "--db", db
    )
    assert missing.returncode == 2
    assert "no ticks stored for biren on 2026-01-03" in missing.stderr


def embedded_chart(page: Element) -> bytes:
    src = page.find("img").attrs["src"]
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1], validate=True)


def test_the_html_report_is_one_page_with_the_days_figures_chart_and_alerts(
    tracker: Tracker, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, SAMPLE_TAPE, db, tmp_path)
    html, png = tmp_path / "day.html", tmp_path / "day.png"
    result = tracker(
        "report", "biren", "--date", "2026-01-02", "--json", "--html", str(html),
        "--png", str(png), "--config", str(LISTINGS), "--db", db,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["close"]["price"] == 34.46  # --json as before
    assert str(html) in result.stderr
    assert str(png) in result.stderr
    text = html.read_text(encoding="utf-8")
    page = parse(text)

    rows = {
        row.attrs["data-figure"]: row for row in page.find_all("tr") if "data-figure" in row.attrs
    }
    assert list(rows) == ["offer", "auction", "open", "high", "low", "close", "VWAP"]
    price = {label: row.find("td", cls="price").text() for label, row in rows.items()}
    assert (price["open"], price["high"], price["low"], price["close"]) == (
        "35.70", "42.88", "33.50", "34.46",
    )  # fmt: skip
    assert price["offer"] == "19.60"
    assert price["auction"] == "35.70"
    assert rows["auction"].find("span", cls="when").text() == "09:20:00"
    assert rows["open"].find("td", cls="vs-offer").text() == "+82.14%"
    assert rows["close"].find("td", cls="vs-offer").text() == "+75.82%"
    assert rows["offer"].find("td", cls="market-cap").text() == "HK$51.87bn"
    assert not page.find_all("td", cls="vs-close")  # no previous day
    assert "2,646,592,710 shares" in page.find("p", cls="basis").text()
    facts = {
        tr.attrs["data-fact"]: tr.find("td").text()
        for tr in page.find_all("tr")
        if "data-fact" in tr.attrs
    }
    assert facts["volume"] == "150,709,945 shares"
    assert facts["turnover"].startswith("HK$")
    assert facts["ticks"] == "2,874"
    assert facts["alerts"] == "4"
    assert page.find("tr", data_rule="mcap-100b").text() == "mcap-100b 10:15:00 HK$37.86"

    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    items = page.find_all("li", cls="alert")
    assert [(li.attrs["id"], li.attrs["data-rule"]) for li in items] == [
        (f"alert-{r['alert_id']}", r["rule"]) for r in records
    ]
    for li, record in zip(items, records, strict=True):
        assert li.find("span", cls="rule").text() == record["rule"]
        assert li.find("time").attrs["datetime"] == record["ts"]
        assert li.find("p", cls="message").text() == record["message"]
        flags = [flag.text() for flag in li.find_all("span", cls="flag")]
        assert flags == (["gap"] if record["gap"] else [])
    assert items[2].find("span", cls="price").text() == "HK$37.86"

    chart = embedded_chart(page)
    assert chart[:8] == PNG_MAGIC
    assert chart == png.read_bytes()  # the same chart as --png
    viewport = page.find("meta", name="viewport").attrs["content"]
    assert "width=device-width" in viewport

    # Self-contained: nothing to fetch, no script.
    for element in page.iter():
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            if name in element.attrs:
                assert element.attrs[name].startswith(("data:", "#")), element.attrs
    assert not page.find_all("script")
    assert not page.find_all("link")
    assert "url(" not in page.find("style").text()
    assert "@import" not in text
    assert "http://" not in text
    assert "https://" not in text


def test_the_html_report_shows_the_change_against_the_previous_close(
    tracker: Tracker, tmp_path: Path
) -> None:
    tape = tmp_path / "two-days.csv"
    tape.write_text(
        "ts,price,volume\n2026-01-02 09:30:00,35.00,100\n2026-01-02 16:00:00,40.00,100\n"
        "2026-01-05 09:30:00,42.00,100\n2026-01-05 16:00:00,44.00,100\n"
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path)
    html = tmp_path / "day.html"
    result = tracker("report", "biren", "--html", str(html), "--config", str(LISTINGS), "--db", db)
    assert result.returncode == 0, result.stderr
    page = parse(html.read_text(encoding="utf-8"))
    prev = page.find("tr", data_figure="prev close")
    assert prev.find("td", cls="price").text() == "40.00"
    assert prev.find("span", cls="when").text() == "2026-01-02"
    assert page.find("tr", data_figure="close").find("td", cls="vs-close").text() == "+10.00%"
    headers = [th.text() for th in page.find("table", cls="figures").find_all("th")]
    assert "vs prev close" in headers
    assert not page.find_all("li", cls="alert")


NO_TURNOVER = "ts,price,volume\n2026-01-02 09:20:00,35.70,100\n2026-01-02 16:09:00,34.46,300\n"


def test_turnover_and_vwap_from_price_times_volume_are_reported_as_estimated(
    tracker: Tracker, tmp_path: Path
) -> None:
    tape = tmp_path / "day.csv"
    tape.write_text(NO_TURNOVER)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path)
    args = ("report", "biren", "--config", str(LISTINGS), "--db", db)
    data = json.loads(tracker(*args, "--json").stdout)
    assert data["turnover"] == pytest.approx(35.70 * 100 + 34.46 * 300)
    assert data["turnover_estimated"] is True
    assert data["vwap"]["estimated"] is True
    lines = tracker(*args).stdout.splitlines()
    assert next(line for line in lines if line.startswith("turnover ")).endswith("estimated")
    assert next(line for line in lines if line.startswith("VWAP ")).endswith("estimated")
    assert any(line.startswith("turnover and VWAP estimated: price x volume") for line in lines)
    html = tmp_path / "day.html"
    assert tracker(*args, "--html", str(html)).returncode == 0
    page = parse(html.read_text(encoding="utf-8"))
    facts = {
        tr.attrs["data-fact"]: tr.find("td").text()
        for tr in page.find_all("tr")
        if "data-fact" in tr.attrs
    }
    assert facts["turnover"].endswith(", estimated")
    assert page.find("tr", data_figure="VWAP").find("span", cls="estimated").text() == "estimated"
    assert page.find("p", cls="estimated").text().startswith("turnover and VWAP estimated")


@pytest.mark.parametrize(
    ("first", "partial"),
    [("09:20:00", False), ("09:30:00", False), ("09:31:30", False), ("09:45:00", True),
     ("13:05:00", True)],
)  # fmt: skip
def test_a_day_stored_from_after_its_open_is_partial_and_its_first_tick_not_the_open(
    tracker: Tracker, tmp_path: Path, first: str, partial: bool
) -> None:
    tape = tmp_path / "day.csv"
    tape.write_text(
        f"ts,price,volume\n2026-01-02 {first},37.00,5000000\n2026-01-02 16:09,34.46,100\n"
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path)
    args = ("report", "biren", "--config", str(LISTINGS), "--db", db)
    data = json.loads(tracker(*args, "--json").stdout)
    assert data["partial"] is partial
    assert data["first_stored"]["ts"] == f"2026-01-02T{first}+08:00"
    assert data["first_stored"]["price"] == 37.00
    text = tracker(*args).stdout
    labels = [line.split("  ")[0].strip() for line in text.splitlines()]
    html = tmp_path / "day.html"
    assert tracker(*args, "--html", str(html)).returncode == 0
    page = parse(html.read_text(encoding="utf-8"))
    rows = [tr.attrs["data-figure"] for tr in page.find_all("tr") if "data-figure" in tr.attrs]
    if not partial:
        assert data["open"] == data["first_stored"]
        assert "open" in labels
        assert "partial record" not in text
        assert "open" in rows
        assert not page.find_all("p", cls="partial")
        return
    assert data["open"] is None  # never called the open
    assert "open" not in labels
    assert "first stored" in labels
    [note] = [line for line in text.splitlines() if line.startswith("partial record")]
    assert f"the first tick stored is at {first}, after the open (trading from 09:30:00)" in note
    assert "open" not in rows
    assert "first stored" in rows
    assert page.find("p", cls="partial").text().startswith("partial record")


def test_names_and_messages_from_the_config_are_escaped_in_the_html_report(
    tracker: Tracker, tmp_path: Path
) -> None:
    name = "<script>alert(1)</script> & <b>Co</b>"
    config = tmp_path / "listings.toml"
    config.write_text(
        LISTINGS.read_text(encoding="utf-8").replace(
            'name = "Biren Technology"', f'name = "{name}"'
        ),
        encoding="utf-8",
    )
    tape = tmp_path / "day.csv"
    tape.write_text(SHORT_DAY)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path, config)
    html = tmp_path / "day.html"
    result = tracker("report", "biren", "--html", str(html), "--config", str(config), "--db", db)
    assert result.returncode == 0, result.stderr
    text = html.read_text(encoding="utf-8")
    assert "<script" not in text
    assert "<b>" not in text
    page = parse(text)
    assert not page.find_all("script")
    assert not page.find_all("b")
    assert page.find("title").text().startswith(name)
    assert page.find("h1").text().startswith(name)
    messages = [li.find("p", cls="message").text() for li in page.find_all("li", cls="alert")]
    assert messages
    assert all(message.startswith(name) for message in messages)


@pytest.mark.parametrize(
    ("where", "reason"),
    [("missing/day.html", "does not exist"), ("file.txt/day.html", "is not a folder")],
)
def test_an_html_path_that_cannot_be_written_is_refused_in_one_line_and_nothing_is_written(
    tracker: Tracker, tmp_path: Path, where: str, reason: str
) -> None:
    tape = tmp_path / "day.csv"
    tape.write_text(SHORT_DAY)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path)
    (tmp_path / "file.txt").write_text("not a folder")
    html, png = tmp_path / where, tmp_path / "day.png"
    result = tracker(
        "report", "biren", "--html", str(html), "--png", str(png),
        "--config", str(LISTINGS), "--db", db,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"--html {html}: ")
    assert reason in line
    assert not html.exists()
    assert not png.exists()  # all or nothing
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith((".png", ".html", ".tmp"))]


def without_charts(page: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,...", page)


def png_text(png: bytes) -> dict[str, str]:
    """The PNG's text chunks (tEXt), by keyword."""
    chunks, at = {}, 8
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        if kind == b"tEXt":
            key, _, value = png[at + 8 : at + 8 + length].partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        at += length + 12
    return chunks


def phone_chart(page: Element) -> bytes:
    [source] = page.find("picture").find_all("source")
    assert source.attrs["media"] == "(max-width: 40rem)"
    src = source.attrs["srcset"]
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1], validate=True)


@pytest.fixture(scope="module")
def made_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples as ``scripts/make_report_example.py`` makes them now."""
    out = tmp_path_factory.mktemp("examples")
    made = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_report_example.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=tracker_env(),
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    return out


def test_the_committed_html_example_is_what_the_script_makes(made_examples: Path) -> None:
    page = (made_examples / EXAMPLE.name).read_text(encoding="utf-8")
    committed = EXAMPLE.read_text(encoding="utf-8")
    # The charts are checked by what they show (below): their pixels depend on versions.
    assert without_charts(committed) == without_charts(page), "run scripts/make_report_example.py"
    for chart in (embedded_chart, phone_chart):
        fresh, kept = chart(parse(page)), chart(parse(committed))
        assert kept[:8] == PNG_MAGIC
        assert png_text(kept)["Tracker figure"] == png_text(fresh)["Tracker figure"]


def test_the_committed_png_example_shows_what_the_script_draws(made_examples: Path) -> None:
    fresh = (made_examples / EXAMPLE_PNG.name).read_bytes()
    committed = EXAMPLE_PNG.read_bytes()
    # The figure's objects (limits, lines, markers, texts, bars) as a digest the PNG carries:
    # it holds whatever matplotlib and FreeType draw the pixels with.
    assert png_text(committed)["Tracker figure"] == png_text(fresh)["Tracker figure"], (
        "run scripts/make_report_example.py"
    )
    if png_text(committed)["Tracker renderer"] == png_text(fresh)["Tracker renderer"]:
        assert committed == fresh  # the same versions draw the same bytes
    assert fresh == embedded_chart(parse((made_examples / EXAMPLE.name).read_text()))


def test_the_html_report_gives_a_phone_its_own_tall_chart_in_readable_type(
    made_examples: Path, browser: Any
) -> None:
    page = parse((made_examples / EXAMPLE.name).read_text(encoding="utf-8"))
    phone, desktop = phone_chart(page), embedded_chart(page)
    phone_size = struct.unpack(">II", phone[16:24])
    assert phone_size[1] > phone_size[0]  # tall, for a phone held upright
    assert png_text(phone)["Tracker figure"] != png_text(desktop)["Tracker figure"]
    url = (made_examples / EXAMPLE.name).as_uri()
    shown = {}
    for name, width in (("phone", 390), ("desktop", 1280)):
        context = browser.new_context(viewport={"width": width, "height": 844})
        try:
            tab = context.new_page()
            tab.goto(url)
            shown[name] = tab.locator("figure img").evaluate(
                "img => [img.currentSrc, img.naturalWidth, img.getBoundingClientRect().width,"
                " document.documentElement.scrollWidth]"
            )
        finally:
            context.close()
    src, natural, width, page_width = shown["phone"]
    assert base64.b64decode(src.split(",", 1)[1]) == phone
    assert page_width <= 390  # nothing wider than the screen
    # the phone chart's smallest text, in CSS pixels as the screen shows the image
    smallest_pt = min(PHONE.font, PHONE.label_font, PHONE.title_font)
    assert smallest_pt / 72 * PHONE.dpi * width / natural >= 10
    src, natural, width, _ = shown["desktop"]
    assert base64.b64decode(src.split(",", 1)[1]) == desktop
