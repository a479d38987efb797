"""``.ci/run`` installs each browser package the browser tests need that is missing."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from factories import ROOT

CI = ROOT / ".ci" / "run"


def browser_block() -> str:
    """The script's lines that install the browser, up to the variable the tests read."""
    lines = CI.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "Debian's Chromium" in line)
    end = next(i for i, line in enumerate(lines) if "TRACKER_TEST_BROWSER=required" in line)
    return "\n".join(lines[start:end])


def executable(path: Path, text: str = "#!/bin/sh\n") -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize(
    ("present", "installed"),
    [
        ((), "chromium chromium-driver"),
        (("chromium",), "chromium-driver"),
        (("chromedriver",), "chromium"),
        (("chromium", "chromedriver"), None),
    ],
)
def test_each_missing_browser_package_is_installed(
    tmp_path: Path, present: tuple[str, ...], installed: str | None
) -> None:
    usr_bin, fake_bin = tmp_path / "usr-bin", tmp_path / "bin"
    usr_bin.mkdir()
    fake_bin.mkdir()
    for name in present:
        executable(usr_bin / name)
    calls = tmp_path / "apt-get.calls"
    executable(fake_bin / "apt-get", f'#!/bin/sh\necho "$@" >> {calls}\n')
    block = browser_block().replace("/usr/bin/", f"{usr_bin}/")
    assert f"{usr_bin}/chromium" in block
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    asked = calls.read_text().splitlines() if calls.exists() else []
    if installed is None:
        assert asked == []
    else:
        assert asked == ["update -q", f"install -y -q {installed}"]
