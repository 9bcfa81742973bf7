"""The data directory is 0700 and its files 0600, whatever the umask the command started with."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from subgate.cli import main
from subgate.keyfile import KEY_FILE_NAME

LOOSE_UMASK = 0o022  # the usual login default: directories 0755, files 0644


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(tmp_path / "data"))
    for inherited in ("SUBGATE_DATABASE_URL", "SUBGATE_SECRET_KEY"):
        monkeypatch.delenv(inherited, raising=False)
    os.umask(LOOSE_UMASK)
    return tmp_path / "data"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_private(data_dir: Path) -> None:
    """The directory and everything in it: no permission for group or others."""
    assert mode(data_dir) == 0o700
    seen = 0
    for directory, subdirectories, files in os.walk(data_dir):
        for name in subdirectories:
            assert mode(Path(directory) / name) == 0o700, name
        for name in files:
            assert mode(Path(directory) / name) == 0o600, name
            seen += 1
    assert seen


@pytest.mark.parametrize("argv", [["migrate"], ["merchants", "create", "Acme"]], ids=" ".join)
def test_an_admin_command_creates_a_private_data_directory(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 0
    capsys.readouterr()

    assert_private(data_dir)
    assert mode(data_dir / "subgate.db") == 0o600


def test_a_loose_data_directory_is_tightened_and_nothing_else_in_it_is_touched(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.umask(0)
    data_dir.mkdir(mode=0o755)
    for name in ("subgate.db", KEY_FILE_NAME, "notes.txt"):
        (data_dir / name).touch(mode=0o644)
    (data_dir / "redis" / "appendonlydir").mkdir(mode=0o755, parents=True)
    (data_dir / "redis" / "appendonlydir" / "appendonly.aof.1.incr.aof").touch(mode=0o644)
    (data_dir / KEY_FILE_NAME).write_text("")
    os.umask(LOOSE_UMASK)

    assert main(["migrate"]) == 0
    assert capsys.readouterr().out == "migrated\n"

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "subgate.db") == 0o600
    assert mode(data_dir / KEY_FILE_NAME) == 0o600
    assert mode(data_dir / "redis") == 0o700
    assert mode(data_dir / "redis" / "appendonlydir") == 0o700
    assert mode(data_dir / "redis" / "appendonlydir" / "appendonly.aof.1.incr.aof") == 0o600
    assert mode(data_dir / "notes.txt") == 0o644  # not subgate's


def test_a_link_in_the_data_directory_is_not_followed(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "shared.db"
    elsewhere.touch(mode=0o644)
    data_dir.mkdir()
    (data_dir / "subgate.db").symlink_to(elsewhere)
    os.chmod(elsewhere, 0o644)

    main(["secrets", "new-key"])
    capsys.readouterr()

    assert mode(elsewhere) == 0o644
