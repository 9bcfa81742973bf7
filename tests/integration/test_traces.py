"""One trace per inbound event, from the provider's request to the webhook POST and the email send.

The spans are collected in memory and checked as a tree: every span of the event's work has
its parent in the same trace, and each hop (request, store writes, processing, delivery,
HTTP call, email) hangs where it belongs. A hop that loses the context starts a trace of
its own, or hangs from the wrong span, and fails the test.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from integrations.providers.stripe.samples import subscription_event
from tests.integration.conftest import Service
from tests.integration.test_pipeline import connect, post_event
from tests.support.receiver import running_receiver

REQUEST = "POST /webhooks/{provider}"
WORK = ("process inbound event", "deliver webhook", "deliver email", "POST webhook", "send email")


def _one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    parents = [s for s in spans if s.context.span_id == span.parent.span_id]
    assert len(parents) == 1, f"the parent of {span.name} is not in the trace"
    return parents[0]


def _ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None:
        span = _parent_of(span, spans)
        names.append(span.name)
    return names


async def test_every_hop_of_an_event_is_one_tree_in_one_trace(service: Service) -> None:
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        # An expanded customer carries an address: the cancellation is mailed to the customer too.
        customer = {"id": "cus_trace", "object": "customer", "email": "ada@example.com"}
        now = int(time.time())
        created = subscription_event("customer.subscription.created", customer=customer, created=now - 60)
        assert await post_event(service, connection_id, created) == (200, '{"status":"accepted"}')
        await service.run_worker()
        await receiver.wait_for(1)
        service.spans.clear()
        deleted = subscription_event(
            "customer.subscription.deleted",
            customer=customer,
            status="canceled",
            canceled_at=now,
            created=now,
        )
        assert await post_event(service, connection_id, deleted) == (200, '{"status":"accepted"}')
        await service.run_worker()
        await receiver.wait_for(2)

    finished = service.spans.get_finished_spans()
    request = _one(finished, REQUEST)
    spans = [s for s in finished if s.context.trace_id == request.context.trace_id]
    # No hop started a trace of its own: all the event's work is in the request's trace.
    assert [s.name for s in finished if s.name in WORK and s not in spans] == []
    assert [s.name for s in spans if s.parent is None] == [REQUEST]
    for span in spans:
        if span is not request:
            _parent_of(span, spans)  # asserts that the parent is in the trace

    insert = _one(spans, "store InboundExternal.receive")
    assert insert.kind == SpanKind.CLIENT
    assert _parent_of(insert, spans) is request
    process = _one(spans, "process inbound event")
    assert _parent_of(process, spans) is request
    assert _parent_of(_one(spans, "record inbound outcome"), spans) is request
    # The processing transaction, under the job: the messages it wrote carry its context on.
    applied = [s for s in spans if s.name.startswith("store ") and _parent_of(s, spans) is process]
    assert len(applied) >= 1

    webhook = _one(spans, "deliver webhook")
    assert _parent_of(_one(spans, "POST webhook"), spans) is webhook
    email = _one(spans, "deliver email")
    send = _one(spans, "send email")
    assert send.kind == SpanKind.CLIENT
    assert _parent_of(send, spans) is email
    for job in (webhook, email):
        assert _parent_of(job, spans) in applied
        assert _ancestors(job, spans)[-2:] == ["process inbound event", REQUEST]
    records = [s for s in spans if s.name == "record delivery attempt"]
    assert len(records) == 2
    assert all(_parent_of(r, spans) in applied for r in records)
