"""How much work the store's queues hold: the figures behind the queue gauges.

Three queues, each a collection: inbound events, outbox messages, deliveries (webhooks and
customer emails alike: both are deliveries, claimed by the same loop).

* Depth: every item not settled yet, including the ones a worker has claimed and is running.
* Due: the items a claim would take now, their due time passed. A claim moves an item's due
  time to the end of its lease, so claimed work is not due while its lease holds. An outbox
  message is due as soon as it is written, so its queue's depth and due are the same count.

Each figure is one count over an index (the one the queue's claim uses), in one session.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.shared.clock import Clock
from integrations.stores.delivery_repos import DeliveryRepo
from integrations.stores.documents import DocumentStore
from integrations.stores.repositories import InboundEventRepo, OutboxRepo


@dataclass(frozen=True, slots=True, kw_only=True)
class Backlog:
    depth: int
    due: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Backlogs:
    inbound: Backlog
    outbox: Backlog
    deliveries: Backlog


class QueueCounts:
    """Counts what each queue holds, at the clock's now."""

    def __init__(self, store: DocumentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def count(self) -> Backlogs:
        """Raises StorageError when the store cannot answer."""
        now = self._clock()
        async with self._store.session() as session:
            inbound = InboundEventRepo(session)
            deliveries = DeliveryRepo(session)
            pending = await OutboxRepo(session).count_pending()
            return Backlogs(
                inbound=Backlog(depth=await inbound.count_open(), due=await inbound.count_due(now)),
                outbox=Backlog(depth=pending, due=pending),
                deliveries=Backlog(depth=await deliveries.count_open(), due=await deliveries.count_due(now)),
            )
