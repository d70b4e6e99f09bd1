from decimal import Decimal

import pytest

from providers.money import (
    from_decimal_string,
    from_integer_minor_units,
    minor_unit_exponent,
    to_decimal_string,
    to_integer_minor_units,
)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("DKK", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("OMR", 3),
        ("JOD", 3),
        ("TND", 3),
    ],
)
def test_minor_unit_exponents(currency, exponent):
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount_minor", "currency", "wire"),
    [
        (888, "USD", "8.88"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (2700, "DKK", "27.00"),
        (100000, "USD", "1000.00"),
        (1000, "JPY", "1000"),
        (1234, "KWD", "1.234"),
        (5, "BHD", "0.005"),
    ],
)
def test_decimal_string_wire_form(amount_minor, currency, wire):
    assert to_decimal_string(amount_minor, currency) == wire
    assert from_decimal_string(wire, currency) == amount_minor


def test_integer_wire_form_is_cents_for_payroc_and_whole_yen_for_komoju():
    assert to_integer_minor_units(4999, "USD") == 4999
    assert to_integer_minor_units(1000, "JPY") == 1000


@pytest.mark.parametrize("bad", [8.88, 1.0, True, "888", Decimal("8.88")])
def test_outgoing_amounts_must_be_integers(bad):
    with pytest.raises(TypeError):
        to_decimal_string(bad, "USD")
    with pytest.raises(TypeError):
        to_integer_minor_units(bad, "USD")


def test_negative_outgoing_amounts_are_refused():
    with pytest.raises(ValueError):
        to_decimal_string(-1, "USD")


@pytest.mark.parametrize("bad_currency", ["usd", "US", "USDX", "", None])
def test_currency_must_be_an_iso_code(bad_currency):
    with pytest.raises(ValueError):
        to_decimal_string(100, bad_currency)


@pytest.mark.parametrize(
    ("wire", "currency", "amount_minor"),
    [
        ("5", "USD", 500),
        ("8.8", "USD", 880),
        ("500.00", "USD", 50000),
        (Decimal("1.5"), "USD", 150),
        (7, "USD", 700),
        ("-49.99", "USD", -4999),
        ("1000", "JPY", 1000),
    ],
)
def test_decimal_parser(wire, currency, amount_minor):
    assert from_decimal_string(wire, currency) == amount_minor


def test_decimal_parser_refuses_floats_and_excess_precision():
    with pytest.raises(TypeError):
        from_decimal_string(8.88, "USD")
    with pytest.raises(ValueError):
        from_decimal_string("8.888", "USD")
    with pytest.raises(ValueError):
        from_decimal_string("10.5", "JPY")
    with pytest.raises(ValueError):
        from_decimal_string("8,88", "USD")
    with pytest.raises(ValueError):
        from_decimal_string("1e3", "USD")


def test_integer_parser_accepts_negative_refund_amounts_and_refuses_floats():
    assert from_integer_minor_units(-4999, "USD") == -4999
    assert from_integer_minor_units("4999", "USD") == 4999
    with pytest.raises(TypeError):
        from_integer_minor_units(49.99, "USD")
    with pytest.raises(ValueError):
        from_integer_minor_units("49.99", "USD")
