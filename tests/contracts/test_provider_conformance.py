"""One suite every provider passes: Stripe, Polar and Paddle, each through its small kit.

A provider joins by giving a `tests.support.kits.ProviderKit` (sign as the provider signs;
build its events from provider-neutral facts). Everything below drives the provider's
adapter through the gateway and the subscriptions context exactly as the service does:

- the door: a good signature is stored once; a bad, stale or future one is 401 and a missing
  one 400, with nothing stored; during a rotation either secret verifies, and a secret rotated
  out no longer does; the same event twice is a duplicate;
- processing: every order of a subscription's events, duplicates included, ends in the
  newest snapshot with one creation and each payment told once; unknown types are ignored;
  a paid renewal alone moves the period, and `subscription.renewed` goes out once per period
  whichever of the renewal and the snapshot comes first; a provider subscription naming one
  of ours in its link field is that subscription, and another merchant's id links nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from domain.merchants.external import ConnectionChange, NewConnection
from domain.shared.errors import ConcurrencyConflict
from domain.shared.pagination import PageRequest
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.outcome import SubscriptionNotYetKnown
from domain.subscriptions.ports import SubscriptionFilter, SubscriptionsUnit
from integrations.providers.interface import Ignored, ProviderAdapter
from tests.support.fakes import Services, build_services
from tests.support.kits import ProviderKit, Renewal, Snapshot
from tests.support.kits.paddle import PaddleKit
from tests.support.kits.polar import PolarKit
from tests.support.kits.stripe import StripeKit
from tests.unit.gateway.fakes import Gateway, make_gateway

KITS: Final[tuple[ProviderKit, ...]] = (StripeKit(), PolarKit(), PaddleKit())
TOLERANCE: Final = 300  # the gateway's default, as in the settings
T0: Final = datetime(2025, 3, 1, tzinfo=UTC)
DAY: Final = timedelta(days=1)
P1: Final = (T0, T0 + 31 * DAY)
P2: Final = (P1[1], P1[1] + 30 * DAY)

kits = pytest.mark.parametrize("kit", KITS, ids=lambda kit: kit.name)


# --------------------------------------------------------------------------- the door


@pytest.fixture
def door(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Gateway, ProviderKit]]:
    kit: ProviderKit = request.param
    gateway = make_gateway(tmp_path, providers={kit.name: kit.adapter()})
    yield gateway, kit
    gateway.deps.telemetry.shutdown()


doors = pytest.mark.parametrize("door", KITS, ids=lambda kit: kit.name, indirect=True)


async def connect(gateway: Gateway, kit: ProviderKit, secrets: Sequence[str]) -> str:
    merchant, _ = await gateway.merchant()
    new = NewConnection(provider=kit.name, webhook_secrets=list(secrets))
    return (await gateway.deps.merchants.create_connection(merchant.id, new)).id


async def post(
    gateway: Gateway, kit: ProviderKit, connection: str, body: bytes, headers: dict[str, str]
) -> int:
    async with gateway.client() as client:
        response = await client.post(f"/webhooks/{kit.name}/{connection}", content=body, headers=headers)
    return response.status_code


def an_event(kit: ProviderKit, event_id: str = "evt_door_1") -> bytes:
    return kit.snapshot(Snapshot(event_id=event_id, at=T0, status="active", period=P1, first=True))


def now_ts(gateway: Gateway) -> int:
    return int(gateway.clock().timestamp())


def stored(gateway: Gateway) -> list[dict[str, Any]]:
    return gateway.store.documents("inbound_events")


@doors
async def test_a_good_signature_is_stored_once_and_the_same_event_again_is_a_duplicate(
    door: tuple[Gateway, ProviderKit],
) -> None:
    gateway, kit = door
    connection = await connect(gateway, kit, [kit.secret])
    body = an_event(kit)
    headers = kit.sign(body, [kit.secret], now_ts(gateway), "evt_door_1")

    assert await post(gateway, kit, connection, body, headers) == 200
    assert await post(gateway, kit, connection, body, headers) == 200
    [event] = stored(gateway)
    assert (event["provider"], event["provider_event_id"]) == (kit.name, "evt_door_1")


@doors
@pytest.mark.parametrize("skew", [TOLERANCE + 1, -TOLERANCE - 1, 0], ids=["stale", "future", "bad"])
async def test_a_bad_stale_or_future_signature_is_401_and_keeps_nothing(
    door: tuple[Gateway, ProviderKit], skew: int
) -> None:
    gateway, kit = door
    connection = await connect(gateway, kit, [kit.secret])
    body = an_event(kit)
    secret = kit.other_secret if skew == 0 else kit.secret

    headers = kit.sign(body, [secret], now_ts(gateway) - skew, "evt_door_1")

    assert await post(gateway, kit, connection, body, headers) == 401
    assert stored(gateway) == []


@doors
@pytest.mark.parametrize("skew", [TOLERANCE, -TOLERANCE], ids=["oldest", "newest"])
async def test_the_tolerance_is_inclusive_both_ways(door: tuple[Gateway, ProviderKit], skew: int) -> None:
    gateway, kit = door
    connection = await connect(gateway, kit, [kit.secret])
    body = an_event(kit)

    assert (
        await post(gateway, kit, connection, body, kit.sign(body, [kit.secret], now_ts(gateway) - skew, "e"))
        == 200
    )


@doors
async def test_no_signature_is_400_and_keeps_nothing(door: tuple[Gateway, ProviderKit]) -> None:
    gateway, kit = door
    connection = await connect(gateway, kit, [kit.secret])

    assert await post(gateway, kit, connection, an_event(kit), {"content-type": "application/json"}) == 400
    assert stored(gateway) == []


@doors
async def test_during_a_rotation_either_secret_verifies_and_a_rotated_out_one_stops(
    door: tuple[Gateway, ProviderKit],
) -> None:
    gateway, kit = door
    connection = await connect(gateway, kit, [kit.other_secret, kit.secret])
    first, second, third = (an_event(kit, f"evt_rotation_{n}") for n in range(3))
    now = now_ts(gateway)

    assert (
        await post(
            gateway, kit, connection, first, kit.sign(first, [kit.other_secret], now, "evt_rotation_0")
        )
        == 200
    )
    assert (
        await post(
            gateway,
            kit,
            connection,
            second,
            kit.sign(second, [kit.other_secret, kit.secret], now, "evt_rotation_1"),
        )
        == 200
    )
    merchant_id = stored(gateway)[0]["merchant_id"]
    await gateway.deps.merchants.update_connection(
        merchant_id, connection, ConnectionChange(webhook_secrets=[kit.secret])
    )
    assert (
        await post(
            gateway, kit, connection, third, kit.sign(third, [kit.other_secret], now, "evt_rotation_2")
        )
        == 401
    )
    assert len(stored(gateway)) == 2


# --------------------------------------------------------------------------- processing

_merchants = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Told:
    type: str
    period_end: str | None
    invoice: str | None


async def apply_all(
    services: Services, adapter: ProviderAdapter, merchant: str, bodies: Sequence[tuple[str, bytes]]
) -> None:
    """Each event applied once it can be, as the pipeline postpones one whose subscription is unknown."""
    queue = list(bodies)
    for _ in range(len(queue) * len(queue) + 1):
        if not queue:
            return
        event_id, body = queue.pop(0)
        commands = adapter.normalize(body, merchant, f"{merchant}/{event_id}")
        assert not isinstance(commands, Ignored), commands
        try:
            for command in commands:
                await services.subscriptions.apply(command)
        except (SubscriptionNotYetKnown, ConcurrencyConflict):
            queue.append((event_id, body))
    raise AssertionError(f"never applied: {queue}")


async def outcome(services: Services, merchant: str) -> tuple[list[Subscription], list[Told]]:
    async def read(unit: SubscriptionsUnit) -> tuple[list[Subscription], list[Told]]:
        subs = await unit.subscriptions.list(merchant, SubscriptionFilter(), PageRequest(limit=10))
        messages = sorted(
            (m for m in await unit.outbox.pending(10_000) if m.merchant_id == merchant), key=lambda m: m.id
        )
        told = [
            Told(
                m.event_type.value,
                m.data["subscription"]["current_period_end"],
                (m.data.get("payment") or {}).get("provider_invoice_id"),
            )
            for m in messages
        ]
        return list(subs.items), told

    return await services.txn(read)


def run(kit: ProviderKit, events: Sequence[tuple[str, bytes]]) -> tuple[Subscription, list[Told]]:
    async def go() -> tuple[Subscription, list[Told]]:
        services = build_services()
        merchant = f"mer_conformance_{next(_merchants)}"
        await apply_all(services, kit.adapter(), merchant, events)
        [sub], told = await outcome(services, merchant)
        return sub, told

    return asyncio.run(go())


def history(kit: ProviderKit) -> list[tuple[str, bytes]]:
    """A subscription's life: born active, a failed renewal, recovered and renewed, set to end."""
    steps = [
        Snapshot(event_id="evt_h_created", at=T0, status="active", period=P1, first=True),
        Snapshot(event_id="evt_h_past_due", at=P1[1], status="past_due", period=P2),
        Snapshot(event_id="evt_h_recovered", at=P1[1] + 2 * DAY, status="active", period=P2),
        Snapshot(
            event_id="evt_h_ending", at=P1[1] + 5 * DAY, status="active", period=P2, cancel_at_period_end=True
        ),
    ]
    renewal = Renewal(
        event_id="evt_h_paid", at=P1[1] + 2 * DAY + timedelta(hours=1), period=P2, invoice_id="in_h_2"
    )
    return [*((s.event_id, kit.snapshot(s)) for s in steps), (renewal.event_id, kit.renewal(renewal))]


def iso(value: datetime) -> str:
    """The service's one time form: UTC to the microsecond, with a `Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("kit", KITS, ids=lambda kit: kit.name)
@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_order_with_repeats_ends_in_the_newest_snapshot(kit: ProviderKit, data: st.DataObject) -> None:
    events = history(kit)
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=3))
    order = data.draw(st.permutations([*events, *repeats]))

    sub, told = run(kit, order)

    assert (sub.status.value, sub.current_period_start, sub.current_period_end, sub.cancel_at_period_end) == (
        "active",
        P2[0],
        P2[1],
        True,
    )
    types = [t.type for t in told]
    assert types[0] == "subscription.created"
    assert types.count("subscription.created") == 1
    assert types.count("subscription.renewed") <= 1
    assert [t.invoice for t in told if t.type == "payment.succeeded"] == ["in_h_2"]
    assert told[-1].period_end == iso(P2[1])


@kits
def test_an_unknown_type_is_ignored(kit: ProviderKit) -> None:
    normalized = kit.adapter().normalize(kit.unknown("evt_unknown", T0), "mer_1", "src_1")

    assert isinstance(normalized, Ignored)


def renewal_story(kit: ProviderKit) -> dict[str, tuple[str, bytes]]:
    created = Snapshot(event_id="evt_r_created", at=T0, status="active", period=P1, first=True)
    renewal = Renewal(event_id="evt_r_paid", at=P1[1], period=P2, invoice_id="in_r_2")
    renewed = Snapshot(event_id="evt_r_renewed", at=P1[1] + timedelta(hours=1), status="active", period=P2)
    return {
        "created": (created.event_id, kit.snapshot(created)),
        "paid": (renewal.event_id, kit.renewal(renewal)),
        "renewed": (renewed.event_id, kit.snapshot(renewed)),
    }


@kits
def test_a_paid_renewal_alone_moves_the_period_and_is_told_once(kit: ProviderKit) -> None:
    story = renewal_story(kit)

    sub, told = run(kit, [story["created"], story["paid"], story["paid"]])

    assert (sub.current_period_start, sub.current_period_end) == P2
    assert [t.type for t in told] == ["subscription.created", "subscription.renewed", "payment.succeeded"]
    assert told[1].period_end == iso(P2[1])


@kits
@pytest.mark.parametrize("order", list(itertools.permutations(["created", "paid", "renewed"])), ids="-".join)
def test_renewed_goes_out_once_whichever_of_the_renewal_and_the_snapshot_comes_first(
    kit: ProviderKit, order: tuple[str, ...]
) -> None:
    story = renewal_story(kit)

    sub, told = run(kit, [story[name] for name in order])

    # First seen in its second period (the renewed snapshot came first), it was never renewed here.
    seen_renewing = order.index("created") < order.index("renewed")
    assert (sub.current_period_start, sub.current_period_end) == P2
    assert [t.type for t in told].count("subscription.renewed") == int(seen_renewing)
    assert [t.type for t in told].count("payment.succeeded") == 1


@kits
def test_a_stale_snapshot_never_takes_a_paid_period_back(kit: ProviderKit) -> None:
    story = renewal_story(kit)
    stale = Snapshot(
        event_id="evt_r_stale", at=T0 + DAY, status="active", period=P1, cancel_at_period_end=True
    )

    sub, told = run(kit, [story["created"], story["paid"], (stale.event_id, kit.snapshot(stale))])

    # The older snapshot's own news (the scheduled end) applies; the paid period stays.
    assert (sub.current_period_end, sub.cancel_at_period_end) == (P2[1], True)
    assert [t.type for t in told].count("subscription.renewed") == 1


@kits
def test_a_renewal_older_than_the_newest_snapshot_leaves_the_period_to_it(kit: ProviderKit) -> None:
    story = renewal_story(kit)
    newer = Snapshot(
        event_id="evt_r_newer", at=P1[1] + DAY, status="active", period=P1, cancel_at_period_end=True
    )

    sub, told = run(kit, [story["created"], (newer.event_id, kit.snapshot(newer)), story["paid"]])

    assert (sub.current_period_end, sub.cancel_at_period_end) == (P1[1], True)
    assert "subscription.renewed" not in [t.type for t in told]


@kits
def test_a_subscription_named_in_the_link_field_is_ours_and_another_merchants_id_links_nothing(
    kit: ProviderKit,
) -> None:
    async def go() -> None:
        services = build_services()
        merchant, stranger = f"mer_link_{next(_merchants)}", f"mer_link_{next(_merchants)}"
        external = services.subscriptions_external
        customer = await external.customers.create(merchant, NewCustomer(email="ada@example.com"))
        plan = await external.plans.create(
            merchant, NewPlan(name="Pro", amount=2500, currency="usd", interval=Interval.MONTH)
        )
        ours = await external.create(merchant, NewSubscription(customer_id=customer.id, plan_id=plan.id))
        linked = Snapshot(event_id="evt_l_1", at=T0, status="active", period=P1, first=True, link=ours.id)
        adapter = kit.adapter()

        await apply_all(services, adapter, merchant, [(linked.event_id, kit.snapshot(linked))])
        await apply_all(services, adapter, stranger, [(linked.event_id, kit.snapshot(linked))])

        [sub], _ = await outcome(services, merchant)
        assert (sub.id, sub.status.value, sub.provider, sub.provider_subscription_id) == (
            ours.id,
            "active",
            kit.name,
            linked.subscription_id,
        )
        assert sub.current_period_end == P1[1]
        [theirs], _ = await outcome(services, stranger)
        assert theirs.id != ours.id

    asyncio.run(go())


def test_every_kit_names_a_different_provider() -> None:
    assert sorted(kit.name for kit in KITS) == ["paddle", "polar", "stripe"]
