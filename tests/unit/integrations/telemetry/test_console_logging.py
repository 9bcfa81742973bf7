"""The console log format colours its lines only for a terminal; files and pipes get plain text."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from integrations.telemetry.tracing import configure_logging

ESCAPE = "\x1b"


class TerminalStream(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def log_one_line(stream: io.StringIO) -> str:
    configure_logging("console", cache=False, stream=stream)
    structlog.get_logger().warning("delivery_attempt", delivery_id="dlv_1", error="connection refused")
    return stream.getvalue()


def test_a_console_line_to_a_non_terminal_has_no_escape_sequences() -> None:
    line = log_one_line(io.StringIO())

    assert "delivery_attempt" in line
    assert "error='connection refused'" in line
    assert ESCAPE not in line


def test_a_console_line_to_a_terminal_is_coloured() -> None:
    line = log_one_line(TerminalStream())

    assert "delivery_attempt" in line
    assert ESCAPE in line


def test_the_default_stream_is_stderr_and_plain_when_captured(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("console", cache=False)
    structlog.get_logger().info("gateway_started", base_url="http://127.0.0.1:8000")

    captured = capsys.readouterr()
    assert "gateway_started" in captured.err
    assert ESCAPE not in captured.err
    assert captured.out == ""
