"""The portal's pages and forms, over the real services on the in-memory store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.merchants.model import Merchant
from domain.notifications.internal import NotificationsInternal
from domain.notifications.model import DeadLetter, DeadLetterKind, Delivery, DeliveryStatus
from domain.notifications.retry import RetryPolicy
from domain.shared.events import EventType
from domain.shared.ids import new_id
from integrations.stores.repositories import StoreUnit
from integrations.stores.schema import COLLECTIONS
from tests.support.fakes import RecordingSender, respond
from tests.support.work import deliver_due
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.portal import Visitor, signed_in
from tests.unit.gateway.seed import new_subscription

HOOK = "https://hooks.example.com/orders"


def everything(gateway: Gateway) -> dict[str, object]:
    return {name: gateway.store.documents(name) for name in COLLECTIONS}


def worker(
    gateway: Gateway, sender: RecordingSender, schedule: tuple[float, ...] = (10.0,)
) -> NotificationsInternal:
    policy = RetryPolicy(schedule=schedule, jitter=0.0)
    return NotificationsInternal(gateway.txn, gateway.clock, gateway.signal, sender, policy, 10.0)


async def add_endpoint(browser: Visitor, url: str = HOOK, **fields: Any) -> str:
    page = (await browser.get("/portal/endpoints")).text
    added = await browser.submit(page, "/portal/endpoints", url=url, **fields)
    assert added.status_code == 303, added.text
    found = re.fullmatch(r"/portal/endpoints/(epsg_\w+)\?done=added", added.headers["location"])
    assert found is not None, added.headers["location"]
    return found.group(1)


async def stored_endpoints(gateway: Gateway, merchant: Merchant) -> list[Any]:
    async def work(unit: StoreUnit) -> list[Any]:
        return list(await unit.endpoints.all_for(merchant.id))

    return await gateway.run(work)


async def test_adding_an_endpoint_stores_what_the_form_says(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        endpoint_id = await add_endpoint(
            browser, description="Orders", event_types=["payment.succeeded", "subscription.canceled"]
        )
        page = await browser.get(f"/portal/endpoints/{endpoint_id}", done="added")

    [endpoint] = await stored_endpoints(gateway, merchant)
    assert (endpoint.id, endpoint.url, endpoint.description) == (endpoint_id, HOOK, "Orders")
    assert endpoint.event_types == ("payment.succeeded", "subscription.canceled")
    assert "Endpoint added" in page.text
    assert endpoint.secrets[0].value not in page.text


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"url": "ftp://hooks.example.com/"}, "absolute http(s) URL"),
        ({"url": "https://user:pw@hooks.example.com/"}, "credentials"),
        ({"url": HOOK, "event_types": ["subscription.nonsense"]}, "catalogue"),
        ({"url": HOOK, "description": "x" * 1001}, "1000"),
        ({"url": "https://hooks.example.com/a b"}, "url"),
    ],
)
async def test_a_bad_endpoint_form_is_422_names_the_problem_and_stores_nothing(
    gateway: Gateway, fields: dict[str, Any], why: str
) -> None:
    async with signed_in(gateway) as (browser, _, _):
        page = (await browser.get("/portal/endpoints")).text
        before = everything(gateway)
        refused = await browser.submit(page, "/portal/endpoints", **fields)

    assert refused.status_code == 422, refused.text
    assert why in refused.text
    assert 'role="alert"' in refused.text
    assert everything(gateway) == before


async def test_changing_disabling_enabling_and_deleting_an_endpoint(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        endpoint_id = await add_endpoint(browser)
        where = f"/portal/endpoints/{endpoint_id}"
        page = (await browser.get(where)).text
        saved = await browser.submit(
            page, where, url=HOOK + "/v2", description="", event_types=["payment.failed"]
        )
        [changed] = await stored_endpoints(gateway, merchant)
        disabled = await browser.submit(page, where + "/disable")
        overview = (await browser.get("/portal/")).text
        [off] = await stored_endpoints(gateway, merchant)
        await browser.submit(page, where + "/enable")
        [on] = await stored_endpoints(gateway, merchant)
        deleted = await browser.submit(page, where + "/delete")
        gone = await browser.get(where)

    assert saved.status_code == disabled.status_code == deleted.status_code == 303
    assert (changed.url, changed.description, changed.event_types) == (
        HOOK + "/v2",
        None,
        ("payment.failed",),
    )
    assert not off.enabled
    assert on.enabled
    assert "Disabled: nothing is sent" in overview
    assert ">Enable</button>" in overview
    assert await stored_endpoints(gateway, merchant) == []
    assert gone.status_code == 404


async def test_rotating_shows_no_secret_until_revealed_then_both_with_the_old_ones_end(
    gateway: Gateway,
) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        endpoint_id = await add_endpoint(browser)
        where = f"/portal/endpoints/{endpoint_id}"
        page = (await browser.get(where)).text
        rotated = await browser.submit(page, where + "/rotate-secret")
        after = (await browser.get(rotated.headers["location"])).text
        revealed = (await browser.submit(page, where + "/reveal-secret")).text

    [endpoint] = await stored_endpoints(gateway, merchant)
    new, old = endpoint.secrets
    assert "Secret rotated" in after
    assert new.value not in after
    assert old.value not in after
    assert new.value in revealed
    assert old.value in revealed
    assert "2025-01-16 12:00:00 UTC" in revealed  # the old secret signs for 24 more hours


async def test_a_test_event_goes_to_that_endpoint_only_and_shows_its_attempt(gateway: Gateway) -> None:
    sender = RecordingSender()
    async with signed_in(gateway) as (browser, merchant, _):
        endpoint_id = await add_endpoint(browser)
        await add_endpoint(browser, url="https://hooks.example.com/other")
        page = (await browser.get(f"/portal/endpoints/{endpoint_id}")).text
        sent = await browser.submit(page, f"/portal/endpoints/{endpoint_id}/test")
        assert sent.status_code == 303
        await worker(gateway, sender).dispatch_pending()
        await deliver_due(worker(gateway, sender), "wrk_test")
        delivery = (await browser.get(sent.headers["location"])).text
        overview = (await browser.get("/portal/")).text

    [webhook] = sender.sent
    body = json.loads(webhook.body)
    assert webhook.url == HOOK
    assert body["type"] == "endpoint.test"
    assert body["data"]["endpoint"] == {"id": endpoint_id, "url": HOOK, "description": None}
    [endpoint] = [e for e in await stored_endpoints(gateway, merchant) if e.id == endpoint_id]
    assert webhook.secrets == (endpoint.secrets[0].value,)
    assert "Test event sent" in delivery
    assert "succeeded" in delivery
    assert "endpoint.test" in delivery
    assert "200" in delivery
    assert "100.0 % of 1 attempts" in overview


async def test_a_disabled_endpoint_cannot_be_tested(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, _, _):
        endpoint_id = await add_endpoint(browser)
        page = (await browser.get(f"/portal/endpoints/{endpoint_id}")).text
        await browser.submit(page, f"/portal/endpoints/{endpoint_id}/disable")
        before = everything(gateway)
        refused = await browser.submit(page, f"/portal/endpoints/{endpoint_id}/test")

    assert refused.status_code == 409
    assert everything(gateway) == before


async def test_a_failing_endpoint_dies_and_a_replay_on_the_page_delivers(gateway: Gateway) -> None:
    failing = RecordingSender([503])
    async with signed_in(gateway) as (browser, _, _):
        endpoint_id = await add_endpoint(browser)
        page = (await browser.get(f"/portal/endpoints/{endpoint_id}")).text
        await browser.submit(page, f"/portal/endpoints/{endpoint_id}/test")
        await deliver_due(worker(gateway, failing, schedule=()), "wrk_test")
        letters = (await browser.get("/portal/dead-letters")).text
        [dead_id] = re.findall(r'action="/portal/dead-letters/(dlsg_\w+)/replay"', letters)
        replayed = await browser.submit(letters, f"/portal/dead-letters/{dead_id}/replay")
        await deliver_due(worker(gateway, RecordingSender()), "wrk_test")
        delivery = (await browser.get(replayed.headers["location"])).text
        after = (await browser.get("/portal/dead-letters")).text

    assert "gave up after 1 attempts; last: HTTP 503" in letters
    assert replayed.status_code == 303
    assert "succeeded" in delivery
    assert "503" in delivery
    assert "200" in delivery
    assert "No dead letters" in after


async def seed_deliveries(gateway: Gateway, merchant: Merchant, rows: list[dict[str, Any]]) -> list[Delivery]:
    made = []
    for row in rows:
        at = row.pop("at", gateway.clock())
        made.append(
            Delivery(
                id=row.pop("id", new_id("dlv")),
                merchant_id=merchant.id,
                endpoint_id=row.pop("endpoint_id", "ep_x"),
                message_id=new_id("msg"),
                event_type=row.pop("event_type", "subscription.created"),
                status=row.pop("status", DeliveryStatus.SUCCEEDED),
                attempts=(),
                next_attempt_at=None,
                created_at=at,
                updated_at=at,
                **row,
            )
        )

    async def work(unit: StoreUnit) -> None:
        for delivery in made:
            await unit.deliveries.add(delivery)

    await gateway.run(work)
    return made


def listed(page: str) -> list[str]:
    return re.findall(r'href="/portal/deliveries/(dlv(?:sg)?_\w+)"', page)


def id_at(at: datetime, n: int) -> str:
    """A delivery id made at `at` (ids carry their time; see domain.shared.ids)."""
    from domain.shared.ids import id_time_floor  # noqa: PLC0415 - only here

    return f"{id_time_floor('dlv', at)}{n:016d}"


async def test_deliveries_are_listed_newest_first_a_page_at_a_time(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        made = await seed_deliveries(gateway, merchant, [{} for _ in range(30)])
        first = (await browser.get("/portal/deliveries")).text
        [older] = re.findall(r'href="(/portal/deliveries\?after=dlvsg_\w+)"', first)
        second = (await browser.get(older.replace("&amp;", "&"))).text

    newest = [d.id for d in reversed(made)]
    assert listed(first) == newest[:25]
    assert listed(second) == newest[25:]
    assert "No older items" in second


async def test_deliveries_filter_by_each_field(gateway: Gateway) -> None:
    t0 = datetime(2025, 1, 10, tzinfo=UTC)
    async with signed_in(gateway) as (browser, merchant, _):
        rows = [
            {"id": id_at(t0, 1), "endpoint_id": "ep_a", "subject_id": "sub_1"},
            {"id": id_at(t0 + timedelta(hours=1), 2), "endpoint_id": "ep_b", "status": DeliveryStatus.DEAD},
            {"id": id_at(t0 + timedelta(hours=2), 3), "event_type": "payment.failed", "subject_id": "sub_2"},
        ]
        a, b, c = await seed_deliveries(gateway, merchant, rows)
        pages = {
            "endpoint": await browser.get("/portal/deliveries", endpoint_id="ep_b"),
            "status": await browser.get("/portal/deliveries", status="dead"),
            "type": await browser.get("/portal/deliveries", type="payment.failed"),
            "subscription": await browser.get("/portal/deliveries", subscription_id="sub_1"),
            "from": await browser.get("/portal/deliveries", **{"from": "2025-01-10T01:00"}),
            "until": await browser.get("/portal/deliveries", until="2025-01-10T01:00"),
            "range": await browser.get(
                "/portal/deliveries", **{"from": "2025-01-10T00:30", "until": "2025-01-10T01:30"}
            ),
        }

    found = {name: listed(page.text) for name, page in pages.items()}
    assert found == {
        "endpoint": [b.id],
        "status": [b.id],
        "type": [c.id],
        "subscription": [a.id],
        "from": [c.id, b.id],
        "until": [a.id],
        "range": [b.id],
    }


@pytest.mark.parametrize(
    "query",
    [
        {"status": "lost"},
        {"type": "subscription.nope"},
        {"from": "2025-02-30T00:00"},
        {"until": "yesterday"},
        {"subscription_id": "sub_1' OR 1=1"},
        {"after": "x" * 300},
    ],
)
async def test_a_bad_filter_is_a_422_page(gateway: Gateway, query: dict[str, str]) -> None:
    async with signed_in(gateway) as (browser, _, _):
        answer = await browser.get("/portal/deliveries", **query)

    assert answer.status_code == 422
    assert "text/html" in answer.headers["content-type"]


async def test_times_at_the_edges_of_the_calendar_filter_without_failing(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        [made] = await seed_deliveries(gateway, merchant, [{}])
        everything_ = await browser.get(
            "/portal/deliveries", **{"from": "0001-01-01T00:00", "until": "9999-12-31T23:59:59"}
        )
        nothing = await browser.get("/portal/deliveries", **{"from": "9999-12-31T23:59:59"})

    assert listed(everything_.text) == [made.id]
    assert listed(nothing.text) == []


async def dead_letter(gateway: Gateway, merchant: Merchant, endpoint_id: str, at: datetime) -> DeadLetter:
    [delivery] = await seed_deliveries(
        gateway, merchant, [{"endpoint_id": endpoint_id, "status": DeliveryStatus.DEAD, "at": at}]
    )
    letter = DeadLetter(
        id=new_id("dl"),
        merchant_id=merchant.id,
        kind=DeadLetterKind.WEBHOOK,
        delivery_id=delivery.id,
        reason="gave up",
        created_at=at,
        endpoint_id=endpoint_id,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.dead_letters.add(letter)

    await gateway.run(work)
    return letter


async def test_recovering_an_endpoint_replays_its_dead_letters_since_a_time_only(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        first, second = await add_endpoint(browser), await add_endpoint(browser, url=HOOK + "/2")
        now = gateway.clock()
        old = await dead_letter(gateway, merchant, first, now - timedelta(days=2))
        recent = await dead_letter(gateway, merchant, first, now - timedelta(hours=1))
        others = await dead_letter(gateway, merchant, second, now - timedelta(hours=1))
        page = (await browser.get("/portal/dead-letters")).text
        since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        recovered = await browser.submit(page, "/portal/dead-letters/recover", endpoint_id=first, since=since)
        notice = (await browser.get(recovered.headers["location"])).text
        left = (await browser.get("/portal/dead-letters")).text

    assert "1 dead letter(s) replayed, 0 could not go" in notice
    ids = set(re.findall(r"/portal/dead-letters/(dlsg_\w+)/replay", left))
    assert ids == {old.id, others.id}
    assert recent.id not in ids


async def test_recovering_another_merchants_endpoint_is_404(gateway: Gateway) -> None:
    async with signed_in(gateway, "Owner") as (owner, _, _), signed_in(gateway, "Other") as (other, _, _):
        endpoint_id = await add_endpoint(owner)
        page = (await other.get("/portal/endpoints")).text
        refused = await other.submit(page, "/portal/dead-letters/recover", endpoint_id=endpoint_id)

    assert refused.status_code == 404


async def test_a_subscription_and_its_customer_show_their_notification_history(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, merchant, key):
        async with gateway.client(api_key=key) as client:
            customer = (await client.post("/v1/customers", json={"email": "ada@example.com"})).json()
        subscription = await new_subscription(gateway, merchant, customer_id=customer["id"])
        theirs, _ = await seed_deliveries(
            gateway, merchant, [{"subject_id": subscription.id}, {"subject_id": "sub_someone_else"}]
        )
        listing = (await browser.get("/portal/subscriptions")).text
        page = (await browser.get(f"/portal/subscriptions/{subscription.id}")).text
        person = (await browser.get(f"/portal/customers/{customer['id']}")).text
        people = (await browser.get("/portal/customers")).text

    assert subscription.id in listing
    assert listed(page) == [theirs.id]
    assert listed(person) == [theirs.id]
    assert "ada@example.com" in person
    assert customer["id"] in people


async def test_a_delivery_page_links_its_subscription_of_any_release_but_not_an_endpoint(
    gateway: Gateway,
) -> None:
    async with signed_in(gateway) as (browser, merchant, _):
        subscription = await new_subscription(gateway, merchant)
        about_it, earlier, probe = await seed_deliveries(
            gateway,
            merchant,
            [
                {"subject_id": subscription.id},
                # Subscription ids made before the `sg` mark: `sub_...`.
                {"subject_id": "sub_01m8mkb2sy297sfef70tdsmye0"},
                {"subject_id": "epsg_01m8mkb2sy297sfef70tdsmye1", "event_type": "endpoint.test"},
            ],
        )
        pages = [(await browser.get(f"/portal/deliveries/{d.id}")).text for d in (about_it, earlier, probe)]

    assert f'href="/portal/subscriptions/{subscription.id}"' in pages[0]
    assert 'href="/portal/subscriptions/sub_01m8mkb2sy297sfef70tdsmye0"' in pages[1]
    assert "/portal/subscriptions/" not in pages[2].split("<main", 1)[1]


async def test_an_inbound_event_can_be_reprocessed_from_its_page(gateway: Gateway) -> None:
    from domain.inbound.model import InboundEvent, InboundStatus  # noqa: PLC0415 - only here

    async with signed_in(gateway) as (browser, merchant, _):
        event = InboundEvent(
            id=new_id("evt"),
            merchant_id=merchant.id,
            connection_id="conn_1",
            provider="stripe",
            provider_event_id="evt_stripe_1",
            type="customer.subscription.updated",
            status=InboundStatus.FAILED,
            source_ip="203.0.113.1",
            received_at=gateway.clock(),
            body=b'{"id": "evt_stripe_1", "note": "<script>alert(1)</script>"}',
            reason="the payload could not be read",
        )

        async def work(unit: StoreUnit) -> None:
            await unit.inbound_events.add_if_new(event)

        await gateway.run(work)
        listing = (await browser.get("/portal/inbound-events", status="failed")).text
        page = (await browser.get(f"/portal/inbound-events/{event.id}")).text
        done = await browser.submit(page, f"/portal/inbound-events/{event.id}/reprocess")
        stored = await gateway.run(lambda unit: unit.inbound_events.get(event.id))

    assert "the payload could not be read" in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert done.status_code == 303
    assert stored is not None
    assert stored.status == InboundStatus.ACCEPTED


async def test_the_event_types_page_shows_every_type_with_its_schema_and_example(gateway: Gateway) -> None:
    async with signed_in(gateway) as (browser, _, _):
        page = (await browser.get("/portal/event-types")).text

    for event_type in EventType:
        assert f"JSON Schema of {event_type.value}" in page
        assert f"Example of {event_type.value}" in page
    examples = re.findall(r'aria-label="Example of ([\w.]+)">(.*?)</pre>', page, re.S)
    assert len(examples) == len(EventType)
    for name, text in examples:
        assert json.loads(text.replace("&#34;", '"').replace("&#39;", "'"))["type"] == name


async def test_another_merchants_delivery_and_endpoint_pages_are_404(gateway: Gateway) -> None:
    async with (
        signed_in(gateway, "Owner") as (owner, merchant, _),
        signed_in(gateway, "Other") as (other, _, _),
    ):
        endpoint_id = await add_endpoint(owner)
        [delivery] = await seed_deliveries(gateway, merchant, [{"endpoint_id": endpoint_id}])
        answers = [
            await other.get(f"/portal/endpoints/{endpoint_id}"),
            await other.get(f"/portal/deliveries/{delivery.id}"),
        ]
        listing = (await other.get("/portal/deliveries", endpoint_id=endpoint_id)).text

    assert [a.status_code for a in answers] == [404, 404]
    assert listed(listing) == []


async def test_the_overview_counts_the_last_day_by_the_hour(gateway: Gateway) -> None:
    sender = RecordingSender([200, 500, respond(None, error="connection refused")])
    async with signed_in(gateway) as (browser, _, _):
        endpoint_id = await add_endpoint(browser)
        page = (await browser.get(f"/portal/endpoints/{endpoint_id}")).text
        for _ in range(3):
            await browser.submit(page, f"/portal/endpoints/{endpoint_id}/test")
        await deliver_due(worker(gateway, sender), "wrk_test")
        overview = (await browser.get("/portal/")).text

    assert "33.3 % of 3 attempts" in overview
    assert "connection refused" in overview
    assert "1 succeeded, 1 failed, 1 without an answer" in overview
    assert overview.count('<rect class="') == 3
