"""The words an attempt's failure is recorded with, for errors the loopback tests cannot provoke.

TLS errors and wrapped cause chains are built here the way the ssl module and the HTTP
client build them: the attributes the real ones carry (`reason`, `verify_message`) are set
by hand, and a cause is linked with `__cause__` or `__context__` alone.
"""

from __future__ import annotations

import errno
import ssl
from datetime import UTC, datetime

from integrations.delivery.http.failures import transport_failure
from integrations.delivery.http.signing import signature_headers

TIMEOUT = 3.0


def caused_by(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def during(outer: BaseException, context: BaseException) -> BaseException:
    outer.__context__ = context
    return outer


def test_an_explicit_cause_alone_is_followed_to_the_os_error() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")

    assert (
        transport_failure(caused_by(RuntimeError("connector failed"), refused), TIMEOUT)
        == "connection refused"
    )


def test_an_implicit_context_alone_is_followed_to_the_os_error() -> None:
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    assert (
        transport_failure(during(RuntimeError("read failed"), reset), TIMEOUT) == "connection reset by peer"
    )


def test_an_unknown_failure_names_the_innermost_cause() -> None:
    innermost = LookupError("no route was chosen")
    middle = caused_by(ValueError("the pool gave up"), innermost)
    outer = caused_by(RuntimeError("the request failed"), middle)

    assert transport_failure(outer, TIMEOUT) == "connection failed: LookupError: no route was chosen"


def test_errors_joined_without_an_errno_are_read_from_their_text_first_known_first() -> None:
    joined = OSError(
        "Multiple exceptions: [Errno 99] Cannot assign requested address, "
        "[Errno 113] Connect call failed ('192.0.2.1', 443), [Errno 111] Connect call failed"
    )

    assert transport_failure(joined, TIMEOUT) == "host unreachable"


def test_a_tls_error_with_a_reason_is_named_by_it() -> None:
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
    error.reason = "WRONG_VERSION_NUMBER"

    assert transport_failure(error, TIMEOUT) == "TLS error: WRONG_VERSION_NUMBER"


def test_a_tls_error_without_a_reason_is_named_by_its_text() -> None:
    error = ssl.SSLError(1, "handshake failed")

    assert transport_failure(error, TIMEOUT) == "TLS error: handshake failed"


def test_a_rejected_certificate_is_named_by_the_verification_message() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "certificate has expired"

    assert transport_failure(error, TIMEOUT) == "TLS certificate rejected: certificate has expired"


def test_the_signature_headers_are_spelled_as_the_standard_webhooks_spell_them() -> None:
    headers = signature_headers("msg_1", datetime(2025, 1, 1, tzinfo=UTC), b"{}", ("whsec_" + "B" * 32,))

    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("msg_1", "1735689600")
