"""The check an endpoint URL passes when a merchant registers or changes it.

The URL is read the HTTP client's way (`urls.endpoint_target`) and judged on the host the
client will connect to: an IP literal as that address, a name by the addresses it resolves
to now, with the resolver every attempt uses. A clear 422 beats a delivery that can never
succeed; the attempts check again at every connection, and only that check guards the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from domain.shared.errors import ValidationFailed
from integrations.delivery.http.resolver import Classify, GuardedResolver, Lookup, system_lookup
from integrations.delivery.http.targets import ForbiddenTarget, UnresolvableTarget, address_class, refusal
from integrations.delivery.http.urls import EndpointTarget, InvalidTargetUrl, endpoint_target

# Registration does not wait on a slow resolver for long: the delivery-time check remains.
RESOLVE_TIMEOUT_SECONDS = 5.0

TargetCheck = Callable[[str], Awaitable[str]]
"""The URL as it is stored and connected to, or ValidationFailed("url", why it must not be registered)."""


def registration_check(
    *,
    allow_private: bool,
    resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS,
    lookup: Lookup = system_lookup,
    classify: Classify = address_class,
) -> TargetCheck:
    """Normalise the URL, and refuse it when its host is certainly not public (unless allowed).

    A name that does not resolve (yet), or too slowly, is accepted: its attempts will say why
    they fail.
    """

    async def check(url: str) -> str:
        try:
            target = endpoint_target(url)
        except InvalidTargetUrl as invalid:
            raise ValidationFailed("url", str(invalid)) from None
        refused = None if allow_private else await target_refusal(target, resolve_timeout, lookup, classify)
        if refused is not None:
            raise ValidationFailed("url", refused)
        return target.text

    return check


async def target_refusal(
    target: EndpointTarget, resolve_timeout: float, lookup: Lookup, classify: Classify
) -> str | None:
    """Why the target's host is not public, or None (also when that cannot be told now).

    A name goes through the resolver the attempts use (`localhost` names are refused unasked).
    """
    if target.address is not None:
        kind = classify(target.address)
        return None if kind is None else refusal(target.host, target.address, kind, literal=True)
    resolver = GuardedResolver(allow_private=False, lookup=lookup, classify=classify)
    try:
        async with asyncio.timeout(resolve_timeout):
            await resolver.resolve(target.host, target.port)
    except ForbiddenTarget as refused:
        return None if isinstance(refused, UnresolvableTarget) else str(refused)
    except (OSError, TimeoutError):  # no answer (now), or not in time
        return None
    return None
