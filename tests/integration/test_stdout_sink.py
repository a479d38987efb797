"""The stdout sink: a line per alert once committed, built from ``[sinks.stdout]``, kept nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import LISTINGS

from tracker.alerts.registry import SINKS, build_sinks
from tracker.alerts.settings import SinksSettings
from tracker.alerts.sinks import Delivery, JsonlAlertLog
from tracker.alerts.stdout import StdoutSink
from tracker.bootstrap import build_app, build_settings
from tracker.config import load_listings
from tracker.core.model import StoredAlert
from tracker.store.deliveries import SqlDeliveries

GREEN_ALERT = "\x1b[32m\x1b[1mALERT\x1b[0m"


def make_alert(n: int = 1, *, silenced: bool = False, **fields: object) -> StoredAlert:
    record = {
        "alert_id": f"{n:032x}",
        "ts": "2026-01-02T09:20:00+08:00",
        "rule": "gain_pct-up-50",
        "direction": "up",
        "message": f"alert {n}",
        "silenced": silenced,
        **fields,
    }
    return StoredAlert(f"{n:032x}", "biren", "gain_pct-up-50", n, 0, json.dumps(record), silenced)


def test_the_stdout_sink_prints_a_line_per_alert_and_none_for_a_silenced_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = StdoutSink()
    sink.deliver([Delivery(make_alert(1, gap=True)), Delivery(make_alert(2, silenced=True))])
    sink.deliver([Delivery(make_alert(3, kind="source", rule="down"))])
    assert capsys.readouterr().out == (
        "ALERT 2026-01-02T09:20:00+08:00 gain_pct-up-50 [gap]: alert 1\n"
        "ALERT 2026-01-02T09:20:00+08:00 down: alert 3\n"
    )


def test_the_stdout_sink_colours_its_lines_when_told_to_and_not_when_piped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    StdoutSink(color=True).deliver([Delivery(make_alert(1))])
    StdoutSink(color=None).deliver([Delivery(make_alert(2))])  # auto: capsys is no terminal
    coloured, plain = capsys.readouterr().out.splitlines()
    assert coloured.startswith(f"{GREEN_ALERT} 2026-01-02T09:20:00+08:00 \x1b[32mgain_pct-up-50")
    assert plain == "ALERT 2026-01-02T09:20:00+08:00 gain_pct-up-50: alert 2"


@pytest.mark.parametrize(
    ("stdout", "built"),
    [
        ({}, [None]),
        ({"color": "always"}, [True]),
        ({"color": "never"}, [False]),
        ({"enabled": False}, []),
    ],
)
def test_stdout_is_built_from_its_settings_apart_from_the_recorded_sinks(
    tmp_path: Path, stdout: dict[str, object], built: list[bool | None]
) -> None:
    settings = SinksSettings.model_validate({"stdout": stdout})
    shown = build_sinks(settings, tmp_path / "alerts.jsonl", recorded=False)
    assert [sink.color if isinstance(sink, StdoutSink) else sink for sink in shown] == built
    recorded = build_sinks(settings, tmp_path / "alerts.jsonl")
    assert [type(sink) for sink in recorded] == [JsonlAlertLog]


def test_every_sinks_table_has_its_kind_in_the_registry() -> None:
    assert list(SINKS) == list(SinksSettings.model_fields)


def test_an_app_prints_each_committed_alert_but_records_no_delivery_to_stdout(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.alerts.record import check_notice

    listings = load_listings(LISTINGS)
    settings = build_settings(f"sqlite:///{workdir / 'tracker.db'}", str(workdir / "a.jsonl"))
    notice = check_notice(listings.get("biren"), 1_767_316_800_000_000)
    app = build_app(listings, settings)
    try:
        app.ingestor.notify(notice)
        assert capsys.readouterr().out.startswith("ALERT ")
        states = SqlDeliveries(app.store.engine).states()
        assert {sink for by_sink in states.values() for sink in by_sink} == {"log"}
    finally:
        app.close()
    quiet = build_app(listings, settings, dry_run=True, show_alerts=False)
    try:
        quiet.ingestor.notify(notice)
        assert capsys.readouterr().out == ""
    finally:
        quiet.close()
