"""Backoff between failed attempts: exponential, with jitter, capped.

One rule for the poller (a quote source that fails) and the outbox (a sink that
fails). Pure: the jitter's random draw comes in as an argument.
"""

from __future__ import annotations

_EXPONENT_MAX = 1023  # 2.0**1024 overflows a float; every cap is reached long before


def backoff_delay(attempt: int, initial: float, cap: float, draw: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (counted from 1), at most ``cap``.

    ``initial`` doubled at each attempt (1, 2, 4... times it), plus ``draw`` (in
    [0, 1): ``random.random()``) times ``initial`` of jitter.
    """
    exponent = min(attempt - 1, _EXPONENT_MAX)
    return min(initial * 2.0**exponent + initial * draw, cap)
