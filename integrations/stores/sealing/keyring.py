"""Secrets sealed at rest: the keys, and the stored form of one secret value.

A sealed value is `sealed:v1:<key id>:<Fernet token>`. The key id (8 hex digits derived from
the key, see `integrations.stores.sealing.keys.key_id`) says which key opens it, so a value is opened
with one decryption, never by trying every key, and the store can be asked which documents
still hold an older key's values. The first configured key seals; every configured key opens
(rotation: put the new key first, keep the old ones after it until nothing is sealed with them
any more).

Whether a document's values are sealed is said by the document itself (`SEALED_WITH`, see
`integrations.stores.sealing.sealed`), not guessed from the values: a value stored in clear is read
as it is, whatever it looks like, so a merchant cannot make its own secret pass for a sealed
one that no key opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

from integrations.stores.documents import StorageError
from integrations.stores.sealing.keys import SETTING, key_id, parse_keys

SEALED_PREFIX: Final = "sealed:v1:"
# Opened values, by their stored form: a connection is read on every webhook (after its 2 s
# cache runs out) and an endpoint on every delivery batch, each time with the same tokens.
# The bound only limits memory; when it is reached the cache starts over.
_MAX_OPENED: Final = 10_000


class SecretUnreadable(StorageError):
    """A stored secret that no configured key opens; the message names the setting.

    A StorageError, so a request that meets one answers 503 and a worker retries later:
    nothing is lost while the operator adds the missing key.
    """


class Keyring:
    """The configured keys: the first seals, each opens what it sealed.

    `source` says where the keys came from, for error messages (the setting, or the data
    directory's key file); an empty keyring keeps values in clear and opens none.
    """

    def __init__(self, keys: Sequence[str] = (), *, source: str = SETTING) -> None:
        if keys:
            parse_keys(",".join(keys), source)  # raises ValueError on a malformed or repeated key
        self.source = source
        self._fernets = {key_id(key): Fernet(key.encode("ascii")) for key in keys}
        self.key_ids: tuple[str, ...] = tuple(self._fernets)
        self._current = self.key_ids[0] if self.key_ids else None
        self._sealer = None if self._current is None else self._fernets[self._current]
        self._opened: dict[str, str] = {}

    @property
    def current(self) -> str | None:
        """The id of the key that seals; None when values are kept in clear."""
        return self._current

    @property
    def older(self) -> tuple[str, ...]:
        """The ids of the keys that only open (what they sealed is re-sealed over time)."""
        return self.key_ids[1:]

    def seal(self, value: str) -> str:
        if self._sealer is None:
            raise SecretUnreadable(f"{self.source}: no key is configured to seal with")
        token = self._sealer.encrypt(value.encode("utf-8")).decode("ascii")
        return f"{SEALED_PREFIX}{self._current}:{token}"

    def open(self, stored: str, where: str = "a stored document") -> str:
        """The value `stored` seals; `where` names its document for the error message."""
        if not isinstance(stored, str):
            raise SecretUnreadable(f"{where}: a stored secret is not a string")
        opened = self._opened.get(stored)
        if opened is not None:
            return opened
        if not stored.startswith(SEALED_PREFIX):
            raise SecretUnreadable(f"{where}: a stored secret is not in its sealed form")
        kid, _, token = stored[len(SEALED_PREFIX) :].partition(":")
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise SecretUnreadable(
                f"{self.source}: {where} holds a secret sealed with key {kid}, which is not configured "
                f"(configured: {', '.join(self.key_ids) or 'none'}); list that key in {SETTING} "
                "after the current one"
            )
        try:
            opened = fernet.decrypt(token).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise SecretUnreadable(
                f"{self.source}: {where} holds a secret that key {kid} does not open (altered in the store?)"
            ) from None
        if len(self._opened) >= _MAX_OPENED:  # pragma: no mutate - only bounds memory
            self._opened.clear()
        self._opened[stored] = opened
        return opened
