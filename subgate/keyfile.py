"""The data directory's key file: the key `subgate dev` makes when none is configured.

Every command on that data directory uses it while `SUBGATE_SECRET_KEY` is unset, so `serve`,
`worker` and the admin commands beside a `subgate dev` read what it sealed. It holds keys in
the form of the setting (comma-separated, the first sealing) and is written 0600, whole or not
at all: a command starting at the same moment reads either no file or the complete key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

from integrations.stores.sealing.keys import new_key

KEY_FILE_NAME: Final = "secret.key"
_PRIVATE_FILE: Final = 0o600


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE_NAME


def read_key_file(path: Path) -> str | None:
    """The file's text, stripped; None when there is no such file."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None


def create_key_file(data_dir: Path) -> str:
    """Write a new key to the data directory's key file unless one exists; the file's text either way."""
    path = key_file(data_dir)
    draft = path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE_FILE)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as draft_file:
            draft_file.write(new_key() + "\n")
            draft_file.flush()
            os.fsync(draft_file.fileno())
        # A hard link never replaces: of two commands creating it at once, one key wins.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    sync_directory(data_dir)  # the key must outlive a power cut as surely as what it seals
    text = read_key_file(path)
    if text is None:
        raise FileNotFoundError(path)
    return text


def sync_directory(directory: Path) -> None:
    """Flush the directory entry itself, so a rename or a new file in it survives a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
