"""`/v1/dead-letters`: messages that ran out of attempts, and replaying them."""

from __future__ import annotations

from starlette.requests import Request

from domain.merchants.model import Merchant
from gateway.decoding import in_utc
from gateway.schemas import dead_letters as schema
from gateway.schemas.common import page_of
from gateway.schemas.deliveries import delivery
from gateway.v1 import Resource, route


class DeadLettersApi(Resource):
    tag = "dead_letters"

    @route("GET", "/dead-letters", "List dead letters not replayed yet")
    async def list(
        self, _: Request, merchant: Merchant, query: schema.DeadLetterQuery
    ) -> schema.DeadLetterPage:
        """Dead letters not replayed yet."""
        page = await self._deps.notifications.list_dead_letters(merchant.id, query.kind, query.page())
        return page_of(page, schema.dead_letter)

    @route("POST", "/dead-letters/replay", "Replay dead letters in bulk", optional_body=True)
    async def replay_many(
        self, _: Request, merchant: Merchant, body: schema.BulkReplayRequest
    ) -> schema.BulkReplay:
        """`{since?, kind?}` (an empty body replays them all); those that cannot go are listed as skipped."""
        since = None if body.since is None else in_utc(body.since, "since")
        summary = await self._deps.notifications.replay_dead_letters(merchant.id, body.kind, since)
        return schema.BulkReplay(
            replayed=len(summary.replayed),
            dead_letter_ids=list(summary.replayed),
            skipped=[
                schema.Skipped(id=dl_id, reason=reason, type=summary.refusals.get(dl_id, "conflict"))
                for dl_id, reason in summary.skipped
            ],
        )

    @route("POST", "/dead-letters/{dead_letter_id}/replay", "Replay a dead letter")
    async def replay(self, request: Request, merchant: Merchant) -> schema.DeadLetterReplay:
        """The dead letter's delivery, due now: the same message, signed with today's secrets."""
        dead_letter_id = str(request.path_params["dead_letter_id"])
        due = await self._deps.notifications.replay_dead_letter(merchant.id, dead_letter_id)
        return schema.DeadLetterReplay(dead_letter_id=dead_letter_id, delivery=delivery(due))
