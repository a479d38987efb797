"""The backoff between failed attempts, for the poller and the outbox alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.core.backoff import backoff_delay


def test_backoff_doubles_from_the_initial_wait_until_the_cap() -> None:
    delays = [backoff_delay(attempt, 1.5, 30.0, 0.0) for attempt in range(1, 8)]
    assert delays == [1.5, 3.0, 6.0, 12.0, 24.0, 30.0, 30.0]


def test_backoff_adds_up_to_one_initial_wait_of_jitter_and_never_passes_the_cap() -> None:
    assert backoff_delay(1, 2.0, 60.0, 0.5) == 3.0
    assert backoff_delay(3, 2.0, 60.0, 0.999) == pytest.approx(9.998)
    assert backoff_delay(5, 2.0, 33.0, 0.999) == 33.0  # 32 s and nearly 2 s of jitter: capped


def test_backoff_of_an_attempt_far_past_the_cap_is_the_cap() -> None:
    assert backoff_delay(1_000_000, 1.0, 300.0, 0.7) == 300.0
    assert backoff_delay(1025, 1e-3, 1e6, 0.0) == 1e6


@given(
    attempt=st.integers(1, 5000),
    initial=st.floats(1e-3, 86_400.0),
    cap=st.floats(1e-3, 1e7),
    draw=st.floats(0.0, 1.0, exclude_max=True),
)
def test_backoff_is_the_capped_doubling_plus_jitter(
    attempt: int, initial: float, cap: float, draw: float
) -> None:
    wait = initial
    for _ in range(attempt - 1):
        if wait >= cap:
            break
        wait *= 2
    assert backoff_delay(attempt, initial, cap, draw) == min(wait + initial * draw, cap)
