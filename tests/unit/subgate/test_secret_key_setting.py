"""SUBGATE_SECRET_KEY, and the data directory's key file used while it is unset."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, strategies as st

from integrations.stores.sealing.keys import is_key, new_key
from subgate.commands.service import with_key_file
from subgate.keyfile import KEY_FILE_NAME, create_key_file
from subgate.settings import Settings, SettingsError, load_settings

FIRST, SECOND = new_key(), new_key()


def settings(tmp_path: Path, raw: str | None = None) -> Settings:
    env = {"SUBGATE_DATA_DIR": str(tmp_path / "data")}
    if raw is not None:
        env["SUBGATE_SECRET_KEY"] = raw
    return load_settings(env, dotenv=None)


def refusal(tmp_path: Path, raw: str) -> str:
    with pytest.raises(SettingsError) as refused:
        settings(tmp_path, raw)
    return str(refused.value)


def test_unset_with_no_key_file_keeps_secrets_in_clear(tmp_path: Path) -> None:
    assert settings(tmp_path).secret_keys == ()
    assert settings(tmp_path, "  ").secret_keys == ()


def test_comma_separated_keys_keep_their_order_the_first_one_sealing(tmp_path: Path) -> None:
    read = settings(tmp_path, f" {FIRST} , {SECOND}\n")

    assert read.secret_keys == (FIRST, SECOND)
    assert read.secret_key_source == "SUBGATE_SECRET_KEY"


def test_keys_made_by_cryptography_itself_are_accepted(tmp_path: Path) -> None:
    made = Fernet.generate_key().decode()

    assert settings(tmp_path, made).secret_keys == (made,)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not-a-key", "key 1 of 1 is not a key"),
        (f"{FIRST},", "key 2 of 2 is empty"),
        (f"{FIRST},,{SECOND}", "key 2 of 3 is empty"),
        (FIRST.rstrip("="), "is not a key"),  # without its padding
        (base64.urlsafe_b64encode(os.urandom(31)).decode(), "is not a key"),  # 31 bytes
        (base64.urlsafe_b64encode(os.urandom(33)).decode(), "is not a key"),  # 33 bytes
        (FIRST[:10] + "\u0410" + FIRST[11:], "is not a key"),  # a Cyrillic look-alike letter
        (f"{FIRST},{FIRST}", "listed twice"),
    ],
)
def test_a_malformed_key_is_refused_at_load_naming_the_setting_never_the_key(
    tmp_path: Path, raw: str, says: str
) -> None:
    message = refusal(tmp_path, raw)

    assert message.startswith("SUBGATE_SECRET_KEY")
    assert says in message
    for part in raw.split(","):
        if len(part) > 8:
            assert part not in message


def test_standard_base64_is_not_mistaken_for_a_key(tmp_path: Path) -> None:
    raw = base64.b64encode(b"\xfb" * 32).decode()  # `+` and `/`: not URL-safe
    assert "is not a key" in refusal(tmp_path, raw)


@given(st.text(max_size=120))
def test_any_text_is_read_as_keys_or_refused_with_the_setting_named(raw: str) -> None:
    env = {"SUBGATE_DATA_DIR": "/nonexistent/subgate-data", "SUBGATE_SECRET_KEY": raw}
    read: Settings | SettingsError
    try:
        read = load_settings(env, dotenv=None)
    except SettingsError as refused:
        read = refused
    if isinstance(read, SettingsError):
        assert str(read).startswith("SUBGATE_SECRET_KEY")
    else:
        assert all(is_key(key) for key in read.secret_keys)
        assert bool(read.secret_keys) == bool(raw.strip())


def test_keys_never_show_in_the_settings_repr(tmp_path: Path) -> None:
    read = settings(tmp_path, f"{FIRST},{SECOND}")

    assert FIRST not in repr(read)
    assert SECOND not in repr(read)


def test_the_data_directory_key_file_is_used_while_the_setting_is_unset(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / KEY_FILE_NAME).write_text(f"{FIRST}\n")

    from_file = settings(tmp_path)
    from_setting = settings(tmp_path, SECOND)

    assert from_file.secret_keys == (FIRST,)
    assert str(tmp_path / "data" / KEY_FILE_NAME) in from_file.secret_key_source
    assert "SUBGATE_SECRET_KEY" in from_file.secret_key_source
    assert from_setting.secret_keys == (SECOND,)  # the setting wins over the file


def test_a_malformed_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / KEY_FILE_NAME).write_text("half a key\n")

    with pytest.raises(SettingsError, match=str(tmp_path / "data" / KEY_FILE_NAME)):
        settings(tmp_path)


def test_an_unreadable_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "data" / KEY_FILE_NAME).mkdir(parents=True)  # a directory where the file should be

    with pytest.raises(SettingsError, match="cannot be read"):
        settings(tmp_path)


def test_dev_makes_a_private_key_file_once_and_then_keeps_it(tmp_path: Path) -> None:
    unset = settings(tmp_path)
    (tmp_path / "data").mkdir()

    first = with_key_file(unset)
    again = with_key_file(unset)

    path = tmp_path / "data" / KEY_FILE_NAME
    assert (path.stat().st_mode & 0o777) == 0o600
    assert len(first.secret_keys) == 1
    assert is_key(first.secret_keys[0])
    assert again.secret_keys == first.secret_keys
    assert settings(tmp_path).secret_keys == first.secret_keys  # every later command reads it
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE_NAME]  # no draft left


def test_commands_creating_the_key_file_at_once_all_get_the_same_key(tmp_path: Path) -> None:
    starting = threading.Barrier(8)
    made: list[str] = []

    def create() -> None:
        starting.wait()
        made.append(create_key_file(tmp_path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(made) == 8
    assert len(set(made)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME]
