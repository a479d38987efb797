"""Where ticks come from: recorded tapes and, later, live quote providers."""

from __future__ import annotations

from pathlib import Path

PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


def is_parquet(path: Path) -> bool:
    """Whether a tape is Parquet (by its suffix); any other tape is CSV."""
    return path.suffix.lower() in PARQUET_SUFFIXES
