"""The screenshot script works (its pictures go to a scratch directory here, docs/ when run by hand)."""

from __future__ import annotations

from pathlib import Path

from tests.browser.screenshots import shoot

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_page_gets_a_screenshot(tmp_path: Path) -> None:
    made = shoot(tmp_path)

    assert {p.name for p in made} == {
        f"portal-{name}.png"
        for name in ("overview", "endpoint", "deliveries", "dead-letters", "event-types", "delivery")
    }
    assert all(p.read_bytes().startswith(PNG) for p in made)
