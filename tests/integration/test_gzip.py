"""gzip over real HTTP on loopback: the API's answers and the page's files, never the events.

Requests go through ``http.client`` with only the headers a test names, so "no
Accept-Encoding" means none at all (httpx would add its own).
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import LISTINGS, SAMPLE_TAPE

from tracker.config import Listings, load_listings
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import replay_tape
from tracker.sources.tape import read_tape
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore
from tracker.web.api import ReadApi
from tracker.web.events import EventHub
from tracker.web.server import GZIP_MIN_BYTES, WebServer, accepts_gzip

DAY = "/api/listings/biren/ticks?date=2026-01-02"


@dataclass(frozen=True)
class Fetched:
    """An answer as it came over the wire: status, headers, the body's raw bytes."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def listings() -> Listings:
    return load_listings(LISTINGS)


@pytest.fixture(scope="module")
def replayed_day(tmp_path_factory: pytest.TempPathFactory, listings: Listings) -> Path:
    """A SQLite file of the sample day, replayed once for the module."""
    path = tmp_path_factory.mktemp("day") / "tracker.db"
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    listing = listings.get("biren")
    tape = read_tape(SAMPLE_TAPE, listing.timezone)
    replay_tape(listing, tape, Ingestor(SqlStore(engine), []), 500)
    engine.dispose()
    return path


@pytest.fixture
def web(replayed_day: Path, listings: Listings, tmp_path: Path) -> Iterator[WebServer]:
    """A server of this test's own copy of the day."""
    path = tmp_path / "tracker.db"
    shutil.copy(replayed_day, path)
    engine = create_engine(f"sqlite:///{path}")
    with WebServer(ReadApi(SqlStore(engine), listings), EventHub(), "127.0.0.1", 0) as server:
        yield server
    engine.dispose()


def fetch(web: WebServer, path: str, encoding: str | None = None, method: str = "GET") -> Fetched:
    """``method path`` with ``Accept-Encoding: encoding`` (None: no such header at all)."""
    connection = http.client.HTTPConnection(web.host, web.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        if encoding is not None:
            connection.putheader("Accept-Encoding", encoding)
        connection.endheaders()
        answer = connection.getresponse()
        return Fetched(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        DAY,
        "/api/listings/biren/bars?interval=1s",
        "/api/listings/biren/ticks?limit=100",
        "/api/listings",
    ],
)
def test_a_json_answer_gzipped_decompresses_to_the_plain_one(web: WebServer, path: str) -> None:
    plain = fetch(web, path)
    zipped = fetch(web, path, "gzip, deflate")
    assert zipped.status == plain.status == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert int(zipped.headers["Content-Length"]) == len(zipped.body)
    assert json.loads(gzip.decompress(zipped.body)) == plain.json()
    assert gzip.decompress(zipped.body) == plain.body  # the very same bytes
    assert len(zipped.body) < len(plain.body) / 2


def test_without_accept_encoding_nothing_is_gzipped(web: WebServer) -> None:
    plain = fetch(web, DAY)
    assert plain.headers["Content-Encoding"] is None
    assert plain.headers["Vary"] == "Accept-Encoding"  # a cache must not give it to others
    assert len(plain.json()["ticks"]) == 2_874  # type: ignore[index]


@pytest.mark.parametrize("encoding", ["identity", "deflate, br", "gzip;q=0", "*;q=0", ""])
def test_a_client_that_does_not_take_gzip_gets_the_plain_body(
    web: WebServer, encoding: str
) -> None:
    answer = fetch(web, DAY, encoding)
    assert answer.headers["Content-Encoding"] is None
    assert answer.body.startswith(b'{"listing": "biren"')


def test_a_small_answer_goes_as_it_is(web: WebServer) -> None:
    answer = fetch(web, "/api/alerts?date=2026-01-03", "gzip")
    assert answer.body == b'{"alerts": []}'
    assert len(answer.body) <= GZIP_MIN_BYTES
    assert answer.headers["Content-Encoding"] is None
    assert answer.headers["Vary"] is None  # it never varies


def test_an_error_answer_is_json_whether_gzipped_or_not(web: WebServer) -> None:
    answer = fetch(web, "/api/listings/biren/bars?interval=2m", "gzip")
    assert answer.status == 400
    assert answer.json() == {"error": "interval '2m': one of 1s, 5s, 1m, 5m"}


def test_the_pages_files_are_gzipped_for_a_client_that_takes_it(web: WebServer) -> None:
    big = [path for path, (_, body) in web.files.items() if len(body) > GZIP_MIN_BYTES]
    assert "/" in big
    assert "/static/app.js" in big
    for path in big:
        plain = fetch(web, path)
        zipped = fetch(web, path, "gzip")
        assert zipped.headers["Content-Encoding"] == "gzip", path
        assert zipped.headers["Content-Type"] == plain.headers["Content-Type"], path
        assert gzip.decompress(zipped.body) == plain.body, path
    policy = fetch(web, "/", "gzip").headers["Content-Security-Policy"]
    assert policy == fetch(web, "/").headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/", DAY, "/api/listings/biren/bars"])
@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_head_answers_the_headers_get_would(
    web: WebServer, path: str, encoding: str | None
) -> None:
    got, head = fetch(web, path, encoding), fetch(web, path, encoding, method="HEAD")
    assert head.status == got.status == 200
    assert head.body == b""
    for name in ("Content-Type", "Content-Length", "Content-Encoding", "Vary"):
        assert head.headers[name] == got.headers[name], name


def test_the_event_stream_is_never_gzipped(web: WebServer) -> None:
    connection = http.client.HTTPConnection(web.host, web.port, timeout=10)
    try:
        connection.putrequest("GET", "/api/events", skip_accept_encoding=True)
        connection.putheader("Accept-Encoding", "gzip")
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.headers["Content-Type"] == "text/event-stream"
        assert answer.headers["Content-Encoding"] is None
        assert answer.readline() == b"retry: 1000\n"  # plain text, as it is written
        assert answer.readline() == b": connected\n"
    finally:
        connection.close()
    head = fetch(web, "/api/events", "gzip", method="HEAD")
    assert head.headers["Content-Encoding"] is None


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("gzip, deflate, br, zstd", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip; q=0.001", True),
        ("x-gzip", True),
        ("*", True),
        ("br, *;q=0.1", True),
        ("gzip;q=1.0, identity; q=0.5, *;q=0", True),
        (None, False),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("*;q=0", False),
        ("gzip;q=0, *", False),  # named and refused: the wildcard does not bring it back
        ("gzip;q=high", False),  # an unreadable weight: plain is always acceptable
        ("gzipped", False),
    ],
)
def test_accept_encoding_takes_gzip_when_named_or_wildcarded_with_a_weight_above_0(
    header: str | None, takes: bool
) -> None:
    assert accepts_gzip(header) is takes
