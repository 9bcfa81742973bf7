"""What a store written before retention and erasure needs once, for them to reach its old data.

Migration step 2 runs both (`retention_backfill`); each is idempotent, in batches, and safe
beside a running service:

* `date_processed_inputs`: processed inputs' keys stored without `created_at` get one (the
  migration's time), so that retention removes them once that is old enough; undated keys
  would stay forever.
* `index_customer_emails`: email deliveries made before emails were indexed by customer get
  their `customer_id` (from their message's `data.subscription.customer_id`) and an entry in
  `customer_emails`, so that an erasure finds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from integrations.stores.codecs import iso
from integrations.stores.documents import Document, DocumentSession, DocumentStore, VersionMismatch
from integrations.stores.retention.batches import (
    CUSTOMER_EMAILS_COLLECTION,
    DELIVERY_COLLECTION,
    OUTBOX_COLLECTION,
    PROCESSED_COLLECTION,
)

BATCH: Final = 500


async def retention_backfill(store: DocumentStore, now: datetime) -> int:
    """Both backfills, as one migration step's rewrite; how many documents they changed."""
    return await date_processed_inputs(store, now) + await index_customer_emails(store)


async def date_processed_inputs(store: DocumentStore, now: datetime, batch: int = BATCH) -> int:
    """Give every undated processed input's key `now`; how many were dated."""
    dated = 0
    while True:
        async with store.session() as session:
            taken = await session.claim(
                PROCESSED_COLLECTION,
                {"created_at": None},
                order_by="id",
                limit=batch,
                assign={"created_at": iso(now)},
            )
        dated += len(taken)
        if len(taken) < batch:
            return dated


async def index_customer_emails(store: DocumentStore, batch: int = BATCH) -> int:
    """Index each older email delivery by its customer; how many were indexed. Reads every
    email delivery once (by id, in pages); a page a concurrent write changed is read again."""
    indexed = 0
    after: str | None = None
    while True:
        try:
            async with store.session() as session:
                emails = await session.find(
                    DELIVERY_COLLECTION, {"channel": "email"}, limit=batch, after_id=after
                )
                for delivery in emails:
                    indexed += await _index(session, delivery)
        except VersionMismatch:
            continue  # a worker recorded an attempt meanwhile: this page again
        if len(emails) < batch:
            return indexed
        after = str(emails[-1]["id"])


async def _index(session: DocumentSession, delivery: Document) -> int:
    customer_id = (
        None
        if delivery.get("customer_id") is not None
        else _customer_of(await session.get(OUTBOX_COLLECTION, str(delivery.get("message_id"))))
    )
    version = delivery.get("version")
    if customer_id is None or not isinstance(version, int):
        return 0
    await session.replace(
        DELIVERY_COLLECTION, {**delivery, "customer_id": customer_id, "version": version + 1}, version
    )
    if await session.get(CUSTOMER_EMAILS_COLLECTION, delivery["id"]) is None:
        entry = {
            "id": delivery["id"],
            "version": 0,
            "merchant_id": delivery.get("merchant_id"),
            "customer_id": customer_id,
            "created_at": delivery.get("created_at"),
        }
        await session.insert(CUSTOMER_EMAILS_COLLECTION, entry)
    return 1


def _customer_of(message: Mapping[str, object] | None) -> str | None:
    data = None if message is None else message.get("data")
    subscription = data.get("subscription") if isinstance(data, Mapping) else None
    customer_id = subscription.get("customer_id") if isinstance(subscription, Mapping) else None
    return customer_id if isinstance(customer_id, str) and customer_id else None
