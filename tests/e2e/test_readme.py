"""The README stays true: each `tracker` and `curl` example it shows runs, in its order.

The examples run as a user would run them one after the other, in one working
folder holding what the README assumes there: `config/listings.toml`, a tape
`day.csv` (and `day.parquet`) of the sample day, `tracker/data/`. Ports 8765 and
8080 become free ones (in the config too), and the webhook a user would set up is
a receiver on loopback. Daemons and servers are stopped with SIGTERM once they are
up; the README's benchmark commands run with small sizes appended.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.csv
import pyarrow.parquet
import pytest
from commands import tracker_command, tracker_env
from factories import LISTINGS, ROOT, SAMPLE_TAPE
from feeds import free_port

README = (ROOT / "README.md").read_text()
PG_URL = os.environ.get("TRACKER_TEST_PG_URL")


def shell_examples() -> list[str]:
    """The commands of the README's ``sh`` blocks, in order, once each, comments dropped."""
    found: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            command = line.removeprefix("$ ").strip()
            if not command.startswith(("tracker ", "curl ", "python benchmarks/")):
                continue
            command = re.sub(r"\s+#.*$", "", command)
            if command not in found:
                found.append(command)
    return found


@dataclass(frozen=True)
class Plan:
    """How an example runs: to its end with one of ``codes``, or started and kept running
    until ``ready`` shows (then stopped at once, or ``kept`` until the end)."""

    codes: tuple[int, ...] = (0,)  # its exit code, or once stopped (by ``stop``)
    ready: str | None = None  # printed when up, or "heartbeat" (a daemon's row in the db)
    kept: bool = False
    stop: int = signal.SIGTERM
    why: str = ""


DAEMON = Plan(ready="heartbeat")
PLANS: dict[str, Plan] = {
    "tracker demo": Plan(),
    "tracker replay day.csv --listing biren": Plan(),
    "tracker replay day.csv --listing biren --speed 60": Plan(
        why="the day is stored already: a paced replay does not wait for stored ticks"
    ),
    "tracker replay day.parquet --listing biren --dry-run": Plan(),
    "tracker replay day.csv --listing biren --skip-bad": Plan(),
    "tracker run": DAEMON,
    "tracker run --start 2026-01-02T09:00 --speed 60": DAEMON,
    "tracker run --clock http://127.0.0.1:8765/clock": Plan(
        ready="no clock yet", why="no feed runs yet: it waits for one, and stops cleanly"
    ),
    "tracker run --start 2026-01-02T09:00 --speed 600 --until 2026-01-02T09:30": Plan(),
    "tracker run --web 127.0.0.1:8080": Plan(ready="live page at"),
    "tracker feed tracker/data/biren-2026-01-02.csv --listing biren --start 2026-01-02T09:10 "
    "--speed 60": Plan(ready="feed for biren at", kept=True),
    "tracker run --clock http://127.0.0.1:8765/clock --web": Plan(ready="live page at"),
    "tracker serve --db sqlite:///tracker.db": Plan(ready="live page at", kept=True),
    "curl -s 127.0.0.1:8080/api/listings": Plan(),
    "curl -s '127.0.0.1:8080/api/listings/biren/ticks?since=2026-01-02T16:08:30'": Plan(),
    "curl -s --compressed '127.0.0.1:8080/api/listings/biren/bars?interval=1m'": Plan(),
    "curl -s '127.0.0.1:8080/api/alerts?listing=biren&since=2026-01-02T10:15'": Plan(),
    "curl -sN 127.0.0.1:8080/api/events?listing=biren": Plan(ready="retry: 1000"),
    "tracker status": Plan(codes=(1,), why="the README shows a running daemon's; all stopped"),
    "tracker export biren --date 2026-01-02 --out live-day.csv": Plan(),
    "tracker replay live-day.csv --listing biren --dry-run": Plan(),
    "tracker report biren": Plan(),
    "tracker report biren --date 2026-01-02 --json": Plan(),
    "tracker report biren --png biren-day.png": Plan(),
    "tracker report biren --html biren-day.html": Plan(),
    "tracker alerts": Plan(),
    "tracker alerts --listing biren --since 2026-01-02T10:00": Plan(),
    "tracker alerts --since 2h --json": Plan(),
    "tracker alerts redeliver b188410c1b8fdfa00fd34022d214276b --sink webhook": Plan(),
    'tracker alerts silence --listing biren --rule mcap-100b --for 2h --reason "known"': Plan(),
    "tracker alerts silence --listing biren --until 2026-01-02T16:10": Plan(),
    "tracker alerts silences": Plan(),
    "tracker alerts unsilence 1": Plan(),
    "tracker alerts test": Plan(),
    "tracker alerts deliver": Plan(),
    "tracker alerts deliver --wait": Plan(),
    "tracker config check": Plan(),
    "tracker db upgrade --db postgresql://tracker:secret@localhost/tracker": Plan(
        codes=(0,) if PG_URL else (1,), why="a database of the test server stands in for it"
    ),
    "python benchmarks/replay.py": Plan(),
    "python benchmarks/replay.py --db postgresql": Plan(),
    "python benchmarks/replay.py --ticks 10000000 --runs 1": Plan(),
    "python benchmarks/latency.py": Plan(),
    "python benchmarks/capacity.py": Plan(),
    "python benchmarks/capacity.py --trade-every 5 --period 100": Plan(),
    "python benchmarks/busy_day.py": Plan(),
}
# what each benchmark gets appended, so that it runs in seconds (the flags above still parse)
SMALL = {
    "replay.py": ["--ticks", "20000", "--runs", "1"],
    "latency.py": ["--polls", "30", "--warmup", "5"],
    "capacity.py": ["--listings", "3", "--cycles", "200", "--warmup", "1"],
    "busy_day.py": ["--trades", "20000", "--runs", "1"],
}


def test_every_shell_example_of_the_readme_has_a_plan() -> None:
    assert shell_examples() == list(PLANS)  # in the README's order, none left out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A working folder with what the README's examples assume is there."""
    (tmp_path / "config").mkdir()
    (tmp_path / "tracker" / "data").mkdir(parents=True)
    (tmp_path / "tracker" / "data" / SAMPLE_TAPE.name).write_bytes(SAMPLE_TAPE.read_bytes())
    (tmp_path / "day.csv").write_bytes(SAMPLE_TAPE.read_bytes())
    table = pyarrow.csv.read_csv(SAMPLE_TAPE)
    pyarrow.parquet.write_table(table.select(["ts", "price", "volume"]), tmp_path / "day.parquet")
    return tmp_path


class Session:
    """Runs the examples in one folder, with the ports of this machine and a test webhook."""

    def __init__(self, folder: Path, webhook: str) -> None:
        self.folder = folder
        self.feed, self.web = free_port(), free_port()
        config = LISTINGS.read_text().replace(":8765/", f":{self.feed}/")
        (folder / "config" / "listings.toml").write_text(config)
        self.env = tracker_env(
            TRACKER_SINKS__WEBHOOK__URL=webhook,
            TRACKER_SINKS__WEBHOOK__MAX_ATTEMPTS="2",
            TMPDIR=str(folder),  # `tracker demo`'s folder goes here, not in /tmp
        )
        if PG_URL:
            self.env["TRACKER_TEST_PG_URL"] = PG_URL
            self.env["TRACKER_BENCH_PG_URL"] = PG_URL
        self.kept: list[subprocess.Popen[str]] = []

    def args(self, example: str) -> list[str]:
        text = example.replace("8765", str(self.feed)).replace("8080", str(self.web))
        if PG_URL:
            text = text.replace("postgresql://tracker:secret@localhost/tracker", PG_URL)
        args = shlex.split(text)
        if args[0] == "tracker":
            return [*tracker_command(), *self._ports(args[1:])]
        if args[0] == "python":
            return [sys.executable, str(ROOT / args[1]), *args[2:], *SMALL[Path(args[1]).name]]
        return args

    def _ports(self, args: list[str]) -> list[str]:
        """The default ports (the feed's 8765, the page's 8080) made this session's."""
        if args[0] == "feed" and "--port" not in args:
            args = [*args, "--port", str(self.feed)]
        web = f"--web=127.0.0.1:{self.web}"
        if "--web" in args:
            at = args.index("--web")
            if at + 1 == len(args) or args[at + 1].startswith("-"):
                args = [*args[:at], web, *args[at + 1 :]]
        elif args[0] == "serve":
            args = [*args, web]
        return args

    def run(self, example: str, plan: Plan) -> str:
        args = self.args(example)
        if plan.ready is None:
            done = subprocess.run(
                args, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300
            )
            said = done.stdout + done.stderr
            assert done.returncode in plan.codes, f"{example}: exit {done.returncode}\n{said}"
            assert "Traceback" not in said, example
            return said
        process = subprocess.Popen(
            args,
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        said = self._until_ready(process, plan.ready)
        if plan.kept:
            self.kept.append(process)
            return said
        process.send_signal(plan.stop)
        rest = process.communicate(timeout=60)[0]
        if not example.startswith("curl"):
            code = process.returncode
            assert code in plan.codes, f"{example}: exit {code}\n{said}{rest}"
            assert "Traceback" not in said + rest, example
        return said + rest

    def _until_ready(self, process: subprocess.Popen[str], ready: str) -> str:
        assert process.stdout is not None
        if ready == "heartbeat":  # a daemon without -v prints nothing: its first beat shows
            deadline = time.monotonic() + 60
            while not self._beat_after(process):
                assert time.monotonic() < deadline, "the daemon never beat"
                assert process.poll() is None, process.communicate()[0]
                time.sleep(0.05)
            return ""
        lines = []
        for line in process.stdout:
            lines.append(line)
            if ready in line:
                return "".join(lines)
        raise AssertionError(f"never printed {ready!r}:\n{''.join(lines)}")

    def _beat_after(self, process: subprocess.Popen[str]) -> bool:
        db = self.folder / "tracker.db"
        if not db.exists():
            return False
        with sqlite3.connect(db) as connection:
            try:
                row = connection.execute(
                    "SELECT pid, detail FROM heartbeats WHERE name = 'daemon'"
                ).fetchone()
            except sqlite3.OperationalError:
                return False
        return row is not None and row[0] == process.pid

    def close(self) -> None:
        for process in self.kept:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)


class Accepting(BaseHTTPRequestHandler):
    """A webhook receiver that takes every alert."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def session(folder: Path) -> Iterator[Session]:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Accepting)
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}).start()
    running = Session(folder, f"http://127.0.0.1:{receiver.server_address[1]}/hooks")
    yield running
    running.close()
    receiver.shutdown()
    receiver.server_close()


def test_each_tracker_and_curl_example_runs_in_the_readmes_order(session: Session) -> None:
    said = {}
    for example, plan in PLANS.items():
        if example.startswith("python benchmarks/"):
            continue  # the next test
        said[example] = session.run(example, plan)

    assert "config OK" in said["tracker config check"]
    assert "Biren Technology" in said["tracker demo"]
    assert '"listings"' in said["curl -s 127.0.0.1:8080/api/listings"]
    assert "mcap-100b" in said["tracker alerts --listing biren --since 2026-01-02T10:00"]
    assert "webhook: sent" in said["tracker alerts test"]
    assert (session.folder / "live-day.csv").exists()
    assert (session.folder / "biren-day.png").exists()
    assert list(session.folder.glob("tracker-demo-*"))  # in TMPDIR: nothing left in /tmp


@pytest.mark.parametrize(
    "example", [example for example in PLANS if example.startswith("python benchmarks/")]
)
def test_each_benchmark_example_runs_small(session: Session, example: str) -> None:
    if "postgresql" in example and not PG_URL:
        pytest.skip("TRACKER_TEST_PG_URL is not set")

    said = session.run(example, PLANS[example])

    assert said.strip()  # it printed its figures
