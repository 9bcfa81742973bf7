"""The composition root: every object is built here, from settings, by plain constructors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

import structlog
from arq.connections import ArqRedis

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.merchants.external import MerchantsExternal
from domain.merchants.internal import MerchantsInternal
from domain.merchants.portal import PortalSessions
from domain.notifications.external import NotificationsExternal
from domain.notifications.history import NotificationHistory
from domain.notifications.internal import DeliveryOptions, NotificationsInternal
from domain.notifications.ports import Mailer
from domain.notifications.retry import RetryPolicy
from domain.shared.clock import Clock, system_clock
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.provider import ProviderDirectory
from domain.subscriptions.timed_moves import Timing
from gateway.deps import GatewayConfig, GatewayDeps, PortalDeps, WorkerCheck
from integrations.delivery.email.mailers import KeepingMailer, SmtpMailer
from integrations.delivery.email.render import EmailRenderer
from integrations.delivery.email.url import parse_smtp_url
from integrations.delivery.http.registration import registration_check
from integrations.delivery.http.sender import HttpWebhookSender, OutboundClient
from integrations.providers.interface import ApiKeyLookup, ProviderAdapter
from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.paddle.personal import PADDLE_PERSONAL
from integrations.providers.personal import PersonalFields, ProviderPayloads
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.polar.personal import POLAR_PERSONAL
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.personal import STRIPE_PERSONAL
from integrations.redis.client import ping as ping_redis, redis_client
from integrations.redis.failures import MemoryFailureCounter, RedisFailureCounter
from integrations.redis.ratelimit import RedisRateLimiter, parse_rate_limit
from integrations.redis.signals import FanOutSignal, LocalSignal, RedisSignal
from integrations.stores.backlog import QueueCounts
from integrations.stores.documents import DocumentStore
from integrations.stores.idempotency import StoredIdempotencyKeys
from integrations.stores.leases import DEAD_AFTER_SECONDS, WorkerCensus, WorkerRegistry
from integrations.stores.migrations.runner import Migrator
from integrations.stores.probe import WriteProbe
from integrations.stores.sealing.resealing import Resealer
from integrations.stores.sealing.sealed import SealedStore
from integrations.stores.txn import StoreTxn, runs_transactions
from integrations.telemetry.metrics import MeteredJournal, MeteredUnreadable
from integrations.telemetry.tracing import Telemetry, TracedMailer, TracedTxn
from subgate.commands.store import open_store, retention
from subgate.settings import Settings
from workers.deps import InboundBatches, WorkerConfig, WorkerDeps


def providers(
    api_keys: ApiKeyLookup | None = None, clock: Clock = system_clock
) -> Mapping[str, ProviderAdapter]:
    """Every implemented provider, by the name in its webhook URL (a connection to any other is 422).

    `api_keys` gives an adapter the connection's provider API key, to fetch what an event lacks.
    """
    stripe = StripeAdapter(clock=clock) if api_keys is None else StripeAdapter(api_keys=api_keys, clock=clock)
    return {adapter.name: adapter for adapter in (stripe, PolarAdapter(), PaddleAdapter())}


def managements(adapters: Mapping[str, ProviderAdapter]) -> ProviderDirectory:
    """The providers at which merchants' subscription requests are carried out, by name."""
    return {name: adapter.management for name, adapter in adapters.items() if adapter.management is not None}


def personal_fields() -> Mapping[str, PersonalFields]:
    """Where each implemented provider's payloads carry a customer's personal data (erasure)."""
    return {"stripe": STRIPE_PERSONAL, "polar": POLAR_PERSONAL, "paddle": PADDLE_PERSONAL}


def mailer(settings: Settings) -> Mailer:
    """SMTP when `SUBGATE_SMTP_URL` is set; otherwise emails are kept as sent-mail records (logged)."""
    renderer = EmailRenderer()
    if settings.smtp_url is None:
        return KeepingMailer(settings.email_from, renderer, structlog.get_logger())
    return SmtpMailer(
        parse_smtp_url(settings.smtp_url), settings.email_from, renderer, settings.delivery_timeout_seconds
    )


class ConnectionKeys:
    """The subscriptions context's `ProviderAccounts`: the API key of a merchant's connection.

    The oldest connection to the provider that holds a key; None when none does (the
    merchant's subscriptions are then run by subgate).
    """

    def __init__(self, merchants: MerchantsExternal) -> None:
        self._merchants = merchants

    async def api_key(self, merchant_id: str, provider: str) -> str | None:
        connections = sorted(await self._merchants.list_connections(merchant_id), key=lambda c: c.id)
        return next((c.api_key for c in connections if c.provider.value == provider and c.api_key), None)


@dataclass(kw_only=True)
class Deps:
    settings: Settings
    clock: Clock
    telemetry: Telemetry
    store: DocumentStore
    redis: ArqRedis
    signal: RedisSignal
    http: OutboundClient
    gateway: GatewayDeps
    worker: WorkerDeps
    admin: MerchantsInternal
    # Checks at start that every stored secret opens; the worker re-seals with it after a rotation.
    secrets: Resealer
    rate_limiter: RedisRateLimiter | None = None
    auth_failures: RedisFailureCounter | None = None
    write_probe: WriteProbe | None = None
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.http.aclose()
        if self.rate_limiter is not None:
            await self.rate_limiter.aclose()
        if self.auth_failures is not None:
            await self.auth_failures.aclose()
        if self.write_probe is not None:
            await self.write_probe.close()
        await self.signal.close()
        await self.redis.aclose()
        await self.store.close()
        # Its last export is a blocking HTTP call: off the event loop, which may still be busy.
        await asyncio.to_thread(self.telemetry.shutdown)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Shared:
    """What the gateway's and the workers' dependencies are built from."""

    settings: Settings
    clock: Clock
    telemetry: Telemetry
    store: SealedStore
    txn: TracedTxn
    redis: ArqRedis
    # The gateway's signals reach this process's loops directly (dev runs both in one
    # process) and other processes' through Redis.
    local: LocalSignal
    remote: RedisSignal
    signal: FanOutSignal
    adapters: Mapping[str, ProviderAdapter]
    timing: Timing
    # The store's sessions are not transactions (a MongoDB server without replica set).
    carried: bool = False


async def build(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    telemetry: Telemetry | None = None,
    redis_url: str | None = None,
) -> Deps:
    """Wire every service (connections open lazily). `redis_url` overrides the setting."""
    url = redis_url or settings.redis_url
    if url is None:
        raise ValueError("a Redis URL is required (the dev command starts an embedded one)")
    shared = _shared(settings, clock, telemetry, url)
    if not await runs_transactions(shared.store):
        shared = replace(shared, carried=True)
    http = OutboundClient(allow_private_targets=settings.allow_private_targets)
    rate_limits = parse_rate_limit(settings.rate_limit or "")
    limiter = RedisRateLimiter(url, rate_limits) if rate_limits else None
    auth_failures = _auth_failure_counter(url, settings)
    # "store": it takes a write, not only a ping (a full disk still answers reads).
    write_probe = WriteProbe(shared.store, clock)
    resealer = Resealer(shared.store, clock)
    return Deps(
        settings=settings,
        clock=clock,
        telemetry=shared.telemetry,
        store=shared.store,
        redis=shared.redis,
        signal=shared.remote,
        http=http,
        admin=MerchantsInternal(shared.txn, clock),
        secrets=resealer,
        rate_limiter=limiter,
        auth_failures=auth_failures,
        write_probe=write_probe,
        gateway=_gateway(shared, write_probe, limiter, auth_failures),
        worker=_worker(shared, http, resealer),
    )


def _shared(settings: Settings, clock: Clock, telemetry: Telemetry | None, redis_url: str) -> _Shared:
    telemetry = telemetry or Telemetry(
        "subgate",
        settings.otlp_endpoint,
        sample_ratio=settings.trace_sample_ratio,
        metrics_endpoint=settings.otlp_metrics_endpoint,
    )
    # Secrets are sealed and opened on their way to and from the backend (SUBGATE_SECRET_KEY).
    store = open_store(settings)
    redis = redis_client(redis_url)
    local = LocalSignal()
    remote = RedisSignal(redis)
    # Unreadable work items the store takes out of their queues are logged and counted.
    stored = StoreTxn(store, MeteredUnreadable(telemetry.metrics), clock=clock)
    txn = TracedTxn(stored, telemetry.tracer, _db_system(settings.database_url))
    return _Shared(
        settings=settings,
        clock=clock,
        telemetry=telemetry,
        store=store,
        txn=txn,
        redis=redis,
        local=local,
        remote=remote,
        signal=FanOutSignal((local, remote)),
        adapters=providers(MerchantsInternal(txn, clock).api_key, clock),
        timing=Timing(past_due_grace=timedelta(days=settings.past_due_grace_days)),
    )


def _gateway(
    shared: _Shared,
    write_probe: WriteProbe,
    limiter: RedisRateLimiter | None,
    auth_failures: RedisFailureCounter | None,
) -> GatewayDeps:
    settings, clock, txn = shared.settings, shared.clock, shared.txn
    merchants = MerchantsExternal(txn, clock)

    async def readiness() -> Mapping[str, bool]:
        store_ok = await write_probe.writable()
        return {"store": store_ok, "redis": await ping_redis(shared.redis)}

    return GatewayDeps(
        config=GatewayConfig(
            base_url=settings.base_url,
            trusted_proxies=settings.trusted_proxies,
            max_body_bytes=settings.max_body_bytes,
            webhook_tolerance_seconds=settings.webhook_tolerance_seconds,
            metrics_token=settings.metrics_token,
        ),
        clock=clock,
        telemetry=shared.telemetry,
        providers=shared.adapters,
        merchants=merchants,
        subscriptions=SubscriptionsExternal(
            txn,
            clock,
            trace=shared.telemetry.carrier,
            timing=shared.timing,
            accounts=ConnectionKeys(merchants),
            providers=managements(shared.adapters),
            carried=shared.carried,
        ),
        inbound=InboundExternal(txn, clock, shared.signal, personal_data=ProviderPayloads(personal_fields())),
        notifications=NotificationsExternal(txn, clock, shared.signal),
        readiness=readiness,
        workers=_census(WorkerRegistry(shared.store, clock)),
        check_target=registration_check(allow_private=settings.allow_private_targets),
        idempotency=StoredIdempotencyKeys(shared.store, clock),
        rate_limiter=limiter,
        auth_failures=auth_failures,
        portal=PortalDeps(
            sessions=PortalSessions(txn, clock),
            history=NotificationHistory(txn, clock),
            frame_ancestors=settings.portal_frame_ancestors,
        ),
    )


def _worker(shared: _Shared, http: OutboundClient, resealer: Resealer) -> WorkerDeps:
    settings, clock, txn, telemetry = shared.settings, shared.clock, shared.txn, shared.telemetry
    notifications = NotificationsInternal(
        txn,
        clock,
        shared.signal,
        HttpWebhookSender(http, telemetry, settings.delivery_timeout_seconds),
        RetryPolicy(schedule=settings.retry_schedule),
        settings.delivery_timeout_seconds,
        mailer=TracedMailer(mailer(settings), telemetry.tracer),
        options=DeliveryOptions(
            order_wait=timedelta(seconds=settings.order_wait_seconds),
            # Counts the endpoints it reports as disabled (subgate_endpoints_disabled_total).
            journal=MeteredJournal(structlog.get_logger(), telemetry.metrics),
            carried=shared.carried,
        ),
    )
    return WorkerDeps(
        config=WorkerConfig(
            delivery_timeout_seconds=settings.delivery_timeout_seconds,
            max_in_flight=settings.worker_max_jobs,
            per_endpoint=settings.endpoint_concurrency,
            poll_seconds=settings.worker_poll_seconds,
        ),
        clock=clock,
        telemetry=telemetry,
        providers=shared.adapters,
        signal=shared.local,
        registry=WorkerRegistry(shared.store, clock),
        queues=QueueCounts(shared.store, clock),
        secrets=resealer,
        retention=retention(shared.store, clock, settings),
        redis=shared.redis,
        subscriptions=SubscriptionsInternal(
            txn, clock, telemetry.carrier, timing=shared.timing, carried=shared.carried
        ),
        inbound=InboundInternal(txn, clock),
        notifications=notifications,
        batches=InboundBatches(
            store=shared.store,
            clock=clock,
            trace=telemetry.carrier,
            timing=shared.timing,
            # A span for each event's unit of work in a batch, as for a transaction of its own.
            units=lambda units: TracedTxn(units, telemetry.tracer, _db_system(settings.database_url)),
            carried=shared.carried,
        ),
    )


def _census(registry: WorkerRegistry) -> WorkerCheck:
    """What `/readyz` reports of the workers (see `integrations.stores.leases`)."""

    async def census() -> WorkerCensus:
        return await registry.census(timedelta(seconds=DEAD_AFTER_SECONDS))

    return census


def _auth_failure_counter(redis_url: str, settings: Settings) -> RedisFailureCounter | None:
    """Shared by every process through Redis; in this process's memory while Redis is away."""
    limits = parse_rate_limit(settings.auth_failure_limit or "")
    return RedisFailureCounter(redis_url, limits, MemoryFailureCounter(limits)) if limits else None


def _db_system(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite:") else "mongodb"


async def migrate(store: DocumentStore) -> None:
    """The store's schema created, or brought up to this release's (`subgate migrate`)."""
    await Migrator(_backend_of(store), clock=system_clock).prepare(upgrade=True)


def _backend_of(store: DocumentStore) -> DocumentStore:
    # Steps rewrite stored forms: under the sealing layer, whatever key this process has.
    return store.inner if isinstance(store, SealedStore) else store
