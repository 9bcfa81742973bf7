"""`GET /metrics`: this process's metrics in Prometheus text format, never public by default.

With `SUBGATE_METRICS_TOKEN` set, a scrape must present it as a bearer token (from anywhere).
Without it, only loopback clients are answered: the client address is resolved as for inbound
webhooks (X-Forwarded-For counts only through `SUBGATE_TRUSTED_PROXIES`), so a trusted proxy
on the same host does not make the world a loopback client.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from ipaddress import ip_address

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import mark_authenticated
from gateway.client_ip import IPNetwork, client_ip
from gateway.errors import BEARER_CHALLENGE
from gateway.responses import error_response
from gateway.routing import Answer, Operation, Security
from integrations.telemetry.metrics import PrometheusText

METRICS_PATH = "/metrics"


def metrics_operations(
    text: PrometheusText, token: str | None, trusted: Sequence[IPNetwork]
) -> list[Operation]:
    async def metrics(request: Request) -> Response:
        refusal = _refusal(request, token, trusted)
        if refusal is not None:
            return refusal
        return Response(text.render(), media_type=text.content_type)

    return [
        Operation(
            method="GET",
            path=METRICS_PATH,
            endpoint=metrics,
            operation_id="metrics",
            summary="This process's metrics",
            description=__doc__,
            tag="probes",
            security=Security.METRICS_TOKEN,
            answers=(
                Answer(
                    status=200, schema=str, description="Prometheus text format.", media_type="text/plain"
                ),
            ),
            # 401: SUBGATE_METRICS_TOKEN is set and not presented; 403: it is unset and the client
            # is not on loopback; 429: too many wrong tokens from the client's address.
            errors=frozenset({401, 403, 429}),
        )
    ]


def _refusal(request: Request, token: str | None, trusted: Sequence[IPNetwork]) -> Response | None:
    if token is not None:
        if _presents(request, token):
            mark_authenticated(request)
            return None
        return error_response(
            401,
            "unauthenticated",
            "metrics need the SUBGATE_METRICS_TOKEN: Authorization: Bearer <token>",
            BEARER_CHALLENGE,
        )
    peer = request.client.host if request.client else None
    address = client_ip(peer, request.headers.getlist("x-forwarded-for"), trusted)
    if address is not None and ip_address(address).is_loopback:
        return None
    return error_response(
        403,
        "forbidden",
        "metrics are served to loopback clients only; set SUBGATE_METRICS_TOKEN to scrape from elsewhere",
    )


def _presents(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").strip().partition(" ")
    # Compared in constant time: the answer must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
