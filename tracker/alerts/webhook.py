"""The webhook sink: each alert record POSTed as JSON, signed with HMAC-SHA256.

What a receiver gets, one request per alert:

- the body: the alert record (the alert log's JSON object), UTF-8; a redelivery
  adds ``"redelivery": true`` to it;
- ``Content-Type: application/json``;
- ``Idempotency-Key: <alert_id>``: the same on every retry and redelivery of an
  alert, so a receiver can drop the repeats (delivery is at least once);
- ``X-Tracker-Signature: sha256=<hex>`` when a shared secret is set
  (``TRACKER_SINKS__WEBHOOK__SECRET``): the hex HMAC-SHA256 of the raw body
  bytes, keyed with the secret's UTF-8 bytes;
- ``X-Tracker-Redelivery: true`` on a redelivery.

Any 2xx answer is a delivery; anything else, a timeout or a refused connection
is a failure, tried again later. ``timeout`` is a deadline for the whole request,
however slowly a receiver drips its answer. ``Retry-After`` (seconds or an HTTP date) on a
429 or 503 is the least wait before the next attempt.

A receiver verifies the signature over the raw body, before parsing it::

    import hashlib
    import hmac

    def verify(secret: str, raw_body: bytes, signature: str) -> bool:
        digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"sha256={digest}".encode(), signature.encode())

Compute it over the exact bytes received (not a re-serialized JSON object),
compare with ``hmac.compare_digest`` (constant time), never ``==``, and refuse a
request whose header is missing or does not match, e.g.
``verify(secret, body, headers.get("X-Tracker-Signature", ""))``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import httpx

from tracker.alerts.sinks import Delivery, DeliveryError, RetryPolicy

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tracker-Signature"
REDELIVERY_HEADER = "X-Tracker-Redelivery"

T = TypeVar("T")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Tracker-Signature`` value of a body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def request_body(delivery: Delivery) -> bytes:
    """The bytes POSTed for an alert: its record, marked when it is a redelivery."""
    record = delivery.alert.record
    if delivery.redelivery:
        fields = json.loads(record)
        fields["redelivery"] = True
        record = json.dumps(fields, ensure_ascii=False, separators=(", ", ": "))
    return record.encode("utf-8")


class WebhookSink:
    """POSTs each alert record to a URL, one request per alert, each within ``timeout``.

    The requests run on an event loop of the sink's own, in a thread of its own, so
    that one can be cut off at its deadline wherever it stands (connecting, sending,
    or reading an answer a byte at a time), and so that a caller that is itself
    inside a running event loop (an async application, Playwright's sync API) can
    deliver too; one thread at a time delivers to a sink (the outbox's lock).
    """

    batch_size = 1
    local = False

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        user_agent: str = "listing-tracker",
        name: str = "webhook",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.url = url
        self.retry = retry or RetryPolicy()
        self._secret = secret.encode("utf-8") if secret else None
        self._wall = wall
        self.deadline = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"{name}-sink", daemon=True
        )
        self._thread.start()
        self._client = httpx.AsyncClient(timeout=timeout, headers={"User-Agent": user_agent})

    def deliver(self, batch: Sequence[Delivery]) -> None:
        """POST each alert in turn; stop at the first failure."""
        for done, delivery in enumerate(batch):
            try:
                self._post(delivery)
            except DeliveryError as exc:
                exc.delivered = done
                raise

    def close(self) -> None:
        """Close the HTTP connections and the event loop."""
        if self._loop.is_closed():
            return
        self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the sink's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def _post(self, delivery: Delivery) -> None:
        body = request_body(delivery)
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.alert.alert_id}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        if delivery.redelivery:
            headers[REDELIVERY_HEADER] = "true"
        request = self._client.post(self.url, content=body, headers=headers)
        try:
            response = self._run(asyncio.wait_for(request, self.deadline))
        except (httpx.TimeoutException, TimeoutError):
            raise DeliveryError(f"POST {self.url}: no answer within {self.deadline:g}s") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"POST {self.url}: {exc or type(exc).__name__}") from None
        if response.is_success:
            logger.debug("%s: delivered %s", self.name, delivery.alert.alert_id)
            return
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = self._retry_after(response.headers.get("Retry-After"))
        raise DeliveryError(
            f"POST {self.url}: HTTP {response.status_code} {response.reason_phrase}".rstrip(),
            retry_after=retry_after,
        )

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, when.timestamp() - self._wall())
