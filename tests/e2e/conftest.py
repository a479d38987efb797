"""Fixtures of the end-to-end tests: a feed playing the sample day, a headless browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from feeds import Feed, free_port, live_config


@pytest.fixture
def feed_factory(tmp_path: Path) -> Iterator[Any]:
    feeds: list[Feed] = []

    def start(speed: float, interval: float, start: str) -> tuple[Feed, Path]:
        port = free_port()
        config = live_config(tmp_path, port, interval)
        feeds.append(Feed(config, port, speed, start))
        return feeds[-1], config

    yield start
    for feed in feeds:
        feed.stop()


CHROMIUM = Path("/usr/bin/chromium")
# read at import: the ``workdir`` fixture clears TRACKER_* variables for the commands it runs
BROWSER_REQUIRED = os.environ.get("TRACKER_TEST_BROWSER") == "required"
# Debian's Chromium on a closed network: no sandbox (root in a container), no GPU, and
# none of the background fetches (updates, sync, first-run) that stall it offline.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never a browser Playwright downloads).

    Module-scoped: while Playwright's sync API is open its event loop counts as running
    in the main thread, which later tests (and code that runs a loop of its own) must
    not inherit. Each ``launch`` runs on a fresh temporary profile. Without the
    browser the tests skip, unless ``TRACKER_TEST_BROWSER=required`` (CI): then they fail.
    """

    def unavailable(reason: str) -> None:
        if BROWSER_REQUIRED:
            pytest.fail(f"{reason} and TRACKER_TEST_BROWSER=required")
        pytest.skip(reason)

    if not CHROMIUM.exists():
        unavailable(f"no {CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """Opens pages in a fresh browser context; the test fails if a page's script threw."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    errors: list[str] = []

    def open_(url: str) -> Any:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        return page

    yield open_
    context.close()
    assert errors == [], errors
