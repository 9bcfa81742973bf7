"""The body merchants receive: the same bytes on every attempt of one message."""

from __future__ import annotations

import json

from domain.shared.clock import public_time
from domain.shared.outbox import OutboxMessage


def message_body(message: OutboxMessage) -> bytes:
    document = {
        "id": message.id,
        "type": message.event_type.value,
        "created_at": public_time(message.occurred_at),
        "data": message.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
