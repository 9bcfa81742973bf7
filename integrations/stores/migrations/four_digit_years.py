"""Step 1: stored times with a year below 1000 rewritten with four digits.

Releases before years were padded wrote `999-12-31T...`; such a time sorts after every
four-digit year in an index (`9` > `2`), so a due time written that way never came due.
Reads repair them (`codecs.padded_year`), but the indexes and range filters compare the
stored text: this step rewrites it. A document's time fields are the ones its codec knows
(nested ones included); the fields kept beside the domain values (`deleted_at`,
`heartbeat_at`, `locked_until`, ...) are the top-level ones whose name says they hold a time.
Nothing else is touched, so text a merchant sent that merely looks like a time stays as it is.

Each changed document is replaced by compare-and-set on its version; one changed meanwhile
by a running process is read again. Idempotent: a second run finds nothing to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from integrations.stores import codecs
from integrations.stores.documents import Document, DocumentStore, VersionMismatch
from integrations.stores.schema import COLLECTIONS

# The codec that knows each collection's time fields (the names are the repositories').
_CODECS: Final[Mapping[str, codecs.DocumentCodec[Any]]] = {
    "merchants": codecs.MERCHANTS,
    "connections": codecs.CONNECTIONS,
    "customers": codecs.CUSTOMERS,
    "plans": codecs.PLANS,
    "subscriptions": codecs.SUBSCRIPTIONS,
    "outbox": codecs.OUTBOX,
    "inbound_events": codecs.INBOUND,
    "endpoints": codecs.ENDPOINTS,
    "deliveries": codecs.DELIVERIES,
    "dead_letters": codecs.DEAD_LETTERS,
}
_TIME_SUFFIXES: Final = ("_at", "_until", "_since")
# A whole stored time whose year has one to three digits.
_SHORT_TIME: Final = re.compile(r"\d{1,3}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
# Cheap test on a document's JSON before the field-by-field repair: a string opening like one.
_MAYBE: Final = re.compile(rb'"\d{1,3}-\d\d-\d\dT')
_PAGE: Final = 200
_ATTEMPTS: Final = 5


def repaired(collection: str, doc: Document) -> Document | None:
    """`doc` with its short years padded, or None when it has none."""
    if _MAYBE.search(orjson.dumps(doc)) is None:
        return None
    codec = _CODECS.get(collection)
    fixed = codec.repaired(doc) if codec is not None else dict(doc)
    for name, value in fixed.items():
        if name.endswith(_TIME_SUFFIXES) and isinstance(value, str) and _SHORT_TIME.fullmatch(value):
            fixed[name] = codecs.padded_year(value)
    return None if fixed == doc else fixed


async def four_digit_years(store: DocumentStore, _now: datetime | None = None) -> int:
    changed = 0
    for collection in COLLECTIONS:
        changed += await _collection(store, collection)
    return changed


async def _collection(store: DocumentStore, collection: str) -> int:
    changed = 0
    after: str | None = None
    while True:
        async with store.session() as session:
            page = await session.find(collection, {}, limit=_PAGE, after_id=after)
        for doc in page:
            if repaired(collection, doc) is not None:
                changed += await _rewrite(store, collection, doc["id"])
        if len(page) < _PAGE:
            return changed
        after = page[-1]["id"]


async def _rewrite(store: DocumentStore, collection: str, doc_id: str) -> int:
    """Pad one document's years; a concurrent change is read again (a few times at most)."""
    for _ in range(_ATTEMPTS):
        try:
            async with store.session() as session:
                doc = await session.get(collection, doc_id)
                fixed = None if doc is None else repaired(collection, doc)
                if doc is None or fixed is None:
                    return 0
                version = int(doc["version"])
                await session.replace(collection, {**fixed, "version": version + 1}, version)
        except VersionMismatch:
            continue
        return 1
    raise VersionMismatch(f"{collection}/{doc_id} kept changing while its years were padded")
