"""What must hold after the chaos, each check returning the counts the summary line prints.

A notification's `data.subscription` is the subscription right after the change that made
it, so each state-change notification shows the content of one provider snapshot. Sorted by
`updated_at` (the time of the change, in microseconds), a subscription's state notifications
must follow its provider's snapshots in provider order, skipping some (an older snapshot
that arrives after a newer one is not applied) but never telling one twice in a row, never
going back, and ending on the newest. A paid renewal moves the period of whatever state it
meets, so a view with a renewal's period is left out of that order (not out of the others).
A transition applied twice, or a stale snapshot applied over a newer one, breaks that; so does
a subscription created twice. Payments are facts: each one told exactly once.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tests.chaos.receiver import FlakyReceiver
from tests.chaos.records import MerchantApi
from tests.chaos.scenario import Scenario
from tests.chaos.story import Payment, Story, View

TRIAL_REMINDER: Final = "subscription.trial_will_end"
SHOWN: Final = 5  # problems quoted in a failure message


def _fail_if(problems: Sequence[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}, e.g.: " + "; ".join(problems[:SHOWN])


async def check_inbound(api: MerchantApi, scenario: Scenario, connections: Mapping[str, str]) -> Counter[str]:
    """Every event stored once per connection, and processed to a final status; counts by status."""
    statuses: Counter[str] = Counter()
    reasons: list[str] = []
    for provider, connection_id in connections.items():
        stored = await api.every("/v1/inbound-events", connection_id=connection_id)
        ids = [event["provider_event_id"] for event in stored]
        repeated = [event_id for event_id, n in Counter(ids).items() if n > 1]
        _fail_if([f"{provider} {event_id}" for event_id in repeated], "events stored more than once")
        sent = {event.event_id for story in scenario.by_provider(provider) for event in story.events}
        _fail_if(sorted(sent - set(ids)), f"{provider} events acknowledged but not stored")
        _fail_if(sorted(set(ids) - sent), f"{provider} events stored that were never sent")
        statuses.update(event["status"] for event in stored)
        reasons.extend(
            f"{event['type']} {event['provider_event_id']}: {event['reason']}"
            for event in stored
            if event["status"] not in ("applied", "ignored")
        )
    unfinished = {status: n for status, n in statuses.items() if status not in ("applied", "ignored")}
    assert not unfinished, f"inbound events not applied or ignored: {unfinished}; {reasons[:SHOWN]}"
    return statuses


async def check_subscriptions(api: MerchantApi, scenario: Scenario) -> int:
    """One subscription per provider subscription, each as its newest snapshot says."""
    listed = await api.every("/v1/subscriptions")
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for sub in listed:
        by_key[(sub["provider"], sub["provider_subscription_id"])].append(sub)
    problems = []
    for story in scenario.stories:
        found = by_key.pop((story.provider, story.subscription), [])
        if len(found) != 1:
            problems.append(f"{story.subscription}: {len(found)} subscriptions")
        elif (view := View.of(found[0])) != story.final:
            problems.append(
                f"{story.provider} {story.lifecycle} {story.subscription}: {view}, not {story.final}"
            )
    problems.extend(f"unexpected subscription {key}" for key in by_key)
    _fail_if(problems, "subscriptions not in the state of their newest snapshot")
    return len(listed)


@dataclass(frozen=True, slots=True)
class Told:
    state_changes: int
    payments: int
    reminders: int


def check_notifications(receiver: FlakyReceiver, scenario: Scenario) -> Told:
    """No transition told twice or out of provider order; every payment told exactly once."""
    by_sub: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for body in receiver.delivered.values():
        sub = body["data"]["subscription"]
        by_sub[(sub["provider"], sub["provider_subscription_id"])].append(body)
    problems: list[str] = []
    told = Told(0, 0, 0)
    for story in scenario.stories:
        states, payments, reminders = _by_kind(by_sub.pop((story.provider, story.subscription), []))
        problems.extend(_story_problems(story, states, payments, reminders))
        told = Told(
            told.state_changes + len(states), told.payments + len(payments), told.reminders + len(reminders)
        )
    problems.extend(f"notifications about unknown subscription {key}" for key in by_sub)
    _fail_if(problems, "subscriptions told a wrong story")
    return told


Bodies = list[dict[str, Any]]


def _by_kind(bodies: Bodies) -> tuple[Bodies, Bodies, Bodies]:
    """State changes (in the order they were made), payments, trial reminders."""
    reminders = [b for b in bodies if b["type"] == TRIAL_REMINDER]
    payments = [b for b in bodies if b["type"].startswith("payment.")]
    states = sorted(
        (b for b in bodies if b not in reminders and b not in payments),
        # `updated_at` is the time of the change, to the microsecond; ids are ordered to the millisecond.
        key=lambda b: (datetime.fromisoformat(b["data"]["subscription"]["updated_at"]), b["id"]),
    )
    return states, payments, reminders


def _story_problems(story: Story, states: Bodies, payments: Bodies, reminders: Bodies) -> list[str]:
    name = f"{story.provider} {story.lifecycle} {story.subscription}"
    types = [b["type"] for b in states]
    views = [View.of(b["data"]["subscription"]) for b in states]
    truth = [view for view, _ in itertools.groupby(story.views)]  # consecutive equal snapshots change nothing
    problems = []
    if types.count("subscription.created") != 1 or types[0] != "subscription.created":
        problems.append(f"{name}: created {types.count('subscription.created')} times, types {types}")
    if not all(t.startswith("subscription.") for t in types):
        problems.append(f"{name}: unexpected notification types {types}")
    if any(a == b for a, b in itertools.pairwise(views)):
        problems.append(f"{name}: the same state told twice in a row: {types}")
    # A paid renewal moves the period on whatever state the subscription is in when it arrives:
    # such a view is no snapshot, so the order is checked on the snapshots' views alone.
    snapshots = [v for v in views if (v.current_period_start, v.current_period_end) not in story.renewals]
    if not _in_order(snapshots, truth):
        problems.append(f"{name}: states told out of provider order: {[str(v) for v in views]}")
    if views and views[-1] != story.final:
        problems.append(f"{name}: last told {views[-1]}, newest snapshot {story.final}")
    told = Counter(_payment(b) for b in payments)
    if told != Counter(story.payments):
        problems.append(f"{name}: payments told {dict(told)}, made {story.payments}")
    if len(reminders) > story.trial_reminder:
        problems.append(f"{name}: {len(reminders)} trial reminders")
    return problems


def _in_order(told: Sequence[View], truth: Sequence[View]) -> bool:
    """Whether `told` is `truth` with some snapshots left out (a subsequence of it)."""
    remaining = iter(truth)
    return all(any(view == candidate for candidate in remaining) for view in told)


def _payment(body: dict[str, Any]) -> Payment:
    payment = body["data"]["payment"]
    return Payment(body["type"], payment["provider_invoice_id"], payment.get("attempt"))


@dataclass(frozen=True, slots=True)
class Settled:
    webhooks: Counter[str]  # deliveries by status
    emails: Counter[str]
    dead: list[dict[str, Any]]  # the dead webhook deliveries


async def check_settled(api: MerchantApi, receiver: FlakyReceiver, outbox_ids: set[str]) -> Settled:
    """Every message has one delivery, and it succeeded (and arrived) or became a dead letter."""
    webhooks = await api.every("/v1/deliveries", channel="webhook")
    emails = await api.every("/v1/deliveries", channel="email")
    by_status = Counter(d["status"] for d in webhooks)
    email_status = Counter(d["status"] for d in emails)
    message_ids = [d["message_id"] for d in webhooks]
    problems = [f"message {m} has {n} deliveries" for m, n in Counter(message_ids).items() if n > 1]
    problems.extend(f"message {m} has no delivery" for m in sorted(outbox_ids - set(message_ids)))
    problems.extend(
        f"delivery {d['id']} succeeded but {d['message_id']} never arrived"
        for d in webhooks
        if d["status"] == "succeeded" and d["message_id"] not in receiver.delivered
    )
    problems.extend(
        f"{n} webhook deliveries {s}" for s, n in by_status.items() if s not in ("succeeded", "dead")
    )
    problems.extend(f"{n} emails {s}" for s, n in email_status.items() if s not in ("succeeded", "dead"))
    _fail_if(problems, "notifications neither delivered nor dead-lettered")
    letters = await api.every("/v1/dead-letters")
    dead = [d for d in webhooks if d["status"] == "dead"]
    lettered = {letter["delivery_id"] for letter in letters}
    dead_ids = {d["id"] for d in dead} | {d["id"] for d in emails if d["status"] == "dead"}
    assert lettered == dead_ids, (
        f"dead letters {sorted(lettered ^ dead_ids)[:SHOWN]} do not match dead deliveries"
    )
    return Settled(webhooks=by_status, emails=email_status, dead=dead)
