"""Portal sessions: one-time links, the session cookie, expiry, revocation, forms and read-only."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from domain.merchants.portal import form_token, token_digest
from gateway.portal.access import COOKIE
from integrations.stores.schema import COLLECTIONS
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.portal import portal_link, signed_in, visitor
from tests.unit.gateway.seed import assert_error


def everything(gateway: Gateway) -> dict[str, object]:
    return {name: gateway.store.documents(name) for name in COLLECTIONS}


async def test_a_link_is_made_for_an_hour_and_its_token_is_stored_only_as_a_digest(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        made = await client.post("/v1/portal-sessions")

    assert made.status_code == 201
    body = made.json()
    assert body["expires_at"] == "2025-01-15T13:00:00.000000Z"
    match = re.fullmatch(r"https://subgate\.test/portal/open\?token=([A-Za-z0-9_-]{43})", body["url"])
    assert match is not None, body["url"]
    stored = json.dumps(everything(gateway))
    assert match.group(1) not in stored
    assert token_digest(match.group(1)) in stored


@pytest.mark.parametrize(
    "body", [{"expires_in": 3599}, {"expires_in": 604_801}, {"expires_in": "3600"}, {"read_only": "yes"}]
)
async def test_a_bad_request_for_a_link_is_422_and_stores_nothing(gateway: Gateway, body: object) -> None:
    _, key = await gateway.merchant()
    before = everything(gateway)
    async with gateway.client(api_key=key) as client:
        answer = await client.post("/v1/portal-sessions", json=body)

    assert_error(answer, 422, "validation_error")
    assert everything(gateway) == before


async def test_the_longest_link_lasts_a_week(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        made = await client.post("/v1/portal-sessions", json={"expires_in": 604_800, "read_only": True})

    assert made.json()["expires_at"] == "2025-01-22T12:00:00.000000Z"


async def test_opening_a_link_sets_the_session_cookie_and_leads_to_the_overview(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    link = await portal_link(gateway, key)
    async with visitor(gateway) as browser:
        opened = await browser.open(link)
        overview = await browser.get("/portal/")

    assert opened.status_code == 303
    assert opened.headers["location"] == "/portal/"
    cookie = opened.headers["set-cookie"]
    assert re.fullmatch(
        r"subgate_portal=[A-Za-z0-9_-]{43}; Path=/portal; Max-Age=3600; HttpOnly; SameSite=Lax; Secure",
        cookie,
    ), cookie
    assert overview.status_code == 200
    assert "<h1>Overview</h1>" in overview.text


async def test_the_cookie_is_not_secure_only_when_the_public_base_url_is_http(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, base_url="http://127.0.0.1:8000")
    try:
        _, key = await gateway.merchant()
        link = await portal_link(gateway, key)
        async with visitor(gateway) as browser:
            opened = await browser.http.get(link.removeprefix("http://127.0.0.1:8000"))
    finally:
        gateway.deps.telemetry.shutdown()
    assert "Secure" not in opened.headers["set-cookie"]


async def test_a_link_opens_once(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    link = await portal_link(gateway, key)
    async with visitor(gateway) as first, visitor(gateway) as second:
        assert (await first.open(link)).status_code == 303
        again = await second.open(link)
        page = await second.get("/portal/")

    assert again.status_code == 410
    assert "already used" in again.text
    assert "set-cookie" not in again.headers
    assert page.status_code == 401


async def test_an_unknown_or_missing_token_is_401(gateway: Gateway) -> None:
    async with visitor(gateway) as browser:
        unknown = await browser.get("/portal/open", token="x" * 43)
        missing = await browser.get("/portal/open")
        huge = await browser.get("/portal/open", token="x" * 5000)
        no_cookie = await browser.get("/portal/endpoints")

    assert [unknown.status_code, missing.status_code, huge.status_code, no_cookie.status_code] == [401] * 4
    assert "text/html" in unknown.headers["content-type"]


async def test_an_expired_link_is_410(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    link = await portal_link(gateway, key)
    gateway.clock.advance(timedelta(hours=1))
    async with visitor(gateway) as browser:
        late = await browser.open(link)

    assert late.status_code == 410
    assert "expired" in late.text


async def test_a_session_ends_when_it_expires(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, _, _):
        gateway.clock.advance(timedelta(minutes=59))
        assert (await browser.get("/portal/endpoints")).status_code == 200
        gateway.clock.advance(timedelta(minutes=1))
        ended = await browser.get("/portal/endpoints")

    assert ended.status_code == 410
    assert "expired" in ended.text


async def test_revoking_ends_the_merchants_sessions_and_links_and_no_one_elses(gateway: Gateway) -> None:
    async with signed_in(gateway, "Owner") as (browser, _, key), signed_in(gateway, "Other") as (other, _, _):
        unopened = await portal_link(gateway, key)
        async with gateway.client(api_key=key) as client:
            revoked = await client.post("/v1/portal-sessions/revoke-all")
        open_session = await browser.get("/portal/")
        async with visitor(gateway) as late:
            link = await late.open(unopened)
        others = await other.get("/portal/")

    assert revoked.status_code == 200
    assert revoked.json() == {"revoked": 2}
    assert open_session.status_code == 410
    assert "revoked" in open_session.text
    assert link.status_code == 410
    assert others.status_code == 200


async def test_a_post_without_the_form_token_is_403_and_changes_nothing(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, _, key), signed_in(gateway, "Other") as (other, _, _):
        async with gateway.client(api_key=key) as client:
            endpoint = (
                await client.post("/v1/endpoints", json={"url": "https://hooks.example.com/a"})
            ).json()
        others_page = (await other.get("/portal/endpoints")).text
        before = everything(gateway)
        action = f"/portal/endpoints/{endpoint['id']}/disable"
        without = await browser.post(action, data={})
        wrong = await browser.post(action, data={"form_token": "0" * 64})
        someone_elses = await browser.submit(others_page, action)
        as_json = await browser.http.post(action, json={"form_token": "x"})

    for answer in (without, wrong, someone_elses, as_json):
        assert answer.status_code == 403, answer.text
    assert everything(gateway) == before


async def test_a_read_only_session_shows_no_form_that_changes_anything_and_is_refused_if_it_posts(
    gateway: Gateway,
) -> None:
    async with signed_in(gateway, read_only=True) as (browser, _, key):
        async with gateway.client(api_key=key) as client:
            endpoint = (
                await client.post("/v1/endpoints", json={"url": "https://hooks.example.com/a"})
            ).json()
        pages = [
            await browser.get(path)
            for path in (
                "/portal/",
                "/portal/endpoints",
                f"/portal/endpoints/{endpoint['id']}",
                "/portal/dead-letters",
            )
        ]
        before = everything(gateway)
        page = pages[2].text
        # The session's genuine form token: only the session being read-only can refuse this.
        genuine = form_token(browser.http.cookies[COOKIE])
        refused = await browser.post(f"/portal/endpoints/{endpoint['id']}/test", data={"form_token": genuine})

    assert all(p.status_code == 200 for p in pages)
    assert all('method="post"' not in p.text for p in pages)
    assert "Send test event" not in page
    assert "Rotate secret" not in page
    assert "Add endpoint" not in pages[1].text
    assert "read-only" in page
    assert refused.status_code == 403
    assert "read-only: it cannot change anything" in refused.text
    assert everything(gateway) == before


async def test_every_portal_answer_forbids_inline_scripts_and_framing_elsewhere(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    try:
        async with signed_in(gateway) as (browser, _, _):
            answers = [await browser.get(p) for p in ("/portal/", "/portal/event-types", "/portal/nowhere")]
            answers.append(await browser.post("/portal/endpoints", data={}))
    finally:
        gateway.deps.telemetry.shutdown()

    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert re.search(r"<script(?![^>]*\bsrc=)", answer.text) is None
        assert " style=" not in answer.text
        assert "<style" not in answer.text
    assert [a.status_code for a in answers] == [200, 200, 404, 403]


async def test_frame_ancestors_come_from_the_setting(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    portal = gateway.deps.portal
    assert portal is not None
    from dataclasses import replace  # noqa: PLC0415 - only here

    from gateway.app import create_app  # noqa: PLC0415 - only here

    ancestors = "https://dashboard.example.com 'self'"
    gateway.deps = replace(gateway.deps, portal=replace(portal, frame_ancestors=ancestors))
    gateway.app = create_app(gateway.deps)
    try:
        async with visitor(gateway) as browser:
            answer = await browser.get("/portal/")
    finally:
        gateway.deps.telemetry.shutdown()
    assert f"frame-ancestors {ancestors}" in answer.headers["content-security-policy"]
    assert "x-frame-options" not in answer.headers


async def test_static_files_have_content_hashes_and_are_kept_for_a_year(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, _, _):
        page = (await browser.get("/portal/")).text
        [css] = re.findall(r'href="(/portal/static/portal\.[0-9a-f]{12}\.css)"', page)
        [js] = re.findall(r'src="(/portal/static/portal\.[0-9a-f]{12}\.js)"', page)
        styles, script = await browser.get(css), await browser.get(js)
        unknown = await browser.get("/portal/static/portal.000000000000.css")

    assert styles.status_code == 200
    assert styles.headers["content-type"].startswith("text/css")
    assert "immutable" in styles.headers["cache-control"]
    assert script.status_code == 200
    assert unknown.status_code == 404


class Budget:
    """A `RateLimiter` that lets `allowed` requests of each identity through."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.seen: dict[str, int] = {}

    async def hit(self, identity: str) -> float | None:
        self.seen[identity] = self.seen.get(identity, 0) + 1
        return None if self.seen[identity] <= self.allowed else 7.0


async def test_each_session_has_its_own_request_budget(tmp_path: Path) -> None:
    budget = Budget(allowed=3)
    gateway = make_gateway(tmp_path, rate_limiter=budget)
    try:
        async with signed_in(gateway, "One") as (one, _, _), signed_in(gateway, "Two") as (two, _, _):
            first = [(await one.get("/portal/endpoints")).status_code for _ in range(4)]
            second = (await two.get("/portal/endpoints")).status_code
            refused = await one.get("/portal/endpoints")
    finally:
        gateway.deps.telemetry.shutdown()

    assert first == [200, 200, 200, 429]
    assert second == 200
    assert refused.headers["retry-after"] == "7"
    assert all(identity.startswith("portal:") for identity in budget.seen if "portal" in identity)


class Failures:
    """A `FailureCounter` whose budget is `allowed` failures per identity."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.spent: dict[str, int] = {}

    async def spend(self, identity: str) -> float | None:
        self.spent[identity] = self.spent.get(identity, 0) + 1
        return None if self.spent[identity] < self.allowed else 60.0


async def test_guessing_links_is_throttled_like_guessing_api_keys(tmp_path: Path) -> None:
    failures = Failures(allowed=3)
    gateway = make_gateway(tmp_path, auth_failures=failures)
    try:
        _, key = await gateway.merchant()
        link = await portal_link(gateway, key)
        async with visitor(gateway) as browser:
            guesses = [(await browser.get("/portal/open", token=f"guess{n}")).status_code for n in range(4)]
            real = await browser.open(link)
    finally:
        gateway.deps.telemetry.shutdown()

    assert guesses == [401, 401, 401, 429]
    assert failures.spent == {"203.0.113.20": 3}
    assert real.status_code == 429  # the address is refused before any look-up
