"""Identifiers: the kind's prefix plus a time-ordered suffix.

Ids made by one process sort in creation order, even within one millisecond, so
ordering by id follows creation order and cursor pagination needs no other key.
Across processes, ids are ordered to the millisecond.

Every prefix is the kind's short name followed by `sg` (`subsg_`, `evtsg_`, `msgsg_`): no id
subgate makes can be taken for a provider's (`sub_`, `cus_` and `evt_` are Stripe's and
Paddle's, `msg_` and `ep_` svix's). The ids of earlier releases (`sub_...`) are opaque like any
other and keep working; and since a letter sorts after `_`, every id made now sorts after them,
so lists stay in creation order and a cursor from before still finds what came since.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_RANDOM_BITS = 80


# Every pair of digits: ten bits per look-up, half the steps of one digit at a time (ids are
# made for every document a worker writes).
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)


def _encode(value: int, length: int) -> str:
    """The last `length` base-32 digits of `value`, most significant first."""
    odd = length % 2
    chars = [_ALPHABET[(value >> (5 * (length - 1))) & 31]] if odd else []
    chars += [_PAIRS[(value >> shift) & 1023] for shift in range(5 * (length - odd) - 10, -1, -10)]
    return "".join(chars)


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


SUBGATE_MARK = "sg"


def new_id(kind: str) -> str:
    """`<kind>sg_` + 10 chars of milliseconds + 16 chars (80 bits) that increase within a millisecond."""
    millis, rand = _SOURCE.next()
    return f"{kind}{SUBGATE_MARK}_{_encode(millis, 10)}{_encode(rand, 16)}"


_MAX_MILLIS = 32**10 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def id_time_floor(kind: str, at: datetime) -> str:
    """A string that sorts after every `kind` id made before `at` (to the millisecond, by the clock
    that made it) and before every one made at or after it: ids' time part is their head.
    Ids of earlier releases (`dlv_...`, no `sg`) all sort below it, whatever their time."""
    millis = min(max(0, (at - _EPOCH) // timedelta(milliseconds=1)), _MAX_MILLIS)
    return f"{kind}{SUBGATE_MARK}_{_encode(millis, 10)}"
