"""Where a portal link points (shared by the REST API and the `subgate portal` command)."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

PREFIX: Final = "/portal"
OPEN_PATH: Final = PREFIX + "/open"


def portal_link(base_url: str, token: str) -> str:
    """The token travels in the query: request spans record the path, never the query."""
    return f"{base_url.rstrip('/')}{OPEN_PATH}?{urlencode({'token': token})}"
