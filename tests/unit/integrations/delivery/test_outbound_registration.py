"""The registration check: the URL normalised the client's way, the host judged by what it is or resolves to.

Look-ups are stubs answering what a DNS server would, so no test depends on DNS.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import pytest

from domain.shared.errors import ValidationFailed
from integrations.delivery.http.registration import registration_check
from integrations.delivery.http.resolver import Lookup

HINT_TAIL = "are refused unless SUBGATE_ALLOW_PRIVATE_TARGETS=true (meant for development and tests only)"


def answering(*answers: str, asked: list[str] | None = None) -> Lookup:
    async def lookup(host: str, port: int) -> Sequence[str]:
        if asked is not None:
            asked.append(host)
        return list(answers)

    return lookup


async def refusal(url: str, lookup: Lookup) -> str:
    with pytest.raises(ValidationFailed) as refused:
        await registration_check(allow_private=False, lookup=lookup)(url)
    return str(refused.value)


async def test_a_public_name_is_accepted_as_the_client_will_request_it() -> None:
    asked: list[str] = []
    check = registration_check(allow_private=False, lookup=answering("93.184.216.34", asked=asked))

    assert await check("HTTPS://Bücher.Example:443/In#top") == "https://xn--bcher-kva.example/In"
    # The name looked up is the one the client will look up: the IDNA-encoded one.
    assert asked == ["xn--bcher-kva.example"]


async def test_a_name_resolving_to_a_private_address_is_refused_naming_the_setting() -> None:
    message = await refusal("https://hooks.example.com/in", answering("93.184.216.34", "10.1.2.3"))

    assert message == (
        "url: 'hooks.example.com' resolves to a private address (10.1.2.3); non-public targets "
        f"(loopback, private, link-local, unspecified, multicast, reserved, CGNAT) {HINT_TAIL}"
    )


async def test_a_look_alike_of_localhost_is_another_name_judged_by_its_addresses() -> None:
    look_alike = "loc\u0430lhost"  # a Cyrillic a
    encoded = look_alike.encode("idna").decode("ascii")  # the standard library's IDNA encoder
    asked: list[str] = []

    message = await refusal(f"http://{look_alike}:9000/", answering("127.0.0.1", asked=asked))

    assert asked == [encoded]
    assert message.startswith(f"url: {encoded!r} resolves to a loopback address (127.0.0.1);")


async def test_localhost_names_are_refused_without_a_look_up() -> None:
    asked: list[str] = []

    message = await refusal("http://api.LOCALHOST.:9000/", answering("93.184.216.34", asked=asked))

    assert asked == []
    assert message.startswith("url: 'api.localhost.' is a loopback name (localhost);")


async def test_a_bracketed_ip_literal_is_judged_as_the_address_inside() -> None:
    message = await refusal("http://[::1]:8443/hook", answering())

    assert message.startswith("url: '::1' is a loopback address (::1);")


async def test_an_https_ip_literal_is_judged_too() -> None:
    message = await refusal("https://127.0.0.1:8443/hook", answering())

    assert message.startswith("url: '127.0.0.1' is a loopback address (127.0.0.1);")


async def test_a_name_that_does_not_resolve_yet_is_accepted() -> None:
    async def nowhere(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    check = registration_check(allow_private=False, lookup=nowhere)

    assert await check("https://hooks.example.com/in") == "https://hooks.example.com/in"


async def test_a_name_without_answers_is_accepted() -> None:
    check = registration_check(allow_private=False, lookup=answering())

    assert await check("https://hooks.example.com/in") == "https://hooks.example.com/in"


async def test_registration_does_not_wait_longer_than_its_resolve_timeout() -> None:
    never = asyncio.Event()

    async def silent(host: str, port: int) -> Sequence[str]:
        await never.wait()
        return ["10.0.0.1"]

    check = registration_check(allow_private=False, lookup=silent, resolve_timeout=0.01)

    assert await check("https://hooks.example.com/in") == "https://hooks.example.com/in"


async def test_with_private_targets_allowed_nothing_is_looked_up_and_the_url_is_still_normalised() -> None:
    asked: list[str] = []
    check = registration_check(allow_private=True, lookup=answering("10.0.0.1", asked=asked))

    assert await check("http://１２７.０.０.１:9000/hooks") == "http://127.0.0.1:9000/hooks"
    assert await check("http://hooks.internal:9000/hooks") == "http://hooks.internal:9000/hooks"
    assert asked == []


@pytest.mark.parametrize("allow_private", [True, False])
async def test_a_malformed_url_is_refused_saying_why_whatever_the_setting(allow_private: bool) -> None:
    check = registration_check(allow_private=allow_private, lookup=answering("93.184.216.34"))

    with pytest.raises(ValidationFailed) as refused:
        await check("http://hooks.example.com:0/")

    assert str(refused.value) == "url: the port must be between 1 and 65535"
