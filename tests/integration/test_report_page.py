"""The HTML page of a day's report, rendered from hand-made alerts: flags and notices."""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct

from factories import make_listing, make_tick, ts_us
from html_tree import parse

from tracker.core.metrics import summarize
from tracker.core.model import StoredAlert
from tracker.reporting.page import render_page
from tracker.reporting.report import DayReport


def stored(rule: str, ts: str, silenced: bool = False, **fields: object) -> StoredAlert:
    record = {"rule": rule, "ts": ts, "message": f"{rule} fired", **fields}
    return StoredAlert(f"id-{rule}", "biren", rule, ts_us(ts), 0, json.dumps(record), silenced)


def test_every_flag_and_source_notice_is_shown_with_its_alert() -> None:
    listing = make_listing()
    ticks = [make_tick(35.70, "2026-01-02T09:20:00+08:00"), make_tick(30.0, "2026-01-02T15:00:00")]
    alerts = [
        stored("up-50", "2026-01-02T09:20:00+08:00", kind="gain_pct", direction="up",
               price=35.70, gain_pct=82.14, gap=True, late=True),
        stored("down-32", "2026-01-02T14:00:00+08:00", silenced=True, kind="price",
               direction="down", price=31.98, gain_pct=63.16, inferred=True),
        stored("source-down", "2026-01-02T14:30:00+08:00", kind="source", event="down"),
    ]  # fmt: skip
    report = DayReport(listing, dt.date(2026, 1, 2), summarize(ticks), len(alerts))
    page = parse(render_page(report, alerts, None))
    items = {li.attrs["data-rule"]: li for li in page.find_all("li", cls="alert")}
    flags = {
        rule: [f.text() for f in li.find_all("span", cls="flag")] for rule, li in items.items()
    }
    assert flags == {
        "up-50": ["gap", "late"],
        "down-32": ["inferred", "silenced"],
        "source-down": [],
    }
    assert [li.classes[-1] for li in items.values()] == ["up", "down", "notice"]
    assert items["down-32"].find("span", cls="price").text() == "HK$31.98"
    assert items["down-32"].find("span", cls="gain").text() == "+63.16%"
    assert not items["source-down"].find_all("span", cls="price")
    assert items["source-down"].find("p", cls="message").text() == "source-down fired"
    assert not page.find_all("img")  # no chart given


def png(width: int, height: int) -> bytes:
    """Enough of a PNG for the page: the signature and an IHDR chunk with its size."""
    return b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + struct.pack(">II", width, height) + b"\0" * 9


def test_narrow_screens_get_the_phone_chart_and_wider_ones_the_desktop_chart() -> None:
    listing = make_listing()
    report = DayReport(listing, dt.date(2026, 1, 2), summarize([make_tick()]), 0)
    page = parse(render_page(report, [], png(1210, 715), png(920, 1520)))
    [source] = page.find("picture").find_all("source")
    assert source.attrs["media"] == "(max-width: 40rem)"
    assert (source.attrs["width"], source.attrs["height"]) == ("920", "1520")
    assert base64.b64decode(source.attrs["srcset"].split(",")[1]) == png(920, 1520)
    img = page.find("picture").find("img")
    assert (img.attrs["width"], img.attrs["height"]) == ("1210", "715")
    only_desktop = parse(render_page(report, [], png(1210, 715)))
    assert not only_desktop.find_all("source")
    assert only_desktop.find("img").attrs["width"] == "1210"
