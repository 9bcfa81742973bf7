"""Every email template escapes every value it shows in HTML, and shows it as it is in plain text.

The templates and the variables each one reads are found by parsing the templates (jinja2's
`meta` helpers, following `{% extends %}`), not listed by hand: a new template or variable has
to say below where its value comes from (`FEEDS`) before this passes. Each value is then made
hostile on its own in the data the renderer is given (as a provider would send it), and the
email is rendered through `EmailRenderer` itself. The HTML must keep exactly the tags and
attributes of the same email rendered from ordinary data, with the hostile text readable in its
text; the plain-text part must carry the text as it came, with no HTML escapes in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any, Final

import pytest
from jinja2 import Environment, meta, nodes

from integrations.delivery.email.render import SUBJECTS, TEMPLATES, EmailRenderer, RenderedEmail

# A tag, both quotes and an ampersand. Dates keep their first ten characters (YYYY-MM-DD), so a
# date gets a hostile value of exactly ten.
HOSTILE: Final = '<script>alert("1 & 2")</script>\''
HOSTILE_DATE: Final = "<i>\"&'</i>"
LAYOUT: Final = "_layout.html"
ESCAPES: Final = ("&lt;", "&gt;", "&amp;", "&#", "&quot;")

Data = dict[str, Any]


def ordinary_data() -> Data:
    return {
        "subscription": {
            "id": "sub_1",
            "customer_id": "cus_1",
            "plan_name": "Pro",
            "amount": 4900,
            "currency": "eur",
            "interval": "month",
            "interval_count": 1,
            "current_period_end": "2025-02-01T00:00:00Z",
            "canceled_at": "2025-01-20T00:00:00Z",
            "trial_end": "2025-01-25T00:00:00Z",
            "provider_subscription_id": "sub_1QxStripe",
        },
        "payment": {"amount": 4900, "currency": "eur"},
    }


def subscription_field(field: str, value: str = HOSTILE) -> Callable[[Data], str]:
    def feed(data: Data) -> str:
        data["subscription"][field] = value
        return value

    return feed


def payment_field(field: str) -> Callable[[Data], str]:
    def feed(data: Data) -> str:
        data["payment"][field] = HOSTILE
        return HOSTILE

    return feed


def subscription_id(data: Data) -> str:
    # Shown only when the provider's id is missing.
    data["subscription"]["provider_subscription_id"] = None
    data["subscription"]["id"] = HOSTILE
    return HOSTILE


# Each variable a template reads -> how a provider's data makes it hostile (returns the value put in).
FEEDS: Final[Mapping[str, Callable[[Data], str]]] = {
    "plan": subscription_field("plan_name"),
    "subject": subscription_field("plan_name"),  # the subject line is built around the plan
    "price": subscription_field("currency"),
    "amount": payment_field("currency"),
    "interval": subscription_field("interval"),
    "period_end": subscription_field("current_period_end", HOSTILE_DATE),
    "canceled_at": subscription_field("canceled_at", HOSTILE_DATE),
    "trial_end": subscription_field("trial_end", HOSTILE_DATE),
    "subscription.provider_subscription_id": subscription_field("provider_subscription_id"),
    "subscription.id": subscription_id,
}


# --------------------------------------------------------------------------- discovery


_PARSER = Environment(autoescape=True)  # parses only; rendering is the renderer's


def event_types() -> list[str]:
    return sorted(path.stem for path in TEMPLATES.glob("*.html") if path.name != LAYOUT)


def variables(name: str) -> set[str]:
    """Every context variable `name` reads, in itself and in what it extends.

    Attributes of `subscription` count one by one (`subscription.id`); `subscription` used whole
    stays `subscription`, which has no feed, so it would fail until one is written.
    """
    tree = _PARSER.parse((TEMPLATES / name).read_text())
    found = meta.find_undeclared_variables(tree)
    attributes = [
        node
        for node in tree.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == "subscription"
    ]
    used_whole = sum(1 for node in tree.find_all(nodes.Name) if node.name == "subscription") > len(attributes)
    found = (found - {"subscription"}) | {f"subscription.{node.attr}" for node in attributes}
    if used_whole:
        found.add("subscription")
    for parent in meta.find_referenced_templates(tree):
        assert parent is not None, f"{name} extends or includes a template chosen at run time"
        found |= variables(parent)
    return found


def cases(extension: str) -> list[Any]:
    return [
        pytest.param(event_type, variable, id=f"{event_type}.{extension}:{variable}")
        for event_type in event_types()
        for variable in sorted(variables(f"{event_type}.{extension}"))
    ]


HTML_CASES: Final = cases("html")
TEXT_CASES: Final = cases("txt")


def test_every_template_pair_has_a_subject_and_every_variable_a_feed() -> None:
    assert event_types() == sorted(SUBJECTS)
    for event_type in event_types():
        assert (TEMPLATES / f"{event_type}.txt").is_file(), event_type
    used = {case.values[1] for case in HTML_CASES + TEXT_CASES}
    assert used <= set(FEEDS), f"no hostile feed for {sorted(used - set(FEEDS))}"
    # Discovery must really read the templates: these are shown by every one of them.
    assert {"plan", "subject", "subscription.provider_subscription_id", "subscription.id"} <= used


# --------------------------------------------------------------------------- rendering


class Reading(HTMLParser):
    """What a browser would make of an HTML body: its tags and attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.markup: list[tuple[str, str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.append(("start", tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.append(("start-end", tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.markup.append(("end", tag, []))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.markup.append(("comment", data, []))

    def handle_decl(self, decl: str) -> None:
        self.markup.append(("declaration", decl, []))


def render(event_type: str, feed: Callable[[Data], str] | None = None) -> tuple[RenderedEmail, str]:
    data = ordinary_data()
    value = feed(data) if feed is not None else ""
    return EmailRenderer().render(event_type, data), value


@pytest.mark.parametrize(("event_type", "variable"), HTML_CASES)
def test_a_hostile_value_is_escaped_in_the_html(event_type: str, variable: str) -> None:
    ordinary, _ = render(event_type)
    hostile, value = render(event_type, FEEDS[variable])

    reading = Reading(hostile.html)
    # Not one tag, attribute or comment more or less than with ordinary data ...
    assert reading.markup == Reading(ordinary.html).markup
    # ... and the value is there, as text (case aside: a currency is shown in capitals).
    assert value.casefold() in "".join(reading.text).casefold()
    assert value.casefold() not in hostile.html.casefold()


@pytest.mark.parametrize(("event_type", "variable"), TEXT_CASES)
def test_a_hostile_value_is_shown_as_it_is_in_the_plain_text(event_type: str, variable: str) -> None:
    hostile, value = render(event_type, FEEDS[variable])

    assert value.casefold() in hostile.text.casefold()
    assert not [escape for escape in ESCAPES if escape in hostile.text]


@pytest.mark.parametrize("event_type", event_types())
def test_the_subject_is_plain_text_whatever_the_plan_holds(event_type: str) -> None:
    hostile, value = render(event_type, FEEDS["plan"])

    assert value in hostile.subject
    assert not [escape for escape in ESCAPES if escape in hostile.subject]
