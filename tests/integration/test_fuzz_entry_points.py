"""Random values at every door: tape fields, config values, command-line options, API queries.

Whatever comes in, the tracker answers with exit 0 or 2 (HTTP 200 or 4xx with an
``{"error"}``): never a traceback, never an "unexpected" error, and a refusal leaves
nothing written. The commands run in this process (``tracker.cli.main``), on real
SQLite files; the API over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import LISTINGS, SAMPLE_TAPE
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tracker.cli import main
from tracker.config import load_listings
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import replay_tape
from tracker.sources.tape import read_tape
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore
from tracker.web.api import ReadApi
from tracker.web.events import EventHub
from tracker.web.server import WebServer

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what a user may type ------------------------------------------------------------------------

EXTREMES = [
    "1e308", "-1e308", "1e309", "1e-308", "5e-324", "inf", "-inf", "nan", "0", "-0", "1e15",
    "1e16", "0.000001", "0.0000009", "1000000000", "1000000001", "9" * 400, "", " ", "1_000",
]  # fmt: skip
PLAUSIBLE = st.one_of(
    st.floats(min_value=0.000001, max_value=1e9).map(repr),
    st.integers(min_value=0, max_value=10**12).map(str),
)
NUMBERS = st.one_of(
    PLAUSIBLE,
    st.sampled_from(EXTREMES),
    st.floats().map(repr),
    st.integers().map(str),
    st.text(max_size=12),
)
ZONES = st.sampled_from(
    [None, dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(-dt.timedelta(hours=12))]
)


def naive(text: str) -> dt.datetime:
    """A wall time without a zone, as a user writes one."""
    return dt.datetime.fromisoformat(text)


ANY_TIME = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=naive("0001-01-01T12:00"), max_value=naive("9999-12-30T00:00")),
    ZONES,
)
DEBUT_DAY = st.datetimes(min_value=naive("2026-01-02T09:00"), max_value=naive("2026-01-03T00:00"))
INSTANTS = st.one_of(
    DEBUT_DAY.map(lambda moment: moment.isoformat(sep=" ")),
    DEBUT_DAY.map(lambda moment: moment.date().isoformat()),
    ANY_TIME.map(lambda moment: moment.isoformat(sep=" ")),
    ANY_TIME.map(lambda moment: moment.isoformat()),
    st.dates().map(dt.date.isoformat),
    st.integers().map(str),
    st.sampled_from(["9223372036854775808", "9999-12-31T23:59:59", "0001-01-01", "2026-13-01"]),
    st.text(max_size=25),
)
DURATIONS = st.one_of(
    st.builds(
        lambda n, unit: f"{n}{unit}",
        st.one_of(st.integers(min_value=0), st.floats(min_value=0, allow_infinity=False)),
        st.sampled_from("smhdw"),
    ),
    st.sampled_from(["99999999d", "99999999999d", "1e308s", "0s", "5", "-1h", "1.5h"]),
    st.text(max_size=12),
)


@contextlib.contextmanager
def folder() -> Iterator[Path]:
    """A fresh folder for one example (hypothesis runs many in one test)."""
    with tempfile.TemporaryDirectory(prefix="tracker-fuzz-") as name:
        yield Path(name)


def tracker(*args: str) -> tuple[int, str]:
    """``tracker ARGS`` in this process: its exit code and everything it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(args))
    return code, out.getvalue()


def assert_answered(code: int, said: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, said
    assert "Traceback" not in said, said
    assert "unexpected" not in said, said


def ticks_in(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        return connection.execute("SELECT count(*) FROM ticks").fetchone()[0] if tables else 0


# --- a tape's fields -----------------------------------------------------------------------------


@FUZZ
@given(field=st.sampled_from(["ts", "price", "volume", "turnover"]), data=st.data())
def test_any_tape_row_is_replayed_or_refused_naming_its_line(field: str, data: Any) -> None:
    row = {"ts": "2026-01-02 10:15:00", "price": "37.86", "volume": "1000", "turnover": "37860"}
    row[field] = data.draw(INSTANTS if field == "ts" else NUMBERS, label=field)
    ts, price, volume, turnover = row.values()
    with folder() as here:
        tape = here / "tape.csv"
        with tape.open("w", newline="", encoding="utf-8") as handle:
            rows = csv.writer(handle, lineterminator="\n")
            rows.writerow(["ts", "price", "volume", "turnover"])
            rows.writerow(["2026-01-02 09:30:00", "35.70", "100", "3570"])
            rows.writerow([ts, price, volume, turnover])
        db = here / "t.db"
        log = here / "alerts.jsonl"

        code, said = tracker(
            "replay", str(tape), "--listing", "biren", "--config", str(LISTINGS),
            "--db", f"sqlite:///{db}", "--alert-log", str(log),
        )  # fmt: skip

        assert_answered(code, said)
        event(f"exit {code}")
        if code == 2:
            assert f"{tape}:3: " in said
            assert not db.exists(), "a refused tape writes nothing"
            assert not log.exists()
        else:  # the row is a tick, or a blank line (every field empty)
            assert ticks_in(db) == (1 if not any((ts, price, volume, turnover)) else 2)


# --- config values -------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A value as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    text = str(value).encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'"{text}"'


TOML_NUMBERS = st.one_of(
    st.floats(),
    st.integers(),
    st.sampled_from([1e308, 1e-308, 1e15, 10**15, 10**16, 10**23, 2**63, 0, -1, 1e9, 1e-6]),
)
TOML_VALUES = st.one_of(
    TOML_NUMBERS,
    st.dates(),
    st.datetimes(min_value=naive("0001-01-01T00:00")).map(lambda d: d.replace(microsecond=0)),
    DURATIONS,
    st.text(max_size=10),
    st.booleans(),
)
IN_RANGE_DAYS = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2199, 12, 30))
# where a value goes (the listing, its rule, its source), and values that may well fit there
KEYS = {
    "offer_price": st.floats(min_value=1e-6, max_value=1e9),
    "shares_outstanding": st.integers(min_value=1, max_value=10**15),
    "listed_on": IN_RANGE_DAYS,
    "rule.threshold": st.floats(min_value=-99, max_value=1e5),
    "rule.expires": IN_RANGE_DAYS,
    "rule.cooldown": DURATIONS,
    "rule.rearm_pct": st.floats(min_value=0, max_value=99),
    "source.interval": st.floats(min_value=0.01, max_value=86_400),
    "source.timeout": st.floats(min_value=0.01, max_value=3_600),
    "source.close_grace": st.integers(min_value=0, max_value=10**10),
    "source.down_after": DURATIONS,
    "open_rule.threshold": st.floats(min_value=-100, max_value=1e6),
}


def listings_text(values: dict[str, Any]) -> str:
    listing = {"offer_price": 19.6, "shares_outstanding": 2_646_592_710}
    rule: dict[str, Any] = {"kind": "gain_pct", "threshold": 50}
    open_rule: dict[str, Any] = {"kind": "gain_pct", "threshold": 10, "reference": "open"}
    source: dict[str, Any] = {"provider": "yahoo"}
    tables = {"rule": rule, "source": source, "open_rule": open_rule}
    for key, value in values.items():
        table, _, name = key.rpartition(".")
        (tables[table] if table else listing)[name] = value
    lines = ["[[listings]]", 'id = "biren"', 'symbol = "6082.HK"']
    lines += [f"{k} = {toml_value(v)}" for k, v in listing.items()]
    for name in ("rule", "open_rule"):
        lines += [
            "[[listings.rules]]",
            *(f"{k} = {toml_value(v)}" for k, v in tables[name].items()),
        ]
    lines += ["[listings.source]", *(f"{k} = {toml_value(v)}" for k, v in source.items())]
    return "\n".join(lines) + "\n"


SHORT_DAY = "\n".join(SAMPLE_TAPE.read_text().splitlines()[:200]) + "\n"


@FUZZ
@given(keys=st.sets(st.sampled_from(list(KEYS)), min_size=1, max_size=3), data=st.data())
def test_a_config_that_config_check_passes_replays_and_one_it_refuses_replay_refuses(
    keys: set[str], data: Any
) -> None:
    values = {key: data.draw(KEYS[key] | TOML_VALUES, label=key) for key in sorted(keys)}
    with folder() as here:
        config = here / "listings.toml"
        config.write_text(listings_text(values), encoding="utf-8")
        tape = here / "day.csv"
        tape.write_text(SHORT_DAY)
        db = here / "t.db"

        checked, check_said = tracker("config", "check", "--config", str(config))
        replayed, replay_said = tracker(
            "replay", str(tape), "--listing", "biren", "--config", str(config),
            "--db", f"sqlite:///{db}", "--alert-log", str(here / "alerts.jsonl"),
        )  # fmt: skip

        assert_answered(checked, check_said)
        assert_answered(replayed, replay_said)
        event(f"exit {checked}")
        assert replayed == checked, f"config check said:\n{check_said}\nreplay said:\n{replay_said}"
        assert db.exists() == (checked == 0)


# --- command-line options ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample day, replayed once for the module."""
    path = tmp_path_factory.mktemp("day") / "tracker.db"
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    store = SqlStore(engine)
    listing = load_listings(LISTINGS).get("biren")
    replay_tape(listing, read_tape(SAMPLE_TAPE, listing.timezone), Ingestor(store, []), 500)
    store.close()
    return path


@contextlib.contextmanager
def copy_of(db: Path) -> Iterator[str]:
    with folder() as here:
        shutil.copy(db, here / "tracker.db")
        yield f"sqlite:///{here / 'tracker.db'}"


OPTIONS = {
    "alerts --since": (INSTANTS | DURATIONS, lambda v, db: ["alerts", "--since", v, "--db", db]),
    "silence --for": (
        DURATIONS,
        lambda v, db: ["alerts", "silence", "--listing", "biren", "--for", v, "--db", db],
    ),
    "silence --until": (
        INSTANTS,
        lambda v, db: ["alerts", "silence", "--listing", "biren", "--until", v, "--db", db],
    ),
    "report --date": (INSTANTS, lambda v, db: ["report", "biren", "--date", v, "--db", db]),
    "export --date": (
        INSTANTS,
        lambda v, db: ["export", "biren", "--date", v, "--db", db, "--out", db[10:] + ".csv"],
    ),
    "status --max-age": (NUMBERS, lambda v, db: ["status", "--max-age", v, "--db", db]),
}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_any_option_value_is_taken_or_refused_on_a_stored_day(
    option: str, replayed_db: Path
) -> None:
    values, command = OPTIONS[option]

    @FUZZ
    @given(value=values)
    def check(value: str) -> None:
        with copy_of(replayed_db) as db:
            code, said = tracker(*command(value, db), "--config", str(LISTINGS))
            # status exits 1 when no daemon ran against the database: that is its answer
            assert_answered(code, said, (0, 1, 2) if option.startswith("status") else (0, 2))
            event(f"exit {code}")

    check()


@FUZZ
@given(option=st.sampled_from(["--start", "--until", "--speed"]), data=st.data())
def test_any_clock_given_to_run_is_refused_before_the_database_is_created(
    option: str, data: Any
) -> None:
    clock = {"--start": "2026-01-02T09:00", "--until": "2026-01-02T16:30", "--speed": "60"}
    clock[option] = data.draw(NUMBERS if option == "--speed" else INSTANTS, label=option)
    with folder() as here:
        config = here / "listings.toml"
        config.write_text(LISTINGS.read_text().split("[listings.source]")[0])
        db = here / "t.db"

        code, said = tracker(
            "run", "--config", str(config), "--db", f"sqlite:///{db}",
            *(part for pair in clock.items() for part in pair),
        )  # fmt: skip

        assert_answered(code, said, (2,))  # no listing has a source: nothing to poll
        event("nothing to poll" if "nothing to poll" in said else "option refused")
        assert not db.exists()


@FUZZ
@given(speed=NUMBERS)
def test_any_replay_speed_is_taken_or_refused(speed: str) -> None:
    with folder() as here:
        tape = here / "one.csv"
        tape.write_text("ts,price\n2026-01-02 09:30:00,35.70\n")
        db = here / "t.db"

        code, said = tracker(
            "replay", str(tape), "--listing", "biren", "--config", str(LISTINGS),
            "--db", f"sqlite:///{db}", "--alert-log", str(here / "a.jsonl"), "--speed", speed,
        )  # fmt: skip

        assert_answered(code, said)
        event(f"exit {code}")
        assert db.exists() == (code == 0)


# --- API query parameters ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(replayed_db: Path) -> Iterator[httpx.Client]:
    engine = create_engine(f"sqlite:///{replayed_db}")
    store = SqlStore(engine)
    with (
        WebServer(ReadApi(store, load_listings(LISTINGS)), EventHub(), "127.0.0.1", 0) as server,
        httpx.Client(base_url=server.url.rstrip("/"), timeout=10) as client,
    ):
        yield client
    store.close()


QUERY_VALUES = INSTANTS | NUMBERS | st.text(max_size=30)
PATHS = st.sampled_from(
    ["/api/listings", "/api/listings/biren", "/api/listings/biren/ticks", "/api/alerts"]
)


@FUZZ
@given(
    path=PATHS,
    query=st.dictionaries(st.sampled_from(["since", "date", "listing"]), QUERY_VALUES, max_size=3),
)
def test_any_api_query_is_answered_200_or_refused_400_or_404(
    api: httpx.Client, path: str, query: dict[str, str]
) -> None:
    answer = api.get(path, params=query)

    assert answer.status_code in (200, 400, 404), answer.text
    event(f"HTTP {answer.status_code}")
    payload = answer.json()
    if answer.status_code != 200:
        assert set(payload) == {"error"}
        assert "\n" not in payload["error"]


@FUZZ
@given(method=st.from_regex(r"[A-Z]{3,12}", fullmatch=True))
def test_any_method_but_get_and_head_is_refused_405(api: httpx.Client, method: str) -> None:
    answer = api.request(method, "/api/listings")

    if method in ("GET", "HEAD"):
        assert answer.status_code == 200
    else:
        assert answer.status_code == 405, (method, answer.status_code)
        assert answer.headers["Allow"] == "GET, HEAD"
