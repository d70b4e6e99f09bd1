"""What a payment's timeline may keep of a provider's answer: card numbers masked to their last four
digits, and security codes, tokens, secrets and signatures removed, wherever they appear."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

# Key names (lower case, without "_", "-", " ") whose value is removed whole. Exact names, so that
# e.g. "idempotencykey" or "devicekey" (USAePay's terminal id) stay readable.
_SECRET_NAMES = frozenset(
    {
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cvn",
        "csc",
        "securitycode",
        "cardsecuritycode",
        "pin",
        "pinblock",
        "apipin",
        "password",
        "passwd",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "apikey",
        "xapikey",
        "privatekey",
        "secretkey",
        "webhooksignaturekey",
        "track1",
        "track2",
        "trackdata",
        "magstripe",
        "expiry",
        "expirydate",
        "expirationdate",
        "expdate",
    }
)
# Parts of key names whose value is removed whole ("access_token", "client_secret", "X-Signature").
_SECRET_PARTS = ("token", "secret", "password", "signature", "credential")
# Key names whose value is a card number: masked to the last four digits, whatever its form.
_CARD_NUMBER_NAMES = frozenset(
    {"pan", "cardnumber", "accountnumber", "primaryaccountnumber", "maskedpan", "cardnum"}
)

# 13 to 19 digits, optionally grouped by single spaces or dashes: the shape of a card number.
_PAN_LIKE = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
# "Bearer abc…" / "Basic abc…" inside a string.
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def _normalised(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _is_secret_key(key: str) -> bool:
    name = _normalised(key)
    return name in _SECRET_NAMES or any(part in name for part in _SECRET_PARTS)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def mask_card_number(value: str) -> str:
    """ "4111 1111 1111 1111" -> "••••1111"; fewer than four digits -> "••••"."""
    digits = re.sub(r"\D", "", value)
    return "••••" + digits[-4:] if len(digits) >= 4 else "••••"


def _redact_text(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        # A real card number always passes the Luhn check; other long numbers (ids) stay.
        return mask_card_number(digits) if _luhn_valid(digits) else match.group(0)

    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _PAN_LIKE.sub(mask, text)


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like: mappings, lists, strings, numbers) that is safe to store.

    * values under secret-looking keys (CVV, PIN, password, token, secret, signature, API key,
      Authorization…) become "[redacted]";
    * values under card-number keys (pan, cardNumber, number…) keep only their last four digits;
    * anywhere else, a run of 13 to 19 digits that passes the Luhn check is masked the same way,
      and "Bearer …" / "Basic …" credentials are removed.
    Mapping keys become strings; tuples become lists; other objects become their `str`.
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            key = str(key)
            if _is_secret_key(key):
                out[key] = REDACTED if item not in (None, "") else item
            elif _normalised(key) in _CARD_NUMBER_NAMES and isinstance(item, str | int):
                out[key] = mask_card_number(str(item))
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, bytes):
        return _redact_text(value.decode("utf-8", errors="replace"))
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        text = str(value)
        redacted = _redact_text(text)
        return value if redacted == text else redacted
    return _redact_text(str(value))
