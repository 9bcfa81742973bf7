"""Subscription operations for workers (Internal); HTTP handlers cannot import this module.

Each operation runs in one unit of work: it finds the subscription (see `linking`),
finishes what an earlier change left undone there (see `recording`), applies the pure rule
of `lifecycle`, stores the result and appends the events it caused to the outbox, then
claims the input's keys last. An input whose key is already claimed was applied before and
does nothing; a unit that loses a race is run again from scratch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from domain.shared.clock import Clock, public_time
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.outbox import TraceCarrier
from domain.shared.txn import TxnFn, with_retries
from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    LinkSubscription,
    ProviderCommand,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from domain.subscriptions.lifecycle import StaleUpdate, apply_payment, apply_sync
from domain.subscriptions.linking import (
    SUBSCRIPTION,
    adopt,
    customer_for,
    link_customer,
    locate_subscription,
    plan_for,
    reserved,
)
from domain.subscriptions.model import Subscription, terms_of
from domain.subscriptions.outcome import CommandOutcome, SubscriptionNotYetKnown
from domain.subscriptions.ports import SubscriptionsUnit
from domain.subscriptions.recording import (
    ChangeRecorder,
    Written,
    claim_all,
    first_time,
)
from domain.subscriptions.scheduler import ScheduleRun, SubscriptionScheduler
from domain.subscriptions.state_machine import SubscriptionStatus
from domain.subscriptions.timed_moves import StampingTxn, Timing, trial_reminder_key

ALREADY_APPLIED = "already applied"


def renewal_key(merchant_id: str, subscription_id: str, period_end: datetime | None) -> str:
    """The processed-input key of one period's renewal announcement."""
    return f"renewed:{merchant_id}:{subscription_id}:{public_time(period_end)}"


async def renewed_once(
    unit: SubscriptionsUnit, after: Subscription, events: list[EventType]
) -> tuple[list[EventType], tuple[str, ...]]:
    """`subscription.renewed` once per period end, whichever of a paid renewal and a snapshot
    moved the period there first; a second move to the same end is told as an update.
    Also the key to claim with the change (none when nothing is renewed)."""
    if EventType.SUBSCRIPTION_RENEWED not in events:
        return events, ()
    key = renewal_key(after.merchant_id, after.id, after.current_period_end)
    if await first_time(unit, key):
        return events, (key,)
    return [EventType.SUBSCRIPTION_UPDATED if e == EventType.SUBSCRIPTION_RENEWED else e for e in events], ()


class SubscriptionsInternal:
    """Apply normalized provider inputs (each idempotent per `source_key`), and run the scheduler."""

    def __init__(
        self,
        txn: TxnFn[SubscriptionsUnit],
        clock: Clock,
        trace: TraceCarrier,
        *,
        timing: Timing | None = None,
        carried: bool = False,
    ) -> None:
        """`carried`: the store's units of work are not transactions (see `recording`)."""
        self._txn = StampingTxn(txn, timing or Timing(), clock)
        self._clock = clock
        self._record = ChangeRecorder(trace, carried=carried)
        self._scheduler = SubscriptionScheduler(self._txn, clock, self._record)

    async def run_schedule(self) -> ScheduleRun:
        """Carry out the timed moves that are due (see `scheduler`); safe to run twice or at once."""
        return await self._scheduler.run_due()

    async def apply(self, command: ProviderCommand) -> CommandOutcome:
        """Whichever command it is."""
        match command:
            case SyncSubscription():
                return await self.sync_from_provider(command)
            case RecordPayment():
                return await self.record_payment(command)
            case RecordPaymentFailure():
                return await self.record_payment_failure(command)
            case AnnounceTrialEnd():
                return await self.announce_trial_end(command)
            case LinkSubscription():
                return await self.link(command)

    async def _run(
        self, source_key: str, work: Callable[[SubscriptionsUnit], Awaitable[CommandOutcome]]
    ) -> CommandOutcome:
        async def once(unit: SubscriptionsUnit) -> CommandOutcome:
            if not await first_time(unit, source_key):
                return CommandOutcome(applied=False, reason=ALREADY_APPLIED)
            return await work(unit)

        return await with_retries(self._txn, once)

    async def sync_from_provider(self, cmd: SyncSubscription) -> CommandOutcome:
        async def work(unit: SubscriptionsUnit) -> CommandOutcome:
            now = self._clock()
            located = await locate_subscription(
                unit, cmd.merchant_id, cmd.provider, cmd.provider_subscription_id, cmd.linked_subscription_id
            )
            sub, by_link = located.sub, located.by_link
            if sub is None:
                created, written = await self._create_from_provider(unit, cmd, now, located.left_link)
                events = [EventType.SUBSCRIPTION_CREATED]
                await self._record.commit(
                    unit, created, events, now, before=None, keys=(cmd.source_key,), written=written
                )
                return CommandOutcome(applied=True, subscription_id=created.id, events=tuple(events))
            sub, already = await self._record.settled(unit, sub, cmd.source_key)
            if already:
                return CommandOutcome(applied=False, subscription_id=sub.id, reason=ALREADY_APPLIED)
            adopted = await adopt(unit, sub, cmd.provider, cmd.provider_subscription_id, linked=by_link)
            # The provider's customer is this subscription's customer (for its later subscriptions).
            await link_customer(
                unit, cmd.merchant_id, cmd.provider, cmd.provider_customer_id, sub.customer_id
            )
            try:
                after, events = apply_sync(adopted, cmd, now)
            except StaleUpdate as stale:
                await self._record.commit(unit, adopted, [], now, before=sub, keys=(cmd.source_key,))
                return CommandOutcome(applied=False, subscription_id=sub.id, reason=stale.message)
            events, renewal = await renewed_once(unit, after, events)
            keys = (*renewal, cmd.source_key)
            await self._record.commit(unit, after, events, now, before=sub, keys=keys)
            return CommandOutcome(applied=True, subscription_id=sub.id, events=tuple(events))

        return await self._run(cmd.source_key, work)

    async def record_payment(self, cmd: RecordPayment) -> CommandOutcome:
        invoice_key = f"invoice:{cmd.provider}:{cmd.merchant_id}:{cmd.provider_invoice_id}"

        async def work(unit: SubscriptionsUnit) -> CommandOutcome:
            if not await first_time(unit, invoice_key):
                return CommandOutcome(applied=False, reason="invoice already recorded")
            sub = await self._known(unit, cmd)
            sub, already = await self._record.settled(unit, sub, invoice_key, cmd.source_key)
            if already:
                return CommandOutcome(applied=False, reason="invoice already recorded")
            now = self._clock()
            after, events = apply_payment(sub, cmd, now)
            events, renewal = await renewed_once(unit, after, events)
            payment = {
                "provider_invoice_id": cmd.provider_invoice_id,
                "amount": cmd.amount_paid,
                "currency": cmd.currency,
            }
            # Of two runs for one invoice (two of the provider's events name it), the second
            # finds the key claimed, or carried by the subscription, or loses the race to store.
            keys = (invoice_key, *renewal, cmd.source_key)
            await self._record.commit(unit, after, events, now, before=sub, keys=keys, payment=payment)
            return CommandOutcome(applied=True, subscription_id=sub.id, events=tuple(events))

        return await self._run(cmd.source_key, work)

    async def record_payment_failure(self, cmd: RecordPaymentFailure) -> CommandOutcome:
        attempt_key = (
            None
            if cmd.attempt is None
            else f"invoice-failure:{cmd.provider}:{cmd.merchant_id}:{cmd.provider_invoice_id}:{cmd.attempt}"
        )

        async def work(unit: SubscriptionsUnit) -> CommandOutcome:
            if attempt_key is not None and not await first_time(unit, attempt_key):
                return CommandOutcome(applied=False, reason="payment attempt already recorded")
            sub = await self._known(unit, cmd)
            keys = (cmd.source_key,) if attempt_key is None else (attempt_key, cmd.source_key)
            sub, already = await self._record.settled(unit, sub, *keys)
            if already:
                return CommandOutcome(applied=False, reason="payment attempt already recorded")
            payment = {
                "provider_invoice_id": cmd.provider_invoice_id,
                "amount": cmd.amount_due,
                "currency": cmd.currency,
                "failure": cmd.kind.value,
                "attempt": cmd.attempt,
            }
            now = self._clock()
            events = [EventType.PAYMENT_FAILED]
            await self._record.commit(unit, sub, events, now, before=sub, keys=keys, payment=payment)
            return CommandOutcome(applied=True, subscription_id=sub.id, events=tuple(events))

        return await self._run(cmd.source_key, work)

    async def announce_trial_end(self, cmd: AnnounceTrialEnd) -> CommandOutcome:
        async def work(unit: SubscriptionsUnit) -> CommandOutcome:
            sub = await self._known(unit, cmd)
            sub, already = await self._record.settled(unit, sub, cmd.source_key)
            if already:
                return CommandOutcome(applied=False, subscription_id=sub.id, reason=ALREADY_APPLIED)
            trial_end = cmd.trial_end or sub.trial_end
            if sub.status != SubscriptionStatus.TRIALING:
                await claim_all(unit, cmd.source_key)
                return CommandOutcome(
                    applied=False,
                    subscription_id=sub.id,
                    reason=f"subscription is {sub.status.value}, not trialing",
                )
            reminder_key = trial_reminder_key(cmd.merchant_id, sub.id, trial_end)
            if not await first_time(unit, reminder_key):
                await claim_all(unit, cmd.source_key)
                return CommandOutcome(
                    applied=False, subscription_id=sub.id, reason="trial end already announced"
                )
            # Told: the scheduler does not remind of this trial end again.
            after = replace(sub, trial_notice_for=trial_end)
            now = self._clock()
            events = [EventType.SUBSCRIPTION_TRIAL_WILL_END]
            keys = (reminder_key, cmd.source_key)
            await self._record.commit(unit, after, events, now, before=sub, keys=keys)
            return CommandOutcome(applied=True, subscription_id=sub.id, events=tuple(events))

        return await self._run(cmd.source_key, work)

    async def link(self, cmd: LinkSubscription) -> CommandOutcome:
        async def work(unit: SubscriptionsUnit) -> CommandOutcome:
            sub = await unit.subscriptions.get(cmd.merchant_id, cmd.linked_subscription_id)
            if sub is None:
                await claim_all(unit, cmd.source_key)
                return CommandOutcome(
                    applied=False, reason=f"subscription {cmd.linked_subscription_id!r} does not exist"
                )
            adopted = await adopt(unit, sub, cmd.provider, cmd.provider_subscription_id)
            if cmd.provider_customer_id is not None:
                await link_customer(
                    unit, cmd.merchant_id, cmd.provider, cmd.provider_customer_id, sub.customer_id
                )
            if adopted != sub:
                await unit.subscriptions.update(adopted)
            await claim_all(unit, cmd.source_key)
            return CommandOutcome(applied=True, subscription_id=sub.id)

        return await self._run(cmd.source_key, work)

    @staticmethod
    async def _known(
        unit: SubscriptionsUnit, cmd: RecordPayment | RecordPaymentFailure | AnnounceTrialEnd
    ) -> Subscription:
        """The subscription an invoice or reminder is about; it must have been seen already."""
        located = await locate_subscription(
            unit, cmd.merchant_id, cmd.provider, cmd.provider_subscription_id, cmd.linked_subscription_id
        )
        sub = located.sub
        if sub is None:
            raise SubscriptionNotYetKnown("provider subscription", cmd.provider_subscription_id)
        adopted = await adopt(unit, sub, cmd.provider, cmd.provider_subscription_id, linked=located.by_link)
        return sub if adopted == sub else await unit.subscriptions.update(adopted)

    async def _create_from_provider(
        self, unit: SubscriptionsUnit, cmd: SyncSubscription, now: datetime, left: str | None
    ) -> tuple[Subscription, Written]:
        """The new subscription (not stored yet), and the customer and plan created for it
        (None: found).

        `left`: the id a link already names for it (see `Located.left_link`): the one to create.
        A creator of the same id at the same moment makes one of the two inserts fail, and that
        unit retries and finds the subscription.
        """
        customer_id, customer = await customer_for(
            unit, cmd.merchant_id, cmd.provider, cmd.provider_customer_id, cmd.customer_email, now
        )
        plan_id, plan = await plan_for(unit, cmd.merchant_id, cmd.provider, cmd.price, now)
        # A subscription created at the provider over REST names the id reserved for it there;
        # its first event may arrive before the REST request stores it, and keeps that id.
        linked = cmd.linked_subscription_id
        own_id = linked is not None and await reserved(unit, cmd.merchant_id, cmd.provider, linked)
        sub = Subscription(
            id=left or (linked if own_id and linked is not None else new_id("sub")),
            merchant_id=cmd.merchant_id,
            customer_id=customer_id,
            plan_id=plan_id,
            **terms_of(cmd),
            provider=cmd.provider,
            provider_subscription_id=cmd.provider_subscription_id,
            provider_watermark=cmd.position,
            provider_managed=True,
            created_at=now,
            updated_at=now,
        )
        if left is None:
            # The link is unique: a concurrent creator of the same subscription fails here and retries.
            await unit.provider_links.add(
                cmd.merchant_id, SUBSCRIPTION, cmd.provider, cmd.provider_subscription_id, sub.id
            )
        return sub, Written(customer=customer, plan=plan)
