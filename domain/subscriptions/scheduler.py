"""The scheduler: carry out the timed moves that are due (worker-only, reached through `internal`).

The worker's cron (`workers.runner`) runs `run_due` every few seconds. It reads the
subscriptions that are due through two indexes (`next_transition_at` has come, or a past_due
spell outlasted the grace period), so its cost follows the number of subscriptions that are
due, not the number stored. Each one advances in a unit of work of its own: every move due
for it, earliest first (see `schedule`), their outbox messages and the moves' keys. Two
workers (or two runs) that take the same subscription race on its version: the loser runs
again from scratch and finds the moves made. A subscription that carries an unfinished change
(a unit cut short on a store without transactions, see `recording`) is due at once, and its
change is finished here unless someone else does it first.

One subscription whose moves fail (an error of any kind) never stops the run: the others go
on, and the run reports it (`ScheduleRun.failures`) for the worker to log. It is tried again
at the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.shared.clock import Clock
from domain.shared.events import EventType
from domain.shared.txn import with_retries
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import SubscriptionsUnit
from domain.subscriptions.recording import ChangeRecorder, first_time, settle
from domain.subscriptions.timed_moves import (
    Move,
    StampingTxn,
    apply_due,
    due_now,
    next_transition_at,
    trial_reminder_key,
)

DEFAULT_BATCH = 100
# Bounds one run; whatever is left is due at the next one.
DEFAULT_MAX_BATCHES = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRun:
    """What one run did: moves made, notifications queued, and the subscriptions that failed."""

    moves: int = 0
    events: int = 0
    # (subscription id, what it raised), for the worker to log and count.
    failures: tuple[tuple[str, Exception], ...] = field(default=(), compare=False)

    def __add__(self, other: ScheduleRun) -> ScheduleRun:
        return ScheduleRun(
            moves=self.moves + other.moves,
            events=self.events + other.events,
            failures=self.failures + other.failures,
        )


class SubscriptionScheduler:
    def __init__(
        self,
        txn: StampingTxn,
        clock: Clock,
        recorder: ChangeRecorder,
        *,
        batch: int = DEFAULT_BATCH,
        max_batches: int = DEFAULT_MAX_BATCHES,
    ) -> None:
        self._txn = txn
        self._clock = clock
        self._record = recorder
        self._batch = batch
        self._max_batches = max_batches

    async def run_due(self) -> ScheduleRun:
        """Every move due now, each once."""
        now = self._clock()
        grace_cutoff = now - self._txn.timing.past_due_grace

        async def read(unit: SubscriptionsUnit) -> Sequence[Subscription]:
            due = await unit.subscriptions.due(now, self._batch)
            overdue = await unit.subscriptions.past_due_since(grace_cutoff, self._batch)
            return [*due, *overdue]

        total = ScheduleRun()
        for _ in range(self._max_batches):
            found = await self._txn(read)
            for sub_id, merchant_id in dict.fromkeys((s.id, s.merchant_id) for s in found):
                try:
                    total += await self._advance(merchant_id, sub_id, now)
                except Exception as error:  # noqa: BLE001 - one subscription never stops the others
                    total += ScheduleRun(failures=((sub_id, error),))
            if len(found) < self._batch:
                break
        return total

    async def _advance(self, merchant_id: str, subscription_id: str, now: datetime) -> ScheduleRun:
        timing = self._txn.timing

        async def work(unit: SubscriptionsUnit) -> ScheduleRun:
            sub = await unit.subscriptions.get(merchant_id, subscription_id)
            if sub is None:
                return ScheduleRun()
            sub = await settle(unit, sub)
            made = ScheduleRun()
            # Each move leaves the subscription with one move fewer due; Move bounds the loop.
            for _ in Move:
                due = due_now(sub, now, timing)
                if due is None:
                    break
                after, events = apply_due(sub, due, now)
                keys: tuple[str, ...] = (f"schedule:{sub.id}:{due.move.value}:{due.at.isoformat()}",)
                if events and due.move == Move.TRIAL_NOTICE:
                    events, keys = await self._first_reminder(unit, after, events, keys)
                sub = await self._record.commit(unit, after, events, now, before=sub, keys=keys)
                made += ScheduleRun(moves=1, events=len(events))
            if not made.moves and sub.next_transition_at != next_transition_at(sub, timing):
                # Stored under other timings: stamped afresh, so that it leaves the due list.
                await unit.subscriptions.update(sub)
            return made

        return await with_retries(self._txn, work)

    @staticmethod
    async def _first_reminder(
        unit: SubscriptionsUnit, sub: Subscription, events: list[EventType], keys: tuple[str, ...]
    ) -> tuple[list[EventType], tuple[str, ...]]:
        """The reminder is told once per trial end, by the provider or by us: the events to
        tell, and the keys to claim with them."""
        reminder = trial_reminder_key(sub.merchant_id, sub.id, sub.trial_end)
        if not await first_time(unit, reminder):
            return [], keys  # the provider's own reminder was told already
        return events, (*keys, reminder)
