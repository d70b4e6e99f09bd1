"""Minor units <-> the decimal text some wires use ("8.88"), and amounts as people read them.

The exponents come from ISO 4217 itself, through the maintained `iso4217` package: the same
table the dashboard's adapters read (`providers/money.py`; the sandbox never imports it, so
both sides read the one third-party table). ISO gives ISK and CLP no minor unit (exponent 0),
whatever some card networks count; codes without a minor unit in ISO (XAU, XTS, XXX) are no
currency a terminal charges, and `is_currency` says no to them.
"""

import re
from decimal import Decimal, InvalidOperation

import iso4217

_CODE = re.compile(r"^[A-Z]{3}$")
# An amount of 10**15 units or more fits no provider's field (and, in minor units, no bigint).
MAX_EXPONENT = 14

# code -> exponent for every ISO 4217 currency that has one (JPY 0, USD 2, BHD 3).
EXPONENTS: dict[str, int] = {
    currency.code: currency.exponent
    for currency in iso4217.Currency
    if currency.exponent is not None
}


def is_currency(code: object) -> bool:
    """Whether `code` is an ISO 4217 currency an emulator accepts (each answers in its own words)."""
    return isinstance(code, str) and bool(_CODE.match(code)) and code in EXPONENTS


def exponent(currency: str) -> int:
    """ISO 4217 decimals of `currency`; ValueError for a code that is not a currency."""
    if not is_currency(currency):
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    return EXPONENTS[currency]


def to_minor(value: object, currency: str) -> int:
    """ "8.88" (or 8.88) in `currency` -> 888. ValueError for text that is not such an amount."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("not an amount") from None
    if not number.is_finite() or number.adjusted() > MAX_EXPONENT:
        raise ValueError("not an amount")
    scaled = number.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more decimals than {currency} has")
    return int(scaled)


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """888 in USD -> "8.88"; 1000 in JPY -> "1000"."""
    places = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-places):.{places}f}"


def display(amount_minor: int, currency: str) -> str:
    """888 in USD -> "8.88 USD"; 1000 in JPY -> "1,000 JPY"."""
    places = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-places):,.{places}f} {currency}"
