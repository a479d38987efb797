"""Numbers in providers' payloads: text read as a plain decimal, or refused as garbage."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.sources.providers import _DECIMAL, as_number, text_number
from tracker.sources.providers.base import QuoteError

# digits, signs, points, exponents, words float() knows, underscores, a non-ASCII digit
CHARACTERS = "0123456789.eE+-_ naifINFxX\u0663"


def as_plain_decimal(text: str) -> float | str | None:
    """The reference: empty is None; a plain decimal (sign, digits, point, exponent) is its
    value; anything else is garbage."""
    stripped = text.strip()
    if not stripped:
        return None
    return float(stripped) if _DECIMAL.fullmatch(stripped) else "garbage"


@pytest.mark.parametrize(
    "read", [text_number, lambda text, name: as_number(text, name, strings=True)]
)
@settings(max_examples=3000)
@given(st.text(alphabet=CHARACTERS, max_size=8))
def test_text_figures_read_as_plain_decimals_only(read: Any, text: str) -> None:
    try:
        got: float | str | None = read(text, "price")
    except QuoteError as exc:
        got = "garbage" if exc.reason == "garbage payload" else exc.reason
    expected = as_plain_decimal(text)
    if isinstance(got, float) and isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected, text
