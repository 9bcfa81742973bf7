"""The embedded Redis' password file: made once, whoever races for it, and readable by its owner only."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from subgate.redis.password import PASSWORD_FILE_NAME, ensure_password, read_password


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave new files readable by everyone."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_password_is_made_private_whatever_the_umask(tmp_path: Path, permissive_umask: None) -> None:
    password = ensure_password(tmp_path)

    assert _mode(tmp_path / PASSWORD_FILE_NAME) == 0o600
    assert (tmp_path / PASSWORD_FILE_NAME).read_text() == password + "\n"
    assert len(password) >= 32
    assert ensure_password(tmp_path) == password
    assert read_password(tmp_path) == password
    assert [p.name for p in tmp_path.iterdir()] == [PASSWORD_FILE_NAME]  # no temporary file left


def test_a_password_file_others_could_read_is_made_private(tmp_path: Path) -> None:
    password = ensure_password(tmp_path)
    (tmp_path / PASSWORD_FILE_NAME).chmod(0o644)

    assert read_password(tmp_path) == password
    assert _mode(tmp_path / PASSWORD_FILE_NAME) == 0o600


def test_no_file_means_no_password_yet(tmp_path: Path) -> None:
    assert read_password(tmp_path) is None


@pytest.mark.parametrize("content", ["", "short\n", "has spaces in it and is long enough to go\n", "é" * 40])
def test_a_file_this_service_did_not_write_is_reported_without_its_content(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / PASSWORD_FILE_NAME).write_text(content)

    with pytest.raises(RuntimeError, match=PASSWORD_FILE_NAME) as raised:
        ensure_password(tmp_path)
    if content.strip():
        assert content.strip() not in str(raised.value)
    assert (tmp_path / PASSWORD_FILE_NAME).read_text() == content  # never overwritten


def test_racing_starters_all_get_the_one_password(tmp_path: Path) -> None:
    racers = 8
    barrier = threading.Barrier(racers)
    passwords: list[str] = []

    def race() -> None:
        barrier.wait()
        passwords.append(ensure_password(tmp_path))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(passwords) == racers
    assert set(passwords) == {read_password(tmp_path)}
