"""Merchant entities and the API-key rules."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime


class Provider(enum.StrEnum):
    STRIPE = "stripe"
    POLAR = "polar"
    PADDLE = "paddle"


@dataclass(frozen=True, slots=True, kw_only=True)
class Merchant:
    id: str
    name: str
    api_key_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """A provider account posting webhooks to us; any listed secret verifies (rotation)."""

    id: str
    merchant_id: str
    provider: Provider
    webhook_secrets: tuple[str, ...]
    api_key: str | None
    created_at: datetime
    # Which way the last verified webhook was signed, for providers that sign more than one way
    # (Polar); None until then, and for providers with one way.
    signing_scheme: str | None = None


API_KEY_PREFIX = "sg_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force."""
    return hashlib.sha256(api_key.encode()).hexdigest()
