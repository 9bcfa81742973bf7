"""Identifiers: a type prefix plus a time-ordered suffix.

Ids made by one process sort in creation order, even within one millisecond, so
ordering by id follows creation order and cursor pagination needs no other key.
Across processes, ids are ordered to the millisecond.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_RANDOM_BITS = 80


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


class _MonotonicSource:
    """Within one millisecond the random part is incremented instead of redrawn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._millis = -1
        self._random = 0

    def next(self) -> tuple[int, int]:
        with self._lock:
            millis = time.time_ns() // 1_000_000
            if millis > self._millis:
                self._millis, self._random = millis, secrets.randbits(_RANDOM_BITS - 1)
            else:
                # Same (or an earlier, after a clock step back) millisecond: keep order by counting up.
                self._random += 1
            return self._millis, self._random


_SOURCE = _MonotonicSource()


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds + 16 chars (80 bits) that increase within a millisecond."""
    millis, rand = _SOURCE.next()
    return f"{prefix}_{_encode(millis, 10)}{_encode(rand, 16)}"


_MAX_MILLIS = 32**10 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def id_time_floor(prefix: str, at: datetime) -> str:
    """A string that sorts after every id made before `at` (to the millisecond, by the clock
    that made it) and before every id made at or after it: ids' time part is their head."""
    millis = min(max(0, (at - _EPOCH) // timedelta(milliseconds=1)), _MAX_MILLIS)
    return f"{prefix}_{_encode(millis, 10)}"
