"""When to try again: the configured schedule with bounded jitter."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.shared.errors import ValidationFailed


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """`schedule[i]` is the wait after failed attempt i + 1; after the last, the message is dead."""

    schedule: tuple[float, ...]
    jitter: float = 0.1  # +/- fraction, so retries of many messages do not arrive in lockstep
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False, compare=False)

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay_after(self, attempts_made: int) -> float | None:
        """Seconds to wait after `attempts_made` failures, or None when no try is left."""
        if attempts_made >= self.max_attempts:
            return None
        base = self.schedule[attempts_made - 1]
        return max(0.0, base * self.uniform(1 - self.jitter, 1 + self.jitter))


def parse_schedule(text: str) -> tuple[float, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValidationFailed("retry schedule", f"not a list of seconds: {text!r}") from None
    if any(v < 0 or not math.isfinite(v) for v in values):
        raise ValidationFailed("retry schedule", "seconds must be finite and not negative")
    return values
