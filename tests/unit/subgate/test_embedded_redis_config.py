"""The embedded Redis' generated redis.conf: loopback only, and never without the password.

The integration tests prove the running server answers NOAUTH; this pins the one place the
server is told to (`requirepass`), read back the way Redis reads its config (one directive
per line, double-quoted values with C-style escapes).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from hypothesis import given, strategies as st

from subgate.redis.embedded import render_config


def _directives(config: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in config.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        found.setdefault(name, []).append(value)
    return found


def test_the_server_requires_the_password_and_listens_on_loopback_only() -> None:
    password = secrets.token_urlsafe(32)

    directives = _directives(render_config(Path("/data/redis"), 6399, password))

    assert directives["requirepass"] == [password]
    assert directives["bind"] == ["127.0.0.1"]
    assert directives["protected-mode"] == ["yes"]
    assert directives["port"] == ["6399"]


@given(st.from_regex(r"[A-Za-z0-9_-]{32,64}", fullmatch=True))
def test_any_generated_password_reaches_the_server_unchanged(password: str) -> None:
    directives = _directives(render_config(Path("/data/redis"), 6399, password))

    assert directives["requirepass"] == [password]
