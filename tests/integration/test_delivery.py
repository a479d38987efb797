"""The outbox: its ledger on SQLite and PostgreSQL, sinks that never block each other, apprise."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from factories import make_listing, make_rule, make_tick
from test_webhook import SECRET, START_US, Receiver, Wall, make_alert, verify, webhook

from tracker.alerts.notify import AppriseSink
from tracker.alerts.sinks import Delivery, DeliveryError, JsonlAlertLog, RetryPolicy
from tracker.bootstrap import build_sinks
from tracker.config import load_settings
from tracker.core.batch import TickArrays
from tracker.core.model import Listing
from tracker.errors import ConfigError
from tracker.runtime.clock import SimulatedClock
from tracker.runtime.daemon import Daemon
from tracker.runtime.ingest import Ingestor
from tracker.store.deliveries import (
    DEAD,
    DELIVERED,
    PENDING,
    DueDelivery,
    Failure,
    SqlDeliveries,
    Undelivered,
)
from tracker.store.repository import SqlStore

# apprise's e-mail plugin imports the standard library's imghdr, deprecated since Python 3.11;
# apprise loads its plugins on first use, so the warning comes from whichever test is first.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:'imghdr' is deprecated:DeprecationWarning:apprise\.utils\.pgp"
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.release.set()
    running.down()


@pytest.fixture
def store(open_store: Callable[[str], SqlStore], tmp_path: Path) -> SqlStore:
    return open_store(f"sqlite:///{tmp_path / 'tracker.db'}")


def log_ids(path: Path) -> list[str]:
    return [json.loads(line)["alert_id"] for line in path.read_text().splitlines()]


class WatchedLog(JsonlAlertLog):
    """The real alert log, saying when it has written."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.wrote = threading.Event()

    def deliver(self, batch: Sequence[Delivery]) -> None:
        super().deliver(batch)
        self.wrote.set()


class BrokenSink:
    """A sink with a bug: it raises what no sink should."""

    name = "broken"
    batch_size = 1
    local = False
    retry = RetryPolicy(max_attempts=2)

    def deliver(self, batch: Sequence[Delivery]) -> None:
        raise RuntimeError("bug in the sink")

    def close(self) -> None:
        pass


# --- the ledger, on both backends ----------------------------------------------------------------


def test_a_waiting_delivery_holds_back_its_listing_on_that_sink_only(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    ledger = SqlDeliveries(store.engine)
    b1, m1, b2, m2 = make_alert(1), make_alert(1, "moore"), make_alert(2), make_alert(2, "moore")
    store.add_alerts([b1, m1, b2, m2], ["log", "webhook"])

    def due(sink: str, at: int = START_US) -> list[str]:
        return [d.alert.alert_id for d in ledger.due(sink, at)]

    assert due("webhook") == [b1.alert_id, m1.alert_id, b2.alert_id, m2.alert_id]
    ledger.failed("webhook", [Failure(b1.alert_id, "HTTP 503", START_US + 10_000_000)])
    assert due("webhook") == [m1.alert_id, m2.alert_id]  # b2 waits behind b1
    assert due("log") == [b1.alert_id, m1.alert_id, b2.alert_id, m2.alert_id]
    assert due("webhook", START_US + 10_000_000) == [
        b1.alert_id,
        m1.alert_id,
        b2.alert_id,
        m2.alert_id,
    ]
    (retry,) = [d for d in ledger.due("webhook", START_US + 10_000_000) if d.alert == b1]
    assert (retry.attempts, retry.redelivery) == (1, False)

    ledger.failed("webhook", [Failure(b1.alert_id, "HTTP 503", None)])  # dead letter
    assert due("webhook") == [m1.alert_id, b2.alert_id, m2.alert_id]
    ledger.delivered("webhook", [m1.alert_id, b2.alert_id, m2.alert_id])
    assert due("webhook") == []
    states = ledger.states([b1.alert_id, b2.alert_id])
    assert set(states) == {b1.alert_id, b2.alert_id}
    assert states[b1.alert_id]["webhook"][:3] == (DEAD, 2, "HTTP 503")
    assert states[b2.alert_id]["webhook"][:3] == (DELIVERED, 1, None)
    assert states[b2.alert_id]["log"][:3] == (PENDING, 0, None)
    assert ledger.counts() == {"log": {PENDING: 4}, "webhook": {DEAD: 1, DELIVERED: 3}}

    assert ledger.redeliver(b1.alert_id) == 2  # the webhook's dead letter, the log's pending
    assert ledger.redeliver(b2.alert_id, "webhook") == 1
    assert ledger.redeliver("no-such-alert") == 0
    assert [
        (d.alert.alert_id, d.attempts, d.redelivery) for d in ledger.due("webhook", START_US)
    ] == [
        (b1.alert_id, 0, True),
        (b2.alert_id, 0, True),
    ]
    assert ledger.states([b1.alert_id])[b1.alert_id]["log"][:3] == (PENDING, 0, None)


def test_redeliver_makes_a_pending_delivery_due_now_keeping_its_attempts(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    ledger = SqlDeliveries(store.engine)
    alert = make_alert(1)
    store.add_alerts([alert], ["webhook"])
    ledger.failed("webhook", [Failure(alert.alert_id, "HTTP 503", START_US + 600_000_000)])
    assert ledger.due("webhook", START_US) == []  # waiting out its backoff

    for _ in range(3):  # however often it is asked
        assert ledger.redeliver(alert.alert_id) == 1
        [due] = ledger.due("webhook", START_US)
        assert (due.attempts, due.redelivery) == (1, False)  # a retry, not a redelivery
    assert ledger.undelivered()["webhook"] == Undelivered(1, 0, None, "HTTP 503")


def test_a_failing_webhook_holds_back_neither_the_log_nor_other_listings(
    db_url: str, open_store: Callable[[str], SqlStore], receiver: Receiver, tmp_path: Path
) -> None:
    store = open_store(db_url)
    wall = Wall()
    log = tmp_path / "alerts.jsonl"
    ingestor = Ingestor(store, [JsonlAlertLog(log), webhook(receiver.url)], wall_us=wall)
    alerts = [make_alert(1), make_alert(1, "moore"), make_alert(2), make_alert(2, "moore")]
    receiver.answer = lambda n: (500, {}) if n == 1 else (200, {})  # biren's first alert fails
    store.add_alerts(alerts, ["log", "webhook"])
    assert ingestor.dispatch() == 4 + 2
    assert log_ids(log) == [a.alert_id for a in alerts]
    assert receiver.ids() == [alerts[1].alert_id, alerts[3].alert_id]
    wall.advance(5)
    assert ingestor.dispatch() == 2
    assert receiver.ids()[2:] == [alerts[0].alert_id, alerts[2].alert_id]
    ingestor.outbox.close()


def test_a_dead_letter_holds_back_nothing_even_in_the_pass_that_buried_it(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    hook = webhook(receiver.url, max_attempts=1)
    ingestor = Ingestor(store, [hook])
    receiver.answer = lambda n: (500, {}) if n == 1 else (200, {})
    store.add_alerts([make_alert(1), make_alert(2)], ["webhook"])
    assert ingestor.dispatch() == 1
    assert receiver.ids() == [make_alert(2).alert_id]
    assert ingestor.outbox.states()[make_alert(1).alert_id]["webhook"].state == DEAD
    hook.close()


def test_a_sink_that_raises_unexpectedly_fails_alone_and_dead_letters(
    store: SqlStore, tmp_path: Path
) -> None:
    wall = Wall()
    ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "a.jsonl"), BrokenSink()], wall_us=wall)
    store.add_alerts([make_alert(1)], ["log", "broken"])
    for _ in range(3):
        ingestor.dispatch()
        wall.advance(600)
    state = ingestor.outbox.states()[make_alert(1).alert_id]
    assert state["log"].state == DELIVERED
    assert state["broken"][:3] == (DEAD, 2, "RuntimeError: bug in the sink")


# --- the daemon's way: a thread per sink ----------------------------------------------------------


def test_a_hanging_webhook_blocks_neither_ingesting_nor_the_log(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    listing = make_listing(rules=(make_rule(50), make_rule(80)))
    log = WatchedLog(tmp_path / "alerts.jsonl")
    ingestor = Ingestor(store, [log, webhook(receiver.url, timeout=30)])
    receiver.hold.set()  # every request waits until the test releases it
    with ingestor.background_dispatch():
        done = ingestor.ingest(listing, TickArrays.from_ticks([make_tick(36.0)]))  # both fire
        assert len(done.alerts) == 2
        assert log.wrote.wait(timeout=10)
        assert log_ids(log.path) == [a.alert_id for a in done.alerts]
        assert receiver.arrived.wait(timeout=10)  # the webhook's thread is stuck in its POST
        assert receiver.delivered == []
        receiver.release.set()
    # stopping lets the request in hand finish; what was not sent yet stays pending
    ids = [a.alert_id for a in done.alerts]
    assert receiver.ids() == ids[: len(receiver.ids())]
    assert receiver.ids()
    states = ingestor.outbox.states()
    assert [states[i]["webhook"].state for i in ids[len(receiver.ids()) :]] == [PENDING] * (
        len(ids) - len(receiver.ids())
    )
    ingestor.dispatch()  # the next run delivers them, each once
    assert receiver.ids() == ids
    assert {s["webhook"].state for s in ingestor.outbox.states().values()} == {DELIVERED}
    ingestor.outbox.close()


def test_with_dispatchers_running_the_log_is_written_before_ingest_returns_in_its_thread(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    listing = make_listing(rules=(make_rule(50),))
    writers: list[str] = []

    class ThreadNoting(JsonlAlertLog):
        def deliver(self, batch: Sequence[Delivery]) -> None:
            super().deliver(batch)
            writers.append(threading.current_thread().name)

    log = ThreadNoting(tmp_path / "alerts.jsonl")
    hook = webhook(receiver.url, timeout=30)
    ingestor = Ingestor(store, [log, hook])
    receiver.hold.set()  # the webhook's thread waits in its POST meanwhile
    with ingestor.background_dispatch():
        done = ingestor.ingest(listing, TickArrays.from_ticks([make_tick(36.0)]))
        assert log_ids(log.path) == [a.alert_id for a in done.alerts]  # no wait: it is there
        assert writers == [threading.current_thread().name]
        assert receiver.arrived.wait(timeout=10)
        assert [t.name for t in threading.enumerate() if t.name.startswith("dispatch:")] == [
            "dispatch:webhook"  # the log has no thread of its own
        ]
        receiver.release.set()
    assert receiver.ids() == [a.alert_id for a in done.alerts]
    hook.close()


def test_the_daemon_delivers_on_dispatcher_threads_and_stops_them_when_it_stops(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    hook = webhook(receiver.url)
    ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "alerts.jsonl"), hook])
    store.add_alerts([make_alert(1)], ["log", "webhook"])
    start = dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC)
    Daemon([], ingestor, SimulatedClock(start), until=start).run()  # stops at once
    assert receiver.ids() == [make_alert(1).alert_id]
    assert not [t for t in threading.enumerate() if t.name.startswith("dispatch:")]
    jobs = {job.id: job.func for job in Daemon([], ingestor, SimulatedClock(start)).jobs()}
    assert jobs["dispatch"] == ingestor.dispatch_soon  # wakes the threads for due retries
    hook.close()


def test_any_ingested_batch_delivers_what_an_earlier_run_left_pending(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    left = [make_alert(1), make_alert(2)]
    store.add_alerts(left, ["log", "webhook"])  # committed, then the process died
    hook = webhook(receiver.url)
    ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "alerts.jsonl"), hook])
    done = ingestor.ingest(
        make_listing(rules=(make_rule(50),)), TickArrays.from_ticks([make_tick(20.0)])
    )
    assert done.alerts == ()
    assert receiver.ids() == [a.alert_id for a in left]
    assert log_ids(tmp_path / "alerts.jsonl") == [a.alert_id for a in left]
    hook.close()


# --- the pass right after a commit ---------------------------------------------------------------


class FlakySink:
    """A local sink that records what it gets and fails while told to."""

    name = "flaky"
    batch_size = 10
    local = True
    retry = RetryPolicy(max_attempts=None, backoff_initial=1.0, backoff_max=1.0)

    def __init__(self) -> None:
        self.got: list[str] = []
        self.failing = False

    def deliver(self, batch: Sequence[Delivery]) -> None:
        if self.failing:
            raise DeliveryError("down")
        self.got += [d.alert.alert_id for d in batch]

    def close(self) -> None:
        pass


def counted_reads(ingestor: Ingestor, during: Callable[[], None] = lambda: None) -> list[str]:
    """Record each pass's read of the outbox (``during`` runs right after the read)."""
    reads: list[str] = []
    ledger = ingestor.outbox.deliveries
    pending = ledger.pending

    def read(sink: str, now_us: int) -> tuple[list[DueDelivery], bool]:
        found = pending(sink, now_us)
        reads.append(sink)
        during()
        return found

    ledger.pending = read  # type: ignore[method-assign]
    return reads


def logged(store: SqlStore, tmp_path: Path) -> tuple[Listing, Path, Ingestor]:
    """A listing with rules at +50% and +80%, and an ingestor delivering to an alert log."""
    log = tmp_path / "alerts.jsonl"
    return (
        make_listing(rules=(make_rule(50), make_rule(80))),
        log,
        Ingestor(store, [JsonlAlertLog(log)]),
    )


CROSSING = [make_tick(30.0), make_tick(36.0, ts="2026-01-02T09:31:00+08:00")]  # +50%, then +80%


def test_after_a_clean_pass_a_new_alert_reaches_the_sink_without_a_read_of_the_outbox(
    store: SqlStore, tmp_path: Path
) -> None:
    listing, log, ingestor = logged(store, tmp_path)
    reads = counted_reads(ingestor)

    first = ingestor.ingest(listing, TickArrays.from_ticks(CROSSING[:1]))
    second = ingestor.ingest(listing, TickArrays.from_ticks(CROSSING[1:]))

    assert reads == ["log"]  # the first pass after the start reads: it is in doubt
    assert log_ids(log) == [first.alerts[0].alert_id, second.alerts[0].alert_id]
    assert {s["log"].state for s in ingestor.outbox.states().values()} == {DELIVERED}
    store.add_alerts([make_alert(1)], ["log"])  # another process's: the next full pass
    assert ingestor.dispatch() == 1
    assert log_ids(log)[-1] == make_alert(1).alert_id


def test_an_alert_a_full_pass_delivered_is_not_handed_over_again(
    store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing, log, ingestor = logged(store, tmp_path)
    ingestor.dispatch()  # clean: nothing pending
    with monkeypatch.context() as m:
        m.setattr(ingestor, "dispatch_soon", lambda fresh=False: None)
        # committed, not yet handed over
        done = ingestor.ingest(listing, TickArrays.from_ticks(CROSSING[:1]))
    assert ingestor.dispatch() == 1  # the every-second pass finds it first

    assert ingestor.outbox.dispatch(fresh=True) == 0
    assert log_ids(log) == [done.alerts[0].alert_id]


def test_an_alert_committed_while_a_pass_reads_the_outbox_goes_with_the_next_pass(
    store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing, log, ingestor = logged(store, tmp_path)
    ingestor.dispatch()
    store.add_alerts([make_alert(1)], ["log"])
    late: list[str] = []

    def commit_meanwhile() -> None:
        if not late:
            with monkeypatch.context() as m:
                m.setattr(ingestor, "dispatch_soon", lambda fresh=False: None)
                late.extend(
                    a.alert_id
                    for a in ingestor.ingest(listing, TickArrays.from_ticks(CROSSING[:1])).alerts
                )

    counted_reads(ingestor, during=commit_meanwhile)
    assert ingestor.dispatch() == 1  # what it read: the other process's alert
    assert log_ids(log) == [make_alert(1).alert_id]

    assert ingestor.outbox.dispatch(fresh=True) == 1
    assert log_ids(log) == [make_alert(1).alert_id, *late]


def test_after_a_failed_delivery_a_new_alert_of_the_listing_waits_behind_it(
    store: SqlStore,
) -> None:
    listing = make_listing(rules=(make_rule(50), make_rule(80)))
    sink, wall = FlakySink(), Wall()
    ingestor = Ingestor(store, [sink], wall_us=wall)
    ingestor.dispatch()
    sink.failing = True
    # handed over at once, and failed
    first = ingestor.ingest(listing, TickArrays.from_ticks(CROSSING[:1]))
    sink.failing = False
    # its listing's first is not retried yet
    second = ingestor.ingest(listing, TickArrays.from_ticks(CROSSING[1:]))
    assert sink.got == []

    wall.advance(5)
    ingestor.dispatch()
    assert sink.got == [first.alerts[0].alert_id, second.alerts[0].alert_id]


# --- apprise ------------------------------------------------------------------------------------


def test_apprise_sends_the_message_with_a_short_title_through_a_json_url(
    receiver: Receiver,
) -> None:
    sink = AppriseSink(f"json://127.0.0.1:{receiver.port}/notify", timeout=5)
    alert = make_alert(1)
    sink.deliver([Delivery(alert), Delivery(alert, redelivery=True)])
    sent = [request.record for request in receiver.delivered]
    assert [(s["title"], s["message"]) for s in sent] == [
        ("6082.HK rule-1", json.loads(alert.record)["message"]),
        ("6082.HK rule-1 (redelivery)", json.loads(alert.record)["message"]),
    ]


def test_apprise_failures_are_retried_then_dead_lettered_and_redelivered(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    wall = Wall()
    sink = AppriseSink(
        f"json://127.0.0.1:{receiver.port}/notify", retry=RetryPolicy(3, 1.0, 5.0), timeout=5
    )
    ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "alerts.jsonl"), sink], wall_us=wall)
    receiver.answer = lambda n: (500, {})
    store.add_alerts([make_alert(1)], ["log", "apprise"])
    for _ in range(5):
        ingestor.dispatch()
        wall.advance(10)
    state = ingestor.outbox.states()[make_alert(1).alert_id]["apprise"]
    assert (state.state, state.attempts, receiver.seen) == (DEAD, 3, 3)
    assert str(state.last_error).startswith("apprise:")
    receiver.answer = lambda n: (200, {})
    assert ingestor.outbox.redeliver(make_alert(1).alert_id, "apprise") == 1
    assert ingestor.dispatch() == 1
    assert receiver.delivered[0].record["title"].endswith("(redelivery)")


# --- settings -----------------------------------------------------------------------------------


def test_sinks_are_built_from_settings_with_secrets_from_the_environment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    settings_file = workdir / "tracker.toml"
    settings_file.write_text(
        f"[sinks.log]\nrotate_bytes = 1_000_000\nrotate_daily = true\n\n"
        f'[sinks.webhook]\nurl = "{receiver.url}"\nmax_attempts = 4\ntimeout = 2.5\n'
    )
    monkeypatch.setenv("TRACKER_SETTINGS", str(settings_file))
    monkeypatch.setenv("TRACKER_SINKS__WEBHOOK__SECRET", SECRET)
    monkeypatch.setenv("TRACKER_SINKS__APPRISE__URLS", "json://127.0.0.1:9/a, json://127.0.0.1:9/b")
    sinks = build_sinks(load_settings())
    assert [s.name for s in sinks] == ["log", "webhook", "apprise-1", "apprise-2"]
    log, hook = sinks[0], sinks[1]
    assert isinstance(log, JsonlAlertLog)
    assert (log.rotate_bytes, log.rotate_daily) == (1_000_000, True)
    assert hook.retry.max_attempts == 4
    hook.deliver([Delivery(make_alert(1))])
    request = receiver.delivered[0]
    assert verify(SECRET, request.body, request.headers["X-Tracker-Signature"])
    assert request.headers["User-Agent"].startswith("listing-tracker/")
    for sink in sinks:
        sink.close()


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"TRACKER_SINKS__APPRISE__URLS": "nosuch://tok3n@host"}, "scheme 'nosuch'"),
        ({"TRACKER_SINKS__APPRISE__URLS": " , "}, "no URL given"),
        ({"TRACKER_SINKS__APPRISE__TIMEOUT": "3"}, "TRACKER_SINKS__APPRISE__URLS is not set"),
        ({"TRACKER_SINKS__WEBHOOK__URL": "ftp://host/x"}, "not an http:// or https:// URL"),
    ],
)
def test_sink_settings_a_sink_cannot_use_are_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], problem: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        build_sinks(load_settings())
    said = "\n".join([refused.value.message, *refused.value.problems])
    assert problem in said
    assert "tok3n" not in said


def test_retry_after_pauses_the_whole_sink_not_only_the_listing(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    wall = Wall()
    receiver.answer = lambda n: (429, {"Retry-After": "60"})
    ingestor = Ingestor(store, [webhook(receiver.url)], wall_us=wall)
    listings = [make_listing(id=f"l{i}", rules=(make_rule(50),)) for i in range(5)]
    for listing in listings:
        ingestor.ingest(listing, TickArrays.from_ticks([make_tick(35.70, "2026-01-02T09:20:00")]))
    assert receiver.seen == 1  # the first 429 paused the sink: no request for the others
    wall.advance(30)
    ingestor.dispatch()
    assert receiver.seen == 1
    receiver.answer = lambda n: (200, {})
    wall.advance(31)
    ingestor.dispatch()
    assert len(receiver.delivered) == 5
    ingestor.outbox.close()


# --- draining the outbox (``tracker alerts deliver``) ----------------------------------------


def test_drain_waits_out_each_backoff_until_every_delivery_is_taken(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    wall = Wall()
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the wait passes on the test's wall clock
        slept.append(seconds)
        wall.advance(seconds)

    ingestor = Ingestor(
        store, [JsonlAlertLog(tmp_path / "a.jsonl"), webhook(receiver.url, max=8)], wall_us=wall
    )
    receiver.answer = lambda n: (503, {}) if n <= 2 else (200, {})
    alerts = [make_alert(1), make_alert(2)]
    store.add_alerts(alerts, ["log", "webhook"])

    ingestor.outbox.drain(wait=True, sleep=sleep)

    assert receiver.ids() == [a.alert_id for a in alerts]
    assert len(slept) == 2  # after each of the two failures, until the retry was due
    assert all(0 < s <= 8 for s in slept)
    assert SqlDeliveries(store.engine).undelivered() == {}
    ingestor.outbox.close()


def test_drain_without_wait_tries_once_and_leaves_the_retry_pending(
    store: SqlStore, receiver: Receiver, tmp_path: Path
) -> None:
    ingestor = Ingestor(store, [webhook(receiver.url)], wall_us=Wall())
    receiver.answer = lambda n: (503, {})
    store.add_alerts([make_alert(1)], ["webhook"])

    ingestor.outbox.drain(sleep=lambda s: pytest.fail("drain without wait slept"))

    left = SqlDeliveries(store.engine).undelivered()["webhook"]
    assert (left.pending, left.dead) == (1, 0)
    assert left.last_error == f"POST {receiver.url}: HTTP 503 Service Unavailable"
    assert receiver.seen == 1
    ingestor.outbox.close()


def test_drain_stops_at_once_when_the_alert_log_cannot_be_written(
    store: SqlStore, tmp_path: Path
) -> None:
    folder = tmp_path / "alerts.jsonl"
    folder.mkdir()  # the log's path is taken: it cannot be written
    ingestor = Ingestor(store, [JsonlAlertLog(folder)], wall_us=Wall())
    store.add_alerts([make_alert(1)], ["log"])

    ingestor.outbox.drain(wait=True, sleep=lambda s: pytest.fail("waited on the alert log"))

    left = SqlDeliveries(store.engine).undelivered()["log"]
    assert left.pending == 1
    assert "Is a directory" in str(left.last_error)


def test_drain_does_not_wait_for_a_sink_no_longer_configured(
    store: SqlStore, tmp_path: Path
) -> None:
    store.add_alerts([make_alert(1)], ["log", "webhook"])  # a webhook, since removed
    ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "a.jsonl")], wall_us=Wall())

    ingestor.outbox.drain(wait=True, sleep=lambda s: pytest.fail("waited on a gone sink"))

    assert SqlDeliveries(store.engine).undelivered()["webhook"].pending == 1
    assert log_ids(tmp_path / "a.jsonl") == [make_alert(1).alert_id]


def test_drain_does_not_spin_on_a_delivery_it_cannot_attempt(
    store: SqlStore, receiver: Receiver
) -> None:
    import sqlalchemy as sa

    from tracker.store import tables

    with store.engine.begin() as connection:  # a delivery whose alert is gone
        connection.execute(
            sa.insert(tables.deliveries).values(alert_id="f" * 32, sink="webhook", state=PENDING)
        )
    ingestor = Ingestor(store, [webhook(receiver.url)], wall_us=Wall())

    ingestor.outbox.drain(wait=True, sleep=lambda s: pytest.fail(f"slept {s}s on nothing due"))

    assert SqlDeliveries(store.engine).undelivered()["webhook"].pending == 1
    assert receiver.seen == 0
    ingestor.outbox.close()


def test_stopping_ends_a_remote_sinks_pass_after_the_request_in_hand(store: SqlStore) -> None:
    import time

    from test_webhook import Dripper

    from tracker.alerts.outbox import DispatchThreads

    dripper = Dripper(every=5.0)  # never answers within the deadline
    hook = webhook(dripper.url, timeout=1.0)
    ingestor = Ingestor(store, [hook], wall_us=Wall())
    alerts = [make_alert(1, listing) for listing in ("biren", "moore", "zhipu", "iluvatar")]
    store.add_alerts(alerts, ["webhook"])  # four listings: none holds another back
    threads = DispatchThreads(ingestor.outbox)
    threads.start()
    assert dripper.arrived.wait(10)  # the first request is in hand
    asked = time.monotonic()

    threads.stop()

    assert time.monotonic() - asked < 1.0 + 0.5  # that request's deadline, no other one
    left = SqlDeliveries(store.engine).undelivered()["webhook"]
    assert left.pending == 4  # one failed, three never tried: all there for the next run
    ingestor.outbox.close()
    dripper.close()
