"""Provider secrets for tests, signatures computed here with plain `hmac` (apart from the
project's own signers), and signatures made the wrong way, to see them refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Final

# As Polar shows secrets in its dashboard; the part after the prefix looks like base64 but is not decoded.
POLAR_SECRET: Final = "polar_whs_c2VjcmV0LWJ5dGVzLWZvci10ZXN0cy0xMjM0NTY3ODk="
# As Paddle shows a notification destination's secret key.
PADDLE_SECRET: Final = "pdl_ntfset_01jfq2v6m5a7c9x3tz8k4d2w1e_c2VjcmV0LWZvci10ZXN0cy1vbmx5"


def svix_style_headers(body: bytes, secret: str, timestamp: int, message_id: str) -> dict[str, str]:
    """A signature keyed the svix way: the part after the prefix, base64-decoded. Polar signs so only
    for a `whsec_` secret, so with any other secret it is refused."""
    encoded = secret.rsplit("_", maxsplit=1)[-1]
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest}",
    }


def paddle_headers_by_hand(body: bytes, secrets: Sequence[str], timestamp: int) -> dict[str, str]:
    """Paddle's headers for `body`: `ts=...;h1=...`, one `h1` per secret, each the HMAC-SHA256 hex
    of `ts:body` keyed with the secret's UTF-8 bytes."""
    signed = f"{timestamp}:".encode() + body
    digests = [hmac.new(s.encode("utf-8"), signed, hashlib.sha256).hexdigest() for s in secrets]
    return {
        "content-type": "application/json",
        "paddle-signature": ";".join([f"ts={timestamp}", *(f"h1={digest}" for digest in digests)]),
    }
