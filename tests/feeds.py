"""``tracker feed`` and ``tracker run`` as real processes, for the end-to-end tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
from commands import tracker_command, tracker_env
from factories import LISTINGS, SAMPLE_TAPE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live_config(folder: Path, port: int, interval: float) -> Path:
    """The shipped listings with the Biren source pointed at a local feed."""
    text = LISTINGS.read_text()
    text = text.replace(
        "http://127.0.0.1:8765/quotes/biren", f"http://127.0.0.1:{port}/quotes/biren"
    )
    text = text.replace("interval = 5", f"interval = {interval:g}")
    assert f":{port}/" in text
    path = folder / "listings.toml"
    path.write_text(text)
    return path


class Feed:
    """``tracker feed`` in the background, stopped at the end of the test."""

    def __init__(self, config: Path, port: int, speed: float, start: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [
                *tracker_command(),
                "feed",
                str(SAMPLE_TAPE),
                "--listing",
                "biren",
                "--config",
                str(config),
                "--start",
                start,
                "--speed",
                str(speed),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=tracker_env(),
        )
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()  # printed once the server listens
        assert f"127.0.0.1:{port}/quotes/biren" in banner, (
            self.process.stderr.read() if self.process.stderr else ""
        )

    @property
    def clock_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/clock"

    def wait_until(self, instant: str, deadline: float = 60) -> None:
        """Block until the feed's clock reaches an instant (asking the feed, no sleeping)."""
        end = time.monotonic() + deadline
        with httpx.Client() as client:
            while client.get(self.clock_url).json()["now"] < instant:
                assert time.monotonic() < end, f"the feed's clock never reached {instant}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


def daemon_args(config: Path, folder: Path, feed: Feed, *extra: str) -> list[str]:
    return [
        *tracker_command(),
        "-v",
        "run",
        "--config",
        str(config),
        "--db",
        f"sqlite:///{folder / 'live.db'}",
        "--alert-log",
        str(folder / "live.jsonl"),
        "--clock",
        feed.clock_url,
        *extra,
    ]
