"""The outbox dispatcher: committed alerts go to every sink, each delivery recorded per sink.

Per sink and per listing, alerts go out in store order: one that fails holds back
the listing's later alerts for that sink until it is delivered or dead-lettered.
Failed attempts wait with exponential backoff and jitter, in wall time; a sink's
failures never hold back another sink.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence

from tracker.alerts.sinks import AlertSink, Delivery, DeliveryError
from tracker.core.backoff import backoff_delay
from tracker.core.model import StoredAlert
from tracker.store.deliveries import LOG_SINK, DeliveryState, DueDelivery, Failure, SqlDeliveries

logger = logging.getLogger(__name__)

RETRY_AFTER_MAX = 3600.0  # wall seconds: the longest Retry-After honoured
WallClock = Callable[[], int]  # epoch microseconds


class Outbox:
    """Delivers due alerts to each sink and records every attempt's outcome."""

    def __init__(
        self,
        deliveries: SqlDeliveries,
        sinks: Sequence[AlertSink],
        wall_us: WallClock = lambda: time.time_ns() // 1000,
    ) -> None:
        self.deliveries = deliveries
        self.sinks = tuple(sinks)
        self._wall_us = wall_us
        self._locks = {sink.name: threading.Lock() for sink in self.sinks}
        # Right after a start, or after an outcome could not be recorded, any pending
        # alert may already be at the sink: the first pass says so to the sink.
        self._in_doubt = {sink.name for sink in self.sinks}
        self._not_before: dict[str, int] = {}  # per sink: no request before (wall µs)
        # What this process committed and no pass has handed over yet, per sink, numbered
        # in commit order; for the sinks in ``_clear`` (their last pass left nothing
        # pending behind), a pass right after a commit needs no read of the store.
        self._fresh: dict[str, list[tuple[int, StoredAlert]]] = {s.name: [] for s in self.sinks}
        self._noted = 0  # the number of the last alert noted
        self._noting = threading.Lock()
        self._clear: set[str] = set()
        # Set when the process stops: a remote sink's pass ends after the request in hand
        # (each within its deadline); what is left stays pending for the next run.
        self.stopping = threading.Event()

    def committed(self, alerts: Sequence[StoredAlert]) -> None:
        """Note alerts this process has just committed, in commit order, for every sink.

        A silenced alert is noted for the alert log only: the store queued it for no
        other sink (``_insert_alerts``), so a pass that reads no store must not send it.
        """
        if not alerts:
            return
        with self._noting:
            numbered = list(enumerate(alerts, start=self._noted + 1))
            self._noted += len(alerts)
            heard = [(n, alert) for n, alert in numbered if not alert.silenced]
            for sink, fresh in self._fresh.items():
                fresh.extend(numbered if sink == LOG_SINK else heard)

    def dispatch(self, fresh: bool = False) -> int:
        """Attempt every due delivery to every sink once; return how many were delivered.

        ``fresh``: called right after a commit (see ``dispatch_sink``).
        """
        return sum(self.dispatch_sink(sink, fresh) for sink in self.sinks)

    def dispatch_sink(self, sink: AlertSink, fresh: bool = False) -> int:
        """Attempt a sink's due deliveries once, in order; return how many were delivered.

        With ``fresh`` (right after a commit of this process), when the sink's last pass
        left nothing pending behind, what is due is exactly what ``committed`` noted
        since: the pass hands that over without reading the store. Anything else (a
        retry, another process's alerts, a redelivery) waits for a pass without
        ``fresh``, such as the daemon's every-second one.
        """
        with self._locks[sink.name]:
            if self._now_us() < self._not_before.get(sink.name, 0):
                return 0  # the receiver asked for a pause (Retry-After)
            clear = sink.name in self._clear
            self._clear.discard(sink.name)  # until this pass has ended well
            if fresh and clear:
                due, waiting = [DueDelivery(a, 0, False) for a in self._take(sink.name)], False
            else:
                seen = self._noted
                due, waiting = self.deliveries.pending(sink.name, self._now_us())
                self._handed(sink.name, seen, {d.alert.alert_id for d in due})
            doubt = sink.name in self._in_doubt
            held: set[str] = set()  # listings with an alert that failed in this pass, to retry
            delivered = 0
            position = 0
            while position < len(due):
                if self.stopping.is_set() and not sink.local:
                    waiting = True
                    break
                batch: list[DueDelivery] = []
                while position < len(due) and len(batch) < sink.batch_size:
                    if due[position].alert.listing_id not in held:
                        batch.append(due[position])
                    position += 1
                if batch:
                    done, retrying = self._attempt(sink, batch, doubt)
                    held |= retrying
                    delivered += done
                    waiting = waiting or done < len(batch)
                    if self._now_us() < self._not_before.get(sink.name, 0):
                        break  # Retry-After pauses the whole sink, not only that listing
            self._in_doubt.discard(sink.name)
            if not waiting and position >= len(due):
                self._clear.add(sink.name)
            if delivered:
                logger.debug("%s: delivered %d alerts", sink.name, delivered)
            return delivered

    def _attempt(
        self, sink: AlertSink, batch: list[DueDelivery], doubt: bool
    ) -> tuple[int, set[str]]:
        """Hand a batch to the sink and record the outcome.

        Returns how many were delivered, and the listings of the failed ones that
        wait for a retry (a dead letter holds nothing back).
        """
        items = [
            Delivery(
                due.alert,
                due.attempts + 1,
                due.redelivery,
                doubt or due.attempts > 0 or due.redelivery,
            )
            for due in batch
        ]
        error: DeliveryError | None = None
        try:
            sink.deliver(items)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a sink's own bug must not stop the other sinks
            logger.error(
                "%s: delivery raised %s",
                sink.name,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
        if error is not None and error.retry_after:
            pause = min(error.retry_after, RETRY_AFTER_MAX)
            self._not_before[sink.name] = self._now_us() + int(pause * 1e6)
        done = len(batch) if error is None else max(0, min(error.delivered, len(batch)))
        failures = [] if error is None else self._failures(sink, batch[done:], error)
        try:
            self.deliveries.delivered(sink.name, [due.alert.alert_id for due in batch[:done]])
            self.deliveries.failed(sink.name, failures)
        except Exception:
            self._in_doubt.add(sink.name)
            raise
        listings = {due.alert.alert_id: due.alert.listing_id for due in batch}
        return done, {listings[f.alert_id] for f in failures if f.next_attempt_us is not None}

    def _failures(
        self, sink: AlertSink, failed: list[DueDelivery], error: DeliveryError
    ) -> list[Failure]:
        """When each failed delivery is tried again, or None for the dead letters."""
        now_us = self._now_us()
        policy = sink.retry
        floor = min(error.retry_after or 0.0, RETRY_AFTER_MAX)
        failures = []
        retried: list[tuple[str, int, float]] = []
        for due in failed:
            attempt = due.attempts + 1
            alert_id = due.alert.alert_id
            if policy.max_attempts is not None and attempt >= policy.max_attempts:
                failures.append(Failure(alert_id, error.message, None))
                logger.error(
                    "%s: alert %s dead-lettered after %d attempts: %s",
                    sink.name,
                    alert_id,
                    attempt,
                    error.message,
                )
                continue
            wait = backoff_delay(
                attempt, policy.backoff_initial, policy.backoff_max, random.random()
            )
            delay = max(wait, floor)
            failures.append(Failure(alert_id, error.message, now_us + int(delay * 1e6)))
            retried.append((alert_id, attempt, delay))
        if retried:
            alert_id, attempt, delay = retried[0]
            more = f" and {len(retried) - 1} more" if len(retried) > 1 else ""
            logger.warning(
                "%s: alert %s%s not delivered (attempt %d): %s; next attempt in %.1fs",
                sink.name,
                alert_id,
                more,
                attempt,
                error.message,
                delay,
            )
        return failures

    def _take(self, sink: str) -> list[StoredAlert]:
        """The alerts noted for a sink, handed over now."""
        with self._noting:
            fresh, self._fresh[sink] = self._fresh[sink], []
        return [alert for _, alert in fresh]

    def _handed(self, sink: str, seen: int, due: set[str]) -> None:
        """Forget the noted alerts a pass that read the store has in hand or found gone.

        An alert noted by ``seen`` was committed before the read: if it is not due, it
        was delivered, or waits behind a retry and a later read finds it. One noted
        after may have been committed after the read: it stays noted unless due now.
        """
        with self._noting:
            self._fresh[sink] = [
                (number, alert)
                for number, alert in self._fresh[sink]
                if number > seen and alert.alert_id not in due
            ]

    def redeliver(self, alert_id: str, sink: str | None = None) -> int:
        """Queue an alert again: its dead and pending deliveries, or any one of ``sink``.

        Returns how many sink deliveries were queued; the next dispatch sends them.
        """
        return self.deliveries.redeliver(alert_id, sink)

    def paused_until(self, sink: str) -> int:
        """The wall time (µs) before which a sink gets no request (its Retry-After), or 0."""
        return self._not_before.get(sink, 0)

    def drain(self, *, wait: bool = False, sleep: Callable[[float], None] = time.sleep) -> None:
        """Deliver what is due to every sink; with ``wait``, wait out each retry's backoff
        until nothing is pending (each delivery delivered or dead-lettered).

        The alert log is never dead-lettered: waiting stops at its first failed pass. Its
        retries wait for nothing here (trying a local file again costs nothing).
        """
        for sink in self.sinks:
            if sink.local:
                self.deliveries.due_now(sink.name)
        while True:
            self.dispatch()
            if not wait:
                return
            left = self.deliveries.undelivered()
            waits = []
            for sink in self.sinks:
                undelivered = left.get(sink.name)
                if undelivered is None or not undelivered.pending:
                    continue
                if sink.retry.max_attempts is None:
                    return  # the alert log cannot be written: waiting will not help
                due_us = max(undelivered.next_attempt_us or 0, self.paused_until(sink.name))
                if due_us > 0:  # else nothing to wait for: what is due was just tried
                    waits.append(due_us - self._now_us())
            if not waits:
                return
            sleep(max(0.0, min(waits) / 1_000_000))

    def states(self, alert_ids: Sequence[str] | None = None) -> dict[str, dict[str, DeliveryState]]:
        """Per alert id, per sink, where its delivery stands."""
        return self.deliveries.states(alert_ids)

    def close(self) -> None:
        """Close every sink's connections."""
        for sink in self.sinks:
            sink.close()

    def _now_us(self) -> int:
        return self._wall_us()


class DispatchThreads:
    """One thread per remote sink, delivering as soon as woken: none waits on another.

    Local sinks have no thread: ``wake`` delivers to them in the caller's.
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._stopping = threading.Event()
        remote = [sink for sink in outbox.sinks if not sink.local]
        self._local = [sink for sink in outbox.sinks if sink.local]
        self._wakes = {sink.name: threading.Event() for sink in remote}
        self._threads = [
            threading.Thread(target=self._run, args=(sink,), name=f"dispatch:{sink.name}")
            for sink in remote
        ]

    def start(self) -> None:
        """Start the threads; each delivers what is due at once, as do the local sinks."""
        for thread in self._threads:
            thread.start()
        self.wake()

    def wake(self, fresh: bool = False) -> None:
        """Have every sink deliver what is due now (new alerts, retries whose time came).

        The local sinks are delivered to here, before this returns; ``fresh``: right
        after a commit of alerts (``Outbox.dispatch_sink``).
        """
        for event in self._wakes.values():
            event.set()
        for sink in self._local:
            self._dispatch(sink, fresh)

    def stop(self) -> None:
        """Let each thread finish the delivery in hand, then end."""
        self._stopping.set()
        self.outbox.stopping.set()
        for event in self._wakes.values():
            event.set()
        for thread in self._threads:
            thread.join()
        self.outbox.stopping.clear()  # a later dispatch in this process delivers in full

    def _run(self, sink: AlertSink) -> None:
        wake = self._wakes[sink.name]
        while True:
            wake.wait()
            wake.clear()
            if self._stopping.is_set():
                return
            self._dispatch(sink)

    def _dispatch(self, sink: AlertSink, fresh: bool = False) -> None:
        try:
            self.outbox.dispatch_sink(sink, fresh)
        except Exception as exc:
            logger.error(
                "%s: dispatch failed: %s",
                sink.name,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
