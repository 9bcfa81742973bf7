"""Reading stored documents back: short years of earlier releases, unreadable documents, lenient reads.

Earlier releases wrote years below 1000 unpadded (`999-12-31T...`); such documents still read, as
the same values. A document that does not make a value is an `UnreadableDocument` saying where;
a lenient read (`DocumentCodec.read`) makes what it can of it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.inbound.model import InboundEvent, InboundStatus
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from integrations.stores import codecs
from integrations.stores.documents import UnreadableDocument
from tests.unit.integrations.stores.test_store_codecs import CODECS, VALUES

FIXED_WIDTH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def with_years(doc: Any, year: str) -> Any:
    """`doc` with the year of every stored time replaced by `year` (any width)."""
    if isinstance(doc, dict):
        return {key: with_years(value, year) for key, value in doc.items()}
    if isinstance(doc, list):
        return [with_years(value, year) for value in doc]
    if isinstance(doc, str) and FIXED_WIDTH_TIME.match(doc):
        return year + doc[4:]
    return doc


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("short", ["999", "50", "7"])
def test_a_document_with_short_years_reads_as_its_padded_form(value: Any, short: str) -> None:
    to_doc, from_doc = CODECS[type(value)]
    padded = with_years(to_doc(value), short.zfill(4))
    legacy = with_years(to_doc(value), short)

    read = from_doc(legacy)

    assert read == from_doc(padded)
    assert to_doc(read) == padded  # written back in today's form
    assert codecs.DocumentCodec(type(value)).read(legacy).value == read


def test_the_repair_touches_times_only_never_the_values_a_message_carries() -> None:
    legacy_looking = "999-12-31T00:00:00.000000Z"
    message = OutboxMessage(
        id="msg_1",
        merchant_id="mer_1",
        event_type=EventType.SUBSCRIPTION_UPDATED,
        subject_id="sub_1",
        occurred_at=datetime(999, 12, 31, tzinfo=UTC),
        data={"note": legacy_looking, "nested": [legacy_looking]},
    )
    doc = codecs.outbox_doc(message) | {"occurred_at": legacy_looking}

    assert codecs.outbox_from(doc) == message


def inbound_doc(**changes: Any) -> dict[str, Any]:
    event = InboundEvent(
        id="evt_1",
        merchant_id="mer_1",
        connection_id="conn_1",
        provider="stripe",
        provider_event_id="evt_S",
        type="invoice.paid",
        status=InboundStatus.ACCEPTED,
        source_ip=None,
        received_at=datetime(2025, 6, 1, tzinfo=UTC),
        body=b"{}",
        provider_created_at=datetime(2025, 6, 1, tzinfo=UTC),
        attempts=3,
    )
    return codecs.inbound_doc(event) | changes


def test_a_document_that_makes_no_value_is_unreadable_and_says_where() -> None:
    with pytest.raises(UnreadableDocument) as raised:
        codecs.inbound_from(inbound_doc(provider_created_at="0000-01-01T00:00:00.000000Z"))

    assert raised.value.doc_id == "evt_1"
    assert "provider_created_at" in raised.value.reason
    assert "InboundEvent 'evt_1'" in str(raised.value)


def test_a_lenient_read_leaves_each_unreadable_field_at_its_default_or_none() -> None:
    doc = inbound_doc(provider_created_at="13th of never", attempts="three", trace_carrier=[1])

    readout = codecs.INBOUND.read(doc)

    assert readout.unreadable == ("provider_created_at", "attempts", "trace_carrier")
    assert readout.value == replace(codecs.inbound_from(inbound_doc()), provider_created_at=None, attempts=0)


@pytest.mark.parametrize(
    "broken",
    [{"id": 17}, {"received_at": "yesterday"}, {"status": "exploded"}, {"body": "not base64!"}],
    ids=["id", "received_at", "status", "body"],
)
def test_a_lenient_read_makes_no_value_when_a_field_without_fallback_is_unreadable(
    broken: dict[str, Any],
) -> None:
    readout = codecs.INBOUND.read(inbound_doc(**broken))

    assert readout.value is None
    assert readout.unreadable == tuple(broken)


def test_a_lenient_read_of_a_readable_document_is_the_strict_read() -> None:
    doc = inbound_doc()

    assert codecs.INBOUND.read(doc) == codecs.Readout(codecs.inbound_from(doc), ())
