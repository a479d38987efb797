"""Replay throughput against this machine's floor, measured in the same run.

Makes a seeded tape (a random walk on the 0.02 grid, ten ticks a second), then
measures, each the median of ``--runs``:

- the floor: ``pyarrow.csv.read_csv`` of the tape plus a bare ``sqlite3``
  ``executemany`` of the same rows into a fresh file, in one transaction, into
  the table the tracker uses (keyed, ``WITHOUT ROWID``) and binding what the
  tracker binds per row; beside it, the "plain floor" binds all six columns into
  a rowid table with a unique index, and the "many-row floor" stores 250 rows an
  INSERT statement, as the tracker does. With ``--db postgresql`` the floor is a
  binary ``COPY`` (laid out by numpy, as the tracker does) into a fresh keyed
  table, and the plain floor psycopg's ``write_row`` binary COPY;
- ``tracker replay --speed max`` of the tape with 10 rules into a fresh database,
  as a whole process (start-up, schema creation and the alert log included), run
  from bytecode as an installed tracker is (see ``tracker_env``);

and prints both, their ratio, ticks/s and the peak RSS of the replay and of its checking child:

    python benchmarks/replay.py                      # 1M ticks, SQLite
    python benchmarks/replay.py --ticks 10000000 --runs 1
    python benchmarks/replay.py --db postgresql      # $TRACKER_BENCH_PG_URL
"""

from __future__ import annotations

import argparse
import os
import re
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
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv

T = TypeVar("T")
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
# The tracker's own ticks table (tracker/store/tables.py), for the floors to write into.
COLUMNS = (
    "listing_id VARCHAR(64) NOT NULL, ts_us BIGINT NOT NULL, seq INTEGER NOT NULL, "
    "price DOUBLE PRECISION NOT NULL, volume DOUBLE PRECISION, turnover DOUBLE PRECISION"
)
SQLITE_TABLE = f"CREATE TABLE floor ({COLUMNS}, PRIMARY KEY (listing_id, ts_us, seq)) WITHOUT ROWID"
POSTGRESQL_TABLE = f"CREATE TABLE floor ({COLUMNS}, PRIMARY KEY (listing_id, ts_us, seq))"
# The floor as the issue first put it: every column bound, a rowid table and a unique index.
PLAIN_TABLE = (
    f"CREATE TABLE floor ({COLUMNS})",
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


def read_columns(tape: Path) -> tuple[list[int], list[float], list[float]]:
    """The tape's instants (epoch microseconds), prices and volumes, read by pyarrow."""
    table = csv.read_csv(tape)
    ts = table.column("ts").cast(pa.timestamp("us")).cast(pa.int64()).to_pylist()
    prices = table.column("price").to_pylist()
    volumes = table.column("volume").cast(pa.float64()).to_pylist()
    return ts, prices, volumes


def sqlite_connection(path: Path, *schema: str) -> sqlite3.Connection:
    """A new SQLite file as the tracker opens one (WAL, ``synchronous=NORMAL``), schema made."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    with connection:
        for statement in schema:
            connection.execute(statement)
    return connection


def floor_sqlite(tape: Path, folder: Path) -> float:
    """Seconds to read the tape with pyarrow and store it with bare sqlite3 as the tracker does.

    The same table, the same one transaction, and only what varies bound per row.
    """
    connection = sqlite_connection(folder / f"floor-{uuid.uuid4().hex}.db", SQLITE_TABLE)
    started = time.perf_counter()
    ts, prices, volumes = read_columns(tape)
    rows = zip(ts, [0] * len(ts), prices, volumes, strict=True)
    with connection:
        connection.executemany("INSERT INTO floor VALUES ('bench', ?, ?, ?, ?, NULL)", rows)
    connection.close()  # its last checkpoint, as the tracker's process has at exit
    return time.perf_counter() - started


def floor_sqlite_many(tape: Path, folder: Path) -> float:
    """``floor_sqlite`` with 250 rows an INSERT (as the tracker stores), not one."""
    connection = sqlite_connection(folder / f"many-{uuid.uuid4().hex}.db", SQLITE_TABLE)
    started = time.perf_counter()
    ts, prices, volumes = read_columns(tape)
    n = len(ts)
    per = min(250, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 4)
    values: list[object] = [None] * (4 * n)
    values[0::4], values[1::4], values[2::4], values[3::4] = ts, [0] * n, prices, volumes
    statement = "INSERT INTO floor VALUES " + ", ".join(["('bench', ?, ?, ?, ?, NULL)"] * per)
    whole = n - n % per
    with connection:
        groups = zip(*[iter(values[: 4 * whole])] * (4 * per), strict=False)
        connection.executemany(statement, groups)
        if n > whole:
            rest = ", ".join(["('bench', ?, ?, ?, ?, NULL)"] * (n - whole))
            connection.execute(f"INSERT INTO floor VALUES {rest}", values[4 * whole :])
    connection.close()
    return time.perf_counter() - started


def floor_sqlite_plain(tape: Path, folder: Path) -> float:
    """``floor_sqlite`` with all six columns bound into a rowid table with a unique index."""
    connection = sqlite_connection(folder / f"plain-{uuid.uuid4().hex}.db", *PLAIN_TABLE)
    started = time.perf_counter()
    ts, prices, volumes = read_columns(tape)
    n = len(ts)
    rows = zip(["bench"] * n, ts, [0] * n, prices, volumes, [None] * n, strict=True)
    with connection:
        connection.executemany("INSERT INTO floor VALUES (?, ?, ?, ?, ?, ?)", rows)
    connection.close()  # its last checkpoint, as the tracker's process has at exit
    return time.perf_counter() - started


def floor_postgresql(tape: Path, url: str) -> float:
    """Seconds to read the tape with pyarrow and binary-``COPY`` it into a keyed table.

    The COPY stream is laid out by numpy, as the tracker lays out its own.
    """
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(POSTGRESQL_TABLE)
        connection.commit()
        started = time.perf_counter()
        table = csv.read_csv(tape)
        ts = table.column("ts").cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
        rows = np.empty(
            len(ts),
            dtype=[
                ("count", ">i2"),
                ("key_length", ">i4"),
                ("key", "S5"),
                ("ts_length", ">i4"),
                ("ts", ">i8"),
                ("seq_length", ">i4"),
                ("seq", ">i4"),
                ("price_length", ">i4"),
                ("price", ">f8"),
                ("volume_length", ">i4"),
                ("volume", ">f8"),
                ("turnover_length", ">i4"),
            ],
        )
        rows["count"], rows["key_length"], rows["key"] = 6, 5, b"bench"
        rows["ts_length"], rows["ts"] = 8, ts
        rows["seq_length"], rows["seq"] = 4, 0
        rows["price_length"], rows["price"] = 8, table.column("price").to_numpy()
        rows["volume_length"] = 8
        rows["volume"] = table.column("volume").cast(pa.float64()).to_numpy()
        rows["turnover_length"] = -1
        header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
        with connection.cursor() as cursor:
            columns = "listing_id, ts_us, seq, price, volume, turnover"
            with cursor.copy(f"COPY floor ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(header + rows.tobytes() + b"\xff\xff")
        connection.commit()
        return time.perf_counter() - started


# Runs the tracker's command and, at exit, writes its peak RSS (VmHWM, in kB) to stderr,
# and that of the biggest child it reaped (the child that checks a big tape, if any).
# Not this script's ru_maxrss: that also counts the fork of this process, grown large by
# the floor's lists.
PEAK_RSS_WRAPPER = """
import atexit, re, resource, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    sys.stderr.write("peak-rss-kb " + re.search(r"VmHWM:\\s+(\\d+)", status).group(1) + "\\n")
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write("child-peak-rss-kb " + str(child) + "\\n")
atexit.register(peak)
sys.argv[0] = "tracker"
runpy.run_module("tracker.cli", run_name="__main__")
"""


def floor_postgresql_plain(tape: Path, url: str) -> float:
    """``floor_postgresql`` with psycopg's own binary COPY, ``write_row`` a row at a time."""
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(POSTGRESQL_TABLE)
        connection.commit()
        started = time.perf_counter()
        ts, prices, volumes = read_columns(tape)
        with connection.cursor() as cursor:
            columns = "listing_id, ts_us, seq, price, volume, turnover"
            with cursor.copy(f"COPY floor ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "int4", "float8", "float8", "float8"])
                for row in zip(ts, prices, volumes, strict=True):
                    copy.write_row(("bench", row[0], 0, row[1], row[2], None))
        connection.commit()
        return time.perf_counter() - started


def tracker_env(folder: Path) -> dict[str, str]:
    """The environment the tracker's processes run in: no TRACKER_* settings, and bytecode.

    An installed tracker runs from compiled bytecode; this machine sets
    ``PYTHONDONTWRITEBYTECODE``, which would have every process compile the tracker's
    modules again (about 0.1 s). The bytecode goes to a cache in ``folder``, filled by
    a warm-up replay before anything is measured, not beside the sources.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def replay(
    tape: Path, config: Path, db_url: str, log: Path, env: dict[str, str]
) -> tuple[float, int, int, str]:
    """One ``tracker replay`` process: wall seconds, peak RSS (KiB), its child's, its summary."""
    command = [
        sys.executable,
        "-c",
        PEAK_RSS_WRAPPER,
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
    # in the tape's folder, so no settings file of the working folder applies
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=tape.parent, env=env
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"tracker replay failed ({done.returncode}): {done.stderr}")
    peak = re.search(r"^peak-rss-kb (\d+)$", done.stderr, re.MULTILINE)
    child = re.search(r"^child-peak-rss-kb (\d+)$", done.stderr, re.MULTILINE)
    if peak is None or child is None:
        raise SystemExit(f"tracker replay said no peak RSS: {done.stderr}")
    return elapsed, int(peak.group(1)), int(child.group(1)), done.stdout.strip()


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


def on_fresh_postgresql(measure: Callable[..., T], *args: object) -> T:
    """``measure(*args, url)`` on a new database, after a checkpoint of the server's WAL."""
    import psycopg

    with fresh_postgresql() as url:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute("CHECKPOINT")  # start from a quiet server, whatever ran before
        return measure(*args, url)


def remove_database(path: Path) -> None:
    """Delete a SQLite file and its WAL, so long runs do not fill the disk."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


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
        env = tracker_env(folder)
        warm_up = folder / "warm-up.csv"
        make_tape(warm_up, 1_000, args.seed)
        if args.db == "sqlite":
            replay(warm_up, config, f"sqlite:///{folder / 'warm-up.db'}", folder / "w.jsonl", env)
        else:
            on_fresh_postgresql(lambda url: replay(warm_up, config, url, folder / "w.jsonl", env))
        floors: list[float] = []
        plain: list[float] = []
        many: list[float] = []
        replays: list[tuple[float, int, str]] = []
        for run in range(args.runs):
            # interleaved, so a slow spell of the machine hits both; the order alternates, so
            # neither always runs while the database still digests the other's writes
            log = folder / f"alerts-{run}.jsonl"
            if args.db == "sqlite":
                db = folder / f"tracker-{run}.db"
                measures = [
                    lambda: floors.append(floor_sqlite(tape, folder)),
                    lambda db=db, log=log: replays.append(
                        replay(tape, config, f"sqlite:///{db}", log, env)
                    ),
                ]
            else:
                measures = [
                    lambda: floors.append(on_fresh_postgresql(floor_postgresql, tape)),
                    lambda log=log: replays.append(
                        on_fresh_postgresql(lambda url: replay(tape, config, url, log, env))
                    ),
                ]
            for measure in measures if run % 2 == 0 else reversed(measures):
                os.sync()  # what the last measure left dirty is on disk before this one starts
                measure()
            if args.db == "sqlite":
                plain.append(floor_sqlite_plain(tape, folder))
                many.append(floor_sqlite_many(tape, folder))
                for leftover in folder.glob("*.db"):
                    remove_database(leftover)
            else:
                plain.append(on_fresh_postgresql(floor_postgresql_plain, tape))
    floor = statistics.median(floors)
    wall = statistics.median(r[0] for r in replays)
    peak_mb = max(r[1] for r in replays) / 1024
    child_mb = max(r[2] for r in replays) / 1024
    store = "sqlite3 executemany" if args.db == "sqlite" else "psycopg binary COPY"
    print(f"ticks             {args.ticks:,} ({tape.name}, {args.db}, median of {args.runs})")
    print(f"floor             {floor:.2f} s  (pyarrow read_csv + {store}, the tracker's table)")
    plainly = (
        "every column bound, rowid table + unique index"
        if args.db == "sqlite"
        else "psycopg's write_row binary COPY"
    )
    print(f"plain floor       {statistics.median(plain):.2f} s  ({plainly})")
    if many:
        rows = "sqlite3 executemany of 250-row INSERTs, as the tracker stores"
        print(f"many-row floor    {statistics.median(many):.2f} s  ({rows})")
    print(f"tracker replay    {wall:.2f} s  (whole process, 10 rules)")
    ratios = f"{wall / floor:.2f}x the floor, {wall / statistics.median(plain):.2f}x the plain one"
    if many:
        ratios += f", {wall / statistics.median(many):.2f}x the many-row one"
    print(f"ratio             {ratios}")
    paired = statistics.median(r[0] / f for r, f in zip(replays, floors, strict=True))
    print(f"paired ratio      {paired:.2f}x (median of each run's tracker / floor)")
    print(f"throughput        {args.ticks / wall:,.0f} ticks/s (floor {args.ticks / floor:,.0f})")
    checker = f", {child_mb:,.0f} MB its checking child" if child_mb else ""
    print(f"peak RSS          {peak_mb:,.0f} MB (tracker replay{checker})")
    print(f"runs (s)          tracker {' '.join(f'{r[0]:.2f}' for r in replays)}")
    print(f"                  floor   {' '.join(f'{f:.2f}' for f in floors)}")
    print(f"last replay said  {replays[-1][3].splitlines()[-1]}")


if __name__ == "__main__":
    main()
