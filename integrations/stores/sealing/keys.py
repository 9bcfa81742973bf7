"""The keys that seal stored secrets, as text: their format, their ids, new ones.

Standard library only: the settings check `SUBGATE_SECRET_KEY` with it while the command line
starts, before any of the server's dependencies (or `cryptography`) are loaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Final

SETTING: Final = "SUBGATE_SECRET_KEY"
_KEY_BYTES: Final = 32
_KEY_ID_LENGTH: Final = 8


def new_key() -> str:
    """A new random key, in the form `SUBGATE_SECRET_KEY` takes (a Fernet key)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def is_key(text: str) -> bool:
    """32 bytes in URL-safe base64 with its padding (44 characters), as `new_key` makes them."""
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    # Decoding skips stray characters; encoding back must give the very same text.
    return len(raw) == _KEY_BYTES and base64.urlsafe_b64encode(raw).decode("ascii") == text


def key_id(key: str) -> str:
    """A short, stable name for a key, stored beside what it sealed. A hash: it reveals nothing of the key."""
    return hashlib.sha256(b"subgate secret key id\x00" + key.encode("ascii")).hexdigest()[:_KEY_ID_LENGTH]


def parse_keys(raw: str, source: str) -> tuple[str, ...]:
    """Comma-separated keys, the first one sealing; ValueError naming `source` (never a key) if malformed."""
    keys = tuple(part.strip() for part in raw.split(","))
    for position, key in enumerate(keys, start=1):
        if not key:
            raise ValueError(f"{source}: key {position} of {len(keys)} is empty")
        if not is_key(key):
            raise ValueError(
                f"{source}: key {position} of {len(keys)} is not a key (32 bytes in URL-safe base64, "
                "44 characters); make one with: subgate secrets new-key"
            )
    ids = [key_id(key) for key in keys]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{source}: a key is listed twice")
    return keys
