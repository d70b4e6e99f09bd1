"""Minor units <-> the decimal text some wires use ("8.88"), and amounts as people read them."""

from decimal import Decimal, InvalidOperation

# ISO 4217 currencies without a minor unit, and those with three decimals.
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def to_minor(value: object, currency: str) -> int:
    """ "8.88" (or 8.88) in `currency` -> 888. ValueError for text that is not such an amount."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("not an amount") from None
    if not number.is_finite():
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
