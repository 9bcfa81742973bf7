"""`GET /openapi.json`: generated from what is routed, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

import schemathesis
from starlette.routing import Mount, Route

from tests.unit.gateway.fakes import Gateway

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


async def openapi(gateway: Gateway) -> dict[str, Any]:
    async with gateway.client() as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


async def test_every_route_is_in_the_document_and_every_operation_is_routed(gateway: Gateway) -> None:
    documented = set(operations(await openapi(gateway)))
    routed: set[tuple[str, str]] = set()
    for route in gateway.app.routes:
        if isinstance(route, Mount) and route.path == "/portal":
            continue  # the merchant portal's HTML pages: no part of the API
        assert isinstance(route, Route)
        # HEAD is answered wherever GET is, and not described separately.
        routed |= {(method, route.path) for method in route.methods or () if method != "HEAD"}

    assert routed == documented
    assert ("PATCH", "/v1/plans/{plan_id}") in documented
    assert ("PATCH", "/v1/customers/{customer_id}") in documented
    assert ("POST", "/v1/subscriptions/{subscription_id}/pause") in documented
    assert ("GET", "/openapi.json") in documented
    assert ("POST", "/webhooks/{provider}/{connection_id}") in documented


async def test_the_document_is_valid_openapi_3_1(gateway: Gateway) -> None:
    document = await openapi(gateway)

    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()


async def test_every_v1_operation_is_authenticated_and_answers_errors_in_the_one_shape(
    gateway: Gateway,
) -> None:
    document = await openapi(gateway)
    shared = document["components"]["responses"]

    for (method, path), operation in operations(document).items():
        responses = operation["responses"]
        for status, response in responses.items():
            if status.startswith(("4", "5")) and "$ref" in response:
                name = response["$ref"].removeprefix("#/components/responses/")
                assert shared[name]["content"]["application/json"]["schema"] == ERROR_BODY
        if not path.startswith("/v1/"):
            continue
        assert operation["security"] == [{"apiKey": []}], path
        assert {"401", "429", "503"} <= set(responses), (method, path)
        headers = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "header"}
        assert ("Idempotency-Key" in headers) == (method == "POST"), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), (method, path)
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A merchant's API key (`sg_...`).",
    }


async def test_bodies_queries_and_answers_come_from_the_schemas(gateway: Gateway) -> None:
    document = await openapi(gateway)
    ops = operations(document)
    schemas = document["components"]["schemas"]

    create = ops[("POST", "/v1/connections")]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConnectionCreate"
    }
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Connection"
    }
    assert set(schemas["ConnectionCreate"]["required"]) == {"provider", "webhook_secrets"}
    assert "api_key" not in schemas["Connection"]["properties"]  # never shown
    assert schemas["Attempt"]["properties"]["response_body"]["anyOf"][1] == {"type": "null"}

    query = {p["name"]: p for p in ops[("GET", "/v1/deliveries")]["parameters"] if p["in"] == "query"}
    assert set(query) == {"limit", "starting_after", "endpoint_id", "status", "channel"}
    assert query["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert query["status"]["schema"]["anyOf"][0] == {"$ref": "#/components/schemas/DeliveryStatus"}
    assert set(schemas["DeliveryStatus"]["enum"]) == {"pending", "failed", "succeeded", "dead", "canceled"}
    # The query Structs themselves are spread into parameters, not left as unused schemas.
    assert "DeliveryQuery" not in schemas


async def test_refusals_made_outside_the_handlers_are_documented_for_the_routes_that_make_them(
    gateway: Gateway,
) -> None:
    """The middleware's answers (Idempotency-Key, body size, missing key) belong to each route too."""
    documented = operations(await openapi(gateway))
    _, api_key = await gateway.merchant()
    path = "/v1/inbound-events/{event_id}/reprocess"
    url = path.replace("{event_id}", "evt_unknown")
    limit = gateway.deps.config.max_body_bytes
    async with gateway.client(api_key=api_key) as client:
        oversized = await client.post(url, content=b"x" * (limit + 1), headers={"Idempotency-Key": "k1"})
        bad_key = await client.post(url, headers={"Idempotency-Key": "k" * 256})
    async with gateway.client() as client:
        no_key = await client.post(url)

    answered = {oversized.status_code, bad_key.status_code, no_key.status_code}
    assert answered == {413, 400, 401}
    assert answered <= {int(status) for status in documented[("POST", path)]["responses"]}


async def test_only_what_a_payment_provider_carries_out_documents_its_refusals(gateway: Gateway) -> None:
    document = await openapi(gateway)
    shared = document["components"]["responses"]
    by_id = "/v1/subscriptions/{subscription_id}"
    at_provider = {
        ("POST", "/v1/subscriptions"),
        ("POST", f"{by_id}/cancel"),
        ("POST", f"{by_id}/resume"),
        ("POST", f"{by_id}/pause"),
    }

    for key, operation in operations(document).items():
        statuses = set(operation["responses"])
        assert ({"402", "502"} <= statuses) == (key in at_provider), key
        assert ("402" in statuses) == ("502" in statuses), key
    assert "404" in operations(document)[("POST", "/v1/subscriptions")]["responses"]  # no such customer
    assert "payment_declined" in shared["PaymentDeclined"]["description"]
    assert "provider_unavailable" in shared["ProviderUnavailable"]["description"]


async def test_plans_customers_and_subscriptions_are_described_by_their_schemas(gateway: Gateway) -> None:
    document = await openapi(gateway)
    ops = operations(document)
    schemas = document["components"]["schemas"]

    def body_of(method: str, path: str) -> dict[str, Any]:
        ref = ops[(method, path)]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema: dict[str, Any] = schemas[ref.removeprefix("#/components/schemas/")]
        return schema

    plan_create = body_of("POST", "/v1/plans")
    assert set(plan_create["required"]) == {"name", "amount", "currency", "interval"}
    assert plan_create["properties"]["trial_days"]["anyOf"][0] == {
        "type": "integer",
        "description": "Free days before the first charge; null: none.",
        "minimum": 0,
        "maximum": 730,
    }
    assert set(schemas["Interval"]["enum"]) == {"day", "week", "month", "year"}
    plan_update = body_of("PATCH", "/v1/plans/{plan_id}")
    # What a plan charges may not be sent at all.
    assert plan_update["properties"]["amount"]["not"] == {}
    assert plan_update["properties"]["archived"]["anyOf"] == [{"type": "boolean"}, {"type": "null"}]
    assert set(body_of("POST", "/v1/customers")["required"]) == {"email"}
    assert body_of("PATCH", "/v1/customers/{customer_id}").get("required", []) == []
    assert set(body_of("POST", "/v1/subscriptions")["required"]) == {"customer_id", "plan_id"}
    cancel = ops[("POST", "/v1/subscriptions/{subscription_id}/cancel")]["requestBody"]
    assert cancel["required"] is False

    plan_query = {p["name"]: p for p in ops[("GET", "/v1/plans")]["parameters"] if p["in"] == "query"}
    assert plan_query["archived"]["schema"] == {"type": "boolean"}
    query = {p["name"] for p in ops[("GET", "/v1/subscriptions")]["parameters"] if p["in"] == "query"}
    assert query == {"limit", "starting_after", "status", "customer_id", "provider_subscription_id"}
    assert set(schemas["SubscriptionStatus"]["enum"]) == {
        "pending",
        "trialing",
        "active",
        "past_due",
        "unpaid",
        "paused",
        "canceled",
        "expired",
    }
    answer = ops[("GET", "/v1/subscriptions/{subscription_id}")]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Subscription"}


async def test_a_boolean_query_parameter_takes_the_documented_spellings_only(gateway: Gateway) -> None:
    """OpenAPI writes a boolean in a query as `true` or `false`; other spellings are refused."""
    document = await openapi(gateway)
    [archived] = [
        p for p in operations(document)[("GET", "/v1/plans")]["parameters"] if p["name"] == "archived"
    ]
    _, api_key = await gateway.merchant()
    async with gateway.client(api_key=api_key) as client:
        spelled = {
            value: await client.get("/v1/plans", params={"archived": value}) for value in ("true", "false")
        }
        others = [
            await client.get("/v1/plans", params={"archived": value}) for value in ("1", "0", "True", "yes")
        ]

    assert archived["schema"] == {"type": "boolean"}
    assert [answer.status_code for answer in spelled.values()] == [200, 200]
    for answer in others:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["message"] == "archived: must be true or false"
