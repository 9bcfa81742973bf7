"""The inbound path's copy of a connection: one store read per connection per moment, never stale here."""

from __future__ import annotations

import pytest

from domain.merchants.external import (
    WEBHOOK_CONNECTION_TTL,
    ConnectionChange,
    MerchantsExternal,
    NewConnection,
)
from domain.shared.errors import NotFound
from tests.support.fakes import build_services

OLD = "whsec_old_secret_0001"
NEW = "whsec_new_secret_0002"


async def test_repeated_lookups_read_the_store_once_and_a_rotation_here_applies_at_once() -> None:
    services = build_services()
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    created = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[OLD])
    )
    first = await services.merchants.connection_for_webhook("stripe", created.id)
    sessions = services.store.sessions_opened

    again = await services.merchants.connection_for_webhook("stripe", created.id)

    assert again == first
    assert services.store.sessions_opened == sessions
    await services.merchants.update_connection(
        merchant.id, created.id, ConnectionChange(webhook_secrets=[NEW])
    )
    rotated = await services.merchants.connection_for_webhook("stripe", created.id)
    assert rotated.webhook_secrets == (NEW,)


async def test_a_change_made_by_another_process_is_seen_once_the_copy_expires() -> None:
    services = build_services()
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    created = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[OLD])
    )
    await services.merchants.connection_for_webhook("stripe", created.id)
    elsewhere = MerchantsExternal(services.txn, services.clock)  # another process's service
    await elsewhere.update_connection(merchant.id, created.id, ConnectionChange(webhook_secrets=[NEW]))

    services.clock.advance(WEBHOOK_CONNECTION_TTL.total_seconds() - 0.001)
    stale = await services.merchants.connection_for_webhook("stripe", created.id)
    assert stale.webhook_secrets == (OLD,)
    services.clock.advance(0.001)
    fresh = await services.merchants.connection_for_webhook("stripe", created.id)
    assert fresh.webhook_secrets == (NEW,)


async def test_a_deleted_connection_is_gone_at_once_here() -> None:
    services = build_services()
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    created = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[OLD])
    )
    await services.merchants.connection_for_webhook("stripe", created.id)

    await services.merchants.delete_connection(merchant.id, created.id)

    with pytest.raises(NotFound):
        await services.merchants.connection_for_webhook("stripe", created.id)


async def test_a_signing_way_already_recorded_elsewhere_is_not_written_again_from_an_older_copy() -> None:
    services = build_services()
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    created = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="polar", webhook_secrets=[OLD])
    )
    older = await services.merchants.connection_for_webhook("polar", created.id)
    elsewhere = MerchantsExternal(services.txn, services.clock)  # another process, or request
    await elsewhere.note_signing_scheme(older, "standard_webhooks")
    [recorded] = services.store.documents("connections")
    assert recorded["signing_scheme"] == "standard_webhooks"

    # This copy was read before that write: the store is asked, and nothing is written again.
    await services.merchants.note_signing_scheme(older, "standard_webhooks")

    assert services.store.documents("connections") == [recorded]
