"""Reading recorded tapes (CSV and Parquet) per the tape contract."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.core.model import Tick, datetime_to_ts
from tracker.errors import InputError
from tracker.sources.tape import BadRow, Tape, read_tape

HONG_KONG = "Asia/Hong_Kong"
HKT = dt.timezone(dt.timedelta(hours=8))
BOM = b"\xef\xbb\xbf"


def utc(text: str) -> int:
    """Epoch microseconds of an ISO time that carries its offset."""
    moment = dt.datetime.fromisoformat(text)
    assert moment.tzinfo is not None, "give the expected instant with its offset"
    return datetime_to_ts(moment)


def write_csv(
    folder: Path, *lines: str, bom: bool = False, eol: str = "\n", name: str = "tape.csv"
) -> Path:
    """A CSV tape of exactly these lines, each ended by ``eol``."""
    path = folder / name
    path.write_bytes((BOM if bom else b"") + "".join(line + eol for line in lines).encode())
    return path


def read(path: Path) -> Tape:
    return read_tape(path, HONG_KONG)


def only_tick(tape: Tape) -> Tick:
    assert tape.bad_rows == []
    assert len(tape.ticks) == 1
    return tape.ticks[0]


def only_bad_row(tape: Tape) -> BadRow:
    assert len(tape.bad_rows) == 1, [str(row) for row in tape.bad_rows]
    return tape.bad_rows[0]


def assert_bad_row(row: BadRow, where: str, *words: str) -> None:
    """The row is reported at ``where`` (``FILE:LINE``) with a reason naming ``words``."""
    text = str(row)
    assert text.startswith(f"{where}: "), text
    reason = text[len(where) + 2 :].lower()
    for word in words:
        assert word.lower() in reason, f"{word!r} not in {text!r}"


def assert_reason_mentions_any(row: BadRow, *words: str) -> None:
    reason = str(row).lower()
    assert any(word in reason for word in words), f"none of {words} in {str(row)!r}"


GOOD = "2026-01-02 09:30:00,35.70"


# Timestamps


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-02 09:30:00", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02T09:30:00", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02 09:30", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02T09:30", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02 09:30:07", "2026-01-02T01:30:07+00:00"),
        ("2026-01-02 09:30:07.5", "2026-01-02T01:30:07.500000+00:00"),
        ("2026-01-02 09:30:07.123", "2026-01-02T01:30:07.123000+00:00"),
        ("2026-01-02 09:30:07.123456", "2026-01-02T01:30:07.123456+00:00"),
        ("2026-01-02T09:30:07.000001", "2026-01-02T01:30:07.000001+00:00"),
    ],
)
def test_naive_ts_is_hong_kong_local_time(tmp_path: Path, text: str, instant: str) -> None:
    tick = only_tick(read(write_csv(tmp_path, "ts,price", f"{text},35.70")))
    assert tick.ts_us == utc(instant)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-02T01:30:00Z", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02 01:30Z", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02T09:30:00+08:00", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02 09:30:00.25+08:00", "2026-01-02T01:30:00.250000+00:00"),
        ("2026-01-01T20:30:00-05:00", "2026-01-02T01:30:00+00:00"),
        ("2026-01-02T10:30:00+09:00", "2026-01-02T01:30:00+00:00"),
    ],
)
def test_ts_with_offset_is_that_instant(tmp_path: Path, text: str, instant: str) -> None:
    tick = only_tick(read(write_csv(tmp_path, "ts,price", f"{text},35.70")))
    assert tick.ts_us == utc(instant)


def test_each_row_is_read_with_its_own_offset(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "2026-01-02 09:30,35.70",
        "2026-01-02T01:31:00Z,35.80",
        "2026-01-02T09:32:00+08:00,35.90",
        "2026-01-02 09:33,36.00",
    )
    tape = read(path)
    assert tape.bad_rows == []
    assert [t.ts_us for t in tape.ticks] == [
        utc("2026-01-02T01:30:00+00:00"),
        utc("2026-01-02T01:31:00+00:00"),
        utc("2026-01-02T01:32:00+00:00"),
        utc("2026-01-02T01:33:00+00:00"),
    ]


# Encoding, line endings, columns


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    tick = only_tick(read(write_csv(tmp_path, "ts,price", GOOD, bom=True)))
    assert tick == Tick(utc("2026-01-02T09:30:00+08:00"), 0, 35.70)


def test_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    tape = read(
        write_csv(tmp_path, "ts,price,volume", GOOD + ",100", "2026-01-02 09:31,36,7", eol="\r\n")
    )
    assert tape.bad_rows == []
    assert tape.ticks == [
        Tick(utc("2026-01-02T09:30:00+08:00"), 0, 35.70, 100),
        Tick(utc("2026-01-02T09:31:00+08:00"), 0, 36.0, 7),
    ]


def test_bom_and_crlf_together_are_accepted_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, "", "2026-01-02 09:31,abc", bom=True, eol="\r\n")
    tape = read(path)
    assert len(tape.ticks) == 1
    assert_bad_row(only_bad_row(tape), f"{path}:4", "price", "abc")


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    path.write_bytes(b"ts,price\n2026-01-02 09:30,35.70\n2026-01-02 09:31,35.80")
    tape = read(path)
    assert tape.bad_rows == []
    assert [t.price for t in tape.ticks] == [35.70, 35.80]


def test_extra_columns_are_ignored_and_columns_may_come_in_any_order(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "note,turnover,price,provenance,volume,ts",
        'opening,132211380.00,35.70,"published, auction",3703400,2026-01-02 09:20:00',
        "x,1799280,35.70,synthetic,50400,2026-01-02 09:30:00",
    )
    tape = read(path)
    assert tape.bad_rows == []
    assert tape.ticks == [
        Tick(utc("2026-01-02T09:20:00+08:00"), 0, 35.70, 3703400, 132211380.00),
        Tick(utc("2026-01-02T09:30:00+08:00"), 0, 35.70, 50400, 1799280),
    ]


def test_volume_and_turnover_columns_may_be_absent(tmp_path: Path) -> None:
    tick = only_tick(read(write_csv(tmp_path, "ts,price", GOOD)))
    assert tick.volume is None
    assert tick.turnover is None


def test_empty_volume_and_turnover_are_unknown(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price,volume,turnover",
        GOOD + ",,",
        "2026-01-02 09:31,35.80,,5000",
        "2026-01-02 09:32,35.90,200,",
    )
    tape = read(path)
    assert tape.bad_rows == []
    assert [(t.volume, t.turnover) for t in tape.ticks] == [(None, None), (None, 5000), (200, None)]


def test_plain_decimal_forms_are_numbers(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price,volume,turnover",
        "2026-01-02 09:30,+35.70,1e3,3.57E4",
        "2026-01-02 09:31,35.,0,.5",
        "2026-01-02 09:32,3.58e1,12,0",
    )
    tape = read(path)
    assert tape.bad_rows == []
    assert [(t.price, t.volume, t.turnover) for t in tape.ticks] == [
        (35.70, 1000, 35700),
        (35.0, 0, 0.5),
        (35.8, 12, 0),
    ]


def test_blank_lines_are_skipped_and_later_lines_keep_their_physical_number(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "",
        GOOD,
        "",
        "",
        "2026-01-02 09:31,-1",
        "2026-01-02 09:32,36.00",
        "",
    )
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70, 36.00]
    assert_bad_row(only_bad_row(tape), f"{path}:6", "price")


def test_whitespace_only_lines_are_blank_and_skipped(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, "   ", "2026-01-02 09:31,36.00")
    tape = read(path)
    assert tape.bad_rows == []
    assert len(tape.ticks) == 2


# seq


def test_ticks_sharing_a_ts_get_seq_in_file_order_and_seq_restarts_at_a_new_ts(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "2026-01-02 09:30:00,35.70",
        "2026-01-02 09:30:00,35.60",
        "2026-01-02 09:30:00,35.80",
        "2026-01-02 09:30:01,35.90",
        "2026-01-02 09:30:01,36.00",
        "2026-01-02 09:30:02,36.10",
    )
    tape = read(path)
    assert tape.bad_rows == []
    assert [(t.price, t.seq) for t in tape.ticks] == [
        (35.70, 0),
        (35.60, 1),
        (35.80, 2),
        (35.90, 0),
        (36.00, 1),
        (36.10, 0),
    ]


def test_same_instant_written_with_different_offsets_shares_a_seq_run(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "2026-01-02 09:30:00,35.70",
        "2026-01-02T01:30:00Z,35.60",
        "2026-01-02T09:30:00+08:00,35.80",
    )
    tape = read(path)
    assert [t.seq for t in tape.ticks] == [0, 1, 2]
    assert len({t.ts_us for t in tape.ticks}) == 1


def test_seq_counts_only_good_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "2026-01-02 09:30:00,35.70",
        "2026-01-02 09:30:00,abc",
        "2026-01-02 09:30:00,0",
        "2026-01-02 09:30:00,35.80",
        "2026-01-02 09:30:00,",
        "2026-01-02 09:30:00,35.90",
    )
    tape = read(path)
    assert [(t.price, t.seq) for t in tape.ticks] == [(35.70, 0), (35.80, 1), (35.90, 2)]
    assert len(tape.bad_rows) == 3


# Bad rows: ts


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-02-30 09:30",
        "2026-01-02 24:00",
        "2026-01-02 9:30",
        "2026/01/02 09:30",
        "2026-01-02",
        "2026-01-02 09:30:00.1234567",
        "2026-01-02 09:30:00+8",
    ],
)
def test_ts_that_does_not_parse_is_a_bad_row(tmp_path: Path, text: str) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, f"{text},35.80", "2026-01-02 09:31,35.90")
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70, 35.90]
    assert_bad_row(only_bad_row(tape), f"{path}:3", "ts", text)


def test_empty_ts_is_a_bad_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, ",35.80")
    assert_bad_row(only_bad_row(read(path)), f"{path}:3", "ts")


def test_ts_earlier_than_the_last_good_row_is_a_bad_row(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "ts,price", "2026-01-02 09:31,35.70", "2026-01-02 09:30:59.999999,35.80"
    )
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70]
    assert_bad_row(only_bad_row(tape), f"{path}:3", "earlier")


def test_ts_earlier_in_instant_though_later_on_the_clock_face_is_a_bad_row(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path, "ts,price", "2026-01-02 09:30,35.70", "2026-01-02T09:40:00+09:00,35.80"
    )
    assert_bad_row(only_bad_row(read(path)), f"{path}:3", "earlier")


def test_a_bad_row_in_between_does_not_count_as_the_last_row_for_ordering(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "2026-01-02 09:30,35.70",
        "2026-01-02 09:40,abc",  # bad (price): its later ts must not become the bar
        "2026-01-02 09:35,35.80",  # good: later than 09:30, the last good row
        "2026-01-02 09:32,35.90",  # bad: earlier than 09:35
        "2026-01-02 09:35,36.00",  # good: same ts as the last good row
    )
    tape = read(path)
    assert [(t.price, t.seq) for t in tape.ticks] == [(35.70, 0), (35.80, 0), (36.00, 1)]
    assert len(tape.bad_rows) == 2
    assert_bad_row(tape.bad_rows[0], f"{path}:3", "price")
    assert_bad_row(tape.bad_rows[1], f"{path}:5", "earlier")


def test_an_earlier_ts_after_a_bad_ts_is_judged_against_the_last_good_row(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "ts,price",
        "2026-01-02 09:30,35.70",
        "2026-01-02 09:99,35.80",
        "2026-01-02 09:31,35.90",
    )
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70, 35.90]
    assert_bad_row(only_bad_row(tape), f"{path}:3", "ts")


# Bad rows: price


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("abc", ("price", "abc")),
        ("NaN", ("price", "nan")),
        ("nan", ("price", "nan")),
        ("inf", ("price", "inf")),
        ("-inf", ("price", "inf")),
        ("Infinity", ("price", "inf")),
        ("1e999", ("price", "1e999")),
        ("HK$35.70", ("price", "HK$35.70")),
        ("35.70.1", ("price", "35.70.1")),
        ("0x23", ("price", "0x23")),
    ],
)
def test_price_that_is_not_a_finite_number_is_a_bad_row(
    tmp_path: Path, value: str, words: tuple[str, ...]
) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, f"2026-01-02 09:31,{value}")
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70]
    assert_bad_row(only_bad_row(tape), f"{path}:3", *words)


def test_empty_price_is_a_bad_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ts,price,volume", GOOD + ",1", "2026-01-02 09:31,,100")
    row = only_bad_row(read(path))
    assert_bad_row(row, f"{path}:3", "price")
    assert_reason_mentions_any(row, "empty", "missing")


@pytest.mark.parametrize("value", ["0", "0.00", "-0", "0e5"])
def test_zero_price_is_a_bad_row(tmp_path: Path, value: str) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, f"2026-01-02 09:31,{value}")
    row = only_bad_row(read(path))
    assert_bad_row(row, f"{path}:3", "price")
    assert_reason_mentions_any(row, "positive", "zero")


@pytest.mark.parametrize("value", ["-35.70", "-0.01", "-1e-3"])
def test_negative_price_is_a_bad_row(tmp_path: Path, value: str) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, f"2026-01-02 09:31,{value}")
    row = only_bad_row(read(path))
    assert_bad_row(row, f"{path}:3", "price", value)
    assert_reason_mentions_any(row, "positive", "negative")


@pytest.mark.parametrize("value", [" 35.7", "35.7 ", "1_000", "1 000", "3 5.7"])
def test_price_with_spaces_or_underscores_is_a_bad_row(tmp_path: Path, value: str) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, f"2026-01-02 09:31,{value}")
    assert_bad_row(only_bad_row(read(path)), f"{path}:3", "price", value)


@pytest.mark.parametrize("value", ["\u0663\u0665.\u0667", "\uff13\uff15.\uff17\uff10"])
def test_price_with_non_ascii_digits_is_a_bad_row(tmp_path: Path, value: str) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, f"2026-01-02 09:31,{value}")
    assert_bad_row(only_bad_row(read(path)), f"{path}:3", "price")


def test_ts_with_non_ascii_digits_is_a_bad_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ts,price", GOOD, "\uff12\uff10\uff12\uff16-01-02 09:31,35.80")
    assert_bad_row(only_bad_row(read(path)), f"{path}:3", "ts")


# Bad rows: volume and turnover


@pytest.mark.parametrize("column", ["volume", "turnover"])
@pytest.mark.parametrize("value", ["-1", "-0.5", "-1e3"])
def test_negative_volume_or_turnover_is_a_bad_row(tmp_path: Path, column: str, value: str) -> None:
    path = write_csv(tmp_path, f"ts,price,{column}", GOOD + ",5", f"2026-01-02 09:31,35.80,{value}")
    tape = read(path)
    assert len(tape.ticks) == 1
    row = only_bad_row(tape)
    assert_bad_row(row, f"{path}:3", column)
    assert_reason_mentions_any(row, "negative", "positive")


@pytest.mark.parametrize("column", ["volume", "turnover"])
@pytest.mark.parametrize("value", ["many", "NaN", "inf", "1e999", "1_000", " 100", "100 ", "1,5"])
def test_volume_or_turnover_that_is_not_a_number_is_a_bad_row(
    tmp_path: Path, column: str, value: str
) -> None:
    quoted = f'"{value}"' if "," in value else value
    path = write_csv(
        tmp_path, f"ts,price,{column}", GOOD + ",5", f"2026-01-02 09:31,35.80,{quoted}"
    )
    tape = read(path)
    assert len(tape.ticks) == 1
    assert_bad_row(only_bad_row(tape), f"{path}:3", column)


def test_zero_volume_and_turnover_are_good(tmp_path: Path) -> None:
    tick = only_tick(read(write_csv(tmp_path, "ts,price,volume,turnover", GOOD + ",0,0")))
    assert (tick.volume, tick.turnover) == (0, 0)


# Bad rows: field count


@pytest.mark.parametrize(
    "row",
    [
        "2026-01-02 09:31,35.80,100,extra",
        "2026-01-02 09:31,35.80,100,",
        "2026-01-02 09:31,35.80",
        "2026-01-02 09:31",
    ],
)
def test_row_with_a_different_field_count_than_the_header_is_a_bad_row(
    tmp_path: Path, row: str
) -> None:
    path = write_csv(tmp_path, "ts,price,volume", GOOD + ",1", row, "2026-01-02 09:32,35.90,2")
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70, 35.90]
    row_error = only_bad_row(tape)
    assert_bad_row(row_error, f"{path}:3")
    assert_reason_mentions_any(row_error, "field", "column")


# Physical lines


def test_row_after_a_quoted_field_spanning_two_lines_keeps_its_physical_line(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "ts,price,note",
        '2026-01-02 09:30,35.70,"first line',
        'second line"',
        "2026-01-02 09:31,abc,x",
    )
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70]
    assert_bad_row(only_bad_row(tape), f"{path}:4", "price")


def test_quoted_field_spanning_lines_with_crlf_keeps_later_lines_physical(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price,note",
        '2026-01-02 09:30,35.70,"one',
        "two",
        'three"',
        "",
        "2026-01-02 09:31,-2,x",
        bom=True,
        eol="\r\n",
    )
    assert_bad_row(only_bad_row(read(path)), f"{path}:6", "price")


def test_bad_row_spanning_two_lines_is_reported_at_the_line_where_it_starts(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "ts,price,note",
        GOOD + ",a",
        '2026-01-02 09:31,0,"first line',
        'second line"',
        "2026-01-02 09:32,abc,x",
    )
    tape = read(path)
    assert len(tape.bad_rows) == 2
    assert_bad_row(tape.bad_rows[0], f"{path}:3", "price")
    assert_bad_row(tape.bad_rows[1], f"{path}:5", "price")


def test_every_bad_row_is_reported_in_file_order(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "ts,price,volume",
        "2026-01-02 09:30,abc,1",
        GOOD + ",1",
        "2026-01-02 09:31,35.80,-1",
        "",
        "2026-01-02 09:32,35.90",
        "2026-01-02 09:29,35.90,1",
    )
    tape = read(path)
    assert [row.where for row in tape.bad_rows] == [
        f"{path}:2",
        f"{path}:4",
        f"{path}:6",
        f"{path}:7",
    ]


# Whole-tape refusals


def test_tape_without_a_ts_column_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "time,price", GOOD)
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message
    assert "ts" in caught.value.message


def test_tape_without_a_price_column_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ts,last,volume", GOOD + ",1")
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message
    assert "price" in caught.value.message


@pytest.mark.parametrize("lines", [("ts,price",), ("ts,price", "", ""), ("ts,price,volume",)])
def test_tape_with_a_header_and_no_data_rows_is_refused(
    tmp_path: Path, lines: tuple[str, ...]
) -> None:
    path = write_csv(tmp_path, *lines)
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message


def test_header_only_tape_without_a_final_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    path.write_bytes(BOM + b"ts,price")
    with pytest.raises(InputError, match=r"tape\.csv"):
        read(path)


@pytest.mark.parametrize("data", [b"", BOM])
def test_empty_file_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "tape.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message


def test_nonexistent_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "tape.csv"
    folder.mkdir()
    with pytest.raises(InputError, match=r"tape\.csv"):
        read(folder)


def test_non_utf8_bytes_are_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    path.write_bytes(b"ts,price\r\n2026-01-02 09:30,35.70\r\n2026-01-02 09:31,3\xff\r\n")
    with pytest.raises(InputError) as caught:
        read(path)
    assert caught.value.message.startswith(f"{path}:3")


def test_latin1_header_is_refused_naming_line_one(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    path.write_bytes("ts,price,rem\xe4rk\n2026-01-02 09:30,35.70,x\n".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read(path)
    assert caught.value.message.startswith(f"{path}:1")


# Parquet


def wall(hour: int, minute: int) -> dt.datetime:
    """A naive wall-clock time on 2026-01-02, as a naive Parquet timestamp holds it."""
    return dt.datetime(2026, 1, 2, hour, minute, tzinfo=HKT).replace(tzinfo=None)


def write_parquet(folder: Path, columns: dict[str, pa.Array], name: str = "tape.parquet") -> Path:
    path = folder / name
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_tz_aware_timestamps_are_taken_as_that_instant(tmp_path: Path) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array(
                [dt.datetime(2026, 1, 2, 1, 30, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")
            ),
            "price": pa.array([35.70]),
        },
    )
    assert only_tick(read(path)).ts_us == utc("2026-01-02T01:30:00+00:00")
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array(
                [dt.datetime(2026, 1, 2, 10, 30, 0, 250_000, tzinfo=tokyo)],
                pa.timestamp("ms", tz="Asia/Tokyo"),
            ),
            "price": pa.array([35.70]),
        },
        name="tokyo.parquet",
    )
    assert only_tick(read(path)).ts_us == utc("2026-01-02T01:30:00.250000+00:00")


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_parquet_naive_timestamps_are_hong_kong_time(tmp_path: Path, unit: str) -> None:
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array(
                [wall(9, 30), wall(9, 30)],
                pa.timestamp(unit),
            ),
            "price": pa.array([35.70, 35.80]),
            "volume": pa.array([100, None], pa.int64()),
        },
    )
    tape = read(path)
    assert tape.bad_rows == []
    at = utc("2026-01-02T01:30:00+00:00")
    assert tape.ticks == [Tick(at, 0, 35.70, 100), Tick(at, 1, 35.80, None)]


def test_parquet_tz_aware_nanosecond_timestamps_do_not_escape_as_arrow_errors(
    tmp_path: Path,
) -> None:
    # pandas writes nanosecond timestamps; a sub-microsecond part must not crash the reader
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array([1_767_317_400_000_000_123], pa.timestamp("ns", tz="UTC")),
            "price": pa.array([35.70]),
        },
    )
    try:
        tape = read(path)
    except InputError:
        return  # refusing the tape with a message is acceptable too
    assert only_tick(tape).ts_us == utc("2026-01-02T01:30:00+00:00")


def test_parquet_string_ts_column_is_parsed_like_csv(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array(
                ["2026-01-02 09:30", "2026-01-02T01:30:00Z", "2026-01-02T09:31:00.5+08:00", "bad"]
            ),
            "price": pa.array(["35.70", "35.80", "35.90", "36.00"]),
            "turnover": pa.array(["", "3580", None, "1"]),
        },
    )
    tape = read(path)
    at = utc("2026-01-02T01:30:00+00:00")
    assert tape.ticks == [
        Tick(at, 0, 35.70, None, None),
        Tick(at, 1, 35.80, None, 3580),
        Tick(utc("2026-01-02T01:31:00.500000+00:00"), 0, 35.90, None, None),
    ]
    assert_bad_row(only_bad_row(tape), f"{path}:row 4", "ts")


def test_parquet_bad_prices_are_reported_by_data_row_number(tmp_path: Path) -> None:
    base = wall(9, 30)
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array([base + dt.timedelta(seconds=i) for i in range(6)], pa.timestamp("us")),
            "price": pa.array([35.70, float("nan"), 0.0, None, -1.0, 35.80]),
        },
    )
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70, 35.80]
    assert [row.where for row in tape.bad_rows] == [
        f"{path}:row 2",
        f"{path}:row 3",
        f"{path}:row 4",
        f"{path}:row 5",
    ]
    nan, zero, null, negative = tape.bad_rows
    assert_bad_row(nan, f"{path}:row 2", "price", "nan")
    assert_bad_row(zero, f"{path}:row 3", "price")
    assert_reason_mentions_any(zero, "positive", "zero")
    assert_bad_row(null, f"{path}:row 4", "price")
    assert_reason_mentions_any(null, "empty", "missing", "null")
    assert_bad_row(negative, f"{path}:row 5", "price")


def test_parquet_negative_volume_and_earlier_ts_are_bad_rows(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array(
                [
                    wall(9, 31),
                    wall(9, 32),
                    wall(9, 30),
                ],
                pa.timestamp("us"),
            ),
            "price": pa.array([35.70, 35.80, 35.90]),
            "volume": pa.array([1.0, -5.0, 1.0]),
        },
    )
    tape = read(path)
    assert [t.price for t in tape.ticks] == [35.70]
    assert_bad_row(tape.bad_rows[0], f"{path}:row 2", "volume")
    assert_bad_row(tape.bad_rows[1], f"{path}:row 3", "earlier")


def test_parquet_decimal_price_column_is_numeric(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array([wall(9, 30)], pa.timestamp("us")),
            "price": pa.array([decimal.Decimal("35.70")], pa.decimal128(10, 2)),
        },
    )
    assert only_tick(read(path)).price == 35.70


def test_parquet_without_a_price_column_is_refused(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path,
        {
            "ts": pa.array([wall(9, 30)], pa.timestamp("us")),
            "last": pa.array([35.70]),
        },
    )
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message
    assert "price" in caught.value.message


def test_parquet_without_a_ts_column_is_refused(tmp_path: Path) -> None:
    path = write_parquet(tmp_path, {"time": pa.array(["2026-01-02 09:30"]), "price": [35.7]})
    with pytest.raises(InputError, match="ts"):
        read(path)


def test_parquet_with_no_rows_is_refused(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path,
        {"ts": pa.array([], pa.timestamp("us")), "price": pa.array([], pa.float64())},
    )
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message


def test_unreadable_parquet_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tape.parquet"
    path.write_bytes(b"ts,price\n2026-01-02 09:30,35.70\n")
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(path) in caught.value.message


# Property: any valid tape reads back exactly

START = dt.datetime(2026, 1, 2, 9, 30, tzinfo=HKT)

row_strategy = st.tuples(
    st.one_of(  # microseconds after the previous row: often none, or whole seconds or minutes
        st.just(0),
        st.integers(min_value=1, max_value=3_600_000_000),
        st.integers(min_value=1, max_value=600).map(lambda n: n * 1_000_000),
        st.integers(min_value=1, max_value=60).map(lambda n: n * 60_000_000),
    ),
    st.integers(min_value=1, max_value=99_999_999),  # price in cents
    st.none() | st.integers(min_value=0, max_value=10**9),  # volume
    st.sampled_from(["local", "local-T", "utc-Z", "offset+08", "offset-05"]),
    st.booleans(),  # shortest form of the time when its seconds / fraction are zero
)


def render_ts(moment: dt.datetime, style: str, short: bool) -> str:
    """One way of writing ``moment`` that the tape contract accepts."""
    if style == "utc-Z":
        moment, suffix = moment.astimezone(dt.UTC), "Z"
    elif style == "offset-05":
        moment, suffix = moment.astimezone(dt.timezone(dt.timedelta(hours=-5))), "-05:00"
    else:
        moment, suffix = moment.astimezone(HKT), "+08:00" if style == "offset+08" else ""
    sep = "T" if style == "local-T" else " "
    clock = f"{moment:%H:%M}"
    if not short or moment.second or moment.microsecond:
        clock += f":{moment:%S}"
        if not short:
            clock += f".{moment.microsecond:06d}"
        elif moment.microsecond:
            clock += f".{moment.microsecond:06d}".rstrip("0")
    return f"{moment:%Y-%m-%d}{sep}{clock}{suffix}"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=30),
    bom=st.booleans(),
    eol=st.sampled_from(["\n", "\r\n"]),
    with_volume=st.booleans(),
)
def test_any_valid_tape_reads_back_exactly_its_ticks(
    tmp_path: Path,
    rows: list[tuple[int, int, int | None, str, bool]],
    bom: bool,
    eol: str,
    with_volume: bool,
) -> None:
    lines = ["ts,price,volume" if with_volume else "ts,price"]
    expected: list[Tick] = []
    moment = START
    last_ts: int | None = None
    seq = 0
    for step_us, cents, volume, style, short in rows:
        moment += dt.timedelta(microseconds=step_us)
        price = f"{cents // 100}.{cents % 100:02d}"
        volume_text = "" if volume is None else str(volume)
        text = render_ts(moment, style, short)
        lines.append(f"{text},{price},{volume_text}" if with_volume else f"{text},{price}")
        ts = datetime_to_ts(moment)
        seq = seq + 1 if ts == last_ts else 0
        last_ts = ts
        expected.append(Tick(ts, seq, float(price), volume if with_volume else None, None))
    path = write_csv(tmp_path, *lines, bom=bom, eol=eol)

    tape = read(path)

    assert tape.bad_rows == []
    assert tape.ticks == expected


# --- values the tracker cannot hold -------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2026-01-02 10:00,1e308,100,", "price 1e308 is above 1,000,000,000"),
        ("2026-01-02 10:00,1e-308,100,", "price 1e-308 is below 0.000001"),
        ("2026-01-02 10:00,35.7,1e308,", "volume 1e308 is above 1e+15"),
        ("2026-01-02 10:00,35.7,100,1e16", "turnover 1e16 is above 1e+15"),
        ("9999-12-31 23:00,35.7,100,", "ts 9999-12-31 23:00 is outside the years 1900-2199"),
        ("1066-10-14 09:00,35.7,100,", "ts 1066-10-14 09:00 is outside the years 1900-2199"),
    ],
    ids=["huge-price", "tiny-price", "huge-volume", "huge-turnover", "year-9999", "year-1066"],
)
@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "exact"])
def test_a_value_the_tracker_cannot_hold_is_a_bad_row_naming_it(
    tmp_path: Path, row: str, reason: str, arrow: bool
) -> None:
    path = tmp_path / "tape.csv"
    path.write_text("ts,price,volume,turnover\n2026-01-02 09:30,35.7,100,\n" + row + "\n")

    tape = read_tape(path, "Asia/Hong_Kong", arrow=arrow)

    [bad] = tape.bad_rows
    assert str(bad).startswith(f"{path}:3: {reason}")
    assert len(tape.ticks) == 1


# --- lines and values too long to hold --------------------------------------------------------


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "exact"])
def test_a_line_longer_than_the_limit_is_a_bad_row_and_the_next_line_is_read(
    tmp_path: Path, arrow: bool
) -> None:
    from tracker.core.limits import LINE_MAX

    path = tmp_path / "tape.csv"
    long_line = "2026-01-02 09:31," + "9" * LINE_MAX
    path.write_text(f"ts,price\n2026-01-02 09:30,35.7\n{long_line}\n2026-01-02 09:32,36.1\n")

    tape = read_tape(path, "Asia/Hong_Kong", arrow=arrow)

    assert [str(bad) for bad in tape.bad_rows] == [
        f"{path}:3: line longer than 1,048,576 characters"
    ]
    assert [tick.price for tick in tape.ticks] == [35.7, 36.1]


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "exact"])
def test_a_line_just_within_the_limit_is_read(tmp_path: Path, arrow: bool) -> None:
    from tracker.core.limits import LINE_MAX

    path = tmp_path / "tape.csv"
    price = "3" + "0" * 8 + "." + "0" * (LINE_MAX - 27)  # 300,000,000.000...
    line = f"2026-01-02 09:31,{price}"
    assert len(line) == LINE_MAX  # not counting its end
    path.write_text(f"ts,price\n{line}\r\n")

    tape = read_tape(path, "Asia/Hong_Kong", arrow=arrow)

    assert tape.bad_rows == []
    assert [tick.price for tick in tape.ticks] == [300_000_000.0]


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "exact"])
def test_a_value_longer_than_a_line_may_be_is_a_bad_row(tmp_path: Path, arrow: bool) -> None:
    from tracker.core.limits import LINE_MAX

    path = tmp_path / "tape.csv"
    lines = "\n".join(["x" * 1000] * (LINE_MAX // 1000 + 1))  # quoted, over many short lines
    path.write_text(f'ts,price,note\n2026-01-02 09:30,35.7,"{lines}"\n2026-01-02 09:31,36,\n')

    tape = read_tape(path, "Asia/Hong_Kong", arrow=arrow)

    # the reader stops the value at the limit; what is left of it is read as rows, as bad
    assert str(tape.bad_rows[0]) == (
        f"{path}:2: unreadable row: a value longer than 1,048,576 characters"
    )
    assert [tick.price for tick in tape.ticks] == [36.0]


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "exact"])
def test_a_header_longer_than_a_line_may_be_refuses_the_tape(tmp_path: Path, arrow: bool) -> None:
    from tracker.core.limits import LINE_MAX

    path = tmp_path / "tape.csv"
    path.write_text("ts,price," + "x" * LINE_MAX + "\n2026-01-02 09:30,35.7\n")

    with pytest.raises(InputError, match=r":1: the header is longer than 1,048,576 characters"):
        read_tape(path, "Asia/Hong_Kong", arrow=arrow)


def test_bad_rows_past_the_first_hundred_are_counted_not_kept(tmp_path: Path) -> None:
    from tracker.sources.tape import BAD_ROWS_KEPT, TapeReader

    path = tmp_path / "tape.csv"
    path.write_text("ts,price\n" + "soon,1\n" * 5_000 + "2026-01-02 09:30,35.7\n")

    checked = TapeReader(path, "Asia/Hong_Kong").check()

    assert (checked.rows, checked.ticks, checked.bad) == (5_001, 1, 5_000)
    assert len(checked.bad_rows) == BAD_ROWS_KEPT == 100
    assert str(checked.bad_rows[-1]).startswith(f"{path}:101: ")


def test_the_line_of_bytes_that_are_not_utf8_is_found_far_into_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tape.csv"
    rows = "".join(
        f"2026-01-02 09:{m:02d}:{s:02d},35.7\n" for m in range(30, 60) for s in range(60)
    )
    path.write_bytes(b"ts,price\n" + rows.encode() * 20 + b"2026-01-02 10:00,\xff\xfe\n")

    with pytest.raises(InputError, match=r":36002: not UTF-8 text"):
        read_tape(path, "Asia/Hong_Kong", arrow=False)
