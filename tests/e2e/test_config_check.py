"""``tracker config check`` as a user runs it: the config as it takes effect, or its problems."""

from __future__ import annotations

import json
from pathlib import Path

from commands import Tracker
from factories import LISTINGS

SOURCES = """
[[listings.sources]]
provider = "tencent"
close_grace = "2m"

[[listings.sources]]
provider = "yahoo"
interval = 10
"""


def with_sources(folder: Path) -> Path:
    """The shipped listings with Biren polled from Tencent, then Yahoo."""
    text = LISTINGS.read_text()
    start = text.index("[listings.source]")
    end = text.index("[[listings.rules]]")
    path = folder / "listings.toml"
    path.write_text(text[:start] + SOURCES.lstrip() + "\n" + text[end:])
    return path


def test_config_check_lists_a_listings_sources_in_priority_order(
    tracker: Tracker, workdir: Path
) -> None:
    config = with_sources(workdir)

    text = tracker("config", "check", "--config", str(config))
    data = tracker("config", "check", "--config", str(config), "--json")

    assert text.returncode == 0, text.stderr
    lines = [line.strip() for line in text.stdout.splitlines() if "source " in line]
    assert [line.split(":")[0] for line in lines] == ["source 1", "source 2"]
    assert "'tencent'" in lines[0]
    assert "'close_grace': 120.0" in lines[0]
    assert "'yahoo'" in lines[1]
    assert text.stdout.rstrip().endswith("config OK")
    [biren] = json.loads(data.stdout)["listings"]
    assert [s["provider"] for s in biren["sources"]] == ["tencent", "yahoo"]
    assert biren["source"] == biren["sources"][0]


def test_config_check_names_a_bad_source_and_exits_2(tracker: Tracker, workdir: Path) -> None:
    config = with_sources(workdir)
    config.write_text(config.read_text().replace('close_grace = "2m"', 'close_grace = "soon"'))

    checked = tracker("config", "check", "--config", str(config))

    assert checked.returncode == 2
    assert "listing 'biren': source #1: close_grace" in checked.stderr
    assert "Traceback" not in checked.stderr
