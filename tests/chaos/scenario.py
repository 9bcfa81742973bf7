"""The chaos test's traffic: Stripe and Polar subscriptions in realistic lives, duplicated and shuffled.

Each subscription follows one lifecycle of `stripe_lives` or `polar_lives`; `deliveries`
sends every event once, a share of them twice, in a random order (a subscription's own
events too).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from tests.chaos import polar_lives, stripe_lives
from tests.chaos.story import ProviderEvent, Story

_LIFECYCLES: Final[Mapping[str, tuple[tuple[str, float], ...]]] = {
    "stripe": stripe_lives.LIFECYCLES,
    "polar": polar_lives.LIFECYCLES,
}
_BUILDERS: Final[Mapping[str, Callable[[int, str, random.Random], Story]]] = {
    "stripe": stripe_lives.stripe_story,
    "polar": polar_lives.polar_story,
}


@dataclass(frozen=True, slots=True)
class Scenario:
    stories: list[Story]

    @property
    def events(self) -> list[ProviderEvent]:
        return [event for story in self.stories for event in story.events]

    def by_provider(self, provider: str) -> list[Story]:
        return [story for story in self.stories if story.provider == provider]


def generate(rng: random.Random, *, subscriptions: int, events: int, polar_share: float = 0.45) -> Scenario:
    """At least `subscriptions` subscriptions and `events` distinct events, both providers."""
    stories: list[Story] = []
    total = 0
    while len(stories) < subscriptions or total < events:
        provider = "polar" if rng.random() < polar_share else "stripe"
        names, weights = zip(*_LIFECYCLES[provider], strict=True)
        lifecycle = rng.choices(names, weights)[0]
        story = _BUILDERS[provider](len(stories), lifecycle, rng)
        stories.append(story)
        total += len(story.events)
    return Scenario(stories)


def deliveries(scenario: Scenario, rng: random.Random, duplicate_share: float) -> list[ProviderEvent]:
    """Every event once, a share of them twice, all shuffled: a subscription's events too."""
    events = scenario.events
    sent = events + rng.sample(events, round(len(events) * duplicate_share))
    rng.shuffle(sent)
    return sent
