"""``python -m tracker.cli``."""

from tracker.cli import run

run()
