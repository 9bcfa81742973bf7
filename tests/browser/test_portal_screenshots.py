"""The screenshot script works (its pictures go to a scratch directory here, docs/ when run by hand)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.screenshots import shoot

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_page_gets_a_screenshot(tmp_path: Path, chromium: Browser) -> None:
    made = shoot(tmp_path, chromium)

    assert {p.name for p in made} == {
        f"portal-{name}.png"
        for name in ("overview", "endpoint", "deliveries", "dead-letters", "event-types", "delivery")
    }
    assert all(p.read_bytes().startswith(PNG) for p in made)
