"""Integer minor units + ISO 4217 currency <-> each provider's wire form.

The dashboard stores every amount as integer minor units and a currency code.
This module is the only place that converts them:

* integer minor units: Payroc (cents) and KOMOJU (the currency's smallest unit,
  so whole yen for JPY, which has no minor unit),
* decimal strings like ``"8.88"``: USAePay and MobilePay via Integra.

Floats are refused everywhere: binary fractions cannot hold money exactly.
``check_amount`` is the one amount-and-currency validator of the dashboard side
(request dataclasses, wire conversions, forms); the exponents come from the
``iso4217`` package, which the sandbox's emulators read too (``sandbox/amounts.py``:
the sandbox never imports this package, so both read the same third-party table).

Amounts read from a provider's answer go through ``read_integer_amount`` or
``read_decimal_amount``: an amount that is missing or unreadable there is None
(the result then has no amount), never an error.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import iso4217

# Exponents come from ISO 4217 itself (the maintained `iso4217` package, its table as
# published by the ISO 4217 maintenance agency), never from a list of our own. ISO says
# ISK and CLP have no minor unit (exponent 0); some providers and card networks still
# count them in hundredths, and an adapter whose provider does so must say it in its own
# wire code. Codes without a minor unit in ISO (gold XAU, the test code XTS, XXX) are no
# currency a terminal can charge, and are refused like unknown ones.
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_DECIMAL_TEXT = re.compile(r"^-?\d+(\.\d+)?$")


# code -> exponent, for every ISO 4217 currency that has one (JPY 0, USD 2, BHD 3, CLF 4).
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    currency.code: currency.exponent
    for currency in iso4217.Currency
    if currency.exponent is not None
}
ISO4217_PUBLISHED = iso4217.__published__


def check_currency(currency: Any) -> str:
    """The currency, when it is an ISO 4217 code with a minor unit; else ValueError (shown as is)."""
    if (
        not isinstance(currency, str)
        or not _CURRENCY_CODE.match(currency)
        or currency not in MINOR_UNIT_EXPONENTS
    ):
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code.")
    return currency


def check_amount(amount_minor: Any, currency: Any, *, allow_zero: bool = False) -> int:
    """The one amount validator: integer minor units (never a float or a bool) in an ISO 4217
    currency, greater than zero (or zero too when ``allow_zero``). Returns the amount.

    TypeError for something that is not an integer, ValueError for the rest; the messages
    are fit to show to a user. The request dataclasses, the adapters' wire conversions and
    the forms all check with this function.
    """
    check_currency(currency)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("Amounts are integer minor units.")
    if amount_minor < 0 or (amount_minor == 0 and not allow_zero):
        raise ValueError("The amount must be greater than zero.")
    return amount_minor


def minor_unit_exponent(currency: str) -> int:
    """Number of decimals of ``currency`` in ISO 4217 (JPY 0, CLP 0, ISK 0, USD 2, BHD 3)."""
    return MINOR_UNIT_EXPONENTS[check_currency(currency)]


def to_integer_minor_units(amount_minor: int, currency: str) -> int:
    """Wire form for Payroc and KOMOJU: the integer itself, checked (4999 USD -> 4999)."""
    return check_amount(amount_minor, currency, allow_zero=True)


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """Wire form for USAePay and Integra: 888 USD -> "8.88", 1000 JPY -> "1000"."""
    amount = check_amount(amount_minor, currency, allow_zero=True)
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return str(amount)
    units, fraction = divmod(amount, 10**exponent)
    return f"{units}.{fraction:0{exponent}d}"


def from_integer_minor_units(value: int | str, currency: str) -> int:
    """Parse an integer wire amount (Payroc, KOMOJU); negative values are allowed (refunds)."""
    check_currency(currency)
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
