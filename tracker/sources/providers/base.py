"""What every quote provider returns, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from tracker.errors import SourceUnavailableError


@dataclass(frozen=True, slots=True)
class Quote:
    """A provider's latest quote for one listing.

    ``ts_us`` is the last trade's instant (epoch microseconds, UTC); ``volume`` and
    ``turnover`` are cumulative for the trading day; ``high`` and ``low`` are the
    day's so far. Before the first trade of a debut ``price`` and ``ts_us`` are None
    ("no trade yet", which is not a fault).
    """

    ts_us: int | None
    price: float | None
    volume: float | None = None
    turnover: float | None = None
    high: float | None = None
    low: float | None = None

    @property
    def traded(self) -> bool:
        """Whether the quote reports a trade (a price and its time)."""
        return self.price is not None and self.ts_us is not None


class QuoteError(SourceUnavailableError):
    """A poll failed: timeout, refused, HTTP error, or a payload that cannot be trusted.

    ``reason`` is short and stable (e.g. ``"HTTP 503"``, ``"timeout"``,
    ``"garbage payload"``) so a caller can log each new reason once;
    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.retry_after = retry_after


class QuoteProvider(Protocol):
    """One listing's quote source."""

    name: str
    url: str

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        ...
