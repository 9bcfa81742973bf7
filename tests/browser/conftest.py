"""Browser tests: headless Chromium from the OS packages, driven by Playwright, over the real portal.

Every test here is marked `browser` (`pytest -m browser` runs only them, `-m "not browser"` all the
others). Chromium comes from the OS (`/usr/bin/chromium`; `.ci/run` installs `chromium` and
`chromium-driver` when missing); Playwright never downloads a browser. Each test gets a new
browser context; the browser itself starts with a fresh temporary profile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.server import Endpoint, PortalServer, portal_server, running_endpoint

CHROMIUM = os.environ.get("SUBGATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# Package-scoped (this folder is a package for that reason): sync Playwright runs an event loop in
# the test thread while it is open, so it must be closed before the asyncio tests that follow.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    with portal_server(tmp_path) as running:
        yield running


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with running_endpoint() as listening:
        yield listening


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    made = chromium.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
