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


REFUSED_BY_BOTH = {
    "webhook-not-http": (
        {"TRACKER_SINKS__WEBHOOK__URL": "ftp://user:s3cr3t@hooks.example/in"},
        "TRACKER_SINKS__WEBHOOK__URL: Value error, not an http:// or https:// URL, "
        "got 'ftp://user:***@hooks.example/in'",
    ),
    "apprise-unknown-scheme": (
        {"TRACKER_SINKS__APPRISE__URLS": "nosuch://s3cr3t@host"},
        "TRACKER_SINKS__APPRISE__URLS: apprise: not a URL apprise supports (scheme 'nosuch')",
    ),
    "apprise-without-urls": (
        {"TRACKER_SINKS__APPRISE__TIMEOUT": "3"},
        "[sinks.apprise] is configured but TRACKER_SINKS__APPRISE__URLS is not set",
    ),
    "alert-log-folder-missing": (
        {"TRACKER_ALERT_LOG": "no/such/folder/alerts.jsonl"},
        "alert log no/such/folder/alerts.jsonl: folder no/such/folder does not exist",
    ),
    "incomplete-webhook-with-secret": (
        {"TRACKER_SINKS__WEBHOOK__SECRET": "s3cr3t", "TRACKER_SINKS__WEBHOOK__TIMEOUT": "3"},
        "sinks.webhook.url: Field required",
    ),
}


def test_config_check_refuses_what_a_replay_refuses_and_echoes_no_secret(
    tracker: Tracker, workdir: Path
) -> None:
    from factories import SAMPLE_TAPE

    for case, (env, reason) in REFUSED_BY_BOTH.items():
        checked = tracker("config", "check", "--config", str(LISTINGS), env=env)
        replayed = tracker(
            "replay", str(SAMPLE_TAPE), "--listing", "biren", "--config", str(LISTINGS), env=env
        )

        for result in (checked, replayed):
            assert result.returncode == 2, (case, result.stderr)
            assert reason in result.stderr, (case, result.stderr)
            assert "s3cr3t" not in result.stderr + result.stdout, case
        assert list(workdir.iterdir()) == [], case  # the replay wrote nothing either
