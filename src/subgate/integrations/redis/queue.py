"""The TaskQueue port on arq. Redis only executes; the database remains the truth.

Job ids are derived from the database state a job acts on, so enqueuing the same
work twice (the sweeper racing a worker) collapses into one queued job. Results
are not kept, so the same id can be queued again once the job has finished.
A failed enqueue is logged and dropped: the sweeper finds the work again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from subgate.domain.shared.clock import Clock, system_clock

PROCESS_INBOUND = "process_inbound"
DELIVER_WEBHOOK = "deliver_webhook"

log = structlog.get_logger()


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 2
    return settings


class ArqQueue:
    def __init__(self, pool: ArqRedis, clock: Clock = system_clock) -> None:
        self.pool = pool
        # The same clock as the domain: a due time it computed is turned into a delay from its "now".
        self._clock = clock

    @classmethod
    async def connect(cls, url: str, clock: Clock = system_clock) -> ArqQueue:
        return cls(await create_pool(redis_settings(url)), clock)

    async def enqueue_inbound(self, event_id: str, trace_carrier: Mapping[str, str]) -> None:
        await self._enqueue(PROCESS_INBOUND, f"inbound:{event_id}", None, event_id, dict(trace_carrier))

    async def enqueue_delivery(
        self, delivery_id: str, version: int, at: datetime, trace_carrier: Mapping[str, str]
    ) -> None:
        delay = at - self._clock()
        await self._enqueue(
            DELIVER_WEBHOOK,
            f"deliver:{delivery_id}:{version}",
            delay if delay > timedelta(0) else None,
            delivery_id,
            dict(trace_carrier),
        )

    async def _enqueue(self, function: str, job_id: str, delay: timedelta | None, *args: object) -> None:
        try:
            await self.pool.enqueue_job(function, *args, _job_id=job_id, _defer_by=delay)
        except (RedisError, OSError) as error:
            log.warning("enqueue failed; the sweeper will retry", job_id=job_id, error=str(error))

    async def ping(self) -> bool:
        try:
            return bool(await self.pool.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.pool.aclose()
