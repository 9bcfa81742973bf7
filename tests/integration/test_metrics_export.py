"""Metrics leave by OTLP/HTTP when an endpoint is set, from settings through the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from subgate.bootstrap import build
from subgate.settings import load_settings


@dataclass
class Collector:
    """An OTLP/HTTP receiver on loopback that keeps what it was sent, by path."""

    url: str = ""
    bodies: dict[str, list[bytes]] = field(default_factory=dict)

    def metric_names(self) -> set[str]:
        names: set[str] = set()
        for body in self.bodies.get("/v1/metrics", []):
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    names.update(metric.name for metric in scope.metrics)
        return names


@asynccontextmanager
async def running_collector() -> AsyncIterator[Collector]:
    collector = Collector()

    async def handle(request: web.Request) -> web.Response:
        collector.bodies.setdefault(request.path, []).append(await request.read())
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    collector.url = f"http://127.0.0.1:{port}"
    try:
        yield collector
    finally:
        await runner.cleanup()


async def test_the_otlp_endpoint_receives_the_metrics(tmp_path: Path, redis_url: str) -> None:
    async with running_collector() as collector:
        settings = load_settings(
            {
                "SUBGATE_DATA_DIR": str(tmp_path),
                "SUBGATE_OTLP_ENDPOINT": collector.url,
                "SUBGATE_METRICS_TOKEN": "scrape-me",
            },
            dotenv=None,
        )
        deps = await build(settings, redis_url=redis_url)
        try:
            assert deps.gateway.config.metrics_token == "scrape-me"
            deps.telemetry.metrics.inbound_event("stripe", "accepted")
            # The exporter posts synchronously: from a thread, so this loop can answer it.
            assert await asyncio.to_thread(deps.telemetry.meter_provider.force_flush)
        finally:
            await deps.close()

    assert "subgate.inbound.events" in collector.metric_names()


async def test_metrics_can_be_kept_from_the_traces_endpoint(tmp_path: Path, redis_url: str) -> None:
    async with running_collector() as traces, running_collector() as metrics:
        settings = load_settings(
            {
                "SUBGATE_DATA_DIR": str(tmp_path),
                "SUBGATE_OTLP_ENDPOINT": traces.url,
                "SUBGATE_OTLP_METRICS_ENDPOINT": metrics.url + "/otlp",
            },
            dotenv=None,
        )
        deps = await build(settings, redis_url=redis_url)
        try:
            deps.telemetry.metrics.inbound_event("polar", "duplicate")
            assert await asyncio.to_thread(deps.telemetry.meter_provider.force_flush)
        finally:
            await deps.close()

    assert list(metrics.bodies) == ["/otlp/v1/metrics"]
    assert "/v1/metrics" not in traces.bodies
