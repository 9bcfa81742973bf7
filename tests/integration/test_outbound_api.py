"""Endpoint rotation and dead-letter replay through the real app, store, worker and a loopback receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from svix.webhooks import Webhook

from tests.integration.conftest import Service
from tests.integration.test_pipeline import connect, post_event, subscription_created
from tests.support.receiver import running_receiver


async def test_during_the_rotation_overlap_either_secret_verifies_and_after_it_only_the_new(
    service: Service,
) -> None:
    async with running_receiver() as receiver:
        connection_id, old_secret = await connect(service, receiver.url)
        endpoint_id = (await service.client.get("/v1/endpoints", headers=service.auth)).json()["data"][0][
            "id"
        ]
        rotated = await service.client.post(
            f"/v1/endpoints/{endpoint_id}/rotate-secret", headers=service.auth
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]

        await post_event(service, connection_id, subscription_created(event_id="evt_during"))
        await service.run_worker()
        await receiver.wait_for(1)
        during = receiver.received[0]
        Webhook(old_secret).verify(during.body, during.headers)
        Webhook(new_secret).verify(during.body, during.headers)
        assert len(during.headers["webhook-signature"].split()) == 2

        # A day later the same message, sent again (a retry), carries the new signature only.
        service.clock.offset = timedelta(hours=24, seconds=1)
        [delivery] = (await service.client.get("/v1/deliveries", headers=service.auth)).json()["data"]
        retried = await service.client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=service.auth)
        assert retried.status_code == 200, retried.text
        await service.run_worker()
        await receiver.wait_for(2)

    # Receivers check the timestamp against real time and the service runs a day ahead here,
    # so the signature entries are compared directly: one, made with the new secret.
    after = receiver.received[1]
    headers = after.headers
    signed_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)

    def signature(secret: str) -> str:
        return Webhook(secret).sign(headers["webhook-id"], signed_at, after.body.decode())

    assert headers["webhook-signature"].split() == [signature(new_secret)]
    assert signature(old_secret) not in headers["webhook-signature"]


async def test_a_dead_letter_replayed_over_rest_is_delivered_with_the_same_webhook_id(
    service: Service,
) -> None:
    attempts = len(service.deps.settings.retry_schedule) + 1
    async with running_receiver(status_for=lambda n: 500 if n < attempts else 204) as receiver:
        connection_id, secret = await connect(service, receiver.url)
        await post_event(service, connection_id, subscription_created(event_id="evt_replay"))
        await service.run_worker()
        assert len(receiver.received) == attempts
        [dead] = (await service.client.get("/v1/dead-letters", headers=service.auth)).json()["data"]

        replay = await service.client.post(f"/v1/dead-letters/{dead['id']}/replay", headers=service.auth)
        assert replay.status_code == 200, replay.text
        await service.run_worker()
        await receiver.wait_for(attempts + 1)

    replayed = receiver.received[-1]
    Webhook(secret).verify(replayed.body, replayed.headers)
    assert replayed.headers["webhook-id"] == receiver.received[0].headers["webhook-id"]
    assert json.loads(replayed.body)["id"] == replayed.headers["webhook-id"]
    delivery = (
        await service.client.get(f"/v1/deliveries/{dead['delivery_id']}", headers=service.auth)
    ).json()
    assert delivery["status"] == "succeeded"
    assert len(delivery["attempts"]) == attempts + 1
    assert (await service.client.get("/v1/dead-letters", headers=service.auth)).json()["data"] == []
