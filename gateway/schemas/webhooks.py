"""`POST /webhooks/{provider}/{connection_id}`: what a provider posts and what it is answered."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

ProviderEvent = dict[str, Any]
"""The provider's own JSON event, verified and stored byte for byte."""


class WebhookReceipt(Struct, frozen=True, kw_only=True):
    """`accepted`: verified, durably stored and queued; `duplicate`: this event id was already stored."""

    status: Literal["accepted", "duplicate"]
