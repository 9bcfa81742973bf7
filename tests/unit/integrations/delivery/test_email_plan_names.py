"""Every customer email names the plan by its name, and never shows a bare provider id.

A plan first seen in a provider's payload is named after the product or price name the payload
carried; one whose payload named nothing is called by its price id, and the email then names
no plan at all rather than that id.
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.delivery.email.render import SUBJECTS, EmailRenderer, plan_name

TYPES = sorted(SUBJECTS)
RENDERER = EmailRenderer()


def data(plan: str | None, price_id: str = "price_basic") -> dict[str, Any]:
    return {
        "subscription": {
            "id": "sub_ours",
            "plan_id": "plan_01jfq2",
            "plan_name": plan,
            "provider_price_id": price_id,
            "provider_subscription_id": "sub_1QxStripe",
            "amount": 4900,
            "currency": "eur",
            "interval": "month",
            "current_period_end": "2025-02-01T00:00:00Z",
            "canceled_at": "2025-01-20T00:00:00Z",
            "trial_end": "2025-01-25T00:00:00Z",
        },
        "payment": {"amount": 4900, "currency": "eur"},
    }


@pytest.mark.parametrize("event_type", TYPES)
def test_the_plans_name_is_in_the_subject_and_both_bodies(event_type: str) -> None:
    email = RENDERER.render(event_type, data("Pro monthly"))

    assert "Pro monthly" in email.subject
    assert "Pro monthly" in email.text
    assert "Pro monthly" in email.html


@pytest.mark.parametrize("event_type", TYPES)
@pytest.mark.parametrize("bare", ["price_basic", "plan_01jfq2"], ids=["price-id", "plan-id"])
def test_a_plan_called_by_an_id_is_not_named_at_all(event_type: str, bare: str) -> None:
    email = RENDERER.render(event_type, data(bare))

    for part in (email.subject, email.text, email.html):
        assert bare not in part
    assert "  " not in email.subject
    assert email.subject.startswith("Your ")


@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        ({"plan_name": "Pro", "provider_price_id": "price_1"}, "Pro"),
        ({"plan_name": " price_1 ", "provider_price_id": "price_1"}, None),
        ({"plan_name": "pri_01jfq2", "provider_price_id": "pri_01jfq2"}, None),
        ({"plan_name": "plan_1", "plan_id": "plan_1"}, None),
        ({"plan_name": None}, None),
        ({"plan_name": 42}, None),
        ({"plan_name": "Pro", "provider_price_id": None}, "Pro"),
    ],
)
def test_the_plan_name_a_customer_may_see(sub: dict[str, Any], expected: str | None) -> None:
    assert plan_name(sub) == expected
