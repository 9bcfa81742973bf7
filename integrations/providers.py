"""The provider adapter interface: adding a payment provider means adding one module.

An adapter verifies a request's signature on the raw bytes, reads the event
envelope, and later normalizes the stored event into domain commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.subscriptions.commands import RecordPayment, SyncSubscription

Command = SyncSubscription | RecordPayment


class MissingSignature(Exception):
    """The signature headers are absent (400)."""


class MalformedRequest(Exception):
    """Unparseable signature header or payload (400)."""


class SignatureRejected(Exception):
    """No secret verifies the signature, or the timestamp is outside tolerance (401)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    event_id: str
    type: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    reason: str


class ProviderAdapter(Protocol):
    name: str

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
        tolerance_seconds: int,
    ) -> None:
        """Raises MissingSignature, MalformedRequest or SignatureRejected."""
        ...

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:
        """Raises MalformedRequest for anything that is not a well-formed event object."""
        ...

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Sequence[Command] | Ignored:
        """Domain commands for a stored event, or Ignored for types we do not act on."""
        ...
