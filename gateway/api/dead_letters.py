"""`/v1/dead-letters`: messages that ran out of attempts, and replaying them."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.model import DeadLetterKind
from domain.shared.errors import ValidationFailed
from gateway.api.deliveries import full_delivery_view
from gateway.auth import v1_route
from gateway.body import parse_json_object, read_limited
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import dead_letter_view, page_view
from gateway.validation import optional_str, page_request, query_enum


class DeadLettersApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/dead-letters", {"GET": self.list}),
            v1_route(merchants, "/dead-letters/replay", {"POST": self.replay_many}),
            v1_route(merchants, "/dead-letters/{dead_letter_id}/replay", {"POST": self.replay}),
        ]

    async def list(self, request: Request, merchant: Merchant) -> Response:
        """Dead letters not replayed yet."""
        kind = query_enum(request, "kind", DeadLetterKind)
        page = await self._deps.notifications.list_dead_letters(merchant.id, kind, page_request(request))
        return json_response(page_view(page, dead_letter_view))

    async def replay(self, request: Request, merchant: Merchant) -> Response:
        """The dead letter's delivery, due now: the same message, signed with today's secrets."""
        dead_letter_id = str(request.path_params["dead_letter_id"])
        delivery = await self._deps.notifications.replay_dead_letter(merchant.id, dead_letter_id)
        return json_response({"dead_letter_id": dead_letter_id, "delivery": full_delivery_view(delivery)})

    async def replay_many(self, request: Request, merchant: Merchant) -> Response:
        """`{since?, kind?}` (an empty body replays them all); those that cannot go are listed as skipped."""
        body = await read_limited(request, self._deps.config.max_body_bytes)
        data = parse_json_object(body) if body.strip() else {}
        kind_text = optional_str(data, "kind")
        kinds = {k.value: k for k in DeadLetterKind}
        if kind_text is not None and kind_text not in kinds:
            raise ValidationFailed("kind", f"must be one of {', '.join(kinds)}")
        summary = await self._deps.notifications.replay_dead_letters(
            merchant.id, kinds.get(kind_text or ""), _since(optional_str(data, "since"))
        )
        return json_response(
            {
                "replayed": len(summary.replayed),
                "dead_letter_ids": list(summary.replayed),
                "skipped": [{"id": dl_id, "reason": reason} for dl_id, reason in summary.skipped],
            }
        )


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("since", "must be an ISO 8601 time such as 2025-06-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValidationFailed("since", "must carry a time zone (Z for UTC)")
    return parsed.astimezone(UTC)
