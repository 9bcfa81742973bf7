"""Stored documents that cannot be read back: no one of them stops a worker or a listing.

Work queues (inbound events, deliveries, outbox messages, due subscriptions) read what they
take one document at a time. One that cannot be read (`UnreadableDocument`) is taken out of its
queue by a raw update that needs no reading, and the rest of the batch goes on:

    queue           the unreadable document becomes
    inbound         `failed`, its reason saying why (reprocess it once it can be read)
    deliveries      `dead`, with a dead letter giving the reason (replay it once it can be read)
    outbox          set aside (`dispatched`, with a `failure`): no delivery is made of it
    subscriptions   out of the scheduler's two indexes (`next_transition_at`, `past_due_since`
                    cleared: the next write of the subscription stamps them again)

Each one is reported (logged, and counted by the composition root's report) once the unit of
work that set it aside has committed, so a rolled-back claim reports nothing.

Readers render what they can (`DocumentCodec.read`): a field that cannot be read is left at its
default, or None, and logged; a document of which no value can be made is left out of a
listing (logged), and is an `UnreadableDocument` for a look-up by id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from integrations.stores.codecs import Readout
from integrations.stores.documents import Document, UnreadableDocument

# The standard library's logging: the admin commands load the store without the server's
# logging packages.
log = logging.getLogger("subgate.storage")

T = TypeVar("T")

# The queues, named as the worker's metrics name them.
INBOUND: Final = "inbound"
OUTBOX: Final = "outbox"
DELIVERIES: Final = "deliveries"
SUBSCRIPTIONS: Final = "subscriptions"


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    """A work item taken out of its queue because it cannot be read."""

    queue: str
    item_id: str
    reason: str


Report = Callable[[Unreadable], None]


def log_unreadable(item: Unreadable) -> None:
    """The report when none is given: one log line per item (never silence)."""
    log.error(event_line("work_item_unreadable", queue=item.queue, item_id=item.item_id, reason=item.reason))


@dataclass(slots=True)
class SetAside:
    """The unreadable items one unit of work took out of their queues, reported after its commit."""

    items: list[Unreadable] = field(default_factory=list)


async def work_items(
    docs: Sequence[Document],
    decode: Callable[[Document], T],
    take_out: Callable[[Document, str], Awaitable[None]],
    *,
    queue: str,
    set_aside: SetAside,
) -> list[T]:
    """The documents a worker took, read one by one; each unreadable one is taken out of its queue
    (`take_out(doc, reason)`, a raw update), set aside for the report, and left out."""
    values = []
    for doc in docs:
        try:
            values.append(decode(doc))
        except UnreadableDocument as error:
            await take_out(doc, error.reason)
            set_aside.items.append(Unreadable(queue=queue, item_id=str(doc.get("id")), reason=error.reason))
    return values


def rendered(collection: str, doc: Document, readout: Readout[T]) -> T | None:
    """A lenient read's value, its unreadable fields logged (see the module docstring)."""
    if readout.unreadable:
        line = event_line(
            "stored_document_unreadable",
            collection=collection,
            document_id=str(doc.get("id")),
            fields=list(readout.unreadable),
            left_out=readout.value is None,
        )
        log.warning(line)
    return readout.value


def event_line(event: str, **fields: object) -> str:
    """An event name and its fields on one line, as the structured logs write them."""
    return " ".join([event, *(f"{key}={value!r}" for key, value in fields.items())])
