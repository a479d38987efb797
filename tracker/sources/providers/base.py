"""What every quote provider returns, and how it fails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import httpx

from tracker.core.quotes import Quote
from tracker.errors import SourceUnavailableError


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
    """One listing's quote source.

    Providers with the same ``batch_key`` (not None) can be asked in one request, for up
    to ``batch_limit`` of them: ``fetch_batch`` on any of them answers for all, each quote
    or error in its place.
    """

    name: str
    url: str
    batch_key: str | None
    batch_limit: int

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        ...

    def fetch_batch(
        self, client: httpx.Client, providers: Sequence[QuoteProvider]
    ) -> list[Quote | QuoteError]:
        """One request for several providers of this one's batch key, in their order."""
        ...


__all__ = ["Quote", "QuoteError", "QuoteProvider"]
