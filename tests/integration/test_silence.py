"""Silences: alerts of a silenced listing or rule are stored and logged, sent nowhere else."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE, make_listing, make_rule, make_tick

from tracker.alerts.sinks import Delivery, RetryPolicy
from tracker.ingest import SILENCES_FRESH_US, Ingestor
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
    done = ingestor.ingest(LISTING, [make_tick(35.70, "2026-01-02T09:20:00")])
    return [json.loads(a.record) for a in done.alerts]


def test_a_silenced_rule_is_stored_and_logged_but_sent_nowhere_else(store: SqlStore) -> None:
    store.add_silence("biren", "gain_pct-up-80", NOW_US + 1, NOW_US - 1, "noisy")
    log, hook = NamedSink("log"), NamedSink("webhook")
    records = run(store, [log, hook])
    assert [(r["rule"], r["silenced"]) for r in records] == [
        ("gain_pct-up-50", False),
        ("gain_pct-up-80", True),
    ]
    assert len(log.got) == 2
    assert hook.got == [records[0]["alert_id"]]
    assert store.count("alerts") == 2


def test_a_silenced_listing_silences_every_rule_and_an_ended_one_nothing(store: SqlStore) -> None:
    store.add_silence("biren", None, NOW_US + 1, NOW_US - 1, None)
    assert all(r["silenced"] for r in run(store, [NamedSink("log")]))


def test_a_silence_that_ended_or_has_not_begun_silences_nothing(store: SqlStore) -> None:
    store.add_silence("biren", None, NOW_US, NOW_US - 10, None)  # ended at NOW
    store.add_silence("biren", None, NOW_US + 10, NOW_US + 1, None)  # not begun
    assert not any(r["silenced"] for r in run(store, [NamedSink("log")]))


def test_a_silence_set_meanwhile_holds_within_a_second_and_one_in_force_ends_on_time(
    store: SqlStore,
) -> None:
    wall = [NOW_US]
    ingestor = Ingestor(store, [NamedSink("log")], wall_us=lambda: wall[0])  # type: ignore[list-item]
    listing = make_listing(rules=(make_rule(50), make_rule(80), make_rule(100), make_rule(110)))

    def fired(price: float, at: str) -> list[tuple[str, bool]]:
        done = ingestor.ingest(listing, [make_tick(price, at)])
        return [
            (json.loads(a.record)["rule"], json.loads(a.record)["silenced"]) for a in done.alerts
        ]

    assert fired(29.40, "2026-01-02T09:30:00") == [("gain_pct-up-50", False)]
    # another process silences the listing until half a freshness window after it is seen
    read_at = NOW_US + SILENCES_FRESH_US
    ends = read_at + SILENCES_FRESH_US // 2
    store.add_silence("biren", None, ends, NOW_US, None)
    wall[0] = read_at
    assert fired(35.28, "2026-01-02T09:31:00") == [("gain_pct-up-80", True)]
    wall[0] = ends  # ended before the read is stale: the next alert is not silenced
    assert fired(39.20, "2026-01-02T09:32:00") == [("gain_pct-up-100", False)]


def test_silence_commands_round_trip(tracker: Tracker, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    common = ["--config", str(LISTINGS), "--db", db]
    made = tracker(
        "alerts", "silence", "--listing", "biren", "--rule", "mcap-100b", "--for", "2h", *common
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("silence 1: rule mcap-100b of biren until")
    listed = tracker("alerts", "silences", *common)
    assert "1: biren mcap-100b until" in listed.stdout
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
    assert tracker("alerts", "unsilence", "1", *common).returncode == 0
    assert "no silence in force" in tracker("alerts", "silences", *common).stdout
    bad = tracker(
        "alerts", "silence", "--listing", "biren", "--rule", "nope", "--for", "2h", *common
    )
    assert bad.returncode == 2
    assert "no rule 'nope'" in bad.stderr
    both = tracker(
        "alerts", "silence", "--listing", "biren", "--for", "2h", "--until", "2030-01-01", *common
    )
    assert both.returncode == 2
