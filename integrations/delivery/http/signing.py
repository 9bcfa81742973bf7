"""Standard Webhooks signatures through the svix library."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from svix.webhooks import Webhook


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    # Building a Webhook decodes the secret; deliveries reuse a handful of secrets.
    return Webhook(secret)


def signature_headers(
    message_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """`webhook-signature` lists one `v1,<base64>` per secret, space-separated (rotation)."""
    text = body.decode()
    signatures = " ".join(_signer(s).sign(message_id, timestamp, text) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
