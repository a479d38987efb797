"""Replay throughput against this machine's floor, measured in the same run.

Makes a seeded tape (a random walk on the 0.02 grid, ten ticks a second), then
measures, each the median of ``--runs``:

- the floor: ``pyarrow.csv.read_csv`` of the tape plus a bare ``sqlite3``
  ``executemany`` of the same rows into a fresh file with a unique index, in one
  transaction (with ``--db postgresql``: a psycopg binary ``COPY`` into a fresh
  table with a unique index);
- ``tracker replay --speed max`` of the tape with 10 rules into a fresh database,
  as a whole process (start-up, schema creation and the alert log included);

and prints both, their ratio, ticks/s and the replay's peak RSS:

    python benchmarks/replay.py                      # 1M ticks, SQLite
    python benchmarks/replay.py --ticks 10000000 --runs 1
    python benchmarks/replay.py --db postgresql      # $TRACKER_BENCH_PG_URL
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv

PG_URL = os.environ.get("TRACKER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = np.datetime64("2026-01-02T09:30:00", "ms")
TICKS_PER_SECOND = 10
RULES = [
    (50, "up"),
    (60, "up"),
    (70, "up"),
    (80, "up"),
    (90, "up"),
    (100, "up"),
    (110, "up"),
    (70, "down"),
    (60, "down"),
    (50, "down"),
]
LISTINGS = """[[listings]]
id = "bench"
symbol = "6082.HK"
offer_price = 19.60
shares_outstanding = 2_646_592_710
""" + "".join(
    f'\n[[listings.rules]]\nkind = "gain_pct"\nthreshold = {t}\ndirection = "{d}"\n'
    for t, d in RULES
)
SCHEMA = (
    "CREATE TABLE floor (listing_id VARCHAR(64) NOT NULL, ts_us BIGINT NOT NULL, "
    "seq INTEGER NOT NULL, price DOUBLE PRECISION NOT NULL, volume DOUBLE PRECISION, "
    "turnover DOUBLE PRECISION)",
    "CREATE UNIQUE INDEX floor_key ON floor (listing_id, ts_us, seq)",
)


def make_tape(path: Path, ticks: int, seed: int) -> None:
    """``ts,price,volume``: exchange-local times with milliseconds, prices on the 0.02 grid."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-2, 3, ticks) * 2
    cents = np.clip(3570 + np.cumsum(steps), 2000, 4400)
    ts = START + (np.arange(ticks) * (1000 // TICKS_PER_SECOND)).astype("timedelta64[ms]")
    table = pa.table(
        {
            "ts": pa.array(np.datetime_as_string(ts, unit="ms")),
            "price": pa.array(np.char.mod("%.2f", cents / 100)),
            "volume": pa.array(rng.integers(1, 50, ticks) * 100),
        }
    )
    with path.open("wb") as out:
        out.write(b"ts,price,volume\n")
        csv.write_csv(table, out, csv.WriteOptions(include_header=False, quoting_style="none"))


def floor_sqlite(tape: Path, folder: Path) -> float:
    """Seconds to read the tape with pyarrow and store its rows with bare sqlite3."""
    started = time.perf_counter()
    table = csv.read_csv(tape)
    ts = table.column("ts").cast(pa.timestamp("us")).cast(pa.int64()).to_pylist()
    rows = zip(
        ["bench"] * len(ts),
        ts,
        [0] * len(ts),
        table.column("price").to_pylist(),
        table.column("volume").cast(pa.float64()).to_pylist(),
        [None] * len(ts),
        strict=True,
    )
    connection = sqlite3.connect(folder / f"floor-{uuid.uuid4().hex}.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in SCHEMA:
        connection.execute(statement)
    with connection:
        connection.executemany("INSERT INTO floor VALUES (?, ?, ?, ?, ?, ?)", rows)
    connection.close()
    return time.perf_counter() - started


def floor_postgresql(tape: Path, url: str) -> float:
    """Seconds to read the tape with pyarrow and binary-COPY its rows into PostgreSQL."""
    import psycopg

    started = time.perf_counter()
    table = csv.read_csv(tape)
    ts = table.column("ts").cast(pa.timestamp("us")).cast(pa.int64()).to_pylist()
    prices = table.column("price").to_pylist()
    volumes = table.column("volume").cast(pa.float64()).to_pylist()
    with psycopg.connect(url) as connection:
        for statement in SCHEMA:
            connection.execute(statement)
        with connection.cursor() as cursor:
            columns = "listing_id, ts_us, seq, price, volume, turnover"
            with cursor.copy(f"COPY floor ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "int4", "float8", "float8", "float8"])
                for row in zip(ts, prices, volumes, strict=True):
                    copy.write_row(("bench", row[0], 0, row[1], row[2], None))
    return time.perf_counter() - started


def replay(tape: Path, config: Path, db_url: str, log: Path) -> tuple[float, int, str]:
    """Wall seconds and peak RSS (KiB) of one ``tracker replay`` process, and its summary."""
    command = [
        sys.executable,
        "-m",
        "tracker.cli",
        "replay",
        str(tape),
        "--listing",
        "bench",
        "--config",
        str(config),
        "--db",
        db_url,
        "--alert-log",
        str(log),
    ]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"tracker replay failed ({child.returncode}): {output}")
    return elapsed, usage.ru_maxrss, output.strip()


@contextmanager
def fresh_postgresql() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards): its URL."""
    import psycopg
    from sqlalchemy import make_url

    name = f"bench_{uuid.uuid4().hex[:12]}"
    base = make_url(PG_URL)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tape, config = folder / "tape.csv", folder / "listings.toml"
        make_tape(tape, args.ticks, args.seed)
        config.write_text(LISTINGS)
        floors: list[float] = []
        replays: list[tuple[float, int, str]] = []
        for run in range(args.runs):
            log = folder / f"alerts-{run}.jsonl"
            if args.db == "sqlite":
                floors.append(floor_sqlite(tape, folder))
                db = f"sqlite:///{folder / f'tracker-{run}.db'}"
                replays.append(replay(tape, config, db, log))
            else:
                with fresh_postgresql() as url:
                    floors.append(floor_postgresql(tape, url))
                with fresh_postgresql() as url:
                    replays.append(replay(tape, config, url, log))
    floor = statistics.median(floors)
    wall = statistics.median(r[0] for r in replays)
    peak_mb = max(r[1] for r in replays) / 1024
    store = "sqlite3 executemany" if args.db == "sqlite" else "psycopg binary COPY"
    print(f"ticks             {args.ticks:,} ({tape.name}, {args.db}, median of {args.runs})")
    print(f"floor             {floor:.2f} s  (pyarrow read_csv + {store})")
    print(f"tracker replay    {wall:.2f} s  (whole process, 10 rules)")
    print(f"ratio             {wall / floor:.2f}x the floor")
    print(f"throughput        {args.ticks / wall:,.0f} ticks/s (floor {args.ticks / floor:,.0f})")
    print(f"peak RSS          {peak_mb:,.0f} MB (tracker replay)")
    print(f"last replay said  {replays[-1][2].splitlines()[-1]}")


if __name__ == "__main__":
    main()
