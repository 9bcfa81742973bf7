"""The data directory is private: 0700, and its files 0600.

Every `subgate` command sets the process's umask first thing (`subgate.cli.main`), so what it
creates (the directory, the SQLite file and its -wal/-shm, the embedded Redis's files, the key
file) is private from the start; the embedded Redis inherits the umask too. A data directory
made before that (or by hand) is tightened when the command starts, if this user owns it: the
directory itself, the files subgate keeps in it, and the embedded Redis's directory. Nothing
else in it is touched: the data directory may be set to a directory that holds other things.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Final

from subgate.commands.service import FIRST_START_MARKER
from subgate.keyfile import KEY_FILE_NAME

PRIVATE_UMASK: Final = 0o077
_OTHERS: Final = 0o077
# What subgate itself keeps directly in the data directory (the embedded Redis's files are in
# `redis/`, `subgate.runtime.redis_dir`).
_OWN_FILES: Final = ("subgate.db", "subgate.db-wal", "subgate.db-shm", KEY_FILE_NAME, FIRST_START_MARKER)
_REDIS_DIR: Final = "redis"


def tighten(data_dir: Path) -> None:
    """Take group and other permissions away from the data directory and subgate's files in it."""
    if not _private(data_dir):
        return
    for name in _OWN_FILES:
        _private(data_dir / name)
    redis = data_dir / _REDIS_DIR
    if _private(redis):
        for directory, subdirectories, files in os.walk(redis):
            for name in (*subdirectories, *files):
                _private(Path(directory) / name)


def _private(path: Path) -> bool:
    """Make `path` private if it is ours (not a link); whether it is ours."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return False
    if status.st_uid != os.getuid() or stat.S_ISLNK(status.st_mode):
        return False
    mode = stat.S_IMODE(status.st_mode)
    if mode & _OTHERS:
        try:
            path.chmod(mode & ~_OTHERS)
        except OSError as error:
            print(f"subgate: cannot make {path} private: {error}", file=sys.stderr)  # noqa: T201 - CLI output
    return True
