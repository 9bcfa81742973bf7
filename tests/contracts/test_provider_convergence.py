"""Provider snapshots converge on every store: any order, repeats, two workers at once.

The lifecycle of `tests.support.lifecycle` (incomplete -> active -> past_due -> unpaid ->
active -> renewal -> cancel at period end -> canceled) is delivered shuffled, with
repeated deliveries, to two `SubscriptionsInternal` sharing one store, their steps
interleaved. Whatever the order, the subscription ends as the newest snapshot says, each
payment is told once, and every state message tells of a real change in provider order.
Each example works for a merchant of its own, so examples share the test's database.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings, strategies as st

from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Subscription
from integrations.stores.schema import COLLECTIONS
from integrations.stores.txn import StoreTxn, runs_transactions
from tests.contracts.conftest import StoreFactory
from tests.support.fakes import FakeClock
from tests.support.lifecycle import (
    LIFECYCLE,
    ORDERED_TYPES,
    Delivery,
    Note,
    check_against_the_ordered_stream,
    deliver,
    expected_final,
    final_fields,
    outcome,
)

_merchants = itertools.count(1)


async def _run(
    make_store: StoreFactory,
    deliveries: Sequence[Delivery],
    pauses: Sequence[Sequence[int]] = (),
    workers: int = 2,
) -> tuple[Subscription, list[Note]]:
    store = make_store()
    try:
        await store.migrate(COLLECTIONS)
        txn = StoreTxn(store)
        clock = FakeClock()
        merchant = f"mer_convergence_{next(_merchants)}"
        # As the service is wired: on a store whose sessions are not transactions (the MongoDB
        # stand-in), changes carry what is left to do.
        carried = not await runs_transactions(store)
        internals = [SubscriptionsInternal(txn, clock, dict, carried=carried) for _ in range(workers)]
        await deliver(internals, merchant, deliveries, pauses)
        return await outcome(txn, merchant)
    finally:
        await store.close()


def test_the_ordered_lifecycle_tells_every_transition(make_store: StoreFactory) -> None:
    sub, notes = asyncio.run(_run(make_store, LIFECYCLE, workers=1))

    assert final_fields(sub) == expected_final()
    assert tuple(n.type for n in notes) == ORDERED_TYPES


deliveries_with_repeats = st.lists(st.sampled_from(LIFECYCLE), max_size=5).flatmap(
    lambda repeats: st.permutations([*LIFECYCLE, *repeats])
)
interleavings = st.lists(st.lists(st.integers(min_value=0, max_value=3), max_size=20), min_size=2, max_size=2)


# The store factory is shared by all examples on purpose: each example has its own merchant.
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=deliveries_with_repeats, pauses=interleavings)
def test_any_order_with_repeats_and_two_workers_converges(
    make_store: StoreFactory, order: list[Delivery], pauses: list[list[int]]
) -> None:
    ordered = asyncio.run(_run(make_store, LIFECYCLE, workers=1))
    sub, notes = asyncio.run(_run(make_store, order, pauses))

    check_against_the_ordered_stream(sub, notes, ordered[1])
