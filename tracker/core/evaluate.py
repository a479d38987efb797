"""The one way ticks meet the rules: a batch of tick columns, streamed or vectorized inside.

Two engines give the same alerts and state: the streaming state machine
(``tracker.core.rules``, the reference, a tick at a time) and the vectorized one
(``tracker.core.batch``, numpy passes per rule and level), held equal by the property
tests in ``tests/unit/test_batch.py``. ``evaluate`` picks: a live poll's batch (one tick
with the provider's day figures), a small batch and a listing whose rules only streaming
runs are streamed; a large batch is vectorized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.core import rules
from tracker.core.model import Extremes, Listing, ListingState
from tracker.core.rules import OpeningOf, PhaseOf

if TYPE_CHECKING:
    from tracker.core.batch import BatchEvaluation, TickArrays

__all__ = ["VECTORIZED_FROM", "OpeningOf", "PhaseOf", "evaluate"]

# Ticks a batch from which the vectorized engine is the faster: its numpy passes cost about
# 10 µs a rule whatever the ticks, streaming 1-2 µs a tick (measured: even at 20-40 ticks
# for 1 to 10 rules).
VECTORIZED_FROM = 32


def evaluate(
    listing: Listing,
    state: ListingState,
    ticks: TickArrays,
    extremes: Extremes | None = None,
    phase_of: PhaseOf | None = None,
    opening_of: OpeningOf | None = None,
) -> BatchEvaluation:
    """Run a listing's ticks, in (ts, seq) order, through its rules.

    The alerts and the state are what ``rules.evaluate`` gives for ``ticks.to_ticks()``
    (see there for ``extremes``, ``phase_of`` and ``opening_of``); the ticks after the
    state's high-water mark, the ones to store, are ``ticks.slice(start)``.

    Raises ValueError when the ticks are out of (ts, seq) order, when a listing with
    rules scoped to phases comes without ``phase_of``, or for a price that is not a
    usable number of millionths.
    """
    # numpy: loaded by whoever made the columns; here so that importing the ingest path does not
    from tracker.core import batch

    if extremes is None and len(ticks) >= VECTORIZED_FROM and batch.vectorizes(listing):
        return batch.evaluate_batch(listing, state, ticks, opening_of)
    batch.check_order(ticks)
    streamed = rules.evaluate(listing, state, ticks.to_ticks(), extremes, phase_of, opening_of)
    return batch.BatchEvaluation(streamed.alerts, streamed.state, len(ticks) - len(streamed.ticks))
