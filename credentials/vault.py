"""Provider secrets encrypted at rest with MultiFernet.

Keys come from settings.CREDENTIALS_KEYS, newest first: the first key encrypts, every key decrypts, and
`manage.py rotate_credentials_key` re-encrypts every stored value under the first one.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class VaultError(Exception):
    """A stored secret cannot be decrypted with any configured key (the message names no secret)."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise VaultError("CREDENTIALS_KEYS is empty: the credential vault has no key")
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def _fernet() -> MultiFernet:
    return _multifernet(tuple(settings.CREDENTIALS_KEYS))


def encrypt(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise VaultError(
            "a stored credential cannot be decrypted with the configured keys"
        ) from None


def reencrypt(token: str) -> str:
    """The same plaintext under the newest key."""
    if not token:
        return token
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise VaultError(
            "a stored credential cannot be decrypted with the configured keys"
        ) from None


def mask(secret: str) -> str:
    """What a page may show of a secret: its length class and last four characters, never more."""
    if not secret:
        return "not set"
    return "••••" + secret[-4:] if len(secret) >= 12 else "••••"
