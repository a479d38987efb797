"""`tracker replay` run as a user runs it: exit codes, stderr lines, and what gets stored."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from commands import tracker_command
from factories import LISTINGS

from tracker.core.model import datetime_to_ts

HKT = dt.timezone(dt.timedelta(hours=8))

HEADER = "ts,price,volume,turnover"
GOOD_BEFORE = [
    "2026-01-02 09:30:00,35.70,100,3570",  # line 2: +82%, fires the +50% and +80% rules
    "2026-01-02 09:31:00,36.00,100,3600",  # line 3
]
GOOD_AFTER = ["2026-01-02 10:15:00,37.86,100,3786"]  # line 6 (after a blank line and the bad row)
BAD_LINE = 5


def run_tracker(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tracker_command(), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=120,
        check=False,
    )


def db_path(workdir: Path) -> Path:
    return workdir / "t.db"


def alert_log(workdir: Path) -> Path:
    return workdir / "alerts.jsonl"


def replay(workdir: Path, tape: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``tracker replay TAPE --listing biren`` into the test's own database and alert log."""
    return run_tracker(
        workdir,
        "replay",
        str(tape),
        "--listing",
        "biren",
        "--config",
        str(LISTINGS),
        "--db",
        f"sqlite:///{db_path(workdir)}",
        "--alert-log",
        str(alert_log(workdir)),
        *extra,
    )


def write_tape(workdir: Path, *lines: str, name: str = "tape.csv", bom: bool = False) -> Path:
    path = workdir / name
    eol = "\r\n" if bom else "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(x + eol for x in lines).encode())
    return path


def tape_with_bad_row(workdir: Path, bad: str, header: str = HEADER) -> Path:
    """Good rows, a blank line, the bad row at physical line 5, then a good row."""
    return write_tape(workdir, header, *GOOD_BEFORE, "", bad, *GOOD_AFTER)


def stored(workdir: Path, table: str = "ticks") -> list[tuple[object, ...]]:
    """Rows of a table in the test database; none when the file or the table does not exist."""
    path = db_path(workdir)
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not exists:
            return []
        if table == "ticks":
            return db.execute("SELECT ts_us, seq, price FROM ticks ORDER BY ts_us, seq").fetchall()
        return db.execute(f"SELECT * FROM {table}").fetchall()


def logged_alerts(workdir: Path) -> list[str]:
    path = alert_log(workdir)
    return path.read_text().splitlines() if path.exists() else []


def row_lines(stderr: str) -> list[str]:
    """stderr lines of the form ``FILE:LINE: reason`` (or ``FILE:row N: reason``)."""
    return [line for line in stderr.splitlines() if re.match(r".+:(\d+|row \d+): ", line)]


def assert_nothing_stored(workdir: Path) -> None:
    assert not db_path(workdir).exists(), "a refused tape must not even create the database"
    assert stored(workdir) == []
    assert stored(workdir, "alerts") == []
    assert logged_alerts(workdir) == []


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def hk(text: str) -> int:
    """Epoch microseconds of a Hong Kong wall time like ``2026-01-02 09:30``."""
    return datetime_to_ts(dt.datetime.fromisoformat(text).replace(tzinfo=HKT))


# Each kind of bad row refuses the whole tape


BAD_ROWS = {
    "ts-not-iso": ("2026-01-02 9:32,36.10,100,3610", ("ts",)),
    "ts-not-a-time": ("soon,36.10,100,3610", ("ts", "soon")),
    "ts-earlier-than-last-good-row": ("2026-01-02 09:30:59,36.10,100,3610", ("earlier",)),
    "price-empty": ("2026-01-02 09:32,,100,3610", ("price",)),
    "price-not-a-number": ("2026-01-02 09:32,abc,100,3610", ("price", "abc")),
    "price-nan": ("2026-01-02 09:32,NaN,100,3610", ("price", "nan")),
    "price-inf": ("2026-01-02 09:32,inf,100,3610", ("price", "inf")),
    "price-overflows-to-inf": ("2026-01-02 09:32,1e999,100,3610", ("price", "1e999")),
    "price-zero": ("2026-01-02 09:32,0,100,0", ("price",)),
    "price-negative": ("2026-01-02 09:32,-36.10,100,3610", ("price",)),
    "price-with-space": ("2026-01-02 09:32, 36.10,100,3610", ("price",)),
    "volume-negative": ("2026-01-02 09:32,36.10,-100,3610", ("volume",)),
    "volume-with-underscore": ("2026-01-02 09:32,36.10,1_000,3610", ("volume", "1_000")),
    "turnover-negative": ("2026-01-02 09:32,36.10,100,-3610", ("turnover",)),
    "turnover-not-a-number": ("2026-01-02 09:32,36.10,100,lots", ("turnover", "lots")),
    "more-fields-than-header": ("2026-01-02 09:32,36.10,100,3610,extra", ()),
    "fewer-fields-than-header": ("2026-01-02 09:32,36.10,100", ()),
}


@pytest.mark.parametrize(("row", "words"), BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_tape_with_one_bad_row_is_refused_with_its_line_and_nothing_stored(
    workdir: Path, row: str, words: tuple[str, ...]
) -> None:
    tape = tape_with_bad_row(workdir, row)

    result = replay(workdir, tape)

    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    lines = row_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{tape}:{BAD_LINE}: ")
    reason = lines[0][len(f"{tape}:{BAD_LINE}: ") :].lower()
    for word in words:
        assert word.lower() in reason, lines[0]
    assert "ALERT" not in result.stdout
    assert_nothing_stored(workdir)


def test_more_than_20_bad_rows_show_the_first_20_then_a_count_of_the_rest(
    workdir: Path,
) -> None:
    bad = [f"2026-01-02 09:32:{i:02d},x{i},100,1" for i in range(27)]
    tape = write_tape(workdir, HEADER, *GOOD_BEFORE, *bad, *GOOD_AFTER)

    result = replay(workdir, tape)

    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    expected = [f"{tape}:{4 + i}: " for i in range(20)]
    assert [line[: len(prefix)] for line, prefix in zip(lines, expected, strict=False)] == expected
    assert [f"x{i}" in line for i, line in enumerate(lines[:20])] == [True] * 20
    assert len(row_lines(result.stderr)) == 20
    rest = lines[20]
    assert re.search(r"\b7\b", rest), rest
    assert_nothing_stored(workdir)


# --skip-bad


def test_skip_bad_replays_exactly_the_good_rows_and_reports_the_bad_ones(workdir: Path) -> None:
    tape = write_tape(
        workdir,
        HEADER,
        "2026-01-02 09:30:00,35.70,100,3570",  # 2
        "2026-01-02 09:30:00,abc,100,3570",  # 3 bad
        "2026-01-02 09:30:00,35.60,100,3560",  # 4 seq 1
        "",  # 5
        "2026-01-02 09:29:00,35.50,100,3550",  # 6 bad: earlier
        "2026-01-02 09:31:00,36.00,-5,3600",  # 7 bad: negative volume
        "2026-01-02 10:15:00,37.86,,",  # 8
    )

    result = replay(workdir, tape, "--skip-bad")

    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    lines = row_lines(result.stderr)
    assert [line.split(": ", 1)[0] for line in lines] == [f"{tape}:3", f"{tape}:6", f"{tape}:7"]
    others = [line for line in result.stderr.splitlines() if line not in lines]
    assert any(re.search(r"\b3\b", line.replace(str(tape), "")) for line in others), others
    assert stored(workdir) == [
        (hk("2026-01-02 09:30"), 0, 35.70),
        (hk("2026-01-02 09:30"), 1, 35.60),
        (hk("2026-01-02 10:15"), 0, 37.86),
    ]
    printed = [line for line in result.stdout.splitlines() if line.startswith("ALERT")]
    assert printed  # +50%, +80% at the open and the 100bn mark at 37.86
    assert len(logged_alerts(workdir)) == len(printed) == len(stored(workdir, "alerts"))


@pytest.mark.parametrize("speed", ["max", "60"])
def test_skip_bad_with_no_good_rows_reports_them_and_exits_0(workdir: Path, speed: str) -> None:
    tape = write_tape(workdir, HEADER, "2026-01-02 09:30:00,abc,100,3570")

    result = replay(workdir, tape, "--skip-bad", "--speed", speed)

    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    assert [line.split(": ", 1)[0] for line in row_lines(result.stderr)] == [f"{tape}:2"]
    assert stored(workdir) == []


# Whole-tape refusals


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"ts,volume\n2026-01-02 09:30,100\n", id="missing-price-column"),
        pytest.param(b"ts,price,volume\n\n", id="no-data-rows"),
        pytest.param(b"ts,price\n2026-01-02 09:30,35.70\n2026-01-02 09:31,3\xff\n", id="not-utf8"),
        pytest.param(None, id="missing-file"),
    ],
)
def test_unreadable_tape_is_refused_with_one_line_naming_the_file(
    workdir: Path, content: bytes | None
) -> None:
    tape = workdir / "tape.csv"
    if content is not None:
        tape.write_bytes(content)

    result = replay(workdir, tape)

    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(tape) in lines[0]
    assert_nothing_stored(workdir)


def test_parquet_bad_row_is_reported_by_row_number(workdir: Path) -> None:
    tape = workdir / "tape.parquet"
    wall = [dt.datetime(2026, 1, 2, 9, 30 + i, tzinfo=HKT).replace(tzinfo=None) for i in range(3)]
    pq.write_table(
        pa.table({"ts": pa.array(wall, pa.timestamp("us")), "price": [35.70, float("nan"), 36.0]}),
        tape,
    )

    result = replay(workdir, tape)

    assert result.returncode == 2
    assert_no_traceback(result)
    lines = row_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{tape}:row 2: ")
    assert_nothing_stored(workdir)


# Usage and config


def test_unknown_listing_is_refused_naming_it(workdir: Path) -> None:
    tape = write_tape(workdir, HEADER, *GOOD_BEFORE)

    result = run_tracker(
        workdir,
        "replay",
        str(tape),
        "--listing",
        "no-such-listing",
        "--config",
        str(LISTINGS),
        "--db",
        f"sqlite:///{db_path(workdir)}",
        "--alert-log",
        str(alert_log(workdir)),
    )

    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "no-such-listing" in lines[0]
    assert_nothing_stored(workdir)


@pytest.mark.parametrize("speed", ["0", "abc"])
def test_speed_that_is_not_max_or_positive_is_refused(workdir: Path, speed: str) -> None:
    tape = write_tape(workdir, HEADER, *GOOD_BEFORE)

    result = replay(workdir, tape, "--speed", speed)

    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert speed in lines[0]
    assert_nothing_stored(workdir)


def test_missing_config_is_refused_saying_so(workdir: Path) -> None:
    tape = write_tape(workdir, HEADER, *GOOD_BEFORE)

    result = run_tracker(
        workdir,
        "replay",
        str(tape),
        "--listing",
        "biren",
        "--db",
        f"sqlite:///{db_path(workdir)}",
        "--alert-log",
        str(alert_log(workdir)),
    )

    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "config" in lines[0].lower()
    assert any(hint in lines[0] for hint in ("--config", "TRACKER_CONFIG", "listings.toml"))
    assert_nothing_stored(workdir)


# Tapes the contract accepts


def test_tape_with_bom_crlf_extra_columns_and_offsets_replays(workdir: Path) -> None:
    tape = write_tape(
        workdir,
        "provenance,price,note,ts,volume",
        'published,35.70,"open, auction",2026-01-02T01:30:00Z,3703400',
        "synthetic,35.80,,2026-01-02T09:30:00+08:00,",
        "synthetic,36.58,x,2026-01-02 10:00,1000",
        "synthetic,37.86,y,2026-01-02T02:15:00.5Z,2000",
        bom=True,
    )

    result = replay(workdir, tape)

    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    assert row_lines(result.stderr) == []
    half_second = 500_000
    assert stored(workdir) == [
        (hk("2026-01-02 09:30"), 0, 35.70),
        (hk("2026-01-02 09:30"), 1, 35.80),
        (hk("2026-01-02 10:00"), 0, 36.58),
        (hk("2026-01-02 10:15") + half_second, 0, 37.86),
    ]
    assert logged_alerts(workdir)


def test_dry_run_twice_prints_the_same_alerts_and_keeps_nothing(workdir: Path) -> None:
    tape = write_tape(workdir, HEADER, *GOOD_BEFORE, *GOOD_AFTER)

    first = replay(workdir, tape, "--dry-run")
    second = replay(workdir, tape, "--dry-run")

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert_no_traceback(first)
    alerts = [line for line in first.stdout.splitlines() if line.startswith("ALERT")]
    assert alerts
    assert [line for line in second.stdout.splitlines() if line.startswith("ALERT")] == alerts
    assert not db_path(workdir).exists()
    assert not alert_log(workdir).exists()


def test_replay_and_the_commands_after_it_close_the_database_before_they_exit(
    workdir: Path,
) -> None:
    """The program exits without collecting what is left (``run``): a store left open would
    leave its WAL beside the file, uncheckpointed. Each command closes the store it opened."""
    tape = write_tape(workdir, HEADER, *GOOD_BEFORE, *GOOD_AFTER)
    db = ["--db", f"sqlite:///{db_path(workdir)}"]
    config = ["--config", str(LISTINGS)]

    commands = [
        lambda: replay(workdir, tape),
        lambda: run_tracker(workdir, "alerts", *config, *db),
        lambda: run_tracker(workdir, "report", "biren", *config, *db),
        lambda: run_tracker(workdir, "db", "upgrade", *config, *db),
    ]

    for command in commands:
        result = command()
        assert result.returncode == 0, result.stderr
        left = sorted(path.name for path in workdir.glob("t.db*"))
        assert left == ["t.db"], f"after {' '.join(result.args[1:3])}: {left}"
    assert len(stored(workdir)) == 3


# a big tape, checked in a child process while the replay starts up (tracker.sources.ahead)


def big_tape(
    workdir: Path, bad_price: str | None = None, bad_ts: str | None = None
) -> tuple[Path, list[str]]:
    """A tape over ``MIN_BYTES``, three ticks a second; a bad value in its last-but-one row."""
    from tracker.sources.ahead import MIN_BYTES

    rows = [
        f"2026-01-02 {9 + i // 10800:02d}:{i // 180 % 60:02d}:{i // 3 % 60:02d},"
        f"{35 + i % 500 / 100:.2f},{100 + i % 7},{3570 + i % 11}"
        for i in range(MIN_BYTES // 30)
    ]
    if bad_price is not None or bad_ts is not None:
        ts, price, rest = rows[-2].split(",", 2)
        rows[-2] = f"{bad_ts or ts},{bad_price or price},{rest}"
    tape = write_tape(workdir, HEADER, *rows)
    assert tape.stat().st_size > MIN_BYTES
    return tape, rows


def test_a_big_tape_replays_every_tick_as_read(workdir: Path) -> None:
    from tracker.sources.tape import read_tape

    tape, rows = big_tape(workdir)

    result = replay(workdir, tape)

    assert result.returncode == 0, result.stderr
    expected = [(t.ts_us, t.seq, t.price) for t in read_tape(tape, "Asia/Hong_Kong").ticks]
    assert len(expected) == len(rows)
    assert stored(workdir) == expected
    assert [seq for _, seq, _ in expected[:6]] == [0, 1, 2, 0, 1, 2]
    assert f"replayed {len(rows):,} ticks" in result.stdout
    assert logged_alerts(workdir)


def test_a_big_tape_with_a_bad_row_is_refused_before_anything_is_written(workdir: Path) -> None:
    tape, rows = big_tape(workdir, bad_price="abc")

    result = replay(workdir, tape)

    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    line = len(rows)  # the header is line 1, the last-but-one row line len(rows)
    assert row_lines(result.stderr) == [f"{tape}:{line}: price 'abc' is not a number"]
    assert_nothing_stored(workdir)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"bad_price": "1e308"}, "price 1e308 is above 1,000,000,000"),
        ({"bad_ts": "9999-12-31 15:59:59"}, "ts 9999-12-31 15:59:59 is outside the years"),
    ],
    ids=["price-1e308", "year-9999"],
)
def test_a_big_tape_with_a_value_beyond_the_tracker_is_refused_naming_its_line(
    workdir: Path, bad: dict[str, str], reason: str
) -> None:
    tape, rows = big_tape(workdir, **bad)

    result = replay(workdir, tape)

    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    [message] = row_lines(result.stderr)
    assert message.startswith(f"{tape}:{len(rows)}: {reason}")
    assert_nothing_stored(workdir)


# files of junk: refused in bounded memory


PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def replay_measured(workdir: Path, tape: Path) -> tuple[int, int, str]:
    """A replay's exit code, the peak memory (KiB) of its processes, and its stderr."""
    import sys

    args = [
        *tracker_command(), "replay", str(tape), "--listing", "biren", "--config", str(LISTINGS),
        "--db", f"sqlite:///{db_path(workdir)}", "--alert-log", str(alert_log(workdir)),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, check=True
    )
    code, peak = done.stdout.split()
    return int(code), int(peak), done.stderr


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "{tape}:1: the header is longer than 1,048,576 characters"),
        (b"ts,price\n2026-01-02 09:30,35.70\n", "{tape}:3: line longer than 1,048,576 characters"),
    ],
    ids=["2GB-of-NULs", "a-2GB-line-after-a-good-row"],
)
def test_a_2gb_file_of_junk_is_refused_in_bounded_memory(
    workdir: Path, head: bytes, message: str
) -> None:
    tape = workdir / "junk.csv"
    with tape.open("wb") as handle:
        handle.write(head)
        handle.truncate(2 << 30)  # the rest NULs, as a sparse file: no 2 GB written to disk

    code, peak_kib, stderr = replay_measured(workdir, tape)

    assert code == 2, stderr
    assert message.format(tape=tape) in stderr.splitlines()
    assert peak_kib < 200 * 1024, f"peak {peak_kib / 1024:.0f} MiB reading a 2 GiB file"
    assert_nothing_stored(workdir)


# ticks outside the listing's sessions


def test_ticks_outside_the_sessions_are_replayed_counted_in_a_warning_and_marked_in_the_report(
    workdir: Path,
) -> None:
    tape = write_tape(
        workdir,
        HEADER,
        "2026-01-02 09:30:00,35.70,100,3570",
        "2026-01-02 12:30:00,36.00,100,3600",  # the lunch break
        "2026-01-03 10:00:00,36.20,100,3620",  # a Saturday
        "2026-01-05 10:00:00,36.50,100,3650",
    )

    result = replay(workdir, tape)
    reported = run_tracker(
        workdir, "report", "biren", "--date", "2026-01-02", "--config", str(LISTINGS),
        "--db", f"sqlite:///{db_path(workdir)}",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert len(stored(workdir)) == 4
    assert result.stderr.splitlines() == [
        f"{tape}: 2 ticks outside biren's trading sessions (XHKG), "
        "the first at 2026-01-02T12:30:00+08:00; replayed all the same"
    ]
    assert "1 outside the trading sessions, the first at 12:30:00" in reported.stdout
