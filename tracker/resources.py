"""Files shipped with the package: the sample day, the Biren listing, the migrations."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

PACKAGE = Path(str(resources.files("tracker")))
SAMPLE_TAPE = PACKAGE / "data" / "biren-2026-01-02.csv"
SAMPLE_LISTING = "biren"
SAMPLE_DATE = dt.date(2026, 1, 2)


def bundled(relative: str) -> Path:
    """A top-level project file (``db``, ``config/listings.toml``) as installed or checked out.

    A wheel carries them under ``tracker/_bundled``; an editable install or a
    checkout finds them beside the package.
    """
    installed = PACKAGE / "_bundled" / relative
    return installed if installed.exists() else PACKAGE.parent / relative
