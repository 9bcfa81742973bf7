"""Liveness and readiness probes (no authentication, no tracing: probes would drown real spans)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response

from gateway.deps import ReadinessCheck, WorkerCheck
from gateway.responses import json_response
from gateway.routing import Answer, Operation
from gateway.schemas.health import Liveness, Readiness, Workers

log = structlog.get_logger()

PROBE_PATHS = ("/healthz", "/readyz")
_TAG = "probes"


async def healthz(_: Request) -> Response:
    return json_response(Liveness(status="ok"))


async def _workers(census: WorkerCheck | None) -> Workers | None:
    """What the store says of the workers; None when there is no census or it cannot be read."""
    if census is None:
        return None
    try:
        found = await census()
    except Exception as error:  # noqa: BLE001 - the store check says why; this only says less
        log.warning("worker_census_failed", error=type(error).__name__)
        return None
    return Workers(alive=found.alive, silent=found.silent, heartbeat_age_seconds=found.heartbeat_age_seconds)


def health_operations(readiness: ReadinessCheck, workers: WorkerCheck | None = None) -> list[Operation]:
    async def readyz(_: Request) -> Response:
        try:
            checks = dict(await readiness())
        except Exception as error:  # a failing probe is an answer (503), not a crash
            log.warning("readiness_check_failed", error=type(error).__name__, exc_info=error)
            return json_response(Readiness(status="unavailable", checks={}), status_code=503)
        ready = all(checks.values())
        # A store that cannot be reached cannot tell of the workers either (and need not be waited for).
        census = await _workers(workers) if checks.get("store", True) else None
        answer = Readiness(status="ok" if ready else "unavailable", checks=checks, workers=census)
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
            summary="Readiness: the store and Redis are reachable (and whether workers run, not a check)",
            tag=_TAG,
            answers=(
                Answer(status=200, schema=Readiness, description="Every check passes."),
                Answer(status=503, schema=Readiness, description="A check fails: see `checks`."),
            ),
        ),
    ]
