"""Who an erasure is about, as the contexts that hold personal data can recognise them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """A merchant's customer: the providers' ids for it, and the addresses it was known by."""

    provider_customer_ids: Mapping[str, str] = field(default_factory=dict)  # provider -> its id
    emails: tuple[str, ...] = ()
