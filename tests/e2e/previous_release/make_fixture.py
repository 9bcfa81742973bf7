"""Write the data directory of the previous release, for the upgrade test (run by hand).

    .venv/bin/python tests/e2e/previous_release/make_fixture.py [COMMIT]

COMMIT (default `RELEASE`, the last commit before the store recorded a schema version) is
checked out with `git archive` into a temporary directory and run from there with this
environment's interpreter and packages (the previous release's dependencies are the same):
its own `subgate dev` on a fresh data directory, driven through its REST API and its own
`subgate events send` as a merchant and Stripe would: a connection with a webhook secret,
two endpoints (one answering 200, one 503 until its deliveries are dead letters), a plan, a
customer and a subscription made over REST (with an Idempotency-Key), Stripe subscriptions
created, moved to past_due and paid, and one event sent twice. Once everything is processed
the service is stopped and the result saved beside this script:

* `subgate.sql`: the SQLite database as SQL text (`iterdump`): small, readable in review,
  and exactly what that release stored;
* `secret.key`: the key file its `subgate dev` generated (the secrets are sealed with it);
* `fixture.json`: the commit, the demo merchant's API key, the connection and its secret,
  and what the store holds (counts), for the test to check after the upgrade.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

RELEASE = "2556e5a"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STRIPE_SECRET = "whsec_previous_release_fixture"
DEADLINE_S = 120.0


def main(commit: str) -> None:
    with tempfile.TemporaryDirectory(prefix="subgate-previous-release-") as scratch:
        tree, data = Path(scratch) / "tree", Path(scratch) / "data"
        tree.mkdir()
        git, tar = shutil.which("git") or "git", shutil.which("tar") or "tar"
        archive = subprocess.run([git, "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run([tar, "-x", "-C", str(tree)], input=archive, check=True)
        receiver = _receiver()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SUBGATE_")},
            "PYTHONPATH": str(tree),  # that release's modules ahead of this checkout's
            "SUBGATE_DATA_DIR": str(data),
            "SUBGATE_PORT": str(_free_port()),
            "SUBGATE_RETRY_SCHEDULE": "0.2,0.2",
            "SUBGATE_LOG_FORMAT": "json",
        }
        dev = subprocess.Popen(
            [sys.executable, "-m", "subgate", "dev"], cwd=tree, env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            api_key = _api_key(dev)
            facts = _drive(f"http://127.0.0.1:{env['SUBGATE_PORT']}", api_key, receiver, env, tree)
        finally:
            dev.send_signal(signal.SIGTERM)
            dev.wait(timeout=60)
        _save(data, {"release": commit, "api_key": api_key, **facts})


def _drive(base: str, api_key: str, receiver: int, env: dict[str, str], tree: Path) -> dict[str, Any]:
    api = _Api(base, api_key)
    connection = api.post("/v1/connections", {"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]})
    api.post("/v1/endpoints", {"url": f"http://127.0.0.1:{receiver}/hooks", "description": "answers 200"})
    api.post("/v1/endpoints", {"url": f"http://127.0.0.1:{receiver}/down", "description": "answers 503"})
    plan = api.post("/v1/plans", {"name": "Pro", "amount": 900, "currency": "eur", "interval": "month"})
    customer = api.post("/v1/customers", {"email": "ada@example.com", "name": "Ada"})
    subscription = {"customer_id": customer["id"], "plan_id": plan["id"]}
    api.post("/v1/subscriptions", subscription, idempotency_key="fixture-local-subscription")

    def send(*args: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "subgate",
                "events",
                "send",
                "stripe",
                *args,
                "--connection",
                connection["id"],
            ],
            cwd=tree,
            env=env,
            check=True,
            capture_output=True,
        )

    for n in (1, 2, 3):
        send(
            "customer.subscription.created", "--subscription", f"sub_fixture_{n}", "--customer", f"cus_fx_{n}"
        )
    send("customer.subscription.updated", "--subscription", "sub_fixture_2", "--status", "past_due")
    send("invoice.paid", "--subscription", "sub_fixture_1")
    send(
        "customer.subscription.created", "--subscription", "sub_fixture_4", "--event-id", "evt_fixture_twice"
    )
    send(
        "customer.subscription.created", "--subscription", "sub_fixture_4", "--event-id", "evt_fixture_twice"
    )
    _until(lambda: not api.get("/v1/inbound-events?status=accepted")["data"], "every event processed")
    _until(
        lambda: (
            not api.get("/v1/deliveries?status=pending")["data"]
            and not api.get("/v1/deliveries?status=failed")["data"]
        ),
        "every delivery settled",
    )
    return {
        "connection_id": connection["id"],
        "stripe_secret": STRIPE_SECRET,
        "counts": {
            path: len(api.get(f"/v1/{path}?limit=100")["data"])
            for path in ("connections", "endpoints", "plans", "customers", "subscriptions", "inbound-events")
        }
        | {
            "deliveries": len(api.get("/v1/deliveries?limit=100")["data"]),
            "dead-letters": len(api.get("/v1/dead-letters?limit=100")["data"]),
        },
    }


class _Api:
    def __init__(self, base: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"authorization": f"Bearer {api_key}"}, timeout=30)

    def post(self, path: str, body: Any, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        answer = self.http.post(path, json=body, headers=headers)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def get(self, path: str) -> dict[str, Any]:
        answer = self.http.get(path)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found


def _api_key(dev: subprocess.Popen[str]) -> str:
    assert dev.stdout is not None
    for line in dev.stdout:
        if "API key (shown once): " in line:
            return line.rsplit(" ", 1)[1].strip()
    raise SystemExit("subgate dev of the previous release printed no API key")


def _receiver() -> int:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(503 if self.path.endswith("/down") else 200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_address[1])


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting until {what}")
        time.sleep(0.2)  # a script waiting for a service it started, not a test


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _save(data: Path, facts: dict[str, Any]) -> None:
    with sqlite3.connect(data / "subgate.db") as db:
        dump = "\n".join(db.iterdump()) + "\n"
    (HERE / "subgate.sql").write_text(dump)
    shutil.copyfile(data / "secret.key", HERE / "secret.key")
    (HERE / "fixture.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else RELEASE)
