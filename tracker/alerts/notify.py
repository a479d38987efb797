"""Notifications through apprise URLs (Telegram, Slack, Discord, e-mail, ...): one sink per URL.

Each URL is its own sink (``apprise`` when there is one, else ``apprise-1``,
``apprise-2``... in the order of ``TRACKER_SINKS__APPRISE__URLS``), so a channel that
fails is retried and dead-lettered on its own and the others do not get repeats.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import apprise

from tracker.alerts.sinks import Delivery, DeliveryError, RetryPolicy
from tracker.errors import ConfigError

logger = logging.getLogger(__name__)

URLS_VARIABLE = "TRACKER_SINKS__APPRISE__URLS"


def split_urls(text: str) -> list[str]:
    """The URLs of a comma- or space-separated list."""
    return [url for url in re.split(r"[,\s]+", text) if url]


def notification(delivery: Delivery) -> tuple[str, str]:
    """The title and body of an alert's notification: its symbol and rule, its message."""
    record: dict[str, Any] = json.loads(delivery.alert.record)
    title = f"{record.get('symbol', record.get('listing', ''))} {record.get('rule', '')}".strip()
    if delivery.redelivery:
        title += " (redelivery)"
    return title, str(record.get("message", ""))


class AppriseSink:
    """Sends each alert's message to one apprise URL."""

    batch_size = 1
    local = False

    def __init__(
        self,
        url: str,
        *,
        name: str = "apprise",
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.retry = retry or RetryPolicy()
        service = apprise.Apprise.instantiate(url)
        if service is None:
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise ConfigError(
                f"{URLS_VARIABLE}: {name}: not a URL apprise supports (scheme {scheme!r})"
            )
        service.socket_connect_timeout = timeout
        service.socket_read_timeout = timeout
        self._apprise = apprise.Apprise()
        self._apprise.add(service)

    def deliver(self, batch: Sequence[Delivery]) -> None:
        """Notify each alert in turn; stop at the first failure."""
        for done, delivery in enumerate(batch):
            title, body = notification(delivery)
            try:
                result = self._apprise.notify(body=body, title=title)
            except Exception as exc:  # a plugin's own failure is a failed delivery
                raise DeliveryError(f"apprise: {type(exc).__name__}: {exc}", done) from None
            if not result:
                raise DeliveryError(f"apprise: {_reason(result)}", done)
            logger.debug("%s: delivered %s", self.name, delivery.alert.alert_id)

    def close(self) -> None:
        """Nothing to release: apprise opens a connection per notification."""


def apprise_sinks(urls: str, timeout: float, retry: RetryPolicy) -> list[AppriseSink]:
    """A sink per URL of a comma-separated list, named by position when there are several."""
    listed = split_urls(urls)
    if not listed:
        raise ConfigError(f"{URLS_VARIABLE}: no URL given")
    names = ["apprise"] if len(listed) == 1 else [f"apprise-{i}" for i in range(1, len(listed) + 1)]
    return [
        AppriseSink(url, name=name, timeout=timeout, retry=retry)
        for name, url in zip(names, listed, strict=True)
    ]


def _reason(result: Any) -> str:
    """The last warning apprise gave for a failed notification, where it keeps them."""
    messages = [
        str(entry.message)
        for entry in getattr(result, "logs", list)()
        if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL")
    ]
    return messages[-1] if messages else "notification failed"
