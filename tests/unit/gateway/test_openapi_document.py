"""`GET /openapi.json`: generated from what is routed, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

import schemathesis
from starlette.routing import Route

from gateway.app import route_table
from tests.unit.gateway.fakes import Gateway

# Modules still built with the field readers of `gateway.validation` and the dict views of
# `gateway.serialize`: routed, but not in the document until they declare their operations
# (`gateway.v1.V1`, schemas in `gateway.schemas`). Nothing else may stay out.
NOT_YET_CONVERTED = frozenset({"gateway.api.subscriptions", "gateway.api.plans", "gateway.api.customers"})
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
    undocumented = route_table(gateway.deps).undocumented
    routed: set[tuple[str, str]] = set()
    for route in gateway.app.routes:
        assert isinstance(route, Route)
        if route.path in undocumented:
            continue
        # HEAD is answered wherever GET is, and not described separately.
        routed |= {(method, route.path) for method in route.methods or () if method != "HEAD"}

    assert set(undocumented.values()) <= NOT_YET_CONVERTED
    assert routed == documented
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
