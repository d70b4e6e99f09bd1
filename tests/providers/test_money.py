import uuid
from decimal import Decimal

import iso4217
import pytest

from providers.base import PaymentKind, RefundRequest, StartRequest
from providers.errors import InvalidRequest
from providers.money import (
    MINOR_UNIT_EXPONENTS,
    check_amount,
    check_currency,
    from_decimal_string,
    from_integer_minor_units,
    minor_unit_exponent,
    to_decimal_string,
    to_integer_minor_units,
)
from sandbox import amounts as sandbox_amounts


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


# -- one ISO 4217 table, from the iso4217 package --------------------------------------------------

SIX = [("JPY", 0), ("CLP", 0), ("ISK", 0), ("USD", 2), ("DKK", 2), ("BHD", 3)]


@pytest.mark.parametrize(("currency", "exponent"), SIX)
def test_the_exponents_are_iso_4217s(currency, exponent):
    # ISO 4217 gives ISK and CLP no minor unit, whatever some card networks count.
    assert minor_unit_exponent(currency) == exponent
    assert iso4217.Currency(currency).exponent == exponent


@pytest.mark.parametrize(
    ("amount_minor", "currency", "wire"),
    [
        (1000, "JPY", "1000"),
        (1000, "CLP", "1000"),
        (1000, "ISK", "1000"),
        (1000, "USD", "10.00"),
        (2701, "DKK", "27.01"),
        (1234, "BHD", "1.234"),
    ],
)
def test_the_six_currencies_go_to_decimal_wires_and_back(amount_minor, currency, wire):
    assert to_decimal_string(amount_minor, currency) == wire
    assert from_decimal_string(wire, currency) == amount_minor
    assert to_integer_minor_units(amount_minor, currency) == amount_minor


@pytest.mark.parametrize(
    ("currency", "too_precise"), [("CLP", "10.5"), ("ISK", "1.5"), ("BHD", "1.2345")]
)
def test_a_decimal_wire_amount_finer_than_the_currency_is_refused(currency, too_precise):
    with pytest.raises(ValueError, match="decimals"):
        from_decimal_string(too_precise, currency)


@pytest.mark.parametrize(("currency", "exponent"), SIX)
def test_the_one_validator_accepts_a_positive_integer_in_each_currency(currency, exponent):
    assert check_amount(1, currency) == 1
    assert check_currency(currency) == currency


@pytest.mark.parametrize("currency", ["JPY", "CLP", "ISK", "USD", "DKK", "BHD"])
@pytest.mark.parametrize(
    ("amount", "error", "words"),
    [
        (0, ValueError, "greater than zero"),
        (-5, ValueError, "greater than zero"),
        (10.5, TypeError, "integer minor units"),
        (True, TypeError, "integer minor units"),
        ("100", TypeError, "integer minor units"),
    ],
)
def test_the_one_validator_refuses_what_is_not_an_amount(currency, amount, error, words):
    with pytest.raises(error, match=words):
        check_amount(amount, currency)


@pytest.mark.parametrize("code", ["XYZ", "XAU", "XTS", "usd", "US", None])
def test_the_one_validator_refuses_codes_that_are_no_chargeable_iso_currency(code):
    with pytest.raises(ValueError, match="not an ISO 4217 currency code"):
        check_amount(100, code)


@pytest.mark.parametrize(("currency", "exponent"), SIX)
def test_requests_are_checked_by_the_one_validator(currency, exponent):
    key = str(uuid.uuid4())
    StartRequest(
        kind=PaymentKind.SALE,
        terminal_ref="t1",
        amount_minor=1000,
        currency=currency,
        idempotency_key=key,
        reference="ORDER-1",
    )
    with pytest.raises(InvalidRequest, match="greater than zero"):
        RefundRequest(
            original_transaction_ref="tx",
            amount_minor=0,
            currency=currency,
            idempotency_key=key,
            reference="ORDER-1",
        )
    with pytest.raises(InvalidRequest, match="not an ISO 4217 currency code"):
        StartRequest(
            kind=PaymentKind.SALE,
            terminal_ref="t1",
            amount_minor=1000,
            currency="XTS",
            idempotency_key=key,
            reference="ORDER-1",
        )


def test_the_adapters_and_the_emulators_read_the_same_table():
    assert sandbox_amounts.EXPONENTS == MINOR_UNIT_EXPONENTS
    assert {"JPY", "CLP", "ISK", "USD", "DKK", "BHD", "IQD", "KWD"} <= set(MINOR_UNIT_EXPONENTS)
