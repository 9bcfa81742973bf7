"""What the browser tests do on the portal's pages: by role and accessible name, as a person would."""

from __future__ import annotations

from typing import Any

# The package ships no type information (no py.typed); only `Axe().run` is used, checked below.
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect

NAVIGATION = ("Overview", "Endpoints", "Event types", "Deliveries", "Dead letters", "Subscriptions")
_AXE = Axe()


def serious_violations(page: Page) -> list[str]:
    """axe-core's violations of impact serious or critical on the page as it is."""
    results = _AXE.run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v.get("impact") in ("serious", "critical")
    ]


def add_endpoint(page: Page, url: str) -> None:
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Endpoints").click()
    page.get_by_label("URL").fill(url)
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Endpoint")
