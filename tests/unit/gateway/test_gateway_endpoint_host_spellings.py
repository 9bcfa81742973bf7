"""Every spelling of a host inside our network is refused at registration and at a change of URL.

The corpus (`tests.support.host_spellings`): the decimal digits of every script in each
octet, fullwidth, segmented and mixed digits, trailing dots, IDNA and percent-encoded forms,
IPv4-mapped and other IPv6 forms, zone ids, numeric IPv4 forms, localhost names, private,
link-local and CGNAT ranges. None of them needs a DNS look-up to be refused: the look-up here
records every name it is asked and answers none.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from domain.shared.errors import ValidationFailed
from gateway.app import create_app
from integrations.delivery.http.registration import registration_check
from tests.support.host_spellings import (
    Spelling,
    every_digit_in_each_octet,
    every_script_in_each_octet,
    named_spellings,
)
from tests.unit.gateway.fakes import Gateway

PUBLIC_URL = "https://93.184.216.34/hooks"
SETTING = "SUBGATE_ALLOW_PRIVATE_TARGETS"


@dataclass
class NoNames:
    """A look-up that answers no name, and remembers every one it was asked."""

    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:  # noqa: ARG002 - the Lookup signature
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@asynccontextmanager
async def client_for(
    gateway: Gateway, lookup: NoNames, *, allow_private: bool
) -> AsyncIterator[httpx.AsyncClient]:
    _, key = await gateway.merchant()
    check = registration_check(allow_private=allow_private, lookup=lookup)
    transport = httpx.ASGITransport(app=create_app(replace(gateway.deps, check_target=check)))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


def wrong_refusal(spelling: Spelling, response: httpx.Response) -> str | None:
    """What is wrong with the answer to `spelling` (None when it is a 422 saying why)."""
    if response.status_code != 422:
        return f"{spelling}: {response.status_code} {response.text}"
    message: str = response.json()["error"]["message"]
    if not message.startswith("url: ") or spelling.reason not in message:
        return f"{spelling}: {message}"
    if spelling.allowed_by_setting is not (SETTING in message):
        return f"{spelling}: the setting is named only when it would allow the target: {message}"
    return None


async def refusals_at_creation_and_change(gateway: Gateway, spellings: list[Spelling]) -> list[str]:
    lookup = NoNames()
    wrong: list[str] = []
    async with client_for(gateway, lookup, allow_private=False) as client:
        created = await client.post("/v1/endpoints", json={"url": PUBLIC_URL})
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]
        for spelling in spellings:
            response = await client.post("/v1/endpoints", json={"url": spelling.url()})
            wrong.append(wrong_refusal(spelling, response) or "")
            response = await client.patch(f"/v1/endpoints/{endpoint_id}", json={"url": spelling.url()})
            wrong.append(wrong_refusal(spelling, response) or "")
    assert lookup.asked == []
    [stored] = gateway.store.documents("endpoints")
    assert stored["url"] == PUBLIC_URL
    return [problem for problem in wrong if problem]


async def test_every_named_spelling_is_refused_at_creation_and_change(gateway: Gateway) -> None:
    assert await refusals_at_creation_and_change(gateway, named_spellings()) == []


async def test_the_digits_of_every_script_in_each_octet_are_refused_at_creation_and_change(
    gateway: Gateway,
) -> None:
    spellings = every_script_in_each_octet()
    assert len(spellings) >= 4 * 60  # Unicode has over 60 decimal-digit scripts

    assert await refusals_at_creation_and_change(gateway, spellings) == []


async def test_every_decimal_digit_in_each_octet_is_refused_by_the_registration_check() -> None:
    # The check the gateway runs, called directly: over 2,600 URLs, every code point with a
    # decimal value in each octet.
    lookup = NoNames()
    check = registration_check(allow_private=False, lookup=lookup)
    spellings = every_digit_in_each_octet()
    wrong = []
    for spelling in spellings:
        try:
            accepted = await check(spelling.url())
        except ValidationFailed as refused:
            if spelling.reason not in str(refused):
                wrong.append(f"{spelling}: {refused}")
        else:
            wrong.append(f"{spelling}: accepted as {accepted}")

    assert len(spellings) > 2000  # 660 digits in four positions
    assert wrong == []
    assert lookup.asked == []


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("http://127.0.0.\U0001fbf1:19001/x", "http://127.0.0.1:19001/x"),
        ("http://１２７.０.０.１:9000/hooks", "http://127.0.0.1:9000/hooks"),
        ("http://[::ffff:127.0.0.1]:9000/hooks", "http://[::ffff:7f00:1]:9000/hooks"),
        ("HTTP://LocalHost:9000/hooks#local", "http://localhost:9000/hooks"),
    ],
)
async def test_with_private_targets_allowed_the_url_is_stored_as_the_client_will_connect(
    gateway: Gateway, url: str, stored: str
) -> None:
    async with client_for(gateway, NoNames(), allow_private=True) as client:
        created = await client.post("/v1/endpoints", json={"url": url})
        assert created.status_code == 201, created.text
        assert created.json()["url"] == stored
        endpoint_id = created.json()["id"]
        changed = await client.patch(
            f"/v1/endpoints/{endpoint_id}", json={"url": url.replace("9000", "9001")}
        )

    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == stored.replace("9000", "9001")
    assert [doc["url"] for doc in gateway.store.documents("endpoints")] == [stored.replace("9000", "9001")]


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize(
    "url",
    [
        "http://127.1:9000/hooks",
        "http://2130706433:9000/hooks",
        "http://[fe80::1%25eth0]:9000/hooks",
        "http://١٢٧.٠.٠.١:9000/hooks",
        "http://hooks.example.com:0/hooks",
        "http://hooks.example.com:65536/hooks",
        "http://hooks.example.com\\@127.0.0.1/hooks",
        "http://hooks.exam\tple.com/hooks",
        "http://hooks.example.com/\r\nX-Injected: 1",
        "http://user:secret@hooks.example.com/hooks",
        "http://" + "a" * 64 + ".example.com/hooks",
        "http://[::1/hooks",
        "http://[/hooks",
        "http://]/hooks",
        "http://[]/hooks",
    ],
)
async def test_a_host_readers_disagree_on_is_refused_whatever_the_setting(
    gateway: Gateway, url: str, allow_private: bool
) -> None:
    async with client_for(gateway, NoNames(), allow_private=allow_private) as client:
        response = await client.post("/v1/endpoints", json={"url": url})

    assert response.status_code == 422, response.text
    assert gateway.store.documents("endpoints") == []


# Authorities built from what URL readers disagree on: brackets, colons, at signs, percent
# signs, backslashes, white space, look-alike digits and dots.
AUTHORITY_ALPHABET = "ab09.:@%[]\\/ \t\n#?\uff11\uff0e\u3002\U0001fbf1\u0661"
hostile_urls = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, authority: f"{scheme}://{authority}/hooks",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        st.text(alphabet=AUTHORITY_ALPHABET, max_size=30),
    ),
)


def test_any_url_is_answered_201_or_422_and_only_a_201_stores_an_endpoint(gateway: Gateway) -> None:
    loop = asyncio.new_event_loop()  # one loop for every example; the in-memory store is loop-agnostic
    try:
        _, key = loop.run_until_complete(gateway.merchant())
        check = registration_check(allow_private=False, lookup=NoNames())
        app = create_app(replace(gateway.deps, check_target=check))

        async def post(url: str) -> None:
            before = gateway.store.count("endpoints")
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://gateway.test",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                response = await client.post("/v1/endpoints", json={"url": url})
            assert response.status_code in (201, 422), (url, response.text)
            assert gateway.store.count("endpoints") == before + (response.status_code == 201)

        @given(url=hostile_urls)
        @settings(max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck))
        def answered(url: str) -> None:
            loop.run_until_complete(post(url))

        answered()
    finally:
        loop.close()
