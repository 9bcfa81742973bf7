"""What applying a batch of provider commands will read, read ahead in one query per collection.

Applying a command reads its input's key, the provider links of its subscription (and, for a
snapshot, of its customer and price), the subscription, and the customer and plan its
notification describes. For a batch, each of these is one query for every command at once, in
three rounds (the keys and links; the subscriptions they name; their customers and plans).
Anything not read here is looked up when a unit asks for it: this only saves round trips.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.subscriptions.commands import LinkSubscription, ProviderCommand, SyncSubscription
from domain.subscriptions.linking import CUSTOMER, PRICE, SUBSCRIPTION
from integrations.stores.batch import Batch
from integrations.stores.collection import CUSTOMERS, PLANS, SUBSCRIPTIONS
from integrations.stores.repositories import ProviderLinkRepo

PROCESSED = "processed_inputs"
LINKS = "provider_links"

_Link = tuple[str, str]  # (kind, the link document's id)


def _links(command: ProviderCommand) -> list[_Link]:
    merchant, provider = command.merchant_id, command.provider

    def link(kind: str, external_id: str) -> _Link:
        return kind, ProviderLinkRepo.link_key(merchant, kind, provider, external_id)

    links = [link(SUBSCRIPTION, command.provider_subscription_id)]
    if isinstance(command, SyncSubscription):
        links += [link(CUSTOMER, command.provider_customer_id), link(PRICE, command.price.price_id)]
    elif isinstance(command, LinkSubscription) and command.provider_customer_id is not None:
        links.append(link(CUSTOMER, command.provider_customer_id))
    return links


def _linked(batch: Batch, links: Sequence[_Link], kind: str) -> list[str]:
    """Our ids that the links of `kind` found in the store lead to."""
    found = (batch.known_doc(LINKS, key) for link_kind, key in links if link_kind == kind)
    # A link without its id is left to the unit that reads it (which says what is wrong).
    return [str(doc["internal_id"]) for doc in found if doc is not None and "internal_id" in doc]


def _field(docs: Sequence[dict[str, object]], name: str) -> list[str]:
    return [str(doc[name]) for doc in docs if doc.get(name) is not None]


async def read_ahead(batch: Batch, commands: Sequence[ProviderCommand]) -> None:
    """Read what applying `commands` will read (see the module docstring)."""
    links = [link for command in commands for link in _links(command)]
    await batch.read_ahead(PROCESSED, [command.source_key for command in commands])
    await batch.read_ahead(LINKS, [key for _, key in links])
    named = [c.linked_subscription_id for c in commands if c.linked_subscription_id is not None]
    subscriptions = await batch.read_ahead(SUBSCRIPTIONS.name, [*named, *_linked(batch, links, SUBSCRIPTION)])
    customers = [*_field(subscriptions, "customer_id"), *_linked(batch, links, CUSTOMER)]
    await batch.read_ahead(CUSTOMERS.name, customers)
    await batch.read_ahead(PLANS.name, [*_field(subscriptions, "plan_id"), *_linked(batch, links, PRICE)])
