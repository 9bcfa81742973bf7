"""`python -m tests.browser.screenshots [DIR]`: a screenshot of each portal page (default: docs/).

A merchant with two endpoints, test events delivered, failed and dead, in the same in-process
portal the browser tests use; Chromium from the OS packages, as there.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.portal import add_endpoint
from tests.browser.server import PortalServer, portal_server, running_endpoint

ROOT = Path(__file__).resolve().parents[2]


def _world(page: Page, server: PortalServer, good: str, flaky: str) -> None:
    _, key = server.merchant("Acme Fitness")
    page.goto(server.link(key))
    add_endpoint(page, good)
    for _ in range(6):
        _send_test_event(page)
    add_endpoint(page, flaky)
    for _ in range(3):
        _send_test_event(page)
    server.deliver()
    server.clock.advance(timedelta(seconds=2))
    server.deliver()


def _send_test_event(page: Page) -> None:
    """Send one test event and come back to the endpoint's page once the answer has loaded (going
    back while the form's navigation is still under way finds no page to go back from)."""
    with page.expect_navigation():
        page.get_by_role("button", name="Send test event").click()
    page.go_back()


def shoot(directory: Path, browser: Browser | None = None) -> list[Path]:
    """Screenshots into `directory`, with `browser` (or a Chromium of its own: only one sync
    Playwright can run in a thread, so the tests hand theirs in)."""
    if browser is None:
        with sync_playwright() as driver:
            own = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                return shoot(directory, own)
            finally:
                own.close()
    directory.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        portal_server(Path(scratch)) as server,
        running_endpoint() as good,
        running_endpoint() as flaky,
    ):
        flaky.statuses = [503] * 6
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            _world(page, server, good.url, flaky.url)
            shots = {
                "overview": "/portal/",
                "endpoint": page.url.split("?")[0],
                "deliveries": "/portal/deliveries",
                "dead-letters": "/portal/dead-letters",
                "event-types": "/portal/event-types",
            }
            for name, path in shots.items():
                page.goto(path if path.startswith("http") else server.base_url + path)
                made.append(directory / f"portal-{name}.png")
                page.screenshot(path=made[-1], full_page=name != "event-types")
            page.goto(server.base_url + "/portal/deliveries")
            page.get_by_role("link").filter(has_text="UTC").first.click()
            made.append(directory / "portal-delivery.png")
            page.screenshot(path=made[-1], full_page=True)
        finally:
            context.close()
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    for path in shoot(target):
        print(path)  # noqa: T201 - the script's output
