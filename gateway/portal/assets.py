"""The portal's static files, served by the app under names that carry a hash of their content.

A file's URL changes whenever its content does, so browsers may keep each one for a year
(`immutable`); nothing needs building: the hashes are taken when the app starts.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_PREFIX: Final = "/static/"
_HASH_CHARS: Final = 12
_CACHE_FOREVER: Final = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str


class Assets:
    """Every file of `directory`, by its hashed name (`portal.3f2a9c1b7e0d.css`)."""

    def __init__(self, prefix: str, directory: Path = STATIC_DIR) -> None:
        self._prefix = prefix
        self._hashed: dict[str, str] = {}
        self._files: dict[str, Asset] = {}
        for path in sorted(directory.iterdir()):
            if not path.is_file():
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:_HASH_CHARS]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self._hashed[path.name] = hashed
            self._files[hashed] = Asset(body=body, media_type=media_type)

    def url(self, name: str) -> str:
        """The path a page links to; a KeyError for a file that does not exist (a template's bug)."""
        return f"{self._prefix}{STATIC_PREFIX}{self._hashed[name]}"

    async def serve(self, request: Request) -> Response:
        found = self._files.get(str(request.path_params["name"]))
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(found.body, media_type=found.media_type, headers={"Cache-Control": _CACHE_FOREVER})
