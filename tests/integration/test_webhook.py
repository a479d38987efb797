"""The webhook sink against a real receiver on 127.0.0.1: signature, retries, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from tracker.alerts import webhook as webhook_module
from tracker.alerts.sinks import Delivery, DeliveryError, JsonlAlertLog, RetryPolicy
from tracker.alerts.webhook import WebhookSink
from tracker.core.model import StoredAlert
from tracker.runtime.ingest import Ingestor
from tracker.store.deliveries import DEAD, DELIVERED, PENDING
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore

SECRET = "s3cret-shared-with-the-receiver"
START_US = 1_767_312_000_000_000  # the wall clock the tests move by hand (epoch µs)


def documented_verify() -> Callable[[str, bytes, str], bool]:
    """The receiver's check, run verbatim from the code block of the webhook module's docstring.

    The README shows the same block; so receivers are told exactly what the tests do.
    """
    assert webhook_module.__doc__ is not None
    after = webhook_module.__doc__.split("::\n", 1)[1].splitlines()
    block = []
    for line in after:
        if line and not line.startswith("    "):
            break
        block.append(line)
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent("\n".join(block)), namespace)
    return cast(Callable[[str, bytes, str], bool], namespace["verify"])


verify = documented_verify()


@dataclass(frozen=True)
class Received:
    """One request the receiver answered with a 2xx."""

    headers: dict[str, str]
    body: bytes

    @property
    def record(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """A webhook receiver on 127.0.0.1 that a test takes down, brings back or makes fail.

    ``answer`` gives the status (and headers) for each request; ``delivered`` holds
    the requests answered with a 2xx, ``seen`` counts every request.
    """

    def __init__(self) -> None:
        self.delivered: list[Received] = []
        self.seen = 0
        self.answer: Callable[[int], tuple[int, dict[str, str]]] = lambda n: (200, {})
        self.hold = threading.Event()  # set: requests wait until released
        self.release = threading.Event()
        self.arrived = threading.Event()  # set by the first request
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self.up()
        assert self._server is not None
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/alerts"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived.set()
                if receiver.hold.is_set():
                    receiver.release.wait(timeout=10)
                with receiver._lock:
                    receiver.seen += 1
                    status, headers = receiver.answer(receiver.seen)
                    if 200 <= status < 300:
                        receiver.delivered.append(Received(dict(self.headers.items()), body))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def up(self) -> None:
        """Listen (again, on the same port)."""
        port = self._server.server_address[1] if self._server else 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def down(self) -> None:
        """Stop listening: connections are refused."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def ids(self) -> list[str]:
        return [r.record["alert_id"] for r in self.delivered]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.release.set()
    running.down()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    ensure_schema(engine)
    yield SqlStore(engine)
    engine.dispose()


class Wall:
    """Epoch microseconds that only move when the test says."""

    def __init__(self) -> None:
        self.now = START_US

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)


def make_alert(n: int, listing: str = "biren") -> StoredAlert:
    alert_id = f"{listing[:4]}{n:028x}"
    record = {
        "alert_id": alert_id,
        "listing": listing,
        "symbol": "6082.HK",
        "rule": f"rule-{n}",
        "ts": "2026-01-02T10:15:00+08:00",
        "message": f"Biren alert {n}: 37.86 HK$, 比發行價高 93.2%",
    }
    return StoredAlert(
        alert_id,
        listing,
        f"rule-{n}",
        n,
        0,
        json.dumps(record, ensure_ascii=False, separators=(", ", ": ")),
    )


def webhook(url: str, **retry: Any) -> WebhookSink:
    policy = RetryPolicy(
        retry.get("max_attempts", 5), retry.get("initial", 1.0), retry.get("max", 30.0)
    )
    return WebhookSink(url, secret=SECRET, timeout=retry.get("timeout", 5.0), retry=policy)


@pytest.fixture
def make_ingestor(
    store: SqlStore, tmp_path: Path
) -> Iterator[Callable[..., tuple[Ingestor, Wall]]]:
    made: list[Ingestor] = []

    def make(*sinks: Any) -> tuple[Ingestor, Wall]:
        wall = Wall()
        ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "alerts.jsonl"), *sinks], wall_us=wall)
        made.append(ingestor)
        return ingestor, wall

    yield make
    for ingestor in made:
        ingestor.outbox.close()


def log_ids(tmp_path: Path) -> list[str]:
    path = tmp_path / "alerts.jsonl"
    return [json.loads(line)["alert_id"] for line in path.read_text().splitlines()]


def states(ingestor: Ingestor, sink: str = "webhook") -> list[str]:
    found = ingestor.outbox.states()
    return [found[a.alert_id][sink].state for a in ingestor.store.alerts()]


# --- the request ---------------------------------------------------------------------------------


def test_each_alert_is_posted_as_its_record_signed_with_the_shared_secret(
    receiver: Receiver,
) -> None:
    alert = make_alert(1)
    sink = webhook(receiver.url)
    sink.deliver([Delivery(alert)])
    sink.close()
    (request,) = receiver.delivered
    assert request.body == alert.record.encode("utf-8")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == alert.alert_id
    assert verify(SECRET, request.body, request.headers["X-Tracker-Signature"])
    assert not verify("another secret", request.body, request.headers["X-Tracker-Signature"])
    assert not verify(SECRET, request.body + b" ", request.headers["X-Tracker-Signature"])
    assert "X-Tracker-Redelivery" not in request.headers


def test_without_a_secret_requests_carry_no_signature(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url)
    sink.deliver([Delivery(make_alert(1))])
    sink.close()
    assert "X-Tracker-Signature" not in receiver.delivered[0].headers


@pytest.mark.parametrize(
    ("status", "headers", "reason", "retry_after"),
    [
        (500, {}, "HTTP 500", None),
        (404, {}, "HTTP 404", None),
        (302, {"Location": "/elsewhere"}, "HTTP 302", None),
        (503, {"Retry-After": "120"}, "HTTP 503", 120.0),
        (429, {"Retry-After": "7"}, "HTTP 429", 7.0),
        (500, {"Retry-After": "120"}, "HTTP 500", None),  # only 429 and 503 say when
    ],
)
def test_a_non_2xx_answer_is_a_failure_with_its_status(
    receiver: Receiver, status: int, headers: dict[str, str], reason: str, retry_after: float | None
) -> None:
    receiver.answer = lambda n: (status, headers)
    sink = webhook(receiver.url)
    with pytest.raises(DeliveryError, match=reason) as failure:
        sink.deliver([Delivery(make_alert(1))])
    sink.close()
    assert failure.value.retry_after == retry_after
    assert failure.value.delivered == 0


def test_a_refused_connection_and_a_timeout_are_failures(receiver: Receiver) -> None:
    receiver.hold.set()  # the receiver sits on the request past the timeout
    sink = webhook(receiver.url, timeout=0.2)
    with pytest.raises(DeliveryError, match=r"no answer within 0\.2s"):
        sink.deliver([Delivery(make_alert(1))])
    receiver.release.set()
    receiver.down()
    with pytest.raises(DeliveryError, match=r"POST http://127\.0\.0\.1"):
        sink.deliver([Delivery(make_alert(2))])
    sink.close()
    receiver.up()


class Dripper:
    """A receiver on 127.0.0.1 that answers a byte at a time, ``every`` seconds apart."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks"
        self.done = threading.Event()
        self.arrived = threading.Event()  # set when the first request has come
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            self.arrived.set()
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if self.done.wait(self.every):
                    return
                with contextlib.suppress(OSError):
                    connection.sendall(bytes([byte]))

    def close(self) -> None:
        self.done.set()
        self.listener.close()


def test_the_timeout_is_a_deadline_for_the_whole_request_however_slow_the_drip() -> None:
    dripper = Dripper(every=0.1)  # each byte well within the timeout: 3.8 s in all
    sink = webhook(dripper.url, timeout=0.5)
    started = time.monotonic()

    with pytest.raises(DeliveryError, match=r"no answer within 0\.5s"):
        sink.deliver([Delivery(make_alert(1))])

    assert time.monotonic() - started < 2.0
    sink.close()
    dripper.close()


def test_a_caller_inside_a_running_event_loop_delivers_too(receiver: Receiver) -> None:
    """An async application (or Playwright's sync API) has a loop running in the thread."""
    sink = webhook(receiver.url)

    async def deliver_from_a_coroutine() -> None:
        sink.deliver([Delivery(make_alert(1))])
        sink.close()

    # a thread of its own: this one may already run a loop (the browser tests' Playwright)
    caller = threading.Thread(target=asyncio.run, args=(deliver_from_a_coroutine(),))
    caller.start()
    caller.join()

    assert receiver.ids() == [make_alert(1).alert_id]


def test_a_batch_stops_at_its_first_failure_saying_how_many_got_through(
    receiver: Receiver,
) -> None:
    receiver.answer = lambda n: (200, {}) if n < 3 else (503, {})
    sink = webhook(receiver.url)
    with pytest.raises(DeliveryError) as failure:
        sink.deliver([Delivery(make_alert(n)) for n in range(1, 6)])
    sink.close()
    assert failure.value.delivered == 2
    assert receiver.seen == 3


# --- retries, order, dead letters -----------------------------------------------------------------


def test_receiver_down_then_back_gets_every_alert_in_order_per_listing(
    receiver: Receiver, make_ingestor: Callable[..., tuple[Ingestor, Wall]], tmp_path: Path
) -> None:
    ingestor, wall = make_ingestor(webhook(receiver.url, max_attempts=50, max=8.0))
    alerts = [make_alert(n, listing) for n in range(1, 7) for listing in ("biren", "moore")]
    receiver.down()
    ingestor.store.add_alerts(alerts[:6], [s.name for s in ingestor.sinks])
    ingestor.dispatch()
    assert log_ids(tmp_path) == [a.alert_id for a in alerts[:6]]  # the log does not wait
    assert receiver.delivered == []
    for step in range(40):  # down for refused connections, then answering 503s, then back
        if step == 10:
            receiver.up()
            receiver.answer = lambda n: (503, {}) if n <= 6 else (200, {})
        if step == 12:
            ingestor.store.add_alerts(alerts[6:], [s.name for s in ingestor.sinks])
        wall.advance(3)
        ingestor.dispatch()
    assert sorted(receiver.ids()) == sorted(a.alert_id for a in alerts)  # each exactly once
    for listing in ("biren", "moore"):
        arrived = [
            r.record["alert_id"] for r in receiver.delivered if r.record["listing"] == listing
        ]
        assert arrived == [a.alert_id for a in alerts if a.listing_id == listing]
    assert set(states(ingestor)) == {DELIVERED}
    assert log_ids(tmp_path) == [a.alert_id for a in alerts]


def test_retries_wait_with_exponential_backoff_and_jitter_in_wall_time(
    receiver: Receiver, make_ingestor: Callable[..., tuple[Ingestor, Wall]]
) -> None:
    ingestor, wall = make_ingestor(webhook(receiver.url, max_attempts=10, initial=1.0, max=30.0))
    receiver.down()
    ingestor.store.add_alerts([make_alert(1)], [s.name for s in ingestor.sinks])
    delays = []
    for _ in range(7):
        ingestor.dispatch()
        state = ingestor.outbox.states()[make_alert(1).alert_id]["webhook"]
        assert state.state == PENDING
        assert "POST" in str(state.last_error)
        assert state.next_attempt_us is not None
        delays.append((state.next_attempt_us - wall.now) / 1e6)
        wall.now = state.next_attempt_us
    assert ingestor.outbox.states()[make_alert(1).alert_id]["webhook"].attempts == 7
    # 1, 2, 4, 8, 16 s plus up to 1 s of jitter each, then the 30 s cap
    for attempt, delay in enumerate(delays[:5]):
        assert 2**attempt <= delay <= 2**attempt + 1
    assert delays[5:] == [30.0, 30.0]


def test_a_retry_is_not_attempted_before_its_time(
    receiver: Receiver, make_ingestor: Callable[..., tuple[Ingestor, Wall]]
) -> None:
    ingestor, wall = make_ingestor(webhook(receiver.url))
    receiver.answer = lambda n: (503, {"Retry-After": "120"}) if n == 1 else (200, {})
    ingestor.store.add_alerts([make_alert(1)], [s.name for s in ingestor.sinks])
    ingestor.dispatch()
    wall.advance(60)  # the backoff alone would allow it; Retry-After does not
    assert ingestor.dispatch() == 0
    assert receiver.seen == 1
    wall.advance(61)
    ingestor.dispatch()
    assert receiver.ids() == [make_alert(1).alert_id]


def test_down_for_good_alerts_end_dead_and_redeliver_sends_them_marked_once_it_is_back(
    receiver: Receiver, make_ingestor: Callable[..., tuple[Ingestor, Wall]], tmp_path: Path
) -> None:
    ingestor, wall = make_ingestor(webhook(receiver.url, max_attempts=3, max=5.0))
    first, second = make_alert(1), make_alert(2, "moore")
    receiver.down()
    ingestor.store.add_alerts([first, second], [s.name for s in ingestor.sinks])
    for _ in range(6):
        ingestor.dispatch()
        wall.advance(10)
    assert states(ingestor) == [DEAD, DEAD]
    dead = ingestor.outbox.states()[first.alert_id]["webhook"]
    assert (dead.attempts, dead.next_attempt_us) == (3, None)
    assert "POST" in str(dead.last_error)

    receiver.up()
    later = make_alert(3)  # the same listing: a dead letter holds nothing back
    ingestor.store.add_alerts([later], [s.name for s in ingestor.sinks])
    ingestor.dispatch()
    assert receiver.ids() == [later.alert_id]

    # without a sink only dead letters go again: the webhook's, not the log's delivered copy
    assert ingestor.outbox.redeliver(first.alert_id) == 1
    assert ingestor.outbox.redeliver(second.alert_id, "webhook") == 1
    assert ingestor.outbox.redeliver(second.alert_id, "webhook") == 1  # pending: due now again
    ingestor.dispatch()
    assert receiver.ids() == [later.alert_id, first.alert_id, second.alert_id]
    for request in receiver.delivered[1:]:
        assert request.headers["X-Tracker-Redelivery"] == "true"
        assert request.record["redelivery"] is True
        assert request.headers["Idempotency-Key"] == request.record["alert_id"]
        assert verify(SECRET, request.body, request.headers["X-Tracker-Signature"])
    original = json.loads(first.record)
    assert {k: v for k, v in receiver.delivered[1].record.items() if k != "redelivery"} == original
    assert log_ids(tmp_path) == [first.alert_id, second.alert_id, later.alert_id]  # not twice
    after = ingestor.outbox.states()[first.alert_id]
    assert (after["webhook"].state, after["webhook"].redelivery) == (DELIVERED, True)
    assert (after["log"].state, after["log"].redelivery) == (DELIVERED, False)
