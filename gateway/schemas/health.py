"""`/healthz` and `/readyz`: liveness, and readiness (the store and Redis reachable).

Readiness is about this server taking traffic; whether workers run is reported beside the
checks (`workers`), never one of them: a server stays ready while its workers restart.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct


class Liveness(Struct, frozen=True, kw_only=True):
    status: Literal["ok"]


class Workers(Struct, frozen=True, kw_only=True):
    """The workers registered in the store, by their heartbeats."""

    alive: Annotated[int, Meta(description="Workers whose heartbeat is recent.")]
    silent: Annotated[
        int, Meta(description="Workers that stopped beating without stopping cleanly (killed or stuck).")
    ]
    heartbeat_age_seconds: Annotated[
        float | None, Meta(description="Age of the newest heartbeat; null when no worker is registered.")
    ]


class Readiness(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Answered with 200 when every check passes, else with 503."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, bool]
    workers: Annotated[
        Workers | None,
        Meta(description="Whether workers run (not a check: see `subgate status`); null when unknown."),
    ] = None
