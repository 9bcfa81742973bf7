"""schemathesis over `GET /openapi.json`, against the app in-process: no 5xx, nothing off its schema.

Every documented operation gets generated requests, valid and invalid, sent with a real
merchant's API key; each answer must be documented for its operation (status, content type,
headers) and match its schema. Path parameters are drawn both at random and from objects that
exist, so answers for real objects (200s, 409s) are checked too, not only 404s. Seeded and
bounded, so a run is repeatable and takes seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

from domain.merchants.external import NewConnection
from domain.notifications.external import NewEndpoint
from domain.notifications.model import DeadLetterKind
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.stripe.adapter import StripeAdapter
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import create, new_dead_letter, new_delivery
from tests.unit.gateway.webhooks import event_body, now_ts, stripe_headers

Operation: TypeAlias = APIOperation[Any, Any, Any, Any]
SECRET = "whsec_conformance_secret"
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            # Unknown query parameters and body fields are ignored on purpose, not refused.
            "allow-extra-parameters": False,
            # The Authorization header is the real merchant key, sent with every request.
            "with-security-parameters": False,
        },
        "checks": {
            # "Schema-valid input is accepted" does not hold, by design: some rules go beyond what
            # JSON Schema says (a signature, a URL's scheme and host, which providers are set up,
            # secrets without surrounding spaces); their refusals are documented 4xx answers.
            "positive_data_acceptance": {"enabled": False},
        },
    }
)
EXAMPLES_PER_OPERATION = 25


@dataclass(frozen=True, slots=True)
class Service:
    gateway: Gateway
    api_key: str
    ids: Mapping[str, str]  # path parameter name -> the id of an object that exists


async def seeded(gateway: Gateway) -> Service:
    """A merchant with one of everything the API can show."""
    merchant, api_key = await gateway.merchant()
    connection = await gateway.deps.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[SECRET])
    )
    endpoint = await gateway.deps.notifications.create_endpoint(
        merchant.id, NewEndpoint(url="https://hooks.example.com/subgate")
    )
    delivery = await new_delivery(gateway, merchant, endpoint.id)
    dead_letter = await new_dead_letter(gateway, merchant, DeadLetterKind.WEBHOOK)
    body = event_body("evt_conformance")
    async with gateway.client() as client:
        received = await client.post(
            f"/webhooks/stripe/{connection.id}",
            content=body,
            headers=stripe_headers(body, SECRET, now_ts(gateway)),
        )
        assert received.status_code == 200, received.text
    async with gateway.client(api_key=api_key) as client:
        [event] = (await client.get("/v1/inbound-events")).json()["data"]
        plan = await create(
            client, "/v1/plans", {"name": "Pro", "amount": 900, "currency": "usd", "interval": "month"}
        )
        customer = await create(client, "/v1/customers", {"email": "ada@example.com"})
        subscription = await create(
            client,
            "/v1/subscriptions",
            {"customer_id": customer["id"], "plan_id": plan["id"], "trial_days": 7},
        )
    ids = {
        "provider": "stripe",
        "connection_id": connection.id,
        "endpoint_id": endpoint.id,
        "delivery_id": delivery.id,
        "dead_letter_id": dead_letter.id,
        "event_id": event["id"],
        "plan_id": plan["id"],
        "customer_id": customer["id"],
        "subscription_id": subscription["id"],
    }
    return Service(gateway=gateway, api_key=api_key, ids=ids)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    gateway = make_gateway(tmp_path, providers={"stripe": StripeAdapter(), "polar": PolarAdapter()})
    # schemathesis calls the app from its own event loop thread; the in-memory store is loop-agnostic.
    yield asyncio.run(seeded(gateway))
    gateway.deps.telemetry.shutdown()


def check_operation(operation: Operation, mode: GenerationMode, service: Service) -> None:
    generated = operation.as_strategy(generation_mode=mode)
    existing = {p.name: service.ids[p.name] for p in operation.path_parameters}
    strategy = st.one_of(generated, operation.as_strategy(generation_mode=mode, path_parameters=existing))
    headers = {"Authorization": f"Bearer {service.api_key}"}

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # the same examples on every run
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Case[Operation]) -> None:
        case.call_and_validate(headers=headers)

    answers_as_documented()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_answer_is_documented_and_matches_its_schema(service: Service, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.gateway.app, config=CONFIG)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]

    assert len(operations) == len(results)  # every operation of the document loads
    assert len(operations) > 20
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not can_be_sent_wrong(operation):
            continue
        check_operation(operation, mode, service)


def can_be_sent_wrong(operation: Operation) -> bool:
    """A body, query or header to get wrong: a path id alone has no wrong value that can be sent
    (any string is an id; an empty one is another path), and probes take nothing at all."""
    return any(list(part) for part in (operation.query, operation.headers, operation.body))
