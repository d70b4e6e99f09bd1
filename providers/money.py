"""Integer minor units + ISO 4217 currency <-> each provider's wire form.

The dashboard stores every amount as integer minor units and a currency code.
This module is the only place that converts them:

* integer minor units: Payroc (cents) and KOMOJU (the currency's smallest unit,
  so whole yen for JPY, which has no minor unit),
* decimal strings like ``"8.88"``: USAePay and MobilePay via Integra.

Floats are refused everywhere: binary fractions cannot hold money exactly.

Amounts read from a provider's answer go through ``read_integer_amount`` or
``read_decimal_amount``: an amount that is missing or unreadable there is None
(the result then has no amount), never an error.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# ISO 4217 minor-unit exponents that differ from the usual two decimals.
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}
DEFAULT_MINOR_UNIT_EXPONENT = 2

_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_DECIMAL_TEXT = re.compile(r"^-?\d+(\.\d+)?$")


def minor_unit_exponent(currency: str) -> int:
    """Number of decimals of ``currency`` (JPY 0, USD 2, KWD 3)."""
    return MINOR_UNIT_EXPONENTS.get(_checked_currency(currency), DEFAULT_MINOR_UNIT_EXPONENT)


def to_integer_minor_units(amount_minor: int, currency: str) -> int:
    """Wire form for Payroc and KOMOJU: the integer itself, checked (4999 USD -> 4999)."""
    _checked_currency(currency)
    return _checked_amount(amount_minor)


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """Wire form for USAePay and Integra: 888 USD -> "8.88", 1000 JPY -> "1000"."""
    exponent = minor_unit_exponent(currency)
    amount = _checked_amount(amount_minor)
    if exponent == 0:
        return str(amount)
    units, fraction = divmod(amount, 10**exponent)
    return f"{units}.{fraction:0{exponent}d}"


def from_integer_minor_units(value: int | str, currency: str) -> int:
    """Parse an integer wire amount (Payroc, KOMOJU); negative values are allowed (refunds)."""
    _checked_currency(currency)
    if isinstance(value, bool | float):
        raise TypeError("money amounts must not be floats or booleans")
    if isinstance(value, str):
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise ValueError(f"not an integer amount: {value!r}")
        return int(value.strip())
    if not isinstance(value, int):
        raise TypeError(f"expected an integer amount, got {type(value).__name__}")
    return value


def from_decimal_string(value: str | int | Decimal, currency: str) -> int:
    """Parse a decimal wire amount into minor units: "8.88" USD -> 888, "5" USD -> 500.

    Refuses floats and values with more decimals than the currency has.
    """
    exponent = minor_unit_exponent(currency)
    if isinstance(value, bool | float):
        raise TypeError("money amounts must not be floats or booleans")
    if isinstance(value, int):
        decimal_value = Decimal(value)
    elif isinstance(value, Decimal):
        decimal_value = value
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.match(text):
            raise ValueError(f"not a decimal amount: {value!r}")
        try:
            decimal_value = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
            raise ValueError(f"not a decimal amount: {value!r}") from exc
    else:
        raise TypeError(f"expected a decimal string, got {type(value).__name__}")
    scaled = decimal_value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more than {exponent} decimals for {currency}")
    return int(scaled)


def read_integer_amount(value: Any, currency: Any) -> int | None:
    """An integer amount in an answer (Payroc, KOMOJU, Klearly), as a size.

    Refunds are listed negative, so the sign is dropped. None when the amount is
    missing or unreadable, or the currency is not a currency code.
    """
    if value is None or not isinstance(currency, str):
        return None
    try:
        return abs(from_integer_minor_units(value, currency))
    except (TypeError, ValueError):
        return None


def read_decimal_amount(value: Any, currency: str) -> int | None:
    """A decimal amount in an answer (USAePay, Integra): "8.88" USD -> 888.

    Documented as text but sometimes sent as a JSON number: a float is read from
    its shortest decimal text, never computed with. None when the amount is
    missing or unreadable.
    """
    if isinstance(value, float):
        value = str(value)
    if value is None:
        return None
    try:
        return from_decimal_string(value, currency)
    except (TypeError, ValueError):
        return None


def _checked_amount(amount_minor: int) -> int:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"amounts are integer minor units, got {type(amount_minor).__name__}")
    if amount_minor < 0:
        raise ValueError("amounts sent to a provider must not be negative")
    return amount_minor


def _checked_currency(currency: str) -> str:
    if not isinstance(currency, str) or not _CURRENCY_CODE.match(currency):
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return currency
