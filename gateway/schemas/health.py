"""`/healthz` and `/readyz`: liveness, and readiness (the store and Redis reachable)."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class Liveness(Struct, frozen=True, kw_only=True):
    status: Literal["ok"]


class Readiness(Struct, frozen=True, kw_only=True):
    """Answered with 200 when every check passes, else with 503."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, bool]
