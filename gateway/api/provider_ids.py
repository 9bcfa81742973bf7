"""Provider ids a merchant gives a plan or a customer: `{provider: id}`, checked once for both."""

from __future__ import annotations

from collections.abc import Mapping

from domain.notifications.emails import check_header_text
from domain.shared.errors import ValidationFailed
from domain.subscriptions.external.catalog import MAX_PROVIDER_ID_LENGTH
from gateway.deps import GatewayDeps


def provider_ids(deps: GatewayDeps, name: str, ids: Mapping[str, str] | None) -> dict[str, str]:
    """`{provider: id}` for providers subgate implements; no value may hold a line break."""
    given = dict(ids or {})
    for provider, external_id in given.items():
        if len(external_id) > MAX_PROVIDER_ID_LENGTH:
            raise ValidationFailed(
                f"{name}.{provider}", f"must be at most {MAX_PROVIDER_ID_LENGTH} characters"
            )
    for provider, external_id in given.items():
        if provider not in deps.providers:
            implemented = ", ".join(sorted(deps.providers))
            raise ValidationFailed(f"{name}.{provider}", f"not a provider subgate implements ({implemented})")
        check_header_text(f"{name}.{provider}", external_id)
    return given
