"""Liveness and readiness probes (no authentication, no tracing: probes would drown real spans)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response

from gateway.deps import ReadinessCheck
from gateway.responses import json_response
from gateway.routing import Answer, Operation
from gateway.schemas.health import Liveness, Readiness

log = structlog.get_logger()

PROBE_PATHS = ("/healthz", "/readyz")
_TAG = "probes"


async def healthz(_: Request) -> Response:
    return json_response(Liveness(status="ok"))


def health_operations(readiness: ReadinessCheck) -> list[Operation]:
    async def readyz(_: Request) -> Response:
        try:
            checks = dict(await readiness())
        except Exception as error:  # a failing probe is an answer (503), not a crash
            log.warning("readiness_check_failed", error=type(error).__name__, exc_info=error)
            return json_response(Readiness(status="unavailable", checks={}), status_code=503)
        ready = all(checks.values())
        answer = Readiness(status="ok" if ready else "unavailable", checks=checks)
        return json_response(answer, status_code=200 if ready else 503)

    return [
        Operation(
            method="GET",
            path="/healthz",
            endpoint=healthz,
            operation_id="healthz",
            summary="Liveness",
            tag=_TAG,
            answers=(Answer(status=200, schema=Liveness, description="The process answers."),),
        ),
        Operation(
            method="GET",
            path="/readyz",
            endpoint=readyz,
            operation_id="readyz",
            summary="Readiness: the store and Redis are reachable",
            tag=_TAG,
            answers=(
                Answer(status=200, schema=Readiness, description="Every check passes."),
                Answer(status=503, schema=Readiness, description="A check fails: see `checks`."),
            ),
        ),
    ]
