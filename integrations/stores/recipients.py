"""Who a customer email goes to: the notifications context's `RecipientDirectory` on the store.

The merchant's customer record wins (the subscription names it); otherwise an address the
provider's payload carried with the message (`customer_email`, as on a Stripe invoice).
Only plain addresses are returned: one with a line break or anything unusual could
otherwise reach a mail header. A customer whose personal data was erased gets no email at all,
whatever address the message carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.notifications.emails import customer_of, usable_address
from domain.shared.outbox import OutboxMessage
from integrations.stores.documents import Document, DocumentSession

CUSTOMERS = "customers"


class CustomerEmails:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def email_for(self, message: OutboxMessage) -> str | None:
        customer = await self._customer(message)
        if customer is not None and customer.get("erased_at") is not None:
            return None
        from_record = None if customer is None else usable_address(customer.get("email"))
        return from_record or _from_payload(message.data)

    async def _customer(self, message: OutboxMessage) -> Document | None:
        customer_id = customer_of(message)
        if customer_id is None:
            return None
        customer = await self._s.get(CUSTOMERS, customer_id)
        if customer is None or customer.get("merchant_id") != message.merchant_id:
            return None
        return customer


def _from_payload(data: Mapping[str, Any]) -> str | None:
    """`customer_email` at the top of the message data or inside one of its objects."""
    candidates: list[object] = [data.get("customer_email")]
    candidates.extend(part.get("customer_email") for part in data.values() if isinstance(part, Mapping))
    customer = data.get("customer")
    if isinstance(customer, Mapping):
        candidates.append(customer.get("email"))
    return next((found for found in map(usable_address, candidates) if found is not None), None)
