"""Admin and event commands run in-process against a SQLite data dir of their own."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from domain.merchants.external import MerchantsExternal, NewConnection
from domain.merchants.portal import PortalSessions, SessionEnded
from domain.shared.clock import system_clock
from domain.shared.errors import Unauthenticated
from integrations.providers.polar.signature import verify_polar_signature
from integrations.providers.stripe.signature import verify_stripe_signature
from integrations.stores.txn import StoreTxn
from subgate.cli import main
from subgate.commands.store import opened_store
from subgate.settings import Settings, load_settings
from tests.support.cli import free_port
from tests.support.signatures import POLAR_SECRET

SECRET = "whsec_unit_first"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUBGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SUBGATE_PORT", str(free_port()))
    return f"sqlite:///{tmp_path / 'data' / 'subgate.db'}"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _settings(database_url: str) -> Settings:
    """What the commands read: the environment the fixture set, on this database."""
    return replace(load_settings(dotenv=None), database_url=database_url)


async def _authenticate(database_url: str, api_key: str) -> str:
    async with opened_store(_settings(database_url)) as store:
        return (await MerchantsExternal(StoreTxn(store), system_clock).authenticate(api_key)).id


async def _connection(database_url: str, merchant_id: str, *secrets: str, provider: str = "stripe") -> str:
    async with opened_store(_settings(database_url)) as store:
        merchants = MerchantsExternal(StoreTxn(store), system_clock)
        made = await merchants.create_connection(
            merchant_id, NewConnection(provider=provider, webhook_secrets=list(secrets))
        )
    return made.id


def test_merchants_create_prints_one_json_line(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "merchants", "create", "Acme")

    assert code == 0
    [line] = out.splitlines()
    created = json.loads(line)
    assert asyncio.run(_authenticate(database_url, created["api_key"])) == created["merchant_id"]


def test_rotate_key_prints_a_new_key_and_the_old_one_stops_working(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    created = json.loads(_run(capsys, "merchants", "create", "Acme")[1])

    code, out, _ = _run(capsys, "merchants", "rotate-key", created["merchant_id"])

    assert code == 0
    [line] = out.splitlines()
    rotated = json.loads(line)
    assert rotated["merchant_id"] == created["merchant_id"]
    assert rotated["api_key"] != created["api_key"]
    assert asyncio.run(_authenticate(database_url, rotated["api_key"])) == created["merchant_id"]
    with pytest.raises(Unauthenticated):
        asyncio.run(_authenticate(database_url, created["api_key"]))


def test_rotate_key_of_an_unknown_merchant_fails_with_one_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "migrate")

    code, out, err = _run(capsys, "merchants", "rotate-key", "mer_missing")

    assert (code, out) == (1, "")
    assert err == "subgate: merchant 'mer_missing' does not exist\n"


@dataclass
class Recorded:
    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def inbound() -> Iterator[Recorded]:
    """A loopback HTTP server standing in for the service's inbound webhook route."""
    recorded = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            recorded.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            answer = b'{"status": "accepted"}'
            self.send_response(recorded.status)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _merchant_with_connection(capsys: pytest.CaptureFixture[str], database_url: str) -> str:
    merchant = json.loads(_run(capsys, "merchants", "create", "Acme")[1])["merchant_id"]
    return asyncio.run(_connection(database_url, merchant, SECRET, "whsec_unit_second"))


def test_events_send_signs_with_the_first_secret_and_posts_to_the_connection(
    database_url: str, capsys: pytest.CaptureFixture[str], inbound: Recorded
) -> None:
    connection = _merchant_with_connection(capsys, database_url)

    code, out, _ = _run(
        capsys,
        "events",
        "send",
        "stripe",
        "customer.subscription.created",
        "--connection",
        connection,
        "--url",
        inbound.url,
        "--subscription",
        "sub_given",
    )

    assert code == 0
    [(path, headers, body)] = inbound.requests
    assert path == f"/webhooks/stripe/{connection}"
    assert headers["content-type"].startswith("application/json")
    verify_stripe_signature(body, headers["stripe-signature"], [SECRET], datetime.now(UTC), 300)
    event = json.loads(body)
    assert event["type"] == "customer.subscription.created"
    assert event["data"]["object"]["id"] == "sub_given"
    assert event["data"]["object"]["customer"] == "cus_given"
    assert out.splitlines()[-1] == '200 {"status": "accepted"}'
    assert event["id"] in out.splitlines()[0]


def test_events_send_polar_signs_as_polar_does_and_posts_to_the_connection(
    database_url: str, capsys: pytest.CaptureFixture[str], inbound: Recorded
) -> None:
    merchant = json.loads(_run(capsys, "merchants", "create", "Acme")[1])["merchant_id"]
    connection = asyncio.run(_connection(database_url, merchant, POLAR_SECRET, provider="polar"))

    code, out, _ = _run(
        capsys,
        "events",
        "send",
        "polar",
        "subscription.created",
        "--connection",
        connection,
        "--url",
        inbound.url,
    )

    assert code == 0
    [(path, headers, body)] = inbound.requests
    assert path == f"/webhooks/polar/{connection}"
    parsed = verify_polar_signature(body, headers, [POLAR_SECRET], datetime.now(UTC), 300)
    event = json.loads(body)
    assert event["type"] == "subscription.created"
    assert parsed.message_id in out.splitlines()[0]
    assert event["data"]["id"] in out.splitlines()[0]


def test_events_send_refuses_a_type_the_provider_does_not_send(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "events", "send", "polar", "invoice.paid", "--connection", "conn_x")

    assert code == 2
    assert err.startswith("subgate: polar events are subscription.created, ")


def test_events_send_uses_the_configured_base_url_by_default(
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    inbound: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = _merchant_with_connection(capsys, database_url)
    monkeypatch.setenv("SUBGATE_PORT", inbound.url.rsplit(":", 1)[1])

    code, _, _ = _run(
        capsys, "events", "send", "stripe", "customer.subscription.updated", "--connection", connection
    )

    assert code == 0
    assert len(inbound.requests) == 1


def test_events_send_fails_when_the_service_refuses(
    database_url: str, capsys: pytest.CaptureFixture[str], inbound: Recorded
) -> None:
    connection = _merchant_with_connection(capsys, database_url)
    inbound.status = 401

    code, out, _ = _run(
        capsys,
        "events",
        "send",
        "stripe",
        "customer.subscription.created",
        "--connection",
        connection,
        "--url",
        inbound.url,
    )

    assert code == 1
    assert out.splitlines()[-1].startswith("401 ")


def test_events_send_says_when_nothing_listens(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    connection = _merchant_with_connection(capsys, database_url)
    url = f"http://127.0.0.1:{free_port()}"

    code, _, err = _run(
        capsys,
        "events",
        "send",
        "stripe",
        "customer.subscription.created",
        "--connection",
        connection,
        "--url",
        url,
    )

    assert code == 1
    assert err.startswith(f"subgate: cannot reach {url}/webhooks/stripe/{connection}: ")
    assert err.count("\n") == 1


def test_events_send_to_an_unknown_connection_fails(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "migrate")

    code, _, err = _run(
        capsys, "events", "send", "stripe", "customer.subscription.created", "--connection", "conn_x"
    )

    assert code == 1
    database = database_url.removeprefix("sqlite:///")
    assert err == f"subgate: connection 'conn_x' does not exist in {database}\n"


def test_invoice_paid_needs_the_subscription_it_pays_for(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "events", "send", "stripe", "invoice.paid", "--connection", "conn_x")

    assert code == 2
    assert "--subscription" in err


async def _open_link(database_url: str, token: str) -> tuple[str, bool]:
    async with opened_store(_settings(database_url)) as store:
        opened = await PortalSessions(StoreTxn(store), system_clock).open(token)
    return opened.session.merchant_id, opened.session.read_only


def test_portal_prints_a_link_that_opens_that_merchant_s_portal_once(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    created = json.loads(_run(capsys, "merchants", "create", "Acme")[1])

    code, out, err = _run(capsys, "portal", created["merchant_id"], "--read-only")

    assert code == 0
    [link] = out.splitlines()
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert link.startswith(f"http://127.0.0.1:{load_settings(dotenv=None).port}/portal/open?token=")
    assert err.startswith("opens once, until ")
    assert asyncio.run(_open_link(database_url, token)) == (created["merchant_id"], True)
    with pytest.raises(SessionEnded):
        asyncio.run(_open_link(database_url, token))


def test_portal_of_an_unknown_merchant_fails_with_one_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "portal", "mersg_missing")

    assert (code, out) == (1, "")
    assert err == "subgate: merchant 'mersg_missing' does not exist\n"
