"""The batches of a purge: each removes at most `limit` items of one kind, through an index.

Payloads: an inbound event's `body`, an outbox message's `data` (the body of its webhooks and
emails), and a delivery's own content (its attempts' answer excerpts, which hold an email's
text, and an email's recipient). What stays is the metadata: ids, types, statuses, attempts
(their times, status codes, durations and errors) and every time. Each emptied document gets
`payload_expired_at`, which takes it out of its payload index and makes a replay or reprocess
refuse it (409 `payload_expired`).

Records: settled ones only, never work still due or leased. An inbound event ends `applied`,
`ignored` or `failed`; an outbox message is dispatched and every delivery of it is settled
(`succeeded`, `dead`, `canceled`), and it goes with them, their dead letters and the index of
emails (`customer_emails`); an idempotency record has expired; a processed input's key is old;
a worker has retired. Subscriptions, customers, plans, endpoints, connections and merchants
are never removed.

A message (payload or record) whose delivery is still waiting is passed over: it is done in a
later batch, once that delivery settles. Each batch runs in one store session and re-checks its
condition as it writes (one conditional statement, or a compare-and-set on the version), so a
concurrent change wins over the purge.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from integrations.stores import idempotency
from integrations.stores.codecs import iso
from integrations.stores.documents import Document, DocumentSession, In, Lte, VersionMismatch

INBOUND_PAYLOADS: Final = "inbound_payloads"
OUTBOX_PAYLOADS: Final = "outbox_payloads"
DELIVERY_PAYLOADS: Final = "delivery_payloads"
INBOUND_EVENTS: Final = "inbound_events"
OUTBOX_MESSAGES: Final = "outbox_messages"
DELIVERIES: Final = "deliveries"
DEAD_LETTERS: Final = "dead_letters"
IDEMPOTENCY_KEYS: Final = "idempotency_keys"
PROCESSED_INPUTS: Final = "processed_inputs"
WORKERS: Final = "workers"
# Every kind, in the order they are reported.
KINDS: Final = (
    INBOUND_PAYLOADS,
    OUTBOX_PAYLOADS,
    DELIVERY_PAYLOADS,
    INBOUND_EVENTS,
    OUTBOX_MESSAGES,
    DELIVERIES,
    DEAD_LETTERS,
    IDEMPOTENCY_KEYS,
    PROCESSED_INPUTS,
    WORKERS,
)

INBOUND_COLLECTION: Final = "inbound_events"
OUTBOX_COLLECTION: Final = "outbox"
DELIVERY_COLLECTION: Final = "deliveries"
DEAD_LETTER_COLLECTION: Final = "dead_letters"
CUSTOMER_EMAILS_COLLECTION: Final = "customer_emails"
PROCESSED_COLLECTION: Final = "processed_inputs"
WORKER_COLLECTION: Final = "workers"

SETTLED_EVENTS: Final = ("applied", "ignored", "failed")
OPEN_DELIVERIES: Final = ("pending", "failed")
SETTLED_DELIVERIES: Final = ("succeeded", "dead", "canceled")
EXPIRED: Final = "payload_expired_at"
# Far more than the deliveries of one message (one per endpoint of the merchant, and an email).
_DELIVERIES_PER_MESSAGE: Final = 10_000
_REDACTED: Final = "[redacted]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cutoffs:
    """Payloads older than `payloads`, and settled records older than `records`, go; `now`
    dates the removals (and bounds the idempotency records: only expired ones go)."""

    now: datetime
    payloads: datetime
    records: datetime


@dataclass(slots=True)
class Tally:
    """How many items of each kind a batch (or a purge) removed, or would remove."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] += count

    def merge(self, other: Tally) -> None:
        for kind, count in other.counts.items():
            self.counts[kind] += count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """What one batch did: `tally`, and whether it found as many candidates as it could take
    and removed some (so another batch may find more)."""

    tally: Tally
    more: bool


Step = Callable[[DocumentSession, Cutoffs, int], Awaitable[Batch]]


def _batch(tally: Tally, candidates: int, removed: int, limit: int) -> Batch:
    return Batch(tally=tally, more=candidates >= limit and removed > 0)


async def inbound_records(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """Settled inbound events received before the records cutoff (index `inbound_events_status`)."""
    removed = 0
    for status in SETTLED_EVENTS:
        removed += await session.delete_where(
            INBOUND_COLLECTION,
            {"status": status, "received_at": Lte(iso(cutoffs.records))},
            order_by="received_at",
            limit=limit - removed,
        )
        if removed >= limit:
            break
    tally = Tally()
    tally.add(INBOUND_EVENTS, removed)
    return _batch(tally, removed, removed, limit)


async def inbound_payloads(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """The bodies of settled inbound events received before the payloads cutoff, emptied in one
    statement (index `inbound_events_payload`)."""
    emptied = await session.claim(
        INBOUND_COLLECTION,
        {EXPIRED: None, "received_at": Lte(iso(cutoffs.payloads)), "status": In(SETTLED_EVENTS)},
        order_by="received_at",
        limit=limit,
        assign={"body": "", EXPIRED: iso(cutoffs.now)},
    )
    tally = Tally()
    tally.add(INBOUND_PAYLOADS, len(emptied))
    return _batch(tally, len(emptied), len(emptied), limit)


async def outbox_records(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """Dispatched messages made before the records cutoff, with their settled deliveries, the
    deliveries' dead letters and email index entries (index `outbox_age`)."""
    # `dispatched` is checked on each message, not in the query: there, SQLite would prefer the
    # index that leads with it (`outbox_pending`) and sort every dispatched message.
    messages = await session.find(
        OUTBOX_COLLECTION, {"occurred_at": Lte(iso(cutoffs.records))}, limit=limit, order_by="occurred_at"
    )
    tally = Tally()
    for message in messages:
        if not message.get("dispatched"):
            continue  # not fanned out yet
        deliveries = await deliveries_of(session, message["id"])
        if not settled(deliveries):
            continue  # one still waits: the message stays until it settles
        if not await _remove_deliveries(session, deliveries, tally):
            break  # one changed meanwhile: left to a later batch
        mine = {"id": message["id"], "dispatched": message["dispatched"]}
        tally.add(OUTBOX_MESSAGES, await session.delete_where(OUTBOX_COLLECTION, mine, limit=1))
    return _batch(tally, len(messages), tally.counts[OUTBOX_MESSAGES], limit)


async def _remove_deliveries(session: DocumentSession, deliveries: list[Document], tally: Tally) -> bool:
    for delivery in deliveries:
        delivery_id = delivery["id"]
        removed = await session.delete_where(
            DELIVERY_COLLECTION, {"id": delivery_id, "status": In(SETTLED_DELIVERIES)}, limit=1
        )
        if not removed:
            return False
        tally.add(DELIVERIES)
        tally.add(
            DEAD_LETTERS,
            await session.delete_where(
                DEAD_LETTER_COLLECTION, {"delivery_id": delivery_id}, limit=_DELIVERIES_PER_MESSAGE
            ),
        )
        await session.delete_where(CUSTOMER_EMAILS_COLLECTION, {"id": delivery_id}, limit=1)
    return True


async def outbox_payloads(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """The bodies of dispatched messages made before the payloads cutoff and of their settled
    deliveries (index `outbox_payload`)."""
    messages = await session.find(
        OUTBOX_COLLECTION,
        {EXPIRED: None, "occurred_at": Lte(iso(cutoffs.payloads))},
        limit=limit,
        order_by="occurred_at",
    )
    tally = Tally()
    now = iso(cutoffs.now)
    try:
        for message in messages:
            await _empty_message(session, message, now, tally)
    except VersionMismatch:
        pass  # changed meanwhile: what is left is done by a later batch
    return _batch(tally, len(messages), tally.counts[OUTBOX_PAYLOADS], limit)


async def _empty_message(session: DocumentSession, message: Document, now: str, tally: Tally) -> None:
    if not message.get("dispatched"):
        return  # not fanned out yet: its body is still needed
    deliveries = await deliveries_of(session, message["id"])
    if not settled(deliveries):
        return
    for delivery in deliveries:
        if delivery.get(EXPIRED) is None and await _replace(
            session, DELIVERY_COLLECTION, without_payload(delivery, now)
        ):
            tally.add(DELIVERY_PAYLOADS)
    if await _replace(session, OUTBOX_COLLECTION, {**message, "data": {}, EXPIRED: now}):
        tally.add(OUTBOX_PAYLOADS)


async def _replace(session: DocumentSession, collection: str, doc: Document) -> bool:
    """Compare-and-set on the stored version; False for a document whose version cannot be read
    (left as it is; reading it fails elsewhere too, where it is reported)."""
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        return False
    await session.replace(collection, {**doc, "version": version + 1}, version)
    return True


async def deliveries_of(session: DocumentSession, message_id: str) -> list[Document]:
    """Every delivery of a message (index `deliveries_message_endpoint`)."""
    return await session.find(DELIVERY_COLLECTION, {"message_id": message_id}, limit=_DELIVERIES_PER_MESSAGE)


def without_payload(delivery: Document, now: str) -> Document:
    """A delivery's document without its content: the answers' excerpts (an email's text) and, for
    an email, the recipient wherever it appears (its lane and errors name the address)."""
    recipient = delivery.get("recipient")
    attempts = [
        {**attempt, "response_excerpt": None, "error": scrubbed(attempt.get("error"), recipient)}
        for attempt in delivery.get("attempts") or ()
        if isinstance(attempt, dict)
    ]
    emptied = {**delivery, "attempts": attempts, EXPIRED: now}
    if recipient is not None:
        emptied |= {"recipient": None, "lane": None}
    return emptied


def scrubbed(text: Any, address: Any) -> Any:
    """`text` with every spelling of `address` (any letter case) replaced."""
    if not isinstance(text, str) or not isinstance(address, str) or not address:
        return text
    return re.sub(re.escape(address), _REDACTED, text, flags=re.IGNORECASE)


async def idempotency_keys(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """Expired idempotency records (their answers are payloads too), by expiry time."""
    # Never one still replayed: the later cutoff, but not beyond now.
    upto = min(cutoffs.now, max(cutoffs.payloads, cutoffs.records))
    return await _removal(
        session, IDEMPOTENCY_KEYS, idempotency.COLLECTION, {"expires_at": Lte(iso(upto))}, "expires_at", limit
    )


async def processed_inputs(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """Keys of inputs processed before the records cutoff (keys stored before they were dated
    stay)."""
    where = {"created_at": Lte(iso(cutoffs.records))}
    return await _removal(session, PROCESSED_INPUTS, PROCESSED_COLLECTION, where, "created_at", limit)


async def workers(session: DocumentSession, cutoffs: Cutoffs, limit: int) -> Batch:
    """Retired workers' heartbeat documents, last heard of before the records cutoff."""
    where = {"alive": False, "heartbeat_at": Lte(iso(cutoffs.records))}
    return await _removal(session, WORKERS, WORKER_COLLECTION, where, "heartbeat_at", limit)


async def _removal(
    session: DocumentSession, kind: str, collection: str, where: dict[str, Any], order_by: str, limit: int
) -> Batch:
    removed = await session.delete_where(collection, where, order_by=order_by, limit=limit)
    tally = Tally()
    tally.add(kind, removed)
    return _batch(tally, removed, removed, limit)


# Records first: what they remove needs no payload removal afterwards.
STEPS: Final[tuple[Step, ...]] = (
    inbound_records,
    outbox_records,
    idempotency_keys,
    processed_inputs,
    workers,
    inbound_payloads,
    outbox_payloads,
)


def settled(deliveries: Iterable[Document]) -> bool:
    return all(d.get("status") in SETTLED_DELIVERIES for d in deliveries)
