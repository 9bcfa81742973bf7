"""Liveness and readiness probes (no authentication, no tracing: probes would drown real spans)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.deps import ReadinessCheck
from gateway.responses import json_response

log = structlog.get_logger()

PROBE_PATHS = ("/healthz", "/readyz")


async def healthz(_: Request) -> Response:
    return json_response({"status": "ok"})


def health_routes(readiness: ReadinessCheck) -> list[Route]:
    async def readyz(_: Request) -> Response:
        try:
            checks = dict(await readiness())
        except Exception as error:  # a failing probe is an answer (503), not a crash
            log.warning("readiness_check_failed", error=type(error).__name__, exc_info=error)
            return json_response({"status": "unavailable", "checks": {}}, status_code=503)
        ready = all(checks.values())
        return json_response(
            {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
