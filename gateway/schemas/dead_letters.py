"""`/v1/dead-letters`: messages that ran out of attempts, and replaying them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from domain.notifications.model import DeadLetter as DomainDeadLetter, DeadLetterKind
from gateway.schemas.common import Page, PageQuery
from gateway.schemas.deliveries import Delivery


class DeadLetter(Struct, frozen=True, kw_only=True):
    id: str
    kind: DeadLetterKind
    delivery_id: str
    reason: str
    created_at: datetime


DeadLetterPage = Page[DeadLetter]


class DeadLetterQuery(PageQuery, frozen=True, kw_only=True):
    kind: DeadLetterKind | None = None


class DeadLetterReplay(Struct, frozen=True, kw_only=True):
    dead_letter_id: str
    delivery: Annotated[Delivery, Meta(description="The dead letter's delivery, due now.")]


class BulkReplayRequest(Struct, frozen=True, kw_only=True):
    """Which dead letters to replay; an empty body replays them all."""

    since: (
        Annotated[datetime, Meta(tz=True, description="Only those created at or after this time.")] | None
    ) = None
    kind: DeadLetterKind | None = None


class Skipped(Struct, frozen=True, kw_only=True):
    id: str
    reason: str
    type: Annotated[
        str,
        Meta(description="The error type a replay of it alone answers (`conflict`, `payload_expired`...)."),
    ] = "conflict"


class BulkReplay(Struct, frozen=True, kw_only=True):
    replayed: int
    dead_letter_ids: list[str]
    skipped: Annotated[list[Skipped], Meta(description="Those that cannot go, and why.")]


def dead_letter(value: DomainDeadLetter) -> DeadLetter:
    return msgspec.convert(value, DeadLetter, from_attributes=True)
