"""Operator actions on merchants: key rotation and reading a connection with its secrets."""

from __future__ import annotations

import pytest

from domain.merchants.external import NewConnection
from domain.merchants.model import hash_api_key
from domain.shared.errors import NotFound, Unauthenticated
from tests.support.fakes import Services, build_services


@pytest.fixture
def services() -> Services:
    return build_services()


async def test_rotate_key_replaces_the_key_and_keeps_the_merchant(services: Services) -> None:
    merchant, old_key = await services.merchants_internal.create_merchant("Acme")

    rotated, new_key = await services.merchants_internal.rotate_key(merchant.id)

    assert new_key != old_key
    assert new_key.startswith("sg_")
    assert rotated.id == merchant.id
    assert rotated.name == merchant.name
    assert rotated.api_key_hash == hash_api_key(new_key)
    assert (await services.merchants.authenticate(new_key)).id == merchant.id
    with pytest.raises(Unauthenticated):
        await services.merchants.authenticate(old_key)


async def test_rotate_key_twice_leaves_only_the_last_key_working(services: Services) -> None:
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    _, second = await services.merchants_internal.rotate_key(merchant.id)
    _, third = await services.merchants_internal.rotate_key(merchant.id)

    assert (await services.merchants.authenticate(third)).id == merchant.id
    with pytest.raises(Unauthenticated):
        await services.merchants.authenticate(second)


async def test_rotate_key_leaves_other_merchants_alone(services: Services) -> None:
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    other, other_key = await services.merchants_internal.create_merchant("Globex")

    await services.merchants_internal.rotate_key(merchant.id)

    assert (await services.merchants.authenticate(other_key)).id == other.id


async def test_rotate_key_of_an_unknown_merchant_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound) as raised:
        await services.merchants_internal.rotate_key("mer_missing")
    assert raised.value.entity == "merchant"


async def test_connection_is_readable_whatever_its_merchant(services: Services) -> None:
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    created = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_first_1", "whsec_second"])
    )

    found = await services.merchants_internal.connection(created.id)

    assert found == created
    assert found.webhook_secrets == ("whsec_first_1", "whsec_second")


async def test_unknown_connection_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound) as raised:
        await services.merchants_internal.connection("conn_missing")
    assert raised.value.entity == "connection"
