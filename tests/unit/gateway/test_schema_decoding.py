"""Bodies and queries decoded by their Structs: refusals name the field and say what it must be."""

from __future__ import annotations

import pytest

from domain.notifications.model import DeliveryStatus
from domain.shared.errors import ValidationFailed
from gateway.decoding import decode_body, decode_query
from gateway.errors import ApiError
from gateway.schemas.connections import ConnectionCreate, ConnectionUpdate
from gateway.schemas.dead_letters import BulkReplayRequest
from gateway.schemas.deliveries import DeliveryQuery
from gateway.schemas.endpoints import EndpointCreate


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"webhook_secrets": ["whsec_12345"]}', "provider: is required"),
        (
            b'{"provider": 7, "webhook_secrets": ["whsec_12345"]}',
            "provider: must be one of stripe, polar, paddle",
        ),
        (
            b'{"provider": "paypal", "webhook_secrets": ["whsec_12345"]}',
            "provider: must be one of stripe, polar, paddle",
        ),
        (b'{"provider": "stripe", "webhook_secrets": "whsec_12345"}', "webhook_secrets: must be an array"),
        (b'{"provider": "stripe", "webhook_secrets": []}', "webhook_secrets: must have at least 1 items"),
        (
            b'{"provider": "stripe", "webhook_secrets": ["short"]}',
            "webhook_secrets[0]: must be at least 8 characters long",
        ),
        (
            b'{"provider": "stripe", "webhook_secrets": ["whsec_12345", 5]}',
            "webhook_secrets[1]: must be a string",
        ),
        (
            b'{"provider": "stripe", "webhook_secrets": ["whsec_12345"], "api_key": 42}',
            "api_key: must be a string or null",
        ),
        (b"[1, 2]", "body: must be an object"),
        (b'"stripe"', "body: must be an object"),
    ],
)
def test_a_wrong_body_names_the_field_and_what_it_must_be(raw: bytes, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        decode_body(raw, ConnectionCreate)

    assert refused.value.message == message


def test_an_unknown_enum_value_in_a_list_lists_the_known_ones() -> None:
    with pytest.raises(ValidationFailed) as refused:
        decode_body(b'{"url": "https://a.example.com", "event_types": ["nope"]}', EndpointCreate)

    assert refused.value.field == "event_types[0]"
    assert "payment.failed" in refused.value.message
    assert "subscription.canceled" in refused.value.message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"since": "2025-01-01T00:00:00"}', "since: must carry a time zone (Z for UTC)"),
        (b'{"since": "yesterday"}', "since: must be an ISO 8601 time such as 2025-06-01T00:00:00Z"),
        (b'{"since": 5}', "since: must be an ISO 8601 time or null"),
        (b'{"kind": "sms"}', "kind: must be one of webhook, email"),
    ],
)
def test_times_and_kinds_in_a_body(raw: bytes, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        decode_body(raw, BulkReplayRequest)

    assert refused.value.message == message


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b"\xff", b'{"a": NaN}'])
def test_a_body_that_is_not_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        decode_body(raw, ConnectionCreate)

    assert (refused.value.status_code, refused.value.error_type) == (400, "invalid_request")


def test_unknown_fields_are_ignored_and_absent_ones_stay_unset() -> None:
    update = decode_body(b'{"api_key": null, "colour": "blue"}', ConnectionUpdate)

    assert update.api_key is None
    assert update == ConnectionUpdate(api_key=None)  # webhook_secrets not given, not "empty"


def test_an_optional_body_may_be_empty() -> None:
    assert decode_body(b"  ", BulkReplayRequest, required=False) == BulkReplayRequest()
    with pytest.raises(ApiError):
        decode_body(b"", BulkReplayRequest)


def test_a_query_converts_its_values_and_treats_empty_ones_as_not_given() -> None:
    query = decode_query(
        {"limit": "5", "status": "dead", "endpoint_id": "", "starting_after": "dlv_1", "other": "x"},
        DeliveryQuery,
    )

    assert query == DeliveryQuery(limit=5, status=DeliveryStatus.DEAD, starting_after="dlv_1")
    assert decode_query({}, DeliveryQuery).limit == 20


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "5.0"}, "limit: must be an integer"),
        ({"limit": "+5"}, "limit: must be an integer"),
        ({"limit": "1e2"}, "limit: must be an integer"),
        ({"limit": "0"}, "limit: must be at least 1"),
        ({"limit": "101"}, "limit: must be at most 100"),
        ({"status": "lost"}, "status: must be one of pending, failed, succeeded, dead, canceled"),
        ({"endpoint_id": "e" * 256}, "endpoint_id: must be at most 255 characters long"),
    ],
)
def test_a_wrong_query_value_names_the_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        decode_query(params, DeliveryQuery)

    assert refused.value.message == message
