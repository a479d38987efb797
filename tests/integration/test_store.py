"""The storage contract, run against a SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import SAMPLE_TAPE, make_listing, make_rows, make_rule, make_tick, ts_us

from tracker.alerts.sinks import JsonlAlertLog
from tracker.core.batch import TickArrays
from tracker.core.model import Extremes, ListingState, RuleState, StoredAlert, Tick
from tracker.errors import StorageError
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import replay_tape
from tracker.sources.tape import Tape, read_tape
from tracker.store import bulk
from tracker.store.deliveries import SqlDeliveries
from tracker.store.engine import create_engine, current_revision, ensure_schema
from tracker.store.repository import BatchRows, Heartbeat, PollerState, SqlStore
from tracker.store.tables import SCHEMA_REVISION


def pending(store: SqlStore, sink: str) -> list[StoredAlert]:
    """A sink's pending alerts, due now, in store order (through the outbox's queries)."""
    return [due.alert for due in SqlDeliveries(store.engine).due(sink, 2**62)]


@pytest.fixture(params=["executemany", "bulk"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the store writes a batch's ticks: the driver's executemany (a poll's few), or the
    bulk way (many-row INSERTs on SQLite, a COPY on PostgreSQL: a replay's chunk)."""
    monkeypatch.setattr(bulk, "BULK_ROWS", 1 if request.param == "bulk" else 10**9)
    return str(request.param)


def biren():
    return make_listing(
        rules=(
            make_rule(50),
            make_rule(80),
            make_rule(100e9, kind="market_cap", id="mcap-100b"),
            make_rule(100),
            make_rule(19.60, kind="price", direction="down", id="below-offer"),
        )
    )


def test_fresh_database_is_migrated_on_first_use(db_url: str) -> None:
    engine = create_engine(db_url)
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    ensure_schema(engine)  # a second time is a no-op
    assert current_revision(engine) == SCHEMA_REVISION
    engine.dispose()


def test_state_round_trips_with_the_ticks(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    ticks = [
        make_tick(35.70, "2026-01-02T09:20:00+08:00"),
        make_tick(35.72, "2026-01-02T09:20:00+08:00", seq=1, volume=None),
    ]
    state = ListingState(ticks[-1].ts_us, 1, {("r", 29_400_000): RuleState("r", 29_400_000, False)})
    store.save_listing(biren())
    store.commit([make_rows("biren", ticks, [], state)], ["log"])
    assert store.load_state("biren") == state
    assert store.ticks("biren") == ticks
    assert store.load_state("other") == ListingState()


def test_a_failed_batch_writes_nothing(
    db_url: str, open_store: Callable[[str], SqlStore], writer: str
) -> None:
    store = open_store(db_url)
    tick = make_tick()
    store.commit([make_rows("biren", [tick], [], ListingState(tick.ts_us, 0))], ["log"])
    later = make_tick(36.0, "2026-01-02T09:31:00+08:00")
    with pytest.raises(StorageError, match="database"):
        # the first tick again collides with its stored copy: the whole batch is rolled back
        store.commit([make_rows("biren", [later, tick], [], ListingState(later.ts_us, 0))], ["log"])
    assert store.ticks("biren") == [tick]
    assert store.load_state("biren").last_ts_us == tick.ts_us


def test_pending_alerts_follow_store_order_per_sink(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    alerts = [
        StoredAlert(
            f"{i:032x}", "biren", f"rule-{i}", make_tick().ts_us + i, 0, json.dumps({"n": i})
        )
        for i in (3, 1, 2)
    ]
    store.commit(
        [make_rows("biren", [make_tick()], alerts, ListingState(make_tick().ts_us, 0))],
        ["log", "hook"],
    )
    assert [a.alert_id for a in pending(store, "log")] == [a.alert_id for a in alerts]
    SqlDeliveries(store.engine).delivered("log", [alerts[0].alert_id])
    assert [a.rule_id for a in pending(store, "log")] == ["rule-1", "rule-2"]
    assert len(pending(store, "hook")) == 3


def test_ingesting_the_same_ticks_twice_stores_and_fires_once(
    db_url: str, tmp_path: Path, open_store: Callable[[str], SqlStore]
) -> None:
    log = tmp_path / "alerts.jsonl"
    ticks = [make_tick(30.0, "2026-01-02T09:20:00"), make_tick(36.0, "2026-01-02T09:30:00")]
    first = Ingestor(open_store(db_url), [JsonlAlertLog(log)]).ingest(
        biren(), TickArrays.from_ticks(ticks)
    )
    again = Ingestor(open_store(db_url), [JsonlAlertLog(log)]).ingest(
        biren(), TickArrays.from_ticks(ticks)
    )
    assert (first.stored, len(first.alerts)) == (2, 2)
    assert (again.stored, again.already_stored, again.alerts) == (0, 2, ())
    assert len(log.read_text().splitlines()) == 2


def test_sample_day_replays_to_the_published_alerts_once(
    db_url: str, tmp_path: Path, open_store: Callable[[str], SqlStore]
) -> None:
    listing = biren()
    tape = read_tape(SAMPLE_TAPE, listing.timezone)
    log = tmp_path / "alerts.jsonl"
    for _ in range(2):
        store = open_store(db_url)
        replay_tape(listing, tape, Ingestor(store, [JsonlAlertLog(log)]), chunk_size=500)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["rule"], r["ts"], r["price"], r["gap"]) for r in records] == [
        ("gain_pct-up-50", "2026-01-02T09:20:00+08:00", 35.70, True),
        ("gain_pct-up-80", "2026-01-02T09:20:00+08:00", 35.70, True),
        ("mcap-100b", "2026-01-02T10:15:00+08:00", 37.86, False),
        ("gain_pct-up-100", records[3]["ts"], 39.20, False),
    ]
    assert store.count("ticks") == len(tape.ticks)
    assert store.count("alerts") == 4
    assert [json.loads(a.record) for a in store.alerts("biren")] == records


def test_chunk_size_does_not_change_what_is_stored(
    tmp_path: Path, open_store: Callable[[str], SqlStore]
) -> None:
    listing = biren()
    tape = read_tape(SAMPLE_TAPE, listing.timezone)
    results = []
    for chunk in (1, 7, 10_000):
        store = open_store(f"sqlite:///{tmp_path / f'c{chunk}.db'}")
        replay_tape(listing, tape, Ingestor(store, []), chunk_size=chunk if chunk > 1 else 997)
        results.append(
            ([a.record for a in store.alerts()], store.ticks("biren"), store.load_state("biren"))
        )
    assert results[0] == results[1] == results[2]


def test_unreachable_database_is_a_storage_error() -> None:
    engine = create_engine("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(StorageError, match=r"127\.0\.0\.1"):
        ensure_schema(engine)
    engine.dispose()


def test_tables_match_the_migrations(db_url: str) -> None:
    from tracker.store.tables import metadata

    engine = create_engine(db_url)
    ensure_schema(engine)
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        stored = {c["name"] for c in inspector.get_columns(table.name)}
        assert stored == set(table.columns.keys()), table.name
    engine.dispose()


# --- live polling: extremes, notices, last tick, totals, pollers, heartbeats ------------------


def test_extremes_round_trip_with_the_state(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    tick = make_tick(36.0, "2026-01-02T10:00:00+08:00")
    extremes = Extremes(tick.ts_us, 42.88, 33.50)
    state = ListingState(tick.ts_us, 0, {}, extremes)
    store.commit([make_rows("biren", [tick], [], state)], ["log"])
    assert store.load_state("biren") == state
    assert store.load_state("biren").extremes == extremes


def test_extremes_with_only_a_low_round_trip(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    state = ListingState(ts_us("2026-01-02T10:00:00"), 0, {}, Extremes(ts_us(), None, 33.5))
    store.commit([make_rows("biren", [], [], state)], ["log"])
    assert store.load_state("biren").extremes == Extremes(ts_us(), None, 33.5)


def test_a_later_batch_replaces_the_stored_extremes(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    first = make_tick(36.0, "2026-01-02T10:00:00+08:00")
    second = make_tick(41.0, "2026-01-02T10:01:00+08:00")
    older = Extremes(first.ts_us, 38, 35)
    store.commit([make_rows("biren", [first], [], ListingState(first.ts_us, 0, {}, older))], [])
    newer = Extremes(second.ts_us, 41.0, 35.0)
    store.commit([make_rows("biren", [second], [], ListingState(second.ts_us, 0, {}, newer))], [])
    assert store.load_state("biren").extremes == newer
    store.commit([make_rows("biren", [], [], ListingState(second.ts_us, 0))], [])
    assert store.load_state("biren").extremes is None


def test_notices_are_stored_pending_for_every_sink_without_ticks(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    down = StoredAlert("d" * 32, "biren", "source-down", ts_us(), 0, '{"kind": "source"}')
    back = StoredAlert("b" * 32, "biren", "source-back", ts_us() + 1, 0, '{"kind": "source"}')
    store.add_alerts([down], ["log", "hook"])
    store.add_alerts([back], ["log", "hook"])
    assert pending(store, "log") == [down, back]
    assert pending(store, "hook") == [down, back]
    assert pending(store, "other") == []
    assert store.alerts("biren") == [down, back]
    assert store.count("ticks") == 0
    assert store.load_state("biren") == ListingState()
    SqlDeliveries(store.engine).delivered("hook", [down.alert_id])
    assert pending(store, "hook") == [back]
    assert pending(store, "log") == [down, back]


def test_last_tick_is_the_latest_by_time_then_seq(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    assert store.last_tick("biren") is None
    latest = make_tick(36.2, "2026-01-02T09:31:00+08:00", seq=2)
    ticks = [
        make_tick(36.0, "2026-01-02T09:30:59+08:00", seq=7),  # higher seq, earlier time
        make_tick(36.1, "2026-01-02T09:31:00+08:00", seq=0),
        make_tick(36.3, "2026-01-02T09:31:00+08:00", seq=1),
    ]
    # stored out of order: the store orders, not the insertion
    store.commit([make_rows("biren", [latest], [], ListingState(latest.ts_us, 2))], [])
    store.commit([make_rows("biren", ticks, [], ListingState(latest.ts_us, 2))], [])
    store.commit(
        [make_rows("other", [make_tick(1.0, "2026-01-02T15:00:00+08:00")], [], ListingState())], []
    )
    assert store.last_tick("biren") == latest
    assert store.last_tick("nobody") is None
    day = ts_us("2026-01-02T00:00"), ts_us("2026-01-03T00:00")
    assert store.first_tick("biren", *day) == ticks[0]  # the earliest, whatever its seq
    assert store.first_tick("biren", ticks[1].ts_us, day[1]) == ticks[1]  # start inclusive
    assert store.first_tick("biren", day[0], ticks[0].ts_us) is None  # end exclusive


def test_totals_sum_volume_and_turnover_within_start_inclusive_end_exclusive(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    assert store.totals("biren", ts_us("2026-01-02T00:00"), ts_us("2026-01-03T00:00")) == (0, 0)
    ticks = [
        make_tick(35.0, "2026-01-02T09:29:59", volume=1, turnover=35.0),  # before start
        make_tick(35.5, "2026-01-02T09:30:00", volume=100, turnover=3550.0),  # at start: in
        make_tick(36.0, "2026-01-02T10:00:00", volume=None, turnover=None),  # unknown: adds 0
        make_tick(36.5, "2026-01-02T10:00:00", seq=1, volume=200, turnover=7300.0),
        make_tick(37.0, "2026-01-02T11:00:00", volume=5000, turnover=185000.0),  # at end: out
    ]
    last = ticks[-1]
    store.commit([make_rows("biren", ticks, [], ListingState(last.ts_us, 0))], [])
    other = make_tick(1.0, "2026-01-02T10:00:00", volume=9999, turnover=9999.0)
    store.commit([make_rows("other", [other], [], ListingState())], [])
    volume, turnover = store.totals("biren", ts_us("2026-01-02T09:30"), ts_us("2026-01-02T11:00"))
    assert (volume, turnover) == (300.0, 10850.0)
    empty = store.totals("biren", ts_us("2026-01-05T00:00"), ts_us("2026-01-06T00:00"))
    assert empty == (0.0, 0.0)


def test_poller_state_is_fresh_until_saved_and_the_last_save_wins(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    assert store.load_poller("biren") == PollerState()
    failing = PollerState(ts_us("2026-01-02T10:00"), ts_us("2026-01-02T09:55"), True)
    recovered = PollerState(ts_us("2026-01-02T10:05"), None, False)
    store.save_poller("biren", failing)
    assert store.load_poller("biren") == failing
    store.save_poller("biren", recovered)
    assert store.load_poller("biren") == recovered
    assert store.load_poller("other") == PollerState()
    assert store.count("pollers") == 1


def test_beat_upserts_per_name_and_heartbeats_lists_each_once(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    assert store.heartbeats() == []
    first = Heartbeat("daemon", 1_000_000, ts_us("2026-01-02T09:30"), 4321, "2 listings")
    later = Heartbeat("daemon", 6_000_000, ts_us("2026-01-02T09:35"), 4321, "stopped")
    other = Heartbeat("canary", 2_000_000, ts_us("2026-01-02T09:31"), 99, None)
    store.beat(first)
    store.beat(other)
    store.beat(later)
    assert store.heartbeats() == [other, later]


def test_bulk_commit_stores_exactly_what_a_row_commit_stores(
    db_url: str, open_store: Callable[[str], SqlStore], writer: str
) -> None:

    awkward = [0.1 + 0.2, 1e-7, 123456789.12345679, 35.7, 5e-324, 1.7976931348623157e308]
    ticks = [
        Tick(1_767_317_400_000_000 + i, i % 2, price, volume, turnover)
        for i, (price, volume, turnover) in enumerate(
            zip(
                awkward,
                [None, 0.0, 1e22, 100, None, 3],
                [None, 2.5, None, 0.1, 7, None],
                strict=True,
            )
        )
    ]
    store = open_store(db_url)
    store.save_listing(biren())
    state = ListingState(ticks[-1].ts_us, ticks[-1].seq)
    store.commit([BatchRows("biren", TickArrays.from_ticks(ticks), [], state)], [])
    assert store.ticks("biren") == ticks
    assert store.load_state("biren") == state


def test_a_resumed_bulk_replay_skips_what_is_stored(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    listing = biren()
    tape = read_tape(SAMPLE_TAPE, listing.timezone)
    half = Tape(tape.path, tape.ticks[: len(tape.ticks) // 2], [], len(tape.ticks) // 2)
    store = open_store(db_url)
    replay_tape(listing, half, Ingestor(store, []), chunk_size=300)
    resumed = replay_tape(listing, tape, Ingestor(open_store(db_url), []), chunk_size=300)
    assert (resumed.stored, resumed.already_stored) == (
        len(tape.ticks) - len(half.ticks),
        len(half.ticks),
    )
    assert store.ticks("biren") == tape.ticks
    assert [json.loads(a.record)["rule"] for a in store.alerts("biren")] == [
        "gain_pct-up-50",
        "gain_pct-up-80",
        "mcap-100b",
        "gain_pct-up-100",
    ]


def store_many_ticks(store: SqlStore, turnover: float | None) -> None:
    """Bulk-commit more than two INSERTs' worth of ticks and read back exactly them."""
    from tracker.store.bulk import ROWS_PER_INSERT

    n = 2 * ROWS_PER_INSERT + 7
    ticks = [
        Tick(
            1_767_317_400_000_000 + i // 3,
            i % 3,
            35.7 + i / 100,
            None if i % 5 else 100.0 * i,
            turnover if i % 7 else None,
        )
        for i in range(n)
    ]
    listing = make_listing(id="o'neil")
    store.save_listing(listing)
    arrays = TickArrays.from_ticks(ticks)
    assert (arrays.turnover is None) == (turnover is None)
    store.commit(
        [BatchRows(listing.id, arrays, [], ListingState(ticks[-1].ts_us, ticks[-1].seq))], []
    )
    assert store.ticks(listing.id) == ticks


@pytest.mark.parametrize("turnover", [None, 2.5])
def test_bulk_commit_of_many_ticks_stores_each_once(
    db_url: str, open_store: Callable[[str], SqlStore], turnover: float | None
) -> None:
    """Many rows an INSERT on SQLite and a last one of what is left; a COPY on PostgreSQL."""
    store_many_ticks(open_store(db_url), turnover)


@pytest.mark.parametrize("turnover", [None, 2.5])
def test_bulk_commit_binds_fewer_rows_an_insert_where_sqlite_binds_fewer_values(
    sqlite_url: str, open_store: Callable[[str], SqlStore], turnover: float | None
) -> None:
    import sqlite3

    store = open_store(sqlite_url)

    @sa.event.listens_for(store.engine, "connect")
    def bind_fewer(connection: sqlite3.Connection, _: object) -> None:
        connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 9)

    store.engine.dispose()  # connections from now on have the limit
    store_many_ticks(store, turnover)


def test_bulk_commit_of_ticks_without_volume_or_turnover_stores_them_absent(
    db_url: str, open_store: Callable[[str], SqlStore], writer: str
) -> None:

    ticks = [Tick(1_767_317_400_000_000 + i, 0, 35.7 + i / 100) for i in range(5)]
    arrays = TickArrays.from_ticks(ticks)
    assert arrays.volume is None  # the columns are not there at all
    assert arrays.turnover is None
    store = open_store(db_url)
    store.save_listing(biren())
    store.commit([BatchRows("biren", arrays, [], ListingState(ticks[-1].ts_us, 0))], [])
    assert store.ticks("biren") == ticks


def test_one_commit_stores_a_replay_chunk_and_a_poll_of_two_listings(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    chunk = [make_tick(30 + i / 100, seq=i) for i in range(bulk.BULK_ROWS)]  # the bulk way
    poll = [make_tick(36.0, "2026-01-02T09:31:00")]  # one tick: executemany
    store = open_store(db_url)
    store.commit([make_rows("biren", chunk), make_rows("other", poll)], [])
    assert store.ticks("biren") == chunk
    assert store.ticks("other") == poll
    assert store.load_state("other") == ListingState(poll[0].ts_us, 0)


def test_a_commit_writes_only_the_rule_states_that_changed_since_the_last(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    store.save_listing(biren())
    tick, later = make_tick(36.0), make_tick(36.1, "2026-01-02T09:31:00")
    armed, fired = RuleState("a", 1, True, None), RuleState("b", 2, False, tick.ts_us)
    first = ListingState(tick.ts_us, 0, {("a", 1): armed, ("b", 2): fired})
    store.commit([make_rows("biren", [tick], [], first)], [])
    with store.engine.begin() as connection:  # mark the stored rows, to see which get written
        connection.execute(sa.text("UPDATE rule_state SET last_fired_us = 7"))
    rearmed = RuleState("b", 2, True, tick.ts_us)
    second = ListingState(later.ts_us, 0, {("a", 1): armed, ("b", 2): rearmed})
    store.commit([make_rows("biren", [later], [], second, previous=first)], [])
    assert store.load_state("biren").rules == {
        ("a", 1): RuleState("a", 1, True, 7),  # unchanged: not written again
        ("b", 2): rearmed,
    }
