"""One merchant's traffic through the real services on any store, with a fake clock: what the
retention and erasure tests (contracts, the soak) drive.

The merchant has a Stripe connection and one endpoint; each name received is a new Stripe
subscription whose customer (embedded, with an email address) is new too: two events, created
in its trial then active, so two notifications (`subscription.created`, `.activated`: two
webhooks) and an activation email. `process`
runs what a worker would: claim and apply the events, fan out, attempt every due delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.merchants.external import MerchantsExternal, NewConnection
from domain.merchants.internal import MerchantsInternal
from domain.notifications.external import NewEndpoint, NotificationsExternal
from domain.notifications.internal import DeadLettersInternal, NotificationsInternal
from domain.notifications.ports import OutboundEmail, SendResult
from domain.notifications.retry import RetryPolicy
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.delivery.email.mailers import KeepingMailer
from integrations.delivery.email.render import EmailRenderer
from integrations.providers.stripe.samples import T0, subscription_event
from integrations.stores.documents import DocumentStore
from integrations.stores.retention.purge import Purger, PurgeTiming
from integrations.stores.txn import StoreTxn
from tests.contracts.steps import apply_claimed
from tests.support.fakes import PERSONAL_DATA, FakeClock, RecordingSender, RecordingSignal
from tests.support.work import deliver_due, verified_stripe_event

OWNER = "wrk_world"
PAYLOADS = timedelta(days=90)
RECORDS = timedelta(days=400)


class SilentLog:
    """Where the keeping mailer writes its sent-mail records: kept for a look, never printed."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


class ScriptedMailer:
    """The keeping mailer (its real record of the text), or a refusal while `refusing` is set."""

    def __init__(self) -> None:
        self.log = SilentLog()
        self._keeping = KeepingMailer("billing@localhost", EmailRenderer(), self.log)
        self.refusing: SendResult | None = None
        self.sent: list[OutboundEmail] = []

    async def send(self, email: OutboundEmail) -> SendResult:
        self.sent.append(email)
        if self.refusing is not None:
            return self.refusing
        return await self._keeping.send(email)


@dataclass
class StoreWorld:
    store: DocumentStore
    clock: FakeClock
    txn: StoreTxn
    sender: RecordingSender
    mailer: ScriptedMailer
    merchant_id: str
    connection_id: str
    endpoint_id: str
    inbound: InboundExternal
    inbound_internal: InboundInternal
    subscriptions: SubscriptionsInternal
    subscriptions_external: SubscriptionsExternal
    notifications: NotificationsInternal
    notifications_external: NotificationsExternal
    dead_letters: DeadLettersInternal
    purger: Purger

    async def receive(self, name: str, *, email: str | None = None) -> None:
        """Two events: the subscription created in its trial, then active (an activation email)."""
        customer = {"id": f"cus_{name}", "object": "customer", "email": email or f"{name}@example.com"}
        for event_type, status, event_id, second in (
            ("customer.subscription.created", "trialing", f"evt_{name}", 0),
            ("customer.subscription.updated", "active", f"evt_{name}_active", 1),
        ):
            body = subscription_event(
                event_type,
                event_id=event_id,
                created=T0 + second,
                sub_id=f"sub_{name}",
                customer=customer,
                status=status,
            )
            await self.inbound.receive(
                verified_stripe_event(
                    merchant_id=self.merchant_id,
                    connection_id=self.connection_id,
                    event_id=event_id,
                    event_type=event_type,
                    body=body,
                )
            )

    async def renew(self, name: str, period: int) -> None:
        """A later event of the subscription `receive(name)` made: its `period`-th hour-long period
        (from 1): a `subscription.renewed` webhook and a renewal email."""
        customer = {"id": f"cus_{name}", "object": "customer", "email": f"{name}@example.com"}
        event_id = f"evt_{name}_{period}"
        body = subscription_event(
            "customer.subscription.updated",
            event_id=event_id,
            created=T0 + 1 + period,
            sub_id=f"sub_{name}",
            customer=customer,
            period_start=T0 + period * 3600,
            period_end=T0 + (period + 1) * 3600,
        )
        verified = verified_stripe_event(
            merchant_id=self.merchant_id,
            connection_id=self.connection_id,
            event_id=event_id,
            event_type="customer.subscription.updated",
            body=body,
        )
        await self.inbound.receive(verified)

    async def process(self) -> None:
        """Apply the waiting events, fan out their messages, attempt every delivery due now."""
        await apply_claimed(self.inbound_internal, self.subscriptions, self.clock, OWNER, 100)
        while await self.notifications.dispatch_pending(100):
            pass
        while await deliver_due(self.notifications, OWNER, 100):
            pass


async def store_world(
    store: DocumentStore,
    *,
    clock: FakeClock | None = None,
    payloads: timedelta = PAYLOADS,
    records: timedelta = RECORDS,
    timing: PurgeTiming | None = None,
) -> StoreWorld:
    """A merchant with a Stripe connection and one endpoint on `store` (migrated already)."""
    clock = clock or FakeClock()
    txn = StoreTxn(store, clock=clock)
    signal = RecordingSignal()
    sender = RecordingSender()
    mailer = ScriptedMailer()
    merchant, _ = await MerchantsInternal(txn, clock).create_merchant("World")
    merchants = MerchantsExternal(txn, clock)
    connection = await merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_store_world"])
    )
    notifications_external = NotificationsExternal(txn, clock, signal)
    endpoint = await notifications_external.create_endpoint(
        merchant.id, NewEndpoint(url="https://hooks.example.com/world")
    )
    return StoreWorld(
        store=store,
        clock=clock,
        txn=txn,
        sender=sender,
        mailer=mailer,
        merchant_id=merchant.id,
        connection_id=connection.id,
        endpoint_id=endpoint.id,
        inbound=InboundExternal(txn, clock, signal, personal_data=PERSONAL_DATA),
        inbound_internal=InboundInternal(txn, clock),
        subscriptions=SubscriptionsInternal(txn, clock, dict),
        subscriptions_external=SubscriptionsExternal(txn, clock),
        notifications=NotificationsInternal(
            txn,
            clock,
            signal,
            sender,
            RetryPolicy(schedule=(10.0,), jitter=0.0),
            10.0,
            mailer=mailer,
        ),
        notifications_external=notifications_external,
        dead_letters=DeadLettersInternal(txn, clock),
        purger=Purger(store, clock, payloads=payloads, records=records, timing=timing),
    )
