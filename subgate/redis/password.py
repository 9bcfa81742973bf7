"""The embedded Redis' password: generated once, kept in its data directory, readable by its owner only.

Every process on the data directory reads it from `redis.password` (mode 0600) and connects
with it; the server gets it through its generated `redis.conf` (0600 too). It is made by the
first start (for the shared server, under the start lock) and never changes afterwards, so
a server restarted on the same port accepts the connection pools that already point at it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Final

PASSWORD_FILE_NAME: Final = "redis.password"  # noqa: S105 - a file name, not a password
PRIVATE_FILE_MODE: Final = 0o600
# 32 random bytes in URL-safe base64: no character needs quoting in a URL or in redis.conf.
_PASSWORD_BYTES: Final = 32
_WELL_FORMED: Final = re.compile(r"[A-Za-z0-9_-]{32,256}")


def read_password(data_dir: Path) -> str | None:
    """The password kept in `data_dir`, or None when there is none (yet).

    A file that other users could read is made private first.
    """
    path = data_dir / PASSWORD_FILE_NAME
    try:
        with path.open("r", encoding="ascii") as kept:
            if stat.S_IMODE(os.fstat(kept.fileno()).st_mode) != PRIVATE_FILE_MODE:
                os.fchmod(kept.fileno(), PRIVATE_FILE_MODE)
            password = kept.read().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise RuntimeError(f"cannot read the embedded Redis password in {path}: {error}") from None
    if not _WELL_FORMED.fullmatch(password):
        raise RuntimeError(f"{path} does not hold a password this service wrote; remove it to get a new one")
    return password


def ensure_password(data_dir: Path) -> str:
    """The password kept in `data_dir`, generated and written (0600) if there is none yet.

    Written under a temporary name and then linked into place, which fails if another
    process got there first: the file is never seen half-written, and two starters agree.
    """
    existing = read_password(data_dir)
    if existing is not None:
        return existing
    password = secrets.token_urlsafe(_PASSWORD_BYTES)
    # A name no other starter (process or thread) can be using at the same time.
    temporary = data_dir / f".{PASSWORD_FILE_NAME}.{secrets.token_hex(8)}.tmp"
    write_private(temporary, password + "\n")
    try:
        os.link(temporary, data_dir / PASSWORD_FILE_NAME)
    except FileExistsError:
        pass  # another process wrote one first: theirs is the password
    finally:
        temporary.unlink(missing_ok=True)
    kept = read_password(data_dir)
    if kept is None:
        raise RuntimeError(f"the embedded Redis password in {data_dir} vanished as it was written")
    return kept


def write_private(path: Path, content: str) -> None:
    """Write `path` afresh with mode 0600, whatever the umask and whatever mode it had before."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
        handle.write(content)
