"""One secret's sealed form: standard Fernet behind a prefix that names its key."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, strategies as st

from integrations.stores.sealing.keyring import SEALED_PREFIX, Keyring, SecretUnreadable
from integrations.stores.sealing.keys import key_id, new_key

FIRST, SECOND = new_key(), new_key()


@given(st.text())
def test_any_text_opens_to_itself(value: str) -> None:
    keyring = Keyring([FIRST])

    assert keyring.open(keyring.seal(value), "test") == value


@given(st.text(min_size=16))
def test_the_sealed_form_names_its_key_and_hides_the_value(value: str) -> None:
    stored = Keyring([FIRST, SECOND]).seal(value)

    head = f"{SEALED_PREFIX}{key_id(FIRST)}:"
    assert stored.startswith(head)
    token = base64.urlsafe_b64decode(stored.removeprefix(head))
    assert value.encode() not in token  # neither as text nor among the token's bytes
    assert value not in stored


def test_the_token_is_plain_fernet_both_ways() -> None:
    """Checked with cryptography's own Fernet, not only with our keyring."""
    stored = Keyring([FIRST]).seal("whsec_reference")
    token = stored.removeprefix(f"{SEALED_PREFIX}{key_id(FIRST)}:")
    assert Fernet(FIRST.encode()).decrypt(token.encode()) == b"whsec_reference"

    made_elsewhere = Fernet(FIRST.encode()).encrypt(b"whsec_elsewhere").decode()
    assert Keyring([FIRST]).open(f"{SEALED_PREFIX}{key_id(FIRST)}:{made_elsewhere}", "x") == "whsec_elsewhere"


def test_sealing_twice_gives_two_forms_that_both_open() -> None:
    keyring = Keyring([FIRST])
    one, two = keyring.seal("same"), keyring.seal("same")

    assert one != two
    assert keyring.open(one, "x") == keyring.open(two, "x") == "same"


def test_the_first_key_seals_and_every_listed_key_opens() -> None:
    old = Keyring([SECOND]).seal("sealed before the rotation")
    rotated = Keyring([FIRST, SECOND])

    assert rotated.current == key_id(FIRST)
    assert rotated.older == (key_id(SECOND),)
    assert rotated.open(old, "x") == "sealed before the rotation"
    assert rotated.seal("after").startswith(f"{SEALED_PREFIX}{key_id(FIRST)}:")


def test_a_value_sealed_with_a_key_that_is_not_listed_names_the_setting_and_the_key_id() -> None:
    stored = Keyring([SECOND]).seal("x")

    with pytest.raises(SecretUnreadable) as refused:
        Keyring([FIRST], source="SUBGATE_SECRET_KEY").open(stored, "connections conn_1")

    message = str(refused.value)
    assert message.startswith("SUBGATE_SECRET_KEY: connections conn_1")
    assert key_id(SECOND) in message
    assert FIRST not in message
    assert SECOND not in message


def test_an_altered_token_does_not_open() -> None:
    stored = Keyring([FIRST]).seal("whsec_untouched")
    flipped = stored[:-5] + ("A" if stored[-5] != "A" else "B") + stored[-4:]

    with pytest.raises(SecretUnreadable, match="does not open"):
        Keyring([FIRST]).open(flipped, "endpoints ep_1")


@pytest.mark.parametrize("stored", ["whsec_in_clear", "sealed:v2:abc:def", "", 42, None])
def test_what_is_not_a_sealed_form_does_not_open(stored: object) -> None:
    with pytest.raises(SecretUnreadable):
        Keyring([FIRST]).open(stored, "x")  # type: ignore[arg-type]


def test_without_a_key_nothing_seals_and_nothing_opens() -> None:
    keyring = Keyring()

    assert keyring.current is None
    with pytest.raises(SecretUnreadable):
        keyring.seal("x")
    with pytest.raises(SecretUnreadable, match="configured: none"):
        keyring.open(Keyring([FIRST]).seal("x"), "x")


def test_a_malformed_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="key 2 of 2") as refused:
        Keyring([FIRST, FIRST[:-2]])
    assert FIRST[:-2] not in str(refused.value)
