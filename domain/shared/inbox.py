"""Idempotent consumption: remember which inputs already produced their effect.

Jobs run at least once. A context claims an input's key inside the same
transaction as the effect, so a replayed input finds its key and does nothing.
"""

from __future__ import annotations

from typing import Protocol


class ProcessedInputs(Protocol):
    async def seen(self, key: str) -> bool: ...

    async def claim(self, key: str) -> bool:
        """Record `key`; False when it was already recorded (the effect already happened)."""
        ...
