"""Files a command writes for the user: all whole or none, never half-written."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tracker.cli.outputs import Output, check_outputs, write_outputs
from tracker.errors import ConfigError, TrackerError


def test_every_file_is_written_whole_with_the_usual_permissions(tmp_path: Path) -> None:
    (tmp_path / "old.html").write_text("old")
    write_outputs(
        [
            Output("--png", tmp_path / "day.png", b"png", "chart"),
            Output("--html", tmp_path / "old.html", b"new", "page"),
        ]
    )
    assert (tmp_path / "day.png").read_bytes() == b"png"
    assert (tmp_path / "old.html").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.png", "old.html"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "day.png").stat().st_mode) == 0o666 & ~umask


def test_a_file_that_cannot_be_written_leaves_no_file_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "day.png").write_bytes(b"yesterday")
    with pytest.raises(ConfigError, match=r"^--html .*/gone/day\.html: cannot write \("):
        write_outputs(
            [
                Output("--png", tmp_path / "day.png", b"today", "chart"),
                Output("--html", tmp_path / "gone" / "day.html", b"page", "page"),
            ]
        )
    assert (tmp_path / "day.png").read_bytes() == b"yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["day.png"]


def test_a_full_disk_is_an_operational_failure_not_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(TrackerError) as raised:
        write_outputs([Output("--html", tmp_path / "day.html", b"page", "page")])
    assert raised.value.exit_code == 1
    assert "No space left on device" in raised.value.message
    assert not list(tmp_path.iterdir())


def test_a_pipe_or_device_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # so opening it to write does not wait
    try:
        write_outputs([Output("--html", pipe, b"page", "page")])
        assert os.read(reader, 100) == b"page"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_a_symbolic_link_is_written_through_and_kept(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "day.html"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "day.html"
    link.symlink_to(real)
    write_outputs([Output("--html", link, b"new", "page")])
    assert link.is_symlink()
    assert real.read_bytes() == b"new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # a replaced file keeps its permissions
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["day.html"]


@pytest.mark.parametrize(
    ("paths", "problem"),
    [
        ([("--html", "missing/day.html")], "folder .*missing does not exist"),
        ([("--html", "file.txt/day.html")], "file.txt is not a folder"),
        ([("--html", ".")], "is a folder"),
        ([("--png", "day.x"), ("--html", "day.x")], r"--html .*day\.x: the same file as --png"),
    ],
)
def test_paths_that_cannot_be_written_are_refused_before_any_work(
    tmp_path: Path, paths: list[tuple[str, str]], problem: str
) -> None:
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(ConfigError, match=problem):
        check_outputs([(option, tmp_path / path) for option, path in paths])
