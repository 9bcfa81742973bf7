"""Provider secrets for tests, and signatures made the wrong way, to see them refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

# As Polar shows secrets in its dashboard; the part after the prefix looks like base64 but is not decoded.
POLAR_SECRET: Final = "polar_whs_c2VjcmV0LWJ5dGVzLWZvci10ZXN0cy0xMjM0NTY3ODk="


def svix_style_headers(body: bytes, secret: str, timestamp: int, message_id: str) -> dict[str, str]:
    """A signature keyed the svix way: the part after the prefix, base64-decoded. Polar never signs so."""
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
