"""Silences: alerts of a silenced listing or rule are stored and logged, sent nowhere else."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE, make_listing, make_rule, make_tick, ts_us

from tracker.alerts.outbox import Outbox
from tracker.alerts.sinks import Delivery, RetryPolicy
from tracker.core.batch import TickArrays
from tracker.core.model import StoredAlert
from tracker.runtime.ingest import SILENCES_FRESH_US, Ingestor
from tracker.store.deliveries import SqlDeliveries
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore

NOW_US = 1_800_000_000_000_000  # the wall clock the test sets


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    ensure_schema(engine)
    yield SqlStore(engine)
    engine.dispose()


class NamedSink:
    """A sink that keeps the ids it is handed (the AlertSink interface)."""

    batch_size = 100
    local = False
    retry = RetryPolicy()

    def __init__(self, name: str) -> None:
        self.name = name
        self.got: list[str] = []

    def deliver(self, batch: Sequence[Delivery]) -> None:
        self.got += [delivery.alert.alert_id for delivery in batch]

    def close(self) -> None:
        pass


LISTING = make_listing(rules=(make_rule(50), make_rule(80)))


def run(store: SqlStore, sinks: list[NamedSink]) -> list[dict]:  # type: ignore[type-arg]
    ingestor = Ingestor(store, sinks, wall_us=lambda: NOW_US)  # type: ignore[arg-type]
    done = ingestor.ingest(
        LISTING, TickArrays.from_ticks([make_tick(35.70, "2026-01-02T09:20:00")])
    )
    return [json.loads(a.record) for a in done.alerts]


AT = "2026-01-02T09:20:00"  # the tick ``run`` ingests: its instant is what a silence covers


def test_a_silenced_rule_is_stored_and_logged_but_sent_nowhere_else(store: SqlStore) -> None:
    store.add_silence("biren", "gain_pct-up-80", ts_us(AT) + 1, NOW_US, "noisy", ts_us(AT))
    log, hook = NamedSink("log"), NamedSink("webhook")
    records = run(store, [log, hook])
    assert [(r["rule"], r["silenced"]) for r in records] == [
        ("gain_pct-up-50", False),
        ("gain_pct-up-80", True),
    ]
    assert len(log.got) == 2
    assert hook.got == [records[0]["alert_id"]]
    assert store.count("alerts") == 2


def test_a_silenced_listing_silences_every_rule(store: SqlStore) -> None:
    store.add_silence("biren", None, ts_us(AT) + 1, NOW_US, None)  # from any time before
    assert all(r["silenced"] for r in run(store, [NamedSink("log")]))


def test_a_silence_is_in_event_time_not_wall_time(store: SqlStore) -> None:
    store.add_silence("biren", None, NOW_US + 10, NOW_US - 10, None, NOW_US - 10)  # wall "now"
    store.add_silence("biren", None, ts_us(AT), NOW_US, None)  # ended at the tick
    store.add_silence("biren", None, ts_us(AT) + 60_000_000, NOW_US, None, ts_us(AT) + 1)  # later
    store.add_silence("moore", None, ts_us(AT) + 1, NOW_US, None)  # another listing
    assert not any(r["silenced"] for r in run(store, [NamedSink("log")]))


def test_a_silence_set_meanwhile_holds_within_a_second_and_covers_its_span_of_ticks(
    store: SqlStore,
) -> None:
    wall = [NOW_US]
    ingestor = Ingestor(store, [NamedSink("log")], wall_us=lambda: wall[0])  # type: ignore[list-item]
    listing = make_listing(rules=(make_rule(50), make_rule(80), make_rule(100), make_rule(110)))

    def fired(price: float, at: str) -> list[tuple[str, bool]]:
        done = ingestor.ingest(listing, TickArrays.from_ticks([make_tick(price, at)]))
        return [
            (json.loads(a.record)["rule"], json.loads(a.record)["silenced"]) for a in done.alerts
        ]

    assert fired(29.40, "2026-01-02T09:30:00") == [("gain_pct-up-50", False)]
    # another process silences the listing's ticks up to 09:32, seen within a second
    store.add_silence("biren", None, ts_us("2026-01-02T09:32:00"), NOW_US, None)
    assert fired(35.28, "2026-01-02T09:31:00") == [("gain_pct-up-80", False)]  # not read yet
    wall[0] = NOW_US + SILENCES_FRESH_US
    assert fired(39.20, "2026-01-02T09:31:30") == [("gain_pct-up-100", True)]
    assert fired(41.16, "2026-01-02T09:32:00") == [("gain_pct-up-110", False)]  # span over


def test_silence_commands_round_trip(tracker: Tracker, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    common = ["--config", str(LISTINGS), "--db", db]
    made = tracker(
        "alerts", "silence", "--listing", "biren", "--rule", "mcap-100b",
        "--until", "2026-01-02T16:10", "--reason", "known", *common,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout == (
        "silence 1: rule mcap-100b of biren until 2026-01-02T16:10:00+08:00 "
        "(ticks from 2026-01-02T00:00:00+08:00, live or replayed)\n"
    )
    later = tracker("alerts", "silence", "--listing", "biren", "--for", "2h", *common)
    assert later.returncode == 0, later.stderr  # from now: no tick of the sample day
    listed = tracker("alerts", "silences", *common).stdout.splitlines()
    assert listed[0] == (
        "1: biren mcap-100b from 2026-01-02T00:00:00+08:00 until 2026-01-02T16:10:00+08:00 (known)"
    )
    assert listed[1].startswith("2: biren every rule from ")
    replayed = tracker(
        "replay",
        str(SAMPLE_TAPE),
        "--listing",
        "biren",
        *common,
        "--alert-log",
        str(tmp_path / "a.jsonl"),
    )
    assert replayed.returncode == 0, replayed.stderr
    logged = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["rule"] for r in logged if r["silenced"]] == ["mcap-100b"]
    printed = [line for line in replayed.stdout.splitlines() if line.startswith("ALERT")]
    assert len(printed) == len(logged) - 1  # stdout is a sink: it does not get a silenced one
    assert not any("mcap-100b" in line for line in printed)
    assert tracker("alerts", "unsilence", "1", *common).returncode == 0
    assert tracker("alerts", "unsilence", "2", *common).returncode == 0
    assert tracker("alerts", "silences", *common).stdout == "no silences\n"
    bad = tracker(
        "alerts", "silence", "--listing", "biren", "--rule", "nope", "--for", "2h", *common
    )
    assert bad.returncode == 2
    assert "no rule 'nope'" in bad.stderr
    both = tracker(
        "alerts", "silence", "--listing", "biren", "--for", "2h", "--until", "2030-01-01", *common
    )
    assert both.returncode == 2


def test_a_pass_that_takes_just_committed_alerts_sends_a_silenced_one_to_the_log_only(
    store: SqlStore,
) -> None:
    log, hook = NamedSink("log"), NamedSink("webhook")
    outbox = Outbox(SqlDeliveries(store.engine), [log, hook], lambda: NOW_US)
    outbox.dispatch()  # it read the store and left nothing behind: the next pass reads none
    loud, quiet = (
        StoredAlert(f"{n:032x}", "biren", "r", n, 0, "{}", silenced=n == 2) for n in (1, 2)
    )
    store.add_alerts([loud, quiet], ["log", "webhook"])
    outbox.committed([loud, quiet])
    outbox.dispatch(fresh=True)
    assert log.got == [loud.alert_id, quiet.alert_id]
    assert hook.got == [loud.alert_id]
