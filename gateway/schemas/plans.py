"""`/v1/plans`: what a merchant sells, at what price and interval. A price never changes.

Bounds the domain checks (amount, interval count, trial days, name length, currency) are
documented here but refused there, with a message naming the whole allowed range. Which
providers may appear in `provider_price_ids` depends on the deployment, so the handler checks it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from domain.subscriptions.external.catalog import (
    MAX_AMOUNT,
    MAX_INTERVAL_COUNT,
    MAX_NAME_LENGTH,
    MAX_PROVIDER_ID_LENGTH,
    MAX_TRIAL_DAYS,
)
from domain.subscriptions.model import Interval, Plan as DomainPlan
from gateway.schemas.common import MAX_LIST_LENGTH, Page, PageQuery


def documented_range(low: int, high: int, description: str) -> Meta:
    """Bounds shown in the document; the domain refuses values outside them."""
    return Meta(description=description, extra_json_schema={"minimum": low, "maximum": high})


ProviderIds = Annotated[
    dict[
        str,
        Annotated[
            str,
            # Checked by the handler and the domain, whose refusals name the provider at fault.
            Meta(extra_json_schema={"minLength": 1, "maxLength": MAX_PROVIDER_ID_LENGTH}),
        ],
    ],
    Meta(
        max_length=MAX_LIST_LENGTH,
        description="`{provider: id}` for providers this service implements; null: none. "
        "No value may hold a line break or surrounding spaces.",
    ),
]
Name = Annotated[
    str,
    Meta(description=f"1 to {MAX_NAME_LENGTH} characters once trimmed; no line breaks."),
]
Amount = Annotated[int, documented_range(0, MAX_AMOUNT, "The price in minor units (cents).")]
Currency = Annotated[
    str,
    Meta(
        description="A three-letter ISO 4217 code, in any case; stored in lower case.",
        extra_json_schema={"pattern": "^[A-Za-z]{3}$"},
    ),
]
IntervalCount = Annotated[
    int, documented_range(1, MAX_INTERVAL_COUNT, "Intervals per billing period; null: 1.")
]
TrialDays = Annotated[
    int, documented_range(0, MAX_TRIAL_DAYS, "Free days before the first charge; null: none.")
]
# A property that may not be sent at all: what a plan charges is fixed once it exists.
Fixed = Annotated[
    Any, Meta(description="Cannot be changed; create a new plan instead.", extra_json_schema={"not": {}})
]


class PlanCreate(Struct, frozen=True, kw_only=True):
    name: Name
    amount: Amount
    currency: Currency
    interval: Interval
    interval_count: IntervalCount | None = None
    trial_days: TrialDays | None = None
    provider_price_ids: ProviderIds | None = None


class PlanUpdate(Struct, frozen=True, kw_only=True):
    """Rename, archive (no new subscriptions) or unarchive; `archived: null` leaves it as it is."""

    name: Name | UnsetType = UNSET
    archived: bool | None = None
    amount: Fixed = UNSET
    currency: Fixed = UNSET
    interval: Fixed = UNSET
    interval_count: Fixed = UNSET
    trial_days: Fixed = UNSET
    provider_price_ids: Fixed = UNSET


# In the order a refusal names them when several are sent.
FIXED_FIELDS = ("amount", "currency", "interval", "interval_count", "trial_days", "provider_price_ids")


class PlanQuery(PageQuery, frozen=True, kw_only=True):
    archived: Annotated[bool, Meta(description="Only archived plans, or only live ones.")] | UnsetType = UNSET


class Plan(Struct, frozen=True, kw_only=True):
    id: str
    name: str
    amount: int
    currency: str
    interval: Interval
    interval_count: int
    trial_days: int
    provider_price_ids: dict[str, str]
    archived: bool
    created_at: datetime


PlanPage = Page[Plan]


def plan(value: DomainPlan) -> Plan:
    # Every field of the representation is an attribute of the domain value, under the same name.
    return msgspec.convert(value, Plan, from_attributes=True)
