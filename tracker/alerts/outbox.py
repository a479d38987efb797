"""The outbox dispatcher: committed alerts go to every sink, each delivery recorded per sink.

Per sink and per listing, alerts go out in store order: one that fails holds back
the listing's later alerts for that sink until it is delivered or dead-lettered.
Failed attempts wait with exponential backoff and jitter, in wall time; a sink's
failures never hold back another sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import tenacity

from tracker.alerts.sinks import AlertSink, Delivery, DeliveryError, RetryPolicy
from tracker.store.deliveries import DeliveryState, DueDelivery, Failure, SqlDeliveries

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

    def dispatch(self) -> int:
        """Attempt every due delivery to every sink once; return how many were delivered."""
        return sum(self.dispatch_sink(sink) for sink in self.sinks)

    def dispatch_sink(self, sink: AlertSink) -> int:
        """Attempt a sink's due deliveries once, in order; return how many were delivered."""
        with self._locks[sink.name]:
            if self._now_us() < self._not_before.get(sink.name, 0):
                return 0  # the receiver asked for a pause (Retry-After)
            due = self.deliveries.due(sink.name, self._now_us())
            doubt = sink.name in self._in_doubt
            held: set[str] = set()  # listings with an alert that failed in this pass, to retry
            delivered = 0
            position = 0
            while position < len(due):
                batch: list[DueDelivery] = []
                while position < len(due) and len(batch) < sink.batch_size:
                    if due[position].alert.listing_id not in held:
                        batch.append(due[position])
                    position += 1
                if batch:
                    done, waiting = self._attempt(sink, batch, doubt)
                    held |= waiting
                    delivered += done
                    if self._now_us() < self._not_before.get(sink.name, 0):
                        break  # Retry-After pauses the whole sink, not only that listing
            self._in_doubt.discard(sink.name)
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
        wait = backoff(policy)
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
            state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
            state.attempt_number = attempt
            delay = max(wait(state), floor)
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

    def redeliver(self, alert_id: str, sink: str | None = None) -> int:
        """Queue a dead or delivered alert again, as a redelivery, for one sink or every sink.

        Returns how many sink deliveries were queued; the next dispatch sends them.
        """
        return self.deliveries.redeliver(alert_id, sink)

    def states(self, alert_ids: Sequence[str] | None = None) -> dict[str, dict[str, DeliveryState]]:
        """Per alert id, per sink, where its delivery stands."""
        return self.deliveries.states(alert_ids)

    def close(self) -> None:
        """Close every sink's connections."""
        for sink in self.sinks:
            sink.close()

    def _now_us(self) -> int:
        return self._wall_us()


def backoff(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    """Exponential backoff from ``backoff_initial`` with as much jitter, capped at the max."""
    strategy = tenacity.wait_exponential(
        multiplier=policy.backoff_initial, max=policy.backoff_max
    ) + tenacity.wait_random(0, policy.backoff_initial)

    def wait(state: tenacity.RetryCallState) -> float:
        return min(float(strategy(state)), policy.backoff_max)

    return wait


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

    def wake(self) -> None:
        """Have every sink deliver what is due now (new alerts, retries whose time came).

        The local sinks are delivered to here, before this returns.
        """
        for event in self._wakes.values():
            event.set()
        for sink in self._local:
            self._dispatch(sink)

    def stop(self) -> None:
        """Let each thread finish the delivery in hand, then end."""
        self._stopping.set()
        for event in self._wakes.values():
            event.set()
        for thread in self._threads:
            thread.join()

    def _run(self, sink: AlertSink) -> None:
        wake = self._wakes[sink.name]
        while True:
            wake.wait()
            wake.clear()
            if self._stopping.is_set():
                return
            self._dispatch(sink)

    def _dispatch(self, sink: AlertSink) -> None:
        try:
            self.outbox.dispatch_sink(sink)
        except Exception as exc:
            logger.error(
                "%s: dispatch failed: %s",
                sink.name,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
