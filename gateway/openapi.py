"""`GET /openapi.json`: the OpenAPI 3.1 document, generated from the routed operations.

Schemas come from the same msgspec Structs that validate requests and encode answers
(msgspec emits JSON Schema 2020-12, which OpenAPI 3.1 embeds as it is). Built once, on
the first request, and served as the same bytes afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from gateway.routing import JSON, Answer, Operation, RouteTable, Security
from gateway.schemas.common import ErrorBody
from gateway.schemas.notifications import NOTIFICATION_TYPES

PATH: Final = "/openapi.json"
_SCHEMAS: Final = "#/components/schemas/"
_ERRORS: Final[Mapping[int, tuple[str, str]]] = {
    400: (
        "BadRequest",
        "Malformed: the body is not JSON, or a header (Content-Length, Idempotency-Key) is bad.",
    ),
    401: ("Unauthenticated", "No valid credentials."),
    402: (
        "PaymentDeclined",
        "The payment provider declined the payment the request needs (`payment_declined`); nothing was "
        "stored here.",
    ),
    403: ("Forbidden", "Not served to this client."),
    404: ("NotFound", "No such route or object (another merchant's id answers this too)."),
    409: (
        "Conflict",
        "Not possible in the current state, a concurrent change won, or the Idempotency-Key was used for "
        "another request (`idempotency_key_reused`) or is still in use (`idempotency_key_in_use`).",
    ),
    413: ("PayloadTooLarge", "The body is larger than SUBGATE_MAX_BODY_BYTES."),
    415: ("UnsupportedMediaType", "The body is not JSON."),
    422: ("ValidationFailed", "Well-formed but invalid; the message names the field."),
    429: ("RateLimited", "Over this API key's rate limit."),
    502: (
        "ProviderUnavailable",
        "The payment provider failed or did not answer in time (`provider_unavailable`); nothing was stored "
        "here. Retrying with the same Idempotency-Key asks the provider again under the same key.",
    ),
    503: ("ServiceUnavailable", "The store is unreachable; nothing was done, retry later."),
}
_RETRY_AFTER: Final = {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
_ERROR_HEADERS: Final[Mapping[int, Mapping[str, Any]]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    409: {"Retry-After": _RETRY_AFTER},
    429: {"Retry-After": _RETRY_AFTER},
}
_SECURITY_SCHEMES: Final = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "A merchant's API key (`sg_...`)."},
    "metricsToken": {"type": "http", "scheme": "bearer", "description": "SUBGATE_METRICS_TOKEN, when set."},
}
_SECURITY: Final[Mapping[Security, list[dict[str, list[str]]]]] = {
    Security.NONE: [],
    Security.API_KEY: [{"apiKey": []}],
    # Without a token set, loopback clients need no credentials.
    Security.METRICS_TOKEN: [{}, {"metricsToken": []}],
}


def openapi_operation(table: RouteTable) -> Operation:
    """The document's own route; it describes every operation of `table`, itself included."""
    rendered: list[bytes] = []

    async def openapi(_: Request) -> Response:
        if not rendered:
            rendered.append(msgspec.json.encode(document(table.operations)))
        return Response(rendered[0], media_type=JSON)

    return Operation(
        method="GET",
        path=PATH,
        endpoint=openapi,
        operation_id="openapi",
        summary="This document",
        tag="meta",
        answers=(Answer(status=200, schema=dict[str, Any], description="OpenAPI 3.1."),),
    )


def document(operations: Sequence[Operation]) -> dict[str, Any]:
    types = _schema_types(operations)
    types += [kind.body for kind in NOTIFICATION_TYPES.values()]
    refs, components = msgspec.json.schema_components(types, ref_template=_SCHEMAS + "{name}")
    schema_of = dict(zip(types, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, schema_of, components
        )
    for query in {op.query for op in operations if op.query is not None}:
        # Spread into parameters above; nothing refers to the query Struct itself.
        components.pop(_component_name(schema_of[query]), None)
    statuses = sorted({status for op in operations for status in op.errors})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "subgate",
            "version": _version(),
            "description": "Webhook integration between payment providers and subscription businesses.",
        },
        "paths": paths,
        "webhooks": _webhooks(schema_of),
        "components": {
            "schemas": components,
            "responses": {_ERRORS[status][0]: _error_response(status) for status in statuses},
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def _webhooks(schema_of: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    """What subgate POSTs to merchants' endpoints: one entry per notification type."""
    return {
        kind.event_type.value: {
            "post": {
                "operationId": "notification_" + kind.event_type.value.replace(".", "_"),
                "summary": kind.description,
                "tags": ["notifications"],
                "requestBody": {"required": True, "content": {JSON: {"schema": schema_of[kind.body]}}},
                "responses": {"2XX": {"description": "Received: any 2xx answer ends the retries."}},
            }
        }
        for kind in NOTIFICATION_TYPES.values()
    }


def _schema_types(operations: Sequence[Operation]) -> list[Any]:
    found: dict[Any, None] = {ErrorBody: None}
    for op in operations:
        for schema in (op.body, op.query, *(answer.schema for answer in op.answers)):
            if schema is not None:
                found[schema] = None
    return list(found)


def _operation(
    op: Operation, schema_of: Mapping[Any, dict[str, Any]], components: Mapping[str, Any]
) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in op.path_params
    ]
    if op.query is not None:
        parameters += _query_parameters(components[_component_name(schema_of[op.query])])
    parameters += [
        {"name": h.name, "in": "header", "required": False, "description": h.description, "schema": h.schema}
        for h in op.headers
    ]
    described: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": _SECURITY[op.security],
        "responses": {
            **{str(a.status): _answer(a, schema_of) for a in op.answers},
            **{
                str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
                for status in sorted(op.errors)
            },
        },
    }
    if op.description:
        described["description"] = op.description
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        described["requestBody"] = {
            "required": op.body_required,
            "content": {JSON: {"schema": schema_of[op.body]}},
        }
    return described


def _query_parameters(component: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(component.get("required", ()))
    parameters = []
    for name, schema in component["properties"].items():
        described = dict(schema)
        # An empty value (`?status=`) means "not given", as if the parameter were left out.
        parameter = {
            "name": name,
            "in": "query",
            "required": name in required,
            "allowEmptyValue": True,
            "schema": described,
        }
        if "description" in described:
            parameter["description"] = described.pop("description")
        parameters.append(parameter)
    return parameters


def _answer(answer: Answer, schema_of: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    return {
        "description": answer.description,
        "content": {answer.media_type: {"schema": schema_of[answer.schema]}},
    }


def _error_response(status: int) -> dict[str, Any]:
    described: dict[str, Any] = {
        "description": _ERRORS[status][1],
        "content": {JSON: {"schema": {"$ref": _SCHEMAS + "ErrorBody"}}},
    }
    if status in _ERROR_HEADERS:
        described["headers"] = _ERROR_HEADERS[status]
    return described


def _component_name(ref: Mapping[str, Any]) -> str:
    return str(ref["$ref"]).removeprefix(_SCHEMAS)


def _version() -> str:
    try:
        return metadata.version("subgate")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0"
