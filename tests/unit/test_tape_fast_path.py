"""The Arrow fast path reads every tape exactly as the row-by-row reader does."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import tempfile
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.errors import InputError
from tracker.sources import columns
from tracker.sources.tape import Tape, TapeReader, read_tape

ZONES = ["Asia/Hong_Kong", "America/New_York", "Europe/London", "Australia/Lord_Howe"]

GOOD_TS = st.builds(
    lambda date, hour, minute, second, fraction, sep, offset: (
        f"{date.isoformat()}{sep}{hour:02d}:{minute:02d}"
        + ("" if second is None else f":{second:02d}")
        + ("" if second is None or fraction is None else f".{fraction}")
        + offset
    ),
    st.dates(dt.date(1999, 1, 1), dt.date(2031, 12, 31)),
    st.integers(0, 23),
    st.integers(0, 59),
    st.none() | st.integers(0, 59),
    st.none() | st.from_regex(r"\A[0-9]{1,6}\Z"),
    st.sampled_from(["T", " "]),
    st.sampled_from(["", "", "", "Z", "+08:00", "-05:00", "+0530", "+09", "-00:30"]),
)
ODD_TS = st.sampled_from(
    [
        "",
        "2026-02-30 10:00",
        "2026-13-01 10:00",
        "2026-01-02 24:00",
        "2026-01-02 10:60",
        "2026-01-02 10:00:60",
        "2026-01-02 10:00:00.",
        "2026-01-02 10:00:00.1234567",
        "2026-01-02 10:00+24:00",
        "2026-01-02 10:00+08:60",
        "2026-01-02 10:00+08:",
        "2026-01-02 10:00+8",
        "2026-01-02 10:00Z ",
        "2026-01-02 10:00 ",
        " 2026-01-02 10:00",
        "2026-01-02",
        "2026/01/02 10:00",
        "0000-01-02 10:00",
        "2024-02-29 10:00",
        "2100-02-29 10:00",
        "2026-03-08 02:30",  # New York's spring-forward gap
        "2026-11-01 01:30",  # New York's repeated hour
        "2026-10-04 02:15",  # Lord Howe's half-hour change
        "1899-12-31 23:59",  # the years the tracker holds are 1900-2199
        "1900-01-02 00:00",
        "2199-12-31 10:00",
        "2200-01-01 10:00",
        "9999-12-31 23:59",
        "abc",
    ]
)
NUMBER = st.one_of(
    st.decimals(0, 10_000, places=3, allow_nan=False).map(str),
    st.floats(0, 1e6, allow_nan=False).map(repr),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "+.5",
            "1.e3",
            "1e",
            ".",
            "nan",
            "inf",
            "1e999",
            " 1",
            "1_0",
            "-0",
            "3.57E4",
            # at and past what the tracker holds: prices 0.000001 to 1e9, amounts to 1e15
            "1e308",
            "1e-308",
            "0.000001",
            "0.0000009",
            "1000000000",
            "1000000000.5",
            "1e15",
            "1.0000001e15",
        ]
    ),
)


def quoted(value: str, how: int) -> str:
    """A field as written: plain, quoted, or quoted badly."""
    return [value, f'"{value}"', f'"{value}', f'{value}"x', f'"{value}"x'][how]


QUOTING = st.integers(0, 4) | st.just(0) | st.just(0) | st.just(1)
ROWS = st.lists(
    st.tuples(st.one_of(GOOD_TS, GOOD_TS, ODD_TS), NUMBER, NUMBER, QUOTING, QUOTING).map(
        lambda r: f"{quoted(r[0], r[3])},{quoted(r[1], r[4])},{r[2]}"
    )
    | st.sampled_from(["", "   ", "1,2", "a,b,c,d", '"2026-01-02 10:00","1,5",1', '"a\nb",1,2']),
    min_size=1,
    max_size=40,
)


def same(fast: Tape, exact: Tape) -> None:
    assert fast.rows == exact.rows
    assert [str(row) for row in fast.bad_rows] == [str(row) for row in exact.bad_rows]
    assert len(fast.ticks) == len(exact.ticks)
    for a, b in zip(fast.ticks, exact.ticks, strict=True):
        assert (a.ts_us, a.seq, a.price) == (b.ts_us, b.seq, b.price)
        for x, y in ((a.volume, b.volume), (a.turnover, b.turnover)):
            assert x == y or (x is None and y is None) or (math.isnan(x or 0) and y is None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=ROWS,
    zone=st.sampled_from(ZONES),
    eol=st.sampled_from(["\n", "\r\n"]),
    block=st.sampled_from([columns.CSV_BLOCK, 1, 17, 64]),
)
def test_csv_fast_path_equals_the_exact_reader(
    rows: list[str], zone: str, eol: str, block: int
) -> None:
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(columns, "CSV_BLOCK", block):
        path = Path(folder) / "tape.csv"
        path.write_text("ts,price,volume" + eol + eol.join(rows) + eol, newline="")
        try:
            exact = read_tape(path, zone, arrow=False)
        except InputError as refused:
            with pytest.raises(InputError, match=re.escape(str(refused))):
                read_tape(path, zone)
        else:
            same(read_tape(path, zone), exact)


@settings(max_examples=100, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(st.integers(0, 3_600_000_000), st.floats(0.01, 1000, allow_nan=False)),
        min_size=1,
        max_size=30,
    ),
    zone=st.sampled_from(ZONES),
    kind=st.sampled_from(["naive", "utc", "text"]),
)
def test_parquet_fast_path_equals_the_exact_reader(
    ticks: list[tuple[int, float]], zone: str, kind: str
) -> None:
    start = 1_772_900_000_000_000  # early March 2026: New York's clocks change in range
    instants = sorted(start + offset for offset, _ in ticks)
    prices = [price for _, price in ticks]
    if kind == "naive":
        ts = pa.array(instants, pa.timestamp("us"))
    elif kind == "utc":
        ts = pa.array(instants, pa.timestamp("us", "UTC"))
    else:
        ts = pa.array([dt.datetime.fromtimestamp(i / 1e6, dt.UTC).isoformat() for i in instants])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tape.parquet"
        pq.write_table(pa.table({"ts": ts, "price": prices}), path)
        same(read_tape(path, zone), read_tape(path, zone, arrow=False))


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        (pa.array([1_767_317_400_000_000], pa.int64()), "column 'ts' is of type int64"),
        (pa.array([True]), "column 'ts' is of type bool"),
    ],
    ids=["int", "bool"],
)
def test_a_parquet_ts_of_numbers_or_booleans_is_refused_not_taken_for_1970(
    tmp_path: Path, column: pa.Array, reason: str
) -> None:
    path = tmp_path / "tape.parquet"
    pq.write_table(pa.table({"ts": column, "price": [35.70]}), path)
    for arrow in (True, False):
        with pytest.raises(InputError, match=reason):
            read_tape(path, "Asia/Hong_Kong", arrow=arrow)


def test_a_parquet_column_named_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tape.parquet"
    table = pa.table(
        [pa.array(["2026-01-02 09:30"]), pa.array([35.7]), pa.array([36.0])],
        names=["ts", "price", "price"],
    )
    pq.write_table(table, path)
    for arrow in (True, False):
        with pytest.raises(InputError, match="column 'price' appears twice"):
            read_tape(path, "Asia/Hong_Kong", arrow=arrow)


def test_a_clean_tape_takes_the_fast_path_and_a_dirty_one_the_exact(tmp_path: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text("ts,price\n2026-01-02 09:30,35.70\n2026-01-02 09:31,35.80\n")
    dirty = tmp_path / "dirty.csv"
    dirty.write_text("ts,price\n2026-01-02 09:30,35.70\n2026-01-02 09:31,abc\n")
    fast, slow = TapeReader(clean, "Asia/Hong_Kong"), TapeReader(dirty, "Asia/Hong_Kong")
    assert fast.check().bad_rows == []
    assert [str(row) for row in slow.check().bad_rows] == [
        f"{dirty}:3: price 'abc' is not a number"
    ]
    assert fast.fast
    assert not slow.fast


def test_times_of_two_layouts_of_one_width_take_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    path.write_text("ts,price\n2026-01-02 09:30:00.000,35.70\n2026-01-02 01:30:01.00Z,35.80\n")
    reader = TapeReader(path, "Asia/Hong_Kong")
    reader.check()
    assert reader.fast
    assert [t for chunk in reader.chunks() for t in chunk.to_ticks()] == (
        read_tape(path, "Asia/Hong_Kong", arrow=False).ticks
    )


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_parquet_numbers_as_text_with_empty_ones_read_as_the_exact_reader_reads_them(
    tmp_path: Path, kind: pa.DataType
) -> None:
    path = tmp_path / "tape.parquet"
    texts = ["100", "", "300", "4e2", None]
    table = pa.table(
        {
            "ts": pa.array([f"2026-01-02 09:30:0{i}" for i in range(5)]),
            "price": pa.array(["35.70", "35.8", "35.90", "36", "36.1"], kind),
            "volume": pa.array(texts, kind),
            "turnover": pa.array(texts[::-1], kind),
        }
    )
    pq.write_table(table, path)
    assert pq.read_schema(path).field("volume").type == kind
    fast = read_tape(path, "Asia/Hong_Kong")
    same(fast, read_tape(path, "Asia/Hong_Kong", arrow=False))
    assert [t.volume for t in fast.ticks] == [100, None, 300, 400, None]


def test_chunks_are_the_chunk_size_and_seq_runs_cross_them(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    lines = [f"2026-01-02 09:30:{i // 3:02d},35.{i:02d}" for i in range(25)]
    path.write_text("ts,price\n" + "\n".join(lines) + "\n")
    reader = TapeReader(path, "Asia/Hong_Kong", chunk_rows=4, keep_rows=10)
    reader.check()
    chunks = list(reader.chunks())  # re-read: 25 ticks are more than keep_rows
    assert [len(chunk) for chunk in chunks] == [4, 4, 4, 4, 4, 4, 1]
    seqs = [int(s) for chunk in chunks for s in chunk.seq]
    assert seqs == [i % 3 for i in range(25)]
    expected = read_tape(path, "Asia/Hong_Kong", arrow=False).ticks
    assert [t for chunk in chunks for t in chunk.to_ticks()] == expected


@st.composite
def uniform_times(draw: st.DrawFn) -> list[str]:
    """Times all written in one layout (as most tapes are), now and then an impossible one."""
    sep = draw(st.sampled_from(["T", " "]))
    places = draw(st.sampled_from([None, 0, 1, 3, 6]))  # None: no seconds; 0: no fraction
    offset = draw(
        st.sampled_from(["", "Z", "+08:00", "-05:00", "+0530", "+09", "-00:30", "+24:00", "-0860"])
    )
    count = draw(st.integers(1, 12))
    texts = []
    for _ in range(count):
        y, mo, d = draw(st.integers(1999, 2031)), draw(st.integers(1, 12)), draw(st.integers(1, 31))
        h, mi, s = draw(st.integers(0, 24)), draw(st.integers(0, 60)), draw(st.integers(0, 60))
        text = f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}"
        if places is not None:
            text += f":{s:02d}"
            if places:
                text += "." + "".join(draw(st.sampled_from("0123456789")) for _ in range(places))
        if offset and offset != "Z" and draw(st.booleans()):
            offset = ("-" if offset[0] == "+" else "+") + offset[1:]  # the sign may vary
        texts.append(text + offset)
    if draw(st.integers(0, 3)) == 0:  # a character out of place, or year 0
        i = draw(st.integers(0, count - 1))
        at = draw(st.integers(0, len(texts[i]) - 1))
        odd = draw(st.sampled_from(["a", " ", "+", "-", ":", ".", "T", "Z", "/", "é", "0000"]))
        at = 0 if odd == "0000" else at
        # in place of as many characters as it has bytes: the row keeps its width
        texts[i] = texts[i][:at] + odd + texts[i][at + len(odd.encode()) :]
    return sorted(texts) if draw(st.booleans()) else texts


@settings(max_examples=300, deadline=None)
@given(times=uniform_times(), zone=st.sampled_from(ZONES))
def test_times_in_one_layout_read_as_the_exact_reader_reads_them(
    times: list[str], zone: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tape.csv"
        path.write_text("ts,price\n" + "".join(f"{ts},35.70\n" for ts in times))
        same(read_tape(path, zone), read_tape(path, zone, arrow=False))


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b",", b"\n", b"\r", b"\r\n", "é".encode()])).map(
        b"".join
    ),
    block=st.integers(1, 12),
)
def test_line_blocks_end_where_lines_end_and_make_up_the_file(data: bytes, block: int) -> None:
    with mock.patch.object(columns, "CSV_BLOCK", block):
        blocks = [bytes(b) for b in columns._line_blocks(io.BufferedReader(io.BytesIO(data)))]
    assert b"".join(blocks) == data
    assert all(blocks)
    assert all(b.endswith((b"\n", b"\r")) for b in blocks[:-1])
    if blocks and not blocks[-1].endswith((b"\n", b"\r")):  # the file's last line, unended
        assert b"\n" not in blocks[-1]
        assert b"\r" not in blocks[-1]


@pytest.mark.parametrize("block", [columns.CSV_BLOCK, 3])
def test_a_tape_that_is_not_utf8_is_refused_naming_the_line(tmp_path: Path, block: int) -> None:
    path = tmp_path / "tape.csv"
    rows = "".join(f"2026-01-02 09:3{i},35.70,ok\n" for i in range(3))
    # in a column the fast path does not read, which Arrow would take as it is
    path.write_bytes(f"ts,price,note\n{rows}".encode() + b"2026-01-02 09:34,35.80,\xe9\n")
    with mock.patch.object(columns, "CSV_BLOCK", block):
        reader = TapeReader(path, "Asia/Hong_Kong")
        with pytest.raises(InputError, match=re.escape(f"{path}:5: not UTF-8 text")):
            reader.check()
    assert not reader.fast
