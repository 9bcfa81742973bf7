"""`subgate receive`: a throwaway local endpoint that prints each notification it receives.

A stand-in for a merchant's webhook endpoint while trying subgate out. Each POST is answered 200
and printed as a block: a `POST <path>` line, the Standard Webhooks headers (`name: value`), the
body on one line and, given the endpoint's secret, whether the signature verifies.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from subgate.commands.listen_check import host_port, reason
from subgate.settings import Settings

SHOWN_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")
CANNOT_LISTEN_EXIT = 2
_print_lock = threading.Lock()


def receive(args: argparse.Namespace, _settings: Settings) -> int:
    check = _signature_check(args.secret) if args.secret else None
    handler = _handler_class(check)
    where = host_port(args.host, args.port)
    try:
        server = ThreadingHTTPServer((args.host, args.port), handler)
    except OSError as error:
        print(f"subgate: cannot listen on {where} ({reason(error)}); use --port", file=sys.stderr)  # noqa: T201 - CLI output
        return CANNOT_LISTEN_EXIT
    with server:
        host, port = server.server_address[:2]
        print(f"receiving on http://{host_port(str(host), int(port))}/ (any path); Ctrl-C stops", flush=True)  # noqa: T201 - CLI output
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            server.serve_forever()
    return 0


def _signature_check(secret: str) -> Callable[[bytes, dict[str, str]], str]:
    from svix.webhooks import Webhook, WebhookVerificationError  # noqa: PLC0415 - only with --secret

    webhook = Webhook(secret)

    def check(body: bytes, headers: dict[str, str]) -> str:
        try:
            webhook.verify(body, headers)
        except WebhookVerificationError as error:
            return f"INVALID ({error})"
        return "valid"

    return check


def _handler_class(check: Callable[[bytes, dict[str, str]], str] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            lines = [f"POST {self.path}"]
            lines += [f"{name}: {headers[name]}" for name in SHOWN_HEADERS if name in headers]
            lines.append(body.decode("utf-8", errors="replace"))
            if check is None:
                lines.append("signature: not checked (pass --secret whsec_... to check it)")
            else:
                lines.append(f"signature: {check(body, headers)}")
            with _print_lock:
                print("\n".join(lines), flush=True)  # noqa: T201 - CLI output
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            """Quiet: each request is printed by do_POST instead of the default access log."""

    return Handler
