"""The ``tracker`` program's entry point."""

from __future__ import annotations

import gc

import pytest

import tracker.cli


def test_run_exits_with_mains_code_after_freezing_what_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(tracker.cli, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))

    with pytest.raises(SystemExit) as exited:
        tracker.cli.run()

    assert exited.value.code == 3
    assert calls == ["main", "freeze"]
