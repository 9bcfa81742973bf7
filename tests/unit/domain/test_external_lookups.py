"""Every External operation on one resource stays inside its merchant, by the resource's real id.

Another merchant naming a real id gets the same NotFound as for an id that does not exist
(so ids leak nothing), and nothing of the owner's changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from domain.merchants.external import ConnectionChange, NewConnection
from domain.merchants.model import Connection
from domain.notifications.external import EndpointChanges, NewEndpoint
from domain.notifications.model import DeadLetter, DeadLetterKind, Delivery, DeliveryStatus, Endpoint
from domain.notifications.ports import DeliveryFilter
from domain.shared.errors import NotFound, Unauthenticated
from domain.shared.pagination import PageRequest
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import Services, build_services


@dataclass
class Owned:
    owner: str
    stranger: str
    key: str
    subscription: Subscription
    endpoint: Endpoint
    delivery: Delivery
    dead_letter: DeadLetter
    connection: Connection


async def owned(services: Services) -> Owned:
    owner, key = await services.merchants_internal.create_merchant("Owner")
    stranger, _ = await services.merchants_internal.create_merchant("Stranger")
    now = services.clock()
    endpoint = await services.notifications_external.create_endpoint(
        owner.id, NewEndpoint(url="https://owner.example.com/hooks")
    )
    subscription = Subscription(
        id="sub_owned",
        merchant_id=owner.id,
        customer_id="cus_1",
        plan_id="plan_1",
        status=SubscriptionStatus.ACTIVE,
        current_period_start=now,
        current_period_end=now + timedelta(days=30),
        created_at=now,
        updated_at=now,
    )
    delivery = Delivery(
        id="dlv_owned",
        merchant_id=owner.id,
        endpoint_id=endpoint.id,
        message_id="msg_1",
        event_type="subscription.activated",
        status=DeliveryStatus.DEAD,
        attempts=(),
        next_attempt_at=None,
        created_at=now,
        updated_at=now,
    )
    dead_letter = DeadLetter(
        id="dl_owned",
        merchant_id=owner.id,
        kind=DeadLetterKind.WEBHOOK,
        delivery_id=delivery.id,
        reason="retries exhausted",
        created_at=now,
    )

    async def seed(unit: StoreUnit) -> None:
        await unit.subscriptions.add(subscription)
        await unit.deliveries.add(delivery)
        await unit.dead_letters.add(dead_letter)

    await services.txn(seed)
    connection = await services.merchants.create_connection(
        owner.id, NewConnection(provider="stripe", webhook_secrets=["whsec_owned_connection"])
    )
    return Owned(
        owner=owner.id,
        stranger=stranger.id,
        key=key,
        subscription=subscription,
        endpoint=endpoint,
        delivery=delivery,
        dead_letter=dead_letter,
        connection=connection,
    )


Lookup = Callable[[Services, str, Owned], Awaitable[object]]

LOOKUPS: dict[str, tuple[str, str, Lookup]] = {
    "subscription": (
        "subscription",
        "sub_owned",
        lambda s, m, _: s.subscriptions_external.get(m, "sub_owned"),
    ),
    "get endpoint": (
        "endpoint",
        "",
        lambda s, m, o: s.notifications_external.get_endpoint(m, o.endpoint.id),
    ),
    "update endpoint": (
        "endpoint",
        "",
        lambda s, m, o: s.notifications_external.update_endpoint(
            m, o.endpoint.id, EndpointChanges(enabled=False)
        ),
    ),
    "rotate secret": (
        "endpoint",
        "",
        lambda s, m, o: s.notifications_external.rotate_secret(m, o.endpoint.id),
    ),
    "delete endpoint": (
        "endpoint",
        "",
        lambda s, m, o: s.notifications_external.delete_endpoint(m, o.endpoint.id),
    ),
    "get delivery": (
        "delivery",
        "dlv_owned",
        lambda s, m, _: s.notifications_external.get_delivery(m, "dlv_owned"),
    ),
    "retry delivery": (
        "delivery",
        "dlv_owned",
        lambda s, m, _: s.notifications_external.retry_delivery(m, "dlv_owned"),
    ),
    "replay dead letter": (
        "dead letter",
        "dl_owned",
        lambda s, m, _: s.notifications_external.replay_dead_letter(m, "dl_owned"),
    ),
    "get connection": (
        "connection",
        "",
        lambda s, m, o: s.merchants.get_connection(m, o.connection.id),
    ),
    "update connection": (
        "connection",
        "",
        lambda s, m, o: s.merchants.update_connection(
            m, o.connection.id, ConnectionChange(webhook_secrets=["whsec_changed_by_someone"])
        ),
    ),
    "delete connection": (
        "connection",
        "",
        lambda s, m, o: s.merchants.delete_connection(m, o.connection.id),
    ),
}


def resource_id(entry: tuple[str, str, Lookup], resources: Owned) -> str:
    kind, fixed, _ = entry
    if fixed:
        return fixed
    return resources.endpoint.id if kind == "endpoint" else resources.connection.id


@pytest.mark.parametrize("operation", list(LOOKUPS))
async def test_another_merchant_gets_not_found_by_the_real_id_and_changes_nothing(operation: str) -> None:
    services = build_services()
    resources = await owned(services)
    kind, _, call = LOOKUPS[operation]
    wanted = resource_id(LOOKUPS[operation], resources)
    before = {name: services.store.documents(name) for name in ("endpoints", "deliveries", "connections")}

    with pytest.raises(NotFound) as missing:
        await call(services, resources.stranger, resources)

    assert (missing.value.entity, missing.value.entity_id) == (kind, wanted)
    assert missing.value.message == f"{kind} {wanted!r} does not exist"
    after = {name: services.store.documents(name) for name in ("endpoints", "deliveries", "connections")}
    assert after == before
    await call(services, resources.owner, resources)  # the owner may


async def test_lists_show_only_the_callers_resources() -> None:
    services = build_services()
    resources = await owned(services)
    notifications = services.notifications_external

    assert await services.merchants.list_connections(resources.stranger) == []
    assert [c.id for c in await services.merchants.list_connections(resources.owner)] == [
        resources.connection.id
    ]
    page = PageRequest()
    assert (await notifications.list_endpoints(resources.stranger, page)).items == ()
    assert [e.id for e in (await notifications.list_endpoints(resources.owner, page)).items] == [
        resources.endpoint.id
    ]
    assert (await notifications.list_deliveries(resources.stranger, DeliveryFilter(), page)).items == ()
    assert [
        d.id for d in (await notifications.list_deliveries(resources.owner, DeliveryFilter(), page)).items
    ] == ["dlv_owned"]
    assert (await notifications.list_dead_letters(resources.stranger, None, page)).items == ()
    assert [d.id for d in (await notifications.list_dead_letters(resources.owner, None, page)).items] == [
        "dl_owned"
    ]
    subscriptions = services.subscriptions_external
    assert (await subscriptions.list(resources.stranger, SubscriptionFilter(), page)).items == ()
    assert [s.id for s in (await subscriptions.list(resources.owner, SubscriptionFilter(), page)).items] == [
        "sub_owned"
    ]


async def test_a_connection_is_found_for_its_webhooks_only_under_its_provider() -> None:
    services = build_services()
    resources = await owned(services)
    connection_id = resources.connection.id

    found = await services.merchants.connection_for_webhook("stripe", connection_id)

    assert found.id == connection_id
    for provider, wanted in (("polar", connection_id), ("stripe", "conn_missing")):
        with pytest.raises(NotFound) as missing:
            await services.merchants.connection_for_webhook(provider, wanted)
        assert (missing.value.entity, missing.value.entity_id) == ("connection", wanted)


async def test_only_a_live_key_of_the_right_shape_authenticates() -> None:
    services = build_services()
    resources = await owned(services)

    merchant = await services.merchants.authenticate(resources.key)

    assert merchant.id == resources.owner
    for key in ("sg_not_issued", resources.key.removeprefix("sg_"), "", resources.key + "x"):
        with pytest.raises(Unauthenticated) as refused:
            await services.merchants.authenticate(key)
        assert refused.value.message == "invalid API key"
