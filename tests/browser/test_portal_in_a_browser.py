"""The merchant portal in headless Chromium: the flows a merchant goes through, found by role and
accessible name, with an accessibility check (axe-core) of every page."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import BrowserContext, Page, expect
from svix.webhooks import Webhook

from tests.browser.portal import NAVIGATION, add_endpoint, serious_violations
from tests.browser.server import Endpoint, PortalServer


def open_portal(page: Page, server: PortalServer, name: str = "Acme", **body: object) -> str:
    _, key = server.merchant(name)
    page.goto(server.link(key, **body))
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    return key


def test_the_link_opens_the_overview_and_every_page_passes_the_accessibility_check(
    page: Page, server: PortalServer
) -> None:
    open_portal(page, server)
    nav = page.get_by_role("navigation", name="Portal")
    for name in NAVIGATION:
        nav.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        assert serious_violations(page) == [], name


def test_every_page_is_reachable_by_keyboard(page: Page, server: PortalServer) -> None:
    open_portal(page, server)
    for name in NAVIGATION:
        page.keyboard.press("Home")
        page.locator("body").focus()
        for _ in range(40):
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement && document.activeElement.textContent.trim()")
            if focused == name:
                break
        else:
            raise AssertionError(f"Tab never reaches the {name} link")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_adding_an_endpoint_and_a_test_event_delivered_with_its_attempt(
    page: Page, server: PortalServer, endpoint: Endpoint
) -> None:
    open_portal(page, server)
    add_endpoint(page, endpoint.url)
    expect(page.get_by_role("status")).to_contain_text("Endpoint added")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Reveal secret").click()
    secret = page.locator("td.secret code").first.inner_text()

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery")
    assert server.deliver() == 1
    page.reload()

    expect(page.get_by_text("succeeded", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="200", exact=True)).to_be_visible()
    assert serious_violations(page) == []
    [(headers, body)] = endpoint.received
    lowered = {k.lower(): v for k, v in headers.items()}
    Webhook(secret).verify(
        body, {k: lowered[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    )
    assert b'"type":"endpoint.test"' in body


def test_a_failing_endpoint_dies_and_replay_on_the_page_delivers(
    page: Page, server: PortalServer, endpoint: Endpoint
) -> None:
    endpoint.statuses = [503, 503]
    open_portal(page, server)
    add_endpoint(page, endpoint.url)
    page.get_by_role("button", name="Send test event").click()
    server.deliver()
    server.clock.advance(timedelta(seconds=2))
    server.deliver()  # the second and last attempt: dead

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Dead letters").click()
    expect(page.get_by_role("cell", name=re.compile("gave up after 2 attempts"))).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery")
    server.deliver()
    page.reload()

    expect(page.get_by_text("succeeded", exact=True)).to_be_visible()
    assert len(endpoint.received) == 3


def test_rotating_the_secret_shows_both_until_the_overlap_ends(
    page: Page, server: PortalServer, endpoint: Endpoint
) -> None:
    open_portal(page, server)
    add_endpoint(page, endpoint.url)
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("status")).to_contain_text("Secret rotated")
    assert "whsec_" not in page.locator("main").inner_text().replace("whsec_••••", "")
    page.get_by_role("button", name="Reveal secret").click()

    secrets = page.locator("td.secret code").all_inner_texts()
    assert len(secrets) == 2
    assert all(s.startswith("whsec_") for s in secrets)
    overlap_end = (server.clock() + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S UTC")
    expect(page.get_by_role("cell", name=overlap_end)).to_be_visible()


def test_a_read_only_session_sees_everything_and_changes_nothing(
    page: Page, server: PortalServer, endpoint: Endpoint
) -> None:
    _, key = server.merchant("Acme")
    page.goto(server.link(key))
    add_endpoint(page, endpoint.url)
    endpoint_path = page.url.split("?")[0]
    viewer = page.context.browser.new_context() if page.context.browser else None
    assert viewer is not None
    try:
        watcher = viewer.new_page()
        watcher.goto(server.link(key, read_only=True))
        expect(watcher.get_by_text("read-only")).to_be_visible()
        watcher.goto(endpoint_path)
        for name in ("Send test event", "Rotate secret", "Reveal secret", "Delete", "Disable"):
            expect(watcher.get_by_role("button", name=name)).to_have_count(0)
        assert serious_violations(watcher) == []
        refused = watcher.request.post(endpoint_path + "/disable", form={"form_token": "x"})
        assert refused.status == 403
    finally:
        viewer.close()


def test_expired_reused_and_revoked_links_end_on_an_error_page(
    context: BrowserContext, server: PortalServer
) -> None:
    _, key = server.merchant("Acme")
    page = context.new_page()
    reused = server.link(key)
    first = page.goto(reused)
    assert first is not None
    assert first.ok
    second = context.new_page().goto(reused)
    assert second is not None
    assert second.status == 410

    expiring = server.link(key)
    server.clock.advance(timedelta(hours=1))
    expired_page = context.new_page()
    expired = expired_page.goto(expiring)
    assert expired is not None
    assert expired.status == 410
    expect(expired_page.get_by_role("heading", level=1)).to_have_text("This portal session has ended")

    revoked_link = server.link(key)
    import httpx  # noqa: PLC0415 - only here

    httpx.post(f"{server.base_url}/v1/portal-sessions/revoke-all", headers={"Authorization": f"Bearer {key}"})
    revoked = context.new_page().goto(revoked_link)
    assert revoked is not None
    assert revoked.status == 410
    ended = page.reload()
    assert ended is not None
    assert ended.status == 410


def test_another_merchants_ids_and_a_post_without_the_form_token(
    context: BrowserContext, server: PortalServer, endpoint: Endpoint
) -> None:
    owner = context.browser.new_context() if context.browser else None
    assert owner is not None
    try:
        owners = owner.new_page()
        open_portal(owners, server, "Owner")
        add_endpoint(owners, endpoint.url)
        owners_endpoint = owners.url.split("?")[0]
        page = context.new_page()
        open_portal(page, server, "Other")
        other = page.goto(owners_endpoint)
        assert other is not None
        assert other.status == 404
        forged = page.request.post(owners_endpoint + "/disable", form={})
        assert forged.status == 403
        own_form = owners.request.post(owners_endpoint + "/disable", form={})
        assert own_form.status == 403  # the owner's own session, without the form's token
    finally:
        owner.close()
