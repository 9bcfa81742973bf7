"""`GET /metrics`: the queue gauges follow work through each queue, scraped through the real app.

The worker built by the composition root samples the store's queues; each step below takes
one sample (as its loop does every few seconds) and then scrapes, on SQLite and on MongoDB.
"""

from __future__ import annotations

from integrations.providers.stripe.samples import subscription_event
from tests.integration.conftest import Service
from tests.integration.test_metrics import scrape
from tests.integration.test_pipeline import connect, post_event
from tests.support.metrics import Scrape
from tests.support.receiver import running_receiver
from workers.gauges import QueueGauges
from workers.pipeline import Pipeline
from workers.tasks import apply_inbound

DEPTH = "subgate_queue_depth"
DUE = "subgate_queue_due"
OWNER = "gauges-worker"


def figures(seen: Scrape) -> dict[str, tuple[float, float]]:
    """(depth, due) by queue."""
    queues = seen.label_values(DEPTH, "queue") | seen.label_values(DUE, "queue")
    return {queue: (seen.value(DEPTH, queue=queue), seen.value(DUE, queue=queue)) for queue in queues}


async def test_queue_gauges_move_as_work_arrives_and_settles(service: Service) -> None:
    worker = service.deps.worker
    gauges = Pipeline(worker, OWNER).gauges
    assert isinstance(gauges, QueueGauges)  # wired by the composition root

    async def sampled() -> dict[str, tuple[float, float]]:
        assert await gauges.sample()
        return figures(await scrape(service))

    empty = {"inbound": (0, 0), "outbox": (0, 0), "deliveries": (0, 0)}
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        assert await sampled() == empty

        for name in ("one", "two"):
            body = subscription_event(
                "customer.subscription.created", event_id=f"evt_{name}", sub_id=f"sub_{name}"
            )
            assert (await post_event(service, connection_id, body))[0] == 200
        assert await sampled() == empty | {"inbound": (2, 2)}

        # Claimed: still in the queue until recorded, but no longer waiting for a worker.
        events = await worker.inbound.claim(OWNER, 10)
        assert await sampled() == empty | {"inbound": (2, 0)}

        outcomes = [await apply_inbound(worker, event) for event in events]
        await worker.inbound.record(outcomes)
        assert await sampled() == empty | {"outbox": (2, 2)}

        assert await worker.notifications.dispatch_pending(100) == 2
        assert await sampled() == empty | {"deliveries": (2, 2)}

        await service.run_worker()
        await receiver.wait_for(2)
        assert await sampled() == empty
