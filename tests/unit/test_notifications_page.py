"""docs/notifications.md's "What merchants receive" stays true: every type listed, the example verifies."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.notifications.model import new_signing_secret
from domain.shared.events import EventType
from integrations.delivery.http.signing import signature_headers

PAGE = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("## What merchants receive\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.DOTALL)


def test_every_event_type_has_a_row() -> None:
    rows = re.findall(r"^\| `([a-z_.]+)` \|", section(), re.MULTILINE)

    assert sorted(rows) == sorted(t.value for t in EventType)


def test_the_example_body_has_the_contract_shape() -> None:
    (body,) = fenced("json")
    document = json.loads(body)

    assert set(document) == {"id", "type", "created_at", "data"}
    assert document["type"] in {t.value for t in EventType}
    assert {"provider", "provider_subscription_id", "provider_customer_id", "plan_id"} <= set(
        document["data"]["subscription"]
    )


def test_the_verification_example_accepts_a_signed_body_and_refuses_an_altered_one() -> None:
    (code,) = fenced("python")
    (body,) = fenced("json")
    secret = new_signing_secret()
    runnable = code.replace('"whsec_..."', repr(secret)).replace("    ...  #", "    pass  #")
    namespace: dict[str, Any] = {}
    exec(runnable, namespace)  # noqa: S102 - the page's own example, run to prove it works
    raw = body.encode()
    headers = signature_headers("msg_docs", datetime.now(UTC), raw, (secret,))

    assert namespace["handle"](raw, headers) == 204
    assert namespace["handle"](raw.replace(b"4900", b"9900"), headers) == 400
