"""Plans and customers, managed by merchants over REST (External).

A plan's and a customer's provider ids (`provider_price_ids`, `provider_customer_ids`) are
linked as they are stored (see `linking`), so the provider's events about them find these
records instead of creating others. A provider id belongs to one record of a merchant: a
second claim on it is refused (409). Links are never undone: a customer may gain the id
of another provider, not change one it has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from domain.shared.clock import Clock
from domain.shared.errors import Conflict, CustomerErased, NotFound, ValidationFailed, existing
from domain.shared.ids import new_id
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn, with_retries
from domain.subscriptions.linking import CUSTOMER, PRICE, register_customer, register_plan
from domain.subscriptions.model import Customer, Interval, Plan
from domain.subscriptions.ports import PlanFilter, SubscriptionsUnit

MAX_NAME_LENGTH = 200
MAX_PROVIDER_ID_LENGTH = 255
MAX_AMOUNT = 99_999_999_999  # minor units; about what the largest providers accept
MAX_INTERVAL_COUNT = 365
MAX_TRIAL_DAYS = 730  # Stripe's limit
_CURRENCY = re.compile(r"[a-z]{3}")


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPlan:
    name: str
    amount: int
    currency: str
    interval: Interval
    interval_count: int = 1
    trial_days: int = 0
    provider_price_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanChange:
    """What a PATCH changes: `None` leaves a field as it is."""

    name: str | None = None
    archived: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCustomer:
    email: str
    name: str | None = None
    provider_customer_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerChange:
    """What a PATCH changes: `None` (or `name_changed=False`) leaves a field as it is."""

    email: str | None = None
    name_changed: bool = False
    name: str | None = None  # with name_changed: the new name, or None to clear it
    provider_customer_ids: Mapping[str, str] | None = None  # added to the ones it has


def _name(value: str, field_name: str = "name") -> str:
    text = value.strip()
    if not 1 <= len(text) <= MAX_NAME_LENGTH:
        raise ValidationFailed(field_name, f"must be 1 to {MAX_NAME_LENGTH} characters")
    return text


def _whole(value: int, field_name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValidationFailed(field_name, f"must be an integer from {low} to {high}")
    return value


def _provider_ids(ids: Mapping[str, str], field_name: str) -> dict[str, str]:
    for provider, external_id in ids.items():
        if not 1 <= len(external_id) <= MAX_PROVIDER_ID_LENGTH or external_id.strip() != external_id:
            raise ValidationFailed(
                f"{field_name}.{provider}", f"must be 1 to {MAX_PROVIDER_ID_LENGTH} characters, unpadded"
            )
    return dict(ids)


def _valid_plan(new: NewPlan) -> NewPlan:
    currency = new.currency.lower()
    if _CURRENCY.fullmatch(currency) is None:
        raise ValidationFailed("currency", "must be a three-letter ISO 4217 code such as usd")
    return replace(
        new,
        name=_name(new.name),
        amount=_whole(new.amount, "amount", 0, MAX_AMOUNT),
        currency=currency,
        interval_count=_whole(new.interval_count, "interval_count", 1, MAX_INTERVAL_COUNT),
        trial_days=_whole(new.trial_days, "trial_days", 0, MAX_TRIAL_DAYS),
        provider_price_ids=_provider_ids(new.provider_price_ids, "provider_price_ids"),
    )


async def _refuse_taken(
    unit: SubscriptionsUnit, merchant_id: str, kind: str, ids: Mapping[str, str], mine: str | None
) -> None:
    """Conflict when one of the provider ids already stands for another record of the merchant."""
    for provider, external_id in ids.items():
        owner = await unit.provider_links.find(merchant_id, kind, provider, external_id)
        if owner is not None and owner != mine:
            raise Conflict(f"{provider} {kind} {external_id!r} is already linked to {owner!r}")


class PlansExternal:
    def __init__(self, txn: TxnFn[SubscriptionsUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

    async def create(self, merchant_id: str, new: NewPlan) -> Plan:
        valid = _valid_plan(new)
        plan = Plan(
            id=new_id("plan"),
            merchant_id=merchant_id,
            name=valid.name,
            amount=valid.amount,
            currency=valid.currency,
            interval=valid.interval,
            interval_count=valid.interval_count,
            trial_days=valid.trial_days,
            provider_price_ids=valid.provider_price_ids,
            created_at=self._clock(),
        )

        async def work(unit: SubscriptionsUnit) -> Plan:
            await _refuse_taken(unit, merchant_id, PRICE, plan.provider_price_ids, None)
            await register_plan(unit, plan)
            return plan

        return await with_retries(self._txn, work)

    async def get(self, merchant_id: str, plan_id: str) -> Plan:
        async def work(unit: SubscriptionsUnit) -> Plan | None:
            return await unit.plans.get(merchant_id, plan_id)

        return existing(await self._txn(work), "plan", plan_id)

    async def list(self, merchant_id: str, where: PlanFilter, page: PageRequest) -> Page[Plan]:
        async def work(unit: SubscriptionsUnit) -> Page[Plan]:
            return await unit.plans.list(merchant_id, where, page)

        return await self._txn(work)

    async def update(self, merchant_id: str, plan_id: str, change: PlanChange) -> Plan:
        """Rename or (un)archive; what a plan charges never changes (make a new plan instead)."""
        name = None if change.name is None else _name(change.name)

        async def work(unit: SubscriptionsUnit) -> Plan:
            plan = await unit.plans.get(merchant_id, plan_id)
            if plan is None:
                raise NotFound("plan", plan_id)
            changed = replace(
                plan,
                name=plan.name if name is None else name,
                archived=plan.archived if change.archived is None else change.archived,
            )
            return plan if changed == plan else await unit.plans.update(changed)

        return await with_retries(self._txn, work)


class CustomersExternal:
    def __init__(self, txn: TxnFn[SubscriptionsUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

    async def create(self, merchant_id: str, new: NewCustomer) -> Customer:
        customer = Customer(
            id=new_id("cus"),
            merchant_id=merchant_id,
            email=new.email,
            name=None if new.name is None else _name(new.name),
            provider_customer_ids=_provider_ids(new.provider_customer_ids, "provider_customer_ids"),
            created_at=self._clock(),
        )

        async def work(unit: SubscriptionsUnit) -> Customer:
            await _refuse_taken(unit, merchant_id, CUSTOMER, customer.provider_customer_ids, None)
            await register_customer(unit, customer)
            return customer

        return await with_retries(self._txn, work)

    async def get(self, merchant_id: str, customer_id: str) -> Customer:
        async def work(unit: SubscriptionsUnit) -> Customer | None:
            return await unit.customers.get(merchant_id, customer_id)

        return existing(await self._txn(work), "customer", customer_id)

    async def list(self, merchant_id: str, page: PageRequest) -> Page[Customer]:
        async def work(unit: SubscriptionsUnit) -> Page[Customer]:
            return await unit.customers.list(merchant_id, page)

        return await self._txn(work)

    async def update(self, merchant_id: str, customer_id: str, change: CustomerChange) -> Customer:
        name = _name(change.name) if change.name_changed and change.name is not None else None
        added = _provider_ids(change.provider_customer_ids or {}, "provider_customer_ids")

        async def work(unit: SubscriptionsUnit) -> Customer:
            customer = await unit.customers.get(merchant_id, customer_id)
            if customer is None:
                raise NotFound("customer", customer_id)
            if customer.erased_at is not None and (change.email is not None or change.name_changed):
                raise CustomerErased(
                    f"customer {customer_id!r} was erased: its email and name stay empty "
                    "(create a new customer to write to someone again)"
                )
            new_ids = _new_links(customer, added)
            await _refuse_taken(unit, merchant_id, CUSTOMER, new_ids, customer.id)
            for provider, external_id in new_ids.items():
                await unit.provider_links.add(merchant_id, CUSTOMER, provider, external_id, customer.id)
            changed = replace(
                customer,
                email=customer.email if change.email is None else change.email,
                name=name if change.name_changed else customer.name,
                provider_customer_ids={**customer.provider_customer_ids, **new_ids},
            )
            return customer if changed == customer else await unit.customers.update(changed)

        return await with_retries(self._txn, work)

    async def erase(self, merchant_id: str, customer_id: str) -> Customer:
        """Forget the customer's email and name for good (`erased_at` keeps them empty: see
        `CustomerErased`); idempotent. Its subscriptions and provider ids stay."""

        async def work(unit: SubscriptionsUnit) -> Customer:
            customer = await unit.customers.get(merchant_id, customer_id)
            if customer is None:
                raise NotFound("customer", customer_id)
            erased = replace(customer, email=None, name=None, erased_at=customer.erased_at or self._clock())
            return customer if erased == customer else await unit.customers.update(erased)

        return await with_retries(self._txn, work)


def _new_links(customer: Customer, wanted: Mapping[str, str]) -> dict[str, str]:
    """The ids the customer does not have yet; another id for a provider it has is refused."""
    fresh: dict[str, str] = {}
    for provider, external_id in wanted.items():
        current = customer.provider_customer_ids.get(provider)
        if current is None:
            fresh[provider] = external_id
        elif current != external_id:
            raise Conflict(
                f"customer {customer.id!r} is linked to {provider} customer {current!r}; "
                "a link cannot be changed"
            )
    return fresh
