"""The text and HTML bodies of customer emails, from Jinja2 templates (HTML autoescaped).

Templates live in `templates/`, one pair per notification type (`<type>.txt`, `<type>.html`).
They see a few ready-made values (`plan`, `price`, `interval`, dates as YYYY-MM-DD) and the
whole `subscription` object of the message; `plan` is the plan's name, never a bare provider
id. Values come from providers: the HTML is escaped by the engine, and the subject is
flattened to one line before it reaches a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")
MAX_SUBJECT_LENGTH = 200

SUBJECTS: Mapping[str, str] = {
    "subscription.activated": "Your {plan}subscription is active",
    "subscription.renewed": "Your {plan}subscription was renewed",
    "payment.failed": "Your {plan}payment failed",
    "subscription.canceled": "Your {plan}subscription was canceled",
    "subscription.trial_will_end": "Your {plan}trial ends soon",
}
# Currencies without minor units (ISO 4217 exponent 0) that providers bill in.
_ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
_ONE_LINE = re.compile(r"\s+")


class UnknownTemplate(LookupError):
    """No email is written for this notification type."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class EmailRenderer:
    def __init__(self, templates: Path = TEMPLATES) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates),
            # Escaping is on for every .html template (and strings), off for the plain text.
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, event_type: str, data: Mapping[str, Any]) -> RenderedEmail:
        subject_format = SUBJECTS.get(event_type)
        if subject_format is None:
            raise UnknownTemplate(f"no email template for {event_type!r}")
        context = _context(data)
        plan = context["plan"]
        subject = one_line(subject_format.format(plan=f"{plan} " if plan else ""))
        context["subject"] = subject
        return RenderedEmail(
            subject=subject,
            text=self._env.get_template(f"{event_type}.txt").render(context),
            html=self._env.get_template(f"{event_type}.html").render(context),
        )


def one_line(text: str) -> str:
    """Every run of whitespace (line breaks included) becomes one space; control characters go."""
    printable = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in text)
    return _ONE_LINE.sub(" ", printable).strip()[:MAX_SUBJECT_LENGTH]


def _context(data: Mapping[str, Any]) -> dict[str, Any]:
    subscription = data.get("subscription")
    sub: Mapping[str, Any] = subscription if isinstance(subscription, Mapping) else {}
    payment = data.get("payment")
    paid: Mapping[str, Any] = payment if isinstance(payment, Mapping) else {}
    count = sub.get("interval_count")
    interval = sub.get("interval")
    if isinstance(interval, str) and isinstance(count, int) and count > 1:
        interval = f"{count} {interval}s"
    return {
        "subscription": sub,
        "plan": plan_name(sub),
        "price": money(sub.get("amount"), sub.get("currency")),
        "amount": money(paid.get("amount", sub.get("amount")), paid.get("currency", sub.get("currency"))),
        "interval": interval if isinstance(interval, str) else None,
        "period_end": _date(sub.get("current_period_end")),
        "canceled_at": _date(sub.get("canceled_at")),
        "trial_end": _date(sub.get("trial_end")),
    }


def plan_name(sub: Mapping[str, Any]) -> str | None:
    """The plan's name for a customer: the catalog plan's name, which a plan first seen in a
    provider's payload took from the product or price name it carried. A plan that payload
    named nothing is called by its price id there: no name then, never a bare id."""
    name = _text(sub.get("plan_name"))
    ids = {_text(sub.get(field)) for field in ("provider_price_id", "plan_id")}
    return None if name is None or name in ids else name


def money(amount: object, currency: object) -> str | None:
    """`49.00 EUR` from minor units; None when either part is unknown."""
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        return None
    code = currency.lower()
    if code in _ZERO_DECIMAL:
        return f"{amount} {code.upper()}"
    return f"{amount // 100}.{amount % 100:02d} {code.upper()}"


def _text(value: object) -> str | None:
    return one_line(value) or None if isinstance(value, str) else None


def _date(value: object) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None  # noqa: PLR2004 - YYYY-MM-DD
