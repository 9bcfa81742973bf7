"""The chaos test's own traffic, checked without chaos: its expectations are the service's in calm weather.

Every lifecycle the generator writes is applied in provider order, one event at a time,
through the real provider adapters and `SubscriptionsInternal` on an in-memory store. Each
subscription must then be in its expected final state and have told exactly the states of
its snapshots (equal neighbours merged) and each payment once: what the chaos test
expects, so that a failure there is the service's under disruption, not the generator's.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from domain.notifications.payload import message_body
from domain.shared.pagination import PageRequest
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Subscription, subscription_view
from domain.subscriptions.ports import SubscriptionFilter, SubscriptionsUnit
from integrations.providers.interface import Ignored, ProviderAdapter
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.stores.schema import COLLECTIONS
from integrations.stores.txn import StoreTxn
from tests.chaos.checks import check_notifications
from tests.chaos.receiver import Faults, FlakyReceiver
from tests.chaos.scenario import Scenario, generate
from tests.chaos.story import View
from tests.support.fakes import FakeClock, InMemoryStore

pytestmark = pytest.mark.chaos

MERCHANT = "mer_calm"
ADAPTERS: dict[str, ProviderAdapter] = {"stripe": StripeAdapter(), "polar": PolarAdapter()}


async def _apply_in_order(scenario: Scenario) -> tuple[dict[str, View], FlakyReceiver]:
    """Final views by provider subscription id, and a receiver holding every message made."""
    store = InMemoryStore()
    await store.migrate(COLLECTIONS)
    txn = StoreTxn(store)
    clock = FakeClock()
    internal = SubscriptionsInternal(txn, clock, dict)
    for event in scenario.events:
        clock.advance(0.001)  # each change at its own instant, as in a real worker
        commands = ADAPTERS[event.provider].normalize(
            event.body, MERCHANT, f"{event.provider}/{event.event_id}"
        )
        assert not isinstance(commands, Ignored), (event.event_id, commands)
        for command in commands:
            await internal.apply(command)

    async def read(unit: SubscriptionsUnit) -> dict[str, View]:
        subs: list[Subscription] = []
        while True:
            after = subs[-1].id if subs else None
            page = await unit.subscriptions.list(
                MERCHANT, SubscriptionFilter(), PageRequest(limit=100, starting_after=after)
            )
            subs.extend(page.items)
            if not page.has_more:
                return {s.provider_subscription_id or "": View.of(subscription_view(s)) for s in subs}

    async def messages(unit: SubscriptionsUnit) -> dict[str, dict[str, Any]]:
        return {m.id: json.loads(message_body(m)) for m in await unit.outbox.pending(100_000)}

    receiver = FlakyReceiver(faults=Faults(error_share=0, hang_share=0, hang_seconds=0), rng=random.Random())
    receiver.delivered.update(await txn(messages))
    return await txn(read), receiver


async def test_each_lifecycle_in_provider_order_ends_and_tells_as_expected() -> None:
    scenario = generate(random.Random("calm"), subscriptions=60, events=600)
    assert {s.lifecycle for s in scenario.by_provider("stripe")} == {
        "full",
        "renewing",
        "delinquent",
        "trial",
        "paused",
        "abandoned",
    }
    assert {s.lifecycle for s in scenario.by_provider("polar")} == {
        "full",
        "renewing",
        "delinquent",
        "ending",
    }

    finals, receiver = await _apply_in_order(scenario)

    assert {s.subscription: s.final for s in scenario.stories} == finals
    told = check_notifications(receiver, scenario)
    # In order, every snapshot that changes something is told: exactly the merged snapshots.
    assert told.state_changes == sum(len(list(itertools.groupby(s.views))) for s in scenario.stories)
    assert told.payments == sum(len(s.payments) for s in scenario.stories)
    assert told.reminders == sum(s.trial_reminder for s in scenario.stories)
