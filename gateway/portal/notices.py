"""What a page says after a form did its work (`?done=...` on the page the form led to).

Only known codes are read, and counts as plain numbers: nothing a link carries is shown as it is.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

NOTICES: Final = {
    "added": "Endpoint added. Reveal its secret below to set up signature checks.",
    "saved": "Changes saved.",
    "enabled": "Endpoint enabled: deliveries go to it again, and its failure count starts afresh.",
    "disabled": "Endpoint disabled: nothing is sent to it until it is enabled again.",
    "deleted": "Endpoint deleted; deliveries still waiting for it were canceled.",
    "rotated": "Secret rotated. The previous secret keeps signing alongside the new one for 24 hours; "
    "reveal the secrets to copy the new one.",
    "test_sent": "Test event sent to the endpoint. Reload this page to see its attempt.",
    "retried": "The delivery is due again now; reload this page to see the attempt.",
    "replayed": "Replayed: the delivery is due again now.",
    "reprocessed": "The event will be processed again.",
}
_MAX_COUNT: Final = 10**9


def _count(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(_MAX_COUNT)):
        return None
    return int(raw)


def notice_of(request: Request) -> str | None:
    done = request.query_params.get("done")
    if done == "recovered":
        replayed, skipped = _count(request, "replayed"), _count(request, "skipped")
        if replayed is None or skipped is None:
            return None
        return f"Recovered: {replayed} dead letter(s) replayed, {skipped} could not go (see their endpoint)."
    return NOTICES.get(done or "")
